/*
 * hm_cli_progress.h - progress reporting for long runs (hallmark backfill).
 *
 * On a terminal (stderr is a tty): one bar redrawn in place with \r,
 *   [#########...........]  1200/2936  41%  38.5 img/s  ETA 45s  errors 2
 * Otherwise (a log file, a pipe): one plain key=value line per interval,
 *   progress done=1200 total=2936 pct=40.9 rate=38.5 eta_s=45 errors=2
 * so logs stay greppable and never fill with carriage returns.
 *
 * Thread safety: one thread at a time (the pool's emit callback).
 */
#ifndef HM_CLI_PROGRESS_H
#define HM_CLI_PROGRESS_H

#include <stddef.h>

enum hm_cli_progress_mode {
    HM_PROGRESS_AUTO = 0, /* bar when stderr is a terminal, else lines */
    HM_PROGRESS_BAR = 1,
    HM_PROGRESS_LINES = 2,
    HM_PROGRESS_NONE = 3
};

typedef struct hm_cli_progress {
    int mode;             /* resolved: BAR, LINES or NONE */
    size_t total;
    double t0, last;      /* start, last draw (monotonic seconds) */
    double interval;      /* seconds between draws */
    int drawn;            /* a bar is on screen (needs a final newline) */
} hm_cli_progress_t;

/* mode: enum hm_cli_progress_mode; interval <= 0: 0.1 s for a bar, 2 s for
 * lines. */
void hm_cli_progress_init(hm_cli_progress_t *p, int mode, size_t total, double interval);
/* Report done of total with errors so far; draws when the interval passed. */
void hm_cli_progress_update(hm_cli_progress_t *p, size_t done, size_t errors);
/* The final state, always drawn (then a newline for a bar). */
void hm_cli_progress_end(hm_cli_progress_t *p, size_t done, size_t errors);
/* Parse "auto", "bar", "lines", "none"; -1 when unknown. */
int hm_cli_progress_parse(const char *s);

#endif
