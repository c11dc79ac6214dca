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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "daemon_util.h"
#include "hm_engine.h"
#include "hm_error.h"
#include "hm_store.h"
#include "test_util.h"

static long s_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

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

START_TEST(killed_replica_converges)
{
    node_t p, r;
    s_primary(&p);
    s_replica(&r, &p, 1);
    char cmd[160];
    for (int i = 0; i < 1000; i++) {
        if (i % 10 == 0) {
            char ref[32];
            snprintf(ref, sizeof ref, "burst-%d", i);
            s_add(&p.d, ref, 10 + i / 10);
        } else {
            snprintf(cmd, sizeof cmd, "{\"cmd\":\"authorize\",\"brand\":\"B%d\",\"seller\":\"s%d\"}",
                     i % 7, i);
            json_decref(du_control(&p.d, cmd, NULL, 0));
        }
        if (i == 400) {
            kill(r.d.pid, SIGKILL);
            du_stop(&r.d, 0, 2000);
        }
    }
    s_replica(&r, &p, 0);
    long ms = s_converge(&p.d, &r.d, 20000);
    printf("repl: restarted replica converged %ld ms after start\n", ms);
    ck_assert_int_eq(du_stop(&r.d, SIGTERM, 10000), 0);
    ck_assert_int_eq(du_stop(&p.d, SIGTERM, 10000), 0);
    char hp[65], hr[65];
    uint64_t sp, sr;
    s_digest(p.d.db, hp, &sp);
    s_digest(r.d.db, hr, &sr);
    ck_assert_uint_eq(sp, sr);
    ck_assert_str_eq(hp, hr);
    s_verify_ok(r.d.db);
    du_cleanup(&r.d);
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
    suite_add_tcase(s, tc);
    return s;
}
