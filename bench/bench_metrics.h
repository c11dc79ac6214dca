/*
 * bench_metrics.h - copy-detection metrics over one prediction per query.
 *
 * Each query yields at most one prediction: its best reference and a score
 * (higher = more confident; hash signals use minus the distance).  A
 * prediction is correct when the query is a positive and the reference is in
 * its source's scene group; every other prediction (any on a negative, a
 * wrong reference on a positive) is a false positive.  Recall is over all
 * positive queries, predicted or not.
 *
 * Ties are treated as one block: a threshold admits all predictions with a
 * score >= it, never half of a tie (integer distances tie a lot).
 *
 * micro-AP is the area under the precision/recall curve built that way:
 * sum over blocks of (correct in block) x (precision after the block) / P.
 */
#ifndef HMB_METRICS_H
#define HMB_METRICS_H

typedef struct hmb_pred {
    double score;
    int correct;                /* 1: a true positive at any threshold that admits it */
} hmb_pred_t;

#define HMB_PR_POINTS 200

typedef struct hmb_metrics {
    double ap;                  /* micro-AP */
    double recall_at_p;         /* best recall with precision >= target */
    double thr_at_p;            /* the lowest score that keeps precision >= target
                                   (+inf when no threshold does) */
    double precision_at_thr;    /* the precision there */
    int n_pts;                  /* PR curve, at most HMB_PR_POINTS, by falling threshold */
    double thr[HMB_PR_POINTS], precision[HMB_PR_POINTS], recall[HMB_PR_POINTS];
} hmb_metrics_t;

/*
 * hmb_metrics_compute - sort preds by falling score (in place) and compute the
 * metrics.  n_pos: the number of positive queries (recall's denominator).
 * target: the precision the operating point must keep (0.999).
 */
void hmb_metrics_compute(hmb_pred_t *preds, int n, int n_pos, double target, hmb_metrics_t *m);

/* Precision and recall at a fixed threshold (score >= thr admitted). */
void hmb_metrics_at(const hmb_pred_t *preds, int n, int n_pos, double thr, double *precision,
                    double *recall);

#endif
