/*
 * hm_cli.h - the hallmark CLI's subcommands (tools/hallmark.c dispatches).
 * Each takes the arguments after the subcommand name (argv[0] is the
 * subcommand) and returns the process exit status: HM_CLI_OK (0),
 * HM_CLI_FAILED (1: some inputs failed, each reported as a line) or
 * HM_CLI_USAGE (2).  docs/CLI.md is the user's manual.
 */
#ifndef HM_CLI_H
#define HM_CLI_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "hm_fp.h"

int hm_cli_hash(int argc, char **argv);      /* hm_cli_hash.c */
int hm_cli_add(int argc, char **argv);       /* hm_cli_add.c */
int hm_cli_backfill(int argc, char **argv);  /* hm_cli_add.c */
int hm_cli_score(int argc, char **argv);     /* hm_cli_score.c */
int hm_cli_send(int argc, char **argv);      /* hm_cli_send.c */
int hm_cli_stats(int argc, char **argv);     /* hm_cli_admin.c */
int hm_cli_remove(int argc, char **argv);    /* hm_cli_admin.c */
int hm_cli_authorize(int argc, char **argv); /* hm_cli_admin.c */
int hm_cli_verify(int argc, char **argv);    /* hm_cli_admin.c */
int hm_cli_digest(int argc, char **argv);    /* hm_cli_admin.c */
int hm_cli_keygen(int argc, char **argv);    /* hm_cli_admin.c */
int hm_cli_export(int argc, char **argv);    /* hm_cli_bankio.c */
int hm_cli_import(int argc, char **argv);    /* hm_cli_bankio.c */

/*
 * hm_cli_import_parse - read an import file in format ("te-csv" or "jsonl")
 * exactly as `hallmark import` does, without a database: every record is
 * parsed and validated, errors are reported as lines on stdout as usual.
 * Defaults: --bank counterfeit --brand Acme.  For the fuzz target fuzz_import.
 * @param[out] n_ok, n_failed  records accepted and refused.
 * @return 0, HM_E_INVAL (unknown format), HM_E_NOMEM.
 */
int hm_cli_import_parse(const char *format, FILE *f, size_t *n_ok, size_t *n_failed);

/* One input on its way through the worker pool. */
typedef struct hm_cli_item {
    size_t index;           /* position in the input order */
    const char *path;       /* borrowed from the input list */
    int rc;                 /* 0 or the failure (read or fingerprint) */
    char msg[512];          /* the failure's message */
    hm_fp_t fp;             /* when rc == 0 */
    uint8_t sha256[32];     /* of the file's bytes, when rc == 0 */
    void *thumb;            /* add: a small JPEG for the review console, or NULL (malloc) */
    size_t thumb_len;
    uint8_t *lf;            /* add: serialised local features, or NULL (malloc) */
    size_t lf_len;
} hm_cli_item_t;

/* Read it->path, fingerprint it with ctx and hash its bytes; sets rc/msg. */
void hm_cli_item_fingerprint(hm_fp_ctx_t *ctx, hm_cli_item_t *it);

/* The hashes of one view as JSON fields of o: pdq, quality, pdq_dihedral,
 * phash, dhash (hm_cli_hash.c; also used by export). */
void hm_cli_hashset_json(json_t *o, const hm_hashset_t *hs);

#endif
