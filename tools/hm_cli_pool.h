/*
 * hm_cli_pool.h - parallel fingerprinting with output in input order.
 *
 * N worker threads, each with its own hm_fp_ctx_t, take items in the order
 * they were pushed and run work() on them; emit() is then called for every
 * item exactly once, in push order, never two at a time (a reorder buffer of
 * `window` slots).  emit() runs on whichever worker completes the next item
 * in order, so results appear as soon as they can - a streaming consumer
 * (hallmark score --stdin-jsonl) gets each line without waiting for more
 * input.  push() blocks while `window` items are pushed but not yet emitted,
 * which bounds memory however long the input is.
 *
 * Thread safety: push() and finish() are for one producer thread.
 */
#ifndef HM_CLI_POOL_H
#define HM_CLI_POOL_H

#include "hm_fp.h"

typedef struct hm_cli_pool hm_cli_pool_t;

/* Runs on a worker; ctx is the worker's own fingerprint context. */
typedef void (*hm_cli_work_fn)(hm_fp_ctx_t *ctx, void *item, void *arg);
/* Runs in order, serialised; owns item from then on. */
typedef void (*hm_cli_emit_fn)(void *item, void *arg);

/*
 * hm_cli_pool_new - start jobs workers (1..256) with a reorder window.
 * @return 0, HM_E_INVAL, HM_E_NOMEM (threads or contexts could not be made).
 */
int hm_cli_pool_new(hm_cli_pool_t **out, int jobs, int window, hm_cli_work_fn work,
                    hm_cli_emit_fn emit, void *arg);
/* Queue one item (blocks while the window is full). */
void hm_cli_pool_push(hm_cli_pool_t *p, void *item);
/* Wait until every pushed item is emitted, stop the workers, free the pool.
 * NULL-safe; sets *p_p = NULL. */
void hm_cli_pool_finish(hm_cli_pool_t **p_p);

#endif
