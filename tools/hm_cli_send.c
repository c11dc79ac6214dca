/*
 * hm_cli_send.c - `hallmark send`: score images on a running hallmarkd.
 *
 * Wire protocol (hallmarkd's docs/PROTOCOL.md, version 1): a ZeroMQ DEALER
 * connects to the daemon's ingest ROUTER socket and sends, per image, two
 * frames: a JSON header {"v":1, "request_id", "listing_id", "image_id",
 * "seller_id", "brand", "options":{"top_k"}} and the image bytes.  The reply
 * is one frame: the verdict JSON (hm_verdict_to_json) carrying the same
 * request_id.  Replies come back in any order, so up to --window requests
 * are in flight and each line is printed as its reply arrives, with "file"
 * added.  A request without a reply after --timeout-ms becomes an error
 * line (code "timeout"); a late reply to it is dropped.
 *
 * Several --connect endpoints (a fleet of replicas): one DEALER each, and
 * requests go round-robin to the endpoints not under suspicion.  A request
 * without a reply after --timeout-ms is retried on another endpoint, up to
 * --retries times (the ZeroMQ guide's Lazy Pirate): the silent endpoint's
 * socket is closed and reopened (dropping whatever it still owed us), its
 * other requests are re-sent elsewhere at once, and it gets no new work for
 * a while.  At-least-once: a request may be scored twice (the first reply
 * wins; request_id tells them apart), none is lost while one endpoint lives.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "hm_cli.h"
#include "hm_cli_util.h"
#include "hm_engine.h"
#include "hm_error.h"

enum { OPT_CONNECT = HM_OPT_FIRST_CMD, OPT_SELLER, OPT_BRAND, OPT_WINDOW, OPT_TIMEOUT, OPT_TOP,
       OPT_RETRIES };

typedef struct req {
    int state;          /* 0 not sent, 1 in flight, 2 answered or failed */
    double deadline;
    int ep;             /* the endpoint it was last sent to */
    int tries;          /* sends so far */
} req_t;

#define S_MAX_EP 16

typedef struct {
    void *zctx;
    void *sock[S_MAX_EP];
    const char *ep[S_MAX_EP];
    double quiet_until[S_MAX_EP]; /* suspected dead until then */
    int n, rr;
} s_fleet_t;

static int s_open(s_fleet_t *f, int k)
{
    int linger = 0;
    if (f->sock[k])
        zmq_close(f->sock[k]);
    f->sock[k] = zmq_socket(f->zctx, ZMQ_DEALER);
    if (!f->sock[k] || zmq_setsockopt(f->sock[k], ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_connect(f->sock[k], f->ep[k]) != 0)
        return -1;
    return 0;
}

/* The next endpoint for a request, avoiding `not` and suspected ones when
 * there is a choice. */
static int s_pick(s_fleet_t *f, int not, double now)
{
    for (int pass = 0; pass < 3; pass++)
        for (int i = 0; i < f->n; i++) {
            int k = (f->rr + i) % f->n;
            if ((pass < 2 && k == not && f->n > 1) || (pass == 0 && f->quiet_until[k] > now))
                continue;
            f->rr = k + 1;
            return k;
        }
    return 0;
}

static void s_file_error(const char *file, size_t idx, int rc, const char *msg)
{
    json_t *o = json_object();
    json_t *f = json_string(file);
    json_object_set_new(o, "file", f ? f : json_string("(invalid utf-8)"));
    char rid[32];
    snprintf(rid, sizeof rid, "%zu", idx);
    json_object_set_new(o, "request_id", json_string(rid));
    json_object_set_new(o, "decision", json_string("error"));
    json_object_set_new(o, "error", hm_cli_error_obj(rc, msg));
    hm_cli_emit(o);
}

/* Send request idx; 0 or an error code (the caller reports it). */
static int s_send(void *sock, size_t idx, const char *path, const char *seller, const char *brand,
                  int top_k)
{
    uint8_t *data = NULL;
    size_t len = 0;
    int rc = hm_cli_read_file(path, &data, &len);
    if (rc)
        return rc;
    char rid[32], listing[HM_ID_MAX];
    snprintf(rid, sizeof rid, "%zu", idx);
    hm_cli_stem(path, listing, sizeof listing);
    json_t *h = json_pack("{s:i,s:s,s:s,s:s,s:s,s:s}", "v", 1, "request_id", rid, "listing_id",
                          listing, "image_id", "1", "seller_id", seller ? seller : "", "brand",
                          brand ? brand : "");
    if (!h) {
        free(data);
        return hm__seterr(HM_E_INVAL, "%s: the listing id is not valid UTF-8", path);
    }
    if (top_k)
        json_object_set_new(h, "options", json_pack("{s:i}", "top_k", top_k));
    char *hs = json_dumps(h, JSON_COMPACT);
    json_decref(h);
    if (!hs)
        abort();
    /* The window is far below the socket's high-water mark, so these never block long. */
    if (zmq_send(sock, hs, strlen(hs), ZMQ_SNDMORE) < 0 || zmq_send(sock, data, len, 0) < 0)
        rc = hm__seterr(HM_E_PROTO, "send: %s", zmq_strerror(errno));
    free(hs);
    free(data);
    return rc;
}

static const char s_help[] =
    "usage: hallmark send --connect ENDPOINT... [--seller ID] [--brand B] [--top K]\n"
    "                     [--window N] [--timeout-ms MS] [--retries N] [OPTIONS] INPUT...\n"
    "Send images to a running hallmarkd's ingest socket (ZeroMQ, e.g.\n"
    "tcp://127.0.0.1:5555) and print its verdicts as JSON Lines, with \"file\"\n"
    "added, in the order they arrive.  The listing id sent is the file name\n"
    "without extension; request_id is the input's position (from 0).\n"
    "      --connect EP     a daemon's ingest endpoint; repeat it for a fleet of\n"
    "                       replicas: requests are spread over all of them\n"
    "      --seller ID      seller_id of the listings\n"
    "      --brand B        the brand the listings claim\n"
    "      --top K          ask for the K nearest references (options.top_k)\n"
    "      --window N       requests in flight at once (default 64)\n"
    "      --timeout-ms MS  per request (default 10000); late ones become\n"
    "                       error lines with code \"timeout\"\n"
    "      --retries N      re-send a timed-out request on another endpoint up to\n"
    "                       N times (default 3 with several endpoints, else 0);\n"
    "                       a request may then be scored twice (at-least-once)\n";

int hm_cli_send(int argc, char **argv)
{
    static const struct option opts[] = {
        HM_CLI_INPUT_OPTIONS,
        { "connect", required_argument, NULL, OPT_CONNECT },
        { "seller", required_argument, NULL, OPT_SELLER },
        { "brand", required_argument, NULL, OPT_BRAND },
        { "window", required_argument, NULL, OPT_WINDOW },
        { "timeout-ms", required_argument, NULL, OPT_TIMEOUT },
        { "top", required_argument, NULL, OPT_TOP },
        { "retries", required_argument, NULL, OPT_RETRIES },
        { 0 }
    };
    hm_cli_common_t co;
    hm_cli_common_init(&co);
    const char *seller = NULL, *brand = NULL;
    long window = 64, timeout_ms = 10000, top = 0, retries = -1;
    s_fleet_t fl;
    memset(&fl, 0, sizeof fl);
    int c, r;
    optind = 1;
    while ((c = getopt_long(argc, argv, "j:h", opts, NULL)) != -1) {
        if ((r = hm_cli_common_opt("send", c, optarg, &co)) == 1)
            continue; /* --jobs is accepted and has no effect: the daemon works */
        if (r == HM_CLI_USAGE)
            return r;
        switch (c) {
        case 'h': printf("%s%s", s_help, hm_cli_input_help); return HM_CLI_OK;
        case OPT_CONNECT:
            if (fl.n == S_MAX_EP)
                return hm_cli_usage_error("send", "at most %d --connect endpoints", S_MAX_EP);
            fl.ep[fl.n++] = optarg;
            break;
        case OPT_RETRIES:
            if (hm_cli_parse_int(optarg, 0, 100, &retries))
                return hm_cli_usage_error("send", "--retries wants 0..100");
            break;
        case OPT_SELLER: seller = optarg; break;
        case OPT_BRAND: brand = optarg; break;
        case OPT_WINDOW:
            if (hm_cli_parse_int(optarg, 1, 1000, &window))
                return hm_cli_usage_error("send", "--window wants 1..1000");
            break;
        case OPT_TIMEOUT:
            if (hm_cli_parse_int(optarg, 1, 3600000, &timeout_ms))
                return hm_cli_usage_error("send", "--timeout-ms wants 1..3600000");
            break;
        case OPT_TOP:
            if (hm_cli_parse_int(optarg, 1, HM_VERDICT_MAX_MATCHES, &top))
                return hm_cli_usage_error("send", "--top wants 1..%d", HM_VERDICT_MAX_MATCHES);
            break;
        default: return hm_cli_usage_error("send", "unknown option");
        }
    }
    if (!fl.n)
        return hm_cli_usage_error("send", "--connect ENDPOINT is required");
    if (retries < 0)
        retries = fl.n > 1 ? 3 : 0;
    if (optind == argc && !co.in.list)
        return hm_cli_usage_error("send", "no input given");

    hm_cli_inputs_t in = { 0 };
    req_t *reqs = NULL;
    void *zctx = NULL, *sock = NULL;
    size_t failed = 0, next = 0, inflight = 0, answered = 0;
    int rc = hm_cli_inputs_collect(&in, argv + optind, argc - optind, &co.in);
    if (rc) {
        fprintf(stderr, "hallmark send: %s\n", hm_last_error());
        rc = HM_CLI_USAGE;
        goto leave;
    }
    reqs = calloc(in.n ? in.n : 1, sizeof *reqs);
    zctx = fl.zctx = zmq_ctx_new();
    for (int k = 0; k < fl.n && zctx && reqs; k++) {
        if (s_open(&fl, k) != 0) {
            fprintf(stderr, "hallmark send: cannot connect to %s: %s\n", fl.ep[k],
                    zmq_strerror(errno));
            rc = zmq_errno() == EINVAL || zmq_errno() == EPROTONOSUPPORT ? HM_CLI_USAGE
                                                                          : HM_CLI_FAILED;
            goto leave;
        }
    }
    if (!reqs || !zctx) {
        rc = HM_CLI_FAILED;
        goto leave;
    }
    sock = fl.sock[0];
    while (answered < in.n) {
        double now = hm_cli_now();
        while (inflight < (size_t)window && next < in.n) {
            size_t i = next++;
            int e = in.v[i].err;
            int k = s_pick(&fl, -1, now);
            if (!e)
                e = s_send(fl.sock[k], i, in.v[i].path, seller, brand, (int)top);
            if (e) {
                s_file_error(in.v[i].path, i, e, in.v[i].err ? in.v[i].msg : hm_last_error());
                reqs[i].state = 2;
                failed++;
                answered++;
                continue;
            }
            reqs[i] = (req_t){ 1, now + (double)timeout_ms / 1000.0, k, 1 };
            inflight++;
        }
        if (!inflight)
            continue;
        /* Wait for a reply until the earliest deadline. */
        double first = now + 3600;
        for (size_t i = 0; i < next; i++)
            if (reqs[i].state == 1 && reqs[i].deadline < first)
                first = reqs[i].deadline;
        long wait_ms = first > now ? (long)((first - now) * 1000.0) + 1 : 0;
        zmq_pollitem_t pi[S_MAX_EP];
        for (int k = 0; k < fl.n; k++)
            pi[k] = (zmq_pollitem_t){ .socket = fl.sock[k], .events = ZMQ_POLLIN };
        int pr = zmq_poll(pi, fl.n, wait_ms);
        if (pr < 0 && zmq_errno() != EINTR) {
            fprintf(stderr, "hallmark send: poll: %s\n", zmq_strerror(errno));
            rc = HM_CLI_FAILED;
            goto leave;
        }
        for (int k = 0; pr > 0 && k < fl.n; k++) {
            while (pi[k].revents & ZMQ_POLLIN) {
                zmq_msg_t m;
                zmq_msg_init(&m);
                if (zmq_msg_recv(&m, fl.sock[k], ZMQ_DONTWAIT) < 0) {
                    zmq_msg_close(&m);
                    break;
                }
                /* The verdict is the last frame (an empty delimiter may precede it). */
                while (zmq_msg_more(&m)) {
                    zmq_msg_close(&m);
                    zmq_msg_init(&m);
                    if (zmq_msg_recv(&m, fl.sock[k], 0) < 0)
                        break;
                }
                fl.quiet_until[k] = 0; /* it answers: trust it again */
                json_t *v = json_loadb(zmq_msg_data(&m), zmq_msg_size(&m), 0, NULL);
                zmq_msg_close(&m);
                const char *rid = json_string_value(json_object_get(v, "request_id"));
                char *end = NULL;
                unsigned long long idx = rid ? strtoull(rid, &end, 10) : 0;
                if (!rid || *end || idx >= in.n || reqs[idx].state != 1) {
                    json_decref(v); /* late (timed out or answered twice) or not ours */
                    continue;
                }
                reqs[idx].state = 2;
                inflight--;
                answered++;
                json_t *f = json_string(in.v[idx].path);
                json_object_set_new(v, "file", f ? f : json_string("(invalid utf-8)"));
                const char *d = json_string_value(json_object_get(v, "decision"));
                if (!d || strcmp(d, "error") == 0)
                    failed++;
                hm_cli_emit(v);
            }
        }
        now = hm_cli_now();
        for (size_t i = 0; i < next; i++) {
            if (reqs[i].state != 1 || reqs[i].deadline > now)
                continue;
            int bad = reqs[i].ep;
            if ((long)reqs[i].tries <= retries) {
                /* Lazy Pirate: the silent endpoint's socket is reset and its
                 * work moves elsewhere now, not one timeout at a time. */
                if (fl.quiet_until[bad] <= now) {
                    fprintf(stderr, "hallmark send: no reply from %s within %ld ms; retrying "
                            "elsewhere\n", fl.ep[bad], timeout_ms);
                    s_open(&fl, bad);
                }
                fl.quiet_until[bad] = now + 4.0 * (double)timeout_ms / 1000.0;
                for (size_t j = 0; j < next; j++) {
                    if (reqs[j].state != 1 || reqs[j].ep != bad || (long)reqs[j].tries > retries)
                        continue;
                    int k = s_pick(&fl, bad, now);
                    if (s_send(fl.sock[k], j, in.v[j].path, seller, brand, (int)top) == 0) {
                        reqs[j].ep = k;
                        reqs[j].tries++;
                        reqs[j].deadline = now + (double)timeout_ms / 1000.0;
                    }
                }
                if (reqs[i].state == 1 && reqs[i].deadline > now)
                    continue;
            }
            char m[160];
            snprintf(m, sizeof m, "no reply from %s within %ld ms (%d tries)", fl.ep[bad],
                     timeout_ms, reqs[i].tries);
            s_file_error(in.v[i].path, i, HM_E_TIMEOUT, m);
            reqs[i].state = 2;
            inflight--;
            answered++;
            failed++;
        }
    }
    rc = failed ? HM_CLI_FAILED : HM_CLI_OK;
leave:
    (void)sock;
    for (int k = 0; k < fl.n; k++)
        if (fl.sock[k])
            zmq_close(fl.sock[k]);
    if (zctx)
        zmq_ctx_term(zctx);
    free(reqs);
    hm_cli_inputs_free(&in);
    return rc;
}
