/*
 * hmd_nats_fleet.h - hallmarkd's fleet mode on NATS JetStream (phase 1; the
 * design is docs/DEPLOYMENT.md "The fleet on NATS JetStream").  On when
 * nats-url is set.
 *
 * writer: the bank publisher (its change log, record by record, onto the
 *   bank stream with stream sequence = change-log sequence) and the strike
 *   consumer; before publishing it applies whatever the stream holds beyond
 *   its own copy.
 * scorer: the bank follower (the stream applied to its LMDB strictly in
 *   order through hm_engine_repl_apply, so the store's last sequence is the
 *   last applied stream sequence) and listing workers on the durable work
 *   queue (verdict published, then the listing acked).
 *
 * Threads: one bank thread, plus (writer) one strike thread or (scorer)
 * cfg->workers listing threads (2 when 0).  The engine and config are
 * borrowed until hmd_fleet_stop().
 */
#ifndef HMD_NATS_FLEET_H
#define HMD_NATS_FLEET_H

#include <stdint.h>

#include "hm_engine.h"
#include "hmd_config.h"

typedef struct hmd_fleet hmd_fleet_t;

/*
 * hmd_fleet_prepare - check the fleet keys and adjust the rest of cfg for
 * the role before anything starts: a scorer's ZeroMQ front door scores
 * with record-strikes off (a scorer's store follows the bank stream only).
 * Nothing happens when nats-url is unset.
 * @return 0, HM_E_CONFIG (bad fleet-role; fleet mode with the ZeroMQ
 *         replication keys).
 */
int hmd_fleet_prepare(hmd_config_t *cfg);

/*
 * hmd_fleet_start - connect, create the streams (idempotent), catch up on
 * the bank stream (up to cfg->fleet_wait s), then start the role's threads.
 * @return 0; the hmd_nats_connect() and hmd_nats_ensure_streams() errors;
 *         HM_E_TIMEOUT (not caught up in time); HM_E_CORRUPT (the local copy
 *         diverged from the stream); HM_E_NOMEM, HM_E_INTERNAL.
 */
int hmd_fleet_start(hmd_fleet_t **out, hmd_config_t *cfg, hm_engine_t *e);

/* Stop the threads (each finishes the message in hand), log the counters,
 * close the connection.  NULL-safe. */
void hmd_fleet_stop(hmd_fleet_t **self_p);

/*
 * hmd_fleet_subject_token - brand as one subject token: bytes outside
 * [A-Za-z0-9_-] as '~' and two lower-case hex digits, "" as "_none".
 * @return the length, or -1 if it does not fit in cap (with the NUL).
 */
int hmd_fleet_subject_token(const char *brand, char *out, size_t cap);

#endif
