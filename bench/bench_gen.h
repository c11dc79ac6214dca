/*
 * bench_gen.h - the copy-detection set: references, distractors and
 * transformed queries, from the grocery dataset (Klasson, Zhang, Kjellström,
 * "A Hierarchical Grocery Store Image Dataset with Visual and Semantic
 * Labels", WACV 2019; ../shared/datasets/grocery, train + val).
 *
 * Split: the scene groups of scene-groups.tsv (burst shots of one scene) are
 * shuffled from the seed and each whole group becomes reference or
 * distractor (about half each), so no distractor is a second photo of a
 * reference's scene.  A positive query is a transformed reference; it is
 * found when the system's best reference is any reference of the source's
 * scene group.  A negative query is a transformed distractor: any match is a
 * false positive (same-product photos of other scenes are the hard negatives).
 *
 * Queries are generated in memory with libvips and encoded as JPEG.  Every
 * query is fully described by its spec (family, strength, sources, a private
 * seed), and the specs come from the seed alone: rendering is deterministic
 * and independent of thread count or order.
 *
 * Thread safety: hmb_gen_render() may run on many threads at once on one
 * set; everything else is single-threaded set-up.
 */
#ifndef HMB_GEN_H
#define HMB_GEN_H

#include <stddef.h>
#include <stdint.h>

/* Transform families, in report order. */
enum hmb_family {
    HMB_F_JPEG = 0, HMB_F_SCALE, HMB_F_CROP, HMB_F_PAD, HMB_F_FRAME, HMB_F_ROT90,
    HMB_F_ROTSMALL, HMB_F_FLIP, HMB_F_TEXT, HMB_F_STICKER, HMB_F_COLOUR, HMB_F_BLUR,
    HMB_F_COLLAGE, HMB_F_CAPTION, HMB_F_COMBO, HMB_F_COUNT
};

/* The family's short name ("jpeg", "crop", ...), static. */
const char *hmb_family_name(int family);
/* Number of strength levels of a family (strength is 0..levels-1). */
int hmb_family_levels(int family);

typedef struct hmb_photo {
    char *path;                /* relative to the dataset folder */
    int group;                 /* scene group index (dense, 0..n_groups-1) */
    int is_ref;                /* 1: reference, 0: distractor */
    int cls;                   /* fine class id (for the engine's brand) */
    uint8_t *data;             /* the file's bytes (owned) */
    size_t len;
} hmb_photo_t;

#define HMB_MAX_TILES 4

typedef struct hmb_spec {
    int family, level;
    int src;                   /* photo index of the source */
    int positive;              /* 1 when src is a reference */
    int tiles[HMB_MAX_TILES];  /* collage: other photos (distractors), -1 unused */
    uint64_t seed;             /* private randomness for sub-parameters */
} hmb_spec_t;

typedef struct hmb_set {
    char dir[4096];            /* the dataset folder */
    hmb_photo_t *photos;
    int n_photos, n_groups, n_refs, n_distractors;
    int *refs, *distractors;   /* photo indexes of each role */
    hmb_spec_t *specs;
    int n_specs;
} hmb_set_t;

typedef struct hmb_gen_opts {
    uint64_t seed;
    int n_queries;             /* total queries (split evenly over families) */
    int max_photos;            /* 0: all of train + val; else a prefix of the
                                  shuffled groups with at most this many photos */
    double positive_share;     /* share of queries made from references (0.5) */
} hmb_gen_opts_t;

/*
 * hmb_gen_open - read the dataset lists and scene groups, load the photos'
 * bytes, split by group and draw the query specs.
 * @param[in] dir  the grocery dataset folder (with train.txt, val.txt,
 *                 scene-groups.tsv).
 * @return 0, or -1 with a message on stderr (missing or unreadable files).
 */
int hmb_gen_open(hmb_set_t *set, const char *dir, const hmb_gen_opts_t *opts);
void hmb_gen_close(hmb_set_t *set);

/*
 * hmb_gen_render - render query q as JPEG bytes.
 * @param[out] out, len  the encoded query; the caller frees it with g_free().
 * @return 0, or -1 (libvips failed; its message on stderr).
 */
int hmb_gen_render(const hmb_set_t *set, int q, void **out, size_t *len);

/* A short description of the spec's transform ("crop 60% off-centre"). */
void hmb_gen_describe(const hmb_set_t *set, int q, char *buf, size_t cap);

#endif
