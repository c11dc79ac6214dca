/* hmd_console.c - the review console's routes, sessions and pages. */
#include "hmd_console.h"

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hm_error.h"
#include "hm_log.h"
#include "hmd_assets.h"
#include "hmd_html.h"

#if MHD_VERSION < 0x00097002
typedef int MHD_Result_t;
#else
typedef enum MHD_Result MHD_Result_t;
#endif

#define S_FIELD_MAX 1024

struct hmd_console {
    hmd_recent_t *recent;
    hmd_auth_t *auth;
    hm_decode_limits_t lim;
    _Atomic(hm_engine_t *) e;
    pthread_mutex_t mu;          /* the feedback context and decisions */
    hm_fp_ctx_t *ctx;            /* made on the first decision */
};

/* Per-request state of a POST: the form fields, each bounded. */
typedef struct s_post {
    struct MHD_PostProcessor *pp;
    size_t body;                 /* bytes received */
    int too_big, bad;
    char user[S_FIELD_MAX], password[S_FIELD_MAX], csrf[S_FIELD_MAX];
    char action[S_FIELD_MAX], note[S_FIELD_MAX + 1];
} s_post_t;

int hmd_console_new(hmd_console_t **out, hmd_recent_t *r, hmd_auth_t *a,
                    const hm_decode_limits_t *lim)
{
    hmd_console_t *c = calloc(1, sizeof *c);
    if (!c)
        return hm__seterr(HM_E_NOMEM, "console: out of memory");
    c->recent = r;
    c->auth = a;
    c->lim = lim ? *lim : hm_decode_limits_default;
    pthread_mutex_init(&c->mu, NULL);
    *out = c;
    return 0;
}

void hmd_console_set_engine(hmd_console_t *c, hm_engine_t *e)
{
    if (c)
        atomic_store(&c->e, e);
}

void hmd_console_free(hmd_console_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    hm_fp_ctx_free(&(*self_p)->ctx);
    pthread_mutex_destroy(&(*self_p)->mu);
    free(*self_p);
    *self_p = NULL;
}

void hmd_console_completed(void **con_cls)
{
    s_post_t *p = con_cls ? *con_cls : NULL;
    if (!p)
        return;
    if (p->pp)
        MHD_destroy_post_processor(p->pp);
    memset(p->password, 0, sizeof p->password);
    free(p);
    *con_cls = NULL;
}

/* ---- responses ---- */

/* Every response: no caching, no framing, no sniffing, scripts and styles
 * only from our own compiled-in assets. */
static void s_headers(struct MHD_Response *r, const char *type)
{
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Content-Security-Policy",
                            "default-src 'none'; img-src 'self'; style-src 'self'; "
                            "script-src 'self'; form-action 'self'; frame-ancestors 'none'; "
                            "base-uri 'none'");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "X-Frame-Options", "DENY");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(r, "Cache-Control", "no-store");
}

static MHD_Result_t s_send(struct MHD_Connection *conn, unsigned status, const char *type,
                           void *body, size_t len, void (*free_cb)(void *),
                           const char *cookie, const char *location)
{
    struct MHD_Response *r =
        free_cb ? MHD_create_response_from_buffer_with_free_callback(len, body, free_cb)
                : MHD_create_response_from_buffer(len, body, MHD_RESPMEM_PERSISTENT);
    if (!r) {
        if (free_cb)
            free_cb(body);
        return MHD_NO;
    }
    s_headers(r, type);
    if (cookie)
        MHD_add_response_header(r, "Set-Cookie", cookie);
    if (location)
        MHD_add_response_header(r, "Location", location);
    MHD_Result_t ok = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ok;
}

static MHD_Result_t s_page(struct MHD_Connection *conn, unsigned status, GString *g,
                           const char *cookie)
{
    size_t len = g->len;
    return s_send(conn, status, "text/html; charset=utf-8", g_string_free(g, FALSE), len, g_free,
                  cookie, NULL);
}

static MHD_Result_t s_text(struct MHD_Connection *conn, unsigned status, const char *msg)
{
    return s_send(conn, status, "text/plain; charset=utf-8", (void *)msg, strlen(msg), NULL, NULL,
                  NULL);
}

static MHD_Result_t s_redirect(struct MHD_Connection *conn, const char *to, const char *cookie)
{
    return s_send(conn, MHD_HTTP_SEE_OTHER, "text/plain; charset=utf-8", "", 0, NULL, cookie, to);
}

/* An error page inside the frame (user may be NULL). */
static MHD_Result_t s_error(struct MHD_Connection *conn, unsigned status,
                            const hmd_session_view_t *sv, const char *msg)
{
    GString *g = g_string_new(NULL);
    hmd_html_begin(g, "Error", sv ? sv->user : NULL, sv && sv->role == HMD_ROLE_REVIEWER ? "reviewer" : "rights holder",
                   sv ? sv->csrf : NULL);
    hmd_html_printf(g, "<p class=\"msg\">%s</p><p><a href=\"/queue\">Back to the queue</a></p>", msg);
    hmd_html_end(g);
    return s_page(conn, status, g, NULL);
}

/* ---- requests ---- */

static const char *s_arg(struct MHD_Connection *conn, const char *name)
{
    const char *v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, name);
    return v && strlen(v) <= HM_STORE_MAX_ID ? v : "";
}

static MHD_Result_t s_post_field(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *filename, const char *ctype, const char *enc,
                                 const char *data, uint64_t off, size_t size)
{
    s_post_t *p = cls;
    char *dst = !strcmp(key, "user") ? p->user : !strcmp(key, "password") ? p->password
              : !strcmp(key, "csrf") ? p->csrf : !strcmp(key, "action") ? p->action
              : !strcmp(key, "note") ? p->note : NULL;
    if (!dst)
        return MHD_YES; /* unknown fields are ignored */
    size_t cap = dst == p->note ? HMD_CONSOLE_MAX_NOTE : S_FIELD_MAX - 1;
    if (off + size > cap) {
        p->bad = 1;
        return MHD_NO;
    }
    memcpy(dst + off, data, size);
    dst[off + size] = '\0';
    return MHD_YES;
}

static int s_session(hmd_console_t *c, struct MHD_Connection *conn, hmd_session_view_t *sv)
{
    const char *tok = MHD_lookup_connection_value(conn, MHD_COOKIE_KIND, "hm_session");
    return hmd_auth_session(c->auth, tok, sv);
}

static const char *s_role(const hmd_session_view_t *sv)
{
    return sv->role == HMD_ROLE_REVIEWER ? "reviewer" : "rights holder";
}

static hmd_recent_filter_t s_visibility(const hmd_session_view_t *sv)
{
    hmd_recent_filter_t f = { .decision = -1 };
    if (sv->role != HMD_ROLE_REVIEWER) {
        f.brands = sv->brands;
        f.n_brands = sv->n_brands;
        if (!f.brands) { /* never "all" for a holder */
            static const char *const none[] = { "" };
            f.brands = none;
            f.n_brands = 0;
        }
    }
    return f;
}

/* ---- login ---- */

static MHD_Result_t s_login_page(struct MHD_Connection *conn, unsigned status, const char *msg)
{
    /* Login CSRF: a double-submit token, in a cookie scoped to /login and in
     * the form; POST /login needs both and equal. */
    char tok[HMD_TOKEN_LEN + 1], cookie[160];
    hmd_auth_random_token(tok);
    snprintf(cookie, sizeof cookie, "hm_login=%s; Path=/login; HttpOnly; SameSite=Strict", tok);
    GString *g = g_string_new(NULL);
    hmd_html_begin(g, "Log in", NULL, NULL, NULL);
    g_string_append(g, "<form class=\"login\" method=\"post\" action=\"/login\"><h1>Log in</h1>");
    if (msg)
        hmd_html_printf(g, "<p class=\"msg\">%s</p>", msg);
    hmd_html_printf(g,
                    "<input type=\"hidden\" name=\"csrf\" value=\"%s\">"
                    "<label>Name<input name=\"user\" autocomplete=\"username\" required maxlength=\"63\"></label>"
                    "<label>Password<input name=\"password\" type=\"password\" "
                    "autocomplete=\"current-password\" required maxlength=\"1000\"></label>"
                    "<button type=\"submit\">Log in</button></form>",
                    tok);
    hmd_html_end(g);
    return s_page(conn, status, g, cookie);
}

static MHD_Result_t s_login_post(hmd_console_t *c, struct MHD_Connection *conn, s_post_t *p)
{
    const char *pre = MHD_lookup_connection_value(conn, MHD_COOKIE_KIND, "hm_login");
    if (!hmd_auth_token_eq(pre, p->csrf))
        return s_login_page(conn, MHD_HTTP_FORBIDDEN, "The form expired; please try again.");
    char tok[HMD_TOKEN_LEN + 1];
    if (hmd_auth_login(c->auth, p->user, p->password, tok) != 0)
        return s_login_page(conn, MHD_HTTP_UNAUTHORIZED, "Wrong name or password.");
    char cookie[160];
    snprintf(cookie, sizeof cookie, "hm_session=%s; Path=/; HttpOnly; SameSite=Strict", tok);
    return s_redirect(conn, "/queue", cookie);
}

/* ---- the queue ---- */

static int s_parse_decision(const char *s)
{
    return !strcmp(s, "counterfeit") ? HM_DEC_COUNTERFEIT : !strcmp(s, "suspect") ? HM_DEC_SUSPECT
         : !strcmp(s, "genuine") ? HM_DEC_GENUINE : -1;
}

static void s_option(GString *g, const char *value, const char *label, const char *cur)
{
    hmd_html_printf(g, "<option value=\"%s\"%s>%s</option>", value,
                    strcmp(value, cur) == 0 ? " selected" : "", label);
}

/* A link to page n of the queue with the same filters. */
static void s_queue_link(GString *g, struct MHD_Connection *conn, int page)
{
    static const char *const keys[] = { "brand", "seller", "decision", "since" };
    g_string_append(g, "/queue?");
    for (size_t i = 0; i < 4; i++) {
        g_string_append_printf(g, "%s=", keys[i]);
        hmd_html_uri(g, s_arg(conn, keys[i]));
        g_string_append(g, "&amp;");
    }
    g_string_append_printf(g, "page=%d", page);
}

static MHD_Result_t s_queue(hmd_console_t *c, struct MHD_Connection *conn,
                            const hmd_session_view_t *sv)
{
    hmd_recent_filter_t f = s_visibility(sv);
    f.brand = s_arg(conn, "brand");
    f.seller = s_arg(conn, "seller");
    const char *dec = s_arg(conn, "decision"), *since = s_arg(conn, "since");
    f.decision = s_parse_decision(dec);
    long hours = atol(since);
    if (hours > 0 && hours < 24L * 366)
        f.since = (int64_t)time(NULL) - hours * 3600;
    int page = atoi(s_arg(conn, "page"));
    if (page < 1 || page > 1000000)
        page = 1;
    hmd_recent_entry_t *rows = calloc(HMD_CONSOLE_PAGE, sizeof *rows);
    if (!rows)
        return s_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory\n");
    int total = 0;
    int n = hmd_recent_list(c->recent, &f, (page - 1) * HMD_CONSOLE_PAGE, rows, HMD_CONSOLE_PAGE,
                            &total);
    GString *g = g_string_new(NULL);
    hmd_html_begin(g, "Queue", sv->user, s_role(sv), sv->csrf);
    g_string_append(g, "<h1>Recent verdicts</h1>");
    if (sv->role != HMD_ROLE_REVIEWER) {
        g_string_append(g, "<p class=\"scope\">Showing your brands:");
        for (int i = 0; i < sv->n_brands; i++)
            hmd_html_printf(g, " <b>%s</b>", sv->brands[i]);
        g_string_append(g, "</p>");
    }
    hmd_html_printf(g,
                    "<form class=\"filters\" method=\"get\" action=\"/queue\">"
                    "<label>Brand<input name=\"brand\" value=\"%s\" maxlength=\"160\"></label>"
                    "<label>Seller<input name=\"seller\" value=\"%s\" maxlength=\"160\"></label>"
                    "<label>Decision<select name=\"decision\">",
                    f.brand, f.seller);
    s_option(g, "", "any", dec);
    s_option(g, "counterfeit", "counterfeit", dec);
    s_option(g, "suspect", "suspect", dec);
    s_option(g, "genuine", "genuine", dec);
    g_string_append(g, "</select></label><label>Since<select name=\"since\">");
    s_option(g, "", "any time", since);
    s_option(g, "1", "last hour", since);
    s_option(g, "24", "last day", since);
    s_option(g, "168", "last week", since);
    g_string_append(g, "</select></label><button type=\"submit\">Filter</button></form>");
    if (n == 0) {
        g_string_append(g, "<p class=\"empty\">No verdicts match.</p>");
    } else {
        g_string_append(g, "<table id=\"queue\"><thead><tr><th></th><th>Time (UTC)</th><th>Verdict</th>"
                           "<th>Brand</th><th>Seller</th><th>Listing</th><th>Score</th>"
                           "<th>Review</th></tr></thead><tbody>");
        for (int i = 0; i < n; i++) {
            const hmd_recent_entry_t *e = &rows[i];
            char when[32];
            time_t t = (time_t)e->time;
            struct tm tm;
            strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", gmtime_r(&t, &tm));
            const char *dn = hm_decision_name(e->decision);
            hmd_html_printf(g,
                            "<tr data-href=\"/v/%s\"><td><img src=\"/img/q/%s\" alt=\"\"></td>"
                            "<td>%s</td><td><span class=\"tag %s\">%s</span></td><td>%s</td>"
                            "<td>%s</td><td><a href=\"/v/%s\">%s</a></td><td>%.2f</td><td>",
                            e->id, e->id, when, dn, dn, e->brand, e->seller, e->id, e->listing,
                            e->score);
            if (e->review[0])
                hmd_html_printf(g, "<span class=\"tag %s\">%s</span>", e->review, e->review);
            else
                g_string_append(g, "pending");
            g_string_append(g, "</td></tr>");
        }
        g_string_append(g, "</tbody></table>");
    }
    int pages = (total + HMD_CONSOLE_PAGE - 1) / HMD_CONSOLE_PAGE;
    hmd_html_printf(g, "<div class=\"pager\"><span>%d verdicts, page %d of %d</span>", total, page,
                    pages ? pages : 1);
    if (page > 1) {
        g_string_append(g, "<a rel=\"prev\" href=\"");
        s_queue_link(g, conn, page - 1);
        g_string_append(g, "\">Newer</a>");
    }
    if (page < pages) {
        g_string_append(g, "<a rel=\"next\" href=\"");
        s_queue_link(g, conn, page + 1);
        g_string_append(g, "\">Older</a>");
    }
    g_string_append(g, "</div>");
    hmd_html_end(g);
    free(rows);
    return s_page(conn, MHD_HTTP_OK, g, NULL);
}

/* ---- one verdict ---- */

/* The decision recorded for verdict id, as a JSON object (NULL: none). */
static json_t *s_decision_get(hm_engine_t *e, const char *id)
{
    void *val = NULL;
    size_t len = 0;
    if (!e || hm_engine_decision_get(e, id, &val, &len) != 0)
        return NULL;
    json_t *j = json_loadb(val, len, 0, NULL);
    free(val);
    return j;
}

static void s_evidence(GString *g, const hmd_recent_entry_t *e)
{
    char when[32];
    time_t t = (time_t)e->time;
    struct tm tm;
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", gmtime_r(&t, &tm));
    const char *dn = hm_decision_name(e->decision);
    hmd_html_printf(g,
                    "<h2>Evidence</h2><dl id=\"evidence\"><dt>Verdict</dt><dd><span class=\"tag %s\">%s</span>"
                    " score %.3f (%s)</dd><dt>Listing</dt><dd>%s (image %s)</dd>"
                    "<dt>Claimed brand</dt><dd>%s</dd><dt>Seller</dt><dd>%s</dd>"
                    "<dt>Seller strikes</dt><dd>%d%s</dd><dt>Seen</dt><dd>%s</dd>",
                    dn, dn, e->score, e->reason, e->listing, e->image, e->claimed, e->seller,
                    e->strikes, e->blocked ? " (blocked)" : "", when);
    for (int i = 0; i < e->n_matches; i++) {
        const hmd_recent_match_t *m = &e->m[i];
        hmd_html_printf(g,
                        "<dt>Match %d</dt><dd>reference <b>%s</b> in the %s bank; brand %s; "
                        "rights holder %s; signal %s, ",
                        i + 1, m->ref, hm_bank_name(m->bank), m->brand, m->holder[0] ? m->holder : "-",
                        m->signal);
        if (m->distance >= 0)
            hmd_html_printf(g, "distance %d bits", m->distance);
        else
            hmd_html_printf(g, "similarity %.3f", m->similarity);
        hmd_html_printf(g, "; variant %s</dd>", m->variant);
    }
    g_string_append(g, "</dl>");
}

static MHD_Result_t s_verdict(hmd_console_t *c, struct MHD_Connection *conn,
                              const hmd_session_view_t *sv, const char *id, const char *msg)
{
    hmd_recent_filter_t vis = s_visibility(sv);
    hmd_recent_entry_t e;
    if (hmd_recent_get(c->recent, id, &e, 0, 0) != 0 || !hmd_recent_visible(&vis, e.brand))
        return s_error(conn, MHD_HTTP_NOT_FOUND, sv, "No such verdict (it may have been dropped "
                                                     "from the retention).");
    GString *g = g_string_new(NULL);
    hmd_html_begin(g, "Verdict", sv->user, s_role(sv), sv->csrf);
    hmd_html_printf(g, "<h1>Listing %s</h1>", e.listing);
    if (msg)
        hmd_html_printf(g, "<p class=\"msg\">%s</p>", msg);
    hmd_html_printf(g,
                    "<div class=\"pair\"><figure><img id=\"listing-img\" src=\"/img/q/%s\" "
                    "alt=\"listing image\"><figcaption>Listing image (seller %s)</figcaption></figure>",
                    e.id, e.seller);
    for (int i = 0; i < e.n_matches; i++)
        hmd_html_printf(g,
                        "<figure><img class=\"ref-img\" src=\"/img/r/%s/%d\" alt=\"reference image\">"
                        "<figcaption>Reference %s (%s bank, %s)</figcaption></figure>",
                        e.id, i, e.m[i].ref, hm_bank_name(e.m[i].bank), e.m[i].brand);
    g_string_append(g, "</div>");
    s_evidence(g, &e);
    g_string_append(g, "<h2>Decision</h2>");
    json_t *d = s_decision_get(atomic_load(&c->e), e.id);
    if (d) {
        time_t t = (time_t)json_integer_value(json_object_get(d, "when"));
        char when[32];
        struct tm tm;
        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", gmtime_r(&t, &tm));
        const char *note = json_string_value(json_object_get(d, "note"));
        hmd_html_printf(g, "<dl id=\"decision\"><dt>Action</dt><dd>%s</dd><dt>By</dt><dd>%s</dd>"
                           "<dt>When</dt><dd>%s</dd><dt>Note</dt><dd>%s</dd></dl>",
                        json_string_value(json_object_get(d, "action")),
                        json_string_value(json_object_get(d, "who")), when,
                        note && *note ? note : "-");
        json_decref(d);
    } else if (sv->role != HMD_ROLE_REVIEWER) {
        g_string_append(g, "<p class=\"empty\">Not reviewed yet.</p>");
    } else if (!e.img_len) {
        g_string_append(g, "<p class=\"empty\">The image was too large to keep; decide with the "
                           "control socket instead.</p>");
    } else {
        hmd_html_printf(g,
                        "<form class=\"act\" method=\"post\" action=\"/v/%s/decide\">"
                        "<input type=\"hidden\" name=\"csrf\" value=\"%s\">"
                        "<label>Note (optional)<textarea name=\"note\" maxlength=\"1000\"></textarea></label>"
                        "<button type=\"submit\" name=\"action\" value=\"confirm\">Confirm counterfeit</button>"
                        "<button type=\"submit\" name=\"action\" value=\"reject\" class=\"reject\">Reject</button>"
                        "</form>",
                        e.id, sv->csrf);
    }
    hmd_html_end(g);
    return s_page(conn, MHD_HTTP_OK, g, NULL);
}

/* Confirm or reject: feed the engine, then record who/when/what/note.  The
 * engine call comes first, so a recorded decision has always taken effect. */
static MHD_Result_t s_decide(hmd_console_t *c, struct MHD_Connection *conn,
                             const hmd_session_view_t *sv, const char *id, const s_post_t *p)
{
    if (sv->role != HMD_ROLE_REVIEWER)
        return s_error(conn, MHD_HTTP_FORBIDDEN, sv, "Rights-holder accounts cannot decide.");
    int confirm = strcmp(p->action, "confirm") == 0;
    if (!confirm && strcmp(p->action, "reject") != 0)
        return s_error(conn, MHD_HTTP_BAD_REQUEST, sv, "Unknown action.");
    hm_engine_t *eng = atomic_load(&c->e);
    if (!eng)
        return s_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, sv, "The engine is not open yet.");
    hmd_recent_entry_t e;
    if (hmd_recent_get(c->recent, id, &e, 0, 1) != 0)
        return s_error(conn, MHD_HTTP_NOT_FOUND, sv, "No such verdict.");
    const char *msg = NULL;
    unsigned status = MHD_HTTP_OK;
    char ext[64], src[600];
    snprintf(ext, sizeof ext, "console-%s", e.id);
    snprintf(src, sizeof src, "console verdict %s by %s; listing %.160s; seller %.160s", e.id,
             sv->user, e.listing, e.seller);
    hm_ref_meta_t meta = { .ext_id = ext, .bank = HM_BANK_COUNTERFEIT, .brand = e.brand,
                           .holder = e.n_matches ? e.m[0].holder : NULL, .source = src };
    pthread_mutex_lock(&c->mu);
    json_t *prev = s_decision_get(eng, e.id);
    int rc = 0;
    if (prev) {
        json_decref(prev);
        msg = "This verdict was already decided.";
        status = MHD_HTTP_CONFLICT;
    } else if (!e.img) {
        msg = "The image is no longer retained.";
        status = MHD_HTTP_CONFLICT;
    } else if (!c->ctx && (rc = hm_fp_ctx_new(&c->ctx, &c->lim)) != 0) {
        msg = "Out of memory.";
        status = MHD_HTTP_SERVICE_UNAVAILABLE;
    } else if ((rc = hm_engine_feedback(eng, c->ctx, e.img, e.img_len, confirm, &meta, p->note)) != 0) {
        hm_log_warn("console_decide", "verdict=%s code=%s msg=\"%s\"", e.id, hm_err_name(rc),
                    hm_last_error());
        msg = rc == HM_E_EXISTS ? "This image is already a reference." : "The engine refused it.";
        status = rc == HM_E_EXISTS ? MHD_HTTP_CONFLICT : MHD_HTTP_INTERNAL_SERVER_ERROR;
    } else {
        json_t *rec = json_pack("{s:i, s:s, s:I, s:s, s:s, s:s, s:s, s:s, s:s}", "v", 1, "who",
                                sv->user, "when", (json_int_t)time(NULL), "action",
                                confirm ? "confirmed" : "rejected", "note", p->note, "listing",
                                e.listing, "seller", e.seller, "brand", e.brand, "ref",
                                confirm ? ext : "");
        char *text = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
        rc = text ? hm_engine_decision_put(eng, e.id, text, strlen(text)) : HM_E_NOMEM;
        free(text);
        json_decref(rec);
        if (rc) {
            msg = "The decision took effect but could not be recorded.";
            status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        } else {
            hmd_recent_mark(c->recent, e.id, confirm ? "confirmed" : "rejected");
            hm_log_info("console_decide", "verdict=%s user=%s action=%s", e.id, sv->user,
                        confirm ? "confirm" : "reject");
        }
    }
    pthread_mutex_unlock(&c->mu);
    free(e.img);
    if (msg)
        return s_error(conn, status, sv, msg);
    char to[64];
    snprintf(to, sizeof to, "/v/%s", e.id);
    return s_redirect(conn, to, NULL);
}

/* ---- images ---- */

static MHD_Result_t s_image(hmd_console_t *c, struct MHD_Connection *conn,
                            const hmd_session_view_t *sv, const char *rest, int ref)
{
    char id[HMD_VID_MAX];
    int n = 0;
    const char *slash = strchr(rest, '/');
    size_t idl = slash ? (size_t)(slash - rest) : strlen(rest);
    if (idl == 0 || idl >= sizeof id || (ref != (slash != NULL)))
        return s_text(conn, MHD_HTTP_NOT_FOUND, "not found\n");
    memcpy(id, rest, idl);
    id[idl] = '\0';
    if (ref) {
        char *end;
        long v = strtol(slash + 1, &end, 10);
        if (*end || end == slash + 1 || v < 0 || v >= HMD_RECENT_MATCHES)
            return s_text(conn, MHD_HTTP_NOT_FOUND, "not found\n");
        n = (int)v;
    }
    hmd_recent_filter_t vis = s_visibility(sv);
    hmd_recent_entry_t e;
    if (hmd_recent_get(c->recent, id, &e, !ref, 0) != 0)
        return s_text(conn, MHD_HTTP_NOT_FOUND, "not found\n");
    void *jpg = e.thumb;
    size_t len = e.thumb_len;
    hm_engine_t *eng = atomic_load(&c->e);
    if (!hmd_recent_visible(&vis, e.brand) || (ref && n >= e.n_matches)) {
        free(jpg);
        return s_text(conn, MHD_HTTP_NOT_FOUND, "not found\n");
    }
    if (ref && (!eng || hm_engine_ref_thumb(eng, e.m[n].ref, &jpg, &len) != 0))
        jpg = NULL;
    if (!jpg)
        return s_text(conn, MHD_HTTP_NOT_FOUND, "no image kept\n");
    return s_send(conn, MHD_HTTP_OK, "image/jpeg", jpg, len, free, NULL, NULL);
}

/* ---- dispatch ---- */

static MHD_Result_t s_route(hmd_console_t *c, struct MHD_Connection *conn, const char *url,
                            int post, s_post_t *p)
{
    if (p && (p->too_big || p->bad))
        return s_text(conn, MHD_HTTP_CONTENT_TOO_LARGE, "request too large\n");
    if (!post) {
        const hmd_asset_t *a = hmd_asset_find(url);
        if (a)
            return s_send(conn, MHD_HTTP_OK, a->type, (void *)a->body, strlen(a->body), NULL, NULL, NULL);
    }
    if (strcmp(url, "/login") == 0)
        return post ? s_login_post(c, conn, p) : s_login_page(conn, MHD_HTTP_OK, NULL);
    int known = !strcmp(url, "/") || !strcmp(url, "/queue") || !strcmp(url, "/logout") ||
                !strncmp(url, "/v/", 3) || !strncmp(url, "/img/q/", 7) || !strncmp(url, "/img/r/", 7);
    if (!known)
        return s_text(conn, MHD_HTTP_NOT_FOUND, "not found\n");
    hmd_session_view_t sv;
    if (s_session(c, conn, &sv) != 0)
        return post ? s_text(conn, MHD_HTTP_FORBIDDEN, "not logged in\n")
                    : s_redirect(conn, "/login", NULL);
    /* Every action needs the session's CSRF token in the form. */
    if (post && !hmd_auth_token_eq(sv.csrf, p->csrf))
        return s_error(conn, MHD_HTTP_FORBIDDEN, &sv, "Invalid or missing CSRF token.");
    if (!strcmp(url, "/logout") && post) {
        hmd_auth_logout(c->auth, MHD_lookup_connection_value(conn, MHD_COOKIE_KIND, "hm_session"));
        return s_redirect(conn, "/login", "hm_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    }
    if (post) {
        const char *id = url + 3, *tail = strrchr(url, '/');
        if (strncmp(url, "/v/", 3) != 0 || !tail || strcmp(tail, "/decide") != 0 ||
            (size_t)(tail - id) >= HMD_VID_MAX || tail == id)
            return s_text(conn, MHD_HTTP_NOT_FOUND, "not found\n");
        char vid[HMD_VID_MAX];
        memcpy(vid, id, (size_t)(tail - id));
        vid[tail - id] = '\0';
        return s_decide(c, conn, &sv, vid, p);
    }
    if (!strcmp(url, "/") )
        return s_redirect(conn, "/queue", NULL);
    if (!strcmp(url, "/queue"))
        return s_queue(c, conn, &sv);
    if (!strncmp(url, "/img/q/", 7))
        return s_image(c, conn, &sv, url + 7, 0);
    if (!strncmp(url, "/img/r/", 7))
        return s_image(c, conn, &sv, url + 7, 1);
    if (!strncmp(url, "/v/", 3) && strlen(url + 3) < HMD_VID_MAX && !strchr(url + 3, '/'))
        return s_verdict(c, conn, &sv, url + 3, NULL);
    return s_text(conn, MHD_HTTP_NOT_FOUND, "not found\n");
}

int hmd_console_handle(hmd_console_t *c, void *connection, const char *url, const char *method,
                       const char *upload, size_t *upload_size, void **con_cls)
{
    struct MHD_Connection *conn = connection;
    int post = strcmp(method, "POST") == 0;
    if (!post && strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return s_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
    if (!post)
        return s_route(c, conn, url, 0, NULL);
    s_post_t *p = *con_cls;
    if (!p) {
        /* First call: headers only.  Refuse what is declared too big before
         * reading a byte of it. */
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > HMD_CONSOLE_MAX_BODY)
            return s_text(conn, MHD_HTTP_CONTENT_TOO_LARGE, "request too large\n");
        if (!(p = calloc(1, sizeof *p)))
            return MHD_NO;
        *con_cls = p;
        p->pp = MHD_create_post_processor(conn, 1024, s_post_field, p);
        if (!p->pp)
            return s_text(conn, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
                          "expected application/x-www-form-urlencoded\n");
        return MHD_YES;
    }
    if (*upload_size) {
        p->body += *upload_size;
        if (p->body > HMD_CONSOLE_MAX_BODY)
            p->too_big = 1;
        if (!p->too_big && !p->bad && MHD_post_process(p->pp, upload, *upload_size) != MHD_YES)
            p->bad = 1;
        *upload_size = 0;
        return MHD_YES;
    }
    if (!p->pp)
        return MHD_NO;
    return s_route(c, conn, url, 1, p);
}
