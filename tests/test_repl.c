/*
 * test_repl.c - replication (suite "repl"): a store-level round trip of
 * replication records, then a primary and replicas as separate hallmarkd
 * processes with separate databases on loopback ports.  Each test starts its
 * own daemons on free ports and is bounded in time.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <glib.h>
#include <zmq.h>

#include "daemon_util.h"
#include "hm_engine.h"
#include "hm_error.h"
#include "hm_store.h"
#include "test_util.h"

static long s_ms(void) { return (long)hm_mono_ms(); }

static int s_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    ck_assert(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
    ck_assert(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    close(fd);
    return ntohs(a.sin_port);
}

typedef struct {
    du_daemon_t d;
    char repl[64], pub[64];
    const char *argv[16];
} node_t;

/* A primary: repl and repl-pub on two more free ports. */
static void s_primary(node_t *p)
{
    du_init(&p->d);
    int a = s_port(), b;
    do
        b = s_port();
    while (b == a);
    snprintf(p->repl, sizeof p->repl, "tcp://127.0.0.1:%d", a);
    snprintf(p->pub, sizeof p->pub, "tcp://127.0.0.1:%d", b);
    const char *argv[] = { "--repl", p->repl, "--repl-pub", p->pub, "--workers", "1", NULL };
    memcpy(p->argv, argv, sizeof argv);
    du_start(&p->d, p->argv);
}

static void s_replica(node_t *r, const node_t *p, int init)
{
    if (init)
        du_init(&r->d);
    snprintf(r->repl, sizeof r->repl, "%s", p->repl);
    snprintf(r->pub, sizeof r->pub, "%s", p->pub);
    const char *argv[] = { "--replica-of", r->repl, "--replica-pub", r->pub, "--workers", "1",
                           "--replica-wait", "10", NULL };
    memcpy(r->argv, argv, sizeof argv);
    du_start(&r->d, r->argv);
}

/* A gauge from /metrics; -1 when absent. */
static double s_metric(du_daemon_t *d, const char *name)
{
    static char buf[1 << 16];
    if (du_http_get(d, "/metrics", buf, sizeof buf) != 200)
        return -1;
    char key[128];
    snprintf(key, sizeof key, "\n%s ", name);
    const char *p = strstr(buf, key);
    return p ? strtod(p + strlen(key), NULL) : -1;
}

static void s_add(du_daemon_t *d, const char *ref, int pic)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "{\"cmd\":\"add\",\"ref\":\"%s\",\"bank\":\"counterfeit\","
             "\"brand\":\"Acme\"}", ref);
    json_t *r = du_control(d, cmd, PIC(pic));
    ck_assert_msg(json_is_true(json_object_get(r, "ok")), "add %s failed", ref);
    json_decref(r);
}

/* Wait until the replica has applied everything the primary published. */
static long s_converge(du_daemon_t *p, du_daemon_t *r, int timeout_ms)
{
    long t0 = s_ms();
    while (s_ms() - t0 < timeout_ms) {
        double ps = s_metric(p, "hallmark_repl_applied_seq");
        double rs = s_metric(r, "hallmark_repl_applied_seq");
        if (ps > 0 && ps == rs)
            return s_ms() - t0;
        usleep(20000);
    }
    ck_abort_msg("replica did not converge within %d ms", timeout_ms);
    return -1;
}

static void s_digest(const char *db, char hex[65], uint64_t *seq)
{
    hm_store_t *s = NULL;
    hm_store_opts_t o = hm_store_opts_default();
    o.readonly = 1;
    ck_assert_int_eq(hm_store_open(&s, db, &o), 0);
    ck_assert_int_eq(hm_store_digest(s, hex, seq), 0);
    hm_store_close(&s);
}

static void s_verify_ok(const char *db)
{
    hm_engine_t *e = NULL;
    hm_engine_opts_t o = { .readonly = 1 };
    ck_assert_int_eq(hm_engine_open(&e, db, &o), 0);
    char *rep = NULL;
    ck_assert_int_eq(hm_engine_verify(e, &rep), 0);
    ck_assert_msg(strstr(rep, "\"ok\": true") || strstr(rep, "\"ok\":true"), "verify: %s", rep);
    free(rep);
    hm_engine_close(&e);
}

static int s_ship(uint64_t seq, const void *rec, size_t len, void *ctx)
{
    (void)seq;
    return hm_store_repl_apply(ctx, rec, len);
}

START_TEST(store_records_roundtrip)
{
    char *tmp = tu_tmpdir(), a[4200], b[4200];
    snprintf(a, sizeof a, "%s/a", tmp);
    snprintf(b, sizeof b, "%s/b", tmp);
    hm_store_t *sa = NULL, *sb = NULL;
    ck_assert_int_eq(hm_store_open(&sa, a, NULL), 0);
    ck_assert_int_eq(hm_store_open(&sb, b, NULL), 0);
    uint8_t fp[40] = { 1, 2, 3 };
    for (int i = 0; i < 20; i++) {
        char ext[32];
        snprintf(ext, sizeof ext, "ref-%d", i);
        hm_ref_t r = { .ext_id = ext, .bank = 1 + i % 2, .brand = "Acme", .fp = fp,
                       .fp_len = sizeof fp };
        r.sha256[0] = (uint8_t)(i + 1);
        uint64_t id;
        ck_assert_int_eq(hm_store_add(sa, &r, &id), 0);
        if (i % 5 == 0)
            ck_assert_int_eq(hm_store_remove(sa, id), 0);
    }
    ck_assert_int_eq(hm_store_authorize(sa, "Acme", "s1", 1), 0);
    ck_assert_int_eq(hm_store_add_strike(sa, "s2", "l", "i", NULL), 0);
    hm_allow_t al = { .note = "fine" };
    al.sha256[0] = 9;
    ck_assert_int_eq(hm_store_allow(sa, &al), 0);
    /* Ship everything; a duplicate and a gap are refused cleanly. */
    ck_assert_int_eq(hm_store_repl_read(sa, 0, 1000, s_ship, sb), 0);
    ck_assert_int_eq(hm_store_repl_read(sa, 0, 1, s_ship, sb), HM_E_EXISTS);
    char ha[65], hb[65];
    uint64_t qa, qb;
    ck_assert_int_eq(hm_store_digest(sa, ha, &qa), 0);
    ck_assert_int_eq(hm_store_digest(sb, hb, &qb), 0);
    ck_assert_str_eq(ha, hb);
    ck_assert_uint_eq(qa, qb);
    /* Compaction keeps the last entries and the sequence. */
    uint64_t removed = 0, first = 0, seq = 0;
    ck_assert_int_eq(hm_store_log_compact(sa, 3, 0 - 3600, 1000, &removed), 0);
    ck_assert_int_eq(hm_store_log_first(sa, &first), 0);
    ck_assert_int_eq(hm_store_seq(sa, &seq), 0);
    ck_assert_uint_eq(seq, qa);
    ck_assert_uint_eq(first, qa - 2);
    ck_assert_uint_eq(removed, qa - 3);
    hm_store_close(&sa);
    hm_store_close(&sb);
    tu_rmtree(tmp);
    free(tmp);
}
END_TEST

START_TEST(add_matchable_on_both_replicas)
{
    node_t p, r1, r2;
    s_primary(&p);
    s_replica(&r1, &p, 1);
    s_replica(&r2, &p, 1);
    /* Writes on a replica are refused and name the primary. */
    json_t *j = du_control(&r1.d, "{\"cmd\":\"authorize\",\"brand\":\"A\",\"seller\":\"s\"}", NULL, 0);
    ck_assert_str_eq(du_error_code(j), "read_only");
    ck_assert(strstr(json_string_value(json_object_get(json_object_get(j, "error"), "message")),
                     p.repl) != NULL);
    json_decref(j);
    long t0 = s_ms();
    s_add(&p.d, "fake-1", 7);
    long seen[2] = { -1, -1 };
    while (s_ms() - t0 < 3000 && (seen[0] < 0 || seen[1] < 0)) {
        for (int k = 0; k < 2; k++) {
            if (seen[k] >= 0)
                continue;
            json_t *v = du_score(k ? &r2.d : &r1.d, "q", "L", "", "Acme", PIC(7));
            if (strcmp(du_decision(v), "counterfeit") == 0)
                seen[k] = s_ms() - t0;
            json_decref(v);
        }
    }
    printf("repl: add matchable on replica 1 after %ld ms, replica 2 after %ld ms\n", seen[0],
           seen[1]);
    ck_assert_msg(seen[0] >= 0 && seen[0] < 1000 && seen[1] >= 0 && seen[1] < 1000,
                  "lag %ld / %ld ms", seen[0], seen[1]);
    /* A strike on a replica is counted by the primary and comes back. */
    for (int i = 0; i < 2; i++) {
        char lid[16];
        snprintf(lid, sizeof lid, "L%d", i);
        json_decref(du_score(i ? &r2.d : &r1.d, "q", lid, "bad-seller", "Acme", PIC(7)));
    }
    long t1 = s_ms();
    int strikes = 0;
    while (s_ms() - t1 < 3000 && strikes < 3) {
        json_t *v = du_score(&p.d, "q", "L9", "bad-seller", "Acme", PIC(7));
        strikes = (int)json_integer_value(json_object_get(json_object_get(v, "seller"), "strikes"));
        json_decref(v);
        if (strikes < 3)
            usleep(50000);
    }
    ck_assert_int_ge(strikes, 3);
    du_cleanup(&r1.d);
    du_cleanup(&r2.d);
    du_cleanup(&p.d);
}
END_TEST

/* A distinct 96x96 PNG of random 8x8 blocks per seed (the caller g_free()s). */
static void *s_block_pic(int seed, size_t *len)
{
    uint8_t rgb[96 * 96 * 3];
    uint64_t st = 0x5eedULL * (uint64_t)(seed + 1);
    for (int by = 0; by < 12; by++)
        for (int bx = 0; bx < 12; bx++) {
            uint64_t r = tu_rand(&st);
            for (int y = 0; y < 8; y++)
                for (int x = 0; x < 8; x++)
                    for (int c = 0; c < 3; c++)
                        rgb[((by * 8 + y) * 96 + bx * 8 + x) * 3 + c] = (uint8_t)(r >> (8 * c));
        }
    void *out = NULL;
    ck_assert(tu_encode(rgb, 96, 96, ".png", &out, len) == 0);
    return out;
}

START_TEST(killed_replica_converges)
{
    node_t p, r;
    s_primary(&p);
    s_replica(&r, &p, 1);
    long t0 = s_ms();
    for (int i = 0; i < 1000; i++) {
        char cmd[200];
        size_t len;
        void *img = s_block_pic(i, &len);
        snprintf(cmd, sizeof cmd, "{\"cmd\":\"add\",\"ref\":\"burst-%d\",\"bank\":\"%s\","
                 "\"brand\":\"B%d\"}", i, i % 3 ? "counterfeit" : "genuine", i % 7);
        json_t *j = du_control(&p.d, cmd, img, len);
        ck_assert_msg(json_is_true(json_object_get(j, "ok")), "add %d failed", i);
        json_decref(j);
        g_free(img);
        if (i % 50 == 49) { /* removals and authorisations replicate too */
            snprintf(cmd, sizeof cmd, "{\"cmd\":\"remove\",\"ref\":\"burst-%d\"}", i - 7);
            json_decref(du_control(&p.d, cmd, NULL, 0));
            snprintf(cmd, sizeof cmd, "{\"cmd\":\"authorize\",\"brand\":\"B%d\",\"seller\":"
                     "\"s%d\"}", i % 7, i);
            json_decref(du_control(&p.d, cmd, NULL, 0));
        }
        if (i == 400) {
            kill(r.d.pid, SIGKILL);
            du_stop(&r.d, 0, 2000);
        }
        if (i == 700) /* restarted while the burst goes on */
            s_replica(&r, &p, 0);
    }
    long ms = s_converge(&p.d, &r.d, 20000);
    printf("repl: 1000 adds in %ld ms; the restarted replica converged %ld ms after the last\n",
           s_ms() - t0 - ms, ms);
    ck_assert_int_eq(du_stop(&r.d, SIGTERM, 10000), 0);
    ck_assert_int_eq(du_stop(&p.d, SIGTERM, 10000), 0);
    char hp[65], hr[65];
    uint64_t sp, sr;
    s_digest(p.d.db, hp, &sp);
    s_digest(r.d.db, hr, &sr);
    ck_assert_uint_eq(sp, sr);
    ck_assert_str_eq(hp, hr);
    s_verify_ok(r.d.db);
    /* The primary compacts its log at start: a replica that was away longer
     * than the log reaches back re-snapshots at its next start. */
    const char *pargv[] = { "--repl", p.repl, "--repl-pub", p.pub, "--workers", "1",
                            "--repl-keep", "5", "--repl-keep-hours", "0", NULL };
    du_start(&p.d, pargv);
    for (int i = 0; i < 20; i++) {
        char cmd[160];
        snprintf(cmd, sizeof cmd, "{\"cmd\":\"authorize\",\"brand\":\"C\",\"seller\":\"c%d\"}", i);
        json_decref(du_control(&p.d, cmd, NULL, 0));
    }
    du_stop(&p.d, SIGTERM, 10000);
    du_start(&p.d, pargv); /* compacts: keeps the last 5 */
    s_replica(&r, &p, 0);
    s_converge(&p.d, &r.d, 20000);
    ck_assert(s_metric(&r.d, "hallmark_repl_snapshots_total") == 1);
    ck_assert_int_eq(du_stop(&r.d, SIGTERM, 10000), 0);
    ck_assert_int_eq(du_stop(&p.d, SIGTERM, 10000), 0);
    s_digest(p.d.db, hp, &sp);
    s_digest(r.d.db, hr, &sr);
    ck_assert_uint_eq(sp, sr);
    ck_assert_str_eq(hp, hr);
    uint8_t *log = NULL;
    size_t loglen = 0;
    tu_read_file(r.d.log, &log, &loglen);
    ck_assert_msg(memmem(log, loglen, "event=replica_snapshot", 22) != NULL,
                  "the replica did not re-snapshot");
    free(log);
    du_cleanup(&r.d);
    du_cleanup(&p.d);
}
END_TEST

/* Count the lines of a file (0 when missing). */
static int s_lines(const char *path)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    int n = 0;
    if (tu_try_read_file(path, &buf, &len) != 0)
        return 0;
    for (size_t i = 0; i < len; i++)
        n += buf[i] == '\n';
    free(buf);
    return n;
}

START_TEST(send_survives_replica_kill)
{
    node_t p, r1, r2;
    s_primary(&p);
    s_add(&p.d, "fake-7", 7);
    s_replica(&r1, &p, 1);
    s_replica(&r2, &p, 1);
    char *tmp = tu_tmpdir(), list[4200], out[4200], cli[4200];
    snprintf(list, sizeof list, "%s/list", tmp);
    snprintf(out, sizeof out, "%s/out.jsonl", tmp);
    FILE *lf = fopen(list, "w");
    ck_assert(lf != NULL);
    for (int i = 0; i < 2000; i++) {
        char path[4300];
        snprintf(path, sizeof path, "%s/img-%04d.png", tmp, i);
        FILE *f = fopen(path, "wb");
        ck_assert(f && fwrite(du_pic(i % 200), 1, du_pic_len(i % 200), f) == du_pic_len(i % 200));
        fclose(f);
        fprintf(lf, "%s\n", path);
    }
    fclose(lf);
    snprintf(cli, sizeof cli, "%s/hallmark", getenv("HM_BIN_DIR") ? getenv("HM_BIN_DIR") : ".");
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, 1);
        execl(cli, cli, "send", "--connect", r1.d.ep[DU_INGEST], "--connect", r2.d.ep[DU_INGEST],
              "--timeout-ms", "1000", "--window", "16", "--list", list, (char *)NULL);
        _exit(127);
    }
    long t0 = s_ms();
    int killed = 0, status = -1;
    while (s_ms() - t0 < 60000) {
        if (!killed && s_lines(out) >= 1000) {
            kill(r2.d.pid, SIGKILL);
            du_stop(&r2.d, 0, 2000);
            killed = 1;
            printf("repl: replica 2 killed after %d verdicts\n", s_lines(out));
        }
        if (waitpid(pid, &status, WNOHANG) == pid)
            break;
        usleep(5000);
    }
    if (s_ms() - t0 >= 60000)
        kill(pid, SIGKILL), waitpid(pid, &status, 0);
    ck_assert(killed);
    /* Every request has a verdict: 2000 distinct request ids, none an error. */
    static char seen[2000];
    memset(seen, 0, sizeof seen);
    int n = 0, errors = 0, lines = 0;
    FILE *f = fopen(out, "r");
    char line[1 << 14];
    while (f && fgets(line, sizeof line, f)) {
        json_t *v = json_loads(line, 0, NULL);
        lines++;
        const char *rid = json_string_value(json_object_get(v, "request_id"));
        int i = rid ? atoi(rid) : -1;
        if (strcmp(du_decision(v), "error") == 0)
            errors++;
        else if (i >= 0 && i < 2000 && !seen[i])
            seen[i] = 1, n++;
        json_decref(v);
    }
    if (f)
        fclose(f);
    printf("repl: %d of 2000 requests answered (%d lines, %d errors) in %ld ms\n", n, lines,
           errors, s_ms() - t0);
    ck_assert_int_eq(errors, 0);
    ck_assert_int_eq(n, 2000);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    tu_rmtree(tmp);
    free(tmp);
    du_cleanup(&r1.d);
    du_cleanup(&r2.d);
    du_cleanup(&p.d);
}
END_TEST

/* ---- network namespaces: a replica on its own "host" behind a veth pair ---- */

static char s_ns[32], s_veth[32];

static int s_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int s_sh(const char *fmt, ...)
{
    char cmd[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void s_net_cleanup(void)
{
    if (s_ns[0]) {
        s_sh("ip netns pids %s 2>/dev/null | xargs -r kill -9 2>/dev/null", s_ns);
        s_sh("ip link del %s 2>/dev/null", s_veth);
        s_sh("ip netns del %s 2>/dev/null", s_ns);
        s_ns[0] = '\0';
    }
}

static void s_on_term(int sig)
{
    (void)sig;
    s_net_cleanup();
    _exit(0);
}

/* Check ends a failed test with _exit() in its forked child, so atexit()
 * would not run (and it kills the test's process group): a watchdog process
 * in its own session removes the namespace and the veth when
 * the test process goes (PR_SET_PDEATHSIG) or when told (SIGTERM). */
static pid_t s_net_watchdog(void)
{
    pid_t parent = getpid(), pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        /* Out of the test's process group: Check kills that group after a test. */
        setsid();
        signal(SIGTERM, s_on_term);
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            s_on_term(0);
        for (;;)
            pause();
    }
    return pid;
}

static int s_http(const char *host, int port, const char *path, char *buf, size_t cap)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    struct timeval tv = { 2, 0 };
    inet_pton(AF_INET, host, &a.sin_addr);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    buf[0] = '\0';
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    char req[256];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\n\r\n", path);
    size_t got = 0;
    ssize_t r;
    if (write(fd, req, (size_t)n) == n)
        while (got + 1 < cap && (r = read(fd, buf + got, cap - 1 - got)) > 0)
            got += (size_t)r;
    buf[got] = '\0';
    close(fd);
    int status = -1;
    sscanf(buf, "HTTP/1.%*d %d", &status);
    return status;
}

static double s_net_metric(const char *host, int port, const char *name)
{
    static char buf[1 << 16];
    if (s_http(host, port, "/metrics", buf, sizeof buf) != 200)
        return -1;
    char key[128];
    snprintf(key, sizeof key, "\n%s ", name);
    const char *p = strstr(buf, key);
    return p ? strtod(p + strlen(key), NULL) : -1;
}

START_TEST(partitioned_replica_converges)
{
    int x = 1 + (int)(getpid() % 250);
    snprintf(s_ns, sizeof s_ns, "hmrepl%d", (int)getpid());
    snprintf(s_veth, sizeof s_veth, "hmv%da", (int)getpid());
    pid_t wd = s_net_watchdog();
    if (s_sh("ip netns add %s 2>/dev/null", s_ns) != 0) {
        kill(wd, SIGKILL);
        waitpid(wd, NULL, 0);
        printf("repl: SKIP partitioned_replica_converges: cannot create network namespaces "
               "(need root and iproute2)\n");
        s_ns[0] = '\0';
        return;
    }
    char host[32], peer[32];
    snprintf(host, sizeof host, "10.213.%d.1", x);
    snprintf(peer, sizeof peer, "10.213.%d.2", x);
    ck_assert_int_eq(s_sh("ip link add %s type veth peer name hmv%db && ip link set hmv%db netns %s"
                          " && ip addr add %s/24 dev %s && ip link set %s up && ip netns exec %s "
                          "sh -c 'ip addr add %s/24 dev hmv%db && ip link set hmv%db up && "
                          "ip link set lo up'", s_veth, (int)getpid(), (int)getpid(), s_ns, host,
                          s_veth, s_veth, s_ns, peer, (int)getpid(), (int)getpid()), 0);
    node_t p;
    du_init(&p.d);
    snprintf(p.repl, sizeof p.repl, "tcp://%s:%d", host, s_port());
    snprintf(p.pub, sizeof p.pub, "tcp://%s:%d", host, s_port());
    const char *pargv[] = { "--repl", p.repl, "--repl-pub", p.pub, "--workers", "1", NULL };
    du_start(&p.d, pargv);
    /* The replica: its own namespace, database and ports on the veth address. */
    char *tmp = tu_tmpdir(), db[4200], log[4200], ep[5][64], metrics[64];
    snprintf(db, sizeof db, "%s/db", tmp);
    snprintf(log, sizeof log, "%s/replica.log", tmp);
    int mport = 9000 + x;
    for (int i = 0; i < 5; i++)
        snprintf(ep[i], sizeof ep[i], "tcp://%s:%d", i == 4 ? "127.0.0.1" : peer, 7000 + i);
    snprintf(metrics, sizeof metrics, "%s:%d", peer, mport);
    pid_t rp = fork();
    ck_assert(rp >= 0);
    if (rp == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        dup2(fd, 2);
        execlp("ip", "ip", "netns", "exec", s_ns, du_bin(), "--db", db, "--ingest", ep[0],
               "--pipeline-in", ep[1], "--pipeline-out", ep[2], "--feed", ep[3], "--control",
               ep[4], "--metrics", metrics, "--workers", "1", "--replica-of", p.repl,
               "--replica-pub", p.pub, "--repl-lag-max", "3", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 20; i++) {
        char ref[32];
        snprintf(ref, sizeof ref, "net-%d", i);
        s_add(&p.d, ref, 100 + i);
    }
    long t0 = s_ms();
    while (s_ms() - t0 < 15000 &&
           s_net_metric(peer, mport, "hallmark_repl_applied_seq") !=
               s_metric(&p.d, "hallmark_repl_applied_seq"))
        usleep(50000);
    ck_assert_msg(s_ms() - t0 < 15000, "replica in the namespace did not catch up");
    /* Cut the link for 10 s while adds continue. */
    ck_assert_int_eq(s_sh("ip link set %s down", s_veth), 0);
    long cut = s_ms();
    int i = 0;
    while (s_ms() - cut < 10000) {
        char ref[32], cmd[160];
        snprintf(ref, sizeof ref, "cut-%d", i);
        if (i < 60)
            s_add(&p.d, ref, 130 + i);
        snprintf(cmd, sizeof cmd, "{\"cmd\":\"authorize\",\"brand\":\"N\",\"seller\":\"s%d\"}", i);
        json_decref(du_control(&p.d, cmd, NULL, 0));
        i++;
        usleep(50000);
    }
    ck_assert_int_eq(s_sh("ip link set %s up", s_veth), 0);
    long up = s_ms();
    double ps = -2, rs = -1;
    while (s_ms() - up < 20000) {
        /* The primary's gauge is refreshed every 200 ms: read both each time. */
        ps = s_metric(&p.d, "hallmark_repl_applied_seq");
        rs = s_net_metric(peer, mport, "hallmark_repl_applied_seq");
        if (rs == ps && ps > 0)
            break;
        usleep(50000);
    }
    printf("repl: namespace replica converged %ld ms after the link came back (%d writes during "
           "the cut)\n", s_ms() - up, i);
    ck_assert_msg(rs == ps, "replica at %.0f, primary at %.0f", rs, ps);
    char body[512];
    long h0 = s_ms();
    while (s_ms() - h0 < 5000 && s_http(peer, mport, "/healthz", body, sizeof body) != 200)
        usleep(100000);
    ck_assert_int_eq(s_http(peer, mport, "/healthz", body, sizeof body), 200);
    kill(rp, SIGTERM);
    int st;
    waitpid(rp, &st, 0);
    ck_assert_int_eq(du_stop(&p.d, SIGTERM, 10000), 0);
    char hp[65], hr[65];
    uint64_t sp, sr;
    s_digest(p.d.db, hp, &sp);
    s_digest(db, hr, &sr);
    ck_assert_uint_eq(sp, sr);
    ck_assert_str_eq(hp, hr);
    s_net_cleanup();
    kill(wd, SIGTERM);
    waitpid(wd, NULL, 0);
    tu_rmtree(tmp);
    free(tmp);
    du_cleanup(&p.d);
}
END_TEST

Suite *hm_suite_repl(void)
{
    Suite *s = suite_create("repl");
    TCase *tc = tcase_create("repl");
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, store_records_roundtrip);
    tcase_add_test(tc, add_matchable_on_both_replicas);
    tcase_add_test(tc, killed_replica_converges);
    tcase_add_test(tc, send_survives_replica_kill);
    tcase_add_test(tc, partitioned_replica_converges);
    suite_add_tcase(s, tc);
    return s;
}
