/*
 * hm_record.h - the one encoder and decoder of a stored reference record's
 * blob (hm_ref_t.fp / fp_len in hm_store.h): the only code that knows its
 * byte layout.
 *
 * Layout: the fingerprint, serialised (hm_fp_serialize, HM_FP_SERIAL_BYTES
 * bytes), then, when the reference has them, its local features
 * (hm_lf_serialize) up to the end of the blob.  A blob of exactly
 * HM_FP_SERIAL_BYTES bytes is a reference without local features (hash-list
 * imports, local features switched off).  Replication ships the same blob
 * (hm_store_repl.h), so this layout is part of the replication format.
 *
 * Thread safety: pure functions on caller-owned memory.
 */
#ifndef HM_RECORD_H
#define HM_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "hm_fp.h"
#include "hm_lf.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * hm_record_encode - the blob of a fingerprint and optional local features.
 * @param[in]  fp       required; borrowed.
 * @param[in]  lf_blob  serialised local features (hm_lf_serialize), or NULL;
 *                      lf_len bytes, copied verbatim; borrowed.
 * @param[out] blob     a malloc()ed blob (the caller free()s it).
 * @return 0, HM_E_INVAL (NULL fp or blob), HM_E_NOMEM, or hm_fp_serialize()'s
 *         error (the fingerprint does not serialise).
 */
int hm_record_encode(const hm_fp_t *fp, const uint8_t *lf_blob, size_t lf_len, uint8_t **blob,
                     size_t *len);

/*
 * hm_record_fp - the fingerprint at the start of a blob.
 * @return 0, HM_E_CORRUPT (too short, or it does not decode), HM_E_VERSION.
 */
int hm_record_fp(const uint8_t *blob, size_t len, hm_fp_t *fp);

/*
 * hm_record_lf_blob - the serialised local features after the fingerprint,
 * borrowed from blob (*lf = NULL, *lf_len = 0 when there are none).
 * Never fails: a blob too short for a fingerprint has no local features.
 */
void hm_record_lf_blob(const uint8_t *blob, size_t len, const uint8_t **lf, size_t *lf_len);

/*
 * hm_record_lf - the local features after the fingerprint, decoded into lf
 * (hm_lf_feat_init()ed by the caller); lf->n = 0 when there are none.
 * @return 0, HM_E_CORRUPT, HM_E_VERSION (hm_lf_deserialize()'s errors).
 */
int hm_record_lf(const uint8_t *blob, size_t len, hm_lf_feat_t *lf);

#ifdef __cplusplus
}
#endif
#endif
