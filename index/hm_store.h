/*
 * hm_store.h - hallmark's source of truth: references, sellers, allow-list and
 * a change log, in one LMDB environment.
 *
 * LAYOUT.  One database directory holds one LMDB environment (data.mdb,
 * lock.mdb; the directory is created 0700 when missing) and a "write.lock"
 * file.  Named sub-databases:
 *   meta     "schema" -> u32, "next_id" -> u64, "count.1"/"count.2" -> u64
 *   refs     internal id (u64, MDB_INTEGERKEY) -> reference record
 *   ext      external id -> internal id
 *   sha      sha256 of the image bytes (32 bytes) -> internal id; references
 *            with an all-zero sha256 (hash-only imports) are not indexed here
 *   auth     brand -> authorised seller ids (MDB_DUPSORT)
 *   strikes  seller "\0" listing id "\0" image id -> strike record; one
 *            (listing, image) pair per seller counts once
 *   allow    sha256 -> allow-list entry (optional PDQ hash, note, time)
 *   log      sequence (u64, MDB_INTEGERKEY, monotonic from 1) -> change record
 * and two auxiliary sub-databases for the review console (hm_store_aux_*),
 * opaque to the store and not in the change log:
 *   decisions  console verdict id -> decision record (who, when, action, note)
 *   refthumbs  reference external id -> a small JPEG of the reference image
 * They are created by any writer that opens the database; a read-only handle
 * on a database no writer of this version has opened sees them as empty.
 * Older code ignores them, so they need no schema bump.
 * Every record is an explicit little-endian format that starts with a version
 * byte (hm_store_rec.h); structs are never written raw.
 *
 * SCHEMA AND MIGRATION.  meta "schema" holds the HM_STORE_SCHEMA of the code
 * that created (or last migrated) the database.  On open:
 *   - stored == HM_STORE_SCHEMA: open normally;
 *   - stored >  HM_STORE_SCHEMA: HM_E_VERSION (a newer hallmark wrote it; this
 *     code must not touch it, not even read-only);
 *   - stored <  HM_STORE_SCHEMA: a writer runs the migration steps v -> v+1,
 *     one after another, inside ONE write transaction that also stores the new
 *     version, so a crash leaves either the old or the new schema, never a mix.
 *     A read-only open of an older schema returns HM_E_VERSION.
 * The rule for a future version N+1: bump HM_STORE_SCHEMA, add a step N -> N+1
 * to the migration table in hm_store.c (rewrite records, create new sub-dbs),
 * keep the decoders of old record versions only as long as a step needs them.
 * A record version byte change without a schema bump is not allowed.
 *
 * DURABILITY.  By default every commit is fsync'ed (data and meta page).
 * opts.sync = HM_STORE_SYNC_META (MDB_NOMETASYNC) skips the meta-page flush:
 * a system crash may lose the last committed transaction, never consistency.
 * opts.sync = HM_STORE_SYNC_NONE (MDB_NOSYNC) leaves flushing to the OS and to
 * hm_store_sync(): a system crash may lose recent transactions, and on a file
 * system that reorders writes may corrupt the database.  A crash of the
 * process alone (SIGKILL) loses nothing committed in any mode.
 *
 * WRITERS.  One process writes a database: opening for writing takes an
 * exclusive flock() on write.lock (a second writer gets HM_E_LOCKED).  The
 * lock belongs to the open file description, so a fork()ed child inherits it:
 * children must not open the same database for writing while the parent holds
 * it, and must never use the parent's handle (LMDB forbids it).  Within the
 * process, write functions may be called from any thread; they serialise on
 * an internal mutex, and a batch belongs to the thread that began it (other
 * threads' writes wait until it ends).
 *
 * BATCHES.  hm_store_batch_begin() opens one write transaction; the write
 * functions called by the same thread join it; hm_store_batch_commit() makes
 * them durable together, hm_store_batch_abort() drops them.  Outside a batch
 * each write function is its own transaction.  Each operation's inputs are
 * copied into the batch: when LMDB reports MDB_MAP_FULL (at an operation or at
 * commit), the store aborts the transaction, doubles the map (up to
 * opts.max_map_size) and replays every operation of the batch, so the caller
 * never sees MAP_FULL.  A write that fails with HM_E_EXISTS, HM_E_NOTFOUND or
 * HM_E_INVAL changed nothing and the batch goes on; any other failure poisons
 * the batch: later writes and the commit return that error and the batch is
 * aborted.
 *
 * READERS.  Read functions may be called from any number of threads at once,
 * also while a batch is open; they never wait for the writer (LMDB MVCC) and
 * see committed data only.  Each call uses its own read-only transaction (the
 * environment is opened with MDB_NOTLS, so transactions are not tied to
 * threads; there is no reusable reader handle).  The only wait is at the
 * internal map gate while the map grows (LMDB requires that no transaction is
 * active in the process then): new reads wait for that instant, reads already
 * running finish first.  A foreach callback may call the read functions
 * (nested reads pass the gate), but must not write: the write could wait for
 * a growth that waits for the callback, so such a write fails with
 * HM_E_BUSY when it cannot go on at once, instead of hanging.
 * When another process (the writer) grew the map, a read-only handle adopts
 * the new size on its next read (MDB_MAP_RESIZED is handled inside).
 *
 * OWNERSHIP.  Records returned by hm_store_get*() are copies: the caller's
 * hm_ref_t is filled with pointers into one allocation owned by the hm_ref_t,
 * released by hm_ref_clear().  Foreach callbacks get views that point into the
 * database map and are valid only during the callback.
 */
#ifndef HM_STORE_H
#define HM_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "hm_fp.h"
#include "hm_sha.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HM_STORE_SCHEMA 1

/* Limits, checked with HM_E_INVAL.  Identifiers are (parts of) LMDB keys, whose
 * size is limited to 511 bytes: three of them form one strike key. */
#define HM_STORE_MAX_ID 160          /* ext id, brand, seller, listing, image */
#define HM_STORE_MAX_TEXT 4096       /* rights holder, source, note */
#define HM_STORE_MAX_BLOB (1u << 20) /* serialised fingerprint */

typedef struct hm_store hm_store_t;

enum hm_bank { HM_BANK_COUNTERFEIT = 1, HM_BANK_GENUINE = 2 };

/* hm_ref_t.flags */
#define HM_REF_PDQ_ONLY 0x1u /* imported from a hash list, no image bytes */

/*
 * One reference image.  As an input (hm_store_add) every pointer is borrowed
 * for the call.  As an output of hm_store_get*() it owns its memory until
 * hm_ref_clear().  Strings are NUL-terminated UTF-8.
 */
typedef struct hm_ref {
    uint64_t id;              /* internal id, assigned by the store (from 1) */
    const char *ext_id;       /* external id, unique, 1..HM_STORE_MAX_ID bytes */
    int bank;                 /* enum hm_bank */
    const char *brand;        /* 0..HM_STORE_MAX_ID bytes; NULL means "" */
    const char *rights_holder;/* 0..HM_STORE_MAX_TEXT bytes; NULL means "" */
    const char *source;       /* 0..HM_STORE_MAX_TEXT bytes; NULL means "" */
    int64_t added;            /* unix seconds; 0 on input means "now" */
    uint8_t sha256[32];       /* of the image bytes; all zero for hash-only */
    uint32_t flags;           /* HM_REF_* */
    const uint8_t *fp;        /* serialised fingerprint (hm_fp_serialize()),
                                 an opaque blob to the store */
    size_t fp_len;            /* 0..HM_STORE_MAX_BLOB */
    void *mem_;               /* internal: the allocation owned by an output */
} hm_ref_t;

/* Free what hm_store_get*() put in ref and zero it.  NULL-safe; calling it on
 * a zeroed or input hm_ref_t (mem_ == NULL) only zeroes it. */
void hm_ref_clear(hm_ref_t *ref);

/* An allow-list entry, from reviewer feedback: never report this image. */
typedef struct hm_allow {
    uint8_t sha256[32];       /* the key; must not be all zero */
    int has_pdq;              /* 1 when pdq holds the image's PDQ hash */
    hm_pdq_t pdq;             /* lets the matcher allow near-duplicates too */
    int64_t time;             /* unix seconds; 0 on input means "now" */
    const char *note;         /* 0..HM_STORE_MAX_TEXT bytes; NULL means "" */
} hm_allow_t;

/* Change-log operations. */
enum hm_store_op {
    HM_OP_ADD = 1,         /* id, bank, a = ext id */
    HM_OP_REMOVE = 2,      /* id, bank, a = ext id */
    HM_OP_RELABEL = 3,     /* id, bank = the new bank */
    HM_OP_AUTHORIZE = 4,   /* a = brand, b = seller */
    HM_OP_DEAUTHORIZE = 5, /* a = brand, b = seller */
    HM_OP_ALLOW = 6,       /* sha256 */
    HM_OP_DISALLOW = 7,    /* sha256 */
    HM_OP_STRIKE = 8       /* a = seller, b = listing id, c = image id */
};

/* One change-log record; a view valid during the callback only. */
typedef struct hm_store_change {
    uint64_t seq;             /* monotonic, from 1, no gaps */
    int op;                   /* enum hm_store_op */
    int64_t time;             /* unix seconds */
    uint64_t id;              /* reference id, or 0 */
    int bank;                 /* or 0 */
    uint8_t sha256[32];       /* or all zero */
    const char *a, *b, *c;    /* see enum hm_store_op; "" when unused */
} hm_store_change_t;

enum hm_store_sync {
    HM_STORE_SYNC_FULL = 0,   /* fsync every commit (default) */
    HM_STORE_SYNC_META = 1,   /* MDB_NOMETASYNC */
    HM_STORE_SYNC_NONE = 2    /* MDB_NOSYNC; flush with hm_store_sync() */
};

typedef struct hm_store_opts {
    int readonly;             /* 1: no write.lock, write functions fail */
    int sync;                 /* enum hm_store_sync */
    size_t map_size;          /* initial map size; 0 = 16 MiB */
    size_t max_map_size;      /* growth limit; 0 = 1 TiB */
    unsigned max_readers;     /* concurrent read transactions; 0 = 256 */
} hm_store_opts_t;

/* The defaults: writable, durable, 16 MiB growing to 1 TiB, 256 readers. */
hm_store_opts_t hm_store_opts_default(void);

typedef struct hm_store_stats {
    uint64_t refs;            /* number of references */
    uint64_t counterfeit;     /* references in HM_BANK_COUNTERFEIT */
    uint64_t genuine;         /* references in HM_BANK_GENUINE */
    uint64_t allow;           /* allow-list entries */
    uint64_t seq;             /* last change-log sequence (0: none) */
    uint64_t next_id;         /* the id the next add will get */
    size_t map_size;          /* current map size in bytes */
    size_t map_used;          /* bytes of the map in use (last page + 1) */
    unsigned map_growths;     /* growths done by this handle */
} hm_store_stats_t;

/*
 * hm_store_open - open (or create, when writable) the database in dir.
 * @param[out] out   the handle; close it with hm_store_close().
 * @param[in]  dir   the database directory; created 0700 when missing and
 *                   writable.
 * @param[in]  opts  NULL for hm_store_opts_default().
 * A writer also clears reader slots left in lock.mdb by dead processes
 * (mdb_reader_check), so they do not pin old pages forever.
 * @return 0, HM_E_INVAL (NULL argument, bad option), HM_E_LOCKED (another
 *         handle or process writes it), HM_E_VERSION (newer schema, or older
 *         schema opened read-only, or an LMDB file format mismatch),
 *         HM_E_NOTFOUND (read-only and the database does not exist),
 *         HM_E_CORRUPT (meta unreadable, LMDB reports corruption),
 *         HM_E_IO (directory or lock file), HM_E_STORE (other LMDB failure),
 *         HM_E_NOMEM.
 * Not thread-safe with respect to the same directory; see WRITERS.
 */
int hm_store_open(hm_store_t **out, const char *dir, const hm_store_opts_t *opts);

/* Close: aborts an open batch, releases write.lock.  NULL-safe; sets
 * *self_p = NULL.  No other call on the handle may be running, and a batch
 * should be ended (or the handle closed) by the thread that began it. */
void hm_store_close(hm_store_t **self_p);

/*
 * hm_store_batch_begin - start a batch (one write transaction) owned by the
 * calling thread.
 * @return 0, HM_E_INVAL (a batch is already open in this thread),
 *         HM_E_READONLY (opened read-only), HM_E_BUSY (see READERS), HM_E_STORE, HM_E_NOMEM.
 */
int hm_store_batch_begin(hm_store_t *s);
/*
 * hm_store_batch_commit - make the batch durable (see DURABILITY).  The batch
 * is over whatever the result.
 * @return 0, HM_E_INVAL (no batch open in this thread), the error that
 *         poisoned the batch, HM_E_TOO_LARGE (the map would pass
 *         max_map_size), HM_E_BUSY (see READERS), HM_E_STORE, HM_E_NOMEM.
 */
int hm_store_batch_commit(hm_store_t *s);
/* Drop the batch.  @return 0, HM_E_INVAL (no batch open in this thread). */
int hm_store_batch_abort(hm_store_t *s);

/*
 * hm_store_add - add a reference; assigns ref->id's successor, not ref->id.
 * @param[in]  ref     the record; id and mem_ are ignored; borrowed.
 * @param[out] id_out  the new internal id, or (HM_E_EXISTS) the existing
 *                     reference's id; may be NULL.
 * @return 0, HM_E_EXISTS (same ext id, or same non-zero sha256),
 *         HM_E_INVAL (missing ext id, bad bank, field too long),
 *         HM_E_READONLY, HM_E_TOO_LARGE, HM_E_BUSY, HM_E_CORRUPT, HM_E_STORE,
 *         HM_E_NOMEM.
 */
int hm_store_add(hm_store_t *s, const hm_ref_t *ref, uint64_t *id_out);
/* Remove reference id.  @return 0, HM_E_NOTFOUND, HM_E_READONLY,
 * HM_E_CORRUPT, HM_E_TOO_LARGE, HM_E_BUSY, HM_E_STORE, HM_E_NOMEM. */
int hm_store_remove(hm_store_t *s, uint64_t id);
/* Move reference id to bank (nothing is logged when it is already there).
 * @return 0, HM_E_INVAL (bad bank), HM_E_NOTFOUND, HM_E_READONLY,
 * HM_E_CORRUPT, HM_E_TOO_LARGE, HM_E_BUSY, HM_E_STORE, HM_E_NOMEM. */
int hm_store_relabel(hm_store_t *s, uint64_t id, int bank);

/* Authorise (on = 1) or de-authorise (on = 0) seller for brand.  A call that
 * changes nothing returns 0 and logs nothing.
 * @return 0, HM_E_INVAL (empty or too long ids), HM_E_READONLY,
 * HM_E_TOO_LARGE, HM_E_BUSY, HM_E_STORE, HM_E_NOMEM. */
int hm_store_authorize(hm_store_t *s, const char *brand, const char *seller, int on);
/* Add or replace an allow-list entry.
 * @return 0, HM_E_INVAL (zero sha256, note too long), HM_E_READONLY,
 * HM_E_TOO_LARGE, HM_E_BUSY, HM_E_STORE, HM_E_NOMEM. */
int hm_store_allow(hm_store_t *s, const hm_allow_t *entry);
/* Remove an allow-list entry.  @return 0, HM_E_NOTFOUND, HM_E_INVAL,
 * HM_E_READONLY, HM_E_TOO_LARGE, HM_E_BUSY, HM_E_STORE, HM_E_NOMEM. */
int hm_store_disallow(hm_store_t *s, const uint8_t sha256[32]);
/*
 * hm_store_add_strike - record that seller's listing showed image as a
 * counterfeit.  Idempotent per (listing, image): a repeat changes nothing.
 * @param[out] count  the seller's strike count afterwards; may be NULL.
 * @return 0, HM_E_INVAL, HM_E_READONLY, HM_E_CORRUPT, HM_E_TOO_LARGE,
 *         HM_E_BUSY, HM_E_STORE, HM_E_NOMEM.
 */
int hm_store_add_strike(hm_store_t *s, const char *seller, const char *listing_id,
                        const char *image_id, uint64_t *count);

/* Flush to disk (useful with HM_STORE_SYNC_NONE).  @return 0, HM_E_READONLY,
 * HM_E_STORE. */
int hm_store_sync(hm_store_t *s);

/* ---- auxiliary sub-databases (see LAYOUT) ---- */

enum hm_store_aux { HM_AUX_DECISIONS = 1, HM_AUX_REFTHUMBS = 2 };

/*
 * hm_store_aux_put - store val under key in the auxiliary sub-db aux.  Runs
 * through the batch layer like every write (map growth, replay); nothing is
 * added to the change log.
 * @param[in] key   1..HM_STORE_MAX_ID bytes of text; borrowed.
 * @param[in] val   0..HM_STORE_MAX_BLOB bytes; borrowed.
 * @param[in] keep  1: fail with HM_E_EXISTS when key is present; 0: replace.
 * @return 0, HM_E_EXISTS, HM_E_INVAL, HM_E_READONLY, HM_E_TOO_LARGE,
 *         HM_E_BUSY, HM_E_STORE, HM_E_NOMEM.
 */
int hm_store_aux_put(hm_store_t *s, int aux, const char *key, const void *val, size_t len,
                     int keep);
/*
 * hm_store_aux_get - a copy of the value under key.
 * @param[out] val  malloc()ed copy (the caller free()s it); NULL on failure.
 * @return 0, HM_E_NOTFOUND, HM_E_INVAL, HM_E_BUSY, HM_E_STORE, HM_E_NOMEM.
 */
int hm_store_aux_get(hm_store_t *s, int aux, const char *key, void **val, size_t *len);

/* ---- reads: any thread, committed data only ---- */

/*
 * hm_store_get / _by_ext / _by_sha - look a reference up.
 * @param[out] ref  filled with a copy; the caller calls hm_ref_clear().
 *                  Zeroed on failure.
 * @return 0, HM_E_NOTFOUND, HM_E_INVAL (NULL argument, zero sha256),
 *         HM_E_CORRUPT (a record fails to decode), HM_E_BUSY (too many
 *         readers), HM_E_STORE, HM_E_NOMEM.
 */
int hm_store_get(hm_store_t *s, uint64_t id, hm_ref_t *ref);
int hm_store_get_by_ext(hm_store_t *s, const char *ext_id, hm_ref_t *ref);
int hm_store_get_by_sha(hm_store_t *s, const uint8_t sha256[32], hm_ref_t *ref);

/* A callback's non-zero return stops the iteration and is returned. */
typedef int (*hm_store_ref_cb)(const hm_ref_t *ref, void *ctx);
typedef int (*hm_store_change_cb)(const hm_store_change_t *ch, void *ctx);
typedef int (*hm_store_allow_cb)(const hm_allow_t *entry, void *ctx);

/*
 * hm_store_foreach_ref - every reference in id order, in one read
 * transaction (one consistent snapshot).  ref is a view, valid during the
 * callback only (pointers into the map).
 * @return 0, the callback's non-zero value, HM_E_CORRUPT, HM_E_BUSY,
 *         HM_E_STORE.
 */
int hm_store_foreach_ref(hm_store_t *s, hm_store_ref_cb cb, void *ctx);
/* The change log after sequence after_seq (0: from the start), in order. Same
 * returns as hm_store_foreach_ref. */
int hm_store_changes(hm_store_t *s, uint64_t after_seq, hm_store_change_cb cb, void *ctx);
/* Every allow-list entry (views; note valid during the callback only). */
int hm_store_foreach_allow(hm_store_t *s, hm_store_allow_cb cb, void *ctx);

/* The last change-log sequence, 0 when the log is empty.
 * @return 0, HM_E_BUSY, HM_E_STORE. */
int hm_store_seq(hm_store_t *s, uint64_t *seq);
/* 1 when seller is authorised for brand, 0 when not, or a negative error
 * (HM_E_INVAL, HM_E_BUSY, HM_E_STORE). */
int hm_store_is_authorized(hm_store_t *s, const char *brand, const char *seller);
/* The number of distinct (listing, image) strikes against seller (0 for an
 * unknown seller).  @return 0, HM_E_INVAL, HM_E_BUSY, HM_E_STORE. */
int hm_store_strikes(hm_store_t *s, const char *seller, uint64_t *count);
/* Look an allow-list entry up; out->note is copied into note_buf (truncated
 * to note_cap - 1 bytes; may be NULL when note_cap is 0).
 * @return 0, HM_E_NOTFOUND, HM_E_INVAL, HM_E_CORRUPT, HM_E_BUSY, HM_E_STORE. */
int hm_store_allow_get(hm_store_t *s, const uint8_t sha256[32], hm_allow_t *out,
                       char *note_buf, size_t note_cap);
/* @return 0, HM_E_INVAL, HM_E_BUSY, HM_E_STORE. */
int hm_store_stats(hm_store_t *s, hm_store_stats_t *st);

/* ---- replication (docs/PROTOCOL.md "Replication", docs/DEPLOYMENT.md) ----
 *
 * A replication record is one change-log entry with what a replica needs to
 * apply it, an opaque little-endian blob:
 *   u8 version (1) | u64 seq | u32 n | change record (n bytes) |
 *   u8 kind (0 none, 1 reference record, 2 allow entry) | u32 m | payload.
 * An ADD carries the reference's full stored record (fingerprint included),
 * an ALLOW its entry, both as they are when the record is read: a reference
 * removed since travels without payload.  Applying records in sequence order
 * gives exactly the primary's banks (hm_store_digest() agrees). */

/* A replication record; rec is valid during the callback only. */
typedef int (*hm_store_repl_cb)(uint64_t seq, const void *rec, size_t len, void *ctx);
/*
 * hm_store_repl_read - up to max records after after_seq, in order, from one
 * read transaction.
 * @return 0, the callback's non-zero value, HM_E_CORRUPT, HM_E_BUSY,
 *         HM_E_STORE, HM_E_NOMEM.
 */
int hm_store_repl_read(hm_store_t *s, uint64_t after_seq, size_t max, hm_store_repl_cb cb,
                       void *ctx);
/*
 * hm_store_repl_decode - views of a record's parts (pointing into rec).
 * ref / allow / has_ref / has_allow may be NULL.  ch->seq is the record's.
 * @return 0, HM_E_CORRUPT, HM_E_VERSION.
 */
int hm_store_repl_decode(const void *rec, size_t len, hm_store_change_t *ch, hm_ref_t *ref,
                         int *has_ref, hm_allow_t *allow, int *has_allow);
/*
 * hm_store_repl_apply - apply a record on a replica, in the caller's batch
 * or as its own transaction.  The change gets the record's sequence, which
 * must be the store's last + 1.  ADD keeps the primary's id.
 * @return 0, HM_E_EXISTS (already applied: seq <= last; nothing written),
 *         HM_E_INVAL (a gap: seq > last + 1; nothing written), HM_E_CORRUPT
 *         (the record does not decode or clashes with local data: this copy
 *         is not the primary's), HM_E_VERSION, HM_E_READONLY, HM_E_STORE,
 *         HM_E_NOMEM.
 */
int hm_store_repl_apply(hm_store_t *s, const void *rec, size_t len);
/* The oldest sequence still in the change log (0: empty).
 * @return 0, HM_E_INVAL, HM_E_BUSY, HM_E_STORE. */
int hm_store_log_first(hm_store_t *s, uint64_t *first);
/*
 * hm_store_log_compact - delete change-log entries from the oldest on while
 * they are both older than keep_seconds and not among the last keep_n
 * (at least 1 is always kept: it holds the sequence); at most max per call
 * (one write transaction).  Nothing but replication and the descriptor
 * snapshot replay read the log; an engine whose snapshot is older than the
 * log's first entry rebuilds its descriptor index instead.
 * @param[out] removed  entries deleted; may be NULL.
 * @return 0, HM_E_READONLY, HM_E_BUSY, HM_E_STORE, HM_E_NOMEM.
 */
int hm_store_log_compact(hm_store_t *s, uint64_t keep_n, int64_t keep_seconds, size_t max,
                         uint64_t *removed);
/*
 * hm_store_snapshot_to_fd - write a compacting copy of the whole database
 * (mdb_env_copyfd2, MDB_CP_COMPACT: one read transaction, so consistent)
 * to fd, which must be a file or pipe open for writing.  The copy is a
 * complete data.mdb; its sequence is its log's last.
 * @return 0, HM_E_INVAL, HM_E_STORE (the copy failed, e.g. disk full).
 */
int hm_store_snapshot_to_fd(hm_store_t *s, int fd);
/*
 * hm_store_digest - SHA-256 (hex) over the banks' content: every reference
 * record, authorisation, strike and allow-list entry, in key order, from one
 * read transaction; two stores with the same content have the same digest.
 * @param[out] seq  the last sequence of that transaction; may be NULL.
 * @return 0, HM_E_INVAL, HM_E_BUSY, HM_E_STORE.
 */
int hm_store_digest(hm_store_t *s, char hex[65], uint64_t *seq);

#ifdef __cplusplus
}
#endif
#endif
