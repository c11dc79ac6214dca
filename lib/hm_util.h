/*
 * hm_util.h - the small helpers every layer needs, each written once:
 * little-endian byte codecs, clocks, and the pseudo-random generators.
 *
 * Everything here is a static inline function on plain values: no state, no
 * allocation, no error.  Byte codecs read and write through uint8_t pointers
 * (any alignment, any host byte order).
 *
 * Random numbers (deterministic, not for secrets):
 *   hm_rng_next()   xorshift64* - the generator the library uses (the local
 *                   feature pattern, vocabulary training, RANSAC sampling)
 *                   and the tests' generator;
 *   hm_splitmix64() splitmix64 - the benchmark generator's stream (bench/'s
 *                   synthetic datasets and codes) and a good seed mixer.
 * Both are kept because stored patterns, trained vocabularies and the
 * benchmark's datasets are defined by their exact sequences.
 *
 * Thread safety: every function is re-entrant; a generator's state belongs
 * to its caller.
 */
#ifndef HM_UTIL_H
#define HM_UTIL_H

#include <stdint.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- little-endian byte codecs ---- */

static inline void hm_put_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline void hm_put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline void hm_put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint16_t hm_get_le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (unsigned)p[1] << 8);
}

static inline uint32_t hm_get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t hm_get_le64(const uint8_t *p)
{
    return (uint64_t)hm_get_le32(p) | (uint64_t)hm_get_le32(p + 4) << 32;
}

/* ---- clocks ---- */

/* CLOCK_MONOTONIC: for durations and deadlines (never jumps). */
static inline uint64_t hm_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static inline uint64_t hm_mono_us(void) { return hm_mono_ns() / 1000u; }
static inline uint64_t hm_mono_ms(void) { return hm_mono_ns() / 1000000u; }
/* Seconds as a double (benchmarks, progress rates). */
static inline double hm_mono_s(void) { return (double)hm_mono_ns() * 1e-9; }

/* CLOCK_REALTIME: for timestamps people read (log lines, records). */
static inline struct timespec hm_wall_ts(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts;
}

/* ---- pseudo-random generators ---- */

/*
 * hm_rng_next - one xorshift64* step.  A zero state (xorshift's fixed point)
 * is replaced by a fixed non-zero one first; every non-zero state gives the
 * classic sequence.
 */
static inline uint64_t hm_rng_next(uint64_t *state)
{
    uint64_t x = *state ? *state : 0x9E3779B97F4A7C15ULL;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* hm_rng_unit - a double uniform in [0, 1), from the top 53 bits. */
static inline double hm_rng_unit(uint64_t *state)
{
    return (double)(hm_rng_next(state) >> 11) * (1.0 / 9007199254740992.0);
}

/* hm_splitmix64 - one splitmix64 step (any state, including 0). */
static inline uint64_t hm_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

#ifdef __cplusplus
}
#endif
#endif
