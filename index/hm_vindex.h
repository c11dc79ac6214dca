/*
 * hm_vindex.h - nearest-neighbour search over global descriptors (FAISS).
 *
 * Descriptors are L2-normalised, so inner product is cosine similarity.  The
 * index type follows the bank's size unless a FAISS factory string is given:
 *   fewer than opts.pca_min_refs (default 1000)   IDMap2,Flat
 *   up to opts.ivf_min_refs (default 50000)       IDMap2,PCAW128,L2norm,Flat
 *   more                                          IDMap2,PCAW128,L2norm,IVF<4 sqrt n>,Flat (nprobe 16)
 * A bank that grows past a boundary is rebuilt as the larger type
 * (hm_vindex_outgrown(), hm_vindex_rebuild(); the engine does it after adds
 * and at open): a bank grown by adds from empty to 100k references stayed
 * a flat 304-d index, 5 ms a query (bench_e2e).
 * PCA whitening is trained on the references themselves when there are
 * enough of them; whitened vectors are re-normalised so similarity stays a
 * cosine.  Every type supports removal (IDMap2 over Flat or IVF), so adds,
 * removes and relabels are incremental.
 *
 * Thread safety: searches may run concurrently; add, remove, build and save
 * take a write lock (pthread rwlock) so they never overlap a search.
 */
#ifndef HM_VINDEX_H
#define HM_VINDEX_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hm_vindex hm_vindex_t;

typedef struct hm_vindex_opts {
    int dim;                 /* vector dimension (HM_DESC_DIM) */
    const char *factory;     /* NULL: chosen by size (see above) */
    int pca_dim;             /* default 128 */
    size_t pca_min_refs;     /* default 1000 */
    size_t ivf_min_refs;     /* default 50000 */
    int nprobe;              /* default 16 */
} hm_vindex_opts_t;

/*
 * hm_vindex_build - a new index over n vectors (n may be 0) with their ids;
 * trains PCA / IVF on them when the chosen type needs it.
 * @return 0, HM_E_INVAL, HM_E_NOMEM, HM_E_INDEX (FAISS' message kept).
 */
int hm_vindex_build(hm_vindex_t **out, const hm_vindex_opts_t *opts, const float *x,
                    const int64_t *ids, size_t n);
/* NULL-safe; sets *self_p = NULL. */
void hm_vindex_free(hm_vindex_t **self_p);

/*
 * hm_vindex_outgrown - 1 when the type chosen by size (above) for the
 * vectors it now holds is not the type in use and it holds at least 4 times
 * (+64) the vectors it was built for (a loaded snapshot: any count); 0
 * otherwise, and always with opts.factory set.
 */
int hm_vindex_outgrown(hm_vindex_t *v);
/*
 * hm_vindex_rebuild - build the type chosen for n vectors over them (the
 * caller passes every vector, e.g. from the store) and swap it in; searches
 * go on with the old index meanwhile and wait only for the swap.
 * @return 0, or hm_vindex_build()'s errors (then the old index stays).
 */
int hm_vindex_rebuild(hm_vindex_t *v, const float *x, const int64_t *ids, size_t n);

/* @return 0, HM_E_INDEX. */
int hm_vindex_add(hm_vindex_t *v, const float *x, int64_t id);
/* @return 0, HM_E_NOTFOUND (no such id), HM_E_INDEX. */
int hm_vindex_remove(hm_vindex_t *v, int64_t id);

/*
 * hm_vindex_search - the k most similar vectors to q.
 * @param[out] sims, ids  k entries each; *found is how many are valid.
 * @return 0, HM_E_INDEX.
 */
int hm_vindex_search(hm_vindex_t *v, const float *q, int k, float *sims, int64_t *ids,
                     int *found);

size_t hm_vindex_count(hm_vindex_t *v);
/* The FAISS factory string in use (static storage of the index). */
const char *hm_vindex_describe(const hm_vindex_t *v);

/* Save to / load from a file (FAISS' own format, plus PATH.type naming the
 * factory).  Load returns HM_E_CORRUPT for a file FAISS cannot read or of
 * the wrong dimension. */
int hm_vindex_save(hm_vindex_t *v, const char *path);
int hm_vindex_load(hm_vindex_t **out, const hm_vindex_opts_t *opts, const char *path);

#ifdef __cplusplus
}
#endif
#endif
