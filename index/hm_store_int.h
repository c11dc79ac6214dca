/*
 * hm_store_int.h - what the files of the store module share (hm_store.c:
 * environment, lock, batches and map growth; hm_store_ops.c: the write
 * operations; hm_store_read.c: lookups and iteration).  Not for other modules.
 */
#ifndef HM_STORE_INT_H
#define HM_STORE_INT_H

#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>

#include "hm_store.h"

_Static_assert(sizeof(size_t) == 8, "MDB_INTEGERKEY u64 keys need a 64-bit size_t");

/* Internal (positive, never returned to callers): LMDB said MDB_MAP_FULL; the
 * batch layer grows the map and replays. */
#define HM__MAPFULL 1

/* Internal op: an aux put (str[0] = key, ref.fp/fp_len = value, bank = aux,
 * on = keep).  Not logged, not a public enum hm_store_op value. */
#define HM__OP_AUX 110 /* (100, 101: HM__OP_REPL, HM__OP_COMPACT below) */

/* One write operation, kept until commit so it can be replayed. */
typedef struct hm__op {
    int type;             /* enum hm_store_op */
    int64_t time;         /* fixed before the first apply, so replay is exact */
    uint64_t id;          /* add: the id assigned; remove/relabel: the target */
    int bank;             /* relabel: the new bank */
    int on;               /* authorize: 1 on, 0 off (DEAUTHORIZE) */
    hm_ref_t ref;         /* add */
    hm_allow_t allow;     /* allow */
    const char *str[3];   /* authorize: brand, seller; strike: seller, listing, image */
    uint8_t sha[32];      /* disallow */
    uint64_t count;       /* strike: the count afterwards (a result) */
    void *mem;            /* the copy of every pointed-to byte, when owned */
    /* HM__OP_REPL (a change replicated from a primary, hm_store_repl.c):
     * repl_op is the change's enum hm_store_op, seq the sequence it must get;
     * id, bank, time, sha and str[] (= a, b, c) are the change's fields; ref
     * (ADD) and allow (ALLOW) hold the payload when has_ref / has_allow. */
    int repl_op;
    uint64_t seq;
    int has_ref, has_allow;
    /* HM__OP_COMPACT: keep the last `keep` entries and every entry at or
     * after `cutoff` (unix seconds); delete at most `count` (then the count
     * deleted). */
    uint64_t keep;
    int64_t cutoff;
} hm__op_t;

/* Internal operation types (beyond enum hm_store_op). */
#define HM__OP_REPL 100
#define HM__OP_COMPACT 101

struct hm_store {
    MDB_env *env;
    MDB_dbi meta, refs, ext, sha, auth, strikes, allow, log;
    MDB_dbi decisions, refthumbs;   /* optional (aux); 0 when absent read-only */
    int readonly;
    int lock_fd;                 /* write.lock, flock'ed; -1 when read-only */
    size_t max_map_size;
    atomic_size_t map_size;      /* current map size, as set by this handle */
    atomic_uint growths;
    /* The map gate.  Every transaction (reads, and the writer's) is opened
     * inside it; a map growth closes it and waits until no transaction is
     * left, because LMDB requires that none is active while the map changes.
     * Unlike a rwlock it lets a thread that is already inside enter again
     * (a lookup from a foreach callback) while a growth waits, and it stops
     * new readers during that wait so a growth is never starved. */
    pthread_mutex_t gate;
    pthread_cond_t gate_cv;
    unsigned inside;             /* transactions open in this process */
    int growing;                 /* a growth waits or runs */
    pthread_mutex_t wlock;       /* one writer (batch) at a time */
    /* The current write transaction and its operations; only the thread that
     * holds wlock touches these. */
    MDB_txn *txn;
    int poisoned;                /* the error that spoilt the batch, or 0 */
    hm__op_t *ops;
    size_t nops, capops;
};

/* LMDB result -> hallmark code (HM__MAPFULL for MDB_MAP_FULL), recording
 * "store: what: mdb_strerror" for real failures. */
int hm__store_mdb(int rc, const char *what);

/* The change log's last sequence in txn (0 when empty); HM_E_CORRUPT for a
 * malformed key, HM_E_STORE. */
int hm__store_log_last(hm_store_t *s, MDB_txn *txn, uint64_t *seq);

/* Enter and leave the map gate (see struct hm_store). */
void hm__store_gate_enter(hm_store_t *s);
void hm__store_gate_leave(hm_store_t *s);
/* Run fn(s) with the gate closed and empty.  HM_E_BUSY when the calling
 * thread is itself inside (a write from a foreach callback would wait for
 * itself forever). */
int hm__store_gate_exclusive(hm_store_t *s, int (*fn)(hm_store_t *s, void *arg), void *arg);

/* Open and end a read-only transaction (inside the map gate). */
int hm__store_rd_begin(hm_store_t *s, MDB_txn **txn);
void hm__store_rd_end(hm_store_t *s, MDB_txn **txn);

/* Apply op in s->txn.  replay = 1 when re-applying after a map growth: the
 * result must equal the first one (HM_E_INTERNAL otherwise).
 * @return 0, HM__MAPFULL, HM_E_EXISTS / HM_E_NOTFOUND / HM_E_INVAL (nothing
 * was written), or another error (the transaction may hold partial writes). */
int hm__store_apply(hm_store_t *s, hm__op_t *op, int replay);

/* Count keys of the strikes db that start with seller "\0". */
int hm__store_count_strikes(MDB_txn *txn, MDB_dbi dbi, const char *seller, uint64_t *count);

/* u64 helpers for meta values and id values (8 bytes little-endian). */
int hm__store_get_u64(MDB_txn *txn, MDB_dbi dbi, const char *key, uint64_t *v);
int hm__store_put_u64(MDB_txn *txn, MDB_dbi dbi, const char *key, uint64_t v);

/* Run a write operation: inside the caller's batch, or as its own batch. */
int hm__store_write(hm_store_t *s, hm__op_t *op);

#endif
