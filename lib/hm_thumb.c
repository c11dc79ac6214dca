/* hm_thumb.c - JPEG thumbnails through libvips (vips_thumbnail_buffer). */
#include "hm_thumb.h"

#include <stdlib.h>
#include <string.h>
#include <vips/vips.h>

#include "hm_decode.h"
#include "hm_error.h"

int hm_thumb_jpeg(const void *img, size_t len, int px, void **out, size_t *out_len)
{
    if (!img || !len || px < 8 || px > 1024 || !out || !out_len)
        return hm__seterr(HM_E_INVAL, "hm_thumb_jpeg: bad argument");
    *out = NULL;
    *out_len = 0;
    int rc = hm_decode_init();
    if (rc)
        return rc;
    VipsImage *t = NULL;
    void *buf = NULL;
    size_t n = 0;
    /* "size" DOWN: never enlarge a small query; fail_on error keeps a damaged
     * file from producing a half-grey picture silently. */
    if (vips_thumbnail_buffer((void *)img, len, &t, px, "size", VIPS_SIZE_DOWN, NULL) != 0 ||
        vips_jpegsave_buffer(t, &buf, &n, "Q", 75, "strip", TRUE, NULL) != 0) {
        rc = hm__seterr(HM_E_DECODE, "thumbnail: %s", vips_error_buffer());
        vips_error_clear();
        goto leave;
    }
    if (n > HM_THUMB_MAX_BYTES) {
        rc = hm__seterr(HM_E_TOO_LARGE, "thumbnail of %zu bytes", n);
        goto leave;
    }
    *out = malloc(n);
    if (!*out) {
        rc = hm__seterr(HM_E_NOMEM, "thumbnail: out of memory");
        goto leave;
    }
    memcpy(*out, buf, n);
    *out_len = n;
leave:
    g_free(buf);
    if (t)
        g_object_unref(t);
    return rc;
}
