/* test_matcher.c - the decision rules, scores, thresholds file and verdict JSON. */
#include <stdio.h>
#include <string.h>

#include "hm_error.h"
#include "hm_matcher.h"
#include "hm_verdict.h"
#include "test_util.h"

static int s_auth(void *ctx, const char *brand, const char *seller)
{
    (void)ctx;
    return strcmp(brand, "Acme") == 0 && strcmp(seller, "good") == 0;
}

static void s_add(hm_verdict_t *v, int bank, const char *brand, int dist)
{
    hm_match_t *m = &v->matches[v->n_matches++];
    memset(m, 0, sizeof *m);
    snprintf(m->ref, sizeof m->ref, "r%d", v->n_matches);
    snprintf(m->brand, sizeof m->brand, "%s", brand);
    m->bank = bank;
    m->signal = "pdq";
    m->distance = dist;
    m->similarity = hm_match_similarity(HM_SIG_PDQ, dist, 0);
    m->score = hm_match_score(&hm_thresholds_default, HM_SIG_PDQ, m->similarity);
    m->matched = hm_match_passes(&hm_thresholds_default, HM_SIG_PDQ, dist, 0);
}

static hm_decision_t s_decide(hm_verdict_t *v, const char *seller, int allow)
{
    hm_query_t q = { .seller = seller };
    hm_matcher_decide(&hm_thresholds_default, allow, &q, s_auth, NULL, v);
    return v->decision;
}

START_TEST(test_rules)
{
    hm_verdict_t v = { 0 };
    ck_assert_int_eq(s_decide(&v, "x", 0), HM_DEC_UNKNOWN);
    ck_assert_str_eq(v.reason, "no_match");
    s_add(&v, HM_BANK_GENUINE, "Acme", hm_thresholds_default.pdq + 9); /* below threshold */
    ck_assert_int_eq(s_decide(&v, "x", 0), HM_DEC_UNKNOWN);
    ck_assert(v.score < 0.5);
    s_add(&v, HM_BANK_GENUINE, "Acme", 10);
    ck_assert_int_eq(s_decide(&v, "bad", 0), HM_DEC_SUSPECT);
    ck_assert_str_eq(v.reason, "genuine_unauthorized_seller");
    ck_assert_int_eq(s_decide(&v, NULL, 0), HM_DEC_SUSPECT);
    ck_assert_str_eq(v.reason, "genuine_no_seller");
    ck_assert_int_eq(s_decide(&v, "good", 0), HM_DEC_GENUINE);
    ck_assert(v.score >= 0.5);
    /* Allow-listed: never suspect or counterfeit. */
    ck_assert_int_eq(s_decide(&v, "bad", 1), HM_DEC_UNKNOWN);
    ck_assert_str_eq(v.reason, "allow_listed");
    ck_assert_int_eq(s_decide(&v, "good", 1), HM_DEC_GENUINE);
    /* A counterfeit match wins over genuine ones. */
    s_add(&v, HM_BANK_COUNTERFEIT, "Acme", 25);
    ck_assert_int_eq(s_decide(&v, "good", 0), HM_DEC_COUNTERFEIT);
    ck_assert_str_eq(v.reason, "counterfeit_match");
    ck_assert_int_eq(s_decide(&v, "good", 1), HM_DEC_GENUINE);
    ck_assert_int_eq(s_decide(&v, "bad", 1), HM_DEC_UNKNOWN);
}
END_TEST

START_TEST(test_scores_monotone)
{
    const hm_thresholds_t *t = &hm_thresholds_default;
    double prev = 2;
    for (int d = 0; d <= 128; d++) {
        double s = hm_match_score(t, HM_SIG_PDQ, hm_match_similarity(HM_SIG_PDQ, d, 0));
        ck_assert(s <= prev);
        ck_assert(s >= 0 && s <= 1);
        ck_assert_int_eq(s >= 0.5, hm_match_passes(t, HM_SIG_PDQ, d, 0));
        prev = s;
    }
    ck_assert_double_eq_tol(hm_match_score(t, HM_SIG_DESC, t->desc), 0.5, 1e-6);
    ck_assert_str_eq(hm_variant_name(HM_DIH_ROT90, 0), "rotate90");
    ck_assert_str_eq(hm_variant_name(HM_DIH_ORIGINAL, 1), "trimmed");
}
END_TEST

static int s_write(const char *dir, const char *text, char *path)
{
    sprintf(path, "%s/t.json", dir);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    return fclose(f);
}

START_TEST(test_thresholds_file)
{
    char *dir = tu_tmpdir(), path[4200];
    hm_thresholds_t t;
    s_write(dir, "{\"pdq\": 20, \"desc\": 0.9}", path);
    ck_assert_int_eq(hm_thresholds_load(path, &t), 0);
    ck_assert_int_eq(t.pdq, 20);
    ck_assert_float_eq_tol(t.desc, 0.9f, 1e-6f);
    ck_assert_int_eq(t.phash, hm_thresholds_default.phash);
    static const char *bad[] = { "{\"pdq\": 999}", "{\"pdq\": \"x\"}", "[1,2]", "{\"pdq\":",
                                 "{\"nope\": 1}", "{\"pdq\":1,\"pdq\":2}", "" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        s_write(dir, bad[i], path);
        ck_assert_msg(hm_thresholds_load(path, &t) == HM_E_CONFIG, "accepted %s", bad[i]);
        ck_assert_int_eq(t.pdq, hm_thresholds_default.pdq);
    }
    ck_assert_int_eq(hm_thresholds_load("/nonexistent/t.json", &t), HM_E_IO);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(test_verdict_json)
{
    hm_verdict_t v = { 0 };
    s_add(&v, HM_BANK_COUNTERFEIT, "Ac\"me<b>", 3);
    s_decide(&v, "s1", 0);
    strcpy(v.pdq, "00ff");
    json_t *j = hm_verdict_to_json(&v, "req-1", "L1", "I1", "s1");
    char *txt = json_dumps(j, JSON_COMPACT);
    json_error_t e;
    json_t *back = json_loads(txt, 0, &e);
    ck_assert_ptr_nonnull(back);
    ck_assert_str_eq(json_string_value(json_object_get(back, "decision")), "counterfeit");
    ck_assert_str_eq(json_string_value(json_object_get(back, "request_id")), "req-1");
    json_t *m0 = json_array_get(json_object_get(back, "matches"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(m0, "brand")), "Ac\"me<b>");
    ck_assert_int_eq(json_integer_value(json_object_get(m0, "distance")), 3);
    ck_assert_ptr_null(json_object_get(back, "error"));
    free(txt);
    json_decref(j);
    json_decref(back);
    /* Error verdicts carry the code name; invalid UTF-8 ids do not break JSON. */
    hm_verdict_error(&v, HM_E_TOO_LARGE, "image too big");
    j = hm_verdict_to_json(&v, "\xff\xfe", NULL, NULL, NULL);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "error"), "code")), "too_large");
    ck_assert_str_eq(json_string_value(json_object_get(j, "decision")), "error");
    json_decref(j);
    ck_assert_int_eq(hm_bank_parse("genuine"), HM_BANK_GENUINE);
    ck_assert_int_eq(hm_bank_parse("fake"), HM_E_INVAL);
}
END_TEST

Suite *hm_suite_matcher(void)
{
    Suite *s = suite_create("matcher");
    TCase *tc = tcase_create("rules");
    tcase_add_test(tc, test_rules);
    tcase_add_test(tc, test_scores_monotone);
    tcase_add_test(tc, test_thresholds_file);
    tcase_add_test(tc, test_verdict_json);
    suite_add_tcase(s, tc);
    return s;
}
