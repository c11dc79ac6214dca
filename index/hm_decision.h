/*
 * hm_decision.h - the types of a decision: what a verdict says (decision,
 * score, reason, the matches that support it), what a query asks, and the
 * names of decisions and banks.  The matcher (hm_matcher.h) fills them, the
 * engine (hm_engine.h) returns them, the verdict writer (hm_verdict.h)
 * prints them; none of those needs another's header for them.
 *
 * Ownership: plain value types; the static strings they point at (signal,
 * variant, reason) are never freed.
 * Thread safety: hm_decision_name, hm_bank_name and hm_bank_parse are pure.
 */
#ifndef HM_DECISION_H
#define HM_DECISION_H

#include <stdint.h>

#include "hm_store.h" /* enum hm_bank: HM_BANK_COUNTERFEIT, HM_BANK_GENUINE; HM_STORE_MAX_ID */

#ifdef __cplusplus
extern "C" {
#endif

typedef enum hm_decision {
    HM_DEC_UNKNOWN = 0,
    HM_DEC_GENUINE = 1,
    HM_DEC_SUSPECT = 2,
    HM_DEC_COUNTERFEIT = 3,
    HM_DEC_ERROR = 4
} hm_decision_t;

/* The names of the protocol (docs/PROTOCOL.md), static: a decision out of
 * range is "error", a bank out of range "unknown".  Defined with the verdict writer (hm_verdict.c). */
const char *hm_decision_name(hm_decision_t d); /* "counterfeit", ... */
const char *hm_bank_name(int bank);            /* "counterfeit", "genuine" */
/* @return HM_BANK_* or HM_E_INVAL (NULL or an unknown name). */
int hm_bank_parse(const char *name);

#define HM_ID_MAX (HM_STORE_MAX_ID + 1)   /* external, seller, listing, image ids */
#define HM_NAME_MAX (HM_STORE_MAX_ID + 1) /* brands; holders are cut to fit */

typedef struct hm_match {
    char ref[HM_ID_MAX];        /* the reference's external id */
    int bank;                   /* HM_BANK_* */
    char brand[HM_NAME_MAX];
    char holder[HM_NAME_MAX];
    const char *signal;         /* "pdq", "phash", "dhash", "desc" (static) */
    const char *variant;        /* "original", "rotate90", ..., "trimmed", ...,
                                   "region", ... (static) */
    int distance;               /* Hamming bits for hash signals; -1 for desc */
    double similarity;          /* 0..1, monotone in match strength */
    double score;               /* 0..1, >= 0.5 exactly when matched */
    int matched;                /* 1 when within the signal's threshold */
    /* Signal "local" only: the geometric evidence of the fitted similarity
     * transform (query = scale x rotation x reference + translation). */
    int inliers;                /* keypoint correspondences that agree */
    double geom_score;          /* inliers x inlier ratio */
    double scale;               /* query size / reference size */
    double rotation_deg;
    double coverage;            /* share of the reference the inliers span */
    double crop[4];             /* x0, y0, x1, y1 of the reference the query shows (0..1) */
    /* Variants "region*" only: the region of the listing image whose hashes
     * matched (hm_regions.h), in the image's pixels; w = 0 otherwise. */
    int region[4];              /* x, y, w, h */
} hm_match_t;

#define HM_VERDICT_MAX_MATCHES 32

typedef struct hm_verdict {
    hm_decision_t decision;
    double score;               /* 0..1, calibrated: >= 0.5 means a match */
    const char *reason;         /* reason code (static), see docs/PROTOCOL.md */
    int n_matches;
    hm_match_t matches[HM_VERDICT_MAX_MATCHES]; /* best first */
    int strikes;                /* the seller's strike count after this verdict */
    int seller_blocked;         /* strikes >= the configured limit */
    int error;                  /* HM_E_* when decision == HM_DEC_ERROR */
    char error_msg[256];
    char pdq[65];               /* the query's PDQ (hex), "" on error */
    int quality;                /* its PDQ quality */
    uint64_t decode_us, fingerprint_us, search_us, total_us;
    uint64_t local_us;          /* the part of search_us spent on local features
                                   (extraction, inverted file, fits); 0 when
                                   they did not run */
} hm_verdict_t;

typedef struct hm_query {
    const char *seller;         /* may be NULL: then no strike is recorded */
    const char *brand;          /* the brand the listing claims; may be NULL */
    const char *listing_id;     /* for strikes (one per listing and image) */
    const char *image_id;
    int top_k;                  /* > 0: always list the k nearest references */
    int record_strikes;         /* 1: a counterfeit verdict adds a strike */
    int local_only;             /* 1: local features alone (no hashes, descriptor or
                                   regions): to evaluate or review that signal */
} hm_query_t;

#ifdef __cplusplus
}
#endif
#endif
