/*
 * hm_kernels_scalar.c - the portable twins of every SIMD kernel.
 * Compiled with baseline x86-64 flags; these define the expected results.
 */
#include "hm_simd.h"

static uint32_t s_pop64(uint64_t x)
{
    /* Baseline x86-64 has no POPCNT: the classic SWAR count. */
    x = x - ((x >> 1) & 0x5555555555555555ULL);
    x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
    x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0fULL;
    return (uint32_t)((x * 0x0101010101010101ULL) >> 56);
}

static uint32_t s_hamming256(const uint64_t *a, const uint64_t *b)
{
    return s_pop64(a[0] ^ b[0]) + s_pop64(a[1] ^ b[1]) + s_pop64(a[2] ^ b[2]) +
           s_pop64(a[3] ^ b[3]);
}

static void s_hamming256_many(const uint64_t *q, const uint64_t *codes, size_t n,
                              uint16_t *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = (uint16_t)s_hamming256(q, codes + 4 * i);
}

static void s_hamming64_many(uint64_t q, const uint64_t *codes, size_t n,
                             uint16_t *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = (uint16_t)s_pop64(q ^ codes[i]);
}

static void s_rgb_to_luma(const uint8_t *rgb, size_t npix, float *out)
{
    for (size_t i = 0; i < npix; i++) {
        float r = rgb[3 * i], g = rgb[3 * i + 1], b = rgb[3 * i + 2];
        out[i] = (0.299f * r + 0.587f * g) + 0.114f * b;
    }
}

static void s_axpy(float *acc, const float *x, float w, size_t n)
{
    for (size_t i = 0; i < n; i++)
        acc[i] = acc[i] + w * x[i];
}

static float s_dot(const float *a, const float *b, size_t n)
{
    float s = 0.0f;
    for (size_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

static void s_matmul(const float *a, const float *b, float *c, int m, int k, int n)
{
    for (int i = 0; i < m; i++) {
        float *ci = c + (size_t)i * n;
        for (int j = 0; j < n; j++)
            ci[j] = 0.0f;
        for (int t = 0; t < k; t++)
            s_axpy(ci, b + (size_t)t * n, a[(size_t)i * k + t], (size_t)n);
    }
}

static void s_threshold_bits(const float *v, size_t n, float t, uint64_t *bits)
{
    for (size_t w = 0; w < n / 64; w++) {
        uint64_t x = 0;
        for (int i = 0; i < 64; i++)
            if (v[w * 64 + i] > t)
                x |= 1ULL << i;
        bits[w] = x;
    }
}

/* cos and sin of k*pi/4, k = 0..7, as float constants shared by all levels. */
#define HM__C45 0.70710678118654752f
static const float s_cos8[8] = { 1.f, HM__C45, 0.f, -HM__C45, -1.f, -HM__C45, 0.f, HM__C45 };
static const float s_sin8[8] = { 0.f, HM__C45, 1.f, HM__C45, 0.f, -HM__C45, -1.f, -HM__C45 };

static void s_orient_energy(const float *gx, const float *gy, size_t n, float *e)
{
    for (int k = 0; k < 8; k++) {
        float c = s_cos8[k], s = s_sin8[k];
        float *ek = e + (size_t)k * n;
        for (size_t i = 0; i < n; i++) {
            float v = gx[i] * c + gy[i] * s;
            ek[i] = v > 0.0f ? v : 0.0f;
        }
    }
}

/* The radius-3 Bresenham circle, clockwise from the top (FAST's numbering). */
static const int8_t s_cdx[16] = { 0, 1, 2, 3, 3, 3, 2, 1, 0, -1, -2, -3, -3, -3, -2, -1 };
static const int8_t s_cdy[16] = { -3, -3, -2, -1, 0, 1, 2, 3, 3, 3, 2, 1, 0, -1, -2, -3 };

/* 1 when the 16-bit circular mask m has 9 contiguous set bits. */
static int s_run9(uint32_t m)
{
    uint32_t r = m | (m << 16);
    uint32_t a = r & (r >> 1);    /* runs of 2 */
    a = a & (a >> 2);             /* runs of 4 */
    a = a & (a >> 4);             /* runs of 8 */
    a = a & (r >> 8);             /* runs of 9 */
    return (a & 0xffffu) != 0;
}

static void s_fast9_row(const uint8_t *p, ptrdiff_t stride, size_t n, int t, uint8_t *out)
{
    for (size_t i = 0; i < n; i++) {
        const uint8_t *c = p + i;
        int hi = c[0] + t > 255 ? 255 : c[0] + t;
        int lo = c[0] - t < 0 ? 0 : c[0] - t;
        uint32_t b = 0, d = 0;
        for (int k = 0; k < 16; k++) {
            int v = c[s_cdy[k] * stride + s_cdx[k]];
            b |= (uint32_t)(v > hi) << k;
            d |= (uint32_t)(v < lo) << k;
        }
        out[i] = (uint8_t)(s_run9(b) | s_run9(d));
    }
}

static void s_brief256(const uint8_t *p, const int32_t *off, uint64_t *out)
{
    for (int w = 0; w < 4; w++) {
        uint64_t x = 0;
        for (int i = 0; i < 64; i++) {
            int k = 64 * w + i;
            x |= (uint64_t)(p[off[k]] < p[off[256 + k]]) << i;
        }
        out[w] = x;
    }
}

/* Shared by every level (declared in hm_simd.h's internal section): the
 * nearest-two scan over distances computed by that level's many-kernel, in
 * chunks that stay in L1. */
void hm__nn_with(void (*many)(const uint64_t *, const uint64_t *, size_t, uint16_t *),
                 const uint64_t *q, size_t nq, const uint64_t *codes, size_t n,
                 uint32_t *best, uint16_t *d1, uint16_t *d2)
{
    uint16_t dist[512];
    for (size_t i = 0; i < nq; i++) {
        uint32_t bi = UINT32_MAX;
        unsigned b1 = 257, b2 = 257;
        for (size_t j0 = 0; j0 < n; j0 += 512) {
            size_t m = n - j0 < 512 ? n - j0 : 512;
            many(q + 4 * i, codes + 4 * j0, m, dist);
            for (size_t j = 0; j < m; j++) {
                unsigned d = dist[j];
                if (d < b1) {
                    b2 = b1;
                    b1 = d;
                    bi = (uint32_t)(j0 + j);
                } else if (d < b2) {
                    b2 = d;
                }
            }
        }
        best[i] = bi;
        d1[i] = (uint16_t)b1;
        d2[i] = (uint16_t)b2;
    }
}

static void s_hamming256_nn(const uint64_t *q, size_t nq, const uint64_t *codes, size_t n,
                            uint32_t *best, uint16_t *d1, uint16_t *d2)
{
    hm__nn_with(s_hamming256_many, q, nq, codes, n, best, d1, d2);
}

size_t hm_hamming256_blocks8(const uint64_t *codes, size_t n, uint64_t *t8)
{
    size_t nblk = (n + 7) / 8;
    for (size_t b = 0; b < nblk; b++)
        for (size_t l = 0; l < 8; l++) {
            size_t i = 8 * b + l < n ? 8 * b + l : 0;
            for (int w = 0; w < 4; w++)
                t8[32 * b + 8 * (size_t)w + l] = codes[4 * i + (size_t)w];
        }
    return nblk;
}

static uint32_t s_hamming256_argmin8(const uint64_t *q, const uint64_t *t8, size_t nblk,
                                     uint16_t *dmin)
{
    uint32_t best = 0, bd = UINT32_MAX;
    for (size_t b = 0; b < nblk; b++)
        for (int l = 0; l < 8; l++) {
            const uint64_t *c = t8 + 32 * b + l;
            uint32_t d = s_pop64(q[0] ^ c[0]) + s_pop64(q[1] ^ c[8]) + s_pop64(q[2] ^ c[16]) +
                         s_pop64(q[3] ^ c[24]);
            if (d < bd) {
                bd = d;
                best = (uint32_t)(8 * b + (size_t)l);
            }
        }
    *dmin = (uint16_t)bd;
    return best;
}

static size_t s_hamming256_within(const uint64_t *q, const uint64_t *codes, size_t n,
                                  uint32_t maxd, uint32_t *idx, uint16_t *d)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t x = s_hamming256(q, codes + 4 * i);
        if (x <= maxd) {
            idx[k] = (uint32_t)i;
            d[k++] = (uint16_t)x;
        }
    }
    return k;
}

const hm_kernels_t hm__kernels_scalar = {
    .name = "scalar",
    .hamming256 = s_hamming256,
    .hamming256_many = s_hamming256_many,
    .hamming64_many = s_hamming64_many,
    .rgb_to_luma = s_rgb_to_luma,
    .axpy = s_axpy,
    .dot = s_dot,
    .matmul = s_matmul,
    .threshold_bits = s_threshold_bits,
    .orient_energy = s_orient_energy,
    .fast9_row = s_fast9_row,
    .brief256 = s_brief256,
    .hamming256_nn = s_hamming256_nn,
    .hamming256_argmin8 = s_hamming256_argmin8,
    .hamming256_within = s_hamming256_within,
};
