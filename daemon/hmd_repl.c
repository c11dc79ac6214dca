/*
 * hmd_repl.c - the primary's replication thread (see hmd_repl.h).
 *
 * Publishing polls the store's sequence every HMD_REPL_TICK_MS instead of
 * hooking the commit paths: every writer (control thread, workers' strikes,
 * this thread) is covered, and a record is read after its commit, so the
 * PUB stream never carries a change that could still be rolled back.
 */
#include "hmd_repl.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "hm_error.h"
#include "hm_log.h"
#include "hm_util.h"
#include "hmd_control.h"
#include "hmd_proto.h"

#define HMD_REPL_TICK_MS 2
#define HMD_REPL_HB_MS 500
#define HMD_REPL_RANGE_MAX 1000
#define HMD_REPL_CHUNK (1u << 20)
/* ZMTP heartbeats drop a dead TCP connection (a pulled cable, a namespace
 * link down) within seconds, so the reconnect starts by itself. */
void hmd__repl_sockopts(void *z)
{
    int linger = 0, ivl = 1000, to = 3000, rivl = 100, rmax = 1000, hwm = 100000;
    zmq_setsockopt(z, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(z, ZMQ_HEARTBEAT_IVL, &ivl, sizeof ivl);
    zmq_setsockopt(z, ZMQ_HEARTBEAT_TIMEOUT, &to, sizeof to);
    zmq_setsockopt(z, ZMQ_RECONNECT_IVL, &rivl, sizeof rivl);
    zmq_setsockopt(z, ZMQ_RECONNECT_IVL_MAX, &rmax, sizeof rmax);
    zmq_setsockopt(z, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(z, ZMQ_RCVHWM, &hwm, sizeof hwm);
}

static int s_pub_cb(uint64_t seq, const void *rec, size_t len, void *ctx)
{
    hmd_repl_t *r = ctx;
    /* Dropped at the high-water mark: replicas see the gap and ask a RANGE. */
    zmq_send(r->pub, "UPD", 3, ZMQ_SNDMORE | ZMQ_DONTWAIT);
    zmq_send(r->pub, rec, len, ZMQ_DONTWAIT);
    r->published = seq;
    return 0;
}

static void s_publish(hmd_repl_t *r)
{
    hm_store_t *st = hm_engine_store(r->e);
    uint64_t seq = 0;
    for (int k = 0; k < 16 && hm_store_seq(st, &seq) == 0 && seq > r->published; k++)
        if (hm_store_repl_read(st, r->published, HMD_REPL_RANGE_MAX, s_pub_cb, r) != 0)
            break;
}

static void s_send_text(void *z, const char *const *parts, int n)
{
    for (int i = 0; i < n; i++)
        zmq_send(z, parts[i], strlen(parts[i]), i + 1 < n ? ZMQ_SNDMORE | ZMQ_DONTWAIT : ZMQ_DONTWAIT);
}

/* Reply [id][RANGE][first][last][rec...], or [id][GONE][first][last]. */
typedef struct {
    void *z;
    zmq_msg_t *id;
    int n;
    uint64_t upto;
} s_range_t;

static int s_range_cb(uint64_t seq, const void *rec, size_t len, void *ctx)
{
    s_range_t *rg = ctx;
    (void)seq;
    if (seq > rg->upto)
        return 1;
    zmq_send(rg->z, rec, len, ZMQ_SNDMORE | ZMQ_DONTWAIT);
    rg->n++;
    return 0;
}

static void s_range(hmd_repl_t *r, zmq_msg_t *id, const char *from_s)
{
    hm_store_t *st = hm_engine_store(r->e);
    uint64_t first = 0, last = 0, from = strtoull(from_s, NULL, 10);
    hm_store_log_first(st, &first);
    hm_store_seq(st, &last);
    char fb[32], lb[32];
    snprintf(fb, sizeof fb, "%llu", (unsigned long long)first);
    snprintf(lb, sizeof lb, "%llu", (unsigned long long)last);
    zmq_send(r->router, zmq_msg_data(id), zmq_msg_size(id), ZMQ_SNDMORE | ZMQ_DONTWAIT);
    if (from <= last && from < first) {
        s_send_text(r->router, (const char *const[]){ "GONE", fb, lb }, 3);
        return;
    }
    const char *hdr[3] = { "RANGE", fb, lb };
    for (int i = 0; i < 3; i++)
        zmq_send(r->router, hdr[i], strlen(hdr[i]), ZMQ_SNDMORE | ZMQ_DONTWAIT);
    s_range_t rg = { r->router, id, 0, last };
    if (from > 0)
        hm_store_repl_read(st, from - 1, HMD_REPL_RANGE_MAX, s_range_cb, &rg);
    zmq_send(r->router, "", 0, ZMQ_DONTWAIT); /* the end marker */
}

static s_snap_t *s_snap_find(hmd_repl_t *r, uint64_t token)
{
    for (int i = 0; i < HMD_REPL_SNAPS; i++)
        if (r->snaps[i].fd >= 0 && r->snaps[i].token == token)
            return &r->snaps[i];
    return NULL;
}

static void s_snap_drop(s_snap_t *sn)
{
    if (sn->fd >= 0)
        close(sn->fd);
    sn->fd = -1;
}

/* SNAPSHOT: a compacting copy into an unlinked temp file in the db dir;
 * replicas fetch it by CHUNK (the guide's file transfer: the client pulls,
 * so a slow replica never fills our queues).  Expires 60 s after last use. */
static void s_snapshot(hmd_repl_t *r, zmq_msg_t *id)
{
    s_snap_t *sn = NULL;
    for (int i = 0; i < HMD_REPL_SNAPS && !sn; i++)
        if (r->snaps[i].fd < 0)
            sn = &r->snaps[i];
    if (!sn) { /* the oldest goes */
        sn = &r->snaps[0];
        for (int i = 1; i < HMD_REPL_SNAPS; i++)
            if (r->snaps[i].used_ms < sn->used_ms)
                sn = &r->snaps[i];
        s_snap_drop(sn);
    }
    char path[HMD_STR_MAX + 32], msg[256] = "";
    snprintf(path, sizeof path, "%s/repl-snapshot.XXXXXX", r->cfg->db);
    int fd = mkstemp(path);
    int rc = fd < 0 ? hm__seterr(HM_E_IO, "snapshot file: %s", strerror(errno)) : 0;
    if (fd >= 0)
        unlink(path);
    if (rc == 0)
        rc = hm_store_snapshot_to_fd(hm_engine_store(r->e), fd);
    off_t size = rc == 0 ? lseek(fd, 0, SEEK_END) : -1;
    zmq_send(r->router, zmq_msg_data(id), zmq_msg_size(id), ZMQ_SNDMORE | ZMQ_DONTWAIT);
    if (rc || size < 0) {
        snprintf(msg, sizeof msg, "%s", hm_last_error());
        if (fd >= 0)
            close(fd);
        hm_log_error("repl_snapshot", "reason=\"%s\"", msg);
        s_send_text(r->router, (const char *const[]){ "ERROR", msg }, 2);
        return;
    }
    static uint64_t next_token = 1;
    sn->token = next_token++ ^ ((uint64_t)getpid() << 32);
    sn->fd = fd;
    sn->size = (uint64_t)size;
    sn->used_ms = hm_mono_ms();
    char tb[32], sb[32];
    snprintf(tb, sizeof tb, "%llu", (unsigned long long)sn->token);
    snprintf(sb, sizeof sb, "%llu", (unsigned long long)sn->size);
    s_send_text(r->router, (const char *const[]){ "SNAPSHOT", tb, sb }, 3);
    hm_log_info("repl_snapshot", "token=%s bytes=%s", tb, sb);
}

static void s_chunk(hmd_repl_t *r, zmq_msg_t *id, const char *tok_s, const char *off_s)
{
    s_snap_t *sn = s_snap_find(r, strtoull(tok_s, NULL, 10));
    uint64_t off = strtoull(off_s, NULL, 10);
    zmq_send(r->router, zmq_msg_data(id), zmq_msg_size(id), ZMQ_SNDMORE | ZMQ_DONTWAIT);
    if (!sn) {
        s_send_text(r->router, (const char *const[]){ "ERROR", "unknown or expired snapshot" }, 2);
        return;
    }
    sn->used_ms = hm_mono_ms();
    size_t n = off < sn->size ? (size_t)(sn->size - off) : 0;
    if (n > HMD_REPL_CHUNK)
        n = HMD_REPL_CHUNK;
    zmq_msg_t data;
    zmq_msg_init_size(&data, n);
    ssize_t got = n ? pread(sn->fd, zmq_msg_data(&data), n, (off_t)off) : 0;
    if (got != (ssize_t)n) {
        zmq_msg_close(&data);
        s_send_text(r->router, (const char *const[]){ "ERROR", "snapshot read failed" }, 2);
        return;
    }
    const char *hdr[3] = { "CHUNK", tok_s, off_s };
    for (int i = 0; i < 3; i++)
        zmq_send(r->router, hdr[i], strlen(hdr[i]), ZMQ_SNDMORE | ZMQ_DONTWAIT);
    zmq_msg_send(&data, r->router, ZMQ_DONTWAIT);
    zmq_msg_close(&data);
}

static void s_peer_seen(hmd_repl_t *r, const char *name, uint64_t seq)
{
    s_peer_t *p = NULL, *oldest = &r->peers[0];
    for (int i = 0; i < HMD_REPL_PEERS && !p; i++) {
        if (strcmp(r->peers[i].name, name) == 0)
            p = &r->peers[i];
        if (r->peers[i].seen_ms < oldest->seen_ms)
            oldest = &r->peers[i];
    }
    if (!p) {
        p = oldest;
        snprintf(p->name, sizeof p->name, "%s", name);
    }
    p->seq = seq;
    p->seen_ms = hm_mono_ms();
}

/* One ROUTER message: [id][cmd][args...]. */
static void s_request(hmd_repl_t *r)
{
    hmd_frames_t fr;
    if (hmd_frames_recv(r->router, 0, &fr) != 0)
        return;
    char a[4][200] = { "", "", "", "" };
    for (int i = 1; i < fr.n_kept && i < 5; i++) {
        size_t n = zmq_msg_size(&fr.f[i]);
        n = n < sizeof a[0] - 1 ? n : sizeof a[0] - 1;
        memcpy(a[i - 1], zmq_msg_data(&fr.f[i]), n);
        a[i - 1][n] = '\0';
    }
    zmq_msg_t *id = &fr.f[0];
    if (fr.n_kept < 2) {
    } else if (!strcmp(a[0], "INFO") || !strcmp(a[0], "RANGE")) {
        s_range(r, id, !strcmp(a[0], "INFO") ? "18446744073709551615" : a[1]);
    } else if (!strcmp(a[0], "SNAPSHOT")) {
        s_snapshot(r, id);
    } else if (!strcmp(a[0], "CHUNK") && fr.n_kept >= 4) {
        s_chunk(r, id, a[1], a[2]);
    } else if (!strcmp(a[0], "HB") && fr.n_kept >= 4) {
        s_peer_seen(r, a[1], strtoull(a[2], NULL, 10));
    } else if (!strcmp(a[0], "STRIKE") && fr.n_kept >= 5) {
        /* Idempotent per (listing, image): a re-sent strike counts once. */
        if (hm_engine_add_strike(r->e, a[1], a[2], a[3], NULL) != 0)
            hm_log_warn("repl_strike", "seller=\"%s\" reason=\"%s\"", a[1], hm_last_error());
    } else if (!strcmp(a[0], "FEEDBACK") && fr.n_kept == 5) {
        int ok = 0;
        json_t *h = json_loadb(zmq_msg_data(&fr.f[3]), zmq_msg_size(&fr.f[3]), 0, NULL);
        const char *cmd = json_string_value(json_object_get(h, "cmd"));
        char *reply = cmd && !strcmp(cmd, "feedback") && r->fpc
                          ? hmd_control_exec(r->e, r->fpc, zmq_msg_data(&fr.f[3]),
                                             zmq_msg_size(&fr.f[3]), zmq_msg_data(&fr.f[4]),
                                             zmq_msg_size(&fr.f[4]), &ok)
                          : hmd_control_error_text(HM_E_INVAL, "only feedback is forwarded", NULL);
        json_decref(h);
        unsigned char okb = (unsigned char)ok;
        zmq_send(r->router, zmq_msg_data(id), zmq_msg_size(id), ZMQ_SNDMORE | ZMQ_DONTWAIT);
        zmq_send(r->router, "FEEDBACK", 8, ZMQ_SNDMORE | ZMQ_DONTWAIT);
        zmq_send(r->router, a[1], strlen(a[1]), ZMQ_SNDMORE | ZMQ_DONTWAIT);
        zmq_send(r->router, &okb, 1, ZMQ_SNDMORE | ZMQ_DONTWAIT);
        zmq_send(r->router, reply ? reply : "{\"ok\":false}", reply ? strlen(reply) : 12,
                 ZMQ_DONTWAIT);
        free(reply);
    } else {
        hm_log_debug("repl_unknown", "cmd=\"%s\"", a[0]);
    }
    hmd_frames_close(&fr);
}

static void s_status(hmd_repl_t *r, uint64_t now)
{
    hmd_repl_status_t st = { .role = 1, .applied_seq = r->published,
                             .lag_max = r->cfg->repl_lag_max };
    hm_store_log_first(hm_engine_store(r->e), &st.log_first);
    for (int i = 0; i < HMD_REPL_PEERS; i++)
        st.replicas += r->peers[i].name[0] && now - r->peers[i].seen_ms < 5000;
    hmd_metrics_repl_set(r->m, &st);
}

/* Change-log compaction (docs/DEPLOYMENT.md): at start, then once a minute. */
static void s_compact(hmd_repl_t *r)
{
    uint64_t removed = 0;
    if (hm_engine_log_compact(r->e, (uint64_t)r->cfg->repl_keep,
                              (int64_t)r->cfg->repl_keep_hours * 3600, 100000, &removed) != 0)
        hm_log_warn("repl_compact", "reason=\"%s\"", hm_last_error());
    else if (removed)
        hm_log_info("repl_compact", "removed=%llu keep=%d keep_hours=%d",
                    (unsigned long long)removed, r->cfg->repl_keep, r->cfg->repl_keep_hours);
}

static void *s_main(void *arg)
{
    hmd_repl_t *r = arg;
    uint64_t next_hb = 0, next_compact = hm_mono_ms() + 60000, next_status = 0;
    while (!atomic_load(&r->stop)) {
        zmq_pollitem_t it = { r->router, 0, ZMQ_POLLIN, 0 };
        int n = zmq_poll(&it, 1, HMD_REPL_TICK_MS);
        for (int k = 0; n > 0 && k < 64 && (it.revents & ZMQ_POLLIN); k++) {
            if (zmq_poll(&it, 1, 0) <= 0)
                break;
            s_request(r);
        }
        s_publish(r);
        uint64_t now = hm_mono_ms();
        if (now >= next_hb) {
            char sb[32], tb[32];
            snprintf(sb, sizeof sb, "%llu", (unsigned long long)r->published);
            snprintf(tb, sizeof tb, "%lld", (long long)time(NULL));
            s_send_text(r->pub, (const char *const[]){ "HB", sb, tb }, 3);
            next_hb = now + HMD_REPL_HB_MS;
        }
        if (now >= next_compact) {
            s_compact(r);
            next_compact = now + 60000;
        }
        for (int i = 0; i < HMD_REPL_SNAPS; i++)
            if (r->snaps[i].fd >= 0 && now - r->snaps[i].used_ms > 60000)
                s_snap_drop(&r->snaps[i]);
        if (now >= next_status) {
            s_status(r, now);
            next_status = now + 200;
        }
    }
    return NULL;
}

static int s_bind(hmd_repl_t *r, void **out, int type, const char *ep)
{
    void *z = zmq_socket(r->zctx, type);
    if (!z)
        return hm__seterr(HM_E_INTERNAL, "repl: %s", zmq_strerror(zmq_errno()));
    hmd__repl_sockopts(z);
    if (zmq_bind(z, ep) != 0) {
        int err = zmq_errno();
        zmq_close(z);
        return hm__seterr(err == EINVAL || err == EPROTONOSUPPORT ? HM_E_CONFIG : HM_E_IO,
                          "repl: cannot bind %s: %s", ep, zmq_strerror(err));
    }
    *out = z;
    return 0;
}

int hmd_repl_primary_start(hmd_repl_t **out, const hmd_config_t *cfg, hm_engine_t *e,
                           hmd_metrics_t *m)
{
    if (!cfg->repl[0] || !cfg->repl_pub[0])
        return hm__seterr(HM_E_CONFIG, "a primary needs both repl and repl-pub endpoints");
    hmd_repl_t *r = calloc(1, sizeof *r);
    if (!r)
        return HM_E_NOMEM;
    r->cfg = cfg;
    r->e = e;
    r->m = m;
    for (int i = 0; i < HMD_REPL_SNAPS; i++)
        r->snaps[i].fd = -1;
    hm_store_seq(hm_engine_store(e), &r->published);
    hm_decode_limits_t lim = hm_decode_limits_default;
    lim.max_bytes = (size_t)cfg->max_image;
    int rc = 0;
    if (!(r->zctx = zmq_ctx_new()) || hm_fp_ctx_new(&r->fpc, &lim) != 0)
        rc = HM_E_NOMEM;
    if (!rc && !(rc = s_bind(r, &r->router, ZMQ_ROUTER, cfg->repl)))
        rc = s_bind(r, &r->pub, ZMQ_PUB, cfg->repl_pub);
    if (!rc) /* before any replica can ask: INFO then tells the truth */
        s_compact(r);
    if (!rc && pthread_create(&r->tid, NULL, s_main, r) != 0)
        rc = hm__seterr(HM_E_INTERNAL, "repl: cannot start thread");
    if (rc) {
        if (r->router)
            zmq_close(r->router);
        if (r->pub)
            zmq_close(r->pub);
        if (r->zctx)
            zmq_ctx_term(r->zctx);
        hm_fp_ctx_free(&r->fpc);
        free(r);
        return rc;
    }
    r->running = 1;
    hm_log_info("repl_primary", "repl=%s repl_pub=%s seq=%llu", cfg->repl, cfg->repl_pub,
                (unsigned long long)r->published);
    *out = r;
    return 0;
}

void hmd_repl_stop(hmd_repl_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    hmd_repl_t *r = *self_p;
    atomic_store(&r->stop, 1);
    if (r->running)
        pthread_join(r->tid, NULL);
    for (int i = 0; i < HMD_REPL_SNAPS; i++)
        if (r->snaps[i].fd > 0)
            s_snap_drop(&r->snaps[i]);
    void *socks[4] = { r->router, r->pub, r->sub, r->dealer };
    for (int i = 0; i < 4; i++)
        if (socks[i])
            zmq_close(socks[i]);
    if (r->zctx)
        zmq_ctx_term(r->zctx);
    hm_fp_ctx_free(&r->fpc);
    free(r);
    *self_p = NULL;
}
