/*
 * bench_fp.c - per-stage fingerprint timings beside raw libjpeg-turbo.
 *
 * For the conformance bridge image (1600x1004), the 512x512 square and the
 * grocery photos (../shared/datasets/grocery), single-threaded, it reports
 * the per-image median of: raw libjpeg-turbo decode at 1/8 DCT scale
 * (tjDecompress2, the floor), hallmark's decode alone, PDQ (+8 dihedral),
 * pHash+dHash, trim, descriptor, and the whole fingerprint; then the whole
 * fingerprint's throughput with 1 .. 2N threads (--dat FILE: "threads img/s"
 * lines for the report's plot).  Times on a shared machine
 * are noisy: the ratios within one run are the figures to compare.
 *
 *   bench_fp [--quick] [--reps N] [--json FILE] [--dat FILE]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <turbojpeg.h>
#include <unistd.h>

#include "hm_decode.h"
#include "hm_error.h"
#include "hm_fp.h"
#include "hm_simd.h"
#include "hm_util.h"

typedef struct { uint8_t *data; size_t len; } blob_t;

static int s_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double s_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, s_cmp);
    return n ? (n & 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2])) : 0;
}

static int s_read(const char *path, blob_t *b)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    b->data = malloc((size_t)n);
    b->len = fread(b->data, 1, (size_t)n, f);
    fclose(f);
    return b->len == (size_t)n ? 0 : -1;
}

/* Raw libjpeg-turbo: decode to RGB at 1/8 scale (the entropy-decode floor). */
static double s_tj_once(tjhandle tj, const blob_t *b, uint8_t **buf, size_t *cap)
{
    int w, h, ss, cs;
    double t0 = hm_mono_s();
    if (tjDecompressHeader3(tj, b->data, (unsigned long)b->len, &w, &h, &ss, &cs))
        return -1;
    int sw = TJSCALED(w, ((tjscalingfactor){ 1, 8 })), sh = TJSCALED(h, ((tjscalingfactor){ 1, 8 }));
    size_t need = (size_t)sw * sh * 3;
    if (need > *cap) { *buf = realloc(*buf, need); *cap = need; }
    if (tjDecompress2(tj, b->data, (unsigned long)b->len, *buf, sw, 0, sh, TJPF_RGB, 0))
        return -1;
    return hm_mono_s() - t0;
}

typedef struct {
    double raw, decode, pdq, hashes, trim, desc, whole;
} stage_t;

static void s_measure(const char *name, blob_t *set, int n, int reps, FILE *json, int *first)
{
    tjhandle tj = tjInitDecompress();
    hm_fp_ctx_t *ctx;
    hm_fp_ctx_new(&ctx, NULL);
    hm_image_t img = { 0 };
    uint8_t *buf = NULL;
    size_t cap = 0;
    int total = n * reps;
    double *v[7];
    for (int k = 0; k < 7; k++) v[k] = calloc((size_t)total, sizeof(double));
    int m = 0;
    for (int r = 0; r < reps; r++)
        for (int i = 0; i < n; i++, m++) {
            v[0][m] = s_tj_once(tj, &set[i], &buf, &cap);
            double t0 = hm_mono_s();
            hm_decode(set[i].data, set[i].len, NULL, &img);
            v[1][m] = hm_mono_s() - t0;
            hm_fp_t fp;
            t0 = hm_mono_s();
            if (hm_fp_compute(ctx, set[i].data, set[i].len, &fp)) {
                fprintf(stderr, "bench: %s image %d: %s\n", name, i, hm_last_error());
                exit(1);
            }
            v[6][m] = hm_mono_s() - t0;
            const hm_fp_timing_t *t = hm_fp_ctx_timing(ctx);
            v[2][m] = t->pdq_ns * 1e-9;
            v[3][m] = t->hashes_ns * 1e-9;
            v[4][m] = t->trim_ns * 1e-9;
            v[5][m] = t->desc_ns * 1e-9;
        }
    stage_t s = { s_median(v[0], total), s_median(v[1], total), s_median(v[2], total),
                  s_median(v[3], total), s_median(v[4], total), s_median(v[5], total),
                  s_median(v[6], total) };
    printf("| %-22s | %5d | %8.3f | %8.3f | %8.3f | %8.3f | %8.3f | %8.3f | %8.3f | %6.2fx |\n", name,
           total, s.raw * 1e3, s.decode * 1e3, s.pdq * 1e3, s.hashes * 1e3, s.trim * 1e3,
           s.desc * 1e3, s.whole * 1e3, s.whole / s.raw);
    if (json) {
        fprintf(json, "%s\"%s\":{\"n\":%d,\"raw_tj_1_8_ms\":%.4f,\"decode_ms\":%.4f,\"pdq_ms\":%.4f,"
                "\"phash_dhash_ms\":%.4f,\"trim_ms\":%.4f,\"desc_ms\":%.4f,\"whole_ms\":%.4f,"
                "\"whole_over_raw\":%.3f}", *first ? "" : ",", name, total, s.raw * 1e3,
                s.decode * 1e3, s.pdq * 1e3, s.hashes * 1e3, s.trim * 1e3, s.desc * 1e3,
                s.whole * 1e3, s.whole / s.raw);
        *first = 0;
    }
    for (int k = 0; k < 7; k++) free(v[k]);
    free(buf);
    hm_image_release(&img);
    hm_fp_ctx_free(&ctx);
    tjDestroy(tj);
}

typedef struct { blob_t *set; int n, start, step; } job_t;

static void *s_worker(void *arg)
{
    job_t *j = arg;
    hm_fp_ctx_t *ctx;
    hm_fp_ctx_new(&ctx, NULL);
    hm_fp_t fp;
    for (int i = j->start; i < j->n; i += j->step)
        hm_fp_compute(ctx, j->set[i].data, j->set[i].len, &fp);
    hm_fp_ctx_free(&ctx);
    return NULL;
}

static double s_throughput(blob_t *set, int n, int threads)
{
    pthread_t th[64];
    job_t jobs[64];
    double t0 = hm_mono_s();
    for (int t = 0; t < threads; t++) {
        jobs[t] = (job_t){ set, n, t, threads };
        pthread_create(&th[t], NULL, s_worker, &jobs[t]);
    }
    for (int t = 0; t < threads; t++) pthread_join(th[t], NULL);
    return n / (hm_mono_s() - t0);
}

int main(int argc, char **argv)
{
    int quick = 0, reps = 15;
    const char *json_path = NULL, *dat_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) { quick = 1; reps = 5; }
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--json") && i + 1 < argc) json_path = argv[++i];
        else if (!strcmp(argv[i], "--dat") && i + 1 < argc) dat_path = argv[++i];
        else { fprintf(stderr, "usage: bench_fp [--quick] [--reps N] [--json FILE] [--dat FILE]\n"); return 2; }
    }
    const char *shared = getenv("HM_SHARED") ? getenv("HM_SHARED") : "../shared";
    char path[4096];
    blob_t bridge, square;
    snprintf(path, sizeof path, "%s/conformance/pdq/images/bridge-mods/aaa-orig.jpg", shared);
    if (s_read(path, &bridge)) { fprintf(stderr, "bench: cannot read %s\n", path); return 1; }
    snprintf(path, sizeof path, "%s/conformance/pdq/images/bridge-mods/square-512x512.jpg", shared);
    if (s_read(path, &square)) { fprintf(stderr, "bench: cannot read %s\n", path); return 1; }
    /* Grocery: every 4th photo of train.txt (every 20th with --quick). */
    snprintf(path, sizeof path, "%s/datasets/grocery/train.txt", shared);
    FILE *list = fopen(path, "r");
    if (!list) { fprintf(stderr, "bench: cannot read %s\n", path); return 1; }
    blob_t *groc = calloc(4000, sizeof *groc);
    int ng = 0, line = 0, every = quick ? 20 : 4;
    char row[1024];
    while (fgets(row, sizeof row, list) && ng < 4000) {
        if (line++ % every) continue;
        row[strcspn(row, ",")] = '\0';
        snprintf(path, sizeof path, "%s/datasets/grocery/%s", shared, row);
        if (s_read(path, &groc[ng]) == 0) ng++;
    }
    fclose(list);
    FILE *json = json_path ? fopen(json_path, "w") : NULL;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    printf("hallmark fingerprint benchmark: simd=%s, %ld cores, reps=%d, median ms per image\n",
           hm_simd_level_name(hm_simd_level()), ncpu, reps);
    printf("| %-22s | %5s | %8s | %8s | %8s | %8s | %8s | %8s | %8s | %7s |\n", "image", "n",
           "tj 1/8", "decode", "pdq+dih", "ph+dh", "trim", "desc", "whole", "w/tj");
    printf("|------------------------|-------|----------|----------|----------|----------|----------|----------|----------|---------|\n");
    if (json) fprintf(json, "{\"simd\":\"%s\",\"cores\":%ld,\"stages\":{", hm_simd_level_name(hm_simd_level()), ncpu);
    int first = 1;
    s_measure("bridge 1600x1004", &bridge, 1, reps * 4, json, &first);
    s_measure("square 512x512", &square, 1, reps * 4, json, &first);
    s_measure("grocery photos", groc, ng, quick ? 1 : 2, json, &first);
    /* Throughput against threads: 1 .. 2 x cores (past the core count shows
     * what oversubscription costs on a shared machine). */
    int maxt = (int)ncpu * 2 > 64 ? 64 : (int)ncpu * 2;
    double tput[65] = { 0 };
    printf("\n| threads | img/s | speed-up |\n|---:|---:|---:|\n");
    for (int t = 1; t <= maxt; t++) {
        tput[t] = s_throughput(groc, ng, t);
        printf("| %d | %.0f | %.2fx |\n", t, tput[t], tput[t] / tput[1]);
    }
    double t1 = tput[1], tn = tput[ncpu < maxt ? ncpu : maxt];
    printf("\nwhole fingerprint throughput on %d grocery photos: 1 thread %.0f img/s, %ld threads %.0f img/s (%.2fx)\n",
           ng, t1, ncpu, tn, tn / t1);
    if (json) {
        fprintf(json, "},\"throughput\":{\"images\":%d,\"t1\":%.1f,\"tn\":%.1f,\"threads\":%ld,"
                "\"by_threads\":[", ng, t1, tn, ncpu);
        for (int t = 1; t <= maxt; t++)
            fprintf(json, "%s[%d,%.1f]", t > 1 ? "," : "", t, tput[t]);
        fprintf(json, "]}}\n");
        fclose(json);
    }
    if (dat_path) {
        FILE *d = fopen(dat_path, "w");
        for (int t = 1; d && t <= maxt; t++)
            fprintf(d, "%d %.1f\n", t, tput[t]);
        if (d) fclose(d);
    }
    return 0;
}
