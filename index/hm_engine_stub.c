/* STUB: replaced by the real engine on merge */
/*
 * hm_engine_stub.c - a stand-in for index/hm_engine.c, index/hm_verdict.c and
 * the hm_fp context functions of lib/hm_fp.c, so that hallmarkd can be built
 * and tested before the real engine lands.  DELETE THIS FILE ON MERGE.
 *
 * "Fingerprint" = a 64-bit hash of the image bytes: an image matches a
 * reference with exactly the same bytes.  Scoring costs about 1 ms per 32 KiB
 * (like a real decode, so big images make load).  For tests:
 *   "SLOW<ms>:"  sleep that many milliseconds before answering;
 *   "BAD"        an undecodable image (HM_E_DECODE).
 * State is kept in memory and rewritten to DIR/stub.db on every change, so a
 * restart keeps every reference, authorisation, allow-list entry and strike.
 */
#include "hm_engine.h"
#include "hm_error.h"
#include "hm_fp.h"
#include "hm_verdict.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define HM_STUB_KEY 16

typedef struct s_key {
    unsigned char b[HM_STUB_KEY];
    size_t n;
} s_key_t;

typedef struct s_ref {
    char id[HM_ID_MAX], brand[HM_NAME_MAX], holder[HM_NAME_MAX];
    int bank;
    s_key_t key;
} s_ref_t;

typedef struct s_pair {
    char a[HM_ID_MAX * 3], b[HM_ID_MAX];
} s_pair_t;

struct hm_engine {
    pthread_mutex_t mu;
    char path[4096];
    int strike_limit;
    s_ref_t *refs; size_t n_refs, cap_refs;
    s_pair_t *auths; size_t n_auths, cap_auths;   /* a = brand, b = seller */
    s_key_t *allow; size_t n_allow, cap_allow;
    s_pair_t *strikes; size_t n_strikes, cap_strikes; /* a = seller\tlisting\timage */
};

struct hm_fp_ctx {
    hm_decode_limits_t lim;
    hm_fp_timing_t timing;
};

static void *s_grow(void *p, size_t *cap, size_t n, size_t sz)
{
    if (n < *cap)
        return p;
    size_t nc = *cap ? *cap * 2 : 16;
    void *q = realloc(p, nc * sz);
    if (!q)
        abort();
    *cap = nc;
    return q;
}

/* The stub's "fingerprint": FNV-1a 64 of every byte (identical bytes match). */
static s_key_t s_key_of(const void *img, size_t len)
{
    s_key_t k;
    uint64_t h = 0xcbf29ce484222325ULL;
    const unsigned char *p = img;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 0x100000001b3ULL;
    memset(&k, 0, sizeof k);
    k.n = 8;
    memcpy(k.b, &h, 8);
    return k;
}

static int s_key_eq(const s_key_t *a, const s_key_t *b)
{
    return a->n == b->n && memcmp(a->b, b->b, a->n) == 0;
}

static void s_hex(const s_key_t *k, char *out)
{
    for (size_t i = 0; i < k->n; i++)
        sprintf(out + 2 * i, "%02x", k->b[i]);
    out[2 * k->n] = '\0';
    if (k->n == 0)
        strcpy(out, "-");
}

static void s_unhex(const char *s, s_key_t *k)
{
    memset(k, 0, sizeof *k);
    if (strcmp(s, "-") == 0)
        return;
    for (size_t i = 0; s[2 * i] && s[2 * i + 1] && i < HM_STUB_KEY; i++) {
        unsigned v;
        sscanf(s + 2 * i, "%2x", &v);
        k->b[i] = (unsigned char)v;
        k->n++;
    }
}

static int s_save(hm_engine_t *e)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", e->path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return hm__seterr(HM_E_STORE, "stub: cannot write %s", tmp);
    char hex[2 * HM_STUB_KEY + 2];
    for (size_t i = 0; i < e->n_refs; i++) {
        s_hex(&e->refs[i].key, hex);
        fprintf(f, "R\t%s\t%d\t%s\t%s\t%s\n", e->refs[i].id, e->refs[i].bank,
                e->refs[i].brand, e->refs[i].holder[0] ? e->refs[i].holder : "-", hex);
    }
    for (size_t i = 0; i < e->n_auths; i++)
        fprintf(f, "A\t%s\t%s\n", e->auths[i].a, e->auths[i].b);
    for (size_t i = 0; i < e->n_allow; i++) {
        s_hex(&e->allow[i], hex);
        fprintf(f, "L\t%s\n", hex);
    }
    for (size_t i = 0; i < e->n_strikes; i++)
        fprintf(f, "S\t%s\n", e->strikes[i].a);
    fclose(f);
    return rename(tmp, e->path) == 0 ? 0 : HM_E_STORE;
}

static void s_load(hm_engine_t *e)
{
    FILE *f = fopen(e->path, "r");
    if (!f)
        return;
    char line[2048];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        char *save = NULL, *t = strtok_r(line, "\t", &save);
        if (!t)
            continue;
        if (t[0] == 'R') {
            e->refs = s_grow(e->refs, &e->cap_refs, e->n_refs, sizeof *e->refs);
            s_ref_t *r = &e->refs[e->n_refs++];
            memset(r, 0, sizeof *r);
            char *f1 = strtok_r(NULL, "\t", &save), *f2 = strtok_r(NULL, "\t", &save);
            char *f3 = strtok_r(NULL, "\t", &save), *f4 = strtok_r(NULL, "\t", &save);
            char *f5 = strtok_r(NULL, "\t", &save);
            if (!f1 || !f2 || !f3 || !f4 || !f5) { e->n_refs--; continue; }
            snprintf(r->id, sizeof r->id, "%s", f1);
            r->bank = atoi(f2);
            snprintf(r->brand, sizeof r->brand, "%s", f3);
            snprintf(r->holder, sizeof r->holder, "%s", strcmp(f4, "-") ? f4 : "");
            s_unhex(f5, &r->key);
        } else if (t[0] == 'A') {
            char *b = strtok_r(NULL, "\t", &save), *s = strtok_r(NULL, "\t", &save);
            if (!b || !s) continue;
            e->auths = s_grow(e->auths, &e->cap_auths, e->n_auths, sizeof *e->auths);
            snprintf(e->auths[e->n_auths].a, sizeof e->auths[0].a, "%s", b);
            snprintf(e->auths[e->n_auths++].b, sizeof e->auths[0].b, "%s", s);
        } else if (t[0] == 'L') {
            char *h = strtok_r(NULL, "\t", &save);
            if (!h) continue;
            e->allow = s_grow(e->allow, &e->cap_allow, e->n_allow, sizeof *e->allow);
            s_unhex(h, &e->allow[e->n_allow++]);
        } else if (t[0] == 'S') {
            char *rest = save; /* seller\tlisting\timage */
            if (!rest) continue;
            e->strikes = s_grow(e->strikes, &e->cap_strikes, e->n_strikes, sizeof *e->strikes);
            snprintf(e->strikes[e->n_strikes++].a, sizeof e->strikes[0].a, "%s", rest);
        }
    }
    fclose(f);
}

const char *hm_decision_name(hm_decision_t d)
{
    static const char *const n[] = { "unknown", "genuine", "suspect", "counterfeit", "error" };
    return (unsigned)d <= HM_DEC_ERROR ? n[d] : "error";
}

const char *hm_bank_name(int bank)
{
    return bank == HM_BANK_COUNTERFEIT ? "counterfeit" : bank == HM_BANK_GENUINE ? "genuine" : "unknown";
}

int hm_bank_parse(const char *name)
{
    if (name && strcmp(name, "counterfeit") == 0)
        return HM_BANK_COUNTERFEIT;
    if (name && strcmp(name, "genuine") == 0)
        return HM_BANK_GENUINE;
    return HM_E_INVAL;
}

int hm_fp_ctx_new(hm_fp_ctx_t **out, const hm_decode_limits_t *lim)
{
    hm_fp_ctx_t *c = calloc(1, sizeof *c);
    if (!c)
        return HM_E_NOMEM;
    c->lim = lim ? *lim : hm_decode_limits_default;
    *out = c;
    return 0;
}

void hm_fp_ctx_free(hm_fp_ctx_t **ctx_p)
{
    if (ctx_p && *ctx_p) {
        free(*ctx_p);
        *ctx_p = NULL;
    }
}

const hm_fp_timing_t *hm_fp_ctx_timing(const hm_fp_ctx_t *ctx)
{
    return &ctx->timing;
}

int hm_fp_serialize(const hm_fp_t *fp, uint8_t *buf, size_t cap)
{
    if (cap < HM_FP_SERIAL_BYTES)
        return HM_E_INVAL;
    memset(buf, 0, HM_FP_SERIAL_BYTES);
    memcpy(buf, "HMFP\1\0\0\0", 8);
    memcpy(buf + 8, fp->full.pdq[0].w, 32);
    return HM_FP_SERIAL_BYTES;
}

int hm_fp_deserialize(const uint8_t *buf, size_t len, hm_fp_t *fp)
{
    if (len != HM_FP_SERIAL_BYTES || memcmp(buf, "HMFP", 4) != 0)
        return hm__seterr(HM_E_CORRUPT, "stub: not a serialised fingerprint");
    memset(fp, 0, sizeof *fp);
    memcpy(fp->full.pdq[0].w, buf + 8, 32);
    return 0;
}

int hm_engine_open(hm_engine_t **out, const char *dir, const hm_engine_opts_t *opts)
{
    if (!out || !dir)
        return HM_E_INVAL;
    hm_engine_t *e = calloc(1, sizeof *e);
    if (!e)
        return HM_E_NOMEM;
    pthread_mutex_init(&e->mu, NULL);
    snprintf(e->path, sizeof e->path, "%s/stub.db", dir);
    e->strike_limit = opts && opts->strike_limit > 0 ? opts->strike_limit : 3;
    FILE *f = fopen(e->path, "a");
    if (!f) {
        free(e);
        return hm__seterr(HM_E_STORE, "stub: cannot open %s: %s", dir, strerror(errno));
    }
    fclose(f);
    s_load(e);
    *out = e;
    return 0;
}

void hm_engine_close(hm_engine_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    hm_engine_t *e = *self_p;
    pthread_mutex_destroy(&e->mu);
    free(e->refs);
    free(e->auths);
    free(e->allow);
    free(e->strikes);
    free(e);
    *self_p = NULL;
}

static uint64_t s_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int s_authorized(hm_engine_t *e, const char *brand, const char *seller)
{
    for (size_t i = 0; seller && i < e->n_auths; i++)
        if (strcmp(e->auths[i].a, brand) == 0 && strcmp(e->auths[i].b, seller) == 0)
            return 1;
    return 0;
}

static int s_strikes(hm_engine_t *e, const char *seller)
{
    int n = 0;
    size_t sl = strlen(seller);
    for (size_t i = 0; i < e->n_strikes; i++)
        if (strncmp(e->strikes[i].a, seller, sl) == 0 && e->strikes[i].a[sl] == '\t')
            n++;
    return n;
}

static void s_decide(hm_engine_t *e, const s_key_t *k, const hm_query_t *q, hm_verdict_t *v)
{
    int allowed = 0;
    for (size_t i = 0; i < e->n_allow; i++)
        if (s_key_eq(&e->allow[i], k))
            allowed = 1;
    const s_ref_t *best = NULL;
    for (size_t i = 0; i < e->n_refs; i++) {
        const s_ref_t *r = &e->refs[i];
        if (!s_key_eq(&r->key, k))
            continue;
        if (allowed && r->bank == HM_BANK_COUNTERFEIT)
            continue;
        if (!best || (r->bank == HM_BANK_COUNTERFEIT && best->bank != HM_BANK_COUNTERFEIT))
            best = r;
    }
    v->decision = HM_DEC_UNKNOWN;
    v->reason = allowed ? "allow_listed" : "no_match";
    v->score = 0.1;
    if (best) {
        hm_match_t *m = &v->matches[v->n_matches++];
        snprintf(m->ref, sizeof m->ref, "%s", best->id);
        m->bank = best->bank;
        snprintf(m->brand, sizeof m->brand, "%s", best->brand);
        snprintf(m->holder, sizeof m->holder, "%s", best->holder);
        m->signal = "pdq";
        m->variant = "original";
        m->distance = 0;
        m->similarity = 1.0;
        m->matched = 1;
        v->score = 0.99;
        if (best->bank == HM_BANK_COUNTERFEIT) {
            v->decision = HM_DEC_COUNTERFEIT;
            v->reason = "counterfeit_match";
        } else if (s_authorized(e, best->brand, q ? q->seller : NULL)) {
            v->decision = HM_DEC_GENUINE;
            v->reason = "authorized_seller";
        } else if (allowed) {
            v->decision = HM_DEC_UNKNOWN;
            v->reason = "allow_listed";
        } else {
            v->decision = HM_DEC_SUSPECT;
            v->reason = "unauthorized_seller";
        }
    }
    if (q && q->seller && q->seller[0]) {
        if (v->decision == HM_DEC_COUNTERFEIT && q->record_strikes) {
            char key[sizeof e->strikes[0].a];
            snprintf(key, sizeof key, "%s\t%s\t%s", q->seller, q->listing_id ? q->listing_id : "",
                     q->image_id ? q->image_id : "");
            int seen = 0;
            for (size_t i = 0; i < e->n_strikes; i++)
                if (strcmp(e->strikes[i].a, key) == 0)
                    seen = 1;
            if (!seen) {
                e->strikes = s_grow(e->strikes, &e->cap_strikes, e->n_strikes, sizeof *e->strikes);
                snprintf(e->strikes[e->n_strikes++].a, sizeof e->strikes[0].a, "%s", key);
                s_save(e);
            }
        }
        v->strikes = s_strikes(e, q->seller);
        v->seller_blocked = v->strikes >= e->strike_limit;
    }
}

int hm_engine_score(hm_engine_t *e, hm_fp_ctx_t *ctx, const void *img, size_t len,
                    const hm_query_t *q, hm_verdict_t *v)
{
    if (!e || !ctx || !v)
        return HM_E_INVAL;
    uint64_t t0 = s_now_us();
    memset(v, 0, sizeof *v);
    if (!img || len == 0) {
        hm_verdict_error(v, HM_E_EMPTY, "empty image");
        return 0;
    }
    if (len > ctx->lim.max_bytes) {
        hm_verdict_error(v, HM_E_TOO_LARGE, "image larger than the decode limit");
        return 0;
    }
    if (len >= 3 && memcmp(img, "BAD", 3) == 0) {
        hm_verdict_error(v, HM_E_DECODE, "stub: undecodable image");
        return 0;
    }
    if (len > 4 && memcmp(img, "SLOW", 4) == 0) {
        char num[8] = { 0 };
        memcpy(num, (const char *)img + 4, len - 4 < 7 ? len - 4 : 7);
        int ms = atoi(num);
        if (ms > 0 && ms < 10000)
            usleep((useconds_t)ms * 1000u);
    }
    if (len >= 32768)
        usleep((useconds_t)(len / 32768) * 1000u);
    uint64_t t1 = s_now_us();
    s_key_t k = s_key_of(img, len);
    pthread_mutex_lock(&e->mu);
    s_decide(e, &k, q, v);
    pthread_mutex_unlock(&e->mu);
    uint64_t t2 = s_now_us();
    snprintf(v->pdq, sizeof v->pdq, "%064x", (unsigned)k.b[0]);
    v->quality = 100;
    v->decode_us = t1 - t0;
    v->fingerprint_us = 1;
    v->search_us = t2 - t1;
    v->total_us = t2 - t0 + 1;
    ctx->timing.total_ns = v->total_us * 1000;
    return 0;
}

int hm_engine_score_fp(hm_engine_t *e, const hm_fp_t *fp, const hm_query_t *q, hm_verdict_t *v)
{
    if (!e || !fp || !v)
        return HM_E_INVAL;
    memset(v, 0, sizeof *v);
    s_key_t k = s_key_of(fp->full.pdq[0].w, HM_STUB_KEY);
    pthread_mutex_lock(&e->mu);
    s_decide(e, &k, q, v);
    pthread_mutex_unlock(&e->mu);
    return 0;
}

static int s_add_key(hm_engine_t *e, const hm_ref_meta_t *meta, const s_key_t *k, uint64_t *id_out)
{
    if (!meta || !meta->ext_id || !meta->brand || (meta->bank != HM_BANK_COUNTERFEIT &&
                                                   meta->bank != HM_BANK_GENUINE))
        return hm__seterr(HM_E_INVAL, "stub: ext_id, brand and bank are required");
    int rc = 0;
    pthread_mutex_lock(&e->mu);
    for (size_t i = 0; i < e->n_refs; i++)
        if (strcmp(e->refs[i].id, meta->ext_id) == 0) {
            rc = hm__seterr(HM_E_EXISTS, "reference %s exists", meta->ext_id);
            goto leave;
        }
    e->refs = s_grow(e->refs, &e->cap_refs, e->n_refs, sizeof *e->refs);
    s_ref_t *r = &e->refs[e->n_refs++];
    memset(r, 0, sizeof *r);
    snprintf(r->id, sizeof r->id, "%s", meta->ext_id);
    snprintf(r->brand, sizeof r->brand, "%s", meta->brand);
    snprintf(r->holder, sizeof r->holder, "%s", meta->holder ? meta->holder : "");
    r->bank = meta->bank;
    r->key = *k;
    if (id_out)
        *id_out = e->n_refs;
    rc = s_save(e);
leave:
    pthread_mutex_unlock(&e->mu);
    return rc;
}

int hm_engine_add(hm_engine_t *e, hm_fp_ctx_t *ctx, const hm_ref_meta_t *meta,
                  const void *img, size_t len, uint64_t *id_out)
{
    if (!e || !ctx)
        return HM_E_INVAL;
    if (!img || len == 0)
        return hm__seterr(HM_E_EMPTY, "empty image");
    s_key_t k = s_key_of(img, len);
    return s_add_key(e, meta, &k, id_out);
}

int hm_engine_add_fp(hm_engine_t *e, const hm_ref_meta_t *meta, const hm_fp_t *fp,
                     const uint8_t sha256[32], int pdq_only, uint64_t *id_out)
{
    if (!e || !fp)
        return HM_E_INVAL;
    s_key_t k = s_key_of(fp->full.pdq[0].w, HM_STUB_KEY);
    return s_add_key(e, meta, &k, id_out);
}

int hm_engine_remove(hm_engine_t *e, const char *ext_id)
{
    if (!e || !ext_id)
        return HM_E_INVAL;
    int rc = HM_E_NOTFOUND;
    pthread_mutex_lock(&e->mu);
    for (size_t i = 0; i < e->n_refs; i++)
        if (strcmp(e->refs[i].id, ext_id) == 0) {
            e->refs[i] = e->refs[--e->n_refs];
            rc = s_save(e);
            break;
        }
    pthread_mutex_unlock(&e->mu);
    return rc == HM_E_NOTFOUND ? hm__seterr(rc, "no reference %s", ext_id) : rc;
}

int hm_engine_relabel(hm_engine_t *e, const char *ext_id, int bank, const char *brand,
                      const char *holder)
{
    if (!e || !ext_id)
        return HM_E_INVAL;
    int rc = HM_E_NOTFOUND;
    pthread_mutex_lock(&e->mu);
    for (size_t i = 0; i < e->n_refs; i++)
        if (strcmp(e->refs[i].id, ext_id) == 0) {
            if (bank == HM_BANK_COUNTERFEIT || bank == HM_BANK_GENUINE)
                e->refs[i].bank = bank;
            if (brand)
                snprintf(e->refs[i].brand, sizeof e->refs[i].brand, "%s", brand);
            if (holder)
                snprintf(e->refs[i].holder, sizeof e->refs[i].holder, "%s", holder);
            rc = s_save(e);
            break;
        }
    pthread_mutex_unlock(&e->mu);
    return rc == HM_E_NOTFOUND ? hm__seterr(rc, "no reference %s", ext_id) : rc;
}

int hm_engine_authorize(hm_engine_t *e, const char *brand, const char *seller, int on)
{
    if (!e || !brand || !seller)
        return HM_E_INVAL;
    int rc = 0;
    pthread_mutex_lock(&e->mu);
    size_t i;
    for (i = 0; i < e->n_auths; i++)
        if (strcmp(e->auths[i].a, brand) == 0 && strcmp(e->auths[i].b, seller) == 0)
            break;
    if (on && i == e->n_auths) {
        e->auths = s_grow(e->auths, &e->cap_auths, e->n_auths, sizeof *e->auths);
        snprintf(e->auths[e->n_auths].a, sizeof e->auths[0].a, "%s", brand);
        snprintf(e->auths[e->n_auths++].b, sizeof e->auths[0].b, "%s", seller);
    } else if (!on && i < e->n_auths) {
        e->auths[i] = e->auths[--e->n_auths];
    } else if (!on) {
        rc = hm__seterr(HM_E_NOTFOUND, "seller %s is not authorised for %s", seller, brand);
    }
    if (rc == 0)
        rc = s_save(e);
    pthread_mutex_unlock(&e->mu);
    return rc;
}

int hm_engine_feedback(hm_engine_t *e, hm_fp_ctx_t *ctx, const void *img, size_t len,
                       int confirm, const hm_ref_meta_t *meta, const char *note)
{
    if (!e || !ctx)
        return HM_E_INVAL;
    if (!img || len == 0)
        return hm__seterr(HM_E_EMPTY, "empty image");
    s_key_t k = s_key_of(img, len);
    if (confirm) {
        hm_ref_meta_t m = meta ? *meta : (hm_ref_meta_t){ 0 };
        m.bank = HM_BANK_COUNTERFEIT;
        char id[64];
        if (!m.ext_id) {
            snprintf(id, sizeof id, "feedback-%lu", (unsigned long)s_now_us());
            m.ext_id = id;
        }
        if (!m.brand)
            m.brand = "unknown";
        pthread_mutex_lock(&e->mu);
        for (size_t i = 0; i < e->n_allow; i++)
            if (s_key_eq(&e->allow[i], &k))
                e->allow[i--] = e->allow[--e->n_allow];
        pthread_mutex_unlock(&e->mu);
        return s_add_key(e, &m, &k, NULL);
    }
    pthread_mutex_lock(&e->mu);
    e->allow = s_grow(e->allow, &e->cap_allow, e->n_allow, sizeof *e->allow);
    e->allow[e->n_allow++] = k;
    int rc = s_save(e);
    pthread_mutex_unlock(&e->mu);
    return rc;
}

int hm_engine_stats_json(hm_engine_t *e, char **json)
{
    if (!e || !json)
        return HM_E_INVAL;
    size_t nc = 0, ng = 0;
    pthread_mutex_lock(&e->mu);
    for (size_t i = 0; i < e->n_refs; i++) {
        if (e->refs[i].bank == HM_BANK_COUNTERFEIT)
            nc++;
        else
            ng++;
    }
    json_t *o = json_pack("{s:{s:I,s:I},s:I,s:I,s:I}", "references", "counterfeit", (json_int_t)nc,
                          "genuine", (json_int_t)ng, "authorizations", (json_int_t)e->n_auths,
                          "allow_list", (json_int_t)e->n_allow, "strikes", (json_int_t)e->n_strikes);
    pthread_mutex_unlock(&e->mu);
    *json = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return *json ? 0 : HM_E_NOMEM;
}

int hm_engine_snapshot(hm_engine_t *e)
{
    if (!e)
        return HM_E_INVAL;
    pthread_mutex_lock(&e->mu);
    int rc = s_save(e);
    pthread_mutex_unlock(&e->mu);
    return rc;
}

int hm_engine_load_thresholds(hm_engine_t *e, const char *path)
{
    if (!e)
        return HM_E_INVAL;
    if (path && access(path, R_OK) != 0)
        return hm__seterr(HM_E_IO, "cannot read thresholds %s", path);
    return 0;
}

void hm_verdict_error(hm_verdict_t *v, int rc, const char *msg)
{
    memset(v, 0, sizeof *v);
    v->decision = HM_DEC_ERROR;
    v->reason = "error";
    v->error = rc;
    snprintf(v->error_msg, sizeof v->error_msg, "%s", msg ? msg : hm_strerror(rc));
}

json_t *hm_verdict_to_json(const hm_verdict_t *v, const char *request_id,
                           const char *listing_id, const char *image_id, const char *seller)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    json_object_set_new(o, "v", json_integer(1));
    if (request_id)
        json_object_set_new(o, "request_id", json_string(request_id));
    if (listing_id)
        json_object_set_new(o, "listing_id", json_string(listing_id));
    if (image_id)
        json_object_set_new(o, "image_id", json_string(image_id));
    json_object_set_new(o, "decision", json_string(hm_decision_name(v->decision)));
    json_object_set_new(o, "score", json_real(v->score));
    json_object_set_new(o, "reason", json_string(v->reason ? v->reason : ""));
    json_t *ms = json_array();
    for (int i = 0; i < v->n_matches; i++) {
        const hm_match_t *m = &v->matches[i];
        json_array_append_new(ms, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:i,s:f,s:b}",
                                            "ref", m->ref, "bank", hm_bank_name(m->bank),
                                            "brand", m->brand, "holder", m->holder,
                                            "signal", m->signal ? m->signal : "",
                                            "variant", m->variant ? m->variant : "",
                                            "distance", m->distance, "similarity", m->similarity,
                                            "matched", m->matched));
    }
    json_object_set_new(o, "matches", ms);
    if (seller)
        json_object_set_new(o, "seller", json_pack("{s:s,s:i,s:b}", "id", seller, "strikes",
                                                   v->strikes, "blocked", v->seller_blocked));
    json_object_set_new(o, "pdq", json_string(v->pdq));
    json_object_set_new(o, "quality", json_integer(v->quality));
    json_object_set_new(o, "timing_us",
                        json_pack("{s:I,s:I,s:I,s:I}", "decode", (json_int_t)v->decode_us,
                                  "fingerprint", (json_int_t)v->fingerprint_us, "search",
                                  (json_int_t)v->search_us, "total", (json_int_t)v->total_us));
    if (v->decision == HM_DEC_ERROR)
        json_object_set_new(o, "error", json_pack("{s:s,s:s}", "code", hm_err_name(v->error),
                                                  "message", v->error_msg));
    return o;
}
