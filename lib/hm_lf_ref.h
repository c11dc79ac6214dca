/*
 * hm_lf_ref.h - local features of encoded images, at the resolutions the
 * matcher wants (hm_lf.h, measured there):
 *   references: decoded with target_side 348 (grocery-sized photos are not
 *               shrunk), 384 keypoints (hm_lf_ref_set_keypoints()), level 0
 *               at most 360 px;
 *   queries:    decoded with target_side 512, 512 keypoints, level 0 at most
 *               512 px, plus the mirror set (so mirrored copies match).
 * The *_ctx calls keep their decoder and extraction scratch in the caller's
 * hm_fp_ctx_t and reuse its decoded pixels; the older calls without a
 * context keep it per thread (a pthread key; deprecated, for callers not yet
 * moved).  Neither allocates in steady state beyond the returned blob.
 *
 * Thread safety: any thread; a context is used by one thread at a time.
 */
#ifndef HM_LF_REF_H
#define HM_LF_REF_H

#include <stddef.h>
#include <stdint.h>

#include "hm_fp.h"
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

/*
 * The same with scratch owned by the caller's fingerprint context (made on
 * first use, freed by hm_fp_ctx_free()): no per-thread state.  When the
 * context's last hm_fp_compute() was on the same bytes (same pointer and
 * length) and its pixels are what these decodes need (hm_fp_ctx_image_of()
 * for references; not shrunk or >= 512 px for queries), they are reused and
 * the bytes are not decoded again.  Results are identical to the calls above.
 * @param[out] q, mirror  borrowed: valid until the next call on ctx.
 * @return as hm_lf_ref_blob() / hm_lf_query(), HM_E_INVAL (NULL ctx).
 */
int hm_lf_ref_blob_ctx(hm_fp_ctx_t *ctx, const void *img, size_t len, uint8_t **blob,
                       size_t *blob_len);
int hm_lf_query_ctx(hm_fp_ctx_t *ctx, const void *img, size_t len, const hm_lf_feat_t **q,
                    const hm_lf_feat_t **mirror);

/* The scratch itself (decoder image, extraction contexts, feature sets).
 * hm_lf_scratch_new: 0, HM_E_NOMEM.  hm_lf_scratch_free: NULL-safe. */
typedef struct hm_lf_scratch hm_lf_scratch_t;
int hm_lf_scratch_new(hm_lf_scratch_t **out);
void hm_lf_scratch_free(hm_lf_scratch_t **s);

/* Internal (hm_fp.c): ctx's scratch, made on first use (NULL: no memory);
 * whether ctx's last decode was of (data, len). */
hm_lf_scratch_t *hm__fp_ctx_lf(hm_fp_ctx_t *ctx);
int hm__fp_ctx_holds(const hm_fp_ctx_t *ctx, const void *data, size_t len);

#ifdef __cplusplus
}
#endif
#endif
