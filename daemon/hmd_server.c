/* hmd_server.c - the socket thread's sockets and poll loop. */
#include "hmd_server.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "hm_error.h"
#include "hm_log.h"
#include "hm_verdict.h"
#include "hmd_control.h"
#include "hmd_proto.h"
#include "hmd_work.h"
#include "hmd_zap.h"

/* Control commands queued for the control thread (each may hold an image). */
#define HMD_CONTROL_PENDING_MAX 64

enum { P_SIG, P_INGEST, P_PIPE_IN, P_CONTROL, P_DONE, P_CTL_PAIR, P_ZAP, P_COUNT };

struct hmd_server {
    hmd_config_t *cfg;
    hmd_metrics_t *m;
    int sigfd;
    void *zctx;
    void *ingest, *pipe_in, *pipe_out, *feed, *control, *done, *ctl_pair;
    void *strikes;              /* replica: DEALER to the primary's repl endpoint */
    hmd_zap_t *zap;
    hmd_queue_t *q;
    int queue_cap;              /* the ring's size (cfg->queue at start) */
    hmd_workers_t *workers;
    hmd_control_t *ctl;
    hm_engine_t *e;
    hmd_recent_t *recent;       /* the console's retention, or NULL (borrowed) */
    int in_flight, ctl_pending;
    uint64_t in_flight_bytes;
    int draining;
    uint64_t deadline_ms;
};

static uint64_t s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void s_gauges(hmd_server_t *s)
{
    hmd_metrics_gauges(s->m, s->q ? hmd_queue_depth(s->q) : 0, s->in_flight, s->in_flight_bytes,
                       s->cfg->queue);
}

/* "tcp://HOST:PORT" with a loopback host, or ipc:// / inproc://. */
static int s_is_local(const char *ep)
{
    if (strncmp(ep, "ipc://", 6) == 0 || strncmp(ep, "inproc://", 9) == 0)
        return 1;
    if (strncmp(ep, "tcp://", 6) != 0)
        return 0;
    const char *h = ep + 6;
    return strncmp(h, "127.", 4) == 0 || strncmp(h, "localhost:", 10) == 0 ||
           strncmp(h, "[::1]:", 6) == 0 || strncmp(h, "lo:", 3) == 0;
}

/* A socket with the house options, bound to ep. */
static int s_socket(hmd_server_t *s, void **out, int type, const char *ep, const char *what)
{
    void *z = zmq_socket(s->zctx, type);
    if (!z)
        return hm__seterr(HM_E_INTERNAL, "%s: %s", what, zmq_strerror(zmq_errno()));
    int hwm = s->cfg->hwm, linger = 2000, one = 1;
    int64_t maxmsg = (int64_t)s->cfg->max_image * 2 + s->cfg->max_header;
    zmq_setsockopt(z, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(z, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(z, ZMQ_LINGER, &linger, sizeof linger);
    if (type == ZMQ_ROUTER)
        zmq_setsockopt(z, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    if (type == ZMQ_ROUTER || type == ZMQ_PULL)
        zmq_setsockopt(z, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    if (s->zap && strcmp(what, "control") == 0) {
        int rc = hmd_zap_secure(s->zap, z);
        if (rc) {
            zmq_close(z);
            return rc;
        }
    }
    if (zmq_bind(z, ep) != 0) {
        int err = zmq_errno();
        zmq_close(z);
        return hm__seterr(err == EINVAL || err == EPROTONOSUPPORT ? HM_E_CONFIG : HM_E_IO,
                          "%s: cannot bind %s: %s", what, ep, zmq_strerror(err));
    }
    *out = z;
    return 0;
}

int hmd_server_open(hmd_server_t **out, hmd_config_t *cfg, hmd_metrics_t *m, int sigfd)
{
    int rc = 0, zero = 0;
    hmd_server_t *s = calloc(1, sizeof *s);
    if (!s)
        return HM_E_NOMEM;
    s->cfg = cfg;
    s->m = m;
    s->sigfd = sigfd;
    s->queue_cap = cfg->queue;
    if (!cfg->curve_secret_file[0] && !cfg->control_public && !s_is_local(cfg->control)) {
        rc = hm__seterr(HM_E_CONFIG, "control endpoint %s is not loopback or ipc://; configure "
                        "CURVE keys or set control-public = 1", cfg->control);
        goto leave;
    }
    if (!(s->zctx = zmq_ctx_new())) {
        rc = HM_E_NOMEM;
        goto leave;
    }
    if ((rc = hmd_queue_new(&s->q, cfg->queue)) != 0)
        goto leave;
    if (cfg->curve_secret_file[0] &&
        (rc = hmd_zap_open(&s->zap, s->zctx, cfg->curve_secret_file, cfg->curve_allow)) != 0)
        goto leave;
    if ((rc = s_socket(s, &s->ingest, ZMQ_ROUTER, cfg->ingest, "ingest")) ||
        (rc = s_socket(s, &s->pipe_in, ZMQ_PULL, cfg->pipeline_in, "pipeline-in")) ||
        (rc = s_socket(s, &s->pipe_out, ZMQ_PUSH, cfg->pipeline_out, "pipeline-out")) ||
        (rc = s_socket(s, &s->feed, ZMQ_PUB, cfg->feed, "feed")) ||
        (rc = s_socket(s, &s->control, ZMQ_ROUTER, cfg->control, "control")))
        goto leave;
    if (cfg->replica_of[0]) {
        int linger = 2000, ivl = 1000, rivl = 100, rmax = 1000;
        s->strikes = zmq_socket(s->zctx, ZMQ_DEALER);
        if (!s->strikes || zmq_setsockopt(s->strikes, ZMQ_LINGER, &linger, sizeof linger) ||
            zmq_setsockopt(s->strikes, ZMQ_HEARTBEAT_IVL, &ivl, sizeof ivl) ||
            zmq_setsockopt(s->strikes, ZMQ_RECONNECT_IVL, &rivl, sizeof rivl) ||
            zmq_setsockopt(s->strikes, ZMQ_RECONNECT_IVL_MAX, &rmax, sizeof rmax) ||
            zmq_connect(s->strikes, cfg->replica_of) != 0) {
            rc = hm__seterr(HM_E_CONFIG, "replica-of %s: %s", cfg->replica_of,
                            zmq_strerror(zmq_errno()));
            goto leave;
        }
    }
    /* The inproc ends: unbounded, because the queue already bounds them. */
    s->done = zmq_socket(s->zctx, ZMQ_PULL);
    s->ctl_pair = zmq_socket(s->zctx, ZMQ_PAIR);
    if (!s->done || !s->ctl_pair ||
        zmq_setsockopt(s->done, ZMQ_RCVHWM, &zero, sizeof zero) ||
        zmq_setsockopt(s->ctl_pair, ZMQ_SNDHWM, &zero, sizeof zero) ||
        zmq_setsockopt(s->ctl_pair, ZMQ_RCVHWM, &zero, sizeof zero) ||
        zmq_bind(s->done, HMD_DONE_ENDPOINT) || zmq_bind(s->ctl_pair, HMD_CONTROL_ENDPOINT)) {
        rc = hm__seterr(HM_E_INTERNAL, "inproc: %s", zmq_strerror(zmq_errno()));
        goto leave;
    }
leave:
    if (rc) {
        hmd_server_close(&s);
        return rc;
    }
    *out = s;
    return 0;
}

void hmd_server_set_recent(hmd_server_t *s, hmd_recent_t *r)
{
    s->recent = r;
}

int hmd_server_start(hmd_server_t *s, hm_engine_t *e)
{
    hm_decode_limits_t lim = hm_decode_limits_default;
    lim.max_bytes = (size_t)s->cfg->max_image;
    int n = s->cfg->workers > 0 ? s->cfg->workers : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        n = 1;
    s->e = e;
    int rc = hmd_workers_start(&s->workers, n, s->zctx, e, s->q, &lim, s->recent);
    if (rc == 0)
        rc = hmd_control_start(&s->ctl, s->zctx, e, &lim, s->cfg->replica_of);
    if (rc == 0)
        hm_log_info("workers", "count=%d queue=%d", n, s->cfg->queue);
    return rc;
}

/* Send a reply (or publish) for origin; count what could not be delivered. */
static void s_reply(hmd_server_t *s, int origin, hmd_frames_t *env, const char *text)
{
    const void *body[1] = { text };
    size_t lens[1] = { strlen(text) };
    int rc = origin == HMD_ORIGIN_INGEST ? hmd_send_parts(s->ingest, env, body, lens, 1)
                                         : hmd_send_parts(s->pipe_out, NULL, body, lens, 1);
    if (rc) {
        hmd_metrics_count(s->m, HMD_C_REPLY_DROPPED);
        hm_log_debug("reply_dropped", "origin=%d errno=%d", origin, zmq_errno());
    }
}

/* Every verdict that is not unknown goes to the feed under its brand: the top
 * match's brand when one matched, else the brand the listing claims. */
static void s_publish(hmd_server_t *s, const hm_verdict_t *v, const hmd_request_t *r,
                      const char *text)
{
    if (v->decision == HM_DEC_UNKNOWN)
        return;
    const char *brand = v->n_matches > 0 && v->matches[0].matched ? v->matches[0].brand
                        : r ? r->brand : "";
    char topic[HM_NAME_MAX * 3 + 32];
    if (!brand[0] || hmd_proto_topic(brand, hm_decision_name(v->decision), topic, sizeof topic) < 0)
        return;
    if (zmq_send(s->feed, topic, strlen(topic), ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0 &&
        zmq_send(s->feed, text, strlen(text), ZMQ_DONTWAIT) >= 0)
        hmd_metrics_count(s->m, HMD_C_FEED_PUBLISHED);
}

/* Answer a request at once with decision error (never reaches a worker). */
static void s_reject(hmd_server_t *s, int origin, hmd_frames_t *env, const hmd_request_t *r,
                     int code, const char *msg)
{
    static hm_verdict_t v; /* socket thread only; large, so not on the stack */
    hm_verdict_error(&v, code, msg);
    char *text = hmd_proto_verdict_text(&v, r);
    hm_log_debug("rejected", "code=%s request_id=%s msg=\"%s\"", hm_err_name(code),
                 r && r->has_request_id ? r->request_id : "-", msg);
    hmd_metrics_verdict(s->m, &v);
    if (text) {
        s_reply(s, origin, env, text);
        s_publish(s, &v, r, text);
    }
    free(text);
}

/* One ingest or pipeline message: validate, then queue it or answer at once. */
static void s_request(hmd_server_t *s, int origin, hmd_frames_t *fr)
{
    static hmd_request_t r;
    char msg[256];
    int payload = hmd_frames_payload(fr);
    zmq_msg_t *hdr = hmd_frames_get(fr, 0), *img = hmd_frames_get(fr, 1);
    hmd_metrics_request(s->m, origin);
    int rc = hmd_proto_check_request(payload, hdr ? zmq_msg_data(hdr) : NULL,
                                     hdr ? zmq_msg_size(hdr) : 0, img ? zmq_msg_size(img) : 0,
                                     (size_t)s->cfg->max_header, (size_t)s->cfg->max_image, &r,
                                     msg, sizeof msg);
    if (rc == 0 && s->draining) {
        rc = HM_E_BUSY;
        snprintf(msg, sizeof msg, "shutting down");
    }
    int limit = s->cfg->queue < s->queue_cap ? s->cfg->queue : s->queue_cap;
    if (rc == 0 && (s->in_flight >= limit ||
                    s->in_flight_bytes + zmq_msg_size(img) > (uint64_t)s->cfg->queue_mib << 20)) {
        rc = HM_E_BUSY;
        snprintf(msg, sizeof msg, "%d requests in flight, the limit is %d", s->in_flight, limit);
    }
    hmd_job_t *j = NULL;
    if (rc == 0) {
        if (!(j = calloc(1, sizeof *j))) {
            rc = HM_E_NOMEM;
            snprintf(msg, sizeof msg, "out of memory");
        }
    }
    if (rc) {
        s_reject(s, origin, fr, hdr ? &r : NULL, rc, msg);
        return;
    }
    j->origin = origin;
    j->req = r;
    /* A replica never writes strikes itself: it forwards them (s_done). */
    j->record_strikes = s->strikes ? 0 : s->cfg->record_strikes;
    zmq_msg_init(&j->image);
    zmq_msg_move(&j->image, img);
    for (int i = 0; i < fr->n_env; i++) {
        zmq_msg_init(&j->env.f[i]);
        zmq_msg_move(&j->env.f[i], &fr->f[i]);
    }
    j->env.n_kept = j->env.n_env = fr->n_env;
    size_t bytes = zmq_msg_size(&j->image);
    if (hmd_queue_push(s->q, j) != 0) {
        s_reject(s, origin, &j->env, &j->req, HM_E_BUSY, "queue full");
        hmd_job_free(j);
        return;
    }
    s->in_flight++;
    s->in_flight_bytes += bytes;
    s_gauges(s);
}

/* A finished job from a worker: reply, publish, count, free. */
static void s_done(hmd_server_t *s)
{
    hmd_job_t *j;
    while (zmq_recv(s->done, &j, sizeof j, ZMQ_DONTWAIT) == (int)sizeof j) {
        (void)atomic_load_explicit(&j->handed_back, memory_order_acquire);
        s->in_flight--;
        s->in_flight_bytes -= zmq_msg_size(&j->image);
        /* Counters first: a client that scrapes after its reply sees them. */
        s_gauges(s);
        hmd_metrics_verdict(s->m, &j->verdict);
        if (s->strikes && s->cfg->record_strikes && j->verdict.decision == HM_DEC_COUNTERFEIT &&
            j->req.seller_id[0]) {
            /* Three strikes across the fleet: the primary counts every
             * replica's verdicts (idempotent per listing and image, so a
             * re-scored request does not count twice). */
            const char *p[4] = { "STRIKE", j->req.seller_id, j->req.listing_id, j->req.image_id };
            for (int i = 0; i < 4; i++)
                zmq_send(s->strikes, p[i], strlen(p[i]), (i < 3 ? ZMQ_SNDMORE : 0) | ZMQ_DONTWAIT);
        }
        if (j->reply) {
            s_reply(s, j->origin, &j->env, j->reply);
            s_publish(s, &j->verdict, &j->req, j->reply);
        } else {
            s_reject(s, j->origin, &j->env, &j->req, HM_E_NOMEM, "out of memory");
        }
        hm_log_debug("verdict", "request_id=%s decision=%s total_us=%llu", j->req.request_id,
                     hm_decision_name(j->verdict.decision),
                     (unsigned long long)j->verdict.total_us);
        hmd_job_free(j);
    }
}

/* Control: check the frame count, then hand the command to the control thread. */
static void s_control_in(hmd_server_t *s, hmd_frames_t *fr)
{
    int payload = hmd_frames_payload(fr);
    const char *err = NULL;
    int code = HM_E_PROTO;
    if (payload < 1 || payload > 2)
        err = "expected 1 or 2 frames (JSON command, optional data)";
    else if (s->draining) {
        err = "shutting down";
        code = HM_E_BUSY;
    } else if (s->ctl_pending >= HMD_CONTROL_PENDING_MAX) {
        err = "too many control commands in flight";
        code = HM_E_BUSY;
    }
    if (err) {
        char *text = hmd_control_error_text(code, err, NULL);
        if (text) {
            const void *body[1] = { text };
            size_t lens[1] = { strlen(text) };
            hmd_send_parts(s->control, fr, body, lens, 1);
        }
        free(text);
        hmd_metrics_count(s->m, HMD_C_CONTROL_ERR);
        return;
    }
    unsigned char n_env = (unsigned char)fr->n_env;
    zmq_send(s->ctl_pair, &n_env, 1, ZMQ_SNDMORE);
    for (int i = 0; i < fr->n_kept; i++) {
        zmq_msg_t c;
        zmq_msg_init(&c);
        zmq_msg_move(&c, &fr->f[i]);
        zmq_msg_send(&c, s->ctl_pair, i + 1 < fr->n_kept ? ZMQ_SNDMORE : 0);
        zmq_msg_close(&c);
    }
    s->ctl_pending++;
}

/* A reply from the control thread: [n_env][env...][ok][json] -> [env...][json]. */
static void s_control_out(hmd_server_t *s)
{
    hmd_frames_t fr;
    while (hmd_frames_recv(s->ctl_pair, 0, &fr) == 0) {
        s->ctl_pending--;
        int n_env = fr.n_kept > 0 ? *(unsigned char *)zmq_msg_data(&fr.f[0]) : 0;
        if (fr.n_kept == n_env + 3) {
            int ok = *(unsigned char *)zmq_msg_data(&fr.f[n_env + 1]);
            hmd_metrics_count(s->m, ok ? HMD_C_CONTROL_OK : HMD_C_CONTROL_ERR);
            int failed = 0;
            for (int i = 1; i <= n_env && !failed; i++)
                failed = zmq_send(s->control, zmq_msg_data(&fr.f[i]), zmq_msg_size(&fr.f[i]),
                                  ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0;
            if (!failed)
                zmq_send(s->control, zmq_msg_data(&fr.f[n_env + 2]), zmq_msg_size(&fr.f[n_env + 2]),
                         ZMQ_DONTWAIT);
        }
        hmd_frames_close(&fr);
    }
}

static void s_reload(hmd_server_t *s)
{
    int rc = hmd_config_reload(s->cfg);
    if (rc)
        hm_log_error("reload", "status=failed msg=\"%s\"", hm_last_error());
    else
        hm_log_set_level(hm_log_parse_level(s->cfg->log_level));
    rc = hm_engine_load_thresholds(s->e, s->cfg->thresholds[0] ? s->cfg->thresholds : NULL);
    if (rc)
        hm_log_error("reload_thresholds", "code=%s msg=\"%s\"", hm_err_name(rc), hm_last_error());
    if (s->zap && s->cfg->curve_allow[0] && hmd_zap_reload(s->zap, s->cfg->curve_allow) != 0)
        hm_log_error("reload_curve", "msg=\"%s\"", hm_last_error());
    if (s->cfg->queue > s->queue_cap)
        hm_log_warn("reload", "key=queue value=%d effective=%d reason=\"grows after a restart\"",
                    s->cfg->queue, s->queue_cap);
    hm_log_info("reloaded", "queue=%d log_level=%s", s->cfg->queue, s->cfg->log_level);
    s_gauges(s);
}

static void s_signal(hmd_server_t *s)
{
    unsigned char sig;
    while (read(s->sigfd, &sig, 1) == 1) {
        if (sig == SIGHUP) {
            s_reload(s);
        } else if (!s->draining) {
            s->draining = 1;
            s->deadline_ms = s_now_ms() + (uint64_t)s->cfg->shutdown_timeout * 1000u;
            hm_log_info("shutdown", "signal=%u in_flight=%d", (unsigned)sig, s->in_flight);
        }
    }
}

int hmd_server_run(hmd_server_t *s)
{
    zmq_pollitem_t it[P_COUNT] = {
        [P_SIG] = { NULL, s->sigfd, ZMQ_POLLIN, 0 },
        [P_INGEST] = { s->ingest, 0, ZMQ_POLLIN, 0 },
        [P_PIPE_IN] = { s->pipe_in, 0, ZMQ_POLLIN, 0 },
        [P_CONTROL] = { s->control, 0, ZMQ_POLLIN, 0 },
        [P_DONE] = { s->done, 0, ZMQ_POLLIN, 0 },
        [P_CTL_PAIR] = { s->ctl_pair, 0, ZMQ_POLLIN, 0 },
        [P_ZAP] = { s->zap ? hmd_zap_socket(s->zap) : NULL, 0, ZMQ_POLLIN, 0 },
    };
    int n_items = s->zap ? P_COUNT : P_COUNT - 1;
    s_gauges(s);
    for (;;) {
        if (s->draining) {
            if (s->in_flight == 0 && s->ctl_pending == 0)
                break;
            if (s_now_ms() >= s->deadline_ms) {
                hm_log_warn("shutdown", "status=timeout in_flight=%d", s->in_flight);
                return HM_E_TIMEOUT;
            }
        }
        int n = zmq_poll(it, n_items, s->draining ? 100 : -1);
        if (n < 0) {
            if (zmq_errno() == EINTR)
                continue;
            hm_log_error("poll", "msg=\"%s\"", zmq_strerror(zmq_errno()));
            return HM_E_INTERNAL;
        }
        if (it[P_SIG].revents & ZMQ_POLLIN)
            s_signal(s);
        if (it[P_DONE].revents & ZMQ_POLLIN)
            s_done(s);
        if (it[P_CTL_PAIR].revents & ZMQ_POLLIN)
            s_control_out(s);
        if (s->zap && (it[P_ZAP].revents & ZMQ_POLLIN))
            hmd_zap_handle(s->zap);
        /* Bounded batches per wake-up so finished work is never starved. */
        hmd_frames_t fr;
        for (int k = 0; k < 64 && (it[P_INGEST].revents & ZMQ_POLLIN) &&
                        hmd_frames_recv(s->ingest, 1, &fr) == 0; k++) {
            s_request(s, HMD_ORIGIN_INGEST, &fr);
            hmd_frames_close(&fr);
        }
        for (int k = 0; k < 64 && (it[P_PIPE_IN].revents & ZMQ_POLLIN) &&
                        hmd_frames_recv(s->pipe_in, 0, &fr) == 0; k++) {
            s_request(s, HMD_ORIGIN_PIPELINE, &fr);
            hmd_frames_close(&fr);
        }
        for (int k = 0; k < 16 && (it[P_CONTROL].revents & ZMQ_POLLIN) &&
                        hmd_frames_recv(s->control, 1, &fr) == 0; k++) {
            s_control_in(s, &fr);
            hmd_frames_close(&fr);
        }
    }
    hm_log_info("shutdown", "status=drained");
    return 0;
}

static void s_close_sock(void **z, int linger)
{
    if (*z) {
        zmq_setsockopt(*z, ZMQ_LINGER, &linger, sizeof linger);
        zmq_close(*z);
        *z = NULL;
    }
}

int hmd_server_close(hmd_server_t **self_p)
{
    if (!self_p || !*self_p)
        return 0;
    hmd_server_t *s = *self_p;
    int rc = 0;
    if (s->ctl) {
        zmq_send(s->ctl_pair, "", 0, 0); /* the stop frame */
        hmd_control_join(&s->ctl);
    }
    if (s->workers)
        rc = hmd_workers_join(&s->workers, 2000);
    if (rc == 0 && s->done)
        while (zmq_poll(&(zmq_pollitem_t){ s->done, 0, ZMQ_POLLIN, 0 }, 1, 0) > 0)
            s_done(s);
    s_close_sock(&s->ingest, 2000);
    s_close_sock(&s->pipe_in, 0);
    s_close_sock(&s->pipe_out, 2000);
    s_close_sock(&s->feed, 2000);
    s_close_sock(&s->control, 2000);
    s_close_sock(&s->done, 0);
    s_close_sock(&s->ctl_pair, 0);
    s_close_sock(&s->strikes, 2000);
    hmd_zap_close(&s->zap);
    if (rc) {
        /* A worker is stuck inside the engine: its socket keeps the context
         * alive, so do not terminate it; the caller exits the process. */
        *self_p = NULL;
        return rc;
    }
    if (s->zctx)
        zmq_ctx_term(s->zctx);
    hmd_queue_free(&s->q);
    free(s);
    *self_p = NULL;
    return 0;
}
