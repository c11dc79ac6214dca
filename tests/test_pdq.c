/*
 * test_pdq.c - PDQ conformance against Meta's reference hasher's output
 * (../shared/conformance/pdq): every image whose reference quality is >= 50
 * within 10 bits (mean <= 3) and quality within 5; low-quality images still
 * hash with quality < 50; the eight dihedral hashes meet the same bounds; the
 * images the reference cannot read fingerprint without error.  Plus the hex
 * form and the dihedral algebra on synthetic images.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hm_error.h"
#include "hm_fp.h"
#include "hm_pdq.h"
#include "test_util.h"

typedef struct {
    char path[512];
    char hex[HM_DIH_COUNT][65];
    int quality;
} row_t;

/* Read a conformance CSV: ncols hashes, quality, path. */
static int s_read_csv(const char *file, int nhash, row_t *rows, int max)
{
    FILE *f = fopen(file, "r");
    ck_assert_msg(f != NULL, "cannot open %s", file);
    char line[2048];
    int n = 0;
    while (fgets(line, sizeof line, f) && n < max) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        line[strcspn(line, "\r\n")] = '\0';
        char *save = NULL, *tok = strtok_r(line, ",", &save);
        row_t *r = &rows[n];
        for (int i = 0; i < nhash; i++) {
            ck_assert_ptr_nonnull(tok);
            snprintf(r->hex[i], 65, "%s", tok);
            tok = strtok_r(NULL, ",", &save);
        }
        ck_assert_ptr_nonnull(tok);
        r->quality = atoi(tok);
        tok = strtok_r(NULL, ",", &save);
        ck_assert_ptr_nonnull(tok);
        snprintf(r->path, sizeof r->path, "%s", tok);
        n++;
    }
    fclose(f);
    return n;
}

static int s_fp_file(hm_fp_ctx_t *ctx, const char *rel, hm_fp_t *fp)
{
    char path[1024];
    const char *base = tu_shared_path("conformance/pdq");
    snprintf(path, sizeof path, "%s/%s", base, rel);
    uint8_t *data;
    size_t len;
    tu_read_file(path, &data, &len);
    int rc = hm_fp_compute(ctx, data, len, fp);
    free(data);
    return rc;
}

static int s_is_exif_rotated(const char *path)
{
    return strstr(path, "exif-rotn-") != NULL && strstr(path, "exif-rotn-1.") == NULL;
}

static int s_dist_hex(const hm_pdq_t *h, const char *hex)
{
    hm_pdq_t ref;
    ck_assert_int_eq(hm_pdq_from_hex(hex, &ref), 0);
    return hm_pdq_distance(h, &ref);
}

START_TEST(test_conformance_original)
{
    if (!tu_shared_dir())
        return;
    static row_t rows[64], exif[16];
    char file[1024];
    snprintf(file, sizeof file, "%s/expected.csv", tu_shared_path("conformance/pdq"));
    int n = s_read_csv(file, 1, rows, 64);
    snprintf(file, sizeof file, "%s/expected-exif.csv", tu_shared_path("conformance/pdq"));
    int ne = s_read_csv(file, 1, exif, 16);
    ck_assert_int_ge(n, 30);
    ck_assert_int_ge(ne, 3);
    hm_fp_ctx_t *ctx;
    ck_assert_int_eq(hm_fp_ctx_new(&ctx, NULL), 0);
    int good = 0, total_dist = 0, max_dist = 0;
    for (int i = 0; i < n; i++) {
        row_t *r = &rows[i];
        if (s_is_exif_rotated(r->path))
            for (int j = 0; j < ne; j++)
                if (strcmp(exif[j].path, r->path) == 0)
                    r = &exif[j];
        hm_fp_t fp;
        int rc = s_fp_file(ctx, r->path, &fp);
        ck_assert_msg(rc == 0, "%s: %s", r->path, hm_last_error());
        char hex[65];
        hm_pdq_to_hex(&fp.full.pdq[HM_DIH_ORIGINAL], hex);
        int d = s_dist_hex(&fp.full.pdq[HM_DIH_ORIGINAL], r->hex[0]);
        fprintf(stderr, "pdq %-52s dist=%3d quality=%3d ref_quality=%3d\n", r->path, d,
                fp.full.quality, r->quality);
        if (r->quality >= 50) {
            ck_assert_msg(d <= 10, "%s: %d bits from the reference (%s vs %s)", r->path, d,
                          hex, r->hex[0]);
            ck_assert_msg(abs(fp.full.quality - r->quality) <= 5, "%s: quality %d vs %d",
                          r->path, fp.full.quality, r->quality);
            good++;
            total_dist += d;
            if (d > max_dist)
                max_dist = d;
        } else {
            ck_assert_msg(fp.full.quality < 50, "%s: low-quality image got quality %d",
                          r->path, fp.full.quality);
        }
    }
    ck_assert_int_ge(good, 25);
    fprintf(stderr, "pdq conformance: %d images, mean %.2f bits, max %d\n", good,
            (double)total_dist / good, max_dist);
    ck_assert_msg(total_dist <= 3 * good, "mean distance %.2f > 3", (double)total_dist / good);
    hm_fp_ctx_free(&ctx);
    ck_assert_ptr_null(ctx);
}
END_TEST

START_TEST(test_conformance_dihedral)
{
    if (!tu_shared_dir())
        return;
    static row_t rows[64];
    char file[1024];
    snprintf(file, sizeof file, "%s/expected-dih.csv", tu_shared_path("conformance/pdq"));
    int n = s_read_csv(file, HM_DIH_COUNT, rows, 64);
    ck_assert_int_ge(n, 30);
    hm_fp_ctx_t *ctx;
    ck_assert_int_eq(hm_fp_ctx_new(&ctx, NULL), 0);
    int count = 0, total = 0;
    for (int i = 0; i < n; i++) {
        row_t *r = &rows[i];
        if (s_is_exif_rotated(r->path) || r->quality < 50)
            continue;
        hm_fp_t fp;
        ck_assert_msg(s_fp_file(ctx, r->path, &fp) == 0, "%s: %s", r->path, hm_last_error());
        for (int d = 0; d < HM_DIH_COUNT; d++) {
            int dist = s_dist_hex(&fp.full.pdq[d], r->hex[d]);
            ck_assert_msg(dist <= 10, "%s variant %d: %d bits", r->path, d, dist);
            total += dist;
            count++;
        }
    }
    ck_assert_int_ge(count, 8 * 25);
    fprintf(stderr, "pdq dihedral conformance: %d hashes, mean %.2f bits\n", count,
            (double)total / count);
    ck_assert_msg(total <= 3 * count, "dihedral mean %.2f > 3", (double)total / count);
    hm_fp_ctx_free(&ctx);
}
END_TEST

START_TEST(test_unreadable_by_reference)
{
    if (!tu_shared_dir())
        return;
    static const char *files[] = {
        "images/misc-images/c.png", "images/misc-images/modes/CMYK.jpg",
        "images/misc-images/modes/LA.png", "images/misc-images/modes/RGBA.png",
        "images/reg-test-input/pen-and-coaster.png", "images/misc-images/modes/F.webp",
        "images/misc-images/modes/HSV.webp", "images/misc-images/modes/I.webp",
        "images/misc-images/modes/LAB.webp",
    };
    hm_fp_ctx_t *ctx;
    ck_assert_int_eq(hm_fp_ctx_new(&ctx, NULL), 0);
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        hm_fp_t fp;
        int rc = s_fp_file(ctx, files[i], &fp);
        ck_assert_msg(rc == 0, "%s: %s", files[i], hm_last_error());
        ck_assert_int_gt(fp.width, 0);
    }
    hm_fp_ctx_free(&ctx);
}
END_TEST

START_TEST(test_hex_round_trip)
{
    hm_pdq_t h, back;
    uint64_t st = 5;
    for (int i = 0; i < 4; i++) h.w[i] = tu_rand(&st);
    char hex[65];
    hm_pdq_to_hex(&h, hex);
    ck_assert_int_eq((int)strlen(hex), 64);
    ck_assert_int_eq(hm_pdq_from_hex(hex, &back), 0);
    ck_assert_int_eq(memcmp(&h, &back, sizeof h), 0);
    /* Word 15 (bits 240..255) is printed first, as the reference does. */
    memset(&h, 0, sizeof h);
    h.w[3] = 1ULL << 63;
    hm_pdq_to_hex(&h, hex);
    ck_assert_str_eq(hex, "8000000000000000000000000000000000000000000000000000000000000000");
    ck_assert_int_eq(hm_pdq_from_hex("xyz", &back), HM_E_INVAL);
    ck_assert_int_eq(hm_pdq_from_hex("g000000000000000000000000000000000000000000000000000000000000000", &back), HM_E_INVAL);
    uint64_t v;
    char h16[17];
    hm_u64_to_hex(0x0123456789abcdefULL, h16);
    ck_assert_str_eq(h16, "0123456789abcdef");
    ck_assert_int_eq(hm_u64_from_hex(h16, &v), 0);
    ck_assert_uint_eq(v, 0x0123456789abcdefULL);
}
END_TEST

/* Rotating or flipping the pixels gives (nearly) the hash the DCT algebra
 * predicts for that variant. */
START_TEST(test_dihedral_algebra)
{
    enum { N = 96 };
    static uint8_t img[N * N * 3], rot[N * N * 3];
    uint64_t st = 11;
    /* A smooth random image: a few blobs. */
    for (int y = 0; y < N; y++)
        for (int x = 0; x < N; x++)
            for (int c = 0; c < 3; c++)
                img[(y * N + x) * 3 + c] = (uint8_t)(128 + 60 * ((x * (c + 1) + 2 * y) % 37 < 18) + 40 * (((x / 16) + (y / 24)) & 1) - 50 * (x > 60 && y < 30));
    (void)st;
    hm_fp_ctx_t *ctx;
    ck_assert_int_eq(hm_fp_ctx_new(&ctx, NULL), 0);
    hm_fp_t a, b;
    ck_assert_int_eq(hm_fp_from_rgb(ctx, img, N, N, N * 3, &a), 0);
    /* rot90 clockwise: out(x, y) = in(y, N-1-x) ... check both rotation senses
     * and the flips against the predicted variants. */
    struct { int dih; int (*map)(int x, int y, int *sx, int *sy); } cases[4];
    (void)cases;
    for (int y = 0; y < N; y++)
        for (int x = 0; x < N; x++)
            memcpy(&rot[(y * N + x) * 3], &img[(y * N + (N - 1 - x)) * 3], 3); /* flip left-right */
    ck_assert_int_eq(hm_fp_from_rgb(ctx, rot, N, N, N * 3, &b), 0);
    int best = 256, which = -1;
    for (int d = 0; d < HM_DIH_COUNT; d++) {
        int dist = hm_pdq_distance(&a.full.pdq[d], &b.full.pdq[HM_DIH_ORIGINAL]);
        if (dist < best) best = dist, which = d;
    }
    ck_assert_int_le(best, 4);
    ck_assert_int_eq(which, HM_DIH_FLIPY);
    for (int y = 0; y < N; y++)
        for (int x = 0; x < N; x++)
            memcpy(&rot[(y * N + x) * 3], &img[((N - 1 - y) * N + (N - 1 - x)) * 3], 3); /* rotate 180 */
    ck_assert_int_eq(hm_fp_from_rgb(ctx, rot, N, N, N * 3, &b), 0);
    ck_assert_int_le(hm_pdq_distance(&a.full.pdq[HM_DIH_ROT180], &b.full.pdq[HM_DIH_ORIGINAL]), 4);
    hm_fp_ctx_free(&ctx);
}
END_TEST

Suite *hm_suite_pdq(void)
{
    Suite *s = suite_create("pdq");
    TCase *tc = tcase_create("conformance");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_conformance_original);
    tcase_add_test(tc, test_conformance_dihedral);
    tcase_add_test(tc, test_unreadable_by_reference);
    tcase_add_test(tc, test_hex_round_trip);
    tcase_add_test(tc, test_dihedral_algebra);
    suite_add_tcase(s, tc);
    return s;
}
