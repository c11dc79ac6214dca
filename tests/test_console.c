/*
 * test_console.c - the review console (suite "console"): accounts and
 * sessions, CSRF, rights-holder filtering, escaping, request bounds, 404s,
 * the retention ring; in process, over real HTTP on a free loopback port.
 * The last test runs the browser end-to-end test (tests/e2e/console.mjs,
 * Chromium through playwright-core) when HM_E2E=1 (`make test`, plain build).
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hm_engine.h"
#include "hm_error.h"
#include "hmd_auth.h"
#include "hmd_console.h"
#include "hmd_http.h"
#include "hmd_recent.h"
#include "test_util.h"

static char *s_tmp;
static hm_engine_t *s_e;
static hmd_auth_t *s_auth;
static hmd_recent_t *s_recent;
static hmd_console_t *s_con;
static hmd_http_t *s_http;
static int s_port;

/* A verdict with one matched reference of brand (no image bytes). */
static void s_verdict(hm_verdict_t *v, int decision, const char *brand)
{
    memset(v, 0, sizeof *v);
    v->decision = decision;
    v->score = 0.9;
    v->reason = "test";
    v->n_matches = 1;
    snprintf(v->matches[0].ref, sizeof v->matches[0].ref, "ref-%s", brand);
    snprintf(v->matches[0].brand, sizeof v->matches[0].brand, "%s", brand);
    v->matches[0].bank = HM_BANK_GENUINE;
    v->matches[0].signal = "pdq";
    v->matches[0].variant = "original";
    v->matches[0].matched = 1;
}

static void s_setup(void)
{
    s_tmp = tu_tmpdir();
    char db[4200];
    snprintf(db, sizeof db, "%s/db", s_tmp);
    hm_engine_opts_t eo = { .strike_limit = 3, .nosync = 1 };
    ck_assert_int_eq(hm_engine_open(&s_e, db, &eo), 0);
    ck_assert_int_eq(hmd_auth_new(&s_auth, NULL), 0);
    char *h = hmd_auth_hash_password("right horse");
    ck_assert_ptr_nonnull(h);
    const char *acme[] = { "Acme" };
    ck_assert_int_eq(hmd_auth_add(s_auth, "rev", HMD_ROLE_REVIEWER, h, NULL, 0), 0);
    ck_assert_int_eq(hmd_auth_add(s_auth, "acme", HMD_ROLE_HOLDER, h, acme, 1), 0);
    ck_assert_int_eq(hmd_auth_add(s_auth, "nobrand", HMD_ROLE_HOLDER, h, NULL, 0), HM_E_INVAL);
    free(h);
    ck_assert_int_eq(hmd_recent_new(&s_recent, 100, 1 << 20, 0), 0);
    ck_assert_int_eq(hmd_console_new(&s_con, s_recent, s_auth, NULL), 0);
    hmd_console_set_engine(s_con, s_e);
    ck_assert_int_eq(hmd_http_start(&s_http, "127.0.0.1:0", NULL, s_e, s_con), 0);
    s_port = hmd_http_port(s_http);
    ck_assert_int_gt(s_port, 0);
}

static void s_teardown(void)
{
    hmd_http_stop(&s_http);
    hmd_console_free(&s_con);
    hmd_recent_free(&s_recent);
    hmd_auth_free(&s_auth);
    hm_engine_close(&s_e);
    tu_rmtree(s_tmp);
    free(s_tmp);
}

/* One HTTP/1.0 exchange; *resp gets headers + body (malloc).  @return the
 * status code, or -1. */
static int s_req(const char *method, const char *path, const char *cookie, const char *body,
                 char **resp)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)s_port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    size_t blen = body ? strlen(body) : 0;
    char *head = malloc(65536);
    int n = snprintf(head, 65536,
                     "%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\n%s%s%s%s"
                     "Content-Length: %zu\r\n\r\n",
                     method, path, cookie ? "Cookie: " : "", cookie ? cookie : "", cookie ? "\r\n" : "",
                     body ? "Content-Type: application/x-www-form-urlencoded\r\n" : "", blen);
    ck_assert_int_lt(n, 65536);
    ck_assert_int_eq(write(fd, head, (size_t)n), n);
    free(head);
    for (size_t off = 0; off < blen;) {
        ssize_t w = write(fd, body + off, blen - off);
        if (w <= 0)
            break; /* the server may refuse early and close */
        off += (size_t)w;
    }
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap + 1);
    ssize_t r;
    while ((r = read(fd, buf + len, cap - len)) > 0) {
        len += (size_t)r;
        if (len == cap) {
            cap *= 2;
            buf = realloc(buf, cap + 1);
        }
    }
    close(fd);
    buf[len] = '\0';
    int status = -1;
    sscanf(buf, "HTTP/1.%*d %d", &status);
    if (resp)
        *resp = buf;
    else
        free(buf);
    return status;
}

/* The value of cookie name in a response's Set-Cookie, into out. */
static int s_cookie(const char *resp, const char *name, char *out, size_t cap)
{
    char pat[64];
    snprintf(pat, sizeof pat, "Set-Cookie: %s=", name);
    const char *p = strstr(resp, pat);
    if (!p)
        return 0;
    p += strlen(pat);
    size_t n = strcspn(p, ";\r\n");
    snprintf(out, cap, "%.*s", (int)n, p);
    return 1;
}

/* The first hidden csrf field's value. */
static int s_csrf(const char *resp, char *out, size_t cap)
{
    const char *p = strstr(resp, "name=\"csrf\" value=\"");
    if (!p)
        return 0;
    p += strlen("name=\"csrf\" value=\"");
    snprintf(out, cap, "%.*s", (int)strcspn(p, "\""), p);
    return 1;
}

/* Log in; returns the status of POST /login and the Cookie header value. */
static int s_login(const char *user, const char *pw, char *cookie, size_t cap, char **resp_out)
{
    char *resp, pre[128], tok[128], body[512];
    ck_assert_int_eq(s_req("GET", "/login", NULL, NULL, &resp), 200);
    ck_assert(s_cookie(resp, "hm_login", pre, sizeof pre));
    ck_assert(s_csrf(resp, tok, sizeof tok));
    free(resp);
    char c[200];
    snprintf(c, sizeof c, "hm_login=%s", pre);
    snprintf(body, sizeof body, "csrf=%s&user=%s&password=%s", tok, user, pw);
    int st = s_req("POST", "/login", c, body, &resp);
    char sess[128] = "";
    if (s_cookie(resp, "hm_session", sess, sizeof sess))
        snprintf(cookie, cap, "hm_session=%s", sess);
    else
        cookie[0] = '\0';
    if (resp_out)
        *resp_out = resp;
    else
        free(resp);
    return st;
}

START_TEST(login)
{
    char cookie[200], *resp;
    ck_assert_int_eq(s_login("rev", "wrong+horse", cookie, sizeof cookie, NULL), 401);
    ck_assert_str_eq(cookie, "");
    ck_assert_int_eq(s_login("ghost", "right+horse", cookie, sizeof cookie, NULL), 401);
    ck_assert_int_eq(s_login("rev", "right+horse", cookie, sizeof cookie, &resp), 303);
    /* The session cookie: HttpOnly, SameSite=Strict, whole site. */
    const char *sc = strstr(resp, "Set-Cookie: hm_session=");
    ck_assert_ptr_nonnull(sc);
    char line[300];
    snprintf(line, sizeof line, "%.*s", (int)strcspn(sc, "\r\n"), sc);
    ck_assert_ptr_nonnull(strstr(line, "; HttpOnly"));
    ck_assert_ptr_nonnull(strstr(line, "; SameSite=Strict"));
    ck_assert_ptr_nonnull(strstr(line, "; Path=/"));
    ck_assert_ptr_nonnull(strstr(resp, "Location: /queue"));
    free(resp);
    ck_assert_int_eq(s_req("GET", "/queue", cookie, NULL, &resp), 200);
    ck_assert_ptr_nonnull(strstr(resp, "Content-Security-Policy: default-src 'none'"));
    ck_assert_ptr_nonnull(strstr(resp, "rev (reviewer)"));
    free(resp);
    /* No or a forged session: back to the login page. */
    ck_assert_int_eq(s_req("GET", "/queue", NULL, NULL, NULL), 303);
    ck_assert_int_eq(s_req("GET", "/queue", "hm_session=0000000000000000000000000000000000000000000000000000000000000000",
                           NULL, NULL), 303);
}
END_TEST

START_TEST(csrf)
{
    hm_verdict_t v;
    s_verdict(&v, HM_DEC_SUSPECT, "Acme");
    char id[HMD_VID_MAX], cookie[200], *resp, tok[128], path[128], body[256];
    ck_assert_int_eq(hmd_recent_add(s_recent, &v, "s1", "Acme", "l1", "1", NULL, 0, id), 0);
    /* Login without the pre-session token is refused. */
    ck_assert_int_eq(s_req("POST", "/login", NULL, "user=rev&password=right+horse", NULL), 403);
    ck_assert_int_eq(s_login("rev", "right+horse", cookie, sizeof cookie, NULL), 303);
    snprintf(path, sizeof path, "/v/%s/decide", id);
    ck_assert_int_eq(s_req("POST", path, cookie, "action=confirm&note=x", &resp), 403);
    ck_assert_ptr_nonnull(strstr(resp, "CSRF"));
    free(resp);
    ck_assert_int_eq(s_req("POST", path, cookie,
                           "csrf=1111111111111111111111111111111111111111111111111111111111111111&action=confirm",
                           NULL), 403);
    ck_assert_int_eq(s_req("POST", "/logout", cookie, "", NULL), 403);
    /* With the token the request gets through CSRF (then fails: no image). */
    snprintf(path, sizeof path, "/v/%s", id);
    ck_assert_int_eq(s_req("GET", path, cookie, NULL, &resp), 200);
    ck_assert(s_csrf(resp, tok, sizeof tok));
    free(resp);
    snprintf(path, sizeof path, "/v/%s/decide", id);
    snprintf(body, sizeof body, "csrf=%s&action=confirm", tok);
    ck_assert_int_eq(s_req("POST", path, cookie, body, NULL), 409);
    /* Log out ends the session. */
    snprintf(body, sizeof body, "csrf=%s", tok);
    ck_assert_int_eq(s_req("POST", "/logout", cookie, body, NULL), 303);
    ck_assert_int_eq(s_req("GET", "/queue", cookie, NULL, NULL), 303);
}
END_TEST

START_TEST(holder_filter)
{
    hm_verdict_t v;
    char acme_id[HMD_VID_MAX], other_id[HMD_VID_MAX], cookie[200], *resp, path[128], body[256], tok[128];
    s_verdict(&v, HM_DEC_SUSPECT, "Acme");
    ck_assert_int_eq(hmd_recent_add(s_recent, &v, "s1", "Acme", "acme-listing", "1", NULL, 0, acme_id), 0);
    s_verdict(&v, HM_DEC_COUNTERFEIT, "Other");
    ck_assert_int_eq(hmd_recent_add(s_recent, &v, "s2", "Other", "other-listing", "1", NULL, 0, other_id), 0);
    ck_assert_int_eq(s_login("acme", "right+horse", cookie, sizeof cookie, NULL), 303);
    ck_assert_int_eq(s_req("GET", "/queue", cookie, NULL, &resp), 200);
    ck_assert_ptr_nonnull(strstr(resp, "acme-listing"));
    ck_assert_ptr_null(strstr(resp, "other-listing"));
    free(resp);
    /* Filters cannot widen the view. */
    ck_assert_int_eq(s_req("GET", "/queue?brand=Other", cookie, NULL, &resp), 200);
    ck_assert_ptr_null(strstr(resp, "other-listing"));
    free(resp);
    snprintf(path, sizeof path, "/v/%s", other_id);
    ck_assert_int_eq(s_req("GET", path, cookie, NULL, NULL), 404);
    snprintf(path, sizeof path, "/img/q/%s", other_id);
    ck_assert_int_eq(s_req("GET", path, cookie, NULL, NULL), 404);
    /* Its own verdict: visible, but no decision form, and deciding is refused. */
    snprintf(path, sizeof path, "/v/%s", acme_id);
    ck_assert_int_eq(s_req("GET", path, cookie, NULL, &resp), 200);
    ck_assert_ptr_null(strstr(resp, "/decide"));
    ck_assert(s_csrf(resp, tok, sizeof tok));
    free(resp);
    snprintf(path, sizeof path, "/v/%s/decide", acme_id);
    snprintf(body, sizeof body, "csrf=%s&action=confirm", tok);
    ck_assert_int_eq(s_req("POST", path, cookie, body, NULL), 403);
    /* A reviewer sees both. */
    ck_assert_int_eq(s_login("rev", "right+horse", cookie, sizeof cookie, NULL), 303);
    ck_assert_int_eq(s_req("GET", "/queue", cookie, NULL, &resp), 200);
    ck_assert_ptr_nonnull(strstr(resp, "acme-listing"));
    ck_assert_ptr_nonnull(strstr(resp, "other-listing"));
    free(resp);
    ck_assert_int_eq(s_req("GET", "/queue?decision=counterfeit", cookie, NULL, &resp), 200);
    ck_assert_ptr_null(strstr(resp, "acme-listing"));
    ck_assert_ptr_nonnull(strstr(resp, "other-listing"));
    free(resp);
}
END_TEST

START_TEST(escaping)
{
    hm_verdict_t v;
    char id[HMD_VID_MAX], cookie[200], *resp, path[128];
    s_verdict(&v, HM_DEC_SUSPECT, "Acme");
    ck_assert_int_eq(hmd_recent_add(s_recent, &v, "s\"1'", "Acme", "<script>alert(1)</script>", "1",
                                    NULL, 0, id), 0);
    ck_assert_int_eq(s_login("rev", "right+horse", cookie, sizeof cookie, NULL), 303);
    ck_assert_int_eq(s_req("GET", "/queue?seller=%22%3E%3Cb%3E", cookie, NULL, &resp), 200);
    ck_assert_ptr_null(strstr(resp, "\"><b>"));
    ck_assert_ptr_nonnull(strstr(resp, "&quot;&gt;&lt;b&gt;"));
    free(resp);
    ck_assert_int_eq(s_req("GET", "/queue", cookie, NULL, &resp), 200);
    ck_assert_ptr_null(strstr(resp, "<script>alert"));
    ck_assert_ptr_nonnull(strstr(resp, "&lt;script&gt;alert(1)&lt;/script&gt;"));
    ck_assert_ptr_nonnull(strstr(resp, "s&quot;1&apos;"));
    free(resp);
    snprintf(path, sizeof path, "/v/%s", id);
    ck_assert_int_eq(s_req("GET", path, cookie, NULL, &resp), 200);
    ck_assert_ptr_null(strstr(resp, "<script>alert"));
    ck_assert_ptr_nonnull(strstr(resp, "&lt;script&gt;alert(1)&lt;/script&gt;"));
    free(resp);
}
END_TEST

START_TEST(bounds_and_404)
{
    char cookie[200], *resp;
    ck_assert_int_eq(s_login("rev", "right+horse", cookie, sizeof cookie, NULL), 303);
    /* A body over HMD_CONSOLE_MAX_BODY is refused before it is read. */
    size_t n = HMD_CONSOLE_MAX_BODY + 100;
    char *big = malloc(n + 1);
    memset(big, 'a', n);
    memcpy(big, "note=", 5);
    big[n] = '\0';
    ck_assert_int_eq(s_req("POST", "/v/x-1/decide", cookie, big, NULL), 413);
    /* A field over its bound too (the body itself is small enough). */
    char note[2100] = "note=";
    memset(note + 5, 'b', 2000);
    note[2005] = '\0';
    ck_assert_int_eq(s_req("POST", "/v/x-1/decide", cookie, note, NULL), 413);
    /* Headers beyond the connection memory limit. */
    char *hc = malloc(40000);
    snprintf(hc, 40000, "%s; pad=", cookie);
    size_t l = strlen(hc);
    memset(hc + l, 'c', 39000 - l);
    hc[39000] = '\0';
    int st = s_req("GET", "/queue", hc, NULL, NULL);
    ck_assert_msg(st >= 400 || st == -1, "status %d", st);
    free(hc);
    free(big);
    /* Unknown paths, traversal attempts, other methods. */
    ck_assert_int_eq(s_req("GET", "/nope", cookie, NULL, NULL), 404);
    ck_assert_int_eq(s_req("GET", "/static/../../etc/passwd", cookie, NULL, NULL), 404);
    ck_assert_int_eq(s_req("GET", "/static/console.cs", NULL, NULL, NULL), 404);
    ck_assert_int_eq(s_req("GET", "/v/none-1", cookie, NULL, NULL), 404);
    ck_assert_int_eq(s_req("GET", "/img/r/none-1/9", cookie, NULL, NULL), 404);
    ck_assert_int_eq(s_req("DELETE", "/queue", cookie, NULL, NULL), 405);
    ck_assert_int_eq(s_req("GET", "/static/console.css", NULL, NULL, &resp), 200);
    ck_assert_ptr_nonnull(strstr(resp, "text/css"));
    free(resp);
}
END_TEST

START_TEST(retention)
{
    hmd_recent_t *r = NULL;
    hm_verdict_t v;
    char first[HMD_VID_MAX], id[HMD_VID_MAX];
    ck_assert_int_eq(hmd_recent_new(&r, 3, 1 << 20, 0), 0);
    s_verdict(&v, HM_DEC_UNKNOWN, "Acme");
    ck_assert_int_eq(hmd_recent_add(r, &v, "s", "Acme", "u", "1", NULL, 0, id), 0);
    ck_assert_str_eq(id, ""); /* unknown is not kept */
    s_verdict(&v, HM_DEC_GENUINE, "Acme");
    ck_assert_int_eq(hmd_recent_add(r, &v, "s", "Acme", "g", "1", NULL, 0, id), 0);
    ck_assert_str_eq(id, ""); /* nor genuine, unless asked */
    s_verdict(&v, HM_DEC_SUSPECT, "Acme");
    ck_assert_int_eq(hmd_recent_add(r, &v, "s", "Acme", "l0", "1", NULL, 0, first), 0);
    for (int i = 1; i < 5; i++) {
        char l[8];
        snprintf(l, sizeof l, "l%d", i);
        ck_assert_int_eq(hmd_recent_add(r, &v, "s", "Acme", l, "1", NULL, 0, id), 0);
    }
    int count;
    hmd_recent_usage(r, &count, NULL);
    ck_assert_int_eq(count, 3);
    hmd_recent_entry_t e[5];
    int total;
    ck_assert_int_eq(hmd_recent_list(r, NULL, 0, e, 5, &total), 3);
    ck_assert_str_eq(e[0].listing, "l4"); /* newest first */
    ck_assert_str_eq(e[2].listing, "l2"); /* l0, l1 dropped */
    ck_assert_int_eq(hmd_recent_get(r, first, &e[0], 0, 0), HM_E_NOTFOUND);
    hmd_recent_free(&r);
    /* The byte bound: entries with images drop the oldest too. */
    ck_assert_int_eq(hmd_recent_new(&r, 1000, 65536 * 4, 0), 0);
    char *img = calloc(1, 50000);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(hmd_recent_add(r, &v, "s", "Acme", "l", "1", img, 50000, id), 0);
    size_t bytes;
    hmd_recent_usage(r, &count, &bytes);
    ck_assert_uint_le(bytes, 65536 * 4);
    ck_assert_int_lt(count, 10);
    ck_assert_int_ge(count, 1);
    free(img);
    hmd_recent_free(&r);
}
END_TEST

/* The browser test: node + playwright-core + Debian's chromium. */
START_TEST(e2e_browser)
{
    const char *on = getenv("HM_E2E");
    if (!on || strcmp(on, "1") != 0) {
        fprintf(stderr, "console e2e_browser: not run (HM_E2E=1 enables it; `make test` does in "
                        "the plain build)\n");
        return;
    }
    int st = system("node tests/e2e/console.mjs");
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "tests/e2e/console.mjs failed (%d)", st);
}
END_TEST

Suite *hm_suite_console(void)
{
    Suite *s = suite_create("console");
    TCase *tc = tcase_create("http");
    tcase_add_checked_fixture(tc, s_setup, s_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, login);
    tcase_add_test(tc, csrf);
    tcase_add_test(tc, holder_filter);
    tcase_add_test(tc, escaping);
    tcase_add_test(tc, bounds_and_404);
    suite_add_tcase(s, tc);
    TCase *tr = tcase_create("retention");
    tcase_add_test(tr, retention);
    suite_add_tcase(s, tr);
    TCase *te = tcase_create("e2e");
    tcase_set_timeout(te, 240);
    tcase_add_test(te, e2e_browser);
    suite_add_tcase(s, te);
    return s;
}
