/*
 * hmd_metrics.h - hallmarkd's counters in one struct, exposed as Prometheus
 * text (STYLE habit 13).
 *
 * The socket thread records every verdict it sends (one mutex, taken once per
 * verdict); the HTTP thread renders a scrape under the same mutex.
 */
#ifndef HMD_METRICS_H
#define HMD_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "hm_engine.h"

typedef struct hmd_metrics hmd_metrics_t;

enum hmd_origin { HMD_ORIGIN_INGEST = 0, HMD_ORIGIN_PIPELINE = 1, HMD_ORIGIN_COUNT = 2 };

enum hmd_counter {
    HMD_C_FEED_PUBLISHED,   /* feed messages published */
    HMD_C_REPLY_DROPPED,    /* replies dropped (peer gone or its queue full) */
    HMD_C_CONTROL_OK,       /* control commands that succeeded */
    HMD_C_CONTROL_ERR,      /* control commands that failed */
    HMD_C_COUNT
};

/* @return 0, HM_E_NOMEM. */
int hmd_metrics_new(hmd_metrics_t **out);
void hmd_metrics_free(hmd_metrics_t **self_p);

/* A request arrived on origin (before validation). */
void hmd_metrics_request(hmd_metrics_t *m, int origin);
/* A verdict was answered: decision, error code, top match bank/brand, and
 * (when the image was scored) the stage latencies. */
void hmd_metrics_verdict(hmd_metrics_t *m, const hm_verdict_t *v);
void hmd_metrics_count(hmd_metrics_t *m, enum hmd_counter c);
/* Queue gauges, set by the socket thread whenever they change. */
void hmd_metrics_gauges(hmd_metrics_t *m, int queue_depth, int in_flight, uint64_t in_flight_bytes,
                        int queue_max);

/* Replication state, set by the replication thread (hmd_repl.c).  Times are
 * CLOCK_MONOTONIC milliseconds, so the ages are computed when read. */
typedef struct hmd_repl_status {
    int role;                   /* 0 standalone, 1 primary, 2 replica */
    uint64_t applied_seq;       /* this store's last sequence */
    uint64_t primary_seq;       /* replica: the primary's last known sequence */
    uint64_t behind_since_ms;   /* replica: 0 when caught up */
    uint64_t last_seen_ms;      /* replica: last message from the primary */
    int caught_up;              /* replica: 1 once the first catch-up ended */
    uint64_t gaps, ranges, applied, snapshots; /* counters */
    int replicas;               /* primary: replicas heard from in the last 5 s */
    uint64_t log_first;         /* primary: the oldest change kept */
    int lag_max;                /* seconds: /healthz bound */
} hmd_repl_status_t;

void hmd_metrics_repl_set(hmd_metrics_t *m, const hmd_repl_status_t *st);
/* 1 when healthy; else 0 and why (for the 503 body). */
int hmd_metrics_healthy(hmd_metrics_t *m, char *why, size_t cap);

/*
 * hmd_metrics_render - the Prometheus text exposition (version 0.0.4); the
 * engine's numeric statistics are added as hallmark_engine_* gauges when e is
 * not NULL.  @return a malloc'd string (caller frees) or NULL on out of memory.
 */
char *hmd_metrics_render(hmd_metrics_t *m, hm_engine_t *e);

#endif
