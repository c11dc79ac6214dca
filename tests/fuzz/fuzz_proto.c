/*
 * fuzz_proto.c - libFuzzer target: the daemon's request checks
 * (hmd_proto_check_request: frame count, header JSON, image size) and the
 * reply written for the outcome, from arbitrary bytes.
 *
 * Input layout: byte 0 = payload frame count (mod 4), bytes 1..4 = the
 * declared image size (little endian), the rest = the header frame.  A
 * header over 4 KiB is checked against a 4 KiB limit, so the "too large"
 * path is reached without megabyte inputs.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hm_error.h"
#include "hm_log.h"
#include "hm_verdict.h"
#include "hmd_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static hm_verdict_t v;
    if (size < 5)
        return 0;
    int n_payload = data[0] % 4;
    size_t img = (size_t)data[1] | (size_t)data[2] << 8 | (size_t)data[3] << 16 |
                 (size_t)data[4] << 24;
    const uint8_t *hdr = n_payload ? data + 5 : NULL;
    hmd_request_t r;
    char msg[256];
    int rc = hmd_proto_check_request(n_payload, hdr, size - 5, img, 4096, 1 << 20, &r, msg,
                                     sizeof msg);
    if (rc != 0 && rc != HM_E_PROTO && rc != HM_E_TOO_LARGE && rc != HM_E_VERSION &&
        rc != HM_E_INVAL)
        abort();
    if (memchr(msg, '\0', sizeof msg) == NULL)
        abort();
    if (rc == 0) {
        /* A valid request has every id present, bounded and valid UTF-8. */
        const char *f[] = { r.request_id, r.listing_id, r.image_id, r.seller_id, r.brand };
        for (size_t i = 0; i < 5; i++)
            if (!hmd_utf8_valid(f[i], strlen(f[i])))
                abort();
        if (!r.request_id[0] || r.top_k < 0 || r.top_k > HM_VERDICT_MAX_MATCHES)
            abort();
    }
    /* The reply for the outcome must be valid JSON carrying request_id. */
    hm_verdict_error(&v, rc ? rc : HM_E_BUSY, msg);
    char *text = hmd_proto_verdict_text(&v, hdr ? &r : NULL);
    if (!text)
        abort();
    json_t *j = json_loads(text, 0, NULL);
    if (!j)
        abort();
    if (r.has_request_id &&
        strcmp(json_string_value(json_object_get(j, "request_id")) ?: "", r.request_id) != 0)
        abort();
    json_decref(j);
    free(text);
    char topic[512];
    hmd_proto_topic(r.brand, "counterfeit", topic, sizeof topic);
    return 0;
}
