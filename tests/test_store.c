/*
 * test_store.c - the LMDB store: round trips, uniqueness, batches, map growth,
 * the write lock, sellers, allow-list, change log, schema version and record
 * decoding.  Threads and crash safety are in test_store_conc.c.
 */
#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hm_error.h"
#include "hm_sha.h"
#include "hm_store.h"
#include "hm_store_rec.h"
#include "test_store.h"
#include "test_util.h"

void ts_make_ref(uint64_t n, size_t fp_len, ts_buf_t *b, hm_ref_t *ref)
{
    memset(ref, 0, sizeof *ref);
    snprintf(b->ext, sizeof b->ext, "ext-%llu", (unsigned long long)n);
    snprintf(b->brand, sizeof b->brand, "brand-%llu", (unsigned long long)(n % 7));
    snprintf(b->holder, sizeof b->holder, "holder-%llu", (unsigned long long)(n % 3));
    snprintf(b->source, sizeof b->source, "src-%llu", (unsigned long long)(n % 11));
    uint64_t st = n * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < fp_len && i < sizeof b->fp; i++)
        b->fp[i] = (uint8_t)(tu_rand(&st) >> 56);
    ref->ext_id = b->ext;
    ref->bank = n % 2 ? HM_BANK_COUNTERFEIT : HM_BANK_GENUINE;
    ref->brand = b->brand;
    ref->rights_holder = b->holder;
    ref->source = b->source;
    ref->added = 1700000000 + (int64_t)n;
    ref->fp = b->fp;
    ref->fp_len = fp_len;
    if (n % 5 == 0)
        ref->flags = HM_REF_PDQ_ONLY;
    else
        hm_sha256(b->fp, fp_len, ref->sha256);
}

int ts_ref_matches(const hm_ref_t *ref, uint64_t n, size_t fp_len)
{
    ts_buf_t b;
    hm_ref_t want;
    ts_make_ref(n, fp_len, &b, &want);
    return ref->ext_id && strcmp(ref->ext_id, want.ext_id) == 0 && ref->bank == want.bank &&
           strcmp(ref->brand, want.brand) == 0 &&
           strcmp(ref->rights_holder, want.rights_holder) == 0 &&
           strcmp(ref->source, want.source) == 0 && ref->added == want.added &&
           ref->flags == want.flags && memcmp(ref->sha256, want.sha256, 32) == 0 &&
           ref->fp_len == fp_len && (fp_len == 0 || memcmp(ref->fp, want.fp, fp_len) == 0);
}

hm_store_opts_t ts_opts(size_t map_size)
{
    hm_store_opts_t o = hm_store_opts_default();
    o.sync = HM_STORE_SYNC_NONE;
    o.map_size = map_size;
    o.max_map_size = (size_t)1 << 30;
    return o;
}

static uint64_t s_add_n(hm_store_t *s, uint64_t n, size_t fp_len)
{
    ts_buf_t b;
    hm_ref_t r;
    uint64_t id = 0;
    ts_make_ref(n, fp_len, &b, &r);
    int rc = hm_store_add(s, &r, &id);
    ck_assert_msg(rc == 0, "add %llu: %s", (unsigned long long)n, hm_last_error());
    return id;
}

START_TEST(test_roundtrip)
{
    char *top = tu_tmpdir(), dir[4200];
    snprintf(dir, sizeof dir, "%s/db", top); /* does not exist yet */
    hm_store_opts_t o = ts_opts(0);
    hm_store_t *s = NULL;
    ck_assert_int_eq(hm_store_open(&s, dir, &o), 0);
    struct stat sb;
    ck_assert_int_eq(stat(dir, &sb), 0);
    ck_assert_int_eq(sb.st_mode & 0777, 0700);
    uint64_t id1 = s_add_n(s, 1, 300), id2 = s_add_n(s, 2, 300), id3 = s_add_n(s, 5, 0);
    ck_assert_uint_eq(id1, 1);
    ck_assert_uint_eq(id2, 2);
    ck_assert_uint_eq(id3, 3);

    hm_ref_t r;
    ck_assert_int_eq(hm_store_get(s, id2, &r), 0);
    ck_assert_uint_eq(r.id, id2);
    ck_assert(ts_ref_matches(&r, 2, 300));
    ck_assert_ptr_nonnull(r.mem_);
    hm_ref_clear(&r);
    ck_assert_ptr_null(r.ext_id);
    ck_assert_int_eq(hm_store_get_by_ext(s, "ext-1", &r), 0);
    ck_assert_uint_eq(r.id, id1);
    ck_assert(ts_ref_matches(&r, 1, 300));
    uint8_t sha[32];
    memcpy(sha, r.sha256, 32);
    hm_ref_clear(&r);
    ck_assert_int_eq(hm_store_get_by_sha(s, sha, &r), 0);
    ck_assert_uint_eq(r.id, id1);
    hm_ref_clear(&r);
    /* The hash-only reference: zero sha, no blob, flag kept. */
    ck_assert_int_eq(hm_store_get(s, id3, &r), 0);
    ck_assert(ts_ref_matches(&r, 5, 0));
    ck_assert_uint_eq(r.flags, HM_REF_PDQ_ONLY);
    hm_ref_clear(&r);

    /* Relabel: the bank changes, the rest stays. */
    ck_assert_int_eq(hm_store_relabel(s, id1, HM_BANK_GENUINE), 0);
    ck_assert_int_eq(hm_store_get(s, id1, &r), 0);
    ck_assert_int_eq(r.bank, HM_BANK_GENUINE);
    ck_assert_str_eq(r.ext_id, "ext-1");
    hm_ref_clear(&r);
    ck_assert_int_eq(hm_store_relabel(s, id1, 7), HM_E_INVAL);
    ck_assert_int_eq(hm_store_relabel(s, 999, HM_BANK_GENUINE), HM_E_NOTFOUND);

    hm_store_stats_t st;
    ck_assert_int_eq(hm_store_stats(s, &st), 0);
    ck_assert_uint_eq(st.refs, 3);
    ck_assert_uint_eq(st.genuine, 2);     /* 2 and the relabelled 1 */
    ck_assert_uint_eq(st.counterfeit, 1); /* 5 */
    ck_assert_uint_gt(st.map_used, 0);

    /* Remove: gone from every index; the id is never reused. */
    ck_assert_int_eq(hm_store_remove(s, id1), 0);
    ck_assert_int_eq(hm_store_get(s, id1, &r), HM_E_NOTFOUND);
    ck_assert_ptr_null(r.mem_);
    ck_assert_int_eq(hm_store_get_by_ext(s, "ext-1", &r), HM_E_NOTFOUND);
    ck_assert_int_eq(hm_store_get_by_sha(s, sha, &r), HM_E_NOTFOUND);
    ck_assert_int_eq(hm_store_remove(s, id1), HM_E_NOTFOUND);
    ck_assert_uint_eq(s_add_n(s, 1, 300), 4);
    ck_assert_int_eq(hm_store_stats(s, &st), 0);
    ck_assert_uint_eq(st.refs, 3);
    ck_assert_uint_eq(st.genuine, 1);
    ck_assert_uint_eq(st.counterfeit, 2);
    ck_assert_uint_eq(st.next_id, 5);

    /* Everything survives a reopen. */
    hm_store_close(&s);
    ck_assert_ptr_null(s);
    ck_assert_int_eq(hm_store_open(&s, dir, &o), 0);
    ck_assert_int_eq(hm_store_get(s, 4, &r), 0);
    ck_assert(ts_ref_matches(&r, 1, 300));
    hm_ref_clear(&r);
    hm_store_close(&s);
    hm_store_close(&s); /* NULL-safe */
    tu_rmtree(top);
    free(top);
}
END_TEST

START_TEST(test_unique)
{
    char *dir = tu_tmpdir();
    hm_store_opts_t o = ts_opts(0);
    hm_store_t *s = NULL;
    ck_assert_int_eq(hm_store_open(&s, dir, &o), 0);
    uint64_t a = s_add_n(s, 1, 200), id = 0;
    ts_buf_t b;
    hm_ref_t r;
    ts_make_ref(1, 200, &b, &r);
    /* Same ext id. */
    memset(r.sha256, 0xAB, 32);
    ck_assert_int_eq(hm_store_add(s, &r, &id), HM_E_EXISTS);
    ck_assert_uint_eq(id, a);
    /* Same image bytes under another ext id. */
    ts_make_ref(1, 200, &b, &r);
    r.ext_id = "another";
    id = 0;
    ck_assert_int_eq(hm_store_add(s, &r, &id), HM_E_EXISTS);
    ck_assert_uint_eq(id, a);
    /* Zero sha256 (hash-only) is not unique-checked. */
    memset(r.sha256, 0, 32);
    ck_assert_int_eq(hm_store_add(s, &r, &id), 0);
    r.ext_id = "and-another";
    ck_assert_int_eq(hm_store_add(s, &r, &id), 0);
    ck_assert_uint_eq(id, 3);
    /* Invalid input. */
    r.ext_id = "x";
    r.bank = 0;
    ck_assert_int_eq(hm_store_add(s, &r, &id), HM_E_INVAL);
    r.bank = HM_BANK_GENUINE;
    r.ext_id = "";
    ck_assert_int_eq(hm_store_add(s, &r, &id), HM_E_INVAL);
    char longid[HM_STORE_MAX_ID + 2];
    memset(longid, 'x', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    r.ext_id = longid;
    ck_assert_int_eq(hm_store_add(s, &r, &id), HM_E_INVAL);
    ck_assert_int_eq(hm_store_add(s, NULL, &id), HM_E_INVAL);
    hm_store_stats_t st;
    ck_assert_int_eq(hm_store_stats(s, &st), 0);
    ck_assert_uint_eq(st.refs, 3);
    hm_store_close(&s);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(test_batch)
{
    char *dir = tu_tmpdir();
    hm_store_opts_t o = ts_opts(0);
    hm_store_t *s = NULL;
    ck_assert_int_eq(hm_store_open(&s, dir, &o), 0);
    ck_assert_int_eq(hm_store_batch_commit(s), HM_E_INVAL);
    ck_assert_int_eq(hm_store_batch_begin(s), 0);
    ck_assert_int_eq(hm_store_batch_begin(s), HM_E_INVAL);
    for (uint64_t n = 1; n <= 100; n++)
        s_add_n(s, n, 100);
    /* A duplicate inside the batch fails alone and spoils nothing. */
    ts_buf_t b;
    hm_ref_t r;
    uint64_t id;
    ts_make_ref(7, 100, &b, &r);
    ck_assert_int_eq(hm_store_add(s, &r, &id), HM_E_EXISTS);
    ck_assert_uint_eq(id, 7);
    ck_assert_int_eq(hm_store_relabel(s, 3, HM_BANK_GENUINE), 0);
    /* Readers see committed data only. */
    ck_assert_int_eq(hm_store_get(s, 1, &r), HM_E_NOTFOUND);
    ck_assert_int_eq(hm_store_batch_commit(s), 0);
    for (uint64_t n = 1; n <= 100; n++) {
        ck_assert_int_eq(hm_store_get(s, n, &r), 0);
        ck_assert(n == 3 || ts_ref_matches(&r, n, 100));
        hm_ref_clear(&r);
    }
    ck_assert_int_eq(hm_store_get(s, 3, &r), 0);
    ck_assert_int_eq(r.bank, HM_BANK_GENUINE);
    hm_ref_clear(&r);

    /* Abort drops everything of the batch, including the log records. */
    uint64_t seq0, seq1;
    ck_assert_int_eq(hm_store_seq(s, &seq0), 0);
    ck_assert_int_eq(hm_store_batch_begin(s), 0);
    for (uint64_t n = 101; n <= 110; n++)
        s_add_n(s, n, 100);
    ck_assert_int_eq(hm_store_remove(s, 5), 0);
    ck_assert_int_eq(hm_store_batch_abort(s), 0);
    ck_assert_int_eq(hm_store_batch_abort(s), HM_E_INVAL);
    ck_assert_int_eq(hm_store_get_by_ext(s, "ext-101", &r), HM_E_NOTFOUND);
    ck_assert_int_eq(hm_store_get(s, 5, &r), 0);
    hm_ref_clear(&r);
    ck_assert_int_eq(hm_store_seq(s, &seq1), 0);
    ck_assert_uint_eq(seq0, seq1);
    hm_store_stats_t st;
    ck_assert_int_eq(hm_store_stats(s, &st), 0);
    ck_assert_uint_eq(st.refs, 100);
    ck_assert_uint_eq(st.next_id, 101);

    /* Closing with a batch open aborts it. */
    ck_assert_int_eq(hm_store_batch_begin(s), 0);
    s_add_n(s, 200, 10);
    hm_store_close(&s);
    ck_assert_int_eq(hm_store_open(&s, dir, &o), 0);
    ck_assert_int_eq(hm_store_get_by_ext(s, "ext-200", &r), HM_E_NOTFOUND);
    ck_assert_int_eq(hm_store_batch_begin(s), 0); /* the thread's batch slot is free */
    ck_assert_int_eq(hm_store_batch_commit(s), 0);
    hm_store_close(&s);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

typedef struct {
    uint64_t seen, last_id, bad;
    size_t fp_len;
} s_iter_t;

static int s_count_cb(const hm_ref_t *ref, void *ctx)
{
    s_iter_t *it = ctx;
    if (ref->id <= it->last_id || !ts_ref_matches(ref, ref->id, it->fp_len))
        it->bad++;
    it->last_id = ref->id;
    it->seen++;
    return 0;
}

/* A tiny map forced to grow several times, once inside one big batch (the
 * batch is replayed) and then by single adds. */
START_TEST(test_map_growth)
{
    char *dir = tu_tmpdir();
    hm_store_opts_t o = ts_opts(128 << 10);
    hm_store_t *s = NULL;
    const size_t fp = 1500;
    ck_assert_int_eq(hm_store_open(&s, dir, &o), 0);
    hm_store_stats_t st;
    ck_assert_int_eq(hm_store_stats(s, &st), 0);
    ck_assert_uint_eq(st.map_size, 128 << 10);
    ck_assert_int_eq(hm_store_batch_begin(s), 0);
    for (uint64_t n = 1; n <= 600; n++)
        ck_assert_uint_eq(s_add_n(s, n, fp), n);
    ck_assert_int_eq(hm_store_batch_commit(s), 0);
    ck_assert_int_eq(hm_store_stats(s, &st), 0);
    ck_assert_uint_ge(st.map_growths, 2);
    unsigned g1 = st.map_growths;
    for (uint64_t n = 601; n <= 2000; n++)
        ck_assert_uint_eq(s_add_n(s, n, fp), n);
    ck_assert_int_eq(hm_store_stats(s, &st), 0);
    ck_assert_uint_gt(st.map_growths, g1);
    ck_assert_uint_ge(st.map_size, 2000 * fp);
    ck_assert_uint_le(st.map_used, st.map_size);
    ck_assert_uint_eq(st.refs, 2000);
    s_iter_t it = { .fp_len = fp };
    ck_assert_int_eq(hm_store_foreach_ref(s, s_count_cb, &it), 0);
    ck_assert_uint_eq(it.seen, 2000);
    ck_assert_uint_eq(it.bad, 0);
    hm_store_close(&s);
    /* Reopened with the small initial size: LMDB keeps the grown file. */
    ck_assert_int_eq(hm_store_open(&s, dir, &o), 0);
    it = (s_iter_t){ .fp_len = fp };
    ck_assert_int_eq(hm_store_foreach_ref(s, s_count_cb, &it), 0);
    ck_assert_uint_eq(it.seen, 2000);
    ck_assert_uint_eq(it.bad, 0);
    ck_assert_uint_eq(s_add_n(s, 2001, fp), 2001);
    hm_store_close(&s);

    /* The growth limit is an error, not a crash or a silent loss. */
    char *dir2 = tu_tmpdir();
    o = ts_opts(128 << 10);
    o.max_map_size = 256 << 10;
    ck_assert_int_eq(hm_store_open(&s, dir2, &o), 0);
    int rc = 0;
    for (uint64_t n = 1; n <= 400 && rc == 0; n++) {
        ts_buf_t b;
        hm_ref_t r;
        ts_make_ref(n, fp, &b, &r);
        rc = hm_store_add(s, &r, NULL);
    }
    ck_assert_int_eq(rc, HM_E_TOO_LARGE);
    hm_store_close(&s);
    tu_rmtree(dir2);
    free(dir2);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

/* The second writer runs in a child process (flock belongs to the open file
 * description; LMDB must not be opened twice in one process). */
static int s_child_open(const char *dir, int readonly)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        hm_store_opts_t o = ts_opts(0);
        o.readonly = readonly;
        hm_store_t *s = NULL;
        int rc = hm_store_open(&s, dir, &o);
        int code = rc == HM_E_LOCKED ? 10 : rc ? 11 : 0;
        if (rc == 0) {
            hm_ref_t r;
            if (hm_store_get(s, 1, &r) != 0 || !ts_ref_matches(&r, 1, 50))
                code = 12;
            hm_ref_clear(&r);
            if (readonly && hm_store_remove(s, 1) != HM_E_READONLY)
                code = 13;
            hm_store_close(&s);
        }
        _exit(code);
    }
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    return WEXITSTATUS(status);
}

START_TEST(test_write_lock)
{
    char *dir = tu_tmpdir();
    hm_store_opts_t o = ts_opts(0);
    hm_store_t *s = NULL;
    ck_assert_int_eq(hm_store_open(&s, dir, &o), 0);
    s_add_n(s, 1, 50);
    ck_assert_int_eq(s_child_open(dir, 0), 10); /* second writer: HM_E_LOCKED */
    ck_assert_int_eq(s_child_open(dir, 1), 0);  /* a reader is fine */
    hm_store_close(&s);
    ck_assert_int_eq(s_child_open(dir, 0), 0);  /* the lock went with the close */
    /* Read-only opens of a missing database. */
    o.readonly = 1;
    char path[4200];
    snprintf(path, sizeof path, "%s/nope", dir);
    ck_assert_int_eq(hm_store_open(&s, path, &o), HM_E_NOTFOUND);
    ck_assert_ptr_null(s);
    o.readonly = 0;
    o.sync = 9;
    ck_assert_int_eq(hm_store_open(&s, dir, &o), HM_E_INVAL);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

static int s_allow_cb(const hm_allow_t *a, void *ctx)
{
    (*(int *)ctx)++;
    return a->has_pdq && a->pdq.w[3] == 0x1234 ? 0 : 99;
}

START_TEST(test_sellers_allow)
{
    char *dir = tu_tmpdir();
    hm_store_opts_t o = ts_opts(0);
    hm_store_t *s = NULL;
    ck_assert_int_eq(hm_store_open(&s, dir, &o), 0);
    ck_assert_int_eq(hm_store_is_authorized(s, "acme", "shop1"), 0);
    ck_assert_int_eq(hm_store_authorize(s, "acme", "shop1", 1), 0);
    ck_assert_int_eq(hm_store_authorize(s, "acme", "shop2", 1), 0);
    ck_assert_int_eq(hm_store_authorize(s, "acme", "shop1", 1), 0); /* idempotent */
    ck_assert_int_eq(hm_store_is_authorized(s, "acme", "shop1"), 1);
    ck_assert_int_eq(hm_store_is_authorized(s, "acme", "shop2"), 1);
    ck_assert_int_eq(hm_store_is_authorized(s, "other", "shop1"), 0);
    ck_assert_int_eq(hm_store_authorize(s, "acme", "shop1", 0), 0);
    ck_assert_int_eq(hm_store_is_authorized(s, "acme", "shop1"), 0);
    ck_assert_int_eq(hm_store_is_authorized(s, "acme", "shop2"), 1);
    ck_assert_int_eq(hm_store_authorize(s, "acme", "shop1", 0), 0);
    ck_assert_int_eq(hm_store_authorize(s, "", "shop1", 1), HM_E_INVAL);
    ck_assert_int_eq(hm_store_is_authorized(s, NULL, "x"), HM_E_INVAL);

    uint64_t c = 99;
    ck_assert_int_eq(hm_store_strikes(s, "bad", &c), 0);
    ck_assert_uint_eq(c, 0);
    ck_assert_int_eq(hm_store_add_strike(s, "bad", "L1", "I1", &c), 0);
    ck_assert_uint_eq(c, 1);
    ck_assert_int_eq(hm_store_add_strike(s, "bad", "L1", "I1", &c), 0);
    ck_assert_uint_eq(c, 1);
    ck_assert_int_eq(hm_store_add_strike(s, "bad", "L1", "I2", &c), 0);
    ck_assert_uint_eq(c, 2);
    ck_assert_int_eq(hm_store_add_strike(s, "bad", "L2", "I1", &c), 0);
    ck_assert_uint_eq(c, 3);
    /* A seller whose name extends another's must not share its strikes. */
    ck_assert_int_eq(hm_store_add_strike(s, "badder", "L1", "I1", &c), 0);
    ck_assert_uint_eq(c, 1);
    ck_assert_int_eq(hm_store_add_strike(s, "ba", "L1", "I1", &c), 0);
    ck_assert_uint_eq(c, 1);
    ck_assert_int_eq(hm_store_strikes(s, "bad", &c), 0);
    ck_assert_uint_eq(c, 3);
    ck_assert_int_eq(hm_store_add_strike(s, "bad", "", "I1", &c), HM_E_INVAL);

    hm_allow_t a = { .has_pdq = 1, .note = "reviewer: genuine stock photo" };
    hm_sha256("img", 3, a.sha256);
    a.pdq.w[3] = 0x1234;
    ck_assert_int_eq(hm_store_allow(s, &a), 0);
    hm_allow_t got;
    char note[64];
    ck_assert_int_eq(hm_store_allow_get(s, a.sha256, &got, note, sizeof note), 0);
    ck_assert_str_eq(got.note, "reviewer: genuine stock photo");
    ck_assert_int_eq(got.has_pdq, 1);
    ck_assert_uint_eq(got.pdq.w[3], 0x1234);
    ck_assert_int_gt(got.time, 0);
    ck_assert_int_eq(memcmp(got.sha256, a.sha256, 32), 0);
    int seen = 0;
    ck_assert_int_eq(hm_store_foreach_allow(s, s_allow_cb, &seen), 0);
    ck_assert_int_eq(seen, 1);
    memset(a.sha256, 0, 32);
    ck_assert_int_eq(hm_store_allow(s, &a), HM_E_INVAL);
    hm_sha256("img", 3, a.sha256);
    ck_assert_int_eq(hm_store_disallow(s, a.sha256), 0);
    ck_assert_int_eq(hm_store_disallow(s, a.sha256), HM_E_NOTFOUND);
    ck_assert_int_eq(hm_store_allow_get(s, a.sha256, &got, NULL, 0), HM_E_NOTFOUND);
    hm_store_close(&s);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

typedef struct {
    uint64_t next_seq;
    int n;
    hm_store_change_t got[32];
    char strs[32][3][32];
} s_log_t;

static int s_log_cb(const hm_store_change_t *ch, void *ctx)
{
    s_log_t *l = ctx;
    if (ch->seq != l->next_seq || l->n >= 32)
        return 77;
    l->next_seq++;
    l->got[l->n] = *ch;
    snprintf(l->strs[l->n][0], 32, "%s", ch->a);
    snprintf(l->strs[l->n][1], 32, "%s", ch->b);
    snprintf(l->strs[l->n][2], 32, "%s", ch->c);
    l->n++;
    return 0;
}

START_TEST(test_change_log)
{
    char *dir = tu_tmpdir();
    hm_store_opts_t o = ts_opts(0);
    hm_store_t *s = NULL;
    ck_assert_int_eq(hm_store_open(&s, dir, &o), 0);
    uint64_t seq = 99;
    ck_assert_int_eq(hm_store_seq(s, &seq), 0);
    ck_assert_uint_eq(seq, 0);
    uint64_t id = s_add_n(s, 1, 10);                            /* 1 add */
    ck_assert_int_eq(hm_store_relabel(s, id, HM_BANK_GENUINE), 0); /* 2 relabel */
    ck_assert_int_eq(hm_store_relabel(s, id, HM_BANK_GENUINE), 0); /* no change */
    ck_assert_int_eq(hm_store_authorize(s, "acme", "shop", 1), 0); /* 3 */
    ck_assert_int_eq(hm_store_authorize(s, "acme", "shop", 0), 0); /* 4 */
    hm_allow_t a = { .note = "n" };
    a.sha256[0] = 1;
    ck_assert_int_eq(hm_store_allow(s, &a), 0);                   /* 5 */
    ck_assert_int_eq(hm_store_disallow(s, a.sha256), 0);          /* 6 */
    ck_assert_int_eq(hm_store_add_strike(s, "sel", "L", "I", NULL), 0); /* 7 */
    ck_assert_int_eq(hm_store_add_strike(s, "sel", "L", "I", NULL), 0); /* repeat */
    ck_assert_int_eq(hm_store_remove(s, id), 0);                  /* 8 */
    ck_assert_int_eq(hm_store_seq(s, &seq), 0);
    ck_assert_uint_eq(seq, 8);

    s_log_t l = { .next_seq = 1 };
    ck_assert_int_eq(hm_store_changes(s, 0, s_log_cb, &l), 0);
    ck_assert_int_eq(l.n, 8);
    static const int ops[8] = { HM_OP_ADD, HM_OP_RELABEL, HM_OP_AUTHORIZE, HM_OP_DEAUTHORIZE,
                                HM_OP_ALLOW, HM_OP_DISALLOW, HM_OP_STRIKE, HM_OP_REMOVE };
    for (int i = 0; i < 8; i++) {
        ck_assert_int_eq(l.got[i].op, ops[i]);
        ck_assert_int_gt(l.got[i].time, 0);
    }
    ck_assert_uint_eq(l.got[0].id, id);
    ck_assert_str_eq(l.strs[0][0], "ext-1");
    ck_assert_int_eq(l.got[1].bank, HM_BANK_GENUINE);
    ck_assert_str_eq(l.strs[2][0], "acme");
    ck_assert_str_eq(l.strs[2][1], "shop");
    ck_assert_int_eq(l.got[4].sha256[0], 1);
    ck_assert_str_eq(l.strs[6][0], "sel");
    ck_assert_str_eq(l.strs[6][1], "L");
    ck_assert_str_eq(l.strs[6][2], "I");
    ck_assert_uint_eq(l.got[7].id, id);
    ck_assert_str_eq(l.strs[7][0], "ext-1");

    /* Catching up from a sequence. */
    l = (s_log_t){ .next_seq = 6 };
    ck_assert_int_eq(hm_store_changes(s, 5, s_log_cb, &l), 0);
    ck_assert_int_eq(l.n, 3);
    /* Monotonic over a batch and across a reopen. */
    ck_assert_int_eq(hm_store_batch_begin(s), 0);
    for (uint64_t n = 10; n < 15; n++)
        s_add_n(s, n, 10);
    ck_assert_int_eq(hm_store_batch_commit(s), 0);
    hm_store_close(&s);
    ck_assert_int_eq(hm_store_open(&s, dir, &o), 0);
    s_add_n(s, 20, 10);
    ck_assert_int_eq(hm_store_seq(s, &seq), 0);
    ck_assert_uint_eq(seq, 14);
    l = (s_log_t){ .next_seq = 1 };
    ck_assert_int_eq(hm_store_changes(s, 0, s_log_cb, &l), 0);
    ck_assert_int_eq(l.n, 14);
    hm_store_close(&s);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

/* Write (val != NULL) or delete a value in a sub-database with plain LMDB,
 * behind the store's back. */
static void s_raw_put(const char *dir, const char *db, unsigned dbflags, const void *key,
                      size_t klen, const void *val, size_t vlen)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    ck_assert_int_eq(mdb_env_create(&env), 0);
    ck_assert_int_eq(mdb_env_set_maxdbs(env, 16), 0);
    ck_assert_int_eq(mdb_env_open(env, dir, 0, 0600), 0);
    ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
    ck_assert_int_eq(mdb_dbi_open(txn, db, dbflags, &dbi), 0);
    MDB_val k = { klen, (void *)key }, d = { vlen, (void *)val };
    ck_assert_int_eq(val ? mdb_put(txn, dbi, &k, &d, 0) : mdb_del(txn, dbi, &k, NULL), 0);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

START_TEST(test_schema_version)
{
    char *dir = tu_tmpdir();
    hm_store_opts_t o = ts_opts(0);
    hm_store_t *s = NULL;
    ck_assert_int_eq(hm_store_open(&s, dir, &o), 0);
    s_add_n(s, 1, 10);
    hm_store_close(&s);
    uint8_t v2[4] = { HM_STORE_SCHEMA + 1, 0, 0, 0 };
    s_raw_put(dir, "meta", 0, "schema", 6, v2, 4);
    ck_assert_int_eq(hm_store_open(&s, dir, &o), HM_E_VERSION);
    ck_assert_ptr_null(s);
    o.readonly = 1;
    ck_assert_int_eq(hm_store_open(&s, dir, &o), HM_E_VERSION);
    o.readonly = 0;
    uint8_t v0[4] = { 0 };
    s_raw_put(dir, "meta", 0, "schema", 6, v0, 4);
    ck_assert_int_eq(hm_store_open(&s, dir, &o), HM_E_CORRUPT);
    s_raw_put(dir, "meta", 0, "schema", 6, v0, 3);
    ck_assert_int_eq(hm_store_open(&s, dir, &o), HM_E_CORRUPT);
    s_raw_put(dir, "meta", 0, "schema", 6, NULL, 0); /* lost, with refs present */
    ck_assert_int_eq(hm_store_open(&s, dir, &o), HM_E_CORRUPT);
    uint8_t v1[4] = { HM_STORE_SCHEMA, 0, 0, 0 };
    s_raw_put(dir, "meta", 0, "schema", 6, v1, 4);
    ck_assert_int_eq(hm_store_open(&s, dir, &o), 0);
    hm_store_close(&s);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

static int s_nop_cb(const hm_ref_t *ref, void *ctx)
{
    (void)ref;
    (void)ctx;
    return 0;
}

START_TEST(test_corrupt_records)
{
    ts_buf_t b;
    hm_ref_t r, v;
    ts_make_ref(3, 64, &b, &r);
    r.id = 3;
    uint8_t buf[1024], bad[1024];
    size_t n = hm_store_rec_ref_encode(&r, buf, sizeof buf);
    ck_assert_uint_eq(n, hm_store_rec_ref_size(&r));
    ck_assert_uint_eq(hm_store_rec_ref_encode(&r, buf, n - 1), 0); /* too small */
    ck_assert_int_eq(hm_store_rec_ref_decode(buf, n, &v), 0);
    ck_assert(ts_ref_matches(&v, 3, 64));
    ck_assert_uint_eq(v.id, 3);
    /* Every truncation and every extension is corrupt. */
    for (size_t len = 0; len < n; len++) {
        uint8_t *cut = malloc(len ? len : 1); /* exact size: ASan sees any overread */
        memcpy(cut, buf, len);
        ck_assert_int_eq(hm_store_rec_ref_decode(cut, len, &v), HM_E_CORRUPT);
        free(cut);
    }
    memcpy(bad, buf, n);
    bad[n] = 0;
    ck_assert_int_eq(hm_store_rec_ref_decode(bad, n + 1, &v), HM_E_CORRUPT);
    ck_assert_int_eq(hm_store_rec_ref_decode(NULL, 10, &v), HM_E_CORRUPT);
    /* Version, bank, string terminator, length field. */
    memcpy(bad, buf, n);
    bad[0] = 2;
    ck_assert_int_eq(hm_store_rec_ref_decode(bad, n, &v), HM_E_CORRUPT);
    memcpy(bad, buf, n);
    bad[1] = 3;
    ck_assert_int_eq(hm_store_rec_ref_decode(bad, n, &v), HM_E_CORRUPT);
    size_t ext_off = 1 + 1 + 2 + 4 + 8 + 8 + 32;
    memcpy(bad, buf, n);
    bad[ext_off + 2 + strlen("ext-3")] = 'x'; /* the NUL after the ext id */
    ck_assert_int_eq(hm_store_rec_ref_decode(bad, n, &v), HM_E_CORRUPT);
    memcpy(bad, buf, n);
    bad[ext_off + 2] = '\0'; /* a NUL inside the ext id */
    ck_assert_int_eq(hm_store_rec_ref_decode(bad, n, &v), HM_E_CORRUPT);
    memcpy(bad, buf, n);
    bad[ext_off] = 0xff;
    bad[ext_off + 1] = 0xff;
    ck_assert_int_eq(hm_store_rec_ref_decode(bad, n, &v), HM_E_CORRUPT);
    memcpy(bad, buf, n);
    bad[n - 64 - 1] = 0x7f; /* fp_len high byte */
    ck_assert_int_eq(hm_store_rec_ref_decode(bad, n, &v), HM_E_CORRUPT);
    /* Random damage: never a crash, and a pass only with sane fields. */
    uint64_t st = 42;
    for (int i = 0; i < 20000; i++) {
        memcpy(bad, buf, n);
        int flips = 1 + (int)(tu_rand(&st) % 4);
        for (int f = 0; f < flips; f++)
            bad[tu_rand(&st) % n] = (uint8_t)tu_rand(&st);
        size_t len = tu_rand(&st) % 8 == 0 ? tu_rand(&st) % (n + 1) : n;
        uint8_t *cp = malloc(len ? len : 1);
        memcpy(cp, bad, len);
        int rc = hm_store_rec_ref_decode(cp, len, &v);
        ck_assert(rc == 0 || rc == HM_E_CORRUPT);
        if (rc == 0)
            ck_assert(v.ext_id[0] && strlen(v.ext_id) <= HM_STORE_MAX_ID &&
                      (const uint8_t *)v.fp + v.fp_len <= cp + len);
        free(cp);
    }
    /* Change and allow records. */
    hm_store_change_t ch = { .op = HM_OP_STRIKE, .time = 5, .a = "s", .b = "l", .c = "i" }, cv;
    n = hm_store_rec_change_encode(&ch, buf, sizeof buf);
    ck_assert_uint_gt(n, 0);
    ck_assert_int_eq(hm_store_rec_change_decode(buf, n, &cv), 0);
    ck_assert_str_eq(cv.c, "i");
    for (size_t len = 0; len < n; len++)
        ck_assert_int_eq(hm_store_rec_change_decode(buf, len, &cv), HM_E_CORRUPT);
    buf[1] = 99;
    ck_assert_int_eq(hm_store_rec_change_decode(buf, n, &cv), HM_E_CORRUPT);
    hm_allow_t al = { .note = "x" }, av;
    n = hm_store_rec_allow_encode(&al, buf, sizeof buf);
    ck_assert_int_eq(hm_store_rec_allow_decode(buf, n, &av), 0);
    for (size_t len = 0; len < n; len++)
        ck_assert_int_eq(hm_store_rec_allow_decode(buf, len, &av), HM_E_CORRUPT);

    /* A damaged record in the database: lookups and iteration report it. */
    char *dir = tu_tmpdir();
    hm_store_opts_t o = ts_opts(0);
    hm_store_t *s = NULL;
    ck_assert_int_eq(hm_store_open(&s, dir, &o), 0);
    s_add_n(s, 1, 10);
    s_add_n(s, 2, 10);
    hm_store_close(&s);
    uint64_t key = 2;
    s_raw_put(dir, "refs", MDB_INTEGERKEY, &key, 8, "\x01\x01garbage", 9);
    ck_assert_int_eq(hm_store_open(&s, dir, &o), 0);
    ck_assert_int_eq(hm_store_get(s, 1, &v), 0);
    hm_ref_clear(&v);
    ck_assert_int_eq(hm_store_get(s, 2, &v), HM_E_CORRUPT);
    ck_assert_int_eq(hm_store_get_by_ext(s, "ext-2", &v), HM_E_CORRUPT);
    ck_assert_int_eq(hm_store_foreach_ref(s, s_nop_cb, NULL), HM_E_CORRUPT);
    ck_assert_int_eq(hm_store_remove(s, 2), HM_E_CORRUPT);
    hm_store_close(&s);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(test_modes)
{
    /* Relaxed sync modes open and work; read-only refuses writes. */
    char *dir = tu_tmpdir();
    hm_store_opts_t o = ts_opts(0);
    hm_store_t *s = NULL;
    for (int mode = HM_STORE_SYNC_FULL; mode <= HM_STORE_SYNC_NONE; mode++) {
        o.sync = mode;
        ck_assert_int_eq(hm_store_open(&s, dir, &o), 0);
        s_add_n(s, (uint64_t)mode + 1, 10);
        ck_assert_int_eq(hm_store_sync(s), 0);
        hm_store_close(&s);
    }
    o.readonly = 1;
    ck_assert_int_eq(hm_store_open(&s, dir, &o), 0);
    hm_ref_t r;
    ck_assert_int_eq(hm_store_get(s, 3, &r), 0);
    ck_assert(ts_ref_matches(&r, 3, 10));
    hm_ref_clear(&r);
    ts_buf_t b;
    ts_make_ref(9, 10, &b, &r);
    ck_assert_int_eq(hm_store_add(s, &r, NULL), HM_E_READONLY);
    ck_assert_int_eq(hm_store_batch_begin(s), HM_E_READONLY);
    ck_assert_int_eq(hm_store_sync(s), HM_E_READONLY);
    hm_store_close(&s);
    uint8_t sha[32], want[32];
    ck_assert_int_eq(hm_sha256("abc", 3, sha), 0);
    static const uint8_t abc[32] = { 0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea,
                                     0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
                                     0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c,
                                     0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad };
    memcpy(want, abc, 32);
    ck_assert_int_eq(memcmp(sha, want, 32), 0);
    char hex[65];
    hm_sha256_to_hex(sha, hex);
    ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    tu_rmtree(dir);
    free(dir);
}
END_TEST

Suite *hm_suite_store(void)
{
    Suite *s = suite_create("store");
    TCase *tc = tcase_create("basic");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_roundtrip);
    tcase_add_test(tc, test_unique);
    tcase_add_test(tc, test_batch);
    tcase_add_test(tc, test_map_growth);
    tcase_add_test(tc, test_write_lock);
    tcase_add_test(tc, test_sellers_allow);
    tcase_add_test(tc, test_change_log);
    tcase_add_test(tc, test_schema_version);
    tcase_add_test(tc, test_corrupt_records);
    tcase_add_test(tc, test_modes);
    suite_add_tcase(s, tc);
    suite_add_tcase(s, hm__store_tcase_conc());
    return s;
}
