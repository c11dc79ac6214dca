/*
 * test_simd.c - every kernel at every level this machine supports agrees with
 * its scalar twin on random inputs: bit-exact for the integer and element-wise
 * kernels, within a stated tolerance for the reductions (see hm_simd.h).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hm_simd.h"
#include "test_util.h"

static const hm_kernels_t *S;

static void s_setup(void) { S = hm_kernels_for(HM_SIMD_SCALAR); }

static float s_randf(uint64_t *st) { return (float)((tu_rand(st) >> 40) / (double)(1 << 24)) * 2.0f - 1.0f; }

/* Every level from scalar up to the best the CPU has; at least the scalar one. */
#define FOR_LEVELS(K)                                                           \
    for (int lv_ = 0; lv_ <= hm_simd_best_level(); lv_++)                      \
        for (const hm_kernels_t *K = hm_kernels_for(lv_); K; K = NULL)

START_TEST(test_levels_detected)
{
    ck_assert_int_ge(hm_simd_best_level(), HM_SIMD_SCALAR);
    ck_assert_ptr_nonnull(hm_kernels());
    ck_assert_ptr_null(hm_kernels_for(HM_SIMD_NLEVELS));
    ck_assert_str_eq(hm_kernels_for(HM_SIMD_SCALAR)->name, "scalar");
    /* The table in use never exceeds what the machine supports. */
    ck_assert_int_le(hm_simd_level(), hm_simd_best_level());
}
END_TEST

START_TEST(test_hamming)
{
    uint64_t st = 42;
    for (int rep = 0; rep < 50; rep++) {
        size_t n = 1 + tu_rand(&st) % 300;
        uint64_t q[4], *codes = malloc(n * 32), *c64 = malloc(n * 8);
        uint16_t *want = malloc(n * 2), *got = malloc(n * 2), *want64 = malloc(n * 2);
        for (int i = 0; i < 4; i++) q[i] = tu_rand(&st);
        for (size_t i = 0; i < n * 4; i++) codes[i] = tu_rand(&st) & (rep & 1 ? tu_rand(&st) : ~0ULL);
        for (size_t i = 0; i < n; i++) c64[i] = tu_rand(&st);
        S->hamming256_many(q, codes, n, want);
        S->hamming64_many(q[0], c64, n, want64);
        /* The scalar twin itself against a direct definition. */
        for (size_t i = 0; i < n; i++) {
            int d = 0;
            for (int w = 0; w < 4; w++) d += __builtin_popcountll(q[w] ^ codes[4 * i + w]);
            ck_assert_int_eq(want[i], d);
            ck_assert_int_eq(want64[i], __builtin_popcountll(q[0] ^ c64[i]));
        }
        FOR_LEVELS(K) {
            memset(got, 0xff, n * 2);
            K->hamming256_many(q, codes, n, got);
            ck_assert_msg(memcmp(got, want, n * 2) == 0, "%s hamming256_many n=%zu", K->name, n);
            for (size_t i = 0; i < n; i++)
                ck_assert_uint_eq(K->hamming256(q, codes + 4 * i), want[i]);
            K->hamming64_many(q[0], c64, n, got);
            ck_assert_msg(memcmp(got, want64, n * 2) == 0, "%s hamming64_many", K->name);
        }
        free(codes); free(c64); free(want); free(got); free(want64);
    }
}
END_TEST

/* The arg-min over the block layout and the within-distance filter, against
 * hamming256_many + a first-minimum loop / a threshold loop.  Codes are drawn
 * from a few bases so equal distances (ties) are common. */
START_TEST(test_hamming_argmin_within)
{
    uint64_t st = 4242;
    for (int rep = 0; rep < 200; rep++) {
        size_t n = 1 + tu_rand(&st) % 1100;
        size_t nblk = (n + 7) / 8;
        uint64_t q[4], base[3][4], *codes = malloc(n * 32), *t8 = malloc(nblk * 256);
        uint16_t *dist = malloc(n * 2), *gd = malloc(n * 2), *wd = malloc(n * 2);
        uint32_t *gi = malloc(n * 4), *wi = malloc(n * 4);
        for (int i = 0; i < 4; i++) q[i] = tu_rand(&st);
        for (int b = 0; b < 3; b++)
            for (int i = 0; i < 4; i++) base[b][i] = tu_rand(&st);
        for (size_t i = 0; i < n; i++)
            for (int w = 0; w < 4; w++)
                codes[4 * i + w] = rep % 3 == 0 ? tu_rand(&st)
                                                : base[tu_rand(&st) % 3][w] ^ (1ULL << (tu_rand(&st) % 4));
        ck_assert_uint_eq(hm_hamming256_blocks8(codes, n, t8), nblk);
        S->hamming256_many(q, codes, n, dist);
        uint32_t want = 0;
        for (size_t i = 1; i < n; i++)
            if (dist[i] < dist[want]) want = (uint32_t)i;
        uint32_t maxd = (uint32_t)(tu_rand(&st) % 257);
        size_t wn = 0;
        for (size_t i = 0; i < n; i++)
            if (dist[i] <= maxd) wi[wn] = (uint32_t)i, wd[wn++] = dist[i];
        FOR_LEVELS(K) {
            uint16_t dm = 0xffff;
            uint32_t got = K->hamming256_argmin8(q, t8, nblk, &dm);
            ck_assert_msg(got == want && dm == dist[want], "%s argmin8 n=%zu: %u/%u want %u/%u",
                          K->name, n, got, dm, want, dist[want]);
            size_t gn = K->hamming256_within(q, codes, n, maxd, gi, gd);
            ck_assert_msg(gn == wn && !memcmp(gi, wi, wn * 4) && !memcmp(gd, wd, wn * 2),
                          "%s within n=%zu maxd=%u: %zu want %zu", K->name, n, maxd, gn, wn);
        }
        free(codes); free(t8); free(dist); free(gd); free(wd); free(gi); free(wi);
    }
}
END_TEST

START_TEST(test_luma_axpy_energy)
{
    uint64_t st = 7;
    for (int rep = 0; rep < 30; rep++) {
        size_t n = 1 + tu_rand(&st) % 700;
        uint8_t *rgb = malloc(3 * n);
        float *a = malloc(4 * n), *b = malloc(4 * n), *x = malloc(4 * n), *y = malloc(4 * n);
        float *e1 = malloc(32 * n), *e2 = malloc(32 * n), *acc1 = malloc(4 * n), *acc2 = malloc(4 * n);
        for (size_t i = 0; i < 3 * n; i++) rgb[i] = (uint8_t)tu_rand(&st);
        for (size_t i = 0; i < n; i++) { x[i] = s_randf(&st) * 100; y[i] = s_randf(&st) * 100; acc1[i] = s_randf(&st); }
        float w = s_randf(&st);
        S->rgb_to_luma(rgb, n, a);
        S->orient_energy(x, y, n, e1);
        FOR_LEVELS(K) {
            K->rgb_to_luma(rgb, n, b);
            ck_assert_msg(memcmp(a, b, 4 * n) == 0, "%s rgb_to_luma n=%zu", K->name, n);
            K->orient_energy(x, y, n, e2);
            ck_assert_msg(memcmp(e1, e2, 32 * n) == 0, "%s orient_energy", K->name);
            memcpy(acc2, acc1, 4 * n);
            float *ref = malloc(4 * n);
            memcpy(ref, acc1, 4 * n);
            S->axpy(ref, x, w, n);
            K->axpy(acc2, x, w, n);
            ck_assert_msg(memcmp(ref, acc2, 4 * n) == 0, "%s axpy", K->name);
            free(ref);
        }
        /* Luma of pure white is 255 within float rounding. */
        uint8_t white[3] = { 255, 255, 255 };
        float yw;
        S->rgb_to_luma(white, 1, &yw);
        ck_assert_float_eq_tol(yw, 255.0f, 1e-3f);
        free(rgb); free(a); free(b); free(x); free(y); free(e1); free(e2); free(acc1); free(acc2);
    }
}
END_TEST

START_TEST(test_dot_matmul_threshold)
{
    uint64_t st = 99;
    for (int rep = 0; rep < 20; rep++) {
        int m = 1 + (int)(tu_rand(&st) % 20), k = 1 + (int)(tu_rand(&st) % 70);
        int n = 16 * (1 + (int)(tu_rand(&st) % 4));
        float *A = malloc(sizeof(float) * m * k), *B = malloc(sizeof(float) * k * n);
        float *C1 = malloc(sizeof(float) * m * n), *C2 = malloc(sizeof(float) * m * n);
        for (int i = 0; i < m * k; i++) A[i] = s_randf(&st);
        for (int i = 0; i < k * n; i++) B[i] = s_randf(&st) * 255;
        S->matmul(A, B, C1, m, k, n);
        /* Scalar matmul against the definition. */
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) {
                double s = 0, mag = 0;
                for (int t = 0; t < k; t++) { s += (double)A[i * k + t] * B[t * n + j]; mag += fabs((double)A[i * k + t] * B[t * n + j]); }
                ck_assert_msg(fabs(C1[i * n + j] - s) <= 1e-5 * mag + 1e-6, "scalar matmul");
            }
        FOR_LEVELS(K) {
            K->matmul(A, B, C2, m, k, n);
            ck_assert_msg(memcmp(C1, C2, sizeof(float) * m * n) == 0, "%s matmul is bit-exact", K->name);
            size_t len = (size_t)k * n;
            float d1 = S->dot(B, B, len), d2 = K->dot(B, B, len);
            ck_assert_msg(fabsf(d1 - d2) <= 1e-5f * fabsf(d1) + 1e-6f, "%s dot %g vs %g", K->name, d1, d2);
            uint64_t bits1[20], bits2[20]; /* m * n <= 20 * 64 */
            size_t tn = (size_t)((m * n) / 64) * 64;
            if (tn) {
                S->threshold_bits(C1, tn, 0.1f, bits1);
                K->threshold_bits(C1, tn, 0.1f, bits2);
                ck_assert_msg(memcmp(bits1, bits2, tn / 8) == 0, "%s threshold_bits", K->name);
                for (size_t i = 0; i < tn; i++)
                    ck_assert_int_eq((int)((bits1[i / 64] >> (i % 64)) & 1), C1[i] > 0.1f);
            }
        }
        free(A); free(B); free(C1); free(C2);
    }
}
END_TEST

START_TEST(test_env_forces_level)
{
    /* The level name table round-trips; forcing is exercised by the suite
     * being run under HM_SIMD=scalar in `make test-simd-levels`. */
    for (int i = 0; i < HM_SIMD_NLEVELS; i++)
        ck_assert_str_ne(hm_simd_level_name(i), "unknown");
    const char *env = getenv("HM_SIMD");
    if (env && strcmp(env, "scalar") == 0)
        ck_assert_int_eq(hm_simd_level(), HM_SIMD_SCALAR);
}
END_TEST

Suite *hm_suite_simd(void)
{
    Suite *s = suite_create("simd");
    TCase *tc = tcase_create("kernels");
    tcase_add_checked_fixture(tc, s_setup, NULL);
    tcase_add_test(tc, test_levels_detected);
    tcase_add_test(tc, test_hamming);
    tcase_add_test(tc, test_hamming_argmin_within);
    tcase_add_test(tc, test_luma_axpy_energy);
    tcase_add_test(tc, test_dot_matmul_threshold);
    tcase_add_test(tc, test_env_forces_level);
    suite_add_tcase(s, tc);
    return s;
}
