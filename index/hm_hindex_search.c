/*
 * hm_hindex_search.c - searches of the multi-index hash (hm_hindex.h):
 * range (one or several query codes) and k-nearest.  Readers only: they
 * hold the index's swap lock for reading and never block an add.
 */
#include "hm_hindex_int.h"

#include <stdlib.h>
#include <string.h>

#include "hm_error.h"
#include "hm_simd.h"

/* ---- search ------------------------------------------------------------
 * A search walks "steps": step s (s = 0 .. r) probes, in table s mod m, the
 * ring of buckets at exactly s / m bits from the query's substring.  After
 * step s every table j has been probed to radius floor(s/m) (j <= s mod m)
 * or floor(s/m) - 1 (the others), which by the pigeonhole argument in
 * hm_hindex.h finds every code within s.  Range search runs steps 0..r;
 * k-nearest stops at the first s with k hits within s.  Each step adds
 * exactly one ring, so nothing is probed twice. */

typedef struct s_hit {
    uint32_t row, dist, variant;
} s_hit_t;

typedef struct s_query {
    const s_core_t *c;
    const uint64_t *q;
    uint32_t variant;
    uint32_t maxd;           /* accept distances <= maxd */
    uint32_t rows[PENDING];
    unsigned nrows;
    uint32_t group[RING_CHUNK]; /* buckets waiting to be scanned together */
    unsigned ngroup;
    /* range mode: a growing vector; knn mode: a sorted top-k */
    s_hit_t *hits;
    size_t n, cap;
    unsigned k;              /* 0 = range mode */
    int rc;
} s_query_t;

static void s_push_hit(s_query_t *s, uint32_t row, uint32_t d)
{
    if (s->k == 0) {
        if (s->n == s->cap) {
            size_t cap = s->cap ? 2 * s->cap : 64;
            s_hit_t *h = realloc(s->hits, cap * sizeof *h);
            if (!h) {
                s->rc = hm__seterr(HM_E_NOMEM, "hindex: out of memory for %zu hits", cap);
                return;
            }
            s->hits = h;
            s->cap = cap;
        }
        s->hits[s->n++] = (s_hit_t){ row, d, s->variant };
        return;
    }
    /* top-k, sorted by distance; a row seen through another table is skipped */
    for (size_t i = 0; i < s->n; i++)
        if (s->hits[i].row == row)
            return;
    size_t i = s->n < s->k ? s->n++ : s->k - 1;
    while (i > 0 && s->hits[i - 1].dist > d) {
        s->hits[i] = s->hits[i - 1];
        i--;
    }
    s->hits[i] = (s_hit_t){ row, d, s->variant };
}

/* Verify the pending candidates: gather their codes, one kernel call. */
/* Verify the pending candidates: gather their codes (a random load each,
 * prefetched PF_DIST ahead so that many misses are in flight at once), then
 * one kernel call per BATCH. */
static void s_flush(s_query_t *s)
{
    const s_core_t *c = s->c;
    uint64_t buf[BATCH * 4];
    uint16_t d[BATCH];
    unsigned n = s->nrows, w = c->words;
    const uint32_t *rows = s->rows;
    for (unsigned i = 0; i < n && i < PF_DIST; i++)
        __builtin_prefetch(s_code(c, rows[i]));
    for (unsigned b0 = 0; b0 < n; b0 += BATCH) {
        unsigned nb = n - b0 < BATCH ? n - b0 : BATCH;
        for (unsigned i = 0; i < nb; i++) {
            if (b0 + i + PF_DIST < n)
                __builtin_prefetch(s_code(c, rows[b0 + i + PF_DIST]));
            memcpy(buf + (size_t)i * w, s_code(c, rows[b0 + i]), 8 * w);
        }
        if (w == 4)
            hm_kernels()->hamming256_many(s->q, buf, nb, d);
        else
            hm_kernels()->hamming64_many(s->q[0], buf, nb, d);
        for (unsigned i = 0; i < nb; i++) {
            uint32_t row = rows[b0 + i];
            if (d[i] > s->maxd)
                continue;
            if (s->k && s->n == s->k && d[i] >= s->hits[s->k - 1].dist)
                continue;
            if (__atomic_load_n(s_dead(c, row), __ATOMIC_ACQUIRE))
                continue;
            s_push_hit(s, row, d[i]);
        }
    }
    s->nrows = 0;
}

/* Read one block's rows into the pending candidates. */
static inline void s_take(s_query_t *s, const uint32_t *p, uint32_t m)
{
    for (uint32_t k = 0; k < m; k++) {
        s->rows[s->nrows++] = p[k];
        if (s->nrows == PENDING)
            s_flush(s);
    }
}

/* Scan a group of buckets: prefetch every head, then every first block,
 * then read - so that the cache misses of a group overlap. */
static void s_scan_group(s_query_t *s, const uint32_t *b, unsigned n)
{
    const s_core_t *c = s->c;
    uint32_t blk[RING_CHUNK], left[RING_CHUNK];
    unsigned live = 0;
    for (unsigned i = 0; i < n; i++)
        __builtin_prefetch(&c->heads[b[i]]);
    for (unsigned i = 0; i < n; i++) {
        uint32_t cnt = __atomic_load_n(&c->heads[b[i]].count, __ATOMIC_ACQUIRE);
        if (!cnt)
            continue;
        blk[live] = c->heads[b[i]].first;
        left[live++] = cnt;
        __builtin_prefetch(s_block(c, blk[live - 1]));
    }
    /* Chains are walked round-robin, one block per bucket per round, so the
     * dependent misses of long chains (~150 rows a bucket at 10M) overlap
     * across buckets instead of adding up bucket after bucket. */
    while (live) {
        unsigned keep = 0;
        for (unsigned i = 0; i < live; i++) {
            const uint32_t *p = s_block(c, blk[i]);
            uint32_t m = left[i] < BLK_SLOTS ? left[i] : BLK_SLOTS;
            s_take(s, p, m);
            if (left[i] > m) {
                blk[keep] = p[BLK_SLOTS];
                left[keep++] = left[i] - m;
                __builtin_prefetch(s_block(c, p[BLK_SLOTS]));
            }
        }
        live = keep;
    }
}

static inline void s_want(s_query_t *s, uint32_t b)
{
    s->group[s->ngroup++] = b;
    if (s->ngroup == RING_CHUNK) {
        s_scan_group(s, s->group, s->ngroup);
        s->ngroup = 0;
    }
}

/* Everything queued so far is scanned and verified. */
static void s_drain(s_query_t *s)
{
    s_scan_group(s, s->group, s->ngroup);
    s->ngroup = 0;
    if (s->nrows)
        s_flush(s);
}

/* Step s: queue the ring at s / m bits around substring s mod m. */
static void s_step(s_query_t *s, unsigned step)
{
    const s_core_t *c = s->c;
    unsigned j = step % c->nsub, d = step / c->nsub;
    if (d > c->width[j])
        return;
    uint32_t base = s_sub(c, s->q, j), off = c->toff[j];
    if (d == 0) {
        s_want(s, off + base);
        return;
    }
    /* every width-bit mask with d bits set, in increasing order (Gosper) */
    uint32_t lim = 1u << c->width[j];
    for (uint32_t m = (1u << d) - 1; m < lim;) {
        s_want(s, off + (base ^ m));
        uint32_t low = m & (~m + 1), hi = m + low;
        m = (((hi ^ m) >> 2) / low) | hi;
    }
}

static int s_hit_cmp_row(const void *a, const void *b)
{
    const s_hit_t *x = a, *y = b;
    if (x->row != y->row)
        return x->row < y->row ? -1 : 1;
    if (x->dist != y->dist)
        return x->dist < y->dist ? -1 : 1;
    return (x->variant > y->variant) - (x->variant < y->variant);
}

static int s_out_cmp(const void *a, const void *b)
{
    const hm_hindex_hit_t *x = a, *y = b;
    if (x->dist != y->dist)
        return x->dist < y->dist ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* Dedup by row (keeping the smallest distance, then variant), turn rows
 * into ids, order by distance and id, copy out up to cap. */
static void s_emit(const s_core_t *c, s_hit_t *h, size_t n, hm_hindex_hit_t *out,
                   size_t cap, size_t *n_found, hm_hindex_hit_t *tmp)
{
    size_t u = 0;
    if (n) {
        qsort(h, n, sizeof *h, s_hit_cmp_row);
        for (size_t i = 0; i < n; i++)
            if (u == 0 || h[u - 1].row != h[i].row)
                h[u++] = h[i];
    }
    /* reuse the s_hit_t buffer would need a second pass; a temporary is simpler */
    for (size_t i = 0; i < u; i++)
        tmp[i] = (hm_hindex_hit_t){ *s_ids(c, h[i].row), h[i].dist, h[i].variant };
    qsort(tmp, u, sizeof *tmp, s_out_cmp);
    memcpy(out, tmp, (u < cap ? u : cap) * sizeof *out);
    *n_found = u;
}

static int s_check_query(const hm_hindex_t *ix, const void *q, unsigned r)
{
    if (!ix || !q)
        return hm__seterr(HM_E_INVAL, "hindex: NULL index or query");
    if (r > HM_HINDEX_MAX_RADIUS)
        return hm__seterr(HM_E_INVAL, "hindex: radius %u > %d", r, HM_HINDEX_MAX_RADIUS);
    return 0;
}

/* Buckets a range search of radius r probes, summed over the tables. */
static double s_probe_estimate(const s_core_t *c, unsigned r)
{
    double total = 0;
    unsigned rad = r / c->nsub;
    for (unsigned j = 0; j < c->nsub; j++) {
        double binom = 1, sum = 1;
        for (unsigned i = 1; i <= rad && i <= c->sub_bits; i++) {
            binom = binom * (c->sub_bits - i + 1) / i;
            sum += binom;
        }
        total += sum;
    }
    return total;
}

/* Compare every row: cheaper than probing when the bank is small or the
 * radius wide (a contiguous SIMD scan costs about one bucket probe per
 * 8 rows).  Same results as the probing search. */
static void s_scan_all(s_query_t *s)
{
    const s_core_t *c = s->c;
    uint32_t n = __atomic_load_n(&c->n_rows, __ATOMIC_ACQUIRE);
    uint16_t d[1024];
    for (uint32_t base = 0; base < n && !s->rc; base += 1024) {
        uint32_t m = n - base < 1024 ? n - base : 1024;
        /* a block never crosses a segment: SEG_ROWS is a multiple of 1024 */
        const uint64_t *codes = s_code(c, base);
        if (c->words == 4)
            hm_kernels()->hamming256_many(s->q, codes, m, d);
        else
            hm_kernels()->hamming64_many(s->q[0], codes, m, d);
        for (uint32_t i = 0; i < m; i++)
            if (d[i] <= s->maxd && !__atomic_load_n(s_dead(c, base + i), __ATOMIC_ACQUIRE))
                s_push_hit(s, base + i, d[i]);
    }
}

int hm_hindex_range_multi(const hm_hindex_t *ix, const uint64_t *qs, unsigned nq,
                          unsigned r, hm_hindex_hit_t *hits, size_t cap, size_t *n_found)
{
    int rc = s_check_query(ix, qs, r);
    hm_hindex_hit_t *tmp = NULL;
    s_query_t s = { 0 };
    int locked = 0;
    if (rc)
        goto leave;
    if (nq < 1 || nq > HM_HINDEX_MAX_QUERIES || !n_found || (cap && !hits)) {
        rc = hm__seterr(HM_E_INVAL, "hindex: bad batch (nq=%u) or output", nq);
        goto leave;
    }
    pthread_rwlock_rdlock((pthread_rwlock_t *)&ix->swap);
    locked = 1;
    s.c = ix->core;
    int scan = (double)__atomic_load_n(&s.c->n_rows, __ATOMIC_ACQUIRE) <=
               8.0 * s_probe_estimate(s.c, r);
    for (unsigned v = 0; v < nq && !s.rc; v++) {
        s.q = qs + (size_t)v * s.c->words;
        s.variant = v;
        s.maxd = r;
        if (scan) {
            s_scan_all(&s);
            continue;
        }
        for (unsigned step = 0; step <= r && !s.rc; step++)
            s_step(&s, step);
        s_drain(&s);
    }
    if ((rc = s.rc))
        goto leave;
    tmp = malloc((s.n ? s.n : 1) * sizeof *tmp);
    if (!tmp) {
        rc = hm__seterr(HM_E_NOMEM, "hindex: out of memory for %zu hits", s.n);
        goto leave;
    }
    s_emit(s.c, s.hits, s.n, hits, cap, n_found, tmp);
leave:
    if (locked)
        pthread_rwlock_unlock((pthread_rwlock_t *)&ix->swap);
    free(tmp);
    free(s.hits);
    return rc;
}

int hm_hindex_range(const hm_hindex_t *ix, const uint64_t *q, unsigned r,
                    hm_hindex_hit_t *hits, size_t cap, size_t *n_found)
{
    return hm_hindex_range_multi(ix, q, 1, r, hits, cap, n_found);
}

int hm_hindex_knn(const hm_hindex_t *ix, const uint64_t *q, unsigned k, unsigned max_r,
                  hm_hindex_hit_t *hits, size_t *n_out)
{
    int rc = s_check_query(ix, q, max_r);
    s_hit_t top[HM_HINDEX_MAX_K];
    hm_hindex_hit_t tmp[HM_HINDEX_MAX_K];
    s_query_t s = { 0 };
    if (rc)
        return rc;
    if (k < 1 || k > HM_HINDEX_MAX_K || !hits || !n_out)
        return hm__seterr(HM_E_INVAL, "hindex: k=%u not in 1..%d, or NULL output", k,
                          HM_HINDEX_MAX_K);
    pthread_rwlock_rdlock((pthread_rwlock_t *)&ix->swap);
    s.c = ix->core;
    s.q = q;
    s.k = k;
    s.hits = top;
    s.maxd = max_r;
    for (unsigned step = 0; step <= max_r; step++) {
        s_step(&s, step);
        s_drain(&s);
        /* every code within `step` has been seen: k of them means done */
        if (s.n == k && s.hits[k - 1].dist <= step)
            break;
    }
    s_emit(s.c, top, s.n, hits, k, n_out, tmp);
    pthread_rwlock_unlock((pthread_rwlock_t *)&ix->swap);
    return 0;
}
