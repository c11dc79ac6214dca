/*
 * hm_geom.c - RANSAC similarity fit with a precision guard (see hm_geom.h).
 */
#include "hm_geom.h"

#include "hm_error.h"
#include "hm_simd.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define G_PI 3.14159265358979323846

const hm_geom_opts_t hm_geom_opts_default = {
    .max_dist = 64,
    .ratio = 0.9f,
    .iters = 400,
    .inlier_px = 3.0f,
    .min_inliers = 10,
    .max_guard = 1.1f,
    .min_coverage = 0.1f,
    .min_thumb_corr = -1.0f,
    .max_models = 3,
    .seed = 0x9e3779b97f4a7c15ULL,
};

static uint64_t s_rand(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

int hm_geom_match(const hm_lf_feat_t *q, const hm_lf_feat_t *r, const hm_geom_opts_t *o,
                  hm_geom_corr_t *out, size_t cap, size_t *n)
{
    if (!q || !r || !out || !n)
        return hm__seterr(HM_E_INVAL, "hm_geom_match: NULL");
    if (!o)
        o = &hm_geom_opts_default;
    *n = 0;
    if (q->n == 0 || r->n == 0)
        return 0;
    const hm_kernels_t *K = hm_kernels();
    uint32_t fb[HM_LF_MAX_KP], bb[HM_LF_MAX_KP];
    uint16_t f1[HM_LF_MAX_KP], f2[HM_LF_MAX_KP], b1[HM_LF_MAX_KP], b2[HM_LF_MAX_KP];
    K->hamming256_nn(q->desc, q->n, r->desc, r->n, fb, f1, f2);
    K->hamming256_nn(r->desc, r->n, q->desc, q->n, bb, b1, b2);
    for (uint32_t i = 0; i < q->n && *n < cap; i++) {
        uint32_t j = fb[i];
        if (j == UINT32_MAX || bb[j] != i || f1[i] > o->max_dist)
            continue;
        if (o->ratio < 1.0f && f1[i] > o->ratio * f2[i])
            continue;
        hm_geom_corr_t *c = &out[(*n)++];
        c->qx = q->kp[i].x, c->qy = q->kp[i].y, c->rx = r->kp[j].x, c->ry = r->kp[j].y;
        c->qsize = q->kp[i].size, c->rsize = r->kp[j].size;
        c->qangle = q->kp[i].angle, c->rangle = r->kp[j].angle;
        c->qi = (uint16_t)i, c->ri = (uint16_t)j, c->dist = f1[i];
    }
    return 0;
}

typedef struct g_sim {
    double ar, ai, tx, ty;   /* q = a r + t, a complex */
} g_sim_t;

static double s_wrap(double a)
{
    while (a > G_PI)
        a -= 2 * G_PI;
    while (a <= -G_PI)
        a += 2 * G_PI;
    return a;
}

/* Residual of c under m, in pixels of the query keypoint's pyramid level. */
static double s_resid(const g_sim_t *m, const hm_geom_corr_t *c)
{
    double px = m->ar * c->rx - m->ai * c->ry + m->tx - c->qx;
    double py = m->ai * c->rx + m->ar * c->ry + m->ty - c->qy;
    return sqrt(px * px + py * py) * 31.0 / c->qsize;
}

/* Least-squares similarity over the flagged correspondences. */
static int s_lsq(const hm_geom_corr_t *c, const uint8_t *in, size_t n, g_sim_t *m)
{
    double mrx = 0, mry = 0, mqx = 0, mqy = 0;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (in[i]) {
            mrx += c[i].rx, mry += c[i].ry, mqx += c[i].qx, mqy += c[i].qy;
            k++;
        }
    if (k < 2)
        return -1;
    mrx /= k, mry /= k, mqx /= k, mqy /= k;
    double d = 0, sr = 0, si = 0;
    for (size_t i = 0; i < n; i++)
        if (in[i]) {
            double rx = c[i].rx - mrx, ry = c[i].ry - mry, qx = c[i].qx - mqx, qy = c[i].qy - mqy;
            d += rx * rx + ry * ry;
            sr += rx * qx + ry * qy;
            si += rx * qy - ry * qx;
        }
    if (d < 1e-12)
        return -1;
    m->ar = sr / d, m->ai = si / d;
    m->tx = mqx - (m->ar * mrx - m->ai * mry);
    m->ty = mqy - (m->ai * mrx + m->ar * mry);
    return 0;
}

static int s_count(const g_sim_t *m, const hm_geom_corr_t *c, const uint8_t *alive, size_t n,
                   double thr, uint8_t *in)
{
    int k = 0;
    for (size_t i = 0; i < n; i++) {
        int ok = alive[i] && s_resid(m, c + i) <= thr;
        if (in)
            in[i] = (uint8_t)ok;
        k += ok;
    }
    return k;
}

#define COH_MAX 512

/* Spatial coherence of the residual field over the flagged inliers. */
static double s_coherence(const g_sim_t *m, const hm_geom_corr_t *c, const uint8_t *in, size_t n)
{
    /* the first COH_MAX inliers (5 KB on the caller's stack) */
    float ex[COH_MAX], ey[COH_MAX];
    uint16_t id[COH_MAX];
    int k = 0;
    for (size_t i = 0; i < n && k < COH_MAX; i++)
        if (in[i]) {
            double u = 31.0 / c[i].qsize;
            ex[k] = (float)((m->ar * c[i].rx - m->ai * c[i].ry + m->tx - c[i].qx) * u);
            ey[k] = (float)((m->ai * c[i].rx + m->ar * c[i].ry + m->ty - c[i].qy) * u);
            id[k++] = (uint16_t)i;
        }
    double num = 0, den = 0;
    for (int a = 0; a < k; a++) {
        int best = -1;
        double bd = 1e30;
        for (int b = 0; b < k; b++) {
            if (b == a)
                continue;
            double dx = c[id[a]].rx - c[id[b]].rx, dy = c[id[a]].ry - c[id[b]].ry;
            double d = dx * dx + dy * dy;
            if (d < bd)
                bd = d, best = b;
        }
        if (best < 0)
            continue;
        num += ex[a] * ex[best] + ey[a] * ey[best];
        den += ex[a] * ex[a] + ey[a] * ey[a];
    }
    return den > 0 ? num / den : 0;
}

/* Bilinear sample of a thumbnail at thumbnail-pixel coordinates. */
static double s_sample(const uint8_t *t, double x, double y)
{
    int x0 = (int)floor(x), y0 = (int)floor(y);
    double fx = x - x0, fy = y - y0;
    const int N = HM_LF_THUMB;
    int x1 = x0 + 1 < N ? x0 + 1 : x0, y1 = y0 + 1 < N ? y0 + 1 : y0;
    return (1 - fy) * ((1 - fx) * t[y0 * N + x0] + fx * t[y0 * N + x1]) +
           fy * ((1 - fx) * t[y1 * N + x0] + fx * t[y1 * N + x1]);
}

/* Pearson correlation of the query thumbnail with the aligned reference's. */
static double s_thumb_corr(const hm_geom_frame_t *q, const hm_geom_frame_t *r, const g_sim_t *m)
{
    const int N = HM_LF_THUMB;
    double den = m->ar * m->ar + m->ai * m->ai;
    double sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
    int k = 0;
    for (int v = 0; v < N; v++)
        for (int u = 0; u < N; u++) {
            double qx = (u + 0.5) / N * q->aspect_w - m->tx, qy = (v + 0.5) / N * q->aspect_h - m->ty;
            double rx = (m->ar * qx + m->ai * qy) / den, ry = (-m->ai * qx + m->ar * qy) / den;
            double x = rx / r->aspect_w * N - 0.5, y = ry / r->aspect_h * N - 0.5;
            if (x < 0 || y < 0 || x > N - 1 || y > N - 1)
                continue;
            double a = q->thumb[v * N + u], b = s_sample(r->thumb, x, y);
            sa += a, sb += b, saa += a * a, sbb += b * b, sab += a * b;
            k++;
        }
    if (k < 64)
        return -2;
    double va = saa - sa * sa / k, vb = sbb - sb * sb / k;
    if (va < 1e-6 * k || vb < 1e-6 * k)
        return 0;
    return (sab - sa * sb / k) / sqrt(va * vb);
}

/* One RANSAC model over the alive correspondences; 0 and *m, or -1. */
static int s_ransac(const hm_geom_corr_t *c, size_t n, const uint8_t *alive, int nalive,
                    const hm_geom_opts_t *o, uint64_t *seed, g_sim_t *best, int *best_k)
{
    uint16_t idx[HM_GEOM_MAX_CORR];
    int na = 0;
    for (size_t i = 0; i < n; i++)
        if (alive[i])
            idx[na++] = (uint16_t)i;
    (void)nalive;
    *best_k = 0;
    if (na < 2)
        return -1;
    for (int it = 0; it < o->iters; it++) {
        const hm_geom_corr_t *a = &c[idx[s_rand(seed) % (uint64_t)na]];
        const hm_geom_corr_t *b = &c[idx[s_rand(seed) % (uint64_t)na]];
        double drx = a->rx - b->rx, dry = a->ry - b->ry, dqx = a->qx - b->qx, dqy = a->qy - b->qy;
        double d = drx * drx + dry * dry;
        if (a == b || d < 1e-4 || dqx * dqx + dqy * dqy < 1e-4)
            continue;
        g_sim_t m;
        m.ar = (dqx * drx + dqy * dry) / d;
        m.ai = (dqy * drx - dqx * dry) / d;
        double s = sqrt(m.ar * m.ar + m.ai * m.ai), th = atan2(m.ai, m.ar);
        if (s < 0.1 || s > 10)
            continue;
        /* the keypoints' own orientation and size must agree with the hypothesis */
        if (fabs(s_wrap(th - (a->qangle - a->rangle))) > G_PI / 6 ||
            fabs(s_wrap(th - (b->qangle - b->rangle))) > G_PI / 6)
            continue;
        double ra = a->qsize / a->rsize / s, rb = b->qsize / b->rsize / s;
        if (ra > 2.0 || ra < 0.5 || rb > 2.0 || rb < 0.5)
            continue;
        m.tx = a->qx - (m.ar * a->rx - m.ai * a->ry);
        m.ty = a->qy - (m.ai * a->rx + m.ar * a->ry);
        int k = s_count(&m, c, alive, n, o->inlier_px, NULL);
        if (k > *best_k) {
            *best_k = k;
            *best = m;
            if (k >= na * 8 / 10 && k >= o->min_inliers)
                break;
        }
    }
    return *best_k >= 2 ? 0 : -1;
}

hm_geom_frame_t hm_geom_frame_of(const hm_lf_feat_t *f)
{
    hm_geom_frame_t fr = { f->aspect_w, f->aspect_h, f->mirrored, f->has_thumb ? f->thumb : NULL };
    return fr;
}

int hm_geom_fit(const hm_geom_frame_t *q, const hm_geom_frame_t *r, const hm_geom_corr_t *c,
                size_t n, const hm_geom_opts_t *o, hm_geom_result_t *res, int maxres,
                int *nres)
{
    if (!q || !r || (!c && n) || !res || maxres < 1 || !nres)
        return hm__seterr(HM_E_INVAL, "hm_geom_fit: bad arguments");
    if (!o)
        o = &hm_geom_opts_default;
    *nres = 0;
    if (n > HM_GEOM_MAX_CORR)
        n = HM_GEOM_MAX_CORR;
    uint8_t alive[HM_GEOM_MAX_CORR], in[HM_GEOM_MAX_CORR];
    memset(alive, 1, n);
    int nalive = (int)n;
    uint64_t seed = o->seed ? o->seed : 1;
    int maxm = o->max_models < 1 ? 1 : o->max_models > HM_GEOM_MAX_MODELS ? HM_GEOM_MAX_MODELS : o->max_models;
    for (int mi = 0; mi < maxm && *nres < maxres && nalive >= o->min_inliers; mi++) {
        g_sim_t m;
        int k;
        if (s_ransac(c, n, alive, nalive, o, &seed, &m, &k) != 0 || k < o->min_inliers)
            break;
        for (int pass = 0; pass < 2; pass++) {
            s_count(&m, c, alive, n, o->inlier_px, in);
            g_sim_t m2;
            if (s_lsq(c, in, n, &m2) != 0)
                break;
            m = m2;
        }
        k = s_count(&m, c, alive, n, o->inlier_px, in);
        if (k < o->min_inliers)
            break;
        hm_geom_result_t *R = &res[(*nres)++];
        memset(R, 0, sizeof *R);
        double ss = 0, sd = 0, x0 = 1e9, y0 = 1e9, x1 = -1e9, y1 = -1e9;
        for (size_t i = 0; i < n; i++)
            if (in[i]) {
                double e = s_resid(&m, c + i);
                ss += e * e;
                sd += c[i].dist;
                x0 = fmin(x0, c[i].rx), y0 = fmin(y0, c[i].ry);
                x1 = fmax(x1, c[i].rx), y1 = fmax(y1, c[i].ry);
                alive[i] = 0;
                nalive--;
            }
        double rarea = (double)r->aspect_w * r->aspect_h;
        R->inliers = k;
        R->ncorr = (int)n;
        R->inlier_ratio = (float)k / (float)n;
        R->score = (float)k * R->inlier_ratio;
        R->rms_px = (float)sqrt(ss / k);
        R->mean_dist = (float)(sd / k);
        R->coherence = (float)s_coherence(&m, c, in, n);
        R->coverage = rarea > 0 ? (float)((x1 - x0) * (y1 - y0) / rarea) : 0;
        double s = sqrt(m.ar * m.ar + m.ai * m.ai);
        R->scale = (float)s;
        R->rotation_deg = (float)(atan2(m.ai, m.ar) * 180.0 / G_PI);
        R->tx = (float)m.tx, R->ty = (float)m.ty;
        R->mirrored = q->mirrored;
        /* the query frame mapped back into the reference, clipped */
        double den = s * s, cx0 = 1e9, cy0 = 1e9, cx1 = -1e9, cy1 = -1e9;
        for (int k4 = 0; k4 < 4; k4++) {
            double qx = (k4 & 1 ? q->aspect_w : 0) - m.tx, qy = (k4 & 2 ? q->aspect_h : 0) - m.ty;
            double rx = (m.ar * qx + m.ai * qy) / den, ry = (-m.ai * qx + m.ar * qy) / den;
            cx0 = fmin(cx0, rx), cy0 = fmin(cy0, ry), cx1 = fmax(cx1, rx), cy1 = fmax(cy1, ry);
        }
        R->crop[0] = (float)fmax(0, cx0), R->crop[1] = (float)fmax(0, cy0);
        R->crop[2] = (float)fmin(r->aspect_w, cx1), R->crop[3] = (float)fmin(r->aspect_h, cy1);
        R->thumb_corr = (q->thumb && r->thumb) ? (float)s_thumb_corr(q, r, &m) : -2.0f;
        R->verified = R->inliers >= o->min_inliers && R->rms_px + fmaxf(R->coherence, 0) <= o->max_guard &&
                      R->coverage >= o->min_coverage &&
                      (o->min_thumb_corr <= -1 || R->thumb_corr <= -2 ||
                       R->thumb_corr >= o->min_thumb_corr);
    }
    return 0;
}

int hm_geom_verify(const hm_lf_feat_t *q, const hm_lf_feat_t *r, const hm_geom_opts_t *o,
                   hm_geom_result_t *res, int maxres, int *nres)
{
    if (!q || !r || !res || maxres < 1 || !nres)
        return hm__seterr(HM_E_INVAL, "hm_geom_verify: bad arguments");
    /* The caller's correspondences, for this call (114 KB: heap, not stack). */
    hm_geom_corr_t *corr = malloc(HM_LF_MAX_KP * sizeof *corr);
    if (!corr)
        return hm__seterr(HM_E_NOMEM, "hm_geom_verify: correspondences");
    size_t n = 0;
    int rc = hm_geom_match(q, r, o, corr, HM_LF_MAX_KP, &n);
    if (rc == 0) {
        hm_geom_frame_t qf = hm_geom_frame_of(q), rf = hm_geom_frame_of(r);
        rc = hm_geom_fit(&qf, &rf, corr, n, o, res, maxres, nres);
    }
    free(corr);
    return rc;
}
