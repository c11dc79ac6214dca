/*
 * fuzz_import.c - libFuzzer target: `hallmark import` record parsing (te-csv
 * through the RFC 4180 reader, and jsonl), from arbitrary bytes, through
 * hm_cli_import_parse (no database).
 *
 * Input layout: byte 0 bit 0 selects the format (0 te-csv, 1 jsonl); the
 * rest is the file.  The per-record report lines go to /dev/null.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "hm_cli.h"
#include "hm_error.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    if (!freopen("/dev/null", "w", stdout))
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    FILE *f = fmemopen((void *)(data + 1), size - 1, "r");
    if (!f)
        abort();
    size_t ok = 0, failed = 0;
    int rc = hm_cli_import_parse(data[0] & 1 ? "jsonl" : "te-csv", f, &ok, &failed);
    fclose(f);
    if (rc != 0)
        abort();
    /* At most one record per input byte. */
    if (ok + failed > size)
        abort();
    return 0;
}
