/*
 * hm_desc.h - a compact global descriptor (HM_DESC_DIM = 304 floats).
 *
 * A GIST-like summary built to survive re-encoding, resizing, mild crops,
 * padding and small rotations better than a DCT hash:
 *   - oriented gradient energy in 8 directions (relu of the gradient
 *     projected on k * 45 degrees), summed over a 4x4 grid of cells, at two
 *     scales (the 64x64 PDQ grid and its 32x32 half): 2 x 16 x 8 = 256;
 *   - a coarse colour layout: the mean opponent colours (R-G, R+G-2B, R+G+B)
 *     of a 4x4 grid: 48.
 * Each block is square-rooted (signed for colour), centred, L2-normalised and weighted
 * (gradients 1, colour 0.6), then the whole vector is L2-normalised, so the
 * inner product of two descriptors is their cosine similarity.
 *
 * Thread safety: pure functions.
 */
#ifndef HM_DESC_H
#define HM_DESC_H

#include "hm_fp.h"

#ifdef __cplusplus
extern "C" {
#endif

/* colour: 4x4 cells x 3 (mean R, G, B in 0..255 of each cell), row-major. */
void hm_desc_compute(const float grid64[64 * 64], const float colour[4 * 4 * 3],
                     float out[HM_DESC_DIM]);

#ifdef __cplusplus
}
#endif
#endif
