/*
 * hm_resample.h - PDQ's tent-filter downsampling, computed only where sampled.
 *
 * PDQ (Meta's description) blurs the full-resolution luma with two passes of
 * a box filter along rows and columns (Jarosz's tent approximation, window
 * ceil(L / 2N) per pass, truncated at the borders) and then keeps one sample
 * per output cell (the centre, floor((o + 0.5) L / N)).  Both steps are
 * linear and separable, so each output sample is a fixed weighted sum of a
 * few input rows and columns.  This module precomputes those weights per
 * (input length, output length) and applies them as a vertical pass (axpy of
 * whole rows) and a horizontal pass (short dot products): the same numbers as
 * filtering the whole image, at a fraction of the cost.
 *
 * Thread safety: a plan is immutable once made; share it or not.
 */
#ifndef HM_RESAMPLE_H
#define HM_RESAMPLE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The weights of one axis: for output o, taps[o] weights starting at input
 * index start[o].  Weights live in w[o * stride .. + taps[o]]. */
typedef struct hm_rplan {
    int in_len, out_len, ref_len, stride;
    int *start, *taps;
    float *w;
} hm_rplan_t;

/*
 * hm_rplan_init - the weights for in_len -> out_len samples.  ref_len is the
 * length at which the reference hasher would have filtered this axis (it
 * first resizes images larger than 512 to 512x512); when our decode is at
 * another resolution (shrink-on-load), the reference's kernel is mapped onto
 * our grid so the blur keeps the same width relative to the image.  ref_len
 * <= 0 or == in_len gives PDQ's weights for in_len exactly.
 * @return 0, HM_E_INVAL (lengths < 1), HM_E_NOMEM.
 */
int hm_rplan_init(hm_rplan_t *p, int in_len, int out_len, int ref_len);
void hm_rplan_free(hm_rplan_t *p);

/*
 * hm_resample - out (ny x nx, row-major) = tent downsample of the float plane
 * src (h rows of w floats, rows `stride` floats apart).
 * tmp must hold ny * w floats.  py has in_len h, px has in_len w.
 */
void hm_resample(const float *src, int w, int h, size_t stride, const hm_rplan_t *px,
                 const hm_rplan_t *py, float *tmp, float *out);

#ifdef __cplusplus
}
#endif
#endif
