/*
 * hm_thumb.h - small JPEG thumbnails for people to look at (the review
 * console): never used for matching.
 *
 * Thread safety: any thread (libvips is initialised once by hm_decode_init()).
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
 * The input must already have passed hm_decode()'s limits (the caller scored
 * it): vips_thumbnail_buffer() uses shrink-on-load, so this is cheap.
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
