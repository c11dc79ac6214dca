/*
 * hm_hindex.c - multi-index hashing over 256- and 64-bit codes.
 *
 * See hm_hindex.h for the design.  Internal vocabulary: a "row" is the
 * position of a code in the order of adds; a "core" holds everything a
 * search reads, so that compaction can build a fresh core and swap it in.
 * This file is the writer side (storage, adds, removes, compaction);
 * hm_hindex_search.c the readers.
 */
#include "hm_hindex_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "hm_error.h"
#include "hm_log.h"
#include "hm_simd.h"

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
