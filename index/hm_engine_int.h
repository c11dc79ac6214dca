/*
 * hm_engine_int.h - the engine's state, shared by hm_engine.c (open, indexes,
 * snapshots), hm_engine_score.c and hm_engine_ctl.c.  Not installed.
 */
#ifndef HM_ENGINE_INT_H
#define HM_ENGINE_INT_H

#include <pthread.h>

#include "hm_engine.h"
#include "hm_hindex.h"
#include "hm_lfindex.h"
#include "hm_matcher.h"
#include "hm_record.h"
#include "hm_store.h"
#include "hm_vindex.h"

/* Ids in the hash indexes: a reference's whole-image hashes under 2 id, its
 * trimmed content box's under 2 id + 1. */
#define HM__HID(ref, trimmed) (((uint64_t)(ref) << 1) | ((trimmed) ? 1u : 0u))
#define HM__HREF(hid) ((hid) >> 1)
#define HM__HTRIM(hid) ((int)((hid) & 1u))

struct hm_engine {
    char dir[4096];
    hm_engine_opts_t opts;
    hm_store_t *store;
    hm_hindex_t *pdq;        /* 256-bit PDQ of every reference (and its trim) */
    hm_hindex_t *phash;      /* 64-bit */
    hm_hindex_t *dhash;      /* 64-bit */
    hm_hindex_t *allow_pdq;  /* PDQ of allow-listed images (ids: a counter) */
    uint64_t allow_next;
    hm_vindex_t *vindex;     /* descriptors */
    hm_lfindex_t *lf;        /* local features (NULL: off, or not trained yet) */
    pthread_rwlock_t lf_lock;/* searches read; a rebuild swaps lf under write */
    size_t lf_trained_refs;  /* references the vocabulary was trained on */
    size_t lf_refs;          /* references with local features indexed */
    pthread_mutex_t write;   /* serialises control operations */
    pthread_rwlock_t thr_lock;
    hm_thresholds_t thr;
    char thr_path[4096];
};

/* Put one reference's signals into the in-memory indexes.  pdq_only: PDQ
 * only (a reference imported from a hash list). */
int hm__engine_index_ref(hm_engine_t *e, uint64_t id, const hm_fp_t *fp, int pdq_only);
/* Take them out again (missing entries are not an error). */
void hm__engine_unindex_ref(hm_engine_t *e, uint64_t id);
/* Build (train + fill) the local-feature index from the store; swaps it in.
 * Called at open and when the bank has grown 4x since the last training. */
int hm__engine_lf_build(hm_engine_t *e);
/* Index the local features of just-committed references (write mutex held);
 * trains the vocabulary first when there is none.  */
int hm__engine_lf_added(hm_engine_t *e, const hm_engine_item_t *items, size_t n);

/* One verified local-feature match (hm_engine_local.c). */
typedef struct {
    uint64_t id;
    hm_geom_result_t geom;
} hm__local_hit_t;
/*
 * hm__engine_local - the query's local features against the inverted file,
 * each voted reference fitted; its best verified model into hits (one per
 * reference).  The reference whose fit came closest to min_score without
 * reaching it gets a second, exhaustive fit with a pixel check
 * (hm_engine_local.c).
 * Errors (decode, memory) give 0 hits.
 * @return the number of hits (0..cap), or -1 when there is no local-feature
 *         index (not trained yet, or local features off): nothing ran.
 */
int hm__engine_local(hm_engine_t *e, hm_fp_ctx_t *ctx, const void *img, size_t len,
                     float min_score, hm__local_hit_t *hits, int cap);
/* After adds (under the write mutex): rebuild the descriptor index from the
 * store when the bank has outgrown its type (hm_vindex_outgrown()). */
int hm__engine_vindex_grow(hm_engine_t *e);
/* The current thresholds (a copy). */
hm_thresholds_t hm__engine_thresholds(hm_engine_t *e);

#endif
