/*
 * hm_engine_lf.c - the engine's local-feature index: where the vocabulary
 * comes from, and keeping it in step with the store.
 *
 * The vocabulary (hm_lfindex.h) is trained on the bank's own descriptors: at
 * open from a sample of the stored references (up to 50,000 descriptors,
 * spread evenly over them), or on the first batch added to an empty bank.  A
 * vocabulary trained on a small bank fits a large one badly, so when the
 * bank has grown fourfold since the last training the index is rebuilt from
 * the store (under the engine's write mutex; searches go on with the old
 * index until the new one is swapped in).
 */
#include <stdlib.h>
#include <string.h>

#include "hm_engine_int.h"
#include "hm_error.h"
#include "hm_log.h"

#define TRAIN_MAX 50000

typedef struct {
    hm_lf_feat_t f;
    uint64_t *sample;
    size_t n_sample, cap, seen_refs, per_ref;
    hm_lfindex_t *ix;
    size_t added;
    int rc;
} build_t;

static int s_count(const hm_ref_t *ref, void *arg)
{
    build_t *b = arg;
    const uint8_t *lf;
    size_t n;
    hm_record_lf_blob(ref->fp, ref->fp_len, &lf, &n);
    b->seen_refs += lf != NULL;
    return 0;
}

static int s_sample(const hm_ref_t *ref, void *arg)
{
    build_t *b = arg;
    if (hm_record_lf(ref->fp, ref->fp_len, &b->f) != 0 || b->f.n == 0)
        return 0;
    /* per_ref descriptors spread over this reference's set, whatever its size */
    uint32_t stride = b->f.n > b->per_ref ? (uint32_t)(b->f.n / b->per_ref) : 1;
    for (uint32_t k = 0, took = 0; k < b->f.n && took < b->per_ref && b->n_sample < b->cap;
         k += stride, took++)
        memcpy(b->sample + 4 * b->n_sample++, b->f.desc + 4 * (size_t)k, 32);
    return 0;
}

static int s_fill(const hm_ref_t *ref, void *arg)
{
    build_t *b = arg;
    if (hm_record_lf(ref->fp, ref->fp_len, &b->f) != 0 || b->f.n == 0)
        return 0;
    int rc = hm_lfindex_add(b->ix, ref->id, &b->f);
    if (rc && rc != HM_E_EXISTS)
        return rc;
    b->added++;
    return 0;
}

/* Swap in a new index; the old one is destroyed once no search holds it. */
static void s_swap(hm_engine_t *e, hm_lfindex_t *nix, size_t trained, size_t refs)
{
    pthread_rwlock_wrlock(&e->lf_lock);
    hm_lfindex_t *old = e->lf;
    e->lf = nix;
    e->lf_trained_refs = trained;
    e->lf_refs = refs;
    pthread_rwlock_unlock(&e->lf_lock);
    hm_lfindex_destroy(&old);
}

int hm__engine_lf_build(hm_engine_t *e)
{
    if (e->opts.no_local_features)
        return 0;
    build_t b = { 0 };
    int rc = hm_lf_feat_init(&b.f, HM_LF_MAX_KP);
    if (rc)
        return rc;
    if ((rc = hm_store_foreach_ref(e->store, s_count, &b)))
        goto leave;
    if (b.seen_refs == 0)
        goto leave; /* nothing to train on yet: the first add will */
    /* The same share of descriptors from every reference. */
    b.per_ref = TRAIN_MAX / b.seen_refs;
    if (b.per_ref < 1)
        b.per_ref = 1;
    b.cap = TRAIN_MAX;
    b.sample = malloc((size_t)TRAIN_MAX * 32);
    if (!b.sample) {
        rc = hm__seterr(HM_E_NOMEM, "local-feature training sample");
        goto leave;
    }
    if ((rc = hm_store_foreach_ref(e->store, s_sample, &b)))
        goto leave;
    if ((rc = hm_lfindex_create(&b.ix, NULL)))
        goto leave;
    if (b.n_sample < (size_t)hm_lfindex_opts_default.k1) {
        hm_log_info("lf_untrained", "descriptors=%zu reason=too_few", b.n_sample);
        goto leave;
    }
    if ((rc = hm_lfindex_train(b.ix, b.sample, b.n_sample)) ||
        (rc = hm_store_foreach_ref(e->store, s_fill, &b)))
        goto leave;
    hm_log_info("lf_index_built", "refs=%zu trained_on=%zu", b.added, b.n_sample);
    s_swap(e, b.ix, b.added, b.added);
    b.ix = NULL;
leave:
    hm_lfindex_destroy(&b.ix);
    free(b.sample);
    hm_lf_feat_free(&b.f);
    return rc;
}

int hm__engine_lf_added(hm_engine_t *e, const hm__change_t *items, size_t n)
{
    if (e->opts.no_local_features)
        return 0;
    size_t with = 0;
    for (size_t i = 0; i < n; i++)
        with += items[i].op == HM__CH_ADD && items[i].lf_blob && items[i].lf_len;
    if (!with)
        return 0;
    /* No vocabulary yet, or the bank outgrew it: rebuild from the store
     * (the batch is committed, so it is part of what the store holds). */
    if (!e->lf || (!e->opts.lf_keep_vocabulary &&
                   e->lf_refs + with >= 4 * (e->lf_trained_refs ? e->lf_trained_refs : 1) + 64))
        return hm__engine_lf_build(e);
    hm_lf_feat_t f = { 0 };
    int rc = hm_lf_feat_init(&f, HM_LF_MAX_KP);
    for (size_t i = 0; !rc && i < n; i++) {
        if (items[i].op != HM__CH_ADD || !items[i].lf_blob || !items[i].lf_len)
            continue;
        if ((rc = hm_lf_deserialize(items[i].lf_blob, items[i].lf_len, &f)))
            break;
        if (f.n == 0)
            continue;
        pthread_rwlock_rdlock(&e->lf_lock);
        rc = hm_lfindex_add(e->lf, items[i].id, &f);
        pthread_rwlock_unlock(&e->lf_lock);
        if (!rc)
            e->lf_refs++;
        else if (rc == HM_E_EXISTS)
            rc = 0; /* a rebuild just before already indexed it */
    }
    hm_lf_feat_free(&f);
    return rc;
}
