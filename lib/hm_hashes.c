/* hm_hashes.c - pHash (32x32 DCT, 8x8 low frequencies) and dHash (9x8). */
#include "hm_hashes.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

#include "hm_pdq.h"
#include "hm_simd.h"

/* D (8 x 32) rows u = 1..8, and D^T padded to 32 x 16 (the matmul kernel
 * works on widths that are multiples of 16; columns 8..15 stay zero). */
static float s_d[8 * 32], s_dt[32 * 16];
static pthread_once_t s_once = PTHREAD_ONCE_INIT;

static void s_init(void)
{
    const double scale = sqrt(2.0 / 32.0);
    for (int u = 0; u < 8; u++)
        for (int x = 0; x < 32; x++) {
            float v = (float)(scale * cos(M_PI / 64.0 * (u + 1) * (2 * x + 1)));
            s_d[u * 32 + x] = v;
            s_dt[x * 16 + u] = v;
        }
}

uint64_t hm_phash_from_grid(const float grid[32 * 32])
{
    pthread_once(&s_once, s_init);
    const hm_kernels_t *k = hm_kernels();
    float t[8 * 32], b[8 * 16], c[64];
    k->matmul(s_d, grid, t, 8, 32, 32);
    k->matmul(t, s_dt, b, 8, 32, 16);
    for (int r = 0; r < 8; r++)
        memcpy(c + 8 * r, b + 16 * r, 8 * sizeof(float));
    /* Median of 64: the mean of the 32nd and 33rd smallest. */
    float med = 0.5f * (hm_select_kth(c, 64, 31) + hm_select_kth(c, 64, 32));
    uint64_t bits;
    k->threshold_bits(c, 64, med, &bits);
    return bits;
}

uint64_t hm_dhash_from_grid(const float grid[8 * 9])
{
    uint64_t bits = 0;
    for (int r = 0; r < 8; r++)
        for (int c = 0; c < 8; c++)
            if (grid[r * 9 + c] < grid[r * 9 + c + 1])
                bits |= 1ULL << (8 * r + c);
    return bits;
}
