/* hm_trim.c - peel uniform border rows and columns, up to three rounds. */
#include "hm_trim.h"

#include <stdlib.h>

#define TOL 40       /* sum of absolute channel differences */
#define KEEP_PCT 97  /* a border line has >= 97% border-coloured pixels */

static int s_close(const uint8_t *a, const uint8_t *b)
{
    return abs(a[0] - b[0]) + abs(a[1] - b[1]) + abs(a[2] - b[2]) <= TOL;
}

/* Is the line of n pixels starting at p (step bytes apart) border-coloured? */
static int s_line_is_border(const uint8_t *p, int n, size_t step, const uint8_t *bg)
{
    int miss = 0, allowed = n - (n * KEEP_PCT + 99) / 100;
    for (int i = 0; i < n; i++, p += step)
        if (!s_close(p, bg) && ++miss > allowed)
            return 0;
    return 1;
}

/* The colour shared by at least two of the box's corners, if any. */
static int s_corner_colour(const uint8_t *rgb, size_t stride, const hm_box_t *b, uint8_t out[3])
{
    const uint8_t *c[4] = {
        rgb + (size_t)b->y * stride + 3 * (size_t)b->x,
        rgb + (size_t)b->y * stride + 3 * (size_t)(b->x + b->w - 1),
        rgb + (size_t)(b->y + b->h - 1) * stride + 3 * (size_t)b->x,
        rgb + (size_t)(b->y + b->h - 1) * stride + 3 * (size_t)(b->x + b->w - 1),
    };
    for (int i = 0; i < 4; i++)
        for (int j = i + 1; j < 4; j++)
            if (s_close(c[i], c[j])) {
                for (int k = 0; k < 3; k++)
                    out[k] = (uint8_t)((c[i][k] + c[j][k]) / 2);
                return 1;
            }
    return 0;
}

int hm_trim_detect(const uint8_t *rgb, int w, int h, size_t stride, hm_box_t *box)
{
    hm_box_t b = { 0, 0, w, h };
    *box = b;
    if (!rgb || w < 16 || h < 16)
        return 0;
    for (int round = 0; round < 3; round++) {
        uint8_t bg[3];
        if (!s_corner_colour(rgb, stride, &b, bg))
            break;
        hm_box_t n = b;
        while (n.h > 1 && s_line_is_border(rgb + (size_t)n.y * stride + 3 * (size_t)n.x, n.w, 3, bg))
            n.y++, n.h--;
        while (n.h > 1 && s_line_is_border(rgb + (size_t)(n.y + n.h - 1) * stride + 3 * (size_t)n.x, n.w, 3, bg))
            n.h--;
        while (n.w > 1 && s_line_is_border(rgb + (size_t)n.y * stride + 3 * (size_t)n.x, n.h, stride, bg))
            n.x++, n.w--;
        while (n.w > 1 && s_line_is_border(rgb + (size_t)n.y * stride + 3 * (size_t)(n.x + n.w - 1), n.h, stride, bg))
            n.w--;
        if (n.x == b.x && n.y == b.y && n.w == b.w && n.h == b.h)
            break;
        b = n;
    }
    /* A flat image peels to nothing: that is not a content box. */
    if (b.w < 16 || b.h < 16 || b.w * 10 < w || b.h * 10 < h)
        return 0;
    int dx = w - b.w, dy = h - b.h;
    int big = (dx >= 2 && dx * 50 >= w) || (dy >= 2 && dy * 50 >= h);
    if (!big)
        return 0;
    *box = b;
    return 1;
}
