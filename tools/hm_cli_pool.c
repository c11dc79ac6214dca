/*
 * hm_cli_pool.c - workers plus a reorder buffer (see hm_cli_pool.h).
 *
 * Sequence numbers: pushed >= claimed >= ... and pushed >= emitted; slot
 * seq % window holds item seq until it is emitted.  One lock guards the
 * counters; emit() runs outside it (emitting = 1 keeps it single), so a slow
 * emit (a batch commit with fsync) never stops the other workers.
 */
#include "hm_cli_pool.h"

#include <pthread.h>
#include <stdlib.h>

#include "hm_error.h"

typedef struct slot {
    void *item;
    int done;
} slot_t;

struct hm_cli_pool {
    pthread_mutex_t lock;
    pthread_cond_t work_cv;  /* an item to claim, or closing */
    pthread_cond_t space_cv; /* a slot freed */
    slot_t *slots;
    size_t window;
    size_t pushed, claimed, emitted;
    int emitting, closing;
    hm_cli_work_fn work;
    hm_cli_emit_fn emit;
    void *arg;
    int n_threads, n_ctx;
    pthread_t *threads;
    hm_fp_ctx_t **ctxs;
};

/* Emit every completed item at the head, in order.  Called with the lock. */
static void s_drain(hm_cli_pool_t *p)
{
    if (p->emitting)
        return; /* the thread already emitting will see our item too */
    p->emitting = 1;
    while (p->emitted < p->pushed && p->slots[p->emitted % p->window].done) {
        slot_t *s = &p->slots[p->emitted % p->window];
        void *item = s->item;
        pthread_mutex_unlock(&p->lock);
        p->emit(item, p->arg);
        pthread_mutex_lock(&p->lock);
        s->item = NULL;
        s->done = 0;
        p->emitted++;
        pthread_cond_broadcast(&p->space_cv);
    }
    p->emitting = 0;
}

typedef struct {
    hm_cli_pool_t *p;
    hm_fp_ctx_t *ctx;
} worker_t;

static void *s_worker(void *arg)
{
    hm_cli_pool_t *p = ((worker_t *)arg)->p;
    hm_fp_ctx_t *ctx = ((worker_t *)arg)->ctx;
    free(arg);
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (p->claimed == p->pushed && !p->closing)
            pthread_cond_wait(&p->work_cv, &p->lock);
        if (p->claimed == p->pushed)
            break; /* closing and nothing left */
        size_t seq = p->claimed++;
        void *item = p->slots[seq % p->window].item;
        pthread_mutex_unlock(&p->lock);
        p->work(ctx, item, p->arg);
        pthread_mutex_lock(&p->lock);
        p->slots[seq % p->window].done = 1;
        s_drain(p);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

int hm_cli_pool_new(hm_cli_pool_t **out, int jobs, int window, hm_cli_work_fn work,
                    hm_cli_emit_fn emit, void *arg)
{
    if (!out || jobs < 1 || jobs > 256 || window < 1 || !work || !emit)
        return hm__seterr(HM_E_INVAL, "pool: bad arguments");
    hm_cli_pool_t *p = calloc(1, sizeof *p);
    if (!p)
        return hm__seterr(HM_E_NOMEM, "pool");
    if (window < jobs)
        window = jobs;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->work_cv, NULL);
    pthread_cond_init(&p->space_cv, NULL);
    p->window = (size_t)window;
    p->work = work;
    p->emit = emit;
    p->arg = arg;
    p->slots = calloc(p->window, sizeof *p->slots);
    p->threads = calloc((size_t)jobs, sizeof *p->threads);
    p->ctxs = calloc((size_t)jobs, sizeof *p->ctxs);
    int rc = 0;
    if (!p->slots || !p->threads || !p->ctxs) {
        rc = hm__seterr(HM_E_NOMEM, "pool");
        goto leave;
    }
    for (int i = 0; i < jobs; i++) {
        if ((rc = hm_fp_ctx_new(&p->ctxs[i], NULL)))
            goto leave;
        p->n_ctx = i + 1;
        worker_t *w = malloc(sizeof *w);
        if (!w) {
            rc = hm__seterr(HM_E_NOMEM, "pool");
            goto leave;
        }
        *w = (worker_t){ p, p->ctxs[i] };
        if (pthread_create(&p->threads[i], NULL, s_worker, w) != 0) {
            free(w);
            rc = hm__seterr(HM_E_NOMEM, "pool: cannot start a thread");
            goto leave;
        }
        p->n_threads++;
    }
    *out = p;
    return 0;
leave:
    hm_cli_pool_finish(&p);
    return rc;
}

void hm_cli_pool_push(hm_cli_pool_t *p, void *item)
{
    pthread_mutex_lock(&p->lock);
    while (p->pushed - p->emitted >= p->window)
        pthread_cond_wait(&p->space_cv, &p->lock);
    slot_t *s = &p->slots[p->pushed % p->window];
    s->item = item;
    s->done = 0;
    p->pushed++;
    pthread_cond_signal(&p->work_cv);
    pthread_mutex_unlock(&p->lock);
}

void hm_cli_pool_finish(hm_cli_pool_t **p_p)
{
    if (!p_p || !*p_p)
        return;
    hm_cli_pool_t *p = *p_p;
    pthread_mutex_lock(&p->lock);
    p->closing = 1;
    pthread_cond_broadcast(&p->work_cv);
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < p->n_threads; i++)
        pthread_join(p->threads[i], NULL);
    for (int i = 0; i < p->n_ctx; i++)
        hm_fp_ctx_free(&p->ctxs[i]);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->work_cv);
    pthread_cond_destroy(&p->space_cv);
    free(p->slots);
    free(p->threads);
    free(p->ctxs);
    free(p);
    *p_p = NULL;
}
