/*
 * test_hostile.c - overload and hostile peers against a live hallmarkd
 * (suite "hostile").  Each test starts its own daemon (daemon_util.h).
 *
 *  overload  - measure the daemon's maximum throughput (closed loop), then
 *              offer twice that for HM_OVERLOAD_SECONDS (60) from 8 bounded
 *              loopback DEALER clients, sampling the daemon's VmRSS every
 *              100 ms: every request must get a verdict or `busy`, the peak
 *              RSS must stay under HM_OVERLOAD_RSS_MIB (512), and the daemon
 *              must answer normally afterwards.
 *  peers     - a client that sends and never reads; peers that disconnect
 *              mid-message (raw ZMTP); a frame declaring 1 GiB (raw ZMTP:
 *              ZMQ_MAXMSGSIZE must cut the connection, memory stays flat);
 *              10,000 zero-length frames; invalid UTF-8 in request_id;
 *              deeply nested and oversized JSON headers.
 * Figures are printed as "hostile: ..." lines (docs/RELIABILITY.md).
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "daemon_util.h"
#include "test_util.h"

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The daemon's resident set in KiB (0 when unreadable). */
static long s_rss_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kib = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    if (f)
        fclose(f);
    return kib;
}

/* Under AddressSanitizer (make test SANITIZE=1) freed memory sits in a
 * quarantine (256 MiB by default) and would count as resident: keep it small
 * so the RSS bound measures the daemon, not the sanitizer.  No effect on a
 * normal build. */
static void s_small_quarantine(void)
{
    const char *old = getenv("ASAN_OPTIONS");
    char buf[1024];
    snprintf(buf, sizeof buf, "%s%squarantine_size_mb=16", old ? old : "", old && *old ? ":" : "");
    setenv("ASAN_OPTIONS", buf, 1);
}

static const char *s_hdr(char *buf, size_t cap, const char *rid)
{
    snprintf(buf, cap, "{\"v\":1,\"request_id\":\"%s\",\"listing_id\":\"l\",\"image_id\":\"i\","
             "\"seller_id\":\"s\",\"brand\":\"Acme\"}", rid);
    return buf;
}

/* ---- overload ---- */

enum { NCLI = 8 };

typedef struct load {
    du_daemon_t *d;
    void *c[NCLI];
    long sent, verdicts, busy, other, send_refused;
    long rss_peak;
} load_t;

/* Drain every reply that is waiting (or wait up to ms for the first). */
static int s_drain(load_t *l, int ms)
{
    zmq_pollitem_t it[NCLI];
    for (int i = 0; i < NCLI; i++)
        it[i] = (zmq_pollitem_t){ l->c[i], 0, ZMQ_POLLIN, 0 };
    int got = 0;
    if (zmq_poll(it, NCLI, ms) <= 0)
        return 0;
    for (int i = 0; i < NCLI; i++) {
        if (!(it[i].revents & ZMQ_POLLIN))
            continue;
        json_t *v;
        while ((v = du_recv_json(l->c[i], 0, NULL, 0)) != NULL) {
            const char *dec = du_decision(v);
            if (strcmp(dec, "error") == 0 && strcmp(du_error_code(v), "busy") == 0)
                l->busy++;
            else if (strcmp(dec, "error") != 0)
                l->verdicts++;
            else
                l->other++;
            got++;
            json_decref(v);
        }
    }
    return got;
}

static int s_send(load_t *l, long n)
{
    char hdr[256], rid[32];
    snprintf(rid, sizeof rid, "o%ld", n);
    s_hdr(hdr, sizeof hdr, rid);
    void *s = l->c[n % NCLI];
    int pic = (int)(n % 200);
    if (zmq_send(s, hdr, strlen(hdr), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return -1;
    zmq_send(s, du_pic(pic), du_pic_len(pic), 0); /* the rest of a message cannot block */
    l->sent++;
    return 0;
}

START_TEST(overload)
{
    const char *e = getenv("HM_OVERLOAD_SECONDS");
    double secs = e && atof(e) > 0 ? atof(e) : 60;
    e = getenv("HM_OVERLOAD_RSS_MIB");
    long bound_mib = e && atol(e) > 0 ? atol(e) : 512;
    du_daemon_t d;
    du_init(&d);
    s_small_quarantine();
    du_start(&d, (const char *const[]){ "--workers", "2", NULL });
    load_t l = { .d = &d };
    for (int i = 0; i < NCLI; i++)
        l.c[i] = du_socket(&d, ZMQ_DEALER, d.ep[DU_INGEST]);
    /* Maximum throughput: a closed loop with 32 in flight for 3 s. */
    double t0 = s_now();
    long base = 0;
    for (int i = 0; i < 32; i++)
        s_send(&l, l.sent);
    while (s_now() - t0 < 3) {
        long before = l.verdicts + l.busy + l.other;
        s_drain(&l, 100);
        for (long k = l.verdicts + l.busy + l.other - before; k > 0; k--)
            s_send(&l, l.sent);
    }
    while (l.verdicts + l.busy + l.other < l.sent && s_drain(&l, 2000) > 0)
        ;
    double max_tput = l.verdicts / (s_now() - t0);
    base = l.sent;
    ck_assert_int_eq(l.verdicts + l.busy + l.other, l.sent);
    ck_assert_msg(max_tput > 10, "maximum throughput %.1f/s is implausible", max_tput);
    /* Twice the maximum, open loop, for secs seconds. */
    load_t o = { .d = &d };
    memcpy(o.c, l.c, sizeof o.c);
    double rate = 2 * max_tput, start = s_now(), next_rss = start;
    while (s_now() - start < secs) {
        double now = s_now();
        long due = (long)((now - start) * rate);
        while (o.sent + o.send_refused < due)
            if (s_send(&o, base + o.sent + o.send_refused) != 0)
                o.send_refused++;
        if (now >= next_rss) {
            long r = s_rss_kib(d.pid);
            if (r > o.rss_peak)
                o.rss_peak = r;
            next_rss = now + 0.1;
        }
        s_drain(&o, 2);
    }
    double until = s_now() + 20;
    while (o.verdicts + o.busy + o.other < o.sent && s_now() < until)
        s_drain(&o, 200);
    long r = s_rss_kib(d.pid);
    if (r > o.rss_peak)
        o.rss_peak = r;
    fprintf(stderr, "hostile: overload seconds=%.0f max_tput=%.1f/s offered=%.1f/s sent=%ld "
            "verdicts=%ld busy=%ld other=%ld unanswered=%ld client_hwm_refused=%ld "
            "rss_peak_mib=%.1f bound_mib=%ld\n", secs, max_tput, rate, o.sent, o.verdicts, o.busy,
            o.other, o.sent - o.verdicts - o.busy - o.other, o.send_refused, o.rss_peak / 1024.0,
            bound_mib);
    ck_assert_int_eq(o.other, 0);
    ck_assert_msg(o.verdicts + o.busy == o.sent, "%ld of %ld requests unanswered",
                  o.sent - o.verdicts - o.busy, o.sent);
    ck_assert_int_gt(o.busy, 0);
    ck_assert_msg(o.rss_peak < bound_mib * 1024, "peak RSS %ld KiB", o.rss_peak);
    for (int i = 0; i < NCLI; i++)
        zmq_close(l.c[i]);
    /* Normal service afterwards. */
    json_t *v = du_score(&d, "after", "l", "s", "Acme", PIC(3));
    ck_assert_str_eq(du_decision(v), "unknown");
    json_decref(v);
    ck_assert_int_eq(du_stop(&d, SIGTERM, 15000), 0);
    du_cleanup(&d);
}
END_TEST

/* ---- raw ZMTP 3.0 peers ---- */

static int s_tcp(const char *ep)
{
    int port = atoi(strrchr(ep, ':') + 1);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert(fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
    struct timeval tv = { 2, 0 };
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

/* Greeting (NULL mechanism) and READY as a DEALER. */
static void s_zmtp_hello(int fd)
{
    uint8_t g[64] = { 0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 3, 0, 'N', 'U', 'L', 'L' };
    ck_assert(send(fd, g, sizeof g, MSG_NOSIGNAL) == (ssize_t)sizeof g);
    static const uint8_t ready[] = { 0x04, 28, 5, 'R', 'E', 'A', 'D', 'Y', 11, 'S', 'o', 'c', 'k',
                                     'e', 't', '-', 'T', 'y', 'p', 'e', 0, 0, 0, 6, 'D', 'E',
                                     'A', 'L', 'E', 'R' };
    ck_assert(send(fd, ready, sizeof ready, MSG_NOSIGNAL) == (ssize_t)sizeof ready);
}

/* A frame header: short (1-byte size) or long (8-byte size). */
static void s_zmtp_frame_hdr(int fd, uint64_t size, int more)
{
    uint8_t h[9];
    size_t n;
    if (size < 256) {
        h[0] = more ? 1 : 0;
        h[1] = (uint8_t)size;
        n = 2;
    } else {
        h[0] = (uint8_t)(2 | (more ? 1 : 0));
        for (int i = 0; i < 8; i++)
            h[1 + i] = (uint8_t)(size >> (56 - 8 * i));
        n = 9;
    }
    ck_assert(send(fd, h, n, MSG_NOSIGNAL) == (ssize_t)n);
}

/* 1 when the daemon closes fd within ms (reads and discards its bytes). */
static int s_closed_by_peer(int fd, int ms)
{
    double end = s_now() + ms / 1000.0;
    char buf[4096];
    while (s_now() < end) {
        struct pollfd p = { fd, POLLIN, 0 };
        if (poll(&p, 1, 50) <= 0)
            continue;
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
            return 1;
    }
    return 0;
}

/* The daemon serves a normal request within 20 s (`busy` while it works
 * through a hostile backlog is an answer; it is retried). */
static void s_alive(du_daemon_t *d, const char *what)
{
    double end = s_now() + 20;
    int ok = 0;
    while (!ok && s_now() < end) {
        json_t *v = du_score(d, what, "l", "s", "Acme", PIC(5));
        ok = v && strcmp(du_decision(v), "unknown") == 0;
        int busy = v && strcmp(du_error_code(v), "busy") == 0;
        json_decref(v);
        ck_assert_msg(ok || busy || !v, "daemon unwell after %s", what);
        if (!ok)
            usleep(200000);
    }
    ck_assert_msg(ok, "daemon unwell after %s", what);
}

START_TEST(peers)
{
    du_daemon_t d;
    du_init(&d);
    s_small_quarantine();
    du_start(&d, (const char *const[]){ "--workers", "2", "--hwm", "200", NULL });
    long rss0 = s_rss_kib(d.pid), peak = rss0;
    char hdr[256];
    s_hdr(hdr, sizeof hdr, "h1");

    /* 1. Sends 5,000 requests and never reads: its replies are dropped at the
     * high-water mark; others are served meanwhile. */
    void *mute = du_socket(&d, ZMQ_DEALER, d.ep[DU_INGEST]);
    int sent = 0;
    for (int i = 0; i < 5000; i++) {
        if (zmq_send(mute, hdr, strlen(hdr), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
            break;
        zmq_send(mute, du_pic(i % 100), du_pic_len(i % 100), 0);
        sent++;
    }
    s_alive(&d, "a client that never reads");
    usleep(500000);
    if (s_rss_kib(d.pid) > peak)
        peak = s_rss_kib(d.pid);
    zmq_close(mute);
    fprintf(stderr, "hostile: never-reads sent=%d\n", sent);

    /* 2. Disconnects mid-message, 50 times: a header frame with MORE, then
     * half of a declared 100 KB image, then close. */
    for (int i = 0; i < 50; i++) {
        int fd = s_tcp(d.ep[DU_INGEST]);
        s_zmtp_hello(fd);
        s_zmtp_frame_hdr(fd, strlen(hdr), 1);
        send(fd, hdr, strlen(hdr), MSG_NOSIGNAL);
        s_zmtp_frame_hdr(fd, 100000, 0);
        static char half[50000];
        send(fd, half, sizeof half, MSG_NOSIGNAL);
        close(fd);
    }
    s_alive(&d, "50 mid-message disconnects");

    /* 3. A frame declaring 1 GiB: the daemon must drop the connection
     * (ZMQ_MAXMSGSIZE) instead of buffering it. */
    {
        int fd = s_tcp(d.ep[DU_INGEST]);
        s_zmtp_hello(fd);
        s_zmtp_frame_hdr(fd, strlen(hdr), 1);
        send(fd, hdr, strlen(hdr), MSG_NOSIGNAL);
        double t = s_now();
        s_zmtp_frame_hdr(fd, (uint64_t)1 << 30, 0);
        static char chunk[65536];
        for (int i = 0; i < 16; i++)
            if (send(fd, chunk, sizeof chunk, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
                break;
        int closed = s_closed_by_peer(fd, 3000);
        fprintf(stderr, "hostile: 1GiB-frame closed=%d ms=%.1f\n", closed, (s_now() - t) * 1e3);
        ck_assert_msg(closed, "a frame declaring 1 GiB did not cut the connection");
        close(fd);
        if (s_rss_kib(d.pid) > peak)
            peak = s_rss_kib(d.pid);
    }
    s_alive(&d, "a 1 GiB frame");

    /* 4. 10,000 zero-length frames: one protocol_error reply. */
    void *s = du_socket(&d, ZMQ_DEALER, d.ep[DU_INGEST]);
    for (int i = 0; i < 10000; i++)
        ck_assert(zmq_send(s, "", 0, i + 1 < 10000 ? ZMQ_SNDMORE : 0) >= 0);
    json_t *v = du_recv_json(s, 5000, NULL, 0);
    ck_assert_msg(v != NULL, "no answer to 10,000 empty frames");
    ck_assert_str_eq(du_error_code(v), "protocol_error");
    json_decref(v);

    /* 5. Invalid UTF-8 in request_id: an error reply without the id. */
    const char *bad = "{\"v\":1,\"request_id\":\"\xc3\x28\xff\",\"listing_id\":\"l\",\"image_id\":"
                      "\"i\",\"seller_id\":\"s\",\"brand\":\"b\"}";
    du_send_frames(s, (const void *[]){ bad, "x" }, (size_t[]){ strlen(bad), 1 }, 2);
    v = du_recv_json(s, 5000, NULL, 0);
    ck_assert_msg(v != NULL, "no answer to invalid UTF-8 in request_id");
    ck_assert_str_eq(du_decision(v), "error");
    ck_assert_ptr_null(json_object_get(v, "request_id"));
    json_decref(v);

    /* 6. JSON nested 30,000 deep (60 KB, under max-header), both kinds, and a
     * 1 MiB header (over it): errors, quickly. */
    size_t depth = 30000; /* arrays: 60 KB; objects (5 bytes a level) get a third */
    char *deep = malloc(depth * 6 + 16);
    for (int kind = 0; kind < 2; kind++) {
        size_t n = 0;
        depth = kind ? 10000 : 30000;
        for (size_t i = 0; i < depth; i++) {
            if (kind) {
                memcpy(deep + n, "{\"a\":", 5);
                n += 5;
            } else {
                deep[n++] = '[';
            }
        }
        deep[n++] = '1';
        for (size_t i = 0; i < depth; i++)
            deep[n++] = kind ? '}' : ']';
        double t = s_now();
        du_send_frames(s, (const void *[]){ deep, "x" }, (size_t[]){ n, 1 }, 2);
        v = du_recv_json(s, 5000, NULL, 0);
        ck_assert_msg(v != NULL, "no answer to a deeply nested header");
        fprintf(stderr, "hostile: nested-%s bytes=%zu code=%s ms=%.1f\n", kind ? "objects" : "arrays",
                n, du_error_code(v), (s_now() - t) * 1e3);
        ck_assert_str_eq(du_decision(v), "error");
        json_decref(v);
    }
    free(deep);
    size_t big_n = (size_t)1 << 20;
    char *big = malloc(big_n);
    memset(big, ' ', big_n);
    memcpy(big, hdr, strlen(hdr));
    du_send_frames(s, (const void *[]){ big, "x" }, (size_t[]){ big_n, 1 }, 2);
    v = du_recv_json(s, 5000, NULL, 0);
    ck_assert_msg(v != NULL, "no answer to a 1 MiB header");
    ck_assert_str_eq(du_error_code(v), "too_large");
    json_decref(v);
    free(big);
    zmq_close(s);

    s_alive(&d, "hostile peers");
    long r = s_rss_kib(d.pid);
    if (r > peak)
        peak = r;
    fprintf(stderr, "hostile: peers rss_start_mib=%.1f rss_peak_mib=%.1f\n", rss0 / 1024.0,
            peak / 1024.0);
    ck_assert_msg(peak < 512 * 1024, "peak RSS %ld KiB", peak);
    ck_assert_int_eq(du_stop(&d, SIGTERM, 15000), 0);
    du_cleanup(&d);
}
END_TEST

Suite *hm_suite_hostile(void)
{
    Suite *s = suite_create("hostile");
    TCase *tc = tcase_create("hostile");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, peers);
    tcase_add_test(tc, overload);
    suite_add_tcase(s, tc);
    return s;
}
