/*
 * test_daemon_units.c - unit tests of hallmarkd's pure modules (suite
 * "daemon_units"): request validation, UTF-8, feed topics, the config file.
 */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hm_error.h"
#include "hmd_config.h"
#include "hmd_control.h"
#include "hmd_proto.h"
#include "test_util.h"

START_TEST(utf8)
{
    ck_assert(hmd_utf8_valid("", 0));
    ck_assert(hmd_utf8_valid("plain", 5));
    ck_assert(hmd_utf8_valid("caf\xc3\xa9", 5));
    ck_assert(hmd_utf8_valid("\xe2\x82\xac", 3));          /* euro */
    ck_assert(hmd_utf8_valid("\xf0\x9f\x98\x80", 4));      /* emoji */
    ck_assert(!hmd_utf8_valid("\xc3", 1));                 /* truncated */
    ck_assert(!hmd_utf8_valid("\xc0\xaf", 2));             /* overlong */
    ck_assert(!hmd_utf8_valid("\xe0\x80\xaf", 3));         /* overlong */
    ck_assert(!hmd_utf8_valid("\xed\xa0\x80", 3));         /* surrogate */
    ck_assert(!hmd_utf8_valid("\xf4\x90\x80\x80", 4));     /* > U+10FFFF */
    ck_assert(!hmd_utf8_valid("\xff", 1));
    ck_assert(!hmd_utf8_valid("a\x80", 2));
}
END_TEST

START_TEST(topics)
{
    char buf[64];
    ck_assert_int_gt(hmd_proto_topic("Acme", "counterfeit", buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "brand/Acme/counterfeit");
    ck_assert_int_gt(hmd_proto_topic("A/B 100%", "suspect", buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "brand/A%2FB 100%25/suspect");
    ck_assert_int_eq(hmd_proto_topic("a-very-long-brand-name-that-does-not-fit", "genuine", buf, 32), -1);
}
END_TEST

static int s_parse(const char *h, hmd_request_t *r)
{
    char msg[256];
    return hmd_proto_parse_request(h, strlen(h), 4096, r, msg, sizeof msg);
}

START_TEST(requests)
{
    hmd_request_t r;
    ck_assert_int_eq(s_parse("{\"v\":1,\"request_id\":\"r\",\"listing_id\":\"l\",\"image_id\":\"i\","
                             "\"seller_id\":\"s\",\"brand\":\"b\",\"options\":{\"top_k\":5},"
                             "\"future\":true}", &r), 0);
    ck_assert_str_eq(r.request_id, "r");
    ck_assert_str_eq(r.brand, "b");
    ck_assert_int_eq(r.top_k, 5);
    ck_assert_int_eq(s_parse("{\"v\":2,\"request_id\":\"r\"}", &r), HM_E_VERSION);
    ck_assert(r.has_request_id);
    ck_assert_int_eq(s_parse("{\"request_id\":\"r\"}", &r), HM_E_INVAL);
    ck_assert_int_eq(s_parse("{\"v\":1}", &r), HM_E_INVAL);
    ck_assert(!r.has_request_id);
    ck_assert_int_eq(s_parse("{\"v\":1,\"request_id\":\"\"}", &r), HM_E_INVAL);
    ck_assert_int_eq(s_parse("{\"v\":1,\"request_id\":\"r\",\"request_id\":\"q\"}", &r), HM_E_PROTO);
    ck_assert_int_eq(s_parse("\"text\"", &r), HM_E_PROTO);
    ck_assert_int_eq(s_parse("{\"v\":1,\"request_id\":\"a\\u0000b\"}", &r), HM_E_PROTO);
    ck_assert_int_eq(s_parse("{\"v\":1,\"request_id\":\"r\",\"listing_id\":\"l\",\"image_id\":\"i\","
                             "\"seller_id\":\"s\",\"brand\":\"b\",\"options\":{\"top_k\":33}}", &r),
                     HM_E_INVAL);
    char msg[64];
    ck_assert_int_eq(hmd_proto_parse_request("{}", 2, 1, &r, msg, sizeof msg), HM_E_TOO_LARGE);
}
END_TEST

static int s_conf(const char *text, hmd_config_t *c)
{
    char *dir = tu_tmpdir(), path[4200];
    snprintf(path, sizeof path, "%s/c.conf", dir);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    hmd_config_defaults(c);
    int rc = hmd_config_parse_file(c, path);
    tu_rmtree(dir);
    free(dir);
    return rc;
}

START_TEST(config_file)
{
    hmd_config_t *c = malloc(sizeof *c);
    ck_assert_int_eq(s_conf("# comment\n\n  workers=3  \nqueue = 17 # trailing\n"
                            "ingest = \"ipc:///tmp/x#1\"\nlog_level = debug\n"
                            "record-strikes = off\n", c), 0);
    ck_assert_int_eq(c->workers, 3);
    ck_assert_int_eq(c->queue, 17);
    ck_assert_str_eq(c->ingest, "ipc:///tmp/x#1");
    ck_assert_str_eq(c->log_level, "debug");
    ck_assert_int_eq(c->record_strikes, 0);
    ck_assert_str_eq(c->feed, "tcp://127.0.0.1:5558"); /* default kept */
    ck_assert_int_eq(s_conf("queue = 0\n", c), HM_E_CONFIG);
    ck_assert_ptr_nonnull(strstr(hm_last_error(), ":1: queue: 0 is out of bounds"));
    ck_assert_int_eq(s_conf("\n\nnope = 1\n", c), HM_E_CONFIG);
    ck_assert_ptr_nonnull(strstr(hm_last_error(), ":3: unknown key 'nope'"));
    ck_assert_int_eq(s_conf("workers\n", c), HM_E_CONFIG);
    ck_assert_int_eq(s_conf("workers = 2x\n", c), HM_E_CONFIG);
    ck_assert_int_eq(s_conf("log-level = loud\n", c), HM_E_CONFIG);
    ck_assert_int_eq(s_conf("ingest = \"unterminated\n", c), HM_E_CONFIG);
    ck_assert_int_eq(s_conf("config = other.conf\n", c), HM_E_CONFIG);
    /* fuzz_config finding (tests/fuzz/regress/fuzz_config/): a '"' inside an
     * unquoted value parsed, but --dump-config could not write it back. */
    ck_assert_int_eq(s_conf("db = v\"a/r/lib/x# \n", c), HM_E_CONFIG);
    ck_assert_ptr_nonnull(strstr(hm_last_error(), "double quote"));
    /* local-feature stop words: 0..64 */
    ck_assert_int_eq(s_conf("lf-stop-factor = 65\n", c), HM_E_CONFIG);
    ck_assert_int_eq(s_conf("lf-stop-factor = -1\n", c), HM_E_CONFIG);
    ck_assert_int_eq(s_conf("lf-stop-factor = 4.5\n", c), HM_E_CONFIG);
    ck_assert_int_eq(s_conf("lf-stop-factor = 0\n", c), 0);
    ck_assert_int_eq(c->lf_stop_factor, 0);
    ck_assert_int_eq(s_conf("lf-stop-factor = 4\n", c), 0);
    ck_assert_int_eq(c->lf_stop_factor, 4);
    ck_assert_int_eq(hmd_config_parse_buf(c, "workers = 5\nqueue=9", 19, "buf"), 0);
    ck_assert_int_eq(c->workers, 5);
    ck_assert_int_eq(c->queue, 9);
    free(c);
}
END_TEST

/* fuzz_control finding (tests/fuzz/regress/fuzz_control/): jansson quotes
 * the offending input bytes in its error text; invalid UTF-8 there made the
 * error reply impossible to build, so the client got no error code. */
START_TEST(invalid_utf8_in_errors)
{
    const char cmd[] = "\"\\\xdd\x8d\x9aquerelabe%lq\"}";
    int ok = -1;
    char *reply = hmd_control_check(cmd, strlen(cmd), NULL, 0, 0, &ok);
    ck_assert_ptr_nonnull(reply);
    ck_assert_int_eq(ok, 0);
    json_t *j = json_loads(reply, 0, NULL);
    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "error"), "code")),
                     "protocol_error");
    json_decref(j);
    free(reply);
    /* The same bytes as an ingest header: the message is scrubbed too. */
    hmd_request_t r;
    char msg[256];
    ck_assert_int_eq(hmd_proto_parse_request(cmd, strlen(cmd), 4096, &r, msg, sizeof msg),
                     HM_E_PROTO);
    ck_assert(hmd_utf8_valid(msg, strlen(msg)));
    char bad[] = "a\xc3(b\xe2\x82\xac\xf0";
    hmd_utf8_scrub(bad);
    ck_assert_str_eq(bad, "a?(b\xe2\x82\xac?");
    /* A valid command is accepted without an engine, an invalid one is not. */
    const char add[] = "{\"cmd\":\"add\",\"ref\":\"r\",\"bank\":\"counterfeit\",\"brand\":\"A\"}";
    free(hmd_control_check(add, strlen(add), "x", 1, 1, &ok));
    ck_assert_int_eq(ok, 1);
    free(hmd_control_check(add, strlen(add), NULL, 0, 0, &ok));
    ck_assert_int_eq(ok, 0);
}
END_TEST

Suite *hm_suite_daemon_units(void)
{
    Suite *s = suite_create("daemon_units");
    TCase *tc = tcase_create("units");
    tcase_add_test(tc, utf8);
    tcase_add_test(tc, topics);
    tcase_add_test(tc, requests);
    tcase_add_test(tc, config_file);
    tcase_add_test(tc, invalid_utf8_in_errors);
    suite_add_tcase(s, tc);
    return s;
}
