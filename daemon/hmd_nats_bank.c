/*
 * hmd_nats_bank.c - the bank as a replicated stream: the writer publishes
 * its change log onto it, every node applies it to its LMDB in order.
 *
 * Numbering: the writer publishes record seq with Nats-Msg-Id r<seq> and
 * the expected last stream sequence seq - 1, so stream sequence and
 * change-log sequence are the same number on every node.  A follower asks
 * an ordered consumer for the messages after its store's last sequence and
 * hands a run of consecutive ones to hm_engine_repl_apply(), which writes
 * each change with its sequence in the same LMDB transaction: the store's
 * last sequence is therefore exactly the last applied stream sequence, and a
 * restart resumes at the next one.  A message before that is a redelivery
 * (dropped); one after it is a gap (the consumer is re-created from the
 * right sequence); a record whose own sequence is not its stream sequence,
 * or that the store refuses, is a divergence: the follower stops and says so.
 */
#include "hmd_nats_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hm_error.h"
#include "hm_log.h"

#define S_BATCH 256

static uint64_t s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t s_store_seq(hmd_fleet_t *f)
{
    uint64_t seq = 0;
    if (hm_store_seq(hm_engine_store(f->e), &seq) != 0)
        seq = 0;
    return seq;
}

static int s_subscribe(hmd_fleet_t *f, natsSubscription **sub, uint64_t from)
{
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = HMD_NATS_BANK_STREAM;
    so.Ordered = true;
    so.Config.DeliverPolicy = js_DeliverByStartSequence;
    so.Config.OptStartSeq = from;
    jsErrCode jerr = 0;
    natsStatus s = js_SubscribeSync(sub, f->nats.js, HMD_NATS_BANK_SUBJECT, NULL, &so, &jerr);
    return s == NATS_OK ? 0 : hmd_nats_err(s, jerr, "bank stream subscription");
}

static int s_diverged(hmd_fleet_t *f, uint64_t at, const char *why)
{
    atomic_store(&f->diverged, 1);
    hm_log_error("fleet_diverged", "seq=%llu reason=\"%s\"", (unsigned long long)at, why);
    return hm__seterr(HM_E_CORRUPT, "fleet: the local copy diverged from the bank stream at "
                      "sequence %llu: %s", (unsigned long long)at, why);
}

/* Apply the consecutive run in msgs[0..k) that starts at *applied + 1.
 * Sets *gap when a message past the run's end was seen. */
static int s_apply_run(hmd_fleet_t *f, natsMsg **msgs, int k, uint64_t *applied, int *gap)
{
    const void *recs[S_BATCH];
    size_t lens[S_BATCH];
    size_t n = 0;
    uint64_t expect = *applied + 1;
    for (int i = 0; i < k && !*gap; i++) {
        jsMsgMetaData *meta = NULL;
        if (natsMsg_GetMetaData(&meta, msgs[i]) != NATS_OK)
            continue;
        uint64_t sseq = meta->Sequence.Stream;
        jsMsgMetaData_Destroy(meta);
        if (sseq < expect)
            continue; /* applied already */
        if (sseq > expect) {
            *gap = 1;
            break;
        }
        hm_store_change_t ch;
        const void *rec = natsMsg_GetData(msgs[i]);
        size_t len = (size_t)natsMsg_GetDataLength(msgs[i]);
        if (hm_store_repl_decode(rec, len, &ch, NULL, NULL, NULL, NULL) != 0)
            return s_diverged(f, sseq, hm_last_error());
        if (ch.seq != sseq)
            return s_diverged(f, sseq, "the record's own sequence differs");
        recs[n] = rec;
        lens[n++] = len;
        expect++;
    }
    if (n == 0)
        return 0;
    uint64_t last = 0;
    int rc = hm_engine_repl_apply(f->e, recs, lens, n, &last);
    if (rc == 0 && last != *applied + n)
        return s_diverged(f, *applied + 1, "the store refused a record in sequence");
    if (rc)
        return rc;
    *applied = last;
    atomic_fetch_add(&f->applied, n);
    return 0;
}

int hmd__fleet_follow(hmd_fleet_t *f, uint64_t until)
{
    uint64_t applied = s_store_seq(f), deadline = s_now_ms() + (uint64_t)f->nats.wait_ms;
    natsSubscription *sub = NULL;
    natsMsg *msgs[S_BATCH];
    int rc = 0;
    while (!f->stop && !(until && applied >= until)) {
        if (until && s_now_ms() > deadline) {
            rc = hm__seterr(HM_E_TIMEOUT, "fleet: bank stream at %llu, caught up to %llu only",
                            (unsigned long long)until, (unsigned long long)applied);
            break;
        }
        if (!sub && (rc = s_subscribe(f, &sub, applied + 1)) != 0) {
            hm_log_warn("fleet_follow", "status=retry reason=\"%s\"", hm_last_error());
            rc = 0;
            hmd_nats_nap(500, &f->stop);
            continue;
        }
        natsMsg *m = NULL;
        natsStatus s = natsSubscription_NextMsg(&m, sub, 250);
        if (s == NATS_TIMEOUT)
            continue;
        if (s != NATS_OK) {
            hm_log_warn("fleet_follow", "status=resubscribe reason=\"%s\"", natsStatus_GetText(s));
            natsSubscription_Destroy(sub);
            sub = NULL;
            continue;
        }
        int k = 0, gap = 0;
        msgs[k++] = m;
        while (k < S_BATCH && natsSubscription_NextMsg(&m, sub, 1) == NATS_OK)
            msgs[k++] = m;
        rc = s_apply_run(f, msgs, k, &applied, &gap);
        for (int i = 0; i < k; i++)
            natsMsg_Destroy(msgs[i]);
        if (rc)
            break;
        if (gap) {
            natsSubscription_Destroy(sub);
            sub = NULL;
        }
    }
    if (sub)
        natsSubscription_Destroy(sub);
    return rc;
}

/* Writer: publish one record as stream message seq. */
static int s_publish_record(uint64_t seq, const void *rec, size_t len, void *ctx)
{
    hmd_fleet_t *f = ctx;
    natsMsg *m = NULL;
    natsStatus s = natsMsg_Create(&m, HMD_NATS_BANK_SUBJECT, NULL, rec, (int)len);
    if (s != NATS_OK)
        return hmd_nats_err(s, 0, "bank record");
    char id[32];
    snprintf(id, sizeof id, "r%llu", (unsigned long long)seq);
    uint64_t sseq = 0;
    int rc = hmd_nats_publish(&f->nats, m, id, seq > 1 ? seq - 1 : 0, f->nats.wait_ms, &sseq, NULL);
    natsMsg_Destroy(m);
    if (rc == HM_E_EXISTS)
        return s_diverged(f, seq, "another writer published this sequence");
    if (rc)
        return rc;
    if (sseq != seq)
        return s_diverged(f, seq, "the stream stored the record at another sequence");
    f->published = seq;
    return 0;
}

static void s_publisher(hmd_fleet_t *f)
{
    hm_store_t *st = hm_engine_store(f->e);
    while (!f->stop && !atomic_load(&f->diverged)) {
        uint64_t local = s_store_seq(f), first = 0;
        if (local <= f->published) {
            hmd_nats_nap(5, &f->stop);
            continue;
        }
        if (hm_store_log_first(st, &first) == 0 && first > f->published + 1) {
            s_diverged(f, f->published + 1, "the change log was compacted past the stream "
                       "(a snapshot is needed: phase 2)");
            break;
        }
        int rc = hm_store_repl_read(st, f->published, S_BATCH, s_publish_record, f);
        if (rc && !atomic_load(&f->diverged)) {
            hm_log_warn("fleet_publish", "status=retry seq=%llu reason=\"%s\"",
                        (unsigned long long)f->published + 1, hm_last_error());
            hmd_nats_nap(500, &f->stop);
        }
    }
}

void *hmd__fleet_bank_main(void *arg)
{
    hmd_fleet_t *f = arg;
    if (f->writer) {
        s_publisher(f);
        return NULL;
    }
    int rc = hmd__fleet_follow(f, 0);
    if (rc && !f->stop)
        hm_log_error("fleet_follow", "status=stopped code=%s reason=\"%s\"", hm_err_name(rc),
                     hm_last_error());
    return NULL;
}
