/*
 * hm_geom.h - geometric verification of local-feature correspondences: is
 * the query a copy (crop, pad, frame, rotation, scale, mirror) of the
 * reference, and which transform maps one to the other?
 *
 * Model.  A similarity transform from reference to query, in the normalised
 * coordinates of hm_lf.h (longer side = 1):
 *     q = s R(theta) r + t          (query features unmirrored)
 *     flip(q) = s R(theta) r + t    (query features mirrored; flip(x, y) =
 *                                    (aspect_w - x, y); mirrored = 1)
 * Affine fits are not offered: copies in the families are
 * similarities, and the extra freedom of an affine fit is what lets a second
 * photo of the same scene (a perspective change) look like a copy.
 *
 * Fit.  RANSAC (Fischler & Bolles) over 2-point minimal samples drawn by a
 * deterministic xorshift64* generator (opts.seed), each hypothesis first
 * checked against the two keypoints' own orientation difference (within
 * 30 degrees) and size ratio (within a factor 1.6) so most wrong hypotheses
 * cost no inlier count; the best is refined by least squares (closed form)
 * on its inliers, twice.  A correspondence is an inlier when its residual is
 * within opts.inlier_px pixels of the query keypoint's pyramid level.
 *
 * Precision rule (verified = 1), calibrated with bench/bench_lf --pairs on
 * 100 grocery references, 1,000 generated copies and 25 burst shots
 * (scene-groups.tsv: second photos of the same scene):
 *   inliers >= opts.min_inliers (10);
 *   rms_px + max(coherence, 0) <= opts.max_guard (1.1).  rms_px is the RMS
 *   inlier residual in pixels of each query keypoint's pyramid level;
 *   coherence (see the field) is ~0 when residuals are localisation noise
 *   and grows when they form a smooth field, as perspective and parallax
 *   between two photos of one scene make them.  Copies: rms p50 0.70 / p99
 *   0.96, coherence p99 0.27.  Burst shots: rms 0.71-1.76, coherence
 *   0.01-0.84; 24 of 25 have a sum >= 1.25 (the 25th, rms 0.71 and
 *   coherence 0.01, is geometrically indistinguishable from a copy);
 *   coverage >= opts.min_coverage (0.1): the inliers span at least a tenth of
 *   the reference, so a shared logo-sized region (1/16 of the area in the
 *   tests) is never enough;
 *   optionally (opts.min_thumb_corr > -1) the aligned 32x32 thumbnails
 *   correlate at least that much.  Off by default: in bench_lf it did not
 *   separate burst shots (0.68-0.95) and overlays and colour edits pull
 *   copies below 0.9.  The engine's second-chance fit, which matches every
 *   descriptor and so finds more pairs between second photos, requires 0.9
 *   (index/hm_engine_local.c has the measurements).
 * The caller then thresholds score (inliers x inlier ratio): in bench_lf's
 * runs (200 real references, burst, logo and look-alike negatives through
 * the index, up to 99,800 synthetic references) no negative's verified
 * model scored above 24 (256 x 128 words, 2 probes) or 31 (the index
 * defaults), hence HM_GEOM_SCORE_MIN = 32.  Inliers alone separated worse
 * (recall 0.87 against 0.91 at zero false positives).

 * Collages.  After a model is found its inliers are removed and RANSAC runs
 * again on the rest, up to opts.max_models times, so the same reference
 * pasted twice, or several regions, each yield a model.  Different products
 * in one collage are different references: the index returns each as its
 * own candidate with its own correspondences.
 *
 * Thread safety: every function is reentrant (stack scratch only).
 */
#ifndef HM_GEOM_H
#define HM_GEOM_H

#include <stddef.h>
#include <stdint.h>

#include "hm_lf.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HM_GEOM_MAX_CORR 4096 /* correspondences considered per pair */
#define HM_GEOM_MAX_MODELS 8
#define HM_GEOM_SCORE_MIN 32.0f /* suggested score threshold (zero false positives in bench_lf) */

/* One putative correspondence: query keypoint qi <-> reference keypoint ri. */
typedef struct hm_geom_corr {
    float qx, qy, rx, ry;     /* normalised positions */
    float qsize, rsize;       /* normalised patch diameters */
    float qangle, rangle;     /* radians */
    uint16_t qi, ri;          /* keypoint indices */
    uint16_t dist;            /* descriptor Hamming distance */
} hm_geom_corr_t;

typedef struct hm_geom_opts {
    int max_dist;             /* matching: largest Hamming distance; default 64 */
    float ratio;              /* matching: d1 <= ratio * d2 (1 = off); default 0.9 */
    int iters;                /* RANSAC hypotheses per model; default 400 */
    float inlier_px;          /* inlier residual, level pixels; default 3 */
    int min_inliers;          /* default 10 */
    float max_guard;          /* rms_px + max(coherence, 0) at most this; default 1.1 */
    float min_coverage;       /* default 0.1 */
    float min_thumb_corr;     /* default -1 (off) */
    int max_models;           /* default 3 (1..HM_GEOM_MAX_MODELS) */
    uint64_t seed;            /* default 0x9e3779b97f4a7c15 */
} hm_geom_opts_t;

extern const hm_geom_opts_t hm_geom_opts_default;

/* What the fit needs to know about an image besides its keypoints. */
typedef struct hm_geom_frame {
    float aspect_w, aspect_h; /* as hm_lf_feat_t */
    int mirrored;             /* query side: the features are of the mirror image */
    const uint8_t *thumb;     /* HM_LF_THUMB^2 luma, or NULL; borrowed for the call */
} hm_geom_frame_t;

/* The frame of a feature set (thumb points into f). */
hm_geom_frame_t hm_geom_frame_of(const hm_lf_feat_t *f);

/* The evidence for one model. */
typedef struct hm_geom_result {
    int verified;             /* 1 when every rule above holds */
    int inliers;              /* correspondences within inlier_px */
    int ncorr;                /* correspondences the fit saw */
    float inlier_ratio;       /* inliers / ncorr */
    float score;              /* inliers x inlier_ratio: the strength to threshold
                                 (copies match nearly every putative pair;
                                 look-alike photos only some) */
    float coverage;           /* inliers' bounding box area / reference area */
    float rms_px;             /* RMS residual of inliers, level pixels */
    float mean_dist;          /* mean descriptor Hamming distance of the inliers */
    float coherence;          /* residual coherence: sum e_i . e_nn(i) / sum |e_i|^2 over
                                 inliers, nn(i) the nearest other inlier; ~0 for
                                 noise (copies), > 0 for a smooth residual field */
    float thumb_corr;         /* thumbnail correlation after alignment (-2 = not computed) */
    float scale;              /* s: query size / reference size */
    float rotation_deg;       /* theta in (-180, 180] */
    float tx, ty;             /* t, normalised query units */
    int mirrored;             /* 1: the query is a mirror image of the reference */
    float crop[4];            /* x0, y0, x1, y1: the reference region the query shows,
                                 normalised reference coordinates, clipped */
} hm_geom_result_t;

/*
 * hm_geom_match - putative correspondences by brute force: mutual nearest
 * neighbours (hamming256_nn kernel both ways) within max_dist that pass the
 * ratio test.  256 x 256 keypoints cost ~0.1 ms.
 * @param[out] out  cap entries; *n = how many were written.
 * @return 0, HM_E_INVAL (NULL).
 */
int hm_geom_match(const hm_lf_feat_t *q, const hm_lf_feat_t *r, const hm_geom_opts_t *opts,
                  hm_geom_corr_t *out, size_t cap, size_t *n);

/*
 * hm_geom_fit - fit up to opts.max_models similarity models to corr.
 * @param[in]  q, r    the two images' frames (hm_geom_frame_of(), or from an
 *                     hm_lfindex candidate).
 * @param[out] res     room for maxres results; *nres = models found (those
 *                     with >= min_inliers inliers; verified or not), best first.
 * @return 0, HM_E_INVAL (NULL, maxres < 1).
 */
int hm_geom_fit(const hm_geom_frame_t *q, const hm_geom_frame_t *r, const hm_geom_corr_t *corr,
                size_t n, const hm_geom_opts_t *opts, hm_geom_result_t *res, int maxres,
                int *nres);

/*
 * hm_geom_verify - hm_geom_match() then hm_geom_fit(): the whole check of
 * one query against one reference.  opts NULL = defaults.  The
 * correspondences live on the heap for the call (no hidden per-thread state).
 * @return as hm_geom_fit(), or HM_E_NOMEM.
 */
int hm_geom_verify(const hm_lf_feat_t *q, const hm_lf_feat_t *r, const hm_geom_opts_t *opts,
                   hm_geom_result_t *res, int maxres, int *nres);

#ifdef __cplusplus
}
#endif
#endif
