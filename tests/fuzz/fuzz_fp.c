/* fuzz_fp.c - libFuzzer target: decode + fingerprint arbitrary bytes.  Every
 * input must give 0 or a negative HM_E_* code, never a crash, leak or hang. */
#include <stdint.h>
#include <stdlib.h>

#include "hm_error.h"
#include "hm_fp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static hm_fp_ctx_t *ctx;
    if (!ctx) {
        /* Small limits keep each run fast; the limit code is what is fuzzed. */
        hm_decode_limits_t lim = hm_decode_limits_default;
        lim.max_pixels = 4000000;
        if (hm_fp_ctx_new(&ctx, &lim))
            abort();
    }
    hm_fp_t fp;
    int rc = hm_fp_compute(ctx, data, size, &fp);
    if (rc > 0 || rc == HM_E_INTERNAL || rc == HM_E_INVAL)
        abort();
    if (rc == 0) {
        uint8_t buf[HM_FP_SERIAL_BYTES];
        hm_fp_t back;
        if (hm_fp_serialize(&fp, buf, sizeof buf) != HM_FP_SERIAL_BYTES ||
            hm_fp_deserialize(buf, sizeof buf, &back) != 0 || back.full.quality != fp.full.quality)
            abort();
    }
    return 0;
}
