/*
 * hm_hindex_int.h - the multi-index hash's storage, shared by hm_hindex.c
 * (storage, adds, removes, compaction: the writer side) and
 * hm_hindex_search.c (range and k-nearest searches: the reader side).
 * Not installed.  A "row" is the position of a code in the order of adds; a
 * "core" holds everything a search reads, so that compaction can build a
 * fresh core and swap it in.
 */
#ifndef HM_HINDEX_INT_H
#define HM_HINDEX_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "hm_hindex.h"

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

/* ---- row and block addressing (readers and the writer) ---------------- */

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

#endif
