/*
 * hm_matcher.h - from candidate matches to a verdict: thresholds, scores,
 * banks, the allow-list and seller authorisation.  Pure logic: the engine
 * gathers the candidates (with their references' metadata) and answers the
 * questions; the matcher decides.
 *
 * Similarity of a hash match is 1 - distance / (bits / 2), clipped to 0..1
 * (two unrelated hashes sit near half their bits apart, similarity 0); of a
 * descriptor match, the cosine clipped to 0..1; of a local-feature match
 * (a geometrically verified keypoint fit, hm_geom.h), its score / 100
 * clipped to 0..1 (the "cosine" argument carries the score).  A candidate "matches" when
 * its distance is at most the signal's threshold (similarity at least, for the
 * descriptor).  The score of a candidate maps its similarity piecewise
 * linearly so that the threshold lands on 0.5: monotone in match strength,
 * >= 0.5 exactly for matches.
 *
 * Rules, in order:
 *   1. the image is on the allow-list: never counterfeit or suspect (genuine
 *      if a genuine reference matched and the seller is authorised, else
 *      unknown, reason "allow_listed");
 *   2. a counterfeit-bank reference matched: counterfeit ("counterfeit_match");
 *   3. a genuine-bank reference of brand B matched (the best such match
 *      decides B): genuine when the seller is authorised for B
 *      ("genuine_authorized"), else suspect ("genuine_unauthorized_seller",
 *      or "genuine_no_seller" when the request named no seller);
 *   4. otherwise unknown ("no_match").
 *
 * Thread safety: pure functions; thresholds are read-only while in use.
 */
#ifndef HM_MATCHER_H
#define HM_MATCHER_H

#include "hm_decision.h"

#ifdef __cplusplus
extern "C" {
#endif

enum hm_signal { HM_SIG_PDQ = 0, HM_SIG_PHASH = 1, HM_SIG_DHASH = 2, HM_SIG_DESC = 3,
                 HM_SIG_LOCAL = 4, HM_SIG_COUNT };

typedef struct hm_thresholds {
    int pdq;               /* max Hamming distance (of 256) for a PDQ match */
    int pdq_min_quality;   /* queries below this PDQ quality do not match on PDQ */
    int phash;             /* max distance (of 64); < 0 disables the signal */
    int dhash;             /* max distance (of 64); < 0 disables the signal */
    float desc;            /* min cosine; > 1 disables the signal */
    int allow_pdq;         /* max PDQ distance to an allow-list entry */
    float local;           /* min geometric score (inliers x inlier ratio) of a
                              verified local-feature match; < 0 disables */
} hm_thresholds_t;

/* The built-in defaults (documented in docs/PROTOCOL.md; calibrated by bench/). */
extern const hm_thresholds_t hm_thresholds_default;

const char *hm_signal_name(int signal);
/* "original", "rotate90", ..., "flip_minus1"; trimmed 1: "trimmed" + variant
 * (the content box); trimmed 2: "region" + variant (a content region). */
const char *hm_variant_name(int dih, int trimmed);

/* Similarity 0..1 and score 0..1 of one candidate (see above). */
double hm_match_similarity(int signal, int distance, float cosine);
double hm_match_score(const hm_thresholds_t *t, int signal, double similarity);
int hm_match_passes(const hm_thresholds_t *t, int signal, int distance, float cosine);

/* Answers the matcher needs from the store. */
typedef int (*hm_authorized_fn)(void *ctx, const char *brand, const char *seller);

/*
 * hm_matcher_decide - fill v->decision, v->score, v->reason from v->matches
 * (already filled by the engine, best first, with .matched set), the
 * allow-list status of the image and seller authorisation.
 */
void hm_matcher_decide(const hm_thresholds_t *t, int allowlisted, const hm_query_t *q,
                       hm_authorized_fn authorized, void *ctx, hm_verdict_t *v);

/*
 * hm_thresholds_load - read thresholds from a JSON file:
 *   {"pdq":31,"pdq_min_quality":50,"phash":6,"dhash":6,"desc":0.95,"allow_pdq":31,"local":32}
 * Missing keys keep the defaults.
 * @return 0, HM_E_IO (unreadable), HM_E_CONFIG (invalid JSON, wrong type or
 *         out-of-range value; the message names the key).
 */
int hm_thresholds_load(const char *path, hm_thresholds_t *t);
/* The same from JSON text in memory (len bytes); never reads a file. */
int hm_thresholds_parse(const char *text, size_t len, hm_thresholds_t *t);

#ifdef __cplusplus
}
#endif
#endif
