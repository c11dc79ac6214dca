/*
 * hmd_console.h - the review console: HTML pages served by hallmarkd's
 * libmicrohttpd server (hmd_http.c hands it every request that is not
 * /metrics or /healthz).
 *
 * Routes (all others 404; methods other than GET, HEAD, POST 405):
 *   GET  /login, POST /login      log in (a pre-session double-submit token)
 *   POST /logout                  end the session (CSRF token)
 *   GET  /, /queue                recent verdicts, filters brand, seller,
 *                                 decision, since (hours), page
 *   GET  /v/ID                    one verdict: images, evidence, decisions
 *   POST /v/ID/decide             action=confirm|reject, note (reviewers;
 *                                 CSRF token)
 *   GET  /img/q/ID, /img/r/ID/N   the listing's thumbnail, match N's
 *                                 reference thumbnail
 *   GET  /static/console.css|js   compiled-in assets (hmd_assets.c)
 * Decisions are stored in the store's `decisions` sub-database (verdict id
 * -> JSON {"v":1,"who","when","action","note","listing","seller","brand",
 * "ref"}) and fed to the engine (hm_engine_feedback), so the next identical
 * image gets the new verdict as soon as the POST returns.
 *
 * Thread safety: hmd_console_handle runs on libmicrohttpd's thread; the
 * recent ring and the auth table have their own locks.
 */
#ifndef HMD_CONSOLE_H
#define HMD_CONSOLE_H

#include <stddef.h>

#include "hm_decode.h"
#include "hm_engine.h"
#include "hmd_auth.h"
#include "hmd_recent.h"

#define HMD_CONSOLE_MAX_BODY 8192   /* bytes of a POST body; more is 413 */
#define HMD_CONSOLE_MAX_NOTE 1000   /* bytes of a decision note */
#define HMD_CONSOLE_PAGE 25         /* queue rows per page */

typedef struct hmd_console hmd_console_t;

/* r and a are borrowed until hmd_console_free.  @return 0, HM_E_NOMEM. */
int hmd_console_new(hmd_console_t **out, hmd_recent_t *r, hmd_auth_t *a,
                    const hm_decode_limits_t *lim);
/* The engine decisions go to (NULL until it is open: decisions answer 503). */
void hmd_console_set_engine(hmd_console_t *c, hm_engine_t *e);
void hmd_console_free(hmd_console_t **self_p);

/* libmicrohttpd's access handler contract (struct MHD_Connection *conn,
 * int return value MHD_YES/MHD_NO); con_cls state is freed by
 * hmd_console_completed from the server's completion callback. */
int hmd_console_handle(hmd_console_t *c, void *conn, const char *url, const char *method,
                       const char *upload, size_t *upload_size, void **con_cls);
void hmd_console_completed(void **con_cls);

#endif
