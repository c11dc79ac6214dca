/*
 * test_decode.c - every kind of bad image bytes gives an error code or a
 * fingerprint, never a crash: empty, random, truncated JPEG and PNG, a PNG
 * declaring 60000x60000, CMYK JPEG, RGBA and 16-bit PNG, animated GIF, 1x1,
 * a huge EXIF block, oversized input; and the good formats decode.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <vips/vips.h>

#include "hm_decode.h"
#include "hm_error.h"
#include "hm_fp.h"
#include "test_util.h"

static hm_fp_ctx_t *ctx;
static void s_setup(void) { ck_assert_int_eq(hm_fp_ctx_new(&ctx, NULL), 0); }
static void s_teardown(void) { hm_fp_ctx_free(&ctx); }

/* A smooth test image with some structure. */
static uint8_t *s_image(int w, int h)
{
    uint8_t *p = malloc((size_t)w * h * 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            p[(y * w + x) * 3] = (uint8_t)(x * 255 / w);
            p[(y * w + x) * 3 + 1] = (uint8_t)(y * 255 / h);
            p[(y * w + x) * 3 + 2] = (uint8_t)(((x / 8) ^ (y / 8)) & 1 ? 200 : 40);
        }
    return p;
}

static void *s_encode(int w, int h, const char *suffix, size_t *len)
{
    uint8_t *px = s_image(w, h);
    void *buf = NULL;
    ck_assert_int_eq(tu_encode(px, w, h, suffix, &buf, len), 0);
    free(px);
    return buf;
}

static int s_fp(const void *data, size_t len)
{
    hm_fp_t fp;
    return hm_fp_compute(ctx, data, len, &fp);
}

static uint32_t s_crc32(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xedb88320u & -(c & 1));
    }
    return ~c;
}

static void s_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

START_TEST(test_empty_and_random)
{
    ck_assert_int_eq(s_fp(NULL, 0), HM_E_EMPTY);
    ck_assert_int_eq(s_fp("", 0), HM_E_EMPTY);
    uint64_t st = 3;
    uint8_t buf[4096];
    for (int rep = 0; rep < 50; rep++) {
        size_t n = 1 + tu_rand(&st) % sizeof buf;
        for (size_t i = 0; i < n; i++) buf[i] = (uint8_t)tu_rand(&st);
        int rc = s_fp(buf, n);
        ck_assert_msg(rc == HM_E_UNSUPPORTED || rc == HM_E_CORRUPT, "random bytes: %d %s", rc, hm_last_error());
    }
    /* Magic numbers followed by garbage. */
    static const char *magics[] = { "\xff\xd8\xff\xe0", "\x89PNG\r\n\x1a\n", "GIF89a", "RIFF\0\0\0\0WEBPVP8 ", "II*\0" };
    for (size_t m = 0; m < sizeof magics / sizeof magics[0]; m++) {
        size_t ml = m == 3 ? 16 : strlen(magics[m]);
        memcpy(buf, magics[m], ml);
        for (size_t i = ml; i < 600; i++) buf[i] = (uint8_t)tu_rand(&st);
        int rc = s_fp(buf, 600);
        ck_assert_msg(rc < 0, "garbage after magic %zu decoded", m);
        ck_assert_msg(rc != HM_E_INTERNAL, "internal error on garbage");
    }
}
END_TEST

START_TEST(test_truncated)
{
    static const char *fmts[] = { ".jpg", ".png", ".webp", ".gif", ".tif" };
    for (size_t f = 0; f < sizeof fmts / sizeof fmts[0]; f++) {
        size_t len;
        uint8_t *buf = s_encode(300, 200, fmts[f], &len);
        ck_assert_msg(s_fp(buf, len) == 0, "%s full: %s", fmts[f], hm_last_error());
        for (int cut = 1; cut < 10; cut++) {
            size_t n = len * (size_t)cut / 10;
            int rc = s_fp(buf, n);
            ck_assert_msg(rc == 0 || rc == HM_E_CORRUPT || rc == HM_E_UNSUPPORTED || rc == HM_E_DECODE,
                          "%s cut at %zu/%zu: %d (%s)", fmts[f], n, len, rc, hm_last_error());
        }
        /* A JPEG or PNG cut in half is not a valid image. */
        if (f < 2)
            ck_assert_int_lt(s_fp(buf, len / 2), 0);
        g_free(buf);
    }
}
END_TEST

START_TEST(test_declared_huge)
{
    /* A PNG whose header declares 60000 x 60000 and that has no pixel data. */
    uint8_t png[8 + 25];
    memcpy(png, "\x89PNG\r\n\x1a\n", 8);
    s_be32(png + 8, 13);
    memcpy(png + 12, "IHDR", 4);
    s_be32(png + 16, 60000);
    s_be32(png + 20, 60000);
    png[24] = 8; png[25] = 2; png[26] = 0; png[27] = 0; png[28] = 0;
    s_be32(png + 29, s_crc32(png + 12, 17));
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    ck_assert_int_eq(s_fp(png, sizeof png), HM_E_TOO_LARGE);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double ms = (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6;
    ck_assert_msg(ms < 1000, "rejecting a declared-huge PNG took %.1f ms", ms);
    /* Over the byte limit. */
    hm_decode_limits_t lim = hm_decode_limits_default;
    lim.max_bytes = 100;
    hm_image_t img = { 0 };
    size_t len;
    void *jpg = s_encode(64, 64, ".jpg", &len);
    ck_assert_int_eq(hm_decode(jpg, len, &lim, &img), HM_E_TOO_LARGE);
    lim = hm_decode_limits_default;
    lim.max_pixels = 1000;
    ck_assert_int_eq(hm_decode(jpg, len, &lim, &img), HM_E_TOO_LARGE);
    ck_assert_int_eq(hm_decode(jpg, len, NULL, &img), 0);
    ck_assert_int_eq(img.w, 64);
    hm_image_release(&img);
    g_free(jpg);
}
END_TEST

START_TEST(test_tiny)
{
    size_t len;
    void *one = s_encode(1, 1, ".png", &len);
    ck_assert_int_eq(s_fp(one, len), HM_E_TOO_SMALL);
    g_free(one);
    void *thin = s_encode(400, 3, ".png", &len);
    ck_assert_int_eq(s_fp(thin, len), HM_E_TOO_SMALL);
    g_free(thin);
    void *five = s_encode(5, 5, ".png", &len);
    ck_assert_int_eq(s_fp(five, len), 0);
    g_free(five);
}
END_TEST

START_TEST(test_modes)
{
    hm_decode_init();
    uint8_t *px = s_image(120, 90);
    VipsImage *rgb = vips_image_new_from_memory_copy(px, 120 * 90 * 3, 120, 90, 3, VIPS_FORMAT_UCHAR);
    free(px);
    rgb->Type = VIPS_INTERPRETATION_sRGB;
    hm_fp_t base, fp;
    void *buf;
    size_t len;
    ck_assert_int_eq(vips_image_write_to_buffer(rgb, ".png", &buf, &len, NULL), 0);
    ck_assert_int_eq(hm_fp_compute(ctx, buf, len, &base), 0);
    g_free(buf);
    /* RGBA with an opaque alpha: the same hash. */
    VipsImage *rgba, *u16, *grey;
    ck_assert_int_eq(vips_bandjoin_const1(rgb, &rgba, 255.0, NULL), 0);
    ck_assert_int_eq(vips_image_write_to_buffer(rgba, ".png", &buf, &len, NULL), 0);
    ck_assert_int_eq(hm_fp_compute(ctx, buf, len, &fp), 0);
    ck_assert_int_le(hm_pdq_distance(&fp.full.pdq[0], &base.full.pdq[0]), 2);
    g_free(buf);
    /* 16-bit PNG. */
    ck_assert_int_eq(vips_colourspace(rgb, &u16, VIPS_INTERPRETATION_RGB16, NULL), 0);
    ck_assert_int_eq(vips_image_write_to_buffer(u16, ".png", &buf, &len, NULL), 0);
    ck_assert_int_eq(hm_fp_compute(ctx, buf, len, &fp), 0);
    ck_assert_int_le(hm_pdq_distance(&fp.full.pdq[0], &base.full.pdq[0]), 4);
    g_free(buf);
    /* Grey. */
    ck_assert_int_eq(vips_colourspace(rgb, &grey, VIPS_INTERPRETATION_B_W, NULL), 0);
    ck_assert_int_eq(vips_image_write_to_buffer(grey, ".png", &buf, &len, NULL), 0);
    ck_assert_int_eq(hm_fp_compute(ctx, buf, len, &fp), 0);
    g_free(buf);
    /* Animated GIF: two pages stacked, page-height set; the first frame counts. */
    VipsImage *two, *pages[2] = { rgb, rgb };
    ck_assert_int_eq(vips_arrayjoin(pages, &two, 2, "across", 1, NULL), 0);
    VipsImage *anim;
    ck_assert_int_eq(vips_copy(two, &anim, NULL), 0);
    vips_image_set_int(anim, "page-height", 90);
    ck_assert_int_eq(vips_image_write_to_buffer(anim, ".gif", &buf, &len, NULL), 0);
    ck_assert_int_eq(hm_fp_compute(ctx, buf, len, &fp), 0);
    ck_assert_int_eq(fp.height, 90);
    g_free(buf);
    g_object_unref(anim); g_object_unref(two);
    g_object_unref(grey); g_object_unref(u16); g_object_unref(rgba); g_object_unref(rgb);
}
END_TEST

START_TEST(test_cmyk_and_conformance_modes)
{
    const char *dir = tu_shared_path("conformance/pdq/images/misc-images/modes");
    if (!dir)
        return;
    char path[1024];
    snprintf(path, sizeof path, "%s/CMYK.jpg", dir);
    uint8_t *data;
    size_t len;
    tu_read_file(path, &data, &len);
    hm_fp_t cmyk, rgb;
    ck_assert_msg(hm_fp_compute(ctx, data, len, &cmyk) == 0, "CMYK: %s", hm_last_error());
    free(data);
    snprintf(path, sizeof path, "%s/RGB.jpg", dir);
    tu_read_file(path, &data, &len);
    ck_assert_int_eq(hm_fp_compute(ctx, data, len, &rgb), 0);
    free(data);
    ck_assert_int_le(hm_pdq_distance(&cmyk.full.pdq[0], &rgb.full.pdq[0]), 16);
}
END_TEST

START_TEST(test_huge_exif)
{
    size_t len;
    uint8_t *jpg = s_encode(200, 150, ".jpg", &len);
    /* Insert a 65000-byte APP1 "Exif" segment full of junk after SOI. */
    size_t seg = 65000;
    uint8_t *big = malloc(len + seg + 2);
    memcpy(big, jpg, 2);
    big[2] = 0xff; big[3] = 0xe1;
    big[4] = (uint8_t)(seg >> 8); big[5] = (uint8_t)seg;
    memcpy(big + 6, "Exif\0\0", 6);
    uint64_t st = 9;
    for (size_t i = 12; i < seg + 2; i++) big[i] = (uint8_t)tu_rand(&st);
    memcpy(big + seg + 4, jpg + 2, len - 2);
    int rc = s_fp(big, len + seg + 2);
    ck_assert_msg(rc == 0 || rc == HM_E_CORRUPT, "huge EXIF: %d %s", rc, hm_last_error());
    free(big);
    g_free(jpg);
}
END_TEST

START_TEST(test_decode_bytes_flipped)
{
    /* Hostile: a valid JPEG with random bytes flipped all over it. */
    size_t len;
    uint8_t *jpg = s_encode(160, 120, ".jpg", &len);
    uint8_t *m = malloc(len);
    uint64_t st = 77;
    for (int rep = 0; rep < 60; rep++) {
        memcpy(m, jpg, len);
        for (int k = 0; k < 1 + rep % 8; k++)
            m[tu_rand(&st) % len] ^= (uint8_t)(1 + tu_rand(&st) % 255);
        int rc = s_fp(m, len);
        ck_assert_msg(rc <= 0 && rc != HM_E_INTERNAL && rc != HM_E_INVAL, "rc %d", rc);
    }
    free(m);
    g_free(jpg);
}
END_TEST

Suite *hm_suite_decode(void)
{
    Suite *s = suite_create("decode");
    TCase *tc = tcase_create("bad_input");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, s_setup, s_teardown);
    tcase_add_test(tc, test_empty_and_random);
    tcase_add_test(tc, test_truncated);
    tcase_add_test(tc, test_declared_huge);
    tcase_add_test(tc, test_tiny);
    tcase_add_test(tc, test_modes);
    tcase_add_test(tc, test_cmyk_and_conformance_modes);
    tcase_add_test(tc, test_huge_exif);
    tcase_add_test(tc, test_decode_bytes_flipped);
    suite_add_tcase(s, tc);
    return s;
}
