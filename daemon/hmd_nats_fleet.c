/*
 * hmd_nats_fleet.c - the fleet mode's start and stop; see hmd_nats_fleet.h.
 */
#include "hmd_nats_int.h"

#include <stdlib.h>
#include <string.h>

#include "hm_error.h"
#include "hm_log.h"

static int s_strikes_configured = -1; /* record-strikes before prepare */

int hmd_fleet_prepare(hmd_config_t *cfg)
{
    if (!cfg->nats_url[0])
        return 0;
    if (strcmp(cfg->fleet_role, "writer") != 0 && strcmp(cfg->fleet_role, "scorer") != 0)
        return hm__seterr(HM_E_CONFIG, "fleet-role: '%s' is not writer or scorer", cfg->fleet_role);
    if (cfg->repl[0] || cfg->repl_pub[0] || cfg->replica_of[0])
        return hm__seterr(HM_E_CONFIG, "nats-url: the fleet replaces repl, repl-pub and "
                          "replica-of; set one or the other");
    s_strikes_configured = cfg->record_strikes;
    if (strcmp(cfg->fleet_role, "scorer") == 0)
        cfg->record_strikes = 0; /* the front door must not write the followed store */
    return 0;
}

static int s_thread(hmd_fleet_t *f, void *(*fn)(void *))
{
    if (f->n_threads == HMD_FLEET_MAX_THREADS ||
        pthread_create(&f->tids[f->n_threads], NULL, fn, f) != 0)
        return hm__seterr(HM_E_INTERNAL, "fleet: cannot start a thread");
    f->n_threads++;
    return 0;
}

/* Catch up on the bank stream before serving (both roles). */
static int s_catch_up(hmd_fleet_t *f)
{
    uint64_t last = 0, local = 0;
    int rc = hmd_nats_last_seq(&f->nats, HMD_NATS_BANK_STREAM, &last);
    if (rc == 0)
        rc = hm_store_seq(hm_engine_store(f->e), &local);
    if (rc)
        return rc;
    if (!f->writer && local > last)
        return hm__seterr(HM_E_CORRUPT, "fleet: this scorer's store is at sequence %llu, past the "
                          "bank stream's %llu (written outside the fleet?)",
                          (unsigned long long)local, (unsigned long long)last);
    uint64_t t0 = local;
    if (last > local && (rc = hmd__fleet_follow(f, last)) != 0)
        return rc;
    f->published = last;
    hm_log_info("fleet_caught_up", "role=%s stream_seq=%llu applied=%llu", f->cfg->fleet_role,
                (unsigned long long)last, (unsigned long long)(last > t0 ? last - t0 : 0));
    return 0;
}

int hmd_fleet_start(hmd_fleet_t **out, hmd_config_t *cfg, hm_engine_t *e)
{
    *out = NULL;
    hmd_fleet_t *f = calloc(1, sizeof *f);
    if (!f)
        return hm__seterr(HM_E_NOMEM, "fleet");
    f->cfg = cfg;
    f->e = e;
    f->writer = strcmp(cfg->fleet_role, "writer") == 0;
    f->strikes_on = s_strikes_configured >= 0 ? s_strikes_configured : cfg->record_strikes;
    int rc = hmd_nats_connect(&f->nats, cfg, f->writer ? "hallmark-writer" : "hallmark-scorer");
    if (rc == 0)
        rc = hmd_nats_ensure_streams(&f->nats, cfg->fleet_replicas, cfg->fleet_listing_max);
    if (rc == 0)
        rc = s_catch_up(f);
    if (rc == 0 && pthread_create(&f->bank_tid, NULL, hmd__fleet_bank_main, f) != 0)
        rc = hm__seterr(HM_E_INTERNAL, "fleet: cannot start the bank thread");
    f->bank_started = rc == 0;
    int n = cfg->workers > 0 ? cfg->workers : 2;
    if (rc == 0 && f->writer)
        rc = s_thread(f, hmd__fleet_strike_main);
    for (int i = 0; rc == 0 && !f->writer && i < n && i < HMD_FLEET_MAX_THREADS; i++)
        rc = s_thread(f, hmd__fleet_listing_main);
    if (rc) {
        hmd_fleet_stop(&f);
        return rc;
    }
    hm_log_info("fleet_ready", "role=%s nats=%s threads=%d", cfg->fleet_role, cfg->nats_url,
                f->n_threads);
    *out = f;
    return 0;
}

void hmd_fleet_stop(hmd_fleet_t **self_p)
{
    hmd_fleet_t *f = self_p ? *self_p : NULL;
    if (!f)
        return;
    f->stop = 1;
    for (int i = 0; i < f->n_threads; i++)
        pthread_join(f->tids[i], NULL);
    if (f->bank_started)
        pthread_join(f->bank_tid, NULL);
    hm_log_info("fleet_stats", "role=%s applied=%llu published=%llu listings=%llu redelivered=%llu "
                "verdicts=%llu duplicate_verdicts=%llu strikes=%llu dead_letters=%llu",
                f->cfg->fleet_role, (unsigned long long)atomic_load(&f->applied),
                (unsigned long long)f->published, (unsigned long long)atomic_load(&f->listings),
                (unsigned long long)atomic_load(&f->redelivered),
                (unsigned long long)atomic_load(&f->verdicts),
                (unsigned long long)atomic_load(&f->dup_verdicts),
                (unsigned long long)atomic_load(&f->strikes),
                (unsigned long long)atomic_load(&f->dead));
    hmd_nats_close(&f->nats);
    free(f);
    *self_p = NULL;
}
