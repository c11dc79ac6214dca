/*
 * test_cli.c - the hallmark binary end to end (suite "cli"): every
 * subcommand on temporary databases with the demo images in demo/, broken
 * and unreadable inputs among good ones, a SIGKILLed backfill re-run, export
 * then import, the progress bar on a pseudo-terminal versus plain lines,
 * --stdin-jsonl with a malformed line, send with nothing listening, usage
 * errors.  The binary is $HM_BIN_DIR/hallmark, else next to this test
 * binary (/proc/self/exe).  Run from the repository root.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <glib.h>
#include <pty.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hm_engine.h"
#include "hm_error.h"
#include "test_util.h"

static char s_bin[PATH_MAX];
static char *s_tmp;

static void s_find_bin(void)
{
    const char *d = getenv("HM_BIN_DIR");
    if (d) {
        snprintf(s_bin, sizeof s_bin, "%s/hallmark", d);
        return;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    ck_assert(n > 0);
    exe[n] = 0;
    snprintf(s_bin, sizeof s_bin, "%s/hallmark", dirname(exe));
}

static void s_setup(void)
{
    s_find_bin();
    ck_assert_msg(access(s_bin, X_OK) == 0, "%s: %s (make builds it)", s_bin, strerror(errno));
    s_tmp = tu_tmpdir();
}

static void s_teardown(void)
{
    tu_rmtree(s_tmp);
    free(s_tmp);
}

static char *s_slurp(const char *path)
{
    uint8_t *d = NULL;
    size_t n = 0;
    if (tu_try_read_file(path, &d, &n) != 0)
        return strdup("");
    char *s = realloc(d, n + 1);
    s[n] = 0;
    return s;
}

static void s_write(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
    ck_assert_int_eq(fwrite(data, 1, len, f), len);
    fclose(f);
}

/* Run hallmark with argv (NULL-terminated, without the program name); stdin
 * from in (NULL: /dev/null).  *out and *err (may be NULL) get the output. */
static int s_runv(const char *in, char **out, char **err, const char *const *args)
{
    char pin[PATH_MAX], pout[PATH_MAX], perr[PATH_MAX];
    snprintf(pin, sizeof pin, "%s/.stdin", s_tmp);
    snprintf(pout, sizeof pout, "%s/.stdout", s_tmp);
    snprintf(perr, sizeof perr, "%s/.stderr", s_tmp);
    if (in)
        s_write(pin, in, strlen(in));
    const char *argv[64];
    int n = 0;
    argv[n++] = s_bin;
    for (; args[n - 1] && n < 63; n++)
        argv[n] = args[n - 1];
    argv[n] = NULL;
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        int fi = open(in ? pin : "/dev/null", O_RDONLY);
        int fo = open(pout, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int fe = open(perr, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fi, 0);
        dup2(fo, 1);
        dup2(fe, 2);
        execv(s_bin, (char *const *)argv);
        _exit(127);
    }
    int st;
    ck_assert(waitpid(pid, &st, 0) == pid);
    if (out)
        *out = s_slurp(pout);
    if (err)
        *err = s_slurp(perr);
    ck_assert_msg(WIFEXITED(st), "hallmark %s died (signal %d)", args[0], WTERMSIG(st));
    return WEXITSTATUS(st);
}
#define RUN(in, out, err, ...) s_runv((in), (out), (err), (const char *const[]){ __VA_ARGS__, NULL })

/* The JSON lines of text; *n is how many. */
static json_t **s_lines(const char *text, size_t *n)
{
    json_t **v = NULL;
    *n = 0;
    const char *p = text;
    while (*p) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len) {
            json_error_t je;
            json_t *o = json_loadb(p, len, 0, &je);
            ck_assert_msg(o != NULL, "not JSON: %.*s (%s)", (int)len, p, je.text);
            v = realloc(v, (*n + 1) * sizeof *v);
            v[(*n)++] = o;
        }
        p += len + (e ? 1 : 0);
    }
    return v;
}

static void s_lines_free(json_t **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        json_decref(v[i]);
    free(v);
}

static const char *s_str(json_t *o, const char *path1, const char *path2)
{
    json_t *j = json_object_get(o, path1);
    if (path2)
        j = json_object_get(j, path2);
    return json_string_value(j);
}

static char *s_path(const char *name)
{
    static char buf[4][PATH_MAX];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", s_tmp, name);
    return buf[k];
}

/* The demo bank in a database: refs with ids from demo/bank.tsv, sellers. */
static void s_demo_db(const char *db)
{
    FILE *f = fopen("demo/bank.tsv", "r");
    ck_assert_msg(f != NULL, "demo/bank.tsv (run from the repository root)");
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#')
            continue;
        line[strcspn(line, "\n")] = 0;
        char *save, *file = strtok_r(line, "\t", &save), *id = strtok_r(NULL, "\t", &save);
        char *bank = strtok_r(NULL, "\t", &save), *brand = strtok_r(NULL, "\t", &save);
        char *holder = strtok_r(NULL, "\t", &save), path[PATH_MAX];
        snprintf(path, sizeof path, "demo/%s", file);
        ck_assert_int_eq(RUN(NULL, NULL, NULL, "add", "--db", db, "--bank", bank, "--brand", brand,
                             "--holder", holder, "--id", id, path), 0);
    }
    fclose(f);
    ck_assert_int_eq(RUN(NULL, NULL, NULL, "authorize", "--db", db, "--brand", "Tropicana", "--seller",
                         "s-tropicana-official"), 0);
    ck_assert_int_eq(RUN(NULL, NULL, NULL, "authorize", "--db", db, "--brand", "Arla", "--seller",
                         "s-arla-shop"), 0);
}

START_TEST(test_usage)
{
    char *out;
    ck_assert_int_eq(RUN(NULL, NULL, NULL, "nonsense"), 2);
    ck_assert_int_eq(RUN(NULL, NULL, NULL, "hash"), 2);
    ck_assert_int_eq(RUN(NULL, NULL, NULL, "hash", "--jobs", "0", "demo/queries"), 2);
    ck_assert_int_eq(RUN(NULL, NULL, NULL, "add", "--bank", "genuine", "--brand", "X", "demo/refs"), 2);
    ck_assert_int_eq(RUN(NULL, NULL, NULL, "add", "--db", s_path("db"), "--bank", "fake", "--brand", "X",
                         "demo/refs"), 2);
    ck_assert_int_eq(RUN(NULL, NULL, NULL, "add", "--db", s_path("db"), "--bank", "genuine", "--brand",
                         "X", "--id", "one", "demo/refs"), 2);
    ck_assert_int_eq(RUN(NULL, NULL, NULL, "score", "--db", s_path("db"), "--top", "99", "x"), 2);
    ck_assert_int_eq(RUN(NULL, NULL, NULL, "score", "--db", s_path("db"), "--stdin-jsonl", "x"), 2);
    ck_assert_int_eq(RUN(NULL, NULL, NULL, "export", "--db", s_path("db"), "--format", "xml"), 2);
    ck_assert_int_eq(RUN(NULL, NULL, NULL, "send", "demo/queries"), 2);
    ck_assert_int_eq(RUN(NULL, NULL, NULL, "authorize", "--db", s_path("db"), "--brand", "X"), 2);
    ck_assert_int_eq(RUN(NULL, NULL, NULL, "stats", "--bogus"), 2);
    static const char *const bad_kp[] = { "0", "31", "1025", "-5", "12x", "", "99999999999999999999" };
    for (size_t i = 0; i < sizeof bad_kp / sizeof bad_kp[0]; i++)
        ck_assert_int_eq(RUN(NULL, NULL, NULL, "backfill", "--db", s_path("db"), "--bank", "genuine",
                             "--brand", "X", "--lf-keypoints", bad_kp[i], "demo/refs"), 2);
    static const char *const bad_stop[] = { "65", "-1", "4.5", "x", "" };
    for (size_t i = 0; i < sizeof bad_stop / sizeof bad_stop[0]; i++)
        ck_assert_int_eq(RUN(NULL, NULL, NULL, "score", "--db", s_path("db"), "--lf-stop-factor",
                             bad_stop[i], "demo/queries"), 2);
    static const char *cmds[] = { "hash", "add", "backfill", "score", "send", "stats", "remove",
                                  "authorize", "verify", "keygen", "export", "import" };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        ck_assert_int_eq(RUN(NULL, &out, NULL, cmds[i], "--help"), 0);
        ck_assert_msg(strstr(out, "usage: hallmark") != NULL, "%s --help", cmds[i]);
        free(out);
    }
    ck_assert_int_eq(RUN(NULL, &out, NULL, "--help"), 0);
    free(out);
}
END_TEST

START_TEST(test_hash_errors_and_order)
{
    char *out;
    static const char broken[] = "\xff\xd8\xff\xe0 not really a jpeg";
    s_write(s_path("broken.jpg"), broken, sizeof broken - 1);
    s_write(s_path("secret.jpg"), "x", 1);
    chmod(s_path("secret.jpg"), 0);
    int root = geteuid() == 0; /* root reads mode-000 files: then only the other errors count */
    int rc = RUN(NULL, &out, NULL, "hash", "--jobs", "2", "demo/refs/Oatly-Oat-Milk_002.jpg",
                 s_path("broken.jpg"), s_path("missing.jpg"), s_path("secret.jpg"), "demo/queries");
    ck_assert_int_eq(rc, 1);
    size_t n;
    json_t **v = s_lines(out, &n);
    ck_assert_int_eq(n, 4 + 7);
    ck_assert_str_eq(s_str(v[0], "file", NULL), "demo/refs/Oatly-Oat-Milk_002.jpg");
    ck_assert_int_eq(strlen(s_str(v[0], "pdq", NULL)), 64);
    ck_assert_int_eq(json_array_size(json_object_get(v[0], "pdq_dihedral")), 8);
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(v[0], "pdq_dihedral"), 0)),
                     s_str(v[0], "pdq", NULL));
    ck_assert_int_eq(strlen(s_str(v[0], "phash", NULL)), 16);
    ck_assert_int_eq(strlen(s_str(v[0], "dhash", NULL)), 16);
    ck_assert(json_integer_value(json_object_get(v[0], "width")) > 0);
    ck_assert_ptr_nonnull(s_str(v[1], "error", "code"));
    ck_assert_str_eq(s_str(v[2], "error", "code"), "not_found");
    if (!root)
        ck_assert_str_eq(s_str(v[3], "error", "code"), "denied");
    for (int i = 0; i < 7; i++) { /* the directory, sorted, after the files */
        char want[64];
        snprintf(want, sizeof want, "demo/queries/listing-100%d.jpg", i + 1);
        ck_assert_str_eq(s_str(v[4 + i], "file", NULL), want);
        ck_assert_ptr_null(json_object_get(v[4 + i], "error"));
    }
    s_lines_free(v, n);
    free(out);
    /* The padded copy has a trim box. */
    ck_assert_int_eq(RUN(NULL, &out, NULL, "hash", "--json", "demo/queries/listing-1002.jpg"), 0);
    v = s_lines(out, &n);
    ck_assert_ptr_nonnull(json_object_get(v[0], "trim"));
    s_lines_free(v, n);
    free(out);
}
END_TEST

START_TEST(test_inputs_lists_symlinks)
{
    char *out;
    size_t n;
    mkdir(s_path("imgs"), 0700);
    mkdir(s_path("imgs/sub"), 0700);
    uint8_t *d;
    size_t len;
    tu_read_file("demo/refs/Oatly-Oat-Milk_002.jpg", &d, &len);
    s_write(s_path("imgs/sub/a.jpg"), d, len);
    free(d);
    ck_assert_int_eq(symlink("sub/a.jpg", s_path("imgs/link.jpg")), 0);
    ck_assert_int_eq(RUN(NULL, &out, NULL, "hash", s_path("imgs")), 0);
    json_t **v = s_lines(out, &n);
    ck_assert_int_eq(n, 1); /* the symlink inside the directory is skipped */
    s_lines_free(v, n);
    free(out);
    ck_assert_int_eq(RUN(NULL, &out, NULL, "hash", "--follow", s_path("imgs")), 0);
    v = s_lines(out, &n);
    ck_assert_int_eq(n, 2);
    s_lines_free(v, n);
    free(out);
    /* List entries are relative to the list's directory; '#' lines skipped. */
    const char *list = "# images\nsub/a.jpg\n\nnope.jpg\n";
    s_write(s_path("imgs/list.txt"), list, strlen(list));
    ck_assert_int_eq(RUN(NULL, &out, NULL, "hash", "--list", s_path("imgs/list.txt")), 1);
    v = s_lines(out, &n);
    ck_assert_int_eq(n, 2);
    ck_assert_ptr_null(json_object_get(v[0], "error"));
    ck_assert_str_eq(s_str(v[1], "error", "code"), "not_found");
    s_lines_free(v, n);
    free(out);
    /* '-' reads a list on stdin; --root confines its entries. */
    char in[PATH_MAX * 2];
    snprintf(in, sizeof in, "%s\ndemo/refs/Oatly-Oat-Milk_002.jpg\n", s_path("imgs/sub/a.jpg"));
    ck_assert_int_eq(RUN(in, &out, NULL, "hash", "--root", s_path("imgs"), "-"), 1);
    v = s_lines(out, &n);
    ck_assert_int_eq(n, 2);
    ck_assert_ptr_null(json_object_get(v[0], "error"));
    ck_assert_str_eq(s_str(v[1], "error", "code"), "denied");
    s_lines_free(v, n);
    free(out);
    /* Under --root: "../" in an entry is resolved and refused; a directory
     * entry walked with --follow does not escape through a symlink in it. */
    mkdir(s_path("imgs/sub2"), 0700);
    char target[PATH_MAX];
    ck_assert_ptr_nonnull(realpath("demo/refs/Oatly-Oat-Milk_002.jpg", target));
    ck_assert_int_eq(symlink(target, s_path("imgs/sub2/escape.jpg")), 0);
    ck_assert_int_eq(symlink("../sub/a.jpg", s_path("imgs/sub2/inside.jpg")), 0);
    char in2[PATH_MAX * 4];
    snprintf(in2, sizeof in2, "%s/../sub/a.jpg\n", s_path("imgs/sub"));
    snprintf(in2 + strlen(in2), sizeof in2 - strlen(in2), "%s/../../..\n", s_path("imgs/sub"));
    snprintf(in2 + strlen(in2), sizeof in2 - strlen(in2), "%s\n", s_path("imgs/sub2"));
    snprintf(in, sizeof in, "%s", in2);
    ck_assert_int_eq(RUN(in, &out, NULL, "hash", "--root", s_path("imgs"), "--follow", "-"), 1);
    v = s_lines(out, &n);
    ck_assert_int_eq(n, 4);
    ck_assert_ptr_null(json_object_get(v[0], "error"));    /* resolves inside */
    ck_assert_str_eq(s_str(v[1], "error", "code"), "denied"); /* the parent of --root */
    ck_assert_str_eq(s_str(v[2], "error", "code"), "denied"); /* sub2/escape.jpg */
    ck_assert_ptr_null(json_object_get(v[3], "error"));    /* sub2/inside.jpg */
    s_lines_free(v, n);
    free(out);
}
END_TEST

START_TEST(test_add_score_admin)
{
    char *db = strdup(s_path("db")), *out;
    size_t n;
    s_demo_db(db);
    /* Adding the same images again: reported as exists, not a failure. */
    ck_assert_int_eq(RUN(NULL, &out, NULL, "add", "--db", db, "--bank", "genuine", "--brand",
                         "Tropicana", "demo/refs/Tropicana-Apple-Juice_001.jpg"), 0);
    json_t **v = s_lines(out, &n);
    ck_assert_str_eq(s_str(v[0], "status", NULL), "exists");
    ck_assert_str_eq(s_str(v[0], "existing_id", NULL), "tropicana-apple-001");
    s_lines_free(v, n);
    free(out);
    ck_assert_int_eq(RUN(NULL, &out, NULL, "score", "--db", db, "--seller", "s-42", "--top", "3",
                         "demo/queries/listing-1001.jpg", "demo/queries/listing-1004.jpg",
                         "demo/queries/listing-1007.jpg"), 0);
    v = s_lines(out, &n);
    ck_assert_int_eq(n, 3);
    ck_assert_str_eq(s_str(v[0], "decision", NULL), "counterfeit");
    ck_assert_str_eq(s_str(v[0], "file", NULL), "demo/queries/listing-1001.jpg");
    ck_assert_str_eq(s_str(json_array_get(json_object_get(v[0], "matches"), 0), "ref", NULL),
                     "fake-oatly-002");
    ck_assert_str_eq(s_str(v[1], "decision", NULL), "suspect");
    ck_assert_str_eq(s_str(v[2], "decision", NULL), "unknown");
    /* --top lists the nearest references even below the thresholds. */
    ck_assert_int_eq(json_array_size(json_object_get(v[2], "matches")), 3);
    s_lines_free(v, n);
    free(out);
    ck_assert_int_eq(RUN(NULL, &out, NULL, "score", "--db", db, "--seller", "s-tropicana-official",
                         "demo/queries/listing-1004.jpg"), 0);
    v = s_lines(out, &n);
    ck_assert_str_eq(s_str(v[0], "decision", NULL), "genuine");
    s_lines_free(v, n);
    free(out);
    /* stats, verify, remove, authorize --revoke. */
    ck_assert_int_eq(RUN(NULL, &out, NULL, "stats", "--db", db), 0);
    v = s_lines(out, &n);
    ck_assert_int_eq(json_integer_value(json_object_get(v[0], "refs")), 11);
    s_lines_free(v, n);
    free(out);
    ck_assert_int_eq(RUN(NULL, &out, NULL, "verify", "--db", db), 0);
    v = s_lines(out, &n);
    ck_assert(json_is_true(json_object_get(v[0], "ok")));
    s_lines_free(v, n);
    free(out);
    ck_assert_int_eq(RUN(NULL, &out, NULL, "remove", "--db", db, "fake-oatly-002", "no-such-id"), 1);
    v = s_lines(out, &n);
    ck_assert_str_eq(s_str(v[0], "status", NULL), "removed");
    ck_assert_str_eq(s_str(v[1], "error", "code"), "not_found");
    s_lines_free(v, n);
    free(out);
    ck_assert_int_eq(RUN(NULL, NULL, NULL, "verify", "--db", db), 0);
    ck_assert_int_eq(RUN(NULL, NULL, NULL, "authorize", "--db", db, "--brand", "Tropicana",
                         "--seller", "s-tropicana-official", "--revoke"), 0);
    ck_assert_int_eq(RUN(NULL, &out, NULL, "score", "--db", db, "--seller", "s-tropicana-official",
                         "demo/queries/listing-1004.jpg"), 0);
    v = s_lines(out, &n);
    ck_assert_str_eq(s_str(v[0], "decision", NULL), "suspect");
    s_lines_free(v, n);
    free(out);
    free(db);
}
END_TEST

START_TEST(test_stdin_jsonl)
{
    char *db = strdup(s_path("db")), *out;
    size_t n;
    s_demo_db(db);
    uint8_t *img;
    size_t len;
    tu_read_file("demo/queries/listing-1001.jpg", &img, &len);
    size_t o = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
    char *b64 = malloc(o);
    sodium_bin2base64(b64, o, img, len, sodium_base64_VARIANT_ORIGINAL);
    free(img);
    size_t cap = o + 1024;
    char *in = malloc(cap);
    snprintf(in, cap,
             "{\"id\":\"a\",\"path\":\"demo/queries/listing-1004.jpg\",\"seller\":\"s-tropicana-official\"}\n"
             "{\"id\":\"b\", this is not json\n"
             "{\"id\":3,\"image_b64\":\"%s\"}\n"
             "{\"id\":\"d\",\"image_b64\":\"!!!\"}\n"
             "{\"id\":\"e\",\"path\":\"demo/queries/listing-1007.jpg\"}\n",
             b64);
    free(b64);
    ck_assert_int_eq(RUN(in, &out, NULL, "score", "--db", db, "--seller", "s-42", "--stdin-jsonl"), 1);
    free(in);
    json_t **v = s_lines(out, &n);
    ck_assert_int_eq(n, 5);
    ck_assert_str_eq(s_str(v[0], "id", NULL), "a");
    ck_assert_str_eq(s_str(v[0], "decision", NULL), "genuine");
    ck_assert(json_is_null(json_object_get(v[1], "id")));
    ck_assert_str_eq(s_str(v[1], "decision", NULL), "error");
    ck_assert_int_eq(json_integer_value(json_object_get(v[2], "id")), 3);
    ck_assert_str_eq(s_str(v[2], "decision", NULL), "counterfeit");
    ck_assert_str_eq(s_str(v[3], "id", NULL), "d");
    ck_assert_str_eq(s_str(v[3], "error", "code"), "invalid_argument");
    ck_assert_str_eq(s_str(v[4], "id", NULL), "e");
    ck_assert_str_eq(s_str(v[4], "decision", NULL), "unknown");
    s_lines_free(v, n);
    free(out);
    free(db);
}
END_TEST

/* n distinct generated PNGs in dir. */
static void s_gen_images(const char *dir, int n)
{
    mkdir(dir, 0700);
    uint64_t seed = 12345;
    uint8_t rgb[48 * 48 * 3];
    for (int i = 0; i < n; i++) {
        /* Blocks of random colour: distinct images that decode and hash fast. */
        uint8_t c[6][6][3];
        for (int y = 0; y < 6; y++)
            for (int x = 0; x < 6; x++)
                for (int k = 0; k < 3; k++)
                    c[y][x][k] = (uint8_t)tu_rand(&seed);
        for (int y = 0; y < 48; y++)
            for (int x = 0; x < 48; x++)
                memcpy(&rgb[(y * 48 + x) * 3], c[y / 8][x / 8], 3);
        void *png;
        size_t len;
        ck_assert_int_eq(tu_encode(rgb, 48, 48, ".png", &png, &len), 0);
        char p[PATH_MAX];
        snprintf(p, sizeof p, "%s/img-%04d.png", dir, i);
        s_write(p, png, len);
        g_free(png);
    }
}

static size_t s_count(const char *text, const char *needle)
{
    size_t n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

START_TEST(test_backfill_resume)
{
    const int N = 300;
    char *dir = strdup(s_path("gen")), *db = strdup(s_path("db")), *out, *err;
    s_gen_images(dir, N);
    char pout[PATH_MAX];
    snprintf(pout, sizeof pout, "%s/.bf1", s_tmp);
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        int fo = open(pout, O_WRONLY | O_CREAT | O_TRUNC, 0600), fn = open("/dev/null", O_WRONLY);
        dup2(fo, 1);
        dup2(fn, 2);
        execl(s_bin, s_bin, "backfill", "--db", db, "--bank", "counterfeit", "--brand", "Gen",
              "--jobs", "1", "--batch", "16", dir, (char *)NULL);
        _exit(127);
    }
    /* Kill it part-way: once a few batches are committed. */
    char *first = NULL;
    for (int t = 0; t < 2000; t++) {
        free(first);
        first = s_slurp(pout);
        if (s_count(first, "\"added\"") >= 48)
            break;
        usleep(2000);
    }
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    free(first);
    first = s_slurp(pout);
    size_t added1 = s_count(first, "\"added\"");
    ck_assert_msg(added1 >= 48, "first run added %zu", added1);
    /* Re-run: everything missing is added, nothing twice, exit 0. */
    ck_assert_int_eq(RUN(NULL, &out, &err, "backfill", "--db", db, "--bank", "counterfeit", "--brand",
                         "Gen", "--jobs", "2", "--batch", "16", dir), 0);
    size_t added2 = s_count(out, "\"added\""), exists2 = s_count(out, "\"exists\"");
    ck_assert_int_eq(added2 + exists2, N);
    ck_assert_msg(exists2 >= added1, "exists %zu < first run's added %zu", exists2, added1);
    if (WIFSIGNALED(st))
        ck_assert_msg(added2 > 0, "the kill came after the end: nothing left to resume");
    free(out);
    free(err);
    ck_assert_int_eq(RUN(NULL, &out, NULL, "stats", "--db", db), 0);
    size_t n;
    json_t **v = s_lines(out, &n);
    ck_assert_int_eq(json_integer_value(json_object_get(v[0], "refs")), N);
    s_lines_free(v, n);
    free(out);
    ck_assert_int_eq(RUN(NULL, NULL, NULL, "verify", "--db", db), 0);
    free(first);
    free(dir);
    free(db);
}
END_TEST

START_TEST(test_progress_tty_and_pipe)
{
    char *dir = strdup(s_path("gen")), *db = strdup(s_path("db1")), *err;
    s_gen_images(dir, 60);
    /* Piped stderr: plain key=value lines, no carriage returns. */
    ck_assert_int_eq(RUN(NULL, NULL, &err, "backfill", "--db", db, "--bank", "genuine", "--brand", "G",
                         "--jobs", "1", "--progress-interval", "0.01", dir), 0);
    ck_assert_msg(strstr(err, "progress done=") != NULL, "stderr: %s", err);
    ck_assert_msg(strstr(err, "total=60") != NULL, "stderr: %s", err);
    ck_assert(strchr(err, '\r') == NULL);
    free(err);
    /* A pseudo-terminal: the redrawn bar. */
    int master;
    pid_t pid = forkpty(&master, NULL, NULL, NULL);
    ck_assert(pid >= 0);
    if (pid == 0) {
        int fn = open("/dev/null", O_WRONLY);
        dup2(fn, 1);
        execl(s_bin, s_bin, "backfill", "--db", s_path("db2"), "--bank", "genuine", "--brand", "G",
              "--jobs", "1", "--progress-interval", "0.01", dir, (char *)NULL);
        _exit(127);
    }
    char buf[65536];
    size_t got = 0;
    for (;;) {
        ssize_t r = read(master, buf + got, sizeof buf - 1 - got);
        if (r <= 0)
            break; /* EIO once the child has gone */
        got += (size_t)r;
    }
    buf[got] = 0;
    int st;
    waitpid(pid, &st, 0);
    close(master);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    ck_assert_msg(strstr(buf, "\r[") != NULL, "tty: %s", buf);
    ck_assert_msg(strstr(buf, "img/s") != NULL && strstr(buf, "ETA") != NULL, "tty: %s", buf);
    ck_assert_msg(strstr(buf, "60/60") != NULL, "tty: %s", buf);
    ck_assert(strstr(buf, "progress done=") == NULL);
    free(dir);
    free(db);
}
END_TEST

static char *s_strip_timing(const char *text)
{
    char *s = strdup(text);
    char *p;
    while ((p = strstr(s, "\"timing_us\":{"))) {
        char *e = strchr(p, '}');
        memmove(p, e + 1, strlen(e + 1) + 1);
    }
    return s;
}

START_TEST(test_export_import)
{
    char *a = strdup(s_path("a")), *b = strdup(s_path("b")), *c = strdup(s_path("c"));
    char *out, *exp_jsonl, *exp_csv, *va, *vb;
    size_t n;
    s_demo_db(a);
    ck_assert_int_eq(RUN(NULL, &exp_jsonl, NULL, "export", "--db", a, "--format", "jsonl"), 0);
    ck_assert_int_eq(RUN(NULL, &exp_csv, NULL, "export", "--db", a, "--format", "te-csv"), 0);
    s_write(s_path("bank.jsonl"), exp_jsonl, strlen(exp_jsonl));
    s_write(s_path("bank.csv"), exp_csv, strlen(exp_csv));
    ck_assert_int_eq(RUN(NULL, &out, NULL, "import", "--db", b, "--format", "jsonl", s_path("bank.jsonl")), 0);
    json_t **v = s_lines(out, &n);
    ck_assert_int_eq(n, 11);
    s_lines_free(v, n);
    free(out);
    /* The same references (export of the copy equals the original but for
     * the time of adding) and the same verdicts. */
    ck_assert_int_eq(RUN(NULL, &out, NULL, "export", "--db", b, "--format", "jsonl"), 0);
    json_t **x = s_lines(exp_jsonl, &n), **y;
    size_t m;
    y = s_lines(out, &m);
    ck_assert_int_eq(n, m);
    for (size_t i = 0; i < n; i++) {
        json_object_del(x[i], "added");
        json_object_del(y[i], "added");
        ck_assert_msg(json_equal(x[i], y[i]), "record %zu differs", i);
    }
    s_lines_free(x, n);
    s_lines_free(y, m);
    free(out);
    RUN(NULL, &out, NULL, "score", "--db", a, "--seller", "s-42", "demo/queries");
    va = s_strip_timing(out);
    free(out);
    RUN(NULL, &out, NULL, "score", "--db", b, "--seller", "s-42", "demo/queries");
    vb = s_strip_timing(out);
    free(out);
    ck_assert_str_eq(va, vb);
    free(va);
    free(vb);
    /* te-csv: hash-only references; the exact copy still matches by PDQ. */
    ck_assert_int_eq(RUN(NULL, &out, NULL, "import", "--db", c, "--format", "te-csv", "--bank",
                         "counterfeit", "--brand", "X", s_path("bank.csv")), 0);
    v = s_lines(out, &n);
    ck_assert_int_eq(n, 11);
    s_lines_free(v, n);
    free(out);
    ck_assert_int_eq(RUN(NULL, &out, NULL, "verify", "--db", c), 0);
    v = s_lines(out, &n);
    ck_assert_int_eq(json_integer_value(json_object_get(v[0], "pdq_only")), 11);
    s_lines_free(v, n);
    free(out);
    ck_assert_int_eq(RUN(NULL, &out, NULL, "score", "--db", c, "--seller", "s-42",
                         "demo/refs/Oatly-Oat-Milk_002.jpg"), 0);
    v = s_lines(out, &n);
    ck_assert_str_eq(s_str(v[0], "decision", NULL), "counterfeit");
    ck_assert_str_eq(s_str(json_array_get(json_object_get(v[0], "matches"), 0), "brand", NULL), "Oatly");
    s_lines_free(v, n);
    free(out);
    /* A bare hash list (the PDQ regression haystack), a quoted CSV field
     * with a comma and a doubled quote, and a broken row among good ones. */
    const char *csv =
        "hash,id,time,tags\n"
        "f162eb9daab170c0567fe3632d9a5548c5612982dd5e374a7424ebbc8a835c95,\"q,1\",,\"a \"\"b\"\"\"\n"
        "zzz,bad\n"
        "b062eb9d2ab170c0567fcb672d9a5548c5612982dd5e374a7424ebbc8b135cb5\n";
    s_write(s_path("t.csv"), csv, strlen(csv));
    ck_assert_int_eq(RUN(NULL, &out, NULL, "import", "--db", s_path("d"), "--format", "te-csv",
                         "--bank", "genuine", "--brand", "Y", s_path("t.csv")), 1);
    v = s_lines(out, &n);
    ck_assert_int_eq(n, 3);
    ck_assert_int_eq(json_integer_value(json_object_get(v[0], "line")), 3);
    ck_assert_ptr_nonnull(json_object_get(v[0], "error"));
    ck_assert_str_eq(s_str(v[1], "id", NULL), "q,1");
    ck_assert_str_eq(s_str(v[2], "id", NULL),
                     "pdq-b062eb9d2ab170c0567fcb672d9a5548c5612982dd5e374a7424ebbc8b135cb5");
    s_lines_free(v, n);
    free(out);
    const char *hay = tu_shared_path("conformance/pdq/images/reg-test-input/haystack.txt");
    if (hay) {
        ck_assert_int_eq(RUN(NULL, &out, NULL, "import", "--db", s_path("e"), "--format", "te-csv",
                             "--bank", "counterfeit", "--brand", "Z", hay), 0);
        ck_assert(s_count(out, "\"added\"") > 1000);
        free(out);
    }
    free(exp_jsonl);
    free(exp_csv);
    free(a);
    free(b);
    free(c);
}
END_TEST

START_TEST(test_send_nothing_listening)
{
    char *out;
    size_t n;
    ck_assert_int_eq(RUN(NULL, &out, NULL, "send", "--connect", "tcp://127.0.0.1:1", "--timeout-ms",
                         "200", "demo/queries/listing-1001.jpg", s_path("missing.jpg")), 1);
    json_t **v = s_lines(out, &n);
    ck_assert_int_eq(n, 2);
    ck_assert_str_eq(s_str(v[0], "error", "code"), "not_found"); /* reported at once */
    ck_assert_str_eq(s_str(v[1], "error", "code"), "timeout");
    ck_assert_str_eq(s_str(v[1], "file", NULL), "demo/queries/listing-1001.jpg");
    s_lines_free(v, n);
    free(out);
}
END_TEST

START_TEST(test_keygen)
{
    char *out;
    ck_assert_int_eq(RUN(NULL, &out, NULL, "keygen", "--out", s_path("k")), 0);
    ck_assert_int_eq(strlen(out), 41);
    struct stat st;
    ck_assert_int_eq(stat(s_path("k.key"), &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    char *pub = s_slurp(s_path("k.pub"));
    ck_assert_str_eq(pub, out);
    free(pub);
    free(out);
    ck_assert_int_eq(RUN(NULL, NULL, NULL, "keygen", "--out", s_path("k")), 1); /* no overwrite */
    /* --force over a file someone loosened: the secret is 0600 again. */
    ck_assert_int_eq(chmod(s_path("k.key"), 0644), 0);
    ck_assert_int_eq(RUN(NULL, NULL, NULL, "keygen", "--force", "--out", s_path("k")), 0);
    ck_assert_int_eq(stat(s_path("k.key"), &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    /* A database directory is created 0700 (references and strikes are private). */
    s_write(s_path("empty.jsonl"), "", 0);
    ck_assert_int_eq(RUN(NULL, NULL, NULL, "import", "--db", s_path("db700"), "--format", "jsonl",
                         s_path("empty.jsonl")), 0);
    ck_assert_int_eq(stat(s_path("db700"), &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0700);
}
END_TEST

/* hm_engine_verify finds an index entry that went missing. */
START_TEST(test_verify_detects_drift)
{
    char *db = strdup(s_path("db"));
    ck_assert_int_eq(RUN(NULL, NULL, NULL, "add", "--db", db, "--bank", "genuine", "--brand", "T",
                         "demo/refs"), 0);
    hm_engine_t *e;
    ck_assert_int_eq(hm_engine_open(&e, db, NULL), 0);
    char *rep;
    ck_assert_int_eq(hm_engine_verify(e, &rep), 0);
    ck_assert(strstr(rep, "\"ok\":true") != NULL);
    free(rep);
    ck_assert_int_eq(hm_engine_test_drift(e, 3, "phash"), 0);
    ck_assert_int_eq(hm_engine_verify(e, &rep), 0);
    ck_assert_msg(strstr(rep, "\"ok\":false") && strstr(rep, "phash_missing") &&
                  strstr(rep, "count_mismatch"), "%s", rep);
    free(rep);
    hm_engine_close(&e);
    free(db);
}
END_TEST

Suite *hm_suite_cli(void)
{
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("cli");
    tcase_add_checked_fixture(tc, s_setup, s_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_usage);
    tcase_add_test(tc, test_hash_errors_and_order);
    tcase_add_test(tc, test_inputs_lists_symlinks);
    tcase_add_test(tc, test_add_score_admin);
    tcase_add_test(tc, test_stdin_jsonl);
    tcase_add_test(tc, test_backfill_resume);
    tcase_add_test(tc, test_progress_tty_and_pipe);
    tcase_add_test(tc, test_export_import);
    tcase_add_test(tc, test_send_nothing_listening);
    tcase_add_test(tc, test_keygen);
    tcase_add_test(tc, test_verify_detects_drift);
    suite_add_tcase(s, tc);
    return s;
}
