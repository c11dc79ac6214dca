/*
 * hm_cli_admin.c - the small database commands: stats, remove, authorize,
 * verify, and keygen (a CURVE key pair for hallmarkd's control socket).
 * Read-only commands (stats, verify) open the engine read-only so they can
 * run next to a live daemon.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "hm_cli.h"
#include "hm_cli_util.h"
#include "hm_engine.h"
#include "hm_error.h"

enum { OPT_DB = HM_OPT_FIRST_CMD, OPT_BRAND, OPT_SELLER, OPT_REVOKE, OPT_OUT, OPT_FORCE };

typedef struct admin_args {
    const char *db, *brand, *seller, *out;
    int revoke, force;
    int first_arg;          /* optind after parsing */
} admin_args_t;

/* Parse the options cmd accepts (allowed: a string of 'd','b','s','r','o','f'). */
static int s_parse(const char *cmd, const char *allowed, const char *help, int argc, char **argv,
                   admin_args_t *a)
{
    static const struct option opts[] = {
        { "db", required_argument, NULL, OPT_DB },
        { "brand", required_argument, NULL, OPT_BRAND },
        { "seller", required_argument, NULL, OPT_SELLER },
        { "revoke", no_argument, NULL, OPT_REVOKE },
        { "out", required_argument, NULL, OPT_OUT },
        { "force", no_argument, NULL, OPT_FORCE },
        { "help", no_argument, NULL, 'h' },
        { 0 }
    };
    memset(a, 0, sizeof *a);
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        char key = c == OPT_DB ? 'd' : c == OPT_BRAND ? 'b' : c == OPT_SELLER ? 's'
                 : c == OPT_REVOKE ? 'r' : c == OPT_OUT ? 'o' : c == OPT_FORCE ? 'f' : 0;
        if (c == 'h') {
            fputs(help, stdout);
            return -1;
        }
        if (!key || !strchr(allowed, key))
            return hm_cli_usage_error(cmd, "unknown option");
        switch (key) {
        case 'd': a->db = optarg; break;
        case 'b': a->brand = optarg; break;
        case 's': a->seller = optarg; break;
        case 'r': a->revoke = 1; break;
        case 'o': a->out = optarg; break;
        case 'f': a->force = 1; break;
        }
    }
    if (strchr(allowed, 'd') && !a->db)
        return hm_cli_usage_error(cmd, "--db DIR is required");
    a->first_arg = optind;
    return 0;
}

static int s_open(const char *cmd, const char *db, int readonly, hm_engine_t **e)
{
    hm_engine_opts_t eo = { .readonly = readonly };
    if (hm_engine_open(e, db, &eo) == 0)
        return 0;
    fprintf(stderr, "hallmark %s: cannot open %s: %s\n", cmd, db, hm_last_error());
    return HM_CLI_FAILED;
}

int hm_cli_stats(int argc, char **argv)
{
    admin_args_t a;
    int rc = s_parse("stats", "d",
                     "usage: hallmark stats --db DIR\n"
                     "Print the database's statistics as one JSON object (read-only open).\n",
                     argc, argv, &a);
    if (rc)
        return rc < 0 ? HM_CLI_OK : rc;
    if (a.first_arg < argc)
        return hm_cli_usage_error("stats", "unexpected argument '%s'", argv[a.first_arg]);
    hm_engine_t *e = NULL;
    if ((rc = s_open("stats", a.db, 1, &e)))
        return rc;
    char *json = NULL;
    if (hm_engine_stats_json(e, &json) == 0) {
        printf("%s\n", json);
        rc = HM_CLI_OK;
    } else {
        fprintf(stderr, "hallmark stats: %s\n", hm_last_error());
        rc = HM_CLI_FAILED;
    }
    free(json);
    hm_engine_close(&e);
    return rc;
}

int hm_cli_remove(int argc, char **argv)
{
    admin_args_t a;
    int rc = s_parse("remove", "d",
                     "usage: hallmark remove --db DIR ID...\n"
                     "Remove references by external id.  One line per id:\n"
                     "  {\"id\",\"status\":\"removed\"} or {\"id\",\"error\":{\"code\",\"message\"}}\n"
                     "(an unknown id is an error: exit status 1).\n",
                     argc, argv, &a);
    if (rc)
        return rc < 0 ? HM_CLI_OK : rc;
    if (a.first_arg == argc)
        return hm_cli_usage_error("remove", "no id given");
    hm_engine_t *e = NULL;
    if ((rc = s_open("remove", a.db, 0, &e)))
        return rc;
    size_t failed = 0;
    for (int i = a.first_arg; i < argc; i++) {
        json_t *o = json_object();
        json_t *id = json_string(argv[i]);
        json_object_set_new(o, "id", id ? id : json_null());
        int r = hm_engine_remove(e, argv[i]);
        if (r == 0) {
            json_object_set_new(o, "status", json_string("removed"));
        } else {
            json_object_set_new(o, "error", hm_cli_error_obj(r, NULL));
            failed++;
        }
        hm_cli_emit(o);
    }
    hm_engine_close(&e);
    return failed ? HM_CLI_FAILED : HM_CLI_OK;
}

int hm_cli_authorize(int argc, char **argv)
{
    admin_args_t a;
    int rc = s_parse("authorize", "dbsr",
                     "usage: hallmark authorize --db DIR --brand BRAND --seller ID [--revoke]\n"
                     "Authorise a seller to use a brand's genuine photos (their listings then\n"
                     "score genuine, not suspect); --revoke takes the authorisation back.\n"
                     "Prints {\"brand\",\"seller\",\"authorized\":true|false}.\n",
                     argc, argv, &a);
    if (rc)
        return rc < 0 ? HM_CLI_OK : rc;
    if (!a.brand || !*a.brand || !a.seller || !*a.seller)
        return hm_cli_usage_error("authorize", "--brand and --seller are required");
    if (a.first_arg < argc)
        return hm_cli_usage_error("authorize", "unexpected argument '%s'", argv[a.first_arg]);
    hm_engine_t *e = NULL;
    if ((rc = s_open("authorize", a.db, 0, &e)))
        return rc;
    int r = hm_engine_authorize(e, a.brand, a.seller, !a.revoke);
    json_t *o = json_object();
    json_object_set_new(o, "brand", json_string(a.brand));
    json_object_set_new(o, "seller", json_string(a.seller));
    if (r == 0)
        json_object_set_new(o, "authorized", json_boolean(!a.revoke));
    else
        json_object_set_new(o, "error", hm_cli_error_obj(r, NULL));
    hm_cli_emit(o);
    hm_engine_close(&e);
    return r ? HM_CLI_FAILED : HM_CLI_OK;
}

int hm_cli_verify(int argc, char **argv)
{
    admin_args_t a;
    int rc = s_parse("verify", "d",
                     "usage: hallmark verify --db DIR\n"
                     "Check that the store and the search indexes agree: every reference's\n"
                     "fingerprint reads back and is found in the hash indexes at distance 0\n"
                     "under its id, the indexes' live counts equal the store's, and the\n"
                     "descriptor index holds one vector per reference with an image.\n"
                     "Prints a JSON report {\"ok\",...,\"problems\":[...]}; exit status 1 when\n"
                     "anything disagrees.\n",
                     argc, argv, &a);
    if (rc)
        return rc < 0 ? HM_CLI_OK : rc;
    if (a.first_arg < argc)
        return hm_cli_usage_error("verify", "unexpected argument '%s'", argv[a.first_arg]);
    hm_engine_t *e = NULL;
    if ((rc = s_open("verify", a.db, 1, &e)))
        return rc;
    char *report = NULL;
    if (hm_engine_verify(e, &report) != 0) {
        fprintf(stderr, "hallmark verify: %s\n", hm_last_error());
        rc = HM_CLI_FAILED;
    } else {
        printf("%s\n", report);
        json_t *o = json_loads(report, 0, NULL);
        rc = json_is_true(json_object_get(o, "ok")) ? HM_CLI_OK : HM_CLI_FAILED;
        json_decref(o);
    }
    free(report);
    hm_engine_close(&e);
    return rc;
}

int hm_cli_digest(int argc, char **argv)
{
    admin_args_t a;
    int rc = s_parse("digest", "d",
                     "usage: hallmark digest --db DIR\n"
                     "Print {\"digest\":SHA-256 hex,\"seq\":N}: a digest of the banks' content\n"
                     "(every reference record, authorisation, strike and allow-list entry)\n"
                     "and the change-log sequence it was taken at.  A replica that has\n"
                     "applied the same sequence as its primary has the same digest.\n",
                     argc, argv, &a);
    if (rc)
        return rc < 0 ? HM_CLI_OK : rc;
    if (a.first_arg < argc)
        return hm_cli_usage_error("digest", "unexpected argument '%s'", argv[a.first_arg]);
    hm_store_t *st = NULL;
    hm_store_opts_t so = hm_store_opts_default();
    so.readonly = 1;
    char hex[65];
    uint64_t seq = 0;
    if ((rc = hm_store_open(&st, a.db, &so)) || (rc = hm_store_digest(st, hex, &seq))) {
        fprintf(stderr, "hallmark digest: %s\n", hm_last_error());
        hm_store_close(&st);
        return HM_CLI_FAILED;
    }
    hm_store_close(&st);
    printf("{\"digest\":\"%s\",\"seq\":%llu}\n", hex, (unsigned long long)seq);
    return HM_CLI_OK;
}

/* Write text to path with mode (0600 for the secret), refusing to replace
 * an existing file unless force. */
static int s_write_key(const char *path, const char *text, mode_t mode, int force)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (force ? O_TRUNC : O_EXCL), mode);
    if (fd < 0) {
        fprintf(stderr, "hallmark keygen: %s: %s%s\n", path, strerror(errno),
                errno == EEXIST ? " (use --force to replace it)" : "");
        return -1;
    }
    /* An existing file keeps its mode under O_TRUNC: set it explicitly. */
    size_t n = strlen(text);
    int ok = fchmod(fd, mode) == 0 && write(fd, text, n) == (ssize_t)n && write(fd, "\n", 1) == 1 &&
             fsync(fd) == 0;
    if (!ok)
        fprintf(stderr, "hallmark keygen: %s: %s\n", path, strerror(errno));
    close(fd);
    return ok ? 0 : -1;
}

int hm_cli_keygen(int argc, char **argv)
{
    admin_args_t a;
    int rc = s_parse("keygen", "of",
                     "usage: hallmark keygen [--out PREFIX] [--force]\n"
                     "Make a CURVE key pair (ZeroMQ Z85 text, 40 characters each) for the\n"
                     "daemon's control socket: PREFIX.key holds the secret key (mode 0600),\n"
                     "PREFIX.pub the public key; the public key is printed on stdout.\n"
                     "PREFIX defaults to 'hallmark-curve'.  Existing files are not replaced\n"
                     "unless --force.\n",
                     argc, argv, &a);
    if (rc)
        return rc < 0 ? HM_CLI_OK : rc;
    if (a.first_arg < argc)
        return hm_cli_usage_error("keygen", "unexpected argument '%s'", argv[a.first_arg]);
    const char *prefix = a.out ? a.out : "hallmark-curve";
    char pub[41], sec[41], path_pub[4096], path_sec[4096];
    if (zmq_curve_keypair(pub, sec) != 0) {
        fprintf(stderr, "hallmark keygen: %s (libzmq built without CURVE?)\n", zmq_strerror(errno));
        return HM_CLI_FAILED;
    }
    if (snprintf(path_sec, sizeof path_sec, "%s.key", prefix) >= (int)sizeof path_sec ||
        snprintf(path_pub, sizeof path_pub, "%s.pub", prefix) >= (int)sizeof path_pub)
        return hm_cli_usage_error("keygen", "--out is too long");
    rc = HM_CLI_OK;
    if (s_write_key(path_sec, sec, 0600, a.force) != 0 || s_write_key(path_pub, pub, 0644, a.force) != 0)
        rc = HM_CLI_FAILED;
    else
        printf("%s\n", pub);
    explicit_bzero(sec, sizeof sec);
    return rc;
}
