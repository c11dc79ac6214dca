/* hm_lf_ref.c - per-thread decode + local features for references and queries. */
#include "hm_lf_ref.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "hm_decode.h"
#include "hm_error.h"

typedef struct {
    hm_image_t img;
    hm_lf_ctx_t *rctx, *qctx;
    hm_lf_feat_t r, q, m;
} tls_t;

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

static const hm_lf_opts_t s_query_opts = {
    .max_kp = 512, .levels = 4, .level_scale = 1.41f, .fast_t = 16, .max_side = 512, .grid = 8,
};

static tls_t *s_tls(void)
{
    pthread_once(&s_once, s_make_key);
    tls_t *t = pthread_getspecific(s_key);
    if (t)
        return t;
    t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    if (hm_lf_ctx_create(&t->rctx, NULL) || hm_lf_ctx_create(&t->qctx, &s_query_opts) ||
        hm_lf_feat_init(&t->r, 1024) ||
        hm_lf_feat_init(&t->q, (uint32_t)s_query_opts.max_kp) ||
        hm_lf_feat_init(&t->m, (uint32_t)s_query_opts.max_kp) || pthread_setspecific(s_key, t)) {
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

int hm_lf_ref_blob(const void *img, size_t len, uint8_t **blob, size_t *blob_len)
{
    tls_t *t = s_tls();
    if (!t)
        return hm__seterr(HM_E_NOMEM, "local-feature scratch");
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
    int rc = s_decode(t, img, len, 348);
    if (rc)
        return rc;
    if ((rc = hm_lf_extract(t->rctx, t->img.rgb, t->img.w, t->img.h, t->img.stride, &t->r, NULL)))
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
    int rc = s_decode(t, img, len, 512);
    if (rc)
        return rc;
    if ((rc = hm_lf_extract(t->qctx, t->img.rgb, t->img.w, t->img.h, t->img.stride, &t->q, &t->m)))
        return rc;
    *q = &t->q;
    *mirror = &t->m;
    return 0;
}
