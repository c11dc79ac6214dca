/*
 * test_regions.c - content regions (lib/hm_regions.h): the XY-cut on
 * generated luma (collage grids, screenshots, photos without gutters, flat,
 * tiny and hostile striped images), hm_fp_regions() on a real collage, and
 * the engine matching a brand's photo inside a collage and a screenshot
 * (variant "region", the matched box as evidence) while a collage of
 * unrelated pictures stays unknown.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vips/vips.h>

#include "hm_engine.h"
#include "hm_error.h"
#include "hm_regions.h"
#include "test_util.h"

/* ---------------------------------------------------------- XY-cut units */

typedef struct {
    int w, h;
    float *p;
} lum_t;

static lum_t s_new(int w, int h, float v)
{
    lum_t l = { w, h, malloc((size_t)w * h * sizeof(float)) };
    ck_assert_ptr_nonnull(l.p);
    for (size_t i = 0; i < (size_t)w * h; i++)
        l.p[i] = v;
    return l;
}

/* Texture like a photo: smooth blobs plus pixel noise, never a flat line. */
static void s_texture(lum_t *l, int x0, int y0, int w, int h, uint64_t seed)
{
    uint64_t s = seed;
    double fx = 0.05 + (tu_rand(&s) % 100) * 0.001, fy = 0.04 + (tu_rand(&s) % 100) * 0.001;
    for (int y = y0; y < y0 + h; y++)
        for (int x = x0; x < x0 + w; x++)
            l->p[(size_t)y * l->w + x] =
                (float)(128 + 60 * sin(x * fx) * cos(y * fy) + (double)(tu_rand(&s) % 41) - 20);
}

static int s_has_box(const hm_box_t *b, int n, int x, int y, int w, int h, int tol)
{
    for (int i = 0; i < n; i++)
        if (abs(b[i].x - x) <= tol && abs(b[i].y - y) <= tol && abs(b[i].w - w) <= tol &&
            abs(b[i].h - h) <= tol)
            return 1;
    return 0;
}

START_TEST(test_grid_collage)
{
    /* 2 x 2 tiles of 120 px with 2 px white gutters, as a 484 px collage
     * decodes at half size. */
    lum_t l = s_new(242, 242, 255);
    int pos[2] = { 0, 122 };
    for (int i = 0; i < 4; i++)
        s_texture(&l, pos[i % 2], pos[i / 2], 120, 120, 7 + (uint64_t)i);
    hm_box_t b[HM_REGIONS_MAX];
    int n = hm_regions_detect(l.p, l.w, l.h, (size_t)l.w, b, HM_REGIONS_MAX);
    ck_assert_int_eq(n, 4);
    for (int i = 0; i < 4; i++)
        ck_assert_msg(s_has_box(b, n, pos[i % 2], pos[i / 2], 120, 120, 0), "tile %d missing", i);
    /* A row of three tiles, one gutter column of 1 px. */
    free(l.p);
    l = s_new(362, 120, 250);
    for (int i = 0; i < 3; i++)
        s_texture(&l, i * 121, 0, 120, 120, 30 + (uint64_t)i);
    n = hm_regions_detect(l.p, l.w, l.h, (size_t)l.w, b, HM_REGIONS_MAX);
    ck_assert_int_eq(n, 3);
    for (int i = 0; i < 3; i++)
        ck_assert(s_has_box(b, n, i * 121, 0, 120, 120, 0));
    free(l.p);
}
END_TEST

START_TEST(test_screenshot)
{
    /* Page 300 x 400: a coloured title bar with "text", a 180 x 180 photo in
     * side margins, two caption lines and two buttons below. */
    lum_t l = s_new(300, 400, 240);
    for (int y = 0; y < 40; y++)
        for (int x = 0; x < 300; x++)
            l.p[y * 300 + x] = 90;
    for (int y = 10; y < 28; y++) /* white glyph blocks on the bar */
        for (int x = 8; x < 200; x++)
            if ((x / 6) % 2)
                l.p[y * 300 + x] = 255;
    s_texture(&l, 60, 40, 180, 180, 99);
    for (int line = 0; line < 2; line++)
        for (int y = 226 + 24 * line; y < 240 + 24 * line; y++)
            for (int x = 66; x < 230; x++)
                if ((x / 4 + y / 3) % 3 == 0)
                    l.p[y * 300 + x] = 30;
    for (int y = 300; y < 340; y++)
        for (int x = 0; x < 300; x++)
            if (x % 150 > 8 && x % 150 < 142)
                l.p[y * 300 + x] = x < 150 ? 200 : 60;
    hm_box_t b[HM_REGIONS_MAX];
    int n = hm_regions_detect(l.p, l.w, l.h, (size_t)l.w, b, HM_REGIONS_MAX);
    ck_assert_int_ge(n, 1);
    /* the photo is the largest region; bars, lines and buttons are too thin */
    ck_assert_msg(b[0].x == 60 && b[0].y == 40 && b[0].w == 180 && b[0].h == 180,
                  "largest region %d,%d %dx%d", b[0].x, b[0].y, b[0].w, b[0].h);
    for (int i = 0; i < n; i++)
        ck_assert_int_le(b[i].w, 3 * b[i].h);
    free(l.p);
}
END_TEST

START_TEST(test_no_regions)
{
    hm_box_t b[HM_REGIONS_MAX];
    /* a photo with no flat line: no regions */
    lum_t l = s_new(300, 200, 0);
    s_texture(&l, 0, 0, 300, 200, 5);
    ck_assert_int_eq(hm_regions_detect(l.p, l.w, l.h, (size_t)l.w, b, HM_REGIONS_MAX), 0);
    /* a photo on a plain canvas: peeling alone is the trimmed box's job */
    for (size_t i = 0; i < (size_t)l.w * l.h; i++)
        l.p[i] = 255;
    s_texture(&l, 50, 30, 150, 120, 6);
    ck_assert_int_eq(hm_regions_detect(l.p, l.w, l.h, (size_t)l.w, b, HM_REGIONS_MAX), 0);
    /* flat */
    for (size_t i = 0; i < (size_t)l.w * l.h; i++)
        l.p[i] = 17;
    ck_assert_int_eq(hm_regions_detect(l.p, l.w, l.h, (size_t)l.w, b, HM_REGIONS_MAX), 0);
    free(l.p);
    /* tiny, NULL, bad stride, no room */
    l = s_new(40, 400, 0);
    s_texture(&l, 0, 0, 40, 400, 1);
    ck_assert_int_eq(hm_regions_detect(l.p, l.w, l.h, (size_t)l.w, b, HM_REGIONS_MAX), 0);
    ck_assert_int_eq(hm_regions_detect(NULL, 100, 100, 100, b, HM_REGIONS_MAX), 0);
    ck_assert_int_eq(hm_regions_detect(l.p, 100, 100, 50, b, HM_REGIONS_MAX), 0);
    ck_assert_int_eq(hm_regions_detect(l.p, 40, 400, 40, NULL, HM_REGIONS_MAX), 0);
    ck_assert_int_eq(hm_regions_detect(l.p, 40, 400, 40, b, 0), 0);
    free(l.p);
}
END_TEST

START_TEST(test_hostile_stripes)
{
    /* Alternating flat and textured lines in both directions: a maximal cut
     * tree.  Bounded output, boxes inside the image, no crash. */
    lum_t l = s_new(1024, 1024, 255);
    for (int y = 0; y < 1024; y += 2)
        for (int x = 0; x < 1024; x += 2)
            l.p[(size_t)y * 1024 + x] = (float)((x * 7 + y * 13) % 256);
    hm_box_t b[HM_REGIONS_MAX];
    int n = hm_regions_detect(l.p, l.w, l.h, (size_t)l.w, b, HM_REGIONS_MAX);
    ck_assert_int_ge(n, 0);
    ck_assert_int_le(n, HM_REGIONS_MAX);
    /* a checkerboard of 40 px textured squares with 4 px gutters */
    for (size_t i = 0; i < (size_t)1024 * 1024; i++)
        l.p[i] = 255;
    for (int ty = 0; ty + 40 <= 1024; ty += 44)
        for (int tx = 0; tx + 40 <= 1024; tx += 44)
            s_texture(&l, tx, ty, 40, 40, (uint64_t)(tx * 31 + ty));
    n = hm_regions_detect(l.p, l.w, l.h, (size_t)l.w, b, 3);
    ck_assert_int_le(n, 3);
    for (int i = 0; i < n; i++)
        ck_assert(b[i].x >= 0 && b[i].y >= 0 && b[i].x + b[i].w <= 1024 && b[i].y + b[i].h <= 1024);
    free(l.p);
}
END_TEST

/* ------------------------------------------------- engine, real images */

static VipsImage *s_load_img(const char *path)
{
    uint8_t *data;
    size_t len;
    tu_read_file(path, &data, &len);
    VipsImage *im = vips_image_new_from_buffer(data, len, "", NULL), *mem;
    ck_assert_ptr_nonnull(im);
    mem = vips_image_copy_memory(im);
    g_object_unref(im);
    free(data);
    return mem;
}

/* Smooth coloured noise: an "unrelated product" tile. */
static VipsImage *s_noise_tile(int side, int seed)
{
    VipsImage *n, *b3, *sm, *u8;
    ck_assert_int_eq(vips_gaussnoise(&n, side / 8, side / 8, "sigma", 60.0, "mean", 128.0, "seed", seed, NULL), 0);
    VipsImage *bands[3] = { n, n, n };
    ck_assert_int_eq(vips_bandjoin(bands, &b3, 3, NULL), 0);
    ck_assert_int_eq(vips_resize(b3, &sm, 8.0, NULL), 0);
    ck_assert_int_eq(vips_cast_uchar(sm, &u8, NULL), 0);
    g_object_unref(n);
    g_object_unref(b3);
    g_object_unref(sm);
    return u8;
}

static VipsImage *s_fit(VipsImage *in, int side)
{
    VipsImage *out;
    ck_assert_int_eq(vips_resize(in, &out, (double)side / in->Xsize, "vscale",
                                 (double)side / in->Ysize, NULL), 0);
    return out;
}

/* 2 x 2 tiles of 240 px with 4 px white gutters; tile[pos] = photo (or none). */
static void s_collage(VipsImage *photo, int pos, void **jpg, size_t *len)
{
    VipsImage *tiles[4];
    for (int t = 0; t < 4; t++)
        tiles[t] = photo && t == pos ? s_fit(photo, 240) : s_noise_tile(240, 11 + t);
    VipsImage *out;
    VipsArrayDouble *bg = vips_array_double_newv(1, 255.0);
    ck_assert_int_eq(vips_arrayjoin(tiles, &out, 4, "across", 2, "shim", 4, "background", bg, NULL), 0);
    vips_area_unref(VIPS_AREA(bg));
    for (int t = 0; t < 4; t++)
        g_object_unref(tiles[t]);
    ck_assert_int_eq(vips_jpegsave_buffer(out, jpg, len, "Q", 85, NULL), 0);
    g_object_unref(out);
}

/* A shop screenshot: title bar, the photo at 60% of the page width, a
 * caption with a price, a button strip. */
static void s_screenshot(VipsImage *photo, void **jpg, size_t *len)
{
    int W = photo->Xsize, H = photo->Ysize, side = W / 3, bar = H / 10 + 8, cap = H / 5 + 10;
    int ui = H / 8 + 8;
    VipsImage *page, *mem;
    VipsArrayDouble *bg = vips_array_double_newv(3, 248.0, 248.0, 248.0);
    ck_assert_int_eq(vips_embed(photo, &page, side, bar, W + 2 * side, H + bar + cap + ui,
                                "extend", VIPS_EXTEND_BACKGROUND, "background", bg, NULL), 0);
    vips_area_unref(VIPS_AREA(bg));
    mem = vips_image_copy_memory(page);
    g_object_unref(page);
    double blue[3] = { 40, 70, 160 }, orange[3] = { 250, 170, 0 }, dark[3] = { 30, 30, 30 };
    int PW = mem->Xsize;
    ck_assert_int_eq(vips_draw_rect(mem, blue, 3, 0, 0, PW, bar, "fill", TRUE, NULL), 0);
    ck_assert_int_eq(vips_draw_rect(mem, orange, 3, 8, bar + H + cap + 4, PW / 2 - 16, ui - 8, "fill", TRUE, NULL), 0);
    ck_assert_int_eq(vips_draw_rect(mem, blue, 3, PW / 2 + 8, bar + H + cap + 4, PW / 2 - 16, ui - 8, "fill", TRUE, NULL), 0);
    /* caption "text": dark blocks in two lines */
    for (int line = 0; line < 2; line++)
        for (int k = 0; k < 12; k++)
            ck_assert_int_eq(vips_draw_rect(mem, dark, 3, side + 6 + k * 14, bar + H + 6 + line * (cap / 2),
                                            9, cap / 3, "fill", TRUE, NULL), 0);
    ck_assert_int_eq(vips_jpegsave_buffer(mem, jpg, len, "Q", 85, NULL), 0);
    g_object_unref(mem);
}

static char *s_dir;
static hm_engine_t *s_eng;
static hm_fp_ctx_t *s_ctx;

static void s_setup(void)
{
    s_dir = tu_tmpdir();
    ck_assert_int_eq(hm_fp_ctx_new(&s_ctx, NULL), 0);
    ck_assert_int_eq(hm_engine_open(&s_eng, s_dir, NULL), 0);
    const char *refs[3][2] = { { "demo/refs/Oatly-Oat-Milk_002.jpg", "fake-oatly-002" },
                               { "demo/refs/Arla-Natural-Yoghurt_004.jpg", "arla-004" },
                               { "demo/refs/Bravo-Apple-Juice_003.jpg", "bravo-003" } };
    for (int i = 0; i < 3; i++) {
        uint8_t *data;
        size_t len;
        tu_read_file(refs[i][0], &data, &len);
        hm_ref_meta_t m = { .ext_id = refs[i][1], .bank = i ? HM_BANK_GENUINE : HM_BANK_COUNTERFEIT,
                            .brand = "Demo" };
        uint64_t rid;
        ck_assert_msg(hm_engine_add(s_eng, s_ctx, &m, data, len, &rid) == 0, "%s", hm_last_error());
        free(data);
    }
}

static void s_teardown(void)
{
    hm_engine_close(&s_eng);
    hm_fp_ctx_free(&s_ctx);
    tu_rmtree(s_dir);
    free(s_dir);
}

static void s_expect_region(const void *jpg, size_t len, const char *ref, hm_box_t want)
{
    hm_verdict_t v;
    hm_query_t q = { 0 };
    ck_assert_int_eq(hm_engine_score(s_eng, s_ctx, jpg, len, &q, &v), 0);
    ck_assert_msg(v.n_matches > 0 && v.matches[0].matched, "no match (%s)", v.reason);
    ck_assert_str_eq(v.matches[0].ref, ref);
    ck_assert_msg(strncmp(v.matches[0].variant, "region", 6) == 0, "matched as %s/%s",
                  v.matches[0].signal, v.matches[0].variant);
    const int *r = v.matches[0].region;
    ck_assert_msg(abs(r[0] - want.x) <= 4 && abs(r[1] - want.y) <= 4 && abs(r[2] - want.w) <= 6 &&
                      abs(r[3] - want.h) <= 6,
                  "region %d,%d %dx%d, want %d,%d %dx%d", r[0], r[1], r[2], r[3], want.x, want.y,
                  want.w, want.h);
}

START_TEST(test_engine_collage)
{
    VipsImage *photo = s_load_img("demo/refs/Oatly-Oat-Milk_002.jpg");
    void *jpg;
    size_t len;
    for (int pos = 0; pos < 4; pos++) {
        s_collage(photo, pos, &jpg, &len);
        s_expect_region(jpg, len, "fake-oatly-002",
                        (hm_box_t){ (pos % 2) * 244, (pos / 2) * 244, 240, 240 });
        g_free(jpg);
    }
    /* the same grid of unrelated pictures: nothing */
    s_collage(NULL, 0, &jpg, &len);
    hm_verdict_t v;
    hm_query_t q = { 0 };
    ck_assert_int_eq(hm_engine_score(s_eng, s_ctx, jpg, len, &q, &v), 0);
    ck_assert_int_eq(v.decision, HM_DEC_UNKNOWN);
    g_free(jpg);
    g_object_unref(photo);
}
END_TEST

START_TEST(test_engine_screenshot)
{
    VipsImage *photo = s_load_img("demo/refs/Arla-Natural-Yoghurt_004.jpg");
    void *jpg;
    size_t len;
    s_screenshot(photo, &jpg, &len);
    int W = photo->Xsize, H = photo->Ysize;
    s_expect_region(jpg, len, "arla-004", (hm_box_t){ W / 3, H / 10 + 8, W, H });
    g_free(jpg);
    g_object_unref(photo);
}
END_TEST

START_TEST(test_fp_regions_args)
{
    hm_fp_ctx_t *c;
    ck_assert_int_eq(hm_fp_ctx_new(&c, NULL), 0);
    hm_hashset_t sets[HM_REGIONS_MAX];
    hm_box_t boxes[HM_REGIONS_MAX];
    /* nothing fingerprinted yet, then a failed decode: refused */
    ck_assert_int_eq(hm_fp_regions(c, sets, boxes, HM_REGIONS_MAX), HM_E_INVAL);
    hm_fp_t fp;
    ck_assert_int_ne(hm_fp_compute(c, "\xff\xd8\xff", 3, &fp), 0);
    ck_assert_int_eq(hm_fp_regions(c, sets, boxes, HM_REGIONS_MAX), HM_E_INVAL);
    ck_assert_int_eq(hm_fp_regions(NULL, sets, boxes, 1), HM_E_INVAL);
    ck_assert_int_eq(hm_fp_regions(c, NULL, boxes, 1), HM_E_INVAL);
    /* a plain photo has none */
    uint8_t *data;
    size_t len;
    tu_read_file("demo/refs/Oatly-Oat-Milk_002.jpg", &data, &len);
    ck_assert_int_eq(hm_fp_compute(c, data, len, &fp), 0);
    ck_assert_int_eq(hm_fp_regions(c, sets, boxes, HM_REGIONS_MAX), 0);
    free(data);
    hm_fp_ctx_free(&c);
}
END_TEST

Suite *hm_suite_regions(void)
{
    Suite *s = suite_create("regions");
    TCase *tc = tcase_create("xycut");
    tcase_add_test(tc, test_grid_collage);
    tcase_add_test(tc, test_screenshot);
    tcase_add_test(tc, test_no_regions);
    tcase_add_test(tc, test_hostile_stripes);
    tcase_add_test(tc, test_fp_regions_args);
    suite_add_tcase(s, tc);
    TCase *te = tcase_create("engine");
    tcase_add_checked_fixture(te, s_setup, s_teardown);
    tcase_set_timeout(te, 60);
    tcase_add_test(te, test_engine_collage);
    tcase_add_test(te, test_engine_screenshot);
    suite_add_tcase(s, te);
    return s;
}
