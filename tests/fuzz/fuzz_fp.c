/* fuzz_fp.c - libFuzzer target: decode + fingerprint (+ content regions) of arbitrary bytes.  Every
 * input must give 0 or a negative HM_E_* code, never a crash, leak or hang. */
#include <stdint.h>
#include <stdlib.h>

#include "hm_error.h"
#include "hm_fp.h"
#include "hm_regions.h"

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
        /* the content regions of whatever decoded: in bounds, never more than asked */
        hm_hashset_t sets[HM_REGIONS_MAX];
        hm_box_t boxes[HM_REGIONS_MAX];
        int n = hm_fp_regions(ctx, sets, boxes, HM_REGIONS_MAX);
        if (n < 0 || n > HM_REGIONS_MAX)
            abort();
        for (int i = 0; i < n; i++)
            if (boxes[i].x < 0 || boxes[i].y < 0 || boxes[i].w <= 0 || boxes[i].h <= 0 ||
                (uint32_t)(boxes[i].x + boxes[i].w) > fp.width + 1 ||
                (uint32_t)(boxes[i].y + boxes[i].h) > fp.height + 1)
                abort();
    }
    return 0;
}
