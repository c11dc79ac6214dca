/*
 * bench_repl.c - replication on one machine: scoring throughput with 1
 * versus 2 replicas (each hallmarkd pinned to its own core with
 * sched_setaffinity before exec), and replication lag against write rate.
 *
 *   bench_repl [--bin DIR] [--requests N] [--rates R1,R2,...]
 *
 * DIR holds hallmarkd (default: the directory of this program).  Each run
 * starts a primary and replicas on free loopback ports with temporary
 * databases.  Throughput: N requests (default 4000) of 128x128 PNGs against
 * a bank of 200 references, 64 in flight, spread over the replicas by one
 * DEALER per replica.  The client shares the machine, so on 2 cores the
 * 2-replica figure is a lower bound.  Lag: authorize writes at each rate
 * for 3 s against 1 replica; the lag of a write is the time from its send
 * until the replica's hallmark_repl_applied_seq reaches its sequence
 * (polled every ~2 ms over HTTP, so it includes up to ~2 ms of polling).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <vips/vips.h>
#include <zmq.h>

typedef struct {
    pid_t pid;
    char dir[256], log[300];
    int port[8]; /* ingest, pin, pout, feed, control, metrics, repl, pub */
} node_t;

static char s_bin[4096];
static void *s_zctx;

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int s_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) || getsockname(fd, (struct sockaddr *)&a, &len))
        exit(1);
    close(fd);
    return ntohs(a.sin_port);
}

static void s_ep(char *out, size_t cap, int port)
{
    snprintf(out, cap, "tcp://127.0.0.1:%d", port);
}

/* Start hallmarkd pinned to core (-1: not pinned); primary: with repl
 * sockets; else a replica of primary. */
static void s_start(node_t *n, int core, const node_t *primary)
{
    snprintf(n->dir, sizeof n->dir, "/tmp/bench_repl.XXXXXX");
    if (!mkdtemp(n->dir))
        exit(1);
    snprintf(n->log, sizeof n->log, "%s/log", n->dir);
    for (int i = 0; i < 8; i++)
        n->port[i] = s_port();
    char ep[8][64], db[300], met[64], path[4200];
    for (int i = 0; i < 8; i++)
        s_ep(ep[i], sizeof ep[i], primary && i >= 6 ? primary->port[i] : n->port[i]);
    snprintf(db, sizeof db, "%s/db", n->dir);
    snprintf(met, sizeof met, "127.0.0.1:%d", n->port[5]);
    snprintf(path, sizeof path, "%s/hallmarkd", s_bin);
    const char *argv[32] = { path, "--db", db, "--ingest", ep[0], "--pipeline-in", ep[1],
                             "--pipeline-out", ep[2], "--feed", ep[3], "--control", ep[4],
                             "--metrics", met, "--workers", "1", "--log-level", "warn",
                             "--record-strikes", "0" };
    int k = 0;
    while (argv[k])
        k++;
    argv[k++] = primary ? "--replica-of" : "--repl";
    argv[k++] = ep[6];
    argv[k++] = primary ? "--replica-pub" : "--repl-pub";
    argv[k++] = ep[7];
    argv[k] = NULL;
    n->pid = fork();
    if (n->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (core >= 0) {
            cpu_set_t set;
            CPU_ZERO(&set);
            CPU_SET(core, &set);
            sched_setaffinity(0, sizeof set, &set);
        }
        int fd = open(n->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, 2);
        execv(path, (char *const *)argv);
        _exit(127);
    }
    /* Ready when /healthz answers 200. */
    for (int i = 0; i < 3000; i++) {
        char buf[256];
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)n->port[5]),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
            write(fd, "GET /healthz HTTP/1.0\r\n\r\n", 25) == 25 && read(fd, buf, sizeof buf) > 12 &&
            strncmp(buf + 9, "200", 3) == 0) {
            close(fd);
            return;
        }
        close(fd);
        usleep(10000);
    }
    fprintf(stderr, "bench_repl: %s did not become ready (see %s)\n", path, n->log);
    exit(1);
}

static void s_stop(node_t *n)
{
    kill(n->pid, SIGTERM);
    waitpid(n->pid, NULL, 0);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", n->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_repl: cannot remove %s\n", n->dir);
}

static long s_applied(const node_t *n)
{
    static char buf[1 << 16];
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)n->port[5]),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    size_t got = 0;
    ssize_t r;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        write(fd, "GET /metrics HTTP/1.0\r\n\r\n", 25) == 25)
        while (got + 1 < sizeof buf && (r = read(fd, buf + got, sizeof buf - 1 - got)) > 0)
            got += (size_t)r;
    close(fd);
    buf[got] = '\0';
    const char *p = strstr(buf, "\nhallmark_repl_applied_seq ");
    return p ? atol(p + 27) : -1;
}

/* A 128x128 PNG of random 8x8 blocks, distinct per seed. */
static void *s_png(int seed, size_t *len)
{
    unsigned char px[128 * 128 * 3];
    unsigned st = (unsigned)seed * 2654435761u + 1;
    for (int by = 0; by < 16; by++)
        for (int bx = 0; bx < 16; bx++) {
            st = st * 1103515245u + 12345u;
            for (int y = 0; y < 8; y++)
                for (int x = 0; x < 8; x++)
                    for (int c = 0; c < 3; c++)
                        px[((by * 8 + y) * 128 + bx * 8 + x) * 3 + c] = (unsigned char)(st >> (8 + 4 * c));
        }
    VipsImage *im = vips_image_new_from_memory_copy(px, sizeof px, 128, 128, 3, VIPS_FORMAT_UCHAR);
    void *out = NULL;
    if (!im || vips_pngsave_buffer(im, &out, len, NULL) != 0)
        exit(1);
    g_object_unref(im);
    return out;
}

static void s_control(const node_t *n, const char *cmd, const void *data, size_t len)
{
    char ep[64];
    s_ep(ep, sizeof ep, n->port[4]);
    void *s = zmq_socket(s_zctx, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_connect(s, ep);
    zmq_send(s, cmd, strlen(cmd), data ? ZMQ_SNDMORE : 0);
    if (data)
        zmq_send(s, data, len, 0);
    char buf[1024];
    zmq_recv(s, buf, sizeof buf, 0);
    zmq_close(s);
}

static double s_throughput(node_t *reps, int nrep, void **pics, size_t *lens, int total)
{
    void *socks[2];
    for (int i = 0; i < nrep; i++) {
        char ep[64];
        s_ep(ep, sizeof ep, reps[i].port[0]);
        socks[i] = zmq_socket(s_zctx, ZMQ_DEALER);
        zmq_connect(socks[i], ep);
    }
    usleep(200000);
    int sent = 0, got = 0, inflight = 0;
    double t0 = s_now();
    while (got < total) {
        while (inflight < 64 && sent < total) {
            char hdr[256];
            snprintf(hdr, sizeof hdr, "{\"v\":1,\"request_id\":\"%d\",\"listing_id\":\"L%d\","
                     "\"image_id\":\"1\",\"seller_id\":\"s\",\"brand\":\"Acme\"}", sent, sent);
            void *s = socks[sent % nrep];
            zmq_send(s, hdr, strlen(hdr), ZMQ_SNDMORE);
            zmq_send(s, pics[sent % 256], lens[sent % 256], 0);
            sent++, inflight++;
        }
        zmq_pollitem_t it[2];
        for (int i = 0; i < nrep; i++)
            it[i] = (zmq_pollitem_t){ socks[i], 0, ZMQ_POLLIN, 0 };
        zmq_poll(it, nrep, 1000);
        for (int i = 0; i < nrep; i++) {
            char buf[8192];
            while (zmq_recv(socks[i], buf, sizeof buf, ZMQ_DONTWAIT) >= 0)
                got++, inflight--;
        }
    }
    double rate = total / (s_now() - t0);
    for (int i = 0; i < nrep; i++)
        zmq_close(socks[i]);
    return rate;
}

static int s_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void s_lag(node_t *p, node_t *r, int rate)
{
    int n = rate * 3;
    double *sent = calloc((size_t)n, sizeof *sent), *lag = calloc((size_t)n, sizeof *lag);
    long base = s_applied(r);
    char ep[64];
    s_ep(ep, sizeof ep, p->port[4]);
    void *s = zmq_socket(s_zctx, ZMQ_DEALER);
    zmq_connect(s, ep);
    usleep(100000);
    int i = 0, done = 0;
    double t0 = s_now();
    while (done < n) {
        double now = s_now();
        while (i < n && now >= t0 + (double)i / rate) {
            char cmd[128];
            snprintf(cmd, sizeof cmd, "{\"cmd\":\"authorize\",\"brand\":\"B%d\",\"seller\":\"x%d.%d\"}",
                     rate, i, (int)getpid());
            zmq_send(s, cmd, strlen(cmd), 0);
            sent[i++] = now;
        }
        char buf[512];
        while (zmq_recv(s, buf, sizeof buf, ZMQ_DONTWAIT) >= 0)
            ;
        long a = s_applied(r) - base;
        now = s_now();
        while (done < a && done < i)
            lag[done] = now - sent[done], done++;
        if (now - t0 > 30)
            break;
        usleep(1000);
    }
    zmq_close(s);
    qsort(lag, (size_t)done, sizeof *lag, s_cmp);
    printf("lag  rate=%5d/s writes=%d median=%.1f ms p99=%.1f ms max=%.1f ms\n", rate, done,
           done ? lag[done / 2] * 1e3 : 0, done ? lag[(done * 99) / 100] * 1e3 : 0,
           done ? lag[done - 1] * 1e3 : 0);
    free(sent);
    free(lag);
}

int main(int argc, char **argv)
{
    int total = 4000;
    char rates[256] = "50,200,1000";
    snprintf(s_bin, sizeof s_bin, "%s", dirname(strdup(argv[0])));
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--bin"))
            snprintf(s_bin, sizeof s_bin, "%s", argv[i + 1]);
        else if (!strcmp(argv[i], "--requests"))
            total = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--rates"))
            snprintf(rates, sizeof rates, "%s", argv[i + 1]);
    }
    if (VIPS_INIT(argv[0]))
        return 1;
    s_zctx = zmq_ctx_new();
    void *pics[256];
    size_t lens[256];
    for (int i = 0; i < 256; i++)
        pics[i] = s_png(i, &lens[i]);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    printf("bench_repl: %ld cores; each replica pinned to its own core\n", ncpu);
    node_t p, r[2];
    s_start(&p, -1, NULL);
    for (int i = 0; i < 200; i++) {
        char cmd[160];
        snprintf(cmd, sizeof cmd, "{\"cmd\":\"add\",\"ref\":\"r%d\",\"bank\":\"counterfeit\","
                 "\"brand\":\"Acme\"}", i);
        s_control(&p, cmd, pics[i], lens[i]);
    }
    for (int nrep = 1; nrep <= 2; nrep++) {
        for (int i = 0; i < nrep; i++)
            s_start(&r[i], (int)(i % ncpu), &p);
        double rate = s_throughput(r, nrep, pics, lens, total);
        printf("throughput replicas=%d requests=%d verdicts/s=%.0f\n", nrep, total, rate);
        if (nrep == 2) {
            char *save = NULL;
            for (char *t = strtok_r(rates, ",", &save); t; t = strtok_r(NULL, ",", &save))
                s_lag(&p, &r[0], atoi(t));
        }
        for (int i = 0; i < nrep; i++)
            s_stop(&r[i]);
    }
    s_stop(&p);
    for (int i = 0; i < 256; i++)
        g_free(pics[i]);
    zmq_ctx_term(s_zctx);
    return 0;
}
