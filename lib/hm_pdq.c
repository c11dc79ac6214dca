/* hm_pdq.c - PDQ quality, 64->16 DCT, median bits and the dihedral variants. */
#include "hm_pdq.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

#include "hm_simd.h"

/* D (16 x 64): D[i][j] = sqrt(2/64) cos(pi/128 (i+1)(2j+1)), and its
 * transpose (64 x 16) for the second product. */
static float s_dct[16 * 64], s_dct_t[64 * 16];
static pthread_once_t s_once = PTHREAD_ONCE_INIT;

static void s_init(void)
{
    const double scale = sqrt(2.0 / 64.0);
    for (int i = 0; i < 16; i++)
        for (int j = 0; j < 64; j++) {
            float v = (float)(scale * cos(M_PI / 128.0 * (i + 1) * (2 * j + 1)));
            s_dct[i * 64 + j] = v;
            s_dct_t[j * 16 + i] = v;
        }
}

int hm_pdq_quality(const float g[64 * 64])
{
    /* PDQ's heuristic: count significant gradients, each quantised to an
     * integer percentage of full scale (truncated), scaled by 1/90. */
    int sum = 0;
    for (int i = 0; i < 63; i++)
        for (int j = 0; j < 64; j++) {
            int d = (int)(((g[i * 64 + j] - g[(i + 1) * 64 + j]) * 100) / 255);
            sum += d < 0 ? -d : d;
        }
    for (int i = 0; i < 64; i++)
        for (int j = 0; j < 63; j++) {
            int d = (int)(((g[i * 64 + j] - g[i * 64 + j + 1]) * 100) / 255);
            sum += d < 0 ? -d : d;
        }
    int q = sum / 90;
    return q > 100 ? 100 : q;
}

void hm_pdq_dct16(const float grid[64 * 64], float dct[16 * 16])
{
    pthread_once(&s_once, s_init);
    const hm_kernels_t *k = hm_kernels();
    float t[16 * 64];
    k->matmul(s_dct, grid, t, 16, 64, 64);  /* T = D A    (16 x 64) */
    k->matmul(t, s_dct_t, dct, 16, 64, 16); /* B = T D^T  (16 x 16) */
}

float hm_select_kth(const float *v, int n, int k)
{
    float a[1024];
    memcpy(a, v, sizeof(float) * (size_t)n);
    int lo = 0, hi = n - 1;
    while (lo < hi) {
        float pivot = a[(lo + hi) / 2];
        int i = lo, j = hi;
        while (i <= j) {
            while (a[i] < pivot) i++;
            while (a[j] > pivot) j--;
            if (i <= j) {
                float t = a[i]; a[i] = a[j]; a[j] = t;
                i++; j--;
            }
        }
        if (k <= j) hi = j;
        else if (k >= i) lo = i;
        else break;
    }
    return a[k];
}

/*
 * The dihedral variants as (transpose, sign pattern) of the 16x16 DCT, where
 * frequency index u = i + 1: mirroring an axis multiplies coefficient u of
 * that axis by (-1)^u, so the even indices i (odd frequencies) change sign.
 */
enum { NEG_NONE, NEG_EVEN_ROWS, NEG_EVEN_COLS, NEG_ODD_SUM };
static const struct { int transpose, neg; } s_dih[HM_DIH_COUNT] = {
    [HM_DIH_ORIGINAL] = { 0, NEG_NONE },
    [HM_DIH_ROT90] = { 1, NEG_EVEN_COLS },
    [HM_DIH_ROT180] = { 0, NEG_ODD_SUM },
    [HM_DIH_ROT270] = { 1, NEG_EVEN_ROWS },
    [HM_DIH_FLIPX] = { 0, NEG_EVEN_ROWS },
    [HM_DIH_FLIPY] = { 0, NEG_EVEN_COLS },
    [HM_DIH_FLIP_PLUS1] = { 1, NEG_NONE },
    [HM_DIH_FLIP_MINUS1] = { 1, NEG_ODD_SUM },
};

static int s_negate(int neg, int i, int j)
{
    switch (neg) {
    case NEG_EVEN_ROWS: return !(i & 1);
    case NEG_EVEN_COLS: return !(j & 1);
    case NEG_ODD_SUM: return (i + j) & 1;
    default: return 0;
    }
}

void hm_pdq_hashes(const float dct[16 * 16], hm_pdq_t hashes[HM_DIH_COUNT])
{
    const hm_kernels_t *k = hm_kernels();
    float b[16 * 16];
    for (int d = 0; d < HM_DIH_COUNT; d++) {
        for (int i = 0; i < 16; i++)
            for (int j = 0; j < 16; j++) {
                float v = dct[i * 16 + j];
                if (s_negate(s_dih[d].neg, i, j))
                    v = -v;
                if (s_dih[d].transpose)
                    b[j * 16 + i] = v;
                else
                    b[i * 16 + j] = v;
            }
        /* PDQ's median is the 128th smallest of the 256 (Torben's). */
        float med = hm_select_kth(b, 256, 127);
        k->threshold_bits(b, 256, med, hashes[d].w);
    }
}

int hm_pdq_distance(const hm_pdq_t *a, const hm_pdq_t *b)
{
    return (int)hm_kernels()->hamming256(a->w, b->w);
}
