/*
 * hmd_config.h - hallmarkd's configuration: one table (name, type, default,
 * bounds, help, reloadable) drives the config file, the command-line flags
 * and --help (STYLE habit 14).
 *
 * Precedence: built-in default < config file < command-line flag.  A config
 * file holds `key = value` lines; '#' starts a comment (at the start of a line
 * or after whitespace); keys are the flag names without "--" (dashes or
 * underscores); values may be double-quoted.  Unknown keys, bad values and
 * out-of-bounds numbers are errors that name the file and the line.
 *
 * Thread safety: a config is plain data; the daemon keeps one live copy owned
 * by the socket thread and hands copies of what other threads need.
 */
#ifndef HMD_CONFIG_H
#define HMD_CONFIG_H

#include <stddef.h>

#define HMD_STR_MAX 1024

typedef struct hmd_config {
    char db[HMD_STR_MAX];            /* database directory (required) */
    char config[HMD_STR_MAX];        /* the config file, "" for none */
    int workers;                     /* worker threads; 0 = number of cores */
    char ingest[HMD_STR_MAX];        /* ROUTER endpoint */
    char pipeline_in[HMD_STR_MAX];   /* PULL endpoint */
    char pipeline_out[HMD_STR_MAX];  /* PUSH endpoint */
    char feed[HMD_STR_MAX];          /* PUB endpoint */
    char control[HMD_STR_MAX];       /* control ROUTER endpoint */
    char metrics[HMD_STR_MAX];       /* HOST:PORT of /metrics, or "off" */
    int queue;                       /* max requests in flight */
    int queue_mib;                   /* max image bytes in flight, MiB */
    int max_image;                   /* image frame limit in bytes (decode limit) */
    int max_header;                  /* header frame limit in bytes */
    int hwm;                         /* ZeroMQ high-water mark, every socket */
    int strike_limit;                /* strikes that block a seller */
    int lf_keypoints;                /* local-feature keypoints per reference added */
    int lf_stop_factor;              /* local-feature stop words (0: none) */
    int record_strikes;              /* 1: counterfeit verdicts add strikes */
    char log_level[16];              /* error|warn|info|debug */
    char thresholds[HMD_STR_MAX];    /* thresholds JSON, "" for built-in */
    char curve_secret_file[HMD_STR_MAX]; /* server secret key (Z85), "" = no CURVE */
    char curve_allow[HMD_STR_MAX];   /* allowed client public keys (Z85 per line) */
    int control_public;              /* 1: allow plaintext control off loopback */
    char user[HMD_STR_MAX];          /* drop privileges to this user after binding */
    int shutdown_timeout;            /* seconds to finish in-flight work on SIGTERM */
    int nosync;                      /* relaxed database durability */
    char console[HMD_STR_MAX];       /* review console HOST:PORT, "metrics" or "off" */
    char console_accounts[HMD_STR_MAX]; /* accounts file: name role pwhash brands... */
    int console_retention;           /* verdicts kept for the console */
    int console_retention_mib;       /* MiB kept for them (images + thumbnails) */
    int console_genuine;             /* 1: keep genuine verdicts too */
    char repl[HMD_STR_MAX];          /* primary: replication ROUTER endpoint, "" = off */
    char repl_pub[HMD_STR_MAX];      /* primary: replication PUB endpoint, "" = off */
    char replica_of[HMD_STR_MAX];    /* replica: the primary's repl endpoint, "" = not a replica */
    char replica_pub[HMD_STR_MAX];   /* replica: the primary's repl-pub ("": port + 1) */
    int repl_lag_max;                /* seconds of lag after which /healthz says 503 */
    int repl_keep;                   /* change-log entries the primary always keeps */
    int repl_keep_hours;             /* and every entry younger than this */
    int replica_wait;                /* seconds a replica waits for its primary at start */
    char nats_url[HMD_STR_MAX];      /* fleet: NATS server URLs, "" = fleet off (hmd_nats.h) */
    char nats_creds[HMD_STR_MAX];    /* fleet: JWT .creds file */
    char nats_user[256];             /* fleet: user name */
    char nats_password_file[HMD_STR_MAX]; /* fleet: file holding the user's password */
    char nats_tls_ca[HMD_STR_MAX];   /* fleet: TLS trust roots (PEM) */
    char nats_tls_cert[HMD_STR_MAX]; /* fleet: client certificate (PEM) */
    char nats_tls_key[HMD_STR_MAX];  /* fleet: client key (PEM) */
    char fleet_role[16];             /* fleet: writer | scorer */
    int fleet_replicas;              /* fleet: stream replicas */
    int fleet_listing_max;           /* fleet: largest listing image, bytes */
    int fleet_wait;                  /* fleet: seconds to retry connecting / creating streams */
} hmd_config_t;

/* Fill c with the built-in defaults. */
void hmd_config_defaults(hmd_config_t *c);

/*
 * hmd_config_load - defaults, then the --config file (if given), then the
 * flags of argv.  On --help (or --dump-config) prints the help (or the
 * effective configuration) and sets *exit_now = 1.
 * @return 0, HM_E_CONFIG (the message, with file and line, in hm_last_error()).
 * argv is not modified.  The flags are remembered in c-independent static
 * storage so hmd_config_reload() can re-apply them over a re-read file.
 */
int hmd_config_load(hmd_config_t *c, int argc, char **argv, int *exit_now);

/*
 * hmd_config_reload - re-read the config file and the remembered flags into
 * a fresh config, then copy its reloadable keys into live; keys that changed
 * but are not reloadable are logged and ignored.
 * @return 0, HM_E_CONFIG (live is unchanged).
 */
int hmd_config_reload(hmd_config_t *live);

/* Parse one config file into c (for tests and reload).  @return 0, HM_E_CONFIG. */
int hmd_config_parse_file(hmd_config_t *c, const char *path);

/* The same from a buffer of len bytes (no NUL needed); name stands for the
 * file in messages.  For the fuzz target fuzz_config.  @return 0, HM_E_CONFIG. */
int hmd_config_parse_buf(hmd_config_t *c, const void *data, size_t len, const char *name);

/* Write the --help text (generated from the table) to f (a FILE *). */
void hmd_config_help(void *f, const char *prog);

/* Write c as a config file (every key, with its help as a comment) to f. */
void hmd_config_dump(void *f, const hmd_config_t *c);

/* Release what hmd_config_load() remembered (flags). */
void hmd_config_cleanup(void);

#endif
