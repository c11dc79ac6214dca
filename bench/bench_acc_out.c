/* bench_acc_out.c - bench_accuracy's outputs (see bench_acc.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_acc.h"
#include "hm_hindex.h"
#include "hm_util.h"

const char *const hmb_acc_sig_name[S_COUNT] = {
    "pdq", "pdq_dih", "pdq_dih_trim", "phash", "phash_trim", "dhash", "dhash_trim", "desc",
    "opencv_phash", "local", "fused_default", "fused_calibrated"
};

static int s_cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double hmb_acc_median(double *v, int n)
{
    if (n <= 0)
        return 0;
    qsort(v, (size_t)n, sizeof *v, s_cmpd);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* The threshold in the signal's own unit: distance for hashes, cosine for
 * the descriptor, score for the fused verdict. */
static void s_thr_text(int s, double thr, char *buf, size_t cap)
{
    if (isinf(thr))
        snprintf(buf, cap, "none");
    else if (s == S_DESC)
        snprintf(buf, cap, "cos >= %.4f", thr);
    else if (s >= S_LOCAL)
        snprintf(buf, cap, "score >= %.4f", thr);
    else
        snprintf(buf, cap, "d <= %d", (int)(-thr + 0.5));
}

int hmb_acc_write(run_t *r, const sigres_t *res, const acc_summary_t *sm, const char *out_dir,
                  const char *preds_path)
{
    if (preds_path) { /* per query: spec, then best reference and score per signal */
        FILE *pf = fopen(preds_path, "w");
        for (int q = 0; pf && q < r->nq; q++) {
            const hmb_spec_t *sp = &r->set.specs[q];
            fprintf(pf, "%d %s %d %d %d", q, hmb_family_name(sp->family), sp->level, sp->positive,
                    sp->src);
            for (int s = 0; s < S_COUNT; s++)
                fprintf(pf, " %d:%.4f", r->pred[s][q].best, r->pred[s][q].score);
            fprintf(pf, "\n");
        }
        if (pf) fclose(pf);
    }
    double *fpms = malloc((size_t)r->nq * sizeof *fpms);
    int nfp = 0;
    for (int q = 0; q < r->nq; q++)
        if (r->qok[q]) fpms[nfp++] = r->q_fp_ms[q];
    double hm_fp_med = hmb_acc_median(fpms, nfp);
    free(fpms);
    int fam_pos[HMB_F_COUNT] = { 0 }, fam_n[HMB_F_COUNT] = { 0 };
    for (int q = 0; q < r->nq; q++) {
        fam_n[r->set.specs[q].family]++;
        fam_pos[r->set.specs[q].family] += r->set.specs[q].positive;
    }
    /* weakest families of the best fused verdict available */
    int fused = res[S_FUSED_CAL].present ? S_FUSED_CAL : S_FUSED_DEFAULT;
    int weak[HMB_F_COUNT];
    for (int f = 0; f < HMB_F_COUNT; f++) weak[f] = f;
    for (int i = 0; i < HMB_F_COUNT; i++)
        for (int j = i + 1; j < HMB_F_COUNT; j++)
            if (res[fused].fam_recall[weak[j]] < res[fused].fam_recall[weak[i]]) {
                int t = weak[i]; weak[i] = weak[j]; weak[j] = t;
            }

    char path[4200];
    snprintf(path, sizeof path, "%s/accuracy.md", out_dir);
    FILE *md = fopen(path, "w");
    snprintf(path, sizeof path, "%s/accuracy.json", out_dir);
    FILE *js = fopen(path, "w");
    if (!md || !js) {
        fprintf(stderr, "bench_accuracy: cannot write to %s\n", out_dir);
        return 1;
    }
    fprintf(md, "## Accuracy\n\n");
    fprintf(md, "Copy-detection set from the Grocery Store Dataset (Klasson, Zhang, Kjellström, "
                "\"A Hierarchical Grocery Store Image Dataset with Visual and Semantic Labels\", "
                "WACV 2019; MIT licence), train + val: %d photos in %d scene groups, split by "
                "scene group (seed %llu) into **%d references** and **%d distractors**. "
                "**%d queries** (%d positives made from references, %d negatives made from "
                "distractors), %d transform families, generated with libvips in %.0f s "
                "(%d could not be fingerprinted and count as misses).\n\n",
            r->set.n_photos, r->set.n_groups, (unsigned long long)sm->seed, r->nr,
            r->set.n_distractors, r->nq, sm->npos, r->nq - sm->npos, HMB_F_COUNT, sm->t_gen, sm->nfail);
    fprintf(md, "A positive is found when the best reference is in the source's scene group; "
                "any other prediction is a false positive. Signals alone use exhaustive "
                "nearest-reference search over the fingerprints; the fused rows are the "
                "engine's verdict (`hm_engine_score` on the query bytes, top_k 10, local features included) ranked by its score.\n\n");
    fprintf(md, "| signal | recall @ P>=0.999 | micro-AP | threshold for P>=0.999 | precision there |\n");
    fprintf(md, "|---|---:|---:|---|---:|\n");
    fprintf(js, "{\"dataset\":\"grocery train+val (Klasson et al., WACV 2019)\",\"seed\":%llu,"
                "\"photos\":%d,\"scene_groups\":%d,\"references\":%d,\"distractors\":%d,"
                "\"queries\":%d,\"positives\":%d,\"unfingerprinted\":%d,\"generate_s\":%.1f,"
                "\"signals\":{",
            (unsigned long long)sm->seed, r->set.n_photos, r->set.n_groups, r->nr,
            r->set.n_distractors, r->nq, sm->npos, sm->nfail, sm->t_gen);
    int first = 1;
    for (int s = 0; s < S_COUNT; s++) {
        if (!res[s].present)
            continue;
        char thr[64];
        s_thr_text(s, res[s].m.thr_at_p, thr, sizeof thr);
        fprintf(md, "| %s | %.3f | %.3f | %s | %.4f |\n", hmb_acc_sig_name[s], res[s].m.recall_at_p,
                res[s].m.ap, thr, res[s].m.precision_at_thr);
        char thrnum[32];
        if (isinf(res[s].m.thr_at_p))
            snprintf(thrnum, sizeof thrnum, "null");
        else
            snprintf(thrnum, sizeof thrnum, "%.6f", res[s].m.thr_at_p);
        fprintf(js, "%s\"%s\":{\"recall_at_p999\":%.4f,\"micro_ap\":%.4f,\"threshold\":%s,"
                    "\"threshold_text\":\"%s\",\"precision_at_threshold\":%.5f,\"per_family\":{",
                first ? "" : ",", hmb_acc_sig_name[s], res[s].m.recall_at_p, res[s].m.ap, thrnum, thr,
                res[s].m.precision_at_thr);
        for (int f = 0; f < HMB_F_COUNT; f++)
            fprintf(js, "%s\"%s\":%.4f", f ? "," : "", hmb_family_name(f),
                    isnan(res[s].fam_recall[f]) ? 0.0 : res[s].fam_recall[f]);
        fprintf(js, "},\"pr\":[");
        for (int k = 0; k < res[s].m.n_pts; k++)
            fprintf(js, "%s[%.4f,%.4f]", k ? "," : "", res[s].m.recall[k], res[s].m.precision[k]);
        fprintf(js, "]}");
        first = 0;
        snprintf(path, sizeof path, "%s/pr_%s.dat", out_dir, hmb_acc_sig_name[s]);
        FILE *d = fopen(path, "w");
        for (int k = 0; k < res[s].m.n_pts; k++)
            fprintf(d, "%.5f %.5f\n", res[s].m.recall[k], res[s].m.precision[k]);
        fclose(d);
    }
    fprintf(js, "},");
    for (int k = 0; k < 2; k++) {
        const hm_thresholds_t *t = k ? &sm->cal : &hm_thresholds_default;
        fprintf(md, "%s", k ? "" : "\n");
        fprintf(md, "The engine's decision with the %s thresholds (pdq %d, phash %d, dhash %d, "
                    "desc %.4f): precision **%.4f**, recall **%.3f**.\n\n",
                k ? "jointly calibrated" : "built-in", t->pdq, t->phash, t->dhash, (double)t->desc,
                sm->dec_p[k], sm->dec_r[k]);
        fprintf(js, "\"decision_%s\":{\"pdq\":%d,\"phash\":%d,\"dhash\":%d,\"desc\":%.4f,"
                    "\"precision\":%.4f,\"recall\":%.4f},",
                k ? "calibrated" : "default", t->pdq, t->phash, t->dhash, (double)t->desc,
                sm->dec_p[k], sm->dec_r[k]);
    }
    fprintf(md, "Calibration: each signal's own precision-0.999 threshold (pdq %d, phash %d, "
                "dhash %d, desc %.4f) gives a simulated decision precision of %.4f (the engine "
                "matches when any signal passes, so false positives add up); tightening one "
                "step at a time (%d steps) the signal that loses least recall per false "
                "positive removed gives the jointly calibrated set, which the engine then "
                "verifies above. These thresholds hold against %d references; a larger bank "
                "meets more near neighbours by chance, so re-check them at the bank sizes "
                "deployed.\n\n",
            sm->alone.pdq, sm->alone.phash, sm->alone.dhash, (double)sm->alone.desc, sm->sim_p_alone, sm->steps, r->nr);
    if (sm->pdq_clamped)
        fprintf(md, "The calibrated PDQ threshold is clamped to %d, the widest radius the engine's "
                    "hash index searches (HM_HINDEX_MAX_RADIUS); the signal alone allows more.\n\n",
                HM_HINDEX_MAX_RADIUS);
    fprintf(md, "Three weakest families for `%s`: **%s** (%.3f), **%s** (%.3f), **%s** (%.3f).\n\n",
            hmb_acc_sig_name[fused], hmb_family_name(weak[0]), res[fused].fam_recall[weak[0]],
            hmb_family_name(weak[1]), res[fused].fam_recall[weak[1]], hmb_family_name(weak[2]),
            res[fused].fam_recall[weak[2]]);
    fprintf(js, "\"weakest_families\":[\"%s\",\"%s\",\"%s\"],", hmb_family_name(weak[0]),
            hmb_family_name(weak[1]), hmb_family_name(weak[2]));

    fprintf(md, "### Recall at precision 0.999 per transform family\n\n"
                "Each signal at its own overall precision-0.999 threshold. Columns: queries "
                "(positives) per family.\n\n| family | n (pos) |");
    for (int s = 0; s < S_COUNT; s++)
        if (res[s].present) fprintf(md, " %s |", hmb_acc_sig_name[s]);
    fprintf(md, "\n|---|---:|");
    for (int s = 0; s < S_COUNT; s++)
        if (res[s].present) fprintf(md, "---:|");
    fprintf(md, "\n");
    snprintf(path, sizeof path, "%s/recall.dat", out_dir);
    FILE *rd = fopen(path, "w");
    fprintf(rd, "family");
    for (int s = 0; s < S_COUNT; s++)
        if (res[s].present) fprintf(rd, " %s", hmb_acc_sig_name[s]);
    fprintf(rd, "\n");
    for (int f = 0; f < HMB_F_COUNT; f++) {
        fprintf(md, "| %s | %d (%d) |", hmb_family_name(f), fam_n[f], fam_pos[f]);
        fprintf(rd, "%s", hmb_family_name(f));
        for (int s = 0; s < S_COUNT; s++)
            if (res[s].present) {
                fprintf(md, " %.3f |", res[s].fam_recall[f]);
                fprintf(rd, " %.4f", res[s].fam_recall[f]);
            }
        fprintf(md, "\n");
        fprintf(rd, "\n");
    }
    fclose(rd);
    fprintf(md, "\nFamilies and strengths: jpeg (quality 90/70/50/30/15), downscale "
                "(0.75/0.5/0.35/0.25, q85), crop (95/85/75/60/50%% of the area, centre or "
                "off-centre), pad (content 90/75/60/50%% of the canvas side or 16:9 letterbox, "
                "white or colour), frame (3-15%% borders, double frames), rot90 (90/180/270), "
                "rot_small (+-2/5/10/15 degrees), flip (horizontal, vertical), text (seller "
                "name, price tag, translucent watermark, all three; DejaVu fonts via "
                "vips_text), sticker (badge of 3-20%% of the area), colour (brightness, "
                "contrast, saturation, hue, grayscale, two at once), blur_sharpen (Gaussian "
                "sigma 1/2/4, unsharp mask), collage (2, 3 or 4 tiles with distractors), "
                "caption (screenshot: title bar, caption, UI buttons, side margins), combo "
                "(2-5 milder edits and a JPEG quality 60-90).\n\n");

    fprintf(md, "## Engine end to end\n\n| measure | value |\n|---|---:|\n");
    fprintf(md, "| references (add_many, one transaction) | %d in %.2f s |\n", r->nr - sm->dup, sm->add_many_s);
    fprintf(md, "| hm_engine_score (decode + fingerprint + search), 1 thread | %.0f img/s |\n", sm->e2e_1);
    fprintf(md, "| hm_engine_score, %d threads | %.0f img/s (%.2fx) |\n", sm->threads, sm->e2e_n,
            sm->e2e_1 > 0 ? sm->e2e_n / sm->e2e_1 : 0);
    fprintf(md, "| hm_engine_score with the calibrated thresholds, 1 thread | %.0f img/s |\n",
            sm->e2e_cal_1);
    fprintf(md, "| new reference: hm_engine_add (median of 20) | %.2f ms |\n", sm->add_ms);
    fprintf(md, "| new reference: add until first matching score (median) | %.2f ms |\n", sm->vis_ms);
    fprintf(md, "| hallmark whole fingerprint per query (median, in-run, %d threads busy) | %.3f ms |\n",
            sm->threads, hm_fp_med);
    fprintf(md, "| hallmark whole fingerprint per reference photo (median, 1 thread) | %.3f ms |\n",
            sm->hm_ref_ms);
    fprintf(md, "| of which decode | %.3f ms |\n", sm->hm_ref_dec_ms);
    if (sm->have_peer) {
        fprintf(md, "| OpenCV cv::imdecode per reference photo (median, 1 thread) | %.3f ms |\n", sm->peer_dec);
        fprintf(md, "| OpenCV img_hash PHash::compute per reference photo (median) | %.3f ms |\n", sm->peer_hash);
        fprintf(md, "| **OpenCV (imdecode + PHash) / hallmark whole fingerprint (all signals)** | **%.2fx** |\n",
                sm->hm_ref_ms > 0 ? (sm->peer_dec + sm->peer_hash) / sm->hm_ref_ms : 0);
    }
    fprintf(md, "\nEnd-to-end throughput is measured on the first %d generated queries against "
                "the %d-reference engine.\n\n", r->e2e_keep, r->nr - sm->dup);
    fprintf(js, "\"engine\":{\"references\":%d,\"add_many_s\":%.3f,\"score_img_s_1\":%.1f,"
                "\"score_img_s_n\":%.1f,\"score_img_s_1_calibrated\":%.1f,\"threads\":%d,\"add_ms\":%.3f,\"matchable_ms\":%.3f,"
                "\"hm_fp_ms\":%.4f,\"hm_fp_ref_ms_1thread\":%.4f,\"hm_decode_ref_ms\":%.4f},"
                "\"peer\":{\"present\":%s,\"decode_ms\":%.4f,\"hash_ms\":%.4f},"
                "\"calibrated_thresholds\":{\"pdq\":%d,\"phash\":%d,\"dhash\":%d,\"desc\":%.4f},"
                "\"per_signal_thresholds\":{\"pdq\":%d,\"phash\":%d,\"dhash\":%d,\"desc\":%.4f},"
                "\"total_s\":%.1f}\n",
            r->nr - sm->dup, sm->add_many_s, sm->e2e_1, sm->e2e_n, sm->e2e_cal_1, sm->threads, sm->add_ms, sm->vis_ms, hm_fp_med, sm->hm_ref_ms,
            sm->hm_ref_dec_ms, sm->have_peer ? "true" : "false", sm->peer_dec, sm->peer_hash, sm->cal.pdq, sm->cal.phash, sm->cal.dhash,
            (double)sm->cal.desc, sm->alone.pdq, sm->alone.phash, sm->alone.dhash, (double)sm->alone.desc,
            hm_mono_s() - sm->t_start);
    fclose(md);
    fclose(js);
    fprintf(stderr, "bench_accuracy: done in %.1f s\n", hm_mono_s() - sm->t_start);
    printf("| signal | recall@P0.999 | micro-AP |\n");
    for (int s = 0; s < S_COUNT; s++)
        if (res[s].present)
            printf("| %-16s | %.3f | %.3f |\n", hmb_acc_sig_name[s], res[s].m.recall_at_p, res[s].m.ap);
    return 0;
}
