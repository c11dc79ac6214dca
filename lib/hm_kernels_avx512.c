/*
 * hm_kernels_avx512.c - AVX-512 (F, BW, VL, VPOPCNTDQ) kernels.  Compiled with
 * those target flags and only called after hm_simd.c has checked the CPU.
 * Kernels without a 512-bit advantage reuse the AVX2 table's entries.
 */
#include "hm_simd.h"

#include <immintrin.h>

/* Shared with the AVX2 level (no 512-bit gain: they are load/convert bound). */
void hm__avx2_rgb_to_luma(const uint8_t *rgb, size_t npix, float *out);
void hm__avx2_orient_energy(const float *gx, const float *gy, size_t n, float *e);

static uint32_t z_hamming256(const uint64_t *a, const uint64_t *b)
{
    __m256i x = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)a),
                                 _mm256_loadu_si256((const __m256i *)b));
    __m256i p = _mm256_popcnt_epi64(x);
    __m128i s = _mm_add_epi64(_mm256_castsi256_si128(p), _mm256_extracti128_si256(p, 1));
    return (uint32_t)(_mm_cvtsi128_si64(s) + _mm_extract_epi64(s, 1));
}

/*
 * Eight codes per step: four 512-bit loads of two codes each, XOR with the
 * query broadcast twice, VPOPCNTQ, then fold each code's four lane counts.
 */
/* Distances of the eight codes at c (32 words) to the query broadcast in vq,
 * one per 64-bit lane, in order. */
static inline __m512i z_dist8(const uint64_t *c, __m512i vq)
{
    /* After folding, code j of a register pair sits in qword 0 or 4. */
    const __m512i pick = _mm512_setr_epi64(0, 4, 8, 12, 0, 4, 8, 12);
    __m512i r[4];
    for (int j = 0; j < 4; j++) {
        __m512i p = _mm512_popcnt_epi64(
            _mm512_xor_si512(_mm512_loadu_si512((const void *)(c + 8 * j)), vq));
        p = _mm512_add_epi64(p, _mm512_shuffle_epi32(p, _MM_PERM_BADC));
        p = _mm512_add_epi64(p, _mm512_shuffle_i64x2(p, p, _MM_SHUFFLE(2, 3, 0, 1)));
        r[j] = p;
    }
    /* Gather qwords 0,4 of r0,r1 and of r2,r3, then join the halves. */
    __m512i lo = _mm512_permutex2var_epi64(r[0], pick, r[1]);
    __m512i hi = _mm512_permutex2var_epi64(r[2], pick, r[3]);
    return _mm512_mask_blend_epi64(0xF0, lo, hi);
}

static void z_hamming256_many(const uint64_t *q, const uint64_t *codes, size_t n,
                              uint16_t *out)
{
    const __m512i vq = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)q));
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(out + i), _mm512_cvtepi64_epi16(z_dist8(codes + 4 * i, vq)));
    for (; i < n; i++)
        out[i] = (uint16_t)z_hamming256(q, codes + 4 * i);
}

static void z_hamming64_many(uint64_t q, const uint64_t *codes, size_t n,
                             uint16_t *out)
{
    const __m512i vq = _mm512_set1_epi64((long long)q);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m512i p = _mm512_popcnt_epi64(
            _mm512_xor_si512(_mm512_loadu_si512((const void *)(codes + i)), vq));
        _mm_storeu_si128((__m128i *)(out + i), _mm512_cvtepi64_epi16(p));
    }
    for (; i < n; i++)
        out[i] = (uint16_t)_mm_popcnt_u64(q ^ codes[i]);
}

static void z_axpy(float *acc, const float *x, float w, size_t n)
{
    const __m512 vw = _mm512_set1_ps(w);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 p = _mm512_mul_ps(vw, _mm512_loadu_ps(x + i));
        _mm512_storeu_ps(acc + i, _mm512_add_ps(_mm512_loadu_ps(acc + i), p));
    }
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        __m512 p = _mm512_mul_ps(vw, _mm512_maskz_loadu_ps(m, x + i));
        _mm512_mask_storeu_ps(acc + i, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, acc + i), p));
    }
}

static float z_dot(const float *a, const float *b, size_t n)
{
    __m512 s = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        s = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s);
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        s = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), s);
    }
    return _mm512_reduce_add_ps(s);
}

static void z_matmul(const float *a, const float *b, float *c, int m, int k, int n)
{
    for (int i = 0; i < m; i++) {
        float *ci = c + (size_t)i * n;
        for (int j = 0; j < n; j += 16) {
            __m512 acc = _mm512_setzero_ps();
            for (int t = 0; t < k; t++) {
                __m512 w = _mm512_set1_ps(a[(size_t)i * k + t]);
                acc = _mm512_add_ps(acc, _mm512_mul_ps(w, _mm512_loadu_ps(b + (size_t)t * n + j)));
            }
            _mm512_storeu_ps(ci + j, acc);
        }
    }
}

static void z_threshold_bits(const float *v, size_t n, float t, uint64_t *bits)
{
    const __m512 vt = _mm512_set1_ps(t);
    for (size_t w = 0; w < n / 64; w++) {
        uint64_t x = 0;
        for (int j = 0; j < 4; j++) {
            __mmask16 m = _mm512_cmp_ps_mask(_mm512_loadu_ps(v + w * 64 + 16 * j), vt, _CMP_GT_OQ);
            x |= (uint64_t)m << (16 * j);
        }
        bits[w] = x;
    }
}

static void z_hamming256_nn(const uint64_t *q, size_t nq, const uint64_t *codes, size_t n,
                            uint32_t *best, uint16_t *d1, uint16_t *d2)
{
    hm__nn_with(z_hamming256_many, q, nq, codes, n, best, d1, d2);
}

/*
 * Block layout: one load per word gives that word of eight codes, so eight
 * distances are 4 XOR + 4 VPOPCNTQ + 3 adds with no folding.  Each lane
 * keeps its first minimum (strict <, blocks in order); the lanes are then
 * reduced to the minimum distance and, among lanes holding it, the lowest
 * index: the scalar twin's first minimum.
 */
static uint32_t z_hamming256_argmin8(const uint64_t *q, const uint64_t *t8, size_t nblk,
                                     uint16_t *dmin)
{
    const __m512i q0 = _mm512_set1_epi64((long long)q[0]), q1 = _mm512_set1_epi64((long long)q[1]);
    const __m512i q2 = _mm512_set1_epi64((long long)q[2]), q3 = _mm512_set1_epi64((long long)q[3]);
    const __m512i step = _mm512_set1_epi64(8);
    __m512i idx = _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7);
    __m512i bidx = idx, bd = _mm512_set1_epi64(1 << 20);
    for (size_t b = 0; b < nblk; b++) {
        const uint64_t *c = t8 + 32 * b;
        __m512i d = _mm512_popcnt_epi64(_mm512_xor_si512(_mm512_loadu_si512((const void *)c), q0));
        d = _mm512_add_epi64(d, _mm512_popcnt_epi64(
                                    _mm512_xor_si512(_mm512_loadu_si512((const void *)(c + 8)), q1)));
        d = _mm512_add_epi64(d, _mm512_popcnt_epi64(
                                    _mm512_xor_si512(_mm512_loadu_si512((const void *)(c + 16)), q2)));
        d = _mm512_add_epi64(d, _mm512_popcnt_epi64(
                                    _mm512_xor_si512(_mm512_loadu_si512((const void *)(c + 24)), q3)));
        __mmask8 lt = _mm512_cmplt_epu64_mask(d, bd);
        bd = _mm512_mask_blend_epi64(lt, bd, d);
        bidx = _mm512_mask_blend_epi64(lt, bidx, idx);
        idx = _mm512_add_epi64(idx, step);
    }
    uint64_t m = _mm512_reduce_min_epu64(bd);
    __mmask8 at = _mm512_cmpeq_epu64_mask(bd, _mm512_set1_epi64((long long)m));
    uint64_t best = _mm512_mask_reduce_min_epu64(at, bidx);
    *dmin = (uint16_t)m;
    return (uint32_t)best;
}

/* Eight codes per step as in z_hamming256_many, then one compare to a mask
 * and compressed stores of the indices and distances that pass. */
static size_t z_hamming256_within(const uint64_t *q, const uint64_t *codes, size_t n,
                                  uint32_t maxd, uint32_t *idx, uint16_t *d)
{
    const __m512i vq = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)q));
    const __m512i lim = _mm512_set1_epi64(maxd);
    __m512i vi = _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7);
    const __m512i step = _mm512_set1_epi64(8);
    size_t i = 0, k = 0;
    for (; i + 8 <= n; i += 8) {
        __m512i all = z_dist8(codes + 4 * i, vq);
        __mmask8 ok = _mm512_cmple_epu64_mask(all, lim);
        if (ok) {
            /* (16-bit compress needs VBMI2: compress 32-bit, then narrow) */
            uint32_t tmp[8];
            int m = __builtin_popcount(ok);
            _mm256_mask_compressstoreu_epi32(idx + k, ok, _mm512_cvtepi64_epi32(vi));
            _mm256_mask_compressstoreu_epi32(tmp, ok, _mm512_cvtepi64_epi32(all));
            for (int j = 0; j < m; j++)
                d[k + (size_t)j] = (uint16_t)tmp[j];
            k += (size_t)m;
        }
        vi = _mm512_add_epi64(vi, step);
    }
    for (; i < n; i++) {
        uint32_t x = z_hamming256(q, codes + 4 * i);
        if (x <= maxd) {
            idx[k] = (uint32_t)i;
            d[k++] = (uint16_t)x;
        }
    }
    return k;
}

const hm_kernels_t hm__kernels_avx512 = {
    .name = "avx512",
    .hamming256 = z_hamming256,
    .hamming256_many = z_hamming256_many,
    .hamming64_many = z_hamming64_many,
    .rgb_to_luma = hm__avx2_rgb_to_luma,
    .axpy = z_axpy,
    .dot = z_dot,
    .matmul = z_matmul,
    .threshold_bits = z_threshold_bits,
    .orient_energy = hm__avx2_orient_energy,
    /* FAST and BRIEF are load/gather bound: no 512-bit gain measured worth the code. */
    .fast9_row = hm__avx2_fast9_row,
    .brief256 = hm__avx2_brief256,
    .hamming256_nn = z_hamming256_nn,
    .hamming256_argmin8 = z_hamming256_argmin8,
    .hamming256_within = z_hamming256_within,
};
