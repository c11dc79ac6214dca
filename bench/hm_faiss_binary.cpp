/*
 * hm_faiss_binary.cpp - C wrappers for FAISS binary indexes (see the header).
 *
 * Every entry point runs its body through s_guard(), which turns an exception
 * into a hallmark code and keeps its text: C callers must never see a C++
 * exception cross the boundary.
 */
#include "hm_faiss_binary.h"

#include <faiss/IndexBinaryFlat.h>
#include <faiss/IndexBinaryHNSW.h>
#include <faiss/IndexBinaryHash.h>
#include <faiss/impl/AuxIndexStructures.h>
#include <faiss/impl/FaissException.h>

#include <cstdlib>
#include <cstring>
#include <exception>
#include <new>
#include <string>

#include "hm_error.h"

namespace {

thread_local std::string s_last_error;

int s_fail(int rc, const char *what)
{
    s_last_error = what;
    hm_error_set(rc, "faiss: %s", what);
    return rc;
}

template <typename F>
int s_guard(F &&body)
{
    try {
        s_last_error.clear();
        return body();
    } catch (const faiss::FaissException &e) {
        return s_fail(HM_E_INDEX, e.what());
    } catch (const std::bad_alloc &e) {
        return s_fail(HM_E_NOMEM, e.what());
    } catch (const std::exception &e) {
        return s_fail(HM_E_INTERNAL, e.what());
    } catch (...) {
        return s_fail(HM_E_INTERNAL, "unknown exception");
    }
}

faiss::IndexBinary *s_ix(FaissIndexBinary *p)
{
    return reinterpret_cast<faiss::IndexBinary *>(p);
}

const faiss::IndexBinary *s_ix(const FaissIndexBinary *p)
{
    return reinterpret_cast<const faiss::IndexBinary *>(p);
}

/* Construction is the same for every kind: validate, new, hand out. */
template <typename Make>
int s_new(FaissIndexBinary **out, int d, Make &&make)
{
    if (!out)
        return s_fail(HM_E_INVAL, "NULL out");
    *out = nullptr;
    if (d <= 0 || d % 8)
        return s_fail(HM_E_INVAL, "d must be a positive multiple of 8");
    return s_guard([&] {
        *out = reinterpret_cast<FaissIndexBinary *>(make());
        return 0;
    });
}

} // namespace

extern "C" {

int hm_faiss_binary_flat_new(FaissIndexBinary **out, int d)
{
    return s_new(out, d, [&] { return new faiss::IndexBinaryFlat(d); });
}

int hm_faiss_binary_multihash_new(FaissIndexBinary **out, int d, int nhash, int b)
{
    if (nhash <= 0 || b <= 0 || b > 64 || (long)nhash * b > d)
        return s_fail(HM_E_INVAL, "need nhash > 0, 0 < b <= 64, nhash * b <= d");
    return s_new(out, d, [&] { return new faiss::IndexBinaryMultiHash(d, nhash, b); });
}

int hm_faiss_binary_multihash_set_nflip(FaissIndexBinary *index, int nflip)
{
    auto *mh = dynamic_cast<faiss::IndexBinaryMultiHash *>(s_ix(index));
    if (!mh || nflip < 0)
        return s_fail(HM_E_INVAL, "not an IndexBinaryMultiHash, or nflip < 0");
    mh->nflip = nflip;
    return 0;
}

int hm_faiss_binary_hnsw_new(FaissIndexBinary **out, int d, int M)
{
    if (M <= 0)
        return s_fail(HM_E_INVAL, "M must be positive");
    return s_new(out, d, [&] { return new faiss::IndexBinaryHNSW(d, M); });
}

void hm_faiss_binary_free(FaissIndexBinary **index_p)
{
    if (!index_p || !*index_p)
        return;
    delete s_ix(*index_p);
    *index_p = nullptr;
}

int hm_faiss_binary_add(FaissIndexBinary *index, int64_t n, const uint8_t *codes)
{
    if (!index || n < 0 || (n && !codes))
        return s_fail(HM_E_INVAL, "NULL index or codes");
    return s_guard([&] {
        s_ix(index)->add(n, codes);
        return 0;
    });
}

int hm_faiss_binary_knn(const FaissIndexBinary *index, int64_t n, const uint8_t *queries,
                        int64_t k, int32_t *distances, int64_t *labels)
{
    if (!index || n < 0 || k <= 0 || (n && (!queries || !distances || !labels)))
        return s_fail(HM_E_INVAL, "NULL argument or k <= 0");
    return s_guard([&] {
        static_assert(sizeof(faiss::IndexBinary::idx_t) == sizeof(int64_t), "idx_t");
        s_ix(index)->search(n, queries, k, distances,
                            reinterpret_cast<faiss::IndexBinary::idx_t *>(labels));
        return 0;
    });
}

int hm_faiss_binary_range(const FaissIndexBinary *index, int64_t n, const uint8_t *queries,
                          int r, int64_t **lims, int64_t **labels, int32_t **dists)
{
    if (!index || n < 0 || r < 0 || (n && !queries) || !lims || !labels)
        return s_fail(HM_E_INVAL, "NULL argument or r < 0");
    *lims = nullptr;
    *labels = nullptr;
    if (dists)
        *dists = nullptr;
    return s_guard([&] {
        faiss::RangeSearchResult res(n);
        s_ix(index)->range_search(n, queries, r + 1, &res);
        size_t total = res.lims[n];
        int64_t *l = static_cast<int64_t *>(std::malloc((n + 1) * sizeof *l));
        int64_t *lab = static_cast<int64_t *>(std::malloc((total ? total : 1) * sizeof *lab));
        int32_t *d = dists ? static_cast<int32_t *>(std::malloc((total ? total : 1) * sizeof *d))
                           : nullptr;
        if (!l || !lab || (dists && !d)) {
            std::free(l);
            std::free(lab);
            std::free(d);
            throw std::bad_alloc();
        }
        for (int64_t i = 0; i <= n; i++)
            l[i] = (int64_t)res.lims[i];
        for (size_t i = 0; i < total; i++) {
            lab[i] = res.labels[i];
            if (d)
                d[i] = (int32_t)res.distances[i];
        }
        *lims = l;
        *labels = lab;
        if (dists)
            *dists = d;
        return 0;
    });
}

const char *hm_faiss_binary_last_error(void)
{
    return s_last_error.c_str();
}

} // extern "C"
