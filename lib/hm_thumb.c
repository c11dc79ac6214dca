/*
 * hm_thumb.c - small JPEG thumbnails for the review console.
 *
 * Made on every reference add and every retained verdict, so cheap: hm_decode
 * (shrink-on-load, the libjpeg-turbo fast path for plain JPEGs, limits), an
 * area-average downscale to fit px on the longer side, and libjpeg-turbo's
 * compressor.  (vips_thumbnail_buffer took ~8 ms a photo here; this ~1 ms.)
 */
#include "hm_thumb.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

#include "hm_decode.h"
#include "hm_error.h"

struct hm_thumb_scratch {
    hm_image_t img;
    tjhandle tj;
    uint8_t *small;
    size_t cap;
};
typedef hm_thumb_scratch_t thumb_tls_t;

static pthread_key_t s_key;
static pthread_once_t s_once = PTHREAD_ONCE_INIT;

static void s_free(void *p)
{
    thumb_tls_t *t = p;
    if (!t)
        return;
    hm_image_release(&t->img);
    if (t->tj)
        tjDestroy(t->tj);
    free(t->small);
    free(t);
}

static void s_make_key(void)
{
    pthread_key_create(&s_key, s_free);
}

int hm_thumb_scratch_new(hm_thumb_scratch_t **out)
{
    thumb_tls_t *t = calloc(1, sizeof *t);
    if (!t || !(t->tj = tjInitCompress())) {
        s_free(t);
        return hm_error_set(HM_E_NOMEM, "thumbnail scratch");
    }
    *out = t;
    return 0;
}

void hm_thumb_scratch_free(hm_thumb_scratch_t **s)
{
    if (s) {
        s_free(*s);
        *s = NULL;
    }
}

/* The older call's scratch: one per thread, behind a pthread key. */
static thumb_tls_t *s_tls(void)
{
    pthread_once(&s_once, s_make_key);
    thumb_tls_t *t = pthread_getspecific(s_key);
    if (t)
        return t;
    if (hm_thumb_scratch_new(&t))
        return NULL;
    if (pthread_setspecific(s_key, t)) {
        s_free(t);
        return NULL;
    }
    return t;
}

static int s_thumb(thumb_tls_t *t, const hm_image_t *im, int px, void **out, size_t *out_len);

static int s_args(const void *img, size_t len, int px, void **out, size_t *out_len)
{
    if (!img || !len || px < 8 || px > 1024 || !out || !out_len)
        return hm_error_set(HM_E_INVAL, "hm_thumb_jpeg: bad argument");
    *out = NULL;
    *out_len = 0;
    return 0;
}

static int s_decode(thumb_tls_t *t, const void *img, size_t len, int px)
{
    hm_decode_limits_t lim = hm_decode_limits_default;
    lim.target_side = px;
    return hm_decode(img, len, &lim, &t->img);
}

int hm_thumb_jpeg(const void *img, size_t len, int px, void **out, size_t *out_len)
{
    int rc = s_args(img, len, px, out, out_len);
    if (rc)
        return rc;
    thumb_tls_t *t = s_tls();
    if (!t)
        return hm_error_set(HM_E_NOMEM, "thumbnail scratch");
    if ((rc = s_decode(t, img, len, px)))
        return rc;
    return s_thumb(t, &t->img, px, out, out_len);
}

int hm_thumb_jpeg_ctx(hm_fp_ctx_t *ctx, const void *img, size_t len, int px, void **out,
                      size_t *out_len)
{
    int rc = s_args(img, len, px, out, out_len);
    if (rc)
        return rc;
    if (!ctx)
        return hm_error_set(HM_E_INVAL, "hm_thumb_jpeg_ctx: NULL context");
    thumb_tls_t *t = hm__fp_ctx_thumb(ctx);
    if (!t)
        return hm_error_set(HM_E_NOMEM, "thumbnail scratch");
    /* The fingerprint's pixels when bit for bit what a decode at px gives;
     * else a decode at px: the thumbnail feeds the local-feature pixel check
     * (hm_lf's thumb), so it must not change with who decoded first. */
    const hm_image_t *im = hm_fp_ctx_image_of(ctx, img, len, px);
    if (!im) {
        if ((rc = s_decode(t, img, len, px)))
            return rc;
        im = &t->img;
    }
    return s_thumb(t, im, px, out, out_len);
}

/* Area-average im to fit px on the longer side, then compress. */
static int s_thumb(thumb_tls_t *t, const hm_image_t *im, int px, void **out, size_t *out_len)
{
    int rc = 0;
    /* Fit the longer side in px; never enlarge. */
    int w = im->w, h = im->h, longer = w > h ? w : h;
    int tw = w, th = h;
    if (longer > px) {
        tw = (int)((double)w * px / longer + 0.5);
        th = (int)((double)h * px / longer + 0.5);
        if (tw < 1) tw = 1;
        if (th < 1) th = 1;
    }
    size_t need = (size_t)tw * th * 3;
    if (need > t->cap) {
        uint8_t *nb = realloc(t->small, need);
        if (!nb)
            return hm__seterr(HM_E_NOMEM, "thumbnail: out of memory");
        t->small = nb;
        t->cap = need;
    }
    for (int y = 0; y < th; y++) {
        int y0 = (int)((int64_t)y * h / th), y1 = (int)((int64_t)(y + 1) * h / th);
        if (y1 <= y0) y1 = y0 + 1;
        for (int x = 0; x < tw; x++) {
            int x0 = (int)((int64_t)x * w / tw), x1 = (int)((int64_t)(x + 1) * w / tw);
            if (x1 <= x0) x1 = x0 + 1;
            unsigned sum[3] = { 0, 0, 0 }, n = 0;
            for (int yy = y0; yy < y1; yy++) {
                const uint8_t *p = im->rgb + (size_t)yy * im->stride + 3 * (size_t)x0;
                for (int xx = x0; xx < x1; xx++, p += 3, n++) {
                    sum[0] += p[0];
                    sum[1] += p[1];
                    sum[2] += p[2];
                }
            }
            uint8_t *o = t->small + ((size_t)y * tw + x) * 3;
            for (int k = 0; k < 3; k++)
                o[k] = (uint8_t)((sum[k] + n / 2) / n);
        }
    }
    unsigned char *jpg = NULL;
    unsigned long jlen = 0;
    if (tjCompress2(t->tj, t->small, tw, 0, th, TJPF_RGB, &jpg, &jlen, TJSAMP_420, 75,
                    0) != 0) {
        rc = hm__seterr(HM_E_INTERNAL, "thumbnail: %s", tjGetErrorStr2(t->tj));
        goto leave;
    }
    if (jlen > HM_THUMB_MAX_BYTES) {
        rc = hm__seterr(HM_E_TOO_LARGE, "thumbnail of %lu bytes", jlen);
        goto leave;
    }
    *out = malloc(jlen);
    if (!*out) {
        rc = hm__seterr(HM_E_NOMEM, "thumbnail: out of memory");
        goto leave;
    }
    memcpy(*out, jpg, jlen);
    *out_len = jlen;
leave:
    tjFree(jpg);
    return rc;
}
