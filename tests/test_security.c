/*
 * test_security.c - privilege drop (suite "security"): hallmarkd started as
 * root with --user NAME binds its sockets, then runs as NAME: every uid and
 * gid in /proc/PID/status is NAME's, and it still serves.  Skipped (passes,
 * with a note) when the tests do not run as root or NAME does not exist.
 * The CURVE key-file checks live in test_daemon.c (curve_control) and
 * test_cli.c (test_keygen).
 */
#include <check.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon_util.h"
#include "test_util.h"

/* The four ids of the "Uid:" or "Gid:" line of /proc/pid/status. */
static int s_ids(pid_t pid, const char *key, unsigned ids[4])
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    int n = 0;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, key, strlen(key)) == 0) {
            n = sscanf(line + strlen(key), "%u %u %u %u", &ids[0], &ids[1], &ids[2], &ids[3]);
            break;
        }
    if (f)
        fclose(f);
    return n;
}

START_TEST(user_drop)
{
    struct passwd *pw = getpwnam("nobody");
    if (geteuid() != 0 || !pw) {
        fprintf(stderr, "security: user_drop skipped (needs root and user nobody)\n");
        return;
    }
    uid_t uid = pw->pw_uid;
    gid_t gid = pw->pw_gid;
    du_daemon_t d;
    du_init(&d);
    /* The database is opened after the drop: it must belong to the user. */
    ck_assert_int_eq(chown(d.tmp, uid, gid), 0);
    ck_assert_int_eq(chown(d.db, uid, gid), 0);
    du_start(&d, (const char *const[]){ "--user", "nobody", NULL });
    unsigned u[4] = { 0 }, g[4] = { 0 };
    ck_assert_int_eq(s_ids(d.pid, "Uid:", u), 4);
    ck_assert_int_eq(s_ids(d.pid, "Gid:", g), 4);
    for (int i = 0; i < 4; i++) {
        ck_assert_uint_eq(u[i], uid);
        ck_assert_uint_eq(g[i], gid);
    }
    fprintf(stderr, "security: user_drop pid=%d Uid=%u/%u/%u/%u Gid=%u/%u/%u/%u\n", (int)d.pid,
            u[0], u[1], u[2], u[3], g[0], g[1], g[2], g[3]);
    json_t *v = du_score(&d, "u1", "l", "s", "Acme", PIC(1));
    ck_assert_str_eq(du_decision(v), "unknown");
    json_decref(v);
    json_t *r = du_control(&d, "{\"cmd\":\"add\",\"ref\":\"c1\",\"bank\":\"counterfeit\",\"brand\":\"A\"}",
                           PIC(2));
    ck_assert(json_is_true(json_object_get(r, "ok")));
    json_decref(r);
    ck_assert_int_eq(du_stop(&d, SIGTERM, 10000), 0);
    du_cleanup(&d);
}
END_TEST

Suite *hm_suite_security(void)
{
    Suite *s = suite_create("security");
    TCase *tc = tcase_create("security");
    tcase_add_test(tc, user_drop);
    suite_add_tcase(s, tc);
    return s;
}
