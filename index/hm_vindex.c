/* hm_vindex.c - descriptor search through FAISS' C API, behind a rwlock. */
#include "hm_vindex.h"

/* FAISS' C headers declare f() without (void). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#include <faiss/c_api/AutoTune_c.h>
#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/error_c.h>
#include <faiss/c_api/impl/AuxIndexStructures_c.h>
#include <faiss/c_api/index_factory_c.h>
#include <faiss/c_api/index_io_c.h>
#pragma GCC diagnostic pop
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hm_error.h"
#include "hm_log.h"

struct hm_vindex {
    FaissIndex *index;
    hm_vindex_opts_t opts;
    char factory[128];
    size_t built_n;          /* vectors it was built for (0 when loaded) */
    pthread_rwlock_t lock;
};

static int s_faiss_err(const char *what)
{
    const char *m = faiss_get_last_error();
    return hm__seterr(HM_E_INDEX, "FAISS %s: %s", what, m ? m : "unknown error");
}

static void s_defaults(hm_vindex_opts_t *o, const hm_vindex_opts_t *in)
{
    memset(o, 0, sizeof *o);
    if (in)
        *o = *in;
    if (o->pca_dim <= 0) o->pca_dim = 128;
    if (!o->pca_min_refs) o->pca_min_refs = 1000;
    if (!o->ivf_min_refs) o->ivf_min_refs = 50000;
    if (o->nprobe <= 0) o->nprobe = 16;
}

static void s_choose(hm_vindex_t *v, size_t n)
{
    if (v->opts.factory) {
        snprintf(v->factory, sizeof v->factory, "%s", v->opts.factory);
    } else if (n < v->opts.pca_min_refs || v->opts.pca_dim >= v->opts.dim) {
        snprintf(v->factory, sizeof v->factory, "IDMap2,Flat");
    } else if (n < v->opts.ivf_min_refs) {
        snprintf(v->factory, sizeof v->factory, "IDMap2,PCAW%d,L2norm,Flat", v->opts.pca_dim);
    } else {
        int lists = (int)(4 * sqrt((double)n));
        snprintf(v->factory, sizeof v->factory, "IDMap2,PCAW%d,L2norm,IVF%d,Flat",
                 v->opts.pca_dim, lists);
    }
}

static int s_set_nprobe(hm_vindex_t *v)
{
    if (!strstr(v->factory, "IVF"))
        return 0;
    FaissParameterSpace *ps = NULL;
    if (faiss_ParameterSpace_new(&ps))
        return s_faiss_err("parameter space");
    int rc = faiss_ParameterSpace_set_index_parameter(ps, v->index, "nprobe", v->opts.nprobe);
    faiss_ParameterSpace_free(ps);
    return rc ? s_faiss_err("nprobe") : 0;
}

int hm_vindex_build(hm_vindex_t **out, const hm_vindex_opts_t *opts, const float *x,
                    const int64_t *ids, size_t n)
{
    if (!out || !opts || opts->dim <= 0 || (n && (!x || !ids)))
        return hm__seterr(HM_E_INVAL, "hm_vindex_build: bad arguments");
    hm_vindex_t *v = calloc(1, sizeof *v);
    if (!v)
        return hm__seterr(HM_E_NOMEM, "vector index");
    s_defaults(&v->opts, opts);
    pthread_rwlock_init(&v->lock, NULL);
    s_choose(v, n);
    int rc = 0;
    if (faiss_index_factory(&v->index, v->opts.dim, v->factory, METRIC_INNER_PRODUCT)) {
        rc = s_faiss_err("index_factory");
        goto leave;
    }
    if (!faiss_Index_is_trained(v->index)) {
        if (faiss_Index_train(v->index, (idx_t)n, x)) {
            rc = s_faiss_err("train");
            goto leave;
        }
    }
    if ((rc = s_set_nprobe(v)))
        goto leave;
    if (n && faiss_Index_add_with_ids(v->index, (idx_t)n, x, (const idx_t *)ids)) {
        rc = s_faiss_err("add");
        goto leave;
    }
    hm_log_info("vindex_built", "type=\"%s\" n=%zu", v->factory, n);
    v->built_n = n;
    *out = v;
    return 0;
leave:
    hm_vindex_free(&v);
    return rc;
}

void hm_vindex_free(hm_vindex_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    hm_vindex_t *v = *self_p;
    if (v->index)
        faiss_Index_free(v->index);
    pthread_rwlock_destroy(&v->lock);
    free(v);
    *self_p = NULL;
}

int hm_vindex_outgrown(hm_vindex_t *v)
{
    if (!v || v->opts.factory)
        return 0;
    hm_vindex_t probe = { .opts = v->opts };
    pthread_rwlock_rdlock(&v->lock);
    size_t n = (size_t)faiss_Index_ntotal(v->index);
    s_choose(&probe, n);
    int out = n >= 4 * v->built_n + 64 && strcmp(probe.factory, v->factory) != 0;
    pthread_rwlock_unlock(&v->lock);
    return out;
}

int hm_vindex_rebuild(hm_vindex_t *v, const float *x, const int64_t *ids, size_t n)
{
    if (!v)
        return hm__seterr(HM_E_INVAL, "hm_vindex_rebuild: NULL");
    hm_vindex_t *fresh;
    int rc = hm_vindex_build(&fresh, &v->opts, x, ids, n);
    if (rc)
        return rc;
    /* swap the insides: searches wait only for the pointer exchange */
    pthread_rwlock_wrlock(&v->lock);
    FaissIndex *old = v->index;
    v->index = fresh->index;
    v->built_n = fresh->built_n;
    memcpy(v->factory, fresh->factory, sizeof v->factory);
    pthread_rwlock_unlock(&v->lock);
    fresh->index = old;
    hm_vindex_free(&fresh);
    return 0;
}

int hm_vindex_add(hm_vindex_t *v, const float *x, int64_t id)
{
    idx_t i = (idx_t)id;
    pthread_rwlock_wrlock(&v->lock);
    int rc = faiss_Index_add_with_ids(v->index, 1, x, &i);
    pthread_rwlock_unlock(&v->lock);
    return rc ? s_faiss_err("add") : 0;
}

int hm_vindex_remove(hm_vindex_t *v, int64_t id)
{
    FaissIDSelectorBatch *sel = NULL;
    idx_t i = (idx_t)id;
    if (faiss_IDSelectorBatch_new(&sel, 1, &i))
        return s_faiss_err("selector");
    size_t removed = 0;
    pthread_rwlock_wrlock(&v->lock);
    int rc = faiss_Index_remove_ids(v->index, (FaissIDSelector *)sel, &removed);
    pthread_rwlock_unlock(&v->lock);
    faiss_IDSelector_free((FaissIDSelector *)sel);
    if (rc)
        return s_faiss_err("remove");
    return removed ? 0 : hm__seterr(HM_E_NOTFOUND, "vector %lld not in index", (long long)id);
}

/* The OpenMP runtime FAISS is built with (libgomp); declared here rather
 * than through <omp.h>, which clang (the fuzzing build) does not ship. */
extern void omp_set_num_threads(int n);

int hm_vindex_search(hm_vindex_t *v, const float *q, int k, float *sims, int64_t *ids,
                     int *found)
{
    if (k <= 0)
        return hm__seterr(HM_E_INVAL, "k must be positive");
    /* One query is too little work to share: FAISS's OpenMP team for it
     * spun on the other core (18% of bench_e2e's CPU at 100k references
     * was libgomp waiting) while hallmark's own threads wanted it.  Each
     * searching thread runs FAISS on itself alone (the setting is the
     * OpenMP runtime's own per-thread state; setting it is a store). */
    omp_set_num_threads(1);
    idx_t *labels = (idx_t *)ids;
    pthread_rwlock_rdlock(&v->lock);
    int rc = faiss_Index_search(v->index, 1, q, k, sims, labels);
    pthread_rwlock_unlock(&v->lock);
    if (rc)
        return s_faiss_err("search");
    int n = 0;
    for (int i = 0; i < k; i++)
        if (labels[i] >= 0)
            n = i + 1;
    *found = n;
    return 0;
}

size_t hm_vindex_count(hm_vindex_t *v)
{
    pthread_rwlock_rdlock(&v->lock);
    size_t n = (size_t)faiss_Index_ntotal(v->index);
    pthread_rwlock_unlock(&v->lock);
    return n;
}

const char *hm_vindex_describe(const hm_vindex_t *v)
{
    return v->factory;
}

int hm_vindex_save(hm_vindex_t *v, const char *path)
{
    /* Write to a temporary name and rename, so a crash never leaves a
     * half-written snapshot under the real name. */
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    pthread_rwlock_rdlock(&v->lock);
    int rc = faiss_write_index_fname(v->index, tmp);
    pthread_rwlock_unlock(&v->lock);
    if (rc) {
        remove(tmp);
        return s_faiss_err("write");
    }
    FILE *f = fopen(tmp, "rb+");
    if (f) {
        fflush(f);
        fsync(fileno(f));
        fclose(f);
    }
    /* The factory string beside it (FAISS' file does not say): written
     * first, so a snapshot never has another snapshot's type. */
    char tpath[4200];
    snprintf(tpath, sizeof tpath, "%s.type", path);
    FILE *tf = fopen(tpath, "w");
    if (tf) {
        pthread_rwlock_rdlock(&v->lock);
        fprintf(tf, "%s\n", v->factory);
        pthread_rwlock_unlock(&v->lock);
        if (fclose(tf) != 0)
            remove(tpath);
    }
    if (rename(tmp, path) != 0)
        return hm__seterr(HM_E_IO, "rename %s: failed", tmp);
    return 0;
}

int hm_vindex_load(hm_vindex_t **out, const hm_vindex_opts_t *opts, const char *path)
{
    if (!out || !opts || !path)
        return hm__seterr(HM_E_INVAL, "hm_vindex_load: bad arguments");
    hm_vindex_t *v = calloc(1, sizeof *v);
    if (!v)
        return hm__seterr(HM_E_NOMEM, "vector index");
    s_defaults(&v->opts, opts);
    pthread_rwlock_init(&v->lock, NULL);
    int rc = 0;
    if (faiss_read_index_fname(path, 0, &v->index)) {
        const char *m = faiss_get_last_error();
        rc = hm__seterr(HM_E_CORRUPT, "snapshot %s unreadable: %s", path, m ? m : "?");
        goto leave;
    }
    if (faiss_Index_d(v->index) != v->opts.dim) {
        rc = hm__seterr(HM_E_CORRUPT, "snapshot %s has dimension %d, want %d", path,
                        faiss_Index_d(v->index), v->opts.dim);
        goto leave;
    }
    /* The file does not say which factory made it: try nprobe, which only
     * IVF indexes take. */
    snprintf(v->factory, sizeof v->factory, "IVF(loaded)");
    if (s_set_nprobe(v) != 0)
        snprintf(v->factory, sizeof v->factory, "loaded");
    /* ...unless the sidecar written with it names it (one line, a factory
     * string; anything else is ignored and the index counts as of unknown
     * type, which hm_vindex_outgrown() reports as due for a rebuild). */
    char tpath[4200], line[128];
    snprintf(tpath, sizeof tpath, "%s.type", path);
    FILE *tf = fopen(tpath, "r");
    if (tf) {
        if (fgets(line, sizeof line, tf) && strncmp(line, "IDMap2,", 7) == 0) {
            line[strcspn(line, "\r\n")] = '\0';
            snprintf(v->factory, sizeof v->factory, "%s", line);
        }
        fclose(tf);
    }
    *out = v;
    return 0;
leave:
    hm_vindex_free(&v);
    return rc;
}
