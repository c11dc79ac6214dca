/*
 * bench_gen.c - the copy-detection set (see bench_gen.h).
 *
 * Every transform works on a 3-band 8-bit sRGB VipsImage and returns a new
 * one; the pipeline ends in one JPEG encode (quality 90 unless the family
 * sets it).  Overlays (text, stickers, UI strips) are drawn as masks and
 * blended with vips_ifthenelse(blend), so one helper serves them all.
 */
#include "bench_gen.h"
#include "hm_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vips/vips.h>

static const struct {
    const char *name;
    int levels;
} s_fam[HMB_F_COUNT] = {
    [HMB_F_JPEG] = { "jpeg", 5 },        [HMB_F_SCALE] = { "downscale", 4 },
    [HMB_F_CROP] = { "crop", 5 },        [HMB_F_PAD] = { "pad", 4 },
    [HMB_F_FRAME] = { "frame", 4 },      [HMB_F_ROT90] = { "rot90", 3 },
    [HMB_F_ROTSMALL] = { "rot_small", 4 }, [HMB_F_FLIP] = { "flip", 2 },
    [HMB_F_TEXT] = { "text", 4 },        [HMB_F_STICKER] = { "sticker", 4 },
    [HMB_F_COLOUR] = { "colour", 6 },    [HMB_F_BLUR] = { "blur_sharpen", 4 },
    [HMB_F_COLLAGE] = { "collage", 3 },  [HMB_F_CAPTION] = { "caption", 3 },
    [HMB_F_COMBO] = { "combo", 4 },
};

const char *hmb_family_name(int f)
{
    return f >= 0 && f < HMB_F_COUNT ? s_fam[f].name : "unknown";
}

int hmb_family_levels(int f)
{
    return f >= 0 && f < HMB_F_COUNT ? s_fam[f].levels : 0;
}

static double s_unif(uint64_t *s) { return (hm_splitmix64(s) >> 11) * (1.0 / 9007199254740992.0); }
static int s_below(uint64_t *s, int n) { return n > 0 ? (int)(hm_splitmix64(s) % (uint64_t)n) : 0; }

/* ---------------------------------------------------------------- set-up */

static int s_read(const char *path, uint8_t **data, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    *data = malloc(n > 0 ? (size_t)n : 1);
    *len = *data ? fread(*data, 1, (size_t)n, f) : 0;
    fclose(f);
    return *data && *len == (size_t)n ? 0 : -1;
}

typedef struct { char *path; char *group; int cls; } row_t;

static int s_cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int hmb_gen_open(hmb_set_t *set, const char *dir, const hmb_gen_opts_t *opts)
{
    memset(set, 0, sizeof *set);
    snprintf(set->dir, sizeof set->dir, "%s", dir);
    char path[4200], line[2048];
    int cap = 4096, n = 0;
    row_t *rows = calloc((size_t)cap, sizeof *rows);
    /* Scene groups first: every photo of train + val has one line. */
    snprintf(path, sizeof path, "%s/scene-groups.tsv", dir);
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "bench_gen: cannot read %s\n", path);
        free(rows);
        return -1;
    }
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || !strchr(line, '\t'))
            continue;
        line[strcspn(line, "\r\n")] = '\0';
        char *tab = strchr(line, '\t');
        *tab = '\0';
        if (n == cap) {
            cap *= 2;
            rows = realloc(rows, (size_t)cap * sizeof *rows);
        }
        rows[n].path = strdup(line);
        rows[n].group = strdup(tab + 1);
        rows[n].cls = -1;
        n++;
    }
    fclose(f);
    /* Class ids from train.txt and val.txt ("path, fine, coarse"). */
    const char *lists[2] = { "train.txt", "val.txt" };
    for (int l = 0; l < 2; l++) {
        snprintf(path, sizeof path, "%s/%s", dir, lists[l]);
        if (!(f = fopen(path, "r"))) {
            fprintf(stderr, "bench_gen: cannot read %s\n", path);
            goto fail;
        }
        while (fgets(line, sizeof line, f)) {
            char *comma = strchr(line, ',');
            if (!comma)
                continue;
            *comma = '\0';
            int cls = atoi(comma + 1);
            for (int i = 0; i < n; i++) /* 3k x 3k strcmp: once, fine */
                if (rows[i].cls < 0 && strcmp(rows[i].path, line) == 0) {
                    rows[i].cls = cls;
                    break;
                }
        }
        fclose(f);
    }
    /* Dense group ids in sorted name order, then a seeded shuffle of groups. */
    char **names = malloc((size_t)n * sizeof *names);
    for (int i = 0; i < n; i++)
        names[i] = rows[i].group;
    qsort(names, (size_t)n, sizeof *names, s_cmp_str);
    int ng = 0;
    for (int i = 0; i < n; i++)
        if (i == 0 || strcmp(names[i], names[i - 1]))
            names[ng++] = names[i];
    int *order = malloc((size_t)ng * sizeof *order), *role = malloc((size_t)ng * sizeof *role);
    int *gsize = calloc((size_t)ng, sizeof *gsize), *gid = malloc((size_t)n * sizeof *gid);
    for (int i = 0; i < n; i++) {
        char *key = rows[i].group;
        char **hit = bsearch(&key, names, (size_t)ng, sizeof *names, s_cmp_str);
        gid[i] = (int)(hit - names);
        gsize[gid[i]]++;
    }
    uint64_t rs = opts->seed ^ 0x5EEDULL;
    for (int g = 0; g < ng; g++)
        order[g] = g;
    for (int g = ng - 1; g > 0; g--) {
        int j = s_below(&rs, g + 1), t = order[g];
        order[g] = order[j];
        order[j] = t;
    }
    /* Balance by photo count: each group (in shuffled order) joins the side
     * with fewer photos so far.  With --max-photos, later groups are dropped. */
    int nref = 0, ndis = 0, kept = 0;
    for (int k = 0; k < ng; k++) {
        int g = order[k];
        if (opts->max_photos > 0 && kept + gsize[g] > opts->max_photos) {
            role[g] = -1;
            continue;
        }
        kept += gsize[g];
        if (nref <= ndis) {
            role[g] = 1;
            nref += gsize[g];
        } else {
            role[g] = 0;
            ndis += gsize[g];
        }
    }
    set->photos = calloc((size_t)kept + 1, sizeof *set->photos);
    set->refs = malloc(((size_t)nref + 1) * sizeof(int));
    set->distractors = malloc(((size_t)ndis + 1) * sizeof(int));
    set->n_groups = ng;
    for (int i = 0; i < n; i++) {
        int g = gid[i];
        if (role[g] < 0)
            continue;
        hmb_photo_t *p = &set->photos[set->n_photos];
        snprintf(path, sizeof path, "%s/%s", dir, rows[i].path);
        if (s_read(path, &p->data, &p->len)) {
            fprintf(stderr, "bench_gen: cannot read %s\n", path);
            free(p->data);
            continue;
        }
        p->path = strdup(rows[i].path);
        p->group = g;
        p->is_ref = role[g];
        p->cls = rows[i].cls;
        if (p->is_ref)
            set->refs[set->n_refs++] = set->n_photos;
        else
            set->distractors[set->n_distractors++] = set->n_photos;
        set->n_photos++;
    }
    free(names);
    free(order);
    free(role);
    free(gsize);
    free(gid);
    for (int i = 0; i < n; i++) {
        free(rows[i].path);
        free(rows[i].group);
    }
    free(rows);
    if (set->n_refs == 0 || set->n_distractors == 0) {
        fprintf(stderr, "bench_gen: empty split (%d references, %d distractors)\n", set->n_refs,
                set->n_distractors);
        hmb_gen_close(set);
        return -1;
    }
    /* Query specs: families round-robin (so every family gets its share),
     * positive with probability positive_share, strength uniform. */
    uint64_t qs = opts->seed ^ 0x0123456789ULL;
    double share = opts->positive_share > 0 ? opts->positive_share : 0.5;
    set->n_specs = opts->n_queries;
    set->specs = calloc((size_t)set->n_specs + 1, sizeof *set->specs);
    for (int q = 0; q < set->n_specs; q++) {
        hmb_spec_t *s = &set->specs[q];
        s->family = q % HMB_F_COUNT;
        s->level = s_below(&qs, s_fam[s->family].levels);
        s->positive = s_unif(&qs) < share;
        s->src = s->positive ? set->refs[s_below(&qs, set->n_refs)]
                             : set->distractors[s_below(&qs, set->n_distractors)];
        for (int t = 0; t < HMB_MAX_TILES; t++)
            s->tiles[t] = set->distractors[s_below(&qs, set->n_distractors)];
        s->seed = hm_splitmix64(&qs);
    }
    return 0;
fail:
    for (int i = 0; i < n; i++) {
        free(rows[i].path);
        free(rows[i].group);
    }
    free(rows);
    return -1;
}

void hmb_gen_close(hmb_set_t *set)
{
    for (int i = 0; i < set->n_photos; i++) {
        free(set->photos[i].path);
        free(set->photos[i].data);
    }
    free(set->photos);
    free(set->refs);
    free(set->distractors);
    free(set->specs);
    memset(set, 0, sizeof *set);
}

/* ------------------------------------------------------------ transforms */

/* Replace *img by out (unref the old one); returns rc for chaining. */
static int s_swap(VipsImage **img, VipsImage *out, int rc)
{
    if (rc) {
        return -1;
    }
    g_object_unref(*img);
    *img = out;
    return 0;
}

static int s_load(const hmb_photo_t *p, VipsImage **out)
{
    VipsImage *a = vips_image_new_from_buffer(p->data, p->len, "", NULL), *b = NULL;
    if (!a)
        return -1;
    if (vips_colourspace(a, &b, VIPS_INTERPRETATION_sRGB, NULL)) {
        g_object_unref(a);
        return -1;
    }
    g_object_unref(a);
    if (b->Bands > 3) {
        VipsImage *c;
        if (vips_extract_band(b, &c, 0, "n", 3, NULL)) {
            g_object_unref(b);
            return -1;
        }
        g_object_unref(b);
        b = c;
    }
    VipsImage *c;
    if (vips_cast_uchar(b, &c, NULL)) {
        g_object_unref(b);
        return -1;
    }
    g_object_unref(b);
    *out = c;
    return 0;
}

/* Back to 3-band uchar sRGB after an operation that may change either. */
static int s_norm(VipsImage **img)
{
    VipsImage *a;
    if (vips_colourspace(*img, &a, VIPS_INTERPRETATION_sRGB, NULL) || s_swap(img, a, 0))
        return -1;
    if ((*img)->Bands == 1) {
        VipsImage *b;
        VipsImage *in[3] = { *img, *img, *img };
        if (vips_bandjoin(in, &b, 3, NULL) || s_swap(img, b, 0))
            return -1;
    }
    if ((*img)->BandFmt != VIPS_FORMAT_UCHAR) {
        VipsImage *c;
        if (vips_cast_uchar(*img, &c, NULL) || s_swap(img, c, 0))
            return -1;
    }
    VipsImage *d;
    if (vips_copy(*img, &d, "interpretation", VIPS_INTERPRETATION_sRGB, NULL) || s_swap(img, d, 0))
        return -1;
    return 0;
}

static int s_crop(VipsImage **img, double area, double cx, double cy)
{
    int w = (*img)->Xsize, h = (*img)->Ysize;
    double side = sqrt(area);
    int cw = (int)(w * side + 0.5), ch = (int)(h * side + 0.5);
    if (cw < 8) cw = 8;
    if (ch < 8) ch = 8;
    int x = (int)((w - cw) * cx), y = (int)((h - ch) * cy);
    VipsImage *out;
    return s_swap(img, out, vips_extract_area(*img, &out, x, y, cw, ch, NULL));
}

static int s_embed(VipsImage **img, int x, int y, int W, int H, const double rgb[3])
{
    VipsImage *out;
    VipsArrayDouble *bg = vips_array_double_new(rgb, 3);
    int rc = vips_embed(*img, &out, x, y, W, H, "extend", VIPS_EXTEND_BACKGROUND, "background",
                        bg, NULL);
    vips_area_unref(VIPS_AREA(bg));
    return s_swap(img, out, rc);
}

/* Blend colour rgb into img where mask (1-band uchar, same size) is set,
 * scaled by opacity. */
static int s_blend(VipsImage **img, VipsImage *mask, const double rgb[3], double opacity)
{
    VipsImage *m = NULL, *out = NULL;
    if (opacity < 1.0) {
        if (vips_linear1(mask, &m, opacity, 0, "uchar", TRUE, NULL))
            return -1;
    } else {
        m = mask;
        g_object_ref(m);
    }
    VipsImage *col = NULL;
    int rc = vips_black(&col, (*img)->Xsize, (*img)->Ysize, "bands", 3, NULL);
    VipsImage *col2 = NULL;
    double ones[3] = { 1, 1, 1 };
    if (!rc) /* black + rgb: a constant image of the colour */
        rc = vips_linear(col, &col2, ones, (double *)rgb, 3, "uchar", TRUE, NULL);
    if (!rc)
        rc = vips_ifthenelse(m, col2, *img, &out, "blend", TRUE, NULL);
    if (col) g_object_unref(col);
    if (col2) g_object_unref(col2);
    g_object_unref(m);
    return s_swap(img, out, rc);
}

/* Render text and place its mask at (x, y) in a mask the size of img (text
 * wider than the image is clipped).  x, y < 0: centred on that axis. */
static int s_text(VipsImage **img, const char *text, const char *font, int px, int x, int y,
                  const double rgb[3], double opacity)
{
    char fontspec[128];
    snprintf(fontspec, sizeof fontspec, "%s %d", font, px);
    VipsImage *t = NULL, *m = NULL;
    if (vips_text(&t, text, "font", fontspec, "dpi", 72, NULL))
        return -1;
    int W = (*img)->Xsize, H = (*img)->Ysize;
    if (x < 0) x = (W - t->Xsize) / 2;
    if (y < 0) y = (H - t->Ysize) / 2;
    int rc = vips_embed(t, &m, x, y, W, H, NULL);
    g_object_unref(t);
    if (rc)
        return -1;
    rc = s_blend(img, m, rgb, opacity);
    g_object_unref(m);
    return rc;
}

/* A filled shape mask: circle (kind 0) or rectangle (kind 1). */
static int s_shape(VipsImage **img, int kind, int x, int y, int w, int h, const double rgb[3],
                   double opacity)
{
    VipsImage *m = NULL;
    if (vips_black(&m, (*img)->Xsize, (*img)->Ysize, NULL))
        return -1;
    VipsImage *mm = vips_image_copy_memory(m);
    g_object_unref(m);
    if (!mm)
        return -1;
    double ink = 255;
    int rc = kind == 0 ? vips_draw_circle(mm, &ink, 1, x + w / 2, y + h / 2, w / 2, "fill", TRUE, NULL)
                       : vips_draw_rect(mm, &ink, 1, x, y, w, h, "fill", TRUE, NULL);
    if (!rc)
        rc = s_blend(img, mm, rgb, opacity);
    g_object_unref(mm);
    return rc;
}

static int s_resize(VipsImage **img, double sx, double sy)
{
    VipsImage *out;
    return s_swap(img, out, vips_resize(*img, &out, sx, "vscale", sy, NULL));
}

static const char *s_sellers[] = { "bestdeals_shop", "SuperSaver24", "mega-outlet.example",
                                   "GreenGrocer Direct", "cheap4you", "Official Store" };
static const char *s_prices[] = { "$9.99", "EUR 4,49", "ONLY 1.99", "-50%", "SALE 2 for 1",
                                  "19.90 kr" };

static void s_colour(uint64_t *r, double rgb[3], int white_ok)
{
    if (white_ok && s_unif(r) < 0.5) {
        rgb[0] = rgb[1] = rgb[2] = 255;
        return;
    }
    for (int i = 0; i < 3; i++)
        rgb[i] = s_below(r, 256);
}

static int s_apply(const hmb_set_t *set, const hmb_spec_t *sp, int family, int level,
                   uint64_t *r, VipsImage **img, int *quality);

/* Colour edits: brightness, contrast, saturation, hue, grayscale, mixed. */
static int s_colour_edit(VipsImage **img, int level, uint64_t *r)
{
    VipsImage *out = NULL;
    switch (level) {
    case 0: { /* brightness */
        double b = (s_unif(r) < 0.5 ? -1 : 1) * (20 + 30 * s_unif(r));
        double a[3] = { 1, 1, 1 }, c[3] = { b, b, b };
        return s_swap(img, out, vips_linear(*img, &out, a, c, 3, "uchar", TRUE, NULL));
    }
    case 1: { /* contrast around mid-grey */
        double k = s_unif(r) < 0.5 ? 0.6 : 1.5;
        double a[3] = { k, k, k }, c[3] = { 128 * (1 - k), 128 * (1 - k), 128 * (1 - k) };
        return s_swap(img, out, vips_linear(*img, &out, a, c, 3, "uchar", TRUE, NULL));
    }
    case 2:   /* saturation */
    case 3: { /* hue */
        VipsImage *lch;
        if (vips_colourspace(*img, &lch, VIPS_INTERPRETATION_LCH, NULL))
            return -1;
        double a[3] = { 1, 1, 1 }, c[3] = { 0, 0, 0 };
        if (level == 2)
            a[1] = s_unif(r) < 0.5 ? 0.3 : 1.8;
        else
            c[2] = 30 + 120 * s_unif(r);
        int rc = vips_linear(lch, &out, a, c, 3, NULL);
        g_object_unref(lch);
        if (rc)
            return -1;
        if (level == 3) { /* hue wraps at 360 */
            VipsImage *h = NULL, *l = NULL, *hh = NULL, *rest = NULL;
            rc = vips_extract_band(out, &h, 2, NULL) || vips_extract_band(out, &rest, 0, "n", 2, NULL) ||
                 vips_remainder_const1(h, &hh, 360, NULL);
            VipsImage *parts[2] = { rest, hh };
            if (!rc)
                rc = vips_bandjoin(parts, &l, 2, NULL);
            if (h) g_object_unref(h);
            if (hh) g_object_unref(hh);
            if (rest) g_object_unref(rest);
            g_object_unref(out);
            if (rc)
                return -1;
            VipsImage *l2;
            if (vips_copy(l, &l2, "interpretation", VIPS_INTERPRETATION_LCH, NULL)) {
                g_object_unref(l);
                return -1;
            }
            g_object_unref(l);
            out = l2;
        }
        if (s_swap(img, out, 0))
            return -1;
        return s_norm(img);
    }
    case 4: { /* grayscale */
        if (vips_colourspace(*img, &out, VIPS_INTERPRETATION_B_W, NULL) || s_swap(img, out, 0))
            return -1;
        return s_norm(img);
    }
    default: /* two of the above */
        if (s_colour_edit(img, s_below(r, 2), r))
            return -1;
        return s_colour_edit(img, 2 + s_below(r, 3), r);
    }
}

static int s_apply(const hmb_set_t *set, const hmb_spec_t *sp, int family, int level,
                   uint64_t *r, VipsImage **img, int *quality)
{
    int W = (*img)->Xsize, H = (*img)->Ysize;
    double rgb[3];
    VipsImage *out = NULL;
    switch (family) {
    case HMB_F_JPEG: {
        static const int q[] = { 90, 70, 50, 30, 15 };
        *quality = q[level];
        return 0;
    }
    case HMB_F_SCALE: {
        static const double s[] = { 0.75, 0.5, 0.35, 0.25 };
        *quality = 85;
        return s_resize(img, s[level], s[level]);
    }
    case HMB_F_CROP: {
        static const double a[] = { 0.95, 0.85, 0.75, 0.6, 0.5 };
        int off = s_unif(r) < 0.5; /* centre or off-centre */
        double cx = off ? s_unif(r) : 0.5, cy = off ? s_unif(r) : 0.5;
        return s_crop(img, a[level], cx, cy);
    }
    case HMB_F_PAD: {
        /* content share of the canvas side: 0.9 .. 0.5; level 3 letterboxes
         * to 16:9 or 9:16 */
        static const double f[] = { 0.9, 0.75, 0.6, 0.5 };
        s_colour(r, rgb, 1);
        int CW, CH;
        if (level == 3) {
            if (s_unif(r) < 0.5) { CW = (int)(H * 16.0 / 9); CH = H; }
            else { CW = W; CH = (int)(W * 16.0 / 9); }
            if (CW < W) CW = W;
            if (CH < H) CH = H;
        } else {
            CW = (int)(W / f[level]);
            CH = (int)(H / f[level]);
        }
        int x = s_below(r, CW - W + 1), y = s_below(r, CH - H + 1);
        if (s_unif(r) < 0.5) { x = (CW - W) / 2; y = (CH - H) / 2; }
        return s_embed(img, x, y, CW, CH, rgb);
    }
    case HMB_F_FRAME: {
        static const double t[] = { 0.03, 0.06, 0.10, 0.15 };
        int b = (int)(t[level] * (W > H ? W : H)) + 1;
        s_colour(r, rgb, 0);
        if (s_embed(img, b, b, W + 2 * b, H + 2 * b, rgb))
            return -1;
        if (level >= 2) { /* a second, thin outer frame of another colour */
            double c2[3];
            s_colour(r, c2, 1);
            int b2 = b / 3 + 1;
            return s_embed(img, b2, b2, (*img)->Xsize + 2 * b2, (*img)->Ysize + 2 * b2, c2);
        }
        return 0;
    }
    case HMB_F_ROT90: {
        static const VipsAngle a[] = { VIPS_ANGLE_D90, VIPS_ANGLE_D180, VIPS_ANGLE_D270 };
        return s_swap(img, out, vips_rot(*img, &out, a[level], NULL));
    }
    case HMB_F_ROTSMALL: {
        static const double a[] = { 2, 5, 10, 15 };
        double ang = a[level] * (s_unif(r) < 0.5 ? -1 : 1);
        s_colour(r, rgb, 1);
        VipsArrayDouble *bg = vips_array_double_new(rgb, 3);
        int rc = vips_rotate(*img, &out, ang, "background", bg, NULL);
        vips_area_unref(VIPS_AREA(bg));
        if (s_swap(img, out, rc))
            return -1;
        return s_norm(img);
    }
    case HMB_F_FLIP:
        return s_swap(img, out, vips_flip(*img, &out, level ? VIPS_DIRECTION_VERTICAL
                                                           : VIPS_DIRECTION_HORIZONTAL, NULL));
    case HMB_F_TEXT: {
        /* 0: small seller name in a corner; 1: price tag; 2: big translucent
         * watermark across the middle; 3: all three */
        int k0 = level == 3 ? 0 : level, k1 = level == 3 ? 2 : level;
        for (int k = k0; k <= k1; k++) {
            s_colour(r, rgb, 1);
            if (k == 0) {
                const char *s = s_sellers[s_below(r, 6)];
                int px = H / 16 + 4;
                if (s_text(img, s, "DejaVu Sans", px, 4 + s_below(r, W / 4),
                           s_unif(r) < 0.5 ? 4 : H - px - 8, rgb, 1.0))
                    return -1;
            } else if (k == 1) {
                int px = H / 9 + 4;
                double box[3] = { 200 + s_below(r, 56), s_below(r, 60), s_below(r, 60) };
                int bx = s_below(r, W / 2), by = s_below(r, H / 2);
                if (s_shape(img, 1, bx, by, W / 2, px + px / 2, box, 1.0))
                    return -1;
                double white[3] = { 255, 255, 255 };
                if (s_text(img, s_prices[s_below(r, 6)], "DejaVu Sans Bold", px, bx + 4, by + 2,
                           white, 1.0))
                    return -1;
            } else {
                int px = W / 8 + 6;
                if (s_text(img, "© SAMPLE", "DejaVu Sans Bold", px, -1, -1, rgb, 0.45))
                    return -1;
            }
        }
        return 0;
    }
    case HMB_F_STICKER: {
        /* a badge (circle or box) covering 3% .. 20% of the area, with a word */
        static const double a[] = { 0.03, 0.06, 0.12, 0.20 };
        int side = (int)(sqrt(a[level] * W * H));
        if (side > W) side = W;
        if (side > H) side = H;
        int x = s_below(r, W - side + 1), y = s_below(r, H - side + 1);
        s_colour(r, rgb, 0);
        if (s_shape(img, s_below(r, 2), x, y, side, side, rgb, 1.0))
            return -1;
        double white[3] = { 255, 255, 255 };
        static const char *w[] = { "SALE", "NEW", "TOP", "100%" };
        return s_text(img, w[s_below(r, 4)], "DejaVu Sans Bold", side / 4 + 2, x + side / 8,
                      y + side / 3, white, 1.0);
    }
    case HMB_F_COLOUR:
        return s_colour_edit(img, level, r);
    case HMB_F_BLUR: {
        if (level < 3) {
            static const double s[] = { 1.0, 2.0, 4.0 };
            return s_swap(img, out, vips_gaussblur(*img, &out, s[level], NULL));
        }
        if (s_swap(img, out, vips_sharpen(*img, &out, "sigma", 1.5, "m2", 4.0, NULL)))
            return -1;
        return s_norm(img);
    }
    case HMB_F_COLLAGE: {
        /* 2 (side by side), 3 (one row) or 4 (2 x 2) tiles of one size; the
         * source's cell is random, the others are distractors. */
        int nt = level + 2, cols = nt == 4 ? 2 : nt, rows = nt == 4 ? 2 : 1;
        int cell = W > 200 ? 240 : W;
        int pos = s_below(r, nt);
        VipsImage *tiles[HMB_MAX_TILES] = { 0 };
        int rc = 0;
        for (int t = 0; t < nt && !rc; t++) {
            VipsImage *ti;
            if (t == pos) {
                ti = *img;
                g_object_ref(ti);
            } else if ((rc = s_load(&set->photos[sp->tiles[t]], &ti))) {
                break;
            }
            rc = s_resize(&ti, (double)cell / ti->Xsize, (double)cell / ti->Ysize);
            tiles[t] = ti;
        }
        if (!rc) {
            VipsArrayDouble *bg = vips_array_double_newv(1, 255.0);
            rc = vips_arrayjoin(tiles, &out, nt, "across", cols, "shim", 4, "background", bg, NULL);
            vips_area_unref(VIPS_AREA(bg));
        }
        (void)rows;
        for (int t = 0; t < nt; t++)
            if (tiles[t]) g_object_unref(tiles[t]);
        return s_swap(img, out, rc);
    }
    case HMB_F_CAPTION: {
        /* a screenshot: title bar on top, caption (title + price) below, and
         * at level >= 1 a bottom strip of UI buttons; level 2 also shrinks
         * the photo inside a wider page. */
        int bar = H / 10 + 8, cap = H / 5 + 10, ui = level >= 1 ? H / 8 + 8 : 0;
        int side = level == 2 ? W / 3 : 0;
        double page[3] = { 255, 255, 255 };
        if (s_unif(r) < 0.3) page[0] = page[1] = page[2] = 240;
        if (s_embed(img, side, bar, W + 2 * side, H + bar + cap + ui, page))
            return -1;
        VipsImage *mem = vips_image_copy_memory(*img);
        if (!mem)
            return -1;
        g_object_unref(*img);
        *img = mem;
        double barc[3] = { 40 + s_below(r, 40), 60 + s_below(r, 80), 120 + s_below(r, 130) };
        int PW = (*img)->Xsize;
        if (vips_draw_rect(*img, barc, 3, 0, 0, PW, bar, "fill", TRUE, NULL))
            return -1;
        double white[3] = { 255, 255, 255 }, dark[3] = { 30, 30, 30 }, red[3] = { 200, 20, 20 };
        if (s_text(img, "12:34   shop.example  ≡", "DejaVu Sans", bar / 2, 6, bar / 5, white, 1.0))
            return -1;
        if (s_text(img, s_sellers[s_below(r, 6)], "DejaVu Sans", cap / 4, side + 6, bar + H + 4,
                   dark, 1.0))
            return -1;
        if (s_text(img, s_prices[s_below(r, 6)], "DejaVu Sans Bold", cap / 3, side + 6,
                   bar + H + cap / 2, red, 1.0))
            return -1;
        if (ui) {
            double btn[3] = { 250, 160 + s_below(r, 60), 0 };
            int y0 = bar + H + cap;
            if (vips_draw_rect(*img, btn, 3, 8, y0 + 4, PW / 2 - 16, ui - 8, "fill", TRUE, NULL) ||
                vips_draw_rect(*img, barc, 3, PW / 2 + 8, y0 + 4, PW / 2 - 16, ui - 8, "fill", TRUE, NULL))
                return -1;
            if (s_text(img, "Add to cart", "DejaVu Sans Bold", ui / 3, 16, y0 + ui / 4, dark, 1.0) ||
                s_text(img, "Buy now", "DejaVu Sans Bold", ui / 3, PW / 2 + 16, y0 + ui / 4, white, 1.0))
                return -1;
        }
        return 0;
    }
    case HMB_F_COMBO: {
        /* level + 2 edits from the single families (no collage, no
         * caption), in a random order; a lower JPEG quality at the end. */
        static const int pool[] = { HMB_F_CROP, HMB_F_PAD, HMB_F_FRAME, HMB_F_ROTSMALL, HMB_F_FLIP,
                                    HMB_F_TEXT, HMB_F_STICKER, HMB_F_COLOUR, HMB_F_BLUR,
                                    HMB_F_SCALE, HMB_F_ROT90 };
        int n = level + 2, used = 0;
        for (int k = 0; k < n; k++) {
            int f;
            do f = s_below(r, (int)(sizeof pool / sizeof pool[0]));
            while (used & (1 << f));
            used |= 1 << f;
            int fam = pool[f];
            /* milder strengths inside combinations: the lower half */
            int lv = s_below(r, (hmb_family_levels(fam) + 1) / 2);
            if (s_apply(set, sp, fam, lv, r, img, quality))
                return -1;
        }
        *quality = 60 + s_below(r, 31);
        return 0;
    }
    default:
        return -1;
    }
}

int hmb_gen_render(const hmb_set_t *set, int q, void **out, size_t *len)
{
    const hmb_spec_t *sp = &set->specs[q];
    uint64_t r = sp->seed;
    VipsImage *img = NULL;
    int quality = 90;
    if (s_load(&set->photos[sp->src], &img))
        goto fail;
    if (s_apply(set, sp, sp->family, sp->level, &r, &img, &quality))
        goto fail;
    if (s_norm(&img))
        goto fail;
    if (vips_jpegsave_buffer(img, out, len, "Q", quality, "strip", TRUE, NULL))
        goto fail;
    g_object_unref(img);
    return 0;
fail:
    fprintf(stderr, "bench_gen: query %d (%s level %d): %s\n", q, hmb_family_name(sp->family),
            sp->level, vips_error_buffer());
    vips_error_clear();
    if (img)
        g_object_unref(img);
    return -1;
}

void hmb_gen_describe(const hmb_set_t *set, int q, char *buf, size_t cap)
{
    const hmb_spec_t *sp = &set->specs[q];
    snprintf(buf, cap, "%s/%d %s %s", hmb_family_name(sp->family), sp->level,
             sp->positive ? "positive" : "negative", set->photos[sp->src].path);
}
