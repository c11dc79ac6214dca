/*
 * bench_search.c - range search at r = 31 over 256-bit PDQ-like codes:
 * hm_hindex (MIH) against FAISS IndexBinaryFlat and IndexBinaryMultiHash,
 * built on the same codes in the same run.
 *
 *   bench_search            sizes 10k, 100k, 1M
 *   bench_search --big      also 10M (about 2 GB of RAM at peak, minutes;
 *                           IndexBinaryMultiHash is skipped there: its
 *                           std::unordered_map tables take several GB)
 *   bench_search --quick    10k and 100k only
 *   --queries N             queries per pass (default 1000)
 *   --size N                only this many references
 *   --nsub M                force M substrings (default: hm_hindex's choice
 *                           from the size: 16 x 16 bits below 4M, 12 x 21/22
 *                           bits from 4M)
 *
 * Single thread throughout (FAISS's OpenMP is pinned to one thread by
 * re-executing with OMP_NUM_THREADS=1 when it is not set).
 *
 * Why the data looks like this: real PDQ copies of one image (re-encodes,
 * resizes, crops, overlays) sit 0..~40 bits from each other, unrelated images
 * near 128.  So: N/10 random 256-bit "image" seeds; 90% of the references are
 * copies of a seed with each bit flipped with probability t/256, t drawn
 * uniformly in [0, 40] per copy; 10% are unrelated random codes.  Queries are
 * 80% fresh copies of a random seed (same law) and 20% unrelated codes.
 * Uniform random seeds are kind to MIH (balanced buckets); real PDQ bits are
 * somewhat correlated, which makes buckets less even.
 *
 * Reported per size and index: build time, queries/s and median / p99
 * latency (the median of 3 passes for throughput), recall against
 * IndexBinaryFlat (exact) on the queries Flat ran, resident memory added by
 * building (VmRSS delta) and bytes per reference, and the throughput ratio to
 * IndexBinaryFlat.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hm_error.h"
#include "hm_faiss_binary.h"
#include "hm_hindex.h"
#include "hm_simd.h"
#include "hm_util.h"

#define RADIUS 31
#define REPS 3

static size_t s_rss(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    size_t kb = 0;
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %zu kB", &kb) == 1)
            break;
    fclose(f);
    return kb * 1024;
}

/* Anonymous memory on transparent huge pages, process-wide. */
static size_t s_thp(void)
{
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    char line[256];
    size_t kb = 0;
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "AnonHugePages: %zu kB", &kb) == 1)
            break;
    fclose(f);
    return kb * 1024;
}

static uint64_t s_rng = 0x2545F4914F6CDD1DULL;
/* A copy of seed: every bit flipped with probability t/256, t ~ U[0, 40]. */
static void s_copy(const uint64_t *seed, uint64_t *out)
{
    uint32_t thr = (uint32_t)((hm_splitmix64(&s_rng) % 41) * 65536 / 256); /* p in 1/65536 */
    for (int w = 0; w < 4; w++) {
        uint64_t flip = 0;
        for (int b = 0; b < 64; b += 4) {
            uint64_t r = hm_splitmix64(&s_rng); /* four 16-bit draws */
            for (int k = 0; k < 4; k++)
                flip |= (uint64_t)(((r >> (16 * k)) & 0xffff) < thr) << (b + k);
        }
        out[w] = seed[w] ^ flip;
    }
}

static void s_gen(uint64_t *codes, size_t n, const uint64_t *seeds, size_t nseed,
                  int copy_pct)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t *c = codes + 4 * i;
        if ((int)(hm_splitmix64(&s_rng) % 100) < copy_pct)
            s_copy(seeds + 4 * (hm_splitmix64(&s_rng) % nseed), c);
        else
            for (int w = 0; w < 4; w++)
                c[w] = hm_splitmix64(&s_rng);
    }
}

typedef struct {
    const char *name;
    double build_s, qps, p50_us, p99_us, recall;
    size_t rss, bytes_acct;
    double hits;
    int ok;
} row_t;

static int s_dcmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Latencies of one pass -> p50, p99; returns the pass's queries/s. */
static double s_pass_stats(double *lat, size_t nq, double total, double *p50, double *p99)
{
    qsort(lat, nq, sizeof *lat, s_dcmp);
    *p50 = lat[nq / 2] * 1e6;
    *p99 = lat[(size_t)((double)nq * 0.99)] * 1e6;
    return (double)nq / total;
}

static void s_median_of(double *qps, double *p50, double *p99, row_t *r)
{
    /* REPS passes: report the pass with the median throughput */
    int idx[REPS] = { 0, 1, 2 };
    for (int i = 0; i < REPS; i++)
        for (int j = i + 1; j < REPS; j++)
            if (qps[idx[j]] < qps[idx[i]]) {
                int t = idx[i];
                idx[i] = idx[j];
                idx[j] = t;
            }
    int m = idx[REPS / 2];
    r->qps = qps[m];
    r->p50_us = p50[m];
    r->p99_us = p99[m];
}

/* Ground truth from Flat: sorted label lists per query. */
typedef struct {
    size_t nq;
    int64_t *lims, *labels;
} truth_t;

static int s_i64cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static size_t s_overlap(const int64_t *want, size_t nw, int64_t *got, size_t ng)
{
    qsort(got, ng, sizeof *got, s_i64cmp);
    size_t i = 0, j = 0, k = 0;
    while (i < nw && j < ng) {
        if (want[i] == got[j])
            k++, i++, j++;
        else if (want[i] < got[j])
            i++;
        else
            j++;
    }
    return k;
}

static void s_print(size_t n, const row_t *r, double flat_qps, double flat_p50)
{
    printf("%9zu  %-16s %8.2f %10.0f %9.1f %9.1f %7.4f %9.1f %7.1f %8.1fx %8.1fx %6.1f\n", n,
           r->name, r->build_s, r->qps, r->p50_us, r->p99_us, r->recall,
           (double)r->rss / 1048576.0, (double)r->rss / (double)n,
           flat_qps > 0 ? r->qps / flat_qps : 0.0, r->p50_us > 0 ? flat_p50 / r->p50_us : 0.0,
           r->hits);
}

static unsigned s_nsub; /* --nsub: 0 = the index's own choice */

static int s_run_size(size_t n, size_t nq)
{
    int rc = 0;
    size_t nseed = n / 10 + 1;
    uint64_t *seeds = malloc(nseed * 32), *codes = malloc(n * 32), *qs = malloc(nq * 32);
    double *lat = malloc(nq * sizeof *lat);
    int64_t *got = malloc(n * sizeof *got);
    hm_hindex_hit_t *hits = malloc(n * sizeof *hits);
    truth_t tr = { 0 };
    hm_hindex_t *ix = NULL;
    FaissIndexBinary *fx = NULL;
    row_t rows[3] = { { .name = "IndexBinaryFlat" }, { .name = "MultiHash16x16f1" },
                      { .name = "hm_hindex MIH" } };
    if (!seeds || !codes || !qs || !lat || !got || !hits) {
        fprintf(stderr, "bench_search: out of memory for n=%zu\n", n);
        rc = HM_E_NOMEM;
        goto leave;
    }
    for (size_t i = 0; i < nseed * 4; i++)
        seeds[i] = hm_splitmix64(&s_rng);
    s_gen(codes, n, seeds, nseed, 90);
    s_gen(qs, nq, seeds, nseed, 80);
    /* Flat is slow at large n: fewer queries keep the run short */
    size_t nq_flat = n <= 100000 ? nq : (size_t)(2e8 / (double)n);
    if (nq_flat < 50)
        nq_flat = 50;
    if (nq_flat > nq)
        nq_flat = nq;
    tr.nq = nq_flat;

    /* ---- IndexBinaryFlat: also the ground truth ---- */
    for (int kind = 0; kind < (n > 1000000 ? 1 : 2); kind++) {
        row_t *r = &rows[kind];
        size_t nqk = kind == 0 ? nq_flat : nq;
        malloc_trim(0);
        size_t rss0 = s_rss();
        double t0 = hm_mono_s();
        rc = kind == 0 ? hm_faiss_binary_flat_new(&fx, 256)
                       : hm_faiss_binary_multihash_new(&fx, 256, 16, 16);
        if (!rc && kind == 1)
            rc = hm_faiss_binary_multihash_set_nflip(fx, 1); /* exact to 31 bits */
        if (!rc)
            rc = hm_faiss_binary_add(fx, (int64_t)n, (const uint8_t *)codes);
        if (rc) {
            fprintf(stderr, "bench_search: %s: %s\n", r->name, hm_faiss_binary_last_error());
            goto leave;
        }
        r->build_s = hm_mono_s() - t0;
        r->rss = s_rss() - rss0;
        double qps[REPS], p50[REPS], p99[REPS];
        size_t found = 0, want = 0, total_hits = 0;
        for (int rep = 0; rep < REPS; rep++) {
            double tp = hm_mono_s();
            for (size_t i = 0; i < nqk; i++) {
                int64_t *lims = NULL, *lab = NULL;
                double tq = hm_mono_s();
                rc = hm_faiss_binary_range(fx, 1, (const uint8_t *)(qs + 4 * i), RADIUS, &lims,
                                           &lab, NULL);
                lat[i] = hm_mono_s() - tq;
                if (rc) {
                    fprintf(stderr, "bench_search: %s\n", hm_faiss_binary_last_error());
                    goto leave;
                }
                size_t nh = (size_t)lims[1];
                if (rep == 0 && kind == 0) { /* keep as truth, sorted */
                    qsort(lab, nh, sizeof *lab, s_i64cmp);
                    tr.lims = realloc(tr.lims, (i + 2) * sizeof *tr.lims);
                    if (i == 0)
                        tr.lims[0] = 0;
                    tr.lims[i + 1] = tr.lims[i] + (int64_t)nh;
                    tr.labels = realloc(tr.labels, ((size_t)tr.lims[i + 1] + 1) * 8);
                    memcpy(tr.labels + tr.lims[i], lab, nh * 8);
                } else if (rep == 0 && i < tr.nq) {
                    size_t nw = (size_t)(tr.lims[i + 1] - tr.lims[i]);
                    found += s_overlap(tr.labels + tr.lims[i], nw, lab, nh);
                    want += nw;
                }
                if (rep == 0)
                    total_hits += nh;
                free(lims);
                free(lab);
            }
            qps[rep] = s_pass_stats(lat, nqk, hm_mono_s() - tp, &p50[rep], &p99[rep]);
        }
        s_median_of(qps, p50, p99, r);
        r->recall = kind == 0 ? 1.0 : want ? (double)found / (double)want : 1.0;
        r->hits = (double)total_hits / (double)nqk;
        r->ok = 1;
        hm_faiss_binary_free(&fx);
    }

    /* ---- hm_hindex ---- */
    {
        row_t *r = &rows[2];
        malloc_trim(0);
        size_t rss0 = s_rss();
        double t0 = hm_mono_s();
        hm_hindex_opts_t o = { .code_bits = 256, .nsub = s_nsub, .expected_n = n };
        if ((rc = hm_hindex_create(&ix, &o)))
            goto leave;
        for (size_t i = 0; i < n; i++)
            if ((rc = hm_hindex_add(ix, i, codes + 4 * i))) {
                fprintf(stderr, "bench_search: add: %s\n", hm_last_error());
                goto leave;
            }
        r->build_s = hm_mono_s() - t0;
        r->rss = s_rss() - rss0;
        hm_hindex_stats_t st;
        hm_hindex_stats(ix, &st);
        size_t thp = s_thp();
        r->bytes_acct = st.bytes;
        double qps[REPS], p50[REPS], p99[REPS];
        size_t found = 0, want = 0, total_hits = 0;
        for (int rep = 0; rep < REPS; rep++) {
            double tp = hm_mono_s();
            for (size_t i = 0; i < nq; i++) {
                size_t nh = 0;
                double tq = hm_mono_s();
                rc = hm_hindex_range(ix, qs + 4 * i, RADIUS, hits, n, &nh);
                lat[i] = hm_mono_s() - tq;
                if (rc) {
                    fprintf(stderr, "bench_search: range: %s\n", hm_last_error());
                    goto leave;
                }
                if (rep == 0) {
                    total_hits += nh;
                    if (i < tr.nq) {
                        for (size_t h = 0; h < nh; h++)
                            got[h] = (int64_t)hits[h].id;
                        size_t nw = (size_t)(tr.lims[i + 1] - tr.lims[i]);
                        found += s_overlap(tr.labels + tr.lims[i], nw, got, nh);
                        want += nw;
                    }
                }
            }
            qps[rep] = s_pass_stats(lat, nq, hm_mono_s() - tp, &p50[rep], &p99[rep]);
        }
        s_median_of(qps, p50, p99, r);
        r->recall = want ? (double)found / (double)want : 1.0;
        r->hits = (double)total_hits / (double)nq;
        r->ok = 1;
        hm_hindex_destroy(&ix);
        printf("# n=%zu hm_hindex: nsub=%u x %u bits, accounted %.1f MB = %.1f B/ref, "
               "on huge pages %.0f MB\n", n, st.nsub, st.sub_bits,
               (double)st.bytes / 1048576.0, (double)st.bytes / (double)n,
               (double)thp / 1048576.0);
    }
    for (int k = 0; k < 3; k++)
        if (rows[k].ok)
            s_print(n, &rows[k], rows[0].qps, rows[0].p50_us);
    printf("# n=%zu: Flat ran %zu queries (recall truth), MultiHash and MIH %zu\n", n, nq_flat,
           nq);
    fflush(stdout);
leave:
    hm_hindex_destroy(&ix);
    hm_faiss_binary_free(&fx);
    free(tr.lims);
    free(tr.labels);
    free(seeds);
    free(codes);
    free(qs);
    free(lat);
    free(got);
    free(hits);
    return rc;
}

int main(int argc, char **argv)
{
    int big = 0, quick = 0;
    size_t only = 0;
    size_t nq = 1000;
    if (!getenv("OMP_NUM_THREADS")) { /* libgomp reads it at load time */
        setenv("OMP_NUM_THREADS", "1", 1);
        execv("/proc/self/exe", argv);
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--big") == 0)
            big = 1;
        else if (strcmp(argv[i], "--quick") == 0)
            quick = 1;
        else if (strcmp(argv[i], "--queries") == 0 && i + 1 < argc)
            nq = strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--nsub") == 0 && i + 1 < argc)
            s_nsub = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--size") == 0 && i + 1 < argc)
            only = strtoul(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "usage: %s [--big] [--quick] [--queries N] [--size N] [--nsub M]\n", argv[0]);
            return 2;
        }
    }
    if (nq < 10)
        nq = 10;
    size_t sizes[] = { 10000, 100000, 1000000, 10000000 };
    int nsizes = quick ? 2 : big ? 4 : 3;
    printf("# bench_search: range search r=%d, 256-bit codes, single thread, simd=%s, "
           "OMP_NUM_THREADS=%s\n", RADIUS, hm_kernels()->name, getenv("OMP_NUM_THREADS"));
    printf("# data: N/10 random seeds; refs 90%% seed copies (each bit flipped w.p. t/256, "
           "t~U[0,40]) + 10%% unrelated random (~128 bits away);\n"
           "#       queries 80%% fresh seed copies + 20%% unrelated.  qps/latency: median of %d "
           "passes; recall vs IndexBinaryFlat.\n", REPS);
    printf("# %7s  %-16s %8s %10s %9s %9s %7s %9s %7s %9s %9s %6s\n", "refs", "index",
           "build_s", "qps", "p50_us", "p99_us", "recall", "rss_MB", "B/ref", "qps/flat",
           "p50:flat", "hits/q");
    printf("# qps/flat = throughput ratio to IndexBinaryFlat; p50:flat = Flat's median latency "
           "over this one's (robust when the machine is shared)\n");
    if (only)
        return s_run_size(only, nq) ? 1 : 0;
    for (int s = 0; s < nsizes; s++)
        if (s_run_size(sizes[s], nq))
            return 1;
    return 0;
}
