/*
 * hm_decode.c - image bytes to 8-bit sRGB through libvips, limits first.
 *
 * Why the steps are in this order: the header is read lazily by
 * vips_image_new_from_buffer(), so every limit is checked before a single
 * pixel is decoded; shrink-on-load (JPEG DCT scaling) and a box shrink come
 * before rotation and colour conversion, so those run on the small image; the
 * final pipeline is written straight into the caller's reusable buffer.
 */
#include "hm_decode.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>
#include <vips/vips.h>

#include "hm_error.h"
#include "hm_log.h"

const hm_decode_limits_t hm_decode_limits_default = {
    .max_bytes = 32u << 20,
    .max_pixels = 64000000ULL,
    .min_side = 5,
    .target_side = 128,
};

static pthread_once_t s_once = PTHREAD_ONCE_INIT;
static int s_init_rc;

/* libvips reports recoverable decode problems as GLib warnings on stderr;
 * hallmark logs them as debug lines instead (the error path keeps its text). */
static void s_glib_log(const gchar *domain, GLogLevelFlags level, const gchar *msg,
                       gpointer user)
{
    (void)level;
    (void)user;
    hm_log_debug("vips_warning", "domain=%s msg=\"%s\"", domain ? domain : "-", msg);
}

static void s_init(void)
{
    if (VIPS_INIT("hallmark") != 0) {
        s_init_rc = hm__seterr(HM_E_INTERNAL, "libvips init failed: %s", vips_error_buffer());
        return;
    }
    /* Parallelism is across images, not within one; results are never reused. */
    vips_concurrency_set(1);
    vips_cache_set_max(0);
    vips_cache_set_max_mem(0);
    vips_cache_set_max_files(0);
    g_log_set_handler("VIPS", G_LOG_LEVEL_WARNING | G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO,
                      s_glib_log, NULL);
    g_log_set_handler("GLib-GObject", G_LOG_LEVEL_WARNING, s_glib_log, NULL);
    /* Loaders libvips marks as unsafe for untrusted input stay off. */
    vips_block_untrusted_set(TRUE);
    hm_log_debug("vips_init", "version=%s", vips_version_string());
}

int hm_decode_init(void)
{
    pthread_once(&s_once, s_init);
    return s_init_rc;
}

/* Take libvips' message (a global buffer) into this thread's last error. */
static int s_vips_err(int rc, const char *what)
{
    const char *msg = vips_error_buffer();
    char copy[400];
    snprintf(copy, sizeof copy, "%s", msg ? msg : "");
    vips_error_clear();
    size_t n = strlen(copy);
    while (n && (copy[n - 1] == '\n' || copy[n - 1] == ' '))
        copy[--n] = '\0';
    for (char *p = copy; *p; p++)
        if (*p == '\n')
            *p = ' ';
    return hm__seterr(rc, "%s: %s", what, copy[0] ? copy : hm_strerror(rc));
}

/* The declared size of a PNG (IHDR) or GIF (logical screen), if present. */
static int s_peek_dims(const uint8_t *p, size_t len, uint64_t *w, uint64_t *h)
{
    if (len >= 24 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0 && memcmp(p + 12, "IHDR", 4) == 0) {
        *w = ((uint64_t)p[16] << 24) | ((uint64_t)p[17] << 16) | ((uint64_t)p[18] << 8) | p[19];
        *h = ((uint64_t)p[20] << 24) | ((uint64_t)p[21] << 16) | ((uint64_t)p[22] << 8) | p[23];
        return 1;
    }
    if (len >= 10 && (memcmp(p, "GIF87a", 6) == 0 || memcmp(p, "GIF89a", 6) == 0)) {
        *w = (uint64_t)p[6] | ((uint64_t)p[7] << 8);
        *h = (uint64_t)p[8] | ((uint64_t)p[9] << 8);
        return 1;
    }
    return 0;
}

/*
 * The JPEG shrink-on-load factor (1, 2, 4 or 8).  PDQ's reference blurs with
 * a tent spanning 2 ws - 1 pixels of the size it hashes at (ws = ceil(L /
 * 128), L = the side, or 512 for images over 512); we may decode smaller as
 * long as that tent still spans at least 2.5 of our pixels on both axes
 * (below that, the reference's residual aliasing can no longer be
 * reproduced and hashes drift), and the shorter side stays >= target.
 */
static int s_jpeg_shrink(int w, int h, int target)
{
    int big = w > 512 || h > 512;
    int rw = big ? 512 : w, rh = big ? 512 : h;
    int wsx = (rw + 127) / 128, wsy = (rh + 127) / 128;
    double minx = rw * 2.5 / (2 * wsx - 1), miny = rh * 2.5 / (2 * wsy - 1);
    int best = 1;
    for (int s = 2; s <= 8; s *= 2) {
        int sw = (w + s - 1) / s, sh = (h + s - 1) / s;
        if (sw < minx || sh < miny || (sw < sh ? sw : sh) < target)
            break;
        best = s;
    }
    return best;
}

static int s_is_jpeg(const char *loader)
{
    return loader && strstr(loader, "Jpeg") != NULL;
}

/* Replace *im by out (the step's result), dropping the old reference. */
static void s_step(VipsImage **im, VipsImage *out)
{
    g_object_unref(*im);
    *im = out;
}

/* libjpeg-turbo straight into img at 1/shrink; -1 (nothing recorded) when it
 * declines or fails, and the caller falls back to libvips. */
static int s_tj_decode(const void *data, size_t len, int w, int h, int shrink, hm_image_t *img)
{
    if (!img->tj && !(img->tj = tjInitDecompress()))
        return -1;
    tjscalingfactor sf = { 1, shrink };
    int sw = TJSCALED(w, sf), sh = TJSCALED(h, sf);
    size_t need = (size_t)sw * sh * 3;
    if (need > img->cap) {
        uint8_t *nb = realloc(img->rgb, need);
        if (!nb)
            return -1;
        img->rgb = nb;
        img->cap = need;
    }
    if (tjDecompress2(img->tj, data, (unsigned long)len, img->rgb, sw, 0, sh, TJPF_RGB,
                      TJFLAG_STOPONWARNING) != 0)
        return -1;
    img->w = sw;
    img->h = sh;
    img->stride = (size_t)sw * 3;
    img->fast_path = 1;
    return 0;
}

/* Nearest-neighbour sample (ow x oh) to (dw x dh), reading source rows in
 * order (the pipeline is sequential) through one region. */
static int s_sample_rows(VipsImage *im, uint8_t *out, int ow, int oh, int dw, int dh)
{
    VipsRegion *reg = vips_region_new(im);
    if (!reg)
        return s_vips_err(HM_E_NOMEM, "region");
    int rc = 0;
    for (int y = 0; y < dh; y++) {
        int sy = (int)(((int64_t)y * oh) / dh);
        VipsRect r = { 0, sy, ow, 1 };
        if (vips_region_prepare(reg, &r)) {
            rc = s_vips_err(HM_E_CORRUPT, "decode failed");
            break;
        }
        const uint8_t *row = (const uint8_t *)VIPS_REGION_ADDR(reg, 0, sy);
        uint8_t *o = out + (size_t)y * dw * 3;
        for (int x = 0; x < dw; x++) {
            const uint8_t *p = row + 3 * (size_t)(((int64_t)x * ow) / dw);
            o[3 * x] = p[0];
            o[3 * x + 1] = p[1];
            o[3 * x + 2] = p[2];
        }
    }
    g_object_unref(reg);
    return rc;
}

int hm_decode(const void *data, size_t len, const hm_decode_limits_t *lim,
              hm_image_t *img)
{
    if (!lim)
        lim = &hm_decode_limits_default;
    if (!img)
        return hm__seterr(HM_E_INVAL, "hm_decode: img is NULL");
    if (!data || len == 0)
        return hm__seterr(HM_E_EMPTY, "empty image (0 bytes)");
    if (len > lim->max_bytes)
        return hm__seterr(HM_E_TOO_LARGE, "encoded image is %zu bytes, limit %zu", len,
                          lim->max_bytes);
    int rc = hm_decode_init();
    if (rc)
        return rc;

    /* Bombs first: formats whose header states the size in fixed places are
     * checked before any decoder library sees the bytes. */
    uint64_t pw = 0, ph = 0;
    if (s_peek_dims(data, len, &pw, &ph) && pw * ph > lim->max_pixels)
        return hm__seterr(HM_E_TOO_LARGE, "image declares %llux%llu pixels, limit %llu",
                          (unsigned long long)pw, (unsigned long long)ph,
                          (unsigned long long)lim->max_pixels);

    const char *loader = vips_foreign_find_load_buffer(data, len);
    if (!loader) {
        vips_error_clear();
        return hm__seterr(HM_E_UNSUPPORTED, "no decoder recognises these %zu bytes", len);
    }

    VipsImage *im = vips_image_new_from_buffer(data, len, "", "access",
                                               VIPS_ACCESS_SEQUENTIAL, "fail_on",
                                               VIPS_FAIL_ON_ERROR, NULL);
    if (!im)
        return s_vips_err(HM_E_CORRUPT, "cannot read image header");

    int w = vips_image_get_width(im), h = vips_image_get_height(im);
    if (w <= 0 || h <= 0 || (uint64_t)w * (uint64_t)h > lim->max_pixels) {
        g_object_unref(im);
        return hm__seterr(HM_E_TOO_LARGE, "image declares %dx%d pixels, limit %llu", w, h,
                          (unsigned long long)lim->max_pixels);
    }
    if (w < lim->min_side || h < lim->min_side) {
        g_object_unref(im);
        return hm__seterr(HM_E_TOO_SMALL, "image is %dx%d, minimum side %d", w, h,
                          lim->min_side);
    }
    int orient = vips_image_get_orientation(im);
    int swap = orient >= 5 && orient <= 8;
    img->orig_w = swap ? h : w;
    img->orig_h = swap ? w : h;
    img->format = loader;

    int target = lim->target_side > 0 ? lim->target_side : 1;
    img->fast_path = 0;
    if (s_is_jpeg(loader)) {
        int shrink = s_jpeg_shrink(img->orig_w, img->orig_h, target);
        VipsInterpretation interp = vips_image_guess_interpretation(im);
        int plain = orient <= 1 && !vips_image_get_typeof(im, VIPS_META_ICC_NAME) &&
                    (interp == VIPS_INTERPRETATION_sRGB || interp == VIPS_INTERPRETATION_B_W) &&
                    (vips_image_get_bands(im) == 3 || vips_image_get_bands(im) == 1) &&
                    (w + shrink - 1) / shrink < 4 * target && (h + shrink - 1) / shrink < 4 * target;
        if (plain && s_tj_decode(data, len, w, h, shrink, img) == 0) {
            g_object_unref(im);
            return 0;
        }
        if (shrink > 1) {
            g_object_unref(im);
            im = vips_image_new_from_buffer(data, len, "", "access", VIPS_ACCESS_SEQUENTIAL,
                                            "fail_on", VIPS_FAIL_ON_ERROR, "shrink", shrink,
                                            NULL);
            if (!im)
                return s_vips_err(HM_E_CORRUPT, "cannot read JPEG header");
        }
    }

    VipsImage *out = NULL;
    /* A JPEG still far larger than needed after shrink-on-load (a panorama)
     * gets a box shrink per axis, keeping each side >= 2 x target: every
     * signal resamples to a fixed grid and ignores the aspect ratio. */
    int jpeg = s_is_jpeg(loader);
    int cw = vips_image_get_width(im), ch = vips_image_get_height(im);
    int fx = cw / (2 * target), fy = ch / (2 * target);
    if (fx < 1) fx = 1;
    if (fy < 1) fy = 1;
    if (jpeg && (fx >= 2 || fy >= 2)) {
        if (vips_shrink(im, &out, (double)fx, (double)fy, NULL)) {
            g_object_unref(im);
            return s_vips_err(HM_E_DECODE, "shrink failed");
        }
        s_step(&im, out);
    }
    if (orient > 1 && orient <= 8) {
        if (vips_autorot(im, &out, NULL)) {
            g_object_unref(im);
            return s_vips_err(HM_E_DECODE, "autorotate failed");
        }
        s_step(&im, out);
    }
    /* Colour: an embedded ICC profile wins; else the interpretation decides. */
    int converted = 0;
    if (vips_image_get_typeof(im, VIPS_META_ICC_NAME)) {
        if (vips_icc_transform(im, &out, "srgb", "embedded", TRUE, "intent",
                               VIPS_INTENT_PERCEPTUAL, NULL) == 0) {
            s_step(&im, out);
            converted = 1;
        } else {
            vips_error_clear(); /* a broken profile: fall back to the tag */
        }
    }
    if (!converted && vips_image_guess_interpretation(im) != VIPS_INTERPRETATION_sRGB) {
        if (vips_colourspace(im, &out, VIPS_INTERPRETATION_sRGB, NULL)) {
            g_object_unref(im);
            return s_vips_err(HM_E_DECODE, "colour conversion failed");
        }
        s_step(&im, out);
    }
    if (vips_image_hasalpha(im)) {
        VipsArrayDouble *bg = vips_array_double_newv(3, 255.0, 255.0, 255.0);
        int frc = vips_flatten(im, &out, "background", bg, NULL);
        vips_area_unref(VIPS_AREA(bg));
        if (frc) {
            g_object_unref(im);
            return s_vips_err(HM_E_DECODE, "alpha flatten failed");
        }
        s_step(&im, out);
    }
    if (vips_image_get_format(im) != VIPS_FORMAT_UCHAR) {
        if (vips_cast(im, &out, VIPS_FORMAT_UCHAR, NULL)) {
            g_object_unref(im);
            return s_vips_err(HM_E_DECODE, "cast failed");
        }
        s_step(&im, out);
    }
    int bands = vips_image_get_bands(im);
    if (bands == 1 || bands == 2) {
        VipsImage *one = NULL;
        if (bands == 2 && vips_extract_band(im, &one, 0, NULL)) {
            g_object_unref(im);
            return s_vips_err(HM_E_DECODE, "band extraction failed");
        }
        VipsImage *src = one ? one : im;
        VipsImage *three[3] = { src, src, src };
        int brc = vips_bandjoin(three, &out, 3, NULL);
        if (one)
            g_object_unref(one);
        if (brc) {
            g_object_unref(im);
            return s_vips_err(HM_E_DECODE, "band join failed");
        }
        s_step(&im, out);
    } else if (bands > 3) {
        if (vips_extract_band(im, &out, 0, "n", 3, NULL)) {
            g_object_unref(im);
            return s_vips_err(HM_E_DECODE, "band extraction failed");
        }
        s_step(&im, out);
    }

    /* Other formats larger than 512 are point-sampled to 512 x 512 the way
     * Meta's reference hasher resizes them (nearest neighbour, source index
     * floor(i * size / 512)), row by row through a region, so memory stays
     * bounded by one source row whatever the declared size. */
    int ow = vips_image_get_width(im), oh = vips_image_get_height(im);
    int sample = !jpeg && (ow > 512 || oh > 512);
    int dw = sample ? 512 : ow, dh = sample ? 512 : oh;
    size_t need = (size_t)dw * (size_t)dh * 3;
    if (need > img->cap) {
        uint8_t *nb = realloc(img->rgb, need);
        if (!nb) {
            g_object_unref(im);
            return hm__seterr(HM_E_NOMEM, "cannot allocate %zu bytes of pixels", need);
        }
        img->rgb = nb;
        img->cap = need;
    }
    if (sample) {
        rc = s_sample_rows(im, img->rgb, ow, oh, dw, dh);
        g_object_unref(im);
        if (rc)
            return rc;
    } else {
        VipsImage *dst = vips_image_new_from_memory(img->rgb, need, ow, oh, 3, VIPS_FORMAT_UCHAR);
        if (!dst) {
            g_object_unref(im);
            return s_vips_err(HM_E_NOMEM, "cannot wrap pixel buffer");
        }
        rc = vips_image_write(im, dst);
        g_object_unref(dst);
        g_object_unref(im);
        if (rc)
            return s_vips_err(HM_E_CORRUPT, "decode failed");
    }
    img->w = dw;
    img->h = dh;
    img->stride = (size_t)dw * 3;
    return 0;
}

void hm_image_release(hm_image_t *img)
{
    if (!img)
        return;
    free(img->rgb);
    img->rgb = NULL;
    img->cap = 0;
    if (img->tj)
        tjDestroy(img->tj);
    img->tj = NULL;
}
