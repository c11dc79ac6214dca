/* hmd_work.c - a mutex + condvar ring of jobs and the worker threads. */
#include "hmd_work.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hm_error.h"
#include "hm_log.h"
#include "hm_util.h"
#include "hm_verdict.h"

void hmd_job_free(hmd_job_t *j)
{
    if (!j)
        return;
    hmd_frames_close(&j->env);
    zmq_msg_close(&j->image);
    free(j->reply);
    free(j);
}

struct hmd_queue {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    hmd_job_t **ring;
    int cap, head, n, closed;
};

int hmd_queue_new(hmd_queue_t **out, int capacity)
{
    hmd_queue_t *q = calloc(1, sizeof *q);
    if (!q)
        return HM_E_NOMEM;
    q->ring = calloc((size_t)capacity, sizeof *q->ring);
    if (!q->ring) {
        free(q);
        return HM_E_NOMEM;
    }
    q->cap = capacity;
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    *out = q;
    return 0;
}

void hmd_queue_free(hmd_queue_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    hmd_queue_t *q = *self_p;
    for (int i = 0; i < q->n; i++)
        hmd_job_free(q->ring[(q->head + i) % q->cap]);
    pthread_cond_destroy(&q->cv);
    pthread_mutex_destroy(&q->mu);
    free(q->ring);
    free(q);
    *self_p = NULL;
}

int hmd_queue_push(hmd_queue_t *q, hmd_job_t *j)
{
    int rc = 0;
    pthread_mutex_lock(&q->mu);
    if (q->closed || q->n == q->cap) {
        rc = HM_E_BUSY;
    } else {
        q->ring[(q->head + q->n) % q->cap] = j;
        q->n++;
        pthread_cond_signal(&q->cv);
    }
    pthread_mutex_unlock(&q->mu);
    return rc;
}

hmd_job_t *hmd_queue_pop(hmd_queue_t *q)
{
    hmd_job_t *j = NULL;
    pthread_mutex_lock(&q->mu);
    while (q->n == 0 && !q->closed)
        pthread_cond_wait(&q->cv, &q->mu);
    if (q->n > 0) {
        j = q->ring[q->head];
        q->head = (q->head + 1) % q->cap;
        q->n--;
    }
    pthread_mutex_unlock(&q->mu);
    return j;
}

void hmd_queue_close(hmd_queue_t *q)
{
    pthread_mutex_lock(&q->mu);
    q->closed = 1;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

int hmd_queue_depth(hmd_queue_t *q)
{
    pthread_mutex_lock(&q->mu);
    int n = q->n;
    pthread_mutex_unlock(&q->mu);
    return n;
}

typedef struct s_worker {
    pthread_t tid;
    int index;
    int started;
    struct hmd_workers *pool;
} s_worker_t;

struct hmd_workers {
    int n;
    void *zctx;
    hm_engine_t *e;
    hmd_queue_t *q;
    hm_decode_limits_t lim;
    hmd_recent_t *recent;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int running;            /* workers that have not finished */
    s_worker_t *w;
};

/* Score one job; the result always ends as job->verdict and job->reply. */
static void s_score(hmd_workers_t *p, hm_fp_ctx_t *ctx, hmd_job_t *j)
{
    hm_query_t q = {
        .seller = j->req.seller_id[0] ? j->req.seller_id : NULL,
        .brand = j->req.brand[0] ? j->req.brand : NULL,
        .listing_id = j->req.listing_id,
        .image_id = j->req.image_id,
        .top_k = j->req.top_k,
        .record_strikes = j->record_strikes,
    };
    hm__clearerr();
    int rc = hm_engine_score(p->e, ctx, zmq_msg_data(&j->image), zmq_msg_size(&j->image), &q,
                             &j->verdict);
    if (rc != 0) {
        hm_log_error("score_failed", "request_id=%s code=%s msg=\"%s\"", j->req.request_id,
                     hm_err_name(rc), hm_last_error());
        hm_verdict_error(&j->verdict, rc, hm_last_error());
    }
    /* Retain for the console before replying: once the client has the verdict
     * it is already on the queue page.  hmd_recent_add skips unknown/error. */
    if (p->recent && hmd_recent_add(p->recent, &j->verdict, q.seller, q.brand, q.listing_id,
                                    q.image_id, zmq_msg_data(&j->image), zmq_msg_size(&j->image),
                                    j->vid) != 0)
        hm_log_warn("recent_add", "request_id=%s code=%s", j->req.request_id, hm_err_name(HM_E_NOMEM));
    j->reply = hmd_proto_verdict_text(&j->verdict, &j->req);
}

static void *s_worker_main(void *arg)
{
    s_worker_t *w = arg;
    hmd_workers_t *p = w->pool;
    hm_fp_ctx_t *ctx = NULL;
    void *push = zmq_socket(p->zctx, ZMQ_PUSH);
    int zero = 0;
    /* Unbounded on purpose: the queue capacity already bounds what can be here,
     * and a worker must never drop or block on a finished job. */
    zmq_setsockopt(push, ZMQ_SNDHWM, &zero, sizeof zero);
    int rc = hm_fp_ctx_new(&ctx, &p->lim);
    if (rc != 0 || !push || zmq_connect(push, HMD_DONE_ENDPOINT) != 0) {
        hm_log_error("worker_start", "worker=%d code=%s", w->index, hm_err_name(rc ? rc : HM_E_INTERNAL));
        /* Keep serving, answering with an error, so no job is ever lost. */
    }
    hmd_job_t *j;
    while ((j = hmd_queue_pop(p->q)) != NULL) {
        if (ctx)
            s_score(p, ctx, j);
        else {
            hm_verdict_error(&j->verdict, HM_E_INTERNAL, "worker has no fingerprint context");
            j->reply = hmd_proto_verdict_text(&j->verdict, &j->req);
        }
        atomic_store_explicit(&j->handed_back, 1, memory_order_release);
        if (!push || zmq_send(push, &j, sizeof j, 0) != (int)sizeof j) {
            hm_log_error("worker_send", "worker=%d errno=%d", w->index, zmq_errno());
            hmd_job_free(j);
        }
    }
    hm_fp_ctx_free(&ctx);
    if (push) {
        int linger = -1;
        zmq_setsockopt(push, ZMQ_LINGER, &linger, sizeof linger);
        zmq_close(push);
    }
    pthread_mutex_lock(&p->mu);
    p->running--;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int hmd_workers_start(hmd_workers_t **out, int n, void *zctx, hm_engine_t *e, hmd_queue_t *q,
                      const hm_decode_limits_t *lim, hmd_recent_t *recent)
{
    hmd_workers_t *p = calloc(1, sizeof *p);
    if (!p)
        return HM_E_NOMEM;
    p->w = calloc((size_t)n, sizeof *p->w);
    if (!p->w) {
        free(p);
        return HM_E_NOMEM;
    }
    p->n = n;
    p->zctx = zctx;
    p->e = e;
    p->q = q;
    p->lim = *lim;
    p->recent = recent;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    for (int i = 0; i < n; i++) {
        p->w[i].index = i;
        p->w[i].pool = p;
        pthread_mutex_lock(&p->mu);
        p->running++;
        pthread_mutex_unlock(&p->mu);
        if (pthread_create(&p->w[i].tid, NULL, s_worker_main, &p->w[i]) != 0) {
            pthread_mutex_lock(&p->mu);
            p->running--;
            pthread_mutex_unlock(&p->mu);
            hmd_workers_join(&p, 5000);
            return hm__seterr(HM_E_INTERNAL, "cannot start worker %d", i);
        }
        p->w[i].started = 1;
    }
    *out = p;
    return 0;
}

int hmd_workers_join(hmd_workers_t **self_p, int timeout_ms)
{
    if (!self_p || !*self_p)
        return 0;
    hmd_workers_t *p = *self_p;
    hmd_queue_close(p->q);
    struct timespec dl = hm_wall_ts(); /* pthread_cond_timedwait's clock */
    dl.tv_sec += timeout_ms / 1000;
    dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    int rc = 0;
    pthread_mutex_lock(&p->mu);
    while (p->running > 0 && rc == 0)
        if (pthread_cond_timedwait(&p->cv, &p->mu, &dl) == ETIMEDOUT)
            rc = HM_E_TIMEOUT;
    pthread_mutex_unlock(&p->mu);
    *self_p = NULL;
    if (rc)
        return rc; /* leak p: threads still use it */
    for (int i = 0; i < p->n; i++)
        if (p->w[i].started)
            pthread_join(p->w[i].tid, NULL);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p->w);
    free(p);
    return 0;
}
