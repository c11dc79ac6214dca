/*
 * hm_engine_local.c - the local-feature signal of a query: extraction (from
 * the fingerprint's pixels when they suffice), the inverted file's votes and
 * geometric verification of every voted reference.
 *
 * Second chance.  A degraded copy (downscaled, blurred, re-compressed, all
 * at once) keeps its keypoints but many of its descriptors move to other
 * words, so the inverted file hands the fit too few correspondences: the
 * right reference is voted for but its fit scores below the threshold.  For
 * the one reference whose fit came closest without passing (most inliers in
 * its best model; ties: most votes), the reference's stored features are
 * matched against every query descriptor (hm_geom_match) and fitted again.
 * Exhaustive matching also finds more consistent pairs between two photos
 * of one scene, so a second-chance fit must in addition pass the pixel
 * check: the query's 32x32 thumbnail and the reference's, aligned by the
 * fit, correlate >= RESCUE_THUMB_CORR.
 *
 * Measured over the benchmark's 12,000 queries (local features alone, the
 * top 3 candidates of every query, exhaustive fit of each; a scratch probe
 * of bench_accuracy's set): copies rescued 600, thumbnail correlation p10
 * 0.96, median 0.99; other photos (burst shots, look-alikes) that the
 * exhaustive fit verifies with a score >= 32: 24, correlation 0.50-0.81, and
 * no verified one of any score above 0.94.  Which candidate (same probe, all
 * 8 candidates, 1 probe): the two most voted rescued 765 copies, all 8 would
 * rescue 801, the closest first fit alone 797: one exhaustive fit per
 * query instead of two or eight.  Without the pixel check the rescue had
 * cost precision 0.9990 -> 0.9953 on the benchmark (an earlier attempt);
 * with it the benchmark's numbers are in bench/report/REPORT.md.  The
 * correlation stays out of the first-chance rule: overlays (stickers, text)
 * and colour edits pull copies below 0.9 (606 of the 5,760 copies the
 * exhaustive fit verifies with a score >= 32), and those fits need no help.
 */
#include <pthread.h>
#include <stdlib.h>

#include "hm_engine_int.h"
#include "hm_error.h"
#include "hm_lf_ref.h"

#define RESCUE_THUMB_CORR 0.9f

/* Each scoring thread's scratch, freed when the thread ends. */
typedef struct {
    hm_lfindex_scratch_t *sc;
    hm_lf_feat_t ref;       /* a second-chance reference's features */
} local_tls_t;

static pthread_key_t s_key;
static pthread_once_t s_once = PTHREAD_ONCE_INIT;

static void s_free(void *p)
{
    local_tls_t *t = p;
    if (!t)
        return;
    hm_lfindex_scratch_destroy(&t->sc);
    hm_lf_feat_free(&t->ref);
    free(t);
}

static void s_key_make(void)
{
    pthread_key_create(&s_key, s_free);
}

static local_tls_t *s_tls(void)
{
    pthread_once(&s_once, s_key_make);
    local_tls_t *t = pthread_getspecific(s_key);
    if (t)
        return t;
    t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    if (hm_lfindex_scratch_create(&t->sc) || pthread_setspecific(s_key, t)) {
        s_free(t);
        return NULL;
    }
    return t;
}

/* The query's features: from the fingerprint's pixels when they are all
 * local features want (not shrunk on load, or >= 512 px), else decoded again. */
static int s_features(hm_fp_ctx_t *ctx, const void *img, size_t len, const hm_lf_feat_t **q,
                      const hm_lf_feat_t **m)
{
    const hm_image_t *im = ctx ? hm_fp_ctx_image(ctx) : NULL;
    if (im && ((im->w == im->orig_w && im->h == im->orig_h) || im->w >= 512 || im->h >= 512))
        return hm_lf_query_rgb(im->rgb, im->w, im->h, im->stride, q, m);
    return hm_lf_query(img, len, q, m);
}

/* The best verified model of n results (NULL when none is verified). */
static const hm_geom_result_t *s_best(const hm_geom_result_t *res, int n)
{
    const hm_geom_result_t *b = NULL;
    for (int k = 0; k < n; k++)
        if (res[k].verified && (!b || res[k].score > b->score))
            b = &res[k];
    return b;
}

/* The second chance (see the top): the reference's stored features against
 * every query descriptor, the fit with the pixel check.  NULL when the
 * reference is gone, has no features or thumbnail, or nothing verifies. */
static const hm_geom_result_t *s_rescue(hm_engine_t *e, local_tls_t *t, const hm_lf_feat_t *qs,
                                        uint64_t id, hm_geom_result_t *res, int cap)
{
    hm_ref_t ref;
    if (!qs->has_thumb || hm_store_get(e->store, id, &ref) != 0)
        return NULL;
    int ok = hm_record_lf(ref.fp, ref.fp_len, &t->ref) == 0 && t->ref.n > 0 && t->ref.has_thumb;
    hm_ref_clear(&ref);
    if (!ok)
        return NULL;
    hm_geom_opts_t o = hm_geom_opts_default;
    o.min_thumb_corr = RESCUE_THUMB_CORR;
    int n = 0;
    if (hm_geom_verify(qs, &t->ref, &o, res, cap, &n) != 0)
        return NULL;
    return s_best(res, n);
}

int hm__engine_local(hm_engine_t *e, hm_fp_ctx_t *ctx, const void *img, size_t len,
                     float min_score, hm__local_hit_t *hits, int cap)
{
    local_tls_t *t = s_tls();
    if (!t)
        return 0;
    const hm_lf_feat_t *q, *m;
    int nh = 0;
    pthread_rwlock_rdlock(&e->lf_lock);
    if (!e->lf) {
        pthread_rwlock_unlock(&e->lf_lock);
        return -1;
    }
    if (s_features(ctx, img, len, &q, &m) != 0) {
        pthread_rwlock_unlock(&e->lf_lock);
        return 0;
    }
    hm_lfindex_cand_t cand[8];
    hm_lfindex_qopts_t qo = hm_lfindex_qopts_default;
    qo.max_cand = 8;
    if (e->opts.lf_stop_factor != 0)
        qo.stop_factor = e->opts.lf_stop_factor < 0 ? 0.0f : (float)e->opts.lf_stop_factor;
    int nc = 0;
    if (hm_lfindex_query(e->lf, t->sc, q, m, &qo, cand, &nc) != 0)
        nc = 0;
    /* First chance: every candidate's own correspondences.  The one whose
     * fit came closest (most inliers in its best model) without passing gets
     * the second chance, also when another candidate passed (the other
     * product of a collage). */
    int pick = -1, pick_inl = -1;
    for (int i = 0; i < nc; i++) {
        const hm_lf_feat_t *qs = cand[i].mirrored ? m : q;
        hm_geom_frame_t qf = hm_geom_frame_of(qs);
        hm_geom_result_t res[3];
        int nres = 0;
        if (hm_geom_fit(&qf, &cand[i].frame, cand[i].corr, (size_t)cand[i].ncorr, NULL, res, 3,
                        &nres) != 0)
            nres = 0;
        const hm_geom_result_t *b = s_best(res, nres);
        if (b && nh < cap) {
            hits[nh].id = cand[i].id;
            hits[nh].geom = *b;
            nh++;
        }
        if (b && b->score >= min_score)
            continue;
        int inl = 0; /* the inliers of the highest-scoring model, verified or not */
        float top = -1;
        for (int k = 0; k < nres; k++)
            if (res[k].score > top)
                top = res[k].score, inl = res[k].inliers;
        if (inl > pick_inl)
            pick = i, pick_inl = inl;
    }
    if (pick >= 0) {
        const hm_lf_feat_t *qs = cand[pick].mirrored ? m : q;
        hm_geom_result_t res2[3];
        const hm_geom_result_t *r = s_rescue(e, t, qs, cand[pick].id, res2, 3);
        /* one hit per reference: its plain and mirrored tallies are two
         * candidates, either may hold a hit already */
        int k = 0;
        while (k < nh && hits[k].id != cand[pick].id)
            k++;
        if (r && k < nh && r->score > hits[k].geom.score)
            hits[k].geom = *r;
        else if (r && k == nh && nh < cap) {
            hits[nh].id = cand[pick].id;
            hits[nh].geom = *r;
            nh++;
        }
    }
    pthread_rwlock_unlock(&e->lf_lock);
    return nh;
}
