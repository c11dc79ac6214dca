/*
 * hmd_repl.h - replication (the ZeroMQ guide's Clone pattern: a snapshot
 * plus sequenced updates), both roles, each on its own thread with its own
 * ZeroMQ context.  The protocol is in docs/PROTOCOL.md "Replication", the
 * operations in docs/DEPLOYMENT.md.
 *
 * Primary (--repl, --repl-pub): publishes every change-log entry as a
 * replication record on the PUB socket (polling the store's sequence every
 * few milliseconds), heartbeats there twice a second, answers INFO, RANGE,
 * SNAPSHOT/CHUNK on the ROUTER, applies strikes and feedback that replicas
 * forward, and compacts its change log once a minute.
 *
 * Replica (--replica-of): hmd_replica_bootstrap() runs before the engine is
 * opened and replaces the database with a snapshot when the local copy
 * cannot be continued from the primary's log; the follower thread then
 * applies updates strictly in sequence order, asking for a RANGE on any gap.
 */
#ifndef HMD_REPL_H
#define HMD_REPL_H

#include "hm_engine.h"
#include "hmd_config.h"
#include "hmd_metrics.h"

typedef struct hmd_repl hmd_repl_t;

/* Exit status of a replica that must re-snapshot (its primary compacted
 * past it while it ran): its supervisor restarts it, the bootstrap fetches a
 * snapshot.  EX_TEMPFAIL. */
#define HMD_REPL_EXIT_RESYNC 75

/*
 * hmd_repl_primary_start - bind cfg->repl (ROUTER) and cfg->repl_pub (PUB)
 * and start the primary's replication thread.  cfg, e, m are borrowed.
 * @return 0, HM_E_CONFIG / HM_E_IO (bind), HM_E_NOMEM, HM_E_INTERNAL.
 */
int hmd_repl_primary_start(hmd_repl_t **out, const hmd_config_t *cfg, hm_engine_t *e,
                           hmd_metrics_t *m);
/*
 * hmd_replica_bootstrap - make cfg->db continuable from the primary: ask its
 * INFO and, when the local copy is missing, empty, ahead of the primary or
 * older than its log, fetch a snapshot into cfg->db (temp file, fsync,
 * rename).  Waits up to cfg->replica_wait s for the primary; an existing
 * local copy is then used as it is.
 * @return 0, HM_E_TIMEOUT (no primary and no local copy), HM_E_IO,
 *         HM_E_PROTO, HM_E_STORE.
 */
int hmd_replica_bootstrap(const hmd_config_t *cfg, hmd_metrics_t *m);
/* Start the follower thread (the engine is open on the bootstrapped db). */
int hmd_replica_start(hmd_repl_t **out, const hmd_config_t *cfg, hm_engine_t *e,
                      hmd_metrics_t *m);
/* Wait up to timeout_ms for the first catch-up.  @return 0, HM_E_TIMEOUT. */
int hmd_replica_wait(hmd_repl_t *r, int timeout_ms);
/* 1 once the follower found it must re-snapshot (the process should exit
 * with HMD_REPL_EXIT_RESYNC). */
int hmd_repl_resync_needed(void);
/* Stop the thread, close everything.  NULL-safe. */
void hmd_repl_stop(hmd_repl_t **self_p);

/* Internal, shared by hmd_repl.c (primary) and hmd_replica.c. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#define HMD_REPL_SNAPS 4
#define HMD_REPL_PEERS 64

typedef struct {
    uint64_t token;
    int fd;
    uint64_t size, used_ms;
} s_snap_t;

typedef struct {
    char name[64];
    uint64_t seq, seen_ms;
} s_peer_t;

struct hmd_repl {
    pthread_t tid;
    atomic_int stop;
    void *zctx, *router, *pub;
    const hmd_config_t *cfg;
    hm_engine_t *e;
    hmd_metrics_t *m;
    uint64_t published;
    s_snap_t snaps[HMD_REPL_SNAPS];
    s_peer_t peers[HMD_REPL_PEERS];
    hm_fp_ctx_t *fpc;
    int running;
    /* replica (hmd_replica.c) */
    void *sub, *dealer;
    uint64_t applied, primary_seq, behind_since_ms, last_seen_ms, range_sent_ms;
    int range_out;
    atomic_int caught_up;
    hmd_repl_status_t st;
};


void hmd__repl_sockopts(void *z);

#endif
