/*
 * hm_hindex.c - multi-index hashing over 256- and 64-bit codes.
 *
 * See hm_hindex.h for the design.  Internal vocabulary: a "row" is the
 * position of a code in the order of adds; a "core" holds everything a
 * search reads, so that compaction can build a fresh core and swap it in.
 */
#include "hm_hindex.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "hm_error.h"
#include "hm_log.h"
#include "hm_simd.h"

#define SEG_SHIFT 16
#define SEG_ROWS (1u << SEG_SHIFT)
#define MAX_SEGS (1u << 16)             /* 2^32 rows */
/* A block is blk_words uint32: rows, then the next block's number.  Tables
 * of up to 16-bit keys hold many rows a bucket and use 128-byte blocks;
 * wider keys (few rows a bucket) use 32-byte blocks, or the partly filled
 * last block of each of their millions of buckets would dominate memory. */
#define BLK_SLOTS (c->blk_words - 1)
#define MAX_SUB 32
#define MAX_SUB_BITS 22                 /* 4M buckets a table */
#define CHUNK_SHIFT 16
#define CHUNK_BLOCKS (1u << CHUNK_SHIFT) /* 8 MB of blocks */
#define CHUNK_BYTES ((size_t)CHUNK_BLOCKS * c->blk_words * 4)
#define MAX_CHUNKS (1u << 16)
#define BATCH 128                       /* candidates verified per kernel call */
#define PENDING 1024                    /* candidates queued before verification */
#define PF_DIST 32                      /* prefetch distance, in candidates */
#define RING_CHUNK 512                  /* buckets prefetched together */
#define MAX_ROWS 0xfffffffeu

/* count and first block side by side: one cache miss per probed bucket */
typedef struct s_head {
    uint32_t count;       /* entries (release/acquire) */
    uint32_t first;       /* first block */
} s_head_t;

typedef struct s_core {
    unsigned words, nsub, sub_bits;  /* sub_bits: the narrowest substring */
    unsigned blk_words;
    uint8_t width[MAX_SUB];          /* bits of substring j */
    uint16_t bitoff[MAX_SUB];        /* its first bit in the code */
    uint32_t toff[MAX_SUB + 1];      /* its table's first head; toff[nsub] = all */
    uint32_t n_rows;      /* published with release; read with acquire */
    uint32_t n_dead;
    uint64_t **codes;     /* MAX_SEGS segments of SEG_ROWS codes (huge pages) */
    uint8_t **meta;       /* MAX_SEGS segments: ids, then tombstone bytes */
    uint32_t **chunks;    /* MAX_CHUNKS block chunks */
    uint32_t n_blocks;    /* next free block; block 0 means "none" */
    s_head_t *heads;      /* toff[nsub] heads, mmap'd (zero pages on demand) */
    uint32_t *last;       /* writer only: last block of each bucket */
    uint32_t *map;        /* id -> row + 1, linear probing, 0 = empty */
    size_t map_cap, map_used;
    size_t n_segs, n_chunks;
} s_core_t;

struct hm_hindex {
    pthread_rwlock_t swap;    /* read: searches; write: compaction's swap */
    pthread_mutex_t writer;   /* serialises add / remove / compact */
    s_core_t *core;
    uint64_t compactions;
};

/* ---- core storage ---------------------------------------------------- */

#define HUGE_PAGE ((size_t)2 << 20)
#define META_BYTES ((size_t)SEG_ROWS * 9)

/* Candidate verification is a stream of random loads into codes, posting
 * blocks and bucket heads: on 4 kB pages nearly each one is also a TLB miss.
 * These arrays are therefore 2 MB-aligned and offered to transparent huge
 * pages (a hint: without THP they are ordinary memory). */
static void *s_huge_alloc(size_t bytes)
{
    if (bytes < HUGE_PAGE)
        return malloc(bytes);
    size_t sz = (bytes + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
    void *p = aligned_alloc(HUGE_PAGE, sz);
    if (p)
        madvise(p, sz, MADV_HUGEPAGE);
    return p;
}

static size_t s_huge_size(size_t bytes)
{
    if (bytes < HUGE_PAGE)
        return bytes;
    return (bytes + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
}

static inline const uint64_t *s_code(const s_core_t *c, uint32_t row)
{
    return c->codes[row >> SEG_SHIFT] + (size_t)(row & (SEG_ROWS - 1)) * c->words;
}

static inline uint64_t *s_ids(const s_core_t *c, uint32_t row)
{
    return (uint64_t *)c->meta[row >> SEG_SHIFT] + (row & (SEG_ROWS - 1));
}

static inline uint8_t *s_dead(const s_core_t *c, uint32_t row)
{
    return c->meta[row >> SEG_SHIFT] + (size_t)SEG_ROWS * 8 + (row & (SEG_ROWS - 1));
}

static inline uint32_t *s_block(const s_core_t *c, uint32_t blk)
{
    return c->chunks[blk >> CHUNK_SHIFT] + (size_t)(blk & (CHUNK_BLOCKS - 1)) * c->blk_words;
}

static inline uint32_t s_sub(const s_core_t *c, const uint64_t *code, unsigned j)
{
    unsigned off = c->bitoff[j], w = c->width[j], sh = off & 63;
    uint64_t v = code[off >> 6] >> sh;
    if (sh + w > 64) /* a substring of odd width may straddle two words */
        v |= code[(off >> 6) + 1] << (64 - sh);
    return (uint32_t)v & ((1u << w) - 1);
}

static void s_core_free(s_core_t **cp)
{
    s_core_t *c = *cp;
    if (!c)
        return;
    for (size_t i = 0; i < c->n_segs; i++) {
        free(c->codes[i]);
        free(c->meta[i]);
    }
    for (size_t i = 0; i < c->n_chunks; i++)
        free(c->chunks[i]);
    free(c->codes);
    free(c->meta);
    free(c->chunks);
    if (c->heads)
        munmap(c->heads, (size_t)c->toff[c->nsub] * sizeof *c->heads);
    free(c->last);
    free(c->map);
    free(c);
    *cp = NULL;
}

static int s_core_new(s_core_t **out, unsigned words, unsigned nsub)
{
    int rc = 0;
    s_core_t *c = calloc(1, sizeof *c);
    if (!c) {
        rc = hm__seterr(HM_E_NOMEM, "hindex: out of memory for the index");
        goto leave;
    }
    c->words = words;
    c->nsub = nsub;
    /* widths differ by at most one bit; the wider ones go last, where the
     * search probes a smaller radius (see s_step) */
    unsigned bits = 64 * words, base = bits / nsub, extra = bits % nsub, off = 0;
    c->sub_bits = base;
    for (unsigned j = 0; j < nsub; j++) {
        c->width[j] = (uint8_t)(base + (j >= nsub - extra));
        c->bitoff[j] = (uint16_t)off;
        c->toff[j] = j ? c->toff[j - 1] + (1u << c->width[j - 1]) : 0;
        off += c->width[j];
    }
    c->toff[nsub] = c->toff[nsub - 1] + (1u << c->width[nsub - 1]);
    c->blk_words = base >= 20 ? 8 : 32;
    size_t nb = c->toff[nsub];
    c->codes = calloc(MAX_SEGS, sizeof *c->codes);
    c->meta = calloc(MAX_SEGS, sizeof *c->meta);
    c->chunks = calloc(MAX_CHUNKS, sizeof *c->chunks);
    c->heads = mmap(NULL, nb * sizeof *c->heads, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (c->heads == MAP_FAILED)
        c->heads = NULL;
    else
        madvise(c->heads, nb * sizeof *c->heads, MADV_HUGEPAGE);
    c->last = calloc(nb, sizeof *c->last);
    c->map_cap = 1024;
    c->map = calloc(c->map_cap, sizeof *c->map);
    c->n_blocks = 1;
    if (!c->codes || !c->meta || !c->chunks || !c->heads || !c->last || !c->map) {
        rc = hm__seterr(HM_E_NOMEM, "hindex: out of memory for %zu buckets", nb);
        goto leave;
    }
leave:
    if (rc)
        s_core_free(&c);
    *out = c;
    return rc;
}

static size_t s_core_bytes(const s_core_t *c)
{
    size_t nb = c->toff[c->nsub];
    return sizeof *c + (2 * MAX_SEGS + MAX_CHUNKS) * sizeof(void *) +
           s_huge_size(nb * sizeof(s_head_t)) + nb * sizeof(uint32_t) +
           c->map_cap * sizeof(uint32_t) +
           c->n_segs * (s_huge_size((size_t)SEG_ROWS * 8 * c->words) + META_BYTES) +
           c->n_chunks * CHUNK_BYTES;
}

/* ---- id map (writer only) --------------------------------------------
 * Slots hold row + 1.  Entries of removed rows stay until the next rehash or
 * compaction: a lookup skips them, which spares a deletion algorithm. */

static inline size_t s_hash(uint64_t id)
{
    id ^= id >> 33;
    id *= 0xff51afd7ed558ccdULL;
    id ^= id >> 33;
    id *= 0xc4ceb9fe1a85ec53ULL;
    id ^= id >> 33;
    return (size_t)id;
}

/* The row of the live code with this id, or -1. */
static int64_t s_map_find(const s_core_t *c, uint64_t id)
{
    size_t mask = c->map_cap - 1;
    for (size_t i = s_hash(id) & mask;; i = (i + 1) & mask) {
        uint32_t e = c->map[i];
        if (e == 0)
            return -1;
        uint32_t row = e - 1;
        if (*s_ids(c, row) == id && !*s_dead(c, row))
            return row;
    }
}

static void s_map_put(uint32_t *map, size_t cap, uint64_t id, uint32_t row)
{
    size_t mask = cap - 1;
    size_t i = s_hash(id) & mask;
    while (map[i])
        i = (i + 1) & mask;
    map[i] = row + 1;
}

/* Grow (or clean) the map so that one more entry keeps the load below 0.7. */
static int s_map_reserve(s_core_t *c)
{
    if ((c->map_used + 1) * 10 < c->map_cap * 7)
        return 0;
    size_t live = c->n_rows - c->n_dead;
    size_t cap = c->map_cap;
    while ((live + 1) * 10 >= cap * 7 / 2) /* leave room to grow */
        cap *= 2;
    uint32_t *m = calloc(cap, sizeof *m);
    if (!m)
        return hm__seterr(HM_E_NOMEM, "hindex: out of memory for an id map of %zu", cap);
    for (uint32_t row = 0; row < c->n_rows; row++)
        if (!*s_dead(c, row))
            s_map_put(m, cap, *s_ids(c, row), row);
    free(c->map);
    c->map = m;
    c->map_cap = cap;
    c->map_used = live;
    return 0;
}

/* ---- append (writer only) --------------------------------------------
 * Order matters for the lock-free readers: the row's code, id and tombstone
 * are written, then each bucket entry, then the bucket count (release).
 * Memory reached by a published count never moves afterwards. */

static int s_new_block(s_core_t *c, uint32_t *blk)
{
    if (c->n_blocks == 0xffffffffu)
        return hm__seterr(HM_E_TOO_LARGE, "hindex: block pool full");
    uint32_t b = c->n_blocks;
    size_t ch = b >> CHUNK_SHIFT;
    if (ch >= c->n_chunks) {
        c->chunks[ch] = s_huge_alloc(CHUNK_BYTES);
        if (!c->chunks[ch])
            return hm__seterr(HM_E_NOMEM, "hindex: out of memory for a block chunk");
        c->n_chunks = ch + 1;
    }
    c->n_blocks++;
    *blk = b;
    return 0;
}

static int s_append(s_core_t *c, uint64_t id, const uint64_t *code)
{
    int rc = 0;
    uint32_t row = c->n_rows;
    if (row >= MAX_ROWS)
        return hm__seterr(HM_E_TOO_LARGE, "hindex: %u rows is the limit", MAX_ROWS);
    if ((rc = s_map_reserve(c)))
        return rc;
    size_t seg = row >> SEG_SHIFT;
    if (seg >= c->n_segs) {
        c->codes[seg] = s_huge_alloc((size_t)SEG_ROWS * 8 * c->words);
        c->meta[seg] = malloc(META_BYTES);
        if (!c->codes[seg] || !c->meta[seg]) {
            free(c->codes[seg]);
            free(c->meta[seg]);
            c->codes[seg] = NULL;
            c->meta[seg] = NULL;
            return hm__seterr(HM_E_NOMEM, "hindex: out of memory for a segment");
        }
        c->n_segs = seg + 1;
    }
    memcpy((uint64_t *)s_code(c, row), code, 8 * c->words);
    *s_ids(c, row) = id;
    *s_dead(c, row) = 0;
    /* Reserve every block first, so that a failure leaves no half-listed row. */
    uint32_t need = 0;
    for (unsigned j = 0; j < c->nsub; j++) {
        size_t b = c->toff[j] + s_sub(c, code, j);
        need += c->heads[b].count % BLK_SLOTS == 0;
    }
    if ((uint64_t)c->n_blocks + need >= (uint64_t)MAX_CHUNKS * CHUNK_BLOCKS)
        return hm__seterr(HM_E_TOO_LARGE, "hindex: block pool full");
    size_t have = c->n_chunks * (size_t)CHUNK_BLOCKS;
    if (c->n_blocks + need > have) {
        size_t ch = c->n_chunks;
        c->chunks[ch] = s_huge_alloc(CHUNK_BYTES);
        if (!c->chunks[ch])
            return hm__seterr(HM_E_NOMEM, "hindex: out of memory for a block chunk");
        c->n_chunks = ch + 1;
    }
    for (unsigned j = 0; j < c->nsub; j++) {
        size_t b = c->toff[j] + s_sub(c, code, j);
        uint32_t n = c->heads[b].count, slot = n % BLK_SLOTS;
        if (slot == 0) {
            uint32_t nb = 0;
            if ((rc = s_new_block(c, &nb)))
                return rc; /* cannot happen: reserved above */
            if (n == 0)
                c->heads[b].first = nb;
            else
                s_block(c, c->last[b])[BLK_SLOTS] = nb;
            c->last[b] = nb;
        }
        s_block(c, c->last[b])[slot] = row;
        __atomic_store_n(&c->heads[b].count, n + 1, __ATOMIC_RELEASE);
    }
    s_map_put(c->map, c->map_cap, id, row);
    c->map_used++;
    __atomic_store_n(&c->n_rows, row + 1, __ATOMIC_RELEASE);
    return 0;
}

/* ---- search ------------------------------------------------------------
 * A search walks "steps": step s (s = 0 .. r) probes, in table s mod m, the
 * ring of buckets at exactly s / m bits from the query's substring.  After
 * step s every table j has been probed to radius floor(s/m) (j <= s mod m)
 * or floor(s/m) - 1 (the others), which by the pigeonhole argument in
 * hm_hindex.h finds every code within s.  Range search runs steps 0..r;
 * k-nearest stops at the first s with k hits within s.  Each step adds
 * exactly one ring, so nothing is probed twice. */

typedef struct s_hit {
    uint32_t row, dist, variant;
} s_hit_t;

typedef struct s_query {
    const s_core_t *c;
    const uint64_t *q;
    uint32_t variant;
    uint32_t maxd;           /* accept distances <= maxd */
    uint32_t rows[PENDING];
    unsigned nrows;
    uint32_t group[RING_CHUNK]; /* buckets waiting to be scanned together */
    unsigned ngroup;
    /* range mode: a growing vector; knn mode: a sorted top-k */
    s_hit_t *hits;
    size_t n, cap;
    unsigned k;              /* 0 = range mode */
    int rc;
} s_query_t;

static void s_push_hit(s_query_t *s, uint32_t row, uint32_t d)
{
    if (s->k == 0) {
        if (s->n == s->cap) {
            size_t cap = s->cap ? 2 * s->cap : 64;
            s_hit_t *h = realloc(s->hits, cap * sizeof *h);
            if (!h) {
                s->rc = hm__seterr(HM_E_NOMEM, "hindex: out of memory for %zu hits", cap);
                return;
            }
            s->hits = h;
            s->cap = cap;
        }
        s->hits[s->n++] = (s_hit_t){ row, d, s->variant };
        return;
    }
    /* top-k, sorted by distance; a row seen through another table is skipped */
    for (size_t i = 0; i < s->n; i++)
        if (s->hits[i].row == row)
            return;
    size_t i = s->n < s->k ? s->n++ : s->k - 1;
    while (i > 0 && s->hits[i - 1].dist > d) {
        s->hits[i] = s->hits[i - 1];
        i--;
    }
    s->hits[i] = (s_hit_t){ row, d, s->variant };
}

/* Verify the pending candidates: gather their codes, one kernel call. */
/* Verify the pending candidates: gather their codes (a random load each,
 * prefetched PF_DIST ahead so that many misses are in flight at once), then
 * one kernel call per BATCH. */
static void s_flush(s_query_t *s)
{
    const s_core_t *c = s->c;
    uint64_t buf[BATCH * 4];
    uint16_t d[BATCH];
    unsigned n = s->nrows, w = c->words;
    const uint32_t *rows = s->rows;
    for (unsigned i = 0; i < n && i < PF_DIST; i++)
        __builtin_prefetch(s_code(c, rows[i]));
    for (unsigned b0 = 0; b0 < n; b0 += BATCH) {
        unsigned nb = n - b0 < BATCH ? n - b0 : BATCH;
        for (unsigned i = 0; i < nb; i++) {
            if (b0 + i + PF_DIST < n)
                __builtin_prefetch(s_code(c, rows[b0 + i + PF_DIST]));
            memcpy(buf + (size_t)i * w, s_code(c, rows[b0 + i]), 8 * w);
        }
        if (w == 4)
            hm_kernels()->hamming256_many(s->q, buf, nb, d);
        else
            hm_kernels()->hamming64_many(s->q[0], buf, nb, d);
        for (unsigned i = 0; i < nb; i++) {
            uint32_t row = rows[b0 + i];
            if (d[i] > s->maxd)
                continue;
            if (s->k && s->n == s->k && d[i] >= s->hits[s->k - 1].dist)
                continue;
            if (__atomic_load_n(s_dead(c, row), __ATOMIC_ACQUIRE))
                continue;
            s_push_hit(s, row, d[i]);
        }
    }
    s->nrows = 0;
}

/* Read one block's rows into the pending candidates. */
static inline void s_take(s_query_t *s, const uint32_t *p, uint32_t m)
{
    for (uint32_t k = 0; k < m; k++) {
        s->rows[s->nrows++] = p[k];
        if (s->nrows == PENDING)
            s_flush(s);
    }
}

/* Scan a group of buckets: prefetch every head, then every first block,
 * then read - so that the cache misses of a group overlap. */
static void s_scan_group(s_query_t *s, const uint32_t *b, unsigned n)
{
    const s_core_t *c = s->c;
    uint32_t blk[RING_CHUNK], left[RING_CHUNK];
    unsigned live = 0;
    for (unsigned i = 0; i < n; i++)
        __builtin_prefetch(&c->heads[b[i]]);
    for (unsigned i = 0; i < n; i++) {
        uint32_t cnt = __atomic_load_n(&c->heads[b[i]].count, __ATOMIC_ACQUIRE);
        if (!cnt)
            continue;
        blk[live] = c->heads[b[i]].first;
        left[live++] = cnt;
        __builtin_prefetch(s_block(c, blk[live - 1]));
    }
    /* Chains are walked round-robin, one block per bucket per round, so the
     * dependent misses of long chains (~150 rows a bucket at 10M) overlap
     * across buckets instead of adding up bucket after bucket. */
    while (live) {
        unsigned keep = 0;
        for (unsigned i = 0; i < live; i++) {
            const uint32_t *p = s_block(c, blk[i]);
            uint32_t m = left[i] < BLK_SLOTS ? left[i] : BLK_SLOTS;
            s_take(s, p, m);
            if (left[i] > m) {
                blk[keep] = p[BLK_SLOTS];
                left[keep++] = left[i] - m;
                __builtin_prefetch(s_block(c, p[BLK_SLOTS]));
            }
        }
        live = keep;
    }
}

static inline void s_want(s_query_t *s, uint32_t b)
{
    s->group[s->ngroup++] = b;
    if (s->ngroup == RING_CHUNK) {
        s_scan_group(s, s->group, s->ngroup);
        s->ngroup = 0;
    }
}

/* Everything queued so far is scanned and verified. */
static void s_drain(s_query_t *s)
{
    s_scan_group(s, s->group, s->ngroup);
    s->ngroup = 0;
    if (s->nrows)
        s_flush(s);
}

/* Step s: queue the ring at s / m bits around substring s mod m. */
static void s_step(s_query_t *s, unsigned step)
{
    const s_core_t *c = s->c;
    unsigned j = step % c->nsub, d = step / c->nsub;
    if (d > c->width[j])
        return;
    uint32_t base = s_sub(c, s->q, j), off = c->toff[j];
    if (d == 0) {
        s_want(s, off + base);
        return;
    }
    /* every width-bit mask with d bits set, in increasing order (Gosper) */
    uint32_t lim = 1u << c->width[j];
    for (uint32_t m = (1u << d) - 1; m < lim;) {
        s_want(s, off + (base ^ m));
        uint32_t low = m & (~m + 1), hi = m + low;
        m = (((hi ^ m) >> 2) / low) | hi;
    }
}

static int s_hit_cmp_row(const void *a, const void *b)
{
    const s_hit_t *x = a, *y = b;
    if (x->row != y->row)
        return x->row < y->row ? -1 : 1;
    if (x->dist != y->dist)
        return x->dist < y->dist ? -1 : 1;
    return (x->variant > y->variant) - (x->variant < y->variant);
}

static int s_out_cmp(const void *a, const void *b)
{
    const hm_hindex_hit_t *x = a, *y = b;
    if (x->dist != y->dist)
        return x->dist < y->dist ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* Dedup by row (keeping the smallest distance, then variant), turn rows
 * into ids, order by distance and id, copy out up to cap. */
static void s_emit(const s_core_t *c, s_hit_t *h, size_t n, hm_hindex_hit_t *out,
                   size_t cap, size_t *n_found, hm_hindex_hit_t *tmp)
{
    size_t u = 0;
    if (n) {
        qsort(h, n, sizeof *h, s_hit_cmp_row);
        for (size_t i = 0; i < n; i++)
            if (u == 0 || h[u - 1].row != h[i].row)
                h[u++] = h[i];
    }
    /* reuse the s_hit_t buffer would need a second pass; a temporary is simpler */
    for (size_t i = 0; i < u; i++)
        tmp[i] = (hm_hindex_hit_t){ *s_ids(c, h[i].row), h[i].dist, h[i].variant };
    qsort(tmp, u, sizeof *tmp, s_out_cmp);
    memcpy(out, tmp, (u < cap ? u : cap) * sizeof *out);
    *n_found = u;
}

static int s_check_query(const hm_hindex_t *ix, const void *q, unsigned r)
{
    if (!ix || !q)
        return hm__seterr(HM_E_INVAL, "hindex: NULL index or query");
    if (r > HM_HINDEX_MAX_RADIUS)
        return hm__seterr(HM_E_INVAL, "hindex: radius %u > %d", r, HM_HINDEX_MAX_RADIUS);
    return 0;
}

/* Buckets a range search of radius r probes, summed over the tables. */
static double s_probe_estimate(const s_core_t *c, unsigned r)
{
    double total = 0;
    unsigned rad = r / c->nsub;
    for (unsigned j = 0; j < c->nsub; j++) {
        double binom = 1, sum = 1;
        for (unsigned i = 1; i <= rad && i <= c->sub_bits; i++) {
            binom = binom * (c->sub_bits - i + 1) / i;
            sum += binom;
        }
        total += sum;
    }
    return total;
}

/* Compare every row: cheaper than probing when the bank is small or the
 * radius wide (a contiguous SIMD scan costs about one bucket probe per
 * 8 rows).  Same results as the probing search. */
static void s_scan_all(s_query_t *s)
{
    const s_core_t *c = s->c;
    uint32_t n = __atomic_load_n(&c->n_rows, __ATOMIC_ACQUIRE);
    uint16_t d[1024];
    for (uint32_t base = 0; base < n && !s->rc; base += 1024) {
        uint32_t m = n - base < 1024 ? n - base : 1024;
        /* a block never crosses a segment: SEG_ROWS is a multiple of 1024 */
        const uint64_t *codes = s_code(c, base);
        if (c->words == 4)
            hm_kernels()->hamming256_many(s->q, codes, m, d);
        else
            hm_kernels()->hamming64_many(s->q[0], codes, m, d);
        for (uint32_t i = 0; i < m; i++)
            if (d[i] <= s->maxd && !__atomic_load_n(s_dead(c, base + i), __ATOMIC_ACQUIRE))
                s_push_hit(s, base + i, d[i]);
    }
}

int hm_hindex_range_multi(const hm_hindex_t *ix, const uint64_t *qs, unsigned nq,
                          unsigned r, hm_hindex_hit_t *hits, size_t cap, size_t *n_found)
{
    int rc = s_check_query(ix, qs, r);
    hm_hindex_hit_t *tmp = NULL;
    s_query_t s = { 0 };
    int locked = 0;
    if (rc)
        goto leave;
    if (nq < 1 || nq > HM_HINDEX_MAX_QUERIES || !n_found || (cap && !hits)) {
        rc = hm__seterr(HM_E_INVAL, "hindex: bad batch (nq=%u) or output", nq);
        goto leave;
    }
    pthread_rwlock_rdlock((pthread_rwlock_t *)&ix->swap);
    locked = 1;
    s.c = ix->core;
    int scan = (double)__atomic_load_n(&s.c->n_rows, __ATOMIC_ACQUIRE) <=
               8.0 * s_probe_estimate(s.c, r);
    for (unsigned v = 0; v < nq && !s.rc; v++) {
        s.q = qs + (size_t)v * s.c->words;
        s.variant = v;
        s.maxd = r;
        if (scan) {
            s_scan_all(&s);
            continue;
        }
        for (unsigned step = 0; step <= r && !s.rc; step++)
            s_step(&s, step);
        s_drain(&s);
    }
    if ((rc = s.rc))
        goto leave;
    tmp = malloc((s.n ? s.n : 1) * sizeof *tmp);
    if (!tmp) {
        rc = hm__seterr(HM_E_NOMEM, "hindex: out of memory for %zu hits", s.n);
        goto leave;
    }
    s_emit(s.c, s.hits, s.n, hits, cap, n_found, tmp);
leave:
    if (locked)
        pthread_rwlock_unlock((pthread_rwlock_t *)&ix->swap);
    free(tmp);
    free(s.hits);
    return rc;
}

int hm_hindex_range(const hm_hindex_t *ix, const uint64_t *q, unsigned r,
                    hm_hindex_hit_t *hits, size_t cap, size_t *n_found)
{
    return hm_hindex_range_multi(ix, q, 1, r, hits, cap, n_found);
}

int hm_hindex_knn(const hm_hindex_t *ix, const uint64_t *q, unsigned k, unsigned max_r,
                  hm_hindex_hit_t *hits, size_t *n_out)
{
    int rc = s_check_query(ix, q, max_r);
    s_hit_t top[HM_HINDEX_MAX_K];
    hm_hindex_hit_t tmp[HM_HINDEX_MAX_K];
    s_query_t s = { 0 };
    if (rc)
        return rc;
    if (k < 1 || k > HM_HINDEX_MAX_K || !hits || !n_out)
        return hm__seterr(HM_E_INVAL, "hindex: k=%u not in 1..%d, or NULL output", k,
                          HM_HINDEX_MAX_K);
    pthread_rwlock_rdlock((pthread_rwlock_t *)&ix->swap);
    s.c = ix->core;
    s.q = q;
    s.k = k;
    s.hits = top;
    s.maxd = max_r;
    for (unsigned step = 0; step <= max_r; step++) {
        s_step(&s, step);
        s_drain(&s);
        /* every code within `step` has been seen: k of them means done */
        if (s.n == k && s.hits[k - 1].dist <= step)
            break;
    }
    s_emit(s.c, top, s.n, hits, k, n_out, tmp);
    pthread_rwlock_unlock((pthread_rwlock_t *)&ix->swap);
    return 0;
}

/* ---- lifecycle ---------------------------------------------------------- */

int hm_hindex_create(hm_hindex_t **out, const hm_hindex_opts_t *opts)
{
    int rc = 0;
    hm_hindex_t *ix = NULL;
    unsigned bits = opts && opts->code_bits ? opts->code_bits : 256;
    unsigned nsub = opts ? opts->nsub : 0;
    if (!out) {
        rc = hm__seterr(HM_E_INVAL, "hindex: NULL out");
        goto leave;
    }
    if (bits != 256 && bits != 64) {
        rc = hm__seterr(HM_E_INVAL, "hindex: code_bits %u is not 64 or 256", bits);
        goto leave;
    }
    if (nsub == 0) {
        /* Norouzi et al. find substrings of ~log2(n) bits best.  Few sizes
         * are offered: the fixed cost of a table of 2^b heads must be paid
         * by enough rows (8-bit keys below 4k rows, 16-bit below 4M, then
         * ~21-bit: 12 tables of 21-22 bits for PDQ, 256 MB of heads). */
        size_t n = opts && opts->expected_n ? opts->expected_n : 1000000;
        nsub = n < 4096 ? bits / 8 : n < ((size_t)4 << 20) ? bits / 16 : (bits + 21) / 22;
    }
    if (nsub < 1 || nsub > MAX_SUB || bits / nsub < 8 ||
        (bits + nsub - 1) / nsub > MAX_SUB_BITS) {
        rc = hm__seterr(HM_E_INVAL, "hindex: nsub %u gives substrings outside 8..%d bits",
                        nsub, MAX_SUB_BITS);
        goto leave;
    }
    ix = calloc(1, sizeof *ix);
    if (!ix) {
        rc = hm__seterr(HM_E_NOMEM, "hindex: out of memory");
        goto leave;
    }
    if ((rc = s_core_new(&ix->core, bits / 64, nsub)))
        goto leave;
    /* Writer-preferring: under a steady stream of searches a compaction's
     * swap must not wait for ever (glibc's default prefers readers). */
    pthread_rwlockattr_t ra;
    pthread_rwlockattr_init(&ra);
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&ix->swap, &ra);
    pthread_rwlockattr_destroy(&ra);
    pthread_mutex_init(&ix->writer, NULL);
    hm_log_debug("hindex_create", "code_bits=%u nsub=%u", bits, nsub);
leave:
    if (rc) {
        free(ix);
        ix = NULL;
    }
    if (out)
        *out = ix;
    return rc;
}

void hm_hindex_destroy(hm_hindex_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    hm_hindex_t *ix = *self_p;
    s_core_free(&ix->core);
    pthread_rwlock_destroy(&ix->swap);
    pthread_mutex_destroy(&ix->writer);
    free(ix);
    *self_p = NULL;
}

int hm_hindex_add(hm_hindex_t *ix, uint64_t id, const uint64_t *code)
{
    if (!ix || !code)
        return hm__seterr(HM_E_INVAL, "hindex: NULL index or code");
    pthread_mutex_lock(&ix->writer);
    int rc = 0;
    if (s_map_find(ix->core, id) >= 0)
        rc = hm__seterr(HM_E_EXISTS, "hindex: id %llu is already indexed",
                        (unsigned long long)id);
    else
        rc = s_append(ix->core, id, code);
    pthread_mutex_unlock(&ix->writer);
    return rc;
}

/* Build a dense copy of the live rows; called with the writer mutex held, so
 * the old core is stable while searches keep reading it. */
static int s_compact_locked(hm_hindex_t *ix)
{
    int rc = 0;
    s_core_t *old = ix->core, *nc = NULL;
    if ((rc = s_core_new(&nc, old->words, old->nsub)))
        goto leave;
    for (uint32_t row = 0; row < old->n_rows; row++)
        if (!*s_dead(old, row) && (rc = s_append(nc, *s_ids(old, row), s_code(old, row))))
            goto leave;
    pthread_rwlock_wrlock(&ix->swap);
    ix->core = nc;
    pthread_rwlock_unlock(&ix->swap);
    hm_log_debug("hindex_compact", "rows_before=%u rows_after=%u", old->n_rows, nc->n_rows);
    nc = old; /* freed below */
    ix->compactions++;
leave:
    s_core_free(&nc);
    return rc;
}

int hm_hindex_compact(hm_hindex_t *ix)
{
    if (!ix)
        return hm__seterr(HM_E_INVAL, "hindex: NULL index");
    pthread_mutex_lock(&ix->writer);
    int rc = s_compact_locked(ix);
    pthread_mutex_unlock(&ix->writer);
    return rc;
}

int hm_hindex_remove(hm_hindex_t *ix, uint64_t id)
{
    if (!ix)
        return hm__seterr(HM_E_INVAL, "hindex: NULL index");
    int rc = 0;
    pthread_mutex_lock(&ix->writer);
    s_core_t *c = ix->core;
    int64_t row = s_map_find(c, id);
    if (row < 0) {
        rc = hm__seterr(HM_E_NOTFOUND, "hindex: id %llu is not indexed",
                        (unsigned long long)id);
        goto leave;
    }
    __atomic_store_n(s_dead(c, (uint32_t)row), 1, __ATOMIC_RELEASE);
    c->n_dead++;
    if (c->n_dead > 1024 && c->n_dead > c->n_rows / 4)
        rc = s_compact_locked(ix);
leave:
    pthread_mutex_unlock(&ix->writer);
    return rc;
}

void hm_hindex_stats(const hm_hindex_t *ix, hm_hindex_stats_t *st)
{
    memset(st, 0, sizeof *st);
    if (!ix)
        return;
    pthread_rwlock_rdlock((pthread_rwlock_t *)&ix->swap);
    const s_core_t *c = ix->core;
    st->n_rows = __atomic_load_n(&c->n_rows, __ATOMIC_ACQUIRE);
    st->n_dead = c->n_dead;
    st->n_live = st->n_rows - st->n_dead;
    st->bytes = sizeof *ix + s_core_bytes(c);
    st->bytes_per_ref = st->n_live ? (double)st->bytes / (double)st->n_live : 0;
    st->code_bits = 64 * c->words;
    st->nsub = c->nsub;
    st->sub_bits = c->sub_bits;
    st->compactions = ix->compactions;
    pthread_rwlock_unlock((pthread_rwlock_t *)&ix->swap);
}
