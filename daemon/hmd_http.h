/*
 * hmd_http.h - the HTTP thread (libmicrohttpd): GET /metrics (Prometheus
 * text, when m is given) and GET /healthz ("ok"); with a console, every
 * other request goes to it (hmd_console.h).  Without one, anything else is
 * 404 and other methods 405.
 */
#ifndef HMD_HTTP_H
#define HMD_HTTP_H

#include "hm_engine.h"
#include "hmd_console.h"
#include "hmd_metrics.h"

typedef struct hmd_http hmd_http_t;

/*
 * hmd_http_start - listen on addr ("HOST:PORT", IPv4 or [IPv6]:PORT) and serve
 * from libmicrohttpd's own thread.  m (NULL: no /metrics), e and console (may
 * be NULL) are borrowed until hmd_http_stop().  Port 0 picks a free port
 * (hmd_http_port tells which).
 * @return 0, HM_E_CONFIG (bad address), HM_E_IO (cannot listen), HM_E_NOMEM.
 */
int hmd_http_start(hmd_http_t **out, const char *addr, hmd_metrics_t *m, hm_engine_t *e,
                   hmd_console_t *console);
/* The port listened on, or -1. */
int hmd_http_port(hmd_http_t *h);
/* Point the handlers at the engine once it is open (NULL before). */
void hmd_http_set_engine(hmd_http_t *h, hm_engine_t *e);
/* NULL-safe; stops the thread and sets *self_p = NULL. */
void hmd_http_stop(hmd_http_t **self_p);

#endif
