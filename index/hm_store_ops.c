/*
 * hm_store_ops.c - the write operations of hm_store, applied inside the
 * current write transaction (s->txn) by the batch layer in hm_store.c.
 *
 * Each operation first checks everything that can fail "cleanly" (missing
 * record, duplicate, bad argument) and only then writes, so a clean failure
 * leaves the transaction untouched and the batch can go on.  Every change is
 * appended to the change log in the same transaction.  An operation must give
 * the same result when it is replayed after a map growth: ids come from
 * meta "next_id" and times were fixed in the op before the first apply.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hm_error.h"
#include "hm_store_int.h"
#include "hm_store_rec.h"

static MDB_val s_idkey(const uint64_t *id)
{
    return (MDB_val){ sizeof *id, (void *)id };
}

static int s_valid_id(const char *v, const char *what)
{
    if (!v || !*v || strnlen(v, HM_STORE_MAX_ID + 1) > HM_STORE_MAX_ID)
        return hm__seterr(HM_E_INVAL, "store: %s must be 1..%d bytes", what, HM_STORE_MAX_ID);
    return 0;
}

/* Append one record to the change log: sequence = last + 1. */
static int s_log(hm_store_t *s, const hm_store_change_t *ch)
{
    MDB_cursor *cur = NULL;
    uint64_t seq;
    MDB_val k, d;
    int rc = hm__store_log_last(s, s->txn, &seq);
    if (rc)
        return rc;
    seq++;
    if ((rc = hm__store_mdb(mdb_cursor_open(s->txn, s->log, &cur), "log cursor")))
        goto leave;
    size_t n = hm_store_rec_change_size(ch);
    if (n == 0) {
        rc = hm__seterr(HM_E_INTERNAL, "store: unencodable change record");
        goto leave;
    }
    k = s_idkey(&seq);
    d = (MDB_val){ n, NULL };
    if ((rc = hm__store_mdb(mdb_cursor_put(cur, &k, &d, MDB_APPEND | MDB_RESERVE), "log put")))
        goto leave;
    if (hm_store_rec_change_encode(ch, d.mv_data, n) != n)
        rc = hm__seterr(HM_E_INTERNAL, "store: change record encoding");
    /* An out-of-order key here is damage, not a duplicate the caller made. */
    if (rc == HM_E_EXISTS)
        rc = hm__seterr(HM_E_CORRUPT, "store: change log sequence %llu exists",
                        (unsigned long long)seq);
leave:
    if (cur)
        mdb_cursor_close(cur);
    return rc;
}

static int s_count(hm_store_t *s, int bank, int delta)
{
    const char *key = bank == HM_BANK_COUNTERFEIT ? "count.1" : "count.2";
    uint64_t v = 0;
    int rc = hm__store_get_u64(s->txn, s->meta, key, &v);
    if (rc == HM_E_NOTFOUND)
        v = 0;
    else if (rc)
        return rc;
    if (delta < 0 && v == 0)
        return hm__seterr(HM_E_CORRUPT, "store: %s would go negative", key);
    return hm__store_put_u64(s->txn, s->meta, key, v + (uint64_t)(int64_t)delta);
}

/* Look an 8-byte id value up in an index db (ext, sha). */
static int s_index_get(hm_store_t *s, MDB_dbi dbi, const void *key, size_t klen, uint64_t *id)
{
    MDB_val k = { klen, (void *)key }, d;
    int rc = mdb_get(s->txn, dbi, &k, &d);
    if (rc == MDB_NOTFOUND)
        return HM_E_NOTFOUND;
    if (rc)
        return hm__store_mdb(rc, "index get");
    if (d.mv_size != 8)
        return hm__seterr(HM_E_CORRUPT, "store: index value of %zu bytes", d.mv_size);
    *id = hm__get_u64(d.mv_data);
    return 0;
}

static int s_index_put(hm_store_t *s, MDB_dbi dbi, const void *key, size_t klen, uint64_t id)
{
    uint8_t b[8];
    hm__put_u64(b, id);
    MDB_val k = { klen, (void *)key }, d = { 8, b };
    return hm__store_mdb(mdb_put(s->txn, dbi, &k, &d, MDB_NOOVERWRITE), "index put");
}

static int s_add(hm_store_t *s, hm__op_t *op, int replay)
{
    hm_ref_t r = op->ref;
    r.added = r.added ? r.added : op->time;
    r.id = 0;
    size_t n = hm_store_rec_ref_size(&r);
    if (n == 0)
        return hm__seterr(HM_E_INVAL, "store: bad reference (ext id, bank or a field too long)");
    if (replay == 0) {
        uint64_t have = 0;
        size_t elen = strlen(r.ext_id);
        int rc = s_index_get(s, s->ext, r.ext_id, elen, &have);
        if (rc == 0) {
            op->id = have;
            return hm__seterr(HM_E_EXISTS, "store: ext id %s exists as %llu", r.ext_id,
                              (unsigned long long)have);
        }
        if (rc != HM_E_NOTFOUND)
            return rc;
        if (!hm_sha256_is_zero(r.sha256)) {
            rc = s_index_get(s, s->sha, r.sha256, 32, &have);
            if (rc == 0) {
                op->id = have;
                return hm__seterr(HM_E_EXISTS, "store: same image bytes exist as %llu",
                                  (unsigned long long)have);
            }
            if (rc != HM_E_NOTFOUND)
                return rc;
        }
    }
    uint64_t id;
    int rc = hm__store_get_u64(s->txn, s->meta, "next_id", &id);
    if (rc)
        return rc == HM_E_NOTFOUND ? hm__seterr(HM_E_CORRUPT, "store: next_id missing") : rc;
    if (replay && id != op->id)
        return hm__seterr(HM_E_INTERNAL, "store: replay gave id %llu, not %llu",
                          (unsigned long long)id, (unsigned long long)op->id);
    r.id = id;
    MDB_val k = s_idkey(&id), d = { n, NULL };
    if ((rc = hm__store_mdb(mdb_put(s->txn, s->refs, &k, &d, MDB_NOOVERWRITE | MDB_RESERVE),
                            "refs put")))
        return rc == HM_E_EXISTS ? hm__seterr(HM_E_CORRUPT, "store: id %llu reused",
                                              (unsigned long long)id)
                                 : rc;
    if (hm_store_rec_ref_encode(&r, d.mv_data, n) != n)
        return hm__seterr(HM_E_INTERNAL, "store: reference encoding");
    if ((rc = s_index_put(s, s->ext, r.ext_id, strlen(r.ext_id), id)) ||
        (!hm_sha256_is_zero(r.sha256) && (rc = s_index_put(s, s->sha, r.sha256, 32, id))) ||
        (rc = hm__store_put_u64(s->txn, s->meta, "next_id", id + 1)) ||
        (rc = s_count(s, r.bank, +1)))
        return rc == HM_E_EXISTS ? HM_E_CORRUPT : rc;
    op->id = id;
    hm_store_change_t ch = { .op = HM_OP_ADD, .time = op->time, .id = id, .bank = r.bank,
                             .a = r.ext_id };
    memcpy(ch.sha256, r.sha256, 32);
    return s_log(s, &ch);
}

/* Read and decode reference id in the write transaction.  The view points
 * into the map and is only good until the next write. */
static int s_ref_view(hm_store_t *s, uint64_t id, hm_ref_t *view, MDB_val *raw)
{
    MDB_val k = s_idkey(&id);
    int rc = mdb_get(s->txn, s->refs, &k, raw);
    if (rc == MDB_NOTFOUND)
        return hm__seterr(HM_E_NOTFOUND, "store: no reference %llu", (unsigned long long)id);
    if (rc)
        return hm__store_mdb(rc, "refs get");
    return hm_store_rec_ref_decode(raw->mv_data, raw->mv_size, view);
}

/* Delete an index entry only if it points to id (it always should). */
static int s_index_del(hm_store_t *s, MDB_dbi dbi, const void *key, size_t klen, uint64_t id)
{
    uint64_t have;
    int rc = s_index_get(s, dbi, key, klen, &have);
    if (rc == HM_E_NOTFOUND || (rc == 0 && have != id))
        return 0;
    if (rc)
        return rc;
    MDB_val k = { klen, (void *)key };
    return hm__store_mdb(mdb_del(s->txn, dbi, &k, NULL), "index del");
}

static int s_remove(hm_store_t *s, hm__op_t *op)
{
    hm_ref_t v;
    MDB_val raw;
    int rc = s_ref_view(s, op->id, &v, &raw);
    if (rc)
        return rc;
    /* Copy what is needed: the view dies with the first write. */
    char ext[HM_STORE_MAX_ID + 1];
    uint8_t sha[32];
    int bank = v.bank;
    snprintf(ext, sizeof ext, "%s", v.ext_id);
    memcpy(sha, v.sha256, 32);
    MDB_val k = s_idkey(&op->id);
    if ((rc = hm__store_mdb(mdb_del(s->txn, s->refs, &k, NULL), "refs del")) ||
        (rc = s_index_del(s, s->ext, ext, strlen(ext), op->id)) ||
        (!hm_sha256_is_zero(sha) && (rc = s_index_del(s, s->sha, sha, 32, op->id))) ||
        (rc = s_count(s, bank, -1)))
        return rc == HM_E_NOTFOUND ? HM_E_CORRUPT : rc;
    hm_store_change_t ch = { .op = HM_OP_REMOVE, .time = op->time, .id = op->id, .bank = bank,
                             .a = ext };
    memcpy(ch.sha256, sha, 32);
    return s_log(s, &ch);
}

static int s_relabel(hm_store_t *s, hm__op_t *op)
{
    if (op->bank != HM_BANK_COUNTERFEIT && op->bank != HM_BANK_GENUINE)
        return hm__seterr(HM_E_INVAL, "store: bad bank %d", op->bank);
    hm_ref_t v;
    MDB_val raw;
    int rc = s_ref_view(s, op->id, &v, &raw);
    if (rc || v.bank == op->bank)
        return rc;
    int old = v.bank;
    v.bank = op->bank;
    size_t n = hm_store_rec_ref_size(&v);
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf)
        return hm__seterr(HM_E_NOMEM, "store: out of memory relabelling");
    if (n == 0 || hm_store_rec_ref_encode(&v, buf, n) != n) {
        free(buf);
        return hm__seterr(HM_E_INTERNAL, "store: reference re-encoding");
    }
    MDB_val k = s_idkey(&op->id), d = { n, buf };
    rc = hm__store_mdb(mdb_put(s->txn, s->refs, &k, &d, 0), "refs put");
    free(buf);
    if (rc || (rc = s_count(s, old, -1)) || (rc = s_count(s, op->bank, +1)))
        return rc == HM_E_NOTFOUND ? HM_E_CORRUPT : rc;
    hm_store_change_t ch = { .op = HM_OP_RELABEL, .time = op->time, .id = op->id,
                             .bank = op->bank };
    return s_log(s, &ch);
}

static int s_authorize(hm_store_t *s, hm__op_t *op)
{
    int rc;
    if ((rc = s_valid_id(op->str[0], "brand")) || (rc = s_valid_id(op->str[1], "seller")))
        return rc;
    MDB_val k = { strlen(op->str[0]), (void *)op->str[0] };
    MDB_val d = { strlen(op->str[1]), (void *)op->str[1] };
    int mrc = op->on ? mdb_put(s->txn, s->auth, &k, &d, MDB_NODUPDATA)
                     : mdb_del(s->txn, s->auth, &k, &d);
    if (mrc == MDB_KEYEXIST || mrc == MDB_NOTFOUND)
        return 0; /* already in that state: nothing to log */
    if ((rc = hm__store_mdb(mrc, "auth")))
        return rc;
    hm_store_change_t ch = { .op = op->on ? HM_OP_AUTHORIZE : HM_OP_DEAUTHORIZE,
                             .time = op->time, .a = op->str[0], .b = op->str[1] };
    return s_log(s, &ch);
}

static int s_allow(hm_store_t *s, hm__op_t *op)
{
    hm_allow_t a = op->allow;
    a.time = a.time ? a.time : op->time;
    size_t n = hm_store_rec_allow_size(&a);
    if (hm_sha256_is_zero(a.sha256) || n == 0)
        return hm__seterr(HM_E_INVAL, "store: allow entry needs a sha256 and a short note");
    MDB_val k = { 32, a.sha256 }, d = { n, NULL };
    int rc = hm__store_mdb(mdb_put(s->txn, s->allow, &k, &d, MDB_RESERVE), "allow put");
    if (rc)
        return rc;
    if (hm_store_rec_allow_encode(&a, d.mv_data, n) != n)
        return hm__seterr(HM_E_INTERNAL, "store: allow encoding");
    hm_store_change_t ch = { .op = HM_OP_ALLOW, .time = op->time };
    memcpy(ch.sha256, a.sha256, 32);
    return s_log(s, &ch);
}

static int s_disallow(hm_store_t *s, hm__op_t *op)
{
    if (hm_sha256_is_zero(op->sha))
        return hm__seterr(HM_E_INVAL, "store: disallow needs a sha256");
    MDB_val k = { 32, op->sha };
    int mrc = mdb_del(s->txn, s->allow, &k, NULL);
    if (mrc == MDB_NOTFOUND)
        return hm__seterr(HM_E_NOTFOUND, "store: no allow-list entry for that sha256");
    int rc = hm__store_mdb(mrc, "allow del");
    if (rc)
        return rc;
    hm_store_change_t ch = { .op = HM_OP_DISALLOW, .time = op->time };
    memcpy(ch.sha256, op->sha, 32);
    return s_log(s, &ch);
}

/* Strike key: seller "\0" listing "\0" image.  Ids hold no NUL, so the key
 * is unambiguous and all of a seller's strikes share the prefix seller "\0". */
static int s_strike(hm_store_t *s, hm__op_t *op)
{
    int rc;
    if ((rc = s_valid_id(op->str[0], "seller")) || (rc = s_valid_id(op->str[1], "listing id")) ||
        (rc = s_valid_id(op->str[2], "image id")))
        return rc;
    char key[3 * (HM_STORE_MAX_ID + 1)];
    size_t l0 = strlen(op->str[0]), l1 = strlen(op->str[1]), l2 = strlen(op->str[2]);
    size_t klen = l0 + 1 + l1 + 1 + l2;
    if ((int)klen > mdb_env_get_maxkeysize(s->env))
        return hm__seterr(HM_E_INVAL, "store: strike key too long");
    memcpy(key, op->str[0], l0 + 1);
    memcpy(key + l0 + 1, op->str[1], l1 + 1);
    memcpy(key + l0 + 1 + l1 + 1, op->str[2], l2);
    uint8_t val[9] = { HM_STORE_REC_VERSION };
    hm__put_u64(val + 1, (uint64_t)op->time);
    MDB_val k = { klen, key }, d = { sizeof val, val };
    int mrc = mdb_put(s->txn, s->strikes, &k, &d, MDB_NOOVERWRITE);
    if (mrc != MDB_KEYEXIST) {
        if ((rc = hm__store_mdb(mrc, "strike put")))
            return rc;
        hm_store_change_t ch = { .op = HM_OP_STRIKE, .time = op->time, .a = op->str[0],
                                 .b = op->str[1], .c = op->str[2] };
        if ((rc = s_log(s, &ch)))
            return rc;
    }
    return hm__store_count_strikes(s->txn, s->strikes, op->str[0], &op->count);
}

int hm__store_count_strikes(MDB_txn *txn, MDB_dbi dbi, const char *seller, uint64_t *count)
{
    MDB_cursor *cur = NULL;
    size_t plen = strlen(seller) + 1; /* the prefix includes the NUL */
    uint64_t n = 0;
    int rc = hm__store_mdb(mdb_cursor_open(txn, dbi, &cur), "strike cursor");
    if (rc)
        return rc;
    MDB_val k = { plen, (void *)seller }, d;
    int mrc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE);
    while (mrc == 0 && k.mv_size >= plen && memcmp(k.mv_data, seller, plen) == 0) {
        n++;
        mrc = mdb_cursor_get(cur, &k, &d, MDB_NEXT);
    }
    if (mrc != 0 && mrc != MDB_NOTFOUND)
        rc = hm__store_mdb(mrc, "strike scan");
    mdb_cursor_close(cur);
    *count = n;
    return rc;
}

static int s_aux(hm_store_t *s, hm__op_t *op)
{
    int rc = s_valid_id(op->str[0], "aux key");
    if (rc)
        return rc;
    MDB_dbi dbi = op->bank == HM_AUX_DECISIONS ? s->decisions : s->refthumbs;
    MDB_val k = { strlen(op->str[0]), (void *)op->str[0] },
            d = { op->ref.fp_len, (void *)op->ref.fp };
    int mrc = mdb_put(s->txn, dbi, &k, &d, op->on ? MDB_NOOVERWRITE : 0);
    if (mrc == MDB_KEYEXIST)
        return hm__seterr(HM_E_EXISTS, "store: aux key '%s' exists", op->str[0]);
    return hm__store_mdb(mrc, "aux put");
}

/* The last log sequence in the write transaction (0: empty log). */

/* A replicated ADD: the primary's id, not next_id; next_id follows the
 * largest id seen so a later promotion hands out fresh ids.  Without a
 * payload (the reference was removed on the primary before it was shipped)
 * only next_id moves: the REMOVE that follows finds nothing to remove. */
static int s_repl_add(hm_store_t *s, hm__op_t *op)
{
    uint64_t next = 0;
    int rc = hm__store_get_u64(s->txn, s->meta, "next_id", &next);
    if (rc && rc != HM_E_NOTFOUND)
        return rc;
    if (next < op->id + 1 && (rc = hm__store_put_u64(s->txn, s->meta, "next_id", op->id + 1)))
        return rc;
    if (!op->has_ref)
        return 0;
    hm_ref_t r = op->ref;
    r.id = op->id;
    size_t n = hm_store_rec_ref_size(&r);
    if (n == 0)
        return hm__seterr(HM_E_CORRUPT, "replica: unencodable reference %llu",
                          (unsigned long long)op->id);
    MDB_val k = s_idkey(&op->id), d = { n, NULL };
    if ((rc = hm__store_mdb(mdb_put(s->txn, s->refs, &k, &d, MDB_NOOVERWRITE | MDB_RESERVE),
                            "refs put")))
        goto leave;
    if (hm_store_rec_ref_encode(&r, d.mv_data, n) != n)
        return hm__seterr(HM_E_INTERNAL, "store: reference encoding");
    if ((rc = s_index_put(s, s->ext, r.ext_id, strlen(r.ext_id), op->id)) ||
        (!hm_sha256_is_zero(r.sha256) && (rc = s_index_put(s, s->sha, r.sha256, 32, op->id))))
        goto leave;
    rc = s_count(s, r.bank, +1);
leave:
    /* A clash means this replica's banks are not the primary's. */
    if (rc == HM_E_EXISTS)
        rc = hm__seterr(HM_E_CORRUPT, "replica: reference %llu (%s) clashes with local data",
                        (unsigned long long)op->id, r.ext_id);
    return rc;
}

/*
 * A change replicated from a primary gets exactly the primary's sequence.
 * The ordinary operation runs on a copy of op (so the effect is the one the
 * primary had); when it finds its target gone or the state already as the
 * change leaves it, it logs nothing, and the shipped change record is logged
 * instead: every sequence exists on the replica, with the primary's record.
 */
static int s_repl(hm_store_t *s, hm__op_t *op)
{
    uint64_t last = 0;
    int rc = hm__store_log_last(s, s->txn, &last);
    if (rc)
        return rc;
    if (op->seq <= last)
        return hm__seterr(HM_E_EXISTS, "replica: change %llu is already applied (at %llu)",
                          (unsigned long long)op->seq, (unsigned long long)last);
    if (op->seq != last + 1)
        return hm__seterr(HM_E_INVAL, "replica: change %llu does not follow %llu (a gap)",
                          (unsigned long long)op->seq, (unsigned long long)last);
    hm__op_t o = *op;
    switch (op->repl_op) {
    case HM_OP_ADD: rc = s_repl_add(s, op); break;
    case HM_OP_REMOVE: rc = s_remove(s, &o); break;
    case HM_OP_RELABEL: rc = s_relabel(s, &o); break;
    case HM_OP_AUTHORIZE:
    case HM_OP_DEAUTHORIZE:
        o.on = op->repl_op == HM_OP_AUTHORIZE;
        rc = s_authorize(s, &o);
        break;
    case HM_OP_ALLOW:
        memcpy(o.allow.sha256, op->sha, 32);
        rc = op->has_allow ? s_allow(s, &o) : 0;
        break;
    case HM_OP_DISALLOW: rc = s_disallow(s, &o); break;
    case HM_OP_STRIKE: rc = s_strike(s, &o); break;
    default:
        return hm__seterr(HM_E_VERSION, "replica: unknown change op %d (a newer primary?)",
                          op->repl_op);
    }
    if (rc == HM_E_NOTFOUND)
        rc = 0; /* already as the change leaves it */
    else if (rc == HM_E_EXISTS || rc == HM_E_INVAL) {
        char why[256];
        snprintf(why, sizeof why, "%s", hm_last_error());
        return hm__seterr(HM_E_CORRUPT, "replica: change %llu does not apply: %s",
                          (unsigned long long)op->seq, why);
    }
    if (rc || (rc = hm__store_log_last(s, s->txn, &last)))
        return rc;
    if (last == op->seq)
        return 0;
    if (last != op->seq - 1)
        return hm__seterr(HM_E_CORRUPT, "replica: change %llu logged as %llu",
                          (unsigned long long)op->seq, (unsigned long long)last);
    hm_store_change_t ch = { .op = op->repl_op, .time = op->time, .id = op->id,
                             .bank = op->bank, .a = op->str[0], .b = op->str[1],
                             .c = op->str[2] };
    memcpy(ch.sha256, op->sha, 32);
    return s_log(s, &ch);
}

/* Delete old log entries from the front: older than op->cutoff and not among
 * the last op->keep (an entry at exactly the cutoff goes); at most op->count of them.  The last entry always stays
 * (it holds the store's sequence). */
static int s_compact(hm_store_t *s, hm__op_t *op)
{
    uint64_t last = 0, n = 0;
    int rc = hm__store_log_last(s, s->txn, &last);
    if (rc)
        return rc;
    uint64_t keep = op->keep ? op->keep : 1;
    MDB_cursor *cur = NULL;
    MDB_val k, d;
    if ((rc = hm__store_mdb(mdb_cursor_open(s->txn, s->log, &cur), "log cursor")))
        return rc;
    int mrc = mdb_cursor_get(cur, &k, &d, MDB_FIRST);
    while (mrc == 0 && n < op->count && k.mv_size == 8) {
        uint64_t seq;
        memcpy(&seq, k.mv_data, 8);
        hm_store_change_t ch;
        if (last - seq < keep || hm_store_rec_change_decode(d.mv_data, d.mv_size, &ch) != 0 ||
            ch.time > op->cutoff)
            break;
        if ((mrc = mdb_cursor_del(cur, 0)) != 0)
            break;
        n++;
        mrc = mdb_cursor_get(cur, &k, &d, MDB_GET_CURRENT);
        if (mrc == MDB_NOTFOUND || mrc == EINVAL)
            mrc = mdb_cursor_get(cur, &k, &d, MDB_FIRST);
    }
    if (mrc != 0 && mrc != MDB_NOTFOUND)
        rc = hm__store_mdb(mrc, "log compaction");
    mdb_cursor_close(cur);
    op->count = n;
    return rc;
}

int hm__store_apply(hm_store_t *s, hm__op_t *op, int replay)
{
    switch (op->type) {
    case HM__OP_REPL: return s_repl(s, op);
    case HM__OP_COMPACT: return s_compact(s, op);
    case HM_OP_ADD: return s_add(s, op, replay);
    case HM_OP_REMOVE: return s_remove(s, op);
    case HM_OP_RELABEL: return s_relabel(s, op);
    case HM_OP_AUTHORIZE: return s_authorize(s, op);
    case HM_OP_ALLOW: return s_allow(s, op);
    case HM_OP_DISALLOW: return s_disallow(s, op);
    case HM_OP_STRIKE: return s_strike(s, op);
    case HM__OP_AUX: return s_aux(s, op);
    default: return hm__seterr(HM_E_INTERNAL, "store: unknown op %d", op->type);
    }
}

/* ---- the public write functions: build an op, hand it to the batch layer ---- */

int hm_store_add(hm_store_t *s, const hm_ref_t *ref, uint64_t *id_out)
{
    if (!ref)
        return hm__seterr(HM_E_INVAL, "hm_store_add: NULL reference");
    hm__op_t op = { .type = HM_OP_ADD, .ref = *ref };
    op.ref.mem_ = NULL;
    int rc = hm__store_write(s, &op);
    if (id_out)
        *id_out = (rc == 0 || rc == HM_E_EXISTS) ? op.id : 0;
    return rc;
}

int hm_store_remove(hm_store_t *s, uint64_t id)
{
    hm__op_t op = { .type = HM_OP_REMOVE, .id = id };
    return hm__store_write(s, &op);
}

int hm_store_relabel(hm_store_t *s, uint64_t id, int bank)
{
    hm__op_t op = { .type = HM_OP_RELABEL, .id = id, .bank = bank };
    return hm__store_write(s, &op);
}

int hm_store_authorize(hm_store_t *s, const char *brand, const char *seller, int on)
{
    hm__op_t op = { .type = HM_OP_AUTHORIZE, .on = on ? 1 : 0, .str = { brand, seller } };
    return hm__store_write(s, &op);
}

int hm_store_allow(hm_store_t *s, const hm_allow_t *entry)
{
    if (!entry)
        return hm__seterr(HM_E_INVAL, "hm_store_allow: NULL entry");
    hm__op_t op = { .type = HM_OP_ALLOW, .allow = *entry };
    return hm__store_write(s, &op);
}

int hm_store_disallow(hm_store_t *s, const uint8_t sha256[32])
{
    if (!sha256)
        return hm__seterr(HM_E_INVAL, "hm_store_disallow: NULL sha256");
    hm__op_t op = { .type = HM_OP_DISALLOW };
    memcpy(op.sha, sha256, 32);
    return hm__store_write(s, &op);
}

int hm_store_add_strike(hm_store_t *s, const char *seller, const char *listing_id,
                        const char *image_id, uint64_t *count)
{
    hm__op_t op = { .type = HM_OP_STRIKE, .str = { seller, listing_id, image_id } };
    int rc = hm__store_write(s, &op);
    if (count)
        *count = rc == 0 ? op.count : 0;
    return rc;
}

int hm_store_aux_put(hm_store_t *s, int aux, const char *key, const void *val, size_t len,
                     int keep)
{
    if (!s || (aux != HM_AUX_DECISIONS && aux != HM_AUX_REFTHUMBS) || (len && !val) ||
        len > HM_STORE_MAX_BLOB)
        return hm__seterr(HM_E_INVAL, "hm_store_aux_put: bad argument");
    hm__op_t op = { .type = HM__OP_AUX, .bank = aux, .on = keep ? 1 : 0, .str = { key } };
    op.ref.fp = val;
    op.ref.fp_len = len;
    return hm__store_write(s, &op);
}
