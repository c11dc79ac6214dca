/*
 * hm_lfindex.c - vocabulary tree + inverted lists over binary descriptors
 * (see hm_lfindex.h).
 */
#include "hm_lfindex.h"

#include "hm_error.h"
#include "hm_simd.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define LFI_TWO_PI 6.283185307179586f

const hm_lfindex_opts_t hm_lfindex_opts_default = {
    .k1 = 1024, .k2 = 64, .train_iters = 8, .seed = 0x6c66696478ULL,
};

const hm_lfindex_qopts_t hm_lfindex_qopts_default = {
    .probes = 1, .max_dist = 64, .min_votes = 6, .max_cand = 8, .stop_factor = 8.0f,
};

typedef struct lfi_list {
    uint64_t *codes;          /* 4 words per entry */
    uint32_t *slot;           /* reference slot */
    uint16_t *kp;             /* keypoint index in the reference */
    uint32_t n, cap;
} lfi_list_t;

typedef struct lfi_ref {
    uint64_t id;
    uint32_t n;               /* keypoints */
    int alive;
    float aw, ah;
    uint16_t *kp;             /* x, y, size (x 65535), angle (x 65536 / 2 pi) */
} lfi_ref_t;

struct hm_lfindex {
    hm_lfindex_opts_t o;
    pthread_rwlock_t lock;
    int trained;
    uint64_t *top;            /* k1 x 4 words */
    uint64_t *leaf;           /* k1 x k2 x 4 words */
    uint64_t *top8;           /* top in hamming256_argmin8's block layout */
    uint64_t *leaf8;          /* each top word's leaves, likewise (lblk blocks each) */
    size_t tblk, lblk;
    lfi_list_t *lists;        /* k1 x k2 */
    lfi_ref_t *refs;
    uint32_t nref, capref;
    size_t n_live, n_dead, entries;
    uint64_t *mkey;           /* id -> slot + 1, open addressing; removed ids keep */
    uint32_t *mval;           /* their (dead) slot until the id is added again */
    size_t mcap, mcount;
};

typedef struct lfi_match {
    uint32_t slot;
    uint16_t qi, ri;
    uint16_t d;
    uint8_t var;
} lfi_match_t;

/* One cache line access per match: the tallies of a slot side by side. */
typedef struct lfi_tally {
    uint32_t lastq[2];        /* last query keypoint + 1 that voted (plain, mirror) */
    uint16_t votes[2];
} lfi_tally_t;

struct hm_lfindex_scratch {
    lfi_tally_t *tally;       /* per slot */
    uint8_t *cidx;            /* 2 per slot: candidate index + 1 */
    size_t slots;
    uint32_t *touched;
    size_t ntouched, tcap;
    lfi_match_t *m;
    size_t nm, mcap;
    uint16_t *dist;
    size_t dcap;
    uint32_t *hit;            /* list positions within max_dist */
    size_t hcap;
    hm_geom_corr_t *corr;
    size_t ccap;
    lfi_match_t *stage;       /* matches of the candidates, grouped */
    size_t scap;
    uint32_t bestq[HM_LF_MAX_KP], bestr[HM_LF_MAX_KP];
};

static uint64_t s_rand(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

int hm_lfindex_create(hm_lfindex_t **out, const hm_lfindex_opts_t *opts)
{
    if (!out)
        return hm__seterr(HM_E_INVAL, "hm_lfindex_create: NULL");
    hm_lfindex_opts_t o = opts ? *opts : hm_lfindex_opts_default;
    if (o.k1 < 2 || o.k1 > 1024 || o.k2 < 1 || o.k2 > 1024 || o.train_iters < 1 ||
        o.train_iters > 100)
        return hm__seterr(HM_E_INVAL, "hm_lfindex_create: options out of range");
    hm_lfindex_t *ix = calloc(1, sizeof *ix);
    if (!ix)
        return hm__seterr(HM_E_NOMEM, "hm_lfindex_create");
    ix->o = o;
    pthread_rwlock_init(&ix->lock, NULL);
    size_t words = (size_t)o.k1 * o.k2;
    ix->top = calloc((size_t)o.k1 * 4, sizeof(uint64_t));
    ix->leaf = calloc(words * 4, sizeof(uint64_t));
    ix->lists = calloc(words, sizeof(lfi_list_t));
    ix->tblk = ((size_t)o.k1 + 7) / 8;
    ix->lblk = ((size_t)o.k2 + 7) / 8;
    ix->top8 = calloc(ix->tblk * 32, sizeof(uint64_t));
    ix->leaf8 = calloc((size_t)o.k1 * ix->lblk * 32, sizeof(uint64_t));
    ix->mcap = 1024;
    ix->mkey = calloc(ix->mcap, sizeof(uint64_t));
    ix->mval = calloc(ix->mcap, sizeof(uint32_t));
    if (!ix->top || !ix->leaf || !ix->top8 || !ix->leaf8 || !ix->lists || !ix->mkey || !ix->mval) {
        hm_lfindex_destroy(&ix);
        return hm__seterr(HM_E_NOMEM, "hm_lfindex_create: %zu words", words);
    }
    *out = ix;
    return 0;
}

void hm_lfindex_destroy(hm_lfindex_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    hm_lfindex_t *ix = *self_p;
    if (ix->lists)
        for (size_t w = 0; w < (size_t)ix->o.k1 * ix->o.k2; w++) {
            free(ix->lists[w].codes);
            free(ix->lists[w].slot);
            free(ix->lists[w].kp);
        }
    for (uint32_t i = 0; i < ix->nref; i++)
        free(ix->refs[i].kp);
    free(ix->refs);
    free(ix->lists);
    free(ix->top);
    free(ix->leaf);
    free(ix->top8);
    free(ix->leaf8);
    free(ix->mkey);
    free(ix->mval);
    pthread_rwlock_destroy(&ix->lock);
    free(ix);
    *self_p = NULL;
}

/* ---- training: k-majority ---- */

static int s_kmajority(const uint64_t *x, size_t n, int k, int iters, uint64_t *seed,
                       uint64_t *cent)
{
    const hm_kernels_t *K = hm_kernels();
    if (n == 0) {
        memset(cent, 0, sizeof(uint64_t) * 4 * (size_t)k);
        return 0;
    }
    for (int c = 0; c < k; c++) {
        size_t i = (size_t)k <= n ? (size_t)(s_rand(seed) % n) : (size_t)c % n;
        memcpy(cent + 4 * c, x + 4 * i, 32);
    }
    uint32_t *best = malloc(n * sizeof *best);
    uint16_t *d1 = malloc(n * 2), *d2 = malloc(n * 2);
    uint32_t *cnt = malloc(sizeof(uint32_t) * 257 * (size_t)k);
    if (!best || !d1 || !d2 || !cnt) {
        free(best), free(d1), free(d2), free(cnt);
        return hm__seterr(HM_E_NOMEM, "hm_lfindex_train: k-majority scratch");
    }
    for (int it = 0; it < iters; it++) {
        K->hamming256_nn(x, n, cent, (size_t)k, best, d1, d2);
        memset(cnt, 0, sizeof(uint32_t) * 257 * (size_t)k);
        for (size_t i = 0; i < n; i++) {
            uint32_t *ct = cnt + 257 * (size_t)best[i];
            const uint64_t *v = x + 4 * i;
            ct[256]++;
            for (int b = 0; b < 256; b++)
                ct[b] += (v[b >> 6] >> (b & 63)) & 1;
        }
        for (int c = 0; c < k; c++) {
            uint32_t *ct = cnt + 257 * (size_t)c;
            if (ct[256] == 0)
                continue; /* an empty cluster keeps its centroid */
            uint64_t w[4] = { 0 };
            for (int b = 0; b < 256; b++)
                if (2 * ct[b] > ct[256])
                    w[b >> 6] |= 1ULL << (b & 63);
            memcpy(cent + 4 * c, w, 32);
        }
    }
    free(best), free(d1), free(d2), free(cnt);
    return 0;
}

int hm_lfindex_train(hm_lfindex_t *ix, const uint64_t *desc, size_t n)
{
    if (!ix || !desc || n < (size_t)ix->o.k1)
        return hm__seterr(HM_E_INVAL, "hm_lfindex_train: need at least k1 descriptors");
    pthread_rwlock_wrlock(&ix->lock);
    int rc = 0;
    uint64_t seed = ix->o.seed ? ix->o.seed : 1;
    uint32_t *best = malloc(n * sizeof *best);
    uint16_t *d1 = malloc(n * 2), *d2 = malloc(n * 2);
    uint64_t *sub = malloc(n * 32);
    if (ix->nref) {
        rc = hm__seterr(HM_E_INVAL, "hm_lfindex_train: the index already holds references");
        goto leave;
    }
    if (!best || !d1 || !d2 || !sub) {
        rc = hm__seterr(HM_E_NOMEM, "hm_lfindex_train: %zu descriptors", n);
        goto leave;
    }
    if ((rc = s_kmajority(desc, n, ix->o.k1, ix->o.train_iters, &seed, ix->top)))
        goto leave;
    hm_kernels()->hamming256_nn(desc, n, ix->top, (size_t)ix->o.k1, best, d1, d2);
    for (int t = 0; t < ix->o.k1; t++) {
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (best[i] == (uint32_t)t)
                memcpy(sub + 4 * m++, desc + 4 * i, 32);
        uint64_t *lv = ix->leaf + (size_t)t * ix->o.k2 * 4;
        if (m == 0) {
            for (int c = 0; c < ix->o.k2; c++)
                memcpy(lv + 4 * c, ix->top + 4 * t, 32);
            continue;
        }
        if ((rc = s_kmajority(sub, m, ix->o.k2, ix->o.train_iters, &seed, lv)))
            goto leave;
    }
    hm_hamming256_blocks8(ix->top, (size_t)ix->o.k1, ix->top8);
    for (int t = 0; t < ix->o.k1; t++)
        hm_hamming256_blocks8(ix->leaf + (size_t)t * ix->o.k2 * 4, (size_t)ix->o.k2,
                              ix->leaf8 + (size_t)t * ix->lblk * 32);
    ix->trained = 1;
leave:
    pthread_rwlock_unlock(&ix->lock);
    free(best), free(d1), free(d2), free(sub);
    return rc;
}

/* Nearest leaves of one descriptor: the best top word, then the p nearest
 * leaves under it, written to words[] (returns how many).  Both arg-mins run
 * on the block layout (hamming256_argmin8): the top level's 1,024 distances
 * are most of a query's quantising cost. */
static int s_quantise(const hm_lfindex_t *ix, const uint64_t *d, int p, uint32_t *words)
{
    const hm_kernels_t *K = hm_kernels();
    uint16_t dist[1024], dm;
    uint32_t t = K->hamming256_argmin8(d, ix->top8, ix->tblk, &dm);
    if (p == 1) {
        words[0] = t * (uint32_t)ix->o.k2 +
                   K->hamming256_argmin8(d, ix->leaf8 + (size_t)t * ix->lblk * 32, ix->lblk, &dm);
        return 1;
    }
    K->hamming256_many(d, ix->leaf + (size_t)t * ix->o.k2 * 4, (size_t)ix->o.k2, dist);
    int np = 0;
    for (int q = 0; q < p && q < ix->o.k2; q++) {
        int b = -1;
        for (int i = 0; i < ix->o.k2; i++) {
            if (dist[i] == 0xffff)
                continue;
            if (b < 0 || dist[i] < dist[b])
                b = i;
        }
        if (b < 0)
            break;
        dist[b] = 0xffff;
        words[np++] = (uint32_t)t * ix->o.k2 + (uint32_t)b;
    }
    return np;
}

/* ---- the id map ---- */

static size_t s_hash(uint64_t id, size_t cap)
{
    id ^= id >> 33;
    id *= 0xff51afd7ed558ccdULL;
    id ^= id >> 33;
    return (size_t)id & (cap - 1);
}

/* The slot + 1 stored for id, or 0. */
static uint32_t s_map_get(const hm_lfindex_t *ix, uint64_t id)
{
    for (size_t h = s_hash(id, ix->mcap);; h = (h + 1) & (ix->mcap - 1)) {
        if (ix->mval[h] == 0)
            return 0;
        if (ix->mkey[h] == id)
            return ix->mval[h];
    }
}

static int s_map_put(hm_lfindex_t *ix, uint64_t id, uint32_t v)
{
    if (2 * (ix->mcount + 1) > ix->mcap) {
        size_t nc = ix->mcap * 2;
        uint64_t *nk = calloc(nc, sizeof *nk);
        uint32_t *nv = calloc(nc, sizeof *nv);
        if (!nk || !nv) {
            free(nk), free(nv);
            return hm__seterr(HM_E_NOMEM, "hm_lfindex: id map");
        }
        for (size_t i = 0; i < ix->mcap; i++)
            if (ix->mval[i]) {
                size_t h = s_hash(ix->mkey[i], nc);
                while (nv[h])
                    h = (h + 1) & (nc - 1);
                nk[h] = ix->mkey[i], nv[h] = ix->mval[i];
            }
        free(ix->mkey), free(ix->mval);
        ix->mkey = nk, ix->mval = nv, ix->mcap = nc;
    }
    size_t h = s_hash(id, ix->mcap);
    while (ix->mval[h] && ix->mkey[h] != id)
        h = (h + 1) & (ix->mcap - 1);
    if (!ix->mval[h])
        ix->mcount++;
    ix->mkey[h] = id, ix->mval[h] = v;
    return 0;
}

static int s_list_push(lfi_list_t *L, const uint64_t *code, uint32_t slot, uint16_t kp)
{
    if (L->n == L->cap) {
        uint32_t nc = L->cap ? L->cap * 2 : 8;
        uint64_t *c = realloc(L->codes, (size_t)nc * 32);
        if (c)
            L->codes = c;
        uint32_t *s = realloc(L->slot, (size_t)nc * 4);
        if (s)
            L->slot = s;
        uint16_t *k = realloc(L->kp, (size_t)nc * 2);
        if (k)
            L->kp = k;
        if (!c || !s || !k)
            return hm__seterr(HM_E_NOMEM, "hm_lfindex: list of %u entries", nc);
        L->cap = nc;
    }
    memcpy(L->codes + 4 * (size_t)L->n, code, 32);
    L->slot[L->n] = slot;
    L->kp[L->n] = kp;
    L->n++;
    return 0;
}

static uint16_t s_q16(float v, float scale)
{
    float q = v * scale + 0.5f;
    return (uint16_t)(q < 0 ? 0 : q > 65535 ? 65535 : q);
}

int hm_lfindex_add(hm_lfindex_t *ix, uint64_t id, const hm_lf_feat_t *f)
{
    if (!ix || !f || f->mirrored)
        return hm__seterr(HM_E_INVAL, "hm_lfindex_add: bad arguments");
    pthread_rwlock_wrlock(&ix->lock);
    int rc = 0;
    if (!ix->trained) {
        rc = hm__seterr(HM_E_INVAL, "hm_lfindex_add: train the vocabulary first");
        goto leave;
    }
    uint32_t old = s_map_get(ix, id);
    if (old && ix->refs[old - 1].alive) {
        rc = hm__seterr(HM_E_EXISTS, "hm_lfindex_add: id %llu is indexed", (unsigned long long)id);
        goto leave;
    }
    if (ix->nref >= UINT32_MAX - 2) {
        rc = hm__seterr(HM_E_TOO_LARGE, "hm_lfindex_add: too many references");
        goto leave;
    }
    if (ix->nref == ix->capref) {
        uint32_t nc = ix->capref ? ix->capref * 2 : 1024;
        lfi_ref_t *r = realloc(ix->refs, (size_t)nc * sizeof *r);
        if (!r) {
            rc = hm__seterr(HM_E_NOMEM, "hm_lfindex_add: %u references", nc);
            goto leave;
        }
        ix->refs = r, ix->capref = nc;
    }
    uint32_t slot = ix->nref;
    lfi_ref_t *R = &ix->refs[slot];
    memset(R, 0, sizeof *R);
    R->kp = malloc(sizeof(uint16_t) * 4 * (f->n ? f->n : 1));
    if (!R->kp) {
        rc = hm__seterr(HM_E_NOMEM, "hm_lfindex_add: keypoints");
        goto leave;
    }
    R->id = id, R->n = f->n, R->aw = f->aspect_w, R->ah = f->aspect_h;
    for (uint32_t i = 0; i < f->n; i++) {
        R->kp[4 * i] = s_q16(f->kp[i].x, 65535.0f);
        R->kp[4 * i + 1] = s_q16(f->kp[i].y, 65535.0f);
        R->kp[4 * i + 2] = s_q16(f->kp[i].size, 65535.0f);
        R->kp[4 * i + 3] = (uint16_t)(int)(f->kp[i].angle * (65536.0f / LFI_TWO_PI));
    }
    if ((rc = s_map_put(ix, id, slot + 1))) {
        free(R->kp);
        goto leave;
    }
    ix->nref++;
    for (uint32_t i = 0; i < f->n && i < 65536; i++) {
        uint32_t w;
        s_quantise(ix, f->desc + 4 * i, 1, &w);
        if ((rc = s_list_push(&ix->lists[w], f->desc + 4 * i, slot, (uint16_t)i)))
            break; /* entries pushed so far stay; the reference is live with them */
        ix->entries++;
    }
    R->alive = 1;
    ix->n_live++;
leave:
    pthread_rwlock_unlock(&ix->lock);
    return rc;
}

int hm_lfindex_remove(hm_lfindex_t *ix, uint64_t id)
{
    if (!ix)
        return hm__seterr(HM_E_INVAL, "hm_lfindex_remove: NULL");
    pthread_rwlock_wrlock(&ix->lock);
    int rc = 0;
    uint32_t s = s_map_get(ix, id);
    if (!s || !ix->refs[s - 1].alive) {
        rc = hm__seterr(HM_E_NOTFOUND, "hm_lfindex_remove: id %llu", (unsigned long long)id);
    } else {
        ix->refs[s - 1].alive = 0;
        ix->n_live--;
        ix->n_dead++;
    }
    pthread_rwlock_unlock(&ix->lock);
    return rc;
}

int hm_lfindex_compact(hm_lfindex_t *ix)
{
    if (!ix)
        return hm__seterr(HM_E_INVAL, "hm_lfindex_compact: NULL");
    pthread_rwlock_wrlock(&ix->lock);
    size_t words = (size_t)ix->o.k1 * ix->o.k2, kept = 0;
    for (size_t w = 0; w < words; w++) {
        lfi_list_t *L = &ix->lists[w];
        uint32_t o = 0;
        for (uint32_t i = 0; i < L->n; i++)
            if (ix->refs[L->slot[i]].alive) {
                memmove(L->codes + 4 * (size_t)o, L->codes + 4 * (size_t)i, 32);
                L->slot[o] = L->slot[i], L->kp[o] = L->kp[i];
                o++;
            }
        L->n = o;
        kept += o;
    }
    for (uint32_t i = 0; i < ix->nref; i++)
        if (!ix->refs[i].alive && ix->refs[i].kp) {
            free(ix->refs[i].kp);
            ix->refs[i].kp = NULL;
            ix->refs[i].n = 0;
        }
    ix->entries = kept;
    ix->n_dead = 0;
    pthread_rwlock_unlock(&ix->lock);
    return 0;
}

void hm_lfindex_stats(hm_lfindex_t *ix, hm_lfindex_stats_t *st)
{
    memset(st, 0, sizeof *st);
    if (!ix)
        return;
    pthread_rwlock_rdlock(&ix->lock);
    size_t words = (size_t)ix->o.k1 * ix->o.k2, b = sizeof *ix;
    b += words * (sizeof(lfi_list_t) + 32) + (size_t)ix->o.k1 * 32;
    double mean = (double)ix->entries / (double)words;
    size_t in_stop = 0;
    for (size_t w = 0; w < words; w++) {
        b += (size_t)ix->lists[w].cap * 38;
        if (ix->lists[w].n > st->max_list)
            st->max_list = ix->lists[w].n;
        if (ix->lists[w].n > 8 * mean)
            in_stop += ix->lists[w].n;
    }
    st->stop_share = ix->entries ? (double)in_stop / (double)ix->entries : 0;
    b += (size_t)ix->capref * sizeof(lfi_ref_t) + ix->mcap * 12;
    for (uint32_t i = 0; i < ix->nref; i++)
        b += (size_t)ix->refs[i].n * 8;
    st->n_live = ix->n_live, st->n_dead = ix->n_dead, st->entries = ix->entries;
    st->bytes = b;
    st->bytes_per_ref = ix->n_live ? (double)b / ix->n_live : 0;
    st->words = (int)words;
    st->trained = ix->trained;
    pthread_rwlock_unlock(&ix->lock);
}

/* ---- queries ---- */

int hm_lfindex_scratch_create(hm_lfindex_scratch_t **out)
{
    if (!out)
        return hm__seterr(HM_E_INVAL, "hm_lfindex_scratch_create: NULL");
    *out = calloc(1, sizeof **out);
    return *out ? 0 : hm__seterr(HM_E_NOMEM, "hm_lfindex_scratch_create");
}

void hm_lfindex_scratch_destroy(hm_lfindex_scratch_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    hm_lfindex_scratch_t *s = *self_p;
    free(s->tally), free(s->cidx), free(s->touched);
    free(s->m), free(s->dist), free(s->hit), free(s->corr), free(s->stage);
    free(s);
    *self_p = NULL;
}

static int s_grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t nc = *cap ? *cap : 256;
    while (nc < need)
        nc *= 2;
    void *q = realloc(*p, nc * elem);
    if (!q)
        return hm__seterr(HM_E_NOMEM, "hm_lfindex_query: scratch");
    *p = q;
    *cap = nc;
    return 0;
}

/* Per-slot arrays, zeroed when grown; kept zero between queries by undoing
 * exactly what a query touched. */
static int s_slots(hm_lfindex_scratch_t *s, size_t n)
{
    if (n <= s->slots)
        return 0;
    size_t nc = n + n / 2 + 1024;
    lfi_tally_t *t = realloc(s->tally, nc * sizeof *t);
    if (t)
        s->tally = t;
    uint8_t *c = realloc(s->cidx, nc * 2);
    if (c)
        s->cidx = c;
    if (!t || !c)
        return hm__seterr(HM_E_NOMEM, "hm_lfindex_query: %zu slots", nc);
    memset(s->tally + s->slots, 0, (nc - s->slots) * sizeof *t);
    memset(s->cidx + 2 * s->slots, 0, (nc - s->slots) * 2);
    s->slots = nc;
    return 0;
}

/* Scan the probed lists of every descriptor of one set, voting. */
static int s_scan(const hm_lfindex_t *ix, hm_lfindex_scratch_t *s, const hm_lf_feat_t *q,
                  int var, const hm_lfindex_qopts_t *qo)
{
    const hm_kernels_t *K = hm_kernels();
    /* stop words: lists far longer than the mean are skipped */
    double mean = (double)ix->entries / ((double)ix->o.k1 * ix->o.k2);
    double stop = qo->stop_factor > 0 ? qo->stop_factor * mean : 1e300;
    if (stop < 256)
        stop = 256;
    for (uint32_t i = 0; i < q->n; i++) {
        uint32_t words[4];
        int np = s_quantise(ix, q->desc + 4 * i, qo->probes, words);
        for (int p = 0; p < np; p++) {
            const lfi_list_t *L = &ix->lists[words[p]];
            if (L->n == 0 || L->n > stop)
                continue;
            if (s_grow((void **)&s->dist, &s->dcap, L->n, sizeof *s->dist) ||
                s_grow((void **)&s->hit, &s->hcap, L->n, sizeof *s->hit))
                return HM_E_NOMEM;
            /* only the entries within max_dist come back (most do not) */
            size_t nh = K->hamming256_within(q->desc + 4 * i, L->codes, L->n,
                                             (uint32_t)qo->max_dist, s->hit, s->dist);
            for (size_t h = 0; h < nh; h++) {
                uint32_t j = s->hit[h];
                /* dead references vote too (no random read of their state
                 * here); the candidate selection drops them */
                uint32_t slot = L->slot[j];
                if (s_grow((void **)&s->m, &s->mcap, s->nm + 1, sizeof *s->m))
                    return HM_E_NOMEM;
                lfi_match_t *m = &s->m[s->nm++];
                m->slot = slot, m->qi = (uint16_t)i, m->ri = L->kp[j];
                m->d = s->dist[h], m->var = (uint8_t)var;
                lfi_tally_t *t = &s->tally[slot];
                if (t->lastq[var] == i + 1)
                    continue;
                if (t->lastq[var] == 0) {
                    if (s_grow((void **)&s->touched, &s->tcap, s->ntouched + 1, sizeof *s->touched))
                        return HM_E_NOMEM;
                    s->touched[s->ntouched++] = 2 * slot + (uint32_t)var;
                }
                t->lastq[var] = i + 1;
                if (t->votes[var] < 0xffff)
                    t->votes[var]++;
            }
        }
    }
    return 0;
}

#define VOTES(s, v) ((s)->tally[(v) / 2].votes[(v) & 1])

int hm_lfindex_query(hm_lfindex_t *ix, hm_lfindex_scratch_t *s, const hm_lf_feat_t *q,
                     const hm_lf_feat_t *mq, const hm_lfindex_qopts_t *qo,
                     hm_lfindex_cand_t *cand, int *ncand)
{
    if (!ix || !s || !q || !cand || !ncand)
        return hm__seterr(HM_E_INVAL, "hm_lfindex_query: NULL");
    if (!qo)
        qo = &hm_lfindex_qopts_default;
    hm_lfindex_qopts_t o = *qo;
    o.probes = o.probes < 1 ? 1 : o.probes > 4 ? 4 : o.probes;
    o.max_cand = o.max_cand < 1 ? 1 : o.max_cand > 64 ? 64 : o.max_cand;
    *ncand = 0;
    pthread_rwlock_rdlock(&ix->lock);
    int rc = 0, nc = 0;
    uint32_t top[64];
    s->nm = 0;
    s->ntouched = 0;
    if (!ix->trained || ix->n_live == 0)
        goto leave;
    if ((rc = s_slots(s, ix->nref)))
        goto leave;
    if ((rc = s_scan(ix, s, q, 0, &o)) || (mq && (rc = s_scan(ix, s, mq, 1, &o))))
        goto leave;
    /* the most voted (slot, set) pairs, ties to the lower id */
    for (size_t t = 0; t < s->ntouched; t++) {
        uint32_t v = s->touched[t];
        if (VOTES(s, v) < o.min_votes || !ix->refs[v / 2].alive)
            continue;
        int k = nc < o.max_cand ? nc++ : o.max_cand;
        while (k > 0) {
            uint32_t u = top[k - 1];
            int better = VOTES(s, v) > VOTES(s, u) ||
                         (VOTES(s, v) == VOTES(s, u) && ix->refs[v / 2].id < ix->refs[u / 2].id);
            if (!better)
                break;
            if (k < o.max_cand)
                top[k] = u;
            k--;
        }
        if (k < o.max_cand)
            top[k] = v;
    }
    for (int c = 0; c < nc; c++)
        s->cidx[top[c]] = (uint8_t)(c + 1);
    /* bucket the matches per candidate (counting sort into corr order) */
    int count[65] = { 0 };
    for (size_t i = 0; i < s->nm; i++)
        count[s->cidx[2 * (size_t)s->m[i].slot + s->m[i].var]]++;
    size_t total = 0;
    int start[65];
    for (int c = 1; c <= nc; c++)
        start[c] = (int)total, total += (size_t)count[c];
    if ((rc = s_grow((void **)&s->corr, &s->ccap, total + 1, sizeof *s->corr)))
        goto leave;
    /* staged in the matches' own order: stable, so deterministic */
    if ((rc = s_grow((void **)&s->stage, &s->scap, total + 1, sizeof *s->stage)))
        goto leave;
    lfi_match_t *stage = s->stage;
    int fill[65];
    memcpy(fill, start, sizeof fill);
    for (size_t i = 0; i < s->nm; i++) {
        int c = s->cidx[2 * (size_t)s->m[i].slot + s->m[i].var];
        if (c)
            stage[fill[c]++] = s->m[i];
    }
    for (int c = 1; c <= nc; c++) {
        const lfi_match_t *E = stage + start[c];
        int n = count[c];
        const lfi_ref_t *R = &ix->refs[E[0].slot];
        const hm_lf_feat_t *f = E[0].var ? mq : q;
        /* one-to-one: each query keypoint its closest reference keypoint,
         * each reference keypoint once (its closest query keypoint) */
        for (int i = 0; i < n; i++)
            s->bestq[E[i].qi] = UINT32_MAX, s->bestr[E[i].ri] = UINT32_MAX;
        for (int i = 0; i < n; i++) {
            uint32_t *b = &s->bestq[E[i].qi];
            if (*b == UINT32_MAX || E[i].d < E[*b].d)
                *b = (uint32_t)i;
        }
        for (int i = 0; i < n; i++) {
            if (s->bestq[E[i].qi] != (uint32_t)i)
                continue;
            uint32_t *b = &s->bestr[E[i].ri];
            if (*b == UINT32_MAX || E[i].d < E[*b].d)
                *b = (uint32_t)i;
        }
        hm_geom_corr_t *out = s->corr + start[c];
        int k = 0;
        for (int i = 0; i < n; i++) {
            if (s->bestq[E[i].qi] != (uint32_t)i || s->bestr[E[i].ri] != (uint32_t)i)
                continue;
            const hm_lf_kp_t *qk = &f->kp[E[i].qi];
            const uint16_t *rk = R->kp + 4 * (size_t)E[i].ri;
            hm_geom_corr_t *g = &out[k++];
            g->qx = qk->x, g->qy = qk->y, g->qsize = qk->size, g->qangle = qk->angle;
            g->rx = rk[0] / 65535.0f, g->ry = rk[1] / 65535.0f, g->rsize = rk[2] / 65535.0f;
            g->rangle = rk[3] * (LFI_TWO_PI / 65536.0f);
            g->qi = E[i].qi, g->ri = E[i].ri, g->dist = E[i].d;
        }
        hm_lfindex_cand_t *C = &cand[c - 1];
        C->id = R->id;
        C->votes = VOTES(s, top[c - 1]);
        C->mirrored = E[0].var;
        C->frame.aspect_w = R->aw, C->frame.aspect_h = R->ah;
        C->frame.mirrored = 0, C->frame.thumb = NULL;
        C->corr = out;
        C->ncorr = k;
    }
    *ncand = nc;
leave:
    for (int c = 0; c < nc; c++)
        s->cidx[top[c]] = 0;
    for (size_t t = 0; t < s->ntouched; t++) {
        lfi_tally_t *ty = &s->tally[s->touched[t] / 2];
        ty->votes[s->touched[t] & 1] = 0, ty->lastq[s->touched[t] & 1] = 0;
    }
    s->ntouched = 0;
    pthread_rwlock_unlock(&ix->lock);
    return rc;
}
