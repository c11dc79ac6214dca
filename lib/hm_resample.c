/* hm_resample.c - weights of PDQ's two-pass box (tent) filter + decimation. */
#include "hm_resample.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hm_error.h"
#include "hm_simd.h"

/* One box pass as PDQ defines it: the mean of in[o - (ws - half) ..
 * o + half - 1], clipped to the vector, where half = (ws + 2) / 2. */
static void s_box_range(int o, int len, int ws, int *lo, int *hi)
{
    int half = (ws + 2) / 2;
    *lo = o - (ws - half);
    *hi = o + half - 1;
    if (*lo < 0)
        *lo = 0;
    if (*hi > len - 1)
        *hi = len - 1;
}

/* The exact PDQ weights of output o over a grid of len samples: the row of
 * B^2 at PDQ's sample index, where B is one box pass.  acc gets the weights
 * for indices *lo .. *lo + return - 1 (at most cap of them). */
static int s_tent_row(int o, int len, int out_len, double *acc, int cap, int *lo)
{
    int ws = (len + 2 * out_len - 1) / (2 * out_len);
    if (ws < 1)
        ws = 1;
    int i = (int)(((o + 0.5) * len) / out_len);
    int lo1, hi1, lo_all, hi_all, tmp;
    s_box_range(i, len, ws, &lo1, &hi1);
    s_box_range(lo1, len, ws, &lo_all, &tmp);
    s_box_range(hi1, len, ws, &tmp, &hi_all);
    int n = hi_all - lo_all + 1;
    if (n > cap)
        return -1;
    memset(acc, 0, sizeof(double) * (size_t)n);
    double c1 = 1.0 / (hi1 - lo1 + 1);
    for (int k = lo1; k <= hi1; k++) {
        int lo2, hi2;
        s_box_range(k, len, ws, &lo2, &hi2);
        double c2 = c1 / (hi2 - lo2 + 1);
        for (int j = lo2; j <= hi2; j++)
            acc[j - lo_all] += c2;
    }
    *lo = lo_all;
    return n;
}

int hm_rplan_init(hm_rplan_t *p, int in_len, int out_len, int ref_len)
{
    memset(p, 0, sizeof *p);
    if (in_len < 1 || out_len < 1)
        return hm__seterr(HM_E_INVAL, "resample: lengths %d -> %d", in_len, out_len);
    if (ref_len < 1)
        ref_len = in_len;
    int ws_ref = (ref_len + 2 * out_len - 1) / (2 * out_len);
    if (ws_ref < 1)
        ws_ref = 1;
    /* Support on our grid: the reference kernel's 2 ws_ref cells, scaled. */
    int cap_ref = 2 * ws_ref + 2;
    int cap = (int)((double)cap_ref * in_len / ref_len) + 3;
    if (cap < 1)
        cap = 1;
    p->in_len = in_len;
    p->out_len = out_len;
    p->ref_len = ref_len;
    p->stride = cap;
    p->start = malloc(sizeof(int) * (size_t)out_len);
    p->taps = malloc(sizeof(int) * (size_t)out_len);
    p->w = calloc((size_t)out_len * (size_t)p->stride, sizeof(float));
    double *ref = malloc(sizeof(double) * (size_t)cap_ref);
    double *mine = malloc(sizeof(double) * (size_t)cap);
    if (!p->start || !p->taps || !p->w || !ref || !mine) {
        free(ref);
        free(mine);
        hm_rplan_free(p);
        return hm__seterr(HM_E_NOMEM, "resample plan");
    }
    for (int o = 0; o < out_len; o++) {
        int lo_ref = 0;
        int n_ref = s_tent_row(o, ref_len, out_len, ref, cap_ref, &lo_ref);
        float *w = p->w + (size_t)o * p->stride;
        if (ref_len == in_len) {
            p->start[o] = lo_ref;
            p->taps[o] = n_ref;
            for (int t = 0; t < n_ref; t++)
                w[t] = (float)ref[t];
            continue;
        }
        /* Another resolution than the reference hasher saw: spread each
         * reference cell's weight over our samples by overlap of the cells
         * in normalised coordinates, so the effective blur has the same
         * width relative to the image. */
        double scale = (double)in_len / ref_len;
        int lo = (int)(lo_ref * scale);
        int hi = (int)ceil((lo_ref + n_ref) * scale) - 1;
        if (hi > in_len - 1)
            hi = in_len - 1;
        if (hi - lo + 1 > cap)
            hi = lo + cap - 1;
        int n = hi - lo + 1;
        memset(mine, 0, sizeof(double) * (size_t)n);
        for (int t = 0; t < n_ref; t++) {
            double a = (lo_ref + t) * scale, b = (lo_ref + t + 1) * scale;
            for (int x = (int)a; x <= hi && x < b; x++) {
                double l = a > x ? a : x, r = b < x + 1 ? b : x + 1;
                if (r > l && x >= lo)
                    mine[x - lo] += ref[t] * (r - l) / (b - a);
            }
        }
        double sum = 0;
        for (int t = 0; t < n; t++)
            sum += mine[t];
        p->start[o] = lo;
        p->taps[o] = n;
        for (int t = 0; t < n; t++)
            w[t] = (float)(sum > 0 ? mine[t] / sum : 1.0 / n);
    }
    free(ref);
    free(mine);
    return 0;
}

void hm_rplan_free(hm_rplan_t *p)
{
    if (!p)
        return;
    free(p->start);
    free(p->taps);
    free(p->w);
    memset(p, 0, sizeof *p);
}

void hm_resample(const float *src, int w, int h, size_t stride, const hm_rplan_t *px,
                 const hm_rplan_t *py, float *tmp, float *out)
{
    const hm_kernels_t *k = hm_kernels();
    (void)h;
    /* Vertical: tmp[r][:] = sum_t wy[t] * src[start + t][:]. */
    for (int r = 0; r < py->out_len; r++) {
        float *row = tmp + (size_t)r * w;
        memset(row, 0, sizeof(float) * (size_t)w);
        const float *wy = py->w + (size_t)r * py->stride;
        for (int t = 0; t < py->taps[r]; t++)
            k->axpy(row, src + (size_t)(py->start[r] + t) * stride, wy[t], (size_t)w);
    }
    /* Horizontal: out[r][c] = sum_t wx[t] * tmp[r][start + t]. */
    for (int r = 0; r < py->out_len; r++) {
        const float *row = tmp + (size_t)r * w;
        float *o = out + (size_t)r * px->out_len;
        for (int c = 0; c < px->out_len; c++)
            o[c] = k->dot(px->w + (size_t)c * px->stride, row + px->start[c],
                          (size_t)px->taps[c]);
    }
}
