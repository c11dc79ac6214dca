/*
 * hm_fp.c - decode + every signal of one image, and the serialised form.
 *
 * The luma plane is made once; PDQ's 64x64 grid, pHash's 32x32 and dHash's
 * 9x8 grid are all tent-downsampled from it, for the whole image and for the
 * trimmed content box; the descriptor reuses the 64x64 grid.  Scratch buffers
 * and resampling plans live in the context and only grow, so a steady stream
 * of similar images allocates nothing.
 */
#include "hm_fp.h"

#include <stdlib.h>
#include <string.h>

#include "hm_desc.h"
#include "hm_error.h"
#include "hm_hashes.h"
#include "hm_lf_ref.h"
#include "hm_pdq.h"
#include "hm_resample.h"
#include "hm_simd.h"
#include "hm_thumb.h"
#include "hm_regions.h"
#include "hm_trim.h"
#include "hm_util.h"

#define NPLANS 12

struct hm_fp_ctx {
    hm_decode_limits_t lim;
    hm_image_t img;
    float *luma;
    size_t luma_cap;
    float *tmp;
    size_t tmp_cap;
    hm_rplan_t plans[NPLANS]; /* a small cache keyed by (in_len, out_len) */
    int next_plan;
    hm_fp_timing_t timing;
    int last_ok;              /* luma holds the last image (hm_fp_regions) */
    int lw, lh, rw, rh;       /* its size, and the reference hasher's size for it */
    int ow, oh;               /* its size as displayed */
    int last_decoded;         /* img holds the last image (hm_fp_ctx_image) */
    const void *last_data;    /* the bytes it was decoded from (hm_fp_ctx_image_of) */
    size_t last_len;
    hm_lf_scratch_t *lf;      /* local-feature scratch, made on first use */
    hm_thumb_scratch_t *thumb;/* thumbnail scratch, made on first use */
};

int hm_fp_ctx_new(hm_fp_ctx_t **out, const hm_decode_limits_t *lim)
{
    if (!out)
        return hm__seterr(HM_E_INVAL, "hm_fp_ctx_new: out is NULL");
    hm_fp_ctx_t *c = calloc(1, sizeof *c);
    if (!c)
        return hm__seterr(HM_E_NOMEM, "fingerprint context");
    c->lim = lim ? *lim : hm_decode_limits_default;
    *out = c;
    return 0;
}

void hm_fp_ctx_free(hm_fp_ctx_t **ctx_p)
{
    if (!ctx_p || !*ctx_p)
        return;
    hm_fp_ctx_t *c = *ctx_p;
    hm_image_release(&c->img);
    hm_lf_scratch_free(&c->lf);
    hm_thumb_scratch_free(&c->thumb);
    free(c->luma);
    free(c->tmp);
    for (int i = 0; i < NPLANS; i++)
        hm_rplan_free(&c->plans[i]);
    free(c);
    *ctx_p = NULL;
}

const hm_fp_timing_t *hm_fp_ctx_timing(const hm_fp_ctx_t *ctx)
{
    return &ctx->timing;
}

static int s_grow(float **buf, size_t *cap, size_t n)
{
    if (n <= *cap)
        return 0;
    float *nb = realloc(*buf, n * sizeof(float));
    if (!nb)
        return hm__seterr(HM_E_NOMEM, "scratch of %zu floats", n);
    *buf = nb;
    *cap = n;
    return 0;
}

/* The plan for (in_len, out_len, ref_len), from the cache or built into the
 * next slot round-robin.  keep: a plan the caller still holds, never evicted
 * (without it, building the y plan could recycle the x plan's slot and
 * resample x with y's weights: fingerprints then depended on which images the
 * context had seen before - found by bench/'s repeatability check). */
static const hm_rplan_t *s_plan(hm_fp_ctx_t *c, int in_len, int out_len, int ref_len,
                                const hm_rplan_t *keep)
{
    if (ref_len <= 0)
        ref_len = in_len;
    for (int i = 0; i < NPLANS; i++)
        if (c->plans[i].in_len == in_len && c->plans[i].out_len == out_len &&
            c->plans[i].ref_len == ref_len)
            return &c->plans[i];
    if (&c->plans[c->next_plan] == keep)
        c->next_plan = (c->next_plan + 1) % NPLANS;
    hm_rplan_t *p = &c->plans[c->next_plan];
    c->next_plan = (c->next_plan + 1) % NPLANS;
    hm_rplan_free(p);
    if (hm_rplan_init(p, in_len, out_len, ref_len))
        return NULL;
    return p;
}

/* Resample a (w x h) window of the luma plane to (nx x ny); (rw, rh) is the
 * window's size at the reference hasher's resolution (0: the same). */
static int s_grid(hm_fp_ctx_t *c, const float *src, int w, int h, size_t stride, int nx,
                  int ny, int rw, int rh, float *out)
{
    const hm_rplan_t *px = s_plan(c, w, nx, rw, NULL);
    const hm_rplan_t *py = px ? s_plan(c, h, ny, rh, px) : NULL;
    if (!px || !py)
        return hm_error_set(HM_E_NOMEM, "resampling plan %dx%d to %dx%d", w, h, nx, ny);
    hm_resample(src, w, h, stride, px, py, c->tmp, out);
    return 0;
}

/* PDQ (with its dihedral variants), pHash and dHash of one luma window. */
static int s_hashset(hm_fp_ctx_t *c, const float *src, int w, int h, size_t stride,
                     int rw, int rh, hm_hashset_t *hs, float grid64[64 * 64],
                     uint64_t *t_pdq, uint64_t *t_hash)
{
    uint64_t t0 = hm_mono_ns();
    int rc = s_grid(c, src, w, h, stride, 64, 64, rw, rh, grid64);
    if (rc)
        return rc;
    float dct[16 * 16];
    hs->quality = hm_pdq_quality(grid64);
    hm_pdq_dct16(grid64, dct);
    hm_pdq_hashes(dct, hs->pdq);
    uint64_t t1 = hm_mono_ns();
    float g32[32 * 32], g9[8 * 9];
    if ((rc = s_grid(c, src, w, h, stride, 32, 32, 0, 0, g32)) ||
        (rc = s_grid(c, src, w, h, stride, 9, 8, 0, 0, g9)))
        return rc;
    hs->phash = hm_phash_from_grid(g32);
    hs->dhash = hm_dhash_from_grid(g9);
    *t_pdq += t1 - t0;
    *t_hash += hm_mono_ns() - t1;
    return 0;
}

/* Mean R, G, B of a 4x4 grid of cells: plain running sums over each row's
 * four segments (no per-pixel division, so the compiler vectorises it). */
static void s_colour_grid(const uint8_t *rgb, int w, int h, size_t stride, float out[48])
{
    uint64_t sum[48] = { 0 };
    int x0[5], y0[5];
    for (int i = 0; i <= 4; i++) {
        x0[i] = (i * w) / 4;
        y0[i] = (i * h) / 4;
    }
    for (int cy = 0; cy < 4; cy++)
        for (int y = y0[cy]; y < y0[cy + 1]; y++) {
            const uint8_t *row = rgb + (size_t)y * stride;
            for (int cx = 0; cx < 4; cx++) {
                uint32_t r = 0, g = 0, b = 0;
                for (int x = x0[cx]; x < x0[cx + 1]; x++) {
                    r += row[3 * x];
                    g += row[3 * x + 1];
                    b += row[3 * x + 2];
                }
                uint64_t *cell = sum + 3 * (cy * 4 + cx);
                cell[0] += r;
                cell[1] += g;
                cell[2] += b;
            }
        }
    for (int cy = 0; cy < 4; cy++)
        for (int cx = 0; cx < 4; cx++) {
            double n = (double)(x0[cx + 1] - x0[cx]) * (y0[cy + 1] - y0[cy]);
            for (int k = 0; k < 3; k++)
                out[3 * (cy * 4 + cx) + k] = n > 0 ? (float)(sum[3 * (cy * 4 + cx) + k] / n) : 0.0f;
        }
}

/* The size at which Meta's reference hasher filters an image shown at
 * (ow x oh): it first resizes anything larger than 512 to 512 x 512. */
static void s_ref_size(int ow, int oh, int *rw, int *rh)
{
    if (ow > 512 || oh > 512)
        ow = oh = 512;
    *rw = ow;
    *rh = oh;
}

static int s_fp_pixels(hm_fp_ctx_t *c, const uint8_t *rgb, int w, int h, size_t stride,
                       int ref_w, int ref_h, hm_fp_t *fp)
{
    if (!c || !rgb || !fp || w <= 0 || h <= 0 || stride < (size_t)w * 3)
        return hm__seterr(HM_E_INVAL, "hm_fp_from_rgb: bad arguments");
    if (w < 5 || h < 5)
        return hm__seterr(HM_E_TOO_SMALL, "image is %dx%d, PDQ needs 5x5", w, h);
    int rc;
    if ((rc = s_grow(&c->luma, &c->luma_cap, (size_t)w * h)) ||
        (rc = s_grow(&c->tmp, &c->tmp_cap, (size_t)64 * w)))
        return rc;
    memset(fp, 0, sizeof *fp);
    c->last_ok = 0;
    c->last_decoded = 0;
    fp->width = (uint32_t)w;
    fp->height = (uint32_t)h;

    uint64_t t_pdq = 0, t_hash = 0;
    const hm_kernels_t *k = hm_kernels();
    for (int y = 0; y < h; y++)
        k->rgb_to_luma(rgb + (size_t)y * stride, (size_t)w, c->luma + (size_t)y * w);
    float grid64[64 * 64], tgrid[64 * 64];
    if ((rc = s_hashset(c, c->luma, w, h, (size_t)w, ref_w, ref_h, &fp->full, grid64,
                        &t_pdq, &t_hash)))
        return rc;
    uint64_t t1 = hm_mono_ns();
    fp->has_trim = hm_trim_detect(rgb, w, h, stride, &fp->trim_box);
    if (fp->has_trim) {
        const hm_box_t *b = &fp->trim_box;
        int rbw = (int)((double)b->w * ref_w / w + 0.5), rbh = (int)((double)b->h * ref_h / h + 0.5);
        rc = s_hashset(c, c->luma + (size_t)b->y * w + b->x, b->w, b->h, (size_t)w,
                       rbw > 0 ? rbw : 1, rbh > 0 ? rbh : 1, &fp->trim, tgrid, &t_pdq, &t_hash);
        if (rc)
            return rc;
    }
    uint64_t t2 = hm_mono_ns();
    float colour[48];
    s_colour_grid(rgb, w, h, stride, colour);
    hm_desc_compute(grid64, colour, fp->desc);
    uint64_t t3 = hm_mono_ns();
    /* The trimmed box's hashes count as PDQ and hash time, not trim time. */
    c->timing.pdq_ns = t_pdq;
    c->timing.hashes_ns = t_hash;
    c->timing.trim_ns = t2 - t1;
    c->timing.desc_ns = t3 - t2;
    c->last_ok = 1;
    c->lw = w;
    c->lh = h;
    c->rw = ref_w;
    c->rh = ref_h;
    c->ow = w;
    c->oh = h;
    return 0;
}

int hm_fp_from_rgb(hm_fp_ctx_t *c, const uint8_t *rgb, int w, int h, size_t stride,
                   hm_fp_t *fp)
{
    int rw, rh;
    s_ref_size(w, h, &rw, &rh);
    return s_fp_pixels(c, rgb, w, h, stride, rw, rh, fp);
}

int hm_fp_compute(hm_fp_ctx_t *c, const void *data, size_t len, hm_fp_t *fp)
{
    if (!c || !fp)
        return hm__seterr(HM_E_INVAL, "hm_fp_compute: NULL argument");
    c->last_ok = 0;
    c->last_decoded = 0;
    uint64_t t0 = hm_mono_ns();
    int rc = hm_decode(data, len, &c->lim, &c->img);
    uint64_t t1 = hm_mono_ns();
    c->timing = (hm_fp_timing_t){ .decode_ns = t1 - t0 };
    if (rc)
        return rc;
    int rw, rh;
    s_ref_size(c->img.orig_w, c->img.orig_h, &rw, &rh);
    rc = s_fp_pixels(c, c->img.rgb, c->img.w, c->img.h, c->img.stride, rw, rh, fp);
    if (rc)
        return rc;
    /* Report sizes and the content box in the displayed image's pixels. */
    if (fp->has_trim && (c->img.orig_w != c->img.w || c->img.orig_h != c->img.h)) {
        hm_box_t *b = &fp->trim_box;
        double sx = (double)c->img.orig_w / c->img.w, sy = (double)c->img.orig_h / c->img.h;
        b->x = (int)(b->x * sx + 0.5);
        b->y = (int)(b->y * sy + 0.5);
        b->w = (int)(b->w * sx + 0.5);
        b->h = (int)(b->h * sy + 0.5);
    }
    fp->width = (uint32_t)c->img.orig_w;
    fp->height = (uint32_t)c->img.orig_h;
    c->ow = c->img.orig_w;
    c->oh = c->img.orig_h;
    c->last_decoded = 1;
    c->last_data = data;
    c->last_len = len;
    c->timing.decode_ns = t1 - t0;
    c->timing.total_ns = hm_mono_ns() - t0;
    return 0;
}

const hm_image_t *hm_fp_ctx_image(const hm_fp_ctx_t *c)
{
    return c && c->last_decoded ? &c->img : NULL;
}

const hm_image_t *hm_fp_ctx_image_of(const hm_fp_ctx_t *c, const void *data, size_t len,
                                     int target_side)
{
    if (!hm__fp_ctx_holds(c, data, len))
        return NULL;
    /* The same decode call gives the same pixels.  A decode that shrank
     * nothing at a smaller target shrinks nothing at a larger one either
     * (shrink-on-load only grows as the target falls, hm_decode.h), so its
     * pixels are the ones a decode at target_side would give. */
    const hm_image_t *im = &c->img;
    int unshrunk = im->w == im->orig_w && im->h == im->orig_h;
    if (c->lim.target_side == target_side || (unshrunk && c->lim.target_side <= target_side))
        return im;
    return NULL;
}

int hm__fp_ctx_holds(const hm_fp_ctx_t *c, const void *data, size_t len)
{
    return c && c->last_decoded && c->last_data == data && c->last_len == len;
}

hm_lf_scratch_t *hm__fp_ctx_lf(hm_fp_ctx_t *c)
{
    if (!c->lf && hm_lf_scratch_new(&c->lf))
        return NULL;
    return c->lf;
}

hm_thumb_scratch_t *hm__fp_ctx_thumb(hm_fp_ctx_t *c)
{
    if (!c->thumb && hm_thumb_scratch_new(&c->thumb))
        return NULL;
    return c->thumb;
}

int hm_fp_regions(hm_fp_ctx_t *c, hm_hashset_t *sets, hm_box_t *boxes, int cap)
{
    if (!c || !sets || !boxes || cap < 0)
        return hm__seterr(HM_E_INVAL, "hm_fp_regions: bad arguments");
    if (!c->last_ok)
        return hm__seterr(HM_E_INVAL, "hm_fp_regions: no fingerprinted image on this context");
    hm_box_t b[HM_REGIONS_MAX];
    int n = hm_regions_detect(c->luma, c->lw, c->lh, (size_t)c->lw, b, cap < HM_REGIONS_MAX ? cap : HM_REGIONS_MAX);
    double sx = (double)c->ow / c->lw, sy = (double)c->oh / c->lh;
    for (int i = 0; i < n; i++) {
        float grid[64 * 64];
        uint64_t tp = 0, th = 0;
        int rbw = (int)((double)b[i].w * c->rw / c->lw + 0.5);
        int rbh = (int)((double)b[i].h * c->rh / c->lh + 0.5);
        int rc = s_hashset(c, c->luma + (size_t)b[i].y * c->lw + b[i].x, b[i].w, b[i].h,
                           (size_t)c->lw, rbw > 0 ? rbw : 1, rbh > 0 ? rbh : 1, &sets[i], grid,
                           &tp, &th);
        if (rc)
            return rc;
        boxes[i] = (hm_box_t){ (int)(b[i].x * sx + 0.5), (int)(b[i].y * sy + 0.5),
                               (int)(b[i].w * sx + 0.5), (int)(b[i].h * sy + 0.5) };
    }
    return n;
}
