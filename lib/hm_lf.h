/*
 * hm_lf.h - local features: oriented FAST corners and 256-bit rotated-BRIEF
 * descriptors (after Rosten & Drummond's FAST and Rublee et al.'s ORB),
 * written from the published descriptions.
 *
 * Pipeline (per image, all in a caller-owned context):
 *  1. Luma (0.299 R + 0.587 G + 0.114 B, the dispatched rgb_to_luma kernel),
 *     area-resampled so the longer side is at most opts.max_side (level 0).
 *  2. A pyramid of opts.levels levels, each opts.level_scale smaller (area
 *     resampling from the previous level), and for each level a smoothed copy
 *     (5-tap binomial, applied twice: sigma ~ 1.4 px) that the descriptors
 *     sample, so JPEG noise and resampling flip few bits.
 *  3. FAST-9 segment test (threshold opts.fast_t; the SIMD fast9_row kernel)
 *     at least 16 px from each border, a Harris response (k = 0.04, 7x7
 *     window of central-difference gradients) as the score, 3x3 non-maximum
 *     suppression on that score.
 *  4. Selection of at most opts.max_kp keypoints, strongest first but spread:
 *     the image is cut into opts.grid x opts.grid cells; a first pass keeps at
 *     most 2 * max_kp / grid^2 per cell in score order, a second pass fills
 *     what is left with the strongest remaining ones.  Without the spread a
 *     product occupying one quarter of a collage loses its keypoints to the
 *     busiest quarter.
 *  5. Orientation by intensity centroid over a disk of radius 15 (ORB).
 *  6. Descriptor: 256 intensity comparisons p[a_i] < p[b_i] on the smoothed
 *     level, the pattern rotated to the keypoint's angle (30 steps of 12
 *     degrees, precomputed offset tables; the brief256 gather kernel).
 *
 * The sampling pattern (version 1).  Pairs (a_i, b_i) of integer offsets
 * from a xorshift64* generator seeded with 0x686d6c6600000001, each
 * coordinate the sum of three uniform integers in [-5, 5] (an integer-only
 * approximation of BRIEF's isotropic Gaussian, sigma ~ 5.5 px in a 31 px
 * patch), drawn again when outside the disk of radius 15 or when a == b.
 * Integer generation keeps the pattern identical on every platform; only the
 * rotation tables use libm (cos/sin in double, rounded to the nearest pixel).
 *
 * Mirror images.  Options: (a) also extract from the mirrored query (2x
 * detection and description), (b) mirror-describe the same keypoints: a
 * mirrored image's descriptor at a keypoint equals the original image
 * sampled with the pattern's x negated at angle pi - theta.  FAST, Harris,
 * the pyramid and the grid are mirror-symmetric, so (b) finds the same
 * keypoints (a) would, for one more brief256 call per keypoint.  Measured
 * (bench_lf, 200 references): mirror-family recall 0.00 without a mirror
 * set, 1.00 with (b), for +6% extraction time (3.03 -> 3.20 ms per 512 px
 * query with 768 keypoints) where (a) would double it.  hm_lf_extract() does (b) when asked for a mirror
 * set, which reads as the features of the horizontally flipped image
 * (x' = aspect_w - x, angle' = pi - angle, mirrored = 1).  References are
 * extracted unmirrored.

 * Coordinates are normalised by the longer side of the image: x in
 * [0, aspect_w], y in [0, aspect_h], where the longer of the two is 1.
 *
 * Settings (bench_lf, grocery photos, 200 references, 2,000 generated
 * copies).  References: the defaults (384 keypoints since the fused
 * benchmark (bench_accuracy, 12,000 queries) measured 256 -> 384: crops
 * 0.930 -> 0.979, small rotations 0.950 -> 0.971, combinations 0.774 ->
 * 0.856, overall 0.976 -> 0.986 at precision 0.999; level 0 at most 360 px;
 * decode with hm_decode_limits_t.target_side = 348, i.e. no shrink-on-load
 * for these photos: at 174 px second photos of a scene separate worse,
 * their residual rms overlaps copies' p99).  Queries: max_kp = 512 and
 * max_side = 512 (decode target_side 512): a product padded, framed or in
 * a collage cell is smaller in the query than in its reference; at 360 px
 * pad recall was 0.57, at 512 px 0.99.  768 query keypoints were the
 * default until the engine's second-chance fit (index/hm_engine_local.c):
 * with it, 512 score the same on the benchmark (bench_accuracy fused
 * recall 0.993 either way, combinations 0.913 against 0.910) and at 100k
 * references (bench_e2e, 1,000 queries: recall 0.994 either way) for 9.1
 * instead of 11.2 ms per image.  Cost on this machine: ~1.0 ms for a
 * 174 px image, ~2.4 ms for 348 px, ~3.6 ms for a 512 px query with 768
 * keypoints and its mirror set.  The SIMD kernels (fast9_row, brief256)
 * take that query from 7.7 ms (scalar table) to 3.0-3.2 ms (AVX2/AVX-512);
 * the rest (resampling, smoothing, Harris, orientation) is plain C, the
 * resampling and smoothing loops auto-vectorised (see the Makefile).
 *
 * Thread safety: a context is used by one thread at a time; use one per
 * thread.  Feature sets are plain caller-owned structs.
 */
#ifndef HM_LF_H
#define HM_LF_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HM_LF_THUMB 32              /* side of the luma thumbnail kept per image */
#define HM_LF_MAX_KP 4096           /* largest opts.max_kp */
#define HM_LF_SERIAL_VERSION 1
#define HM_LF_SERIAL_HEADER 16      /* bytes before the thumbnail */
#define HM_LF_SERIAL_PER_KP 38      /* x, y (u16), size, angle (u8), descriptor (32) */

typedef struct hm_lf_opts {
    int max_kp;          /* keypoints kept per image; default 256 (1..HM_LF_MAX_KP) */
    int levels;          /* pyramid levels; default 4 (1..8) */
    float level_scale;   /* size ratio between levels; default 1.41 (1.1..2) */
    int fast_t;          /* FAST threshold on 8-bit luma; default 16 */
    int max_side;        /* longer side of level 0 (larger images are shrunk); default 360 */
    int grid;            /* spread grid cells per side; default 8 (1 = off) */
    int upscale;         /* 1: images smaller than max_side are enlarged to it
                            (bilinear), so small products in a query meet the
                            reference's finest level; default 0 */
} hm_lf_opts_t;

extern const hm_lf_opts_t hm_lf_opts_default;

typedef struct hm_lf_kp {
    float x, y;          /* normalised position (see above) */
    float size;          /* described patch diameter, normalised (31 px x level scale / longer side) */
    float angle;         /* orientation, radians in [0, 2 pi) */
    float score;         /* Harris response (0 after deserialisation) */
} hm_lf_kp_t;

/* One image's features.  Caller-owned: hm_lf_feat_init() / hm_lf_feat_free(). */
typedef struct hm_lf_feat {
    uint32_t n;          /* keypoints in kp[] and desc[] */
    uint32_t cap;        /* capacity of kp[] and desc[] */
    float aspect_w;      /* width / longer side (1 for landscape and square) */
    float aspect_h;      /* height / longer side */
    int mirrored;        /* 1: these are the features of the mirrored image */
    int has_thumb;       /* 1: thumb[] is valid */
    hm_lf_kp_t *kp;      /* owned */
    uint64_t *desc;      /* owned; 4 words per keypoint */
    uint8_t thumb[HM_LF_THUMB * HM_LF_THUMB]; /* luma of the whole image, area-averaged */
} hm_lf_feat_t;

typedef struct hm_lf_ctx hm_lf_ctx_t;

/*
 * hm_lf_feat_init - allocate room for cap keypoints (n = 0).
 * @return 0, HM_E_INVAL (cap 0 or > HM_LF_MAX_KP), HM_E_NOMEM.
 */
int hm_lf_feat_init(hm_lf_feat_t *f, uint32_t cap);
/* Free f's arrays (NULL-safe); f may be initialised again. */
void hm_lf_feat_free(hm_lf_feat_t *f);

/*
 * hm_lf_ctx_create - per-thread scratch for hm_lf_extract().
 * @param[in] opts  NULL for hm_lf_opts_default; copied.
 * @return 0, HM_E_INVAL (an option out of range), HM_E_NOMEM.
 */
int hm_lf_ctx_create(hm_lf_ctx_t **out, const hm_lf_opts_t *opts);
/* NULL-safe; sets *self_p = NULL. */
void hm_lf_ctx_destroy(hm_lf_ctx_t **self_p);
/* The options in use (borrowed, valid for the context's life). */
const hm_lf_opts_t *hm_lf_ctx_opts(const hm_lf_ctx_t *ctx);

/*
 * hm_lf_extract - detect and describe up to opts.max_kp keypoints.
 * @param[in]  rgb, w, h, stride  8-bit RGB (e.g. an hm_image_t); borrowed.
 * @param[out] feat    filled (n may be 0: flat, tiny or all-black images
 *                     have no keypoints, which is not an error).  Needs
 *                     cap >= opts.max_kp.
 * @param[out] mirror  NULL, or filled with the mirror set (see above).
 * @return 0, HM_E_INVAL (NULL, w or h < 1, stride < 3 w, cap too small),
 *         HM_E_TOO_LARGE (a side > 65535), HM_E_NOMEM (growing the scratch
 *         for a larger input; buffers only ever grow, so a steady stream of
 *         same-sized images allocates nothing).
 */
int hm_lf_extract(hm_lf_ctx_t *ctx, const uint8_t *rgb, int w, int h, size_t stride,
                  hm_lf_feat_t *feat, hm_lf_feat_t *mirror);

/* Bytes hm_lf_serialize() writes for f (HM_LF_SERIAL_HEADER + 1024 with a
 * thumbnail + HM_LF_SERIAL_PER_KP * n). */
size_t hm_lf_serial_size(const hm_lf_feat_t *f);

/*
 * hm_lf_serialize - the compact, versioned form: "HMLF", version (u8), flags
 * (u8: bit 0 thumbnail, bit 1 mirrored), n (u16 LE), aspect_w, aspect_h
 * (u16 LE, x 65535), 4 reserved bytes, [thumbnail 1024 bytes], then per
 * keypoint x, y (u16 LE, x 65535), size (u8: round(-24 log2 size)), angle
 * (u8: 256 steps), descriptor (32 bytes, words little-endian).  Positions
 * lose < 1/65535, sizes < 1.5%, angles < 0.71 degrees; descriptors nothing.
 * @param[out] buf   cap bytes; *len = bytes written.
 * @return 0, HM_E_INVAL (NULL), HM_E_TOO_LARGE (cap < hm_lf_serial_size()).
 */
int hm_lf_serialize(const hm_lf_feat_t *f, uint8_t *buf, size_t cap, size_t *len);

/*
 * hm_lf_deserialize - parse a serialised set into f (grown as needed; an
 * f zeroed or initialised before).
 * @return 0, HM_E_INVAL (NULL), HM_E_CORRUPT (bad magic, truncated, n
 *         inconsistent), HM_E_VERSION (another version), HM_E_NOMEM.
 */
int hm_lf_deserialize(const uint8_t *buf, size_t len, hm_lf_feat_t *f);

#ifdef __cplusplus
}
#endif
#endif
