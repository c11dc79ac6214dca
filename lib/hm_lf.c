/*
 * hm_lf.c - oriented FAST + rotated BRIEF local features (see hm_lf.h).
 */
#include "hm_lf.h"

#include "hm_error.h"
#include "hm_simd.h"
#include "hm_util.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define LF_BORDER 16      /* keypoints keep this far from a level's edges */
#define LF_RADIUS 15      /* pattern and orientation disk radius */
#define LF_ANGLES 30      /* rotation steps of the pattern (12 degrees) */
#define LF_MAXCAND 16384  /* candidates kept over all levels before selection */
#define LF_SLACK 64       /* bytes past each buffer for 32-bit gathers */
#define LF_TWO_PI 6.283185307179586

const hm_lf_opts_t hm_lf_opts_default = {
    .max_kp = 384, .levels = 4, .level_scale = 1.41f, .fast_t = 16, .max_side = 360, .grid = 8,
};

/* The pattern: 256 pairs of (dx, dy), generated once. */
static int8_t s_pat[256][4];
static pthread_once_t s_pat_once = PTHREAD_ONCE_INIT;

static int s_coord(uint64_t *s)
{
    int v = 0;
    for (int i = 0; i < 3; i++)
        v += (int)((hm_rng_next(s) >> 33) % 11) - 5;
    return v;
}

static void s_make_pattern(void)
{
    uint64_t st = 0x686d6c6600000001ULL;
    for (int i = 0; i < 256; i++) {
        for (;;) {
            int ax = s_coord(&st), ay = s_coord(&st), bx = s_coord(&st), by = s_coord(&st);
            if (ax * ax + ay * ay > LF_RADIUS * LF_RADIUS || bx * bx + by * by > LF_RADIUS * LF_RADIUS)
                continue;
            if (ax == bx && ay == by)
                continue;
            s_pat[i][0] = (int8_t)ax, s_pat[i][1] = (int8_t)ay;
            s_pat[i][2] = (int8_t)bx, s_pat[i][3] = (int8_t)by;
            break;
        }
    }
}

typedef struct lf_taps {
    int start, n;
    float w[40];       /* enough for shrinking by up to 39x */
} lf_taps_t;

typedef struct lf_cand {
    float score;
    uint16_t x, y;     /* in the level's pixels */
    uint8_t level;
} lf_cand_t;

typedef struct lf_level {
    int w, h;
    float fx, fy;      /* level-0 pixels per level pixel */
    uint8_t *img;      /* luma, rows of ctx->stride bytes */
    uint8_t *sm;       /* smoothed */
} lf_level_t;

struct hm_lf_ctx {
    hm_lf_opts_t o;
    int stride;              /* row stride of every level buffer */
    int cap_side;            /* level buffers hold cap_side x cap_side */
    lf_level_t lv[8];
    int32_t *off;            /* [LF_ANGLES][512] pattern offsets for stride */
    int32_t *off_m;          /* the same pattern, x negated (mirror) */
    float *score;            /* FAST score map of one level */
    uint32_t *corners;       /* FAST corners of one level (offsets) */
    uint8_t *mask;           /* FAST row output */
    lf_cand_t *cand;
    int ncand;
    int *order, *order2;
    /* input conversion, grown as needed */
    float *luma;
    size_t luma_cap;
    float *tmp;
    size_t tmp_cap;
    uint8_t *tmp8;
    size_t tmp8_cap;
    lf_taps_t *tx, *ty;      /* area weights, one per output sample */
};

int hm_lf_feat_init(hm_lf_feat_t *f, uint32_t cap)
{
    if (!f || cap == 0 || cap > HM_LF_MAX_KP)
        return hm__seterr(HM_E_INVAL, "hm_lf_feat_init: cap %u out of range", cap);
    memset(f, 0, sizeof *f);
    f->kp = calloc(cap, sizeof *f->kp);
    f->desc = calloc(cap, 4 * sizeof(uint64_t));
    if (!f->kp || !f->desc) {
        hm_lf_feat_free(f);
        return hm__seterr(HM_E_NOMEM, "hm_lf_feat_init: %u keypoints", cap);
    }
    f->cap = cap;
    return 0;
}

void hm_lf_feat_free(hm_lf_feat_t *f)
{
    if (!f)
        return;
    free(f->kp);
    free(f->desc);
    f->kp = NULL;
    f->desc = NULL;
    f->n = f->cap = 0;
}

/* Offsets of the pattern rotated by k * 12 degrees, for one stride. */
static void s_make_offsets(int32_t *off, int32_t *off_m, int stride)
{
    for (int k = 0; k < LF_ANGLES; k++) {
        double a = LF_TWO_PI * k / LF_ANGLES, c = cos(a), s = sin(a);
        for (int i = 0; i < 256; i++) {
            for (int j = 0; j < 2; j++) {
                double px = s_pat[i][2 * j], py = s_pat[i][2 * j + 1];
                int rx = (int)lround(c * px - s * py), ry = (int)lround(s * px + c * py);
                off[k * 512 + 256 * j + i] = ry * stride + rx;
                off_m[k * 512 + 256 * j + i] = ry * stride - rx;
            }
        }
    }
}

const hm_lf_opts_t *hm_lf_ctx_opts(const hm_lf_ctx_t *ctx) { return &ctx->o; }

int hm_lf_ctx_create(hm_lf_ctx_t **out, const hm_lf_opts_t *opts)
{
    if (!out)
        return hm__seterr(HM_E_INVAL, "hm_lf_ctx_create: NULL");
    hm_lf_opts_t o = opts ? *opts : hm_lf_opts_default;
    if (o.max_kp < 1 || o.max_kp > HM_LF_MAX_KP || o.levels < 1 || o.levels > 8 ||
        !(o.level_scale >= 1.1f && o.level_scale <= 2.0f) || o.fast_t < 1 || o.fast_t > 200 ||
        o.max_side < 64 || o.max_side > 4096 || o.grid < 1 || o.grid > 32 || o.upscale < 0 || o.upscale > 1)
        return hm__seterr(HM_E_INVAL, "hm_lf_ctx_create: option out of range");
    pthread_once(&s_pat_once, s_make_pattern);
    hm_lf_ctx_t *c = calloc(1, sizeof *c);
    if (!c)
        return hm__seterr(HM_E_NOMEM, "hm_lf_ctx_create");
    c->o = o;
    c->cap_side = o.max_side;
    c->stride = o.max_side;
    size_t plane = (size_t)c->stride * c->cap_side + LF_SLACK;
    int ok = 1;
    for (int l = 0; l < o.levels; l++) {
        c->lv[l].img = malloc(plane);
        c->lv[l].sm = calloc(1, plane);
        ok = ok && c->lv[l].img && c->lv[l].sm;
    }
    c->off = malloc(sizeof(int32_t) * LF_ANGLES * 512);
    c->off_m = malloc(sizeof(int32_t) * LF_ANGLES * 512);
    c->score = calloc(plane, sizeof(float));
    c->corners = malloc(plane * sizeof(uint32_t));
    c->mask = malloc((size_t)c->stride + 64);
    c->cand = malloc(sizeof(lf_cand_t) * LF_MAXCAND);
    c->order = malloc(sizeof(int) * LF_MAXCAND);
    c->order2 = malloc(sizeof(int) * LF_MAXCAND);
    c->tx = malloc(sizeof(lf_taps_t) * (size_t)o.max_side);
    c->ty = malloc(sizeof(lf_taps_t) * (size_t)o.max_side);
    if (!ok || !c->off || !c->off_m || !c->score || !c->corners || !c->mask || !c->cand || !c->order || !c->order2 || !c->tx || !c->ty) {
        hm_lf_ctx_destroy(&c);
        return hm__seterr(HM_E_NOMEM, "hm_lf_ctx_create: scratch");
    }
    s_make_offsets(c->off, c->off_m, c->stride);
    *out = c;
    return 0;
}

void hm_lf_ctx_destroy(hm_lf_ctx_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    hm_lf_ctx_t *c = *self_p;
    for (int l = 0; l < 8; l++) {
        free(c->lv[l].img);
        free(c->lv[l].sm);
    }
    free(c->off);
    free(c->off_m);
    free(c->score);
    free(c->corners);
    free(c->mask);
    free(c->cand);
    free(c->order);
    free(c->order2);
    free(c->tx);
    free(c->ty);
    free(c->luma);
    free(c->tmp);
    free(c->tmp8);
    free(c);
    *self_p = NULL;
}

static int s_grow(void **p, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    void *q = realloc(*p, need);
    if (!q)
        return hm__seterr(HM_E_NOMEM, "hm_lf: scratch of %zu bytes", need);
    *p = q;
    *cap = need;
    return 0;
}

/*
 * Area resampling of a float plane (sw x sh, stride ss floats) to an 8-bit
 * plane (dw x dh, stride ds): each output pixel is the mean of the input box
 * it covers, with fractional edge weights; separable (rows, then columns).
 * Only downscaling (or 1:1, a plain copy) is asked of it.  tmp holds
 * dw x sh floats plus the weight tables.
 */
static void s_taps(lf_taps_t *t, int in, int out)
{
    double r = (double)in / out;
    for (int o = 0; o < out; o++) {
        double a = o * r, b = a + r;
        t[o].start = (int)a;
        t[o].n = 0;
        for (int i = (int)a; i < in && i < b && t[o].n < 40; i++) {
            double lo = i > a ? i : a, hi = i + 1 < b ? i + 1 : b;
            t[o].w[t[o].n++] = (float)((hi - lo) / r);
        }
    }
}

static void s_area(const float *src, int sw, int sh, size_t ss, uint8_t *dst, int dw, int dh,
                   size_t ds, float *tmp, lf_taps_t *tx, lf_taps_t *ty)
{
    if (sw == dw && sh == dh) {
        for (int y = 0; y < sh; y++)
            for (int x = 0; x < sw; x++) {
                float v = src[(size_t)y * ss + x] + 0.5f;
                dst[(size_t)y * ds + x] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
        return;
    }
    s_taps(tx, sw, dw);
    s_taps(ty, sh, dh);
    for (int y = 0; y < sh; y++) {
        const float *s = src + (size_t)y * ss;
        float *t = tmp + (size_t)y * dw;
        for (int o = 0; o < dw; o++) {
            const float *p = s + tx[o].start;
            float acc = 0;
            for (int k = 0; k < tx[o].n; k++)
                acc += tx[o].w[k] * p[k];
            t[o] = acc;
        }
    }
    float acc[4096];
    for (int o = 0; o < dh; o++) {
        uint8_t *d = dst + (size_t)o * ds;
        for (int x = 0; x < dw; x++)
            acc[x] = 0;
        for (int k = 0; k < ty[o].n; k++) {
            float wgt = ty[o].w[k];
            const float *t = tmp + (size_t)(ty[o].start + k) * dw;
            for (int x = 0; x < dw; x++)
                acc[x] += wgt * t[x];
        }
        for (int x = 0; x < dw; x++) {
            float v = acc[x] + 0.5f;
            d[x] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    }
}

/* Bilinear enlargement of a float plane (pixel centres aligned). */
static void s_bilinear(const float *src, int sw, int sh, uint8_t *dst, int dw, int dh, size_t ds)
{
    double rx = (double)sw / dw, ry = (double)sh / dh;
    for (int y = 0; y < dh; y++) {
        double fy = (y + 0.5) * ry - 0.5;
        fy = fy < 0 ? 0 : fy > sh - 1 ? sh - 1 : fy;
        int y0 = (int)fy, y1 = y0 + 1 < sh ? y0 + 1 : y0;
        float wy = (float)(fy - y0);
        for (int x = 0; x < dw; x++) {
            double fx = (x + 0.5) * rx - 0.5;
            fx = fx < 0 ? 0 : fx > sw - 1 ? sw - 1 : fx;
            int x0 = (int)fx, x1 = x0 + 1 < sw ? x0 + 1 : x0;
            float wx = (float)(fx - x0);
            const float *a = src + (size_t)y0 * sw, *b = src + (size_t)y1 * sw;
            float v = (1 - wy) * ((1 - wx) * a[x0] + wx * a[x1]) + wy * ((1 - wx) * b[x0] + wx * b[x1]) + 0.5f;
            dst[(size_t)y * ds + x] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    }
}

/* 5-tap binomial (1 4 6 4 1) / 16, twice, borders clamped.  The interior
 * loops carry no clamps so the compiler vectorises them. */
static void s_smooth(const uint8_t *src, uint8_t *dst, int w, int h, int stride, uint8_t *tmp)
{
    for (int pass = 0; pass < 2; pass++) {
        const uint8_t *in = pass ? dst : src;
        for (int y = 0; y < h; y++) {
            const uint8_t *r = in + (size_t)y * stride;
            uint8_t *t = tmp + (size_t)y * stride;
            for (int x = 0; x < w; x++) {
                if (x == 2 && w > 4)
                    x = w - 2;
                int x0 = x < 2 ? 0 : x - 2, x1 = x < 1 ? 0 : x - 1;
                int x3 = x + 1 >= w ? w - 1 : x + 1, x4 = x + 2 >= w ? w - 1 : x + 2;
                t[x] = (uint8_t)((r[x0] + 4 * r[x1] + 6 * r[x] + 4 * r[x3] + r[x4] + 8) >> 4);
            }
            for (int x = 2; x < w - 2; x++)
                t[x] = (uint8_t)((r[x - 2] + 4 * r[x - 1] + 6 * r[x] + 4 * r[x + 1] + r[x + 2] + 8) >> 4);
        }
        for (int y = 0; y < h; y++) {
            int y0 = y < 2 ? 0 : y - 2, y1 = y < 1 ? 0 : y - 1;
            int y3 = y + 1 >= h ? h - 1 : y + 1, y4 = y + 2 >= h ? h - 1 : y + 2;
            const uint8_t *a = tmp + (size_t)y0 * stride, *b = tmp + (size_t)y1 * stride,
                          *c = tmp + (size_t)y * stride, *d = tmp + (size_t)y3 * stride,
                          *e = tmp + (size_t)y4 * stride;
            uint8_t *o = dst + (size_t)y * stride;
            for (int x = 0; x < w; x++)
                o[x] = (uint8_t)((a[x] + 4 * b[x] + 6 * c[x] + 4 * d[x] + e[x] + 8) >> 4);
        }
    }
}

/* Harris response over a 7x7 window of central-difference gradients. */
static float s_harris(const uint8_t *img, int stride, int x, int y)
{
    float sxx = 0, syy = 0, sxy = 0;
    for (int dy = -3; dy <= 3; dy++) {
        const uint8_t *r = img + (size_t)(y + dy) * stride + x;
        for (int dx = -3; dx <= 3; dx++) {
            float gx = (float)(r[dx + 1] - r[dx - 1]);
            float gy = (float)(r[dx + stride] - r[dx - stride]);
            sxx += gx * gx;
            syy += gy * gy;
            sxy += gx * gy;
        }
    }
    return sxx * syy - sxy * sxy - 0.04f * (sxx + syy) * (sxx + syy);
}

/* FAST score: the larger of the summed excess brightness or darkness over
 * the circle (pixels beyond the threshold only). */
static float s_fast_score(const uint8_t *p, int S, int t)
{
    static const int8_t dx[16] = { 0, 1, 2, 3, 3, 3, 2, 1, 0, -1, -2, -3, -3, -3, -2, -1 };
    static const int8_t dy[16] = { -3, -3, -2, -1, 0, 1, 2, 3, 3, 3, 2, 1, 0, -1, -2, -3 };
    int c = p[0], sb = 0, sd = 0;
    for (int k = 0; k < 16; k++) {
        int v = p[dy[k] * S + dx[k]];
        if (v > c + t)
            sb += v - c - t;
        else if (v < c - t)
            sd += c - t - v;
    }
    return (float)(sb > sd ? sb : sd);
}

/* FAST + 3x3 NMS on the FAST score, then Harris on the survivors: the
 * Harris window (49 gradients) is paid by a few percent of the corners. */
static void s_detect(hm_lf_ctx_t *c, int l)
{
    lf_level_t *L = &c->lv[l];
    const hm_kernels_t *K = hm_kernels();
    int S = c->stride, B = LF_BORDER;
    if (L->w < 2 * B + 3 || L->h < 2 * B + 3)
        return;
    int n = L->w - 2 * B;
    for (int y = B - 1; y <= L->h - B; y++)
        memset(c->score + (size_t)y * S + B - 1, 0, sizeof(float) * (size_t)(n + 2));
    int ncorner = 0;
    for (int y = B; y < L->h - B; y++) {
        K->fast9_row(L->img + (size_t)y * S + B, S, (size_t)n, c->o.fast_t, c->mask);
        float *sr = c->score + (size_t)y * S;
        for (int i = 0; i < n; i++)
            if (c->mask[i]) {
                sr[B + i] = s_fast_score(L->img + (size_t)y * S + B + i, S, c->o.fast_t) + 1.0f;
                c->corners[ncorner++] = (uint32_t)(y * S + B + i);
            }
    }
    for (int j = 0; j < ncorner; j++) {
        const float *r = c->score + c->corners[j];
        float v = r[0];
        /* strict on the earlier neighbours, >= on later: one winner per plateau */
        if (v <= r[-1] || v < r[1] || v <= r[-S - 1] || v <= r[-S] || v <= r[-S + 1] ||
            v < r[S - 1] || v < r[S] || v < r[S + 1])
            continue;
        if (c->ncand >= LF_MAXCAND)
            return;
        int x = (int)(c->corners[j] % (uint32_t)S), y = (int)(c->corners[j] / (uint32_t)S);
        lf_cand_t *k = &c->cand[c->ncand++];
        float h = s_harris(L->img, S, x, y);
        k->score = h > 0 ? h : 0;
        k->x = (uint16_t)x;
        k->y = (uint16_t)y;
        k->level = (uint8_t)l;
    }
}

/* Sub-pixel offset of a Harris maximum: a parabola through the response at
 * the keypoint and its two neighbours on each axis (clamped to half a pixel).
 * Copies then re-detect within a fraction of a pixel, which is what the
 * residual test in hm_geom separates second photos with. */
static void s_subpix(const uint8_t *img, int S, int x, int y, float *ox, float *oy)
{
    float c0 = s_harris(img, S, x, y);
    float xm = s_harris(img, S, x - 1, y), xp = s_harris(img, S, x + 1, y);
    float ym = s_harris(img, S, x, y - 1), yp = s_harris(img, S, x, y + 1);
    float dx = 2 * c0 - xm - xp, dy = 2 * c0 - ym - yp;
    *ox = dx > 0 ? 0.5f * (xp - xm) / dx : 0;
    *oy = dy > 0 ? 0.5f * (yp - ym) / dy : 0;
    *ox = *ox > 0.5f ? 0.5f : *ox < -0.5f ? -0.5f : *ox;
    *oy = *oy > 0.5f ? 0.5f : *oy < -0.5f ? -0.5f : *oy;
}

/* Sort c->order by descending score, ties by (level, y, x): deterministic. */
static int s_before(const lf_cand_t *a, const lf_cand_t *b)
{
    if (a->score != b->score)
        return a->score > b->score;
    if (a->level != b->level)
        return a->level < b->level;
    if (a->y != b->y)
        return a->y < b->y;
    return a->x < b->x;
}

static void s_sort(hm_lf_ctx_t *c, int *tmp)
{
    int n = c->ncand, *a = c->order;
    for (int i = 0; i < n; i++)
        a[i] = i;
    for (int width = 1; width < n; width *= 2) {
        for (int lo = 0; lo < n; lo += 2 * width) {
            int mid = lo + width < n ? lo + width : n, hi = lo + 2 * width < n ? lo + 2 * width : n;
            int i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                tmp[k++] = s_before(&c->cand[a[j]], &c->cand[a[i]]) ? a[j++] : a[i++];
            while (i < mid)
                tmp[k++] = a[i++];
            while (j < hi)
                tmp[k++] = a[j++];
        }
        memcpy(a, tmp, sizeof(int) * (size_t)n);
    }
}

/* Intensity-centroid orientation over the disk of radius 15. */
static float s_angle(const uint8_t *img, int stride, int x, int y)
{
    static const int8_t half[LF_RADIUS + 1] = { 15, 15, 15, 15, 14, 14, 14, 13,
                                                13, 12, 11, 10, 9, 8, 6, 3 };
    long m01 = 0, m10 = 0;
    const uint8_t *c = img + (size_t)y * stride + x;
    for (int u = -15; u <= 15; u++)
        m10 += (long)u * c[u];
    for (int v = 1; v <= LF_RADIUS; v++) {
        long sum = 0;
        int d = half[v];
        for (int u = -d; u <= d; u++) {
            int top = c[u - v * stride], bot = c[u + v * stride];
            sum += bot - top;
            m10 += (long)u * (top + bot);
        }
        m01 += v * sum;
    }
    double a = atan2((double)m01, (double)m10);
    if (a < 0)
        a += LF_TWO_PI;
    return (float)a;
}

static int s_bin(double a)
{
    int k = (int)lround(a * LF_ANGLES / LF_TWO_PI) % LF_ANGLES;
    return k < 0 ? k + LF_ANGLES : k;
}

/* Level 0 from RGB, the other levels, the smoothed copies, the thumbnail. */
static int s_pyramid(hm_lf_ctx_t *c, const uint8_t *rgb, int w, int h, size_t stride,
                     hm_lf_feat_t *f)
{
    const hm_kernels_t *K = hm_kernels();
    int rc;
    if ((rc = s_grow((void **)&c->luma, &c->luma_cap, sizeof(float) * (size_t)w * h)))
        return rc;
    for (int y = 0; y < h; y++)
        K->rgb_to_luma(rgb + (size_t)y * stride, (size_t)w, c->luma + (size_t)y * w);
    int side = w > h ? w : h;
    int w0 = w, h0 = h;
    if (side > c->o.max_side || (c->o.upscale && side < c->o.max_side && side >= 8)) {
        w0 = (int)lround((double)w * c->o.max_side / side);
        h0 = (int)lround((double)h * c->o.max_side / side);
        w0 = w0 < 1 ? 1 : w0;
        h0 = h0 < 1 ? 1 : h0;
    }
    /* luma later holds level 0 as floats, tmp a row pass of it: with
     * upscaling level 0 is the larger of the two */
    size_t need = sizeof(float) * (size_t)(w > HM_LF_THUMB ? w : HM_LF_THUMB) * h;
    size_t need0 = sizeof(float) * (size_t)w0 * h0;
    if ((rc = s_grow((void **)&c->tmp, &c->tmp_cap, need > need0 ? need : need0)) ||
        (rc = s_grow((void **)&c->luma, &c->luma_cap, need > need0 ? need : need0)))
        return rc;
    if (w0 > w || h0 > h)
        s_bilinear(c->luma, w, h, c->lv[0].img, w0, h0, (size_t)c->stride);
    else
        s_area(c->luma, w, h, (size_t)w, c->lv[0].img, w0, h0, (size_t)c->stride, c->tmp, c->tx, c->ty);
    /* the thumbnail, from the full-resolution luma */
    uint8_t th[HM_LF_THUMB * HM_LF_THUMB];
    if (w >= HM_LF_THUMB && h >= HM_LF_THUMB) {
        s_area(c->luma, w, h, (size_t)w, th, HM_LF_THUMB, HM_LF_THUMB, HM_LF_THUMB, c->tmp, c->tx, c->ty);
        memcpy(f->thumb, th, sizeof th);
        f->has_thumb = 1;
    }
    c->lv[0].w = w0, c->lv[0].h = h0, c->lv[0].fx = c->lv[0].fy = 1.0f;
    if ((rc = s_grow((void **)&c->tmp8, &c->tmp8_cap, (size_t)c->stride * c->cap_side + LF_SLACK)))
        return rc;
    for (int l = 0; l < c->o.levels; l++) {
        lf_level_t *L = &c->lv[l];
        if (l > 0) {
            lf_level_t *P = &c->lv[l - 1];
            double sc = pow(c->o.level_scale, l);
            L->w = (int)lround(w0 / sc), L->h = (int)lround(h0 / sc);
            if (L->w < 1 || L->h < 1) {
                L->w = L->h = 0;
                continue;
            }
            /* previous level as floats into luma (it is no longer needed) */
            for (int y = 0; y < P->h; y++)
                for (int x = 0; x < P->w; x++)
                    c->luma[(size_t)y * P->w + x] = P->img[(size_t)y * c->stride + x];
            s_area(c->luma, P->w, P->h, (size_t)P->w, L->img, L->w, L->h, (size_t)c->stride, c->tmp, c->tx, c->ty);
            L->fx = (float)w0 / L->w, L->fy = (float)h0 / L->h;
        }
        if (L->w > 0)
            s_smooth(L->img, L->sm, L->w, L->h, c->stride, c->tmp8);
    }
    return 0;
}

static void s_describe(hm_lf_ctx_t *c, hm_lf_feat_t *f, hm_lf_feat_t *m, const lf_cand_t *k,
                       float ang, uint32_t i, float norm)
{
    const hm_kernels_t *K = hm_kernels();
    lf_level_t *L = &c->lv[k->level];
    const uint8_t *p = L->sm + (size_t)k->y * c->stride + k->x;
    K->brief256(p, c->off + 512 * s_bin(ang), f->desc + 4 * i);
    hm_lf_kp_t *kp = &f->kp[i];
    float ox, oy;
    s_subpix(L->img, c->stride, k->x, k->y, &ox, &oy);
    kp->x = (k->x + 0.5f + ox) * L->fx / norm;
    kp->y = (k->y + 0.5f + oy) * L->fy / norm;
    kp->size = 31.0f * L->fx / norm;
    kp->angle = ang;
    kp->score = k->score;
    if (m) {
        double am = M_PI - ang;
        if (am < 0)
            am += LF_TWO_PI;
        K->brief256(p, c->off_m + 512 * s_bin(am), m->desc + 4 * i);
        m->kp[i] = *kp;
        m->kp[i].x = f->aspect_w - kp->x;
        m->kp[i].angle = (float)am;
    }
}

int hm_lf_extract(hm_lf_ctx_t *c, const uint8_t *rgb, int w, int h, size_t stride,
                  hm_lf_feat_t *f, hm_lf_feat_t *m)
{
    if (!c || !rgb || !f || w < 1 || h < 1 || stride < 3 * (size_t)w)
        return hm__seterr(HM_E_INVAL, "hm_lf_extract: bad arguments");
    if (w > 65535 || h > 65535)
        return hm__seterr(HM_E_TOO_LARGE, "hm_lf_extract: %dx%d", w, h);
    if (f->cap < (uint32_t)c->o.max_kp || (m && m->cap < (uint32_t)c->o.max_kp))
        return hm__seterr(HM_E_INVAL, "hm_lf_extract: feature capacity below max_kp");
    int side = w > h ? w : h;
    f->n = 0;
    f->aspect_w = (float)w / side;
    f->aspect_h = (float)h / side;
    f->mirrored = 0;
    f->has_thumb = 0;
    int rc = s_pyramid(c, rgb, w, h, stride, f);
    if (rc)
        return rc;
    if (m) {
        m->n = 0;
        m->aspect_w = f->aspect_w, m->aspect_h = f->aspect_h;
        m->mirrored = 1;
        m->has_thumb = f->has_thumb;
        for (int y = 0; y < HM_LF_THUMB; y++)
            for (int x = 0; x < HM_LF_THUMB; x++)
                m->thumb[y * HM_LF_THUMB + x] = f->thumb[y * HM_LF_THUMB + HM_LF_THUMB - 1 - x];
    }
    c->ncand = 0;
    for (int l = 0; l < c->o.levels; l++)
        if (c->lv[l].w > 0)
            s_detect(c, l);
    if (c->ncand == 0)
        return 0;
    s_sort(c, c->order2);
    /* spread: a per-cell quota first, then the strongest of the rest */
    int G = c->o.grid, maxk = c->o.max_kp;
    int quota = (2 * maxk + G * G - 1) / (G * G);
    int cnt[32 * 32] = { 0 };
    float norm = (float)(c->lv[0].w > c->lv[0].h ? c->lv[0].w : c->lv[0].h);
    uint32_t n = 0;
    for (int pass = 0; pass < 2 && n < (uint32_t)maxk; pass++) {
        for (int j = 0; j < c->ncand && n < (uint32_t)maxk; j++) {
            int ci = c->order[j];
            if (ci < 0)
                continue;
            lf_cand_t *k = &c->cand[ci];
            lf_level_t *L = &c->lv[k->level];
            float x0 = (k->x + 0.5f) * L->fx, y0 = (k->y + 0.5f) * L->fy;
            int gx = (int)(x0 * G / c->lv[0].w), gy = (int)(y0 * G / c->lv[0].h);
            gx = gx < 0 ? 0 : gx >= G ? G - 1 : gx;
            gy = gy < 0 ? 0 : gy >= G ? G - 1 : gy;
            if (pass == 0 && cnt[gy * G + gx] >= quota)
                continue;
            cnt[gy * G + gx]++;
            c->order[j] = -1;
            float ang = s_angle(L->img, c->stride, k->x, k->y);
            s_describe(c, f, m, k, ang, n, norm);
            n++;
        }
    }
    f->n = n;
    if (m)
        m->n = n;
    return 0;
}

/* ---- serialisation ---- */

static unsigned s_q16(float v)
{
    double q = v * 65535.0 + 0.5;
    return q < 0 ? 0 : q > 65535 ? 65535 : (unsigned)q;
}

size_t hm_lf_serial_size(const hm_lf_feat_t *f)
{
    return HM_LF_SERIAL_HEADER + (f->has_thumb ? sizeof f->thumb : 0) +
           (size_t)HM_LF_SERIAL_PER_KP * f->n;
}

int hm_lf_serialize(const hm_lf_feat_t *f, uint8_t *buf, size_t cap, size_t *len)
{
    if (!f || !buf || !len || f->n > 65535)
        return hm__seterr(HM_E_INVAL, "hm_lf_serialize: bad arguments");
    size_t need = hm_lf_serial_size(f);
    if (cap < need)
        return hm__seterr(HM_E_TOO_LARGE, "hm_lf_serialize: need %zu bytes, have %zu", need, cap);
    uint8_t *p = buf;
    memcpy(p, "HMLF", 4);
    p[4] = HM_LF_SERIAL_VERSION;
    p[5] = (uint8_t)((f->has_thumb ? 1 : 0) | (f->mirrored ? 2 : 0));
    hm_put_le16(p + 6, (uint16_t)f->n);
    hm_put_le16(p + 8, (uint16_t)s_q16(f->aspect_w));
    hm_put_le16(p + 10, (uint16_t)s_q16(f->aspect_h));
    memset(p + 12, 0, 4);
    p += HM_LF_SERIAL_HEADER;
    if (f->has_thumb) {
        memcpy(p, f->thumb, sizeof f->thumb);
        p += sizeof f->thumb;
    }
    for (uint32_t i = 0; i < f->n; i++) {
        const hm_lf_kp_t *k = &f->kp[i];
        hm_put_le16(p, (uint16_t)s_q16(k->x));
        hm_put_le16(p + 2, (uint16_t)s_q16(k->y));
        double ls = k->size > 0 ? -24.0 * log2(k->size) : 255;
        p[4] = (uint8_t)(ls < 0 ? 0 : ls > 255 ? 255 : lround(ls));
        p[5] = (uint8_t)((int)lround(k->angle * 256.0 / LF_TWO_PI) & 255);
        for (int w = 0; w < 4; w++)
            hm_put_le64(p + 6 + 8 * w, f->desc[4 * i + w]);
        p += HM_LF_SERIAL_PER_KP;
    }
    *len = need;
    return 0;
}

int hm_lf_deserialize(const uint8_t *buf, size_t len, hm_lf_feat_t *f)
{
    if (!buf || !f)
        return hm__seterr(HM_E_INVAL, "hm_lf_deserialize: NULL");
    if (len < HM_LF_SERIAL_HEADER || memcmp(buf, "HMLF", 4) != 0)
        return hm__seterr(HM_E_CORRUPT, "hm_lf_deserialize: not a feature set");
    if (buf[4] != HM_LF_SERIAL_VERSION)
        return hm__seterr(HM_E_VERSION, "hm_lf_deserialize: version %u", buf[4]);
    int thumb = buf[5] & 1;
    unsigned n = hm_get_le16(buf + 6);
    size_t need = HM_LF_SERIAL_HEADER + (thumb ? HM_LF_THUMB * HM_LF_THUMB : 0) +
                  (size_t)HM_LF_SERIAL_PER_KP * n;
    if (len != need || (buf[5] & ~3u) || n > HM_LF_MAX_KP)
        return hm__seterr(HM_E_CORRUPT, "hm_lf_deserialize: %zu bytes for %u keypoints", len, n);
    if (n > f->cap) {
        hm_lf_feat_free(f);
        int rc = hm_lf_feat_init(f, n);
        if (rc)
            return rc;
    }
    f->n = n;
    f->mirrored = (buf[5] >> 1) & 1;
    f->has_thumb = thumb;
    f->aspect_w = hm_get_le16(buf + 8) / 65535.0f;
    f->aspect_h = hm_get_le16(buf + 10) / 65535.0f;
    const uint8_t *p = buf + HM_LF_SERIAL_HEADER;
    if (thumb) {
        memcpy(f->thumb, p, sizeof f->thumb);
        p += sizeof f->thumb;
    }
    for (unsigned i = 0; i < n; i++) {
        hm_lf_kp_t *k = &f->kp[i];
        k->x = hm_get_le16(p) / 65535.0f;
        k->y = hm_get_le16(p + 2) / 65535.0f;
        k->size = (float)exp2(-p[4] / 24.0);
        k->angle = (float)(p[5] * LF_TWO_PI / 256.0);
        k->score = 0;
        for (int w = 0; w < 4; w++)
            f->desc[4 * i + w] = hm_get_le64(p + 6 + 8 * w);
        p += HM_LF_SERIAL_PER_KP;
    }
    return 0;
}
