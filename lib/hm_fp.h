/*
 * hm_fp.h - the fingerprint of one image, and its stable serialised form.
 *
 * A fingerprint holds every signal hallmark matches on:
 *   - PDQ (256 bits) and its quality 0..100, for the image and for its seven
 *     other dihedral variants (rotations and flips, from one DCT pass);
 *   - pHash and dHash (64 bits each);
 *   - when the image has uniform borders (padding, frames, letterboxing), the
 *     same PDQ set, pHash and dHash of the trimmed content box;
 *   - a compact global descriptor (HM_DESC_DIM float32, L2-normalised).
 *
 * Thread safety: an hm_fp_t is plain data.  hm_fp_compute() is re-entrant;
 * each thread should use its own hm_fp_ctx_t (scratch memory).
 */
#ifndef HM_FP_H
#define HM_FP_H

#include <stddef.h>
#include <stdint.h>

#include "hm_decode.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HM_PDQ_WORDS 4  /* 4 x 64 bits */
#define HM_DESC_DIM 304 /* 2 scales x 4x4 cells x 8 orientations + 4x4x3 colour */

/* Dihedral variants, in the column order of the PDQ reference's
 * --pdqdih-across output (and of ../shared/conformance/pdq/expected-dih.csv). */
enum hm_dih {
    HM_DIH_ORIGINAL = 0,
    HM_DIH_ROT90 = 1,
    HM_DIH_ROT180 = 2,
    HM_DIH_ROT270 = 3,
    HM_DIH_FLIPX = 4,
    HM_DIH_FLIPY = 5,
    HM_DIH_FLIP_PLUS1 = 6,
    HM_DIH_FLIP_MINUS1 = 7,
    HM_DIH_COUNT = 8
};

/* A 256-bit PDQ hash.  Bit k (k = 16 i + j for DCT coefficient (i, j)) is bit
 * (k % 64) of w[k / 64]. */
typedef struct hm_pdq {
    uint64_t w[HM_PDQ_WORDS];
} hm_pdq_t;

/* The hashes of one view of an image (the whole image or its trimmed box). */
typedef struct hm_hashset {
    hm_pdq_t pdq[HM_DIH_COUNT]; /* indexed by enum hm_dih */
    int quality;                /* PDQ quality 0..100 */
    uint64_t phash;             /* 64-bit DCT pHash */
    uint64_t dhash;             /* 64-bit horizontal-gradient dHash */
} hm_hashset_t;

typedef struct hm_box {
    int x, y, w, h;             /* in pixels of the oriented image */
} hm_box_t;

typedef struct hm_fp {
    uint32_t width, height;     /* of the image as displayed (EXIF applied) */
    hm_hashset_t full;          /* the whole image */
    int has_trim;               /* 1 when borders were found and trimmed */
    hm_box_t trim_box;          /* content box, relative to width x height */
    hm_hashset_t trim;          /* hashes of the content box (if has_trim) */
    float desc[HM_DESC_DIM];    /* global descriptor, L2 norm 1 (or all 0) */
} hm_fp_t;

/* Per-worker scratch, owned by its caller: decoder buffers, resampling
 * weights, and (made on first use) the local-feature and thumbnail scratch of
 * hm_lf_ref_blob_ctx(), hm_lf_query_ctx() and hm_thumb_jpeg_ctx().  Opaque. */
typedef struct hm_fp_ctx hm_fp_ctx_t;

/*
 * hm_fp_ctx_new - scratch memory for one thread's fingerprinting.
 * @param[out] out   the new context; the caller frees it with hm_fp_ctx_free().
 * @param[in]  lim   decode limits, or NULL for the defaults (hm_decode_limits_default).
 * @return 0, HM_E_NOMEM.
 */
int hm_fp_ctx_new(hm_fp_ctx_t **out, const hm_decode_limits_t *lim);
/* NULL-safe; sets *ctx_p = NULL. */
void hm_fp_ctx_free(hm_fp_ctx_t **ctx_p);

/* Stage timings of the last hm_fp_compute() on a context, in nanoseconds. */
typedef struct hm_fp_timing {
    uint64_t decode_ns, pdq_ns, hashes_ns, trim_ns, desc_ns, total_ns;
} hm_fp_timing_t;
const hm_fp_timing_t *hm_fp_ctx_timing(const hm_fp_ctx_t *ctx);

/*
 * hm_fp_compute - decode an image from memory and fingerprint it.
 * @param[in]  ctx   this thread's context.
 * @param[in]  data  the encoded image (JPEG, PNG, WebP, GIF, TIFF, HEIF...);
 *                   borrowed for the duration of the call.
 * @param[in]  len   its length in bytes.
 * @param[out] fp    filled on success; undefined on failure.
 * @return 0, or one of the decode errors (HM_E_EMPTY, HM_E_TOO_LARGE,
 *         HM_E_TOO_SMALL, HM_E_UNSUPPORTED, HM_E_CORRUPT, HM_E_DECODE,
 *         HM_E_NOMEM); the message is in hm_last_error().
 */
int hm_fp_compute(hm_fp_ctx_t *ctx, const void *data, size_t len, hm_fp_t *fp);

/*
 * hm_fp_from_rgb - fingerprint already-decoded pixels (8-bit interleaved RGB,
 * rows of stride bytes).  Used by hm_fp_compute() and by tests and benchmarks
 * that generate images.
 * @return 0, HM_E_INVAL (NULL or non-positive sizes), HM_E_TOO_SMALL (< 5 px).
 */
int hm_fp_from_rgb(hm_fp_ctx_t *ctx, const uint8_t *rgb, int w, int h, size_t stride,
                   hm_fp_t *fp);

/*
 * hm_fp_ctx_image - the pixels the last successful hm_fp_compute() on ctx
 * decoded (w x h after shrink-on-load; orig_w x orig_h as displayed), so a
 * caller that needs them again (local features) need not decode twice.
 * @return borrowed, valid until the next call on ctx; NULL when the last
 *         call failed, was hm_fp_from_rgb(), or none ran.
 */
const hm_image_t *hm_fp_ctx_image(const hm_fp_ctx_t *ctx);

/*
 * hm_fp_ctx_image_of - the pixels of the last hm_fp_compute() on ctx when
 * they are exactly what hm_decode() of the same bytes (data, len: the same
 * pointer and length, unchanged since) at target_side would give: the same
 * target, or nothing shrunk on load at a target no larger.  Lets local
 * features and thumbnails skip a second decode without changing one bit.
 * @return borrowed as hm_fp_ctx_image(); NULL when a new decode is needed.
 */
const hm_image_t *hm_fp_ctx_image_of(const hm_fp_ctx_t *ctx, const void *data, size_t len,
                                     int target_side);

/*
 * hm_fp_regions - hashes of the content regions (hm_regions.h: collage cells,
 * the photo inside a screenshot) of the image last fingerprinted on ctx, so
 * a caller that found no match with the whole image can search them too.
 * Computed on demand: most images have no region and most queries never ask.
 * @param[out] sets, boxes  up to cap entries (boxes in the displayed image's
 *             pixels, like trim_box).
 * @return the number of regions (0..HM_REGIONS_MAX), HM_E_INVAL (NULL, or
 *         the last hm_fp_compute()/hm_fp_from_rgb() on ctx failed or none
 *         ran), HM_E_NOMEM.
 */
int hm_fp_regions(hm_fp_ctx_t *ctx, hm_hashset_t *sets, hm_box_t *boxes, int cap);

/* Serialised form: "HMFP", u16 version, u16 flags, then the fields little-endian.
 * Version 1 is HM_FP_SERIAL_BYTES long. */
#define HM_FP_SERIAL_VERSION 1
#define HM_FP_SERIAL_BYTES (8 + 8 + 2 * (8 * 32 + 4 + 16) + 16 + 4 * HM_DESC_DIM)

/*
 * hm_fp_serialize - write fp to buf (at least HM_FP_SERIAL_BYTES).
 * @return the number of bytes written, or HM_E_INVAL when cap is too small.
 */
int hm_fp_serialize(const hm_fp_t *fp, uint8_t *buf, size_t cap);
/*
 * hm_fp_deserialize - read a serialised fingerprint.
 * @return 0, HM_E_CORRUPT (bad magic or length), HM_E_VERSION (a version this
 *         build does not know).
 */
int hm_fp_deserialize(const uint8_t *buf, size_t len, hm_fp_t *fp);
/*
 * hm_fp_deserialize_prefix - read a serialised fingerprint at the start of a
 * longer record (the store keeps other sections after it); *used = its size.
 * @return as hm_fp_deserialize().
 */
int hm_fp_deserialize_prefix(const uint8_t *buf, size_t len, hm_fp_t *fp, size_t *used);

/* Hex forms, as printed by Meta's reference hasher (64 hex digits, most
 * significant 16-bit word first).  hex must hold 65 bytes. */
void hm_pdq_to_hex(const hm_pdq_t *h, char hex[65]);
/* @return 0, HM_E_INVAL when s is not exactly 64 hex digits. */
int hm_pdq_from_hex(const char *s, hm_pdq_t *h);
/* 16 hex digits, most significant first; hex must hold 17 bytes. */
void hm_u64_to_hex(uint64_t v, char hex[17]);
int hm_u64_from_hex(const char *s, uint64_t *v);

/* Hamming distance between two PDQ hashes (dispatched popcount). */
int hm_pdq_distance(const hm_pdq_t *a, const hm_pdq_t *b);
/* Cosine similarity of two descriptors (both L2-normalised). */
float hm_desc_similarity(const float *a, const float *b);

#ifdef __cplusplus
}
#endif
#endif
