/* hm_regions.c - recursive XY-cut along flat rows and columns (see hm_regions.h). */
#include "hm_regions.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 6
#define MAX_LEAVES 32
#define FLAT_PERMILLE 40 /* at most 4% of a line's pixels may stray */

typedef struct {
    const float *luma;
    size_t stride;
    int w, h;
    unsigned char *flat; /* scratch: one flag per row or column */
    float *sum;          /* scratch: per-column sums */
    int *bad;            /* scratch: per-column stray counts */
    hm_box_t leaves[MAX_LEAVES];
    int n;
} cut_t;

/* Flags of the rows y0..y1-1 over the columns x0..x1-1. */
static void s_rows(cut_t *c, int x0, int y0, int x1, int y1)
{
    int n = x1 - x0, allow = n * FLAT_PERMILLE / 1000;
    for (int y = y0; y < y1; y++) {
        const float *r = c->luma + (size_t)y * c->stride;
        float s = 0;
        for (int x = x0; x < x1; x++)
            s += r[x];
        float m = s / (float)n;
        int bad = 0;
        for (int x = x0; x < x1; x++)
            bad += fabsf(r[x] - m) > HM_REGIONS_TOL;
        c->flat[y] = bad <= allow;
    }
}

/* Flags of the columns x0..x1-1 over the rows y0..y1-1, read row by row. */
static void s_cols(cut_t *c, int x0, int y0, int x1, int y1)
{
    int n = y1 - y0, allow = n * FLAT_PERMILLE / 1000;
    for (int x = x0; x < x1; x++) {
        c->sum[x] = 0;
        c->bad[x] = 0;
    }
    for (int y = y0; y < y1; y++) {
        const float *r = c->luma + (size_t)y * c->stride;
        for (int x = x0; x < x1; x++)
            c->sum[x] += r[x];
    }
    for (int x = x0; x < x1; x++)
        c->sum[x] /= (float)n;
    for (int y = y0; y < y1; y++) {
        const float *r = c->luma + (size_t)y * c->stride;
        for (int x = x0; x < x1; x++)
            c->bad[x] += fabsf(r[x] - c->sum[x]) > HM_REGIONS_TOL;
    }
    for (int x = x0; x < x1; x++)
        c->flat[x] = c->bad[x] <= allow;
}

/* Runs of non-flat lines in [a, b): their bounds into seg (at most cap). */
static int s_segments(const unsigned char *flat, int a, int b, int seg[][2], int cap)
{
    int n = 0;
    for (int i = a; i < b;) {
        while (i < b && flat[i])
            i++;
        int s = i;
        while (i < b && !flat[i])
            i++;
        if (i > s && n < cap) {
            seg[n][0] = s;
            seg[n][1] = i;
            n++;
        }
    }
    return n;
}

static void s_cut(cut_t *c, int x0, int y0, int x1, int y1, int depth, int was_cut)
{
    enum { SEGS = 16 };
    int seg[SEGS][2];
    if (x1 - x0 < HM_REGIONS_MIN_SIDE || y1 - y0 < HM_REGIONS_MIN_SIDE)
        return;
    if (depth < MAX_DEPTH) {
        s_rows(c, x0, y0, x1, y1);
        int n = s_segments(c->flat, y0, y1, seg, SEGS);
        if (n >= 2 || (n == 1 && (seg[0][0] > y0 || seg[0][1] < y1))) {
            int cut = was_cut || n >= 2;
            for (int i = 0; i < n; i++)
                s_cut(c, x0, seg[i][0], x1, seg[i][1], depth + 1, cut);
            return;
        }
        if (n == 0)
            return; /* all flat */
        s_cols(c, x0, y0, x1, y1);
        n = s_segments(c->flat, x0, x1, seg, SEGS);
        if (n >= 2 || (n == 1 && (seg[0][0] > x0 || seg[0][1] < x1))) {
            int cut = was_cut || n >= 2;
            for (int i = 0; i < n; i++)
                s_cut(c, seg[i][0], y0, seg[i][1], y1, depth + 1, cut);
            return;
        }
        if (n == 0)
            return;
    }
    /* A leaf: kept only when some cut (not just peeling) led here. */
    int bw = x1 - x0, bh = y1 - y0;
    if (!was_cut || c->n >= MAX_LEAVES)
        return;
    if (bw * 100 < 15 * c->w || bh * 100 < 15 * c->h)
        return;
    if (bw > 3 * bh || bh > 3 * bw)
        return;
    if ((double)bw * bh > 0.9 * (double)c->w * c->h)
        return;
    c->leaves[c->n++] = (hm_box_t){ x0, y0, bw, bh };
}

static int s_cmp_area(const void *a, const void *b)
{
    const hm_box_t *x = a, *y = b;
    long ax = (long)x->w * x->h, ay = (long)y->w * y->h;
    if (ax != ay)
        return ax < ay ? 1 : -1;
    return x->y != y->y ? x->y - y->y : x->x - y->x;
}

int hm_regions_detect(const float *luma, int w, int h, size_t stride, hm_box_t *boxes, int cap)
{
    if (!luma || !boxes || cap <= 0 || w < 2 * HM_REGIONS_MIN_SIDE ||
        h < 2 * HM_REGIONS_MIN_SIDE || stride < (size_t)w)
        return 0;
    int side = w > h ? w : h;
    cut_t c = { .luma = luma, .stride = stride, .w = w, .h = h };
    c.flat = malloc((size_t)side);
    c.sum = malloc((size_t)w * sizeof *c.sum);
    c.bad = malloc((size_t)w * sizeof *c.bad);
    int n = 0;
    if (c.flat && c.sum && c.bad) {
        s_cut(&c, 0, 0, w, h, 0, 0);
        qsort(c.leaves, (size_t)c.n, sizeof c.leaves[0], s_cmp_area);
        n = c.n < cap ? c.n : cap;
        if (n > HM_REGIONS_MAX)
            n = HM_REGIONS_MAX;
        memcpy(boxes, c.leaves, (size_t)n * sizeof *boxes);
    }
    free(c.flat);
    free(c.sum);
    free(c.bad);
    return n;
}
