/*
 * hm_store_read.c - lookups and iteration of hm_store.  Every function runs in
 * its own read-only transaction (hm__store_rd_begin), so any number of
 * threads may call them while the writer works; results are copies, except
 * the views handed to foreach callbacks.
 */
#include <stdlib.h>
#include <string.h>

#include "hm_error.h"
#include "hm_store_int.h"
#include "hm_store_rec.h"

void hm_ref_clear(hm_ref_t *ref)
{
    if (!ref)
        return;
    free(ref->mem_);
    memset(ref, 0, sizeof *ref);
}

/* Copy a view into one allocation owned by out (released by hm_ref_clear). */
static int s_ref_copy(const hm_ref_t *v, hm_ref_t *out)
{
    const char *strs[4] = { v->ext_id, v->brand, v->rights_holder, v->source };
    size_t lens[4], total = v->fp_len;
    for (int i = 0; i < 4; i++)
        total += (lens[i] = strlen(strs[i])) + 1;
    char *mem = malloc(total);
    if (!mem)
        return hm__seterr(HM_E_NOMEM, "store: out of memory copying a reference");
    *out = *v;
    char *p = mem;
    const char **dst[4] = { &out->ext_id, &out->brand, &out->rights_holder, &out->source };
    for (int i = 0; i < 4; i++) {
        memcpy(p, strs[i], lens[i] + 1);
        *dst[i] = p;
        p += lens[i] + 1;
    }
    if (v->fp_len)
        memcpy(p, v->fp, v->fp_len);
    out->fp = v->fp_len ? (const uint8_t *)p : NULL;
    out->mem_ = mem;
    return 0;
}

/* Fetch reference id within txn into a caller-owned copy. */
static int s_get_in(hm_store_t *s, MDB_txn *txn, uint64_t id, hm_ref_t *ref)
{
    MDB_val k = { sizeof id, &id }, d;
    int mrc = mdb_get(txn, s->refs, &k, &d);
    if (mrc == MDB_NOTFOUND)
        return hm__seterr(HM_E_NOTFOUND, "store: no reference %llu", (unsigned long long)id);
    int rc = hm__store_mdb(mrc, "refs get");
    hm_ref_t v;
    if (rc || (rc = hm_store_rec_ref_decode(d.mv_data, d.mv_size, &v)))
        return rc;
    if (v.id != id)
        return hm__seterr(HM_E_CORRUPT, "store: record %llu holds id %llu",
                          (unsigned long long)id, (unsigned long long)v.id);
    return s_ref_copy(&v, ref);
}

int hm_store_get(hm_store_t *s, uint64_t id, hm_ref_t *ref)
{
    if (!s || !ref)
        return hm__seterr(HM_E_INVAL, "hm_store_get: NULL argument");
    memset(ref, 0, sizeof *ref);
    MDB_txn *txn;
    int rc = hm__store_rd_begin(s, &txn);
    if (rc == 0)
        rc = s_get_in(s, txn, id, ref);
    hm__store_rd_end(s, &txn);
    return rc;
}

/* Lookup through an index db (ext, sha) and then refs, in one snapshot. */
static int s_get_indexed(hm_store_t *s, MDB_dbi dbi, const void *key, size_t klen,
                         hm_ref_t *ref)
{
    memset(ref, 0, sizeof *ref);
    MDB_txn *txn;
    int rc = hm__store_rd_begin(s, &txn);
    if (rc)
        return rc;
    MDB_val k = { klen, (void *)key }, d;
    int mrc = mdb_get(txn, dbi, &k, &d);
    if (mrc == MDB_NOTFOUND)
        rc = hm__seterr(HM_E_NOTFOUND, "store: no such reference");
    else if ((rc = hm__store_mdb(mrc, "index get")) == 0) {
        if (d.mv_size != 8)
            rc = hm__seterr(HM_E_CORRUPT, "store: index value of %zu bytes", d.mv_size);
        else if ((rc = s_get_in(s, txn, hm__get_u64(d.mv_data), ref)) == HM_E_NOTFOUND)
            rc = hm__seterr(HM_E_CORRUPT, "store: index points to a missing reference");
    }
    hm__store_rd_end(s, &txn);
    return rc;
}

int hm_store_get_by_ext(hm_store_t *s, const char *ext_id, hm_ref_t *ref)
{
    if (!s || !ext_id || !*ext_id || !ref || strlen(ext_id) > HM_STORE_MAX_ID)
        return hm__seterr(HM_E_INVAL, "hm_store_get_by_ext: bad argument");
    return s_get_indexed(s, s->ext, ext_id, strlen(ext_id), ref);
}

int hm_store_get_by_sha(hm_store_t *s, const uint8_t sha256[32], hm_ref_t *ref)
{
    if (!s || !sha256 || !ref || hm_sha256_is_zero(sha256))
        return hm__seterr(HM_E_INVAL, "hm_store_get_by_sha: bad argument");
    return s_get_indexed(s, s->sha, sha256, 32, ref);
}

/* Walk db from key start (or the first key) and hand each record to fn. */
typedef int (*s_visit_fn)(const MDB_val *k, const MDB_val *d, void *arg);

static int s_walk(hm_store_t *s, MDB_dbi dbi, const MDB_val *start, s_visit_fn fn, void *arg)
{
    MDB_txn *txn;
    MDB_cursor *cur = NULL;
    int rc = hm__store_rd_begin(s, &txn);
    if (rc)
        return rc;
    if ((rc = hm__store_mdb(mdb_cursor_open(txn, dbi, &cur), "cursor")))
        goto leave;
    MDB_val k = start ? *start : (MDB_val){ 0, NULL }, d;
    int mrc = mdb_cursor_get(cur, &k, &d, start ? MDB_SET_RANGE : MDB_FIRST);
    while (mrc == 0) {
        if ((rc = fn(&k, &d, arg)))
            goto leave;
        mrc = mdb_cursor_get(cur, &k, &d, MDB_NEXT);
    }
    if (mrc != MDB_NOTFOUND)
        rc = hm__store_mdb(mrc, "cursor next");
leave:
    if (cur)
        mdb_cursor_close(cur);
    hm__store_rd_end(s, &txn);
    return rc;
}

typedef struct {
    hm_store_ref_cb ref_cb;
    hm_store_change_cb ch_cb;
    hm_store_allow_cb allow_cb;
    void *ctx;
} s_walk_t;

static int s_visit_ref(const MDB_val *k, const MDB_val *d, void *arg)
{
    s_walk_t *w = arg;
    hm_ref_t v;
    int rc = hm_store_rec_ref_decode(d->mv_data, d->mv_size, &v);
    if (rc)
        return rc;
    if (k->mv_size != 8 || memcmp(k->mv_data, &v.id, 8) != 0)
        return hm__seterr(HM_E_CORRUPT, "store: reference key and id differ");
    return w->ref_cb(&v, w->ctx);
}

int hm_store_foreach_ref(hm_store_t *s, hm_store_ref_cb cb, void *ctx)
{
    if (!s || !cb)
        return hm__seterr(HM_E_INVAL, "hm_store_foreach_ref: NULL argument");
    s_walk_t w = { .ref_cb = cb, .ctx = ctx };
    return s_walk(s, s->refs, NULL, s_visit_ref, &w);
}

static int s_visit_change(const MDB_val *k, const MDB_val *d, void *arg)
{
    s_walk_t *w = arg;
    hm_store_change_t ch;
    if (k->mv_size != 8)
        return hm__seterr(HM_E_CORRUPT, "store: log key of %zu bytes", k->mv_size);
    int rc = hm_store_rec_change_decode(d->mv_data, d->mv_size, &ch);
    if (rc)
        return rc;
    memcpy(&ch.seq, k->mv_data, 8);
    return w->ch_cb(&ch, w->ctx);
}

int hm_store_changes(hm_store_t *s, uint64_t after_seq, hm_store_change_cb cb, void *ctx)
{
    if (!s || !cb || after_seq == UINT64_MAX)
        return hm__seterr(HM_E_INVAL, "hm_store_changes: bad argument");
    s_walk_t w = { .ch_cb = cb, .ctx = ctx };
    uint64_t from = after_seq + 1;
    MDB_val start = { 8, &from };
    return s_walk(s, s->log, &start, s_visit_change, &w);
}

static int s_visit_allow(const MDB_val *k, const MDB_val *d, void *arg)
{
    s_walk_t *w = arg;
    hm_allow_t a;
    if (k->mv_size != 32)
        return hm__seterr(HM_E_CORRUPT, "store: allow key of %zu bytes", k->mv_size);
    int rc = hm_store_rec_allow_decode(d->mv_data, d->mv_size, &a);
    if (rc)
        return rc;
    memcpy(a.sha256, k->mv_data, 32);
    return w->allow_cb(&a, w->ctx);
}

int hm_store_foreach_allow(hm_store_t *s, hm_store_allow_cb cb, void *ctx)
{
    if (!s || !cb)
        return hm__seterr(HM_E_INVAL, "hm_store_foreach_allow: NULL argument");
    s_walk_t w = { .allow_cb = cb, .ctx = ctx };
    return s_walk(s, s->allow, NULL, s_visit_allow, &w);
}

int hm__store_log_last(hm_store_t *s, MDB_txn *txn, uint64_t *seq)
{
    MDB_cursor *cur;
    *seq = 0;
    int rc = hm__store_mdb(mdb_cursor_open(txn, s->log, &cur), "log cursor");
    if (rc)
        return rc;
    MDB_val k, d;
    int mrc = mdb_cursor_get(cur, &k, &d, MDB_LAST);
    if (mrc == 0 && k.mv_size == 8)
        memcpy(seq, k.mv_data, 8);
    else if (mrc == 0)
        rc = hm__seterr(HM_E_CORRUPT, "store: log key of %zu bytes", k.mv_size);
    else if (mrc != MDB_NOTFOUND)
        rc = hm__store_mdb(mrc, "log last");
    mdb_cursor_close(cur);
    return rc;
}

int hm_store_seq(hm_store_t *s, uint64_t *seq)
{
    if (!s || !seq)
        return hm__seterr(HM_E_INVAL, "hm_store_seq: NULL argument");
    MDB_txn *txn;
    int rc = hm__store_rd_begin(s, &txn);
    if (rc == 0)
        rc = hm__store_log_last(s, txn, seq);
    hm__store_rd_end(s, &txn);
    return rc;
}

int hm_store_is_authorized(hm_store_t *s, const char *brand, const char *seller)
{
    if (!s || !brand || !seller || !*brand || !*seller)
        return hm__seterr(HM_E_INVAL, "hm_store_is_authorized: bad argument");
    MDB_txn *txn;
    MDB_cursor *cur = NULL;
    int rc = hm__store_rd_begin(s, &txn);
    if (rc)
        return rc;
    if ((rc = hm__store_mdb(mdb_cursor_open(txn, s->auth, &cur), "auth cursor")) == 0) {
        MDB_val k = { strlen(brand), (void *)brand }, d = { strlen(seller), (void *)seller };
        int mrc = mdb_cursor_get(cur, &k, &d, MDB_GET_BOTH);
        rc = mrc == 0 ? 1 : mrc == MDB_NOTFOUND ? 0 : hm__store_mdb(mrc, "auth get");
        mdb_cursor_close(cur);
    }
    hm__store_rd_end(s, &txn);
    return rc;
}

int hm_store_strikes(hm_store_t *s, const char *seller, uint64_t *count)
{
    if (!s || !seller || !*seller || !count)
        return hm__seterr(HM_E_INVAL, "hm_store_strikes: bad argument");
    MDB_txn *txn;
    *count = 0;
    int rc = hm__store_rd_begin(s, &txn);
    if (rc == 0)
        rc = hm__store_count_strikes(txn, s->strikes, seller, count);
    hm__store_rd_end(s, &txn);
    return rc;
}

int hm_store_allow_get(hm_store_t *s, const uint8_t sha256[32], hm_allow_t *out,
                       char *note_buf, size_t note_cap)
{
    if (!s || !sha256 || !out || (note_cap && !note_buf))
        return hm__seterr(HM_E_INVAL, "hm_store_allow_get: bad argument");
    memset(out, 0, sizeof *out);
    MDB_txn *txn;
    int rc = hm__store_rd_begin(s, &txn);
    if (rc)
        return rc;
    MDB_val k = { 32, (void *)sha256 }, d;
    int mrc = mdb_get(txn, s->allow, &k, &d);
    if (mrc == MDB_NOTFOUND)
        rc = hm__seterr(HM_E_NOTFOUND, "store: not on the allow-list");
    else if ((rc = hm__store_mdb(mrc, "allow get")) == 0 &&
             (rc = hm_store_rec_allow_decode(d.mv_data, d.mv_size, out)) == 0) {
        memcpy(out->sha256, sha256, 32);
        if (note_cap) {
            size_t n = strnlen(out->note, note_cap - 1);
            memcpy(note_buf, out->note, n);
            note_buf[n] = '\0';
        }
        out->note = note_cap ? note_buf : NULL; /* never a pointer into the map */
    }
    hm__store_rd_end(s, &txn);
    return rc;
}

int hm_store_stats(hm_store_t *s, hm_store_stats_t *st)
{
    if (!s || !st)
        return hm__seterr(HM_E_INVAL, "hm_store_stats: NULL argument");
    memset(st, 0, sizeof *st);
    MDB_txn *txn;
    int rc = hm__store_rd_begin(s, &txn);
    if (rc)
        return rc;
    MDB_stat ms;
    MDB_envinfo info;
    if ((rc = hm__store_mdb(mdb_stat(txn, s->refs, &ms), "stat refs")))
        goto leave;
    st->refs = ms.ms_entries;
    if ((rc = hm__store_mdb(mdb_stat(txn, s->allow, &ms), "stat allow")))
        goto leave;
    st->allow = ms.ms_entries;
    rc = hm__store_get_u64(txn, s->meta, "count.1", &st->counterfeit);
    if (rc == 0 || rc == HM_E_NOTFOUND)
        rc = hm__store_get_u64(txn, s->meta, "count.2", &st->genuine);
    if (rc == 0 || rc == HM_E_NOTFOUND)
        rc = hm__store_get_u64(txn, s->meta, "next_id", &st->next_id);
    if ((rc && rc != HM_E_NOTFOUND) || (rc = hm__store_log_last(s, txn, &st->seq)))
        goto leave;
    if ((rc = hm__store_mdb(mdb_env_info(s->env, &info), "env info")))
        goto leave;
    st->map_size = info.me_mapsize;
    st->map_used = (info.me_last_pgno + 1) * (size_t)ms.ms_psize;
    st->map_growths = atomic_load(&s->growths);
leave:
    hm__store_rd_end(s, &txn);
    return rc;
}

int hm_store_aux_get(hm_store_t *s, int aux, const char *key, void **val, size_t *len)
{
    if (!s || !key || !*key || !val || !len ||
        (aux != HM_AUX_DECISIONS && aux != HM_AUX_REFTHUMBS))
        return hm__seterr(HM_E_INVAL, "hm_store_aux_get: bad argument");
    *val = NULL;
    *len = 0;
    MDB_dbi dbi = aux == HM_AUX_DECISIONS ? s->decisions : s->refthumbs;
    if (dbi == 0)
        return hm__seterr(HM_E_NOTFOUND, "store: no aux sub-database yet");
    MDB_txn *txn;
    int rc = hm__store_rd_begin(s, &txn);
    if (rc)
        return rc;
    MDB_val k = { strlen(key), (void *)key }, d;
    int mrc = mdb_get(txn, dbi, &k, &d);
    if (mrc == MDB_NOTFOUND)
        rc = hm__seterr(HM_E_NOTFOUND, "store: no aux entry '%s'", key);
    else if ((rc = hm__store_mdb(mrc, "aux get")) == 0) {
        *val = malloc(d.mv_size ? d.mv_size : 1);
        if (!*val)
            rc = hm__seterr(HM_E_NOMEM, "store: out of memory");
        else {
            memcpy(*val, d.mv_data, d.mv_size);
            *len = d.mv_size;
        }
    }
    hm__store_rd_end(s, &txn);
    return rc;
}
