/*
 * hm_engine_repl.c - the engine side of replication: apply replication
 * records from a primary (store and search indexes in step), forwarded
 * strikes, and the digest of the banks.
 *
 * A batch of records is one store transaction (one fsync), then the indexes
 * follow under the write mutex, exactly as a batch add does: scoring sees
 * a change at most for the length of the call before the indexes have it.
 */
#include "hm_engine_int.h"

#include <stdlib.h>
#include <string.h>

#include "hm_error.h"
#include "hm_log.h"

/* The indexes after one applied record (rec is known to decode). */
static int s_index_change(hm_engine_t *e, const void *rec, size_t len)
{
    hm_store_change_t ch;
    hm_ref_t ref;
    hm_allow_t allow;
    int has_ref = 0, has_allow = 0;
    int rc = hm_store_repl_decode(rec, len, &ch, &ref, &has_ref, &allow, &has_allow);
    if (rc)
        return rc;
    if (ch.op == HM_OP_ADD && has_ref) {
        hm_fp_t *fp = malloc(sizeof *fp);
        if (!fp)
            return hm__seterr(HM_E_NOMEM, "replica index");
        int pdq_only = (ref.flags & HM_REF_PDQ_ONLY) != 0;
        rc = hm_record_fp(ref.fp, ref.fp_len, fp);
        if (rc == 0)
            rc = hm__engine_index_ref(e, ch.id, fp, pdq_only);
        if (rc == 0 && !pdq_only)
            rc = hm_vindex_add(e->vindex, fp->desc, (int64_t)ch.id);
        free(fp);
        /* The local features shipped after the fingerprint, as on the primary. */
        hm_engine_item_t it = { .fp = NULL, .rc = 0, .id = ch.id };
        hm_record_lf_blob(ref.fp, ref.fp_len, &it.lf_blob, &it.lf_len);
        if (rc == 0 && it.lf_blob)
            rc = hm__engine_lf_added(e, &it, 1);
    } else if (ch.op == HM_OP_REMOVE) {
        hm__engine_unindex_ref(e, ch.id);
    } else if (ch.op == HM_OP_ALLOW && has_allow && allow.has_pdq) {
        rc = hm_hindex_add(e->allow_pdq, ++e->allow_next, allow.pdq.w);
    }
    return rc;
}

int hm_engine_repl_apply(hm_engine_t *e, const void *const *recs, const size_t *lens, size_t n,
                         uint64_t *last_seq)
{
    if (!e || (n && (!recs || !lens)))
        return hm__seterr(HM_E_INVAL, "hm_engine_repl_apply: NULL argument");
    pthread_mutex_lock(&e->write);
    char *done = calloc(n ? n : 1, 1);
    int rc = done ? hm_store_batch_begin(e->store) : hm__seterr(HM_E_NOMEM, "replica apply");
    if (rc)
        goto leave;
    for (size_t i = 0; i < n; i++) {
        int arc = hm_store_repl_apply(e->store, recs[i], lens[i]);
        if (arc == 0)
            done[i] = 1;
        else if (arc == HM_E_INVAL)
            break; /* a gap: the caller asks for the range */
        else if (arc != HM_E_EXISTS) {
            rc = arc;
            hm_store_batch_abort(e->store);
            goto leave;
        }
    }
    if ((rc = hm_store_batch_commit(e->store)))
        goto leave;
    for (size_t i = 0; i < n; i++) {
        if (done[i] && s_index_change(e, recs[i], lens[i]) != 0) {
            /* Committed but not indexed: a restart rebuilds from the store. */
            hm_log_error("replica_index_failed", "reason=\"%s\"", hm_last_error());
            rc = HM_E_INDEX;
        }
    }
    if (!rc && hm__engine_vindex_grow(e))
        hm_log_error("vindex_rebuild_failed", "reason=\"%s\"", hm_last_error());
leave:
    free(done);
    if (last_seq && hm_store_seq(e->store, last_seq) != 0)
        *last_seq = 0;
    pthread_mutex_unlock(&e->write);
    return rc;
}

int hm_engine_add_strike(hm_engine_t *e, const char *seller, const char *listing_id,
                         const char *image_id, uint64_t *count)
{
    if (!e)
        return hm__seterr(HM_E_INVAL, "hm_engine_add_strike: NULL");
    if (e->opts.readonly)
        return hm__seterr(HM_E_READONLY, "database opened read-only");
    return hm_store_add_strike(e->store, seller, listing_id, image_id, count);
}
