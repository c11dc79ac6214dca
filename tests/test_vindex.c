/* test_vindex.c - descriptor search: flat and PCA-whitened, add/remove, snapshot. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hm_error.h"
#include "hm_vindex.h"
#include "test_util.h"

enum { D = 304 };

static void s_rand_unit(uint64_t *st, float *v)
{
    double n = 0;
    for (int i = 0; i < D; i++) {
        v[i] = (float)((double)(tu_rand(st) >> 11) / (double)(1ULL << 53) - 0.5);
        n += (double)v[i] * v[i];
    }
    for (int i = 0; i < D; i++) v[i] /= (float)sqrt(n);
}

static void s_check_self(size_t n, const char *want_type)
{
    uint64_t st = n;
    float *x = malloc(sizeof(float) * D * n);
    int64_t *ids = malloc(sizeof(int64_t) * n);
    for (size_t i = 0; i < n; i++) { s_rand_unit(&st, x + i * D); ids[i] = (int64_t)(1000 + i); }
    hm_vindex_opts_t o = { .dim = D };
    hm_vindex_t *v;
    ck_assert_int_eq(hm_vindex_build(&v, &o, x, ids, n), 0);
    ck_assert_str_eq(hm_vindex_describe(v), want_type);
    ck_assert_uint_eq(hm_vindex_count(v), n);
    float sims[5];
    int64_t got[5];
    int found;
    int hits = 0, queries = 0;
    for (size_t i = 0; i < n; i += n / 50 + 1) {
        /* A slightly perturbed copy still finds its source first. */
        float q[D];
        memcpy(q, x + i * D, sizeof q);
        for (int d = 0; d < D; d += 17) q[d] += 0.01f;
        ck_assert_int_eq(hm_vindex_search(v, q, 5, sims, got, &found), 0);
        ck_assert_int_eq(found, 5);
        hits += got[0] == ids[i];
        queries++;
        ck_assert(sims[0] >= sims[1]);
    }
    /* Flat search is exact; PCA-whitened search may lose a few. */
    ck_assert_int_ge(hits * 10, queries * 9);
    /* Remove and add are visible at once. */
    ck_assert_int_eq(hm_vindex_remove(v, ids[0]), 0);
    ck_assert_int_eq(hm_vindex_remove(v, ids[0]), HM_E_NOTFOUND);
    ck_assert_int_eq(hm_vindex_search(v, x, 1, sims, got, &found), 0);
    ck_assert(got[0] != ids[0]);
    ck_assert_int_eq(hm_vindex_add(v, x, 7), 0);
    ck_assert_int_eq(hm_vindex_search(v, x, 1, sims, got, &found), 0);
    ck_assert_int_eq(got[0], 7);
    ck_assert_float_ge(sims[0], 0.99f);
    /* Snapshot round trip. */
    char *dir = tu_tmpdir();
    char path[4096];
    snprintf(path, sizeof path, "%s/v.faiss", dir);
    ck_assert_int_eq(hm_vindex_save(v, path), 0);
    hm_vindex_t *w;
    ck_assert_int_eq(hm_vindex_load(&w, &o, path), 0);
    ck_assert_uint_eq(hm_vindex_count(w), n);
    ck_assert_int_eq(hm_vindex_search(w, x, 1, sims, got, &found), 0);
    ck_assert_int_eq(got[0], 7);
    hm_vindex_free(&w);
    /* A corrupt or foreign file is refused, not trusted. */
    FILE *f = fopen(path, "r+b");
    fseek(f, 0, SEEK_SET);
    fwrite("garbage!", 1, 8, f);
    fclose(f);
    ck_assert_int_eq(hm_vindex_load(&w, &o, path), HM_E_CORRUPT);
    ck_assert_ptr_null(w);
    f = fopen(path, "w");
    fclose(f);
    ck_assert_int_eq(hm_vindex_load(&w, &o, path), HM_E_CORRUPT);
    hm_vindex_opts_t o2 = { .dim = 16 };
    ck_assert_int_eq(hm_vindex_save(v, path), 0);
    ck_assert_int_eq(hm_vindex_load(&w, &o2, path), HM_E_CORRUPT);
    tu_rmtree(dir);
    free(dir);
    hm_vindex_free(&v);
    ck_assert_ptr_null(v);
    free(x);
    free(ids);
}

START_TEST(test_flat) { s_check_self(300, "IDMap2,Flat"); }
END_TEST
START_TEST(test_pca) { s_check_self(2500, "IDMap2,PCAW128,L2norm,Flat"); }
END_TEST

START_TEST(test_empty_and_bad)
{
    hm_vindex_opts_t o = { .dim = D };
    hm_vindex_t *v;
    ck_assert_int_eq(hm_vindex_build(&v, &o, NULL, NULL, 0), 0);
    float q[D] = { 1 }, sims[3];
    int64_t ids[3];
    int found = -1;
    ck_assert_int_eq(hm_vindex_search(v, q, 3, sims, ids, &found), 0);
    ck_assert_int_eq(found, 0);
    ck_assert_int_eq(hm_vindex_search(v, q, 0, sims, ids, &found), HM_E_INVAL);
    hm_vindex_free(&v);
    hm_vindex_opts_t bad = { .dim = 0 };
    ck_assert_int_eq(hm_vindex_build(&v, &bad, NULL, NULL, 0), HM_E_INVAL);
    hm_vindex_opts_t weird = { .dim = D, .factory = "NoSuchIndex" };
    ck_assert_int_eq(hm_vindex_build(&v, &weird, NULL, NULL, 0), HM_E_INDEX);
}
END_TEST

/* A bank that grows past pca_min_refs by adds is rebuilt as the larger type;
 * a snapshot keeps its type in a sidecar, and one without a readable type
 * counts as due for a rebuild. */
START_TEST(test_outgrown_rebuild_sidecar)
{
    enum { N = 400 };
    uint64_t st = 99;
    float *x = malloc(sizeof(float) * D * N);
    int64_t ids[N];
    for (int i = 0; i < N; i++) { s_rand_unit(&st, x + (size_t)i * D); ids[i] = 50 + i; }
    hm_vindex_opts_t o = { .dim = D, .pca_min_refs = 200 };
    hm_vindex_t *v;
    ck_assert_int_eq(hm_vindex_build(&v, &o, NULL, NULL, 0), 0);
    ck_assert_str_eq(hm_vindex_describe(v), "IDMap2,Flat");
    ck_assert_int_eq(hm_vindex_outgrown(v), 0);
    for (int i = 0; i < 150; i++)
        ck_assert_int_eq(hm_vindex_add(v, x + (size_t)i * D, ids[i]), 0);
    ck_assert_int_eq(hm_vindex_outgrown(v), 0); /* grew, but still the flat type's size */
    for (int i = 150; i < N; i++)
        ck_assert_int_eq(hm_vindex_add(v, x + (size_t)i * D, ids[i]), 0);
    ck_assert_int_eq(hm_vindex_outgrown(v), 1);
    ck_assert_int_eq(hm_vindex_rebuild(v, x, ids, N), 0);
    ck_assert_str_eq(hm_vindex_describe(v), "IDMap2,PCAW128,L2norm,Flat");
    ck_assert_uint_eq(hm_vindex_count(v), N);
    ck_assert_int_eq(hm_vindex_outgrown(v), 0);
    float sims[2];
    int64_t got[2];
    int found, hits = 0;
    for (int i = 0; i < N; i += 7) {
        ck_assert_int_eq(hm_vindex_search(v, x + (size_t)i * D, 2, sims, got, &found), 0);
        hits += got[0] == ids[i];
    }
    ck_assert_int_ge(hits, 55); /* of 58 */
    ck_assert_int_eq(hm_vindex_rebuild(NULL, x, ids, N), HM_E_INVAL);

    char *dir = tu_tmpdir();
    char path[4096], tpath[4200];
    snprintf(path, sizeof path, "%s/v.faiss", dir);
    snprintf(tpath, sizeof tpath, "%s.type", path);
    ck_assert_int_eq(hm_vindex_save(v, path), 0);
    hm_vindex_t *w;
    ck_assert_int_eq(hm_vindex_load(&w, &o, path), 0);
    ck_assert_str_eq(hm_vindex_describe(w), "IDMap2,PCAW128,L2norm,Flat");
    ck_assert_int_eq(hm_vindex_outgrown(w), 0);
    hm_vindex_free(&w);
    /* broken, hostile, empty or missing sidecars: the type is unknown */
    const char *bad[] = { "garbage\n", "IDMap2,", "", "IDMap2,Flat" };
    for (int k = 0; k < 5; k++) {
        FILE *f;
        if (k < 3) {
            f = fopen(tpath, "w");
            fputs(bad[k], f);
            fclose(f);
        } else if (k == 3) { /* a line far longer than any factory string */
            f = fopen(tpath, "w");
            fputs("IDMap2,", f);
            for (int i = 0; i < 100000; i++) fputc('P', f);
            fclose(f);
        } else {
            remove(tpath);
        }
        ck_assert_int_eq(hm_vindex_load(&w, &o, path), 0);
        ck_assert_uint_eq(hm_vindex_count(w), N);
        if (k == 0 || k == 2 || k == 4) {
            ck_assert_str_eq(hm_vindex_describe(w), "loaded");
            ck_assert_int_eq(hm_vindex_outgrown(w), 1);
        }
        hm_vindex_free(&w);
    }
    tu_rmtree(dir);
    free(dir);
    hm_vindex_free(&v);
    free(x);
}
END_TEST

Suite *hm_suite_vindex(void)
{
    Suite *s = suite_create("vindex");
    TCase *tc = tcase_create("faiss");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_flat);
    tcase_add_test(tc, test_pca);
    tcase_add_test(tc, test_empty_and_bad);
    tcase_add_test(tc, test_outgrown_rebuild_sidecar);
    suite_add_tcase(s, tc);
    return s;
}
