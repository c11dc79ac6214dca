/*
 * hm_engine_int.h - the engine's state, shared by its files.  Not installed.
 *   hm_engine.c        open (hash scan, descriptor snapshot + replay), close,
 *                      snapshots, thresholds, stats;
 *   hm_engine_apply.c  the one path of a committed change into the indexes;
 *   hm_engine_lf.c     the local-feature index's training and rebuilds;
 *   hm_engine_ctl.c    control calls (add, remove, relabel, authorise,
 *                      feedback, thumbnails, console decisions, compaction);
 *   hm_engine_repl.c   replication records;
 *   hm_engine_score.c, hm_engine_local.c   a query's candidates and verdict;
 *   hm_engine_verify.c the store-versus-index check.
 *
 * Locks, in nesting order (never take an earlier one while holding a later):
 *   write     mutex.  Guards every change: store writes made by the engine
 *             and every write to pdq, phash, dhash, allow_pdq, allow_next,
 *             vindex, lf_refs, lf_trained_refs.  Taken by the control calls,
 *             hm_engine_repl_apply, hm_engine_snapshot, hm_engine_verify,
 *             hm_engine_log_compact.  Scoring never takes it.
 *   lf_lock   rwlock.  Guards the lf pointer: a search holds it for reading
 *             for its whole local-feature step (hm__engine_local), adds and
 *             removes read-hold it around hm_lfindex_add/remove (the index
 *             serialises its own writers), a rebuild swaps lf under write
 *             (hm_engine_lf.c s_swap), then destroys the old index.
 *   the indexes' own locks (hm_vindex's rwlock, hm_lfindex's writer lock;
 *             hm_hindex readers take none), innermost.
 *   thr_lock  rwlock over thr; taken alone, for a copy (hm__engine_thresholds)
 *             or a swap (hm_engine_load_thresholds).
 * dir, opts and store are set at open and read-only afterwards.
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

/* One change for the search structures (hm_engine_apply.c). */
enum { HM__CH_ADD = 1, HM__CH_REMOVE, HM__CH_ALLOW, HM__CH_RELABEL };
enum { HM__IX_ALL = 0, HM__IX_HASH = 1, HM__IX_VINDEX = 2 };
typedef struct {
    int op;                   /* HM__CH_* */
    int only;                 /* HM__IX_ALL (control calls, replication); HM__IX_HASH
                                 (the start-up scan: descriptors and local features
                                 are built in bulk); HM__IX_VINDEX (the descriptor
                                 snapshot's replay: an ADD replaces the entry) */
    uint64_t id;              /* ADD, REMOVE, RELABEL: the reference */
    const hm_fp_t *fp;        /* ADD: its fingerprint; borrowed */
    int pdq_only;             /* ADD: PDQ only (a hash-list import) */
    const uint8_t *lf_blob;   /* ADD: serialised local features or NULL; borrowed */
    size_t lf_len;
    const hm_pdq_t *allow_pdq;/* ALLOW: the allow-listed image's PDQ (NULL: none) */
} hm__change_t;
/*
 * hm__engine_apply - bring the in-memory structures in step with n changes
 * the store has already committed, in order: the ADDs' local features first
 * (one training decision for the batch, hm__engine_lf_added), then each
 * change's hashes and descriptor.  Write mutex held (or the engine not yet
 * shared).  Does not run hm__engine_vindex_grow (the caller does, after).
 * @param[out] lf_rc  the local-feature part's result (may be NULL).
 * @return 0 or the last index error (each is logged; the store stays right
 *         and the next open rebuilds).
 */
int hm__engine_apply(hm_engine_t *e, const hm__change_t *ch, size_t n, int *lf_rc);
/* Build (train + fill) the local-feature index from the store; swaps it in.
 * Called at open and when the bank has grown 4x since the last training. */
int hm__engine_lf_build(hm_engine_t *e);
/* Index the local features of just-committed references (write mutex held);
 * trains the vocabulary first when there is none.  */
int hm__engine_lf_added(hm_engine_t *e, const hm__change_t *ch, size_t n);

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
