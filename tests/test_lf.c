/*
 * test_lf.c - suites "lf" (local features and their kernels), "geom"
 * (geometric verification on generated copies of real photos) and
 * "lfindex" (the descriptor index).
 *
 * Generated cases come from ../shared/datasets/grocery through libvips
 * (bench/lf_gen.h): crop to 50% of the area, pad on white, frame + caption,
 * rotations of 5/10/15 degrees, mirror, a 2x2 collage with other products,
 * JPEG q = 40, and a crop + rotation.  Negatives: burst shots of one scene
 * (scene-groups.tsv) and an unrelated photo sharing a logo-sized region.
 */
#include <check.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hm_decode.h"
#include "hm_error.h"
#include "hm_geom.h"
#include "hm_lf.h"
#include "hm_lf_ref.h"
#include "hm_lfindex.h"
#include "hm_simd.h"
#include "lf_gen.h"

/* keypoints the reference context keeps (hm_lf_opts_default.max_kp) */
#define REF_KP ((uint32_t)hm_lf_opts_default.max_kp)
#include "test_util.h"

/* The photos used: distinct products, one per scene group. */
static const char *const s_photos[] = {
    "train/Fruit/Apple/Golden-Delicious/Golden-Delicious_001.jpg",
    "train/Packages/Juice/Bravo-Apple-Juice/Bravo-Apple-Juice_001.jpg",
    "train/Packages/Milk/Arla-Standard-Milk/Arla-Standard-Milk_001.jpg",
    "train/Packages/Yoghurt/Arla-Natural-Yoghurt/Arla-Natural-Yoghurt_001.jpg",
    "train/Vegetables/Pepper/Green-Bell-Pepper/Green-Bell-Pepper_001.jpg",
    "train/Packages/Juice/Tropicana-Apple-Juice/Tropicana-Apple-Juice_001.jpg",
};
#define NPHOTO (int)(sizeof s_photos / sizeof s_photos[0])

static uint8_t *s_read(const char *rel, size_t *len)
{
    char p[1024];
    snprintf(p, sizeof p, "datasets/grocery/%s", rel);
    const char *full = tu_shared_path(p);
    if (!full)
        return NULL;
    uint8_t *d;
    tu_read_file(full, &d, len);
    return d;
}

/* Decode bytes at the given decode side and extract (with the mirror set when m). */
static void s_extract(hm_lf_ctx_t *ctx, int side, const void *buf, size_t len, hm_lf_feat_t *f,
                      hm_lf_feat_t *m)
{
    hm_image_t img = { 0 };
    hm_decode_limits_t lim = hm_decode_limits_default;
    lim.target_side = side;
    ck_assert_int_eq(hm_decode(buf, len, &lim, &img), 0);
    ck_assert_int_eq(hm_lf_extract(ctx, img.rgb, img.w, img.h, img.stride, f, m), 0);
    hm_image_release(&img);
}

static hm_lf_ctx_t *s_ref_ctx(void)
{
    hm_lf_ctx_t *c;
    ck_assert_int_eq(hm_lf_ctx_create(&c, NULL), 0);
    return c;
}

/* Queries: more keypoints, higher resolution (see bench_lf). */
static hm_lf_ctx_t *s_query_ctx(void)
{
    hm_lf_opts_t o = hm_lf_opts_default;
    o.max_kp = 768;
    o.max_side = 512;
    hm_lf_ctx_t *c;
    ck_assert_int_eq(hm_lf_ctx_create(&c, &o), 0);
    return c;
}

/* ---------------------------------------------------------------- lf */

START_TEST(kernels_agree)
{
    const hm_kernels_t *S = hm_kernels_for(HM_SIMD_SCALAR);
    uint64_t st = 42;
    enum { W = 200, H = 40 };
    static uint8_t img[W * H + 64];
    static int32_t off[512];
    for (int level = 1; level < HM_SIMD_NLEVELS; level++) {
        const hm_kernels_t *K = hm_kernels_for(level);
        if (!K)
            continue;
        for (int round = 0; round < 20; round++) {
            /* blocky random images make corners; noise makes near-ties */
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++)
                    img[y * W + x] = (uint8_t)(((x / (3 + round % 5)) * 37 + (y / 4) * 91) * (round + 1) +
                                               (tu_rand(&st) & (round & 1 ? 15 : 0)));
            for (int t = 1; t < 60; t += 19) {
                uint8_t a[W], b[W];
                size_t n = 3 + tu_rand(&st) % (W - 6 - 3);
                S->fast9_row(img + 10 * W + 3, W, n, t, a);
                K->fast9_row(img + 10 * W + 3, W, n, t, b);
                ck_assert_msg(memcmp(a, b, n) == 0, "%s fast9_row t=%d n=%zu", K->name, t, n);
            }
            for (int i = 0; i < 512; i++)
                off[i] = (int32_t)((int)(tu_rand(&st) % 31) - 15) * W + (int)(tu_rand(&st) % 31) - 15;
            uint64_t d1[4], d2[4];
            S->brief256(img + 20 * W + 100, off, d1);
            K->brief256(img + 20 * W + 100, off, d2);
            ck_assert_msg(memcmp(d1, d2, 32) == 0, "%s brief256", K->name);
        }
        uint64_t q[4 * 37], codes[4 * 700];
        for (size_t i = 0; i < 4 * 37; i++)
            q[i] = tu_rand(&st);
        for (size_t i = 0; i < 4 * 700; i++)
            codes[i] = i % 8 == 0 ? q[i % (4 * 37)] : tu_rand(&st) & tu_rand(&st);
        for (size_t n = 0; n < 700; n += 233) {
            uint32_t b1[37], b2[37];
            uint16_t x1[37], x2[37], y1[37], y2[37];
            S->hamming256_nn(q, 37, codes, n, b1, x1, y1);
            K->hamming256_nn(q, 37, codes, n, b2, x2, y2);
            ck_assert_msg(!memcmp(b1, b2, sizeof b1) && !memcmp(x1, x2, sizeof x1) &&
                          !memcmp(y1, y2, sizeof y1), "%s hamming256_nn n=%zu", K->name, n);
        }
    }
}
END_TEST

START_TEST(extract_basics)
{
    size_t len;
    uint8_t *buf = s_read(s_photos[1], &len);
    if (!buf)
        return;
    hm_lf_ctx_t *ctx = s_ref_ctx();
    hm_lf_feat_t a, b, m;
    ck_assert_int_eq(hm_lf_feat_init(&a, REF_KP), 0);
    ck_assert_int_eq(hm_lf_feat_init(&b, REF_KP), 0);
    ck_assert_int_eq(hm_lf_feat_init(&m, REF_KP), 0);
    s_extract(ctx, 348, buf, len, &a, &m);
    s_extract(ctx, 348, buf, len, &b, NULL);
    ck_assert_uint_eq(a.n, REF_KP);
    ck_assert_msg(memcmp(a.desc, b.desc, 32 * a.n) == 0, "extraction is deterministic");
    int quad[4] = { 0 };
    for (uint32_t i = 0; i < a.n; i++) {
        ck_assert(a.kp[i].x >= 0 && a.kp[i].x <= a.aspect_w && a.kp[i].y >= 0 && a.kp[i].y <= a.aspect_h);
        ck_assert(a.kp[i].angle >= 0 && a.kp[i].angle < 6.2832f);
        quad[(a.kp[i].x > a.aspect_w / 2) + 2 * (a.kp[i].y > a.aspect_h / 2)]++;
        ck_assert_float_eq_tol(m.kp[i].x, a.aspect_w - a.kp[i].x, 1e-6);
    }
    for (int k = 0; k < 4; k++)
        ck_assert_msg(quad[k] >= 16, "keypoints spread: quadrant %d has %d", k, quad[k]);
    ck_assert_int_eq(m.mirrored, 1);
    /* every SIMD level gives the same features */
    int lvl = hm_simd_level();
    for (int l = 0; l < HM_SIMD_NLEVELS; l++) {
        if (hm__simd_force(l) != 0)
            continue;
        s_extract(ctx, 348, buf, len, &b, NULL);
        ck_assert_msg(b.n == a.n && memcmp(a.desc, b.desc, 32 * a.n) == 0, "level %d differs", l);
    }
    hm__simd_force(lvl);
    hm_lf_feat_free(&a);
    hm_lf_feat_free(&b);
    hm_lf_feat_free(&m);
    hm_lf_ctx_destroy(&ctx);
    ck_assert_ptr_null(ctx);
    free(buf);
}
END_TEST

START_TEST(serialise_roundtrip)
{
    size_t len;
    uint8_t *buf = s_read(s_photos[2], &len);
    if (!buf)
        return;
    hm_lf_ctx_t *ctx = s_ref_ctx();
    hm_lf_feat_t a, b = { 0 };
    hm_lf_feat_init(&a, REF_KP);
    s_extract(ctx, 348, buf, len, &a, NULL);
    size_t need = hm_lf_serial_size(&a), got = 0;
    ck_assert_uint_eq(need, HM_LF_SERIAL_HEADER + 1024 + HM_LF_SERIAL_PER_KP * (size_t)a.n);
    uint8_t *ser = malloc(need);
    ck_assert_int_eq(hm_lf_serialize(&a, ser, need - 1, &got), HM_E_TOO_LARGE);
    ck_assert_int_eq(hm_lf_serialize(&a, ser, need, &got), 0);
    ck_assert_uint_eq(got, need);
    ck_assert_int_eq(hm_lf_deserialize(ser, got, &b), 0);
    ck_assert_uint_eq(b.n, a.n);
    ck_assert(memcmp(a.desc, b.desc, 32 * a.n) == 0);
    ck_assert(memcmp(a.thumb, b.thumb, sizeof a.thumb) == 0);
    for (uint32_t i = 0; i < a.n; i++) {
        ck_assert_float_eq_tol(a.kp[i].x, b.kp[i].x, 1.0 / 65535);
        ck_assert_float_eq_tol(a.kp[i].y, b.kp[i].y, 1.0 / 65535);
        ck_assert_float_eq_tol(b.kp[i].size / a.kp[i].size, 1.0, 0.015);
        double da = fabs(a.kp[i].angle - b.kp[i].angle);
        ck_assert(da < 0.0125 || fabs(da - 6.2832) < 0.0125);
    }
    ck_assert_int_eq(hm_lf_deserialize(ser, got - 1, &b), HM_E_CORRUPT);
    ser[0] = 'X';
    ck_assert_int_eq(hm_lf_deserialize(ser, got, &b), HM_E_CORRUPT);
    ser[0] = 'H';
    ser[4] = 9;
    ck_assert_int_eq(hm_lf_deserialize(ser, got, &b), HM_E_VERSION);
    free(ser);
    hm_lf_feat_free(&a);
    hm_lf_feat_free(&b);
    hm_lf_ctx_destroy(&ctx);
    free(buf);
}
END_TEST

START_TEST(bad_inputs)
{
    hm_lf_ctx_t *ctx = s_ref_ctx();
    hm_lf_feat_t f, small;
    hm_lf_feat_init(&f, REF_KP);
    hm_lf_feat_init(&small, 8);
    static uint8_t px[300 * 300 * 3];
    /* tiny, flat grey, all black: no keypoints, no error */
    int sizes[][2] = { { 1, 1 }, { 8, 8 }, { 40, 30 }, { 300, 300 } };
    for (int k = 0; k < 4; k++)
        for (int v = 0; v < 256; v += 128) {
            memset(px, v, sizeof px);
            ck_assert_int_eq(hm_lf_extract(ctx, px, sizes[k][0], sizes[k][1], 3 * (size_t)sizes[k][0], &f, NULL), 0);
            ck_assert_uint_eq(f.n, 0);
        }
    ck_assert_int_eq(hm_lf_extract(ctx, px, 0, 10, 30, &f, NULL), HM_E_INVAL);
    ck_assert_int_eq(hm_lf_extract(ctx, px, 10, 10, 20, &f, NULL), HM_E_INVAL);
    ck_assert_int_eq(hm_lf_extract(ctx, px, 100, 100, 300, &small, NULL), HM_E_INVAL);
    ck_assert_int_eq(hm_lf_extract(ctx, NULL, 100, 100, 300, &f, NULL), HM_E_INVAL);
    /* no keypoints on either side: nothing verified, no error */
    hm_geom_result_t r[2];
    int nr = -1;
    ck_assert_int_eq(hm_geom_verify(&f, &f, NULL, r, 2, &nr), 0);
    ck_assert_int_eq(nr, 0);
    /* upscaling small images (level 0 larger than the input) */
    hm_lf_opts_t uo = hm_lf_opts_default;
    uo.upscale = 1;
    uo.max_side = 512;
    hm_lf_ctx_t *up;
    ck_assert_int_eq(hm_lf_ctx_create(&up, &uo), 0);
    uint64_t st = 9;
    for (size_t i = 0; i < sizeof px; i++)
        px[i] = (uint8_t)((i / 3 % 300 / 10 + i / 900 / 10) % 2 ? 200 : 30 + (tu_rand(&st) & 15));
    ck_assert_int_eq(hm_lf_extract(up, px, 120, 90, 900, &f, NULL), 0);
    ck_assert_uint_gt(f.n, 0);
    ck_assert_int_eq(hm_lf_extract(up, px, 300, 300, 900, &f, NULL), 0);
    hm_lf_ctx_destroy(&up);
    hm_lf_opts_t o = hm_lf_opts_default;
    o.max_kp = 0;
    hm_lf_ctx_t *bad = NULL;
    ck_assert_int_eq(hm_lf_ctx_create(&bad, &o), HM_E_INVAL);
    ck_assert_int_eq(hm_lf_feat_init(&small, 0), HM_E_INVAL);
    hm_lf_feat_free(&f);
    hm_lf_feat_free(&small);
    hm_lf_ctx_destroy(&ctx);
    hm_lf_ctx_destroy(&ctx); /* NULL-safe */
}
END_TEST

/* The reference keypoint count is a process-wide setting: a blob made after
 * hm_lf_ref_set_keypoints(64) holds at most 64, after 384 more; bad counts
 * are refused and change nothing. */
START_TEST(test_ref_keypoints_setting)
{
    uint8_t *buf;
    size_t len;
    tu_read_file("demo/refs/Oatly-Oat-Milk_002.jpg", &buf, &len);
    int def = hm_lf_ref_keypoints();
    ck_assert_int_eq(def, hm_lf_opts_default.max_kp);
    ck_assert_int_eq(hm_lf_ref_set_keypoints(31), HM_E_INVAL);
    ck_assert_int_eq(hm_lf_ref_set_keypoints(1025), HM_E_INVAL);
    ck_assert_int_eq(hm_lf_ref_set_keypoints(-1), HM_E_INVAL);
    ck_assert_int_eq(hm_lf_ref_keypoints(), def);
    hm_lf_feat_t f = { 0 };
    uint32_t n[2];
    int want[2] = { 64, def };
    for (int k = 0; k < 2; k++) {
        ck_assert_int_eq(hm_lf_ref_set_keypoints(want[k]), 0);
        uint8_t *blob;
        size_t bl;
        ck_assert_int_eq(hm_lf_ref_blob(buf, len, &blob, &bl), 0);
        ck_assert_int_eq(hm_lf_deserialize(blob, bl, &f), 0);
        n[k] = f.n;
        free(blob);
    }
    ck_assert_uint_eq(n[0], 64);
    ck_assert_uint_gt(n[1], 64);
    ck_assert_uint_le(n[1], (uint32_t)def);
    hm_lf_feat_free(&f);
    free(buf);
}
END_TEST

Suite *hm_suite_lf(void)
{
    Suite *s = suite_create("lf");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_ref_keypoints_setting);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, kernels_agree);
    tcase_add_test(tc, extract_basics);
    tcase_add_test(tc, serialise_roundtrip);
    tcase_add_test(tc, bad_inputs);
    suite_add_tcase(s, tc);
    return s;
}

/* ---------------------------------------------------------------- geom */

typedef struct lf_case {
    VipsImage *im[NPHOTO];
    uint8_t *bytes[NPHOTO];
    size_t len[NPHOTO];
    hm_lf_feat_t ref[NPHOTO];
    hm_lf_ctx_t *rctx, *qctx;
} lf_case_t;

static int s_setup(lf_case_t *c)
{
    memset(c, 0, sizeof *c);
    for (int i = 0; i < NPHOTO; i++) {
        c->bytes[i] = s_read(s_photos[i], &c->len[i]);
        if (!c->bytes[i])
            return -1;
    }
    hm_decode_init();
    c->rctx = s_ref_ctx();
    c->qctx = s_query_ctx();
    for (int i = 0; i < NPHOTO; i++) {
        c->im[i] = lfg_load(c->bytes[i], c->len[i]);
        ck_assert_ptr_nonnull(c->im[i]);
        hm_lf_feat_init(&c->ref[i], REF_KP);
        s_extract(c->rctx, 348, c->bytes[i], c->len[i], &c->ref[i], NULL);
    }
    return 0;
}

static void s_teardown(lf_case_t *c)
{
    for (int i = 0; i < NPHOTO; i++) {
        if (c->im[i])
            g_object_unref(c->im[i]);
        hm_lf_feat_free(&c->ref[i]);
        free(c->bytes[i]);
    }
    hm_lf_ctx_destroy(&c->rctx);
    hm_lf_ctx_destroy(&c->qctx);
}

/* The best verified model of an encoded query (and its mirror set) against
 * r, under opts (NULL: the defaults). */
static hm_geom_result_t s_best_o(lf_case_t *c, const void *buf, size_t len, const hm_lf_feat_t *r,
                                 const hm_geom_opts_t *opts)
{
    hm_lf_feat_t q, m;
    hm_lf_feat_init(&q, 768);
    hm_lf_feat_init(&m, 768);
    s_extract(c->qctx, 512, buf, len, &q, &m);
    hm_geom_result_t best, res[3];
    memset(&best, 0, sizeof best);
    for (int v = 0; v < 2; v++) {
        int n = 0;
        ck_assert_int_eq(hm_geom_verify(v ? &m : &q, r, opts, res, 3, &n), 0);
        for (int k = 0; k < n; k++)
            if (res[k].verified && (!best.verified || res[k].score > best.score))
                best = res[k];
    }
    hm_lf_feat_free(&q);
    hm_lf_feat_free(&m);
    return best;
}

static hm_geom_result_t s_best(lf_case_t *c, const void *buf, size_t len, const hm_lf_feat_t *r)
{
    return s_best_o(c, buf, len, r, NULL);
}

START_TEST(copies_found)
{
    lf_case_t c;
    if (s_setup(&c))
        return;
    int fam = _i;
    for (int i = 0; i < NPHOTO; i++) {
        VipsImage *others[3] = { c.im[(i + 1) % NPHOTO], c.im[(i + 2) % NPHOTO], c.im[(i + 3) % NPHOTO] };
        lfg_truth_t t;
        VipsImage *im = lfg_make(c.im[i], others, fam, (uint64_t)i * 7 + 1, &t);
        ck_assert_ptr_nonnull(im);
        void *buf;
        size_t len;
        ck_assert_int_eq(lfg_jpeg(im, fam == LFG_JPEG40 ? 40 : 85, &buf, &len), 0);
        g_object_unref(im);
        hm_geom_result_t b = s_best(&c, buf, len, &c.ref[i]);
        g_free(buf);
        /* a product in a quarter of a collage verifies, but with a lower
         * score than the suggested threshold (see hm_geom.h, bench_lf) */
        float need = fam == LFG_COLLAGE4 ? 0 : HM_GEOM_SCORE_MIN;
        ck_assert_msg(b.verified && b.score >= need, "%s photo %d: verified %d score %.1f inliers %d",
                      lfg_names[fam], i, b.verified, b.score, b.inliers);
        ck_assert_msg(fabs(b.rotation_deg - t.rot_deg) < 2.0, "%s photo %d: rotation %.2f, applied %.2f",
                      lfg_names[fam], i, b.rotation_deg, t.rot_deg);
        ck_assert_msg(fabs(b.scale / t.scale - 1) < 0.05, "%s photo %d: scale %.3f, applied %.3f",
                      lfg_names[fam], i, b.scale, t.scale);
        ck_assert_int_eq(b.mirrored, t.mirrored);
        if (fam == LFG_CROP50) {
            double a = (b.crop[2] - b.crop[0]) * (b.crop[3] - b.crop[1]) /
                       (c.ref[i].aspect_w * c.ref[i].aspect_h);
            ck_assert_msg(fabs(a - 0.5) < 0.05, "crop box area %.3f", a);
        }
    }
    s_teardown(&c);
}
END_TEST

/*
 * Burst shots, in scene-groups.tsv order: for each of the first n scene
 * groups with two or more photos, its first two photos' features (the first
 * as a reference) are fitted and check() is called with the best result of
 * the query (default opts) and of opts.  Returns the pairs seen.
 */
typedef void (*burst_check_fn)(const char *a, const char *b, const hm_geom_result_t *plain,
                               const hm_geom_result_t *with_opts, int *count);

static int s_bursts(lf_case_t *c, int n, const hm_geom_opts_t *opts, burst_check_fn check, int *count)
{
    FILE *f = fopen(tu_shared_path("datasets/grocery/scene-groups.tsv"), "r");
    ck_assert_ptr_nonnull(f);
    char line[600], prev_path[600] = "", prev_group[64] = "", done_group[64] = "";
    int pairs = 0;
    while (pairs < n && fgets(line, sizeof line, f)) {
        if (line[0] == '#')
            continue;
        char *tab = strchr(line, '\t');
        if (!tab)
            continue;
        *tab = 0;
        char *g = tab + 1;
        g[strcspn(g, "\r\n")] = 0;
        if (strcmp(g, prev_group) == 0 && strcmp(g, done_group) != 0) {
            size_t la, lb;
            uint8_t *a = s_read(prev_path, &la), *b = s_read(line, &lb);
            hm_lf_feat_t r;
            hm_lf_feat_init(&r, REF_KP);
            s_extract(c->rctx, 348, a, la, &r, NULL);
            hm_geom_result_t plain = s_best(c, b, lb, &r), res = s_best_o(c, b, lb, &r, opts);
            check(prev_path, line, &plain, &res, count);
            hm_lf_feat_free(&r);
            free(a);
            free(b);
            snprintf(done_group, sizeof done_group, "%s", g);
            pairs++;
        }
        snprintf(prev_path, sizeof prev_path, "%s", line);
        snprintf(prev_group, sizeof prev_group, "%s", g);
    }
    fclose(f);
    return pairs;
}

static void s_burst_plain(const char *a, const char *b, const hm_geom_result_t *res,
                          const hm_geom_result_t *unused, int *count)
{
    ck_assert_msg(!(res->verified && res->score >= HM_GEOM_SCORE_MIN),
                  "burst %s / %s matched: score %.1f rms %.2f coherence %.2f", a, b, res->score,
                  res->rms_px, res->coherence);
}

/* Burst shots: the first 12 multi-photo scene groups of scene-groups.tsv. */
START_TEST(bursts_rejected)
{
    lf_case_t c;
    if (s_setup(&c))
        return;
    ck_assert_int_eq(s_bursts(&c, 12, NULL, s_burst_plain, NULL), 12);
    s_teardown(&c);
}
END_TEST

START_TEST(logo_and_unrelated_rejected)
{
    lf_case_t c;
    if (s_setup(&c))
        return;
    for (int i = 0; i < NPHOTO; i++) {
        int j = (i + 1) % NPHOTO;
        /* photo j with a square of photo i, 1/4 of its side (1/16 of its area) */
        VipsImage *lp = lfg_logo_paste(c.im[j], c.im[i], 0.25, (uint64_t)i);
        void *buf;
        size_t len;
        ck_assert_int_eq(lfg_jpeg(lp, 85, &buf, &len), 0);
        g_object_unref(lp);
        hm_geom_result_t b = s_best(&c, buf, len, &c.ref[i]);
        ck_assert_msg(!b.verified, "logo region of %d in %d verified: inliers %d coverage %.3f", i, j,
                      b.inliers, b.coverage);
        g_free(buf);
        b = s_best(&c, c.bytes[j], c.len[j], &c.ref[i]);
        ck_assert_msg(!b.verified, "unrelated %d / %d verified", i, j);
    }
    s_teardown(&c);
}
END_TEST

START_TEST(fit_degenerate)
{
    hm_lf_feat_t a;
    hm_lf_feat_init(&a, 4);
    a.aspect_w = a.aspect_h = 1;
    hm_geom_frame_t fr = hm_geom_frame_of(&a);
    hm_geom_corr_t cr[12];
    memset(cr, 0, sizeof cr); /* all at the same point: no hypothesis */
    for (int i = 0; i < 12; i++)
        cr[i].qsize = cr[i].rsize = 0.1f;
    hm_geom_result_t r[2];
    int n = -1;
    ck_assert_int_eq(hm_geom_fit(&fr, &fr, cr, 12, NULL, r, 2, &n), 0);
    ck_assert_int_eq(n, 0);
    ck_assert_int_eq(hm_geom_fit(&fr, &fr, NULL, 0, NULL, r, 2, &n), 0);
    ck_assert_int_eq(n, 0);
    ck_assert_int_eq(hm_geom_fit(&fr, &fr, cr, 12, NULL, r, 0, &n), HM_E_INVAL);
    /* an exact similarity: recovered */
    for (int i = 0; i < 12; i++) {
        float x = 0.1f + 0.07f * i, y = 0.2f + 0.05f * (i * 7 % 12);
        float c = cosf(0.2f), s = sinf(0.2f);
        cr[i].rx = x, cr[i].ry = y;
        cr[i].qx = 0.8f * (c * x - s * y) + 0.05f, cr[i].qy = 0.8f * (s * x + c * y) + 0.02f;
        cr[i].qsize = 0.08f, cr[i].rsize = 0.1f, cr[i].qangle = 0.2f, cr[i].rangle = 0;
    }
    ck_assert_int_eq(hm_geom_fit(&fr, &fr, cr, 12, NULL, r, 2, &n), 0);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(r[0].inliers, 12);
    ck_assert_float_eq_tol(r[0].scale, 0.8, 1e-4);
    ck_assert_float_eq_tol(r[0].rotation_deg, 0.2 * 180 / M_PI, 1e-3);
    hm_lf_feat_free(&a);
}
END_TEST

static void s_burst_second(const char *a, const char *b, const hm_geom_result_t *plain,
                           const hm_geom_result_t *res, int *guard_only)
{
    *guard_only += plain->verified && plain->score >= HM_GEOM_SCORE_MIN;
    ck_assert_msg(!(res->verified && res->score >= HM_GEOM_SCORE_MIN),
                  "burst %s / %s passed the second chance: score %.1f thumbnail corr %.2f", a, b,
                  res->score, res->thumb_corr);
}

/*
 * The engine's second-chance fit (index/hm_engine_local.c): every query
 * descriptor against the reference's, plus the pixel check (aligned
 * thumbnails correlate >= 0.9).  Degraded copies (shrunk to 60%, blurred,
 * tilted 4 degrees, JPEG 60: what the inverted file loses) pass it with
 * the transform recovered; the first 40 burst-shot pairs of
 * scene-groups.tsv (second photos, which exhaustive matching pairs more
 * readily) do not.
 */
START_TEST(second_chance_rule)
{
    lf_case_t c;
    if (s_setup(&c))
        return;
    hm_geom_opts_t o = hm_geom_opts_default;
    o.min_thumb_corr = 0.9f;
    for (int i = 0; i < NPHOTO; i++) {
        VipsImage *sm = lfg_resize(c.im[i], 0.6), *bl, *rot;
        ck_assert_int_eq(vips_gaussblur(sm, &bl, 0.3, NULL), 0);
        rot = lfg_rotate(bl, 4.0);
        void *buf;
        size_t len;
        ck_assert_int_eq(lfg_jpeg(rot, 60, &buf, &len), 0);
        g_object_unref(sm), g_object_unref(bl), g_object_unref(rot);
        hm_geom_result_t b = s_best_o(&c, buf, len, &c.ref[i], &o);
        g_free(buf);
        ck_assert_msg(b.verified && b.score >= HM_GEOM_SCORE_MIN && b.thumb_corr >= 0.9f,
                      "degraded copy of photo %d: verified %d score %.1f thumbnail corr %.2f", i,
                      b.verified, b.score, b.thumb_corr);
        ck_assert_msg(fabs(b.rotation_deg - 4.0) < 2.0, "photo %d: rotation %.2f", i, b.rotation_deg);
    }
    int guard_only = 0;
    ck_assert_int_eq(s_bursts(&c, 40, &o, s_burst_second, &guard_only), 40);
    fprintf(stderr, "geom: second chance: 40 burst pairs rejected (%d would pass on geometry alone)\n",
            guard_only);
    s_teardown(&c);
}
END_TEST

Suite *hm_suite_geom(void)
{
    Suite *s = suite_create("geom");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, copies_found, 0, LFG_NFAM);
    tcase_add_test(tc, bursts_rejected);
    tcase_add_test(tc, logo_and_unrelated_rejected);
    tcase_add_test(tc, fit_degenerate);
    tcase_add_test(tc, second_chance_rule);
    suite_add_tcase(s, tc);
    return s;
}

/* ---------------------------------------------------------------- lfindex */

static hm_lfindex_t *s_index(lf_case_t *c)
{
    hm_lfindex_opts_t o = hm_lfindex_opts_default;
    o.k1 = 16, o.k2 = 16; /* 1,536 training descriptors */
    hm_lfindex_t *ix;
    ck_assert_int_eq(hm_lfindex_create(&ix, &o), 0);
    ck_assert_int_eq(hm_lfindex_add(ix, 1, &c->ref[0]), HM_E_INVAL); /* untrained */
    uint64_t *all = malloc((size_t)NPHOTO * REF_KP * 32);
    size_t n = 0;
    for (int i = 0; i < NPHOTO; i++) {
        memcpy(all + 4 * n, c->ref[i].desc, 32 * (size_t)c->ref[i].n);
        n += c->ref[i].n;
    }
    ck_assert_int_eq(hm_lfindex_train(ix, all, n), 0);
    free(all);
    for (int i = 0; i < NPHOTO; i++)
        ck_assert_int_eq(hm_lfindex_add(ix, 100 + (uint64_t)i, &c->ref[i]), 0);
    return ix;
}

/* Query a copy of photo i; the best verified candidate's id (0 = none). */
static uint64_t s_lookup(lf_case_t *c, hm_lfindex_t *ix, hm_lfindex_scratch_t *sc, int i, int fam)
{
    VipsImage *others[3] = { c->im[(i + 1) % NPHOTO], c->im[(i + 2) % NPHOTO], c->im[(i + 3) % NPHOTO] };
    lfg_truth_t t;
    VipsImage *im = lfg_make(c->im[i], others, fam, 5, &t);
    void *buf;
    size_t len;
    ck_assert_int_eq(lfg_jpeg(im, 85, &buf, &len), 0);
    g_object_unref(im);
    hm_lf_feat_t q, m;
    hm_lf_feat_init(&q, 768);
    hm_lf_feat_init(&m, 768);
    s_extract(c->qctx, 512, buf, len, &q, &m);
    g_free(buf);
    hm_lfindex_cand_t cand[8];
    int nc = 0;
    ck_assert_int_eq(hm_lfindex_query(ix, sc, &q, &m, NULL, cand, &nc), 0);
    uint64_t id = 0;
    float best = 0;
    hm_geom_frame_t qf = hm_geom_frame_of(&q), mf = hm_geom_frame_of(&m);
    for (int k = 0; k < nc; k++) {
        hm_geom_result_t r[3];
        int nr = 0;
        ck_assert_int_eq(hm_geom_fit(cand[k].mirrored ? &mf : &qf, &cand[k].frame, cand[k].corr,
                                     (size_t)cand[k].ncorr, NULL, r, 3, &nr), 0);
        for (int j = 0; j < nr; j++)
            if (r[j].verified && r[j].score > best)
                best = r[j].score, id = cand[k].id;
    }
    hm_lf_feat_free(&q);
    hm_lf_feat_free(&m);
    return id;
}

START_TEST(index_finds_copies)
{
    lf_case_t c;
    if (s_setup(&c))
        return;
    hm_lfindex_t *ix = s_index(&c);
    hm_lfindex_scratch_t *sc;
    ck_assert_int_eq(hm_lfindex_scratch_create(&sc), 0);
    int fams[] = { LFG_CROP50, LFG_MIRROR, LFG_ROT15, LFG_FRAME };
    for (int i = 0; i < NPHOTO; i++)
        for (int k = 0; k < 4; k++)
            ck_assert_msg(s_lookup(&c, ix, sc, i, fams[k]) == 100 + (uint64_t)i, "photo %d %s", i,
                          lfg_names[fams[k]]);
    hm_lfindex_stats_t st;
    hm_lfindex_stats(ix, &st);
    ck_assert_uint_eq(st.n_live, NPHOTO);
    ck_assert_int_eq(st.words, 256);
    hm_lfindex_scratch_destroy(&sc);
    hm_lfindex_destroy(&ix);
    ck_assert_ptr_null(ix);
    s_teardown(&c);
}
END_TEST

START_TEST(index_add_remove)
{
    lf_case_t c;
    if (s_setup(&c))
        return;
    hm_lfindex_t *ix = s_index(&c);
    hm_lfindex_scratch_t *sc;
    hm_lfindex_scratch_create(&sc);
    ck_assert_int_eq(hm_lfindex_add(ix, 102, &c.ref[2]), HM_E_EXISTS);
    hm_lf_feat_t m = c.ref[2];
    m.mirrored = 1;
    ck_assert_int_eq(hm_lfindex_add(ix, 999, &m), HM_E_INVAL);
    ck_assert_int_eq(hm_lfindex_remove(ix, 102), 0);
    ck_assert_int_eq(hm_lfindex_remove(ix, 102), HM_E_NOTFOUND);
    ck_assert_int_eq(hm_lfindex_remove(ix, 12345), HM_E_NOTFOUND);
    ck_assert(s_lookup(&c, ix, sc, 2, LFG_CROP50) != 102);
    hm_lfindex_stats_t a, b;
    hm_lfindex_stats(ix, &a);
    ck_assert_uint_eq(a.n_dead, 1);
    ck_assert_int_eq(hm_lfindex_compact(ix), 0);
    hm_lfindex_stats(ix, &b);
    ck_assert_uint_eq(b.entries, a.entries - c.ref[2].n);
    ck_assert_int_eq(hm_lfindex_add(ix, 102, &c.ref[2]), 0);
    ck_assert(s_lookup(&c, ix, sc, 2, LFG_CROP50) == 102);
    ck_assert_int_eq(hm_lfindex_train(ix, c.ref[0].desc, c.ref[0].n), HM_E_INVAL);
    hm_lfindex_scratch_destroy(&sc);
    hm_lfindex_destroy(&ix);
    s_teardown(&c);
}
END_TEST

typedef struct q_arg {
    hm_lfindex_t *ix;
    const hm_lf_feat_t *q;
    int rounds, found;
} q_arg_t;

static void *s_reader(void *p)
{
    q_arg_t *a = p;
    hm_lfindex_scratch_t *sc;
    hm_lfindex_scratch_create(&sc);
    hm_lfindex_cand_t cand[8];
    for (int r = 0; r < a->rounds; r++) {
        int nc = 0;
        if (hm_lfindex_query(a->ix, sc, a->q, NULL, NULL, cand, &nc) == 0 && nc > 0 && cand[0].id == 100)
            a->found++;
    }
    hm_lfindex_scratch_destroy(&sc);
    return NULL;
}

START_TEST(index_concurrent)
{
    lf_case_t c;
    if (s_setup(&c))
        return;
    hm_lfindex_t *ix = s_index(&c);
    q_arg_t a[2] = { { ix, &c.ref[0], 200, 0 }, { ix, &c.ref[0], 200, 0 } };
    pthread_t th[2];
    for (int t = 0; t < 2; t++)
        pthread_create(&th[t], NULL, s_reader, &a[t]);
    /* the writer churns other references meanwhile */
    for (int r = 0; r < 100; r++) {
        ck_assert_int_eq(hm_lfindex_add(ix, 1000 + (uint64_t)r, &c.ref[1 + r % (NPHOTO - 1)]), 0);
        if (r % 3 == 0)
            ck_assert_int_eq(hm_lfindex_remove(ix, 1000 + (uint64_t)r), 0);
        if (r % 25 == 0)
            ck_assert_int_eq(hm_lfindex_compact(ix), 0);
    }
    for (int t = 0; t < 2; t++) {
        pthread_join(th[t], NULL);
        ck_assert_int_eq(a[t].found, a[t].rounds);
    }
    hm_lfindex_destroy(&ix);
    s_teardown(&c);
}
END_TEST

/*
 * Stop words (hm_lfindex_qopts_t.stop_factor, hallmarkd's lf-stop-factor):
 * 300 more references with photo 0's descriptors crowd its words far above
 * the mean list; a query with those descriptors scans them with stop words
 * off and skips them at a factor of 1, so the top candidate gets fewer votes.
 */
START_TEST(index_stop_words)
{
    lf_case_t c;
    if (s_setup(&c))
        return;
    hm_lfindex_t *ix = s_index(&c);
    for (uint64_t k = 0; k < 300; k++)
        ck_assert_int_eq(hm_lfindex_add(ix, 1000 + k, &c.ref[0]), 0);
    hm_lfindex_scratch_t *sc;
    hm_lfindex_scratch_create(&sc);
    hm_lfindex_cand_t cand[8];
    int votes[2] = { 0, 0 };
    for (int v = 0; v < 2; v++) {
        hm_lfindex_qopts_t qo = hm_lfindex_qopts_default;
        qo.stop_factor = v ? 1.0f : 0.0f;
        int nc = 0;
        ck_assert_int_eq(hm_lfindex_query(ix, sc, &c.ref[0], NULL, &qo, cand, &nc), 0);
        votes[v] = nc ? cand[0].votes : 0;
    }
    ck_assert_msg(votes[0] >= 100 && votes[1] < votes[0] / 2, "top votes: stop words off %d, on %d",
                  votes[0], votes[1]);
    hm_lfindex_scratch_destroy(&sc);
    hm_lfindex_destroy(&ix);
    s_teardown(&c);
}
END_TEST

Suite *hm_suite_lfindex(void)
{
    Suite *s = suite_create("lfindex");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, index_finds_copies);
    tcase_add_test(tc, index_add_remove);
    tcase_add_test(tc, index_concurrent);
    tcase_add_test(tc, index_stop_words);
    suite_add_tcase(s, tc);
    return s;
}
