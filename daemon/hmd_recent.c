/* hmd_recent.c - a mutex-guarded ring of retained verdicts. */
#include "hmd_recent.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hm_error.h"
#include "hm_log.h"
#include "hm_thumb.h"

struct hmd_recent {
    pthread_mutex_t mu;
    hmd_recent_entry_t **ring;  /* oldest at head */
    int cap, head, n;
    size_t bytes, max_bytes;
    int keep_genuine;
    uint64_t seq;
    unsigned boot;              /* start time, the id prefix */
};

static size_t s_cost(const hmd_recent_entry_t *e)
{
    return sizeof *e + e->thumb_len + e->img_len;
}

static void s_entry_free(hmd_recent_entry_t *e)
{
    if (!e)
        return;
    free(e->thumb);
    free(e->img);
    free(e);
}

int hmd_recent_new(hmd_recent_t **out, int max_count, size_t max_bytes, int keep_genuine)
{
    if (!out || max_count < 1 || max_bytes < 65536)
        return hm__seterr(HM_E_INVAL, "recent: count >= 1 and bytes >= 64 KiB");
    hmd_recent_t *r = calloc(1, sizeof *r);
    if (!r || !(r->ring = calloc((size_t)max_count, sizeof *r->ring))) {
        free(r);
        return hm__seterr(HM_E_NOMEM, "recent: out of memory");
    }
    r->cap = max_count;
    r->max_bytes = max_bytes;
    r->keep_genuine = keep_genuine;
    r->boot = (unsigned)time(NULL);
    pthread_mutex_init(&r->mu, NULL);
    *out = r;
    return 0;
}

void hmd_recent_free(hmd_recent_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    hmd_recent_t *r = *self_p;
    for (int i = 0; i < r->n; i++)
        s_entry_free(r->ring[(r->head + i) % r->cap]);
    pthread_mutex_destroy(&r->mu);
    free(r->ring);
    free(r);
    *self_p = NULL;
}

static void s_copy(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

/* Drop the oldest entry (the lock is held). */
static void s_drop_oldest(hmd_recent_t *r)
{
    hmd_recent_entry_t *e = r->ring[r->head];
    r->ring[r->head] = NULL;
    r->head = (r->head + 1) % r->cap;
    r->n--;
    r->bytes -= s_cost(e);
    s_entry_free(e);
}

int hmd_recent_add(hmd_recent_t *r, const hm_verdict_t *v, const char *seller,
                   const char *brand, const char *listing, const char *image_id,
                   const void *img, size_t len, char *id_out)
{
    if (id_out)
        id_out[0] = '\0';
    if (!r || !v)
        return 0;
    int d = v->decision;
    if (d != HM_DEC_COUNTERFEIT && d != HM_DEC_SUSPECT && !(d == HM_DEC_GENUINE && r->keep_genuine))
        return 0;
    hmd_recent_entry_t *e = calloc(1, sizeof *e);
    if (!e)
        return hm__seterr(HM_E_NOMEM, "recent: out of memory");
    e->time = (int64_t)time(NULL);
    e->decision = d;
    e->score = v->score;
    s_copy(e->reason, sizeof e->reason, v->reason);
    s_copy(e->claimed, sizeof e->claimed, brand);
    s_copy(e->seller, sizeof e->seller, seller);
    s_copy(e->listing, sizeof e->listing, listing);
    s_copy(e->image, sizeof e->image, image_id);
    e->strikes = v->strikes;
    e->blocked = v->seller_blocked;
    for (int i = 0; i < v->n_matches && e->n_matches < HMD_RECENT_MATCHES; i++) {
        const hm_match_t *m = &v->matches[i];
        if (!m->matched)
            continue;
        hmd_recent_match_t *o = &e->m[e->n_matches++];
        s_copy(o->ref, sizeof o->ref, m->ref);
        o->bank = m->bank;
        s_copy(o->brand, sizeof o->brand, m->brand);
        s_copy(o->holder, sizeof o->holder, m->holder);
        s_copy(o->signal, sizeof o->signal, m->signal);
        s_copy(o->variant, sizeof o->variant, m->variant);
        o->distance = m->distance;
        o->similarity = m->similarity;
    }
    s_copy(e->brand, sizeof e->brand, e->n_matches ? e->m[0].brand : e->claimed);
    if (img && len) {
        int rc = hm_thumb_jpeg(img, len, HM_THUMB_PX, &e->thumb, &e->thumb_len);
        if (rc)
            hm_log_warn("recent_thumb", "code=%s msg=\"%s\"", hm_err_name(rc), hm_last_error());
        if (len <= r->max_bytes / 4 && (e->img = malloc(len)) != NULL) {
            memcpy(e->img, img, len);
            e->img_len = len;
        }
    }
    pthread_mutex_lock(&r->mu);
    snprintf(e->id, sizeof e->id, "%08x-%llu", r->boot, (unsigned long long)++r->seq);
    while (r->n > 0 && (r->n == r->cap || r->bytes + s_cost(e) > r->max_bytes))
        s_drop_oldest(r);
    r->ring[(r->head + r->n) % r->cap] = e;
    r->n++;
    r->bytes += s_cost(e);
    if (id_out)
        memcpy(id_out, e->id, HMD_VID_MAX);
    pthread_mutex_unlock(&r->mu);
    return 0;
}

int hmd_recent_visible(const hmd_recent_filter_t *f, const char *brand)
{
    if (!f || !f->brands)
        return 1;
    for (int i = 0; i < f->n_brands; i++)
        if (strcmp(f->brands[i], brand) == 0)
            return 1;
    return 0;
}

static int s_pass(const hmd_recent_filter_t *f, const hmd_recent_entry_t *e)
{
    if (!hmd_recent_visible(f, e->brand))
        return 0;
    if (!f)
        return 1;
    if (f->brand && *f->brand && strcmp(f->brand, e->brand) != 0)
        return 0;
    if (f->seller && *f->seller && strcmp(f->seller, e->seller) != 0)
        return 0;
    if (f->decision >= 0 && f->decision != e->decision)
        return 0;
    return !(f->since > 0 && e->time < f->since);
}

int hmd_recent_list(hmd_recent_t *r, const hmd_recent_filter_t *f, int offset,
                    hmd_recent_entry_t *out, int cap, int *total)
{
    int got = 0, seen = 0;
    pthread_mutex_lock(&r->mu);
    for (int i = r->n - 1; i >= 0; i--) {
        const hmd_recent_entry_t *e = r->ring[(r->head + i) % r->cap];
        if (!s_pass(f, e))
            continue;
        if (seen++ >= offset && got < cap) {
            out[got] = *e;
            out[got].thumb = out[got].img = NULL;
            got++;
        }
    }
    pthread_mutex_unlock(&r->mu);
    if (total)
        *total = seen;
    return got;
}

static hmd_recent_entry_t *s_find(hmd_recent_t *r, const char *id)
{
    for (int i = 0; i < r->n; i++) {
        hmd_recent_entry_t *e = r->ring[(r->head + i) % r->cap];
        if (strcmp(e->id, id) == 0)
            return e;
    }
    return NULL;
}

static void *s_dup(const void *p, size_t n)
{
    void *q = n ? malloc(n) : NULL;
    if (q)
        memcpy(q, p, n);
    return q;
}

int hmd_recent_get(hmd_recent_t *r, const char *id, hmd_recent_entry_t *out, int want_thumb,
                   int want_img)
{
    int rc = 0;
    pthread_mutex_lock(&r->mu);
    hmd_recent_entry_t *e = s_find(r, id);
    if (!e) {
        rc = hm__seterr(HM_E_NOTFOUND, "recent: no verdict %s", id);
    } else {
        *out = *e;
        out->thumb = want_thumb ? s_dup(e->thumb, e->thumb_len) : NULL;
        out->img = want_img ? s_dup(e->img, e->img_len) : NULL;
        if ((want_thumb && e->thumb && !out->thumb) || (want_img && e->img && !out->img)) {
            free(out->thumb);
            free(out->img);
            rc = hm__seterr(HM_E_NOMEM, "recent: out of memory");
        }
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}

int hmd_recent_mark(hmd_recent_t *r, const char *id, const char *review)
{
    pthread_mutex_lock(&r->mu);
    hmd_recent_entry_t *e = s_find(r, id);
    if (e)
        s_copy(e->review, sizeof e->review, review);
    pthread_mutex_unlock(&r->mu);
    return e ? 0 : hm__seterr(HM_E_NOTFOUND, "recent: no verdict %s", id);
}

void hmd_recent_usage(hmd_recent_t *r, int *count, size_t *bytes)
{
    pthread_mutex_lock(&r->mu);
    if (count)
        *count = r->n;
    if (bytes)
        *bytes = r->bytes;
    pthread_mutex_unlock(&r->mu);
}
