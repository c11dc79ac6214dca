/*
 * hmd_replica.c - a replica: bootstrap (snapshot when needed) and the
 * follower thread.  See hmd_repl.h and docs/PROTOCOL.md "Replication".
 *
 * The follower applies a record only when its sequence is exactly the
 * store's last + 1 (the store checks it again inside the transaction), so
 * nothing is ever applied out of order.  Anything else is dropped: an old
 * record was applied already; a newer one means a gap, and the gap is
 * filled by a RANGE request to the primary (one outstanding at a time,
 * re-sent after RANGE_RETRY_MS).  A heartbeat that names a sequence past
 * ours also starts a RANGE, so a lost tail is repaired within one beat.
 */
#include "hmd_repl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "hm_error.h"
#include "hm_log.h"
#include "hm_util.h"
#include "hmd_proto.h"

#define RANGE_RETRY_MS 2000
#define BATCH_MAX 1024

static atomic_int s_resync;
static atomic_int s_snapshots; /* fetched by this process's bootstrap */

int hmd_repl_resync_needed(void)
{
    return atomic_load(&s_resync);
}

/* The primary's PUB endpoint: configured, or the repl endpoint's port + 1. */
static void s_pub_endpoint(const hmd_config_t *cfg, char *out, size_t cap)
{
    if (cfg->replica_pub[0]) {
        snprintf(out, cap, "%s", cfg->replica_pub);
        return;
    }
    const char *colon = strrchr(cfg->replica_of, ':');
    long port = colon ? strtol(colon + 1, NULL, 10) : 0;
    snprintf(out, cap, "%.*s:%ld", colon ? (int)(colon - cfg->replica_of) : 0, cfg->replica_of,
             port + 1);
}

/* Receive one message from z within ms; NULL-free frames in fr.  0 or -1. */
static int s_recv(void *z, hmd_frames_t *fr, int ms)
{
    if (zmq_poll(&(zmq_pollitem_t){ z, 0, ZMQ_POLLIN, 0 }, 1, ms) <= 0)
        return -1;
    return hmd_frames_recv(z, 0, fr);
}

static int s_is(const zmq_msg_t *m, const char *s)
{
    return zmq_msg_size((zmq_msg_t *)m) == strlen(s) &&
           memcmp(zmq_msg_data((zmq_msg_t *)m), s, strlen(s)) == 0;
}

static uint64_t s_u64(zmq_msg_t *m)
{
    char b[32];
    size_t n = zmq_msg_size(m) < sizeof b - 1 ? zmq_msg_size(m) : sizeof b - 1;
    memcpy(b, zmq_msg_data(m), n);
    b[n] = '\0';
    return strtoull(b, NULL, 10);
}

/* Fetch a snapshot into dir/snapshot.tmp, then make it dir/data.mdb. */
static int s_fetch_snapshot(void *d, const char *dir)
{
    char tmp[HMD_STR_MAX + 32], dst[HMD_STR_MAX + 32];
    snprintf(tmp, sizeof tmp, "%s/snapshot.tmp", dir);
    snprintf(dst, sizeof dst, "%s/data.mdb", dir);
    zmq_send(d, "SNAPSHOT", 8, 0);
    hmd_frames_t fr;
    if (s_recv(d, &fr, 60000) != 0)
        return hm__seterr(HM_E_TIMEOUT, "replica: no snapshot from the primary");
    if (fr.n_kept != 3 || !s_is(&fr.f[0], "SNAPSHOT")) {
        hmd_frames_close(&fr);
        return hm__seterr(HM_E_PROTO, "replica: the primary refused a snapshot");
    }
    char tok[32];
    snprintf(tok, sizeof tok, "%llu", (unsigned long long)s_u64(&fr.f[1]));
    uint64_t size = s_u64(&fr.f[2]), off = 0;
    hmd_frames_close(&fr);
    mkdir(dir, 0700);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return hm__seterr(HM_E_IO, "replica: %s: %s", tmp, strerror(errno));
    int rc = 0;
    while (off < size && rc == 0) {
        char ob[32];
        snprintf(ob, sizeof ob, "%llu", (unsigned long long)off);
        zmq_send(d, "CHUNK", 5, ZMQ_SNDMORE);
        zmq_send(d, tok, strlen(tok), ZMQ_SNDMORE);
        zmq_send(d, ob, strlen(ob), 0);
        if (s_recv(d, &fr, 30000) != 0) {
            rc = hm__seterr(HM_E_TIMEOUT, "replica: snapshot chunk at %s timed out", ob);
            break;
        }
        if (fr.n_kept != 4 || !s_is(&fr.f[0], "CHUNK") || s_u64(&fr.f[2]) != off ||
            zmq_msg_size(&fr.f[3]) == 0)
            rc = hm__seterr(HM_E_PROTO, "replica: bad snapshot chunk at %s", ob);
        else if (write(fd, zmq_msg_data(&fr.f[3]), zmq_msg_size(&fr.f[3])) !=
                 (ssize_t)zmq_msg_size(&fr.f[3]))
            rc = hm__seterr(HM_E_IO, "replica: %s: %s", tmp, strerror(errno));
        else
            off += zmq_msg_size(&fr.f[3]);
        hmd_frames_close(&fr);
    }
    if (rc == 0 && fsync(fd) != 0)
        rc = hm__seterr(HM_E_IO, "replica: fsync %s: %s", tmp, strerror(errno));
    close(fd);
    if (rc) {
        unlink(tmp);
        return rc;
    }
    /* The old copy's files go; then one rename makes the new one current. */
    DIR *dh = opendir(dir);
    struct dirent *de;
    while (dh && (de = readdir(dh))) {
        if (!strcmp(de->d_name, "lock.mdb") || !strncmp(de->d_name, "vindex-", 7)) {
            char p[HMD_STR_MAX + 300];
            snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
            unlink(p);
        }
    }
    if (dh)
        closedir(dh);
    if (rename(tmp, dst) != 0)
        return hm__seterr(HM_E_IO, "replica: rename %s: %s", tmp, strerror(errno));
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    hm_log_info("replica_snapshot", "bytes=%llu dir=%s", (unsigned long long)size, dir);
    atomic_fetch_add(&s_snapshots, 1);
    return 0;
}

int hmd_replica_bootstrap(const hmd_config_t *cfg, hmd_metrics_t *m)
{
    uint64_t local = 0;
    int have = 0;
    hm_store_t *st = NULL;
    hm_store_opts_t so = hm_store_opts_default();
    so.readonly = 1;
    if (hm_store_open(&st, cfg->db, &so) == 0) {
        have = hm_store_seq(st, &local) == 0;
        hm_store_close(&st);
    }
    void *zctx = zmq_ctx_new(), *d = zctx ? zmq_socket(zctx, ZMQ_DEALER) : NULL;
    if (!d) {
        if (zctx)
            zmq_ctx_term(zctx);
        return hm__seterr(HM_E_NOMEM, "replica bootstrap");
    }
    hmd__repl_sockopts(d);
    int rc = zmq_connect(d, cfg->replica_of) == 0
                 ? 0 : hm__seterr(HM_E_CONFIG, "replica-of %s: %s", cfg->replica_of,
                                  zmq_strerror(zmq_errno()));
    hmd_frames_t fr;
    uint64_t first = 0, last = 0;
    int answered = 0;
    if (rc == 0) {
        hm_log_info("replica_bootstrap", "status=asking primary=%s local_seq=%llu have=%d "
                    "wait=%d", cfg->replica_of, (unsigned long long)local, have, cfg->replica_wait);
        zmq_send(d, "INFO", 4, 0);
        answered = s_recv(d, &fr, cfg->replica_wait * 1000) == 0;
    }
    if (answered) {
        if (fr.n_kept >= 3) {
            first = s_u64(&fr.f[1]);
            last = s_u64(&fr.f[2]);
        }
        hmd_frames_close(&fr);
        int need = !have || (local == 0 && last > 0) || local > last ||
                   (local < last && local + 1 < first);
        hm_log_info("replica_bootstrap", "local_seq=%llu have=%d primary_first=%llu "
                    "primary_last=%llu snapshot=%d", (unsigned long long)local, have,
                    (unsigned long long)first, (unsigned long long)last, need);
        if (need)
            rc = s_fetch_snapshot(d, cfg->db);
    } else if (rc == 0 && !have) {
        rc = hm__seterr(HM_E_TIMEOUT, "replica: the primary %s did not answer within %d s and "
                        "there is no local copy", cfg->replica_of, cfg->replica_wait);
    } else if (rc == 0) {
        hm_log_warn("replica_bootstrap", "status=stale local_seq=%llu reason=\"primary %s did "
                    "not answer\"", (unsigned long long)local, cfg->replica_of);
    }
    zmq_close(d);
    zmq_ctx_term(zctx);
    (void)m;
    return rc;
}

static void s_ask_range(hmd_repl_t *r, uint64_t now)
{
    char b[32];
    snprintf(b, sizeof b, "%llu", (unsigned long long)r->applied + 1);
    zmq_send(r->dealer, "RANGE", 5, ZMQ_SNDMORE | ZMQ_DONTWAIT);
    zmq_send(r->dealer, b, strlen(b), ZMQ_DONTWAIT);
    r->range_out = 1;
    r->range_sent_ms = now;
    r->st.ranges++;
}

static uint64_t s_rec_seq(zmq_msg_t *m)
{
    const uint8_t *p = zmq_msg_data(m);
    return zmq_msg_size(m) >= 9 ? hm_get_le64(p + 1) : 0;
}

/* Apply the records among msgs[0..n) that continue our sequence. */
static void s_apply(hmd_repl_t *r, zmq_msg_t *msgs, size_t n)
{
    const void *recs[BATCH_MAX];
    size_t lens[BATCH_MAX], k = 0;
    uint64_t want = r->applied + 1;
    for (size_t i = 0; i < n && k < BATCH_MAX; i++) {
        if (s_rec_seq(&msgs[i]) != want)
            continue;
        recs[k] = zmq_msg_data(&msgs[i]);
        lens[k++] = zmq_msg_size(&msgs[i]);
        want++;
    }
    if (!k)
        return;
    uint64_t last = r->applied;
    int rc = hm_engine_repl_apply(r->e, recs, lens, k, &last);
    if (rc == HM_E_CORRUPT || rc == HM_E_VERSION) {
        hm_log_error("replica_diverged", "reason=\"%s\" action=resync", hm_last_error());
        atomic_store(&s_resync, 1);
        kill(getpid(), SIGTERM);
    } else if (rc) {
        hm_log_error("replica_apply", "code=%s reason=\"%s\"", hm_err_name(rc), hm_last_error());
    }
    r->st.applied += last > r->applied ? last - r->applied : 0;
    if (last > r->applied)
        r->applied = last;
}

static void s_on_sub(hmd_repl_t *r, uint64_t now)
{
    zmq_msg_t batch[BATCH_MAX];
    size_t n = 0;
    hmd_frames_t fr;
    while (n < BATCH_MAX && hmd_frames_recv(r->sub, 0, &fr) == 0) {
        r->last_seen_ms = now;
        if (fr.n_kept == 2 && s_is(&fr.f[0], "UPD")) {
            uint64_t seq = s_rec_seq(&fr.f[1]);
            if (seq > r->primary_seq)
                r->primary_seq = seq;
            if (seq > r->applied) {
                zmq_msg_init(&batch[n]);
                zmq_msg_move(&batch[n++], &fr.f[1]);
            }
        } else if (fr.n_kept >= 2 && s_is(&fr.f[0], "HB")) {
            uint64_t seq = s_u64(&fr.f[1]);
            if (seq > r->primary_seq)
                r->primary_seq = seq;
        }
        hmd_frames_close(&fr);
        if (zmq_poll(&(zmq_pollitem_t){ r->sub, 0, ZMQ_POLLIN, 0 }, 1, 0) <= 0)
            break;
    }
    s_apply(r, batch, n);
    for (size_t i = 0; i < n; i++)
        zmq_msg_close(&batch[i]);
    /* Still behind what the primary has: a gap (or a lost tail). */
    if (r->primary_seq > r->applied && !r->range_out) {
        r->st.gaps++;
        s_ask_range(r, now);
    }
}

/* A whole multipart message (a RANGE reply holds up to 1000 records). */
static int s_recv_all(void *z, zmq_msg_t **out, size_t *n)
{
    size_t cap = 16, k = 0;
    zmq_msg_t *v = malloc(cap * sizeof *v);
    int more = 1;
    if (!v)
        return -1;
    while (more) {
        if (k == cap) {
            zmq_msg_t *nv = realloc(v, 2 * cap * sizeof *v);
            if (!nv)
                break;
            v = nv, cap *= 2;
        }
        zmq_msg_init(&v[k]);
        if (zmq_msg_recv(&v[k], z, k == 0 ? ZMQ_DONTWAIT : 0) < 0) {
            zmq_msg_close(&v[k]);
            break;
        }
        more = zmq_msg_more(&v[k++]);
    }
    if (more) { /* failed part-way */
        for (size_t i = 0; i < k; i++)
            zmq_msg_close(&v[i]);
        free(v);
        return -1;
    }
    *out = v;
    *n = k;
    return 0;
}

static void s_on_dealer(hmd_repl_t *r, uint64_t now)
{
    zmq_msg_t *f;
    size_t n;
    while (s_recv_all(r->dealer, &f, &n) == 0) {
        r->last_seen_ms = now;
        if (n >= 3 && s_is(&f[0], "GONE")) {
            hm_log_error("replica_resync", "applied=%llu primary_first=%llu reason=\"the primary "
                         "compacted its log past this replica\"", (unsigned long long)r->applied,
                         (unsigned long long)s_u64(&f[1]));
            atomic_store(&s_resync, 1);
            kill(getpid(), SIGTERM);
        } else if (n >= 3 && s_is(&f[0], "RANGE")) {
            uint64_t last = s_u64(&f[2]);
            if (last > r->primary_seq)
                r->primary_seq = last;
            s_apply(r, f + 3, n - 3);
            r->range_out = 0;
            if (!atomic_load(&r->caught_up) && r->applied >= last)
                atomic_store(&r->caught_up, 1);
            if (r->applied < r->primary_seq)
                s_ask_range(r, now);
        }
        for (size_t i = 0; i < n; i++)
            zmq_msg_close(&f[i]);
        free(f);
    }
}

static void *s_follow(void *arg)
{
    hmd_repl_t *r = arg;
    uint64_t next_hb = 0;
    char name[80];
    snprintf(name, sizeof name, "%.40s/%d", r->cfg->ingest, (int)getpid());
    s_ask_range(r, hm_mono_ms());
    while (!atomic_load(&r->stop)) {
        zmq_pollitem_t it[2] = { { r->sub, 0, ZMQ_POLLIN, 0 }, { r->dealer, 0, ZMQ_POLLIN, 0 } };
        zmq_poll(it, 2, 50);
        uint64_t now = hm_mono_ms();
        if (it[0].revents & ZMQ_POLLIN)
            s_on_sub(r, now);
        if (it[1].revents & ZMQ_POLLIN)
            s_on_dealer(r, now);
        if (r->range_out && now - r->range_sent_ms > RANGE_RETRY_MS)
            s_ask_range(r, now);
        if (now >= next_hb) {
            char sb[32];
            snprintf(sb, sizeof sb, "%llu", (unsigned long long)r->applied);
            zmq_send(r->dealer, "HB", 2, ZMQ_SNDMORE | ZMQ_DONTWAIT);
            zmq_send(r->dealer, name, strlen(name), ZMQ_SNDMORE | ZMQ_DONTWAIT);
            zmq_send(r->dealer, sb, strlen(sb), ZMQ_DONTWAIT);
            next_hb = now + 1000;
        }
        if (r->applied >= r->primary_seq)
            r->behind_since_ms = 0;
        else if (!r->behind_since_ms)
            r->behind_since_ms = now;
        r->st.role = 2;
        r->st.applied_seq = r->applied;
        r->st.primary_seq = r->primary_seq;
        r->st.behind_since_ms = r->behind_since_ms;
        r->st.last_seen_ms = r->last_seen_ms;
        r->st.caught_up = atomic_load(&r->caught_up);
        r->st.lag_max = r->cfg->repl_lag_max;
        r->st.snapshots = (uint64_t)atomic_load(&s_snapshots);
        hmd_metrics_repl_set(r->m, &r->st);
    }
    return NULL;
}

int hmd_replica_start(hmd_repl_t **out, const hmd_config_t *cfg, hm_engine_t *e,
                      hmd_metrics_t *m)
{
    hmd_repl_t *r = calloc(1, sizeof *r);
    if (!r)
        return HM_E_NOMEM;
    r->cfg = cfg;
    r->e = e;
    r->m = m;
    hm_store_seq(hm_engine_store(e), &r->applied);
    r->primary_seq = r->applied;
    char pub[HMD_STR_MAX + 32];
    s_pub_endpoint(cfg, pub, sizeof pub);
    int rc = 0;
    r->zctx = zmq_ctx_new();
    r->sub = r->zctx ? zmq_socket(r->zctx, ZMQ_SUB) : NULL;
    r->dealer = r->zctx ? zmq_socket(r->zctx, ZMQ_DEALER) : NULL;
    if (!r->sub || !r->dealer) {
        rc = HM_E_NOMEM;
    } else {
        /* Subscribe first (the Clone pattern), then ask for what we lack. */
        hmd__repl_sockopts(r->sub);
        hmd__repl_sockopts(r->dealer);
        zmq_setsockopt(r->sub, ZMQ_SUBSCRIBE, "UPD", 3);
        zmq_setsockopt(r->sub, ZMQ_SUBSCRIBE, "HB", 2);
        if (zmq_connect(r->sub, pub) != 0 || zmq_connect(r->dealer, cfg->replica_of) != 0)
            rc = hm__seterr(HM_E_CONFIG, "replica: cannot connect %s / %s: %s", pub,
                            cfg->replica_of, zmq_strerror(zmq_errno()));
    }
    if (!rc && pthread_create(&r->tid, NULL, s_follow, r) != 0)
        rc = hm__seterr(HM_E_INTERNAL, "replica: cannot start thread");
    if (rc) {
        hmd_repl_stop(&r);
        return rc;
    }
    r->running = 1;
    hm_log_info("replica_follow", "primary=%s pub=%s seq=%llu", cfg->replica_of, pub,
                (unsigned long long)r->applied);
    *out = r;
    return 0;
}

int hmd_replica_wait(hmd_repl_t *r, int timeout_ms)
{
    uint64_t end = hm_mono_ms() + (uint64_t)timeout_ms;
    while (!atomic_load(&r->caught_up)) {
        if (hm_mono_ms() >= end)
            return hm__seterr(HM_E_TIMEOUT, "replica: not caught up within %d ms", timeout_ms);
        usleep(10000);
    }
    return 0;
}
