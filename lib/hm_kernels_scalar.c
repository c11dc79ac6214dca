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
};
