/*
 * bench_acc.h - what bench_accuracy.c measures and bench_acc_out.c writes
 * (accuracy.md, accuracy.json, recall.dat, pr_SIGNAL.dat, the predictions).
 */
#ifndef HMB_ACC_H
#define HMB_ACC_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include "bench_gen.h"
#include "bench_metrics.h"
#include "hm_fp.h"
#include "hm_matcher.h"

enum {
    S_PDQ, S_PDQ_DIH, S_PDQ_DIH_TRIM, S_PHASH, S_PHASH_TRIM, S_DHASH, S_DHASH_TRIM, S_DESC,
    S_OPENCV, S_LOCAL, S_FUSED_DEFAULT, S_FUSED_CAL, S_COUNT
};
extern const char *const hmb_acc_sig_name[S_COUNT];

typedef struct {
    int best;       /* photo index of the best reference, -1: no prediction */
    double score;
} pred_t;

typedef struct {
    hmb_set_t set;
    int nq, nr, threads, e2e_keep;
    int dump;                    /* write the first dump queries as JPEG files */
    const char *out_dir;
    hm_fp_t *rfp, *qfp;          /* reference and query fingerprints */
    int *qok;                    /* 1 when the query was fingerprinted */
    double *q_fp_ms;             /* hallmark's whole fingerprint time per query */
    void **keep;                 /* encoded bytes of the first e2e_keep queries */
    size_t *keep_len;
    FILE *records;               /* for the peer: u32 idx, u32 len, bytes */
    pthread_mutex_t lock;
    atomic_int next;
    pred_t *pred[S_COUNT];       /* [signal][query] */
    uint64_t *peer_q, *peer_r;   /* OpenCV hashes */
    int *peer_q_ok, *peer_r_ok;
    double *peer_r_dec, *peer_r_hash; /* the peer's times on the references */
} run_t;

typedef struct {
    hmb_metrics_t m;
    double fam_recall[HMB_F_COUNT];
    int present;
} sigres_t;

/* The run's scalars the outputs report. */
typedef struct {
    uint64_t seed;
    int npos, nfail, dup, threads, steps, pdq_clamped, have_peer;
    double t_gen, t_start, sim_p_alone, add_many_s, e2e_1, e2e_n, e2e_cal_1, add_ms, vis_ms;
    double hm_ref_ms, hm_ref_dec_ms, peer_dec, peer_hash;
    double dec_p[2], dec_r[2];   /* the engine's decision: built-in, calibrated */
    hm_thresholds_t cal, alone;  /* jointly calibrated; each signal's own */
} acc_summary_t;

double hmb_acc_median(double *v, int n);

/*
 * hmb_acc_write - every output file into out_dir (and preds_path when not
 * NULL), the summary table on stdout.
 * @return 0, or 1 when out_dir cannot be written.
 */
int hmb_acc_write(run_t *r, const sigres_t *res, const acc_summary_t *sm, const char *out_dir,
                  const char *preds_path);

#endif
