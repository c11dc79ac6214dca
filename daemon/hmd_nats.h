/*
 * hmd_nats.h - the one place hallmark talks to the NATS C client (libnats):
 * connecting with a URL list, credentials and TLS from the configuration,
 * a JetStream context, idempotent stream and consumer creation with retry
 * and back-off, and libnats statuses turned into hm_ error codes (with the
 * server's text in hm_last_error()).  docs/DEPLOYMENT.md "The fleet".
 *
 * Ownership: hmd_nats_connect() returns a connection the caller closes with
 * hmd_nats_close(); the nc and js members are borrowed by whoever uses them
 * and live until then.  Thread safety: libnats connections and JetStream
 * contexts may be shared by threads; hmd_nats_t itself is read-only after
 * the connect.
 */
#ifndef HMD_NATS_H
#define HMD_NATS_H

#include <nats/nats.h>
#include <stdint.h>

#include "hmd_config.h"

typedef struct hmd_nats {
    natsConnection *nc;
    jsCtx *js;
    int wait_ms;                /* how long stream/consumer creation retries */
} hmd_nats_t;

/* The subjects and streams (docs/DEPLOYMENT.md "Streams and subjects"). */
#define HMD_NATS_BANK_STREAM "HM_BANK_0"
#define HMD_NATS_BANK_SUBJECT "hallmark.bank.0"
#define HMD_NATS_LISTING_STREAM "HM_LISTINGS"
#define HMD_NATS_LISTING_SUBJECT "hallmark.listing.in"
#define HMD_NATS_VERDICT_STREAM "HM_VERDICTS"
#define HMD_NATS_VERDICT_PREFIX "hallmark.verdict."
#define HMD_NATS_STRIKE_STREAM "HM_STRIKES"
#define HMD_NATS_STRIKE_SUBJECT "hallmark.strike"
#define HMD_NATS_SCORERS "scorers"  /* the scorers' durable pull consumer */
#define HMD_NATS_WRITER "writer"    /* the writer's durable consumer of strikes */
#define HMD_NATS_ACK_WAIT_MS 30000
#define HMD_NATS_MAX_DELIVER 5

/*
 * hmd_nats_connect - connect to cfg->nats_url (comma-separated URLs) with
 * the configured credentials (nats-creds, nats-nkey, or nats-user +
 * nats-password-file) and TLS (nats-tls-ca, nats-tls-cert, nats-tls-key),
 * reconnecting for ever once connected; name is the client name the server
 * shows.  Retries the first connection for up to cfg->fleet_wait s.
 * @return 0; HM_E_CONFIG (bad URL, unreadable credentials or certificates),
 *         HM_E_DENIED (the server refused the credentials), HM_E_TIMEOUT
 *         (no server answered), HM_E_NOMEM.
 */
int hmd_nats_connect(hmd_nats_t *n, const hmd_config_t *cfg, const char *name);
/* Drain nothing, close the connection and the context.  NULL-safe, idempotent. */
void hmd_nats_close(hmd_nats_t *n);

/*
 * hmd_nats_ensure_streams - create the fleet's streams (bank, listings,
 * verdicts, strikes) with `replicas` replicas and listing messages of up to
 * max_msg bytes, or accept them as they are when they exist.  Retries with
 * back-off (100 ms doubling to 2 s) while JetStream has no leader, for up to
 * n->wait_ms.  @return 0, HM_E_TIMEOUT, HM_E_DENIED, HM_E_CONFIG (a stream of
 * that name exists with other subjects), HM_E_IO.
 */
int hmd_nats_ensure_streams(hmd_nats_t *n, int replicas, int max_msg);

/*
 * hmd_nats_pull_subscribe - a pull subscription bound to the durable
 * consumer `durable` on stream (created first if missing: explicit acks,
 * AckWait HMD_NATS_ACK_WAIT_MS, MaxDeliver HMD_NATS_MAX_DELIVER), with the
 * same retry and back-off.  @return 0, HM_E_TIMEOUT, HM_E_DENIED, HM_E_IO.
 */
int hmd_nats_pull_subscribe(hmd_nats_t *n, natsSubscription **sub, const char *stream,
                            const char *subject, const char *durable);

/*
 * hmd_nats_publish - publish msg (not consumed) to JetStream with message id
 * msg_id (may be NULL) and, when expect_last > 0, the expected last stream
 * sequence; waits up to timeout_ms for the stream's ack, re-sending with the
 * same id while the stream has no leader.  *seq (may be NULL) gets the
 * stored sequence, *dup (may be NULL) 1 when the stream already had msg_id.
 * @return 0; HM_E_EXISTS (the expected last sequence did not match: another
 *         writer, or the message is stored already); HM_E_TIMEOUT, HM_E_DENIED,
 *         HM_E_IO.
 */
int hmd_nats_publish(hmd_nats_t *n, natsMsg *msg, const char *msg_id, uint64_t expect_last,
                     int timeout_ms, uint64_t *seq, int *dup);

/* The last sequence of stream (0 when empty).  @return 0, HM_E_TIMEOUT, HM_E_IO. */
int hmd_nats_last_seq(hmd_nats_t *n, const char *stream, uint64_t *last);

/* Record a libnats failure as an hm_ error (the status text and the last
 * libnats error, prefixed by what) and return its code: NATS_TIMEOUT and
 * no responders -> HM_E_TIMEOUT, authorisation -> HM_E_DENIED, NATS_NO_MEMORY
 * -> HM_E_NOMEM, invalid arguments -> HM_E_INVAL, the rest -> HM_E_IO. */
int hmd_nats_err(natsStatus s, int js_code, const char *what);

/* Sleep ms milliseconds, at most until *stop (may be NULL) turns non-zero. */
void hmd_nats_nap(int ms, const volatile int *stop);

#endif
