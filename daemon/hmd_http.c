/* hmd_http.c - /metrics, /healthz and the review console over libmicrohttpd. */
#include "hmd_http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "hm_error.h"
#include "hm_log.h"

#if MHD_VERSION < 0x00097002
typedef int MHD_Result_t;
#else
typedef enum MHD_Result MHD_Result_t;
#endif

struct hmd_http {
    struct MHD_Daemon *d;
    hmd_metrics_t *m;
    _Atomic(hm_engine_t *) e;
    hmd_console_t *console;     /* or NULL */
};

static MHD_Result_t s_reply(struct MHD_Connection *c, unsigned status, const char *type,
                            char *body, enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), body, mode);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    MHD_Result_t ok = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ok;
}

static MHD_Result_t s_handle(void *cls, struct MHD_Connection *c, const char *url,
                             const char *method, const char *version, const char *upload,
                             size_t *upload_size, void **con_cls)
{
    hmd_http_t *h = cls;
    int ops = strcmp(url, "/healthz") == 0 || (h->m && strcmp(url, "/metrics") == 0);
    if (h->console && !ops)
        return (MHD_Result_t)hmd_console_handle(h->console, c, url, method, upload, upload_size,
                                                con_cls);
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return s_reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", "method not allowed\n",
                       MHD_RESPMEM_PERSISTENT);
    if (strcmp(url, "/healthz") == 0) {
        /* A replica too far behind is drained by its load balancer. */
        char why[256];
        if (hmd_metrics_healthy(h->m, why, sizeof why))
            return s_reply(c, MHD_HTTP_OK, "text/plain", "ok\n", MHD_RESPMEM_PERSISTENT);
        char *body = strdup(why);
        return body ? s_reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain", body,
                              MHD_RESPMEM_MUST_FREE)
                    : s_reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain", "lagging\n",
                              MHD_RESPMEM_PERSISTENT);
    }
    if (h->m && strcmp(url, "/metrics") == 0) {
        char *text = hmd_metrics_render(h->m, atomic_load(&h->e));
        if (!text)
            return s_reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain", "out of memory\n",
                           MHD_RESPMEM_PERSISTENT);
        return s_reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", text,
                       MHD_RESPMEM_MUST_FREE);
    }
    return s_reply(c, MHD_HTTP_NOT_FOUND, "text/plain", "not found\n", MHD_RESPMEM_PERSISTENT);
}

static void s_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                        enum MHD_RequestTerminationCode toe)
{
    hmd_console_completed(con_cls);
}

/* HOST:PORT or [V6]:PORT into a sockaddr. */
static int s_parse_addr(const char *addr, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[256];
    const char *colon = strrchr(addr, ':');
    if (!colon || colon == addr || (size_t)(colon - addr) >= sizeof host)
        return hm__seterr(HM_E_CONFIG, "metrics address '%s' is not HOST:PORT", addr);
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535)
        return hm__seterr(HM_E_CONFIG, "metrics address '%s': bad port", addr);
    memset(ss, 0, sizeof *ss);
    size_t hl = strlen(host);
    if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
        host[hl - 1] = '\0';
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host + 1, &s6->sin6_addr) != 1)
            return hm__seterr(HM_E_CONFIG, "metrics address '%s': bad IPv6 host", addr);
        *len = sizeof *s6;
        return 0;
    }
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    s4->sin_family = AF_INET;
    s4->sin_port = htons((uint16_t)port);
    if (strcmp(host, "localhost") == 0)
        strcpy(host, "127.0.0.1");
    if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
        return hm__seterr(HM_E_CONFIG, "metrics address '%s': bad IPv4 host", addr);
    *len = sizeof *s4;
    return 0;
}

int hmd_http_start(hmd_http_t **out, const char *addr, hmd_metrics_t *m, hm_engine_t *e,
                   hmd_console_t *console)
{
    int rc = 0;
    struct sockaddr_storage ss;
    socklen_t sl;
    hmd_http_t *h = calloc(1, sizeof *h);
    if (!h)
        return HM_E_NOMEM;
    if ((rc = s_parse_addr(addr, &ss, &sl)) != 0)
        goto leave;
    h->m = m;
    h->console = console;
    atomic_store(&h->e, e);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    h->d = MHD_start_daemon(flags, 0, NULL, NULL, s_handle, h, MHD_OPTION_SOCK_ADDR,
                            (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT, 64u,
                            MHD_OPTION_CONNECTION_TIMEOUT, 10u,
                            /* Request line + headers + a POST chunk must fit in 32 KiB. */
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32768,
                            MHD_OPTION_NOTIFY_COMPLETED, s_completed, NULL, MHD_OPTION_END);
    if (!h->d) {
        rc = hm__seterr(HM_E_IO, "cannot serve HTTP on %s", addr);
        goto leave;
    }
leave:
    if (rc) {
        free(h);
        h = NULL;
    }
    *out = h;
    return rc;
}

void hmd_http_set_engine(hmd_http_t *h, hm_engine_t *e)
{
    if (h)
        atomic_store(&h->e, e);
}

int hmd_http_port(hmd_http_t *h)
{
    const union MHD_DaemonInfo *i = h ? MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT) : NULL;
    return i ? (int)i->port : -1;
}

void hmd_http_stop(hmd_http_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    MHD_stop_daemon((*self_p)->d);
    free(*self_p);
    *self_p = NULL;
}
