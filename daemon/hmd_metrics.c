/* hmd_metrics.c - counters, latency histograms and their Prometheus text. */
#include "hmd_metrics.h"

#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hm_error.h"
#include "hm_util.h"

#ifndef HMD_VERSION
#define HMD_VERSION "0.1.0"
#endif

/* Bucket upper bounds in microseconds (rendered in seconds). */
static const uint64_t s_buckets_us[] = { 50, 100, 250, 500, 1000, 2500, 5000, 10000,
                                         25000, 50000, 100000, 250000, 500000, 1000000,
                                         2500000, 10000000 };
#define S_NB (sizeof s_buckets_us / sizeof s_buckets_us[0])
enum { STAGE_DECODE, STAGE_FP, STAGE_SEARCH, STAGE_LOCAL, STAGE_TOTAL, STAGE_COUNT };
/* "local": the part of search spent on local features, observed only when
 * they ran */
static const char *const s_stage_names[] = { "decode", "fingerprint", "search", "local", "total" };

typedef struct s_hist {
    uint64_t bucket[S_NB + 1]; /* non-cumulative; last = +Inf */
    uint64_t count, sum_us;
} s_hist_t;

#define S_MAX_LABELS 1024 /* distinct (bank, brand) pairs before "other" */

typedef struct s_brand {
    int bank;
    char brand[HM_NAME_MAX];
    uint64_t n;
} s_brand_t;

typedef struct s_code {
    const char *code; /* static, from hm_err_name */
    uint64_t n;
} s_code_t;

struct hmd_metrics {
    pthread_mutex_t mu;
    time_t started;
    uint64_t requests[HMD_ORIGIN_COUNT];
    uint64_t decisions[HM_DEC_ERROR + 1];
    uint64_t counters[HMD_C_COUNT];
    s_hist_t hist[STAGE_COUNT];
    s_brand_t *brands;
    size_t n_brands;
    uint64_t brand_other;
    s_code_t codes[64];
    size_t n_codes;
    int queue_depth, in_flight, queue_max;
    uint64_t in_flight_bytes;
    hmd_repl_status_t repl;
};

int hmd_metrics_new(hmd_metrics_t **out)
{
    hmd_metrics_t *m = calloc(1, sizeof *m);
    if (!m)
        return HM_E_NOMEM;
    m->brands = calloc(S_MAX_LABELS, sizeof *m->brands);
    if (!m->brands) {
        free(m);
        return HM_E_NOMEM;
    }
    pthread_mutex_init(&m->mu, NULL);
    m->started = time(NULL);
    *out = m;
    return 0;
}

void hmd_metrics_free(hmd_metrics_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    pthread_mutex_destroy(&(*self_p)->mu);
    free((*self_p)->brands);
    free(*self_p);
    *self_p = NULL;
}

void hmd_metrics_request(hmd_metrics_t *m, int origin)
{
    pthread_mutex_lock(&m->mu);
    m->requests[origin]++;
    pthread_mutex_unlock(&m->mu);
}

void hmd_metrics_count(hmd_metrics_t *m, enum hmd_counter c)
{
    pthread_mutex_lock(&m->mu);
    m->counters[c]++;
    pthread_mutex_unlock(&m->mu);
}

void hmd_metrics_gauges(hmd_metrics_t *m, int queue_depth, int in_flight, uint64_t in_flight_bytes,
                        int queue_max)
{
    pthread_mutex_lock(&m->mu);
    m->queue_depth = queue_depth;
    m->in_flight = in_flight;
    m->in_flight_bytes = in_flight_bytes;
    m->queue_max = queue_max;
    pthread_mutex_unlock(&m->mu);
}

static void s_observe(s_hist_t *h, uint64_t us)
{
    size_t i = 0;
    while (i < S_NB && us > s_buckets_us[i])
        i++;
    h->bucket[i]++;
    h->count++;
    h->sum_us += us;
}

void hmd_metrics_verdict(hmd_metrics_t *m, const hm_verdict_t *v)
{
    pthread_mutex_lock(&m->mu);
    if ((unsigned)v->decision <= HM_DEC_ERROR)
        m->decisions[v->decision]++;
    if (v->decision == HM_DEC_ERROR) {
        const char *code = hm_err_name(v->error);
        size_t i;
        for (i = 0; i < m->n_codes; i++)
            if (strcmp(m->codes[i].code, code) == 0)
                break;
        if (i == m->n_codes && i < sizeof m->codes / sizeof m->codes[0])
            m->codes[m->n_codes++] = (s_code_t){ code, 0 };
        if (i < m->n_codes)
            m->codes[i].n++;
    }
    if (v->total_us > 0) {
        s_observe(&m->hist[STAGE_DECODE], v->decode_us);
        s_observe(&m->hist[STAGE_FP], v->fingerprint_us);
        s_observe(&m->hist[STAGE_SEARCH], v->search_us);
        if (v->local_us > 0)
            s_observe(&m->hist[STAGE_LOCAL], v->local_us);
        s_observe(&m->hist[STAGE_TOTAL], v->total_us);
    }
    if (v->n_matches > 0 && v->matches[0].matched) {
        const hm_match_t *t = &v->matches[0];
        size_t i;
        for (i = 0; i < m->n_brands; i++)
            if (m->brands[i].bank == t->bank && strcmp(m->brands[i].brand, t->brand) == 0)
                break;
        if (i == m->n_brands && i < S_MAX_LABELS) {
            m->brands[i].bank = t->bank;
            snprintf(m->brands[i].brand, sizeof m->brands[i].brand, "%s", t->brand);
            m->n_brands++;
        }
        if (i < m->n_brands)
            m->brands[i].n++;
        else
            m->brand_other++;
    }
    pthread_mutex_unlock(&m->mu);
}

/* A growing text buffer; on allocation failure it stays failed. */
typedef struct s_buf {
    char *p;
    size_t n, cap;
    int failed;
} s_buf_t;

static void s_printf(s_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void s_printf(s_buf_t *b, const char *fmt, ...)
{
    if (b->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0) {
            b->failed = 1;
            return;
        }
        if (b->p && b->n + (size_t)k < b->cap) {
            b->n += (size_t)k;
            return;
        }
        size_t nc = (b->cap ? b->cap * 2 : 8192) + (size_t)k;
        char *q = realloc(b->p, nc);
        if (!q) {
            b->failed = 1;
            return;
        }
        b->p = q;
        b->cap = nc;
    }
}

/* Label values: escape backslash, double quote and newline. */
static void s_label(s_buf_t *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            s_printf(b, "\\%c", *s);
        else if (*s == '\n')
            s_printf(b, "\\n");
        else
            s_printf(b, "%c", *s);
    }
}

/* Engine statistics: numeric leaves of the JSON object, path joined by '_'. */
static void s_engine_json(s_buf_t *b, json_t *j, const char *prefix)
{
    const char *k;
    json_t *v;
    json_object_foreach(j, k, v) {
        char name[256];
        snprintf(name, sizeof name, "%s_%s", prefix, k);
        for (char *c = name; *c; c++)
            if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                  (*c >= '0' && *c <= '9') || *c == '_'))
                *c = '_';
        if (json_is_object(v))
            s_engine_json(b, v, name);
        else if (json_is_number(v))
            s_printf(b, "# TYPE %s gauge\n%s %.17g\n", name, name, json_number_value(v));
    }
}

void hmd_metrics_repl_set(hmd_metrics_t *m, const hmd_repl_status_t *st)
{
    pthread_mutex_lock(&m->mu);
    m->repl = *st;
    pthread_mutex_unlock(&m->mu);
}

/* Replica lag in seconds: how long it has been behind, and how long since
 * the primary was last heard (a partition looks like silence, not lag). */
static void s_repl_ages(const hmd_repl_status_t *r, double *lag, double *seen)
{
    uint64_t now = hm_mono_ms();
    *lag = r->behind_since_ms && now > r->behind_since_ms ? (now - r->behind_since_ms) / 1e3 : 0;
    *seen = r->last_seen_ms && now > r->last_seen_ms ? (now - r->last_seen_ms) / 1e3 : 0;
}

int hmd_metrics_healthy(hmd_metrics_t *m, char *why, size_t cap)
{
    pthread_mutex_lock(&m->mu);
    hmd_repl_status_t r = m->repl;
    pthread_mutex_unlock(&m->mu);
    if (r.role != 2)
        return 1;
    double lag, seen;
    s_repl_ages(&r, &lag, &seen);
    if (!r.caught_up)
        snprintf(why, cap, "replica catching up: seq %llu of %llu\n",
                 (unsigned long long)r.applied_seq, (unsigned long long)r.primary_seq);
    else if (lag > r.lag_max || seen > r.lag_max || !r.last_seen_ms)
        snprintf(why, cap, "replica lag %.1f s (%llu changes), primary last seen %.1f s ago; "
                 "bound %d s\n", lag, (unsigned long long)(r.primary_seq > r.applied_seq ?
                 r.primary_seq - r.applied_seq : 0), seen, r.lag_max);
    else
        return 1;
    return 0;
}

static void s_render_repl(s_buf_t *b, const hmd_repl_status_t *r)
{
    static const char *roles[] = { "standalone", "primary", "replica" };
    s_printf(b, "# HELP hallmark_repl_role Replication role (label).\n# TYPE hallmark_repl_role gauge\n"
                "hallmark_repl_role{role=\"%s\"} 1\n", roles[r->role % 3]);
    s_printf(b, "# TYPE hallmark_repl_applied_seq gauge\nhallmark_repl_applied_seq %llu\n",
             (unsigned long long)r->applied_seq);
    if (r->role == 1)
        s_printf(b, "# TYPE hallmark_repl_replicas gauge\nhallmark_repl_replicas %d\n"
                    "# TYPE hallmark_repl_log_first_seq gauge\nhallmark_repl_log_first_seq %llu\n",
                 r->replicas, (unsigned long long)r->log_first);
    if (r->role != 2)
        return;
    double lag, seen;
    s_repl_ages(r, &lag, &seen);
    uint64_t lag_seq = r->primary_seq > r->applied_seq ? r->primary_seq - r->applied_seq : 0;
    s_printf(b, "# HELP hallmark_repl_lag_seq Changes the primary has that this replica has not.\n"
                "# TYPE hallmark_repl_lag_seq gauge\nhallmark_repl_lag_seq %llu\n"
                "# TYPE hallmark_repl_primary_seq gauge\nhallmark_repl_primary_seq %llu\n"
                "# HELP hallmark_repl_lag_seconds How long this replica has been behind.\n"
                "# TYPE hallmark_repl_lag_seconds gauge\nhallmark_repl_lag_seconds %.3f\n"
                "# TYPE hallmark_repl_primary_last_seen_seconds gauge\n"
                "hallmark_repl_primary_last_seen_seconds %.3f\n"
                "# TYPE hallmark_repl_caught_up gauge\nhallmark_repl_caught_up %d\n"
                "# TYPE hallmark_repl_gaps_total counter\nhallmark_repl_gaps_total %llu\n"
                "# TYPE hallmark_repl_ranges_total counter\nhallmark_repl_ranges_total %llu\n"
                "# TYPE hallmark_repl_applied_total counter\nhallmark_repl_applied_total %llu\n"
                "# TYPE hallmark_repl_snapshots_total counter\nhallmark_repl_snapshots_total %llu\n",
             (unsigned long long)lag_seq, (unsigned long long)r->primary_seq, lag, seen,
             r->caught_up, (unsigned long long)r->gaps, (unsigned long long)r->ranges,
             (unsigned long long)r->applied, (unsigned long long)r->snapshots);
}

char *hmd_metrics_render(hmd_metrics_t *m, hm_engine_t *e)
{
    s_buf_t b = { 0 };
    char *stats = NULL;
    if (e && hm_engine_stats_json(e, &stats) != 0)
        stats = NULL;
    pthread_mutex_lock(&m->mu);
    s_printf(&b, "# HELP hallmark_build_info Build information.\n# TYPE hallmark_build_info gauge\n"
                 "hallmark_build_info{version=\"%s\",protocol=\"1\",compiler=\"%s\"} 1\n",
             HMD_VERSION, __VERSION__);
    s_printf(&b, "# TYPE hallmark_start_time_seconds gauge\nhallmark_start_time_seconds %lld\n",
             (long long)m->started);
    static const char *const origins[] = { "ingest", "pipeline" };
    s_printf(&b, "# HELP hallmark_requests_total Requests received per socket.\n"
                 "# TYPE hallmark_requests_total counter\n");
    for (int i = 0; i < HMD_ORIGIN_COUNT; i++)
        s_printf(&b, "hallmark_requests_total{socket=\"%s\"} %llu\n", origins[i],
                 (unsigned long long)m->requests[i]);
    s_printf(&b, "# HELP hallmark_verdicts_total Verdicts answered per decision.\n"
                 "# TYPE hallmark_verdicts_total counter\n");
    for (int d = 0; d <= HM_DEC_ERROR; d++)
        s_printf(&b, "hallmark_verdicts_total{decision=\"%s\"} %llu\n",
                 hm_decision_name((hm_decision_t)d), (unsigned long long)m->decisions[d]);
    s_printf(&b, "# HELP hallmark_errors_total Error verdicts per error code.\n"
                 "# TYPE hallmark_errors_total counter\n");
    for (size_t i = 0; i < m->n_codes; i++)
        s_printf(&b, "hallmark_errors_total{code=\"%s\"} %llu\n", m->codes[i].code,
                 (unsigned long long)m->codes[i].n);
    s_printf(&b, "# HELP hallmark_matches_total Verdicts per bank and brand of the top match.\n"
                 "# TYPE hallmark_matches_total counter\n");
    for (size_t i = 0; i < m->n_brands; i++) {
        s_printf(&b, "hallmark_matches_total{bank=\"%s\",brand=\"", hm_bank_name(m->brands[i].bank));
        s_label(&b, m->brands[i].brand);
        s_printf(&b, "\"} %llu\n", (unsigned long long)m->brands[i].n);
    }
    if (m->brand_other)
        s_printf(&b, "hallmark_matches_total{bank=\"other\",brand=\"other\"} %llu\n",
                 (unsigned long long)m->brand_other);
    s_printf(&b, "# HELP hallmark_stage_seconds Latency per stage (engine timings).\n"
                 "# TYPE hallmark_stage_seconds histogram\n");
    for (int s = 0; s < STAGE_COUNT; s++) {
        uint64_t cum = 0;
        for (size_t i = 0; i < S_NB; i++) {
            cum += m->hist[s].bucket[i];
            s_printf(&b, "hallmark_stage_seconds_bucket{stage=\"%s\",le=\"%g\"} %llu\n",
                     s_stage_names[s], (double)s_buckets_us[i] / 1e6, (unsigned long long)cum);
        }
        s_printf(&b, "hallmark_stage_seconds_bucket{stage=\"%s\",le=\"+Inf\"} %llu\n",
                 s_stage_names[s], (unsigned long long)m->hist[s].count);
        s_printf(&b, "hallmark_stage_seconds_sum{stage=\"%s\"} %.6f\n", s_stage_names[s],
                 (double)m->hist[s].sum_us / 1e6);
        s_printf(&b, "hallmark_stage_seconds_count{stage=\"%s\"} %llu\n", s_stage_names[s],
                 (unsigned long long)m->hist[s].count);
    }
    static const char *const cnames[HMD_C_COUNT] = {
        "hallmark_feed_published_total", "hallmark_replies_dropped_total",
        "hallmark_control_ok_total", "hallmark_control_errors_total" };
    for (int c = 0; c < HMD_C_COUNT; c++)
        s_printf(&b, "# TYPE %s counter\n%s %llu\n", cnames[c], cnames[c],
                 (unsigned long long)m->counters[c]);
    s_printf(&b, "# HELP hallmark_queue_depth Requests waiting for a worker.\n"
                 "# TYPE hallmark_queue_depth gauge\nhallmark_queue_depth %d\n", m->queue_depth);
    s_printf(&b, "# HELP hallmark_requests_in_flight Requests queued or being scored.\n"
                 "# TYPE hallmark_requests_in_flight gauge\nhallmark_requests_in_flight %d\n",
             m->in_flight);
    s_printf(&b, "# TYPE hallmark_in_flight_bytes gauge\nhallmark_in_flight_bytes %llu\n",
             (unsigned long long)m->in_flight_bytes);
    s_printf(&b, "# TYPE hallmark_queue_capacity gauge\nhallmark_queue_capacity %d\n", m->queue_max);
    s_render_repl(&b, &m->repl);
    pthread_mutex_unlock(&m->mu);
    if (stats) {
        json_t *j = json_loads(stats, 0, NULL);
        if (json_is_object(j))
            s_engine_json(&b, j, "hallmark_engine");
        json_decref(j);
        free(stats);
    }
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    return b.p;
}
