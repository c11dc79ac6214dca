/*
 * hm_engine.h - the matching engine: one database's banks, its search indexes
 * and the matcher, behind one handle.  hallmarkd and the hallmark CLI are thin
 * shells over this API; no matching logic lives anywhere else.
 *
 * A verdict answers "what is this listing image?":
 *   counterfeit  a counterfeit-bank reference matched;
 *   suspect      a genuine-bank reference of brand B matched and the listing's
 *                seller is not authorised for B (the brand's photo reused);
 *   genuine      a genuine-bank reference matched and the seller is authorised;
 *   unknown      nothing matched above the thresholds;
 *   error        the image could not be fingerprinted (error holds the code).
 * Allow-listed images (reviewer feedback "reject") never produce counterfeit
 * or suspect.
 *
 * Thread safety: hm_engine_score*() may run on many threads at once, each with
 * its own hm_fp_ctx_t.  The control calls (add, remove, relabel, authorize,
 * feedback, put_thumbs, decision_put, log_compact, repl_apply, snapshot,
 * verify) may run concurrently with scoring; they are serialised among
 * themselves by the engine's one write lock, and their effect is visible to
 * scoring as soon as they return (well within the 1 s the protocol
 * promises).  Scoring never waits for the write lock; it waits only while a
 * local-feature index rebuild swaps the index in (index/hm_engine_int.h
 * lists every lock and its order).  load_thresholds swaps the thresholds
 * atomically with respect to scoring.
 *
 * Ownership: every pointer argument is borrowed for the call unless its
 * comment says otherwise; out-parameters the caller free()s are named so.
 */
#ifndef HM_ENGINE_H
#define HM_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "hm_decision.h" /* verdicts, matches, queries, banks */
#include "hm_fp.h"
#include "hm_store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hm_ref_meta {
    const char *ext_id;         /* required, unique */
    int bank;                   /* HM_BANK_* */
    const char *brand;          /* required */
    const char *holder;         /* may be NULL */
    const char *source;         /* may be NULL (provenance text) */
} hm_ref_meta_t;

typedef struct hm_engine hm_engine_t;

typedef struct hm_engine_opts {
    int readonly;               /* open without the write lock */
    int strike_limit;           /* default 3 */
    int nosync;                 /* relaxed durability (opt-in) */
    int no_local_features;      /* 1: no local-feature signal (faster, blind to crops) */
    int lf_keep_vocabulary;     /* 1: train the local-feature vocabulary at open or on
                                   the first batch only, not again when the bank has
                                   grown fourfold (when later additions are not
                                   representative: bench_e2e's synthetic references) */
    int lf_stop_factor;         /* local-feature search skips inverted-file lists longer
                                   than this x the mean (stop words; 1..64); 0: the
                                   default 8; < 0: none.  Measured at 100k references
                                   (bench_e2e): 4 scores ~12% faster for ~0.4 point
                                   less recall (index/hm_lfindex.h) */
} hm_engine_opts_t;

/*
 * hm_engine_open - open (creating if needed) the database in dir and build or
 * load its search indexes.
 * @return 0, HM_E_INVAL (no dir, lf_stop_factor > 64), HM_E_STORE, HM_E_LOCKED, HM_E_VERSION, HM_E_INDEX,
 *         HM_E_NOMEM.
 */
int hm_engine_open(hm_engine_t **out, const char *dir, const hm_engine_opts_t *opts);
/* NULL-safe; sets *self_p = NULL. */
void hm_engine_close(hm_engine_t **self_p);

/*
 * hm_engine_score - fingerprint an image and decide.  Always fills v (an
 * undecodable image gives decision error with v->error set) and returns 0,
 * unless an argument is invalid (HM_E_INVAL) or the store fails (HM_E_STORE).
 */
int hm_engine_score(hm_engine_t *e, hm_fp_ctx_t *ctx, const void *img, size_t len,
                    const hm_query_t *q, hm_verdict_t *v);
/* The same for an already computed fingerprint. */
int hm_engine_score_fp(hm_engine_t *e, const hm_fp_t *fp, const hm_query_t *q,
                       hm_verdict_t *v);

/*
 * Control.  Every call below may also return the store's write errors
 * (HM_E_STORE, HM_E_BUSY, HM_E_NOMEM; HM_E_TOO_LARGE for a record over the
 * store's limits) and HM_E_READONLY (opened read-only); an error after the
 * store committed (an index could not follow: HM_E_NOMEM, HM_E_INDEX) leaves
 * the store right, and the next open rebuilds the indexes from it.  "Decode
 * errors" are hm_fp_compute()'s: HM_E_EMPTY, HM_E_TOO_LARGE, HM_E_TOO_SMALL,
 * HM_E_UNSUPPORTED, HM_E_CORRUPT, HM_E_DECODE, HM_E_NOMEM.
 *
 * hm_engine_add - fingerprint img (len bytes, borrowed) on ctx (the calling
 *   thread's), store it as a reference with its local features and a
 *   thumbnail (best effort), index it.  *id_out (may be NULL) = its id.
 *   @return 0, HM_E_INVAL (NULL e, ctx or meta; no ext_id or brand; bad
 *           bank), HM_E_EXISTS (same external id or same image bytes), a
 *           decode error.
 */
int hm_engine_add(hm_engine_t *e, hm_fp_ctx_t *ctx, const hm_ref_meta_t *meta,
                  const void *img, size_t len, uint64_t *id_out);
/*
 * hm_engine_ref_features - a reference image's local features, serialised,
 * for hm_engine_item_t.lf_blob (the backfill path computes them on its
 * workers).  The caller frees *blob.  @return 0 or a decode error.
 */
int hm_engine_ref_features(const void *img, size_t len, uint8_t **blob, size_t *blob_len);
/*
 * hm_engine_add_fp - add a reference from its fingerprint (fp borrowed;
 * sha256 may be NULL: no content hash).  pdq_only: PDQ alone is indexed (a
 * reference imported from a hash list).
 * @return 0, HM_E_INVAL (NULL meta or fp, as hm_engine_add), HM_E_EXISTS.
 */
int hm_engine_add_fp(hm_engine_t *e, const hm_ref_meta_t *meta, const hm_fp_t *fp,
                     const uint8_t sha256[32], int pdq_only, uint64_t *id_out);
/* Remove a reference by external id (store and every index).
 * @return 0, HM_E_INVAL (NULL argument), HM_E_NOTFOUND, HM_E_CORRUPT. */
int hm_engine_remove(hm_engine_t *e, const char *ext_id);

/* One reference of a batch add: filled by the caller (meta, fp, sha256,
 * pdq_only); rc and id are written back (rc: 0, HM_E_EXISTS with the
 * existing id, HM_E_INVAL). */
typedef struct hm_engine_item {
    hm_ref_meta_t meta;
    const hm_fp_t *fp;
    uint8_t sha256[32];         /* all zero for hash-only imports */
    int pdq_only;
    const uint8_t *lf_blob;     /* local features (hm_lf_serialize), or NULL */
    size_t lf_len;
    int rc;
    uint64_t id;
} hm_engine_item_t;
/*
 * hm_engine_add_many - add n references in one store transaction (one fsync):
 * the backfill path.  Per-item outcomes are in items[i].rc.
 * @return 0, or HM_E_STORE / HM_E_READONLY / HM_E_NOMEM when the batch as a
 *         whole failed (then nothing of it was stored).
 */
int hm_engine_add_many(hm_engine_t *e, hm_engine_item_t *items, size_t n);
/* Changes the bank; brand and holder may be NULL (unchanged) or must equal
 * the stored ones (HM_E_INVAL otherwise: remove and add to change them).
 * @return 0, HM_E_INVAL (NULL e or ext_id, bad bank, brand or holder
 *         differs), HM_E_NOTFOUND, HM_E_CORRUPT. */
int hm_engine_relabel(hm_engine_t *e, const char *ext_id, int bank, const char *brand,
                      const char *holder);
/* Authorise (on = 1) or de-authorise seller for brand.
 * @return 0, HM_E_INVAL (NULL or empty brand or seller, too long). */
int hm_engine_authorize(hm_engine_t *e, const char *brand, const char *seller, int on);
/* confirm = 1: the image joins the counterfeit bank (meta, may be NULL,
 * gives its id, brand, holder and provenance; note is appended);
 * confirm = 0: the image goes on the allow-list with note.
 * @return 0, HM_E_INVAL (NULL e or ctx, note too long), HM_E_EXISTS
 *         (confirm: already a reference), a decode error. */
int hm_engine_feedback(hm_engine_t *e, hm_fp_ctx_t *ctx, const void *img, size_t len,
                       int confirm, const hm_ref_meta_t *meta, const char *note);

/*
 * hm_engine_put_thumbs - store n reference thumbnails (small JPEGs, for the
 * review console) under their external ids, in one store transaction.
 * hm_engine_add and a confirming hm_engine_feedback store one themselves;
 * batch adders (hm_engine_add_many has no image bytes) call this after.
 * @return 0, HM_E_INVAL, HM_E_READONLY, or the store's write error.
 */
int hm_engine_put_thumbs(hm_engine_t *e, size_t n, const char *const *ext_ids,
                         const void *const *jpgs, const size_t *lens);

/*
 * Review-console records (not matching data: no search index sees them).
 * hm_engine_decision_put - record a reviewer's decision (JSON text, len
 *   bytes, borrowed) under the verdict's id; once only.
 *   @return 0, HM_E_EXISTS (already decided), HM_E_INVAL (NULL, empty or
 *           overlong id), HM_E_READONLY, HM_E_TOO_LARGE, HM_E_BUSY,
 *           HM_E_STORE, HM_E_NOMEM.  Serialised with the control calls.
 * hm_engine_decision_get - the decision recorded for verdict_id.
 * hm_engine_ref_thumb - the thumbnail kept for a reference (JPEG), by its
 *   external id (hm_engine_add, hm_engine_put_thumbs).
 *   @param[out] json, jpg  a malloc()ed copy, the caller free()s it; NULL on
 *               failure.
 *   @return 0, HM_E_NOTFOUND, HM_E_INVAL, HM_E_BUSY, HM_E_STORE, HM_E_NOMEM.
 *   Any thread, concurrently with everything.
 */
int hm_engine_decision_put(hm_engine_t *e, const char *verdict_id, const void *json, size_t len);
int hm_engine_decision_get(hm_engine_t *e, const char *verdict_id, void **json, size_t *len);
int hm_engine_ref_thumb(hm_engine_t *e, const char *ext_id, void **jpg, size_t *len);

/*
 * hm_engine_log_compact - trim the change log (hm_store_log_compact(): keep
 * the last keep_n entries and those younger than keep_seconds, delete at most
 * max).  A primary's replication calls it; the next open rebuilds the
 * descriptor index when its snapshot predates the log.
 * @return 0, HM_E_INVAL (NULL e), HM_E_READONLY, HM_E_BUSY, HM_E_STORE,
 *         HM_E_NOMEM.  Serialised with the control calls.
 */
int hm_engine_log_compact(hm_engine_t *e, uint64_t keep_n, int64_t keep_seconds, size_t max,
                          uint64_t *removed);

/*
 * hm_engine_store - the engine's store, for READS ONLY: export, look-ups,
 * the replication feed (sequence, log reads, database snapshots), tests.
 * Borrowed, valid until hm_engine_close().  Never write through it: every
 * write goes through the calls above, which keep the search indexes in step
 * and take the engine's write lock.  NULL when e is NULL.
 */
hm_store_t *hm_engine_store(hm_engine_t *e);

/*
 * hm_engine_verify - check that the store and the search indexes agree:
 * every stored reference's fingerprint deserialises and is found in the PDQ
 * index at distance 0 under its id (and its trimmed box, when it has one);
 * pHash/dHash entries likewise for references with images; the live entry
 * counts of the indexes equal what the store implies; every vector id in
 * the descriptor index names a stored reference with an image.
 * @param[out] report_json  a JSON object text {"ok":bool, "refs":N,
 *             "problems":[{"check","id","ext_id","detail"}...] (first 100),
 *             "problem_count":N, counts...}; the caller free()s it.
 * @return 0 when the check ran (whatever it found: see "ok"), HM_E_INVAL,
 *         HM_E_NOMEM, or the store's read error.
 */
int hm_engine_verify(hm_engine_t *e, char **report_json);
/*
 * hm_engine_test_drift - FOR TESTS of hm_engine_verify only: take reference
 * id's whole-image entry out of one in-memory hash index (signal "pdq",
 * "phash" or "dhash"), leaving the store as it is: the drift verify exists
 * to find.  Serialised with the control calls.
 * @return 0, HM_E_INVAL (NULL e, unknown signal), HM_E_NOTFOUND (no entry),
 *         HM_E_NOMEM (the index compaction after it failed; removed anyway).
 */
int hm_engine_test_drift(hm_engine_t *e, uint64_t id, const char *signal);

/* Statistics as a JSON object text; the caller frees *json with free(). */
int hm_engine_stats_json(hm_engine_t *e, char **json);
/* Write the search-index snapshots now.  @return 0, HM_E_IO, HM_E_INDEX. */
int hm_engine_snapshot(hm_engine_t *e);
/* Re-read thresholds from a JSON file (NULL: the built-in defaults). */
int hm_engine_load_thresholds(hm_engine_t *e, const char *path);

/*
 * hm_engine_repl_apply - a replica applies replication records
 * (hm_store_repl_read() on the primary) in order, in one store transaction,
 * then updates its search indexes.  Records already applied are skipped;
 * application stops at the first gap (seq > last + 1), which is not an
 * error: *last_seq tells the caller where it stands.
 * @param[out] last_seq  the store's sequence afterwards; may be NULL.
 * @return 0, HM_E_CORRUPT (a record clashes with local data: re-snapshot),
 *         HM_E_VERSION, HM_E_INDEX (stored but not indexed; a restart
 *         rebuilds), HM_E_STORE, HM_E_NOMEM, HM_E_INVAL.
 * Serialised with the other control calls.
 */
int hm_engine_repl_apply(hm_engine_t *e, const void *const *recs, const size_t *lens, size_t n,
                         uint64_t *last_seq);
/* Record a strike (a primary applying one forwarded by a replica); the
 * store's hm_store_add_strike() contract. */
int hm_engine_add_strike(hm_engine_t *e, const char *seller, const char *listing_id,
                         const char *image_id, uint64_t *count);

#ifdef __cplusplus
}
#endif
#endif
