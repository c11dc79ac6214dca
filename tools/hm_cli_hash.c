/*
 * hm_cli_hash.c - `hallmark hash`: the fingerprint of each image as one JSON
 * line, in input order, computed by --jobs workers.  Also the shared
 * "read, fingerprint, hash the bytes" step every image command uses.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hm_cli.h"
#include "hm_cli_pool.h"
#include "hm_cli_util.h"
#include "hm_error.h"
#include "hm_sha.h"

void hm_cli_item_fingerprint(hm_fp_ctx_t *ctx, hm_cli_item_t *it)
{
    if (it->rc)
        return; /* failed already while the inputs were expanded */
    uint8_t *data = NULL;
    size_t len = 0;
    it->rc = hm_cli_read_file(it->path, &data, &len);
    if (it->rc == 0)
        it->rc = hm_fp_compute(ctx, data, len, &it->fp);
    if (it->rc == 0)
        hm_sha256(data, len, it->sha256);
    else
        snprintf(it->msg, sizeof it->msg, "%s", hm_last_error()); /* thread-local: copy now */
    free(data);
}

void hm_cli_hashset_json(json_t *o, const hm_hashset_t *hs)
{
    char hex[65], h16[17];
    hm_pdq_to_hex(&hs->pdq[HM_DIH_ORIGINAL], hex);
    json_object_set_new(o, "pdq", json_string(hex));
    json_object_set_new(o, "quality", json_integer(hs->quality));
    json_t *dih = json_array();
    for (int d = 0; d < HM_DIH_COUNT; d++) { /* enum hm_dih order = expected-dih.csv */
        hm_pdq_to_hex(&hs->pdq[d], hex);
        json_array_append_new(dih, json_string(hex));
    }
    json_object_set_new(o, "pdq_dihedral", dih);
    hm_u64_to_hex(hs->phash, h16);
    json_object_set_new(o, "phash", json_string(h16));
    hm_u64_to_hex(hs->dhash, h16);
    json_object_set_new(o, "dhash", json_string(h16));
}

static void s_work(hm_fp_ctx_t *ctx, void *item, void *arg)
{
    hm_cli_item_fingerprint(ctx, item);
}

typedef struct {
    size_t failed;
} hash_run_t;

static void s_emit(void *item, void *arg)
{
    hm_cli_item_t *it = item;
    hash_run_t *run = arg;
    if (it->rc) {
        hm_cli_emit_error(it->path, it->rc, it->msg);
        run->failed++;
        free(it);
        return;
    }
    json_t *o = json_object();
    json_t *f = json_string(it->path);
    json_object_set_new(o, "file", f ? f : json_string("(invalid utf-8)"));
    hm_cli_hashset_json(o, &it->fp.full);
    json_object_set_new(o, "width", json_integer(it->fp.width));
    json_object_set_new(o, "height", json_integer(it->fp.height));
    if (it->fp.has_trim) {
        json_t *t = json_object();
        json_object_set_new(t, "x", json_integer(it->fp.trim_box.x));
        json_object_set_new(t, "y", json_integer(it->fp.trim_box.y));
        json_object_set_new(t, "w", json_integer(it->fp.trim_box.w));
        json_object_set_new(t, "h", json_integer(it->fp.trim_box.h));
        hm_cli_hashset_json(t, &it->fp.trim);
        json_object_set_new(o, "trim", t);
    }
    hm_cli_emit(o);
    free(it);
}

static const char s_help[] =
    "usage: hallmark hash [--json] [OPTIONS] INPUT...\n"
    "Fingerprint images.  One JSON line per input, in input order:\n"
    "  {\"file\", \"pdq\" (64 hex), \"quality\", \"pdq_dihedral\" (8 hashes: original,\n"
    "   rot90, rot180, rot270, flipx, flipy, flip+1, flip-1), \"phash\", \"dhash\"\n"
    "   (16 hex), \"width\", \"height\", \"trim\" {x, y, w, h and the same hashes}\n"
    "   when uniform borders were trimmed}\n"
    "  or {\"file\", \"error\": {\"code\", \"message\"}}.\n"
    "      --json       JSON Lines output (the default and only format)\n";

int hm_cli_hash(int argc, char **argv)
{
    static const struct option opts[] = { HM_CLI_INPUT_OPTIONS, { "json", no_argument, NULL, 'J' },
                                          { 0 } };
    hm_cli_common_t co;
    hm_cli_common_init(&co);
    int c, r;
    optind = 1;
    while ((c = getopt_long(argc, argv, "j:h", opts, NULL)) != -1) {
        if ((r = hm_cli_common_opt("hash", c, optarg, &co)) == 1)
            continue;
        if (r == HM_CLI_USAGE)
            return r;
        if (c == 'h') {
            printf("%s%s", s_help, hm_cli_input_help);
            return HM_CLI_OK;
        }
        if (c == 'J')
            continue;
        return hm_cli_usage_error("hash", "unknown option");
    }
    if (optind == argc && !co.in.list)
        return hm_cli_usage_error("hash", "no input given");
    hm_cli_inputs_t in = { 0 };
    hm_cli_pool_t *pool = NULL;
    hash_run_t run = { 0 };
    int rc = hm_cli_inputs_collect(&in, argv + optind, argc - optind, &co.in);
    if (rc) {
        fprintf(stderr, "hallmark hash: %s\n", hm_last_error());
        rc = HM_CLI_USAGE;
        goto leave;
    }
    if ((rc = hm_cli_pool_new(&pool, co.jobs, 4 * co.jobs + 4, s_work, s_emit, &run))) {
        fprintf(stderr, "hallmark hash: %s\n", hm_last_error());
        rc = HM_CLI_FAILED;
        goto leave;
    }
    for (size_t i = 0; i < in.n; i++) {
        if (in.v[i].err) {
            /* An expansion error takes its place in the order, through the pool. */
            hm_cli_item_t *it = calloc(1, sizeof *it);
            if (!it)
                abort();
            it->path = in.v[i].path;
            it->rc = in.v[i].err;
            snprintf(it->msg, sizeof it->msg, "%s", in.v[i].msg);
            hm_cli_pool_push(pool, it);
            continue;
        }
        hm_cli_item_t *it = calloc(1, sizeof *it);
        if (!it)
            abort(); /* control-plane allocation: the OOM policy is to stop */
        it->index = i;
        it->path = in.v[i].path;
        hm_cli_pool_push(pool, it);
    }
    hm_cli_pool_finish(&pool);
    rc = run.failed ? HM_CLI_FAILED : HM_CLI_OK;
leave:
    hm_cli_inputs_free(&in);
    return rc;
}
