/* hm_record.c - see hm_record.h: the stored reference blob's layout. */
#include "hm_record.h"

#include <stdlib.h>
#include <string.h>

#include "hm_error.h"

int hm_record_encode(const hm_fp_t *fp, const uint8_t *lf_blob, size_t lf_len, uint8_t **blob,
                     size_t *len)
{
    if (!fp || !blob || !len)
        return hm__seterr(HM_E_INVAL, "hm_record_encode: NULL argument");
    *blob = NULL;
    *len = 0;
    size_t extra = lf_blob ? lf_len : 0;
    uint8_t *b = malloc(HM_FP_SERIAL_BYTES + extra);
    if (!b)
        return hm__seterr(HM_E_NOMEM, "reference record");
    int n = hm_fp_serialize(fp, b, HM_FP_SERIAL_BYTES + extra);
    if (n < 0) {
        free(b);
        return n;
    }
    if (extra) {
        memcpy(b + n, lf_blob, extra);
        n += (int)extra;
    }
    *blob = b;
    *len = (size_t)n;
    return 0;
}

int hm_record_fp(const uint8_t *blob, size_t len, hm_fp_t *fp)
{
    return hm_fp_deserialize_prefix(blob, len, fp, NULL);
}

void hm_record_lf_blob(const uint8_t *blob, size_t len, const uint8_t **lf, size_t *lf_len)
{
    int has = blob && len > HM_FP_SERIAL_BYTES;
    *lf = has ? blob + HM_FP_SERIAL_BYTES : NULL;
    *lf_len = has ? len - HM_FP_SERIAL_BYTES : 0;
}

int hm_record_lf(const uint8_t *blob, size_t len, hm_lf_feat_t *lf)
{
    const uint8_t *p;
    size_t n;
    hm_record_lf_blob(blob, len, &p, &n);
    lf->n = 0;
    return p ? hm_lf_deserialize(p, n, lf) : 0;
}
