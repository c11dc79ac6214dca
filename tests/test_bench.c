/*
 * test_bench.c - the benchmark harness cannot rot: the metric code on
 * hand-made rankings with known answers, and a smoke run of the
 * copy-detection generator on a handful of grocery photos (every family
 * renders and decodes, rendering is deterministic, exact re-encodes are found).
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <vips/vips.h>

#include "bench_gen.h"
#include "bench_metrics.h"
#include "hm_decode.h"
#include "hm_fp.h"
#include "test_util.h"

START_TEST(test_metrics_known_ap)
{
    /* correct, wrong, correct, correct; 5 positives in all (one never predicted).
     * AP = (1/1 + 2/3 + 3/4) / 5; at P >= 0.999 only the first is admitted. */
    hmb_pred_t p[] = { { 0.6, 1 }, { 0.9, 1 }, { 0.7, 1 }, { 0.8, 0 } };
    hmb_metrics_t m;
    hmb_metrics_compute(p, 4, 5, 0.999, &m);
    ck_assert_double_eq_tol(m.ap, (1.0 + 2.0 / 3 + 0.75) / 5, 1e-12);
    ck_assert_double_eq_tol(m.recall_at_p, 0.2, 1e-12);
    ck_assert_double_eq_tol(m.thr_at_p, 0.9, 1e-12);
    ck_assert_int_eq(m.n_pts, 4);
    ck_assert_double_eq_tol(m.recall[3], 0.6, 1e-12);
    double prec, rec;
    hmb_metrics_at(p, 4, 5, 0.65, &prec, &rec);
    ck_assert_double_eq_tol(prec, 2.0 / 3, 1e-12);
    ck_assert_double_eq_tol(rec, 0.4, 1e-12);
}
END_TEST

START_TEST(test_metrics_ties_are_blocks)
{
    /* Three predictions tie at distance 5 (score -5), one of them wrong: the
     * block is admitted whole or not at all, so P >= 0.999 stops above it. */
    hmb_pred_t p[] = { { -2, 1 }, { -5, 1 }, { -5, 0 }, { -5, 1 }, { -9, 0 } };
    hmb_metrics_t m;
    hmb_metrics_compute(p, 5, 4, 0.999, &m);
    ck_assert_double_eq_tol(m.recall_at_p, 0.25, 1e-12);
    ck_assert_double_eq_tol(m.thr_at_p, -2, 1e-12);
    ck_assert_double_eq_tol(m.ap, (1.0 * 1 + 2 * 0.75) / 4, 1e-12);
    /* nothing precise enough: no threshold */
    hmb_pred_t q[] = { { 1, 0 }, { 0.5, 1 } };
    hmb_metrics_compute(q, 2, 1, 0.999, &m);
    ck_assert(isinf(m.thr_at_p));
    ck_assert_double_eq(m.recall_at_p, 0);
}
END_TEST

START_TEST(test_gen_smoke)
{
    const char *dir = tu_shared_path("datasets/grocery");
    if (!dir)
        return;
    char ds[4096];
    snprintf(ds, sizeof ds, "%s", dir);
    ck_assert_int_eq(hm_decode_init(), 0);
    hmb_set_t set;
    /* ~20 photos; two queries per family */
    hmb_gen_opts_t o = { .seed = 7, .n_queries = 2 * HMB_F_COUNT, .max_photos = 20 };
    ck_assert_int_eq(hmb_gen_open(&set, ds, &o), 0);
    ck_assert_int_le(set.n_photos, 20);
    ck_assert_int_gt(set.n_refs, 0);
    ck_assert_int_gt(set.n_distractors, 0);
    /* no scene group on both sides */
    for (int i = 0; i < set.n_photos; i++)
        for (int j = 0; j < set.n_photos; j++)
            if (set.photos[i].group == set.photos[j].group)
                ck_assert_int_eq(set.photos[i].is_ref, set.photos[j].is_ref);
    hm_fp_ctx_t *ctx = NULL;
    ck_assert_int_eq(hm_fp_ctx_new(&ctx, NULL), 0);
    hm_fp_t *rfp = calloc((size_t)set.n_refs, sizeof *rfp);
    for (int i = 0; i < set.n_refs; i++) {
        const hmb_photo_t *p = &set.photos[set.refs[i]];
        ck_assert_int_eq(hm_fp_compute(ctx, p->data, p->len, &rfp[i]), 0);
    }
    int seen[HMB_F_COUNT] = { 0 };
    for (int q = 0; q < set.n_specs; q++) {
        void *a = NULL, *b = NULL;
        size_t la = 0, lb = 0;
        ck_assert_msg(hmb_gen_render(&set, q, &a, &la) == 0, "query %d failed", q);
        ck_assert_int_eq(hmb_gen_render(&set, q, &b, &lb), 0);
        ck_assert_msg(la == lb && memcmp(a, b, la) == 0, "query %d is not deterministic", q);
        hm_fp_t fp;
        ck_assert_int_eq(hm_fp_compute(ctx, a, la, &fp), 0);
        const hmb_spec_t *sp = &set.specs[q];
        seen[sp->family]++;
        /* a positive that is only re-encoded or downscaled: its nearest
         * reference by PDQ is in its scene group, and close */
        if (sp->positive && (sp->family == HMB_F_JPEG || sp->family == HMB_F_SCALE) &&
            sp->level <= 1) {
            int best = 999, bi = -1;
            for (int i = 0; i < set.n_refs; i++) {
                int d = hm_pdq_distance(&fp.full.pdq[0], &rfp[i].full.pdq[0]);
                if (d < best) { best = d; bi = i; }
            }
            ck_assert_int_eq(set.photos[set.refs[bi]].group, set.photos[sp->src].group);
            ck_assert_int_le(best, 31);
        }
        g_free(a);
        g_free(b);
    }
    for (int f = 0; f < HMB_F_COUNT; f++)
        ck_assert_int_eq(seen[f], 2);
    free(rfp);
    hm_fp_ctx_free(&ctx);
    hmb_gen_close(&set);
}
END_TEST

START_TEST(test_gen_exact_reencode_recall)
{
    /* Every reference re-encoded at JPEG quality 90 (family jpeg, level 0),
     * scored by PDQ nearest reference: recall at precision 0.999 is 1.0. */
    const char *dir = tu_shared_path("datasets/grocery");
    if (!dir)
        return;
    char ds[4096];
    snprintf(ds, sizeof ds, "%s", dir);
    ck_assert_int_eq(hm_decode_init(), 0);
    hmb_set_t set;
    hmb_gen_opts_t o = { .seed = 11, .n_queries = HMB_F_COUNT, .max_photos = 20,
                         .positive_share = 1.0 };
    ck_assert_int_eq(hmb_gen_open(&set, ds, &o), 0);
    hm_fp_ctx_t *ctx = NULL;
    ck_assert_int_eq(hm_fp_ctx_new(&ctx, NULL), 0);
    hm_fp_t *rfp = calloc((size_t)set.n_refs, sizeof *rfp);
    for (int i = 0; i < set.n_refs; i++)
        ck_assert_int_eq(hm_fp_compute(ctx, set.photos[set.refs[i]].data,
                                       set.photos[set.refs[i]].len, &rfp[i]), 0);
    /* rewrite the specs: one exact re-encode per reference */
    int n = set.n_refs < set.n_specs ? set.n_refs : set.n_specs;
    ck_assert_int_gt(n, 0);
    hmb_pred_t *p = calloc((size_t)n + 1, sizeof *p);
    for (int q = 0; q < n; q++) {
        set.specs[q] = (hmb_spec_t){ .family = HMB_F_JPEG, .level = 0, .src = set.refs[q],
                                     .positive = 1, .tiles = { -1, -1, -1, -1 }, .seed = 1 };
        void *a = NULL;
        size_t la = 0;
        ck_assert_int_eq(hmb_gen_render(&set, q, &a, &la), 0);
        hm_fp_t fp;
        ck_assert_int_eq(hm_fp_compute(ctx, a, la, &fp), 0);
        g_free(a);
        int best = 999, bi = 0;
        for (int i = 0; i < set.n_refs; i++) {
            int d = hm_pdq_distance(&fp.full.pdq[0], &rfp[i].full.pdq[0]);
            if (d < best) { best = d; bi = i; }
        }
        p[q] = (hmb_pred_t){ -best, set.photos[set.refs[bi]].group == set.photos[set.refs[q]].group };
    }
    hmb_metrics_t m;
    hmb_metrics_compute(p, n, n, 0.999, &m);
    ck_assert_double_eq_tol(m.recall_at_p, 1.0, 1e-12);
    ck_assert_double_eq_tol(m.ap, 1.0, 1e-12);
    free(p);
    free(rfp);
    hm_fp_ctx_free(&ctx);
    hmb_gen_close(&set);
}
END_TEST

Suite *hm_suite_bench(void)
{
    Suite *s = suite_create("bench");
    TCase *tc = tcase_create("metrics");
    tcase_add_test(tc, test_metrics_known_ap);
    tcase_add_test(tc, test_metrics_ties_are_blocks);
    suite_add_tcase(s, tc);
    tc = tcase_create("generator");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_gen_smoke);
    tcase_add_test(tc, test_gen_exact_reencode_recall);
    suite_add_tcase(s, tc);
    return s;
}
