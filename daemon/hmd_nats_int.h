/*
 * hmd_nats_int.h - what the fleet's modules share (hmd_nats_fleet.c,
 * hmd_nats_bank.c, hmd_nats_work.c); not a public interface.
 */
#ifndef HMD_NATS_INT_H
#define HMD_NATS_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "hmd_nats.h"
#include "hmd_nats_fleet.h"

#define HMD_FLEET_MAX_THREADS 64

struct hmd_fleet {
    hmd_config_t *cfg;
    hm_engine_t *e;
    hmd_nats_t nats;
    int writer;                 /* role */
    int strikes_on;             /* record-strikes as configured (before prepare) */
    volatile int stop;
    pthread_t bank_tid;
    int bank_started;
    pthread_t tids[HMD_FLEET_MAX_THREADS];
    int n_threads;
    uint64_t published;         /* writer: the stream's last sequence we know of */
    atomic_int diverged;
    /* counters, logged at stop */
    atomic_ullong applied, listings, verdicts, redelivered, dup_verdicts, strikes, dead;
};

/* Apply the bank stream after the store's last sequence until it reaches
 * `until` (0: until f->stop).  @return 0, HM_E_CORRUPT (diverged),
 * HM_E_TIMEOUT (until not reached within f->nats.wait_ms), the engine's. */
int hmd__fleet_follow(hmd_fleet_t *f, uint64_t until);
/* The bank thread: follow (scorer) or publish (writer). */
void *hmd__fleet_bank_main(void *arg);
/* A scorer's listing thread and the writer's strike thread. */
void *hmd__fleet_listing_main(void *arg);
void *hmd__fleet_strike_main(void *arg);

#endif
