/*
 * hm_simd.h - run-time SIMD dispatch: one const table of kernels per level.
 *
 * The level is chosen once, on first use: the best the CPU and the OS support
 * (CPUID for the instructions, XGETBV for the OS saving the wide registers),
 * unless the environment variable HM_SIMD (scalar | avx2 | avx512) asks for a
 * lower one.  The chosen level is logged once (event=simd_level).
 *
 *   scalar  portable C, compiled with baseline x86-64 flags: the twin every
 *           other level is tested against.
 *   avx2    AVX2 + FMA + POPCNT (x86-64-v3).
 *   avx512  AVX-512 F/BW/VL + VPOPCNTDQ.
 *
 * Results: the integer kernels (hamming*, threshold_bits) are bit-exact across
 * levels.  The float kernels that only multiply and add element-wise
 * (rgb_to_luma, axpy, orient_energy) are bit-exact too: no FMA contraction is
 * used in them.  The reductions (dot, matmul) sum in a different order per
 * level and agree within a relative 1e-5 of the sum of absolute products.
 *
 * Thread safety: the tables are immutable; hm_kernels() may be called from any
 * thread (the first call's choice is made under pthread_once).
 */
#ifndef HM_SIMD_H
#define HM_SIMD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum hm_simd_level { HM_SIMD_SCALAR = 0, HM_SIMD_AVX2 = 1, HM_SIMD_AVX512 = 2 };
#define HM_SIMD_NLEVELS 3

typedef struct hm_kernels {
    const char *name;
    /* popcount(a ^ b) over 256 bits (4 words). */
    uint32_t (*hamming256)(const uint64_t *a, const uint64_t *b);
    /* out[i] = popcount(q ^ codes[4i .. 4i+3]) for i < n. */
    void (*hamming256_many)(const uint64_t *q, const uint64_t *codes, size_t n,
                            uint16_t *out);
    /* out[i] = popcount(q ^ codes[i]) for i < n. */
    void (*hamming64_many)(uint64_t q, const uint64_t *codes, size_t n,
                           uint16_t *out);
    /* out[i] = 0.299 r + 0.587 g + 0.114 b of interleaved RGB pixel i. */
    void (*rgb_to_luma)(const uint8_t *rgb, size_t npix, float *out);
    /* acc[i] += w * x[i]. */
    void (*axpy)(float *acc, const float *x, float w, size_t n);
    /* sum of a[i] * b[i]. */
    float (*dot)(const float *a, const float *b, size_t n);
    /* c (m x n) = a (m x k) * b (k x n), all row-major, n a multiple of 16. */
    void (*matmul)(const float *a, const float *b, float *c, int m, int k, int n);
    /* bit i of bits (LSB first in each word) = v[i] > t; n a multiple of 64. */
    void (*threshold_bits)(const float *v, size_t n, float t, uint64_t *bits);
    /* e[k*n + i] = max(0, gx[i] cos(k pi/4) + gy[i] sin(k pi/4)), k = 0..7. */
    void (*orient_energy)(const float *gx, const float *gy, size_t n, float *e);
    /* FAST-9 segment test (Rosten & Drummond) on n consecutive pixels of one
     * row starting at p, rows stride bytes apart; every pixel needs 3 readable
     * pixels on each side.  out[i] = 1 when 9 contiguous pixels of the
     * 16-pixel radius-3 circle around p[i] are all > min(255, p[i] + t), or
     * all < max(0, p[i] - t); else 0. */
    void (*fast9_row)(const uint8_t *p, ptrdiff_t stride, size_t n, int t, uint8_t *out);
    /* 256-bit binary test: bit i of out (LSB first in each of 4 words) is
     * p[off[i]] < p[off[256 + i]], i < 256.  Up to 3 bytes past the largest
     * p[off[]] may be read (gathers load 32 bits): pad the buffer. */
    void (*brief256)(const uint8_t *p, const int32_t *off, uint64_t *out);
    /* Nearest neighbours, many to many: for each of nq query codes (4 words
     * each), best[i] = index of the first nearest of the n codes, d1[i] its
     * distance, d2[i] the second smallest distance over the other codes
     * (257 when n < 2; best = UINT32_MAX, d1 = 257 when n = 0). */
    void (*hamming256_nn)(const uint64_t *q, size_t nq, const uint64_t *codes, size_t n,
                          uint32_t *best, uint16_t *d1, uint16_t *d2);
    /* Nearest of 8 * nblk codes stored in blocks of eight, word-major
     * (hm_hamming256_blocks8(): code 8b + l's word w at t8[32 b + 8 w + l]),
     * so eight distances come out of four loads.  Returns the index of the
     * first nearest code (the lowest index among equals), *dmin its
     * distance; nblk >= 1. */
    uint32_t (*hamming256_argmin8)(const uint64_t *q, const uint64_t *t8, size_t nblk,
                                   uint16_t *dmin);
    /* The codes within maxd of q: for each i < n (in order) with
     * popcount(q ^ codes[4i..4i+3]) <= maxd, idx[k] = i and d[k] = that
     * distance; returns k.  idx and d need room for n entries. */
    size_t (*hamming256_within)(const uint64_t *q, const uint64_t *codes, size_t n,
                                uint32_t maxd, uint32_t *idx, uint16_t *d);
} hm_kernels_t;

/*
 * hm_hamming256_blocks8 - the block layout hamming256_argmin8 reads: n codes
 * (4 words each) into ceil(n / 8) blocks of 32 words; the last block's
 * missing lanes repeat code 0 (never the first nearest: code 0 ties them
 * with a lower index).  t8 needs 32 * ceil(n / 8) words.  Returns the
 * number of blocks.
 */
size_t hm_hamming256_blocks8(const uint64_t *codes, size_t n, uint64_t *t8);

/* The table in use (chosen once).  Never NULL. */
const hm_kernels_t *hm_kernels(void);
/* The table of one level, or NULL when this machine cannot run it. */
const hm_kernels_t *hm_kernels_for(int level);
/* The level in use, and the best the machine supports. */
int hm_simd_level(void);
int hm_simd_best_level(void);
const char *hm_simd_level_name(int level);

/* Internal (tests and benchmarks): switch the table in use at run time.
 * @return 0, or -1 when the machine cannot run that level. */
int hm__simd_force(int level);

/* Internal: the nearest-two scan of hamming256_nn over a level's many-kernel. */
void hm__nn_with(void (*many)(const uint64_t *, const uint64_t *, size_t, uint16_t *),
                 const uint64_t *q, size_t nq, const uint64_t *codes, size_t n,
                 uint32_t *best, uint16_t *d1, uint16_t *d2);
void hm__avx2_fast9_row(const uint8_t *p, ptrdiff_t stride, size_t n, int t, uint8_t *out);
void hm__avx2_brief256(const uint8_t *p, const int32_t *off, uint64_t *out);

/* The per-level tables, defined in hm_kernels_<level>.c. */
extern const hm_kernels_t hm__kernels_scalar;
extern const hm_kernels_t hm__kernels_avx2;
extern const hm_kernels_t hm__kernels_avx512;

#ifdef __cplusplus
}
#endif
#endif
