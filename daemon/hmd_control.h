/*
 * hmd_control.h - the control thread: administration commands from the
 * control ROUTER (add, remove, relabel, authorize, deauthorize, feedback,
 * stats, snapshot, reload; docs/PROTOCOL.md).
 *
 * The socket thread owns the ROUTER and forwards each command over an inproc
 * PAIR: frame 0 holds one byte, the number of envelope frames that follow;
 * then the envelope, the JSON command and an optional data frame.  The
 * control thread answers with the envelope and one JSON reply frame.  A
 * zero-length single frame asks the thread to stop.  Commands run one at a
 * time, on their own thread, so a slow `add` never stalls scoring.
 */
#ifndef HMD_CONTROL_H
#define HMD_CONTROL_H

#include "hm_engine.h"

#define HMD_CONTROL_ENDPOINT "inproc://hmd-control"

typedef struct hmd_control hmd_control_t;

/*
 * hmd_control_start - connect a PAIR to HMD_CONTROL_ENDPOINT (bound by the
 * socket thread) and serve commands against e.
 * @return 0, HM_E_NOMEM, HM_E_INTERNAL.
 */
int hmd_control_start(hmd_control_t **out, void *zctx, hm_engine_t *e,
                      const hm_decode_limits_t *lim, const char *replica_of);
/* replica_of: NULL or "" on a primary; on a replica, its primary's repl
 * endpoint: writes are refused with an error naming it (HM_E_READONLY) and
 * feedback is forwarded there (FEEDBACK, docs/PROTOCOL.md). */

/*
 * hmd_control_exec - run one control command (JSON header, optional data
 * frame: data NULL for none) against e and return the reply text (malloc;
 * *ok = 1 on success).  The primary's replication thread runs the feedback
 * that replicas forward with it.  fpc belongs to the calling thread.
 */
char *hmd_control_exec(hm_engine_t *e, hm_fp_ctx_t *fpc, const void *hdr, size_t hlen,
                       const void *data, size_t dlen, int *ok);
/* Wait for the thread (the socket thread has sent the stop frame).  NULL-safe. */
void hmd_control_join(hmd_control_t **self_p);

/* {"ok":false,"error":{"code","message"}} (plus request_id when given), as
 * compact text the caller frees; NULL on out of memory. */
char *hmd_control_error_text(int rc, const char *msg, const char *request_id);

/*
 * hmd_control_check - parse and validate one command exactly as the control
 * thread does, without an engine (nothing is changed): for the fuzz target
 * fuzz_control and unit tests.  cmd may be NULL (no command frame).
 * @param[out] ok  1 when the command is valid.
 * @return the reply text the daemon would send for an invalid command (or
 *         {"ok":true,...} for a valid one), malloc'd; NULL on out of memory.
 */
char *hmd_control_check(const void *cmd, size_t len, const void *data, size_t dlen, int has_data,
                        int *ok);

#endif
