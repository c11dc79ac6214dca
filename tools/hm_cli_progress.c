/* hm_cli_progress.c - a terminal bar or periodic log lines (see the header). */
#include "hm_cli_progress.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "hm_cli_util.h"

int hm_cli_progress_parse(const char *s)
{
    static const char *const names[] = { "auto", "bar", "lines", "none" };
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

void hm_cli_progress_init(hm_cli_progress_t *p, int mode, size_t total, double interval)
{
    memset(p, 0, sizeof *p);
    if (mode == HM_PROGRESS_AUTO)
        mode = isatty(STDERR_FILENO) ? HM_PROGRESS_BAR : HM_PROGRESS_LINES;
    p->mode = mode;
    p->total = total;
    p->t0 = hm_cli_now();
    p->last = p->t0;
    p->interval = interval > 0 ? interval : mode == HM_PROGRESS_BAR ? 0.1 : 2.0;
}

static void s_eta(char *buf, size_t cap, double s)
{
    if (s < 0 || s > 1e7)
        snprintf(buf, cap, "?");
    else if (s < 60)
        snprintf(buf, cap, "%.0fs", s);
    else if (s < 3600)
        snprintf(buf, cap, "%dm%02ds", (int)s / 60, (int)s % 60);
    else
        snprintf(buf, cap, "%dh%02dm", (int)s / 3600, ((int)s % 3600) / 60);
}

static void s_draw(hm_cli_progress_t *p, size_t done, size_t errors, int final)
{
    double el = hm_cli_now() - p->t0;
    double rate = el > 0 ? (double)done / el : 0;
    double eta = rate > 0 ? (double)(p->total - (done < p->total ? done : p->total)) / rate : -1;
    double pct = p->total ? 100.0 * (double)done / (double)p->total : 100.0;
    if (p->mode == HM_PROGRESS_BAR) {
        char bar[31], es[32];
        int fill = (int)(pct * 30 / 100);
        for (int i = 0; i < 30; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[30] = 0;
        s_eta(es, sizeof es, eta);
        /* \033[K clears what a longer previous line left behind. */
        fprintf(stderr, "\r[%s] %zu/%zu %3.0f%% %.1f img/s ETA %s errors %zu\033[K%s", bar, done,
                p->total, pct, rate, final ? "0s" : es, errors, final ? "\n" : "");
        p->drawn = !final;
    } else if (p->mode == HM_PROGRESS_LINES) {
        fprintf(stderr, "progress done=%zu total=%zu pct=%.1f rate=%.1f eta_s=%.0f errors=%zu%s\n",
                done, p->total, pct, rate, final ? 0.0 : eta, errors, final ? " final=1" : "");
    }
    fflush(stderr);
}

void hm_cli_progress_update(hm_cli_progress_t *p, size_t done, size_t errors)
{
    if (p->mode == HM_PROGRESS_NONE)
        return;
    double now = hm_cli_now();
    if (now - p->last < p->interval)
        return;
    p->last = now;
    s_draw(p, done, errors, 0);
}

void hm_cli_progress_end(hm_cli_progress_t *p, size_t done, size_t errors)
{
    if (p->mode != HM_PROGRESS_NONE)
        s_draw(p, done, errors, 1);
}
