/*
 * hm_regions.h - content regions: the parts of an image that uniform gutters,
 * strips and margins separate.
 *
 * A seller's collage puts the brand's photo in one cell beside others; a
 * screenshot wraps it in a title bar, a caption and a row of buttons.  The
 * whole image's hashes see none of the photo; the photo's own box does.  The
 * regions are found by a recursive XY-cut on luma:
 *  1. a row (column) of a box is flat when at least 96% of its pixels lie
 *     within +-HM_REGIONS_TOL of the row's mean (JPEG ringing beside a
 *     gutter moves a few pixels, not most);
 *  2. flat rows (columns) along the box's edges are peeled;
 *  3. the box is cut along every run of flat rows inside it into bands (when
 *     there are none, along runs of flat columns), and each piece is cut
 *     again, to a depth of 4;
 *  4. pieces that are never cut are the regions, kept when both sides are at
 *     least HM_REGIONS_MIN_SIDE px and 15% of the image's side, the aspect
 *     at most 3:1 (text lines and button bars are thinner) and the area at
 *     most 90% of the image (the whole image and its trimmed box are
 *     searched already); the largest HM_REGIONS_MAX are kept, largest first.
 * Images that no flat line crosses have no regions (the common case; the
 * scan then costs one pass over the rows and one over the columns).
 * Collages without gutters are left to local features.
 *
 * Thread safety: a pure function.
 */
#ifndef HM_REGIONS_H
#define HM_REGIONS_H

#include <stddef.h>

#include "hm_fp.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HM_REGIONS_MAX 6       /* regions returned at most */
#define HM_REGIONS_TOL 10.0f   /* luma tolerance of a flat line (0..255 scale) */
#define HM_REGIONS_MIN_SIDE 32 /* px */

/*
 * hm_regions_detect - the regions of a luma image (values 0..255).
 * @param[in]  luma, w, h, stride  borrowed; stride in floats.
 * @param[out] boxes  up to cap boxes, largest area first.
 * @return the number of regions (0..min(cap, HM_REGIONS_MAX)); 0 also for
 *         NULL arguments or images smaller than 2 * HM_REGIONS_MIN_SIDE.
 */
int hm_regions_detect(const float *luma, int w, int h, size_t stride, hm_box_t *boxes, int cap);

#ifdef __cplusplus
}
#endif
#endif
