/*
 * test_hindex.c - suite "hindex": the MIH index and the FAISS binary wrappers
 * against brute force (plain __builtin_popcountll, independent of the SIMD
 * kernels the index uses).
 *
 * Data: "random" codes (pairwise distances near half the width), and
 * "clustered" codes - seed codes with 0..20 random bits flipped, so members
 * of one cluster lie at 0..40 bits from each other, as copies of one image do.
 */
#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "hm_error.h"
#include "hm_faiss_binary.h"
#include "hm_hindex.h"
#include "test_util.h"

typedef struct {
    size_t n;
    unsigned words;
    uint64_t *codes;  /* n * words */
    uint64_t *ids;
    uint8_t *dead;
} ds_t;

static void s_flip(uint64_t *code, unsigned words, unsigned nflip, uint64_t *rng)
{
    for (unsigned f = 0; f < nflip; f++) {
        unsigned bit = (unsigned)(tu_rand(rng) % (64 * words));
        code[bit / 64] ^= 1ULL << (bit % 64);
    }
}

static ds_t s_make(size_t n, unsigned words, int clustered, uint64_t seed)
{
    ds_t d = { n, words, malloc(n * words * 8), malloc(n * 8), calloc(n, 1) };
    uint64_t rng = seed;
    size_t nseed = n / 20 + 1;
    uint64_t *seeds = malloc(nseed * words * 8);
    for (size_t i = 0; i < nseed * words; i++)
        seeds[i] = tu_rand(&rng);
    for (size_t i = 0; i < n; i++) {
        uint64_t *c = d.codes + i * words;
        if (clustered) {
            memcpy(c, seeds + (tu_rand(&rng) % nseed) * words, words * 8);
            s_flip(c, words, (unsigned)(tu_rand(&rng) % 21), &rng);
        } else {
            for (unsigned w = 0; w < words; w++)
                c[w] = tu_rand(&rng);
        }
        d.ids[i] = i * 7 + 3; /* ids that are not row numbers */
    }
    free(seeds);
    return d;
}

static void s_free(ds_t *d)
{
    free(d->codes);
    free(d->ids);
    free(d->dead);
}

static unsigned s_dist(const uint64_t *a, const uint64_t *b, unsigned words)
{
    unsigned s = 0;
    for (unsigned w = 0; w < words; w++)
        s += (unsigned)__builtin_popcountll(a[w] ^ b[w]);
    return s;
}

static int s_hit_cmp(const void *a, const void *b)
{
    const hm_hindex_hit_t *x = a, *y = b;
    if (x->dist != y->dist)
        return x->dist < y->dist ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* Brute-force range search over the live rows, sorted like the index's. */
static size_t s_brute(const ds_t *d, const uint64_t *q, unsigned r, hm_hindex_hit_t *out)
{
    size_t n = 0;
    for (size_t i = 0; i < d->n; i++) {
        unsigned dist = s_dist(q, d->codes + i * d->words, d->words);
        if (!d->dead[i] && dist <= r)
            out[n++] = (hm_hindex_hit_t){ d->ids[i], dist, 0 };
    }
    qsort(out, n, sizeof *out, s_hit_cmp);
    return n;
}

static hm_hindex_t *s_build(const ds_t *d, unsigned nsub)
{
    hm_hindex_t *ix = NULL;
    hm_hindex_opts_t o = { .code_bits = 64 * d->words, .nsub = nsub };
    ck_assert_int_eq(hm_hindex_create(&ix, &o), 0);
    for (size_t i = 0; i < d->n; i++)
        ck_assert_int_eq(hm_hindex_add(ix, d->ids[i], d->codes + i * d->words), 0);
    return ix;
}

/* A query: a data code with a few bits flipped, or a random code. */
static void s_query(const ds_t *d, uint64_t *q, uint64_t *rng)
{
    if (tu_rand(rng) % 4 == 0) {
        for (unsigned w = 0; w < d->words; w++)
            q[w] = tu_rand(rng);
        return;
    }
    memcpy(q, d->codes + (tu_rand(rng) % d->n) * d->words, d->words * 8);
    s_flip(q, d->words, (unsigned)(tu_rand(rng) % 12), rng);
}

/* Range results must equal brute force exactly, for several radii. */
static void s_check_range(hm_hindex_t *ix, const ds_t *d, int nq, uint64_t seed)
{
    static const unsigned radii[] = { 0, 1, 8, 15, 16, 31, 32, 40, 64 };
    hm_hindex_hit_t *got = malloc(d->n * sizeof *got), *want = malloc(d->n * sizeof *want);
    uint64_t rng = seed, q[4];
    for (size_t ri = 0; ri < sizeof radii / sizeof radii[0]; ri++) {
        unsigned r = radii[ri];
        if (d->words == 1 && r > 32)
            continue;
        for (int t = 0; t < nq; t++) {
            s_query(d, q, &rng);
            size_t n = 0, nw = s_brute(d, q, r, want);
            ck_assert_int_eq(hm_hindex_range(ix, q, r, got, d->n, &n), 0);
            ck_assert_msg(n == nw, "r=%u: index found %zu, brute force %zu", r, n, nw);
            for (size_t i = 0; i < n; i++) {
                ck_assert_uint_eq(got[i].id, want[i].id);
                ck_assert_uint_eq(got[i].dist, want[i].dist);
            }
        }
    }
    free(got);
    free(want);
}

static void s_check_knn(hm_hindex_t *ix, const ds_t *d, int nq, uint64_t seed)
{
    static const unsigned ks[] = { 1, 5, 20, 64 }, maxr[] = { 64, 20, 3 };
    hm_hindex_hit_t got[HM_HINDEX_MAX_K], *want = malloc(d->n * sizeof *want);
    uint64_t rng = seed, q[4];
    for (size_t ki = 0; ki < 4; ki++)
        for (size_t mi = 0; mi < 3; mi++)
            for (int t = 0; t < nq; t++) {
                s_query(d, q, &rng);
                size_t n = 0, nw = s_brute(d, q, maxr[mi], want);
                if (nw > ks[ki])
                    nw = ks[ki];
                ck_assert_int_eq(hm_hindex_knn(ix, q, ks[ki], maxr[mi], got, &n), 0);
                ck_assert_uint_eq(n, nw);
                /* ties at the k-th distance may pick other ids: compare
                 * distances, and check each id's distance is real */
                for (size_t i = 0; i < n; i++) {
                    ck_assert_uint_eq(got[i].dist, want[i].dist);
                    size_t row = (got[i].id - 3) / 7;
                    ck_assert_uint_eq(s_dist(q, d->codes + row * d->words, d->words),
                                      got[i].dist);
                }
            }
    free(want);
}

/* 16 x 16 bits, 32 x 8, and the odd widths that straddle words:
 * 12 tables of 21/22 bits, 13 of 19/20. */
static const unsigned s_nsubs256[] = { 16, 32, 12, 13 };

START_TEST(test_range_exact_random)
{
    ds_t d = s_make(3000, 4, 0, 11);
    for (unsigned t = 0; t < 4; t++) {
        unsigned nsub = s_nsubs256[t];
        hm_hindex_t *ix = s_build(&d, nsub);
        s_check_range(ix, &d, 8, 100 + nsub);
        hm_hindex_destroy(&ix);
        ck_assert_ptr_null(ix);
    }
    s_free(&d);
}
END_TEST

START_TEST(test_range_exact_clustered)
{
    ds_t d = s_make(5000, 4, 1, 12);
    for (unsigned t = 0; t < 4; t++) {
        unsigned nsub = s_nsubs256[t];
        hm_hindex_t *ix = s_build(&d, nsub);
        s_check_range(ix, &d, 8, 200 + nsub);
        hm_hindex_destroy(&ix);
    }
    s_free(&d);
}
END_TEST

START_TEST(test_knn_exact)
{
    for (int clustered = 0; clustered <= 1; clustered++) {
        ds_t d = s_make(3000, 4, clustered, 13 + clustered);
        hm_hindex_t *ix = s_build(&d, 16);
        s_check_knn(ix, &d, 6, 300 + clustered);
        hm_hindex_destroy(&ix);
        ix = s_build(&d, 12);
        s_check_knn(ix, &d, 3, 310 + clustered);
        hm_hindex_destroy(&ix);
        s_free(&d);
    }
}
END_TEST

START_TEST(test_add_visible_and_errors)
{
    ds_t d = s_make(2000, 4, 1, 14);
    hm_hindex_t *ix = s_build(&d, 0);
    uint64_t q[4] = { 1, 2, 3, 4 };
    hm_hindex_hit_t h[4];
    size_t n = 9;
    ck_assert_int_eq(hm_hindex_range(ix, q, 0, h, 4, &n), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(hm_hindex_add(ix, 424242, q), 0);
    ck_assert_int_eq(hm_hindex_range(ix, q, 0, h, 4, &n), 0); /* no rebuild */
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(h[0].id, 424242);
    ck_assert_int_eq(hm_hindex_add(ix, 424242, q), HM_E_EXISTS);
    ck_assert_int_eq(hm_hindex_range(ix, q, 65, h, 4, &n), HM_E_INVAL);
    ck_assert_int_eq(hm_hindex_knn(ix, q, 0, 10, h, &n), HM_E_INVAL);
    ck_assert_int_eq(hm_hindex_knn(ix, q, 65, 10, h, &n), HM_E_INVAL);
    /* cap smaller than the result: the closest come first, n counts all */
    ck_assert_int_eq(hm_hindex_range(ix, d.codes, 64, h, 2, &n), 0);
    ck_assert_uint_ge(n, 2);
    ck_assert_uint_eq(h[0].dist, 0);
    hm_hindex_destroy(&ix);
    hm_hindex_opts_t bad = { .code_bits = 128 };
    ck_assert_int_eq(hm_hindex_create(&ix, &bad), HM_E_INVAL);
    ck_assert_ptr_null(ix);
    bad = (hm_hindex_opts_t){ .code_bits = 256, .nsub = 8 }; /* 32-bit keys */
    ck_assert_int_eq(hm_hindex_create(&ix, &bad), HM_E_INVAL);
    bad = (hm_hindex_opts_t){ .code_bits = 256, .nsub = 33 }; /* < 8 bits */
    ck_assert_int_eq(hm_hindex_create(&ix, &bad), HM_E_INVAL);
    /* automatic choice follows the expected size */
    hm_hindex_stats_t st;
    size_t sizes[] = { 100, 100000, 10000000 };
    unsigned want[] = { 32, 16, 12 };
    for (int i = 0; i < 3; i++) {
        hm_hindex_opts_t o = { .code_bits = 256, .expected_n = sizes[i] };
        ck_assert_int_eq(hm_hindex_create(&ix, &o), 0);
        hm_hindex_stats(ix, &st);
        ck_assert_uint_eq(st.nsub, want[i]);
        hm_hindex_destroy(&ix);
    }
    hm_hindex_destroy(&ix); /* NULL-safe */
    s_free(&d);
}
END_TEST

START_TEST(test_remove_and_compact)
{
    ds_t d = s_make(6000, 4, 1, 15);
    hm_hindex_t *ix = s_build(&d, 16);
    uint64_t rng = 77;
    hm_hindex_stats_t st;
    /* a few removals: tombstones, no compaction yet */
    for (int i = 0; i < 100; i++) {
        size_t row = tu_rand(&rng) % d.n;
        int rc = hm_hindex_remove(ix, d.ids[row]);
        ck_assert_int_eq(rc, d.dead[row] ? HM_E_NOTFOUND : 0);
        d.dead[row] = 1;
    }
    hm_hindex_stats(ix, &st);
    ck_assert_uint_eq(st.compactions, 0);
    ck_assert_uint_gt(st.n_dead, 0);
    s_check_range(ix, &d, 4, 400);
    /* re-adding a removed id with another code is allowed */
    size_t row0 = 0;
    while (!d.dead[row0])
        row0++;
    d.codes[row0 * 4] ^= 0xff;
    ck_assert_int_eq(hm_hindex_add(ix, d.ids[row0], d.codes + row0 * 4), 0);
    /* the brute-force set now has the new code live, the old one gone */
    d.dead[row0] = 0;
    s_check_range(ix, &d, 4, 401);
    /* remove more than a quarter: compaction runs by itself */
    for (size_t row = 0; row < d.n; row += 3)
        if (!d.dead[row]) {
            ck_assert_int_eq(hm_hindex_remove(ix, d.ids[row]), 0);
            d.dead[row] = 1;
        }
    hm_hindex_stats(ix, &st);
    ck_assert_uint_ge(st.compactions, 1);
    size_t live = 0;
    for (size_t i = 0; i < d.n; i++)
        live += !d.dead[i];
    ck_assert_uint_eq(st.n_live, live);
    s_check_range(ix, &d, 6, 402);
    s_check_knn(ix, &d, 2, 403);
    ck_assert_int_eq(hm_hindex_remove(ix, d.ids[0]), HM_E_NOTFOUND);
    ck_assert_int_eq(hm_hindex_compact(ix), 0);
    hm_hindex_stats(ix, &st);
    ck_assert_uint_eq(st.n_dead, 0);
    ck_assert_uint_eq(st.n_rows, live);
    s_check_range(ix, &d, 4, 404);
    hm_hindex_destroy(&ix);
    s_free(&d);
}
END_TEST

START_TEST(test_dihedral_batch)
{
    ds_t d = s_make(4000, 4, 1, 16);
    hm_hindex_t *ix = s_build(&d, 16);
    uint64_t rng = 5, qs[8 * 4];
    hm_hindex_hit_t *got = malloc(d.n * sizeof *got);
    for (int t = 0; t < 10; t++) {
        for (int v = 0; v < 8; v++)
            s_query(&d, qs + v * 4, &rng);
        unsigned r = t % 2 ? 31 : 20;
        size_t n = 0, nw = 0;
        ck_assert_int_eq(hm_hindex_range_multi(ix, qs, 8, r, got, d.n, &n), 0);
        for (size_t i = 0; i < d.n; i++) {
            unsigned best = 999, bv = 0;
            for (unsigned v = 0; v < 8; v++) {
                unsigned dist = s_dist(qs + v * 4, d.codes + i * 4, 4);
                if (dist < best)
                    best = dist, bv = v;
            }
            if (best > r)
                continue;
            nw++;
            size_t j = 0;
            while (j < n && got[j].id != d.ids[i])
                j++;
            ck_assert_msg(j < n, "id %llu missing", (unsigned long long)d.ids[i]);
            ck_assert_uint_eq(got[j].dist, best);
            ck_assert_uint_eq(got[j].variant, bv);
        }
        ck_assert_uint_eq(n, nw);
    }
    size_t n;
    ck_assert_int_eq(hm_hindex_range_multi(ix, qs, 9, 3, got, d.n, &n), HM_E_INVAL);
    free(got);
    hm_hindex_destroy(&ix);
    s_free(&d);
}
END_TEST

START_TEST(test_codes64)
{
    for (int clustered = 0; clustered <= 1; clustered++) {
        ds_t d = s_make(4000, 1, clustered, 17 + clustered);
        static const unsigned nsubs[] = { 4, 8, 3 };
        for (unsigned t = 0; t < 3; t++) {
            unsigned nsub = nsubs[t];
            hm_hindex_t *ix = s_build(&d, nsub);
            hm_hindex_stats_t st;
            hm_hindex_stats(ix, &st);
            ck_assert_uint_eq(st.code_bits, 64);
            ck_assert_uint_eq(st.sub_bits, 64 / nsub);
            s_check_range(ix, &d, 6, 500 + nsub);
            s_check_knn(ix, &d, 2, 510 + nsub);
            hm_hindex_destroy(&ix);
        }
        s_free(&d);
    }
}
END_TEST

/* ---- one writer, several readers ---------------------------------------- */

typedef struct {
    hm_hindex_t *ix;
    const ds_t *d;
    size_t published; /* rows whose add has returned (atomic) */
    int stop;         /* atomic */
    size_t checks;
    int bad;
} conc_t;

static void *s_reader(void *arg)
{
    conc_t *c = arg;
    hm_hindex_hit_t h[64];
    uint64_t rng = (uint64_t)(uintptr_t)&h;
    while (!__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE)) {
        size_t pub = __atomic_load_n(&c->published, __ATOMIC_ACQUIRE);
        if (pub == 0)
            continue;
        size_t row = tu_rand(&rng) % pub, n = 0;
        const uint64_t *q = c->d->codes + row * 4;
        if (hm_hindex_range(c->ix, q, 4, h, 64, &n) != 0) {
            __atomic_add_fetch(&c->bad, 1, __ATOMIC_RELAXED);
            continue;
        }
        /* the published code must be there, and every hit must be real */
        int seen = 0;
        for (size_t i = 0; i < n && i < 64; i++) {
            size_t r2 = (h[i].id - 3) / 7;
            if (r2 >= c->d->n || s_dist(q, c->d->codes + r2 * 4, 4) != h[i].dist)
                __atomic_add_fetch(&c->bad, 1, __ATOMIC_RELAXED);
            seen |= h[i].id == c->d->ids[row];
        }
        if (!seen && n < 64)
            __atomic_add_fetch(&c->bad, 1, __ATOMIC_RELAXED);
        __atomic_add_fetch(&c->checks, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

START_TEST(test_concurrent_readers_writer)
{
    ds_t d = s_make(15000, 4, 1, 18);
    hm_hindex_t *ix = NULL;
    ck_assert_int_eq(hm_hindex_create(&ix, NULL), 0);
    conc_t c = { .ix = ix, .d = &d };
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, s_reader, &c), 0);
    for (size_t i = 0; i < d.n; i++) {
        ck_assert_int_eq(hm_hindex_add(ix, d.ids[i], d.codes + i * 4), 0);
        __atomic_store_n(&c.published, i + 1, __ATOMIC_RELEASE);
        if (i % 5000 == 4999) /* exercise the swap under readers */
            ck_assert_int_eq(hm_hindex_compact(ix), 0);
    }
    __atomic_store_n(&c.stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    ck_assert_int_eq(c.bad, 0);
    ck_assert_uint_gt(c.checks, 0);
    s_check_range(ix, &d, 3, 600);
    hm_hindex_destroy(&ix);
    s_free(&d);
}
END_TEST

/* ---- FAISS binary wrappers -------------------------------------------- */

static int s_i64_cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* FAISS labels for query q at r must be exactly the brute-force rows. */
static void s_check_faiss_range(FaissIndexBinary *fx, const ds_t *d, const uint64_t *q,
                                unsigned r)
{
    int64_t *lims = NULL, *lab = NULL;
    int32_t *dist = NULL;
    ck_assert_int_eq(hm_faiss_binary_range(fx, 1, (const uint8_t *)q, (int)r, &lims, &lab,
                                           &dist), 0);
    size_t n = (size_t)lims[1], nw = 0;
    int64_t *want = malloc(d->n * sizeof *want);
    for (size_t i = 0; i < d->n; i++)
        if (s_dist(q, d->codes + i * 4, 4) <= r)
            want[nw++] = (int64_t)i;
    for (size_t i = 0; i < n; i++)
        ck_assert_uint_eq((unsigned)dist[i], s_dist(q, d->codes + lab[i] * 4, 4));
    qsort(lab, n, sizeof *lab, s_i64_cmp);
    ck_assert_msg(n == nw, "faiss r=%u: %zu vs brute force %zu", r, n, nw);
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(lab[i], want[i]);
    free(want);
    free(lims);
    free(lab);
    free(dist);
}

START_TEST(test_faiss_binary)
{
    ds_t d = s_make(2000, 4, 1, 19);
    FaissIndexBinary *flat = NULL, *mh = NULL, *hnsw = NULL;
    ck_assert_int_eq(hm_faiss_binary_flat_new(&flat, 256), 0);
    ck_assert_int_eq(hm_faiss_binary_multihash_new(&mh, 256, 16, 16), 0);
    ck_assert_int_eq(hm_faiss_binary_multihash_set_nflip(mh, 1), 0);
    ck_assert_int_eq(hm_faiss_binary_multihash_set_nflip(flat, 1), HM_E_INVAL);
    ck_assert_int_eq(hm_faiss_binary_hnsw_new(&hnsw, 256, 16), 0);
    const uint8_t *x = (const uint8_t *)d.codes;
    ck_assert_int_eq(hm_faiss_binary_add(flat, (int64_t)d.n, x), 0);
    ck_assert_int_eq(hm_faiss_binary_add(mh, (int64_t)d.n, x), 0);
    ck_assert_int_eq(hm_faiss_binary_add(hnsw, (int64_t)d.n, x), 0);
    uint64_t rng = 9, q[4];
    for (int t = 0; t < 8; t++) {
        s_query(&d, q, &rng);
        s_check_faiss_range(flat, &d, q, 0);
        s_check_faiss_range(flat, &d, q, 15);
        s_check_faiss_range(flat, &d, q, 31);
        /* 16 tables x 1 flip: exact up to 16 * 2 - 1 = 31 bits */
        s_check_faiss_range(mh, &d, q, 31);
        /* k-NN distances of the flat index equal brute force */
        int32_t dist[10];
        int64_t lab[10];
        ck_assert_int_eq(hm_faiss_binary_knn(flat, 1, (const uint8_t *)q, 10, dist, lab), 0);
        unsigned *all = malloc(d.n * sizeof *all);
        for (size_t i = 0; i < d.n; i++)
            all[i] = s_dist(q, d.codes + i * 4, 4);
        for (int i = 0; i < 10; i++) {
            unsigned below = 0; /* dist[i] must be the i-th smallest */
            for (size_t j = 0; j < d.n; j++)
                below += all[j] < (unsigned)dist[i];
            ck_assert_uint_le(below, (unsigned)i);
            ck_assert_uint_eq(all[lab[i]], (unsigned)dist[i]);
        }
        free(all);
        /* HNSW is approximate: only check its answers are real */
        ck_assert_int_eq(hm_faiss_binary_knn(hnsw, 1, (const uint8_t *)q, 10, dist, lab), 0);
        for (int i = 0; i < 10; i++)
            if (lab[i] >= 0)
                ck_assert_uint_eq(s_dist(q, d.codes + lab[i] * 4, 4), (unsigned)dist[i]);
    }
    /* an exception crosses the boundary as a code with FAISS's text */
    int64_t *lims = NULL, *lab = NULL;
    ck_assert_int_eq(hm_faiss_binary_range(hnsw, 1, x, 3, &lims, &lab, NULL), HM_E_INDEX);
    ck_assert_ptr_null(lims);
    ck_assert_int_ne(strlen(hm_faiss_binary_last_error()), 0);
    hm_faiss_binary_free(&flat);
    ck_assert_int_eq(hm_faiss_binary_flat_new(&flat, 12), HM_E_INVAL); /* not /8 */
    hm_faiss_binary_free(&hnsw);
    hm_faiss_binary_free(&mh);
    ck_assert_ptr_null(mh);
    ck_assert_ptr_null(flat);
    s_free(&d);
}
END_TEST

Suite *hm_suite_hindex(void)
{
    Suite *s = suite_create("hindex");
    TCase *tc = tcase_create("mih");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_range_exact_random);
    tcase_add_test(tc, test_range_exact_clustered);
    tcase_add_test(tc, test_knn_exact);
    tcase_add_test(tc, test_add_visible_and_errors);
    tcase_add_test(tc, test_remove_and_compact);
    tcase_add_test(tc, test_dihedral_batch);
    tcase_add_test(tc, test_codes64);
    tcase_add_test(tc, test_concurrent_readers_writer);
    suite_add_tcase(s, tc);
    TCase *tf = tcase_create("faiss");
    tcase_set_timeout(tf, 60);
    tcase_add_test(tf, test_faiss_binary);
    suite_add_tcase(s, tf);
    return s;
}
