/*
 * hm_lf_ref.h - local features of encoded images, at the resolutions the
 * matcher wants (hm_lf.h, measured there):
 *   references: decoded with target_side 348 (grocery-sized photos are not
 *               shrunk), 384 keypoints (hm_lf_ref_set_keypoints()), level 0
 *               at most 360 px;
 *   queries:    decoded with target_side 512, 512 keypoints, level 0 at most
 *               512 px, plus the mirror set (so mirrored copies match).
 * Each thread keeps its own decoder and extraction scratch (a pthread key
 * frees it when the thread ends), so these calls allocate nothing in steady
 * state beyond the returned blob.
 *
 * Thread safety: any thread; state is per thread.
 */
#ifndef HM_LF_REF_H
#define HM_LF_REF_H

#include <stddef.h>
#include <stdint.h>

#include "hm_lf.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * hm_lf_ref_set_keypoints - keypoints kept per reference from now on, in
 * this process (every thread; default hm_lf_opts_default.max_kp = 384).
 * Fewer keypoints store and search less for very large banks, at some
 * recall on crops, rotations and combinations (docs/ARCHITECTURE.md has the
 * measured costs): HM_LF_SERIAL_PER_KP (38) bytes per keypoint stored, and
 * list scans in proportion.  References already stored keep theirs.
 * @return 0, HM_E_INVAL (n outside 32..1024).
 */
int hm_lf_ref_set_keypoints(int n);
/* The number in use. */
int hm_lf_ref_keypoints(void);

/*
 * hm_lf_ref_blob - decode a reference image and serialise its features.
 * @param[out] blob  malloc'd, the caller frees; *blob_len bytes.
 * @return 0, a decode error (HM_E_EMPTY, HM_E_CORRUPT, ...), HM_E_NOMEM.
 */
int hm_lf_ref_blob(const void *img, size_t len, uint8_t **blob, size_t *blob_len);

/*
 * hm_lf_query - decode a query image and extract its features and mirror set.
 * @param[out] q, mirror  borrowed: valid until this thread's next call.
 * @return 0, a decode error, HM_E_NOMEM.
 */
int hm_lf_query(const void *img, size_t len, const hm_lf_feat_t **q, const hm_lf_feat_t **mirror);

/*
 * hm_lf_query_rgb - the same from pixels already decoded (8-bit RGB), when
 * they are at least what hm_lf_query() would decode: not shrunk on load, or
 * a longer side of at least 512 (the query level 0).
 * @param[out] q, mirror  borrowed: valid until this thread's next call.
 * @return 0, HM_E_INVAL (bad arguments), HM_E_NOMEM.
 */
int hm_lf_query_rgb(const uint8_t *rgb, int w, int h, size_t stride, const hm_lf_feat_t **q,
                    const hm_lf_feat_t **mirror);

#ifdef __cplusplus
}
#endif
#endif
