/*
 * hm_cli_util.h - what every hallmark subcommand shares: the exit codes, the
 * JSON Lines writer, error lines, reading an input file, and turning the
 * command line's INPUTs (files, directories, --list FILE, "-") into one
 * ordered list of paths.
 *
 * Thread safety: hm_cli_emit() and hm_cli_emit_error() may be called from any
 * thread (one lock around stdout); the rest is for the main thread.
 */
#ifndef HM_CLI_UTIL_H
#define HM_CLI_UTIL_H

#include <getopt.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define HM_CLI_OK 0      /* every input processed */
#define HM_CLI_FAILED 1  /* some inputs failed (each reported as a line) */
#define HM_CLI_USAGE 2   /* bad command line */

/* The largest input file read (bigger files give too_large without reading). */
#define HM_CLI_MAX_FILE (64u << 20)

/* Write o as one compact line on stdout and flush, then json_decref(o). */
void hm_cli_emit(json_t *o);
/* An error line {"file": file, "error": {"code", "message"}}; file may be
 * NULL.  msg NULL: hm_last_error(). */
void hm_cli_emit_error(const char *file, int rc, const char *msg);
/* {"code": hm_err_name(rc), "message": msg} as a new reference. */
json_t *hm_cli_error_obj(int rc, const char *msg);

/* A usage error: prints "hallmark CMD: msg" and a hint to stderr; returns
 * HM_CLI_USAGE for the caller to return. */
int hm_cli_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * hm_cli_read_file - read a whole regular file (at most HM_CLI_MAX_FILE).
 * @param[out] data  malloc'd; the caller frees.  NULL on failure.
 * @return 0, HM_E_NOTFOUND, HM_E_DENIED, HM_E_INVAL (not a regular file),
 *         HM_E_TOO_LARGE, HM_E_IO, HM_E_NOMEM; the message names the file.
 */
int hm_cli_read_file(const char *path, uint8_t **data, size_t *len);

/* The number of online cores (at least 1). */
int hm_cli_ncores(void);
/* Parse a decimal integer in [lo, hi]; 0 or -1 when s is not one. */
int hm_cli_parse_int(const char *s, long lo, long hi, long *out);
/* Monotonic seconds. */
double hm_cli_now(void);

/* ---- inputs ---- */

typedef struct hm_cli_inputs_opts {
    const char *list;   /* --list FILE, or NULL */
    int follow;         /* --follow: follow symlinks met inside directories */
    const char *root;   /* --root DIR: list and stdin entries must resolve
                           inside it (NULL: no confinement) */
} hm_cli_inputs_opts_t;

/* One input: the path to open, or an error found while expanding (an
 * unreadable directory, an entry outside --root). */
typedef struct hm_cli_input {
    char *path;
    int err;            /* 0 or an HM_E_* code */
    char *msg;          /* when err: the message */
} hm_cli_input_t;

typedef struct hm_cli_inputs {
    hm_cli_input_t *v;
    size_t n, cap;
} hm_cli_inputs_t;

/*
 * hm_cli_inputs_collect - expand args[0..n) and opts->list into paths, in
 * order: each argument in turn (a directory becomes its regular files,
 * recursively, sorted by name; "-" reads a list from stdin), then the list.
 * Problems with single entries become error inputs; only a list file that
 * cannot be opened fails the call.
 * @return 0, HM_E_NOTFOUND / HM_E_IO (the --list file), HM_E_NOMEM.
 */
int hm_cli_inputs_collect(hm_cli_inputs_t *in, char *const *args, int n,
                          const hm_cli_inputs_opts_t *opts);
void hm_cli_inputs_free(hm_cli_inputs_t *in);

/* The file name of path without directory and extension, into buf. */
void hm_cli_stem(const char *path, char *buf, size_t cap);
/* path without its extension (for --id-from path), into buf. */
void hm_cli_strip_ext(const char *path, char *buf, size_t cap);

/* ---- options shared by the commands that read images ---- */

enum { HM_OPT_LIST = 1000, HM_OPT_FOLLOW, HM_OPT_ROOT, HM_OPT_FIRST_CMD = 1100 };
/* getopt_long entries: --jobs/-j N, --list FILE, --follow, --root DIR, --help/-h. */
#define HM_CLI_INPUT_OPTIONS                                                   \
    { "jobs", required_argument, NULL, 'j' },                                  \
    { "list", required_argument, NULL, HM_OPT_LIST },                          \
    { "follow", no_argument, NULL, HM_OPT_FOLLOW },                            \
    { "root", required_argument, NULL, HM_OPT_ROOT },                          \
    { "help", no_argument, NULL, 'h' }

typedef struct hm_cli_common {
    int jobs;                 /* --jobs, default hm_cli_ncores() */
    hm_cli_inputs_opts_t in;  /* --list, --follow, --root */
} hm_cli_common_t;

void hm_cli_common_init(hm_cli_common_t *co);
/* Handle option c if it is one of HM_CLI_INPUT_OPTIONS other than help.
 * @return 1 handled, 0 not one of them, HM_CLI_USAGE on a bad value. */
int hm_cli_common_opt(const char *cmd, int c, const char *arg, hm_cli_common_t *co);
/* Text for --help describing the common options. */
extern const char hm_cli_input_help[];
/* 0 when path lies inside root (both resolved with realpath), else an
 * HM_E_* code (HM_E_DENIED outside) with the message set.  root NULL: 0. */
int hm_cli_check_root(const char *root, const char *path);

#endif
