/*
 * hm_thumb.h - small JPEG thumbnails for people to look at (the review
 * console): never used for matching.
 *
 * Thread safety: any thread.  hm_thumb_jpeg_ctx() keeps its decoder and
 * compressor in the caller's context (one thread at a time); the older
 * hm_thumb_jpeg() keeps them per thread (a pthread key; deprecated).
 */
#ifndef HM_THUMB_H
#define HM_THUMB_H

#include <stddef.h>

#include "hm_fp.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HM_THUMB_PX 160           /* the console's thumbnail size (longer side) */
#define HM_THUMB_MAX_BYTES 65536  /* a thumbnail larger than this is refused */

/*
 * hm_thumb_jpeg - shrink an encoded image so its longer side is at most px
 * pixels (never enlarged), strip metadata, and encode it as a JPEG (Q 75).
 * Decoded through hm_decode() (its limits apply, shrink-on-load keeps it
 * cheap), area-averaged, encoded by libjpeg-turbo; about 1 ms a photo.
 * @param[out] out      the JPEG bytes; the caller free()s them.
 * @param[out] out_len  their length (<= HM_THUMB_MAX_BYTES).
 * @return 0, HM_E_INVAL, HM_E_DECODE (libvips failed; its text kept),
 *         HM_E_TOO_LARGE, HM_E_NOMEM.
 */
int hm_thumb_jpeg(const void *img, size_t len, int px, void **out, size_t *out_len);

/*
 * hm_thumb_jpeg_ctx - the same with scratch owned by the caller's
 * fingerprint context (made on first use, freed by hm_fp_ctx_free()); when
 * the context's last hm_fp_compute() was on these bytes (same pointer and
 * length) and hm_fp_ctx_image_of() says its pixels are what a decode at px
 * gives, they are reused.  The result is identical to hm_thumb_jpeg().
 * @return as hm_thumb_jpeg(); HM_E_INVAL for a NULL ctx.
 */
int hm_thumb_jpeg_ctx(hm_fp_ctx_t *ctx, const void *img, size_t len, int px, void **out,
                      size_t *out_len);

/* The scratch (decoder image, compressor, buffer).  new: 0, HM_E_NOMEM. */
typedef struct hm_thumb_scratch hm_thumb_scratch_t;
int hm_thumb_scratch_new(hm_thumb_scratch_t **out);
void hm_thumb_scratch_free(hm_thumb_scratch_t **s);
/* Internal (hm_fp.c): ctx's scratch, made on first use; NULL: no memory. */
hm_thumb_scratch_t *hm__fp_ctx_thumb(hm_fp_ctx_t *ctx);

#ifdef __cplusplus
}
#endif
#endif
