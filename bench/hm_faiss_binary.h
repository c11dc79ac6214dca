/*
 * hm_faiss_binary.h - the binary-index constructors that FAISS 1.7.3's C API
 * lacks (it can read an IndexBinary from a file, search and free it, but not
 * build one), plus add / search / range search in the same style.  Used as
 * the baseline that hm_hindex is measured against, and by its tests.
 *
 * Style: the FAISS C API's.  Every function catches the C++ exception it may
 * throw; it returns 0 on success, or a hallmark code - HM_E_INDEX for a
 * faiss::FaissException, HM_E_NOMEM for std::bad_alloc, HM_E_INTERNAL for any
 * other exception, HM_E_INVAL for bad arguments - and records the exception's
 * text both in hm_faiss_binary_last_error() (this file's own last error, like
 * faiss_get_last_error()) and in hm_last_error().
 *
 * The handles are FAISS's own FaissIndexBinary, so they can also be given to
 * the C API's faiss_IndexBinary_* functions.
 *
 * Thread safety: searches on one index may run concurrently; adds may not run
 * with anything else on the same index.  FAISS parallelises with OpenMP
 * (OMP_NUM_THREADS).  The last error is per thread.
 */
#ifndef HM_FAISS_BINARY_H
#define HM_FAISS_BINARY_H

#include <stddef.h>
#include <stdint.h>

#include <faiss/c_api/IndexBinary_c.h>

#ifdef __cplusplus
extern "C" {
#endif

/* IndexBinaryFlat(d): exhaustive search; d in bits, a multiple of 8.
 * @param[out] out  the index; freed with hm_faiss_binary_free().
 * @return 0, HM_E_INVAL, HM_E_INDEX, HM_E_NOMEM. */
int hm_faiss_binary_flat_new(FaissIndexBinary **out, int d);

/* IndexBinaryMultiHash(d, nhash, b): nhash hash tables on consecutive b-bit
 * substrings.  With nflip flips probed (hm_faiss_binary_multihash_set_nflip),
 * and nhash * b = d, range search is exact up to distance
 * nhash * (nflip + 1) - 1.
 * @return 0, HM_E_INVAL, HM_E_INDEX, HM_E_NOMEM. */
int hm_faiss_binary_multihash_new(FaissIndexBinary **out, int d, int nhash, int b);

/* Set nflip on an IndexBinaryMultiHash.
 * @return 0, HM_E_INVAL (not a MultiHash index, or nflip < 0). */
int hm_faiss_binary_multihash_set_nflip(FaissIndexBinary *index, int nflip);

/* IndexBinaryHNSW(d, M): approximate graph search (k-NN only).
 * @return 0, HM_E_INVAL, HM_E_INDEX, HM_E_NOMEM. */
int hm_faiss_binary_hnsw_new(FaissIndexBinary **out, int d, int M);

/* NULL-safe; sets *index_p = NULL. */
void hm_faiss_binary_free(FaissIndexBinary **index_p);

/* Add n codes of d / 8 bytes each; their labels are the running count.
 * @return 0, HM_E_INVAL, HM_E_INDEX, HM_E_NOMEM. */
int hm_faiss_binary_add(FaissIndexBinary *index, int64_t n, const uint8_t *codes);

/* k nearest of each of n queries: distances and labels are n * k arrays
 * (label -1 and distance INT32_MAX pad missing results).
 * @return 0, HM_E_INVAL, HM_E_INDEX, HM_E_NOMEM. */
int hm_faiss_binary_knn(const FaissIndexBinary *index, int64_t n, const uint8_t *queries,
                        int64_t k, int32_t *distances, int64_t *labels);

/*
 * hm_faiss_binary_range - every code within distance r (inclusive; FAISS's
 * own radius is exclusive, so r + 1 is passed) of each of n queries.
 * @param[out] lims    n + 1 offsets: query i's results are [lims[i], lims[i+1]).
 * @param[out] labels  lims[n] labels.
 * @param[out] dists   lims[n] distances (may be NULL if not wanted).
 * All three are malloc'd; the caller free()s them.  Not sorted.
 * @return 0, HM_E_INVAL, HM_E_INDEX (e.g. an index without range search,
 *         such as HNSW), HM_E_NOMEM.
 */
int hm_faiss_binary_range(const FaissIndexBinary *index, int64_t n, const uint8_t *queries,
                          int r, int64_t **lims, int64_t **labels, int32_t **dists);

/* The text of the last failure of an hm_faiss_binary_* call on this thread
 * (empty when none).  Borrowed; valid until the next call on this thread. */
const char *hm_faiss_binary_last_error(void);

#ifdef __cplusplus
}
#endif
#endif
