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

Suite *hm_suite_vindex(void)
{
    Suite *s = suite_create("vindex");
    TCase *tc = tcase_create("faiss");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_flat);
    tcase_add_test(tc, test_pca);
    tcase_add_test(tc, test_empty_and_bad);
    suite_add_tcase(s, tc);
    return s;
}
