/* hmd_html.c - escaping helpers over GLib, and the page frame. */
#include "hmd_html.h"

#include <stdarg.h>
#include <string.h>

void hmd_html_esc(GString *g, const char *s)
{
    gchar *e = g_markup_escape_text(s ? s : "", -1);
    g_string_append(g, e);
    g_free(e);
}

void hmd_html_uri(GString *g, const char *s)
{
    gchar *e = g_uri_escape_string(s ? s : "", NULL, FALSE);
    g_string_append(g, e);
    g_free(e);
}

/* A small printf: walks fmt, copies literal text, and formats one conversion
 * at a time so that every string argument is escaped.  Only the conversions
 * the console uses are accepted; anything else is a programming error and
 * is written as "?" rather than guessed at. */
void hmd_html_printf(GString *g, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    for (const char *p = fmt; *p; p++) {
        if (*p != '%') {
            g_string_append_c(g, *p);
            continue;
        }
        p++;
        if (*p == 's')
            hmd_html_esc(g, va_arg(ap, const char *));
        else if (*p == 'd')
            g_string_append_printf(g, "%d", va_arg(ap, int));
        else if (*p == 'u')
            g_string_append_printf(g, "%u", va_arg(ap, unsigned));
        else if (strncmp(p, "lld", 3) == 0) {
            g_string_append_printf(g, "%lld", va_arg(ap, long long));
            p += 2;
        } else if (strncmp(p, ".2f", 3) == 0 || strncmp(p, ".3f", 3) == 0) {
            g_string_append_printf(g, p[1] == '2' ? "%.2f" : "%.3f", va_arg(ap, double));
            p += 2;
        } else if (*p == '%')
            g_string_append_c(g, '%');
        else {
            g_string_append_c(g, '?');
            if (!*p)
                break;
        }
    }
    va_end(ap);
}

void hmd_html_begin(GString *g, const char *title, const char *user, const char *role,
                    const char *csrf)
{
    hmd_html_printf(g,
                    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                    "<title>%s - hallmark review</title>"
                    "<link rel=\"stylesheet\" href=\"/static/console.css\">"
                    "<script src=\"/static/console.js\" defer></script></head><body>"
                    "<header><a class=\"brand\" href=\"/queue\">hallmark review</a>",
                    title);
    if (user && csrf)
        hmd_html_printf(g,
                        "<span class=\"who\">%s (%s)</span>"
                        "<form method=\"post\" action=\"/logout\" class=\"inline\">"
                        "<input type=\"hidden\" name=\"csrf\" value=\"%s\">"
                        "<button type=\"submit\">Log out</button></form>",
                        user, role, csrf);
    g_string_append(g, "</header><main>");
}

void hmd_html_end(GString *g)
{
    g_string_append(g, "</main></body></html>\n");
}
