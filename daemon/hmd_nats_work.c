/*
 * hmd_nats_work.c - listings from the durable work queue (scorers) and
 * strikes from the strike stream (the writer).
 *
 * A listing is acked only after its verdict is stored on the verdict
 * stream; the strike (when one is due) is stored before that.  Both carry
 * ids derived from the listing, so a listing redelivered after a scorer died
 * anywhere in between stores no second strike and no second verdict (the
 * streams drop the duplicate), and the writer's strike count is idempotent
 * per (seller, listing, image) besides.  See docs/DEPLOYMENT.md "Acks".
 */
#include "hmd_nats_int.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hm_error.h"
#include "hm_log.h"
#include "hm_sha.h"
#include "hm_verdict.h"

#define S_FETCH 4

typedef struct {
    const char *id, *listing, *image, *seller, *brand;
} s_hdr_t;

/* A header value, "" when absent; HM_E_TOO_LARGE when longer than HM_ID_MAX - 1. */
static int s_header(natsMsg *m, const char *key, const char **out)
{
    const char *v = NULL;
    *out = "";
    if (natsMsgHeader_Get(m, key, &v) != NATS_OK || !v)
        return 0;
    if (strlen(v) >= HM_ID_MAX)
        return hm__seterr(HM_E_TOO_LARGE, "header %s: longer than %d bytes", key, HM_ID_MAX - 1);
    *out = v;
    return 0;
}

static int s_headers(natsMsg *m, s_hdr_t *h)
{
    int rc;
    if ((rc = s_header(m, "Nats-Msg-Id", &h->id)) || (rc = s_header(m, "Hm-Listing", &h->listing)) ||
        (rc = s_header(m, "Hm-Image", &h->image)) || (rc = s_header(m, "Hm-Seller", &h->seller)) ||
        (rc = s_header(m, "Hm-Brand", &h->brand)))
        return rc;
    if (!h->id[0])
        h->id = h->listing;
    if (!h->id[0])
        return hm__seterr(HM_E_INVAL, "listing without Nats-Msg-Id or Hm-Listing");
    return 0;
}

int hmd_fleet_subject_token(const char *brand, char *out, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = 0;
    if (!brand || !brand[0])
        brand = "_none";
    for (const unsigned char *p = (const unsigned char *)brand; *p; p++) {
        int plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                    (*p >= '0' && *p <= '9') || *p == '_' || *p == '-';
        if (n + (plain ? 1 : 3) >= cap)
            return -1;
        if (plain) {
            out[n++] = (char)*p;
        } else {
            out[n++] = '~';
            out[n++] = hex[*p >> 4];
            out[n++] = hex[*p & 15];
        }
    }
    out[n] = '\0';
    return (int)n;
}

/* Store the strike for a counterfeit verdict on the strike stream. */
static int s_publish_strike(hmd_fleet_t *f, const s_hdr_t *h)
{
    char key[3 * HM_ID_MAX + 3], id[65];
    uint8_t sha[HM_SHA256_BYTES];
    int n = snprintf(key, sizeof key, "%s%c%s%c%s", h->seller, 0, h->listing, 0, h->image);
    hm_sha256(key, (size_t)n, sha);
    hm_sha256_to_hex(sha, id);
    natsMsg *m = NULL;
    natsStatus s = natsMsg_Create(&m, HMD_NATS_STRIKE_SUBJECT, NULL, NULL, 0);
    if (s == NATS_OK && (s = natsMsgHeader_Set(m, "Hm-Seller", h->seller)) == NATS_OK &&
        (s = natsMsgHeader_Set(m, "Hm-Listing", h->listing)) == NATS_OK)
        s = natsMsgHeader_Set(m, "Hm-Image", h->image);
    int rc = s == NATS_OK ? hmd_nats_publish(&f->nats, m, id, 0, 10000, NULL, NULL)
                          : hmd_nats_err(s, 0, "strike message");
    natsMsg_Destroy(m);
    if (rc == 0)
        atomic_fetch_add(&f->strikes, 1);
    return rc;
}

/* Store the verdict on hallmark.verdict.<brand>.<decision>. */
static int s_publish_verdict(hmd_fleet_t *f, const hm_verdict_t *v, const s_hdr_t *h)
{
    const char *brand = v->n_matches > 0 && v->matches[0].matched ? v->matches[0].brand : h->brand;
    int dead = v->reason && strcmp(v->reason, "dead_letter") == 0;
    char tok[HM_NAME_MAX * 3 + 8], subject[sizeof tok + 64];
    if (hmd_fleet_subject_token(dead ? "_dead" : brand, tok, sizeof tok) < 0)
        return hm__seterr(HM_E_TOO_LARGE, "brand too long for a subject");
    snprintf(subject, sizeof subject, "%s%s.%s", HMD_NATS_VERDICT_PREFIX, tok,
             hm_decision_name(v->decision));
    json_t *j = hm_verdict_to_json(v, h->id, h->listing[0] ? h->listing : NULL,
                                   h->image[0] ? h->image : NULL, h->seller[0] ? h->seller : NULL);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!text)
        return hm__seterr(HM_E_NOMEM, "verdict JSON");
    natsMsg *m = NULL;
    natsStatus s = natsMsg_Create(&m, subject, NULL, text, (int)strlen(text));
    free(text);
    if (s != NATS_OK)
        return hmd_nats_err(s, 0, "verdict message");
    int dup = 0;
    int rc = hmd_nats_publish(&f->nats, m, h->id, 0, 10000, NULL, &dup);
    natsMsg_Destroy(m);
    if (rc == 0)
        atomic_fetch_add(dup ? &f->dup_verdicts : &f->verdicts, 1);
    return rc;
}

/* One listing: score, strike, verdict, ack.  Leaves it unacked on a
 * transient failure (redelivered after AckWait). */
static void s_listing(hmd_fleet_t *f, hm_fp_ctx_t *ctx, natsMsg *msg)
{
    jsMsgMetaData *meta = NULL;
    uint64_t delivered = 1;
    if (natsMsg_GetMetaData(&meta, msg) == NATS_OK) {
        delivered = meta->NumDelivered;
        jsMsgMetaData_Destroy(meta);
    }
    atomic_fetch_add(&f->listings, 1);
    if (delivered > 1)
        atomic_fetch_add(&f->redelivered, 1);
    s_hdr_t h;
    hm_verdict_t *v = calloc(1, sizeof *v);
    if (!v)
        return;
    int rc = s_headers(msg, &h);
    size_t len = (size_t)natsMsg_GetDataLength(msg);
    if (rc) {
        hm_log_warn("fleet_listing", "status=terminated reason=\"%s\"", hm_last_error());
        natsMsg_Term(msg, NULL);
        free(v);
        return;
    }
    if (delivered > 1)
        hm_log_info("fleet_redelivered", "id=%s delivered=%llu", h.id, (unsigned long long)delivered);
    if (len > (size_t)f->cfg->fleet_listing_max) {
        hm_verdict_error(v, HM_E_TOO_LARGE, "listing image larger than fleet-listing-max");
    } else {
        hm_query_t q = { .seller = h.seller[0] ? h.seller : NULL, .brand = h.brand[0] ? h.brand : NULL,
                         .listing_id = h.listing, .image_id = h.image, .record_strikes = 0 };
        rc = hm_engine_score(f->e, ctx, natsMsg_GetData(msg), len, &q, v);
        if (rc && delivered < HMD_NATS_MAX_DELIVER) {
            hm_log_warn("fleet_listing", "id=%s status=retry delivered=%llu reason=\"%s\"", h.id,
                        (unsigned long long)delivered, hm_last_error());
            natsMsg_Nak(msg, NULL);
            free(v);
            return;
        }
        if (rc) {
            hm_verdict_error(v, HM_E_INTERNAL, hm_last_error());
            v->reason = "dead_letter";
            atomic_fetch_add(&f->dead, 1);
        }
    }
    rc = 0;
    if (v->decision == HM_DEC_COUNTERFEIT && h.seller[0] && f->strikes_on)
        rc = s_publish_strike(f, &h);
    if (rc == 0)
        rc = s_publish_verdict(f, v, &h);
    if (rc == 0 && natsMsg_AckSync(msg, NULL, NULL) != NATS_OK)
        rc = hmd_nats_err(NATS_ERR, 0, "listing ack");
    if (rc)
        hm_log_warn("fleet_listing", "id=%s status=unacked reason=\"%s\"", h.id, hm_last_error());
    free(v);
}

void *hmd__fleet_listing_main(void *arg)
{
    hmd_fleet_t *f = arg;
    hm_decode_limits_t lim = hm_decode_limits_default;
    lim.max_bytes = (size_t)f->cfg->fleet_listing_max;
    hm_fp_ctx_t *ctx = NULL;
    natsSubscription *sub = NULL;
    if (hm_fp_ctx_new(&ctx, &lim) != 0 ||
        hmd_nats_pull_subscribe(&f->nats, &sub, HMD_NATS_LISTING_STREAM, HMD_NATS_LISTING_SUBJECT,
                                HMD_NATS_SCORERS) != 0) {
        hm_log_error("fleet_listing", "status=stopped reason=\"%s\"", hm_last_error());
        hm_fp_ctx_free(&ctx);
        return NULL;
    }
    while (!f->stop && !atomic_load(&f->diverged)) {
        natsMsgList list = { 0 };
        jsErrCode jerr = 0;
        natsStatus s = natsSubscription_Fetch(&list, sub, S_FETCH, 1000, &jerr);
        if (s != NATS_OK && s != NATS_TIMEOUT) {
            hmd_nats_nap(200, &f->stop);
            continue;
        }
        for (int i = 0; i < list.Count; i++) {
            /* The later ones of a batch wait: tell the server they are in hand. */
            if (i > 0)
                natsMsg_InProgress(list.Msgs[i], NULL);
            if (!f->stop)
                s_listing(f, ctx, list.Msgs[i]);
        }
        natsMsgList_Destroy(&list);
    }
    natsSubscription_Destroy(sub);
    hm_fp_ctx_free(&ctx);
    return NULL;
}

/* The writer counts one strike; the bank publisher ships the change. */
static void s_strike(hmd_fleet_t *f, natsMsg *msg)
{
    const char *seller, *listing, *image;
    int rc = s_header(msg, "Hm-Seller", &seller);
    if (rc == 0)
        rc = s_header(msg, "Hm-Listing", &listing);
    if (rc == 0)
        rc = s_header(msg, "Hm-Image", &image);
    if (rc == 0 && (!seller[0] || !listing[0]))
        rc = hm__seterr(HM_E_INVAL, "strike without Hm-Seller or Hm-Listing");
    uint64_t count = 0;
    if (rc == 0 && (rc = hm_engine_add_strike(f->e, seller, listing, image, &count)) == 0) {
        natsMsg_AckSync(msg, NULL, NULL);
        return;
    }
    hm_log_warn("fleet_strike", "status=%s reason=\"%s\"", rc == HM_E_INVAL || rc == HM_E_TOO_LARGE
                ? "terminated" : "retry", hm_last_error());
    if (rc == HM_E_INVAL || rc == HM_E_TOO_LARGE)
        natsMsg_Term(msg, NULL);
    else
        natsMsg_Nak(msg, NULL);
}

void *hmd__fleet_strike_main(void *arg)
{
    hmd_fleet_t *f = arg;
    natsSubscription *sub = NULL;
    if (hmd_nats_pull_subscribe(&f->nats, &sub, HMD_NATS_STRIKE_STREAM, HMD_NATS_STRIKE_SUBJECT,
                                HMD_NATS_WRITER) != 0) {
        hm_log_error("fleet_strike", "status=stopped reason=\"%s\"", hm_last_error());
        return NULL;
    }
    while (!f->stop) {
        natsMsgList list = { 0 };
        jsErrCode jerr = 0;
        natsStatus s = natsSubscription_Fetch(&list, sub, 64, 1000, &jerr);
        if (s != NATS_OK && s != NATS_TIMEOUT) {
            hmd_nats_nap(200, &f->stop);
            continue;
        }
        for (int i = 0; i < list.Count; i++)
            s_strike(f, list.Msgs[i]);
        natsMsgList_Destroy(&list);
    }
    natsSubscription_Destroy(sub);
    return NULL;
}
