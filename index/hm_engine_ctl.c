/*
 * hm_engine_ctl.c - control operations: add (one or a batch), remove,
 * relabel, authorise, feedback.  The store commits first (it is the source of
 * truth); the in-memory indexes follow under the same write mutex, so a
 * search never sees a reference the store does not have for longer than the
 * call, and every change is matchable as soon as the call returns.
 */
#include "hm_engine_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hm_error.h"
#include "hm_log.h"
#include "hm_lf_ref.h"
#include "hm_sha.h"
#include "hm_thumb.h"

/* The committed items of a batch, into the search structures. */
static int s_apply_added(hm_engine_t *e, const hm_engine_item_t *items, size_t n)
{
    hm__change_t *ch = calloc(n ? n : 1, sizeof *ch);
    if (!ch) {
        hm_log_error("index_add_failed", "reason=\"out of memory\"");
        return hm__seterr(HM_E_NOMEM, "index changes");
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (items[i].rc == 0)
            ch[k++] = (hm__change_t){ .op = HM__CH_ADD, .id = items[i].id, .fp = items[i].fp,
                                      .pdq_only = items[i].pdq_only, .lf_blob = items[i].lf_blob,
                                      .lf_len = items[i].lf_len };
    int lf_rc = 0;
    int rc = hm__engine_apply(e, ch, k, &lf_rc);
    if (lf_rc)
        hm_log_error("lf_index_add_failed", "reason=\"%s\"", hm_last_error());
    free(ch);
    return rc;
}

int hm_engine_add_many(hm_engine_t *e, hm_engine_item_t *items, size_t n)
{
    if (!e || (!items && n))
        return hm__seterr(HM_E_INVAL, "hm_engine_add_many: NULL argument");
    if (e->opts.readonly)
        return hm__seterr(HM_E_READONLY, "database opened read-only");
    pthread_mutex_lock(&e->write);
    int rc = hm_store_batch_begin(e->store);
    if (rc)
        goto leave;
    for (size_t i = 0; i < n; i++) {
        hm_engine_item_t *it = &items[i];
        it->rc = 0;
        it->id = 0;
        const hm_ref_meta_t *m = &it->meta;
        if (!m->ext_id || !*m->ext_id || !m->brand || (m->bank != HM_BANK_COUNTERFEIT && m->bank != HM_BANK_GENUINE)) {
            it->rc = hm__seterr(HM_E_INVAL, "a reference needs an id, a brand and a bank");
            continue;
        }
        uint8_t *blob = NULL;
        size_t len = 0;
        int erc = hm_record_encode(it->fp, it->lf_blob, it->lf_len, &blob, &len);
        if (erc == HM_E_NOMEM) {
            rc = erc;
            hm_store_batch_abort(e->store);
            goto leave;
        }
        if (erc) {
            it->rc = erc;
            continue;
        }
        hm_ref_t ref = {
            .ext_id = m->ext_id, .bank = m->bank, .brand = m->brand,
            .rights_holder = m->holder, .source = m->source,
            .flags = it->pdq_only ? HM_REF_PDQ_ONLY : 0, .fp = blob, .fp_len = len,
        };
        memcpy(ref.sha256, it->sha256, 32);
        it->rc = hm_store_add(e->store, &ref, &it->id);
        free(blob);
        if (it->rc && it->rc != HM_E_EXISTS && it->rc != HM_E_INVAL) {
            rc = it->rc; /* the store itself failed: the whole batch goes */
            hm_store_batch_abort(e->store);
            goto leave;
        }
    }
    if ((rc = hm_store_batch_commit(e->store)))
        goto leave;
    if ((rc = s_apply_added(e, items, n)))
        goto leave;
    if (hm__engine_vindex_grow(e))
        hm_log_error("vindex_rebuild_failed", "reason=\"%s\"", hm_last_error());
leave:
    pthread_mutex_unlock(&e->write);
    return rc;
}

int hm_engine_ref_features(const void *img, size_t len, uint8_t **blob, size_t *blob_len)
{
    return hm_lf_ref_blob(img, len, blob, blob_len);
}

/* Add a reference computed from image bytes: fingerprint, content hash and
 * (unless switched off) local features. */
static int s_add_image(hm_engine_t *e, const hm_ref_meta_t *meta, const hm_fp_t *fp,
                       const uint8_t sha[32], const void *img, size_t len, uint64_t *id_out)
{
    hm_engine_item_t it = { .meta = *meta, .fp = fp };
    memcpy(it.sha256, sha, 32);
    uint8_t *lf = NULL;
    if (!e->opts.no_local_features && hm_lf_ref_blob(img, len, &lf, &it.lf_len) == 0)
        it.lf_blob = lf;
    int rc = hm_engine_add_many(e, &it, 1);
    free(lf);
    if (id_out)
        *id_out = it.id;
    return rc ? rc : it.rc;
}

int hm_engine_add_fp(hm_engine_t *e, const hm_ref_meta_t *meta, const hm_fp_t *fp,
                     const uint8_t sha256[32], int pdq_only, uint64_t *id_out)
{
    if (!meta || !fp)
        return hm__seterr(HM_E_INVAL, "hm_engine_add_fp: NULL argument");
    hm_engine_item_t it = { .meta = *meta, .fp = fp, .pdq_only = pdq_only };
    if (sha256)
        memcpy(it.sha256, sha256, 32);
    int rc = hm_engine_add_many(e, &it, 1);
    if (id_out)
        *id_out = it.id;
    return rc ? rc : it.rc;
}

/* The fingerprint and the content hash of image bytes. */
static int s_fp_sha(hm_fp_ctx_t *ctx, const void *img, size_t len, hm_fp_t *fp, uint8_t sha[32])
{
    int rc = hm_fp_compute(ctx, img, len, fp);
    if (rc)
        return rc;
    return hm_sha256(img, len, sha);
}

/* Keep a small JPEG of a reference added with its image bytes, for the review
 * console (the store keeps fingerprints, not images).  Best effort: the
 * reference is already stored and matching never needs the thumbnail. */
static void s_store_thumb(hm_engine_t *e, const char *ext_id, const void *img, size_t len)
{
    void *jpg = NULL;
    size_t n = 0;
    int rc = hm_thumb_jpeg(img, len, HM_THUMB_PX, &jpg, &n);
    if (rc == 0)
        rc = hm_store_aux_put(e->store, HM_AUX_REFTHUMBS, ext_id, jpg, n, 0);
    if (rc)
        hm_log_warn("ref_thumb", "ref=%s code=%s msg=\"%s\"", ext_id, hm_err_name(rc),
                    hm_last_error());
    free(jpg);
}

int hm_engine_add(hm_engine_t *e, hm_fp_ctx_t *ctx, const hm_ref_meta_t *meta,
                  const void *img, size_t len, uint64_t *id_out)
{
    if (!e || !ctx || !meta)
        return hm__seterr(HM_E_INVAL, "hm_engine_add: NULL argument");
    hm_fp_t fp;
    uint8_t sha[32];
    int rc = s_fp_sha(ctx, img, len, &fp, sha);
    if (rc == 0 && (rc = s_add_image(e, meta, &fp, sha, img, len, id_out)) == 0 && meta->ext_id)
        s_store_thumb(e, meta->ext_id, img, len);
    return rc;
}

int hm_engine_remove(hm_engine_t *e, const char *ext_id)
{
    if (!e || !ext_id)
        return hm__seterr(HM_E_INVAL, "hm_engine_remove: NULL argument");
    if (e->opts.readonly)
        return hm__seterr(HM_E_READONLY, "database opened read-only");
    pthread_mutex_lock(&e->write);
    hm_ref_t ref;
    int rc = hm_store_get_by_ext(e->store, ext_id, &ref);
    if (!rc) {
        uint64_t id = ref.id;
        hm_ref_clear(&ref);
        rc = hm_store_remove(e->store, id);
        hm__change_t ch = { .op = HM__CH_REMOVE, .id = id };
        if (!rc)
            hm__engine_apply(e, &ch, 1, NULL);
    }
    pthread_mutex_unlock(&e->write);
    return rc;
}

int hm_engine_relabel(hm_engine_t *e, const char *ext_id, int bank, const char *brand,
                      const char *holder)
{
    if (!e || !ext_id)
        return hm__seterr(HM_E_INVAL, "hm_engine_relabel: NULL argument");
    if (bank != HM_BANK_COUNTERFEIT && bank != HM_BANK_GENUINE)
        return hm__seterr(HM_E_INVAL, "relabel: bank must be counterfeit or genuine");
    if (e->opts.readonly)
        return hm__seterr(HM_E_READONLY, "database opened read-only");
    pthread_mutex_lock(&e->write);
    hm_ref_t ref;
    int rc = hm_store_get_by_ext(e->store, ext_id, &ref);
    if (!rc) {
        /* The store re-labels the bank; a new brand or holder means a new
         * reference (remove and add), so provenance stays in the change log. */
        if ((brand && strcmp(brand, ref.brand ? ref.brand : "") != 0) ||
            (holder && strcmp(holder, ref.rights_holder ? ref.rights_holder : "") != 0))
            rc = hm__seterr(HM_E_INVAL, "relabel changes the bank only; remove and add the "
                                        "reference to change its brand or holder");
        else if ((rc = hm_store_relabel(e->store, ref.id, bank)) == 0) {
            hm__change_t ch = { .op = HM__CH_RELABEL, .id = ref.id };
            rc = hm__engine_apply(e, &ch, 1, NULL);
        }
        hm_ref_clear(&ref);
    }
    pthread_mutex_unlock(&e->write);
    return rc;
}

int hm_engine_authorize(hm_engine_t *e, const char *brand, const char *seller, int on)
{
    if (!e || !brand || !seller || !*brand || !*seller)
        return hm__seterr(HM_E_INVAL, "authorize: a brand and a seller are required");
    if (e->opts.readonly)
        return hm__seterr(HM_E_READONLY, "database opened read-only");
    return hm_store_authorize(e->store, brand, seller, on);
}

int hm_engine_feedback(hm_engine_t *e, hm_fp_ctx_t *ctx, const void *img, size_t len,
                       int confirm, const hm_ref_meta_t *meta, const char *note)
{
    if (!e || !ctx)
        return hm__seterr(HM_E_INVAL, "hm_engine_feedback: NULL argument");
    if (e->opts.readonly)
        return hm__seterr(HM_E_READONLY, "database opened read-only");
    hm_fp_t fp;
    uint8_t sha[32];
    int rc = s_fp_sha(ctx, img, len, &fp, sha);
    if (rc)
        return rc;
    if (confirm) {
        /* The reviewer confirmed a counterfeit: the image joins the bank,
         * with provenance in its source field. */
        char ext[80], src[512];
        char hex[65];
        hm_sha256_to_hex(sha, hex);
        snprintf(ext, sizeof ext, "feedback-%.16s", hex);
        hm_ref_meta_t m = { .ext_id = ext, .bank = HM_BANK_COUNTERFEIT, .brand = "" };
        if (meta) {
            if (meta->ext_id && *meta->ext_id) m.ext_id = meta->ext_id;
            if (meta->brand) m.brand = meta->brand;
            m.holder = meta->holder;
        }
        snprintf(src, sizeof src, "reviewer feedback%s%s%s%s", meta && meta->source ? ": " : "",
                 meta && meta->source ? meta->source : "", note && *note ? "; note: " : "",
                 note && *note ? note : "");
        m.source = src;
        if ((rc = s_add_image(e, &m, &fp, sha, img, len, NULL)) == 0)
            s_store_thumb(e, m.ext_id, img, len);
        return rc;
    }
    hm_allow_t a = { .has_pdq = 1, .pdq = fp.full.pdq[HM_DIH_ORIGINAL], .note = note };
    memcpy(a.sha256, sha, 32);
    pthread_mutex_lock(&e->write);
    rc = hm_store_allow(e->store, &a);
    hm__change_t ch = { .op = HM__CH_ALLOW, .allow_pdq = &a.pdq };
    if (!rc)
        rc = hm__engine_apply(e, &ch, 1, NULL);
    pthread_mutex_unlock(&e->write);
    return rc;
}

int hm_engine_put_thumbs(hm_engine_t *e, size_t n, const char *const *ext_ids,
                         const void *const *jpgs, const size_t *lens)
{
    if (!e || (n && (!ext_ids || !jpgs || !lens)))
        return hm__seterr(HM_E_INVAL, "hm_engine_put_thumbs: NULL argument");
    if (e->opts.readonly)
        return hm__seterr(HM_E_READONLY, "database opened read-only");
    pthread_mutex_lock(&e->write);
    int rc = hm_store_batch_begin(e->store);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = hm_store_aux_put(e->store, HM_AUX_REFTHUMBS, ext_ids[i], jpgs[i], lens[i], 0);
    if (rc == 0)
        rc = hm_store_batch_commit(e->store);
    else
        hm_store_batch_abort(e->store);
    pthread_mutex_unlock(&e->write);
    return rc;
}

int hm_engine_decision_put(hm_engine_t *e, const char *verdict_id, const void *json, size_t len)
{
    if (!e || !verdict_id || !json)
        return hm__seterr(HM_E_INVAL, "hm_engine_decision_put: NULL argument");
    if (e->opts.readonly)
        return hm__seterr(HM_E_READONLY, "database opened read-only");
    pthread_mutex_lock(&e->write);
    int rc = hm_store_aux_put(e->store, HM_AUX_DECISIONS, verdict_id, json, len, 1);
    pthread_mutex_unlock(&e->write);
    return rc;
}

int hm_engine_decision_get(hm_engine_t *e, const char *verdict_id, void **json, size_t *len)
{
    if (!e)
        return hm__seterr(HM_E_INVAL, "hm_engine_decision_get: NULL engine");
    return hm_store_aux_get(e->store, HM_AUX_DECISIONS, verdict_id, json, len);
}

int hm_engine_ref_thumb(hm_engine_t *e, const char *ext_id, void **jpg, size_t *len)
{
    if (!e)
        return hm__seterr(HM_E_INVAL, "hm_engine_ref_thumb: NULL engine");
    return hm_store_aux_get(e->store, HM_AUX_REFTHUMBS, ext_id, jpg, len);
}

int hm_engine_log_compact(hm_engine_t *e, uint64_t keep_n, int64_t keep_seconds, size_t max,
                          uint64_t *removed)
{
    if (!e)
        return hm__seterr(HM_E_INVAL, "hm_engine_log_compact: NULL engine");
    if (e->opts.readonly)
        return hm__seterr(HM_E_READONLY, "database opened read-only");
    pthread_mutex_lock(&e->write);
    int rc = hm_store_log_compact(e->store, keep_n, keep_seconds, max, removed);
    pthread_mutex_unlock(&e->write);
    return rc;
}
