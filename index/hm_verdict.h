/*
 * hm_verdict.h - the one place a verdict becomes JSON (daemon and CLI alike).
 *
 * Schema (docs/PROTOCOL.md is the reference):
 *   {"v":1, "request_id":..., "decision":"counterfeit|suspect|genuine|unknown|error",
 *    "score":0.97, "reason":"...", "matches":[{"ref","bank","brand","holder",
 *    "signal","variant","distance","similarity","matched"}...],
 *    "seller":{"id","strikes","blocked"}, "pdq":"hex", "quality":N,
 *    "timing_us":{"decode","fingerprint","search","local","total"},
 *    "error":{"code":"too_large","message":"..."}   (only for decision error)}
 */
#ifndef HM_VERDICT_H
#define HM_VERDICT_H

#include <jansson.h>

#include "hm_decision.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * hm_verdict_to_json - a new JSON object for v.  request_id, listing_id,
 * image_id and seller are copied in when not NULL.
 * @return a new reference (caller json_decref()s it), or NULL on out of memory.
 */
json_t *hm_verdict_to_json(const hm_verdict_t *v, const char *request_id,
                           const char *listing_id, const char *image_id,
                           const char *seller);

/* A verdict of decision error for code rc with message msg (no image needed). */
void hm_verdict_error(hm_verdict_t *v, int rc, const char *msg);

#ifdef __cplusplus
}
#endif
#endif
