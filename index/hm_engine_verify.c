/*
 * hm_engine_verify.c - does the in-memory search state agree with the store?
 *
 * The store is the source of truth and the indexes are derived from it, so a
 * disagreement is a bug (or memory corruption), and a cheap, complete check
 * is the way to catch one in the field: `hallmark verify`.  Checks:
 *   1. every reference record's fingerprint blob deserialises;
 *   2. its PDQ (and its trimmed box's, when it has one) is in the PDQ index
 *      at distance 0 under its id; pHash and dHash likewise, for references
 *      with images (hash-only imports carry PDQ alone);
 *   3. each hash index's live entry count equals the number the store
 *      implies, so no entry is left over from a removed reference;
 *   4. the descriptor index holds exactly one vector per reference with an
 *      image, and each one is found by searching with the reference's own
 *      descriptor.  With the counts equal, every vector id then names a
 *      stored reference (the index does not expose its ids directly).
 * Writers are held off for the duration (the engine's write lock), so the
 * check sees one state; scoring goes on meanwhile.
 */
#include "hm_engine_int.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hm_error.h"

#define MAX_REPORTED 100
#define HIT_CAP 256
#define VEC_K 8

typedef struct {
    hm_engine_t *e;
    json_t *problems;
    size_t n_problems;
    uint64_t refs, pdq_only, unreadable;
    uint64_t pdq_expected, hash_expected, vec_expected;
    hm_hindex_hit_t hits[HIT_CAP];
} verify_t;

static void s_problem(verify_t *v, const char *check, const hm_ref_t *ref, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void s_problem(verify_t *v, const char *check, const hm_ref_t *ref, const char *fmt, ...)
{
    v->n_problems++;
    if (json_array_size(v->problems) >= MAX_REPORTED)
        return;
    char detail[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    json_t *p = json_pack("{s:s,s:s}", "check", check, "detail", detail);
    if (!p)
        return;
    if (ref) {
        json_object_set_new(p, "id", json_integer((json_int_t)ref->id));
        json_t *x = json_string(ref->ext_id ? ref->ext_id : "");
        json_object_set_new(p, "ext_id", x ? x : json_null());
    }
    json_array_append_new(v->problems, p);
}

/* 1 when hid is among the codes at distance 0 from code in ix. */
static int s_has(verify_t *v, const hm_hindex_t *ix, const uint64_t *code, uint64_t hid)
{
    size_t found = 0;
    if (hm_hindex_range(ix, code, 0, v->hits, HIT_CAP, &found) != 0)
        return 0;
    for (size_t i = 0; i < found && i < HIT_CAP; i++)
        if (v->hits[i].id == hid)
            return 1;
    return 0;
}

static void s_check_view(verify_t *v, const hm_ref_t *ref, const hm_hashset_t *hs, int trimmed,
                         int pdq_only)
{
    const char *view = trimmed ? "trimmed" : "whole";
    uint64_t hid = HM__HID(ref->id, trimmed);
    v->pdq_expected++;
    if (!s_has(v, v->e->pdq, hs->pdq[HM_DIH_ORIGINAL].w, hid))
        s_problem(v, "pdq_missing", ref, "%s image's PDQ not in the index at distance 0", view);
    if (pdq_only)
        return;
    v->hash_expected++;
    if (!s_has(v, v->e->phash, &hs->phash, hid))
        s_problem(v, "phash_missing", ref, "%s image's pHash not in the index at distance 0", view);
    if (!s_has(v, v->e->dhash, &hs->dhash, hid))
        s_problem(v, "dhash_missing", ref, "%s image's dHash not in the index at distance 0", view);
}

static int s_ref(const hm_ref_t *ref, void *arg)
{
    verify_t *v = arg;
    v->refs++;
    hm_fp_t fp;
    if (hm_record_fp(ref->fp, ref->fp_len, &fp) != 0) {
        v->unreadable++;
        s_problem(v, "fingerprint_unreadable", ref, "%s", hm_last_error());
        return 0;
    }
    int pdq_only = (ref->flags & HM_REF_PDQ_ONLY) != 0;
    v->pdq_only += (uint64_t)pdq_only;
    s_check_view(v, ref, &fp.full, 0, pdq_only);
    if (fp.has_trim)
        s_check_view(v, ref, &fp.trim, 1, pdq_only);
    if (pdq_only || !v->e->vindex)
        return 0;
    v->vec_expected++;
    float sims[VEC_K];
    int64_t ids[VEC_K];
    int found = 0;
    if (hm_vindex_search(v->e->vindex, fp.desc, VEC_K, sims, ids, &found) != 0) {
        s_problem(v, "vector_search_failed", ref, "%s", hm_last_error());
        return 0;
    }
    for (int i = 0; i < found; i++)
        if (ids[i] == (int64_t)ref->id)
            return 0;
    s_problem(v, "vector_missing", ref, "own descriptor not found among the %d nearest", VEC_K);
    return 0;
}

static void s_count(verify_t *v, json_t *counts, const char *name, const hm_hindex_t *ix,
                    uint64_t expected)
{
    hm_hindex_stats_t st;
    hm_hindex_stats(ix, &st);
    char k[64];
    snprintf(k, sizeof k, "%s_live", name);
    json_object_set_new(counts, k, json_integer((json_int_t)st.n_live));
    snprintf(k, sizeof k, "%s_expected", name);
    json_object_set_new(counts, k, json_integer((json_int_t)expected));
    if (st.n_live != expected)
        s_problem(v, "count_mismatch", NULL, "%s index has %zu live entries, the store implies %" PRIu64,
                  name, st.n_live, expected);
}

int hm_engine_verify(hm_engine_t *e, char **report_json)
{
    if (!e || !report_json)
        return hm__seterr(HM_E_INVAL, "hm_engine_verify: NULL argument");
    *report_json = NULL;
    verify_t *v = calloc(1, sizeof *v);
    json_t *o = NULL, *counts = NULL;
    int rc = 0;
    if (!v || !(v->problems = json_array())) {
        rc = hm__seterr(HM_E_NOMEM, "verify");
        goto leave;
    }
    v->e = e;
    pthread_mutex_lock(&e->write);
    rc = hm_store_foreach_ref(e->store, s_ref, v);
    if (rc == 0) {
        counts = json_object();
        s_count(v, counts, "pdq", e->pdq, v->pdq_expected);
        s_count(v, counts, "phash", e->phash, v->hash_expected);
        s_count(v, counts, "dhash", e->dhash, v->hash_expected);
        size_t nvec = e->vindex ? hm_vindex_count(e->vindex) : 0;
        json_object_set_new(counts, "vectors", json_integer((json_int_t)nvec));
        json_object_set_new(counts, "vectors_expected", json_integer((json_int_t)v->vec_expected));
        if (nvec != v->vec_expected)
            s_problem(v, "count_mismatch", NULL,
                      "descriptor index has %zu vectors, the store implies %" PRIu64, nvec,
                      v->vec_expected);
    }
    pthread_mutex_unlock(&e->write);
    if (rc)
        goto leave;
    hm_store_stats_t st;
    if ((rc = hm_store_stats(e->store, &st)))
        goto leave;
    if (st.refs != v->refs)
        s_problem(v, "count_mismatch", NULL, "store counts %" PRIu64 " references, %" PRIu64
                  " records were read", st.refs, v->refs);
    o = json_pack("{s:b,s:I,s:I,s:I,s:I,s:O,s:o}", "ok", v->n_problems == 0, "refs",
                  (json_int_t)v->refs, "pdq_only", (json_int_t)v->pdq_only, "unreadable",
                  (json_int_t)v->unreadable, "problem_count", (json_int_t)v->n_problems,
                  "problems", v->problems, "index", counts);
    counts = NULL;
    if (!o || !(*report_json = json_dumps(o, JSON_COMPACT)))
        rc = hm__seterr(HM_E_NOMEM, "verify report");
leave:
    json_decref(counts);
    json_decref(o);
    if (v)
        json_decref(v->problems);
    free(v);
    return rc;
}

int hm_engine_test_drift(hm_engine_t *e, uint64_t id, const char *signal)
{
    hm_hindex_t *ix = NULL;
    if (e && signal)
        ix = !strcmp(signal, "pdq") ? e->pdq : !strcmp(signal, "phash") ? e->phash
           : !strcmp(signal, "dhash") ? e->dhash : NULL;
    if (!ix)
        return hm__seterr(HM_E_INVAL, "hm_engine_test_drift: no engine or unknown signal");
    pthread_mutex_lock(&e->write);
    int rc = hm_hindex_remove(ix, HM__HID(id, 0));
    pthread_mutex_unlock(&e->write);
    return rc;
}
