/*
 * hm_simd.c - CPU feature detection and the choice of a kernel table.
 * Compiled with baseline flags only: nothing here may execute an instruction
 * the CPU might lack.
 */
#include "hm_simd.h"

#include "hm_log.h"

#include <cpuid.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static int s_best = -1;
static int s_level = HM_SIMD_SCALAR;
static pthread_once_t s_once = PTHREAD_ONCE_INIT;

static uint64_t s_xgetbv(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

static int s_detect(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return HM_SIMD_SCALAR;
    int osxsave = (c >> 27) & 1, fma = (c >> 12) & 1, popcnt = (c >> 23) & 1;
    if (!osxsave)
        return HM_SIMD_SCALAR;
    uint64_t xcr0 = s_xgetbv();
    int ymm_ok = (xcr0 & 0x6) == 0x6;            /* XMM and YMM state */
    int zmm_ok = ymm_ok && (xcr0 & 0xe0) == 0xe0; /* opmask, ZMM_Hi256, Hi16_ZMM */
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
        return HM_SIMD_SCALAR;
    int avx2 = (b >> 5) & 1, bmi2 = (b >> 8) & 1;
    int avx512f = (b >> 16) & 1, avx512bw = (b >> 30) & 1, avx512vl = (b >> 31) & 1;
    int vpopcntdq = (c >> 14) & 1;
    if (!(ymm_ok && avx2 && fma && popcnt && bmi2))
        return HM_SIMD_SCALAR;
    if (zmm_ok && avx512f && avx512bw && avx512vl && vpopcntdq)
        return HM_SIMD_AVX512;
    return HM_SIMD_AVX2;
}

static void s_choose(void)
{
    s_best = s_detect();
    s_level = s_best;
    const char *env = getenv("HM_SIMD");
    if (env && *env) {
        int want = -1;
        for (int i = 0; i < HM_SIMD_NLEVELS; i++)
            if (strcmp(env, hm_simd_level_name(i)) == 0)
                want = i;
        if (want < 0)
            hm_log_warn("simd_env_ignored", "HM_SIMD=%s reason=unknown_level", env);
        else if (want > s_best)
            hm_log_warn("simd_env_ignored", "HM_SIMD=%s reason=unsupported best=%s",
                        env, hm_simd_level_name(s_best));
        else
            s_level = want;
    }
    hm_log_debug("simd_level", "level=%s best=%s", hm_simd_level_name(s_level),
                 hm_simd_level_name(s_best));
}

const char *hm_simd_level_name(int level)
{
    switch (level) {
    case HM_SIMD_SCALAR: return "scalar";
    case HM_SIMD_AVX2: return "avx2";
    case HM_SIMD_AVX512: return "avx512";
    default: return "unknown";
    }
}

int hm_simd_best_level(void)
{
    pthread_once(&s_once, s_choose);
    return s_best;
}

int hm_simd_level(void)
{
    pthread_once(&s_once, s_choose);
    return s_level;
}

const hm_kernels_t *hm_kernels_for(int level)
{
    if (level < 0 || level > hm_simd_best_level())
        return NULL;
    switch (level) {
    case HM_SIMD_AVX512: return &hm__kernels_avx512;
    case HM_SIMD_AVX2: return &hm__kernels_avx2;
    default: return &hm__kernels_scalar;
    }
}

static const hm_kernels_t *s_table;

int hm__simd_force(int level)
{
    const hm_kernels_t *t = hm_kernels_for(level);
    if (!t)
        return -1;
    __atomic_store_n(&s_table, t, __ATOMIC_RELEASE);
    return 0;
}

const hm_kernels_t *hm_kernels(void)
{
    const hm_kernels_t *t = __atomic_load_n(&s_table, __ATOMIC_ACQUIRE);
    if (t)
        return t;
    t = hm_kernels_for(hm_simd_level());
    __atomic_store_n(&s_table, t, __ATOMIC_RELEASE);
    return t;
}
