/*
 * hm_engine_apply.c - the one path by which a change reaches the in-memory
 * search structures (hash indexes, descriptor index, local-feature index,
 * allow-list index): adds, removes, allow-list entries and relabels, from a
 * control call, from replication, from the start-up scan and from the
 * descriptor snapshot's replay.  The store has already committed every
 * change handed in (it is the source of truth); this only brings the
 * indexes in step.  Callers hold the engine's write mutex, except the
 * start-up scan, which runs before the engine is shared.
 */
#include "hm_engine_int.h"

#include <stdlib.h>

#include "hm_error.h"
#include "hm_log.h"

/* A reference's hashes: whole image under 2 id, trimmed box under 2 id + 1. */
static int s_index_hashes(hm_engine_t *e, uint64_t id, const hm_fp_t *fp, int pdq_only)
{
    int rc;
    if ((rc = hm_hindex_add(e->pdq, HM__HID(id, 0), fp->full.pdq[HM_DIH_ORIGINAL].w)))
        return rc;
    if (fp->has_trim &&
        (rc = hm_hindex_add(e->pdq, HM__HID(id, 1), fp->trim.pdq[HM_DIH_ORIGINAL].w)))
        return rc;
    if (pdq_only)
        return 0;
    if ((rc = hm_hindex_add(e->phash, HM__HID(id, 0), &fp->full.phash)) ||
        (rc = hm_hindex_add(e->dhash, HM__HID(id, 0), &fp->full.dhash)))
        return rc;
    if (fp->has_trim && ((rc = hm_hindex_add(e->phash, HM__HID(id, 1), &fp->trim.phash)) ||
                         (rc = hm_hindex_add(e->dhash, HM__HID(id, 1), &fp->trim.dhash))))
        return rc;
    return 0;
}

/* Take a reference out of every structure (missing entries are not an error). */
static void s_unindex(hm_engine_t *e, uint64_t id)
{
    for (int t = 0; t < 2; t++) {
        hm_hindex_remove(e->pdq, HM__HID(id, t));
        hm_hindex_remove(e->phash, HM__HID(id, t));
        hm_hindex_remove(e->dhash, HM__HID(id, t));
    }
    if (e->vindex)
        hm_vindex_remove(e->vindex, (int64_t)id);
    pthread_rwlock_rdlock(&e->lf_lock);
    if (e->lf && hm_lfindex_remove(e->lf, id) == 0 && e->lf_refs)
        e->lf_refs--;
    pthread_rwlock_unlock(&e->lf_lock);
}

/* One change to the structures `only` names (0: all but the local-feature
 * index, which hm__engine_lf_added() takes for the whole batch). */
static int s_apply_one(hm_engine_t *e, const hm__change_t *c)
{
    int rc = 0;
    switch (c->op) {
    case HM__CH_ADD:
        if (c->only == HM__IX_VINDEX) {
            /* the snapshot replay: idempotent, an entry already there is replaced */
            if (c->pdq_only)
                return 0;
            hm_vindex_remove(e->vindex, (int64_t)c->id);
            return hm_vindex_add(e->vindex, c->fp->desc, (int64_t)c->id);
        }
        rc = s_index_hashes(e, c->id, c->fp, c->pdq_only);
        if (!rc && !c->pdq_only && c->only != HM__IX_HASH)
            rc = hm_vindex_add(e->vindex, c->fp->desc, (int64_t)c->id);
        return rc;
    case HM__CH_REMOVE:
        if (c->only == HM__IX_VINDEX)
            hm_vindex_remove(e->vindex, (int64_t)c->id);
        else
            s_unindex(e, c->id);
        return 0;
    case HM__CH_ALLOW:
        return c->allow_pdq ? hm_hindex_add(e->allow_pdq, ++e->allow_next, c->allow_pdq->w) : 0;
    case HM__CH_RELABEL:
        return 0; /* the indexes hold no bank: scoring reads it from the store */
    default:
        return hm__seterr(HM_E_INVAL, "hm__engine_apply: unknown change %d", c->op);
    }
}

int hm__engine_apply(hm_engine_t *e, const hm__change_t *ch, size_t n, int *lf_rc)
{
    int rc = 0, lrc = 0;
    if (n && ch[0].only == 0)
        lrc = hm__engine_lf_added(e, ch, n);
    if (lf_rc)
        *lf_rc = lrc;
    for (size_t i = 0; i < n; i++) {
        int irc = s_apply_one(e, &ch[i]);
        if (irc && ch[i].only == 0) {
            /* Committed but not indexed: the next start rebuilds from the store. */
            hm_log_error("index_add_failed", "id=%llu reason=\"%s\"", (unsigned long long)ch[i].id,
                         hm_last_error());
        }
        if (irc)
            rc = irc;
    }
    return rc;
}
