/*
 * hm_thumb.h - small JPEG thumbnails for people to look at (the review
 * console): never used for matching.
 *
 * Thread safety: any thread; each keeps its own decoder and compressor.
 */
#ifndef HM_THUMB_H
#define HM_THUMB_H

#include <stddef.h>

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

#ifdef __cplusplus
}
#endif
#endif
