/*
 * hmd_work.h - the bounded request queue and the worker pool.
 *
 * The socket thread turns each valid request into an hmd_job_t and offers it
 * with hmd_queue_push(), which never blocks: a full queue is the caller's cue
 * to answer `busy`.  N workers pop jobs, score them with their own
 * hm_fp_ctx_t, format the reply text, and hand the job back to the socket
 * thread over an inproc PUSH socket (the 8 bytes of the pointer): ownership
 * travels with the message, so a job is touched by one thread at a time.
 */
#ifndef HMD_WORK_H
#define HMD_WORK_H

#include <stdint.h>
#include <stdatomic.h>
#include <zmq.h>

#include "hm_engine.h"
#include "hmd_proto.h"
#include "hmd_recent.h"

#define HMD_DONE_ENDPOINT "inproc://hmd-done"

typedef struct hmd_job {
    int origin;                 /* enum hmd_origin */
    hmd_frames_t env;           /* ingest: the envelope; its payload frames are closed */
    zmq_msg_t image;            /* the image frame (moved out of the message) */
    hmd_request_t req;
    int record_strikes;
    hm_verdict_t verdict;       /* filled by the worker */
    char vid[HMD_VID_MAX];      /* filled by the worker: the console's verdict id, or "" */
    char *reply;                /* filled by the worker: the verdict JSON (malloc) */
    /* Set (release) by the worker before it hands the job back over inproc,
     * read (acquire) by the socket thread: ZeroMQ's lock-free pipes order the
     * hand-off, but ThreadSanitizer cannot see inside an uninstrumented
     * libzmq, so this makes the happens-before explicit. */
    atomic_int handed_back;
} hmd_job_t;

/* Free a job and everything it holds.  NULL-safe. */
void hmd_job_free(hmd_job_t *j);

typedef struct hmd_queue hmd_queue_t;

/* @return 0, HM_E_NOMEM. */
int hmd_queue_new(hmd_queue_t **out, int capacity);
void hmd_queue_free(hmd_queue_t **self_p);
/* @return 0, or HM_E_BUSY when full or closed (the job stays the caller's). */
int hmd_queue_push(hmd_queue_t *q, hmd_job_t *j);
/* Blocks; NULL once the queue is closed and empty. */
hmd_job_t *hmd_queue_pop(hmd_queue_t *q);
/* Wake every waiting worker; pops drain what is left, then return NULL. */
void hmd_queue_close(hmd_queue_t *q);
int hmd_queue_depth(hmd_queue_t *q);

typedef struct hmd_workers hmd_workers_t;

/*
 * hmd_workers_start - n threads, each with an hm_fp_ctx_t made with lim, that
 * pop from q, call hm_engine_score, and PUSH finished jobs to
 * HMD_DONE_ENDPOINT on zctx (which the socket thread has bound).  recent
 * (may be NULL; borrowed until join) retains the non-unknown verdicts for the
 * review console.
 * @return 0, HM_E_NOMEM, HM_E_INTERNAL (thread creation).
 */
int hmd_workers_start(hmd_workers_t **out, int n, void *zctx, hm_engine_t *e, hmd_queue_t *q,
                      const hm_decode_limits_t *lim, hmd_recent_t *recent);
/*
 * hmd_workers_join - close the queue and wait up to timeout_ms for every
 * worker to finish.  @return 0, or HM_E_TIMEOUT (some still run; their memory
 * is leaked on purpose so the process can exit).
 */
int hmd_workers_join(hmd_workers_t **self_p, int timeout_ms);

#endif
