/*
 * hm_store.c - the environment, the write lock, schema checks, batches and map
 * growth (see hm_store.h).  The operations themselves are in hm_store_ops.c,
 * the reads in hm_store_read.c.
 */
#include "hm_store.h"

#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hm_error.h"
#include "hm_log.h"
#include "hm_store_int.h"
#include "hm_store_rec.h"

#define S_DEFAULT_MAP ((size_t)16 << 20)
#define S_DEFAULT_MAX ((size_t)1 << 40)
#define S_DEFAULT_READERS 256u

/* The batch the calling thread owns, if any (a thread owns at most one).
 * Not hidden scratch: an LMDB write transaction belongs to the thread that
 * began it, and hm_store_batch_begin()'s contract (hm_store.h) binds the
 * batch to its thread the same way; the gate depths below likewise count a
 * thread's own nested reads.  Both stay thread-local by design. */
static _Thread_local hm_store_t *s_tls_batch;

hm_store_opts_t hm_store_opts_default(void)
{
    hm_store_opts_t o = { 0 };
    o.sync = HM_STORE_SYNC_FULL;
    o.map_size = S_DEFAULT_MAP;
    o.max_map_size = S_DEFAULT_MAX;
    o.max_readers = S_DEFAULT_READERS;
    return o;
}

int hm__store_mdb(int rc, const char *what)
{
    int hm;
    switch (rc) {
    case MDB_SUCCESS: return 0;
    case MDB_MAP_FULL: return HM__MAPFULL;
    case MDB_NOTFOUND: hm = HM_E_NOTFOUND; break;
    case MDB_KEYEXIST: hm = HM_E_EXISTS; break;
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID: hm = HM_E_CORRUPT; break;
    case MDB_VERSION_MISMATCH: hm = HM_E_VERSION; break;
    case MDB_READERS_FULL: hm = HM_E_BUSY; break;
    case ENOMEM: hm = HM_E_NOMEM; break;
    default: hm = HM_E_STORE; break;
    }
    return hm__seterr(hm, "store: %s: %s", what, mdb_strerror(rc));
}

int hm__store_get_u64(MDB_txn *txn, MDB_dbi dbi, const char *key, uint64_t *v)
{
    MDB_val k = { strlen(key), (void *)key }, d;
    int rc = mdb_get(txn, dbi, &k, &d);
    if (rc)
        return hm__store_mdb(rc, key);
    if (d.mv_size != 8)
        return hm__seterr(HM_E_CORRUPT, "store: meta %s has %zu bytes", key, d.mv_size);
    *v = hm__get_u64(d.mv_data);
    return 0;
}

int hm__store_put_u64(MDB_txn *txn, MDB_dbi dbi, const char *key, uint64_t v)
{
    uint8_t b[8];
    hm__put_u64(b, v);
    MDB_val k = { strlen(key), (void *)key }, d = { 8, b };
    return hm__store_mdb(mdb_put(txn, dbi, &k, &d, 0), key);
}

/* ---- the map gate ---- */

/* How deep the calling thread is inside each store's gate.  A few slots are
 * enough: a thread rarely reads more than one store at a time; when they are
 * all taken, entering simply waits like a new reader. */
#define S_TLS_SLOTS 8
static _Thread_local struct {
    const hm_store_t *s;
    unsigned depth;
} s_tls_gate[S_TLS_SLOTS];

static unsigned *s_depth(const hm_store_t *s, int claim)
{
    int free_slot = -1;
    for (int i = 0; i < S_TLS_SLOTS; i++) {
        if (s_tls_gate[i].s == s)
            return &s_tls_gate[i].depth;
        if (!s_tls_gate[i].s && free_slot < 0)
            free_slot = i;
    }
    if (!claim || free_slot < 0)
        return NULL;
    s_tls_gate[free_slot].s = s;
    s_tls_gate[free_slot].depth = 0;
    return &s_tls_gate[free_slot].depth;
}

static void s_depth_drop(const hm_store_t *s)
{
    for (int i = 0; i < S_TLS_SLOTS; i++)
        if (s_tls_gate[i].s == s && --s_tls_gate[i].depth == 0)
            s_tls_gate[i].s = NULL;
}

void hm__store_gate_enter(hm_store_t *s)
{
    unsigned *d = s_depth(s, 1);
    pthread_mutex_lock(&s->gate);
    /* Already inside: waiting for a growth that waits for us would deadlock. */
    while (s->growing && !(d && *d > 0))
        pthread_cond_wait(&s->gate_cv, &s->gate);
    s->inside++;
    pthread_mutex_unlock(&s->gate);
    if (d)
        (*d)++;
}

void hm__store_gate_leave(hm_store_t *s)
{
    pthread_mutex_lock(&s->gate);
    if (--s->inside == 0 && s->growing)
        pthread_cond_broadcast(&s->gate_cv);
    pthread_mutex_unlock(&s->gate);
    s_depth_drop(s);
}

int hm__store_gate_exclusive(hm_store_t *s, int (*fn)(hm_store_t *s, void *arg), void *arg)
{
    unsigned *d = s_depth(s, 0);
    if (d && *d > 0)
        return hm__seterr(HM_E_BUSY, "store: the map must change while this thread reads "
                                     "(a write from a foreach callback?)");
    pthread_mutex_lock(&s->gate);
    while (s->growing)
        pthread_cond_wait(&s->gate_cv, &s->gate);
    s->growing = 1;
    while (s->inside > 0)
        pthread_cond_wait(&s->gate_cv, &s->gate);
    pthread_mutex_unlock(&s->gate);
    int rc = fn(s, arg);
    pthread_mutex_lock(&s->gate);
    s->growing = 0;
    pthread_cond_broadcast(&s->gate_cv);
    pthread_mutex_unlock(&s->gate);
    return rc;
}

/* ---- readers ---- */

static int s_adopt_size(hm_store_t *s, void *arg)
{
    (void)arg;
    int rc = hm__store_mdb(mdb_env_set_mapsize(s->env, 0), "adopt map size");
    MDB_envinfo info;
    if (rc == 0 && mdb_env_info(s->env, &info) == 0) {
        atomic_store(&s->map_size, info.me_mapsize);
        hm_log_info("store_map_adopt", "size=%zu", info.me_mapsize);
    }
    return rc;
}

/*
 * A read transaction lives inside the map gate, so the map cannot move under
 * it.  MDB_MAP_RESIZED means another process (the writer) grew the map: adopt
 * the new size (with the gate empty) and try again.
 */
int hm__store_rd_begin(hm_store_t *s, MDB_txn **txn)
{
    *txn = NULL;
    for (int tries = 0;; tries++) {
        hm__store_gate_enter(s);
        int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, txn);
        if (rc == 0)
            return 0;
        *txn = NULL;
        hm__store_gate_leave(s);
        if (rc != MDB_MAP_RESIZED || tries > 8)
            return hm__store_mdb(rc, "read transaction");
        if ((rc = hm__store_gate_exclusive(s, s_adopt_size, NULL)))
            return rc;
    }
}

void hm__store_rd_end(hm_store_t *s, MDB_txn **txn)
{
    if (*txn) {
        mdb_txn_abort(*txn);
        *txn = NULL;
        hm__store_gate_leave(s);
    }
}

/* ---- open / close ---- */

static const struct {
    const char *name;
    size_t off;
    unsigned flags;
    int optional;  /* aux: absent in a read-only open of an older database */
} s_dbs[] = {
    { "meta", offsetof(hm_store_t, meta), 0, 0 },
    { "refs", offsetof(hm_store_t, refs), MDB_INTEGERKEY, 0 },
    { "ext", offsetof(hm_store_t, ext), 0, 0 },
    { "sha", offsetof(hm_store_t, sha), 0, 0 },
    { "auth", offsetof(hm_store_t, auth), MDB_DUPSORT, 0 },
    { "strikes", offsetof(hm_store_t, strikes), 0, 0 },
    { "allow", offsetof(hm_store_t, allow), 0, 0 },
    { "log", offsetof(hm_store_t, log), MDB_INTEGERKEY, 0 },
    { "decisions", offsetof(hm_store_t, decisions), 0, 1 },
    { "refthumbs", offsetof(hm_store_t, refthumbs), 0, 1 },
};

/*
 * Migration steps: s_migrate[v] upgrades schema v to v + 1 inside the open
 * transaction.  Schema 1 is the first, so there is none yet; a future step is
 * added here and HM_STORE_SCHEMA bumped (see MIGRATION in hm_store.h).
 */
typedef int (*s_migrate_fn)(hm_store_t *s, MDB_txn *txn);
static const s_migrate_fn s_migrate[HM_STORE_SCHEMA] = { NULL };

/* Create the sub-databases (writer) or find them (read-only), then check the
 * schema version; a fresh database gets the current one. */
static int s_init_dbs(hm_store_t *s)
{
    MDB_txn *txn = NULL;
    int rc = hm__store_mdb(mdb_txn_begin(s->env, NULL, s->readonly ? MDB_RDONLY : 0, &txn),
                           "open transaction");
    if (rc)
        goto leave;
    for (size_t i = 0; i < sizeof s_dbs / sizeof s_dbs[0]; i++) {
        unsigned fl = s_dbs[i].flags | (s->readonly ? 0 : MDB_CREATE);
        int mrc = mdb_dbi_open(txn, s_dbs[i].name, fl, (MDB_dbi *)((char *)s + s_dbs[i].off));
        if (mrc == MDB_NOTFOUND && s_dbs[i].optional) {
            *(MDB_dbi *)((char *)s + s_dbs[i].off) = 0;
            continue;
        }
        if (mrc == MDB_NOTFOUND) {
            rc = hm__seterr(HM_E_NOTFOUND, "store: no database here (sub-db %s missing)",
                            s_dbs[i].name);
            goto leave;
        }
        if ((rc = hm__store_mdb(mrc, s_dbs[i].name)))
            goto leave;
    }
    MDB_val k = { 6, "schema" }, d;
    int mrc = mdb_get(txn, s->meta, &k, &d);
    uint32_t ver;
    if (mrc == MDB_NOTFOUND) {
        if (s->readonly) {
            rc = hm__seterr(HM_E_NOTFOUND, "store: database was never initialised");
            goto leave;
        }
        /* Only an empty database may be initialised: references without a
         * next_id would have their ids handed out again. */
        MDB_stat ms;
        if ((rc = hm__store_mdb(mdb_stat(txn, s->refs, &ms), "stat refs")))
            goto leave;
        if (ms.ms_entries > 0) {
            rc = hm__seterr(HM_E_CORRUPT, "store: references present but no schema in meta");
            goto leave;
        }
        uint8_t b[4] = { HM_STORE_SCHEMA, 0, 0, 0 };
        d = (MDB_val){ 4, b };
        if ((rc = hm__store_mdb(mdb_put(txn, s->meta, &k, &d, 0), "schema")) ||
            (rc = hm__store_put_u64(txn, s->meta, "next_id", 1)))
            goto leave;
        ver = HM_STORE_SCHEMA;
    } else if ((rc = hm__store_mdb(mrc, "schema"))) {
        goto leave;
    } else if (d.mv_size != 4) {
        rc = hm__seterr(HM_E_CORRUPT, "store: schema value has %zu bytes", d.mv_size);
        goto leave;
    } else {
        const uint8_t *p = d.mv_data;
        ver = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    }
    if (ver == 0) {
        rc = hm__seterr(HM_E_CORRUPT, "store: schema version 0");
        goto leave;
    }
    if (ver > HM_STORE_SCHEMA || (ver < HM_STORE_SCHEMA && s->readonly)) {
        rc = hm__seterr(HM_E_VERSION, "store: schema %u, this build knows %u%s", ver,
                        HM_STORE_SCHEMA, ver < HM_STORE_SCHEMA ? " (migrate with a writer)" : "");
        goto leave;
    }
    for (uint32_t v = ver; v < HM_STORE_SCHEMA; v++) {
        if (!s_migrate[v] || (rc = s_migrate[v](s, txn))) {
            rc = rc ? rc : hm__seterr(HM_E_VERSION, "store: no migration from schema %u", v);
            goto leave;
        }
        hm_log_info("store_migrate", "from=%u to=%u", v, v + 1);
    }
    if (ver < HM_STORE_SCHEMA) {
        uint8_t b[4] = { HM_STORE_SCHEMA, 0, 0, 0 };
        d = (MDB_val){ 4, b };
        if ((rc = hm__store_mdb(mdb_put(txn, s->meta, &k, &d, 0), "schema")))
            goto leave;
    }
    rc = hm__store_mdb(mdb_txn_commit(txn), "commit open");
    txn = NULL;
leave:
    if (txn)
        mdb_txn_abort(txn);
    return rc == HM__MAPFULL ? hm__seterr(HM_E_STORE, "store: map too small to initialise") : rc;
}

/* The write lock: an exclusive, non-blocking flock on dir/write.lock. */
static int s_lock(hm_store_t *s, const char *dir)
{
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/write.lock", dir) >= sizeof path)
        return hm__seterr(HM_E_INVAL, "store: path too long");
    s->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (s->lock_fd < 0)
        return hm__seterr(HM_E_IO, "store: open %s: %s", path, strerror(errno));
    if (flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK)
            return hm__seterr(HM_E_LOCKED, "store: %s is held by another writer", path);
        return hm__seterr(HM_E_IO, "store: flock %s: %s", path, strerror(errno));
    }
    return 0;
}

int hm_store_open(hm_store_t **out, const char *dir, const hm_store_opts_t *opts)
{
    hm__clearerr();
    if (!out || !dir || !*dir)
        return hm__seterr(HM_E_INVAL, "hm_store_open: NULL argument");
    *out = NULL;
    hm_store_opts_t o = opts ? *opts : hm_store_opts_default();
    if (o.sync < HM_STORE_SYNC_FULL || o.sync > HM_STORE_SYNC_NONE)
        return hm__seterr(HM_E_INVAL, "hm_store_open: bad sync mode %d", o.sync);
    long page = sysconf(_SC_PAGESIZE);
    size_t pg = page > 0 ? (size_t)page : 4096;
    o.map_size = o.map_size ? (o.map_size + pg - 1) / pg * pg : S_DEFAULT_MAP;
    o.max_map_size = o.max_map_size ? o.max_map_size / pg * pg : S_DEFAULT_MAX;
    if (o.max_map_size < o.map_size)
        return hm__seterr(HM_E_INVAL, "hm_store_open: max_map_size < map_size");

    int rc = 0;
    hm_store_t *s = calloc(1, sizeof *s);
    if (!s)
        return hm__seterr(HM_E_NOMEM, "hm_store_open: out of memory");
    s->lock_fd = -1;
    s->readonly = o.readonly ? 1 : 0;
    s->max_map_size = o.max_map_size;
    pthread_mutex_init(&s->gate, NULL);
    pthread_cond_init(&s->gate_cv, NULL);
    pthread_mutex_init(&s->wlock, NULL);

    struct stat st;
    if (!s->readonly) {
        if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
            rc = hm__seterr(HM_E_IO, "store: mkdir %s: %s", dir, strerror(errno));
            goto leave;
        }
        if ((rc = s_lock(s, dir)))
            goto leave;
    } else if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        rc = hm__seterr(errno == ENOENT || errno == 0 ? HM_E_NOTFOUND : HM_E_IO,
                        "store: %s is not a database directory", dir);
        goto leave;
    } else {
        char path[4096];
        snprintf(path, sizeof path, "%s/data.mdb", dir);
        if (stat(path, &st) != 0) {
            rc = hm__seterr(HM_E_NOTFOUND, "store: no database in %s", dir);
            goto leave;
        }
    }

    if ((rc = hm__store_mdb(mdb_env_create(&s->env), "env create")))
        goto leave;
    unsigned flags = MDB_NOTLS;
    if (s->readonly)
        flags |= MDB_RDONLY;
    if (o.sync == HM_STORE_SYNC_META)
        flags |= MDB_NOMETASYNC;
    else if (o.sync == HM_STORE_SYNC_NONE)
        flags |= MDB_NOSYNC;
    if ((rc = hm__store_mdb(mdb_env_set_maxdbs(s->env, 16), "set maxdbs")) ||
        (rc = hm__store_mdb(mdb_env_set_maxreaders(s->env, o.max_readers ? o.max_readers
                                                                          : S_DEFAULT_READERS),
                            "set maxreaders")) ||
        (rc = hm__store_mdb(mdb_env_set_mapsize(s->env, o.map_size), "set mapsize")) ||
        (rc = hm__store_mdb(mdb_env_open(s->env, dir, flags, 0600), "env open")))
        goto leave;
    if (!s->readonly) {
        int dead = 0;
        if ((rc = hm__store_mdb(mdb_reader_check(s->env, &dead), "reader check")))
            goto leave;
        if (dead)
            hm_log_info("store_stale_readers", "dir=%s cleared=%d", dir, dead);
    }
    if ((rc = s_init_dbs(s)))
        goto leave;
    MDB_envinfo info;
    if ((rc = hm__store_mdb(mdb_env_info(s->env, &info), "env info")))
        goto leave;
    atomic_store(&s->map_size, info.me_mapsize);
    hm_log_debug("store_open", "dir=%s readonly=%d map=%zu", dir, s->readonly,
                 info.me_mapsize);
    *out = s;
    s = NULL;
leave:
    hm_store_close(&s);
    return rc;
}

static void s_txn_abort(hm_store_t *s);

static void s_ops_free(hm_store_t *s)
{
    for (size_t i = 0; i < s->nops; i++)
        free(s->ops[i].mem);
    s->nops = 0;
}

void hm_store_close(hm_store_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    hm_store_t *s = *self_p;
    if (s_tls_batch == s) {
        /* Closing inside our own batch: drop it as an abort would, so the
         * thread's gate depth and the writer mutex are released. */
        s_tls_batch = NULL;
        s_txn_abort(s);
        pthread_mutex_unlock(&s->wlock);
    }
    if (s->txn) { /* a batch of another thread: misuse, but do not leak it */
        mdb_txn_abort(s->txn);
        s->txn = NULL;
    }
    s_ops_free(s);
    free(s->ops);
    if (s->env)
        mdb_env_close(s->env);
    if (s->lock_fd >= 0)
        close(s->lock_fd); /* releases the flock */
    pthread_mutex_destroy(&s->gate);
    pthread_cond_destroy(&s->gate_cv);
    pthread_mutex_destroy(&s->wlock);
    free(s);
    *self_p = NULL;
}

int hm_store_sync(hm_store_t *s)
{
    if (!s)
        return hm__seterr(HM_E_INVAL, "hm_store_sync: NULL");
    if (s->readonly)
        return hm__seterr(HM_E_READONLY, "store: opened read-only");
    return hm__store_mdb(mdb_env_sync(s->env, 1), "sync");
}

/* ---- batches ---- */

/* Deep-copy op's borrowed bytes into one allocation, so it outlives the call
 * that supplied them (replay may need it until commit). */
static int s_op_own(hm__op_t *op)
{
    const char **strs[8];
    int n = 0;
    strs[n++] = &op->ref.ext_id;
    strs[n++] = &op->ref.brand;
    strs[n++] = &op->ref.rights_holder;
    strs[n++] = &op->ref.source;
    strs[n++] = &op->allow.note;
    for (int i = 0; i < 3; i++)
        strs[n++] = &op->str[i];
    size_t total = op->ref.fp_len;
    for (int i = 0; i < n; i++)
        total += *strs[i] ? strlen(*strs[i]) + 1 : 0;
    char *mem = malloc(total ? total : 1);
    if (!mem)
        return hm__seterr(HM_E_NOMEM, "store: out of memory copying a batch operation");
    char *p = mem;
    if (op->ref.fp_len) {
        memcpy(p, op->ref.fp, op->ref.fp_len);
        op->ref.fp = (const uint8_t *)p;
        p += op->ref.fp_len;
    }
    for (int i = 0; i < n; i++) {
        if (!*strs[i])
            continue;
        size_t l = strlen(*strs[i]) + 1;
        memcpy(p, *strs[i], l);
        *strs[i] = p;
        p += l;
    }
    op->mem = mem;
    return 0;
}

static int s_txn_begin(hm_store_t *s)
{
    hm__store_gate_enter(s);
    int rc = hm__store_mdb(mdb_txn_begin(s->env, NULL, 0, &s->txn), "write transaction");
    if (rc) {
        s->txn = NULL;
        hm__store_gate_leave(s);
    }
    return rc;
}

static void s_txn_abort(hm_store_t *s)
{
    if (s->txn) {
        mdb_txn_abort(s->txn);
        s->txn = NULL;
        hm__store_gate_leave(s);
    }
}

static int s_set_size(hm_store_t *s, void *arg)
{
    return hm__store_mdb(mdb_env_set_mapsize(s->env, *(size_t *)arg), "grow map");
}

/* Double the map.  The caller holds wlock and has no transaction open; the
 * gate waits for this process's readers to finish. */
static int s_grow(hm_store_t *s)
{
    size_t cur = atomic_load(&s->map_size);
    if (cur >= s->max_map_size)
        return hm__seterr(HM_E_TOO_LARGE, "store: map full at max_map_size %zu bytes",
                          s->max_map_size);
    size_t next = cur > s->max_map_size / 2 ? s->max_map_size : cur * 2;
    int rc = hm__store_gate_exclusive(s, s_set_size, &next);
    if (rc == 0) {
        atomic_store(&s->map_size, next);
        atomic_fetch_add(&s->growths, 1);
        hm_log_info("store_map_grow", "from=%zu to=%zu", cur, next);
    }
    return rc;
}

/* After MDB_MAP_FULL: drop the transaction, grow, and re-apply every operation
 * of the batch in a new one, growing again as long as it does not fit. */
static int s_recover(hm_store_t *s)
{
    for (;;) {
        s_txn_abort(s);
        int rc = s_grow(s);
        if (rc == 0)
            rc = s_txn_begin(s);
        for (size_t i = 0; rc == 0 && i < s->nops; i++)
            rc = hm__store_apply(s, &s->ops[i], 1);
        if (rc != HM__MAPFULL)
            return rc;
    }
}

static int s_clean_failure(int rc)
{
    return rc == HM_E_EXISTS || rc == HM_E_NOTFOUND || rc == HM_E_INVAL;
}

/* Apply one operation inside the open batch, keeping it for replay. */
static int s_batch_op(hm_store_t *s, hm__op_t *op)
{
    if (s->poisoned)
        return hm__seterr(s->poisoned, "store: batch already failed: %s",
                          hm_strerror(s->poisoned));
    int rc;
    while ((rc = hm__store_apply(s, op, 0)) == HM__MAPFULL) {
        if ((rc = s_recover(s)))
            break;
    }
    if (rc == 0 && s->nops == s->capops) {
        size_t cap = s->capops ? 2 * s->capops : 16;
        hm__op_t *ops = realloc(s->ops, cap * sizeof *ops);
        if (!ops)
            rc = hm__seterr(HM_E_NOMEM, "store: out of memory growing a batch");
        else
            s->ops = ops, s->capops = cap;
    }
    if (rc == 0 && (rc = s_op_own(op)) == 0)
        s->ops[s->nops++] = *op;
    if (rc && !s_clean_failure(rc))
        s->poisoned = rc;
    return rc;
}

static int s_batch_start(hm_store_t *s)
{
    if (s->readonly)
        return hm__seterr(HM_E_READONLY, "store: opened read-only");
    /* A thread inside the gate (a foreach callback) must not wait for the
     * writer: the writer may be waiting, in a growth, for that very thread. */
    unsigned *d = s_depth(s, 0);
    if (d && *d > 0) {
        if (pthread_mutex_trylock(&s->wlock) != 0)
            return hm__seterr(HM_E_BUSY, "store: write from a read callback while "
                                         "another write runs");
    } else {
        pthread_mutex_lock(&s->wlock);
    }
    s->poisoned = 0;
    s->nops = 0;
    int rc = s_txn_begin(s);
    if (rc)
        pthread_mutex_unlock(&s->wlock);
    return rc;
}

/* End the batch: commit (growing and replaying on MAP_FULL) or abort. */
static int s_batch_finish(hm_store_t *s, int commit)
{
    int rc = 0;
    if (commit && s->poisoned)
        rc = hm__seterr(s->poisoned, "store: batch failed earlier: %s",
                        hm_strerror(s->poisoned));
    while (commit && rc == 0) {
        int mrc = mdb_txn_commit(s->txn); /* frees the transaction, also on failure */
        s->txn = NULL;
        hm__store_gate_leave(s);
        rc = hm__store_mdb(mrc, "commit");
        if (rc != HM__MAPFULL)
            break;
        rc = s_recover(s);
    }
    s_txn_abort(s);
    s_ops_free(s);
    s->poisoned = 0;
    pthread_mutex_unlock(&s->wlock);
    return rc;
}

int hm__store_write(hm_store_t *s, hm__op_t *op)
{
    if (!s)
        return hm__seterr(HM_E_INVAL, "store: NULL handle");
    hm__clearerr();
    if (op->time == 0)
        op->time = (int64_t)time(NULL);
    if (s_tls_batch == s)
        return s_batch_op(s, op);
    int rc = s_batch_start(s);
    if (rc)
        return rc;
    rc = s_batch_op(s, op);
    int frc = s_batch_finish(s, rc == 0);
    return rc ? rc : frc;
}

int hm_store_batch_begin(hm_store_t *s)
{
    if (!s)
        return hm__seterr(HM_E_INVAL, "hm_store_batch_begin: NULL");
    hm__clearerr();
    if (s_tls_batch)
        return hm__seterr(HM_E_INVAL, "store: this thread already has a batch open");
    int rc = s_batch_start(s);
    if (rc == 0)
        s_tls_batch = s;
    return rc;
}

int hm_store_batch_commit(hm_store_t *s)
{
    if (!s || s_tls_batch != s)
        return hm__seterr(HM_E_INVAL, "store: no batch open in this thread");
    hm__clearerr();
    s_tls_batch = NULL;
    return s_batch_finish(s, 1);
}

int hm_store_batch_abort(hm_store_t *s)
{
    if (!s || s_tls_batch != s)
        return hm__seterr(HM_E_INVAL, "store: no batch open in this thread");
    s_tls_batch = NULL;
    return s_batch_finish(s, 0);
}
