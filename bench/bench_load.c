/*
 * bench_load.c - load generator for hallmarkd (`make bench-load`).
 *
 *   bench_load --bin DIR --db DB --images DIR... [--workers N] [--clients C]
 *              [--seconds S] [--max-requests N]
 *
 * In one run:
 *  1. in-process scoring throughput: `DIR/hallmark score --jobs N` over the
 *     images, repeated (the CLI's pool of N workers, no sockets); the rate is
 *     (K - k) / (t_K - t_k) for a long and a short run, so opening the
 *     database and building the indexes is not counted;
 *  2. starts `DIR/hallmarkd --workers N` on DB (free loopback ports);
 *  3. its maximum throughput: a closed loop of C DEALER clients with 4
 *     requests in flight each, for S seconds;
 *  4. open-loop offered load at fractions of that maximum, S seconds a step:
 *     achieved throughput (verdicts per second), `busy` answers, and the
 *     p50/p90/p99 latency of verdicts (send to reply, on the client);
 *  5. prints a table and the daemon / in-process ratio against the goals
 *     (>= 0.9x; p99 <= 5x p50 at 80% of the maximum).
 * Everything is bounded: C <= 64 clients, S <= 60 s a step, --max-requests
 * per step.  One client thread drives every socket (zmq_poll).
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define MAX_CLIENTS 64
#define MAX_IMAGES 4096

typedef struct img {
    char *path;
    void *data;
    size_t len;
} img_t;

static img_t s_img[MAX_IMAGES];
static int s_nimg;

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void s_load_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)) && s_nimg < MAX_IMAGES) {
        const char *dot = strrchr(e->d_name, '.');
        if (!dot || (strcmp(dot, ".jpg") && strcmp(dot, ".png") && strcmp(dot, ".jpeg")))
            continue;
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        FILE *f = fopen(p, "rb");
        if (!f)
            continue;
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        rewind(f);
        img_t *im = &s_img[s_nimg];
        im->data = malloc((size_t)n);
        if (n > 0 && fread(im->data, 1, (size_t)n, f) == (size_t)n) {
            im->len = (size_t)n;
            im->path = strdup(p);
            s_nimg++;
        } else {
            free(im->data);
        }
        fclose(f);
    }
    if (d)
        closedir(d);
}

/* Run `hallmark score` over k images; returns the wall seconds, or -1. */
static double s_cli_score(const char *bin, const char *db, int workers, int k)
{
    char **argv = calloc((size_t)k + 16, sizeof *argv);
    char exe[4200], jobs[16];
    snprintf(exe, sizeof exe, "%s/hallmark", bin);
    snprintf(jobs, sizeof jobs, "%d", workers);
    int n = 0;
    argv[n++] = exe;
    argv[n++] = "score";
    argv[n++] = "--db";
    argv[n++] = (char *)db;
    argv[n++] = "--jobs";
    argv[n++] = jobs;
    argv[n++] = "--seller";
    argv[n++] = "bench";
    argv[n++] = "--brand";
    argv[n++] = "Acme";
    for (int i = 0; i < k; i++)
        argv[n++] = s_img[i % s_nimg].path;
    double t = s_now();
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        freopen("/dev/null", "w", stdout);
        freopen("/dev/null", "w", stderr);
        execv(exe, argv);
        _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
    free(argv);
    return WIFEXITED(st) && WEXITSTATUS(st) <= 1 ? s_now() - t : -1;
}

static int s_free_port(void)
{
    /* Let the kernel pick: bind a ZeroMQ socket to port 0 and read it back. */
    void *ctx = zmq_ctx_new(), *s = zmq_socket(ctx, ZMQ_REP);
    char ep[64];
    size_t n = sizeof ep;
    zmq_bind(s, "tcp://127.0.0.1:*");
    zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, ep, &n);
    zmq_close(s);
    zmq_ctx_term(ctx);
    return atoi(strrchr(ep, ':') + 1);
}

typedef struct run {
    void *c[MAX_CLIENTS];
    int nc;
    double *sent_at;     /* by request number */
    double *lat;         /* verdict latencies of this step */
    long cap, sent, verdicts, busy, errors, nlat;
} run_t;

static int s_send(run_t *r)
{
    if (r->sent >= r->cap)
        return -1;
    char hdr[256];
    long id = r->sent;
    snprintf(hdr, sizeof hdr, "{\"v\":1,\"request_id\":\"%ld\",\"listing_id\":\"l%ld\","
             "\"image_id\":\"i\",\"seller_id\":\"bench\",\"brand\":\"Acme\"}", id, id);
    img_t *im = &s_img[id % s_nimg];
    void *s = r->c[id % r->nc];
    if (zmq_send(s, hdr, strlen(hdr), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return -1;
    zmq_send(s, im->data, im->len, 0);
    r->sent_at[id] = s_now();
    r->sent++;
    return 0;
}

/* Receive what is waiting (waiting up to ms for the first). */
static int s_recv(run_t *r, int ms)
{
    zmq_pollitem_t it[MAX_CLIENTS];
    for (int i = 0; i < r->nc; i++)
        it[i] = (zmq_pollitem_t){ r->c[i], 0, ZMQ_POLLIN, 0 };
    if (zmq_poll(it, r->nc, ms) <= 0)
        return 0;
    int got = 0;
    char buf[8192];
    for (int i = 0; i < r->nc; i++) {
        if (!(it[i].revents & ZMQ_POLLIN))
            continue;
        int n;
        while ((n = zmq_recv(r->c[i], buf, sizeof buf - 1, ZMQ_DONTWAIT)) >= 0) {
            double now = s_now();
            buf[n < (int)sizeof buf - 1 ? n : (int)sizeof buf - 1] = 0;
            const char *rid = strstr(buf, "\"request_id\":\"");
            long id = rid ? atol(rid + 14) : -1;
            if (strstr(buf, "\"busy\""))
                r->busy++;
            else if (strstr(buf, "\"decision\":\"error\""))
                r->errors++;
            else {
                r->verdicts++;
                if (id >= 0 && id < r->sent)
                    r->lat[r->nlat++] = now - r->sent_at[id];
            }
            got++;
        }
    }
    return got;
}

static int s_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double s_pct(double *v, long n, double p)
{
    if (!n)
        return 0;
    long k = (long)(p * (n - 1) + 0.5);
    return v[k];
}

static void s_reset(run_t *r)
{
    r->sent = r->verdicts = r->busy = r->errors = r->nlat = 0;
}

/* Wait for every reply of the step (bounded). */
static void s_finish(run_t *r)
{
    double end = s_now() + 30;
    while (r->verdicts + r->busy + r->errors < r->sent && s_now() < end)
        s_recv(r, 100);
}

int main(int argc, char **argv)
{
    const char *bin = "build", *db = NULL;
    int workers = 2, clients = 16;
    double secs = 5;
    long max_req = 200000;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--bin") && v) bin = argv[++i];
        else if (!strcmp(a, "--db") && v) db = argv[++i];
        else if (!strcmp(a, "--images") && v) s_load_dir(argv[++i]);
        else if (!strcmp(a, "--workers") && v) workers = atoi(argv[++i]);
        else if (!strcmp(a, "--clients") && v) clients = atoi(argv[++i]);
        else if (!strcmp(a, "--seconds") && v) secs = atof(argv[++i]);
        else if (!strcmp(a, "--max-requests") && v) max_req = atol(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_load --bin DIR --db DB --images DIR... [--workers N] "
                            "[--clients C] [--seconds S] [--max-requests N]\n");
            return 2;
        }
    }
    if (!db || !s_nimg || workers < 1 || clients < 1 || clients > MAX_CLIENTS || secs <= 0 ||
        secs > 60) {
        fprintf(stderr, "bench_load: need --db, images, 1..%d clients, 0..60 s\n", MAX_CLIENTS);
        return 2;
    }
    printf("bench_load: %d images, workers=%d clients=%d seconds/step=%.0f\n", s_nimg, workers,
           clients, secs);

    /* 1. In-process scoring throughput. */
    int k_small = s_nimg, k_big = s_nimg * 150; /* about a second: short runs are noisy */
    double t_small = s_cli_score(bin, db, workers, k_small), t_big = s_cli_score(bin, db, workers,
                                                                                 k_big);
    if (t_small < 0 || t_big < 0) {
        fprintf(stderr, "bench_load: hallmark score failed\n");
        return 1;
    }
    double inproc = (k_big - k_small) / (t_big - t_small);
    printf("in-process: hallmark score --jobs %d: %.1f images/s (%d images in %.2f s, %d in %.2f s)\n",
           workers, inproc, k_big, t_big, k_small, t_small);

    /* 2. The daemon. */
    int port[6];
    for (int i = 0; i < 6; i++) {
        int dup;
        do { /* a just-closed port can come back: keep the six distinct */
            port[i] = s_free_port();
            dup = 0;
            for (int k = 0; k < i; k++)
                dup |= port[k] == port[i];
        } while (dup);
    }
    char ep[5][64], met[64], exe[4200], wk[16];
    const char *flags[5] = { "--ingest", "--pipeline-in", "--pipeline-out", "--feed", "--control" };
    for (int i = 0; i < 5; i++)
        snprintf(ep[i], sizeof ep[i], "tcp://127.0.0.1:%d", port[i]);
    snprintf(met, sizeof met, "127.0.0.1:%d", port[5]);
    snprintf(exe, sizeof exe, "%s/hallmarkd", bin);
    snprintf(wk, sizeof wk, "%d", workers);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        freopen("/dev/null", "w", stderr);
        execl(exe, exe, "--db", db, "--workers", wk, flags[0], ep[0], flags[1], ep[1], flags[2],
              ep[2], flags[3], ep[3], flags[4], ep[4], "--metrics", met, "--log-level", "warn",
              "--queue", "256", (char *)NULL);
        _exit(127);
    }
    void *ctx = zmq_ctx_new();
    run_t r = { .nc = clients, .cap = max_req };
    r.sent_at = calloc((size_t)max_req, sizeof *r.sent_at);
    r.lat = calloc((size_t)max_req, sizeof *r.lat);
    for (int i = 0; i < clients; i++) {
        r.c[i] = zmq_socket(ctx, ZMQ_DEALER);
        int zero = 0, hwm = 100000;
        zmq_setsockopt(r.c[i], ZMQ_LINGER, &zero, sizeof zero);
        zmq_setsockopt(r.c[i], ZMQ_SNDHWM, &hwm, sizeof hwm);
        zmq_setsockopt(r.c[i], ZMQ_RCVHWM, &hwm, sizeof hwm);
        zmq_connect(r.c[i], ep[0]);
    }
    /* Ready when a request is answered. */
    int ready = 0;
    for (double end = s_now() + 30; !ready && s_now() < end;) {
        if (waitpid(pid, NULL, WNOHANG) == pid)
            break; /* it exited (a port taken meanwhile?) */
        s_reset(&r);
        s_send(&r);
        ready = s_recv(&r, 1000) > 0 && r.verdicts > 0;
        s_finish(&r);
    }
    if (!ready) {
        fprintf(stderr, "bench_load: hallmarkd did not answer\n");
        kill(pid, SIGKILL);
        return 1;
    }

    /* 3. Maximum throughput: closed loop, 4 in flight per client. */
    s_reset(&r);
    int depth = 4 * clients;
    double t0 = s_now();
    for (int i = 0; i < depth; i++)
        s_send(&r);
    while (s_now() - t0 < secs) {
        long before = r.verdicts + r.busy + r.errors;
        s_recv(&r, 50);
        for (long k = r.verdicts + r.busy + r.errors - before; k > 0; k--)
            s_send(&r);
    }
    double tmax = s_now() - t0;
    long vmax = r.verdicts;
    s_finish(&r);
    double max_tput = vmax / tmax;
    qsort(r.lat, (size_t)r.nlat, sizeof *r.lat, s_cmp);
    printf("daemon max (closed loop, %d in flight): %.1f verdicts/s, busy=%ld, p50=%.1f ms "
           "p99=%.1f ms\n", depth, max_tput, r.busy, 1e3 * s_pct(r.lat, r.nlat, .5),
           1e3 * s_pct(r.lat, r.nlat, .99));
    printf("ratio daemon/in-process: %.2fx (goal >= 0.90x)\n\n", max_tput / inproc);

    /* 4. Offered load steps. */
    static const double frac[] = { 0.25, 0.5, 0.8, 0.9, 1.0, 1.2, 1.5 };
    printf("| offered/s | of max | achieved/s | busy | p50 ms | p90 ms | p99 ms | p99/p50 |\n");
    printf("|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    double p99_80 = 0, p50_80 = 0, best = max_tput;
    for (size_t f = 0; f < sizeof frac / sizeof frac[0]; f++) {
        double rate = frac[f] * max_tput;
        s_reset(&r);
        double start = s_now();
        while (s_now() - start < secs && r.sent < r.cap) {
            long due = (long)((s_now() - start) * rate);
            while (r.sent < due && s_send(&r) == 0)
                ;
            s_recv(&r, 1);
        }
        double el = s_now() - start;
        long v_in = r.verdicts;
        s_finish(&r);
        qsort(r.lat, (size_t)r.nlat, sizeof *r.lat, s_cmp);
        double p50 = 1e3 * s_pct(r.lat, r.nlat, .5), p90 = 1e3 * s_pct(r.lat, r.nlat, .9),
               p99 = 1e3 * s_pct(r.lat, r.nlat, .99);
        if (v_in / el > best)
            best = v_in / el; /* open loop can beat the closed loop's round trips */
        if (frac[f] == 0.8) {
            p50_80 = p50;
            p99_80 = p99;
        }
        printf("| %.0f | %.0f%% | %.1f | %ld | %.1f | %.1f | %.1f | %.1f |\n", rate, frac[f] * 100,
               v_in / el, r.busy, p50, p90, p99, p50 > 0 ? p99 / p50 : 0);
        fflush(stdout);
    }
    printf("\ngoal p99 <= 5x p50 at 80%% of max: p99/p50 = %.1f (%s)\n",
           p50_80 > 0 ? p99_80 / p50_80 : 0, p50_80 > 0 && p99_80 <= 5 * p50_80 ? "met" : "missed");
    printf("daemon best achieved (any step): %.1f verdicts/s\n", best);
    printf("goal daemon >= 0.9x in-process: %.2fx closed-loop max, %.2fx best achieved (%s)\n",
           max_tput / inproc, best / inproc, best >= 0.9 * inproc ? "met" : "missed");
    for (int i = 0; i < clients; i++)
        zmq_close(r.c[i]);
    zmq_ctx_term(ctx);
    kill(pid, SIGTERM);
    int st;
    waitpid(pid, &st, 0);
    free(r.sent_at);
    free(r.lat);
    return 0;
}
