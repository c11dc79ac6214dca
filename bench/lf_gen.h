/*
 * lf_gen.h - generated copy-detection cases for the local-feature tests and
 * bench/bench_lf.c: a real photo transformed with libvips the way
 * counterfeit listings edit brand photos, encoded to JPEG.
 *
 * Header-only (static functions) because the test runner and the benchmark
 * are separate programs that both need it.
 */
#ifndef HM_LF_GEN_H
#define HM_LF_GEN_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <vips/vips.h>

#include "hm_util.h"

enum lfg_family {
    LFG_CROP50, LFG_PAD, LFG_FRAME, LFG_ROT5, LFG_ROT10, LFG_ROT15, LFG_MIRROR,
    LFG_COLLAGE4, LFG_JPEG40, LFG_CROP_ROT, LFG_NFAM
};

static const char *const lfg_names[LFG_NFAM] = {
    "crop50", "pad", "frame+caption", "rot5", "rot10", "rot15", "mirror",
    "collage4", "jpeg40", "crop70+rot10",
};

/* What was applied, for checking the fitted transform. */
typedef struct lfg_truth {
    double scale;      /* query normalised size / reference normalised size */
    double rot_deg;    /* rotation applied (counter-clockwise in image coordinates: y down) */
    int mirrored;
} lfg_truth_t;

#define lfg_rand hm_rng_next
#define lfg_unif hm_rng_unit

static VipsImage *lfg_load(const void *buf, size_t len)
{
    VipsImage *im = vips_image_new_from_buffer(buf, len, "", NULL), *out = NULL;
    if (!im)
        return NULL;
    if (vips_colourspace(im, &out, VIPS_INTERPRETATION_sRGB, NULL)) {
        g_object_unref(im);
        return NULL;
    }
    g_object_unref(im);
    if (out->Bands > 3) {
        VipsImage *t;
        vips_extract_band(out, &t, 0, "n", 3, NULL);
        g_object_unref(out);
        out = t;
    }
    /* the buffer is only borrowed by libvips: decode now */
    VipsImage *mem = vips_image_copy_memory(out);
    g_object_unref(out);
    return mem;
}

static VipsImage *lfg_white(int w, int h)
{
    VipsImage *b, *c;
    vips_black(&b, w, h, "bands", 3, NULL);
    vips_linear1(b, &c, 1.0, 255.0, "uchar", TRUE, NULL);
    g_object_unref(b);
    return c;
}

static VipsImage *lfg_rotate(VipsImage *in, double deg)
{
    VipsImage *out;
    VipsArrayDouble *bg = vips_array_double_newv(3, 255.0, 255.0, 255.0);
    /* vips angles are clockwise in image coordinates; ours (y down) too */
    vips_similarity(in, &out, "angle", deg, "background", bg, NULL);
    vips_area_unref(VIPS_AREA(bg));
    return out;
}

static VipsImage *lfg_resize(VipsImage *in, double f)
{
    VipsImage *out;
    vips_resize(in, &out, f, NULL);
    return out;
}

/* Paste img onto base at (x, y); returns a new image, base and img kept. */
static VipsImage *lfg_paste(VipsImage *base, VipsImage *img, int x, int y)
{
    VipsImage *out;
    vips_insert(base, img, &out, x, y, NULL);
    return out;
}

/*
 * lfg_make - one transformed copy of ref (others: distinct products for the
 * collage, at least 3).  Returns a new image; fills truth.
 */
static VipsImage *lfg_make(VipsImage *ref, VipsImage *const *others, int fam, uint64_t seed,
                           lfg_truth_t *t)
{
    uint64_t s = seed * 0x9E3779B97F4A7C15ULL + 12345;
    int w = ref->Xsize, h = ref->Ysize, side = w > h ? w : h;
    VipsImage *out = NULL, *tmp = NULL, *tmp2 = NULL;
    t->scale = 1, t->rot_deg = 0, t->mirrored = 0;
    switch (fam) {
    case LFG_CROP50: {
        int cw = (int)(w * 0.7071), ch = (int)(h * 0.7071);
        int x = (int)(lfg_unif(&s) * (w - cw)), y = (int)(lfg_unif(&s) * (h - ch));
        vips_crop(ref, &out, x, y, cw, ch, NULL);
        t->scale = (double)side / (cw > ch ? cw : ch);
        break;
    }
    case LFG_PAD: {
        double f = 1.4 + 0.4 * lfg_unif(&s);
        int cw = (int)(w * f), ch = (int)(h * (1.2 + 0.3 * lfg_unif(&s)));
        VipsImage *canvas = lfg_white(cw, ch);
        out = lfg_paste(canvas, ref, (int)(lfg_unif(&s) * (cw - w)), (int)(lfg_unif(&s) * (ch - h)));
        g_object_unref(canvas);
        t->scale = (double)side / (cw > ch ? cw : ch);
        break;
    }
    case LFG_FRAME: {
        /* a coloured frame, and a caption strip of dark "words" on white below */
        int b = 12 + (int)(lfg_unif(&s) * 12), cap = h / 5;
        int cw = w + 2 * b, ch = h + 2 * b + cap;
        VipsImage *canvas, *blk;
        vips_black(&blk, cw, ch, "bands", 3, NULL);
        tmp = vips_image_copy_memory(blk);
        g_object_unref(blk);
        double col[3] = { 40 + 200 * lfg_unif(&s), 40 + 200 * lfg_unif(&s), 40 + 200 * lfg_unif(&s) };
        vips_draw_rect(tmp, col, 3, 0, 0, cw, ch, "fill", TRUE, NULL);
        double white[3] = { 255, 255, 255 }, ink[3] = { 20, 20, 20 };
        vips_draw_rect(tmp, white, 3, b, h + 2 * b, w, cap - b, "fill", TRUE, NULL);
        for (int x = b + 6; x < b + w - 20;) {
            int ww = 6 + (int)(lfg_unif(&s) * 30);
            vips_draw_rect(tmp, ink, 3, x, h + 2 * b + cap / 4, ww, cap / 3, "fill", TRUE, NULL);
            x += ww + 6;
        }
        canvas = tmp;
        tmp = NULL;
        out = lfg_paste(canvas, ref, b, b);
        g_object_unref(canvas);
        t->scale = (double)side / (cw > ch ? cw : ch);
        break;
    }
    case LFG_ROT5: case LFG_ROT10: case LFG_ROT15: {
        double deg = fam == LFG_ROT5 ? 5 : fam == LFG_ROT10 ? 10 : 15;
        if (lfg_rand(&s) & 1)
            deg = -deg;
        out = lfg_rotate(ref, deg);
        t->rot_deg = deg;
        t->scale = (double)side / (out->Xsize > out->Ysize ? out->Xsize : out->Ysize);
        break;
    }
    case LFG_MIRROR:
        vips_flip(ref, &out, VIPS_DIRECTION_HORIZONTAL, NULL);
        t->mirrored = 1;
        break;
    case LFG_COLLAGE4: {
        /* 2 x 2 grid of half-size products, the reference in a random cell */
        int cw = 2 * w, ch = 2 * h, pos = (int)(lfg_rand(&s) & 3);
        VipsImage *canvas = lfg_white(cw, ch);
        for (int k = 0, o = 0; k < 4; k++) {
            VipsImage *src = k == pos ? ref : others[o++];
            VipsImage *r1 = lfg_resize(src, (double)w / src->Xsize);
            VipsImage *n = lfg_paste(canvas, r1, (k & 1) * w, (k >> 1) * h);
            g_object_unref(r1);
            g_object_unref(canvas);
            canvas = n;
        }
        out = lfg_resize(canvas, 0.5);
        g_object_unref(canvas);
        t->scale = 0.5;
        break;
    }
    case LFG_JPEG40:
        out = ref;
        g_object_ref(out);
        break;
    case LFG_CROP_ROT: {
        int cw = (int)(w * 0.84), ch = (int)(h * 0.84);
        vips_crop(ref, &tmp2, (int)(lfg_unif(&s) * (w - cw)), (int)(lfg_unif(&s) * (h - ch)), cw, ch, NULL);
        double deg = (lfg_rand(&s) & 1) ? 10 : -10;
        out = lfg_rotate(tmp2, deg);
        t->rot_deg = deg;
        t->scale = (double)side / (out->Xsize > out->Ysize ? out->Xsize : out->Ysize);
        break;
    }
    default:
        return NULL;
    }
    if (tmp)
        g_object_unref(tmp);
    if (tmp2)
        g_object_unref(tmp2);
    return out;
}

/* Encode as JPEG at quality q; the caller g_free()s *buf. */
static int lfg_jpeg(VipsImage *im, int q, void **buf, size_t *len)
{
    return vips_jpegsave_buffer(im, buf, len, "Q", q, NULL);
}

/* im with a small square region of logo (side frac of logo's side) pasted
 * at a random place: shares only a logo-sized region with logo. */
static VipsImage *lfg_logo_paste(VipsImage *im, VipsImage *logo, double frac, uint64_t seed)
{
    uint64_t s = seed + 99;
    int ls = (int)(frac * (logo->Xsize < logo->Ysize ? logo->Xsize : logo->Ysize));
    VipsImage *patch, *out;
    vips_crop(logo, &patch, (logo->Xsize - ls) / 2, (logo->Ysize - ls) / 2, ls, ls, NULL);
    out = lfg_paste(im, patch, (int)(lfg_unif(&s) * (im->Xsize - ls)),
                    (int)(lfg_unif(&s) * (im->Ysize - ls)));
    g_object_unref(patch);
    return out;
}

#endif
