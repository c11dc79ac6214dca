/*
 * test_engine.c - the engine end to end on the demo bank (demo/, in the
 * repository): each decision rule on real photos and their edits, strikes,
 * feedback, remove and relabel, restart with and without a (corrupted)
 * descriptor snapshot, top-k, readers during writes, and kill -9 while adding.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hm_engine.h"
#include "hm_error.h"
#include "hm_sha.h"
#include "test_util.h"

#include <vips/vips.h>

static char *dir;
static hm_engine_t *eng;
static hm_fp_ctx_t *ctx;

static void s_load(const char *rel, uint8_t **data, size_t *len)
{
    char path[4096];
    snprintf(path, sizeof path, "demo/%s", rel);
    tu_read_file(path, data, len);
}

/* Load demo/bank.tsv and demo/sellers.tsv into the open engine. */
static void s_load_demo(void)
{
    FILE *f = fopen("demo/bank.tsv", "r");
    ck_assert_msg(f != NULL, "demo/bank.tsv: %s (run from the repository root)", strerror(errno));
    char line[1024];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#')
            continue;
        line[strcspn(line, "\n")] = 0;
        char *save, *file = strtok_r(line, "\t", &save), *id = strtok_r(NULL, "\t", &save);
        char *bank = strtok_r(NULL, "\t", &save), *brand = strtok_r(NULL, "\t", &save);
        char *holder = strtok_r(NULL, "\t", &save);
        uint8_t *data;
        size_t len;
        s_load(file, &data, &len);
        hm_ref_meta_t m = { .ext_id = id, .bank = hm_bank_parse(bank), .brand = brand, .holder = holder };
        uint64_t rid;
        ck_assert_msg(hm_engine_add(eng, ctx, &m, data, len, &rid) == 0, "%s: %s", file, hm_last_error());
        free(data);
        n++;
    }
    fclose(f);
    ck_assert_int_eq(n, 11);
    ck_assert_int_eq(hm_engine_authorize(eng, "Tropicana", "s-tropicana-official", 1), 0);
    ck_assert_int_eq(hm_engine_authorize(eng, "Arla", "s-arla-shop", 1), 0);
}

static void s_setup(void)
{
    dir = tu_tmpdir();
    ck_assert_int_eq(hm_fp_ctx_new(&ctx, NULL), 0);
    ck_assert_int_eq(hm_engine_open(&eng, dir, NULL), 0);
    s_load_demo();
}

static void s_teardown(void)
{
    hm_engine_close(&eng);
    hm_fp_ctx_free(&ctx);
    tu_rmtree(dir);
    free(dir);
}

static hm_decision_t s_score(const char *file, const char *seller, const char *listing, hm_verdict_t *v)
{
    uint8_t *data;
    size_t len;
    s_load(file, &data, &len);
    hm_query_t q = { .seller = seller, .listing_id = listing, .image_id = "1", .record_strikes = 1 };
    ck_assert_int_eq(hm_engine_score(eng, ctx, data, len, &q, v), 0);
    free(data);
    return v->decision;
}

START_TEST(test_demo_decisions)
{
    hm_verdict_t v;
    ck_assert_int_eq(s_score("queries/listing-1001.jpg", "s-42", "1001", &v), HM_DEC_COUNTERFEIT);
    ck_assert_str_eq(v.matches[0].ref, "fake-oatly-002");
    ck_assert_str_eq(v.matches[0].brand, "Oatly");
    ck_assert(v.score >= 0.5);
    ck_assert_int_eq(s_score("queries/listing-1002.jpg", "s-42", "1002", &v), HM_DEC_COUNTERFEIT);
    ck_assert_str_eq(v.matches[0].ref, "fake-oatly-006");
    ck_assert_msg(strncmp(v.matches[0].variant, "trimmed", 7) == 0 || strcmp(v.matches[0].signal, "desc") == 0,
                  "padded copy matched as %s/%s", v.matches[0].signal, v.matches[0].variant);
    ck_assert_int_eq(s_score("queries/listing-1004.jpg", "s-tropicana-official", "1004", &v), HM_DEC_GENUINE);
    ck_assert_str_eq(v.matches[0].ref, "tropicana-apple-005");
    ck_assert_str_eq(v.matches[0].variant, "flipy");
    ck_assert_int_eq(s_score("queries/listing-1004.jpg", "s-42", "1004", &v), HM_DEC_SUSPECT);
    ck_assert_str_eq(v.reason, "genuine_unauthorized_seller");
    ck_assert_int_eq(s_score("queries/listing-1005.jpg", "s-42", "1005", &v), HM_DEC_SUSPECT);
    ck_assert_int_eq(s_score("queries/listing-1005.jpg", "s-arla-shop", "1005", &v), HM_DEC_GENUINE);
    /* An 80% centre crop defeats every global hash; local features find it,
     * with the fitted transform as evidence (scale ~1/0.8, no rotation). */
    ck_assert_int_eq(s_score("queries/listing-1003.jpg", "s-42", "1003", &v), HM_DEC_SUSPECT);
    ck_assert_str_eq(v.matches[0].ref, "tropicana-apple-001");
    ck_assert_str_eq(v.matches[0].signal, "local");
    ck_assert_int_ge(v.matches[0].inliers, 10);
    ck_assert_msg(v.matches[0].scale > 1.1 && v.matches[0].scale < 1.4, "scale %.3f", v.matches[0].scale);
    ck_assert_msg(v.matches[0].rotation_deg > -3 && v.matches[0].rotation_deg < 3, "rotation %.2f",
                  v.matches[0].rotation_deg);
    ck_assert_msg(v.matches[0].crop[0] > 0.05 && v.matches[0].crop[2] < 0.95, "crop %.2f..%.2f",
                  v.matches[0].crop[0], v.matches[0].crop[2]);
    /* Not copies: another photo of the same product, an unrelated product. */
    ck_assert_int_eq(s_score("queries/listing-1006.jpg", "s-77", "1006", &v), HM_DEC_UNKNOWN);
    ck_assert_int_eq(s_score("queries/listing-1007.jpg", "s-77", "1007", &v), HM_DEC_UNKNOWN);
    ck_assert_str_eq(v.reason, "no_match");
    /* Bad bytes give an error verdict, not a failure. */
    hm_query_t q = { 0 };
    ck_assert_int_eq(hm_engine_score(eng, ctx, "junk", 4, &q, &v), 0);
    ck_assert_int_eq(v.decision, HM_DEC_ERROR);
    ck_assert_int_eq(v.error, HM_E_UNSUPPORTED);
}
END_TEST

START_TEST(test_strikes)
{
    hm_verdict_t v;
    s_score("queries/listing-1001.jpg", "s-9", "A", &v);
    ck_assert_int_eq(v.strikes, 1);
    s_score("queries/listing-1001.jpg", "s-9", "A", &v); /* same listing and image: once */
    ck_assert_int_eq(v.strikes, 1);
    ck_assert_int_eq(v.seller_blocked, 0);
    s_score("queries/listing-1002.jpg", "s-9", "B", &v);
    s_score("queries/listing-1001.jpg", "s-9", "C", &v);
    ck_assert_int_eq(v.strikes, 3);
    ck_assert_int_eq(v.seller_blocked, 1);
    /* A suspect verdict is not a strike. */
    s_score("queries/listing-1005.jpg", "s-10", "D", &v);
    ck_assert_int_eq(v.decision, HM_DEC_SUSPECT);
    ck_assert_int_eq(v.strikes, 0);
}
END_TEST

START_TEST(test_feedback_remove_relabel)
{
    hm_verdict_t v;
    uint8_t *data;
    size_t len;
    /* Reject: the image goes on the allow-list; never counterfeit again. */
    s_load("queries/listing-1001.jpg", &data, &len);
    ck_assert_int_eq(hm_engine_feedback(eng, ctx, data, len, 0, NULL, "reviewer: licensed reseller"), 0);
    free(data);
    ck_assert_int_eq(s_score("queries/listing-1001.jpg", "s-42", "x", &v), HM_DEC_UNKNOWN);
    ck_assert_str_eq(v.reason, "allow_listed");
    /* Confirm: an unknown image becomes a counterfeit reference. */
    ck_assert_int_eq(s_score("queries/listing-1007.jpg", "s-42", "y", &v), HM_DEC_UNKNOWN);
    s_load("queries/listing-1007.jpg", &data, &len);
    hm_ref_meta_t m = { .brand = "Valio", .source = "verdict y" };
    ck_assert_int_eq(hm_engine_feedback(eng, ctx, data, len, 1, &m, "fake seller"), 0);
    free(data);
    ck_assert_int_eq(s_score("queries/listing-1007.jpg", "s-42", "y", &v), HM_DEC_COUNTERFEIT);
    ck_assert_str_eq(v.matches[0].brand, "Valio");
    /* Relabel genuine -> counterfeit changes the next verdict. */
    ck_assert_int_eq(s_score("queries/listing-1005.jpg", "s-42", "z", &v), HM_DEC_SUSPECT);
    ck_assert_int_eq(hm_engine_relabel(eng, "arla-natural-004", HM_BANK_COUNTERFEIT, NULL, NULL), 0);
    ck_assert_int_eq(s_score("queries/listing-1005.jpg", "s-42", "z", &v), HM_DEC_COUNTERFEIT);
    ck_assert_int_eq(hm_engine_relabel(eng, "arla-natural-004", HM_BANK_GENUINE, "Other", NULL), HM_E_INVAL);
    ck_assert_int_eq(hm_engine_relabel(eng, "no-such-ref", HM_BANK_GENUINE, NULL, NULL), HM_E_NOTFOUND);
    /* Remove: no longer matched. */
    ck_assert_int_eq(hm_engine_remove(eng, "arla-natural-004"), 0);
    ck_assert_int_eq(hm_engine_remove(eng, "arla-natural-004"), HM_E_NOTFOUND);
    ck_assert_int_ne(s_score("queries/listing-1005.jpg", "s-42", "z", &v), HM_DEC_COUNTERFEIT);
    /* Same bytes twice: refused with EXISTS. */
    s_load("refs/Bravo-Apple-Juice_003.jpg", &data, &len);
    hm_ref_meta_t dup = { .ext_id = "dup", .bank = HM_BANK_GENUINE, .brand = "Bravo" };
    ck_assert_int_eq(hm_engine_add(eng, ctx, &dup, data, len, NULL), HM_E_EXISTS);
    free(data);
}
END_TEST

START_TEST(test_top_k)
{
    uint8_t *data;
    size_t len;
    s_load("queries/listing-1007.jpg", &data, &len);
    hm_query_t q = { .top_k = 5 };
    hm_verdict_t v;
    ck_assert_int_eq(hm_engine_score(eng, ctx, data, len, &q, &v), 0);
    free(data);
    ck_assert_int_eq(v.decision, HM_DEC_UNKNOWN);
    ck_assert_int_eq(v.n_matches, 5);
    for (int i = 0; i < 5; i++) {
        ck_assert(v.matches[i].similarity >= 0 && v.matches[i].similarity <= 1);
        ck_assert_int_eq(v.matches[i].matched, 0);
        if (i)
            ck_assert(v.matches[i].score <= v.matches[i - 1].score);
    }
}
END_TEST

START_TEST(test_restart_and_snapshot)
{
    hm_verdict_t v;
    ck_assert_int_eq(hm_engine_snapshot(eng), 0);
    /* A change after the snapshot must be replayed from the change log. */
    ck_assert_int_eq(hm_engine_remove(eng, "fake-oatly-002"), 0);
    hm_engine_close(&eng);
    ck_assert_int_eq(hm_engine_open(&eng, dir, NULL), 0);
    ck_assert_int_eq(s_score("queries/listing-1002.jpg", "s-42", "1", &v), HM_DEC_COUNTERFEIT);
    ck_assert_int_ne(s_score("queries/listing-1001.jpg", "s-42", "2", &v), HM_DEC_COUNTERFEIT);
    ck_assert_int_eq(s_score("queries/listing-1004.jpg", "s-tropicana-official", "3", &v), HM_DEC_GENUINE);
    /* A corrupted snapshot is rebuilt from the store. */
    ck_assert_int_eq(hm_engine_snapshot(eng), 0);
    hm_engine_close(&eng);
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "for f in %s/vindex-*.faiss; do printf 'garbage' | dd of=$f bs=1 seek=0 conv=notrunc 2>/dev/null; done", dir);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_int_eq(hm_engine_open(&eng, dir, NULL), 0);
    ck_assert_int_eq(s_score("queries/listing-1005.jpg", "s-42", "4", &v), HM_DEC_SUSPECT);
    /* A second writer is refused; a read-only engine opens. */
    hm_engine_t *ro = NULL;
    hm_engine_opts_t o = { .readonly = 1 };
    ck_assert_int_eq(hm_engine_open(&ro, dir, &o), 0);
    ck_assert_int_eq(hm_engine_remove(ro, "fake-oatly-006"), HM_E_READONLY);
    hm_engine_close(&ro);
}
END_TEST

typedef struct { int stop; int scored; int bad; } rd_t;

static void *s_reader(void *arg)
{
    rd_t *r = arg;
    hm_fp_ctx_t *c;
    hm_fp_ctx_new(&c, NULL);
    uint8_t *data;
    size_t len;
    s_load("queries/listing-1001.jpg", &data, &len);
    while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
        hm_verdict_t v;
        hm_query_t q = { 0 };
        if (hm_engine_score(eng, c, data, len, &q, &v) != 0 || v.decision != HM_DEC_COUNTERFEIT)
            __atomic_add_fetch(&r->bad, 1, __ATOMIC_RELAXED);
        __atomic_add_fetch(&r->scored, 1, __ATOMIC_RELAXED);
    }
    free(data);
    hm_fp_ctx_free(&c);
    return NULL;
}

START_TEST(test_readers_during_writes)
{
    rd_t r = { 0 };
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, s_reader, &r);
    /* Add synthetic references while the readers score. */
    uint8_t px[64 * 64 * 3];
    for (int i = 0; i < 60; i++) {
        uint64_t st = (uint64_t)i + 1;
        for (size_t k = 0; k < sizeof px; k++) px[k] = (uint8_t)tu_rand(&st);
        hm_fp_t fp;
        ck_assert_int_eq(hm_fp_from_rgb(ctx, px, 64, 64, 64 * 3, &fp), 0);
        char id[32];
        snprintf(id, sizeof id, "synthetic-%d", i);
        hm_ref_meta_t m = { .ext_id = id, .bank = HM_BANK_GENUINE, .brand = "Noise" };
        ck_assert_int_eq(hm_engine_add_fp(eng, &m, &fp, NULL, 0, NULL), 0);
        if (i % 10 == 9)
            ck_assert_int_eq(hm_engine_remove(eng, id), 0);
    }
    __atomic_store_n(&r.stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    ck_assert_int_gt(r.scored, 0);
    ck_assert_int_eq(r.bad, 0);
}
END_TEST

/* kill -9 while a child adds references; after each kill the engine opens,
 * and every reference whose add had returned is found by its own image. */
START_TEST(test_kill9_while_adding)
{
    hm_engine_close(&eng);
    /* Kill after the child's open (which trains the local-feature vocabulary)
     * and during its adds: time an open here first, so the window also fits a
     * slow machine or a sanitizer build. */
    struct timespec a, z;
    clock_gettime(CLOCK_MONOTONIC, &a);
    ck_assert_int_eq(hm_engine_open(&eng, dir, NULL), 0);
    hm_engine_close(&eng);
    clock_gettime(CLOCK_MONOTONIC, &z);
    useconds_t open_us = (useconds_t)((z.tv_sec - a.tv_sec) * 1000000 + (z.tv_nsec - a.tv_nsec) / 1000);
    uint64_t seed = 12345;
    int total_acked = 0;
    for (int iter = 0; iter < 20; iter++) {
        int fds[2];
        ck_assert_int_eq(pipe(fds), 0);
        pid_t pid = fork();
        if (pid == 0) {
            close(fds[0]);
            hm_engine_t *e;
            hm_fp_ctx_t *c;
            if (hm_engine_open(&e, dir, NULL) || hm_fp_ctx_new(&c, NULL))
                _exit(3);
            uint8_t px[48 * 48 * 3];
            for (int i = 0;; i++) {
                uint64_t st = (uint64_t)(iter * 100000 + i + 1);
                for (size_t k = 0; k < sizeof px; k++) px[k] = (uint8_t)tu_rand(&st);
                hm_fp_t fp;
                hm_fp_from_rgb(c, px, 48, 48, 48 * 3, &fp);
                char id[32];
                snprintf(id, sizeof id, "k-%d-%d", iter, i);
                hm_ref_meta_t m = { .ext_id = id, .bank = HM_BANK_COUNTERFEIT, .brand = "K" };
                if (hm_engine_add_fp(e, &m, &fp, NULL, 0, NULL) == 0) {
                    int32_t n = i;
                    if (write(fds[1], &n, sizeof n) != sizeof n)
                        _exit(4);
                }
            }
        }
        close(fds[1]);
        usleep(2 * open_us + 20000 + (useconds_t)(tu_rand(&seed) % (2 * open_us + 60000)));
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        int32_t n, acked = 0;
        int32_t last = -1;
        while (read(fds[0], &n, sizeof n) == sizeof n) {
            acked++;
            last = n;
        }
        close(fds[0]);
        total_acked += acked;
        ck_assert_int_eq(hm_engine_open(&eng, dir, NULL), 0);
        /* The last acknowledged reference is matched by its own pixels. */
        if (last >= 0) {
            uint8_t px[48 * 48 * 3];
            uint64_t st = (uint64_t)(iter * 100000 + last + 1);
            for (size_t k = 0; k < sizeof px; k++) px[k] = (uint8_t)tu_rand(&st);
            hm_fp_t fp;
            hm_fp_from_rgb(ctx, px, 48, 48, 48 * 3, &fp);
            hm_verdict_t v;
            hm_query_t q = { 0 };
            ck_assert_int_eq(hm_engine_score_fp(eng, &fp, &q, &v), 0);
            char want[32];
            snprintf(want, sizeof want, "k-%d-%d", iter, last);
            ck_assert_int_eq(v.decision, HM_DEC_COUNTERFEIT);
            int seen = 0;
            for (int i = 0; i < v.n_matches; i++)
                seen |= strcmp(v.matches[i].ref, want) == 0;
            ck_assert_msg(seen, "acknowledged %s not found after kill %d", want, iter);
        }
        hm_engine_close(&eng);
    }
    fprintf(stderr, "engine kill -9: 20 kills, %d acknowledged adds, all present\n", total_acked);
    ck_assert_int_gt(total_acked, 0);
    ck_assert_int_eq(hm_engine_open(&eng, dir, NULL), 0);
}
END_TEST

/* A bank grown by adds from empty past 1,000 references gets the larger
 * descriptor index at once (not only after a restart), and a restart keeps
 * it (the snapshot names its type). */
START_TEST(test_vindex_grows_with_bank)
{
    char *d = tu_tmpdir();
    hm_engine_t *e;
    hm_engine_opts_t eo = { .nosync = 1, .no_local_features = 1 };
    ck_assert_int_eq(hm_engine_open(&e, d, &eo), 0);
    enum { N = 1200 };
    hm_fp_t *fps = calloc(N, sizeof *fps);
    hm_engine_item_t *it = calloc(N, sizeof *it);
    char (*ids)[16] = calloc(N, 16);
    uint64_t st = 5;
    for (int i = 0; i < N; i++) {
        hm_fp_t *fp = &fps[i];
        for (int v = 0; v < HM_DIH_COUNT; v++)
            for (int w = 0; w < 4; w++) fp->full.pdq[v].w[w] = tu_rand(&st);
        fp->full.quality = 100;
        fp->full.phash = tu_rand(&st), fp->full.dhash = tu_rand(&st);
        double n = 0;
        for (int k = 0; k < HM_DESC_DIM; k++) {
            fp->desc[k] = (float)((double)(tu_rand(&st) % 1000) - 500);
            n += (double)fp->desc[k] * fp->desc[k];
        }
        for (int k = 0; k < HM_DESC_DIM; k++) fp->desc[k] /= (float)sqrt(n);
        snprintf(ids[i], 16, "g%d", i);
        it[i] = (hm_engine_item_t){ .meta = { .ext_id = ids[i], .bank = HM_BANK_COUNTERFEIT, .brand = "B" },
                                    .fp = fp };
        for (int b = 0; b < 32; b += 8) {
            uint64_t r = tu_rand(&st);
            memcpy(it[i].sha256 + b, &r, 8);
        }
    }
    char *js;
    ck_assert_int_eq(hm_engine_add_many(e, it, 600), 0);
    ck_assert_int_eq(hm_engine_stats_json(e, &js), 0);
    ck_assert_msg(strstr(js, "\"IDMap2,Flat\"") != NULL, "%s", js);
    free(js);
    ck_assert_int_eq(hm_engine_add_many(e, it + 600, N - 600), 0);
    ck_assert_int_eq(hm_engine_stats_json(e, &js), 0);
    ck_assert_msg(strstr(js, "PCAW128") != NULL, "%s", js);
    free(js);
    /* every descriptor is still found, exactly */
    hm_verdict_t v;
    hm_query_t q = { .top_k = 1 };
    for (int i = 0; i < N; i += 97) {
        hm_fp_t probe = fps[i];
        for (int vv = 0; vv < HM_DIH_COUNT; vv++) /* no hash may match: the descriptor must */
            for (int w = 0; w < 4; w++) probe.full.pdq[vv].w[w] = ~probe.full.pdq[vv].w[w];
        probe.full.phash = ~probe.full.phash, probe.full.dhash = ~probe.full.dhash;
        ck_assert_int_eq(hm_engine_score_fp(e, &probe, &q, &v), 0);
        ck_assert_str_eq(v.matches[0].ref, ids[i]);
        ck_assert_str_eq(v.matches[0].signal, "desc");
    }
    hm_engine_close(&e);
    ck_assert_int_eq(hm_engine_open(&e, d, &eo), 0);
    ck_assert_int_eq(hm_engine_stats_json(e, &js), 0);
    ck_assert_msg(strstr(js, "PCAW128") != NULL, "%s", js);
    free(js);
    hm_engine_close(&e);
    free(fps), free(it), free(ids);
    tu_rmtree(d);
    free(d);
}
END_TEST

/* Score img with thresholds given as JSON text; top_k 1. */
static void s_score_thr(const char *json, const void *img, size_t len, hm_verdict_t *v)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/thr.json", dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(json, f);
    fclose(f);
    ck_assert_int_eq(hm_engine_load_thresholds(eng, path), 0);
    hm_query_t q = { .top_k = 1 };
    ck_assert_int_eq(hm_engine_score(eng, ctx, img, len, &q, v), 0);
    ck_assert_int_gt(v->n_matches, 0);
}

/*
 * A hash match at its threshold is weak evidence: local features still run
 * and their verified fit, being stronger, becomes the evidence.  A strong
 * hash match never pays for them.  The query: a reference with 3% cut off
 * its left and bottom edges (PDQ moves ~48 bits, local features fit it); the
 * PDQ threshold is set at the query's own distance (weak) or far above it
 * (strong).
 */
START_TEST(test_weak_match_corroborated)
{
    uint8_t *data;
    size_t len;
    s_load("refs/Tropicana-Apple-Juice_001.jpg", &data, &len);
    VipsImage *im = vips_image_new_from_buffer(data, len, "", NULL), *rot;
    ck_assert_ptr_nonnull(im);
    int cw = (int)(im->Xsize * 0.97), ch = (int)(im->Ysize * 0.97);
    ck_assert_int_eq(vips_crop(im, &rot, im->Xsize - cw, 0, cw, ch, NULL), 0);
    void *jpg;
    size_t jlen;
    ck_assert_int_eq(vips_jpegsave_buffer(rot, &jpg, &jlen, "Q", 90, NULL), 0);
    g_object_unref(rot);
    g_object_unref(im);
    free(data);

    /* PDQ alone, everything else off: the query's distance. */
    hm_verdict_t v;
    s_score_thr("{\"pdq\": 64, \"phash\": -1, \"dhash\": -1, \"desc\": 2, \"local\": -1}", jpg, jlen, &v);
    ck_assert_msg(strcmp(v.matches[0].signal, "pdq") == 0 && v.matches[0].matched,
                  "test premise: %s %s d=%d", v.matches[0].ref, v.matches[0].signal, v.matches[0].distance);
    ck_assert_str_eq(v.matches[0].ref, "tropicana-apple-001");
    int d = v.matches[0].distance;
    /* strong (score >= 0.5625) needs d <= 56 at threshold 64 */
    ck_assert_msg(d >= 4 && d <= 56, "test premise: PDQ distance %d", d);

    char js[256];
    /* weak: at the threshold, local features off -> PDQ at exactly 0.5 */
    snprintf(js, sizeof js, "{\"pdq\": %d, \"phash\": -1, \"dhash\": -1, \"desc\": 2, \"local\": -1}", d);
    s_score_thr(js, jpg, jlen, &v);
    ck_assert_str_eq(v.matches[0].signal, "pdq");
    ck_assert(fabs(v.matches[0].score - 0.5) < 1e-9);
    /* weak, local features on: the fit takes over, with its transform */
    snprintf(js, sizeof js, "{\"pdq\": %d, \"phash\": -1, \"dhash\": -1, \"desc\": 2}", d);
    s_score_thr(js, jpg, jlen, &v);
    ck_assert_str_eq(v.matches[0].ref, "tropicana-apple-001");
    ck_assert_msg(strcmp(v.matches[0].signal, "local") == 0, "weak match kept as %s", v.matches[0].signal);
    ck_assert(v.matches[0].matched && v.matches[0].score > 0.5);
    ck_assert_msg(fabs(v.matches[0].rotation_deg) < 1.0 && v.matches[0].scale > 1.0 &&
                      v.matches[0].scale < 1.07 && v.matches[0].crop[0] > 0.01 && v.matches[0].crop[0] < 0.06,
                  "rotation %.2f scale %.3f crop x0 %.3f", v.matches[0].rotation_deg, v.matches[0].scale,
                  v.matches[0].crop[0]);
    ck_assert_int_eq(v.decision, HM_DEC_SUSPECT);
    ck_assert(v.local_us > 0 && v.local_us <= v.search_us);
    /* strong: PDQ decides, local features are not consulted */
    s_score_thr("{\"pdq\": 64, \"phash\": -1, \"dhash\": -1, \"desc\": 2}", jpg, jlen, &v);
    ck_assert_str_eq(v.matches[0].signal, "pdq");
    ck_assert(v.matches[0].score >= 0.5625);
    ck_assert_int_eq(v.local_us, 0);
    g_free(jpg);
}
END_TEST

/*
 * Degraded copies (shrunk, blurred, tilted, re-compressed at once) lose
 * most of their descriptors' words: the inverted file's fit falls short and
 * the second-chance fit with its pixel check (index/hm_engine_local.c)
 * finds them.  Every demo reference, each shrunk to half, blurred (sigma
 * 0.3), tilted 5 degrees and saved at JPEG quality 60: 10 of the 11 are
 * found, 3 without the second chance; the 11th is lost at this strength
 * with or without it (measured when this test was written).
 */
START_TEST(test_degraded_copies)
{
    FILE *f = fopen("demo/bank.tsv", "r");
    ck_assert_ptr_nonnull(f);
    char line[1024];
    int n = 0, found = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#')
            continue;
        char *save, *file = strtok_r(line, "\t", &save), *id = strtok_r(NULL, "\t", &save);
        uint8_t *data;
        size_t len;
        s_load(file, &data, &len);
        VipsImage *im = vips_image_new_from_buffer(data, len, "", NULL), *sm, *bl, *rot;
        ck_assert_ptr_nonnull(im);
        VipsArrayDouble *bg = vips_array_double_newv(3, 255.0, 255.0, 255.0);
        ck_assert_int_eq(vips_resize(im, &sm, 0.5, NULL), 0);
        ck_assert_int_eq(vips_gaussblur(sm, &bl, 0.3, NULL), 0);
        ck_assert_int_eq(vips_similarity(bl, &rot, "angle", 5.0, "background", bg, NULL), 0);
        vips_area_unref(VIPS_AREA(bg));
        void *jpg;
        size_t jlen;
        ck_assert_int_eq(vips_jpegsave_buffer(rot, &jpg, &jlen, "Q", 60, NULL), 0);
        g_object_unref(rot), g_object_unref(bl), g_object_unref(sm), g_object_unref(im);
        free(data);
        hm_verdict_t v;
        hm_query_t q = { 0 };
        ck_assert_int_eq(hm_engine_score(eng, ctx, jpg, jlen, &q, &v), 0);
        g_free(jpg);
        n++;
        int ok = v.n_matches > 0 && v.matches[0].matched && strcmp(v.matches[0].ref, id) == 0;
        /* never another reference */
        ck_assert_msg(ok || v.n_matches == 0 || !v.matches[0].matched, "%s matched %s", id,
                      v.matches[0].ref);
        found += ok;
    }
    fclose(f);
    ck_assert_int_eq(n, 11);
    ck_assert_msg(found >= 10, "%d of 11 degraded copies found", found);
}
END_TEST

/* The local-feature stop-word option: out of range is refused; every valid
 * setting (none, the tightest, the faster 4) still finds the demo's crop
 * (the demo bank's lists are all far below the 256 entries stop words
 * start at: the option's effect is measured by bench_e2e, at 100k). */
START_TEST(test_lf_stop_factor_option)
{
    hm_engine_t *bad = NULL;
    hm_engine_opts_t eo = { .lf_stop_factor = 65 };
    char *d2 = tu_tmpdir();
    ck_assert_int_eq(hm_engine_open(&bad, d2, &eo), HM_E_INVAL);
    ck_assert_ptr_null(bad);
    tu_rmtree(d2);
    free(d2);
    static const int vals[] = { -1, 1, 4 };
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        hm_engine_close(&eng);
        eo.lf_stop_factor = vals[i];
        ck_assert_int_eq(hm_engine_open(&eng, dir, &eo), 0);
        hm_verdict_t v;
        ck_assert_int_eq(s_score("queries/listing-1003.jpg", "s-42", "1003", &v), HM_DEC_SUSPECT);
        ck_assert_str_eq(v.matches[0].ref, "tropicana-apple-001");
        ck_assert_str_eq(v.matches[0].signal, "local");
    }
}
END_TEST

Suite *hm_suite_engine(void)
{
    Suite *s = suite_create("engine");
    TCase *tc = tcase_create("demo");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, s_setup, s_teardown);
    tcase_add_test(tc, test_demo_decisions);
    tcase_add_test(tc, test_strikes);
    tcase_add_test(tc, test_feedback_remove_relabel);
    tcase_add_test(tc, test_top_k);
    tcase_add_test(tc, test_weak_match_corroborated);
    tcase_add_test(tc, test_degraded_copies);
    tcase_add_test(tc, test_lf_stop_factor_option);
    tcase_add_test(tc, test_restart_and_snapshot);
    tcase_add_test(tc, test_readers_during_writes);
    tcase_add_test(tc, test_kill9_while_adding);
    suite_add_tcase(s, tc);
    TCase *tg = tcase_create("growth");
    tcase_set_timeout(tg, 120);
    tcase_add_test(tg, test_vindex_grows_with_bank);
    suite_add_tcase(s, tg);
    return s;
}
