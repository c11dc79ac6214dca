/*
 * hm_engine_score.c - fingerprint, gather candidates from every signal, keep
 * each reference's strongest one, look the references up, and let the
 * matcher decide; then count strikes.
 *
 * Query variants: PDQ is searched with the 8 dihedral variants of the whole
 * image and of its trimmed content box (against references' whole and
 * trimmed hashes), pHash and dHash with the whole and trimmed hashes, the
 * descriptor with the whole image's.  When none of those matched, the
 * image's content regions (hm_regions.h) are searched like trimmed boxes,
 * and when they match nothing either (or any match is weak), local features.
 */
#include "hm_engine_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hm_error.h"
#include "hm_regions.h"
#include "hm_sha.h"
#include "hm_verdict.h"

#define MAX_CAND 256

typedef struct {
    uint64_t ref;
    int signal, variant, trimmed, distance;
    float cosine;
    double sim, score;
    int matched;
    const hm_geom_result_t *geom; /* signal local: the fit (in s_score's hits[]) */
    hm_box_t region;              /* trimmed == 2: the query region that matched */
} cand_t;

typedef struct {
    cand_t c[MAX_CAND];
    int n;
} cands_t;

static uint64_t s_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000;
}

/* Keep the strongest candidate per reference. */
static void s_offer(cands_t *cs, const hm_thresholds_t *t, uint64_t ref, int signal, int variant,
                    int trimmed, int distance, float cosine, const hm_box_t *region)
{
    hm_box_t rb = region ? *region : (hm_box_t){ 0, 0, 0, 0 };
    double sim = hm_match_similarity(signal, distance, cosine);
    double score = hm_match_score(t, signal, sim);
    int matched = hm_match_passes(t, signal, distance, cosine);
    for (int i = 0; i < cs->n; i++)
        if (cs->c[i].ref == ref) {
            cand_t *c = &cs->c[i];
            if (matched > c->matched || (matched == c->matched && score > c->score))
                *c = (cand_t){ ref, signal, variant, trimmed, distance, cosine, sim, score, matched, NULL, rb };
            return;
        }
    if (cs->n < MAX_CAND)
        cs->c[cs->n++] = (cand_t){ ref, signal, variant, trimmed, distance, cosine, sim, score, matched, NULL, rb };
}

static int s_any_matched(const cands_t *cs)
{
    for (int i = 0; i < cs->n; i++)
        if (cs->c[i].matched)
            return 1;
    return 0;
}

/*
 * A match this close to its signal's threshold (PDQ within 8 of its 64 bits,
 * the other signals within the same share of their range) is weak evidence:
 * local features still run, and a verified fit, if stronger, becomes the
 * reference's candidate.  Measured (bench_accuracy, 12,000 queries): 37
 * positives scored exactly 0.5 on a hash at its threshold, in the same tie as
 * 4 false positives, and 28 of them have a verified fit on their reference.
 */
#define WEAK_MATCH 0.5625

static int s_strong_match(const cands_t *cs)
{
    for (int i = 0; i < cs->n; i++)
        if (cs->c[i].matched && cs->c[i].score >= WEAK_MATCH)
            return 1;
    return 0;
}

/*
 * Local features (hm_engine_local.c): only when no hash, descriptor or region
 * signal matched, or matched only weakly (the easy copies never pay for it).  Every verified model
 * is a candidate, so each product of a collage can match.
 */
static int s_local_search(hm_engine_t *e, cands_t *cs, const hm_thresholds_t *t,
                          hm_fp_ctx_t *ctx, const void *img, size_t len, hm__local_hit_t *hits)
{
    if (t->local < 0 || !img)
        return 0;
    int n = hm__engine_local(e, ctx, img, len, t->local, hits, HM_VERDICT_MAX_MATCHES);
    for (int i = 0; i < n; i++) {
        s_offer(cs, t, hits[i].id, HM_SIG_LOCAL, HM_DIH_ORIGINAL, 0, -1, hits[i].geom.score, NULL);
        /* If the local match became the reference's candidate, it carries
         * the fit that scored it (a reference's plain and mirrored sets may
         * both have hit: the stronger one). */
        for (int j = 0; j < cs->n; j++) {
            cand_t *c = &cs->c[j];
            if (c->ref == hits[i].id && c->signal == HM_SIG_LOCAL &&
                (!c->geom || hits[i].geom.score > c->geom->score))
                c->geom = &hits[i].geom;
        }
    }
    return n >= 0;
}

/* query_kind: 0 the whole image, 1 its trimmed box, 2 the region *region. */
static void s_hash_search(hm_engine_t *e, cands_t *cs, const hm_thresholds_t *t,
                          const hm_hashset_t *hs, int query_kind, const hm_box_t *region,
                          int top_k)
{
    hm_hindex_hit_t hits[64];
    size_t n = 0;
    /* PDQ: the 8 variants at once, within the threshold (or wider for top-k). */
    unsigned r = (unsigned)t->pdq;
    if (top_k > 0 && r < 48)
        r = 48;
    if (hs->quality >= t->pdq_min_quality &&
        hm_hindex_range_multi(e->pdq, &hs->pdq[0].w[0], HM_DIH_COUNT, r, hits, 64, &n) == 0) {
        for (size_t i = 0; i < n && i < 64; i++)
            s_offer(cs, t, HM__HREF(hits[i].id), HM_SIG_PDQ, (int)hits[i].variant,
                    query_kind ? query_kind : HM__HTRIM(hits[i].id) != 0, (int)hits[i].dist, 0,
                    region);
    }
    struct { hm_hindex_t *ix; int sig, thr; uint64_t code; } h64[2] = {
        { e->phash, HM_SIG_PHASH, t->phash, hs->phash },
        { e->dhash, HM_SIG_DHASH, t->dhash, hs->dhash },
    };
    /* Regions: PDQ only.  A cell is small evidence; the 64-bit hashes at
     * their thresholds matched near-duplicate distractor tiles (bench). */
    for (int k = 0; k < 2 && query_kind != 2; k++) {
        if (h64[k].thr < 0)
            continue;
        unsigned rr = (unsigned)h64[k].thr;
        if (hm_hindex_range(h64[k].ix, &h64[k].code, rr, hits, 64, &n) != 0)
            continue;
        for (size_t i = 0; i < n && i < 64; i++)
            s_offer(cs, t, HM__HREF(hits[i].id), h64[k].sig, HM_DIH_ORIGINAL,
                    query_kind ? query_kind : HM__HTRIM(hits[i].id) != 0, (int)hits[i].dist, 0,
                    region);
    }
}

static int s_cmp_cand(const void *a, const void *b)
{
    const cand_t *x = a, *y = b;
    if (x->matched != y->matched)
        return y->matched - x->matched;
    return x->score < y->score ? 1 : x->score > y->score ? -1 : 0;
}

static int s_authorized(void *ctx, const char *brand, const char *seller)
{
    return hm_store_is_authorized(((hm_engine_t *)ctx)->store, brand, seller);
}

/* Content regions (collage cells, the photo inside a screenshot): their PDQ
 * hashes (8 variants) are searched like a trimmed box's, when the whole image
 * matched nothing.  Cheap (one XY-cut scan, then a PDQ per region), so it runs
 * before local features. */
static void s_region_search(hm_engine_t *e, cands_t *cs, const hm_thresholds_t *t,
                            hm_fp_ctx_t *ctx, int top_k)
{
    hm_hashset_t sets[HM_REGIONS_MAX];
    hm_box_t boxes[HM_REGIONS_MAX];
    int n = hm_fp_regions(ctx, sets, boxes, HM_REGIONS_MAX);
    for (int i = 0; i < n; i++)
        s_hash_search(e, cs, t, &sets[i], 2, &boxes[i], top_k);
}

static int s_score(hm_engine_t *e, const hm_fp_t *fp, hm_fp_ctx_t *ctx, const hm_query_t *q,
                   int allowlisted, const void *img, size_t len, hm_verdict_t *v)
{
    hm_thresholds_t t = hm__engine_thresholds(e);
    int top_k = q && q->top_k > 0 ? q->top_k : 0;
    if (top_k > HM_VERDICT_MAX_MATCHES)
        top_k = HM_VERDICT_MAX_MATCHES;
    /* The call's scratch, on its stack (~22 KB): the candidates, and the
     * local-feature fits they point at. */
    cands_t cs;
    cs.n = 0;
    hm__local_hit_t hits[HM_VERDICT_MAX_MATCHES];
    uint64_t local_us = 0;
    int local_only = q && q->local_only;
    if (local_only)
        goto local;
    s_hash_search(e, &cs, &t, &fp->full, 0, NULL, top_k);
    if (fp->has_trim)
        s_hash_search(e, &cs, &t, &fp->trim, 1, NULL, top_k);
    if (t.desc <= 1.0f || top_k) {
        float sims[HM_VERDICT_MAX_MATCHES];
        int64_t ids[HM_VERDICT_MAX_MATCHES];
        int k = top_k > 8 ? top_k : 8, found = 0;
        if (hm_vindex_search(e->vindex, fp->desc, k, sims, ids, &found) == 0)
            for (int i = 0; i < found; i++)
                s_offer(&cs, &t, (uint64_t)ids[i], HM_SIG_DESC, HM_DIH_ORIGINAL, 0, -1, sims[i], NULL);
    }
    if (ctx && !s_any_matched(&cs))
        s_region_search(e, &cs, &t, ctx, top_k);
local:
    if (!s_strong_match(&cs)) {
        uint64_t t0 = s_us();
        if (s_local_search(e, &cs, &t, ctx, img, len, hits))
            local_us = s_us() - t0;
    }
    qsort(cs.c, (size_t)cs.n, sizeof(cand_t), s_cmp_cand);
    v->n_matches = 0;
    for (int i = 0; i < cs.n && v->n_matches < HM_VERDICT_MAX_MATCHES; i++) {
        const cand_t *c = &cs.c[i];
        if (!c->matched && v->n_matches >= top_k)
            break;
        hm_ref_t ref;
        if (hm_store_get(e->store, c->ref, &ref) != 0)
            continue; /* removed since it was indexed */
        hm_match_t *m = &v->matches[v->n_matches++];
        memset(m, 0, sizeof *m);
        snprintf(m->ref, sizeof m->ref, "%s", ref.ext_id);
        snprintf(m->brand, sizeof m->brand, "%s", ref.brand ? ref.brand : "");
        snprintf(m->holder, sizeof m->holder, "%s", ref.rights_holder ? ref.rights_holder : "");
        m->bank = ref.bank;
        m->signal = hm_signal_name(c->signal);
        m->variant = hm_variant_name(c->variant, c->trimmed);
        if (c->signal == HM_SIG_LOCAL && c->geom) {
            const hm_geom_result_t *g = c->geom;
            m->variant = g->mirrored ? "mirrored" : "original";
            m->inliers = g->inliers;
            m->geom_score = g->score;
            m->scale = g->scale;
            m->rotation_deg = g->rotation_deg;
            m->coverage = g->coverage;
            for (int k = 0; k < 4; k++)
                m->crop[k] = g->crop[k];
        }
        if (c->trimmed == 2) {
            m->region[0] = c->region.x;
            m->region[1] = c->region.y;
            m->region[2] = c->region.w;
            m->region[3] = c->region.h;
        }
        m->distance = c->signal == HM_SIG_DESC || c->signal == HM_SIG_LOCAL ? -1 : c->distance;
        m->similarity = c->sim;
        m->score = c->score;
        m->matched = c->matched;
        hm_ref_clear(&ref);
    }
    hm_matcher_decide(&t, allowlisted, q, s_authorized, e, v);
    v->local_us = local_us;
    char hex[65];
    hm_pdq_to_hex(&fp->full.pdq[HM_DIH_ORIGINAL], hex);
    memcpy(v->pdq, hex, sizeof hex);
    v->quality = fp->full.quality;

    /* Three strikes: a counterfeit verdict counts once per (listing, image). */
    const char *seller = q && q->seller && q->seller[0] ? q->seller : NULL;
    if (seller) {
        uint64_t strikes = 0;
        int rc;
        if (v->decision == HM_DEC_COUNTERFEIT && q->record_strikes && !e->opts.readonly)
            rc = hm_store_add_strike(e->store, seller, q->listing_id ? q->listing_id : "",
                                     q->image_id ? q->image_id : "", &strikes);
        else
            rc = hm_store_strikes(e->store, seller, &strikes);
        if (rc)
            return rc;
        v->strikes = (int)strikes;
        v->seller_blocked = strikes >= (uint64_t)e->opts.strike_limit;
    }
    return 0;
}

/* Is this image (by its bytes, or its PDQ) on the allow-list? */
static int s_allowlisted(hm_engine_t *e, const uint8_t sha[32], const hm_fp_t *fp)
{
    if (sha) {
        hm_allow_t a;
        char note[8];
        if (hm_store_allow_get(e->store, sha, &a, note, sizeof note) == 0)
            return 1;
    }
    hm_thresholds_t t = hm__engine_thresholds(e);
    hm_hindex_hit_t hit;
    size_t n = 0;
    if (hm_hindex_range_multi(e->allow_pdq, &fp->full.pdq[0].w[0], 1, (unsigned)t.allow_pdq, &hit,
                              1, &n) == 0 && n > 0)
        return 1;
    return 0;
}

int hm_engine_score_fp(hm_engine_t *e, const hm_fp_t *fp, const hm_query_t *q, hm_verdict_t *v)
{
    if (!e || !fp || !v)
        return hm__seterr(HM_E_INVAL, "hm_engine_score_fp: NULL argument");
    memset(v, 0, sizeof *v);
    uint64_t t0 = s_us();
    int rc = s_score(e, fp, NULL, q, s_allowlisted(e, NULL, fp), NULL, 0, v);
    v->search_us = s_us() - t0;
    v->total_us = v->search_us;
    return rc;
}

int hm_engine_score(hm_engine_t *e, hm_fp_ctx_t *ctx, const void *img, size_t len,
                    const hm_query_t *q, hm_verdict_t *v)
{
    if (!e || !ctx || !v)
        return hm__seterr(HM_E_INVAL, "hm_engine_score: NULL argument");
    uint64_t t0 = s_us();
    hm_fp_t fp;
    int rc = hm_fp_compute(ctx, img, len, &fp);
    const hm_fp_timing_t *tm = hm_fp_ctx_timing(ctx);
    if (rc) {
        hm_verdict_error(v, rc, hm_last_error());
        v->decode_us = tm->decode_ns / 1000;
        v->total_us = s_us() - t0;
        return 0;
    }
    uint64_t t1 = s_us();
    uint8_t sha[32];
    hm_sha256(img, len, sha);
    memset(v, 0, sizeof *v);
    rc = s_score(e, &fp, ctx, q, s_allowlisted(e, sha, &fp), img, len, v);
    uint64_t t2 = s_us();
    v->decode_us = tm->decode_ns / 1000;
    v->fingerprint_us = (t1 - t0) > v->decode_us ? (t1 - t0) - v->decode_us : 0;
    v->search_us = t2 - t1;
    v->total_us = t2 - t0;
    return rc;
}
