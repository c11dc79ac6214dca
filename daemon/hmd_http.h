/*
 * hmd_http.h - the HTTP thread (libmicrohttpd): GET /metrics (Prometheus
 * text) and GET /healthz ("ok").  Anything else is 404; other methods 405.
 */
#ifndef HMD_HTTP_H
#define HMD_HTTP_H

#include "hm_engine.h"
#include "hmd_metrics.h"

typedef struct hmd_http hmd_http_t;

/*
 * hmd_http_start - listen on addr ("HOST:PORT", IPv4 or [IPv6]:PORT) and serve
 * from libmicrohttpd's own thread.  m and e are borrowed until hmd_http_stop().
 * @return 0, HM_E_CONFIG (bad address), HM_E_IO (cannot listen), HM_E_NOMEM.
 */
int hmd_http_start(hmd_http_t **out, const char *addr, hmd_metrics_t *m, hm_engine_t *e);
/* Point the handlers at the engine once it is open (NULL before). */
void hmd_http_set_engine(hmd_http_t *h, hm_engine_t *e);
/* NULL-safe; stops the thread and sets *self_p = NULL. */
void hmd_http_stop(hmd_http_t **self_p);

#endif
