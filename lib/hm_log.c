/* hm_log.c - key=value log lines on stderr, one write(2) per line. */
#include "hm_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *const s_names[] = { "error", "warn", "info", "debug" };

static int s_initial_level(void)
{
    const char *env = getenv("HM_LOG");
    int lv = env ? hm_log_parse_level(env) : -1;
    return lv < 0 ? HM_LOG_INFO : lv;
}

int hm__log_level = HM_LOG_INFO;

__attribute__((constructor)) static void s_log_init(void)
{
    hm__log_level = s_initial_level();
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

void hm__log(int level, const char *event, const char *fmt, ...)
{
    char line[1024];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line,
                     "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s event=%s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000L,
                     s_names[level < 0 ? 0 : level > 3 ? 3 : level], event);
    if (n < 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}
