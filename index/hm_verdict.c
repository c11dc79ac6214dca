/* hm_verdict.c - verdict names and the one JSON form of a verdict. */
#include "hm_verdict.h"

#include <stdio.h>
#include <string.h>

#include "hm_error.h"

const char *hm_decision_name(hm_decision_t d)
{
    switch (d) {
    case HM_DEC_UNKNOWN: return "unknown";
    case HM_DEC_GENUINE: return "genuine";
    case HM_DEC_SUSPECT: return "suspect";
    case HM_DEC_COUNTERFEIT: return "counterfeit";
    default: return "error";
    }
}

const char *hm_bank_name(int bank)
{
    return bank == HM_BANK_COUNTERFEIT ? "counterfeit" : bank == HM_BANK_GENUINE ? "genuine" : "unknown";
}

int hm_bank_parse(const char *name)
{
    if (name && strcmp(name, "counterfeit") == 0)
        return HM_BANK_COUNTERFEIT;
    if (name && strcmp(name, "genuine") == 0)
        return HM_BANK_GENUINE;
    return hm__seterr(HM_E_INVAL, "bank must be \"counterfeit\" or \"genuine\"");
}

void hm_verdict_error(hm_verdict_t *v, int rc, const char *msg)
{
    memset(v, 0, sizeof *v);
    v->decision = HM_DEC_ERROR;
    v->error = rc;
    v->reason = hm_err_name(rc);
    snprintf(v->error_msg, sizeof v->error_msg, "%s", msg && *msg ? msg : hm_strerror(rc));
}

/* Set key to a copy of s, or null when s is NULL; invalid UTF-8 is replaced. */
static void s_str(json_t *o, const char *key, const char *s)
{
    if (!s) {
        json_object_set_new(o, key, json_null());
        return;
    }
    json_t *j = json_string(s);
    json_object_set_new(o, key, j ? j : json_string("(invalid utf-8)"));
}

/* Round to 4 decimals so the JSON stays short and stable. */
static json_t *s_num(double x)
{
    return json_real((double)(long long)(x * 10000.0 + (x >= 0 ? 0.5 : -0.5)) / 10000.0);
}

json_t *hm_verdict_to_json(const hm_verdict_t *v, const char *request_id,
                           const char *listing_id, const char *image_id,
                           const char *seller)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    json_object_set_new(o, "v", json_integer(1));
    if (request_id)
        s_str(o, "request_id", request_id);
    if (listing_id)
        s_str(o, "listing_id", listing_id);
    if (image_id)
        s_str(o, "image_id", image_id);
    json_object_set_new(o, "decision", json_string(hm_decision_name(v->decision)));
    json_object_set_new(o, "score", s_num(v->score));
    json_object_set_new(o, "reason", json_string(v->reason ? v->reason : "none"));
    json_t *arr = json_array();
    for (int i = 0; i < v->n_matches; i++) {
        const hm_match_t *m = &v->matches[i];
        json_t *mo = json_object();
        s_str(mo, "ref", m->ref);
        json_object_set_new(mo, "bank", json_string(hm_bank_name(m->bank)));
        s_str(mo, "brand", m->brand);
        s_str(mo, "holder", m->holder[0] ? m->holder : NULL);
        json_object_set_new(mo, "signal", json_string(m->signal ? m->signal : "unknown"));
        json_object_set_new(mo, "variant", json_string(m->variant ? m->variant : "original"));
        json_object_set_new(mo, "distance", m->distance >= 0 ? json_integer(m->distance) : json_null());
        json_object_set_new(mo, "similarity", s_num(m->similarity));
        json_object_set_new(mo, "score", s_num(m->score));
        json_object_set_new(mo, "matched", json_boolean(m->matched));
        if (m->region[2] > 0) {
            json_t *rg = json_array();
            for (int k = 0; k < 4; k++)
                json_array_append_new(rg, json_integer(m->region[k]));
            json_object_set_new(mo, "region", rg);
        }
        if (m->signal && strcmp(m->signal, "local") == 0 && m->inliers > 0) {
            json_t *tr = json_object();
            json_object_set_new(tr, "inliers", json_integer(m->inliers));
            json_object_set_new(tr, "geom_score", s_num(m->geom_score));
            json_object_set_new(tr, "scale", s_num(m->scale));
            json_object_set_new(tr, "rotation_deg", s_num(m->rotation_deg));
            json_object_set_new(tr, "coverage", s_num(m->coverage));
            json_t *crop = json_array();
            for (int k = 0; k < 4; k++)
                json_array_append_new(crop, s_num(m->crop[k]));
            json_object_set_new(tr, "crop", crop);
            json_object_set_new(mo, "transform", tr);
        }
        json_array_append_new(arr, mo);
    }
    json_object_set_new(o, "matches", arr);
    if (seller) {
        json_t *so = json_object();
        s_str(so, "id", seller);
        json_object_set_new(so, "strikes", json_integer(v->strikes));
        json_object_set_new(so, "blocked", json_boolean(v->seller_blocked));
        json_object_set_new(o, "seller", so);
    }
    if (v->decision != HM_DEC_ERROR) {
        json_object_set_new(o, "pdq", json_string(v->pdq));
        json_object_set_new(o, "quality", json_integer(v->quality));
    }
    json_t *t = json_object();
    json_object_set_new(t, "decode", json_integer((json_int_t)v->decode_us));
    json_object_set_new(t, "fingerprint", json_integer((json_int_t)v->fingerprint_us));
    json_object_set_new(t, "search", json_integer((json_int_t)v->search_us));
    json_object_set_new(t, "local", json_integer((json_int_t)v->local_us));
    json_object_set_new(t, "total", json_integer((json_int_t)v->total_us));
    json_object_set_new(o, "timing_us", t);
    if (v->decision == HM_DEC_ERROR) {
        json_t *e = json_object();
        json_object_set_new(e, "code", json_string(hm_err_name(v->error)));
        s_str(e, "message", v->error_msg);
        json_object_set_new(o, "error", e);
    }
    return o;
}
