/*
 * bench_lf.c - accuracy and speed probe for local features (hm_lf), the
 * descriptor index (hm_lfindex) and geometric verification (hm_geom).
 *
 *   bench_lf [--refs N] [--side S] [--qkp K] [--qside S] [--nomirror] [--pairs] [--scale]
 *
 * Data: ../shared/datasets/grocery (HM_SHARED).  References: the first photo
 * of N scene groups (default 200; groups taken in scene-groups.tsv order,
 * every 4th group skipped to leave distractor scenes).  Queries per
 * reference: one generated copy per transform family (bench/lf_gen.h),
 * JPEG-encoded (q = 85; q = 40 for the jpeg40 family).  Negatives: the second
 * photo of each multi-photo group whose first photo is a reference (a burst
 * shot of the same scene: must not match), a photo of a skipped group with a
 * logo-sized square (1/4 of the side) of a reference pasted in, and the
 * skipped groups' photos themselves (unrelated).
 *
 *   --side    reference decode side (default 348); --qkp / --qside: query
 *             keypoints (768) and decode + level-0 side (512);
 *   --exttime extraction time per SIMD level, with and without mirror set;
 *   --k1 K, --k2 K        vocabulary (hm_lfindex_opts_t);
 *   --probes P, --stop F  index query options (hm_lfindex_qopts_t);
 *   --upscale   enlarge small queries to --qside;
 *   --nomirror  no mirror set for queries (to measure what it buys);
 *   --pairs   verify each query against its own reference only (no index):
 *             prints the evidence distributions the precision rule was
 *             calibrated on (one line per case in bench_lf_pairs.tsv).
 *   default   index every reference, query every query through the index,
 *             verify the top candidates; report recall at zero false
 *             positives per family (the decision threshold on inliers is
 *             the smallest that admits no negative), times per query, bytes
 *             per reference.
 *   --scale   then add synthetic references (random descriptors and
 *             positions; real vocabulary) up to 10k and 100k and time the
 *             same queries again.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hm_decode.h"
#include "hm_error.h"
#include "hm_geom.h"
#include "hm_lf.h"
#include "hm_lfindex.h"
#include "hm_simd.h"
#include "hm_util.h"

#include "lf_gen.h"

#define MAXREF 1024

static const char *s_shared;
static int s_side = 348;
static int s_qkp = 768;
static int s_qside = 512;
static int s_nomirror;
static int s_upscale;
static hm_lfindex_qopts_t s_qo;
static hm_lfindex_opts_t s_io;
static hm_lf_ctx_t *s_qctx;

typedef struct item {
    char path[512];
    char group[16];
} item_t;

static item_t *s_items;
static int s_nitems;

static void load_groups(void)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/datasets/grocery/scene-groups.tsv", s_shared);
    FILE *f = fopen(p, "r");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", p);
        exit(1);
    }
    s_items = calloc(4000, sizeof *s_items);
    char line[500];
    while (fgets(line, sizeof line, f) && s_nitems < 4000) {
        if (line[0] == '#')
            continue;
        char *tab = strchr(line, '\t');
        if (!tab)
            continue;
        *tab = 0;
        char *g = tab + 1;
        g[strcspn(g, "\r\n")] = 0;
        snprintf(s_items[s_nitems].path, sizeof s_items[0].path, "%s", line);
        snprintf(s_items[s_nitems].group, sizeof s_items[0].group, "%s", g);
        s_nitems++;
    }
    fclose(f);
}

static void *read_all(const char *rel, size_t *len)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/datasets/grocery/%s", s_shared, rel);
    FILE *f = fopen(p, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    void *b = malloc((size_t)n);
    if (fread(b, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(b);
        return NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* Decode bytes and extract; returns 0 or an error; times in *t_ext. */
static int extract(hm_lf_ctx_t *ctx, const void *buf, size_t len, hm_image_t *img,
                   hm_lf_feat_t *f, hm_lf_feat_t *m, double *t_ext)
{
    hm_decode_limits_t lim = hm_decode_limits_default;
    lim.target_side = ctx == s_qctx && s_qside > s_side ? s_qside : s_side;
    int rc = hm_decode(buf, len, &lim, img);
    if (rc)
        return rc;
    double t0 = hm_mono_s();
    rc = hm_lf_extract(ctx, img->rgb, img->w, img->h, img->stride, f, m);
    if (t_ext)
        *t_ext += hm_mono_s() - t0;
    return rc;
}


/* ---- the data set ---- */

static int s_nref;
static int s_ref_item[MAXREF];     /* item index of each reference */
static int s_burst_item[MAXREF];   /* a second photo of its group, or -1 */
static int s_dist_item[MAXREF];    /* a photo of a skipped (distractor) group */
static VipsImage *s_ref_im[MAXREF];
static hm_lf_feat_t s_ref_f[MAXREF];

static void choose(int want)
{
    int ng = 0, nd = 0;
    for (int i = 0; i < s_nitems && s_nref < want; i++) {
        if (i > 0 && strcmp(s_items[i].group, s_items[i - 1].group) == 0)
            continue;
        /* a group's photos are contiguous in the file only mostly: find the first */
        int first = 1;
        for (int j = 0; j < i; j++)
            if (strcmp(s_items[j].group, s_items[i].group) == 0) {
                first = 0;
                break;
            }
        if (!first)
            continue;
        ng++;
        if (ng % 4 == 0) {
            if (nd < MAXREF)
                s_dist_item[nd++] = i;
            continue;
        }
        s_ref_item[s_nref] = i;
        s_burst_item[s_nref] = -1;
        for (int j = i + 1; j < s_nitems; j++)
            if (strcmp(s_items[j].group, s_items[i].group) == 0) {
                s_burst_item[s_nref] = j;
                break;
            }
        s_nref++;
    }
    for (int k = 0; k < s_nref; k++)
        s_dist_item[k] = s_dist_item[k % (nd ? nd : 1)];
}

typedef struct qcase {
    int fam;            /* family, or -1 burst, -2 logo, -3 unrelated */
    int ref;            /* the reference it copies (or is a negative against) */
    void *buf;
    size_t len;
    lfg_truth_t truth;
} qcase_t;

static qcase_t *s_q;
static int s_nq;

static void make_queries(void)
{
    s_q = calloc((size_t)s_nref * (LFG_NFAM + 3), sizeof *s_q);
    for (int r = 0; r < s_nref; r++) {
        VipsImage *others[3];
        for (int k = 0; k < 3; k++)
            others[k] = s_ref_im[(r + 1 + k) % s_nref];
        for (int fam = 0; fam < LFG_NFAM; fam++) {
            qcase_t *q = &s_q[s_nq];
            VipsImage *im = lfg_make(s_ref_im[r], others, fam, (uint64_t)r * 31 + fam, &q->truth);
            if (!im || lfg_jpeg(im, fam == LFG_JPEG40 ? 40 : 85, &q->buf, &q->len)) {
                fprintf(stderr, "generation failed: %s\n", vips_error_buffer());
                exit(1);
            }
            g_object_unref(im);
            q->fam = fam, q->ref = r;
            s_nq++;
        }
        if (s_burst_item[r] >= 0) {
            qcase_t *q = &s_q[s_nq++];
            q->fam = -1, q->ref = r;
            q->buf = read_all(s_items[s_burst_item[r]].path, &q->len);
        }
        {
            size_t len;
            void *b = read_all(s_items[s_dist_item[r]].path, &len);
            VipsImage *d = lfg_load(b, len);
            VipsImage *lp = lfg_logo_paste(d, s_ref_im[r], 0.25, (uint64_t)r);
            qcase_t *q = &s_q[s_nq++];
            q->fam = -2, q->ref = r;
            lfg_jpeg(lp, 85, &q->buf, &q->len);
            g_object_unref(lp);
            g_object_unref(d);
            free(b);
        }
        if (r % 2 == 0) {
            qcase_t *q = &s_q[s_nq++];
            q->fam = -3, q->ref = -1;
            q->buf = read_all(s_items[s_dist_item[r]].path, &q->len);
        }
    }
}

static const char *famname(int f)
{
    return f >= 0 ? lfg_names[f] : f == -1 ? "NEG burst" : f == -2 ? "NEG logo" : "NEG unrelated";
}

/* Best model of q (and its mirror set) against one reference. */
static void verify_pair(const hm_lf_feat_t *q, const hm_lf_feat_t *m, const hm_lf_feat_t *r,
                        hm_geom_result_t *best)
{
    hm_geom_result_t res[4];
    int nres;
    memset(best, 0, sizeof *best);
    for (int v = 0; v < 2; v++) {
        hm_geom_verify(v ? m : q, r, NULL, res, 4, &nres);
        for (int k = 0; k < nres; k++)
            if (res[k].verified > best->verified ||
                (res[k].verified == best->verified && res[k].inliers > best->inliers))
                best[0] = res[k];
    }
}

static void run_pairs(hm_lf_ctx_t *ctx)
{
    hm_image_t img = { 0 };
    hm_lf_feat_t q, m;
    hm_lf_feat_init(&q, HM_LF_MAX_KP);
    hm_lf_feat_init(&m, HM_LF_MAX_KP);
    FILE *tsv = fopen("bench_lf_pairs.tsv", "w");
    fprintf(tsv, "family\tref\tverified\tinliers\tncorr\trms\tmdist\tcoher\tcoverage\tthumb\tscale_err\trot_err\tmirror_ok\n");
    int ok[LFG_NFAM + 3] = { 0 }, tot[LFG_NFAM + 3] = { 0 };
    for (int i = 0; i < s_nq; i++) {
        qcase_t *c = &s_q[i];
        if (c->ref < 0)
            continue;
        if (extract(s_qctx, c->buf, c->len, &img, &q, &m, NULL))
            continue;
        hm_geom_result_t b;
        verify_pair(&q, &m, &s_ref_f[c->ref], &b);
        double se = c->fam >= 0 ? b.scale / c->truth.scale - 1 : 0;
        double re = c->fam >= 0 ? b.rotation_deg - c->truth.rot_deg : 0;
        int slot = c->fam >= 0 ? c->fam : LFG_NFAM - 1 - c->fam;
        tot[slot]++;
        ok[slot] += b.verified;
        fprintf(tsv, "%s\t%d\t%d\t%d\t%d\t%.3f\t%.1f\t%.3f\t%.3f\t%.3f\t%.3f\t%.2f\t%d\n", famname(c->fam), c->ref,
                b.verified, b.inliers, b.ncorr, b.rms_px, b.mean_dist, b.coherence, b.coverage, b.thumb_corr, se, re,
                b.mirrored == (c->fam >= 0 ? c->truth.mirrored : 0));
    }
    fclose(tsv);
    for (int s = 0; s < LFG_NFAM + 3; s++)
        if (tot[s])
            printf("%-16s verified %3d / %3d\n", s < LFG_NFAM ? lfg_names[s] : famname(LFG_NFAM - 1 - s),
                   ok[s], tot[s]);
    hm_lf_feat_free(&q);
    hm_lf_feat_free(&m);
    hm_image_release(&img);
}


/* Query every case through the index; per case the best verified model's
 * inliers for each candidate id.  Returns per-case best score for the true
 * reference (positives) or for any reference (negatives). */
typedef struct qres {
    int score_true;     /* best verified inliers for the true reference (0 = none) */
    int score_false;    /* best verified inliers for any other reference */
    int geom_ok;        /* the true reference's transform within tolerance */
} qres_t;

static double s_t_ext, s_t_search, s_t_verify;

static void query_all(hm_lfindex_t *ix, hm_lfindex_scratch_t *sc, qres_t *out, int timing_only)
{
    hm_image_t img = { 0 };
    hm_lf_feat_t q, m;
    hm_lf_feat_init(&q, HM_LF_MAX_KP);
    hm_lf_feat_init(&m, HM_LF_MAX_KP);
    hm_lfindex_cand_t cand[64];
    s_t_ext = s_t_search = s_t_verify = 0;
    for (int i = 0; i < s_nq; i++) {
        qcase_t *c = &s_q[i];
        qres_t *R = &out[i];
        memset(R, 0, sizeof *R);
        if (extract(s_qctx, c->buf, c->len, &img, &q, s_nomirror ? NULL : &m, &s_t_ext))
            continue;
        double t0 = hm_mono_s();
        int nc = 0;
        hm_lfindex_query(ix, sc, &q, s_nomirror ? NULL : &m, &s_qo, cand, &nc);
        double t1 = hm_mono_s();
        hm_geom_frame_t qf = hm_geom_frame_of(&q), mf = hm_geom_frame_of(&m);
        for (int k = 0; k < nc; k++) {
            hm_geom_result_t res[3];
            int nres = 0;
            hm_geom_fit(cand[k].mirrored ? &mf : &qf, &cand[k].frame, cand[k].corr,
                        (size_t)cand[k].ncorr, NULL, res, 3, &nres);
            for (int r = 0; r < nres; r++) {
                if (getenv("LF_DUMP") && res[r].inliers >= 8) {
                    int tr = c->ref >= 0 && cand[k].id == (uint64_t)c->ref && c->fam >= 0;
                    int col = c->fam == LFG_COLLAGE4 && !tr && cand[k].id < (uint64_t)s_nref &&
                              ((int)cand[k].id - c->ref + s_nref) % s_nref >= 1 &&
                              ((int)cand[k].id - c->ref + s_nref) % s_nref <= 3;
                    fprintf(stderr, "DUMP\t%d\t%d\t%d\t%d\t%d\t%.3f\t%.3f\t%.3f\t%.3f\n", tr ? 1 : col ? 2 : 0,
                            c->fam, i, res[r].inliers, res[r].ncorr, res[r].rms_px, res[r].coherence,
                            res[r].coverage, res[r].scale);
                }
                if (!res[r].verified)
                    continue;
                int truth = c->ref >= 0 && cand[k].id == (uint64_t)c->ref && c->fam >= 0;
                /* a collage also holds copies of the next three references */
                if (c->fam == LFG_COLLAGE4 && !truth && cand[k].id < (uint64_t)s_nref &&
                    ((int)cand[k].id - c->ref + s_nref) % s_nref >= 1 &&
                    ((int)cand[k].id - c->ref + s_nref) % s_nref <= 3)
                    continue;
                if (getenv("LF_DEBUG") && c->fam < 0)
                    fprintf(stderr, "NEG %s q%d ref%d cand%llu inl %d/%d rms %.3f coh %.3f cov %.3f s %.3f rot %.1f mir %d\n",
                            famname(c->fam), i, c->ref, (unsigned long long)cand[k].id, res[r].inliers,
                            res[r].ncorr, res[r].rms_px, res[r].coherence, res[r].coverage, res[r].scale,
                            res[r].rotation_deg, res[r].mirrored);
                if (truth) {
                    if ((int)res[r].score > R->score_true) {
                        R->score_true = (int)res[r].score;
                        double se = res[r].scale / c->truth.scale - 1, re = res[r].rotation_deg - c->truth.rot_deg;
                        R->geom_ok = fabs(se) < 0.05 && fabs(re) < 2 && res[r].mirrored == c->truth.mirrored;
                    }
                } else {
                    if ((int)res[r].score > R->score_false)
                        R->score_false = (int)res[r].score;
                    if (getenv("LF_DEBUG"))
                        fprintf(stderr, "FP %s q%d ref%d cand%llu inl %d/%d rms %.3f coh %.3f cov %.3f s %.3f rot %.1f mir %d\n",
                                famname(c->fam), i, c->ref, (unsigned long long)cand[k].id, res[r].inliers,
                                res[r].ncorr, res[r].rms_px, res[r].coherence, res[r].coverage, res[r].scale,
                                res[r].rotation_deg, res[r].mirrored);
                }
            }
        }
        s_t_search += t1 - t0;
        s_t_verify += hm_mono_s() - t1;
    }
    (void)timing_only;
    hm_lf_feat_free(&q);
    hm_lf_feat_free(&m);
    hm_image_release(&img);
}

static void report(const qres_t *res, const char *label)
{
    /* the threshold: one more than the best score any negative reached
     * (against any reference), and than any wrong-reference score */
    int thr = 1;
    for (int i = 0; i < s_nq; i++)
        if (s_q[i].fam < 0 || 1) {
            int neg = s_q[i].fam < 0 ? (res[i].score_true > res[i].score_false ? res[i].score_true : res[i].score_false)
                                     : res[i].score_false;
            if (neg + 1 > thr)
                thr = neg + 1;
        }
    printf("\n%s: zero-false-positive threshold: score >= %d (verified models only)\n", label, thr);
    /* and the threshold that admits at most 2 negatives (precision >= 0.999 on 2,000 positives) */
    int negs[4096], nn = 0;
    for (int i = 0; i < s_nq && nn < 4096; i++) {
        int v = s_q[i].fam < 0 ? (res[i].score_true > res[i].score_false ? res[i].score_true : res[i].score_false)
                               : res[i].score_false;
        if (v > 0)
            negs[nn++] = v;
    }
    for (int a = 0; a < nn; a++)
        for (int b = a + 1; b < nn; b++)
            if (negs[b] > negs[a]) {
                int t = negs[a];
                negs[a] = negs[b], negs[b] = t;
            }
    int thr2 = nn > 2 ? negs[2] + 1 : 1;
    printf("%-16s %8s %8s %8s %10s\n", "family", "recall", "geom_ok", "n", "recall@2FP");
    int all_ok = 0, all_n = 0, all2 = 0;
    for (int f = 0; f < LFG_NFAM; f++) {
        int ok = 0, n = 0, g = 0, ok2 = 0;
        for (int i = 0; i < s_nq; i++)
            if (s_q[i].fam == f) {
                n++;
                ok += res[i].score_true >= thr;
                ok2 += res[i].score_true >= thr2;
                g += res[i].score_true >= thr && res[i].geom_ok;
            }
        all_ok += ok, all_n += n;
        all2 += ok2;
        printf("%-16s %8.3f %8.3f %8d %10.3f\n", lfg_names[f], n ? (double)ok / n : 0, n ? (double)g / n : 0, n,
               n ? (double)ok2 / n : 0);
    }
    printf("%-16s %8.3f %8s %8d %10.3f   (score >= %d)\n", "all", all_n ? (double)all_ok / all_n : 0, "", all_n,
           all_n ? (double)all2 / all_n : 0, thr2);
    for (int f = -1; f >= -3; f--) {
        int n = 0, v = 0;
        for (int i = 0; i < s_nq; i++)
            if (s_q[i].fam == f) {
                n++;
                v += res[i].score_true > 0 || res[i].score_false > 0;
            }
        printf("%-16s any verified match: %d of %d (before the threshold)\n", famname(f), v, n);
    }
}

static void timing(const char *label, hm_lfindex_t *ix)
{
    hm_lfindex_stats_t st;
    hm_lfindex_stats(ix, &st);
    printf("%-28s refs %7zu  extract %.2f ms  search %.2f ms  verify %.2f ms  per query;"
           "  index %.0f B/ref (longest list %zu, %.1f%% of entries in stop words)\n", label, st.n_live,
           1e3 * s_t_ext / s_nq, 1e3 * s_t_search / s_nq, 1e3 * s_t_verify / s_nq, st.bytes_per_ref,
           st.max_list, 100 * st.stop_share);
}

static void run_index(hm_lf_ctx_t *ctx, int scale)
{
    (void)ctx;
    hm_lfindex_t *ix;
    if (hm_lfindex_create(&ix, &s_io)) {
        fprintf(stderr, "index: %s\n", hm_last_error());
        exit(1);
    }
    printf("index: %d x %d words, probes %d, stop factor %.0f\n", s_io.k1, s_io.k2, s_qo.probes,
           s_qo.stop_factor);
    size_t nd = 0;
    for (int r = 0; r < s_nref; r++)
        nd += s_ref_f[r].n;
    uint64_t *all = malloc(nd * 32);
    nd = 0;
    for (int r = 0; r < s_nref; r++) {
        memcpy(all + 4 * nd, s_ref_f[r].desc, s_ref_f[r].n * 32);
        nd += s_ref_f[r].n;
    }
    double t0 = hm_mono_s();
    hm_lfindex_train(ix, all, nd);
    printf("vocabulary trained on %zu descriptors in %.2f s\n", nd, hm_mono_s() - t0);
    for (int r = 0; r < s_nref; r++)
        hm_lfindex_add(ix, (uint64_t)r, &s_ref_f[r]);
    hm_lfindex_scratch_t *sc;
    hm_lfindex_scratch_create(&sc);
    qres_t *res = calloc((size_t)s_nq, sizeof *res);
    query_all(ix, sc, res, 0);
    report(res, "real references");
    timing("real references", ix);
    if (scale) {
        /* synthetic references: a real reference's descriptors with 60-100
         * random bits flipped each and random positions, so they fall into
         * the vocabulary's words much like real ones do (list lengths and
         * scan cost are realistic) but rarely within the 64-bit match
         * radius of a query (with 20-40 flips, every real match came with
         * ~500 synthetic near-copies: a bank of 500 copies of every photo,
         * not a product catalogue); ids from 1,000,000 */
        uint64_t st = 77;
        hm_lf_feat_t f;
        hm_lf_feat_init(&f, 256);
        size_t n = (size_t)s_nref;
        size_t targets[2] = { 10000, 100000 };
        for (int t = 0; t < 2; t++) {
            while (n < targets[t]) {
                const hm_lf_feat_t *src = &s_ref_f[lfg_rand(&st) % (uint64_t)s_nref];
                f.n = src->n, f.aspect_w = 1, f.aspect_h = 1, f.mirrored = 0;
                for (uint32_t i = 0; i < f.n; i++) {
                    memcpy(f.desc + 4 * i, src->desc + 4 * i, 32);
                    int flips = 60 + (int)(lfg_rand(&st) % 41);
                    for (int b = 0; b < flips; b++) {
                        int bit = (int)(lfg_rand(&st) & 255);
                        f.desc[4 * i + bit / 64] ^= 1ULL << (bit & 63);
                    }
                    f.kp[i].x = (float)lfg_unif(&st), f.kp[i].y = (float)lfg_unif(&st);
                    f.kp[i].size = src->kp[i].size, f.kp[i].angle = (float)(6.28 * lfg_unif(&st));
                }
                hm_lfindex_add(ix, 1000000 + n, &f);
                n++;
            }
            query_all(ix, sc, res, 1);
            char label[64];
            snprintf(label, sizeof label, "with %zu synthetic", n - s_nref);
            report(res, label);
            timing(label, ix);
        }
        hm_lf_feat_free(&f);
    }
    free(res);
    free(all);
    hm_lfindex_scratch_destroy(&sc);
    hm_lfindex_destroy(&ix);
}

/* Extraction cost split: the same queries with and without the mirror
 * set, per SIMD level (median of 3 passes). */
static void run_exttime(void)
{
    hm_image_t img = { 0 };
    hm_lf_feat_t q, m;
    hm_lf_feat_init(&q, HM_LF_MAX_KP);
    hm_lf_feat_init(&m, HM_LF_MAX_KP);
    int nq = s_nq < 300 ? s_nq : 300;
    for (int level = 0; level < HM_SIMD_NLEVELS; level++) {
        if (hm__simd_force(level) != 0)
            continue;
        for (int mir = 0; mir < 2; mir++) {
            double best[3];
            for (int pass = 0; pass < 3; pass++) {
                double t = 0;
                for (int i = 0; i < nq; i++)
                    extract(s_qctx, s_q[i].buf, s_q[i].len, &img, &q, mir ? &m : NULL, &t);
                best[pass] = t / nq;
            }
            double a = best[0], b = best[1], c = best[2];
            double med = a > b ? (b > c ? b : a > c ? c : a) : (a > c ? a : b > c ? c : b);
            printf("extraction %-7s %-12s %.3f ms per query (%d queries, %d keypoints, side %d)\n",
                   hm_simd_level_name(level), mir ? "+mirror set" : "plain", 1e3 * med, nq, s_qkp, s_qside);
        }
    }
    hm__simd_force(hm_simd_best_level());
    hm_lf_feat_free(&q);
    hm_lf_feat_free(&m);
    hm_image_release(&img);
}

int main(int argc, char **argv)
{
    int want = 200, pairs = 0, scale = 0, exttime = 0;
    s_qo = hm_lfindex_qopts_default;
    s_io = hm_lfindex_opts_default;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--refs") && i + 1 < argc)
            want = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--side") && i + 1 < argc)
            s_side = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--qside") && i + 1 < argc)
            s_qside = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--qkp") && i + 1 < argc)
            s_qkp = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--exttime"))
            exttime = 1;
        else if (!strcmp(argv[i], "--k1") && i + 1 < argc)
            s_io.k1 = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--k2") && i + 1 < argc)
            s_io.k2 = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--probes") && i + 1 < argc)
            s_qo.probes = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--stop") && i + 1 < argc)
            s_qo.stop_factor = (float)atof(argv[++i]);
        else if (!strcmp(argv[i], "--upscale"))
            s_upscale = 1;
        else if (!strcmp(argv[i], "--nomirror"))
            s_nomirror = 1;
        else if (!strcmp(argv[i], "--pairs"))
            pairs = 1;
        else if (!strcmp(argv[i], "--scale"))
            scale = 1;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (want > MAXREF)
        want = MAXREF;
    s_shared = getenv("HM_SHARED") ? getenv("HM_SHARED") : "../shared";
    hm_decode_init();
    load_groups();
    choose(want);
    hm_lf_ctx_t *ctx;
    if (hm_lf_ctx_create(&ctx, NULL)) {
        fprintf(stderr, "ctx: %s\n", hm_last_error());
        return 1;
    }
    hm_lf_opts_t qo = hm_lf_opts_default;
    qo.max_kp = s_qkp;
    qo.max_side = s_qside;
    qo.upscale = s_upscale;
    if (hm_lf_ctx_create(&s_qctx, &qo)) {
        fprintf(stderr, "ctx: %s\n", hm_last_error());
        return 1;
    }
    hm_image_t img = { 0 };
    double t_ext = 0;
    size_t kp_total = 0, ser_total = 0;
    for (int r = 0; r < s_nref; r++) {
        size_t len;
        void *b = read_all(s_items[s_ref_item[r]].path, &len);
        s_ref_im[r] = lfg_load(b, len);
        hm_lf_feat_init(&s_ref_f[r], HM_LF_MAX_KP);
        extract(ctx, b, len, &img, &s_ref_f[r], NULL, &t_ext);
        kp_total += s_ref_f[r].n;
        ser_total += hm_lf_serial_size(&s_ref_f[r]);
        free(b);
    }
    printf("references %d (decode side %d): %.2f ms extraction each, %.1f keypoints, "
           "%.0f serialised bytes each\n", s_nref, s_side, 1e3 * t_ext / s_nref,
           (double)kp_total / s_nref, (double)ser_total / s_nref);
    make_queries();
    printf("queries %d\n", s_nq);
    if (exttime)
        run_exttime();
    else if (pairs)
        run_pairs(ctx);
    else
        run_index(ctx, scale);
    hm_image_release(&img);
    hm_lf_ctx_destroy(&ctx);
    hm_lf_ctx_destroy(&s_qctx);
    return 0;
}
