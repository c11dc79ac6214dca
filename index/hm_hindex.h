/*
 * hm_hindex.h - an exact Hamming-space index for binary hashes (multi-index
 * hashing, Norouzi, Punjani & Fleet, "Fast Search in Hamming Space with
 * Multi-Index Hashing", CVPR 2012).
 *
 * What it is.  Each code (256-bit PDQ, or 64-bit pHash / dHash) is cut into m
 * disjoint substrings of 8 to 22 bits (16 x 16 for PDQ up to 4M references,
 * 12 x 21/22 beyond); substring j of every code is a key into table j.  Two codes within distance r differ, by the pigeonhole
 * principle, in at most floor(r / m) bits of at least one substring - more
 * precisely, with r = m q + a, in at most q bits of one of the first a + 1
 * substrings or at most q - 1 bits of one of the others.  A search probes, in
 * each table, every bucket within that radius of the query's substring and
 * verifies each candidate's full distance with the dispatched popcount
 * kernels (hm_kernels()->hamming256_many / hamming64_many).  Results are
 * therefore exact: range search returns every live code within r, k-nearest
 * returns true nearest neighbours.  The same design serves 64-bit codes
 * (m = 4 substrings of 16 bits, or 3 of 21/22 from 4M references).
 *
 * Layout (why 10M PDQ references fit in ~1.9 GB).  Codes live in 2 MB
 * segments of 65536 rows (on transparent huge pages when the kernel allows,
 * because verification is a stream of random loads), ids and tombstone bytes
 * in side segments: 41 bytes a row for PDQ.  Each table is direct-addressed
 * (2^b buckets, an 8-byte head each, mmap'd so that untouched heads cost
 * nothing); a bucket is a chain of blocks of uint32 row numbers from a
 * shared pool of chunks - no per-bucket malloc.  Blocks hold 31 rows (128
 * bytes) for keys under 20 bits, 7 rows (32 bytes) for wider keys, whose
 * buckets hold few rows each.  An id -> row map (open addressing, uint32
 * slots) serves remove().  Measured (hm_hindex_stats(), bench_search):
 * 16 x 16 bits: 216 bytes per reference at 1M (13 MB fixed, plus a partly
 * filled block per bucket); 12 x 21/22 bits: 197 bytes per reference at
 * 10M (384 MB of heads, so not worth it below ~4M).  An empty PDQ index
 * with 16-bit keys holds ~24 MB (heads, directories, first segment/chunk).
 *
 * Cost of a search at r = 31: with 16 x 16 bits, 16 x 17 buckets are probed
 * and about n / 241 random codes verified; with 12 x 21/22 bits, ~1,950
 * buckets and about n / 1,100 codes.  Either way the search is bounded by
 * memory latency, so bucket heads, chains and codes are prefetched in
 * groups to overlap their cache misses.

 * Concurrency: many readers, one writer, readers never wait for adds.
 * Memory never moves under a reader: segments and block chunks are reached
 * through fixed directories, and a new row is written completely before the
 * bucket counts that make it reachable are published (release store; readers
 * load counts with acquire).  So an add is visible to every search that
 * starts after hm_hindex_add() returns, with no rebuild.  Writers (add,
 * remove, compact) are serialised by an internal mutex.  Only compaction -
 * which builds a new, dense copy without the removed rows, while readers go
 * on using the old one - takes the write side of a rwlock, for the moment it
 * takes to swap one pointer; searches hold the read side (a search takes the
 * read side once, so the writer preference cannot deadlock it).  Adds and
 * removes wait while a compaction runs.
 *
 * Removal sets a tombstone (searches skip it at once); the space is given
 * back by compaction, which runs by itself when more than a quarter of the
 * rows are dead, or on request.
 */
#ifndef HM_HINDEX_H
#define HM_HINDEX_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hm_hindex hm_hindex_t;

#define HM_HINDEX_MAX_RADIUS 64 /* largest r for range and k-nearest */
#define HM_HINDEX_MAX_K 64      /* largest k for k-nearest */
#define HM_HINDEX_MAX_QUERIES 8 /* queries per batch (the 8 dihedral variants) */

typedef struct hm_hindex_opts {
    unsigned code_bits;  /* 256 (PDQ) or 64 (pHash, dHash); 0 means 256 */
    unsigned nsub;       /* substrings m, of code_bits/m (+1) bits each, which
                            must lie in 8..22; 0 = chosen from expected_n */
    size_t expected_n;   /* expected references, used by nsub = 0 (0 = 1M) */
} hm_hindex_opts_t;

/* One search result. */
typedef struct hm_hindex_hit {
    uint64_t id;         /* the id given to hm_hindex_add() */
    uint32_t dist;       /* Hamming distance to the (best) query */
    uint32_t variant;    /* index of the best query in a batch; 0 otherwise */
} hm_hindex_hit_t;

typedef struct hm_hindex_stats {
    size_t n_live;       /* references that searches can return */
    size_t n_rows;       /* rows in use, dead ones included */
    size_t n_dead;       /* removed, waiting for compaction */
    size_t bytes;        /* memory held by the index (allocated sizes) */
    double bytes_per_ref;/* bytes / n_live (0 when empty) */
    unsigned code_bits, nsub, sub_bits; /* sub_bits: the narrowest substring */
    uint64_t compactions;/* compactions run so far */
} hm_hindex_stats_t;

/*
 * hm_hindex_create - a new, empty index.
 * @param[out] out   the index; the caller destroys it with hm_hindex_destroy().
 * @param[in]  opts  NULL for PDQ defaults (256 bits, 16 x 16-bit substrings).
 *                   nsub = 0 picks 8-bit substrings below 4096 expected
 *                   references, 16-bit ones below 4M, and 21/22-bit ones
 *                   (12 tables for PDQ, 3 for 64-bit codes) from 4M on,
 *                   after Norouzi et al.'s log2(n)-bit rule.
 * @return 0, HM_E_INVAL (code_bits not 64/256, substrings outside 8..22
 *         bits), HM_E_NOMEM.
 */
int hm_hindex_create(hm_hindex_t **out, const hm_hindex_opts_t *opts);

/* NULL-safe; sets *self_p = NULL.  No search or add may be running. */
void hm_hindex_destroy(hm_hindex_t **self_p);

/*
 * hm_hindex_add - append one code with its id; searches that start after
 * the call returns see it.
 * @param[in] code  code_bits / 64 words (an hm_pdq_t's w[], or one uint64_t);
 *                  copied.
 * @return 0, HM_E_INVAL (NULL), HM_E_EXISTS (id is already live),
 *         HM_E_TOO_LARGE (2^32 - 1 rows), HM_E_NOMEM.
 * Thread safety: callable with concurrent searches; writers are serialised.
 */
int hm_hindex_add(hm_hindex_t *ix, uint64_t id, const uint64_t *code);

/*
 * hm_hindex_remove - remove the live code with this id (tombstone).  May run a
 * compaction (O(n)) when more than a quarter of the rows are dead.
 * @return 0, HM_E_NOTFOUND, HM_E_NOMEM (compaction failed; the removal
 *         itself is done).
 */
int hm_hindex_remove(hm_hindex_t *ix, uint64_t id);

/*
 * hm_hindex_compact - rebuild densely without removed rows.  Searches go on
 * against the old copy meanwhile and wait only for the final pointer swap.
 * Needs memory for a second copy of the index.
 * @return 0, HM_E_NOMEM (the index is unchanged).
 */
int hm_hindex_compact(hm_hindex_t *ix);

/*
 * hm_hindex_range - every live code within distance r of q (inclusive).
 * @param[in]  q        code_bits / 64 words.
 * @param[in]  r        0 .. HM_HINDEX_MAX_RADIUS.
 * @param[out] hits     up to cap hits, the closest first (ties by id).
 * @param[in]  cap      capacity of hits (may be 0 to count only).
 * @param[out] n_found  the number of codes within r, which may exceed cap.
 * @return 0, HM_E_INVAL, HM_E_NOMEM.
 * Thread safety: any number of concurrent searches, with one writer.
 */
int hm_hindex_range(const hm_hindex_t *ix, const uint64_t *q, unsigned r,
                    hm_hindex_hit_t *hits, size_t cap, size_t *n_found);

/*
 * hm_hindex_range_multi - range search for nq queries at once (typically the
 * 8 dihedral variants of an image's PDQ, hm_hashset_t.pdq[]): each code
 * within r of any query is returned once, with its smallest distance and the
 * index of the query that gave it (lowest index on ties).
 * @param[in] qs  nq * code_bits / 64 words, query after query.
 * @param[in] nq  1 .. HM_HINDEX_MAX_QUERIES.
 * Other parameters and return values as hm_hindex_range().
 */
int hm_hindex_range_multi(const hm_hindex_t *ix, const uint64_t *qs, unsigned nq,
                          unsigned r, hm_hindex_hit_t *hits, size_t cap,
                          size_t *n_found);

/*
 * hm_hindex_knn - the k live codes nearest to q, among those within max_r.
 * Exact: radii grow one bit at a time and stop once k hits are certain.
 * @param[in]  k      1 .. HM_HINDEX_MAX_K.
 * @param[in]  max_r  0 .. HM_HINDEX_MAX_RADIUS.
 * @param[out] hits   at least k entries; the nearest first (ties by id).
 * @param[out] n_out  how many were found (< k when fewer lie within max_r).
 * @return 0, HM_E_INVAL, HM_E_NOMEM.
 */
int hm_hindex_knn(const hm_hindex_t *ix, const uint64_t *q, unsigned k,
                  unsigned max_r, hm_hindex_hit_t *hits, size_t *n_out);

/* Counters and memory; consistent while no writer runs. */
void hm_hindex_stats(const hm_hindex_t *ix, hm_hindex_stats_t *st);

#ifdef __cplusplus
}
#endif
#endif
