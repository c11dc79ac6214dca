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

/* The search-structure change of one applied record (rec is known to
 * decode; the change borrows from rec and *fp). */
static int s_change_of(const void *rec, size_t len, hm_fp_t *fp, hm__change_t *c)
{
    hm_store_change_t ch;
    hm_ref_t ref;
    hm_allow_t allow;
    int has_ref = 0, has_allow = 0;
    int rc = hm_store_repl_decode(rec, len, &ch, &ref, &has_ref, &allow, &has_allow);
    if (rc)
        return rc;
    *c = (hm__change_t){ .op = HM__CH_RELABEL, .id = ch.id };
    if (ch.op == HM_OP_ADD && has_ref) {
        if ((rc = hm_record_fp(ref.fp, ref.fp_len, fp)))
            return rc;
        c->op = HM__CH_ADD;
        c->fp = fp;
        c->pdq_only = (ref.flags & HM_REF_PDQ_ONLY) != 0;
        /* The local features shipped after the fingerprint, as on the primary. */
        hm_record_lf_blob(ref.fp, ref.fp_len, &c->lf_blob, &c->lf_len);
    } else if (ch.op == HM_OP_REMOVE) {
        c->op = HM__CH_REMOVE;
    } else if (ch.op == HM_OP_ALLOW && has_allow && allow.has_pdq) {
        c->op = HM__CH_ALLOW;
        /* the allow record's PDQ is a copy: keep it with the fingerprint */
        fp->full.pdq[HM_DIH_ORIGINAL] = allow.pdq;
        c->allow_pdq = &fp->full.pdq[HM_DIH_ORIGINAL];
    }
    return 0;
}

/* The committed records (done[i]) into the search structures. */
static int s_index_changes(hm_engine_t *e, const void *const *recs, const size_t *lens, size_t n,
                           const char *done)
{
    hm_fp_t *fps = calloc(n ? n : 1, sizeof *fps);
    hm__change_t *ch = calloc(n ? n : 1, sizeof *ch);
    int rc = fps && ch ? 0 : hm__seterr(HM_E_NOMEM, "replica index");
    size_t k = 0;
    for (size_t i = 0; !rc && i < n; i++)
        if (done[i] && s_change_of(recs[i], lens[i], &fps[k], &ch[k]) == 0)
            k++;
        else if (done[i])
            rc = HM_E_INDEX;
    int lf_rc = 0;
    if (!rc)
        rc = hm__engine_apply(e, ch, k, &lf_rc);
    if (!rc)
        rc = lf_rc;
    free(ch);
    free(fps);
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
    if (s_index_changes(e, recs, lens, n, done) != 0) {
        /* Committed but not indexed: a restart rebuilds from the store. */
        hm_log_error("replica_index_failed", "reason=\"%s\"", hm_last_error());
        rc = HM_E_INDEX;
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
