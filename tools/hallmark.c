/*
 * hallmark.c - the hallmark command: one binary, one subcommand per job.
 * This file only dispatches; each subcommand lives in tools/hm_cli_*.c and
 * docs/CLI.md documents them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hm_cli.h"
#include "hm_cli_util.h"
#include "hm_log.h"

static const struct {
    const char *name;
    int (*run)(int, char **);
    const char *what;
} s_cmds[] = {
    { "hash", hm_cli_hash, "fingerprint images (JSON Lines)" },
    { "add", hm_cli_add, "add reference images to a bank" },
    { "backfill", hm_cli_backfill, "add a large bank: parallel, batched, with progress" },
    { "score", hm_cli_score, "score listing images (verdicts as JSON Lines)" },
    { "send", hm_cli_send, "send images to a running hallmarkd" },
    { "stats", hm_cli_stats, "database statistics (JSON)" },
    { "remove", hm_cli_remove, "remove references by external id" },
    { "authorize", hm_cli_authorize, "authorise (or --revoke) a seller for a brand" },
    { "verify", hm_cli_verify, "check that the store and the search indexes agree" },
    { "digest", hm_cli_digest, "content digest of the banks (compare replicas)" },
    { "keygen", hm_cli_keygen, "make a CURVE key pair for the control socket" },
    { "export", hm_cli_export, "export a bank (te-csv or jsonl)" },
    { "import", hm_cli_import, "import a bank (te-csv or jsonl)" },
};

static void s_usage(FILE *f)
{
    fprintf(f, "usage: hallmark COMMAND [OPTIONS] [INPUT...]\n\ncommands:\n");
    /* The engine's info lines (index built, snapshot loaded) are for the
     * daemon's logs; a command's stderr keeps warnings only unless HM_LOG
     * asks for more. */
    if (!getenv("HM_LOG"))
        hm_log_set_level(HM_LOG_WARN);
    for (size_t i = 0; i < sizeof s_cmds / sizeof s_cmds[0]; i++)
        fprintf(f, "  %-10s %s\n", s_cmds[i].name, s_cmds[i].what);
    fprintf(f, "\n'hallmark COMMAND --help' describes a command.  Exit status: 0 all good,\n"
               "1 some inputs failed (each reported as a JSON line), 2 usage error.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        s_usage(stderr);
        return HM_CLI_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        s_usage(stdout);
        return HM_CLI_OK;
    }
    /* The engine's info lines (index built, snapshot loaded) are for the
     * daemon's logs; a command's stderr keeps warnings only unless HM_LOG
     * asks for more. */
    if (!getenv("HM_LOG"))
        hm_log_set_level(HM_LOG_WARN);
    for (size_t i = 0; i < sizeof s_cmds / sizeof s_cmds[0]; i++)
        if (strcmp(argv[1], s_cmds[i].name) == 0)
            return s_cmds[i].run(argc - 1, argv + 1);
    fprintf(stderr, "hallmark: unknown command '%s'\n\n", argv[1]);
    s_usage(stderr);
    return HM_CLI_USAGE;
}
