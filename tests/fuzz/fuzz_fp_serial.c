/* fuzz_fp_serial.c - libFuzzer target: read a serialised fingerprint from
 * arbitrary bytes (what the store hands back from disk). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hm_error.h"
#include "hm_fp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hm_fp_t fp;
    int rc = hm_fp_deserialize(data, size, &fp);
    if (rc != 0 && rc != HM_E_CORRUPT && rc != HM_E_VERSION)
        abort();
    if (rc == 0) {
        uint8_t buf[HM_FP_SERIAL_BYTES];
        if (hm_fp_serialize(&fp, buf, sizeof buf) != HM_FP_SERIAL_BYTES)
            abort();
        /* Reserved flag bits are not kept; everything else round-trips. */
        if (memcmp(buf + 8, data + 8, size - 8) != 0)
            abort();
    }
    return 0;
}
