/*
 * hm_lfindex.h - an inverted file over 256-bit local-feature descriptors
 * (bag of visual words, Sivic & Zisserman) that returns, for a query's
 * descriptors, the references with the most descriptor matches and those
 * matches as putative correspondences for hm_geom_fit().
 *
 * Vocabulary.  A two-level tree of binary centroids: k1 top words, each
 * split into k2 leaf words (default 1024 x 64 = 65,536 words), trained by
 * k-majority (Grana et al.: Lloyd iterations where a centroid is the
 * bitwise majority of its members) on a sample of reference descriptors
 * (hm_lfindex_train(); leaves of clusters with fewer members than k2 stay
 * partly empty).  A descriptor's word is its nearest top centroid, then its
 * nearest leaf under it: k1 + k2 = 1,088 Hamming distances, computed by the
 * hamming256_argmin8 kernel on the centroids stored in blocks of eight
 * (eight distances from four loads, no per-code folding, no separate
 * arg-min pass).  Measured in bench_lf (200 real + up to 99,800 synthetic
 * references): 256 x 128 words with 2 probes gave recall 0.905 at zero
 * false positives and 54 ms of search per query at 100k; 1024 x 64 with 1
 * probe gave 0.897 and 14.5 ms, hence the vocabulary.  With the block
 * kernels the quantiser stopped dominating, and the benchmark's fused
 * verdict (bench_accuracy, 12,000 queries) gained with 2 probes: small
 * rotations 0.868 -> 0.950, crops 0.917 -> 0.930, overall 0.968 -> 0.976.
 * Since the engine re-fits the closest failed candidate exhaustively
 * (index/hm_engine_local.c), the inverted file only
 * has to rank the right reference near the top, and 1 probe does as well:
 * bench_accuracy identical (fused 0.992, decision recall 0.992) and at 100k
 * references (bench_e2e, 1,000 queries) recall 0.994 against 0.995 with 2
 * probes (400 queries), for 11.6 instead of 15.6 ms per image, hence
 * probes = 1.  Stop words at 4x the mean list instead of 8x (768 query
 * keypoints): 9.3 ms per image but recall 0.988 at 100k; with today's 512:
 * 7.97 against 9.07 ms, recall 0.990 against 0.994 (1,000 queries).  Not
 * the default; hallmarkd's lf-stop-factor (hm_engine_opts_t) sets it.
 *
 * Lists.  Each word holds the descriptors quantised to it as two parallel
 * arrays: the 32-byte codes (so a query scans them with hamming256_many,
 * contiguous, no pointer chasing) and (reference slot, keypoint) pairs.
 * 38 bytes per reference keypoint in the lists plus 8 for its position,
 * size and angle: ~11.8 KB per reference with 256 keypoints, measured 16.2
 * KB at 10k and 100k references (lists grow by doubling; the slack is the
 * rest); ~17.7 KB (x 1.5) with the 384 that references keep by default.
 * Use fewer keypoints per reference for very large banks (the cost is
 * linear in them: hm_lf_ref_set_keypoints(), `--lf-keypoints`).
 *
 * Why not FAISS IndexBinaryIVF (bench/hm_faiss_binary.h): the payload
 * here is (reference, keypoint), removal must be cheap and reads must run
 * beside a writer; FAISS's IVF would need the payload packed into its ids
 * and removes by scanning every list.  Not measured against it.

 * Query.  Each query descriptor (of the feature set and, optionally, of its
 * mirror set) is quantised and its opts.probes nearest leaves under its top
 * word are scanned (the hamming256_within kernel returns only the entries
 * within opts.max_dist, compressed); list entries within max_dist bits vote for their
 * reference (one vote per query descriptor and reference, a separate tally
 * for the mirror set).  The opts.max_cand references with the most votes (at
 * least opts.min_votes) come back with their correspondences, made one-to-
 * one (for each query keypoint its closest reference keypoint; each
 * reference keypoint kept once, for its closest query keypoint).
 *
 * Stop words (Sivic & Zisserman): lists longer than stop_factor times the
 * mean list length are skipped.  Textureless patches crowd a few words;
 * their matches carry little evidence and their scans dominated the cost.
 *
 * Add and remove are incremental: an add quantises the descriptors and
 * appends to the lists; a remove marks the reference dead (queries skip it
 * at once) and hm_lfindex_compact() gives the space back.
 *
 * Cost (bench_lf, queries of 768 keypoints + their mirror set, 256 per
 * reference; 2 cores, shared; measured with 2 probes, 1 costs about 0.6x
 * of it at 100k): with the block arg-min quantiser and 2
 * probes, 1.1 ms per query at 200 references (was 8-9 ms with 1 probe and
 * the plain quantiser), 3.75 ms at 10k, 15.2 ms at 100k.  At 100k the list
 * scans dominate and are memory-bound: ~3,000 lists per query, crowded
 * words (longest 11.2k entries against a mean of 390), 32 bytes read per
 * entry.  NOT the "few ms at 100k" target.  Queries now have 512
 * keypoints (hm_lf_ref.h) and 1 probe: ~1M list entries (32 MB) scanned
 * per query at 100k (bench_e2e, instrumented once).  The entries of a
 * probed word are mostly 72-100 bits from the query descriptor (median
 * ~84; 6.5% within max_dist 64), so a 128-bit prefix pre-filter prunes
 * little without losing matches: a prefix bound of 40 keeps 99.8% of the
 * matches but passes 45% of the entries, 36 passes 24% and loses 2.7%.
 * The levers left: a larger vocabulary trained on a real large bank
 * (shorter lists) and stop words at 4x (see above).

 * Concurrency: many readers, one writer.  Queries take the read side of a
 * rwlock, add / remove / compact the write side (an add holds it for the
 * ~20 microseconds of appending 256 entries).  Each querying thread needs
 * its own hm_lfindex_scratch_t.
 */
#ifndef HM_LFINDEX_H
#define HM_LFINDEX_H

#include <stddef.h>
#include <stdint.h>

#include "hm_geom.h"
#include "hm_lf.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hm_lfindex hm_lfindex_t;
typedef struct hm_lfindex_scratch hm_lfindex_scratch_t;

typedef struct hm_lfindex_opts {
    int k1;                   /* top-level words; default 1024 (2..1024) */
    int k2;                   /* leaves per top word; default 64 (1..1024) */
    int train_iters;          /* k-majority iterations per level; default 8 */
    uint64_t seed;            /* training seed; default 0x6c66696478 */
} hm_lfindex_opts_t;

extern const hm_lfindex_opts_t hm_lfindex_opts_default;

typedef struct hm_lfindex_qopts {
    int probes;               /* leaves scanned per query descriptor (1..4); default 1 */
    int max_dist;             /* largest Hamming distance of a match; default 64 */
    int min_votes;            /* candidates need this many votes; default 6 */
    int max_cand;             /* candidates returned (1..64); default 8 */
    float stop_factor;        /* stop words: lists longer than this x the mean list
                                 (and than 256) are not scanned; 0 = off; default 8 */
} hm_lfindex_qopts_t;

extern const hm_lfindex_qopts_t hm_lfindex_qopts_default;

/* One voted reference with its putative correspondences. */
typedef struct hm_lfindex_cand {
    uint64_t id;              /* the id given to hm_lfindex_add() */
    int votes;                /* query descriptors that matched it */
    int mirrored;             /* 1: the votes came from the mirror set */
    hm_geom_frame_t frame;    /* the reference's frame (thumb NULL) */
    const hm_geom_corr_t *corr; /* ncorr entries; borrowed from the scratch,
                                   valid until its next query */
    int ncorr;
} hm_lfindex_cand_t;

typedef struct hm_lfindex_stats {
    size_t n_live;            /* references queries can return */
    size_t n_dead;            /* removed, entries not yet compacted */
    size_t entries;           /* list entries (live and dead) */
    size_t bytes;             /* memory held (lists, references, vocabulary) */
    double bytes_per_ref;     /* bytes / n_live */
    int words;                /* k1 x k2 */
    size_t max_list;          /* longest list */
    double stop_share;        /* share of entries in lists longer than 8 x the mean */
    int trained;              /* 1 after hm_lfindex_train() */
} hm_lfindex_stats_t;

/*
 * hm_lfindex_create - an empty, untrained index.
 * @param[in] opts  NULL for hm_lfindex_opts_default; copied.
 * @return 0, HM_E_INVAL (options out of range), HM_E_NOMEM.
 */
int hm_lfindex_create(hm_lfindex_t **out, const hm_lfindex_opts_t *opts);
/* NULL-safe; sets *self_p = NULL.  No other call may be running. */
void hm_lfindex_destroy(hm_lfindex_t **self_p);

/*
 * hm_lfindex_train - learn the vocabulary from n descriptors (4 words each;
 * borrowed for the call).  Only on an empty index.  Deterministic for a
 * given seed and input.
 * @return 0, HM_E_INVAL (NULL, n < k1, references already added),
 *         HM_E_NOMEM.
 */
int hm_lfindex_train(hm_lfindex_t *ix, const uint64_t *desc, size_t n);

/*
 * hm_lfindex_add - index one reference's features (copied).
 * @return 0, HM_E_INVAL (NULL, untrained, f->mirrored), HM_E_EXISTS (id is
 *         live), HM_E_TOO_LARGE (2^32 - 2 references), HM_E_NOMEM.
 * Thread safety: serialised with other writers; waits for running queries.
 */
int hm_lfindex_add(hm_lfindex_t *ix, uint64_t id, const hm_lf_feat_t *f);

/* hm_lfindex_remove - forget a reference.  @return 0, HM_E_NOTFOUND. */
int hm_lfindex_remove(hm_lfindex_t *ix, uint64_t id);

/* hm_lfindex_compact - drop removed references' entries.  @return 0, HM_E_NOMEM. */
int hm_lfindex_compact(hm_lfindex_t *ix);

void hm_lfindex_stats(hm_lfindex_t *ix, hm_lfindex_stats_t *st);

/* Per-thread query scratch.  @return 0, HM_E_NOMEM. */
int hm_lfindex_scratch_create(hm_lfindex_scratch_t **out);
void hm_lfindex_scratch_destroy(hm_lfindex_scratch_t **self_p);

/*
 * hm_lfindex_query - the references the query's descriptors vote for.
 * @param[in]  q       the query's features; mirror: its mirror set or NULL.
 * @param[in]  qo      NULL for hm_lfindex_qopts_default.
 * @param[out] cand    room for qo.max_cand; *ncand = filled, most votes first
 *                     (ties: lower id first).
 * @return 0 (an untrained or empty index gives *ncand = 0), HM_E_INVAL
 *         (NULL), HM_E_NOMEM (growing the scratch).
 * Thread safety: any number of concurrent queries, one scratch each.
 */
int hm_lfindex_query(hm_lfindex_t *ix, hm_lfindex_scratch_t *sc, const hm_lf_feat_t *q,
                     const hm_lf_feat_t *mirror, const hm_lfindex_qopts_t *qo,
                     hm_lfindex_cand_t *cand, int *ncand);

#ifdef __cplusplus
}
#endif
#endif
