/*
 * hm_kernels_avx2.c - AVX2 (+POPCNT) kernels.  This file is compiled with
 * -mavx2 -mfma -mpopcnt -mbmi2 and only ever called after hm_simd.c has checked
 * the CPU.  Element-wise float kernels use separate multiply and add (never
 * FMA) so that they match the scalar twins bit for bit.
 */
#include "hm_simd.h"

#include <immintrin.h>

static uint32_t a_hamming256(const uint64_t *a, const uint64_t *b)
{
    return (uint32_t)(_mm_popcnt_u64(a[0] ^ b[0]) + _mm_popcnt_u64(a[1] ^ b[1]) +
                      _mm_popcnt_u64(a[2] ^ b[2]) + _mm_popcnt_u64(a[3] ^ b[3]));
}

static void a_hamming256_many(const uint64_t *q, const uint64_t *codes, size_t n,
                              uint16_t *out)
{
    const uint64_t q0 = q[0], q1 = q[1], q2 = q[2], q3 = q[3];
    size_t i = 0;
    for (; i + 2 <= n; i += 2) {
        const uint64_t *c = codes + 4 * i;
        out[i] = (uint16_t)(_mm_popcnt_u64(c[0] ^ q0) + _mm_popcnt_u64(c[1] ^ q1) +
                            _mm_popcnt_u64(c[2] ^ q2) + _mm_popcnt_u64(c[3] ^ q3));
        out[i + 1] = (uint16_t)(_mm_popcnt_u64(c[4] ^ q0) + _mm_popcnt_u64(c[5] ^ q1) +
                                _mm_popcnt_u64(c[6] ^ q2) + _mm_popcnt_u64(c[7] ^ q3));
    }
    for (; i < n; i++)
        out[i] = (uint16_t)a_hamming256(q, codes + 4 * i);
}

static void a_hamming64_many(uint64_t q, const uint64_t *codes, size_t n,
                             uint16_t *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = (uint16_t)_mm_popcnt_u64(q ^ codes[i]);
}

/* Deinterleave 16 RGB pixels (48 bytes) into three 16-byte planes. */
static inline void a_deinterleave16(const uint8_t *p, __m128i *r, __m128i *g, __m128i *b)
{
    __m128i v0 = _mm_loadu_si128((const __m128i *)p);
    __m128i v1 = _mm_loadu_si128((const __m128i *)(p + 16));
    __m128i v2 = _mm_loadu_si128((const __m128i *)(p + 32));
    const __m128i z = _mm_set1_epi8((char)0x80);
    /* Pixel k's channel c sits at byte 3k+c of the 48. */
#define SEL(v, c, lo)                                                          \
    _mm_shuffle_epi8(v, _mm_setr_epi8(                                          \
        SB(c, 0, lo), SB(c, 1, lo), SB(c, 2, lo), SB(c, 3, lo), SB(c, 4, lo),  \
        SB(c, 5, lo), SB(c, 6, lo), SB(c, 7, lo), SB(c, 8, lo), SB(c, 9, lo),  \
        SB(c, 10, lo), SB(c, 11, lo), SB(c, 12, lo), SB(c, 13, lo),            \
        SB(c, 14, lo), SB(c, 15, lo)))
#define SB(c, k, lo) ((3 * (k) + (c) >= (lo) && 3 * (k) + (c) < (lo) + 16) ? (char)(3 * (k) + (c) - (lo)) : (char)0x80)
    *r = _mm_or_si128(_mm_or_si128(SEL(v0, 0, 0), SEL(v1, 0, 16)), SEL(v2, 0, 32));
    *g = _mm_or_si128(_mm_or_si128(SEL(v0, 1, 0), SEL(v1, 1, 16)), SEL(v2, 1, 32));
    *b = _mm_or_si128(_mm_or_si128(SEL(v0, 2, 0), SEL(v1, 2, 16)), SEL(v2, 2, 32));
#undef SB
#undef SEL
    (void)z;
}

void hm__avx2_rgb_to_luma(const uint8_t *rgb, size_t npix, float *out);
void hm__avx2_orient_energy(const float *gx, const float *gy, size_t n, float *e);

void hm__avx2_rgb_to_luma(const uint8_t *rgb, size_t npix, float *out)
{
    const __m256 kr = _mm256_set1_ps(0.299f), kg = _mm256_set1_ps(0.587f),
                 kb = _mm256_set1_ps(0.114f);
    size_t i = 0;
    for (; i + 16 <= npix; i += 16) {
        __m128i r, g, b;
        a_deinterleave16(rgb + 3 * i, &r, &g, &b);
        for (int h = 0; h < 2; h++) {
            __m128i rr = h ? _mm_srli_si128(r, 8) : r;
            __m128i gg = h ? _mm_srli_si128(g, 8) : g;
            __m128i bb = h ? _mm_srli_si128(b, 8) : b;
            __m256 fr = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(rr));
            __m256 fg = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(gg));
            __m256 fb = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(bb));
            __m256 y = _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(kr, fr), _mm256_mul_ps(kg, fg)),
                                     _mm256_mul_ps(kb, fb));
            _mm256_storeu_ps(out + i + 8 * h, y);
        }
    }
    for (; i < npix; i++) {
        float r = rgb[3 * i], g = rgb[3 * i + 1], b = rgb[3 * i + 2];
        out[i] = (0.299f * r + 0.587f * g) + 0.114f * b;
    }
}

static void a_axpy(float *acc, const float *x, float w, size_t n)
{
    const __m256 vw = _mm256_set1_ps(w);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 a = _mm256_loadu_ps(acc + i);
        __m256 p = _mm256_mul_ps(vw, _mm256_loadu_ps(x + i));
        _mm256_storeu_ps(acc + i, _mm256_add_ps(a, p));
    }
    for (; i < n; i++)
        acc[i] = acc[i] + w * x[i];
}

static float a_dot(const float *a, const float *b, size_t n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    s0 = _mm256_add_ps(s0, s1);
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(s0), _mm256_extractf128_ps(s0, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    float s = _mm_cvtss_f32(h);
    for (; i < n; i++)
        s += a[i] * b[i];
    return s;
}

static void a_matmul(const float *a, const float *b, float *c, int m, int k, int n)
{
    /* Same accumulation order as the scalar twin: c[i][:] += a[i][t] * b[t][:]. */
    for (int i = 0; i < m; i++) {
        float *ci = c + (size_t)i * n;
        for (int j = 0; j < n; j += 16) {
            __m256 c0 = _mm256_setzero_ps(), c1 = _mm256_setzero_ps();
            for (int t = 0; t < k; t++) {
                __m256 w = _mm256_set1_ps(a[(size_t)i * k + t]);
                const float *bt = b + (size_t)t * n + j;
                c0 = _mm256_add_ps(c0, _mm256_mul_ps(w, _mm256_loadu_ps(bt)));
                c1 = _mm256_add_ps(c1, _mm256_mul_ps(w, _mm256_loadu_ps(bt + 8)));
            }
            _mm256_storeu_ps(ci + j, c0);
            _mm256_storeu_ps(ci + j + 8, c1);
        }
    }
}

static void a_threshold_bits(const float *v, size_t n, float t, uint64_t *bits)
{
    const __m256 vt = _mm256_set1_ps(t);
    for (size_t w = 0; w < n / 64; w++) {
        uint64_t x = 0;
        for (int j = 0; j < 8; j++) {
            __m256 c = _mm256_cmp_ps(_mm256_loadu_ps(v + w * 64 + 8 * j), vt, _CMP_GT_OQ);
            x |= (uint64_t)(unsigned)_mm256_movemask_ps(c) << (8 * j);
        }
        bits[w] = x;
    }
}

#define HM__C45 0.70710678118654752f
static const float a_cos8[8] = { 1.f, HM__C45, 0.f, -HM__C45, -1.f, -HM__C45, 0.f, HM__C45 };
static const float a_sin8[8] = { 0.f, HM__C45, 1.f, HM__C45, 0.f, -HM__C45, -1.f, -HM__C45 };

void hm__avx2_orient_energy(const float *gx, const float *gy, size_t n, float *e)
{
    const __m256 zero = _mm256_setzero_ps();
    for (int k = 0; k < 8; k++) {
        const __m256 c = _mm256_set1_ps(a_cos8[k]), s = _mm256_set1_ps(a_sin8[k]);
        float *ek = e + (size_t)k * n;
        size_t i = 0;
        for (; i + 8 <= n; i += 8) {
            __m256 v = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(gx + i), c),
                                     _mm256_mul_ps(_mm256_loadu_ps(gy + i), s));
            _mm256_storeu_ps(ek + i, _mm256_max_ps(v, zero));
        }
        for (; i < n; i++) {
            float v = gx[i] * a_cos8[k] + gy[i] * a_sin8[k];
            ek[i] = v > 0.0f ? v : 0.0f;
        }
    }
}

static const int8_t a_cdx[16] = { 0, 1, 2, 3, 3, 3, 2, 1, 0, -1, -2, -3, -3, -3, -2, -1 };
static const int8_t a_cdy[16] = { -3, -3, -2, -1, 0, 1, 2, 3, 3, 3, 2, 1, 0, -1, -2, -3 };

/* 1-byte lanes: 0xff where 9 contiguous circle masks are all set.  Runs are
 * built by doubling (2, 4, 8, then + 1) over the 16 circular positions. */
static inline __m256i a_run9(const __m256i *m)
{
    __m256i c2[16], c4[16], any = _mm256_setzero_si256();
    for (int s = 0; s < 16; s++)
        c2[s] = _mm256_and_si256(m[s], m[(s + 1) & 15]);
    for (int s = 0; s < 16; s++)
        c4[s] = _mm256_and_si256(c2[s], c2[(s + 2) & 15]);
    for (int s = 0; s < 16; s++) {
        __m256i c8 = _mm256_and_si256(c4[s], c4[(s + 4) & 15]);
        any = _mm256_or_si256(any, _mm256_and_si256(c8, m[(s + 8) & 15]));
    }
    return any;
}

void hm__avx2_fast9_row(const uint8_t *p, ptrdiff_t stride, size_t n, int t, uint8_t *out)
{
    const __m256i vt = _mm256_set1_epi8((char)t), zero = _mm256_setzero_si256();
    const __m256i one = _mm256_set1_epi8(1);
    size_t i = 0;
    for (; i < n; i += 32) {
        /* the last block overlaps the previous one instead of a scalar tail */
        if (i + 32 > n) {
            if (n < 32)
                break;
            i = n - 32;
        }
        const uint8_t *c = p + i;
        __m256i vc = _mm256_loadu_si256((const __m256i *)c);
        __m256i hi = _mm256_adds_epu8(vc, vt), lo = _mm256_subs_epu8(vc, vt);
        __m256i b[16], d[16];
        for (int k = 0; k < 16; k++) {
            __m256i v = _mm256_loadu_si256((const __m256i *)(c + a_cdy[k] * stride + a_cdx[k]));
            /* v > hi  <=>  v -sat hi != 0;  v < lo  <=>  lo -sat v != 0 */
            b[k] = _mm256_xor_si256(_mm256_cmpeq_epi8(_mm256_subs_epu8(v, hi), zero),
                                    _mm256_set1_epi8(-1));
            d[k] = _mm256_xor_si256(_mm256_cmpeq_epi8(_mm256_subs_epu8(lo, v), zero),
                                    _mm256_set1_epi8(-1));
        }
        __m256i r = _mm256_or_si256(a_run9(b), a_run9(d));
        _mm256_storeu_si256((__m256i *)(out + i), _mm256_and_si256(r, one));
    }
    if (i < n)
        hm__kernels_scalar.fast9_row(p + i, stride, n - i, t, out + i);
}

void hm__avx2_brief256(const uint8_t *p, const int32_t *off, uint64_t *out)
{
    const __m256i lowb = _mm256_set1_epi32(0xff);
    uint32_t bits[8];
    for (int g = 0; g < 8; g++) {
        uint32_t x = 0;
        for (int j = 0; j < 4; j++) {
            int k = 32 * g + 8 * j;
            __m256i ia = _mm256_loadu_si256((const __m256i *)(off + k));
            __m256i ib = _mm256_loadu_si256((const __m256i *)(off + 256 + k));
            __m256i va = _mm256_and_si256(_mm256_i32gather_epi32((const int *)p, ia, 1), lowb);
            __m256i vb = _mm256_and_si256(_mm256_i32gather_epi32((const int *)p, ib, 1), lowb);
            __m256i lt = _mm256_cmpgt_epi32(vb, va);
            x |= (uint32_t)_mm256_movemask_ps(_mm256_castsi256_ps(lt)) << (8 * j);
        }
        bits[g] = x;
    }
    for (int w = 0; w < 4; w++)
        out[w] = (uint64_t)bits[2 * w] | ((uint64_t)bits[2 * w + 1] << 32);
}

static void a_hamming256_nn(const uint64_t *q, size_t nq, const uint64_t *codes, size_t n,
                            uint32_t *best, uint16_t *d1, uint16_t *d2)
{
    hm__nn_with(a_hamming256_many, q, nq, codes, n, best, d1, d2);
}

/* POPCNT on 64-bit words: AVX2 has no vector popcount worth the shuffles
 * for 256-bit codes; four scalar POPCNTs per code and a compare. */
static uint32_t a_hamming256_argmin8(const uint64_t *q, const uint64_t *t8, size_t nblk,
                                     uint16_t *dmin)
{
    const uint64_t q0 = q[0], q1 = q[1], q2 = q[2], q3 = q[3];
    uint32_t best = 0, bd = UINT32_MAX;
    for (size_t b = 0; b < nblk; b++) {
        const uint64_t *c = t8 + 32 * b;
        for (int l = 0; l < 8; l++) {
            uint32_t d = (uint32_t)(_mm_popcnt_u64(q0 ^ c[l]) + _mm_popcnt_u64(q1 ^ c[8 + l]) +
                                    _mm_popcnt_u64(q2 ^ c[16 + l]) + _mm_popcnt_u64(q3 ^ c[24 + l]));
            if (d < bd) {
                bd = d;
                best = (uint32_t)(8 * b + (size_t)l);
            }
        }
    }
    *dmin = (uint16_t)bd;
    return best;
}

static size_t a_hamming256_within(const uint64_t *q, const uint64_t *codes, size_t n,
                                  uint32_t maxd, uint32_t *idx, uint16_t *d)
{
    const uint64_t q0 = q[0], q1 = q[1], q2 = q[2], q3 = q[3];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const uint64_t *c = codes + 4 * i;
        uint32_t x = (uint32_t)(_mm_popcnt_u64(c[0] ^ q0) + _mm_popcnt_u64(c[1] ^ q1) +
                                _mm_popcnt_u64(c[2] ^ q2) + _mm_popcnt_u64(c[3] ^ q3));
        idx[k] = (uint32_t)i; /* written always, kept when within: no branch */
        d[k] = (uint16_t)x;
        k += x <= maxd;
    }
    return k;
}

const hm_kernels_t hm__kernels_avx2 = {
    .name = "avx2",
    .hamming256 = a_hamming256,
    .hamming256_many = a_hamming256_many,
    .hamming64_many = a_hamming64_many,
    .rgb_to_luma = hm__avx2_rgb_to_luma,
    .axpy = a_axpy,
    .dot = a_dot,
    .matmul = a_matmul,
    .threshold_bits = a_threshold_bits,
    .orient_energy = hm__avx2_orient_energy,
    .fast9_row = hm__avx2_fast9_row,
    .brief256 = hm__avx2_brief256,
    .hamming256_nn = a_hamming256_nn,
    .hamming256_argmin8 = a_hamming256_argmin8,
    .hamming256_within = a_hamming256_within,
};
