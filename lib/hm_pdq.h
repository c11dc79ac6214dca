/*
 * hm_pdq.h - PDQ (Meta's 256-bit perceptual hash) from a 64x64 luma grid.
 *
 * Written from Meta's published description (hashing.pdf) of PDQ: luma
 * Y = 0.299 R + 0.587 G + 0.114 B; a tent-filter downsample to 64x64 (see
 * hm_resample.h); quality from the sum of quantised gradients of the 64x64
 * grid; a 2-D DCT keeping coefficients 1..16 x 1..16; one bit per coefficient,
 * set when it exceeds the median of the 256.  The seven other dihedral hashes
 * (rotations, flips) come from the same DCT by transposing and negating
 * alternate rows or columns, as PDQ allows.
 *
 * Thread safety: pure functions of their arguments.
 */
#ifndef HM_PDQ_H
#define HM_PDQ_H

#include "hm_fp.h"

#ifdef __cplusplus
extern "C" {
#endif

/* PDQ's quality (0..100) of a 64x64 luma grid. */
int hm_pdq_quality(const float grid[64 * 64]);

/* The 16x16 DCT coefficients (1..16 x 1..16) of a 64x64 grid, row-major. */
void hm_pdq_dct16(const float grid[64 * 64], float dct[16 * 16]);

/*
 * hm_pdq_hashes - the eight dihedral hashes (enum hm_dih order) from the DCT.
 * hashes[HM_DIH_ORIGINAL] is the plain PDQ hash.
 */
void hm_pdq_hashes(const float dct[16 * 16], hm_pdq_t hashes[HM_DIH_COUNT]);

/* The k-th smallest of n floats (0-based), without changing v (n <= 1024). */
float hm_select_kth(const float *v, int n, int k);

#ifdef __cplusplus
}
#endif
#endif
