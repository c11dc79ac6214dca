/*
 * hm_cli_bankio.c - `hallmark export` and `hallmark import`: banks in and
 * out of hallmark, in two formats (docs/CLI.md has the full description).
 *
 * te-csv - the PDQ hash-list CSV of Meta's ThreatExchange / HMA sample data
 *   (hasher-matcher-actioner/sample_data, e.g. holidays-jpg1-pdq-hashes.csv): no header, one
 *   hash per record, columns
 *     1 pdq hash (64 hex digits)   2 id   3 time (ISO 8601, +0000)
 *     4 tags (space-separated)
 *   hallmark adds two trailing columns, which HMA readers ignore:
 *     5 quality (0..100)           6 brand
 *   and writes the tags "media_type_photo hallmark_bank_<bank>".  Reading
 *   needs column 1 only (so a bare list of hashes imports); a first record
 *   whose first field is not a hash is taken as a header and skipped.  Bank
 *   and brand come from the tag / column 6 when present, else --bank/--brand.
 *   Such references carry PDQ only (their other signals cannot be known).
 * jsonl - full records, one per line: {"id","bank","brand","holder",
 *   "source","added","sha256" (hex, "" for hash-only),"pdq_only","pdq",
 *   "fingerprint" (hm_fp_serialize() bytes, standard base64)}.  Importing it
 *   into an empty database reproduces the references and their verdicts.
 *
 * Imports commit through hm_engine_add_many, --batch records at a time;
 * records already present (same id or same bytes) report "exists" and are
 * not failures, so an import can be re-run.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hm_cli.h"
#include "hm_cli_csv.h"
#include "hm_cli_util.h"
#include "hm_engine.h"
#include "hm_lf.h"
#include "hm_error.h"
#include "hm_sha.h"

enum { OPT_DB = HM_OPT_FIRST_CMD, OPT_FORMAT, OPT_OUT, OPT_BANK, OPT_BRAND, OPT_HOLDER, OPT_SOURCE,
       OPT_BATCH };
enum { FMT_TE_CSV = 1, FMT_JSONL = 2 };

static int s_format(const char *s)
{
    return strcmp(s, "te-csv") == 0 ? FMT_TE_CSV : strcmp(s, "jsonl") == 0 ? FMT_JSONL : -1;
}

/* ---- export ---- */

typedef struct {
    FILE *out;
    int format;
    size_t n, bad;
} export_t;

static void s_iso_time(int64_t t, char *buf, size_t cap)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(buf, cap, "%Y-%m-%dT%H:%M:%S+0000", &tm);
}

static int s_export_ref(const hm_ref_t *ref, void *arg)
{
    export_t *x = arg;
    hm_fp_t fp;
    if (hm_fp_deserialize_prefix(ref->fp, ref->fp_len, &fp, NULL) != 0) {
        char m[512];
        snprintf(m, sizeof m, "reference %s: %s", ref->ext_id, hm_last_error());
        hm_cli_emit_error(NULL, HM_E_CORRUPT, m);
        x->bad++;
        return 0;
    }
    char hex[65];
    hm_pdq_to_hex(&fp.full.pdq[HM_DIH_ORIGINAL], hex);
    if (x->format == FMT_TE_CSV) {
        char when[40], tags[64], q[16];
        s_iso_time(ref->added, when, sizeof when);
        snprintf(tags, sizeof tags, "media_type_photo hallmark_bank_%s", hm_bank_name(ref->bank));
        snprintf(q, sizeof q, "%d", fp.full.quality);
        const char *fields[] = { hex, ref->ext_id, when, tags, q, ref->brand ? ref->brand : "" };
        for (size_t i = 0; i < 6; i++) {
            if (i)
                fputc(',', x->out);
            hm_cli_csv_put(x->out, fields[i]);
        }
        fputc('\n', x->out);
    } else {
        char sha[65] = "", b64[sodium_base64_ENCODED_LEN(HM_FP_SERIAL_BYTES,
                                                          sodium_base64_VARIANT_ORIGINAL)];
        if (!hm_sha256_is_zero(ref->sha256))
            hm_sha256_to_hex(ref->sha256, sha);
        sodium_bin2base64(b64, sizeof b64, ref->fp, ref->fp_len < HM_FP_SERIAL_BYTES ? ref->fp_len
                                                                                  : HM_FP_SERIAL_BYTES,
                          sodium_base64_VARIANT_ORIGINAL);
        json_t *o = json_pack("{s:s?,s:s,s:s?,s:s?,s:s?,s:I,s:s,s:b,s:s,s:s}", "id", ref->ext_id,
                              "bank", hm_bank_name(ref->bank), "brand", ref->brand, "holder",
                              ref->rights_holder, "source", ref->source, "added",
                              (json_int_t)ref->added, "sha256", sha, "pdq_only",
                              (ref->flags & HM_REF_PDQ_ONLY) != 0, "pdq", hex, "fingerprint", b64);
        /* The local features stored after the fingerprint, if any. */
        if (o && ref->fp_len > HM_FP_SERIAL_BYTES) {
            size_t n = ref->fp_len - HM_FP_SERIAL_BYTES;
            size_t cap = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
            char *lb = malloc(cap);
            if (lb) {
                sodium_bin2base64(lb, cap, ref->fp + HM_FP_SERIAL_BYTES, n,
                                  sodium_base64_VARIANT_ORIGINAL);
                json_object_set_new(o, "local_features", json_string(lb));
                free(lb);
            }
        }
        char *s = o ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
        json_decref(o);
        if (!s) {
            char m[512];
            snprintf(m, sizeof m, "reference %s: not exportable (invalid UTF-8 text?)", ref->ext_id);
            hm_cli_emit_error(NULL, HM_E_INVAL, m);
            x->bad++;
            return 0;
        }
        fprintf(x->out, "%s\n", s);
        free(s);
    }
    x->n++;
    return 0;
}

static const char s_help_export[] =
    "usage: hallmark export --db DIR --format te-csv|jsonl [--out FILE]\n"
    "Write every reference to stdout (or FILE).  te-csv: the ThreatExchange/HMA\n"
    "PDQ hash list (hash,id,time,tags,quality,brand; no header); jsonl: full\n"
    "records with the serialised fingerprint (re-importable without loss).\n";

int hm_cli_export(int argc, char **argv)
{
    static const struct option opts[] = {
        { "db", required_argument, NULL, OPT_DB }, { "format", required_argument, NULL, OPT_FORMAT },
        { "out", required_argument, NULL, OPT_OUT }, { "help", no_argument, NULL, 'h' }, { 0 }
    };
    const char *db = NULL, *out = NULL;
    int format = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'h': fputs(s_help_export, stdout); return HM_CLI_OK;
        case OPT_DB: db = optarg; break;
        case OPT_OUT: out = optarg; break;
        case OPT_FORMAT:
            if ((format = s_format(optarg)) < 0)
                return hm_cli_usage_error("export", "--format wants te-csv or jsonl");
            break;
        default: return hm_cli_usage_error("export", "unknown option");
        }
    }
    if (!db || !format)
        return hm_cli_usage_error("export", "--db DIR and --format are required");
    if (optind < argc)
        return hm_cli_usage_error("export", "unexpected argument '%s'", argv[optind]);
    hm_engine_t *e = NULL;
    hm_engine_opts_t eo = { .readonly = 1 };
    if (hm_engine_open(&e, db, &eo)) {
        fprintf(stderr, "hallmark export: cannot open %s: %s\n", db, hm_last_error());
        return HM_CLI_FAILED;
    }
    export_t x = { .out = stdout, .format = format };
    int rc = HM_CLI_OK;
    if (out && !(x.out = fopen(out, "w"))) {
        fprintf(stderr, "hallmark export: %s: %m\n", out);
        rc = HM_CLI_FAILED;
        goto leave;
    }
    if (hm_store_foreach_ref(hm_engine_store(e), s_export_ref, &x) != 0) {
        fprintf(stderr, "hallmark export: %s\n", hm_last_error());
        rc = HM_CLI_FAILED;
    }
    if (fflush(x.out) != 0 || ferror(x.out)) {
        fprintf(stderr, "hallmark export: write failed\n");
        rc = HM_CLI_FAILED;
    }
    if (x.bad)
        rc = HM_CLI_FAILED;
leave:
    if (x.out && x.out != stdout)
        fclose(x.out);
    hm_engine_close(&e);
    return rc;
}

/* ---- import ---- */

typedef struct rec {
    size_t line;
    char id[HM_ID_MAX * 2], brand[HM_NAME_MAX * 2];
    char *holder, *source;
    int bank;
    hm_fp_t fp;
    uint8_t sha[32];
    int pdq_only;
    uint8_t *lf;        /* "local_features" bytes, or NULL (malloc) */
    size_t lf_len;
} rec_t;

typedef struct import {
    hm_engine_t *e;
    int def_bank;
    const char *def_brand, *def_holder, *def_source, *file;
    rec_t *recs;
    size_t n, batch;
    size_t added, existing, failed;
} import_t;

static void s_rec_error(import_t *im, size_t line, int rc, const char *msg)
{
    json_t *o = json_object();
    json_object_set_new(o, "line", json_integer((json_int_t)line));
    json_object_set_new(o, "error", hm_cli_error_obj(rc, msg));
    hm_cli_emit(o);
    im->failed++;
}

static void s_import_flush(import_t *im)
{
    if (!im->n)
        return;
    if (!im->e) {
        /* Dry run (hm_cli_import_parse): the records were parsed; count them. */
        for (size_t i = 0; i < im->n; i++) {
            free(im->recs[i].holder);
            free(im->recs[i].source);
        }
        im->added += im->n;
        im->n = 0;
        return;
    }
    hm_engine_item_t *items = calloc(im->n, sizeof *items);
    if (!items)
        abort();
    for (size_t i = 0; i < im->n; i++) {
        rec_t *r = &im->recs[i];
        items[i].meta = (hm_ref_meta_t){ .ext_id = r->id, .bank = r->bank, .brand = r->brand,
                                         .holder = r->holder, .source = r->source };
        items[i].fp = &r->fp;
        memcpy(items[i].sha256, r->sha, 32);
        items[i].pdq_only = r->pdq_only;
        items[i].lf_blob = r->lf;
        items[i].lf_len = r->lf_len;
    }
    int rc = hm_engine_add_many(im->e, items, im->n);
    char bm[512];
    snprintf(bm, sizeof bm, "batch not stored: %s", rc ? hm_last_error() : "");
    for (size_t i = 0; i < im->n; i++) {
        rec_t *r = &im->recs[i];
        if (rc && items[i].rc == 0) {
            s_rec_error(im, r->line, rc, bm);
        } else if (items[i].rc == 0 || items[i].rc == HM_E_EXISTS) {
            json_t *o = json_object();
            json_object_set_new(o, "line", json_integer((json_int_t)r->line));
            json_t *id = json_string(r->id);
            json_object_set_new(o, "id", id ? id : json_null());
            json_object_set_new(o, "status", json_string(items[i].rc ? "exists" : "added"));
            json_object_set_new(o, "ref", json_integer((json_int_t)items[i].id));
            hm_cli_emit(o);
            if (items[i].rc)
                im->existing++;
            else
                im->added++;
        } else {
            char m[600];
            snprintf(m, sizeof m, "%s: %s", r->id, hm_strerror(items[i].rc));
            s_rec_error(im, r->line, items[i].rc, m);
        }
        free(r->holder);
        free(r->source);
        free(r->lf);
    }
    free(items);
    im->n = 0;
}

static rec_t *s_rec_new(import_t *im, size_t line)
{
    if (im->n == im->batch)
        s_import_flush(im);
    rec_t *r = &im->recs[im->n];
    memset(r, 0, sizeof *r);
    r->line = line;
    return r;
}

static int s_copy(char *dst, size_t cap, const char *src, const char *what)
{
    if (strlen(src) >= cap || strlen(src) > HM_STORE_MAX_ID)
        return hm__seterr(HM_E_INVAL, "%s is longer than %d bytes", what, HM_STORE_MAX_ID);
    snprintf(dst, cap, "%s", src);
    return 0;
}

/* One te-csv record (fields already split). */
static int s_te_record(import_t *im, hm_cli_csv_t *csv)
{
    hm_pdq_t h;
    if (hm_pdq_from_hex(csv->field[0], &h) != 0)
        return hm__seterr(HM_E_INVAL, "column 1 is not a 64-hex-digit PDQ hash");
    const char *id = csv->n_fields > 1 ? csv->field[1] : "";
    const char *when = csv->n_fields > 2 ? csv->field[2] : "";
    const char *tags = csv->n_fields > 3 ? csv->field[3] : "";
    const char *qual = csv->n_fields > 4 ? csv->field[4] : "";
    const char *brand = csv->n_fields > 5 && *csv->field[5] ? csv->field[5] : im->def_brand;
    int bank = strstr(tags, "hallmark_bank_counterfeit") ? HM_BANK_COUNTERFEIT
             : strstr(tags, "hallmark_bank_genuine")     ? HM_BANK_GENUINE
                                                         : im->def_bank;
    if (bank <= 0 || !brand)
        return hm__seterr(HM_E_INVAL, "no bank or brand: give --bank and --brand");
    long q = 100;
    if (*qual && hm_cli_parse_int(qual, 0, 100, &q))
        return hm__seterr(HM_E_INVAL, "column 5 (quality) is not 0..100");
    rec_t *r = s_rec_new(im, csv->line);
    char hexid[80];
    if (!*id) {
        /* No id: the hash names itself, so a re-import finds it again. */
        snprintf(hexid, sizeof hexid, "pdq-%s", csv->field[0]);
        id = hexid;
    }
    int rc;
    if ((rc = s_copy(r->id, sizeof r->id, id, "id")) || (rc = s_copy(r->brand, sizeof r->brand, brand, "brand")))
        return rc;
    r->bank = bank;
    r->pdq_only = 1;
    /* Only the original orientation is known: every dihedral slot holds it
     * (harmless: the engine indexes pdq[0] of references only). */
    for (int d = 0; d < HM_DIH_COUNT; d++)
        r->fp.full.pdq[d] = h;
    r->fp.full.quality = (int)q;
    if (im->def_holder && !(r->holder = strdup(im->def_holder)))
        abort();
    char src[1024];
    snprintf(src, sizeof src, "%s%simport te-csv %s line %zu%s%s%s%s", im->def_source ? im->def_source : "",
             im->def_source ? "; " : "", im->file, csv->line, *when ? "; time " : "", when,
             *tags ? "; tags " : "", tags);
    if (!(r->source = strdup(src)))
        abort();
    im->n++;
    return 0;
}

static int s_import_te(import_t *im, FILE *f)
{
    hm_cli_csv_t csv;
    hm_cli_csv_init(&csv, f);
    int r;
    size_t records = 0;
    while ((r = hm_cli_csv_next(&csv)) != 0) {
        if (r == HM_E_NOMEM)
            break;
        if (r < 0) {
            s_rec_error(im, csv.line, r, NULL);
            continue;
        }
        records++;
        if (csv.n_fields == 1 && !*csv.field[0])
            continue; /* a blank line */
        hm_pdq_t h;
        if (records == 1 && hm_pdq_from_hex(csv.field[0], &h) != 0)
            continue; /* a header row */
        if ((r = s_te_record(im, &csv)) != 0)
            s_rec_error(im, csv.line, r, NULL);
    }
    hm_cli_csv_free(&csv);
    return r == HM_E_NOMEM ? r : 0;
}

static const char *s_jstr(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static int s_jsonl_record(import_t *im, const char *line, size_t len, size_t line_no)
{
    json_error_t jerr;
    json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    int rc = 0;
    if (!json_is_object(o)) {
        rc = hm__seterr(HM_E_PROTO, "not a JSON object: %s", o ? "" : jerr.text);
        goto leave;
    }
    const char *id = s_jstr(o, "id"), *bank = s_jstr(o, "bank"), *brand = s_jstr(o, "brand");
    const char *sha = s_jstr(o, "sha256"), *b64 = s_jstr(o, "fingerprint");
    if (!id || !bank || !b64) {
        rc = hm__seterr(HM_E_INVAL, "\"id\", \"bank\" and \"fingerprint\" are required");
        goto leave;
    }
    int bk = hm_bank_parse(bank);
    if (bk < 0) {
        rc = bk;
        goto leave;
    }
    uint8_t blob[HM_FP_SERIAL_BYTES + 8];
    size_t blen = 0;
    const char *end = NULL;
    if (sodium_base642bin(blob, sizeof blob, b64, strlen(b64), NULL, &blen, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 || *end) {
        rc = hm__seterr(HM_E_INVAL, "\"fingerprint\" is not valid base64 of a fingerprint");
        goto leave;
    }
    hm_fp_t fp;
    if ((rc = hm_fp_deserialize(blob, blen, &fp)))
        goto leave;
    uint8_t shab[32] = { 0 };
    if (sha && *sha) {
        size_t sl = 0;
        if (sodium_hex2bin(shab, 32, sha, strlen(sha), NULL, &sl, &end) != 0 || sl != 32 || *end) {
            rc = hm__seterr(HM_E_INVAL, "\"sha256\" is not 64 hex digits");
            goto leave;
        }
    }
    rec_t *r = s_rec_new(im, line_no);
    if ((rc = s_copy(r->id, sizeof r->id, id, "id")) ||
        (rc = s_copy(r->brand, sizeof r->brand, brand ? brand : "", "brand")))
        goto leave;
    r->bank = bk;
    r->fp = fp;
    memcpy(r->sha, shab, 32);
    r->pdq_only = json_is_true(json_object_get(o, "pdq_only"));
    const char *lb64 = s_jstr(o, "local_features");
    if (lb64 && *lb64) {
        size_t cap = strlen(lb64) / 4 * 3 + 3, ll = 0;
        const char *lend = NULL;
        hm_lf_feat_t check = { 0 };
        if (cap > HM_STORE_MAX_BLOB || !(r->lf = malloc(cap)) ||
            sodium_base642bin(r->lf, cap, lb64, strlen(lb64), NULL, &ll, &lend,
                              sodium_base64_VARIANT_ORIGINAL) != 0 || *lend ||
            hm_lf_deserialize(r->lf, ll, &check) != 0) {
            hm_lf_feat_free(&check);
            free(r->lf); /* the slot is reused: nothing of this record stays */
            r->lf = NULL;
            rc = hm__seterr(HM_E_INVAL, "\"local_features\" is not valid base64 of local features");
            goto leave;
        }
        hm_lf_feat_free(&check);
        r->lf_len = ll;
    }
    const char *h = s_jstr(o, "holder"), *s = s_jstr(o, "source");
    if ((h && !(r->holder = strdup(h))) || (s && !(r->source = strdup(s))))
        abort();
    im->n++;
leave:
    json_decref(o);
    return rc;
}

static int s_import_jsonl(import_t *im, FILE *f)
{
    char *line = NULL;
    size_t cap = 0, no = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) >= 0) {
        no++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = 0;
        if (len == 0)
            continue;
        int rc = s_jsonl_record(im, line, (size_t)len, no);
        if (rc)
            s_rec_error(im, no, rc, NULL);
    }
    free(line);
    return 0;
}

int hm_cli_import_parse(const char *format, FILE *f, size_t *n_ok, size_t *n_failed)
{
    int fmt = s_format(format);
    if (fmt < 0)
        return HM_E_INVAL;
    import_t im = { .batch = 16, .def_bank = HM_BANK_COUNTERFEIT, .def_brand = "Acme",
                    .file = "-" };
    if (!(im.recs = calloc(im.batch, sizeof *im.recs)))
        return HM_E_NOMEM;
    int rc = fmt == FMT_TE_CSV ? s_import_te(&im, f) : s_import_jsonl(&im, f);
    s_import_flush(&im);
    free(im.recs);
    *n_ok = im.added;
    *n_failed = im.failed;
    return rc;
}

static const char s_help_import[] =
    "usage: hallmark import --db DIR --format te-csv|jsonl [--bank B --brand BRAND]\n"
    "                       [--holder H] [--source TEXT] [--batch N] FILE\n"
    "Import references (FILE '-' reads stdin).  te-csv rows become PDQ-only\n"
    "references (bank/brand from the row when it has them, else --bank/--brand);\n"
    "jsonl records are restored in full.  One line per record: {\"line\",\"id\",\n"
    "\"status\":\"added\"|\"exists\",\"ref\"} or {\"line\",\"error\"} (exit status 1).\n";

int hm_cli_import(int argc, char **argv)
{
    static const struct option opts[] = {
        { "db", required_argument, NULL, OPT_DB }, { "format", required_argument, NULL, OPT_FORMAT },
        { "bank", required_argument, NULL, OPT_BANK }, { "brand", required_argument, NULL, OPT_BRAND },
        { "holder", required_argument, NULL, OPT_HOLDER },
        { "source", required_argument, NULL, OPT_SOURCE },
        { "batch", required_argument, NULL, OPT_BATCH }, { "help", no_argument, NULL, 'h' }, { 0 }
    };
    import_t im = { .batch = 256 };
    const char *db = NULL;
    int format = 0, c;
    long v;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'h': fputs(s_help_import, stdout); return HM_CLI_OK;
        case OPT_DB: db = optarg; break;
        case OPT_FORMAT:
            if ((format = s_format(optarg)) < 0)
                return hm_cli_usage_error("import", "--format wants te-csv or jsonl");
            break;
        case OPT_BANK:
            if ((im.def_bank = hm_bank_parse(optarg)) < 0)
                return hm_cli_usage_error("import", "--bank wants counterfeit or genuine");
            break;
        case OPT_BRAND: im.def_brand = optarg; break;
        case OPT_HOLDER: im.def_holder = optarg; break;
        case OPT_SOURCE: im.def_source = optarg; break;
        case OPT_BATCH:
            if (hm_cli_parse_int(optarg, 1, 100000, &v))
                return hm_cli_usage_error("import", "--batch wants a number from 1 to 100000");
            im.batch = (size_t)v;
            break;
        default: return hm_cli_usage_error("import", "unknown option");
        }
    }
    if (!db || !format)
        return hm_cli_usage_error("import", "--db DIR and --format are required");
    if (argc - optind != 1)
        return hm_cli_usage_error("import", "one FILE (or '-') is required");
    im.file = argv[optind];
    FILE *f = strcmp(im.file, "-") == 0 ? stdin : fopen(im.file, "r");
    if (!f) {
        fprintf(stderr, "hallmark import: %s: %m\n", im.file);
        return HM_CLI_FAILED;
    }
    int rc = HM_CLI_OK;
    if (sodium_init() < 0 || hm_engine_open(&im.e, db, NULL) != 0) {
        fprintf(stderr, "hallmark import: cannot open %s: %s\n", db, hm_last_error());
        rc = HM_CLI_FAILED;
        goto leave;
    }
    if (!(im.recs = calloc(im.batch, sizeof *im.recs)))
        abort();
    if ((format == FMT_TE_CSV ? s_import_te(&im, f) : s_import_jsonl(&im, f)) != 0) {
        fprintf(stderr, "hallmark import: %s\n", hm_last_error());
        rc = HM_CLI_FAILED;
    }
    s_import_flush(&im);
    if (im.failed)
        rc = HM_CLI_FAILED;
leave:
    free(im.recs);
    hm_engine_close(&im.e);
    if (f != stdin)
        fclose(f);
    return rc;
}
