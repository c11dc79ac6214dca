/*
 * hm_store_repl.c - what replication needs from the store: replication
 * records (a change-log entry plus the payload a replica cannot read from
 * its own copy), applying them with the primary's sequence numbers, a
 * consistent compacting snapshot, change-log compaction, and a content
 * digest of the banks to compare a replica with its primary.
 *
 * A change-log entry names a reference by id; its full record (fingerprint
 * and all) is read from refs in the same read transaction as the log, so a
 * record shipped with seq N is the reference as it is *now*, possibly after
 * later changes (a relabel) or gone (removed since).  Applying every later
 * change too gives the same end state, which is all a replica promises: the
 * replicated operations tolerate "already so" (see s_repl in hm_store_ops.c).
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hm_error.h"
#include "hm_store_int.h"
#include "hm_store_rec.h"

#define S_REPL_VERSION 1
#define S_HDR (1 + 8 + 4)

enum { S_KIND_NONE = 0, S_KIND_REF = 1, S_KIND_ALLOW = 2 };

static uint32_t s_get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void s_put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

int hm_store_repl_decode(const void *rec, size_t len, hm_store_change_t *ch, hm_ref_t *ref,
                         int *has_ref, hm_allow_t *allow, int *has_allow)
{
    const uint8_t *p = rec;
    if (!rec || !ch || len < S_HDR + 1 + 4)
        return hm__seterr(HM_E_CORRUPT, "replication record of %zu bytes", len);
    if (p[0] != S_REPL_VERSION)
        return hm__seterr(HM_E_VERSION, "replication record version %u", (unsigned)p[0]);
    uint64_t seq = hm__get_u64(p + 1);
    size_t n = s_get_u32(p + 9);
    if (n > len - S_HDR - 5)
        return hm__seterr(HM_E_CORRUPT, "replication record: change of %zu bytes", n);
    int rc = hm_store_rec_change_decode(p + S_HDR, n, ch);
    if (rc)
        return rc;
    ch->seq = seq;
    const uint8_t *q = p + S_HDR + n;
    unsigned kind = q[0];
    size_t m = s_get_u32(q + 1);
    if (m != len - S_HDR - n - 5)
        return hm__seterr(HM_E_CORRUPT, "replication record: payload of %zu bytes", m);
    if (has_ref)
        *has_ref = 0;
    if (has_allow)
        *has_allow = 0;
    if (kind == S_KIND_REF && ref) {
        if ((rc = hm_store_rec_ref_decode(q + 5, m, ref)))
            return rc;
        ref->mem_ = NULL;
        if (has_ref)
            *has_ref = 1;
    } else if (kind == S_KIND_ALLOW && allow) {
        if ((rc = hm_store_rec_allow_decode(q + 5, m, allow)))
            return rc;
        memcpy(allow->sha256, ch->sha256, 32);
        if (has_allow)
            *has_allow = 1;
    } else if (kind > S_KIND_ALLOW) {
        return hm__seterr(HM_E_VERSION, "replication record: payload kind %u", kind);
    }
    return 0;
}

int hm_store_repl_apply(hm_store_t *s, const void *rec, size_t len)
{
    hm_store_change_t ch;
    hm_ref_t ref = { 0 };
    hm_allow_t allow = { 0 };
    int has_ref = 0, has_allow = 0;
    if (!s)
        return hm__seterr(HM_E_INVAL, "hm_store_repl_apply: NULL");
    int rc = hm_store_repl_decode(rec, len, &ch, &ref, &has_ref, &allow, &has_allow);
    if (rc)
        return rc;
    hm__op_t op = { .type = HM__OP_REPL, .repl_op = ch.op, .seq = ch.seq, .id = ch.id,
                    .bank = ch.bank, .time = ch.time ? ch.time : 1,
                    .str = { ch.a, ch.b, ch.c }, .has_ref = has_ref, .has_allow = has_allow };
    memcpy(op.sha, ch.sha256, 32);
    if (has_ref)
        op.ref = ref;
    if (has_allow)
        op.allow = allow;
    return hm__store_write(s, &op);
}

typedef struct {
    hm_store_repl_cb cb;
    void *ctx;
    uint8_t *buf;
    size_t cap;
} s_read_t;

/* Build the record for one log entry (payload looked up in txn) and hand it on. */
static int s_emit(hm_store_t *s, MDB_txn *txn, uint64_t seq, const MDB_val *d, s_read_t *r)
{
    hm_store_change_t ch;
    int rc = hm_store_rec_change_decode(d->mv_data, d->mv_size, &ch);
    if (rc)
        return rc;
    MDB_val pv = { 0, NULL };
    unsigned kind = S_KIND_NONE;
    if (ch.op == HM_OP_ADD || ch.op == HM_OP_ALLOW) {
        MDB_val k = ch.op == HM_OP_ADD ? (MDB_val){ 8, &ch.id } : (MDB_val){ 32, ch.sha256 };
        int mrc = mdb_get(txn, ch.op == HM_OP_ADD ? s->refs : s->allow, &k, &pv);
        if (mrc == 0)
            kind = ch.op == HM_OP_ADD ? S_KIND_REF : S_KIND_ALLOW;
        else if (mrc != MDB_NOTFOUND)
            return hm__store_mdb(mrc, "replication payload");
        if (kind == S_KIND_REF) {
            /* Ids are reused by no one, but check the record really is ch.id's. */
            hm_ref_t v;
            if (hm_store_rec_ref_decode(pv.mv_data, pv.mv_size, &v) != 0 || v.id != ch.id)
                kind = S_KIND_NONE, pv.mv_size = 0;
        }
    }
    size_t need = S_HDR + d->mv_size + 5 + (kind ? pv.mv_size : 0);
    if (need > r->cap) {
        uint8_t *nb = realloc(r->buf, need);
        if (!nb)
            return hm__seterr(HM_E_NOMEM, "replication record");
        r->buf = nb;
        r->cap = need;
    }
    uint8_t *p = r->buf;
    p[0] = S_REPL_VERSION;
    hm__put_u64(p + 1, seq);
    s_put_u32(p + 9, (uint32_t)d->mv_size);
    memcpy(p + S_HDR, d->mv_data, d->mv_size);
    uint8_t *q = p + S_HDR + d->mv_size;
    q[0] = (uint8_t)kind;
    s_put_u32(q + 1, kind ? (uint32_t)pv.mv_size : 0);
    if (kind)
        memcpy(q + 5, pv.mv_data, pv.mv_size);
    return r->cb(seq, r->buf, need, r->ctx);
}

int hm_store_repl_read(hm_store_t *s, uint64_t after_seq, size_t max, hm_store_repl_cb cb,
                       void *ctx)
{
    if (!s || !cb)
        return hm__seterr(HM_E_INVAL, "hm_store_repl_read: NULL argument");
    MDB_txn *txn;
    MDB_cursor *cur = NULL;
    s_read_t r = { cb, ctx, NULL, 0 };
    int rc = hm__store_rd_begin(s, &txn);
    if (rc)
        return rc;
    if ((rc = hm__store_mdb(mdb_cursor_open(txn, s->log, &cur), "log cursor")))
        goto leave;
    uint64_t from = after_seq + 1;
    MDB_val k = { 8, &from }, d;
    int mrc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE);
    for (size_t n = 0; mrc == 0 && n < max; n++) {
        uint64_t seq;
        if (k.mv_size != 8) {
            rc = hm__seterr(HM_E_CORRUPT, "store: log key of %zu bytes", k.mv_size);
            goto leave;
        }
        memcpy(&seq, k.mv_data, 8);
        if ((rc = s_emit(s, txn, seq, &d, &r)))
            goto leave;
        mrc = mdb_cursor_get(cur, &k, &d, MDB_NEXT);
    }
    if (mrc != 0 && mrc != MDB_NOTFOUND)
        rc = hm__store_mdb(mrc, "log next");
leave:
    if (cur)
        mdb_cursor_close(cur);
    hm__store_rd_end(s, &txn);
    free(r.buf);
    return rc;
}

int hm_store_log_first(hm_store_t *s, uint64_t *first)
{
    if (!s || !first)
        return hm__seterr(HM_E_INVAL, "hm_store_log_first: NULL argument");
    MDB_txn *txn;
    MDB_cursor *cur = NULL;
    *first = 0;
    int rc = hm__store_rd_begin(s, &txn);
    if (rc)
        return rc;
    if (!(rc = hm__store_mdb(mdb_cursor_open(txn, s->log, &cur), "log cursor"))) {
        MDB_val k, d;
        int mrc = mdb_cursor_get(cur, &k, &d, MDB_FIRST);
        if (mrc == 0 && k.mv_size == 8)
            memcpy(first, k.mv_data, 8);
        else if (mrc != 0 && mrc != MDB_NOTFOUND)
            rc = hm__store_mdb(mrc, "log first");
        mdb_cursor_close(cur);
    }
    hm__store_rd_end(s, &txn);
    return rc;
}

int hm_store_log_compact(hm_store_t *s, uint64_t keep_n, int64_t keep_seconds, size_t max,
                         uint64_t *removed)
{
    hm__op_t op = { .type = HM__OP_COMPACT, .keep = keep_n ? keep_n : 1,
                    .cutoff = (int64_t)time(NULL) - keep_seconds, .count = max };
    int rc = hm__store_write(s, &op);
    if (removed)
        *removed = rc == 0 ? op.count : 0;
    return rc;
}

int hm_store_snapshot_to_fd(hm_store_t *s, int fd)
{
    if (!s || fd < 0)
        return hm__seterr(HM_E_INVAL, "hm_store_snapshot_to_fd: bad argument");
    /* The copy runs its own read transaction: inside the gate like ours. */
    hm__store_gate_enter(s);
    int rc = hm__store_mdb(mdb_env_copyfd2(s->env, fd, MDB_CP_COMPACT), "snapshot copy");
    hm__store_gate_leave(s);
    return rc;
}

/* Hash every key and value of one sub-database, with its name and count. */
static int s_digest_db(MDB_txn *txn, MDB_dbi dbi, const char *name,
                       crypto_hash_sha256_state *h)
{
    MDB_cursor *cur;
    int rc = hm__store_mdb(mdb_cursor_open(txn, dbi, &cur), "digest cursor");
    if (rc)
        return rc;
    crypto_hash_sha256_update(h, (const unsigned char *)name, strlen(name) + 1);
    MDB_val k, d;
    uint64_t n = 0;
    int mrc = mdb_cursor_get(cur, &k, &d, MDB_FIRST);
    while (mrc == 0) {
        uint8_t lens[16];
        hm__put_u64(lens, k.mv_size);
        hm__put_u64(lens + 8, d.mv_size);
        crypto_hash_sha256_update(h, lens, sizeof lens);
        crypto_hash_sha256_update(h, k.mv_data, k.mv_size);
        crypto_hash_sha256_update(h, d.mv_data, d.mv_size);
        n++;
        mrc = mdb_cursor_get(cur, &k, &d, MDB_NEXT);
    }
    if (mrc != MDB_NOTFOUND)
        rc = hm__store_mdb(mrc, "digest next");
    uint8_t nb[8];
    hm__put_u64(nb, n);
    crypto_hash_sha256_update(h, nb, sizeof nb);
    mdb_cursor_close(cur);
    return rc;
}

int hm_store_digest(hm_store_t *s, char hex[65], uint64_t *seq)
{
    if (!s || !hex)
        return hm__seterr(HM_E_INVAL, "hm_store_digest: NULL argument");
    if (sodium_init() < 0)
        return hm__seterr(HM_E_INTERNAL, "sodium_init failed");
    MDB_txn *txn;
    crypto_hash_sha256_state h;
    crypto_hash_sha256_init(&h);
    int rc = hm__store_rd_begin(s, &txn);
    if (rc)
        return rc;
    if (!(rc = s_digest_db(txn, s->refs, "refs", &h)) &&
        !(rc = s_digest_db(txn, s->auth, "auth", &h)) &&
        !(rc = s_digest_db(txn, s->strikes, "strikes", &h)) &&
        !(rc = s_digest_db(txn, s->allow, "allow", &h)) && seq) {
        MDB_cursor *cur;
        *seq = 0;
        if (!(rc = hm__store_mdb(mdb_cursor_open(txn, s->log, &cur), "log cursor"))) {
            MDB_val k, d;
            if (mdb_cursor_get(cur, &k, &d, MDB_LAST) == 0 && k.mv_size == 8)
                memcpy(seq, k.mv_data, 8);
            mdb_cursor_close(cur);
        }
    }
    hm__store_rd_end(s, &txn);
    if (rc)
        return rc;
    uint8_t out[32];
    crypto_hash_sha256_final(&h, out);
    hm_sha256_to_hex(out, hex);
    return 0;
}
