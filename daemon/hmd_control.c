/* hmd_control.c - administration commands, on their own thread. */
#include "hmd_control.h"

#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "hm_error.h"
#include "hm_log.h"
#include "hmd_proto.h"

struct hmd_control {
    pthread_t tid;
    void *zctx;
    hm_engine_t *e;
    hm_decode_limits_t lim;
    void *pair;
    char primary[1024];  /* replica: the primary's repl endpoint; "" on a primary */
    void *fwd;           /* replica: DEALER to the primary (feedback), lazily made */
    unsigned fwd_n;
};


char *hmd_control_error_text(int rc, const char *msg, const char *request_id)
{
    /* The message may quote client bytes: keep the reply valid UTF-8 JSON. */
    char text[1024];
    snprintf(text, sizeof text, "%s", msg ? msg : hm_strerror(rc));
    hmd_utf8_scrub(text);
    json_t *o = json_pack("{s:b,s:{s:s,s:s}}", "ok", 0, "error", "code", hm_err_name(rc),
                          "message", text);
    if (!o)
        return NULL;
    if (request_id && *request_id)
        json_object_set_new(o, "request_id", json_string(request_id));
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

/* One command's context: parsed header, optional data, and the reply. */
typedef struct s_cmd {
    json_t *hdr;
    const void *data;
    size_t len;
    int has_data;
    json_t *ok;          /* extra fields of a success reply */
    char msg[512];
    char request_id[HM_ID_MAX];
} s_cmd_t;

/* Replica: forward a feedback command to the primary's repl endpoint and
 * wait (bounded) for its reply, which is returned as is. */
static char *s_forward(hmd_control_t *ctl, s_cmd_t *c, int *ok_out);

#define S_STR(key, req, dst) \
    do { if ((rc = hmd_json_str(c->hdr, key, req, dst, sizeof dst, c->msg, sizeof c->msg))) goto leave; } while (0)

static int s_need_data(s_cmd_t *c, const char *cmd, int need)
{
    if (need && !c->has_data) {
        snprintf(c->msg, sizeof c->msg, "command %s needs a data frame (image bytes)", cmd);
        return HM_E_INVAL;
    }
    if (!need && c->has_data) {
        snprintf(c->msg, sizeof c->msg, "command %s takes no data frame", cmd);
        return HM_E_INVAL;
    }
    return 0;
}

static int s_bank(s_cmd_t *c, const char *text, int *bank)
{
    int b = hm_bank_parse(text);
    if (b < 0) {
        snprintf(c->msg, sizeof c->msg, "bank must be \"counterfeit\" or \"genuine\"");
        return HM_E_INVAL;
    }
    *bank = b;
    return 0;
}

static int s_engine_rc(s_cmd_t *c, int rc)
{
    if (rc)
        snprintf(c->msg, sizeof c->msg, "%s", hm_last_error());
    return rc;
}

/* A validated command reaches the engine only with a live control thread;
 * with ctl == NULL (hmd_control_check) validation is all that runs. */
#define S_ENGINE(call) (ctl ? s_engine_rc(c, (call)) : 0)

static int s_cmd_add(hmd_control_t *ctl, hm_fp_ctx_t *fpc, s_cmd_t *c)
{
    int rc;
    char ref[HM_ID_MAX], bank_s[32], brand[HM_NAME_MAX], holder[HM_NAME_MAX], source[256],
        format[16];
    S_STR("ref", 1, ref);
    S_STR("bank", 1, bank_s);
    S_STR("brand", 1, brand);
    S_STR("holder", 0, holder);
    S_STR("source", 0, source);
    S_STR("format", 0, format);
    if ((rc = s_need_data(c, "add", 1)) || (rc = s_bank(c, bank_s, &(int){ 0 })))
        goto leave;
    hm_ref_meta_t meta = { ref, hm_bank_parse(bank_s), brand, holder[0] ? holder : NULL,
                           source[0] ? source : NULL };
    uint64_t id = 0;
    if (!format[0] || strcmp(format, "image") == 0) {
        rc = S_ENGINE(hm_engine_add(ctl->e, fpc, &meta, c->data, c->len, &id));
    } else if (strcmp(format, "fp") == 0) {
        hm_fp_t *fp = malloc(sizeof *fp);
        uint8_t sha[32];
        if (!fp) {
            rc = HM_E_NOMEM;
            goto leave;
        }
        crypto_hash_sha256(sha, c->data, c->len);
        rc = s_engine_rc(c, hm_fp_deserialize(c->data, c->len, fp));
        if (rc == 0)
            rc = S_ENGINE(hm_engine_add_fp(ctl->e, &meta, fp, sha, 0, &id));
        free(fp);
    } else {
        snprintf(c->msg, sizeof c->msg, "format must be \"image\" or \"fp\"");
        rc = HM_E_INVAL;
    }
    if (rc == 0)
        json_object_set_new(c->ok, "ref_id", json_integer((json_int_t)id));
leave:
    return rc;
}

static int s_cmd_relabel(hmd_control_t *ctl, s_cmd_t *c)
{
    int rc, bank = 0;
    char ref[HM_ID_MAX], bank_s[32], brand[HM_NAME_MAX], holder[HM_NAME_MAX];
    S_STR("ref", 1, ref);
    S_STR("bank", 0, bank_s);
    S_STR("brand", 0, brand);
    S_STR("holder", 0, holder);
    if ((rc = s_need_data(c, "relabel", 0)))
        goto leave;
    if (bank_s[0] && (rc = s_bank(c, bank_s, &bank)))
        goto leave;
    if (!bank && !json_object_get(c->hdr, "brand") && !json_object_get(c->hdr, "holder")) {
        snprintf(c->msg, sizeof c->msg, "relabel needs bank, brand or holder");
        rc = HM_E_INVAL;
        goto leave;
    }
    rc = S_ENGINE(hm_engine_relabel(ctl->e, ref, bank,
                                          json_object_get(c->hdr, "brand") ? brand : NULL,
                                          json_object_get(c->hdr, "holder") ? holder : NULL));
leave:
    return rc;
}

static int s_cmd_feedback(hmd_control_t *ctl, hm_fp_ctx_t *fpc, s_cmd_t *c)
{
    int rc;
    char action[16], ref[HM_ID_MAX], brand[HM_NAME_MAX], holder[HM_NAME_MAX], source[256],
        note[512];
    S_STR("action", 1, action);
    S_STR("ref", 0, ref);
    S_STR("brand", 0, brand);
    S_STR("holder", 0, holder);
    S_STR("source", 0, source);
    S_STR("note", 0, note);
    if ((rc = s_need_data(c, "feedback", 1)))
        goto leave;
    int confirm = strcmp(action, "confirm") == 0;
    if (!confirm && strcmp(action, "reject") != 0) {
        snprintf(c->msg, sizeof c->msg, "action must be \"confirm\" or \"reject\"");
        rc = HM_E_INVAL;
        goto leave;
    }
    hm_ref_meta_t meta = { ref[0] ? ref : NULL, HM_BANK_COUNTERFEIT, brand[0] ? brand : NULL,
                           holder[0] ? holder : NULL, source[0] ? source : "feedback" };
    rc = S_ENGINE(hm_engine_feedback(ctl->e, fpc, c->data, c->len, confirm, &meta,
                                           note[0] ? note : NULL));
leave:
    return rc;
}

/* Run one command; returns the reply text (malloc). */
static char *s_run(hmd_control_t *ctl, hm_fp_ctx_t *fpc, s_cmd_t *c, const char **cmd_out,
                   int *ok_out)
{
    int rc = 0;
    *ok_out = 0;
    char cmd[32] = "", brand[HM_NAME_MAX], seller[HM_ID_MAX], ref[HM_ID_MAX];
    c->ok = json_object();
    if (!c->ok)
        return NULL;
    S_STR("request_id", 0, c->request_id);
    S_STR("cmd", 1, cmd);
    hm__clearerr();
    if (ctl && ctl->primary[0] && strcmp(cmd, "feedback") == 0) {
        /* Reviewer feedback is a write: the primary applies it and every
         * replica gets it back through the change log. */
        char *r = s_forward(ctl, c, ok_out);
        if (r) {
            *cmd_out = strdup(cmd);
            return r;
        }
        rc = HM_E_TIMEOUT;
        goto leave;
    }
    if (ctl && ctl->primary[0] && (!strcmp(cmd, "add") || !strcmp(cmd, "remove") ||
                            !strcmp(cmd, "relabel") || !strcmp(cmd, "authorize") ||
                            !strcmp(cmd, "deauthorize"))) {
        snprintf(c->msg, sizeof c->msg, "read-only replica: send %s to the primary (its "
                 "replication endpoint is %.300s)", cmd, ctl->primary);
        rc = HM_E_READONLY;
    } else if (strcmp(cmd, "add") == 0) {
        rc = s_cmd_add(ctl, fpc, c);
    } else if (strcmp(cmd, "remove") == 0) {
        S_STR("ref", 1, ref);
        if (!(rc = s_need_data(c, cmd, 0)))
            rc = S_ENGINE(hm_engine_remove(ctl->e, ref));
    } else if (strcmp(cmd, "relabel") == 0) {
        rc = s_cmd_relabel(ctl, c);
    } else if (strcmp(cmd, "authorize") == 0 || strcmp(cmd, "deauthorize") == 0) {
        S_STR("brand", 1, brand);
        S_STR("seller", 1, seller);
        if (!(rc = s_need_data(c, cmd, 0)))
            rc = S_ENGINE(hm_engine_authorize(ctl->e, brand, seller, cmd[0] == 'a'));
    } else if (strcmp(cmd, "feedback") == 0) {
        rc = s_cmd_feedback(ctl, fpc, c);
    } else if (strcmp(cmd, "stats") == 0) {
        char *stats = NULL;
        if (ctl && !(rc = s_engine_rc(c, hm_engine_stats_json(ctl->e, &stats)))) {
            json_t *j = json_loads(stats, 0, NULL);
            json_object_set_new(c->ok, "stats", j ? j : json_string(stats));
            free(stats);
        }
    } else if (strcmp(cmd, "snapshot") == 0) {
        rc = S_ENGINE(hm_engine_snapshot(ctl->e));
    } else if (strcmp(cmd, "reload") == 0) {
        /* The socket thread owns the live config: the same path as SIGHUP. */
        if (ctl)
            kill(getpid(), SIGHUP);
        json_object_set_new(c->ok, "scheduled", json_true());
    } else {
        snprintf(c->msg, sizeof c->msg, "unknown command \"%s\"", cmd);
        rc = HM_E_INVAL;
    }
leave:
    *cmd_out = cmd[0] ? strdup(cmd) : NULL;
    *ok_out = rc == 0;
    if (rc) {
        hm_log_warn("control", "cmd=%s ok=0 code=%s msg=\"%s\"", cmd[0] ? cmd : "?",
                    hm_err_name(rc), c->msg);
        return hmd_control_error_text(rc, c->msg, c->request_id);
    }
    hm_log_info("control", "cmd=%s ok=1", cmd);
    json_object_set_new(c->ok, "ok", json_true());
    if (c->request_id[0])
        json_object_set_new(c->ok, "request_id", json_string(c->request_id));
    return json_dumps(c->ok, JSON_COMPACT | JSON_SORT_KEYS);
}

static char *s_forward(hmd_control_t *ctl, s_cmd_t *c, int *ok_out)
{
    int linger = 0, hb = 1000;
    if (!ctl->fwd) {
        ctl->fwd = zmq_socket(ctl->zctx, ZMQ_DEALER);
        if (!ctl->fwd)
            return NULL;
        zmq_setsockopt(ctl->fwd, ZMQ_LINGER, &linger, sizeof linger);
        zmq_setsockopt(ctl->fwd, ZMQ_HEARTBEAT_IVL, &hb, sizeof hb);
        if (zmq_connect(ctl->fwd, ctl->primary) != 0) {
            snprintf(c->msg, sizeof c->msg, "cannot connect to the primary %.300s", ctl->primary);
            return NULL;
        }
    }
    char nonce[32], *hdr = json_dumps(c->hdr, JSON_COMPACT);
    snprintf(nonce, sizeof nonce, "%u", ++ctl->fwd_n);
    if (!hdr)
        return NULL;
    zmq_send(ctl->fwd, "FEEDBACK", 8, ZMQ_SNDMORE);
    zmq_send(ctl->fwd, nonce, strlen(nonce), ZMQ_SNDMORE);
    zmq_send(ctl->fwd, hdr, strlen(hdr), ZMQ_SNDMORE);
    zmq_send(ctl->fwd, c->data ? c->data : "", c->len, 0);
    free(hdr);
    /* [FEEDBACK][nonce][ok][reply]; replies to earlier, timed-out ones are skipped. */
    for (int waited = 0; waited < 10000;) {
        if (zmq_poll(&(zmq_pollitem_t){ ctl->fwd, 0, ZMQ_POLLIN, 0 }, 1, 100) <= 0) {
            waited += 100;
            continue;
        }
        hmd_frames_t fr;
        if (hmd_frames_recv(ctl->fwd, 0, &fr) != 0)
            continue;
        char *reply = NULL;
        if (fr.n_kept == 4 && zmq_msg_size(&fr.f[1]) == strlen(nonce) &&
            memcmp(zmq_msg_data(&fr.f[1]), nonce, strlen(nonce)) == 0) {
            *ok_out = *(unsigned char *)zmq_msg_data(&fr.f[2]) != 0;
            reply = strndup(zmq_msg_data(&fr.f[3]), zmq_msg_size(&fr.f[3]));
        }
        hmd_frames_close(&fr);
        if (reply)
            return reply;
    }
    snprintf(c->msg, sizeof c->msg, "no reply from the primary %.300s within 10 s", ctl->primary);
    return NULL;
}

char *hmd_control_exec(hm_engine_t *e, hm_fp_ctx_t *fpc, const void *hdr, size_t hlen,
                       const void *data, size_t dlen, int *ok)
{
    hmd_control_t ctl = { .e = e };
    s_cmd_t c;
    memset(&c, 0, sizeof c);
    json_error_t jerr;
    const char *cmd = NULL;
    *ok = 0;
    c.hdr = json_loadb(hdr, hlen, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(c.hdr)) {
        json_decref(c.hdr);
        return hmd_control_error_text(HM_E_PROTO, "command is not a JSON object", NULL);
    }
    c.has_data = data != NULL;
    c.data = data;
    c.len = dlen;
    char *reply = s_run(&ctl, fpc, &c, &cmd, ok);
    free((void *)cmd);
    json_decref(c.hdr);
    json_decref(c.ok);
    return reply;
}

/* One command (JSON text + optional data) -> the reply text (malloc). */
static char *s_handle(hmd_control_t *ctl, hm_fp_ctx_t *fpc, const void *hdr, size_t len,
                      const void *data, size_t dlen, int has_data, int *ok)
{
    s_cmd_t c;
    memset(&c, 0, sizeof c);
    json_error_t jerr;
    char *reply = NULL;
    const char *cmd = NULL;
    *ok = 0;
    c.hdr = hdr ? json_loadb(hdr, len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    if (!c.hdr || !json_is_object(c.hdr)) {
        snprintf(c.msg, sizeof c.msg, "command is not a JSON object%s%s", c.hdr ? "" : ": ",
                 c.hdr || !hdr ? "" : jerr.text);
        reply = hmd_control_error_text(HM_E_PROTO, c.msg, NULL);
    } else {
        c.has_data = has_data;
        c.data = data;
        c.len = dlen;
        reply = s_run(ctl, fpc, &c, &cmd, ok);
    }
    free((void *)cmd);
    json_decref(c.hdr);
    json_decref(c.ok);
    return reply;
}

char *hmd_control_check(const void *cmd, size_t len, const void *data, size_t dlen, int has_data,
                        int *ok)
{
    return s_handle(NULL, NULL, cmd, len, data, dlen, has_data, ok);
}

/* One message from the socket thread -> one reply.  @return 0, or 1 to stop. */
static int s_serve_one(hmd_control_t *ctl, hm_fp_ctx_t *fpc)
{
    hmd_frames_t fr;
    if (zmq_poll(&(zmq_pollitem_t){ ctl->pair, 0, ZMQ_POLLIN, 0 }, 1, -1) < 0)
        return zmq_errno() == EINTR ? 0 : 1;
    if (hmd_frames_recv(ctl->pair, 0, &fr) != 0)
        return 0;
    if (fr.n_total == 1 && zmq_msg_size(&fr.f[0]) == 0) {
        hmd_frames_close(&fr);
        return 1;
    }
    /* Layout: [n_env][env...][header][data?]; the socket thread checked counts. */
    int n_env = *(const unsigned char *)zmq_msg_data(&fr.f[0]);
    fr.n_env = 1 + n_env;
    zmq_msg_t *h = hmd_frames_get(&fr, 0), *d = hmd_frames_get(&fr, 1);
    int ok = 0;
    char *reply = s_handle(ctl, fpc, h ? zmq_msg_data(h) : NULL, h ? zmq_msg_size(h) : 0,
                           d ? zmq_msg_data(d) : NULL, d ? zmq_msg_size(d) : 0, d != NULL, &ok);
    /* Envelope back (without the count frame), an ok/error marker, then the reply. */
    hmd_frames_t env = fr;
    env.n_env = 1 + n_env;
    unsigned char okb = reply && ok ? 1 : 0;
    const void *body[2] = { &okb, reply ? reply : "{\"ok\":false}" };
    size_t lens[2] = { 1, reply ? strlen(reply) : 12 };
    /* Frame 0 (the count) goes back too, so the socket thread can split. */
    if (hmd_send_parts(ctl->pair, &env, body, lens, 2) != 0)
        hm_log_error("control_send", "errno=%d", zmq_errno());
    free(reply);
    hmd_frames_close(&fr);
    return 0;
}

static void *s_main(void *arg)
{
    hmd_control_t *ctl = arg;
    hm_fp_ctx_t *fpc = NULL;
    if (hm_fp_ctx_new(&fpc, &ctl->lim) != 0)
        hm_log_error("control_start", "code=%s", hm_err_name(HM_E_NOMEM));
    while (!s_serve_one(ctl, fpc))
        ;
    hm_fp_ctx_free(&fpc);
    if (ctl->fwd)
        zmq_close(ctl->fwd);
    int linger = 1000;
    zmq_setsockopt(ctl->pair, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close(ctl->pair);
    return NULL;
}

int hmd_control_start(hmd_control_t **out, void *zctx, hm_engine_t *e,
                      const hm_decode_limits_t *lim, const char *replica_of)
{
    hmd_control_t *ctl = calloc(1, sizeof *ctl);
    if (!ctl)
        return HM_E_NOMEM;
    snprintf(ctl->primary, sizeof ctl->primary, "%s", replica_of ? replica_of : "");
    ctl->zctx = zctx;
    ctl->e = e;
    ctl->lim = *lim;
    ctl->pair = zmq_socket(zctx, ZMQ_PAIR);
    int zero = 0;
    if (!ctl->pair || zmq_setsockopt(ctl->pair, ZMQ_SNDHWM, &zero, sizeof zero) ||
        zmq_connect(ctl->pair, HMD_CONTROL_ENDPOINT) != 0) {
        if (ctl->pair)
            zmq_close(ctl->pair);
        free(ctl);
        return hm__seterr(HM_E_INTERNAL, "control: %s", zmq_strerror(zmq_errno()));
    }
    if (pthread_create(&ctl->tid, NULL, s_main, ctl) != 0) {
        zmq_close(ctl->pair);
        free(ctl);
        return hm__seterr(HM_E_INTERNAL, "control: cannot start thread");
    }
    *out = ctl;
    return 0;
}

void hmd_control_join(hmd_control_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    pthread_join((*self_p)->tid, NULL);
    free(*self_p);
    *self_p = NULL;
}
