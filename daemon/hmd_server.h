/*
 * hmd_server.h - the socket thread: it owns every ZeroMQ socket (ingest
 * ROUTER, pipeline PULL/PUSH, feed PUB, control ROUTER, the ZAP handler, and
 * the inproc ends that talk to the workers and the control thread), polls
 * them with the signal fd, validates requests, sheds load, and routes replies.
 * It never decodes an image.
 *
 * Life cycle: open (bind everything, so privileges can be dropped after) ->
 * start (workers and control thread, once the engine is open) -> run (until
 * SIGTERM/SIGINT and the drain) -> close.
 */
#ifndef HMD_SERVER_H
#define HMD_SERVER_H

#include "hm_engine.h"
#include "hmd_config.h"
#include "hmd_metrics.h"
#include "hmd_recent.h"

typedef struct hmd_server hmd_server_t;

/*
 * hmd_server_open - create the ZeroMQ context and bind every endpoint of cfg.
 * cfg and m are borrowed for the server's life; sigfd is the read end of
 * the self-pipe: one byte per SIGTERM, SIGINT or SIGHUP (the signal number).
 * @return 0, HM_E_CONFIG (bad endpoint, control not on loopback without CURVE,
 *         unreadable keys), HM_E_IO (bind failed), HM_E_NOMEM.
 */
int hmd_server_open(hmd_server_t **out, hmd_config_t *cfg, hmd_metrics_t *m, int sigfd);
/* Before start: retain non-unknown verdicts in r (borrowed, must outlive
 * hmd_server_close) for the review console. */
void hmd_server_set_recent(hmd_server_t *s, hmd_recent_t *r);
/* Start the workers and the control thread against e (borrowed). */
int hmd_server_start(hmd_server_t *s, hm_engine_t *e);
/*
 * hmd_server_run - the poll loop.  Returns after SIGTERM/SIGINT once every
 * request in flight is answered, or when cfg->shutdown_timeout runs out.
 * @return 0, HM_E_TIMEOUT (requests were still in flight).
 */
int hmd_server_run(hmd_server_t *s);
/*
 * hmd_server_close - stop threads, flush replies (bounded linger), close.
 * @return 0, or HM_E_TIMEOUT when a worker did not stop: the caller should
 *         _exit() without further cleanup.  NULL-safe.
 */
int hmd_server_close(hmd_server_t **self_p);

#endif
