/*
 * hm_engine.c - open a database: the LMDB store is the source of truth; the
 * hash indexes are rebuilt from it at start (they are memory-only and fast to
 * build), the descriptor index is loaded from its newest valid snapshot
 * (vindex-<seq>.faiss, covering the change log up to seq) and brought up to
 * date by replaying the change log; a missing, corrupt or stale snapshot is
 * rebuilt from the store instead.
 */
#include "hm_engine_int.h"

#include <dirent.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hm_error.h"
#include "hm_log.h"

hm_thresholds_t hm__engine_thresholds(hm_engine_t *e)
{
    pthread_rwlock_rdlock(&e->thr_lock);
    hm_thresholds_t t = e->thr;
    pthread_rwlock_unlock(&e->thr_lock);
    return t;
}

/* Everything the start-up scan collects: descriptors for a vindex rebuild. */
typedef struct {
    hm_engine_t *e;
    float *x;
    int64_t *ids;
    size_t n, cap;
    size_t bad;
    int collect;
} scan_t;

/* Append one descriptor to the scan's arrays. */
static int s_push(scan_t *sc, int64_t id, const float *desc)
{
    if (sc->n == sc->cap) {
        size_t nc = sc->cap ? 2 * sc->cap : 1024;
        float *nx = realloc(sc->x, nc * HM_DESC_DIM * sizeof(float));
        if (!nx)
            return hm__seterr(HM_E_NOMEM, "descriptor scan");
        sc->x = nx;
        int64_t *ni = realloc(sc->ids, nc * sizeof(int64_t));
        if (!ni)
            return hm__seterr(HM_E_NOMEM, "descriptor scan");
        sc->ids = ni;
        sc->cap = nc;
    }
    memcpy(sc->x + sc->n * HM_DESC_DIM, desc, HM_DESC_DIM * sizeof(float));
    sc->ids[sc->n++] = id;
    return 0;
}

static int s_scan_ref(const hm_ref_t *ref, void *arg)
{
    scan_t *sc = arg;
    hm_fp_t fp;
    if (hm_record_fp(ref->fp, ref->fp_len, &fp) != 0) {
        sc->bad++;
        hm_log_warn("ref_unreadable", "id=%" PRIu64 " ext_id=\"%s\" reason=\"%s\"", ref->id,
                    ref->ext_id, hm_last_error());
        return 0;
    }
    int pdq_only = (ref->flags & HM_REF_PDQ_ONLY) != 0;
    hm__change_t ch = { .op = HM__CH_ADD, .only = HM__IX_HASH, .id = ref->id, .fp = &fp,
                        .pdq_only = pdq_only };
    int rc = hm__engine_apply(sc->e, &ch, 1, NULL);
    if (rc)
        return rc;
    if (sc->collect && !pdq_only)
        return s_push(sc, (int64_t)ref->id, fp.desc);
    return 0;
}

/* Descriptors only (no hash indexing), for a rebuild while running. */
static int s_collect_desc(const hm_ref_t *ref, void *arg)
{
    scan_t *sc = arg;
    hm_fp_t fp;
    if ((ref->flags & HM_REF_PDQ_ONLY) || hm_record_fp(ref->fp, ref->fp_len, &fp) != 0)
        return 0;
    return s_push(sc, (int64_t)ref->id, fp.desc);
}

int hm__engine_vindex_grow(hm_engine_t *e)
{
    if (!e->vindex || !hm_vindex_outgrown(e->vindex))
        return 0;
    scan_t sc = { .e = e, .collect = 1 };
    uint64_t t0 = (uint64_t)time(NULL);
    int rc = hm_store_foreach_ref(e->store, s_collect_desc, &sc);
    if (!rc) {
        hm_log_info("vindex_rebuild", "refs=%zu reason=growth was=\"%s\"", sc.n,
                    hm_vindex_describe(e->vindex));
        rc = hm_vindex_rebuild(e->vindex, sc.x, sc.ids, sc.n);
    }
    free(sc.x);
    free(sc.ids);
    if (!rc)
        hm_log_info("vindex_rebuilt", "type=\"%s\" seconds=%" PRIu64, hm_vindex_describe(e->vindex),
                    (uint64_t)time(NULL) - t0);
    return rc;
}

/* The newest "vindex-<seq>.faiss" in dir; 0 when there is none. */
static uint64_t s_newest_snapshot(const char *dir, char *path, size_t cap)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    uint64_t best = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        unsigned long long seq;
        char tail[16];
        if (sscanf(de->d_name, "vindex-%llu.%15s", &seq, tail) == 2 &&
            strcmp(tail, "faiss") == 0 && seq > best)
            best = seq;
    }
    closedir(d);
    if (best)
        snprintf(path, cap, "%s/vindex-%llu.faiss", dir, (unsigned long long)best);
    return best;
}

typedef struct {
    hm_engine_t *e;
    int rc;
} replay_t;

static int s_replay(const hm_store_change_t *ch, void *arg)
{
    replay_t *r = arg;
    if (ch->op == HM_OP_ADD) {
        hm_ref_t ref;
        if (hm_store_get(r->e->store, ch->id, &ref) != 0)
            return 0; /* removed later: the REMOVE will follow or has no effect */
        hm_fp_t fp;
        if (!(ref.flags & HM_REF_PDQ_ONLY) && hm_record_fp(ref.fp, ref.fp_len, &fp) == 0) {
            hm__change_t c = { .op = HM__CH_ADD, .only = HM__IX_VINDEX, .id = ch->id, .fp = &fp };
            if ((r->rc = hm__engine_apply(r->e, &c, 1, NULL))) {
                hm_ref_clear(&ref);
                return r->rc;
            }
        }
        hm_ref_clear(&ref);
    } else if (ch->op == HM_OP_REMOVE) {
        hm__change_t c = { .op = HM__CH_REMOVE, .only = HM__IX_VINDEX, .id = ch->id };
        hm__engine_apply(r->e, &c, 1, NULL);
    }
    return 0;
}

static int s_allow_cb(const hm_allow_t *a, void *arg)
{
    hm_engine_t *e = arg;
    hm__change_t c = { .op = HM__CH_ALLOW, .only = HM__IX_HASH, .allow_pdq = &a->pdq };
    return a->has_pdq ? hm__engine_apply(e, &c, 1, NULL) : 0;
}

/* Delete every snapshot other than keep_seq's. */
static void s_prune_snapshots(const char *dir, uint64_t keep_seq)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        unsigned long long seq;
        if (sscanf(de->d_name, "vindex-%llu.faiss", &seq) == 1 && seq != keep_seq) {
            char p[8192];
            snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
            unlink(p);
        }
    }
    closedir(d);
}

static int s_build_indexes(hm_engine_t *e)
{
    hm_store_stats_t st;
    int rc = hm_store_stats(e->store, &st);
    if (rc)
        return rc;
    hm_hindex_opts_t o256 = { .code_bits = 256, .expected_n = (size_t)st.refs * 2 };
    hm_hindex_opts_t o64 = { .code_bits = 64, .expected_n = (size_t)st.refs * 2 };
    hm_hindex_opts_t oallow = { .code_bits = 256, .expected_n = (size_t)st.allow };
    if ((rc = hm_hindex_create(&e->pdq, &o256)) || (rc = hm_hindex_create(&e->phash, &o64)) ||
        (rc = hm_hindex_create(&e->dhash, &o64)) || (rc = hm_hindex_create(&e->allow_pdq, &oallow)))
        return rc;
    if ((rc = hm_store_foreach_allow(e->store, s_allow_cb, e)))
        return rc;

    hm_vindex_opts_t vo = { .dim = HM_DESC_DIM };
    char snap[8192] = "";
    uint64_t snap_seq = s_newest_snapshot(e->dir, snap, sizeof snap);
    uint64_t now_seq = 0;
    if ((rc = hm_store_seq(e->store, &now_seq)))
        return rc;
    /* The replay needs every change after the snapshot: a log compacted past
     * it (hm_store_log_compact) means a rebuild. */
    uint64_t first_seq = 0;
    if ((rc = hm_store_log_first(e->store, &first_seq)))
        return rc;
    if (snap_seq && first_seq > snap_seq + 1) {
        hm_log_info("snapshot_stale", "path=\"%s\" seq=%" PRIu64 " log_first=%" PRIu64, snap,
                    snap_seq, first_seq);
        snap_seq = 0;
    }
    if (snap_seq && snap_seq <= now_seq && hm_vindex_load(&e->vindex, &vo, snap) == 0) {
        replay_t r = { e, 0 };
        rc = hm_store_changes(e->store, snap_seq, s_replay, &r);
        if (rc || r.rc) {
            hm_log_warn("snapshot_replay_failed", "path=\"%s\" reason=\"%s\"", snap, hm_last_error());
            hm_vindex_free(&e->vindex);
        } else {
            hm_log_info("snapshot_loaded", "path=\"%s\" seq=%" PRIu64 " replayed_to=%" PRIu64, snap,
                        snap_seq, now_seq);
        }
    } else if (snap_seq) {
        hm_log_warn("snapshot_rejected", "path=\"%s\" seq=%" PRIu64 " store_seq=%" PRIu64
                    " reason=\"%s\"", snap, snap_seq, now_seq,
                    snap_seq > now_seq ? "newer than the store" : hm_last_error());
    }
    /* A snapshot of another type than the bank's size calls for (the bank
     * grew or shrank past a boundary, or an old snapshot without its type)
     * is rebuilt from the same scan. */
    int outgrown = e->vindex && hm_vindex_outgrown(e->vindex);
    scan_t sc = { .e = e, .collect = e->vindex == NULL || outgrown };
    uint64_t t0 = (uint64_t)time(NULL);
    rc = hm_store_foreach_ref(e->store, s_scan_ref, &sc);
    if (!rc && !e->vindex) {
        hm_log_info("vindex_rebuild", "refs=%zu", sc.n);
        rc = hm_vindex_build(&e->vindex, &vo, sc.x, sc.ids, sc.n);
    } else if (!rc && outgrown) {
        hm_log_info("vindex_rebuild", "refs=%zu reason=type was=\"%s\"", sc.n,
                    hm_vindex_describe(e->vindex));
        rc = hm_vindex_rebuild(e->vindex, sc.x, sc.ids, sc.n);
        snap_seq = snap_seq ? snap_seq : now_seq; /* save the new one below */
    }
    free(sc.x);
    free(sc.ids);
    if (rc)
        return rc;
    /* A rejected snapshot is replaced at once, so the next start (and any
     * read-only opener) does not rebuild again. */
    if (snap_seq && sc.collect && !e->opts.readonly) {
        snprintf(snap, sizeof snap, "%s/vindex-%llu.faiss", e->dir, (unsigned long long)now_seq);
        if (hm_vindex_save(e->vindex, snap) == 0)
            s_prune_snapshots(e->dir, now_seq);
    }
    hm_log_info("indexes_ready", "refs=%" PRIu64 " unreadable=%zu seconds=%" PRIu64, st.refs, sc.bad,
                (uint64_t)time(NULL) - t0);
    return 0;
}

int hm_engine_open(hm_engine_t **out, const char *dir, const hm_engine_opts_t *opts)
{
    if (!out || !dir || !*dir)
        return hm__seterr(HM_E_INVAL, "hm_engine_open: no database directory");
    hm_engine_t *e = calloc(1, sizeof *e);
    if (!e)
        return hm__seterr(HM_E_NOMEM, "engine");
    snprintf(e->dir, sizeof e->dir, "%s", dir);
    if (opts)
        e->opts = *opts;
    if (e->opts.strike_limit <= 0)
        e->opts.strike_limit = 3;
    if (e->opts.lf_stop_factor > 64) {
        free(e);
        return hm__seterr(HM_E_INVAL, "hm_engine_open: lf_stop_factor %d above 64",
                          opts->lf_stop_factor);
    }
    pthread_mutex_init(&e->write, NULL);
    pthread_rwlock_init(&e->thr_lock, NULL);
    pthread_rwlock_init(&e->lf_lock, NULL);
    e->thr = hm_thresholds_default;
    int rc = hm_decode_init();
    if (rc)
        goto leave;
    hm_store_opts_t so = hm_store_opts_default();
    so.readonly = e->opts.readonly;
    if (e->opts.nosync)
        so.sync = HM_STORE_SYNC_META;
    if ((rc = hm_store_open(&e->store, dir, &so)))
        goto leave;
    if ((rc = s_build_indexes(e)) || (rc = hm__engine_lf_build(e)))
        goto leave;
    *out = e;
    return 0;
leave:
    hm_engine_close(&e);
    return rc;
}

void hm_engine_close(hm_engine_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    hm_engine_t *e = *self_p;
    hm_vindex_free(&e->vindex);
    hm_hindex_destroy(&e->pdq);
    hm_hindex_destroy(&e->phash);
    hm_hindex_destroy(&e->dhash);
    hm_hindex_destroy(&e->allow_pdq);
    hm_lfindex_destroy(&e->lf);
    pthread_rwlock_destroy(&e->lf_lock);
    hm_store_close(&e->store);
    pthread_mutex_destroy(&e->write);
    pthread_rwlock_destroy(&e->thr_lock);
    free(e);
    *self_p = NULL;
}

hm_store_t *hm_engine_store(hm_engine_t *e)
{
    return e ? e->store : NULL;
}

int hm_engine_snapshot(hm_engine_t *e)
{
    if (e->opts.readonly)
        return hm__seterr(HM_E_READONLY, "snapshot: database opened read-only");
    pthread_mutex_lock(&e->write);
    uint64_t seq = 0;
    int rc = hm_store_seq(e->store, &seq);
    char path[8192];
    snprintf(path, sizeof path, "%s/vindex-%llu.faiss", e->dir, (unsigned long long)seq);
    if (!rc)
        rc = hm_vindex_save(e->vindex, path);
    pthread_mutex_unlock(&e->write);
    if (!rc) {
        s_prune_snapshots(e->dir, seq);
        hm_log_info("snapshot_written", "path=\"%s\" seq=%llu", path, (unsigned long long)seq);
    }
    return rc;
}

int hm_engine_load_thresholds(hm_engine_t *e, const char *path)
{
    hm_thresholds_t t;
    int rc = hm_thresholds_load(path, &t);
    if (rc)
        return rc;
    pthread_rwlock_wrlock(&e->thr_lock);
    e->thr = t;
    pthread_rwlock_unlock(&e->thr_lock);
    hm_log_info("thresholds_loaded", "path=\"%s\" pdq=%d phash=%d dhash=%d desc=%.3f",
                path ? path : "(defaults)", t.pdq, t.phash, t.dhash, (double)t.desc);
    return 0;
}

int hm_engine_stats_json(hm_engine_t *e, char **json)
{
    hm_store_stats_t st;
    int rc = hm_store_stats(e->store, &st);
    if (rc)
        return rc;
    hm_hindex_stats_t hp;
    hm_hindex_stats(e->pdq, &hp);
    hm_thresholds_t t = hm__engine_thresholds(e);
    json_t *o = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:{s:I,s:f,s:I,s:s},s:{s:i,s:i,s:i,s:f}}",
                          "refs", (json_int_t)st.refs, "counterfeit", (json_int_t)st.counterfeit,
                          "genuine", (json_int_t)st.genuine, "allow_list", (json_int_t)st.allow,
                          "seq", (json_int_t)st.seq, "map_size", (json_int_t)st.map_size,
                          "map_used", (json_int_t)st.map_used, "index", "pdq_entries",
                          (json_int_t)hp.n_live, "pdq_bytes_per_entry", hp.bytes_per_ref,
                          "vectors", (json_int_t)hm_vindex_count(e->vindex), "vector_index",
                          hm_vindex_describe(e->vindex), "thresholds", "pdq", t.pdq, "phash",
                          t.phash, "dhash", t.dhash, "desc", (double)t.desc);
    if (!o)
        return hm__seterr(HM_E_NOMEM, "stats");
    *json = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return *json ? 0 : hm__seterr(HM_E_NOMEM, "stats");
}
