/* fuzz_lf_serial.c - libFuzzer target: serialised local features from
 * arbitrary bytes (the store's records, the jsonl import's "local_features"). */
#include <stdint.h>
#include <stdlib.h>

#include "hm_error.h"
#include "hm_lf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hm_lf_feat_t f = { 0 };
    int rc = hm_lf_deserialize(data, size, &f);
    if (rc != 0 && rc != HM_E_CORRUPT && rc != HM_E_VERSION && rc != HM_E_NOMEM)
        abort();
    if (rc == 0) {
        /* Whatever parses re-serialises to a set that parses the same. */
        size_t n = hm_lf_serial_size(&f), len = 0;
        uint8_t *buf = malloc(n ? n : 1);
        hm_lf_feat_t g = { 0 };
        if (!buf || hm_lf_serialize(&f, buf, n, &len) != 0 || hm_lf_deserialize(buf, len, &g) != 0 ||
            g.n != f.n)
            abort();
        hm_lf_feat_free(&g);
        free(buf);
    }
    hm_lf_feat_free(&f);
    return 0;
}
