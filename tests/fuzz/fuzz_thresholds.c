/* fuzz_thresholds.c - libFuzzer target: the thresholds JSON (a config file). */
#include <stdint.h>
#include <stdlib.h>

#include "hm_error.h"
#include "hm_matcher.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hm_thresholds_t t;
    int rc = hm_thresholds_parse((const char *)data, size, &t);
    if (rc != 0 && rc != HM_E_CONFIG)
        abort();
    if (rc == 0 && (t.pdq < 0 || t.pdq > 128 || t.phash > 32 || t.dhash > 32))
        abort();
    return 0;
}
