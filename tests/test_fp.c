/*
 * test_fp.c - the fingerprint as a whole: serialised form (round trip,
 * truncated, corrupt, future version), border trim finding a padded copy,
 * the descriptor's norm and robustness, identical hashes at every SIMD level,
 * and the grocery photos' hashes surviving a JPEG re-encode.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <vips/vips.h>

#include "hm_error.h"
#include "hm_fp.h"
#include "hm_lf_ref.h"
#include "hm_simd.h"
#include "hm_thumb.h"
#include "hm_trim.h"
#include "test_util.h"

static hm_fp_ctx_t *ctx;
static void s_setup(void) { ck_assert_int_eq(hm_fp_ctx_new(&ctx, NULL), 0); }
static void s_teardown(void) { hm_fp_ctx_free(&ctx); }

static uint8_t *s_photo(int *w, int *h)
{
    /* A grocery photo when ../shared is there, else a synthetic image. */
    const char *p = tu_shared_path("datasets/grocery/train/Packages/Milk/Arla-Medium-Fat-Milk/Arla-Medium-Fat-Milk_001.jpg");
    if (p) {
        uint8_t *data;
        size_t len;
        tu_read_file(p, &data, &len);
        {
            hm_image_t img = { 0 };
            hm_decode_limits_t lim = hm_decode_limits_default;
            lim.target_side = 4096;
            ck_assert_int_eq(hm_decode(data, len, &lim, &img), 0);
            free(data);
            *w = img.w;
            *h = img.h;
            uint8_t *px = img.rgb; /* keep the pixels, release the decoder state */
            img.rgb = NULL;
            img.cap = 0;
            hm_image_release(&img);
            return px;
        }
    }
    *w = 200; *h = 160;
    uint8_t *px = malloc(200 * 160 * 3);
    for (int i = 0; i < 200 * 160 * 3; i++) px[i] = (uint8_t)((i * 7919) % 251);
    return px;
}

START_TEST(test_serial_round_trip)
{
    int w, h;
    uint8_t *px = s_photo(&w, &h);
    hm_fp_t fp, back;
    ck_assert_int_eq(hm_fp_from_rgb(ctx, px, w, h, (size_t)w * 3, &fp), 0);
    uint8_t buf[HM_FP_SERIAL_BYTES + 16];
    int n = hm_fp_serialize(&fp, buf, sizeof buf);
    ck_assert_int_eq(n, HM_FP_SERIAL_BYTES);
    ck_assert_int_eq(hm_fp_deserialize(buf, (size_t)n, &back), 0);
    ck_assert_int_eq(memcmp(&fp.full, &back.full, sizeof fp.full), 0);
    ck_assert_int_eq(memcmp(fp.desc, back.desc, sizeof fp.desc), 0);
    ck_assert_int_eq(fp.width, back.width);
    ck_assert_int_eq(hm_fp_serialize(&fp, buf, 10), HM_E_INVAL);
    /* Truncated, corrupt magic, future version. */
    for (int cut = 0; cut < n; cut += 97)
        ck_assert_int_lt(hm_fp_deserialize(buf, (size_t)cut, &back), 0);
    buf[0] = 'X';
    ck_assert_int_eq(hm_fp_deserialize(buf, (size_t)n, &back), HM_E_CORRUPT);
    buf[0] = 'H';
    buf[4] = 99;
    ck_assert_int_eq(hm_fp_deserialize(buf, (size_t)n, &back), HM_E_VERSION);
    free(px);
}
END_TEST

START_TEST(test_trim_finds_padded_copy)
{
    int w, h;
    uint8_t *px = s_photo(&w, &h);
    hm_fp_t orig, pad;
    ck_assert_int_eq(hm_fp_from_rgb(ctx, px, w, h, (size_t)w * 3, &orig), 0);
    /* Place it on a white canvas 1.6x wider and 1.3x taller, off centre. */
    int W = w * 8 / 5, H = h * 13 / 10, ox = w / 5, oy = h / 10;
    uint8_t *canvas = malloc((size_t)W * H * 3);
    memset(canvas, 255, (size_t)W * H * 3);
    for (int y = 0; y < h; y++)
        memcpy(canvas + ((size_t)(y + oy) * W + ox) * 3, px + (size_t)y * w * 3, (size_t)w * 3);
    ck_assert_int_eq(hm_fp_from_rgb(ctx, canvas, W, H, (size_t)W * 3, &pad), 0);
    ck_assert_int_eq(pad.has_trim, 1);
    ck_assert_int_le(abs(pad.trim_box.x - ox), 2);
    ck_assert_int_le(abs(pad.trim_box.w - w), 4);
    int whole = hm_pdq_distance(&pad.full.pdq[0], &orig.full.pdq[0]);
    int trimmed = hm_pdq_distance(&pad.trim.pdq[0], &orig.full.pdq[0]);
    ck_assert_msg(trimmed <= 16, "trimmed copy is %d bits away", trimmed);
    ck_assert_msg(whole > trimmed, "padding should hurt the untrimmed hash (%d vs %d)", whole, trimmed);
    /* A flat image is not trimmed to nothing, an unpadded photo not at all. */
    hm_box_t box;
    memset(canvas, 128, (size_t)W * H * 3);
    ck_assert_int_eq(hm_trim_detect(canvas, W, H, (size_t)W * 3, &box), 0);
    free(canvas);
    free(px);
}
END_TEST

START_TEST(test_descriptor)
{
    int w, h;
    uint8_t *px = s_photo(&w, &h);
    hm_fp_t a, b;
    ck_assert_int_eq(hm_fp_from_rgb(ctx, px, w, h, (size_t)w * 3, &a), 0);
    double n = 0;
    for (int i = 0; i < HM_DESC_DIM; i++) n += (double)a.desc[i] * a.desc[i];
    ck_assert_double_eq_tol(n, 1.0, 1e-4);
    /* A 10% centre crop stays similar; an unrelated image does not. */
    int cx = w / 20, cy = h / 20, cw = w - 2 * cx, ch = h - 2 * cy;
    ck_assert_int_eq(hm_fp_from_rgb(ctx, px + ((size_t)cy * w + cx) * 3, cw, ch, (size_t)w * 3, &b), 0);
    float crop = hm_desc_similarity(a.desc, b.desc);
    uint8_t *noise = malloc((size_t)w * h * 3);
    uint64_t st = 1;
    for (size_t i = 0; i < (size_t)w * h * 3; i++) noise[i] = (uint8_t)(tu_rand(&st) & 0xff);
    ck_assert_int_eq(hm_fp_from_rgb(ctx, noise, w, h, (size_t)w * 3, &b), 0);
    float other = hm_desc_similarity(a.desc, b.desc);
    ck_assert_msg(crop > 0.9f && crop > other + 0.1f, "crop %.3f other %.3f", crop, other);
    free(noise);
    free(px);
}
END_TEST

START_TEST(test_simd_levels_same_hashes)
{
    const char *dir = tu_shared_path("conformance/pdq/images/bridge-mods");
    if (!dir)
        return;
    static const char *files[] = { "aaa-orig.jpg", "square-512x512.jpg", "blur-a-lot.jpg" };
    int orig = hm_simd_level();
    for (size_t f = 0; f < 3; f++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, files[f]);
        uint8_t *data;
        size_t len;
        tu_read_file(path, &data, &len);
        hm_fp_t ref, fp;
        ck_assert_int_eq(hm__simd_force(HM_SIMD_SCALAR), 0);
        ck_assert_int_eq(hm_fp_compute(ctx, data, len, &ref), 0);
        for (int lv = 1; lv <= hm_simd_best_level(); lv++) {
            ck_assert_int_eq(hm__simd_force(lv), 0);
            ck_assert_int_eq(hm_fp_compute(ctx, data, len, &fp), 0);
            ck_assert_msg(memcmp(&fp.full, &ref.full, sizeof fp.full) == 0,
                          "%s: level %s hashes differ from scalar", files[f], hm_simd_level_name(lv));
            for (int i = 0; i < HM_DESC_DIM; i++)
                ck_assert_float_eq_tol(fp.desc[i], ref.desc[i], 1e-4f);
        }
        free(data);
    }
    hm__simd_force(orig);
}
END_TEST

START_TEST(test_grocery_reencode)
{
    const char *dir = tu_shared_path("datasets/grocery/train/Packages/Juice/Bravo-Apple-Juice");
    if (!dir)
        return;
    int worst = 0;
    for (int i = 1; i <= 5; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/Bravo-Apple-Juice_%03d.jpg", dir, i);
        uint8_t *data;
        size_t len;
        if (tu_try_read_file(path, &data, &len) != 0)
            ck_abort_msg("missing grocery photo %s", path);
        hm_fp_t a, b;
        ck_assert_int_eq(hm_fp_compute(ctx, data, len, &a), 0);
        VipsImage *im = vips_image_new_from_buffer(data, len, "", NULL);
        ck_assert_ptr_nonnull(im);
        void *q;
        size_t qlen;
        ck_assert_int_eq(vips_image_write_to_buffer(im, ".jpg", &q, &qlen, "Q", 40, NULL), 0);
        ck_assert_int_eq(hm_fp_compute(ctx, q, qlen, &b), 0);
        int d = hm_pdq_distance(&a.full.pdq[0], &b.full.pdq[0]);
        if (d > worst) worst = d;
        g_free(q);
        g_object_unref(im);
        free(data);
    }
    ck_assert_msg(worst <= 24, "JPEG Q40 moved PDQ by %d bits", worst);
}
END_TEST

/* A context's plan cache must not change results: the same pixels give the
 * same fingerprint whatever the context hashed before (many non-square
 * sizes cycle the cache; before the fix, building the y plan could evict the
 * x plan in use). */
START_TEST(test_context_history_independent)
{
    uint64_t st = 99;
    hm_fp_ctx_t *shared = NULL;
    ck_assert_int_eq(hm_fp_ctx_new(&shared, NULL), 0);
    for (int k = 0; k < 80; k++) {
        /* few widths (cached x plans), many heights (new y plans) */
        int w = 100 + 50 * (int)(tu_rand(&st) % 5), h = 40 + (int)(tu_rand(&st) % 300);
        uint8_t *rgb = malloc((size_t)w * h * 3);
        for (int i = 0; i < w * h * 3; i++)
            rgb[i] = (uint8_t)((i / 3 % w) * 7 + (i / 3 / w) * 3 + (tu_rand(&st) & 31));
        hm_fp_t a, b;
        hm_fp_ctx_t *fresh = NULL;
        ck_assert_int_eq(hm_fp_ctx_new(&fresh, NULL), 0);
        ck_assert_int_eq(hm_fp_from_rgb(shared, rgb, w, h, (size_t)w * 3, &a), 0);
        ck_assert_int_eq(hm_fp_from_rgb(fresh, rgb, w, h, (size_t)w * 3, &b), 0);
        ck_assert_msg(memcmp(&a.full, &b.full, sizeof a.full) == 0, "image %d (%dx%d)", k, w, h);
        ck_assert(memcmp(a.desc, b.desc, sizeof a.desc) == 0);
        hm_fp_ctx_free(&fresh);
        free(rgb);
    }
    hm_fp_ctx_free(&shared);
}
END_TEST

/* Serialised features of f (for byte comparison); the caller frees. */
static uint8_t *s_lf_bytes(const hm_lf_feat_t *f, size_t *n)
{
    size_t cap = hm_lf_serial_size(f);
    uint8_t *b = malloc(cap);
    ck_assert_int_eq(hm_lf_serialize(f, b, cap, n), 0);
    return b;
}

/* The *_ctx calls reuse the fingerprint's pixels only where a decode would
 * give the same ones, and their results equal the per-thread calls' bit for
 * bit: for a photo the fingerprint does not shrink (reused) and for one it
 * shrinks on load (decoded again at the signal's own scale). */
START_TEST(test_ctx_signals_identical)
{
    static const int sizes[2][2] = { { 300, 200 }, { 1200, 900 } };
    for (int k = 0; k < 2; k++) {
        int w = sizes[k][0], h = sizes[k][1];
        uint8_t *rgb = malloc((size_t)w * h * 3);
        uint64_t st = 7 + (uint64_t)k;
        for (size_t i = 0; i < (size_t)w * h * 3; i++)
            rgb[i] = (uint8_t)(((i / 3 % w) / 9 % 2 ? 200 : 40) + ((i / 3 / w) / 13 % 2) * 30 +
                               (tu_rand(&st) & 15));
        void *jpg;
        size_t jlen;
        ck_assert_int_eq(tu_encode(rgb, w, h, ".jpg", &jpg, &jlen), 0);
        hm_fp_t fp;
        ck_assert_int_eq(hm_fp_compute(ctx, jpg, jlen, &fp), 0);
        const hm_image_t *im = hm_fp_ctx_image(ctx);
        int unshrunk = im->w == im->orig_w && im->h == im->orig_h;
        ck_assert_int_eq(unshrunk, k == 0); /* the two cases this test is for */
        ck_assert_int_eq(hm_fp_ctx_image_of(ctx, jpg, jlen, 348) != NULL, k == 0);
        /* other bytes (another pointer) are never taken for these */
        uint8_t *copy = malloc(jlen);
        memcpy(copy, jpg, jlen);
        ck_assert_ptr_null(hm_fp_ctx_image_of(ctx, copy, jlen, 348));

        uint8_t *a, *b;
        size_t al, bl;
        ck_assert_int_eq(hm_lf_ref_blob(jpg, jlen, &a, &al), 0);
        ck_assert_int_eq(hm_lf_ref_blob_ctx(ctx, jpg, jlen, &b, &bl), 0);
        ck_assert_uint_eq(al, bl);
        ck_assert_int_eq(memcmp(a, b, al), 0);
        free(a);
        free(b);

        const hm_lf_feat_t *q, *m;
        ck_assert_int_eq(hm_lf_query_ctx(ctx, jpg, jlen, &q, &m), 0);
        size_t ql, ml, q2l, m2l;
        uint8_t *qb = s_lf_bytes(q, &ql), *mb = s_lf_bytes(m, &ml);
        if (unshrunk || im->w >= 512 || im->h >= 512)
            ck_assert_int_eq(hm_lf_query_rgb(im->rgb, im->w, im->h, im->stride, &q, &m), 0);
        else
            ck_assert_int_eq(hm_lf_query(jpg, jlen, &q, &m), 0);
        uint8_t *q2 = s_lf_bytes(q, &q2l), *m2 = s_lf_bytes(m, &m2l);
        ck_assert(ql == q2l && memcmp(qb, q2, ql) == 0);
        ck_assert(ml == m2l && memcmp(mb, m2, ml) == 0);
        free(qb), free(mb), free(q2), free(m2);

        void *t1, *t2;
        size_t t1l, t2l;
        ck_assert_int_eq(hm_thumb_jpeg(jpg, jlen, HM_THUMB_PX, &t1, &t1l), 0);
        ck_assert_int_eq(hm_thumb_jpeg_ctx(ctx, jpg, jlen, HM_THUMB_PX, &t2, &t2l), 0);
        ck_assert(t1l == t2l && memcmp(t1, t2, t1l) == 0);
        free(t1);
        free(t2);
        ck_assert_int_eq(hm_thumb_jpeg_ctx(NULL, jpg, jlen, HM_THUMB_PX, &t2, &t2l), HM_E_INVAL);
        free(copy);
        g_free(jpg);
        free(rgb);
    }
}
END_TEST

Suite *hm_suite_fp(void)
{
    Suite *s = suite_create("fp");
    TCase *tc = tcase_create("fingerprint");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, s_setup, s_teardown);
    tcase_add_test(tc, test_serial_round_trip);
    tcase_add_test(tc, test_trim_finds_padded_copy);
    tcase_add_test(tc, test_descriptor);
    tcase_add_test(tc, test_simd_levels_same_hashes);
    tcase_add_test(tc, test_grocery_reencode);
    tcase_add_test(tc, test_context_history_independent);
    tcase_add_test(tc, test_ctx_signals_identical);
    suite_add_tcase(s, tc);
    return s;
}
