/*
 * bench_accuracy.c - copy-detection accuracy per signal and per transform
 * family, the fused verdict, the OpenCV PHash peer, and the engine's
 * end-to-end speed, in one run (see bench_gen.h for the set).
 *
 *   bench_accuracy [--quick] [--queries N] [--seed S] [--threads N]
 *                  [--out DIR] [--peer PATH] [--e2e N] [--dataset DIR] [--dump N]
 *
 * --dump N writes the first N queries into DIR as JPEG files (to look at);
 * with HMB_KEEP_DB set in the environment the engine's database is kept
 * (its path on stderr) so failures can be replayed with `hallmark score`;
 * --preds FILE writes every query's spec and per-signal prediction.
 *
 * Each signal alone is evaluated by exhaustive nearest-reference search over
 * the fingerprints (so index shortcuts cannot hide a signal's weakness):
 *   pdq            the original PDQ of query and reference;
 *   pdq_dih        the query's 8 dihedral variants against the reference;
 *   pdq_dih_trim   the same plus trimmed content boxes on both sides (what the
 *                  engine searches);
 *   phash, dhash   whole images; *_trim with trimmed boxes on both sides;
 *   desc           cosine of the global descriptors;
 *   opencv_phash   the peer (bench/peer_opencv), 64 bits;
 *   local          local features alone (the engine with hm_query_t.local_only:
 *                  inverted file, RANSAC fit, the verified score).
 * The fused verdict is the engine's (hm_engine_score on the query's bytes, with
 * top_k, so local features take part), ranked by
 * its score, once with the built-in thresholds and once with the thresholds
 * this run finds for precision 0.999 (loaded from a JSON file).
 *
 * Output in DIR: accuracy.json, accuracy.md (report sections), recall.dat,
 * pr_SIGNAL.dat, thresholds.json (the calibrated thresholds).
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <vips/vips.h>

#include "bench_gen.h"
#include "bench_metrics.h"
#include "hm_engine.h"
#include "hm_error.h"
#include "hm_fp.h"
#include "hm_hindex.h"
#include "hm_matcher.h"
#include "hm_sha.h"
#include "hm_util.h"

#include "bench_acc.h"

static void s_record(run_t *r, uint32_t idx, const void *data, size_t len)
{
    uint32_t hdr[2] = { idx, (uint32_t)len };
    pthread_mutex_lock(&r->lock);
    fwrite(hdr, sizeof hdr, 1, r->records);
    fwrite(data, 1, len, r->records);
    pthread_mutex_unlock(&r->lock);
}

/* Workers: references first (their original bytes), then the queries. */
static void *s_fp_worker(void *arg)
{
    run_t *r = arg;
    hm_fp_ctx_t *ctx = NULL;
    if (hm_fp_ctx_new(&ctx, NULL))
        return NULL;
    for (;;) {
        int k = atomic_fetch_add(&r->next, 1);
        if (k >= r->nr + r->nq)
            break;
        if (k < r->nr) {
            const hmb_photo_t *p = &r->set.photos[r->set.refs[k]];
            if (hm_fp_compute(ctx, p->data, p->len, &r->rfp[k]))
                fprintf(stderr, "bench_accuracy: reference %s: %s\n", p->path, hm_last_error());
            s_record(r, (uint32_t)(r->nq + k), p->data, p->len);
            continue;
        }
        int q = k - r->nr;
        void *buf = NULL;
        size_t len = 0;
        if (hmb_gen_render(&r->set, q, &buf, &len))
            continue;
        double t0 = hm_mono_s();
        r->qok[q] = hm_fp_compute(ctx, buf, len, &r->qfp[q]) == 0;
        r->q_fp_ms[q] = (hm_mono_s() - t0) * 1e3;
        if (!r->qok[q])
            fprintf(stderr, "bench_accuracy: query %d: %s\n", q, hm_last_error());
        s_record(r, (uint32_t)q, buf, len);
        if (q < r->dump) {
            char name[4300], what[300];
            hmb_gen_describe(&r->set, q, what, sizeof what);
            for (char *c = what; *c; c++)
                if (*c == '/' || *c == ' ') *c = '_';
            snprintf(name, sizeof name, "%s/q%05d_%.60s.jpg", r->out_dir, q, what);
            FILE *f = fopen(name, "wb");
            if (f) {
                fwrite(buf, 1, len, f);
                fclose(f);
            }
        }
        /* Every query's bytes are kept: the engine scores from bytes, since
         * its local-feature signal decodes the image again at its own size. */
        {
            r->keep[q] = buf;
            r->keep_len[q] = len;
        }
        if (r->threads && (q + 1) % 2000 == 0)
            fprintf(stderr, "bench_accuracy: %d queries fingerprinted\n", q + 1);
    }
    hm_fp_ctx_free(&ctx);
    return NULL;
}

static void s_parallel(run_t *r, void *(*fn)(void *))
{
    pthread_t th[64];
    atomic_store(&r->next, 0);
    for (int t = 0; t < r->threads; t++)
        pthread_create(&th[t], NULL, fn, r);
    for (int t = 0; t < r->threads; t++)
        pthread_join(th[t], NULL);
}

static int s_pop64(uint64_t x) { return __builtin_popcountll(x); }

/* Nearest reference per signal, by exhaustive search; query-parallel. */
static void *s_signal_worker(void *arg)
{
    run_t *r = arg;
    for (;;) {
        int q = atomic_fetch_add(&r->next, 1);
        if (q >= r->nq)
            break;
        for (int s = 0; s <= S_OPENCV; s++)
            r->pred[s][q] = (pred_t){ -1, -INFINITY };
        if (!r->qok[q])
            continue;
        const hm_fp_t *a = &r->qfp[q];
        int best_d[S_DESC] = { 0 }, best_i[S_DESC + 1], best_o = 999, best_oi = -1;
        for (int s = 0; s < S_DESC; s++) {
            best_d[s] = 999;
            best_i[s] = -1;
        }
        float best_c = -2;
        best_i[S_DESC] = -1;
        const hm_hashset_t *qa[2] = { &a->full, a->has_trim ? &a->trim : NULL };
        for (int i = 0; i < r->nr; i++) {
            const hm_fp_t *b = &r->rfp[i];
            const hm_hashset_t *rb[2] = { &b->full, b->has_trim ? &b->trim : NULL };
            int d = hm_pdq_distance(&a->full.pdq[0], &b->full.pdq[0]);
            if (d < best_d[S_PDQ]) { best_d[S_PDQ] = d; best_i[S_PDQ] = i; }
            int dd = d;
            for (int v = 1; v < HM_DIH_COUNT; v++) {
                int x = hm_pdq_distance(&a->full.pdq[v], &b->full.pdq[0]);
                if (x < dd) dd = x;
            }
            if (dd < best_d[S_PDQ_DIH]) { best_d[S_PDQ_DIH] = dd; best_i[S_PDQ_DIH] = i; }
            int dt = dd, ph = 64, pht = 64, dh = 64, dht = 64;
            for (int x = 0; x < 2; x++)
                for (int y = 0; y < 2; y++) {
                    if (!qa[x] || !rb[y])
                        continue;
                    if (x || y)
                        for (int v = 0; v < HM_DIH_COUNT; v++) {
                            int z = hm_pdq_distance(&qa[x]->pdq[v], &rb[y]->pdq[0]);
                            if (z < dt) dt = z;
                        }
                    int p = s_pop64(qa[x]->phash ^ rb[y]->phash);
                    int h = s_pop64(qa[x]->dhash ^ rb[y]->dhash);
                    if (!x && !y) { ph = p; dh = h; }
                    if (p < pht) pht = p;
                    if (h < dht) dht = h;
                }
            if (dt < best_d[S_PDQ_DIH_TRIM]) { best_d[S_PDQ_DIH_TRIM] = dt; best_i[S_PDQ_DIH_TRIM] = i; }
            if (ph < best_d[S_PHASH]) { best_d[S_PHASH] = ph; best_i[S_PHASH] = i; }
            if (pht < best_d[S_PHASH_TRIM]) { best_d[S_PHASH_TRIM] = pht; best_i[S_PHASH_TRIM] = i; }
            if (dh < best_d[S_DHASH]) { best_d[S_DHASH] = dh; best_i[S_DHASH] = i; }
            if (dht < best_d[S_DHASH_TRIM]) { best_d[S_DHASH_TRIM] = dht; best_i[S_DHASH_TRIM] = i; }
            float c = hm_desc_similarity(a->desc, b->desc);
            if (c > best_c) { best_c = c; best_i[S_DESC] = i; }
            if (r->peer_q_ok && r->peer_q_ok[q] && r->peer_r_ok[i]) {
                int o = s_pop64(r->peer_q[q] ^ r->peer_r[i]);
                if (o < best_o) { best_o = o; best_oi = i; }
            }
        }
        for (int s = 0; s < S_DESC; s++)
            if (best_i[s] >= 0)
                r->pred[s][q] = (pred_t){ r->set.refs[best_i[s]], -(double)best_d[s] };
        if (best_i[S_DESC] >= 0)
            r->pred[S_DESC][q] = (pred_t){ r->set.refs[best_i[S_DESC]], best_c };
        if (best_oi >= 0)
            r->pred[S_OPENCV][q] = (pred_t){ r->set.refs[best_oi], -(double)best_o };
    }
    return NULL;
}

/* ------------------------------------------------------------- the peer */

static int s_run_peer(run_t *r, const char *peer, const char *records, double *dec_ms,
                      double *hash_ms)
{
    char cmd[8400];
    snprintf(cmd, sizeof cmd, "'%s' '%s'", peer, records);
    /* The peer reads plain length-prefixed records: rewrite ours (idx, len,
     * bytes) as (len, bytes) in a second file, remembering the order. */
    char plain[4300];
    snprintf(plain, sizeof plain, "%s.plain", records);
    FILE *in = fopen(records, "rb"), *out = fopen(plain, "wb");
    if (!in || !out) {
        if (in) fclose(in);
        if (out) fclose(out);
        return -1;
    }
    int total = r->nq + r->nr, n = 0;
    uint32_t *order = malloc((size_t)total * sizeof *order);
    uint32_t hdr[2];
    uint8_t *buf = NULL;
    size_t cap = 0;
    while (n < total && fread(hdr, sizeof hdr, 1, in) == 1) {
        if (hdr[1] > cap) {
            cap = hdr[1];
            buf = realloc(buf, cap);
        }
        if (fread(buf, 1, hdr[1], in) != hdr[1])
            break;
        order[n++] = hdr[0];
        uint8_t le[4] = { hdr[1] & 255, hdr[1] >> 8 & 255, hdr[1] >> 16 & 255, hdr[1] >> 24 };
        fwrite(le, 1, 4, out);
        fwrite(buf, 1, hdr[1], out);
    }
    free(buf);
    fclose(in);
    fclose(out);
    snprintf(cmd, sizeof cmd, "'%s' '%s'", peer, plain);
    FILE *p = popen(cmd, "r");
    if (!p) {
        free(order);
        return -1;
    }
    char line[256];
    int k = 0;
    while (fgets(line, sizeof line, p)) {
        if (line[0] == '#') {
            sscanf(line, "# n=%*d decode_ms=%lf hash_ms=%lf", dec_ms, hash_ms);
            continue;
        }
        if (k >= n)
            break;
        uint32_t idx = order[k++];
        uint64_t h = 0;
        double dm = 0, hm = 0;
        char *sp = strchr(line, ' ');
        if (sp) {
            *sp = '\0';
            sscanf(sp + 1, "%lf %lf", &dm, &hm);
        }
        int ok = line[0] != '-' && hm_u64_from_hex(line, &h) == 0;
        if (idx >= (uint32_t)r->nq && ok) {
            r->peer_r_dec[idx - r->nq] = dm;
            r->peer_r_hash[idx - r->nq] = hm;
        }
        if (idx < (uint32_t)r->nq) {
            r->peer_q[idx] = h;
            r->peer_q_ok[idx] = ok;
        } else {
            r->peer_r[idx - r->nq] = h;
            r->peer_r_ok[idx - r->nq] = ok;
        }
    }
    int st = pclose(p);
    free(order);
    unlink(plain);
    return st == 0 && k == n ? 0 : -1;
}

/* ------------------------------------------------------------ the engine */

static int s_ext_photo(const char *ext) { return atoi(ext + 1); }

typedef struct {
    run_t *r;
    hm_engine_t *e;
    pred_t *out;
    int local_only;
    atomic_int next;
    atomic_long tp, fp;
} eval_job_t;

static void *s_eval_worker(void *arg)
{
    eval_job_t *j = arg;
    run_t *r = j->r;
    hm_query_t qq = { .top_k = 10, .local_only = j->local_only };
    hm_verdict_t *v = malloc(sizeof *v);
    hm_fp_ctx_t *ctx = NULL;
    hm_fp_ctx_new(&ctx, NULL);
    for (;;) {
        int q = atomic_fetch_add(&j->next, 1);
        if (q >= r->nq)
            break;
        const hmb_spec_t *sp = &r->set.specs[q];
        j->out[q] = (pred_t){ -1, -INFINITY };
        if (!r->qok[q])
            continue;
        int src = r->keep[q] ? hm_engine_score(j->e, ctx, r->keep[q], r->keep_len[q], &qq, v)
                             : hm_engine_score_fp(j->e, &r->qfp[q], &qq, v);
        if (src || v->decision == HM_DEC_ERROR || v->n_matches == 0)
            continue;
        int best = s_ext_photo(v->matches[0].ref);
        j->out[q] = (pred_t){ best, v->score };
        if (v->decision != HM_DEC_UNKNOWN) {
            int ok = sp->positive && r->set.photos[best].group == r->set.photos[sp->src].group;
            atomic_fetch_add(ok ? &j->tp : &j->fp, 1);
        }
    }
    hm_fp_ctx_free(&ctx);
    free(v);
    return NULL;
}

/* The fused verdict on every query (top_k 10, so a best reference is listed
 * even below threshold): its best match and score, and the precision and
 * recall of the engine's own decision.  Query-parallel. */
static void s_engine_eval(run_t *r, hm_engine_t *e, pred_t *out, int local_only, double *dec_p,
                          double *dec_r)
{
    eval_job_t j = { .r = r, .e = e, .out = out, .local_only = local_only };
    pthread_t th[64];
    for (int t = 0; t < r->threads; t++)
        pthread_create(&th[t], NULL, s_eval_worker, &j);
    for (int t = 0; t < r->threads; t++)
        pthread_join(th[t], NULL);
    long npos = 0, tp = atomic_load(&j.tp), fp = atomic_load(&j.fp);
    for (int q = 0; q < r->nq; q++)
        npos += r->set.specs[q].positive;
    *dec_p = tp + fp ? (double)tp / (double)(tp + fp) : 1.0;
    *dec_r = npos ? (double)tp / npos : 0;
}

/*
 * Joint calibration.  Each signal's own precision-0.999 threshold does not
 * make the engine's decision precise to 0.999: it matches when ANY signal
 * passes, so the false positives of the signals add up.  This simulates the
 * decision from the exhaustive per-signal nearest references (the engine's
 * four searches: PDQ dihedral + trim, pHash + trim, dHash + trim, descriptor;
 * the best passing candidate by hm_match_score is the prediction) and
 * tightens, one step at a time, the signal whose step removes the most
 * false positives per true positive lost, until the simulated decision
 * reaches the target.  The engine then verifies the result.
 */
static const int s_cal_sig[4] = { S_PDQ_DIH_TRIM, S_PHASH_TRIM, S_DHASH_TRIM, S_DESC };
static const int s_cal_hm[4] = { HM_SIG_PDQ, HM_SIG_PHASH, HM_SIG_DHASH, HM_SIG_DESC };

static void s_sim_decision(const run_t *r, const hm_thresholds_t *t, long *tp, long *fp)
{
    *tp = *fp = 0;
    for (int q = 0; q < r->nq; q++) {
        double best = -1;
        int ref = -1;
        for (int k = 0; k < 4; k++) {
            const pred_t *p = &r->pred[s_cal_sig[k]][q];
            if (p->best < 0)
                continue;
            int d = k < 3 ? (int)(-p->score + 0.5) : -1;
            float c = k == 3 ? (float)p->score : 0;
            if (!hm_match_passes(t, s_cal_hm[k], d, c))
                continue;
            double sc = hm_match_score(t, s_cal_hm[k], hm_match_similarity(s_cal_hm[k], d, c));
            if (sc > best) {
                best = sc;
                ref = p->best;
            }
        }
        if (ref < 0)
            continue;
        const hmb_spec_t *sp = &r->set.specs[q];
        if (sp->positive && r->set.photos[ref].group == r->set.photos[sp->src].group)
            (*tp)++;
        else
            (*fp)++;
    }
}

static void s_tighten(hm_thresholds_t *t, int k)
{
    switch (k) {
    case 0: t->pdq--; t->allow_pdq = t->pdq; break;
    case 1: t->phash--; break;
    case 2: t->dhash--; break;
    default: t->desc += 0.0025f; break;
    }
}

static int s_joint_calibrate(const run_t *r, hm_thresholds_t *t, double target, int *steps)
{
    long tp, fp;
    *steps = 0;
    for (;;) {
        s_sim_decision(r, t, &tp, &fp);
        if (tp + fp == 0 || (double)tp / (double)(tp + fp) >= target)
            return 0;
        int bk = -1;
        double bval = -1;
        for (int k = 0; k < 4; k++) {
            hm_thresholds_t u = *t;
            s_tighten(&u, k);
            if (u.pdq < 0 || u.phash < -1 || u.dhash < -1)
                continue;
            long tp2, fp2;
            s_sim_decision(r, &u, &tp2, &fp2);
            double val = (double)(fp - fp2) / (double)(tp - tp2 + 1);
            if (val > bval) {
                bval = val;
                bk = k;
            }
        }
        if (bk < 0 || ++*steps > 400)
            return -1;
        s_tighten(t, bk);
    }
}

typedef struct {
    hm_engine_t *e;
    run_t *r;
    int start, step, n;
} e2e_job_t;

static void *s_e2e_worker(void *arg)
{
    e2e_job_t *j = arg;
    hm_fp_ctx_t *ctx = NULL;
    hm_fp_ctx_new(&ctx, NULL);
    hm_verdict_t *v = malloc(sizeof *v);
    hm_query_t qq = { 0 };
    for (int q = j->start; q < j->n; q += j->step)
        if (j->r->keep[q])
            hm_engine_score(j->e, ctx, j->r->keep[q], j->r->keep_len[q], &qq, v);
    free(v);
    hm_fp_ctx_free(&ctx);
    return NULL;
}

static double s_e2e(run_t *r, hm_engine_t *e, int threads)
{
    pthread_t th[64];
    e2e_job_t jobs[64];
    double t0 = hm_mono_s();
    for (int t = 0; t < threads; t++) {
        jobs[t] = (e2e_job_t){ e, r, t, threads, r->e2e_keep };
        pthread_create(&th[t], NULL, s_e2e_worker, &jobs[t]);
    }
    for (int t = 0; t < threads; t++)
        pthread_join(th[t], NULL);
    return r->e2e_keep / (hm_mono_s() - t0);
}

/* ------------------------------------------------------------ reporting */

static int s_correct(const run_t *r, int q, const pred_t *p)
{
    const hmb_spec_t *sp = &r->set.specs[q];
    return p->best >= 0 && sp->positive &&
           r->set.photos[p->best].group == r->set.photos[sp->src].group;
}

static void s_eval_signal(const run_t *r, int s, sigres_t *res)
{
    hmb_pred_t *pp = malloc((size_t)r->nq * sizeof *pp);
    int n = 0, npos = 0, fam_pos[HMB_F_COUNT] = { 0 }, fam_hit[HMB_F_COUNT] = { 0 };
    for (int q = 0; q < r->nq; q++) {
        npos += r->set.specs[q].positive;
        if (r->pred[s][q].best >= 0)
            pp[n++] = (hmb_pred_t){ r->pred[s][q].score, s_correct(r, q, &r->pred[s][q]) };
    }
    res->present = n > 0;
    hmb_metrics_compute(pp, n, npos, 0.999, &res->m);
    for (int q = 0; q < r->nq; q++) {
        const hmb_spec_t *sp = &r->set.specs[q];
        if (!sp->positive)
            continue;
        fam_pos[sp->family]++;
        const pred_t *p = &r->pred[s][q];
        if (s_correct(r, q, p) && p->score >= res->m.thr_at_p)
            fam_hit[sp->family]++;
    }
    for (int f = 0; f < HMB_F_COUNT; f++)
        res->fam_recall[f] = fam_pos[f] ? (double)fam_hit[f] / fam_pos[f] : NAN;
    free(pp);
}

static void s_usage(void)
{
    fprintf(stderr, "usage: bench_accuracy [--quick] [--queries N] [--seed S] [--threads N] "
                    "[--out DIR] [--peer PATH] [--e2e N] [--dataset DIR] [--dump N]\n");
}

int main(int argc, char **argv)
{
    int dump = 0, quick = 0, nq = 12000, threads = (int)sysconf(_SC_NPROCESSORS_ONLN), e2e = 1000;
    uint64_t seed = 20261129;
    const char *out_dir = "bench/report", *peer = NULL, *dataset = NULL, *preds_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) { quick = 1; nq = 1500; e2e = 300; }
        else if (!strcmp(argv[i], "--queries") && i + 1 < argc) nq = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc) seed = strtoull(argv[++i], NULL, 0);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--out") && i + 1 < argc) out_dir = argv[++i];
        else if (!strcmp(argv[i], "--peer") && i + 1 < argc) peer = argv[++i];
        else if (!strcmp(argv[i], "--e2e") && i + 1 < argc) e2e = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--dataset") && i + 1 < argc) dataset = argv[++i];
        else if (!strcmp(argv[i], "--dump") && i + 1 < argc) dump = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--preds") && i + 1 < argc) preds_path = argv[++i];
        else { s_usage(); return 2; }
    }
    (void)quick; /* only changes the defaults above */
    if (threads < 1) threads = 1;
    if (threads > 64) threads = 64;
    if (nq < HMB_F_COUNT) nq = HMB_F_COUNT;
    if (e2e > nq) e2e = nq;
    char dsbuf[4096];
    if (!dataset) {
        const char *shared = getenv("HM_SHARED") ? getenv("HM_SHARED") : "../shared";
        snprintf(dsbuf, sizeof dsbuf, "%s/datasets/grocery", shared);
        dataset = dsbuf;
    }
    if (VIPS_INIT(argv[0]) || hm_decode_init()) {
        fprintf(stderr, "bench_accuracy: libvips init failed\n");
        return 1;
    }
    mkdir(out_dir, 0755);
    run_t *r = calloc(1, sizeof *r);
    hmb_gen_opts_t go = { .seed = seed, .n_queries = nq, .positive_share = 0.5 };
    double t_start = hm_mono_s();
    if (hmb_gen_open(&r->set, dataset, &go))
        return 1;
    r->nq = r->set.n_specs;
    r->nr = r->set.n_refs;
    r->threads = threads;
    r->e2e_keep = e2e;
    r->dump = dump;
    r->out_dir = out_dir;
    r->rfp = calloc((size_t)r->nr, sizeof *r->rfp);
    r->qfp = calloc((size_t)r->nq, sizeof *r->qfp);
    r->qok = calloc((size_t)r->nq, sizeof *r->qok);
    r->q_fp_ms = calloc((size_t)r->nq, sizeof *r->q_fp_ms);
    r->keep = calloc((size_t)r->nq, sizeof *r->keep);
    r->keep_len = calloc((size_t)r->nq, sizeof *r->keep_len);
    for (int s = 0; s < S_COUNT; s++)
        r->pred[s] = calloc((size_t)r->nq, sizeof(pred_t));
    pthread_mutex_init(&r->lock, NULL);
    char tmpl[] = "/tmp/hm-bench-XXXXXX";
    char *tmp = mkdtemp(tmpl);
    char recpath[4200], dbpath[4200], thrpath[4200];
    snprintf(recpath, sizeof recpath, "%s/records", tmp);
    snprintf(dbpath, sizeof dbpath, "%s/db", tmp);
    r->records = fopen(recpath, "wb");
    int npos = 0;
    for (int q = 0; q < r->nq; q++)
        npos += r->set.specs[q].positive;
    fprintf(stderr, "bench_accuracy: %d photos in %d scene groups -> %d references, %d "
                    "distractors; %d queries (%d positive), seed %llu, %d threads\n",
            r->set.n_photos, r->set.n_groups, r->nr, r->set.n_distractors, r->nq, npos,
            (unsigned long long)seed, threads);

    /* 1. generate and fingerprint */
    double t0 = hm_mono_s();
    s_parallel(r, s_fp_worker);
    fclose(r->records);
    double t_gen = hm_mono_s() - t0;
    int nfail = 0;
    for (int q = 0; q < r->nq; q++)
        nfail += !r->qok[q];
    fprintf(stderr, "bench_accuracy: generated and fingerprinted in %.1f s (%d failed)\n", t_gen,
            nfail);

    /* 2. the peer */
    double peer_dec = 0, peer_hash = 0;
    int have_peer = 0;
    if (peer) {
        r->peer_q = calloc((size_t)r->nq, 8);
        r->peer_r = calloc((size_t)r->nr, 8);
        r->peer_q_ok = calloc((size_t)r->nq, sizeof(int));
        r->peer_r_ok = calloc((size_t)r->nr, sizeof(int));
        r->peer_r_dec = calloc((size_t)r->nr, sizeof(double));
        r->peer_r_hash = calloc((size_t)r->nr, sizeof(double));
        t0 = hm_mono_s();
        have_peer = s_run_peer(r, peer, recpath, &peer_dec, &peer_hash) == 0;
        if (!have_peer) {
            fprintf(stderr, "bench_accuracy: the peer %s failed; its rows are left out\n", peer);
            free(r->peer_q_ok);
            r->peer_q_ok = NULL;
        }
        fprintf(stderr, "bench_accuracy: peer in %.1f s\n", hm_mono_s() - t0);
        if (have_peer) { /* medians over the references: the same bytes hallmark times below */
            double *a = malloc((size_t)r->nr * sizeof *a), *b = malloc((size_t)r->nr * sizeof *b);
            int m = 0;
            for (int i = 0; i < r->nr; i++)
                if (r->peer_r_ok[i]) {
                    a[m] = r->peer_r_dec[i];
                    b[m++] = r->peer_r_hash[i];
                }
            peer_dec = hmb_acc_median(a, m);
            peer_hash = hmb_acc_median(b, m);
            free(a);
            free(b);
        }
    }
    /* hallmark's whole fingerprint on the references' bytes, one thread,
     * nothing else of ours running: the figure the peer is compared with. */
    double hm_ref_ms = 0, hm_ref_dec_ms = 0;
    {
        hm_fp_ctx_t *ctx = NULL;
        hm_fp_ctx_new(&ctx, NULL);
        double *a = malloc((size_t)r->nr * sizeof *a), *b = malloc((size_t)r->nr * sizeof *b);
        hm_fp_t tmpfp;
        for (int i = 0; i < r->nr; i++) {
            const hmb_photo_t *p = &r->set.photos[r->set.refs[i]];
            double ta = hm_mono_s();
            hm_fp_compute(ctx, p->data, p->len, &tmpfp);
            a[i] = (hm_mono_s() - ta) * 1e3;
            b[i] = hm_fp_ctx_timing(ctx)->decode_ns * 1e-6;
        }
        hm_ref_ms = hmb_acc_median(a, r->nr);
        hm_ref_dec_ms = hmb_acc_median(b, r->nr);
        free(a);
        free(b);
        hm_fp_ctx_free(&ctx);
    }
    unlink(recpath);

    /* 3. each signal alone */
    t0 = hm_mono_s();
    s_parallel(r, s_signal_worker);
    fprintf(stderr, "bench_accuracy: exhaustive signal search in %.1f s\n", hm_mono_s() - t0);
    sigres_t res[S_COUNT];
    memset(res, 0, sizeof res);
    for (int s = 0; s <= S_OPENCV; s++)
        s_eval_signal(r, s, &res[s]);

    /* 4. the engine: default thresholds, then the calibrated ones */
    hm_engine_t *e = NULL;
    hm_engine_opts_t eo = { .nosync = 1 };
    double dec_p[2] = { 0 }, dec_r[2] = { 0 }, e2e_1 = 0, e2e_n = 0, add_ms = 0, vis_ms = 0;
    double add_many_s = 0;
    hm_thresholds_t cal = hm_thresholds_default;
    int rc = hm_engine_open(&e, dbpath, &eo);
    if (rc) {
        fprintf(stderr, "bench_accuracy: engine: %s\n", hm_last_error());
        return 1;
    }
    hm_engine_item_t *items = calloc((size_t)r->nr, sizeof *items);
    char (*ext)[16] = calloc((size_t)r->nr, sizeof *ext), (*brand)[16] = calloc((size_t)r->nr, sizeof *brand);
    for (int i = 0; i < r->nr; i++) {
        const hmb_photo_t *p = &r->set.photos[r->set.refs[i]];
        snprintf(ext[i], sizeof ext[i], "r%d", r->set.refs[i]);
        snprintf(brand[i], sizeof brand[i], "class%d", p->cls);
        items[i].meta = (hm_ref_meta_t){ .ext_id = ext[i], .bank = HM_BANK_GENUINE,
                                         .brand = brand[i], .source = "grocery" };
        items[i].fp = &r->rfp[i];
        hm_sha256(p->data, p->len, items[i].sha256);
        uint8_t *lf = NULL;
        if (hm_engine_ref_features(p->data, p->len, &lf, &items[i].lf_len) == 0)
            items[i].lf_blob = lf;
    }
    t0 = hm_mono_s();
    if (hm_engine_add_many(e, items, (size_t)r->nr)) {
        fprintf(stderr, "bench_accuracy: add_many: %s\n", hm_last_error());
        return 1;
    }
    add_many_s = hm_mono_s() - t0;
    for (int i = 0; i < r->nr; i++)
        free((void *)items[i].lf_blob);
    int dup = 0;
    for (int i = 0; i < r->nr; i++)
        dup += items[i].rc != 0;
    if (dup)
        fprintf(stderr, "bench_accuracy: %d references not added (duplicate bytes)\n", dup);
    s_engine_eval(r, e, r->pred[S_FUSED_DEFAULT], 0, &dec_p[0], &dec_r[0]);
    s_eval_signal(r, S_FUSED_DEFAULT, &res[S_FUSED_DEFAULT]);
    /* local features alone: the engine asked for that signal only */
    {
        double lp, lr;
        s_engine_eval(r, e, r->pred[S_LOCAL], 1, &lp, &lr);
        s_eval_signal(r, S_LOCAL, &res[S_LOCAL]);
        fprintf(stderr, "bench_accuracy: local features alone: decision precision %.4f recall %.4f\n",
                lp, lr);
    }
    /* Calibrated: each signal's precision-0.999 threshold, as the engine
     * searches it (PDQ with dihedral variants and trim; pHash/dHash with trim). */
    /* PDQ is clamped to the widest radius the engine's hash index searches
     * (a wider threshold would make every PDQ range query fail). */
    int pdq_clamped = 0;
    if (!isinf(res[S_PDQ_DIH_TRIM].m.thr_at_p)) cal.pdq = (int)(-res[S_PDQ_DIH_TRIM].m.thr_at_p + .5);
    if (cal.pdq > HM_HINDEX_MAX_RADIUS) {
        cal.pdq = HM_HINDEX_MAX_RADIUS;
        pdq_clamped = 1;
    }
    cal.allow_pdq = cal.pdq;
    cal.phash = isinf(res[S_PHASH_TRIM].m.thr_at_p) ? -1 : (int)(-res[S_PHASH_TRIM].m.thr_at_p + .5);
    cal.dhash = isinf(res[S_DHASH_TRIM].m.thr_at_p) ? -1 : (int)(-res[S_DHASH_TRIM].m.thr_at_p + .5);
    cal.desc = isinf(res[S_DESC].m.thr_at_p) ? 2.0f : (float)res[S_DESC].m.thr_at_p;
    hm_thresholds_t alone = cal; /* each signal's own P >= 0.999 threshold */
    long sim_tp, sim_fp;
    s_sim_decision(r, &alone, &sim_tp, &sim_fp);
    double sim_p_alone = sim_tp + sim_fp ? (double)sim_tp / (double)(sim_tp + sim_fp) : 1;
    int steps = 0;
    int jrc = s_joint_calibrate(r, &cal, 0.999, &steps);
    s_sim_decision(r, &cal, &sim_tp, &sim_fp);
    fprintf(stderr, "bench_accuracy: joint calibration %s after %d steps: pdq %d phash %d "
                    "dhash %d desc %.4f (simulated precision %.4f, recall %.4f)\n",
            jrc ? "failed" : "done", steps, cal.pdq, cal.phash, cal.dhash, (double)cal.desc,
            sim_tp + sim_fp ? (double)sim_tp / (double)(sim_tp + sim_fp) : 1.0,
            (double)sim_tp / (npos ? npos : 1));
    snprintf(thrpath, sizeof thrpath, "%s/thresholds.json", out_dir);
    FILE *tf = fopen(thrpath, "w");
    fprintf(tf, "{\"pdq\":%d,\"pdq_min_quality\":%d,\"phash\":%d,\"dhash\":%d,\"desc\":%.4f,"
                "\"allow_pdq\":%d}\n", cal.pdq, cal.pdq_min_quality, cal.phash, cal.dhash,
            (double)(cal.desc > 1.0f ? 1.5f : cal.desc), cal.allow_pdq);
    fclose(tf);
    double e2e_cal_1 = 0;
    if (hm_engine_load_thresholds(e, thrpath) == 0) {
        s_engine_eval(r, e, r->pred[S_FUSED_CAL], 0, &dec_p[1], &dec_r[1]);
        s_eval_signal(r, S_FUSED_CAL, &res[S_FUSED_CAL]);
        e2e_cal_1 = s_e2e(r, e, 1);
    } else {
        fprintf(stderr, "bench_accuracy: calibrated thresholds rejected: %s\n", hm_last_error());
    }
    hm_engine_load_thresholds(e, NULL);

    /* 5. end-to-end engine speed, and time to become matchable */
    e2e_1 = s_e2e(r, e, 1);
    e2e_n = s_e2e(r, e, threads);
    {
        hm_fp_ctx_t *ctx = NULL;
        hm_fp_ctx_new(&ctx, NULL);
        hm_verdict_t *v = malloc(sizeof *v);
        hm_query_t qq = { 0 };
        int nt = r->set.n_distractors < 20 ? r->set.n_distractors : 20, m = 0;
        double a[20], b[20];
        for (int k = 0; k < nt; k++) {
            const hmb_photo_t *p = &r->set.photos[r->set.distractors[k]];
            char id[32];
            snprintf(id, sizeof id, "new%d", k);
            hm_ref_meta_t meta = { .ext_id = id, .bank = HM_BANK_COUNTERFEIT, .brand = "new" };
            double ta = hm_mono_s();
            if (hm_engine_add(e, ctx, &meta, p->data, p->len, NULL))
                continue;
            double tb = hm_mono_s();
            int tries = 0;
            do hm_engine_score(e, ctx, p->data, p->len, &qq, v);
            while (v->decision != HM_DEC_COUNTERFEIT && ++tries < 1000);
            double tc = hm_mono_s();
            if (v->decision == HM_DEC_COUNTERFEIT) {
                a[m] = (tb - ta) * 1e3;
                b[m] = (tc - ta) * 1e3;
                m++;
            }
            hm_engine_remove(e, id);
        }
        add_ms = hmb_acc_median(a, m);
        vis_ms = hmb_acc_median(b, m);
        free(v);
        hm_fp_ctx_free(&ctx);
    }
    hm_engine_close(&e);
    char cmd[4300];
    if (getenv("HMB_KEEP_DB")) /* to look at failures with `hallmark score --db` */
        fprintf(stderr, "bench_accuracy: kept %s (HMB_KEEP_DB)\n", dbpath);
    else {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
        if (system(cmd)) {}
    }

    /* 6. outputs (bench_acc_out.c) */
    acc_summary_t sm = {
        .seed = seed,
        .npos = npos,
        .nfail = nfail,
        .t_gen = t_gen,
        .cal = cal,
        .alone = alone,
        .sim_p_alone = sim_p_alone,
        .steps = steps,
        .pdq_clamped = pdq_clamped,
        .dup = dup,
        .add_many_s = add_many_s,
        .e2e_1 = e2e_1,
        .e2e_n = e2e_n,
        .e2e_cal_1 = e2e_cal_1,
        .threads = threads,
        .add_ms = add_ms,
        .vis_ms = vis_ms,
        .hm_ref_ms = hm_ref_ms,
        .hm_ref_dec_ms = hm_ref_dec_ms,
        .have_peer = have_peer,
        .peer_dec = peer_dec,
        .peer_hash = peer_hash,
        .t_start = t_start,
    };
    memcpy(sm.dec_p, dec_p, sizeof dec_p);
    memcpy(sm.dec_r, dec_r, sizeof dec_r);
    return hmb_acc_write(r, res, &sm, out_dir, preds_path);
}
