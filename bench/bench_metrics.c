/* bench_metrics.c - see bench_metrics.h. */
#include "bench_metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int s_cmp(const void *a, const void *b)
{
    const hmb_pred_t *x = a, *y = b;
    if (x->score != y->score)
        return x->score < y->score ? 1 : -1;
    return y->correct - x->correct; /* stable enough: ties are blocks anyway */
}

void hmb_metrics_compute(hmb_pred_t *preds, int n, int n_pos, double target, hmb_metrics_t *m)
{
    memset(m, 0, sizeof *m);
    m->thr_at_p = INFINITY;
    qsort(preds, (size_t)n, sizeof *preds, s_cmp);
    /* Block boundaries first, to thin the curve to HMB_PR_POINTS. */
    int blocks = 0;
    for (int i = 0; i < n; i++)
        if (i == n - 1 || preds[i + 1].score != preds[i].score)
            blocks++;
    int step = blocks > HMB_PR_POINTS ? (blocks + HMB_PR_POINTS - 1) / HMB_PR_POINTS : 1;
    long tp = 0, fp = 0, prev_tp = 0;
    int b = 0;
    for (int i = 0; i < n; i++) {
        if (preds[i].correct)
            tp++;
        else
            fp++;
        if (i < n - 1 && preds[i + 1].score == preds[i].score)
            continue;
        /* end of a block */
        double p = (double)tp / (double)(tp + fp), r = n_pos ? (double)tp / n_pos : 0;
        long block_tp = tp - prev_tp;
        prev_tp = tp;
        if (n_pos)
            m->ap += (double)block_tp * p / n_pos;
        if (p >= target && r >= m->recall_at_p) {
            m->recall_at_p = r;
            m->thr_at_p = preds[i].score;
            m->precision_at_thr = p;
        }
        if ((b % step == 0 || i == n - 1) && m->n_pts < HMB_PR_POINTS) {
            m->thr[m->n_pts] = preds[i].score;
            m->precision[m->n_pts] = p;
            m->recall[m->n_pts] = r;
            m->n_pts++;
        }
        b++;
    }
}

void hmb_metrics_at(const hmb_pred_t *preds, int n, int n_pos, double thr, double *precision,
                    double *recall)
{
    long tp = 0, fp = 0;
    for (int i = 0; i < n; i++)
        if (preds[i].score >= thr) {
            if (preds[i].correct)
                tp++;
            else
                fp++;
        }
    *precision = tp + fp ? (double)tp / (double)(tp + fp) : 1.0;
    *recall = n_pos ? (double)tp / n_pos : 0;
}
