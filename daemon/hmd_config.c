/* hmd_config.c - the configuration table and everything it drives. */
#include "hmd_config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hm_error.h"
#include "hm_log.h"

enum { T_STR, T_INT, T_BOOL, T_LEVEL };

typedef struct s_opt {
    const char *name;   /* flag name and file key */
    int type;
    size_t off;         /* offsetof in hmd_config_t */
    size_t size;        /* for T_STR/T_LEVEL: the buffer size */
    const char *def;    /* default, as text */
    long min, max;      /* bounds for T_INT */
    int reloadable;
    const char *help;
} s_opt_t;

#define S_STR(n, f, d, r, h) { n, T_STR, offsetof(hmd_config_t, f), sizeof(((hmd_config_t *)0)->f), d, 0, 0, r, h }
#define S_INT(n, f, d, lo, hi, r, h) { n, T_INT, offsetof(hmd_config_t, f), sizeof(int), d, lo, hi, r, h }
#define S_BOOL(n, f, d, r, h) { n, T_BOOL, offsetof(hmd_config_t, f), sizeof(int), d, 0, 1, r, h }

/* The one table.  Order is the order of --help. */
static const s_opt_t s_opts[] = {
    S_STR("db", db, "", 0, "database directory (required)"),
    S_STR("config", config, "", 0, "configuration file of `key = value` lines"),
    S_INT("workers", workers, "0", 0, 256, 0, "worker threads (0: one per core)"),
    S_STR("ingest", ingest, "tcp://127.0.0.1:5555", 0, "ingest ROUTER endpoint (request/reply)"),
    S_STR("pipeline-in", pipeline_in, "tcp://127.0.0.1:5556", 0, "pipeline PULL endpoint (requests)"),
    S_STR("pipeline-out", pipeline_out, "tcp://127.0.0.1:5557", 0, "pipeline PUSH endpoint (verdicts)"),
    S_STR("feed", feed, "tcp://127.0.0.1:5558", 0, "feed PUB endpoint (topics brand/<brand>/<decision>)"),
    S_STR("control", control, "tcp://127.0.0.1:5559", 0, "control ROUTER endpoint (loopback or ipc:// unless CURVE)"),
    S_STR("metrics", metrics, "127.0.0.1:9555", 0, "HOST:PORT for /metrics and /healthz, or \"off\""),
    S_INT("queue", queue, "256", 1, 1000000, 1, "max requests in flight; beyond it requests get `busy`"),
    S_INT("queue-mib", queue_mib, "512", 1, 65536, 1, "max image MiB in flight; beyond it requests get `busy`"),
    S_INT("max-image", max_image, "33554432", 1, 1073741824, 0, "largest image frame in bytes (the decode limit)"),
    S_INT("max-header", max_header, "65536", 256, 16777216, 0, "largest JSON header frame in bytes"),
    S_INT("hwm", hwm, "1000", 1, 10000000, 0, "ZeroMQ high-water mark on every socket"),
    S_INT("strike-limit", strike_limit, "3", 1, 1000000, 0, "strikes after which a seller is blocked"),
    S_BOOL("record-strikes", record_strikes, "1", 1, "counterfeit verdicts add a strike (0|1)"),
    { "log-level", T_LEVEL, offsetof(hmd_config_t, log_level), sizeof(((hmd_config_t *)0)->log_level),
      "info", 0, 0, 1, "log level: error, warn, info, debug" },
    S_STR("thresholds", thresholds, "", 1, "thresholds JSON file (\"\": built-in defaults)"),
    S_STR("curve-secret-file", curve_secret_file, "", 0, "control CURVE server secret key file (Z85)"),
    S_STR("curve-allow", curve_allow, "", 1, "file of allowed control client public keys (Z85, one a line)"),
    S_BOOL("control-public", control_public, "0", 0, "allow plaintext control on a non-loopback address (0|1)"),
    S_STR("user", user, "", 0, "drop privileges to this user after binding (when root)"),
    S_INT("shutdown-timeout", shutdown_timeout, "10", 1, 300, 1, "seconds to finish in-flight requests on SIGTERM"),
    S_BOOL("nosync", nosync, "0", 0, "relaxed database durability (0|1)"),
    S_INT("lf-keypoints", lf_keypoints, "384", 32, 1024, 0, "local-feature keypoints kept per reference added (fewer: smaller banks, lower recall on crops)"),
    S_INT("lf-stop-factor", lf_stop_factor, "8", 0, 64, 0, "local-feature search skips lists longer than this x the mean (0: none; 4: ~12% faster at 100k references, ~0.4 point less recall)"),
    S_STR("console", console, "off", 0, "review console HOST:PORT (loopback advised), \"metrics\" (on the metrics server) or \"off\""),
    S_STR("console-accounts", console_accounts, "", 0, "console accounts file: `name reviewer|holder pwhash [brand...]` lines"),
    S_INT("console-retention", console_retention, "1000", 1, 1000000, 0, "recent non-unknown verdicts the console keeps (oldest dropped first)"),
    S_INT("console-retention-mib", console_retention_mib, "64", 1, 65536, 0, "MiB the console's retention may hold (images + thumbnails)"),
    S_BOOL("console-genuine", console_genuine, "0", 0, "keep genuine verdicts for the console too (0|1)"),
    S_STR("repl", repl, "", 0, "primary: replication ROUTER endpoint (snapshots, ranges, strikes)"),
    S_STR("repl-pub", repl_pub, "", 0, "primary: replication PUB endpoint (updates, heartbeats)"),
    S_STR("replica-of", replica_of, "", 0, "run as a read-only replica of the primary at this repl endpoint"),
    S_STR("replica-pub", replica_pub, "", 0, "replica: the primary's repl-pub endpoint (\"\": repl port + 1)"),
    S_INT("repl-lag-max", repl_lag_max, "10", 1, 86400, 0, "replica: seconds of lag after which /healthz answers 503"),
    S_INT("repl-keep", repl_keep, "100000", 1, 2000000000, 0, "primary: change-log entries always kept"),
    S_INT("repl-keep-hours", repl_keep_hours, "24", 0, 100000, 0, "primary: keep change-log entries younger than this too"),
    S_INT("replica-wait", replica_wait, "30", 1, 3600, 0, "replica: seconds to wait for the primary at start"),
    S_STR("nats-url", nats_url, "", 0, "fleet mode: NATS server URLs, comma-separated (\"\": fleet off; docs/DEPLOYMENT.md)"),
    S_STR("nats-creds", nats_creds, "", 0, "fleet: NATS user credentials (.creds) file"),
    S_STR("nats-user", nats_user, "", 0, "fleet: NATS user name"),
    S_STR("nats-password-file", nats_password_file, "", 0, "fleet: file holding the NATS user's password"),
    S_STR("nats-tls-ca", nats_tls_ca, "", 0, "fleet: TLS trust roots (PEM); set: TLS only, server verified"),
    S_STR("nats-tls-cert", nats_tls_cert, "", 0, "fleet: TLS client certificate (PEM)"),
    S_STR("nats-tls-key", nats_tls_key, "", 0, "fleet: TLS client key (PEM)"),
    S_STR("fleet-role", fleet_role, "scorer", 0, "fleet: writer (bank writes, strikes) or scorer (listings)"),
    S_INT("fleet-replicas", fleet_replicas, "3", 1, 5, 0, "fleet: JetStream stream replicas"),
    S_INT("fleet-listing-max", fleet_listing_max, "921600", 1024, 67108864, 0, "fleet: largest image a listing message may carry, bytes"),
    S_INT("fleet-wait", fleet_wait, "60", 1, 3600, 0, "fleet: seconds to retry connecting and creating streams"),
};
#define S_NOPTS (sizeof s_opts / sizeof s_opts[0])

/* Flags given on the command line, kept so a reload can re-apply them. */
static char **s_flag_vals;      /* S_NOPTS slots, NULL = not given */

static const s_opt_t *s_find(const char *key)
{
    char norm[64];
    size_t n = strlen(key);
    if (n >= sizeof norm)
        return NULL;
    for (size_t i = 0; i <= n; i++)
        norm[i] = key[i] == '_' ? '-' : key[i];
    for (size_t i = 0; i < S_NOPTS; i++)
        if (strcmp(s_opts[i].name, norm) == 0)
            return &s_opts[i];
    return NULL;
}

/* Set one option from text; where names the source for the error message. */
static int s_set(hmd_config_t *c, const s_opt_t *o, const char *val, const char *where)
{
    char *p = (char *)c + o->off;
    switch (o->type) {
    case T_STR:
    case T_LEVEL:
        if (strlen(val) >= o->size)
            return hm__seterr(HM_E_CONFIG, "%s: %s: value too long (max %zu)", where, o->name,
                              o->size - 1);
        if (o->type == T_LEVEL && hm_log_parse_level(val) < 0)
            return hm__seterr(HM_E_CONFIG, "%s: %s: '%s' is not one of error, warn, info, debug",
                              where, o->name, val);
        memcpy(p, val, strlen(val) + 1);
        return 0;
    case T_BOOL:
    case T_INT: {
        if (o->type == T_BOOL) {
            if (!strcmp(val, "true") || !strcmp(val, "yes") || !strcmp(val, "on"))
                val = "1";
            else if (!strcmp(val, "false") || !strcmp(val, "no") || !strcmp(val, "off"))
                val = "0";
        }
        char *end = NULL;
        errno = 0;
        long v = strtol(val, &end, 10);
        if (errno || end == val || *end != '\0')
            return hm__seterr(HM_E_CONFIG, "%s: %s: '%s' is not an integer", where, o->name, val);
        if (v < o->min || v > o->max)
            return hm__seterr(HM_E_CONFIG, "%s: %s: %ld is out of bounds [%ld, %ld]", where,
                              o->name, v, o->min, o->max);
        *(int *)(void *)p = (int)v;
        return 0;
    }
    }
    return HM_E_INTERNAL;
}

void hmd_config_defaults(hmd_config_t *c)
{
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < S_NOPTS; i++)
        (void)s_set(c, &s_opts[i], s_opts[i].def, "default");
}

static char *s_trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

/*
 * One `key = value` line.  A value in double quotes is taken verbatim (it may
 * hold '#'); otherwise a '#' preceded by whitespace starts a comment, so
 * endpoints like ipc:///run/x#y would need quotes.
 */
static int s_parse_line(hmd_config_t *c, char *line, const char *path, int lineno)
{
    char where[HMD_STR_MAX + 32];
    snprintf(where, sizeof where, "%s:%d", path, lineno);
    char *s = s_trim(line);
    if (*s == '\0' || *s == '#')
        return 0;
    char *eq = strchr(s, '=');
    if (!eq)
        return hm__seterr(HM_E_CONFIG, "%s: expected `key = value`", where);
    *eq = '\0';
    char *key = s_trim(s), *val = s_trim(eq + 1);
    if (*val == '"') {
        char *close = strchr(val + 1, '"');
        if (!close)
            return hm__seterr(HM_E_CONFIG, "%s: unterminated quoted value", where);
        char *rest = s_trim(close + 1);
        if (*rest && *rest != '#')
            return hm__seterr(HM_E_CONFIG, "%s: text after the quoted value", where);
        *close = '\0';
        val++;
    } else {
        for (char *h = val; *h; h++)
            if (*h == '#' && (h == val || isspace((unsigned char)h[-1]))) {
                *h = '\0';
                break;
            }
        val = s_trim(val);
    }
    /* No escapes exist, so a '"' inside a value could not be written back
     * (--dump-config quotes every string): refuse it rather than guess. */
    if (strchr(val, '"'))
        return hm__seterr(HM_E_CONFIG, "%s: a double quote inside a value", where);
    const s_opt_t *o = s_find(key);
    if (!o || strcmp(o->name, "config") == 0)
        return hm__seterr(HM_E_CONFIG, "%s: unknown key '%s' (see --help)", where, key);
    return s_set(c, o, val, where);
}

/* Every line of f; name is the file's name in error messages. */
static int s_parse_stream(hmd_config_t *c, FILE *f, const char *name)
{
    int rc = 0, lineno = 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if ((size_t)n != strlen(line)) {
            rc = hm__seterr(HM_E_CONFIG, "%s:%d: NUL byte in line", name, lineno);
            break;
        }
        if ((rc = s_parse_line(c, line, name, lineno)) != 0)
            break;
    }
    free(line);
    return rc;
}

int hmd_config_parse_file(hmd_config_t *c, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return hm__seterr(HM_E_CONFIG, "%s: cannot open: %s", path, strerror(errno));
    int rc = s_parse_stream(c, f, path);
    fclose(f);
    return rc;
}

int hmd_config_parse_buf(hmd_config_t *c, const void *data, size_t len, const char *name)
{
    if (len == 0)
        return 0;
    FILE *f = fmemopen((void *)data, len, "r");
    if (!f)
        return hm__seterr(HM_E_CONFIG, "%s: %s", name, strerror(errno));
    int rc = s_parse_stream(c, f, name);
    fclose(f);
    return rc;
}

void hmd_config_help(void *fp, const char *prog)
{
    FILE *f = fp;
    fprintf(f, "usage: %s --db DIR [--config FILE] [options]\n\n"
               "hallmarkd - counterfeit listing detection over ZeroMQ.\n"
               "Every option may also be set in the config file as `name = value`.\n"
               "(R) marks options re-read on SIGHUP.\n\n", prog);
    for (size_t i = 0; i < S_NOPTS; i++) {
        const s_opt_t *o = &s_opts[i];
        char lhs[64];
        snprintf(lhs, sizeof lhs, "--%s %s", o->name,
                 o->type == T_INT ? "N" : o->type == T_BOOL ? "0|1" : o->type == T_LEVEL ? "LEVEL" : "VALUE");
        fprintf(f, "  %-28s %s%s", lhs, o->help, o->reloadable ? " (R)" : "");
        if (o->type == T_INT)
            fprintf(f, " [%ld..%ld]", o->min, o->max);
        if (o->def[0])
            fprintf(f, " (default: %s)", o->def);
        fputc('\n', f);
    }
    fprintf(f, "  %-28s %s\n", "--dump-config", "print the effective configuration as a config file and exit");
    fprintf(f, "  %-28s %s\n", "--help", "print this help and exit");
}

void hmd_config_dump(void *fp, const hmd_config_t *c)
{
    FILE *f = fp;
    fprintf(f, "# hallmarkd configuration (`key = value`; flags override the file)\n");
    for (size_t i = 0; i < S_NOPTS; i++) {
        const s_opt_t *o = &s_opts[i];
        if (strcmp(o->name, "config") == 0)
            continue;
        const char *p = (const char *)c + o->off;
        fprintf(f, "\n# %s%s\n", o->help, o->reloadable ? " (reloaded on SIGHUP)" : "");
        if (o->type == T_INT || o->type == T_BOOL)
            fprintf(f, "%s = %d\n", o->name, *(const int *)(const void *)p);
        else
            fprintf(f, "%s = \"%s\"\n", o->name, p);
    }
}

void hmd_config_cleanup(void)
{
    if (s_flag_vals)
        for (size_t i = 0; i < S_NOPTS; i++)
            free(s_flag_vals[i]);
    free(s_flag_vals);
    s_flag_vals = NULL;
}

/* Apply the remembered flags; config is applied first by the caller. */
static int s_apply_flags(hmd_config_t *c)
{
    for (size_t i = 0; i < S_NOPTS; i++)
        if (s_flag_vals[i]) {
            char where[80];
            snprintf(where, sizeof where, "--%s", s_opts[i].name);
            int rc = s_set(c, &s_opts[i], s_flag_vals[i], where);
            if (rc)
                return rc;
        }
    return 0;
}

static int s_build(hmd_config_t *c, const char *config_path)
{
    hmd_config_defaults(c);
    if (config_path && *config_path) {
        int rc = hmd_config_parse_file(c, config_path);
        if (rc)
            return rc;
        snprintf(c->config, sizeof c->config, "%s", config_path);
    }
    return s_apply_flags(c);
}

int hmd_config_load(hmd_config_t *c, int argc, char **argv, int *exit_now)
{
    int rc = 0;
    struct option *lo = calloc(S_NOPTS + 3, sizeof *lo);
    int dump = 0;
    *exit_now = 0;
    hmd_config_cleanup();
    s_flag_vals = calloc(S_NOPTS, sizeof *s_flag_vals);
    if (!lo || !s_flag_vals)
        abort();
    for (size_t i = 0; i < S_NOPTS; i++)
        lo[i] = (struct option){ s_opts[i].name, required_argument, NULL, (int)i + 256 };
    lo[S_NOPTS] = (struct option){ "help", no_argument, NULL, 'h' };
    lo[S_NOPTS + 1] = (struct option){ "dump-config", no_argument, NULL, 'd' };
    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, ":h", lo, NULL)) != -1) {
        if (ch == 'h') {
            hmd_config_help(stdout, argv[0]);
            *exit_now = 1;
            goto leave;
        }
        if (ch == 'd') {
            dump = 1;
            continue;
        }
        if (ch == '?') {
            rc = hm__seterr(HM_E_CONFIG, "unknown option '%s' (see --help)",
                            optind > 0 && optind <= argc ? argv[optind - 1] : "?");
            goto leave;
        }
        if (ch == ':') {
            rc = hm__seterr(HM_E_CONFIG, "option '%s' needs a value", argv[optind - 1]);
            goto leave;
        }
        size_t i = (size_t)(ch - 256);
        free(s_flag_vals[i]);
        s_flag_vals[i] = strdup(optarg);
    }
    if (optind < argc) {
        rc = hm__seterr(HM_E_CONFIG, "unexpected argument '%s' (see --help)", argv[optind]);
        goto leave;
    }
    const s_opt_t *cfg = s_find("config");
    const char *path = s_flag_vals[cfg - s_opts];
    if ((rc = s_build(c, path)) != 0)
        goto leave;
    if (dump) {
        hmd_config_dump(stdout, c);
        *exit_now = 1;
        goto leave;
    }
    if (!c->db[0])
        rc = hm__seterr(HM_E_CONFIG, "--db DIR is required (see --help)");
leave:
    free(lo);
    return rc;
}

int hmd_config_reload(hmd_config_t *live)
{
    hmd_config_t *fresh = malloc(sizeof *fresh);
    if (!fresh)
        return HM_E_NOMEM;
    int rc = s_build(fresh, live->config);
    if (rc)
        goto leave;
    for (size_t i = 0; i < S_NOPTS; i++) {
        const s_opt_t *o = &s_opts[i];
        char *a = (char *)live + o->off, *b = (char *)fresh + o->off;
        int same = o->type == T_STR || o->type == T_LEVEL ? strcmp(a, b) == 0
                                                          : memcmp(a, b, o->size) == 0;
        if (same)
            continue;
        if (o->reloadable) {
            memcpy(a, b, o->type == T_STR || o->type == T_LEVEL ? strlen(b) + 1 : o->size);
            hm_log_info("config_reload", "key=%s", o->name);
        } else {
            hm_log_warn("config_reload", "key=%s status=ignored reason=\"needs a restart\"",
                        o->name);
        }
    }
leave:
    free(fresh);
    return rc;
}
