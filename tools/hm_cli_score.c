/*
 * hm_cli_score.c - `hallmark score`: verdicts for listing images, one JSON
 * line each (hm_verdict_to_json, the daemon's schema, plus "file" or "id").
 *
 * The engine is opened read-only, so scoring runs next to a live hallmarkd
 * on the same database (no write lock; strikes are not recorded).
 *
 * --stdin-jsonl turns the command into a streaming filter for batch engines
 * (a Hadoop Streaming mapper, a Spark RDD.pipe stage): each input line is
 * {"id":..., "path":"..."} or {"id":..., "image_b64":"..."} (optional
 * "seller", "brand" override the flags), each output line is that line's
 * verdict with the same "id", written and flushed as soon as it and every
 * line before it are done.  A malformed line gives an error verdict (with
 * its "id" when one could be read) and the stream goes on.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hm_cli.h"
#include "hm_cli_pool.h"
#include "hm_cli_util.h"
#include "hm_engine.h"
#include "hm_error.h"
#include "hm_verdict.h"

enum { OPT_DB = HM_OPT_FIRST_CMD, OPT_SELLER, OPT_BRAND, OPT_TOP, OPT_STDIN_JSONL, OPT_LF_STOP };

typedef struct score_run {
    hm_engine_t *e;
    const char *seller, *brand, *root;
    int top_k;
    size_t failed;
} score_run_t;

typedef struct score_item {
    const char *path;       /* file mode: borrowed; stream mode: NULL */
    json_t *id;             /* stream mode: the line's "id" (a reference) */
    char *own_path;         /* stream mode: "path" */
    uint8_t *data;          /* stream mode: decoded "image_b64" */
    size_t len;
    char seller[HM_ID_MAX], brand[HM_NAME_MAX];
    int has_seller, has_brand;
    int rc;                 /* a failure before scoring (bad line, unreadable) */
    char msg[512];
    hm_verdict_t v;
} score_item_t;

static void s_work(hm_fp_ctx_t *ctx, void *item, void *arg)
{
    score_item_t *it = item;
    score_run_t *run = arg;
    const char *path = it->path ? it->path : it->own_path;
    if (!it->rc && !it->data && path) {
        if ((it->rc = hm_cli_check_root(it->own_path ? run->root : NULL, path)) == 0)
            it->rc = hm_cli_read_file(path, &it->data, &it->len);
        if (it->rc)
            snprintf(it->msg, sizeof it->msg, "%s", hm_last_error());
    }
    if (it->rc) {
        hm_verdict_error(&it->v, it->rc, it->msg);
        return;
    }
    hm_query_t q = { .seller = it->has_seller ? it->seller : run->seller,
                     .brand = it->has_brand ? it->brand : run->brand,
                     .top_k = run->top_k, .record_strikes = 0 };
    int rc = hm_engine_score(run->e, ctx, it->data, it->len, &q, &it->v);
    if (rc)
        hm_verdict_error(&it->v, rc, hm_last_error());
    free(it->data);
    it->data = NULL;
}

static void s_emit(void *item, void *arg)
{
    score_item_t *it = item;
    score_run_t *run = arg;
    const char *seller = it->has_seller ? it->seller : run->seller;
    json_t *o = hm_verdict_to_json(&it->v, NULL, NULL, NULL, seller);
    if (!o)
        abort();
    if (it->path) {
        json_t *f = json_string(it->path);
        json_object_set_new(o, "file", f ? f : json_string("(invalid utf-8)"));
    } else {
        json_object_set(o, "id", it->id ? it->id : json_null());
        if (it->own_path) {
            json_t *f = json_string(it->own_path);
            json_object_set_new(o, "file", f ? f : json_string("(invalid utf-8)"));
        }
    }
    if (it->v.decision == HM_DEC_ERROR)
        run->failed++;
    hm_cli_emit(o);
    json_decref(it->id);
    free(it->own_path);
    free(it->data);
    free(it);
}

/* Parse one --stdin-jsonl line into it (it->rc set when it is malformed). */
static void s_parse_line(const char *line, size_t len, score_item_t *it)
{
    json_error_t jerr;
    json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!o || !json_is_object(o)) {
        it->rc = hm__seterr(HM_E_PROTO, "line is not a JSON object%s%s", o ? "" : ": ",
                            o ? "" : jerr.text);
        goto leave;
    }
    json_t *id = json_object_get(o, "id");
    if (id)
        it->id = json_incref(id);
    if (!id || !(json_is_string(id) || json_is_integer(id))) {
        it->rc = hm__seterr(HM_E_INVAL, "\"id\" (a string or an integer) is required");
        goto leave;
    }
    const char *f;
    if ((f = json_string_value(json_object_get(o, "seller")))) {
        it->has_seller = snprintf(it->seller, sizeof it->seller, "%s", f) < (int)sizeof it->seller;
        if (!it->has_seller) {
            it->rc = hm__seterr(HM_E_INVAL, "\"seller\" is too long");
            goto leave;
        }
    }
    if ((f = json_string_value(json_object_get(o, "brand")))) {
        it->has_brand = snprintf(it->brand, sizeof it->brand, "%s", f) < (int)sizeof it->brand;
        if (!it->has_brand) {
            it->rc = hm__seterr(HM_E_INVAL, "\"brand\" is too long");
            goto leave;
        }
    }
    json_t *p = json_object_get(o, "path"), *b = json_object_get(o, "image_b64");
    if ((p != NULL) == (b != NULL)) {
        it->rc = hm__seterr(HM_E_INVAL, "exactly one of \"path\" and \"image_b64\" is required");
        goto leave;
    }
    if (p) {
        if (!json_is_string(p) || !*json_string_value(p)) {
            it->rc = hm__seterr(HM_E_INVAL, "\"path\" must be a non-empty string");
            goto leave;
        }
        if (!(it->own_path = strdup(json_string_value(p))))
            abort();
        goto leave;
    }
    if (!json_is_string(b)) {
        it->rc = hm__seterr(HM_E_INVAL, "\"image_b64\" must be a string");
        goto leave;
    }
    const char *b64 = json_string_value(b);
    size_t b64_len = json_string_length(b), cap = b64_len / 4 * 3 + 3, out_len = 0;
    if (cap > HM_CLI_MAX_FILE + 3) {
        it->rc = hm__seterr(HM_E_TOO_LARGE, "image larger than %u bytes", HM_CLI_MAX_FILE);
        goto leave;
    }
    if (!(it->data = malloc(cap ? cap : 1))) {
        it->rc = hm__seterr(HM_E_NOMEM, "image of %zu bytes", cap);
        goto leave;
    }
    const char *end = NULL;
    /* libsodium's decoder: the standard alphabet with padding; whitespace
     * (line-wrapped base64) is skipped, anything else left over is an error. */
    if (sodium_base642bin(it->data, cap, b64, b64_len, " \r\n\t", &out_len, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 || end != b64 + b64_len) {
        it->rc = hm__seterr(HM_E_INVAL, "\"image_b64\" is not valid base64");
        goto leave;
    }
    it->len = out_len;
leave:
    if (it->rc)
        snprintf(it->msg, sizeof it->msg, "%s", hm_last_error());
    json_decref(o);
}

static int s_stream(hm_cli_pool_t *pool)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, stdin)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = 0;
        if (len == 0)
            continue; /* blank lines carry nothing to answer */
        score_item_t *it = calloc(1, sizeof *it);
        if (!it)
            abort();
        s_parse_line(line, (size_t)len, it);
        hm_cli_pool_push(pool, it);
    }
    free(line);
    return 0;
}

static const char s_help[] =
    "usage: hallmark score --db DIR [--seller ID] [--brand BRAND] [--top K] [OPTIONS] INPUT...\n"
    "       hallmark score --db DIR [--seller ID] [--brand BRAND] [--top K] --stdin-jsonl\n"
    "Score listing images against the banks.  One verdict per line (the daemon's\n"
    "verdict JSON, docs/PROTOCOL.md) plus \"file\"; an image that cannot be scored\n"
    "gives a verdict with decision \"error\" and makes the exit status 1.\n"
    "The database is opened read-only (safe next to a running hallmarkd).\n"
    "      --db DIR        the database\n"
    "      --seller ID     the listing's seller (decides genuine versus suspect)\n"
    "      --brand BRAND   the brand the listing claims\n"
    "      --top K         always list the K nearest references (1..32), also\n"
    "                      below the thresholds (for precision/recall curves)\n"
    "      --stdin-jsonl   read {\"id\",\"path\"} or {\"id\",\"image_b64\"} lines on stdin\n"
    "                      (optional \"seller\", \"brand\"); write one verdict line\n"
    "                      with the same \"id\" per input line, flushed as it goes\n"
    "      --lf-stop-factor N  local-feature search skips lists longer than N x the\n"
    "                      mean (1..64, default 8; 0: none; 4: ~12% faster at 100k\n"
    "                      references for ~0.4 point less recall)\n";

int hm_cli_score(int argc, char **argv)
{
    static const struct option opts[] = {
        HM_CLI_INPUT_OPTIONS,
        { "db", required_argument, NULL, OPT_DB },
        { "seller", required_argument, NULL, OPT_SELLER },
        { "brand", required_argument, NULL, OPT_BRAND },
        { "top", required_argument, NULL, OPT_TOP },
        { "stdin-jsonl", no_argument, NULL, OPT_STDIN_JSONL },
        { "lf-stop-factor", required_argument, NULL, OPT_LF_STOP },
        { 0 }
    };
    hm_cli_common_t co;
    hm_cli_common_init(&co);
    score_run_t run = { 0 };
    const char *db = NULL;
    int stream = 0, c, r, lf_stop = 0;
    long v;
    optind = 1;
    while ((c = getopt_long(argc, argv, "j:h", opts, NULL)) != -1) {
        if ((r = hm_cli_common_opt("score", c, optarg, &co)) == 1)
            continue;
        if (r == HM_CLI_USAGE)
            return r;
        switch (c) {
        case 'h': printf("%s%s", s_help, hm_cli_input_help); return HM_CLI_OK;
        case OPT_DB: db = optarg; break;
        case OPT_SELLER: run.seller = optarg; break;
        case OPT_BRAND: run.brand = optarg; break;
        case OPT_TOP:
            if (hm_cli_parse_int(optarg, 1, HM_VERDICT_MAX_MATCHES, &v))
                return hm_cli_usage_error("score", "--top wants a number from 1 to %d",
                                          HM_VERDICT_MAX_MATCHES);
            run.top_k = (int)v;
            break;
        case OPT_STDIN_JSONL: stream = 1; break;
        case OPT_LF_STOP:
            if (hm_cli_parse_int(optarg, 0, 64, &v))
                return hm_cli_usage_error("score", "--lf-stop-factor wants a number from 0 to 64");
            lf_stop = v ? (int)v : -1;
            break;
        default: return hm_cli_usage_error("score", "unknown option");
        }
    }
    if (!db)
        return hm_cli_usage_error("score", "--db DIR is required");
    if (stream && (optind < argc || co.in.list))
        return hm_cli_usage_error("score", "--stdin-jsonl reads stdin only; no INPUT or --list");
    if (!stream && optind == argc && !co.in.list)
        return hm_cli_usage_error("score", "no input given");
    run.root = co.in.root;

    hm_cli_inputs_t in = { 0 };
    hm_cli_pool_t *pool = NULL;
    hm_engine_opts_t eo = { .readonly = 1, .lf_stop_factor = lf_stop };
    int rc = 0;
    if (!stream && (rc = hm_cli_inputs_collect(&in, argv + optind, argc - optind, &co.in))) {
        fprintf(stderr, "hallmark score: %s\n", hm_last_error());
        rc = HM_CLI_USAGE;
        goto leave;
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "hallmark score: libsodium failed to initialise\n");
        rc = HM_CLI_FAILED;
        goto leave;
    }
    if ((rc = hm_engine_open(&run.e, db, &eo))) {
        fprintf(stderr, "hallmark score: cannot open %s: %s\n", db, hm_last_error());
        rc = HM_CLI_FAILED;
        goto leave;
    }
    if ((rc = hm_cli_pool_new(&pool, co.jobs, 4 * co.jobs + 4, s_work, s_emit, &run))) {
        fprintf(stderr, "hallmark score: %s\n", hm_last_error());
        rc = HM_CLI_FAILED;
        goto leave;
    }
    if (stream) {
        s_stream(pool);
    } else {
        for (size_t i = 0; i < in.n; i++) {
            score_item_t *it = calloc(1, sizeof *it);
            if (!it)
                abort();
            it->path = in.v[i].path;
            if (in.v[i].err) {
                it->rc = in.v[i].err;
                snprintf(it->msg, sizeof it->msg, "%s", in.v[i].msg);
            }
            hm_cli_pool_push(pool, it);
        }
    }
    hm_cli_pool_finish(&pool);
    rc = run.failed ? HM_CLI_FAILED : HM_CLI_OK;
leave:
    hm_engine_close(&run.e);
    hm_cli_inputs_free(&in);
    return rc;
}
