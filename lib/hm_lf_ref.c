/* hm_lf_ref.c - decode + local features for references and queries, with
 * scratch owned by the caller's hm_fp_ctx_t (or, for the older calls without
 * a context, by a pthread key). */
#include "hm_lf_ref.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "hm_decode.h"
#include "hm_error.h"

struct hm_lf_scratch {
    hm_image_t img;
    hm_lf_ctx_t *rctx, *qctx;
    hm_lf_feat_t r, q, m;
};
typedef hm_lf_scratch_t tls_t;

static atomic_int s_ref_kp = 0; /* 0: hm_lf_opts_default.max_kp */

int hm_lf_ref_set_keypoints(int n)
{
    if (n < 32 || n > 1024)
        return hm__seterr(HM_E_INVAL, "reference keypoints must be 32..1024, not %d", n);
    atomic_store(&s_ref_kp, n);
    return 0;
}

int hm_lf_ref_keypoints(void)
{
    int n = atomic_load(&s_ref_kp);
    return n ? n : hm_lf_opts_default.max_kp;
}

static pthread_key_t s_key;
static pthread_once_t s_once = PTHREAD_ONCE_INIT;

static void s_free(void *p)
{
    tls_t *t = p;
    if (!t)
        return;
    hm_image_release(&t->img);
    hm_lf_ctx_destroy(&t->rctx);
    hm_lf_ctx_destroy(&t->qctx);
    hm_lf_feat_free(&t->r);
    hm_lf_feat_free(&t->q);
    hm_lf_feat_free(&t->m);
    free(t);
}

static void s_make_key(void)
{
    pthread_key_create(&s_key, s_free);
}

#define S_REF_TARGET 348   /* references: decode target side */
#define S_QUERY_TARGET 512 /* queries: decode target side and level 0 */

static const hm_lf_opts_t s_query_opts = {
    .max_kp = 512, .levels = 4, .level_scale = 1.41f, .fast_t = 16, .max_side = 512, .grid = 8,
};

int hm_lf_scratch_new(hm_lf_scratch_t **out)
{
    tls_t *t = calloc(1, sizeof *t);
    if (!t)
        return hm_error_set(HM_E_NOMEM, "local-feature scratch");
    int rc;
    if ((rc = hm_lf_ctx_create(&t->rctx, NULL)) || (rc = hm_lf_ctx_create(&t->qctx, &s_query_opts)) ||
        (rc = hm_lf_feat_init(&t->r, 1024)) ||
        (rc = hm_lf_feat_init(&t->q, (uint32_t)s_query_opts.max_kp)) ||
        (rc = hm_lf_feat_init(&t->m, (uint32_t)s_query_opts.max_kp))) {
        s_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

void hm_lf_scratch_free(hm_lf_scratch_t **s)
{
    if (s) {
        s_free(*s);
        *s = NULL;
    }
}

/* The older calls' scratch: one per thread, behind a pthread key. */
static tls_t *s_tls(void)
{
    pthread_once(&s_once, s_make_key);
    tls_t *t = pthread_getspecific(s_key);
    if (t)
        return t;
    if (hm_lf_scratch_new(&t))
        return NULL;
    if (pthread_setspecific(s_key, t)) {
        s_free(t);
        return NULL;
    }
    return t;
}

static int s_decode(tls_t *t, const void *img, size_t len, int target)
{
    hm_decode_limits_t lim = hm_decode_limits_default;
    lim.target_side = target;
    return hm_decode(img, len, &lim, &t->img);
}

/* A reference's features from pixels im (decoded at S_REF_TARGET). */
static int s_ref_blob(tls_t *t, const hm_image_t *im, uint8_t **blob, size_t *blob_len)
{
    /* the keypoint count changed since this thread's context was made */
    int want = hm_lf_ref_keypoints();
    if (hm_lf_ctx_opts(t->rctx)->max_kp != want) {
        hm_lf_opts_t o = hm_lf_opts_default;
        o.max_kp = want;
        hm_lf_ctx_t *c;
        int crc = hm_lf_ctx_create(&c, &o);
        if (crc)
            return crc;
        hm_lf_ctx_destroy(&t->rctx);
        t->rctx = c;
    }
    int rc = hm_lf_extract(t->rctx, im->rgb, im->w, im->h, im->stride, &t->r, NULL);
    if (rc)
        return rc;
    size_t n = hm_lf_serial_size(&t->r);
    uint8_t *b = malloc(n);
    if (!b)
        return hm__seterr(HM_E_NOMEM, "local-feature blob");
    if ((rc = hm_lf_serialize(&t->r, b, n, blob_len))) {
        free(b);
        return rc;
    }
    *blob = b;
    return 0;
}

int hm_lf_ref_blob(const void *img, size_t len, uint8_t **blob, size_t *blob_len)
{
    tls_t *t = s_tls();
    if (!t)
        return hm__seterr(HM_E_NOMEM, "local-feature scratch");
    int rc = s_decode(t, img, len, S_REF_TARGET);
    return rc ? rc : s_ref_blob(t, &t->img, blob, blob_len);
}

int hm_lf_ref_blob_ctx(hm_fp_ctx_t *ctx, const void *img, size_t len, uint8_t **blob,
                       size_t *blob_len)
{
    if (!ctx || !blob || !blob_len)
        return hm_error_set(HM_E_INVAL, "hm_lf_ref_blob_ctx: NULL argument");
    tls_t *t = hm__fp_ctx_lf(ctx);
    if (!t)
        return hm_error_set(HM_E_NOMEM, "local-feature scratch");
    /* Reuse the fingerprint's pixels only when they are bit for bit what a
     * decode at 348 gives; a JPEG the fingerprint shrank on load (to ~128 px,
     * PDQ's scale) has lost the detail the keypoints need, so it is decoded
     * again at 348 (the matcher's measured reference scale). */
    const hm_image_t *im = hm_fp_ctx_image_of(ctx, img, len, S_REF_TARGET);
    if (!im) {
        int rc = s_decode(t, img, len, S_REF_TARGET);
        if (rc)
            return rc;
        im = &t->img;
    }
    return s_ref_blob(t, im, blob, blob_len);
}

int hm_lf_query_ctx(hm_fp_ctx_t *ctx, const void *img, size_t len, const hm_lf_feat_t **q,
                    const hm_lf_feat_t **mirror)
{
    if (!ctx || !q || !mirror)
        return hm_error_set(HM_E_INVAL, "hm_lf_query_ctx: NULL argument");
    tls_t *t = hm__fp_ctx_lf(ctx);
    if (!t)
        return hm_error_set(HM_E_NOMEM, "local-feature scratch");
    /* The fingerprint's pixels when they hold all the query level 0 wants
     * (not shrunk on load, or a side >= 512: extraction resamples to 512);
     * else a decode at 512 (a JPEG shrunk to PDQ's ~128 px lacks the detail). */
    const hm_image_t *im = hm__fp_ctx_holds(ctx, img, len) ? hm_fp_ctx_image(ctx) : NULL;
    if (!im || !((im->w == im->orig_w && im->h == im->orig_h) || im->w >= S_QUERY_TARGET ||
                 im->h >= S_QUERY_TARGET)) {
        int rc = s_decode(t, img, len, S_QUERY_TARGET);
        if (rc)
            return rc;
        im = &t->img;
    }
    int rc = hm_lf_extract(t->qctx, im->rgb, im->w, im->h, im->stride, &t->q, &t->m);
    if (rc)
        return rc;
    *q = &t->q;
    *mirror = &t->m;
    return 0;
}

int hm_lf_query_rgb(const uint8_t *rgb, int w, int h, size_t stride, const hm_lf_feat_t **q,
                    const hm_lf_feat_t **mirror)
{
    tls_t *t = s_tls();
    if (!t)
        return hm__seterr(HM_E_NOMEM, "local-feature scratch");
    int rc = hm_lf_extract(t->qctx, rgb, w, h, stride, &t->q, &t->m);
    if (rc)
        return rc;
    *q = &t->q;
    *mirror = &t->m;
    return 0;
}

int hm_lf_query(const void *img, size_t len, const hm_lf_feat_t **q, const hm_lf_feat_t **mirror)
{
    tls_t *t = s_tls();
    if (!t)
        return hm__seterr(HM_E_NOMEM, "local-feature scratch");
    int rc = s_decode(t, img, len, S_QUERY_TARGET);
    if (rc)
        return rc;
    if ((rc = hm_lf_extract(t->qctx, t->img.rgb, t->img.w, t->img.h, t->img.stride, &t->q, &t->m)))
        return rc;
    *q = &t->q;
    *mirror = &t->m;
    return 0;
}
