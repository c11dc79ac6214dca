/*
 * hmd_html.h - building the console's HTML safely.
 *
 * No template engine: pages are GLib GStrings, and every value that did not
 * come from a string literal in hmd_console.c goes through one of the
 * escaping helpers below, which wrap GLib's maintained escapers:
 *   text and attribute values  g_markup_escape_text()  (& < > ' ")
 *   URL query components       g_uri_escape_string()   (RFC 3986)
 * Debian 12 has no C (not C++) template library; a hand-rolled one is what the
 * project wants to avoid, and GLib is already linked (through libvips).
 *
 * Thread safety: plain functions on the caller's GString.
 */
#ifndef HMD_HTML_H
#define HMD_HTML_H

#include <glib.h>

/* Append s (NULL = "") escaped for HTML text or a quoted attribute value. */
void hmd_html_esc(GString *g, const char *s);
/* printf into g, every %s argument escaped first ("%s" only; numbers via %d,
 * %u, %lld, %.2f, %.3f are passed through, since they cannot carry markup). */
void hmd_html_printf(GString *g, const char *fmt, ...);
/* Append s escaped as a URL query component or path segment. */
void hmd_html_uri(GString *g, const char *s);

/* The page head (title escaped) and the navigation for user (escaped);
 * csrf is the session's token for the log-out form, NULL on the login page. */
void hmd_html_begin(GString *g, const char *title, const char *user, const char *role,
                    const char *csrf);
void hmd_html_end(GString *g);

#endif
