/*
 * hmd_nats.c - connecting to NATS, creating the fleet's streams and
 * consumers, publishing with acks; see hmd_nats.h.
 *
 * JetStream API calls fail while the meta leader (streams, consumers) or a
 * stream's leader (publishes) is being elected, which takes ~5 s on
 * nats-server 2.9.  Every call that needs one is retried here with
 * exponential back-off, and a publish is re-sent with the same message id,
 * so the stream's de-duplication makes the retry harmless.
 */
#include "hmd_nats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hm_error.h"
#include "hm_log.h"

#define S_BACKOFF_MIN_MS 100
#define S_BACKOFF_MAX_MS 2000
#define S_MAX_URLS 16
#define S_DEDUP_NS (600LL * 1000000000LL)    /* 10 min (DEPLOYMENT.md) */
#define S_VERDICT_AGE_NS (7LL * 86400 * 1000000000LL)

static uint64_t s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void hmd_nats_nap(int ms, const volatile int *stop)
{
    while (ms > 0 && !(stop && *stop)) {
        int step = ms < 50 ? ms : 50;
        nanosleep(&(struct timespec){ 0, (long)step * 1000000L }, NULL);
        ms -= step;
    }
}

int hmd_nats_err(natsStatus s, int js_code, const char *what)
{
    const char *last = nats_GetLastError(NULL);
    const char *text = last && last[0] ? last : natsStatus_GetText(s);
    int rc;
    switch (s) {
    case NATS_TIMEOUT:
    case NATS_NO_RESPONDERS:
    case NATS_NO_SERVER:
        rc = HM_E_TIMEOUT;
        break;
    case NATS_NOT_PERMITTED:
    case NATS_CONNECTION_AUTH_FAILED:
        rc = HM_E_DENIED;
        break;
    case NATS_NO_MEMORY:
        rc = HM_E_NOMEM;
        break;
    case NATS_INVALID_ARG:
        rc = HM_E_INVAL;
        break;
    default:
        rc = HM_E_IO;
    }
    /* libnats reports an authorisation violation as an error text. */
    if (rc == HM_E_IO && text && (strstr(text, "uthorization") || strstr(text, "ermissions")))
        rc = HM_E_DENIED;
    if (js_code)
        return hm__seterr(rc, "%s: %s (JetStream error %d)", what, text, js_code);
    return hm__seterr(rc, "%s: %s", what, text);
}

/* Transient: worth another try after a back-off. */
static int s_transient(natsStatus s, int js_code)
{
    return s == NATS_TIMEOUT || s == NATS_NO_RESPONDERS || s == NATS_CONNECTION_DISCONNECTED ||
           s == NATS_NO_SERVER || s == NATS_IO_ERROR || js_code == JSClusterNotAvailErr ||
           (s == NATS_ERR && js_code == 0);
}

static int s_read_secret(const char *path, char *out, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return hm__seterr(HM_E_CONFIG, "nats-password-file %s: cannot read", path);
    size_t n = fread(out, 1, cap - 1, f);
    int big = !feof(f);
    fclose(f);
    if (big)
        return hm__seterr(HM_E_CONFIG, "nats-password-file %s: longer than %zu bytes", path,
                          cap - 1);
    out[n] = '\0';
    out[strcspn(out, "\r\n")] = '\0';
    return out[0] ? 0 : hm__seterr(HM_E_CONFIG, "nats-password-file %s: empty", path);
}

/* The URL list (comma-separated) as an array pointing into buf. */
static int s_split_urls(char *buf, const char **urls)
{
    int n = 0;
    for (char *save = NULL, *t = strtok_r(buf, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
        if (n == S_MAX_URLS)
            return hm__seterr(HM_E_CONFIG, "nats-url: more than %d servers", S_MAX_URLS);
        urls[n++] = t;
    }
    return n ? n : hm__seterr(HM_E_CONFIG, "nats-url: no server");
}

static int s_options(natsOptions *o, const hmd_config_t *cfg, const char *name, char *urlbuf)
{
    const char *urls[S_MAX_URLS];
    int n = s_split_urls(urlbuf, urls);
    if (n < 0)
        return n;
    natsStatus s = natsOptions_SetServers(o, urls, n);
    if (s == NATS_OK)
        s = natsOptions_SetName(o, name);
    if (s == NATS_OK)
        s = natsOptions_SetMaxReconnect(o, -1);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectWait(o, 250);
    if (s == NATS_OK)
        s = natsOptions_SetTimeout(o, 2000);
    if (s != NATS_OK)
        return hmd_nats_err(s, 0, "nats-url");
    if (cfg->nats_creds[0] &&
        (s = natsOptions_SetUserCredentialsFromFiles(o, cfg->nats_creds, NULL)) != NATS_OK)
        return hm__seterr(HM_E_CONFIG, "nats-creds %s: %s", cfg->nats_creds,
                          natsStatus_GetText(s));
    if (cfg->nats_user[0]) {
        char pw[1024] = "";
        int rc = cfg->nats_password_file[0] ? s_read_secret(cfg->nats_password_file, pw, sizeof pw)
                                            : 0;
        if (rc == 0 && (s = natsOptions_SetUserInfo(o, cfg->nats_user, pw)) != NATS_OK)
            rc = hmd_nats_err(s, 0, "nats-user");
        memset(pw, 0, sizeof pw);
        if (rc)
            return rc;
    }
    if (cfg->nats_tls_ca[0]) {
        if ((s = natsOptions_SetSecure(o, true)) != NATS_OK ||
            (s = natsOptions_LoadCATrustedCertificates(o, cfg->nats_tls_ca)) != NATS_OK)
            return hm__seterr(HM_E_CONFIG, "nats-tls-ca %s: %s", cfg->nats_tls_ca,
                              natsStatus_GetText(s));
    }
    if (cfg->nats_tls_cert[0] &&
        (s = natsOptions_LoadCertificatesChain(o, cfg->nats_tls_cert, cfg->nats_tls_key))
            != NATS_OK)
        return hm__seterr(HM_E_CONFIG, "nats-tls-cert %s: %s", cfg->nats_tls_cert,
                          natsStatus_GetText(s));
    return 0;
}

int hmd_nats_connect(hmd_nats_t *n, const hmd_config_t *cfg, const char *name)
{
    if (!n || !cfg || !cfg->nats_url[0])
        return hm__seterr(HM_E_INVAL, "hmd_nats_connect: no nats-url");
    memset(n, 0, sizeof *n);
    n->wait_ms = cfg->fleet_wait * 1000;
    char *urlbuf = strdup(cfg->nats_url);
    natsOptions *o = NULL;
    natsStatus s = urlbuf ? natsOptions_Create(&o) : NATS_NO_MEMORY;
    int rc = s == NATS_OK ? s_options(o, cfg, name, urlbuf) : hmd_nats_err(s, 0, "nats options");
    uint64_t until = s_now_ms() + (uint64_t)n->wait_ms;
    for (int wait = S_BACKOFF_MIN_MS; rc == 0;) {
        s = natsConnection_Connect(&n->nc, o);
        if (s == NATS_OK)
            break;
        rc = hmd_nats_err(s, 0, "nats connect");
        if (rc != HM_E_TIMEOUT || s_now_ms() > until)
            break;
        hm_log_warn("nats_connect", "status=retry reason=\"%s\"", hm_last_error());
        rc = 0;
        hmd_nats_nap(wait, NULL);
        wait = wait * 2 > S_BACKOFF_MAX_MS ? S_BACKOFF_MAX_MS : wait * 2;
    }
    if (rc == 0) {
        jsOptions jo;
        jsOptions_Init(&jo);
        jo.Wait = 5000;
        if ((s = natsConnection_JetStream(&n->js, n->nc, &jo)) != NATS_OK)
            rc = hmd_nats_err(s, 0, "JetStream context");
    }
    natsOptions_Destroy(o);
    free(urlbuf);
    if (rc)
        hmd_nats_close(n);
    return rc;
}

void hmd_nats_close(hmd_nats_t *n)
{
    if (!n)
        return;
    if (n->js)
        jsCtx_Destroy(n->js);
    if (n->nc) {
        natsConnection_Close(n->nc);
        natsConnection_Destroy(n->nc);
    }
    n->js = NULL;
    n->nc = NULL;
}

/* One stream: created, or accepted as it is when its name exists. */
static int s_stream(hmd_nats_t *n, const char *name, const char *subject, int work_queue,
                    int replicas, int max_msg, int64_t max_age)
{
    jsStreamConfig sc;
    jsStreamConfig_Init(&sc);
    const char *subjects[1] = { subject };
    sc.Name = name;
    sc.Subjects = subjects;
    sc.SubjectsLen = 1;
    sc.Retention = work_queue ? js_WorkQueuePolicy : js_LimitsPolicy;
    sc.Storage = js_FileStorage;
    sc.Replicas = replicas;
    sc.Duplicates = S_DEDUP_NS;
    sc.MaxAge = max_age;
    if (max_msg > 0)
        sc.MaxMsgSize = max_msg;
    uint64_t until = s_now_ms() + (uint64_t)n->wait_ms;
    for (int wait = S_BACKOFF_MIN_MS;;) {
        jsStreamInfo *si = NULL;
        jsErrCode jerr = 0;
        natsStatus s = js_AddStream(&si, n->js, &sc, NULL, &jerr);
        if (si)
            jsStreamInfo_Destroy(si);
        if (s == NATS_OK || jerr == JSStreamNameExistErr)
            return 0;
        int rc = hmd_nats_err(s, jerr, name);
        if (!s_transient(s, jerr) || s_now_ms() > until)
            return rc == HM_E_IO && jerr ? HM_E_CONFIG : rc;
        hm_log_warn("nats_stream", "stream=%s status=retry reason=\"%s\"", name, hm_last_error());
        hmd_nats_nap(wait, NULL);
        wait = wait * 2 > S_BACKOFF_MAX_MS ? S_BACKOFF_MAX_MS : wait * 2;
    }
}

int hmd_nats_ensure_streams(hmd_nats_t *n, int replicas, int max_msg)
{
    int rc;
    if ((rc = s_stream(n, HMD_NATS_BANK_STREAM, HMD_NATS_BANK_SUBJECT, 0, replicas, 0, 0)) ||
        (rc = s_stream(n, HMD_NATS_LISTING_STREAM, "hallmark.listing.>", 1, replicas,
                       max_msg + 4096, 0)) ||
        (rc = s_stream(n, HMD_NATS_VERDICT_STREAM, HMD_NATS_VERDICT_PREFIX ">", 0, replicas, 0,
                       S_VERDICT_AGE_NS)) ||
        (rc = s_stream(n, HMD_NATS_STRIKE_STREAM, HMD_NATS_STRIKE_SUBJECT, 1, replicas, 0, 0)))
        return rc;
    return 0;
}

int hmd_nats_pull_subscribe(hmd_nats_t *n, natsSubscription **sub, const char *stream,
                            const char *subject, const char *durable)
{
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = stream;
    so.Config.Durable = durable;
    so.Config.AckPolicy = js_AckExplicit;
    so.Config.AckWait = (int64_t)HMD_NATS_ACK_WAIT_MS * 1000000;
    so.Config.MaxDeliver = HMD_NATS_MAX_DELIVER;
    so.Config.MaxAckPending = 256;
    so.Config.DeliverPolicy = js_DeliverAll;
    uint64_t until = s_now_ms() + (uint64_t)n->wait_ms;
    for (int wait = S_BACKOFF_MIN_MS;;) {
        jsErrCode jerr = 0;
        natsStatus s = js_PullSubscribe(sub, n->js, subject, durable, NULL, &so, &jerr);
        if (s == NATS_OK)
            return 0;
        int rc = hmd_nats_err(s, jerr, durable);
        if (!s_transient(s, jerr) || s_now_ms() > until)
            return rc;
        hm_log_warn("nats_consumer", "consumer=%s status=retry reason=\"%s\"", durable,
                    hm_last_error());
        hmd_nats_nap(wait, NULL);
        wait = wait * 2 > S_BACKOFF_MAX_MS ? S_BACKOFF_MAX_MS : wait * 2;
    }
}

int hmd_nats_publish(hmd_nats_t *n, natsMsg *msg, const char *msg_id, uint64_t expect_last,
                     int timeout_ms, uint64_t *seq, int *dup)
{
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MsgId = msg_id;
    po.ExpectLastSeq = expect_last;
    po.MaxWait = 5000;
    uint64_t until = s_now_ms() + (uint64_t)timeout_ms;
    for (int wait = S_BACKOFF_MIN_MS;;) {
        jsPubAck *pa = NULL;
        jsErrCode jerr = 0;
        natsStatus s = js_PublishMsg(&pa, n->js, msg, &po, &jerr);
        if (s == NATS_OK) {
            if (seq)
                *seq = pa->Sequence;
            if (dup)
                *dup = pa->Duplicate;
            jsPubAck_Destroy(pa);
            return 0;
        }
        if (jerr == JSStreamWrongLastSequenceErr)
            return hm__seterr(HM_E_EXISTS, "publish %s: the stream is not at sequence %llu",
                              msg_id ? msg_id : "", (unsigned long long)expect_last);
        int rc = hmd_nats_err(s, jerr, "publish");
        if (!s_transient(s, jerr) || s_now_ms() > until)
            return rc;
        hmd_nats_nap(wait, NULL);
        wait = wait * 2 > S_BACKOFF_MAX_MS ? S_BACKOFF_MAX_MS : wait * 2;
    }
}

int hmd_nats_last_seq(hmd_nats_t *n, const char *stream, uint64_t *last)
{
    uint64_t until = s_now_ms() + (uint64_t)n->wait_ms;
    for (int wait = S_BACKOFF_MIN_MS;;) {
        jsStreamInfo *si = NULL;
        jsErrCode jerr = 0;
        natsStatus s = js_GetStreamInfo(&si, n->js, stream, NULL, &jerr);
        if (s == NATS_OK) {
            *last = si->State.LastSeq;
            jsStreamInfo_Destroy(si);
            return 0;
        }
        int rc = hmd_nats_err(s, jerr, stream);
        if (!s_transient(s, jerr) || s_now_ms() > until)
            return rc;
        hmd_nats_nap(wait, NULL);
        wait = wait * 2 > S_BACKOFF_MAX_MS ? S_BACKOFF_MAX_MS : wait * 2;
    }
}
