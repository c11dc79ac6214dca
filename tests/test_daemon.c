/*
 * test_daemon.c - integration tests for hallmarkd (suite "daemon").  Each test
 * starts its own daemon on free loopback ports with a temporary database and
 * talks to it over ZeroMQ and HTTP, as a client would.
 *
 * The images are real PNGs (du_pic: random block patterns, distinct per
 * number; du_big_pic: large noise, slow to decode), so the tests hold for the
 * engine stub (which matches identical bytes) and the real engine alike.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>
#include <glib.h>
#include <zmq.h>

#include "daemon_util.h"
#include "test_util.h"

#define IMG(s) (s), strlen(s)

static long s_ms(void) { return (long)hm_mono_ms(); }

static void s_ok(json_t *r)
{
    ck_assert_msg(json_is_true(json_object_get(r, "ok")), "control failed: %s",
                  json_string_value(json_object_get(json_object_get(r, "error"), "message")));
    json_decref(r);
}

/* Score and check the decision; returns nothing, frees the verdict. */
static void s_expect(du_daemon_t *d, const char *seller, const char *brand, int pic,
                     const char *decision)
{
    json_t *v = du_score(d, "rid", "listing-x", seller, brand, PIC(pic));
    ck_assert_msg(strcmp(du_decision(v), decision) == 0, "image %d: expected %s, got %s (%s)", pic,
                  decision, du_decision(v), json_string_value(json_object_get(v, "reason")));
    json_decref(v);
}

START_TEST(roundtrip)
{
    du_daemon_t d;
    du_init(&d);
    du_start(&d, NULL);
    json_t *v = du_score(&d, "req-1", "L1", "seller-1", "Acme", PIC(1));
    ck_assert_str_eq(json_string_value(json_object_get(v, "request_id")), "req-1");
    ck_assert_str_eq(du_decision(v), "unknown");
    ck_assert_int_eq(json_integer_value(json_object_get(v, "v")), 1);
    json_decref(v);
    /* A REQ client: the empty delimiter frame is handled. */
    void *req = du_socket(&d, ZMQ_REQ, d.ep[DU_INGEST]);
    du_send_request(req, "req-2", "L2", "seller-1", "Acme", PIC(2));
    v = du_recv_json(req, 5000, NULL, 0);
    ck_assert_msg(v != NULL, "no reply to a REQ client");
    ck_assert_str_eq(json_string_value(json_object_get(v, "request_id")), "req-2");
    json_decref(v);
    zmq_close(req);
    ck_assert_int_eq(du_stop(&d, SIGTERM, 10000), 0);
    du_cleanup(&d);
}
END_TEST

START_TEST(many_in_flight)
{
    enum { NC = 4, NR = 50 };
    du_daemon_t d;
    du_init(&d);
    du_start(&d, (const char *const[]){ "--workers", "2", NULL });
    s_ok(du_control(&d, "{\"cmd\":\"add\",\"ref\":\"c1\",\"bank\":\"counterfeit\",\"brand\":\"Acme\"}",
                    PIC(3)));
    void *c[NC];
    int seen[NC][NR];
    memset(seen, 0, sizeof seen);
    for (int k = 0; k < NC; k++) {
        c[k] = du_socket(&d, ZMQ_DEALER, d.ep[DU_INGEST]);
        for (int i = 0; i < NR; i++) {
            char rid[32];
            snprintf(rid, sizeof rid, "%d-%d", k, i);
            int pic = i % 2 ? 3 : 4;
            du_send_request(c[k], rid, rid, "s", "Acme", PIC(pic));
        }
    }
    int got = 0;
    long end = s_ms() + 20000;
    while (got < NC * NR && s_ms() < end) {
        for (int k = 0; k < NC; k++) {
            json_t *v;
            while ((v = du_recv_json(c[k], 0, NULL, 0)) != NULL) {
                int kk = -1, i = -1;
                sscanf(json_string_value(json_object_get(v, "request_id")), "%d-%d", &kk, &i);
                ck_assert_int_eq(kk, k);
                ck_assert(i >= 0 && i < NR && !seen[k][i]);
                seen[k][i] = 1;
                ck_assert_str_eq(du_decision(v), i % 2 ? "counterfeit" : "unknown");
                got++;
                json_decref(v);
            }
        }
        usleep(2000);
    }
    ck_assert_int_eq(got, NC * NR);
    for (int k = 0; k < NC; k++)
        zmq_close(c[k]);
    ck_assert_int_eq(du_stop(&d, SIGTERM, 10000), 0);
    du_cleanup(&d);
}
END_TEST

START_TEST(pipeline)
{
    du_daemon_t d;
    du_init(&d);
    du_start(&d, NULL);
    void *out = du_socket(&d, ZMQ_PULL, d.ep[DU_PIPE_OUT]);
    void *in = du_socket(&d, ZMQ_PUSH, d.ep[DU_PIPE_IN]);
    usleep(100000);
    for (int i = 0; i < 5; i++) {
        char rid[16];
        snprintf(rid, sizeof rid, "p%d", i);
        du_send_request(in, rid, rid, "s", "Acme", PIC(5));
    }
    const void *bad[1] = { "{not json" };
    du_send_frames(in, bad, (size_t[]){ 9 }, 1);
    int n = 0, errors = 0;
    json_t *v;
    while (n < 6 && (v = du_recv_json(out, 5000, NULL, 0)) != NULL) {
        errors += strcmp(du_decision(v), "error") == 0;
        n++;
        json_decref(v);
    }
    ck_assert_int_eq(n, 6);
    ck_assert_int_eq(errors, 1);
    zmq_close(in);
    zmq_close(out);
    ck_assert_int_eq(du_stop(&d, SIGTERM, 10000), 0);
    du_cleanup(&d);
}
END_TEST

START_TEST(feed_by_brand)
{
    du_daemon_t d;
    du_init(&d);
    du_start(&d, NULL);
    s_ok(du_control(&d, "{\"cmd\":\"add\",\"ref\":\"a1\",\"bank\":\"counterfeit\",\"brand\":\"A\"}",
                    PIC(6)));
    s_ok(du_control(&d, "{\"cmd\":\"add\",\"ref\":\"b1\",\"bank\":\"counterfeit\",\"brand\":\"B\"}",
                    PIC(7)));
    void *sub = du_socket(&d, ZMQ_SUB, d.ep[DU_FEED]);
    zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "brand/A/", 8);
    usleep(300000); /* the subscription reaches the PUB */
    for (int i = 0; i < 3; i++) {
        json_decref(du_score(&d, "fa", "la", "s", "A", PIC(6)));
        json_decref(du_score(&d, "fb", "lb", "s", "B", PIC(7)));
        json_decref(du_score(&d, "fu", "lu", "s", "A", PIC(8)));
    }
    char topic[256];
    int n = 0;
    json_t *v;
    while ((v = du_recv_json(sub, 1000, topic, sizeof topic)) != NULL) {
        ck_assert_str_eq(topic, "brand/A/counterfeit");
        ck_assert_str_eq(du_decision(v), "counterfeit");
        n++;
        json_decref(v);
    }
    ck_assert_int_eq(n, 3);
    zmq_close(sub);
    ck_assert_int_eq(du_stop(&d, SIGTERM, 10000), 0);
    du_cleanup(&d);
}
END_TEST

START_TEST(control_decisions)
{
    du_daemon_t d;
    du_init(&d);
    du_start(&d, NULL);
    s_expect(&d, "s1", "Acme", 9, "unknown");
    s_ok(du_control(&d, "{\"cmd\":\"add\",\"ref\":\"g1\",\"bank\":\"genuine\",\"brand\":\"Acme\"}",
                    PIC(9)));
    s_expect(&d, "s1", "Acme", 9, "suspect");
    s_ok(du_control(&d, "{\"cmd\":\"authorize\",\"brand\":\"Acme\",\"seller\":\"s1\"}", NULL, 0));
    s_expect(&d, "s1", "Acme", 9, "genuine");
    s_expect(&d, "s2", "Acme", 9, "suspect");
    s_ok(du_control(&d, "{\"cmd\":\"deauthorize\",\"brand\":\"Acme\",\"seller\":\"s1\"}", NULL, 0));
    s_expect(&d, "s1", "Acme", 9, "suspect");
    s_ok(du_control(&d, "{\"cmd\":\"relabel\",\"ref\":\"g1\",\"bank\":\"counterfeit\"}", NULL, 0));
    s_expect(&d, "s1", "Acme", 9, "counterfeit");
    s_ok(du_control(&d, "{\"cmd\":\"remove\",\"ref\":\"g1\",\"request_id\":\"x\"}", NULL, 0));
    s_expect(&d, "s1", "Acme", 9, "unknown");
    json_t *r = du_control(&d, "{\"cmd\":\"stats\"}", NULL, 0);
    ck_assert(json_is_object(json_object_get(r, "stats")));
    json_decref(r);
    s_ok(du_control(&d, "{\"cmd\":\"snapshot\"}", NULL, 0));
    s_ok(du_control(&d, "{\"cmd\":\"reload\"}", NULL, 0));
    /* Errors: unknown command, missing field, missing data frame, not found, bad JSON. */
    static const struct { const char *cmd; const char *code; } bad[] = {
        { "{\"cmd\":\"explode\"}", "invalid_argument" },
        { "{\"cmd\":\"remove\"}", "invalid_argument" },
        { "{\"cmd\":\"add\",\"ref\":\"z\",\"bank\":\"genuine\",\"brand\":\"A\"}", "invalid_argument" },
        { "{\"cmd\":\"add\",\"ref\":\"z\",\"bank\":\"other\",\"brand\":\"A\"}", "invalid_argument" },
        { "{\"cmd\":\"remove\",\"ref\":\"nope\"}", "not_found" },
        { "[1,2", "protocol_error" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = du_control(&d, bad[i].cmd, NULL, 0);
        ck_assert_msg(json_is_false(json_object_get(r, "ok")), "%s: not refused", bad[i].cmd);
        ck_assert_str_eq(du_error_code(r), bad[i].code);
        json_decref(r);
    }
    ck_assert_int_eq(du_stop(&d, SIGTERM, 10000), 0);
    du_cleanup(&d);
}
END_TEST

/* Poll until the decision is the expected one; returns the ms it took, or -1. */
static long s_until(du_daemon_t *d, int pic, const char *decision, long budget_ms)
{
    long t0 = s_ms();
    while (s_ms() - t0 <= budget_ms) {
        json_t *v = du_score(d, "fb", "lf", "s", "Acme", PIC(pic));
        int hit = strcmp(du_decision(v), decision) == 0;
        json_decref(v);
        if (hit)
            return s_ms() - t0;
        usleep(20000);
    }
    return -1;
}

START_TEST(feedback_within_1s)
{
    du_daemon_t d;
    du_init(&d);
    du_start(&d, NULL);
    s_expect(&d, "s", "Acme", 10, "unknown");
    long t0 = s_ms();
    s_ok(du_control(&d, "{\"cmd\":\"feedback\",\"action\":\"confirm\",\"ref\":\"fb1\","
                        "\"brand\":\"Acme\",\"note\":\"reviewer 7\"}", PIC(10)));
    ck_assert_msg(s_until(&d, 10, "counterfeit", 1000) >= 0 && s_ms() - t0 <= 1500,
                  "confirm not visible within 1 s");
    s_ok(du_control(&d, "{\"cmd\":\"add\",\"ref\":\"c2\",\"bank\":\"counterfeit\",\"brand\":\"Acme\"}",
                    PIC(11)));
    s_expect(&d, "s", "Acme", 11, "counterfeit");
    t0 = s_ms();
    s_ok(du_control(&d, "{\"cmd\":\"feedback\",\"action\":\"reject\"}", PIC(11)));
    ck_assert_msg(s_until(&d, 11, "unknown", 1000) >= 0 && s_ms() - t0 <= 1500,
                  "reject not visible within 1 s");
    ck_assert_int_eq(du_stop(&d, SIGTERM, 10000), 0);
    du_cleanup(&d);
}
END_TEST

/* Send raw frames on a fresh DEALER; expect one error verdict with code. */
static json_t *s_malformed(du_daemon_t *d, const void *const *f, const size_t *l, int n,
                           const char *code)
{
    void *s = du_socket(d, ZMQ_DEALER, d->ep[DU_INGEST]);
    du_send_frames(s, f, l, n);
    json_t *v = du_recv_json(s, 5000, NULL, 0);
    zmq_close(s);
    ck_assert_msg(v != NULL, "no answer to a malformed request (want %s)", code);
    ck_assert_str_eq(du_decision(v), "error");
    ck_assert_msg(strcmp(du_error_code(v), code) == 0, "want %s, got %s: %s", code,
                  du_error_code(v),
                  json_string_value(json_object_get(json_object_get(v, "error"), "message")));
    ck_assert(json_string_length(json_object_get(json_object_get(v, "error"), "message")) > 0);
    return v;
}

#define HDR(extra) "{\"v\":1,\"request_id\":\"m1\",\"listing_id\":\"l\",\"image_id\":\"i\"," \
                   "\"seller_id\":\"s\",\"brand\":\"b\"" extra "}"

START_TEST(malformed)
{
    du_daemon_t d;
    du_init(&d);
    du_start(&d, (const char *const[]){ "--max-image", "4096", NULL });
    const char *ok = HDR("");
    const char img[] = "SOME-IMAGE";
    /* Wrong frame counts: 1 and 3 payload frames (request_id still echoed). */
    json_t *v = s_malformed(&d, (const void *[]){ ok }, (size_t[]){ strlen(ok) }, 1, "protocol_error");
    ck_assert_str_eq(json_string_value(json_object_get(v, "request_id")), "m1");
    json_decref(v);
    json_decref(s_malformed(&d, (const void *[]){ ok, img, img },
                            (size_t[]){ strlen(ok), 10, 10 }, 3, "protocol_error"));
    /* Invalid JSON, not an object. */
    json_decref(s_malformed(&d, (const void *[]){ "{\"v\":1,", img }, (size_t[]){ 7, 10 }, 2,
                            "protocol_error"));
    json_decref(s_malformed(&d, (const void *[]){ "[1]", img }, (size_t[]){ 3, 10 }, 2,
                            "protocol_error"));
    /* Missing field, ill-typed field, bad top_k. */
    const char *miss = "{\"v\":1,\"request_id\":\"m2\",\"listing_id\":\"l\",\"image_id\":\"i\",\"brand\":\"b\"}";
    v = s_malformed(&d, (const void *[]){ miss, img }, (size_t[]){ strlen(miss), 10 }, 2,
                    "invalid_argument");
    ck_assert_str_eq(json_string_value(json_object_get(v, "request_id")), "m2");
    json_decref(v);
    const char *typed = "{\"v\":1,\"request_id\":\"m3\",\"listing_id\":7,\"image_id\":\"i\","
                        "\"seller_id\":\"s\",\"brand\":\"b\"}";
    json_decref(s_malformed(&d, (const void *[]){ typed, img }, (size_t[]){ strlen(typed), 10 }, 2,
                            "invalid_argument"));
    const char *topk = HDR(",\"options\":{\"top_k\":-1}");
    json_decref(s_malformed(&d, (const void *[]){ topk, img }, (size_t[]){ strlen(topk), 10 }, 2,
                            "invalid_argument"));
    /* Unknown protocol version. */
    const char *ver = "{\"v\":2,\"request_id\":\"m4\",\"listing_id\":\"l\",\"image_id\":\"i\","
                      "\"seller_id\":\"s\",\"brand\":\"b\"}";
    json_decref(s_malformed(&d, (const void *[]){ ver, img }, (size_t[]){ strlen(ver), 10 }, 2,
                            "bad_version"));
    /* Invalid UTF-8 in an id (raw bytes, and an escaped lone surrogate). */
    const char *utf = "{\"v\":1,\"request_id\":\"m5\",\"listing_id\":\"\xff\xfe\",\"image_id\":\"i\","
                      "\"seller_id\":\"s\",\"brand\":\"b\"}";
    json_decref(s_malformed(&d, (const void *[]){ utf, img }, (size_t[]){ strlen(utf), 10 }, 2,
                            "protocol_error"));
    /* An id longer than HM_ID_MAX - 1 bytes. */
    char longh[512], longid[201];
    memset(longid, 'x', 200);
    longid[200] = '\0';
    snprintf(longh, sizeof longh, "{\"v\":1,\"request_id\":\"m6\",\"listing_id\":\"%s\","
             "\"image_id\":\"i\",\"seller_id\":\"s\",\"brand\":\"b\"}", longid);
    v = s_malformed(&d, (const void *[]){ longh, img }, (size_t[]){ strlen(longh), 10 }, 2,
                    "invalid_argument");
    ck_assert_str_eq(json_string_value(json_object_get(v, "request_id")), "m6");
    json_decref(v);
    /* Oversized image frame (the limit is 4096 here). */
    char *big = calloc(1, 10000);
    json_decref(s_malformed(&d, (const void *[]){ ok, big }, (size_t[]){ strlen(ok), 10000 }, 2,
                            "too_large"));
    free(big);
    /* 10,000 frames in one message. */
    {
        void *s = du_socket(&d, ZMQ_DEALER, d.ep[DU_INGEST]);
        for (int i = 0; i < 10000; i++)
            ck_assert(zmq_send(s, i == 0 ? ok : "x", i == 0 ? strlen(ok) : 1,
                               i + 1 < 10000 ? ZMQ_SNDMORE : 0) >= 0);
        v = du_recv_json(s, 5000, NULL, 0);
        ck_assert_msg(v != NULL, "no answer to 10,000 frames");
        ck_assert_str_eq(du_error_code(v), "protocol_error");
        json_decref(v);
        zmq_close(s);
    }
    /* Zero-length frames: an empty header, and a valid header with an empty image. */
    json_decref(s_malformed(&d, (const void *[]){ "", "" }, (size_t[]){ 0, 0 }, 2, "protocol_error"));
    json_decref(s_malformed(&d, (const void *[]){ ok, "" }, (size_t[]){ strlen(ok), 0 }, 2, "empty"));
    /* Undecodable bytes (the stub says decode_failed; libvips may say unsupported). */
    {
        void *s = du_socket(&d, ZMQ_DEALER, d.ep[DU_INGEST]);
        du_send_frames(s, (const void *[]){ ok, "BADBYTES" }, (size_t[]){ strlen(ok), 8 }, 2);
        v = du_recv_json(s, 5000, NULL, 0);
        ck_assert(v != NULL);
        const char *code = du_error_code(v);
        ck_assert_msg(!strcmp(code, "decode_failed") || !strcmp(code, "unsupported") ||
                      !strcmp(code, "corrupt"), "undecodable bytes gave %s", code);
        json_decref(v);
        zmq_close(s);
    }
    /* Still alive and well. */
    s_expect(&d, "s", "b", 12, "unknown");
    ck_assert_int_eq(du_stop(&d, SIGTERM, 10000), 0);
    du_cleanup(&d);
}
END_TEST

START_TEST(busy_under_overload)
{
    enum { N = 20 };
    du_daemon_t d;
    size_t len;
    void *big = du_big_pic(1, 1000, 1000, &len); /* tens of ms to score */
    du_init(&d);
    du_start(&d, (const char *const[]){ "--workers", "1", "--queue", "2", NULL });
    void *s = du_socket(&d, ZMQ_DEALER, d.ep[DU_INGEST]);
    for (int i = 0; i < N; i++) {
        char rid[16];
        snprintf(rid, sizeof rid, "b%d", i);
        du_send_request(s, rid, rid, "s", "Acme", big, len);
    }
    g_free(big);
    int busy = 0, scored = 0;
    json_t *v;
    while (busy + scored < N && (v = du_recv_json(s, 5000, NULL, 0)) != NULL) {
        if (strcmp(du_decision(v), "error") == 0) {
            ck_assert_str_eq(du_error_code(v), "busy");
            busy++;
        } else {
            ck_assert_str_eq(du_decision(v), "unknown");
            scored++;
        }
        json_decref(v);
    }
    ck_assert_int_eq(busy + scored, N);
    ck_assert_int_gt(busy, 0);
    ck_assert_int_gt(scored, 0);
    zmq_close(s);
    ck_assert_int_eq(du_stop(&d, SIGTERM, 10000), 0);
    du_cleanup(&d);
}
END_TEST

START_TEST(sigterm_in_flight)
{
    enum { N = 8 };
    du_daemon_t d;
    size_t len;
    void *big = du_big_pic(2, 1000, 1000, &len);
    du_init(&d);
    du_start(&d, (const char *const[]){ "--workers", "2", NULL });
    void *s = du_socket(&d, ZMQ_DEALER, d.ep[DU_INGEST]);
    for (int i = 0; i < N; i++) {
        char rid[16];
        snprintf(rid, sizeof rid, "t%d", i);
        du_send_request(s, rid, rid, "s", "Acme", big, len);
    }
    g_free(big);
    usleep(100000);
    kill(d.pid, SIGTERM);
    int n = 0, scored = 0;
    json_t *v;
    while (n < N && (v = du_recv_json(s, 5000, NULL, 0)) != NULL) {
        scored += strcmp(du_decision(v), "unknown") == 0;
        ck_assert(strcmp(du_decision(v), "unknown") == 0 || strcmp(du_error_code(v), "busy") == 0);
        n++;
        json_decref(v);
    }
    ck_assert_int_eq(n, N);
    ck_assert_int_gt(scored, 0);
    ck_assert_int_eq(du_stop(&d, 0, 10000), 0);
    zmq_close(s);
    du_cleanup(&d);
}
END_TEST

START_TEST(restart_keeps_references)
{
    du_daemon_t d;
    du_init(&d);
    du_start(&d, NULL);
    char cmd[256];
    for (int i = 0; i < 10; i++) {
        snprintf(cmd, sizeof cmd, "{\"cmd\":\"add\",\"ref\":\"r%d\",\"bank\":\"counterfeit\","
                 "\"brand\":\"Acme\"}", i);
        s_ok(du_control(&d, cmd, PIC(20 + i)));
    }
    ck_assert_int_eq(du_stop(&d, SIGTERM, 10000), 0);
    du_start(&d, NULL);
    for (int i = 0; i < 10; i++) {
        s_expect(&d, "s", "Acme", 20 + i, "counterfeit");
    }
    ck_assert_int_eq(du_stop(&d, SIGINT, 10000), 0);
    du_cleanup(&d);
}
END_TEST

START_TEST(three_strikes)
{
    du_daemon_t d;
    du_init(&d);
    du_start(&d, NULL);
    s_ok(du_control(&d, "{\"cmd\":\"add\",\"ref\":\"c\",\"bank\":\"counterfeit\",\"brand\":\"Acme\"}",
                    PIC(13)));
    static const char *const listings[] = { "L1", "L1", "L2", "L3" };
    static const int strikes[] = { 1, 1, 2, 3 };
    for (int i = 0; i < 4; i++) {
        json_t *v = du_score(&d, "r", listings[i], "bad-seller", "Acme", PIC(13));
        json_t *sel = json_object_get(v, "seller");
        ck_assert_str_eq(du_decision(v), "counterfeit");
        ck_assert_int_eq(json_integer_value(json_object_get(sel, "strikes")), strikes[i]);
        ck_assert(json_is_true(json_object_get(sel, "blocked")) == (strikes[i] >= 3));
        json_decref(v);
    }
    ck_assert_int_eq(du_stop(&d, SIGTERM, 10000), 0);
    du_cleanup(&d);
}
END_TEST

static void s_write(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert(f != NULL);
    fputs(text, f);
    fclose(f);
}

/* A control client with CURVE keys; the reply or NULL within timeout_ms. */
static json_t *s_curve_stats(du_daemon_t *d, const char *server_pub, const char *pub,
                             const char *sec, int timeout_ms)
{
    void *s = du_socket(d, ZMQ_DEALER, NULL);
    if (server_pub) {
        zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, server_pub, 40);
        zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, pub, 40);
        zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, sec, 40);
    }
    ck_assert(zmq_connect(s, d->ep[DU_CONTROL]) == 0);
    const char *cmd = "{\"cmd\":\"stats\"}";
    zmq_send(s, cmd, strlen(cmd), ZMQ_DONTWAIT);
    json_t *r = du_recv_json(s, timeout_ms, NULL, 0);
    zmq_close(s);
    return r;
}

START_TEST(curve_control)
{
    char spub[41], ssec[41], cpub[41], csec[41], xpub[41], xsec[41], path1[4300], path2[4300];
    ck_assert(zmq_curve_keypair(spub, ssec) == 0);
    ck_assert(zmq_curve_keypair(cpub, csec) == 0);
    ck_assert(zmq_curve_keypair(xpub, xsec) == 0);
    du_daemon_t d;
    du_init(&d);
    snprintf(path1, sizeof path1, "%s/server.key", d.tmp);
    snprintf(path2, sizeof path2, "%s/clients.txt", d.tmp);
    char text[256];
    snprintf(text, sizeof text, "# server secret\n%s\n", ssec);
    s_write(path1, text);
    snprintf(text, sizeof text, "# allowed clients\n%s  # ops\n", cpub);
    s_write(path2, text);
    /* A secret key file readable by others is refused at start-up. */
    ck_assert(chmod(path1, 0640) == 0);
    char cmd[9000];
    snprintf(cmd, sizeof cmd, "'%s' --db '%s/x' --control tcp://127.0.0.1:0 --metrics off "
             "--curve-secret-file '%s' --curve-allow '%s' 2>&1 | grep -q 'chmod 600'",
             du_bin(), d.tmp, path1, path2);
    ck_assert_msg(system(cmd) == 0, "a group-readable secret key file was accepted");
    ck_assert(chmod(path1, 0600) == 0);
    du_start(&d, (const char *const[]){ "--curve-secret-file", path1, "--curve-allow", path2, NULL });
    json_t *r = s_curve_stats(&d, spub, cpub, csec, 5000);
    ck_assert_msg(r != NULL, "allow-listed key got no reply");
    ck_assert(json_is_true(json_object_get(r, "ok")));
    json_decref(r);
    r = s_curve_stats(&d, spub, xpub, xsec, 700);
    ck_assert_msg(r == NULL, "an unknown key was served");
    r = s_curve_stats(&d, NULL, NULL, NULL, 700);
    ck_assert_msg(r == NULL, "a plaintext client was served");
    /* Ingest is not affected. */
    s_expect(&d, "s", "Acme", 14, "unknown");
    ck_assert_int_eq(du_stop(&d, SIGTERM, 10000), 0);
    du_cleanup(&d);
}
END_TEST

START_TEST(http_metrics)
{
    du_daemon_t d;
    du_init(&d);
    du_start(&d, NULL);
    s_ok(du_control(&d, "{\"cmd\":\"add\",\"ref\":\"m\",\"bank\":\"counterfeit\",\"brand\":\"Met\"}",
                    PIC(15)));
    s_expect(&d, "s", "Met", 15, "counterfeit");
    json_t *bad = du_score(&d, "bad", "l", "s", "Met", IMG("BADIMG"));
    ck_assert_str_eq(du_decision(bad), "error");
    json_decref(bad);
    static char buf[1 << 17];
    ck_assert_int_eq(du_http_get(&d, "/healthz", buf, sizeof buf), 200);
    ck_assert_ptr_nonnull(strstr(buf, "\r\n\r\nok"));
    ck_assert_int_eq(du_http_get(&d, "/metrics", buf, sizeof buf), 200);
    static const char *const want[] = {
        "hallmark_verdicts_total{decision=\"counterfeit\"} 1",
        "hallmark_verdicts_total{decision=\"error\"} 1",
        "hallmark_errors_total{code=\"",
        "hallmark_matches_total{bank=\"counterfeit\",brand=\"Met\"} 1",
        /* both requests were timed: the verdict and the undecodable one */
        "hallmark_stage_seconds_bucket{stage=\"total\",le=\"+Inf\"} 2",
        "hallmark_stage_seconds_count{stage=\"decode\"}",
        /* the counterfeit matched strongly: local features never ran */
        "hallmark_stage_seconds_count{stage=\"local\"} 0",
        "hallmark_queue_depth 0",
        "hallmark_requests_in_flight 0",
        "hallmark_build_info{",
        "hallmark_control_ok_total 1",
        "hallmark_engine_",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        ck_assert_msg(strstr(buf, want[i]) != NULL, "/metrics lacks %s", want[i]);
    ck_assert_int_eq(du_http_get(&d, "/nope", buf, sizeof buf), 404);
    ck_assert_int_eq(du_stop(&d, SIGTERM, 10000), 0);
    du_cleanup(&d);
}
END_TEST

START_TEST(python_client)
{
    if (access("/usr/bin/python3", X_OK) != 0) {
        fprintf(stderr, "NOT RUN: /usr/bin/python3 missing\n");
        return;
    }
    du_daemon_t d;
    du_init(&d);
    du_start(&d, NULL);
    char img[4300], cmd[16384];
    snprintf(img, sizeof img, "%s/py.img", d.tmp);
    FILE *pf = fopen(img, "wb");
    ck_assert(pf != NULL && fwrite(du_pic(16), 1, du_pic_len(16), pf) == du_pic_len(16));
    fclose(pf);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tools/hallmark_client.py --control %s --cmd "
             "'{\"cmd\":\"add\",\"ref\":\"py\",\"bank\":\"counterfeit\",\"brand\":\"Py\"}' %s "
             "&& /usr/bin/python3 %s/tools/hallmark_client.py --connect %s --seller s --brand Py "
             "--timeout 5 %s %s", du_top(), d.ep[DU_CONTROL], img, du_top(), d.ep[DU_INGEST], img,
             img);
    FILE *p = popen(cmd, "r");
    ck_assert(p != NULL);
    char line[8192];
    int verdicts = 0, added = 0;
    while (fgets(line, sizeof line, p)) {
        json_t *j = json_loads(line, 0, NULL);
        ck_assert_msg(j != NULL, "python client printed non-JSON: %s", line);
        if (json_is_true(json_object_get(j, "ok")))
            added++;
        else if (strcmp(du_decision(j), "counterfeit") == 0)
            verdicts++;
        json_decref(j);
    }
    ck_assert_int_eq(pclose(p), 0);
    ck_assert_int_eq(added, 1);
    ck_assert_int_eq(verdicts, 2);
    ck_assert_int_eq(du_stop(&d, SIGTERM, 10000), 0);
    du_cleanup(&d);
}
END_TEST

/* Poll /metrics until it contains want (within ms); 1 when it did. */
static int s_metrics_has(du_daemon_t *d, const char *want, long ms)
{
    static char buf[1 << 17];
    long end = s_ms() + ms;
    do {
        if (du_http_get(d, "/metrics", buf, sizeof buf) == 200 && strstr(buf, want))
            return 1;
        usleep(50000);
    } while (s_ms() < end);
    return 0;
}

START_TEST(sighup_reload)
{
    du_daemon_t d;
    char path[4300];
    du_init(&d);
    snprintf(path, sizeof path, "%s/hallmarkd.conf", d.tmp);
    s_write(path, "# reloadable and not\nqueue = 50\nhwm = 100\n");
    du_start(&d, (const char *const[]){ "--config", path, NULL });
    ck_assert(s_metrics_has(&d, "hallmark_queue_capacity 50\n", 2000));
    s_write(path, "queue = 20\nhwm = 200\nlog-level = debug\n");
    kill(d.pid, SIGHUP);
    ck_assert_msg(s_metrics_has(&d, "hallmark_queue_capacity 20\n", 2000), "queue not reloaded");
    /* A broken file on reload keeps the running config. */
    s_write(path, "queue = oops\n");
    kill(d.pid, SIGHUP);
    usleep(200000);
    ck_assert(s_metrics_has(&d, "hallmark_queue_capacity 20\n", 0));
    s_expect(&d, "s", "Acme", 17, "unknown");
    ck_assert_int_eq(du_stop(&d, SIGTERM, 10000), 0);
    uint8_t *log = NULL;
    size_t len = 0;
    tu_read_file(d.log, &log, &len);
    ck_assert_msg(memmem(log, len, "key=hwm status=ignored", 22) != NULL, "hwm change not reported");
    ck_assert(memmem(log, len, "event=reload status=failed", 26) != NULL);
    free(log);
    du_cleanup(&d);
}
END_TEST

/* Run hallmarkd to completion with args; its exit status and stderr. */
static int s_run_cli(const char *args, char *out, size_t cap)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s %s 2>&1", du_bin(), args);
    FILE *p = popen(cmd, "r");
    ck_assert(p != NULL);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

START_TEST(config_errors)
{
    char *tmp = tu_tmpdir(), path[4300], args[9000];
    static char out[16384];
    snprintf(path, sizeof path, "%s/hallmarkd.conf", tmp);
    s_write(path, "# a comment\n  workers = 2   # trailing\n\nbogus_key = 1\n");
    snprintf(args, sizeof args, "--db %s --config %s", tmp, path);
    ck_assert_int_eq(s_run_cli(args, out, sizeof out), 1);
    ck_assert_msg(strstr(out, ":4:") && strstr(out, "bogus_key"), "bad message: %s", out);
    s_write(path, "queue = 0\n");
    ck_assert_int_eq(s_run_cli(args, out, sizeof out), 1);
    ck_assert_msg(strstr(out, ":1:") && strstr(out, "out of bounds"), "bad message: %s", out);
    s_write(path, "queue = 12abc\n");
    ck_assert_int_eq(s_run_cli(args, out, sizeof out), 1);
    ck_assert_int_eq(s_run_cli("--no-such-flag", out, sizeof out), 1);
    ck_assert_int_eq(s_run_cli("--workers 2", out, sizeof out), 1);
    ck_assert_msg(strstr(out, "--db"), "no mention of --db: %s", out);
    snprintf(args, sizeof args, "--db %s --control tcp://0.0.0.0:1", tmp);
    ck_assert_int_eq(s_run_cli(args, out, sizeof out), 1);
    /* --dump-config prints a config file that reads back to the same values. */
    snprintf(args, sizeof args, "--db %s --queue 33 --dump-config > %s", tmp, path);
    ck_assert_int_eq(s_run_cli(args, out, sizeof out), 0);
    snprintf(args, sizeof args, "--config %s --dump-config", path);
    ck_assert_int_eq(s_run_cli(args, out, sizeof out), 0);
    ck_assert_ptr_nonnull(strstr(out, "queue = 33\n"));
    ck_assert_ptr_nonnull(strstr(out, "strike-limit = 3\n"));
    ck_assert_int_eq(s_run_cli("--help", out, sizeof out), 0);
    ck_assert_ptr_nonnull(strstr(out, "--strike-limit"));
    ck_assert_ptr_nonnull(strstr(out, "--curve-allow"));
    tu_rmtree(tmp);
    free(tmp);
}
END_TEST

Suite *hm_suite_daemon(void)
{
    Suite *s = suite_create("daemon");
    TCase *tc = tcase_create("daemon");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, config_errors);
    tcase_add_test(tc, roundtrip);
    tcase_add_test(tc, many_in_flight);
    tcase_add_test(tc, pipeline);
    tcase_add_test(tc, feed_by_brand);
    tcase_add_test(tc, control_decisions);
    tcase_add_test(tc, feedback_within_1s);
    tcase_add_test(tc, malformed);
    tcase_add_test(tc, busy_under_overload);
    tcase_add_test(tc, sigterm_in_flight);
    tcase_add_test(tc, restart_keeps_references);
    tcase_add_test(tc, three_strikes);
    tcase_add_test(tc, curve_control);
    tcase_add_test(tc, http_metrics);
    tcase_add_test(tc, python_client);
    tcase_add_test(tc, sighup_reload);
    suite_add_tcase(s, tc);
    return s;
}
