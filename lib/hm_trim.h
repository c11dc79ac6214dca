/*
 * hm_trim.h - find uniform borders (padding, letterboxing, plain frames).
 *
 * Sellers paste a brand's photo onto a white or coloured canvas, add black
 * letterbox bars or a plain frame.  The content box is found by peeling, in up
 * to three rounds (a frame inside a mat inside padding), every edge row or
 * column whose pixels almost all (>= 97%) lie within a tolerance of the
 * border colour; the border colour of a round is the colour at least two of
 * the box's corners share.  Textured frames and caption strips are not
 * uniform and are left to later signals.
 *
 * Thread safety: a pure function.
 */
#ifndef HM_TRIM_H
#define HM_TRIM_H

#include <stddef.h>
#include <stdint.h>

#include "hm_fp.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * hm_trim_detect - the content box of an RGB image.
 * @param[out] box  the content box (the whole image when nothing is trimmed).
 * @return 1 when a border of at least 2% of a side (and 2 px) was removed and
 *         the remaining box is large enough to fingerprint (>= 10% of each
 *         side and >= 16 px); 0 otherwise.
 */
int hm_trim_detect(const uint8_t *rgb, int w, int h, size_t stride, hm_box_t *box);

#ifdef __cplusplus
}
#endif
#endif
