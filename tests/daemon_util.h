/*
 * daemon_util.h - helpers for the daemon integration tests: start a private
 * hallmarkd on free loopback ports with a temporary database, talk to it with
 * libzmq, stop it.  Every wait is bounded.
 */
#ifndef HM_DAEMON_UTIL_H
#define HM_DAEMON_UTIL_H

#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>

enum { DU_INGEST, DU_PIPE_IN, DU_PIPE_OUT, DU_FEED, DU_CONTROL, DU_NEP };

typedef struct du_daemon {
    pid_t pid;
    char *tmp;              /* tu_tmpdir(): db/, log, key files */
    char db[4200];
    char log[4200];
    char ep[DU_NEP][64];    /* tcp://127.0.0.1:PORT */
    char metrics[64];       /* 127.0.0.1:PORT */
    int metrics_port;
    void *zctx;
    int start_retries;      /* du_start: restarts after a port was taken */
} du_daemon_t;

/* The hallmarkd binary: $HM_BIN_DIR/hallmarkd, else next to this test binary. */
const char *du_bin(void);
/* The repository's top directory (parent of the bin dir). */
const char *du_top(void);

/* Prepare d (ports, temp dir) without starting; du_start() starts it. */
void du_init(du_daemon_t *d);
/* Start hallmarkd with the standard flags plus extra (NULL-terminated); waits
 * for "event=ready" in its log (fails the test after 10 s). */
void du_start(du_daemon_t *d, const char *const *extra);
/* Send sig and wait up to timeout_ms; returns the exit status, or -1 on timeout
 * (the process is then killed). */
int du_stop(du_daemon_t *d, int sig, int timeout_ms);
/* Stop (if running) and remove the temp dir. */
void du_cleanup(du_daemon_t *d);

/* A connected socket of type to endpoint ep (LINGER 0, RCVTIMEO none). */
void *du_socket(du_daemon_t *d, int type, const char *ep);

/* Send a request (header from the arguments, v = 1) and an image frame. */
void du_send_request(void *sock, const char *rid, const char *listing, const char *seller,
                     const char *brand, const void *img, size_t len);
/* Send raw frames (n of them, sizes in lens). */
void du_send_frames(void *sock, const void *const *frames, const size_t *lens, int n);
/* Receive one message within timeout_ms and parse its last frame as JSON;
 * NULL on timeout.  *topic gets the first frame when there are 2+ (may be NULL). */
json_t *du_recv_json(void *sock, int timeout_ms, char *topic, size_t topic_cap);
/* One request/reply on a fresh DEALER to ingest. */
json_t *du_score(du_daemon_t *d, const char *rid, const char *listing, const char *seller,
                 const char *brand, const void *img, size_t len);
/* One control command (JSON text) with an optional data frame; the reply. */
json_t *du_control(du_daemon_t *d, const char *cmd, const void *data, size_t len);
/* The decision string of a verdict ("" when absent). */
const char *du_decision(json_t *v);
/* The error code of a verdict or control reply ("" when absent). */
const char *du_error_code(json_t *v);
/* Test image n (0..255): a 128x128 PNG of random 8x8 blocks, distinct per n
 * for any engine; cached, owned by the helper. */
const void *du_pic(int n);
size_t du_pic_len(int n);
#define PIC(n) du_pic(n), du_pic_len(n)
/* A big w x h noise PNG (costly to decode); the caller g_free()s it. */
void *du_big_pic(int seed, int w, int h, size_t *len);

/* An HTTP GET on the metrics port: status code, body into buf. */
int du_http_get(du_daemon_t *d, const char *path, char *buf, size_t cap);

#endif
