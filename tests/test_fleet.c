/*
 * test_fleet.c - the parts of the fleet mode that need no NATS server
 * (suite "fleet"): brands as subject tokens, hostile ones included, the
 * fleet keys' checks, and libnats failures as hm_ codes.  The cluster
 * itself is tested by `make test-cluster` (tests/cluster/run.sh).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "hm_error.h"
#include "hmd_config.h"
#include "hmd_nats.h"
#include "hmd_nats_fleet.h"

/* A token may never contain what changes a subject's shape. */
static int s_token_ok(const char *t)
{
    return t[0] && !strpbrk(t, ".*> \t\r\n");
}

START_TEST(subject_tokens)
{
    char buf[64];
    ck_assert_int_eq(hmd_fleet_subject_token("Acme", buf, sizeof buf), 4);
    ck_assert_str_eq(buf, "Acme");
    ck_assert_int_gt(hmd_fleet_subject_token("", buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "_none");
    ck_assert_int_gt(hmd_fleet_subject_token(NULL, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "_none");
    ck_assert_int_gt(hmd_fleet_subject_token("a.b", buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "a~2eb");
    /* Hostile: wildcards, spaces, control bytes, UTF-8 and the escape itself. */
    const char *hostile[] = { "*", ">", "a b", "x.>", "\x01\x7f", "caf\xc3\xa9", "~2e", "..", "a\tb" };
    for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
        ck_assert_int_gt(hmd_fleet_subject_token(hostile[i], buf, sizeof buf), 0);
        ck_assert_msg(s_token_ok(buf), "token %s for hostile brand %zu", buf, i);
    }
    /* Distinct brands stay distinct: '~' is escaped too. */
    char other[64];
    hmd_fleet_subject_token("~2e", other, sizeof other);
    hmd_fleet_subject_token(".", buf, sizeof buf);
    ck_assert_str_ne(buf, other);
    /* Too long for the buffer: -1, never a cut token. */
    char big[300];
    memset(big, '.', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    ck_assert_int_eq(hmd_fleet_subject_token(big, buf, sizeof buf), -1);
    ck_assert_int_eq(hmd_fleet_subject_token("abcd", buf, 4), -1);
    ck_assert_int_eq(hmd_fleet_subject_token("abc", buf, 4), 3);
}
END_TEST

START_TEST(prepare)
{
    hmd_config_t *c = malloc(sizeof *c);
    hmd_config_defaults(c);
    /* Fleet off: nothing is checked or changed. */
    ck_assert_str_eq(c->nats_url, "");
    strcpy(c->fleet_role, "nonsense");
    ck_assert_int_eq(hmd_fleet_prepare(c), 0);
    ck_assert_int_eq(c->record_strikes, 1);
    /* On: the role must be known, and the ZeroMQ replication must be off. */
    strcpy(c->nats_url, "nats://127.0.0.1:1");
    ck_assert_int_eq(hmd_fleet_prepare(c), HM_E_CONFIG);
    strcpy(c->fleet_role, "writer");
    strcpy(c->replica_of, "tcp://127.0.0.1:5560");
    ck_assert_int_eq(hmd_fleet_prepare(c), HM_E_CONFIG);
    c->replica_of[0] = '\0';
    ck_assert_int_eq(hmd_fleet_prepare(c), 0);
    ck_assert_int_eq(c->record_strikes, 1);
    /* A scorer's front door never writes strikes into the followed store. */
    strcpy(c->fleet_role, "scorer");
    ck_assert_int_eq(hmd_fleet_prepare(c), 0);
    ck_assert_int_eq(c->record_strikes, 0);
    free(c);
}
END_TEST

START_TEST(connect_errors)
{
    hmd_config_t *c = malloc(sizeof *c);
    hmd_nats_t n;
    hmd_config_defaults(c);
    c->fleet_wait = 1;
    ck_assert_int_eq(hmd_nats_connect(&n, c, "t"), HM_E_INVAL); /* no nats-url */
    strcpy(c->nats_url, " , ");
    ck_assert_int_eq(hmd_nats_connect(&n, c, "t"), HM_E_CONFIG);
    strcpy(c->nats_url, "nats://127.0.0.1:1");
    strcpy(c->nats_user, "u");
    strcpy(c->nats_password_file, "/nonexistent/pw");
    ck_assert_int_eq(hmd_nats_connect(&n, c, "t"), HM_E_CONFIG);
    c->nats_user[0] = '\0';
    strcpy(c->nats_tls_ca, "/nonexistent/ca.pem");
    ck_assert_int_eq(hmd_nats_connect(&n, c, "t"), HM_E_CONFIG);
    c->nats_tls_ca[0] = '\0';
    /* Nothing listens on port 1: a timeout after fleet-wait, not a hang. */
    ck_assert_int_eq(hmd_nats_connect(&n, c, "t"), HM_E_TIMEOUT);
    ck_assert_ptr_null(n.nc);
    free(c);
}
END_TEST

Suite *hm_suite_fleet(void)
{
    Suite *s = suite_create("fleet");
    TCase *tc = tcase_create("units");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, subject_tokens);
    tcase_add_test(tc, prepare);
    tcase_add_test(tc, connect_errors);
    suite_add_tcase(s, tc);
    return s;
}
