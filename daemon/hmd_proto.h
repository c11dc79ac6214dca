/*
 * hmd_proto.h - the wire protocol of hallmarkd (docs/PROTOCOL.md, version 1):
 * reading multipart messages with a bound on what is kept, splitting the
 * ROUTER envelope, validating a request header, and writing replies.
 *
 * Nothing here blocks or decodes images.  Thread safety: the functions are
 * re-entrant; a socket is used only by the thread that owns it.
 */
#ifndef HMD_PROTO_H
#define HMD_PROTO_H

#include <jansson.h>
#include <stddef.h>
#include <zmq.h>

#include "hm_engine.h"

#define HMD_PROTO_VERSION 1
#define HMD_ID_LEN_MAX (HM_ID_MAX - 1)     /* longest id in bytes */
#define HMD_NAME_LEN_MAX (HM_NAME_MAX - 1) /* longest brand in bytes */
#define HMD_KEEP_FRAMES 5                  /* envelope (2) + header + data + one extra */

/* One received multipart message: the first HMD_KEEP_FRAMES frames are kept,
 * the rest are counted and released at once (so 10,000 frames cost nothing). */
typedef struct hmd_frames {
    zmq_msg_t f[HMD_KEEP_FRAMES];
    int n_kept;     /* frames held in f[] */
    int n_total;    /* frames the message had */
    int n_env;      /* envelope frames at the start (identity, REQ delimiter) */
} hmd_frames_t;

/*
 * hmd_frames_recv - receive one whole message (ZMQ_DONTWAIT for its first frame).
 * @param[in] router  1: the socket is a ROUTER, so f[0] is the peer identity and
 *                    an empty f[1] is the REQ delimiter (both form the envelope).
 * @return 0; HM_E_BUSY when no message is waiting (EAGAIN); HM_E_PROTO on a
 *         ZeroMQ failure.  On 0 the caller releases with hmd_frames_close().
 */
int hmd_frames_recv(void *sock, int router, hmd_frames_t *fr);
void hmd_frames_close(hmd_frames_t *fr);
/* Payload frames (after the envelope), as counted on the wire. */
static inline int hmd_frames_payload(const hmd_frames_t *fr) { return fr->n_total - fr->n_env; }
/* The i-th payload frame, or NULL when it was not kept. */
zmq_msg_t *hmd_frames_get(hmd_frames_t *fr, int i);

/*
 * hmd_send_parts - send the envelope frames of env (copies; env keeps them)
 * then the body frames, without blocking (ZMQ_DONTWAIT).
 * @return 0, HM_E_BUSY (the peer's queue is full: dropped), HM_E_PROTO.
 */
int hmd_send_parts(void *sock, hmd_frames_t *env, const void *const *body,
                   const size_t *lens, int n_body);

/* A validated ingest/pipeline request header. */
typedef struct hmd_request {
    int has_request_id;
    char request_id[HM_ID_MAX];
    char listing_id[HM_ID_MAX];
    char image_id[HM_ID_MAX];
    char seller_id[HM_ID_MAX];
    char brand[HM_NAME_MAX];
    int top_k;              /* 0 when not asked for */
} hmd_request_t;

/*
 * hmd_proto_parse_request - validate a header frame.  request_id is filled
 * (has_request_id = 1) as soon as it is valid, even when a later check fails,
 * so the error reply can carry it.
 * @param[out] msg  a human-readable message on failure.
 * @return 0; HM_E_TOO_LARGE (header over max_len); HM_E_PROTO (not JSON, not
 *         an object); HM_E_VERSION ("v" is not 1); HM_E_INVAL (a field missing,
 *         ill-typed, too long, or an option out of range).
 */
int hmd_proto_parse_request(const void *data, size_t len, size_t max_len, hmd_request_t *r,
                            char *msg, size_t msgcap);

/*
 * hmd_proto_check_request - everything the socket thread checks about an
 * ingest/pipeline message before queueing it, as a pure function (no socket,
 * no engine; the fuzz target fuzz_proto drives it): the payload frame count
 * (exactly 2), the header (hmd_proto_parse_request, parsed even when the count
 * is wrong so the error can echo request_id) and the image size.
 * @param[in] hdr      the header frame, NULL when the message had no payload.
 * @param[in] img_len  the image frame's size (ignored unless n_payload == 2).
 * @param[out] msg     a human-readable message on failure.
 * @return 0; HM_E_PROTO (frame count, not JSON); HM_E_TOO_LARGE (header or
 *         image over its limit); HM_E_VERSION; HM_E_INVAL.
 */
int hmd_proto_check_request(int n_payload, const void *hdr, size_t hdr_len, size_t img_len,
                            size_t max_header, size_t max_image, hmd_request_t *r, char *msg,
                            size_t msgcap);

/*
 * hmd_proto_verdict_text - the reply text for a verdict (hm_verdict_to_json,
 * compact).  r may be NULL (nothing is known of the request).
 * @return a malloc'd string the caller frees, or NULL on out of memory.
 */
char *hmd_proto_verdict_text(const hm_verdict_t *v, const hmd_request_t *r);

/*
 * hmd_proto_topic - the feed topic "brand/<brand>/<decision>" with '%' and '/'
 * in the brand escaped as %25 and %2F.  @return the length, or -1 if too long.
 */
int hmd_proto_topic(const char *brand, const char *decision, char *buf, size_t cap);

/*
 * hmd_json_str - copy the string field key of object o into dst (cap bytes),
 * checking type, length (cap - 1 bytes at most) and UTF-8.  A missing optional
 * field gives "".  @return 0, HM_E_INVAL with a message in msg.
 */
int hmd_json_str(json_t *o, const char *key, int required, char *dst, size_t cap, char *msg,
                 size_t msgcap);

/* Replace every byte of s that is not part of valid UTF-8 with '?', in place:
 * for third-party messages (jansson quotes the offending input bytes in its
 * errors) that go into JSON replies, which must be UTF-8. */
void hmd_utf8_scrub(char *s);

/* 1 when s[0..n) is valid UTF-8 (no overlongs, no surrogates). */
int hmd_utf8_valid(const char *s, size_t n);

#endif
