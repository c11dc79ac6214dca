/* hmd_proto.c - frames, envelopes, request validation and reply text. */
#include "hmd_proto.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hm_error.h"
#include "hm_verdict.h"

int hmd_frames_recv(void *sock, int router, hmd_frames_t *fr)
{
    memset(fr, 0, sizeof *fr);
    int more = 1;
    while (more) {
        zmq_msg_t scratch, *m = fr->n_kept < HMD_KEEP_FRAMES ? &fr->f[fr->n_kept] : &scratch;
        zmq_msg_init(m);
        /* Only the first frame may be absent; the rest of a message arrives atomically. */
        if (zmq_msg_recv(m, sock, fr->n_total == 0 ? ZMQ_DONTWAIT : 0) < 0) {
            int err = errno;
            zmq_msg_close(m);
            if (fr->n_total == 0)
                return err == EAGAIN ? HM_E_BUSY : HM_E_PROTO;
            hmd_frames_close(fr);
            return hm__seterr(HM_E_PROTO, "zmq_msg_recv: %s", zmq_strerror(err));
        }
        more = zmq_msg_more(m);
        if (m == &scratch)
            zmq_msg_close(m);
        else
            fr->n_kept++;
        fr->n_total++;
    }
    if (router) {
        fr->n_env = 1;
        if (fr->n_total >= 2 && zmq_msg_size(&fr->f[1]) == 0)
            fr->n_env = 2;
    }
    return 0;
}

void hmd_frames_close(hmd_frames_t *fr)
{
    for (int i = 0; i < fr->n_kept; i++)
        zmq_msg_close(&fr->f[i]);
    fr->n_kept = 0;
}

zmq_msg_t *hmd_frames_get(hmd_frames_t *fr, int i)
{
    int k = fr->n_env + i;
    return k < fr->n_kept ? &fr->f[k] : NULL;
}

int hmd_send_parts(void *sock, hmd_frames_t *env, const void *const *body,
                   const size_t *lens, int n_body)
{
    for (int i = 0; env && i < env->n_env; i++) {
        zmq_msg_t c;
        zmq_msg_init(&c);
        zmq_msg_copy(&c, &env->f[i]);
        if (zmq_msg_send(&c, sock, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
            int err = errno;
            zmq_msg_close(&c);
            /* A ROUTER only refuses the first frame; nothing was sent. */
            return err == EAGAIN ? HM_E_BUSY : HM_E_PROTO;
        }
    }
    for (int i = 0; i < n_body; i++) {
        if (zmq_send(sock, body[i], lens[i], (i + 1 < n_body ? ZMQ_SNDMORE : 0) | ZMQ_DONTWAIT) < 0)
            return errno == EAGAIN ? HM_E_BUSY : HM_E_PROTO;
    }
    return 0;
}

int hmd_utf8_valid(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t k;
        unsigned cp;
        if (c < 0x80) { i++; continue; }
        else if (c >= 0xC2 && c <= 0xDF) { k = 1; cp = c & 0x1F; }
        else if (c >= 0xE0 && c <= 0xEF) { k = 2; cp = c & 0x0F; }
        else if (c >= 0xF0 && c <= 0xF4) { k = 3; cp = c & 0x07; }
        else return 0;
        if (i + k >= n)
            return 0;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + j] & 0x3F);
        }
        if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += k + 1;
    }
    return 1;
}

void hmd_utf8_scrub(char *s)
{
    size_t n = strlen(s), i = 0;
    while (i < n) {
        /* The longest valid sequence starting here (1..4 bytes), if any. */
        size_t k = 0;
        for (size_t len = 1; len <= 4 && i + len <= n; len++)
            if (hmd_utf8_valid(s + i, len)) {
                k = len;
                break;
            }
        if (!k) {
            s[i] = '?';
            k = 1;
        }
        i += k;
    }
}

int hmd_json_str(json_t *o, const char *key, int required, char *dst, size_t cap,
                       char *msg, size_t msgcap)
{
    json_t *j = json_object_get(o, key);
    dst[0] = '\0';
    if (!j) {
        if (!required)
            return 0;
        snprintf(msg, msgcap, "missing field \"%s\"", key);
        return HM_E_INVAL;
    }
    if (!json_is_string(j)) {
        snprintf(msg, msgcap, "field \"%s\" must be a string", key);
        return HM_E_INVAL;
    }
    size_t n = json_string_length(j);
    const char *s = json_string_value(j);
    if (n > cap - 1) {
        snprintf(msg, msgcap, "field \"%s\" is %zu bytes, longer than %zu", key, n, cap - 1);
        return HM_E_INVAL;
    }
    if (memchr(s, '\0', n) || !hmd_utf8_valid(s, n)) {
        snprintf(msg, msgcap, "field \"%s\" is not valid UTF-8 text", key);
        return HM_E_INVAL;
    }
    memcpy(dst, s, n + 1);
    return 0;
}

int hmd_proto_parse_request(const void *data, size_t len, size_t max_len, hmd_request_t *r,
                            char *msg, size_t msgcap)
{
    int rc = 0;
    json_t *o = NULL;
    memset(r, 0, sizeof *r);
    if (len > max_len) {
        snprintf(msg, msgcap, "header frame is %zu bytes, more than %zu", len, max_len);
        rc = HM_E_TOO_LARGE;
        goto leave;
    }
    json_error_t jerr;
    o = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!o) {
        hmd_utf8_scrub(jerr.text);
        snprintf(msg, msgcap, "header is not valid JSON: %s (at byte %d)", jerr.text,
                 jerr.position);
        rc = HM_E_PROTO;
        goto leave;
    }
    if (!json_is_object(o)) {
        snprintf(msg, msgcap, "header must be a JSON object");
        rc = HM_E_PROTO;
        goto leave;
    }
    /* request_id first, so every later error can echo it. */
    if ((rc = hmd_json_str(o, "request_id", 1, r->request_id, sizeof r->request_id, msg, msgcap)))
        goto leave;
    if (!r->request_id[0]) {
        snprintf(msg, msgcap, "field \"request_id\" must not be empty");
        rc = HM_E_INVAL;
        goto leave;
    }
    r->has_request_id = 1;
    json_t *v = json_object_get(o, "v");
    if (!v) {
        snprintf(msg, msgcap, "missing field \"v\" (protocol version, %d)", HMD_PROTO_VERSION);
        rc = HM_E_INVAL;
        goto leave;
    }
    if (!json_is_integer(v) || json_integer_value(v) != HMD_PROTO_VERSION) {
        snprintf(msg, msgcap, "protocol version must be %d", HMD_PROTO_VERSION);
        rc = HM_E_VERSION;
        goto leave;
    }
    if ((rc = hmd_json_str(o, "listing_id", 1, r->listing_id, sizeof r->listing_id, msg, msgcap)) ||
        (rc = hmd_json_str(o, "image_id", 1, r->image_id, sizeof r->image_id, msg, msgcap)) ||
        (rc = hmd_json_str(o, "seller_id", 1, r->seller_id, sizeof r->seller_id, msg, msgcap)) ||
        (rc = hmd_json_str(o, "brand", 1, r->brand, sizeof r->brand, msg, msgcap)))
        goto leave;
    json_t *opts = json_object_get(o, "options");
    if (opts) {
        if (!json_is_object(opts)) {
            snprintf(msg, msgcap, "field \"options\" must be an object");
            rc = HM_E_INVAL;
            goto leave;
        }
        json_t *k = json_object_get(opts, "top_k");
        if (k) {
            if (!json_is_integer(k) || json_integer_value(k) < 0 ||
                json_integer_value(k) > HM_VERDICT_MAX_MATCHES) {
                snprintf(msg, msgcap, "options.top_k must be an integer 0..%d",
                         HM_VERDICT_MAX_MATCHES);
                rc = HM_E_INVAL;
                goto leave;
            }
            r->top_k = (int)json_integer_value(k);
        }
    }
leave:
    json_decref(o);
    return rc;
}

int hmd_proto_check_request(int n_payload, const void *hdr, size_t hdr_len, size_t img_len,
                            size_t max_header, size_t max_image, hmd_request_t *r, char *msg,
                            size_t msgcap)
{
    int rc = HM_E_PROTO;
    memset(r, 0, sizeof *r);
    snprintf(msg, msgcap, "expected 2 frames (JSON header, image), got %d", n_payload);
    if (hdr) {
        char hmsg[256];
        int hrc = hmd_proto_parse_request(hdr, hdr_len, max_header, r, hmsg, sizeof hmsg);
        if (n_payload == 2 && hrc) {
            rc = hrc;
            snprintf(msg, msgcap, "%s", hmsg);
        } else if (n_payload == 2) {
            rc = 0;
        }
    }
    if (rc == 0 && img_len > max_image) {
        rc = HM_E_TOO_LARGE;
        snprintf(msg, msgcap, "image frame is %zu bytes, more than the limit %zu", img_len,
                 max_image);
    }
    return rc;
}

char *hmd_proto_verdict_text(const hm_verdict_t *v, const hmd_request_t *r)
{
    json_t *j;
    if (r)
        j = hm_verdict_to_json(v, r->has_request_id ? r->request_id : NULL,
                               r->listing_id[0] ? r->listing_id : NULL,
                               r->image_id[0] ? r->image_id : NULL,
                               r->seller_id[0] ? r->seller_id : NULL);
    else
        j = hm_verdict_to_json(v, NULL, NULL, NULL, NULL);
    if (!j)
        return NULL;
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return s;
}

int hmd_proto_topic(const char *brand, const char *decision, char *buf, size_t cap)
{
    size_t n = 0;
#define S_PUT(c) do { if (n + 1 >= cap) return -1; buf[n++] = (c); } while (0)
    for (const char *p = "brand/"; *p; p++)
        S_PUT(*p);
    for (const char *p = brand; *p; p++) {
        if (*p == '/' || *p == '%') {
            S_PUT('%');
            S_PUT('2');
            S_PUT(*p == '/' ? 'F' : '5');
        } else {
            S_PUT(*p);
        }
    }
    S_PUT('/');
    for (const char *p = decision; *p; p++)
        S_PUT(*p);
#undef S_PUT
    buf[n] = '\0';
    return (int)n;
}
