/*
 * hm_hashes.h - the two classic 64-bit hashes beside PDQ.
 *
 * pHash: 2-D DCT of a 32x32 luma grid; the 8x8 lowest frequencies after DC
 * (indices 1..8 in each axis, so overall brightness does not count); bit set
 * when the coefficient exceeds their median.  Bit 8 r + c is coefficient
 * (r + 1, c + 1); bit 63 is printed first in hex.
 * dHash: a 9x8 luma grid (9 columns, 8 rows); bit 8 r + c is set when cell
 * (r, c) is darker than its right neighbour (r, c + 1).
 *
 * Both grids come from the same tent downsample as PDQ (hm_resample.h).
 * Thread safety: pure functions.
 */
#ifndef HM_HASHES_H
#define HM_HASHES_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

uint64_t hm_phash_from_grid(const float grid[32 * 32]);
uint64_t hm_dhash_from_grid(const float grid[8 * 9]);

#ifdef __cplusplus
}
#endif
#endif
