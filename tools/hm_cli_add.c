/*
 * hm_cli_add.c - `hallmark add` and `hallmark backfill`: fingerprint images
 * on --jobs workers and store them as references, in batches committed with
 * hm_engine_add_many (one transaction, one fsync per batch).
 *
 * Resumability: every committed batch is durable, and an image whose bytes
 * are already stored comes back as HM_E_EXISTS, which is reported as
 * "status":"exists" and is NOT a failure.  So re-running the same command
 * after an interruption (even SIGKILL) adds exactly what is missing and
 * exits 0.  An external id already used by *different* bytes is a failure
 * (the bank would silently lose an image otherwise).
 *
 * add and backfill differ only in defaults: add commits each image on its
 * own and shows no progress; backfill commits --batch images (256) at a time
 * and shows progress on stderr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hm_cli.h"
#include "hm_cli_pool.h"
#include "hm_cli_progress.h"
#include "hm_cli_util.h"
#include "hm_engine.h"
#include "hm_lf_ref.h"
#include "hm_error.h"
#include "hm_sha.h"
#include "hm_thumb.h"

enum { OPT_DB = HM_OPT_FIRST_CMD, OPT_BANK, OPT_BRAND, OPT_HOLDER, OPT_SOURCE, OPT_ID, OPT_ID_FROM,
       OPT_BATCH, OPT_PROGRESS, OPT_PROGRESS_INTERVAL, OPT_NOSYNC, OPT_LF_KP };

typedef struct add_run {
    hm_engine_t *e;
    int bank;
    const char *brand, *holder, *source, *id;
    int id_from_path;
    size_t batch;
    hm_cli_item_t **pending;  /* fingerprinted, waiting for the batch commit */
    size_t n_pending;
    size_t done, failed, added, existing;
    hm_cli_progress_t prog;
} add_run_t;

/* Fingerprint, then keep a thumbnail for the review console (best effort:
 * the store keeps fingerprints, not images, so this is the only chance). */
static void s_work(hm_fp_ctx_t *ctx, void *item, void *arg)
{
    hm_cli_item_t *it = item;
    hm_cli_item_fingerprint(ctx, it);
    uint8_t *data = NULL;
    size_t len = 0;
    if (it->rc == 0 && hm_cli_read_file(it->path, &data, &len) == 0) {
        hm_thumb_jpeg(data, len, HM_THUMB_PX, &it->thumb, &it->thumb_len);
        /* Local features too, on this worker (the engine only stores them). */
        if (hm_engine_ref_features(data, len, &it->lf, &it->lf_len) != 0) {
            it->lf = NULL;
            it->lf_len = 0;
        }
    }
    free(data);
}

static void s_ext_id(const add_run_t *run, const hm_cli_item_t *it, char *buf, size_t cap)
{
    if (run->id)
        snprintf(buf, cap, "%s", run->id);
    else if (run->id_from_path)
        hm_cli_strip_ext(it->path, buf, cap);
    else
        hm_cli_stem(it->path, buf, cap);
}

static void s_line(const char *file, const char *ext_id, const char *status, uint64_t ref,
                   const char *existing)
{
    json_t *o = json_object();
    json_t *f = json_string(file);
    json_object_set_new(o, "file", f ? f : json_string("(invalid utf-8)"));
    json_t *id = json_string(ext_id);
    json_object_set_new(o, "id", id ? id : json_null());
    json_object_set_new(o, "status", json_string(status));
    json_object_set_new(o, "ref", json_integer((json_int_t)ref));
    if (existing) {
        json_t *x = json_string(existing);
        json_object_set_new(o, "existing_id", x ? x : json_null());
    }
    hm_cli_emit(o);
}

/* Commit the pending items in one hm_engine_add_many and report each. */
static void s_flush(add_run_t *run)
{
    size_t n = run->n_pending;
    if (!n)
        return;
    hm_engine_item_t *items = calloc(n, sizeof *items);
    char (*ids)[HM_ID_MAX * 2] = calloc(n, sizeof *ids);
    if (!items || !ids)
        abort(); /* small control-plane allocation: the OOM policy is to stop */
    for (size_t i = 0; i < n; i++) {
        hm_cli_item_t *it = run->pending[i];
        s_ext_id(run, it, ids[i], sizeof ids[i]);
        items[i].meta = (hm_ref_meta_t){ .ext_id = ids[i], .bank = run->bank, .brand = run->brand,
                                         .holder = run->holder, .source = run->source };
        items[i].fp = &it->fp;
        items[i].lf_blob = it->lf;
        items[i].lf_len = it->lf_len;
        memcpy(items[i].sha256, it->sha256, 32);
    }
    int rc = hm_engine_add_many(run->e, items, n);
    const char *batch_msg = rc ? hm_last_error() : NULL;
    char bm[512];
    if (batch_msg)
        snprintf(bm, sizeof bm, "batch not stored: %s", batch_msg);
    hm_store_t *st = hm_engine_store(run->e);
    if (rc == 0) {
        /* The thumbnails of the added references, in one more transaction. */
        const char **tid = calloc(n, sizeof *tid);
        const void **tj = calloc(n, sizeof *tj);
        size_t *tl = calloc(n, sizeof *tl), nt = 0;
        if (!tid || !tj || !tl)
            abort();
        for (size_t i = 0; i < n; i++)
            if (items[i].rc == 0 && run->pending[i]->thumb) {
                tid[nt] = ids[i];
                tj[nt] = run->pending[i]->thumb;
                tl[nt++] = run->pending[i]->thumb_len;
            }
        if (nt && hm_engine_put_thumbs(run->e, nt, tid, tj, tl) != 0)
            fprintf(stderr, "hallmark: reference thumbnails not stored: %s\n", hm_last_error());
        free(tid);
        free(tj);
        free(tl);
    }
    for (size_t i = 0; i < n; i++) {
        hm_cli_item_t *it = run->pending[i];
        if (rc && items[i].rc == 0) {
            /* The batch failed as a whole (or was committed but not indexed:
             * then a re-run reports these as "exists"). */
            hm_cli_emit_error(it->path, rc, bm);
            run->failed++;
        } else if (items[i].rc == 0) {
            s_line(it->path, ids[i], "added", items[i].id, NULL);
            run->added++;
        } else if (items[i].rc == HM_E_EXISTS) {
            hm_ref_t ref;
            if (hm_store_get_by_sha(st, it->sha256, &ref) == 0) {
                s_line(it->path, ids[i], "exists", ref.id, ref.ext_id);
                hm_ref_clear(&ref);
                run->existing++;
            } else {
                char m[512];
                snprintf(m, sizeof m, "external id \"%s\" is already used by a different image",
                         ids[i]);
                hm_cli_emit_error(it->path, HM_E_EXISTS, m);
                run->failed++;
            }
        } else {
            hm_cli_emit_error(it->path, items[i].rc, NULL);
            run->failed++;
        }
        free(it->thumb);
        free(it->lf);
        free(it);
    }
    run->n_pending = 0;
    free(items);
    free(ids);
}

static void s_emit(void *item, void *arg)
{
    hm_cli_item_t *it = item;
    add_run_t *run = arg;
    run->done++;
    if (it->rc) {
        hm_cli_emit_error(it->path, it->rc, it->msg);
        run->failed++;
        free(it);
    } else {
        run->pending[run->n_pending++] = it;
        if (run->n_pending == run->batch)
            s_flush(run);
    }
    hm_cli_progress_update(&run->prog, run->done, run->failed);
}

static const char s_help_add[] =
    "usage: hallmark add --db DIR --bank counterfeit|genuine --brand BRAND\n"
    "                    [--holder H] [--source TEXT] [--id ID] [OPTIONS] INPUT...\n"
    "Add reference images.  One JSON line per input:\n"
    "  {\"file\",\"id\",\"status\":\"added\",\"ref\"}      stored now;\n"
    "  {\"file\",\"id\",\"status\":\"exists\",\"ref\",\"existing_id\"}  the same bytes are\n"
    "      already stored (skipped; not a failure, so a re-run after an\n"
    "      interruption adds only what is missing and exits 0);\n"
    "  {\"file\",\"error\":{\"code\",\"message\"}}  failed (exit status 1), e.g. an\n"
    "      unreadable image, or an id already used by a different image.\n";
static const char s_help_backfill[] =
    "usage: hallmark backfill --db DIR --bank counterfeit|genuine --brand BRAND\n"
    "                    [--holder H] [--source TEXT] [OPTIONS] INPUT...\n"
    "Add a large bank: parallel fingerprinting, commits of --batch images at a\n"
    "time, progress on stderr (a bar on a terminal, a line every 2 s otherwise).\n"
    "Output lines and resumability as for `hallmark add`.\n";
static const char s_help_opts[] =
    "      --db DIR          the database directory (created when missing)\n"
    "      --bank B          counterfeit or genuine\n"
    "      --brand BRAND     the brand the references show\n"
    "      --holder H        rights holder (optional)\n"
    "      --source TEXT     provenance text (optional)\n"
    "      --id ID           external id (only with a single input)\n"
    "      --id-from name|path  default external id: the file name without its\n"
    "                        extension (name, the default) or the path as given\n"
    "                        without its extension (path; for trees that repeat names)\n"
    "      --batch N         images per commit (add: 1, backfill: 256)\n"
    "      --progress MODE   auto (default for backfill), bar, lines or none\n"
    "      --progress-interval SEC  seconds between progress lines (bar 0.1, lines 2)\n"
    "      --nosync          skip the meta-page fsync per commit (a system crash\n"
    "                        may lose the last batch, never consistency)\n"
    "      --lf-keypoints N  local-feature keypoints kept per reference (32..1024,\n"
    "                        default 384; fewer: smaller, faster banks, lower recall\n"
    "                        on crops and rotations)\n";

static int s_run(int argc, char **argv, int backfill)
{
    const char *cmd = backfill ? "backfill" : "add";
    static const struct option opts[] = {
        HM_CLI_INPUT_OPTIONS,
        { "db", required_argument, NULL, OPT_DB },
        { "bank", required_argument, NULL, OPT_BANK },
        { "brand", required_argument, NULL, OPT_BRAND },
        { "holder", required_argument, NULL, OPT_HOLDER },
        { "source", required_argument, NULL, OPT_SOURCE },
        { "id", required_argument, NULL, OPT_ID },
        { "id-from", required_argument, NULL, OPT_ID_FROM },
        { "batch", required_argument, NULL, OPT_BATCH },
        { "progress", required_argument, NULL, OPT_PROGRESS },
        { "progress-interval", required_argument, NULL, OPT_PROGRESS_INTERVAL },
        { "nosync", no_argument, NULL, OPT_NOSYNC },
        { "lf-keypoints", required_argument, NULL, OPT_LF_KP },
        { 0 }
    };
    hm_cli_common_t co;
    hm_cli_common_init(&co);
    add_run_t run = { .bank = 0, .batch = backfill ? 256 : 1 };
    const char *db = NULL, *bank = NULL;
    int progress = backfill ? HM_PROGRESS_AUTO : HM_PROGRESS_NONE;
    double interval = 0;
    hm_engine_opts_t eo = { 0 };
    int c, r;
    long v;
    optind = 1;
    while ((c = getopt_long(argc, argv, "j:h", opts, NULL)) != -1) {
        if ((r = hm_cli_common_opt(cmd, c, optarg, &co)) == 1)
            continue;
        if (r == HM_CLI_USAGE)
            return r;
        switch (c) {
        case 'h':
            printf("%s%s%s", backfill ? s_help_backfill : s_help_add, s_help_opts, hm_cli_input_help);
            return HM_CLI_OK;
        case OPT_DB: db = optarg; break;
        case OPT_BANK: bank = optarg; break;
        case OPT_BRAND: run.brand = optarg; break;
        case OPT_HOLDER: run.holder = optarg; break;
        case OPT_SOURCE: run.source = optarg; break;
        case OPT_ID: run.id = optarg; break;
        case OPT_ID_FROM:
            if (strcmp(optarg, "name") && strcmp(optarg, "path"))
                return hm_cli_usage_error(cmd, "--id-from wants name or path");
            run.id_from_path = strcmp(optarg, "path") == 0;
            break;
        case OPT_BATCH:
            if (hm_cli_parse_int(optarg, 1, 100000, &v))
                return hm_cli_usage_error(cmd, "--batch wants a number from 1 to 100000");
            run.batch = (size_t)v;
            break;
        case OPT_PROGRESS:
            if ((progress = hm_cli_progress_parse(optarg)) < 0)
                return hm_cli_usage_error(cmd, "--progress wants auto, bar, lines or none");
            break;
        case OPT_PROGRESS_INTERVAL: {
            char *end;
            interval = strtod(optarg, &end);
            if (*end || interval <= 0 || interval > 3600)
                return hm_cli_usage_error(cmd, "--progress-interval wants seconds (0 < s <= 3600)");
            break;
        }
        case OPT_NOSYNC: eo.nosync = 1; break;
        case OPT_LF_KP:
            if (hm_cli_parse_int(optarg, 32, 1024, &v) || hm_lf_ref_set_keypoints((int)v))
                return hm_cli_usage_error(cmd, "--lf-keypoints wants a number from 32 to 1024");
            break;
        default: return hm_cli_usage_error(cmd, "unknown option");
        }
    }
    if (!db)
        return hm_cli_usage_error(cmd, "--db DIR is required");
    if (!bank || (run.bank = hm_bank_parse(bank)) < 0)
        return hm_cli_usage_error(cmd, "--bank counterfeit|genuine is required");
    if (!run.brand || !*run.brand)
        return hm_cli_usage_error(cmd, "--brand BRAND is required");
    if (optind == argc && !co.in.list)
        return hm_cli_usage_error(cmd, "no input given");

    hm_cli_inputs_t in = { 0 };
    hm_cli_pool_t *pool = NULL;
    int rc = hm_cli_inputs_collect(&in, argv + optind, argc - optind, &co.in);
    if (rc) {
        fprintf(stderr, "hallmark %s: %s\n", cmd, hm_last_error());
        rc = HM_CLI_USAGE;
        goto leave;
    }
    if (run.id && in.n != 1) {
        rc = hm_cli_usage_error(cmd, "--id names one reference, but %zu inputs were given", in.n);
        goto leave;
    }
    if ((rc = hm_engine_open(&run.e, db, &eo))) {
        fprintf(stderr, "hallmark %s: cannot open %s: %s\n", cmd, db, hm_last_error());
        rc = HM_CLI_FAILED;
        goto leave;
    }
    run.pending = calloc(run.batch, sizeof *run.pending);
    if (!run.pending)
        abort();
    hm_cli_progress_init(&run.prog, progress, in.n, interval);
    /* The window holds a batch being committed plus work for every worker. */
    if ((rc = hm_cli_pool_new(&pool, co.jobs, 8 * co.jobs + 8, s_work, s_emit, &run))) {
        fprintf(stderr, "hallmark %s: %s\n", cmd, hm_last_error());
        rc = HM_CLI_FAILED;
        goto leave;
    }
    for (size_t i = 0; i < in.n; i++) {
        hm_cli_item_t *it = calloc(1, sizeof *it);
        if (!it)
            abort();
        it->index = i;
        it->path = in.v[i].path;
        if (in.v[i].err) {
            it->rc = in.v[i].err;
            snprintf(it->msg, sizeof it->msg, "%s", in.v[i].msg);
        }
        hm_cli_pool_push(pool, it);
    }
    hm_cli_pool_finish(&pool);
    s_flush(&run);
    hm_cli_progress_end(&run.prog, run.done, run.failed);
    rc = run.failed ? HM_CLI_FAILED : HM_CLI_OK;
leave:
    free(run.pending);
    hm_engine_close(&run.e);
    hm_cli_inputs_free(&in);
    return rc;
}

int hm_cli_add(int argc, char **argv)
{
    return s_run(argc, argv, 0);
}

int hm_cli_backfill(int argc, char **argv)
{
    return s_run(argc, argv, 1);
}
