/*
 * hm_decode.h - image bytes to 8-bit sRGB pixels, through libvips, with limits.
 *
 * Decoding happens from memory only (no temporary files).  Limits are checked
 * on the header, before any pixel memory is allocated: the encoded size, the
 * declared pixel count and the minimum side.  EXIF orientation is applied;
 * alpha is flattened onto white; every colour space (CMYK, LAB, 16-bit, grey,
 * palette, ICC-tagged) ends as 8-bit sRGB.  JPEGs are shrunk while they load
 * (DCT scaling) as far as PDQ's conformance allows (see s_jpeg_shrink in
 * hm_decode.c) and never below limits.target_side; other formats larger than
 * 512 are point-sampled to 512 x 512, as Meta's reference hasher does.
 *
 * Plain JPEGs (no EXIF rotation, no ICC profile, RGB or grey) take a fast
 * path: libvips reads the header and checks the limits, then libjpeg-turbo
 * decodes with DCT scaling straight into the image buffer (no pipeline to
 * build).  Anything the fast path cannot or will not decode goes through
 * libvips, which decides.
 *
 * libvips is initialised once (hm_decode_init(), called on first use) with its
 * operation cache off and its worker pool set to one thread: hallmark runs many
 * images in parallel rather than one image on many threads.
 *
 * Thread safety: hm_decode() may be called from any number of threads, each
 * with its own hm_image_t.
 */
#ifndef HM_DECODE_H
#define HM_DECODE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hm_decode_limits {
    size_t max_bytes;      /* encoded size; default 32 MiB */
    uint64_t max_pixels;   /* declared width x height; default 64 Mpx */
    int min_side;          /* smaller side in pixels; default 5 (PDQ's minimum) */
    int target_side;       /* shrink-on-load never takes the shorter side below this; default 128 */
} hm_decode_limits_t;

extern const hm_decode_limits_t hm_decode_limits_default;

/* Decoded pixels: 8-bit sRGB, 3 bytes per pixel, rows of stride bytes. */
typedef struct hm_image {
    uint8_t *rgb;          /* owned by the image; reused across hm_decode() calls */
    size_t cap;            /* allocated bytes of rgb */
    int w, h;              /* after orientation and shrink-on-load */
    size_t stride;         /* bytes per row (= 3 w) */
    int orig_w, orig_h;    /* as displayed, before shrink-on-load */
    const char *format;    /* loader name ("VipsForeignLoadJpegBuffer", ...); static */
    int fast_path;         /* 1 when the last decode used libjpeg-turbo directly */
    void *tj;              /* libjpeg-turbo handle, owned; freed by hm_image_release */
} hm_image_t;

/* Initialise libvips once (idempotent, thread-safe).  @return 0 or HM_E_INTERNAL. */
int hm_decode_init(void);

/*
 * hm_decode - decode an encoded image into img (its buffer is grown as needed
 * and kept for the next call).
 * @param[in]     data, len  the encoded bytes; borrowed for the call.
 * @param[in]     lim        limits, or NULL for hm_decode_limits_default.
 * @param[in,out] img        zero-initialised before first use; free with
 *                           hm_image_release().
 * @return 0;
 *   HM_E_EMPTY       len == 0 or data == NULL;
 *   HM_E_TOO_LARGE   len > max_bytes, or declared pixels > max_pixels;
 *   HM_E_TOO_SMALL   a side smaller than min_side;
 *   HM_E_UNSUPPORTED no loader recognises the bytes;
 *   HM_E_CORRUPT     the header or the pixel data is broken or truncated;
 *   HM_E_DECODE      libvips failed otherwise (its message is kept);
 *   HM_E_NOMEM       the pixel buffer could not be allocated.
 */
int hm_decode(const void *data, size_t len, const hm_decode_limits_t *lim,
              hm_image_t *img);

/* Free img's buffer; img may be reused afterwards. */
void hm_image_release(hm_image_t *img);

#ifdef __cplusplus
}
#endif
#endif
