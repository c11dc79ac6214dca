/*
 * hm_log.c - key=value log lines on stderr, one write(2) per line.
 *
 * The format string is the caller's; its conversions are formatted here one
 * by one, so every string value can be escaped: a peer's text never ends a
 * line or closes a quote early.
 */
#include "hm_log.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "hm_util.h"

static const char *const s_names[] = { "error", "warn", "info", "debug" };
/* sd-daemon(3)'s line prefixes (SD_ERR, SD_WARNING, SD_INFO, SD_DEBUG): the
 * syslog priorities 3, 4, 6 and 7 in angle brackets.  Spelled out here because
 * lib/ may not include libsystemd's headers (the layering of the Makefile). */
static const char *const s_prio[] = { "<3>", "<4>", "<6>", "<7>" };

static int s_initial_level(void)
{
    const char *env = getenv("HM_LOG");
    int lv = env ? hm_log_parse_level(env) : -1;
    return lv < 0 ? HM_LOG_INFO : lv;
}

int hm__log_level = HM_LOG_INFO;
static int s_journal; /* stderr is journald's stream: prefix "<N>" */

int hm_log_detect_journal(void)
{
    const char *env = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;
    int on = env && sscanf(env, "%llu:%llu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) == 0 &&
             (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
    __atomic_store_n(&s_journal, on, __ATOMIC_RELAXED);
    return on;
}

__attribute__((constructor)) static void s_log_init(void)
{
    hm__log_level = s_initial_level();
    hm_log_detect_journal();
}

int hm_log_set_level(int level)
{
    if (level >= HM_LOG_ERROR && level <= HM_LOG_DEBUG)
        return __atomic_exchange_n(&hm__log_level, level, __ATOMIC_RELAXED);
    return __atomic_load_n(&hm__log_level, __ATOMIC_RELAXED);
}

int hm_log_parse_level(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (name && strcmp(name, s_names[i]) == 0)
            return i;
    return -1;
}

/* ---- the line buffer ---- */

typedef struct {
    char *p;
    size_t n, cap; /* cap leaves room for the final '\n' */
} s_buf_t;

static void s_put(s_buf_t *b, const char *s, size_t n)
{
    if (n > b->cap - b->n)
        n = b->cap - b->n;
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

static void s_putc(s_buf_t *b, char c) { s_put(b, &c, 1); }

/* The length of the valid UTF-8 sequence at s (at most n bytes), 0 if none. */
static size_t s_utf8(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    if (!len || len > n)
        return 0;
    unsigned lo = c == 0xE0 ? 0xA0 : c == 0xF0 ? 0x90 : 0x80;
    unsigned hi = c == 0xED ? 0x9F : c == 0xF4 ? 0x8F : 0xBF;
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return len;
}

/* 1 when s must be quoted to stay one value (empty, blanks, '"', '=', '\',
 * control bytes, anything outside printable ASCII). */
static int s_needs_quotes(const char *s, size_t n)
{
    if (!n)
        return 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c >= 0x7f || c == '"' || c == '=' || c == '\\')
            return 1;
    }
    return 0;
}

/* s escaped for a quoted value: \" \\ \n \r \t, \xNN for other control
 * bytes and for bytes that are not valid UTF-8. */
static void s_escape(s_buf_t *b, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        unsigned c = u[i];
        char tmp[5];
        if (c >= 0x80) {
            size_t k = s_utf8(u + i, n - i);
            if (k) {
                s_put(b, s + i, k);
                i += k;
                continue;
            }
        }
        i++;
        if (c == '"' || c == '\\') {
            tmp[0] = '\\', tmp[1] = (char)c;
            s_put(b, tmp, 2);
        } else if (c == '\n' || c == '\r' || c == '\t') {
            tmp[0] = '\\', tmp[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
            s_put(b, tmp, 2);
        } else if (c < 0x20 || c >= 0x7f) {
            snprintf(tmp, sizeof tmp, "\\x%02x", c);
            s_put(b, tmp, 4);
        } else {
            s_putc(b, (char)c);
        }
    }
}

/* A string value: escaped inside the caller's quotes, or quoted here when
 * it would otherwise not stay one value. */
static void s_string(s_buf_t *b, const char *s, int prec, int quoted)
{
    if (!s)
        s = "(null)";
    size_t n = prec >= 0 ? strnlen(s, (size_t)prec) : strlen(s);
    if (quoted) {
        s_escape(b, s, n);
    } else if (s_needs_quotes(s, n)) {
        s_putc(b, '"');
        s_escape(b, s, n);
        s_putc(b, '"');
    } else {
        s_put(b, s, n);
    }
}

/* One numeric conversion: spec is "%<flags><width><.prec><length><conv>". */
static void s_number(s_buf_t *b, const char *spec, const char *len, char conv, va_list *ap)
{
    char tmp[128];
    int m = 0, sgn = conv == 'd' || conv == 'i';
    if (strchr("fFeEgGaA", conv))
        m = *len == 'L' ? snprintf(tmp, sizeof tmp, spec, va_arg(*ap, long double))
                        : snprintf(tmp, sizeof tmp, spec, va_arg(*ap, double));
    else if (conv == 'p')
        m = snprintf(tmp, sizeof tmp, spec, va_arg(*ap, void *));
    else if (!strcmp(len, "ll") || *len == 'j')
        m = sgn ? snprintf(tmp, sizeof tmp, spec, va_arg(*ap, long long))
                : snprintf(tmp, sizeof tmp, spec, va_arg(*ap, unsigned long long));
    else if (*len == 'l' || *len == 'z' || *len == 't')
        m = sgn ? snprintf(tmp, sizeof tmp, spec, va_arg(*ap, long))
                : snprintf(tmp, sizeof tmp, spec, va_arg(*ap, unsigned long));
    else
        m = sgn ? snprintf(tmp, sizeof tmp, spec, va_arg(*ap, int))
                : snprintf(tmp, sizeof tmp, spec, va_arg(*ap, unsigned));
    if (m > 0)
        s_put(b, tmp, (size_t)m < sizeof tmp ? (size_t)m : sizeof tmp - 1);
}

/* A width or precision at f: digits (capped) or '*' (taken from ap). */
static const char *s_count_arg(const char *f, va_list *ap, int *out)
{
    if (*f == '*') {
        *out = va_arg(*ap, int);
        return f + 1;
    }
    for (*out = 0; *f >= '0' && *f <= '9'; f++)
        *out = *out < 1000 ? *out * 10 + (*f - '0') : *out;
    return f;
}

/* printf's conversions, with every %s and %c value escaped. */
static void s_format(s_buf_t *b, const char *fmt, va_list *ap)
{
    for (const char *f = fmt; *f;) {
        if (*f != '%') {
            s_putc(b, *f++);
            continue;
        }
        const char *start = f++;
        if (*f == '%') {
            s_putc(b, '%');
            f++;
            continue;
        }
        char spec[48] = "%";
        size_t k = 1;
        while (*f && strchr("-+ #0", *f) && k < 8)
            spec[k++] = *f++;
        int width, prec = -1;
        f = s_count_arg(f, ap, &width);
        if (*f == '.')
            f = s_count_arg(f + 1, ap, &prec);
        char len[3] = "";
        for (size_t l = 0; l < 2 && *f && strchr("hljztL", *f); l++)
            len[l] = *f++;
        char conv = *f ? *f++ : '\0';
        if (conv == 's') {
            s_string(b, va_arg(*ap, const char *), prec, start > fmt && start[-1] == '"');
            continue;
        }
        if (conv == 'c') {
            char c = (char)va_arg(*ap, int);
            s_escape(b, &c, 1);
            continue;
        }
        if (!conv || !strchr("diouxXfFeEgGaAp", conv)) {
            s_put(b, start, (size_t)(f - start)); /* not a conversion we format */
            continue;
        }
        if (width > 0)
            k += (size_t)snprintf(spec + k, sizeof spec - k, "%d", width % 1000);
        if (prec >= 0)
            k += (size_t)snprintf(spec + k, sizeof spec - k, ".%d", prec);
        snprintf(spec + k, sizeof spec - k, "%s%c", len, conv);
        s_number(b, spec, len, conv, ap);
    }
}

void hm__log(int level, const char *event, const char *fmt, ...)
{
    char line[1024];
    s_buf_t b = { line, 0, sizeof line - 1 };
    int lv = level < 0 ? 0 : level > 3 ? 3 : level;
    if (__atomic_load_n(&s_journal, __ATOMIC_RELAXED))
        s_put(&b, s_prio[lv], 3);
    struct timespec ts = hm_wall_ts();
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char head[64];
    int n = snprintf(head, sizeof head, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s event=",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000L, s_names[lv]);
    if (n < 0)
        return;
    s_put(&b, head, (size_t)n < sizeof head ? (size_t)n : sizeof head - 1);
    s_string(&b, event, -1, 0);
    s_putc(&b, ' ');
    va_list ap;
    va_start(ap, fmt);
    s_format(&b, fmt, &ap);
    va_end(ap);
    line[b.n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, b.n);
    (void)w;
}
