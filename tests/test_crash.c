/*
 * test_crash.c - crash consistency (suite "crash"): SIGKILL at random
 * moments, then the database must open, `hallmark verify` must pass, every
 * acknowledged operation must be there, and nothing may be half-applied.
 *
 *  - backfill: `hallmark backfill` of HM_CRASH_IMAGES (2000) distinct PNGs,
 *    killed HM_CRASH_ITERS (20) times at a random moment and resumed each
 *    time; acknowledged = an "added"/"exists" line was written to stdout.
 *  - control burst: a live hallmarkd receiving pipelined add / feedback
 *    (confirm) / authorize commands, killed HM_CRASH_ITERS times and
 *    restarted on the same database; acknowledged = a reply with ok:true.
 *
 * "Nothing half-applied" is what hm_engine_verify checks: every stored
 * reference is in every index and the index counts equal the store's, so a
 * reference that reached the store without its index entries (or the
 * reverse) fails.  The random moments come from a seed printed on failure
 * (HM_CRASH_SEED reproduces a run).
 */
#include <check.h>
#include <fcntl.h>
#include <glib.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "daemon_util.h"
#include "hm_engine.h"
#include "hm_error.h"
#include "hm_log.h"
#include "hm_store.h"
#include "test_util.h"

static uint64_t s_seed;

static int s_env_int(const char *name, int def)
{
    const char *v = getenv(name);
    return v && atoi(v) > 0 ? atoi(v) : def;
}

static long s_ms(void) { return (long)hm_mono_ms(); }

/* Image i: a 48x48 PNG of 6x6 random colour blocks, distinct per i. */
static void *s_image(int i, size_t *len)
{
    uint64_t seed = 0x9E3779B97F4A7C15ull * (uint64_t)(i + 1);
    uint8_t rgb[48 * 48 * 3], c[6][6][3];
    for (int y = 0; y < 6; y++)
        for (int x = 0; x < 6; x++)
            for (int k = 0; k < 3; k++)
                c[y][x][k] = (uint8_t)tu_rand(&seed);
    for (int y = 0; y < 48; y++)
        for (int x = 0; x < 48; x++)
            memcpy(&rgb[(y * 48 + x) * 3], c[y / 8][x / 8], 3);
    void *png = NULL;
    ck_assert_int_eq(tu_encode(rgb, 48, 48, ".png", &png, len), 0);
    return png;
}

static const char *s_cli(void)
{
    static char path[PATH_MAX];
    snprintf(path, sizeof path, "%s", du_bin());
    char *slash = strrchr(path, '/');
    snprintf(slash + 1, sizeof path - (size_t)(slash + 1 - path), "hallmark");
    return path;
}

/* `hallmark verify --db db` exits 0 (stdout/stderr to /dev/null). */
static int s_cli_verify(const char *db)
{
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        int fn = open("/dev/null", O_WRONLY);
        dup2(fn, 1);
        dup2(fn, 2);
        execl(s_cli(), s_cli(), "verify", "--db", db, (char *)NULL);
        _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Open db (read-only), run hm_engine_verify; the engine stays open for checks. */
static hm_engine_t *s_open_verified(const char *db, int iter)
{
    hm_engine_t *e = NULL;
    hm_engine_opts_t eo = { .readonly = 1 };
    ck_assert_msg(hm_engine_open(&e, db, &eo) == 0, "seed %llu iteration %d: database does not "
                  "open: %s", (unsigned long long)s_seed, iter, hm_last_error());
    char *rep = NULL;
    ck_assert_int_eq(hm_engine_verify(e, &rep), 0);
    json_t *j = json_loads(rep, 0, NULL);
    ck_assert_msg(j && json_is_true(json_object_get(j, "ok")),
                  "seed %llu iteration %d: verify: %s", (unsigned long long)s_seed, iter, rep);
    json_decref(j);
    free(rep);
    return e;
}

static int s_has_ref(hm_engine_t *e, const char *ext_id)
{
    hm_ref_t ref;
    memset(&ref, 0, sizeof ref);
    int rc = hm_store_get_by_ext(hm_engine_store(e), ext_id, &ref);
    if (rc == 0)
        hm_ref_clear(&ref);
    return rc == 0;
}

/* ---- backfill ---- */

START_TEST(kill_backfill)
{
    const int n_img = s_env_int("HM_CRASH_IMAGES", 2000), iters = s_env_int("HM_CRASH_ITERS", 20);
    char *tmp = tu_tmpdir(), dir[PATH_MAX], db[PATH_MAX], out[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/img", tmp);
    snprintf(db, sizeof db, "%s/db", tmp);
    snprintf(out, sizeof out, "%s/out", tmp);
    mkdir(dir, 0700);
    for (int i = 0; i < n_img; i++) {
        size_t len;
        void *png = s_image(i, &len);
        char p[PATH_MAX * 2];
        snprintf(p, sizeof p, "%s/img-%05d.png", dir, i);
        FILE *f = fopen(p, "wb");
        ck_assert(f && fwrite(png, 1, len, f) == len && fclose(f) == 0);
        g_free(png);
    }
    GHashTable *acked = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    int killed = 0, completed = 0;
    for (int it = 0; it < iters; it++) {
        pid_t pid = fork();
        ck_assert(pid >= 0);
        if (pid == 0) {
            int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600), fn = open("/dev/null", O_WRONLY);
            dup2(fo, 1);
            dup2(fn, 2);
            execl(s_cli(), s_cli(), "backfill", "--db", db, "--bank", "counterfeit", "--brand",
                  "Gen", "--jobs", "2", "--batch", "32", dir, (char *)NULL);
            _exit(127);
        }
        /* A random moment in the first ~0.6 s: start-up, mid-batch, mid-commit. */
        usleep((useconds_t)(tu_rand(&s_seed) % 600000));
        kill(pid, SIGKILL);
        int st;
        waitpid(pid, &st, 0);
        if (WIFSIGNALED(st))
            killed++;
        else
            completed++;
        /* Acknowledged: every complete "added"/"exists" line. */
        uint8_t *text = NULL;
        size_t len = 0;
        tu_read_file(out, &text, &len);
        char *s = (char *)text, *nl;
        size_t n_acked = 0;
        while (s < (char *)text + len && (nl = memchr(s, '\n', (size_t)((char *)text + len - s)))) {
            json_t *o = json_loadb(s, (size_t)(nl - s), 0, NULL);
            const char *status = json_string_value(json_object_get(o, "status"));
            const char *id = json_string_value(json_object_get(o, "id"));
            if (status && id && (!strcmp(status, "added") || !strcmp(status, "exists"))) {
                g_hash_table_add(acked, g_strdup(id));
                n_acked++;
            }
            json_decref(o);
            s = nl + 1;
        }
        free(text);
        if (access(db, F_OK) != 0)
            continue; /* killed before the database was created */
        ck_assert_msg(s_cli_verify(db) == 0, "seed %llu iteration %d: hallmark verify failed",
                      (unsigned long long)s_seed, it);
        hm_engine_t *e = s_open_verified(db, it);
        GHashTableIter hi;
        gpointer key;
        g_hash_table_iter_init(&hi, acked);
        while (g_hash_table_iter_next(&hi, &key, NULL))
            ck_assert_msg(s_has_ref(e, key), "seed %llu iteration %d: acknowledged %s is missing",
                          (unsigned long long)s_seed, it, (const char *)key);
        hm_engine_close(&e);
    }
    /* A last, uninterrupted run completes the bank. */
    pid_t pid = fork();
    if (pid == 0) {
        int fn = open("/dev/null", O_WRONLY);
        dup2(fn, 1);
        dup2(fn, 2);
        execl(s_cli(), s_cli(), "backfill", "--db", db, "--bank", "counterfeit", "--brand", "Gen",
              "--jobs", "2", "--batch", "32", dir, (char *)NULL);
        _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "final backfill failed");
    hm_engine_t *e = s_open_verified(db, iters);
    hm_store_stats_t ss;
    ck_assert_int_eq(hm_store_stats(hm_engine_store(e), &ss), 0);
    hm_engine_close(&e);
    fprintf(stderr, "crash: backfill images=%d iterations=%d killed=%d completed=%d acked=%u "
            "final_refs=%llu seed=%llu\n", n_img, iters, killed, completed,
            g_hash_table_size(acked), (unsigned long long)ss.refs, (unsigned long long)s_seed);
    ck_assert_int_eq(ss.refs, (uint64_t)n_img);
    g_hash_table_destroy(acked);
    tu_rmtree(tmp);
    free(tmp);
}
END_TEST

/* ---- control burst ---- */

enum { K_ADD, K_FEEDBACK, K_AUTH };
typedef struct burst_op {
    int kind;
    char key[64];   /* ref id, or "brand\tseller" */
    int acked;
} burst_op_t;

START_TEST(kill_control_burst)
{
    enum { OPS = 24 };
    const int iters = s_env_int("HM_CRASH_ITERS", 20);
    du_daemon_t d;
    du_init(&d);
    burst_op_t *ops = calloc((size_t)iters * OPS, sizeof *ops);
    int n_ops = 0, n_acked = 0, img = 100000;
    long total_ack_ms = 0;
    for (int it = 0; it < iters; it++) {
        du_start(&d, (const char *const[]){ "--workers", "1", NULL });
        void *c = du_socket(&d, ZMQ_DEALER, d.ep[DU_CONTROL]);
        burst_op_t *first = &ops[n_ops];
        for (int k = 0; k < OPS; k++) {
            burst_op_t *op = &ops[n_ops++];
            op->kind = k % 3;
            char cmd[512], rid[32];
            snprintf(rid, sizeof rid, "%d", (int)(op - ops));
            size_t len = 0;
            void *png = NULL;
            if (op->kind == K_ADD) {
                snprintf(op->key, sizeof op->key, "add-%d-%d", it, k);
                snprintf(cmd, sizeof cmd, "{\"cmd\":\"add\",\"request_id\":\"%s\",\"ref\":\"%s\","
                         "\"bank\":\"counterfeit\",\"brand\":\"Acme\"}", rid, op->key);
                png = s_image(img++, &len);
            } else if (op->kind == K_FEEDBACK) {
                snprintf(op->key, sizeof op->key, "fb-%d-%d", it, k);
                snprintf(cmd, sizeof cmd, "{\"cmd\":\"feedback\",\"request_id\":\"%s\",\"action\":"
                         "\"confirm\",\"ref\":\"%s\",\"brand\":\"Acme\"}", rid, op->key);
                png = s_image(img++, &len);
            } else {
                snprintf(op->key, sizeof op->key, "Brand%d\tseller-%d", it, k);
                snprintf(cmd, sizeof cmd, "{\"cmd\":\"authorize\",\"request_id\":\"%s\",\"brand\":"
                         "\"Brand%d\",\"seller\":\"seller-%d\"}", rid, it, k);
            }
            const void *fr[2] = { cmd, png };
            size_t lens[2] = { strlen(cmd), len };
            du_send_frames(c, fr, lens, png ? 2 : 1);
            g_free(png);
        }
        /* Collect replies until a random moment, then SIGKILL. */
        long t0 = s_ms(), kill_at = t0 + (long)(tu_rand(&s_seed) % 400);
        while (s_ms() < kill_at) {
            json_t *r = du_recv_json(c, (int)(kill_at - s_ms()) + 1, NULL, 0);
            if (!r)
                continue;
            const char *rid = json_string_value(json_object_get(r, "request_id"));
            if (rid && json_is_true(json_object_get(r, "ok"))) {
                ops[atoi(rid)].acked = 1;
                n_acked++;
                total_ack_ms = s_ms() - t0;
            }
            json_decref(r);
        }
        ck_assert_int_eq(du_stop(&d, SIGKILL, 5000), 128 + SIGKILL);
        zmq_close(c);
        hm_engine_t *e = s_open_verified(d.db, it);
        for (burst_op_t *op = first; op < &ops[n_ops]; op++) {
            if (!op->acked)
                continue;
            if (op->kind == K_AUTH) {
                char brand[64];
                snprintf(brand, sizeof brand, "%s", op->key);
                char *tab = strchr(brand, '\t');
                *tab = '\0';
                ck_assert_msg(hm_store_is_authorized(hm_engine_store(e), brand, tab + 1) == 1,
                              "seed %llu iteration %d: acknowledged authorize %s/%s is missing",
                              (unsigned long long)s_seed, it, brand, tab + 1);
            } else {
                ck_assert_msg(s_has_ref(e, op->key), "seed %llu iteration %d: acknowledged %s is "
                              "missing", (unsigned long long)s_seed, it, op->key);
            }
        }
        hm_engine_close(&e);
    }
    /* The daemon starts on what is left and serves it. */
    du_start(&d, NULL);
    json_t *r = du_control(&d, "{\"cmd\":\"stats\"}", NULL, 0);
    ck_assert(json_is_true(json_object_get(r, "ok")));
    json_decref(r);
    ck_assert_int_eq(du_stop(&d, SIGTERM, 10000), 0);
    fprintf(stderr, "crash: control iterations=%d commands=%d acked=%d seed=%llu\n", iters, n_ops,
            n_acked, (unsigned long long)s_seed);
    (void)total_ack_ms;
    free(ops);
    du_cleanup(&d);
}
END_TEST

Suite *hm_suite_crash(void)
{
    const char *seed = getenv("HM_CRASH_SEED");
    hm_log_set_level(HM_LOG_WARN); /* the engine opens below are not news */
    s_seed = seed ? strtoull(seed, NULL, 10) : (uint64_t)time(NULL) * 2654435761u + 1;
    Suite *s = suite_create("crash");
    TCase *tc = tcase_create("kill9");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, kill_backfill);
    tcase_add_test(tc, kill_control_burst);
    suite_add_tcase(s, tc);
    return s;
}
