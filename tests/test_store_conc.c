/*
 * test_store_conc.c - the store under concurrency and crashes: reader threads
 * while a writer adds (and grows the map), and a writer SIGKILLed at random
 * moments whose committed references must all survive.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hm_error.h"
#include "hm_store.h"
#include "test_store.h"
#include "test_util.h"

#define CONC_FP 1000
#define CONC_TOTAL 3000
#define CONC_READERS 4

typedef struct {
    hm_store_t *s;
    atomic_ulong committed; /* references 1..committed are committed */
    atomic_int done;
    atomic_ulong reads, scans, bad;
    char why[256];
    pthread_mutex_t why_lock;
} conc_t;

static void conc_fail(conc_t *c, const char *fmt, unsigned long long a, int rc)
{
    atomic_fetch_add(&c->bad, 1);
    pthread_mutex_lock(&c->why_lock);
    if (!c->why[0])
        snprintf(c->why, sizeof c->why, fmt, a, hm_strerror(rc));
    pthread_mutex_unlock(&c->why_lock);
}

typedef struct {
    conc_t *c;
    uint64_t min_seen, last, n;
    int bad;
} scan_t;

static int conc_scan_cb(const hm_ref_t *ref, void *ctx)
{
    scan_t *sc = ctx;
    if (ref->id <= sc->last || !ts_ref_matches(ref, ref->id, CONC_FP))
        sc->bad = 1;
    sc->last = ref->id;
    sc->n++;
    return 0;
}

static void *conc_reader(void *arg)
{
    conc_t *c = arg;
    uint64_t st = (uint64_t)(uintptr_t)&st ^ 0x1234567ull;
    for (unsigned long iter = 0; !atomic_load(&c->done) || iter < 50; iter++) {
        unsigned long max = atomic_load(&c->committed);
        if (max == 0)
            continue;
        uint64_t n = 1 + tu_rand(&st) % max;
        hm_ref_t r;
        int rc = hm_store_get(c->s, n, &r);
        if (rc != 0 || r.id != n || !ts_ref_matches(&r, n, CONC_FP))
            conc_fail(c, "get %llu: %s", (unsigned long long)n, rc);
        hm_ref_clear(&r);
        char ext[64];
        snprintf(ext, sizeof ext, "ext-%llu", (unsigned long long)n);
        rc = hm_store_get_by_ext(c->s, ext, &r);
        if (rc != 0 || r.id != n || !ts_ref_matches(&r, n, CONC_FP))
            conc_fail(c, "get_by_ext %llu: %s", (unsigned long long)n, rc);
        hm_ref_clear(&r);
        atomic_fetch_add(&c->reads, 2);
        if (iter % 100 == 0) {
            /* A whole snapshot: ids in order, intact, at least what was
             * committed before it began. */
            scan_t sc = { .c = c };
            rc = hm_store_foreach_ref(c->s, conc_scan_cb, &sc);
            if (rc || sc.bad || sc.n < max || sc.n != sc.last)
                conc_fail(c, "scan saw %llu refs: %s", (unsigned long long)sc.n, rc);
            atomic_fetch_add(&c->scans, 1);
        }
    }
    return NULL;
}

START_TEST(test_readers_while_writing)
{
    char *dir = tu_tmpdir();
    hm_store_opts_t o = ts_opts(256 << 10); /* small: growth happens under the readers */
    conc_t c = { 0 };
    pthread_mutex_init(&c.why_lock, NULL);
    ck_assert_int_eq(hm_store_open(&c.s, dir, &o), 0);
    pthread_t th[CONC_READERS];
    for (int i = 0; i < CONC_READERS; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, conc_reader, &c), 0);
    for (uint64_t n = 1; n <= CONC_TOTAL;) {
        ck_assert_int_eq(hm_store_batch_begin(c.s), 0);
        uint64_t end = n + 25;
        for (; n < end && n <= CONC_TOTAL; n++) {
            ts_buf_t b;
            hm_ref_t r;
            uint64_t id;
            ts_make_ref(n, CONC_FP, &b, &r);
            ck_assert_int_eq(hm_store_add(c.s, &r, &id), 0);
            ck_assert_uint_eq(id, n);
        }
        ck_assert_int_eq(hm_store_batch_commit(c.s), 0);
        atomic_store(&c.committed, n - 1);
    }
    atomic_store(&c.done, 1);
    for (int i = 0; i < CONC_READERS; i++)
        pthread_join(th[i], NULL);
    hm_store_stats_t st;
    ck_assert_int_eq(hm_store_stats(c.s, &st), 0);
    ck_assert_msg(atomic_load(&c.bad) == 0, "%lu bad reads, first: %s",
                  atomic_load(&c.bad), c.why);
    fprintf(stderr, "readers: %lu reads, %lu scans, %u growths\n", atomic_load(&c.reads),
            atomic_load(&c.scans), st.map_growths);
    ck_assert_uint_gt(atomic_load(&c.reads), 1000);
    ck_assert_uint_gt(atomic_load(&c.scans), CONC_READERS);
    ck_assert_uint_ge(st.map_growths, 3);
    ck_assert_uint_eq(st.refs, CONC_TOTAL);
    hm_store_close(&c.s);
    pthread_mutex_destroy(&c.why_lock);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

/* What the crashing child reports after each commit. */
typedef struct {
    uint64_t id, n;
} crash_msg_t;

/* The child: add references in small durable batches forever, reporting each
 * committed one only after hm_store_batch_commit() returned. */
static void crash_child(const char *dir, int fd, uint64_t base)
{
    hm_store_opts_t o = hm_store_opts_default(); /* durable: the default */
    o.map_size = 256 << 10;                       /* growths happen mid-run too */
    hm_store_t *s = NULL;
    if (hm_store_open(&s, dir, &o) != 0)
        _exit(3);
    for (uint64_t k = 0;; k += 4) {
        crash_msg_t msg[4];
        if (hm_store_batch_begin(s) != 0)
            _exit(4);
        for (int j = 0; j < 4; j++) {
            ts_buf_t b;
            hm_ref_t r;
            msg[j].n = base + k + (uint64_t)j;
            ts_make_ref(msg[j].n, CONC_FP, &b, &r);
            if (hm_store_add(s, &r, &msg[j].id) != 0)
                _exit(5);
        }
        if (hm_store_batch_commit(s) != 0)
            _exit(6);
        if (write(fd, msg, sizeof msg) != (ssize_t)sizeof msg)
            _exit(7);
    }
}

typedef struct {
    uint64_t n, bad;
} crash_scan_t;

static int crash_scan_cb(const hm_ref_t *ref, void *ctx)
{
    crash_scan_t *sc = ctx;
    unsigned long long n = 0;
    if (sscanf(ref->ext_id, "ext-%llu", &n) != 1 || !ts_ref_matches(ref, n, CONC_FP))
        sc->bad++;
    sc->n++;
    return 0;
}

static void crash_sleep_us(long us)
{
    struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

START_TEST(test_crash_safety)
{
    char *dir = tu_tmpdir();
    uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 16);
    uint64_t st = seed;
    size_t cap = 4096, total = 0;
    crash_msg_t *all = malloc(cap * sizeof *all);
    int iters = 25, killed_running = 0;
    for (int it = 0; it < iters; it++) {
        int p[2];
        ck_assert_int_eq(pipe(p), 0);
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            close(p[0]);
            crash_child(dir, p[1], (uint64_t)(it + 1) * 1000000);
            _exit(0);
        }
        close(p[1]);
        crash_sleep_us(3000 + (long)(tu_rand(&st) % 37000));
        kill(pid, SIGKILL);
        int status = 0;
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFSIGNALED(status),
                      "seed %llu: child exited early with %d (it %d)",
                      (unsigned long long)seed, WEXITSTATUS(status), it);
        killed_running++;
        crash_msg_t m;
        ssize_t got;
        while ((got = read(p[0], &m, sizeof m)) == (ssize_t)sizeof m) {
            if (total == cap)
                all = realloc(all, (cap *= 2) * sizeof *all);
            all[total++] = m;
        }
        close(p[0]);

        /* Reopen as the writer: clean open, every reported reference intact. */
        hm_store_opts_t o = hm_store_opts_default();
        hm_store_t *s = NULL;
        int rc = hm_store_open(&s, dir, &o);
        ck_assert_msg(rc == 0, "seed %llu it %d: reopen: %s", (unsigned long long)seed, it,
                      hm_last_error());
        for (size_t i = 0; i < total; i++) {
            hm_ref_t r;
            rc = hm_store_get(s, all[i].id, &r);
            ck_assert_msg(rc == 0 && ts_ref_matches(&r, all[i].n, CONC_FP),
                          "seed %llu it %d: committed ref %llu (n %llu) lost: %s",
                          (unsigned long long)seed, it, (unsigned long long)all[i].id,
                          (unsigned long long)all[i].n, hm_strerror(rc));
            hm_ref_clear(&r);
        }
        /* Also the ones committed but not yet reported: every record intact. */
        crash_scan_t sc = { 0 };
        ck_assert_int_eq(hm_store_foreach_ref(s, crash_scan_cb, &sc), 0);
        ck_assert_msg(sc.bad == 0, "seed %llu it %d: %llu damaged refs",
                      (unsigned long long)seed, it, (unsigned long long)sc.bad);
        hm_store_stats_t ss;
        ck_assert_int_eq(hm_store_stats(s, &ss), 0);
        ck_assert_uint_eq(ss.refs, sc.n);
        ck_assert_uint_ge(ss.refs, total);
        ck_assert_uint_eq(ss.refs % 4, 0); /* whole batches only */
        hm_store_close(&s);
    }
    fprintf(stderr, "crash: %d kills, %zu committed refs checked (seed %llu)\n", iters, total,
            (unsigned long long)seed);
    ck_assert_int_eq(killed_running, iters);
    ck_assert_msg(total >= 25, "seed %llu: only %zu commits reported; test too weak",
                  (unsigned long long)seed, total);
    free(all);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

/* A read-only handle in another process keeps working while the writer grows
 * the map past the size the reader mapped (MDB_MAP_RESIZED inside). */
START_TEST(test_reader_process_sees_growth)
{
    char *dir = tu_tmpdir();
    hm_store_opts_t o = ts_opts(128 << 10);
    hm_store_t *s = NULL;
    ck_assert_int_eq(hm_store_open(&s, dir, &o), 0);
    ts_buf_t b;
    hm_ref_t r;
    ts_make_ref(1, CONC_FP, &b, &r);
    ck_assert_int_eq(hm_store_add(s, &r, NULL), 0);
    int ready[2], go[2];
    ck_assert_int_eq(pipe(ready), 0);
    ck_assert_int_eq(pipe(go), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        hm_store_opts_t ro = ts_opts(128 << 10); /* maps only what exists now */
        ro.readonly = 1;
        hm_store_t *rs = NULL;
        char c = 0;
        int code = 0;
        if (hm_store_open(&rs, dir, &ro) != 0)
            _exit(20);
        if (hm_store_get(rs, 1, &r) != 0 || !ts_ref_matches(&r, 1, CONC_FP))
            code = 21;
        hm_ref_clear(&r);
        if (write(ready[1], "r", 1) != 1 || read(go[0], &c, 1) != 1)
            _exit(22);
        for (uint64_t n = 1; n <= 400 && code == 0; n += 13) {
            if (hm_store_get(rs, n, &r) != 0 || !ts_ref_matches(&r, n, CONC_FP))
                code = 23;
            hm_ref_clear(&r);
        }
        hm_store_stats_t st;
        if (code == 0 && (hm_store_stats(rs, &st) != 0 || st.refs != 400))
            code = 24;
        if (code == 0 && st.map_size < 400 * CONC_FP) /* it adopted the new size */
            code = 25;
        hm_store_close(&rs);
        _exit(code);
    }
    char c;
    ck_assert_int_eq(read(ready[0], &c, 1), 1);
    ck_assert_int_eq(hm_store_batch_begin(s), 0);
    for (uint64_t n = 2; n <= 400; n++) {
        ts_make_ref(n, CONC_FP, &b, &r);
        ck_assert_int_eq(hm_store_add(s, &r, NULL), 0);
    }
    ck_assert_int_eq(hm_store_batch_commit(s), 0);
    hm_store_stats_t st;
    ck_assert_int_eq(hm_store_stats(s, &st), 0);
    ck_assert_uint_ge(st.map_growths, 2);
    ck_assert_int_eq(write(go[1], "g", 1), 1);
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    hm_store_close(&s);
    close(ready[0]), close(ready[1]), close(go[0]), close(go[1]);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

typedef struct {
    hm_store_t *s;
    int rc, added, nested_ok;
} cb_write_t;

/* Writes from inside a foreach: fine until the map must grow, then
 * HM_E_BUSY rather than a hang.  Nested reads always work. */
static int cb_write(const hm_ref_t *ref, void *ctx)
{
    cb_write_t *w = ctx;
    hm_ref_t r;
    if (hm_store_get(w->s, ref->id, &r) == 0 && r.id == ref->id)
        w->nested_ok++;
    hm_ref_clear(&r);
    for (uint64_t n = 1000 + (uint64_t)w->added; w->rc == 0; n++) {
        ts_buf_t b;
        ts_make_ref(n, CONC_FP, &b, &r);
        w->rc = hm_store_add(w->s, &r, NULL);
        if (w->rc == 0)
            w->added++;
    }
    return 1;
}

START_TEST(test_write_inside_foreach)
{
    char *dir = tu_tmpdir();
    hm_store_opts_t o = ts_opts(128 << 10);
    cb_write_t w = { 0 };
    ck_assert_int_eq(hm_store_open(&w.s, dir, &o), 0);
    ts_buf_t b;
    hm_ref_t r;
    ts_make_ref(1, CONC_FP, &b, &r);
    ck_assert_int_eq(hm_store_add(w.s, &r, NULL), 0);
    ck_assert_int_eq(hm_store_foreach_ref(w.s, cb_write, &w), 1);
    ck_assert_int_eq(w.rc, HM_E_BUSY);
    ck_assert_int_eq(w.nested_ok, 1);
    ck_assert_int_gt(w.added, 0);
    /* Outside the callback the same add grows the map and succeeds. */
    ts_make_ref(1000 + (uint64_t)w.added, CONC_FP, &b, &r);
    ck_assert_int_eq(hm_store_add(w.s, &r, NULL), 0);
    hm_store_stats_t st;
    ck_assert_int_eq(hm_store_stats(w.s, &st), 0);
    ck_assert_uint_eq(st.refs, (uint64_t)w.added + 2);
    hm_store_close(&w.s);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

TCase *hm__store_tcase_conc(void)
{
    TCase *tc = tcase_create("concurrency");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_readers_while_writing);
    tcase_add_test(tc, test_crash_safety);
    tcase_add_test(tc, test_reader_process_sees_growth);
    tcase_add_test(tc, test_write_inside_foreach);
    return tc;
}
