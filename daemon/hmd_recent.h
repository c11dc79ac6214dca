/*
 * hmd_recent.h - the review console's retention: a bounded ring of recent
 * verdicts that are not `unknown` (counterfeit, suspect, and genuine when
 * asked), each with a copy of the query image (so a reviewer's confirm or
 * reject can feed it to the engine) and a small JPEG thumbnail.
 *
 * Bounds: at most max_count entries and max_bytes bytes (entry structs,
 * images and thumbnails together); adding past either drops the oldest
 * entries first.  An image larger than max_bytes / 4 is kept without its
 * bytes (shown, but it cannot be confirmed or rejected from the console).
 * Nothing survives a restart; decisions do (LMDB, see hmd_console.h).
 *
 * Verdict ids are "<start time, hex>-<sequence>", unique across restarts of
 * one database directory as long as the clock does not go back.
 *
 * Thread safety: every call may run on any thread (one mutex; workers add,
 * the HTTP thread reads).  Thumbnails are made before the lock is taken.
 */
#ifndef HMD_RECENT_H
#define HMD_RECENT_H

#include <stddef.h>
#include <stdint.h>

#include "hm_engine.h"

#define HMD_RECENT_MATCHES 4
#define HMD_VID_MAX 32

typedef struct hmd_recent_match {
    char ref[HM_ID_MAX];        /* the reference's external id */
    int bank;                   /* HM_BANK_* */
    char brand[HM_NAME_MAX];
    char holder[HM_NAME_MAX];
    char signal[8];             /* "pdq", ... */
    char variant[16];           /* "original", "rotate90", ... */
    int distance;               /* Hamming bits, -1 for desc */
    double similarity;
} hmd_recent_match_t;

/* One retained verdict.  As returned by hmd_recent_list/get: a copy. */
typedef struct hmd_recent_entry {
    char id[HMD_VID_MAX];       /* verdict id */
    int64_t time;               /* unix seconds */
    int decision;               /* hm_decision_t */
    double score;
    char reason[32];
    char brand[HM_NAME_MAX];    /* the best match's brand (else the claimed one) */
    char claimed[HM_NAME_MAX];  /* the brand the listing claimed */
    char seller[HM_ID_MAX], listing[HM_ID_MAX], image[HM_ID_MAX];
    int strikes, blocked;
    int n_matches;
    hmd_recent_match_t m[HMD_RECENT_MATCHES];
    char review[16];            /* "", "confirmed", "rejected" (this run's decisions) */
    void *thumb;                /* JPEG of the query, or NULL; see get */
    size_t thumb_len;
    void *img;                  /* the query bytes, or NULL; see get */
    size_t img_len;
} hmd_recent_entry_t;

/* A queue filter; empty strings and 0 mean "any". */
typedef struct hmd_recent_filter {
    const char *brand, *seller;
    int decision;               /* hm_decision_t, or -1 for any */
    int64_t since;              /* unix seconds, 0 = any */
    const char *const *brands;  /* visible brands (rights holder), NULL = all */
    int n_brands;
} hmd_recent_filter_t;

typedef struct hmd_recent hmd_recent_t;

/* @return 0, HM_E_INVAL (count < 1, bytes < 64 KiB), HM_E_NOMEM. */
int hmd_recent_new(hmd_recent_t **out, int max_count, size_t max_bytes, int keep_genuine);
/* NULL-safe; sets *self_p = NULL. */
void hmd_recent_free(hmd_recent_t **self_p);

/*
 * hmd_recent_add - retain v (when its decision is kept; otherwise nothing
 * happens and 0 is returned).  img may be NULL (no thumbnail, no bytes).
 * The strings may be NULL.  @param[out] id_out  the new verdict id, or ""
 * when not kept; may be NULL (else HMD_VID_MAX bytes).
 * @return 0, HM_E_NOMEM.
 */
int hmd_recent_add(hmd_recent_t *r, const hm_verdict_t *v, const char *seller,
                   const char *brand, const char *listing, const char *image_id,
                   const void *img, size_t len, char *id_out);

/*
 * hmd_recent_list - newest first, the entries passing f, skipping offset of
 * them, at most cap into out (copies with thumb/img NULL).
 * @return the number written; *total gets the number passing f.
 */
int hmd_recent_list(hmd_recent_t *r, const hmd_recent_filter_t *f, int offset,
                    hmd_recent_entry_t *out, int cap, int *total);
/*
 * hmd_recent_get - a copy of entry id.  want_thumb / want_img: also malloc()
 * copies of those (the caller frees e->thumb, e->img); else they are NULL.
 * @return 0, HM_E_NOTFOUND (never kept, or dropped), HM_E_NOMEM.
 */
int hmd_recent_get(hmd_recent_t *r, const char *id, hmd_recent_entry_t *e, int want_thumb,
                   int want_img);
/* Record this run's review outcome ("confirmed"/"rejected") on entry id.
 * @return 0, HM_E_NOTFOUND. */
int hmd_recent_mark(hmd_recent_t *r, const char *id, const char *review);
/* Entries and bytes held now. */
void hmd_recent_usage(hmd_recent_t *r, int *count, size_t *bytes);

/* 1 when brand is one of f's visible brands (or f has no brand list). */
int hmd_recent_visible(const hmd_recent_filter_t *f, const char *brand);

#endif
