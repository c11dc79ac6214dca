/*
 * test_bombs.c - decompression bombs (suite "bombs"): PNG, JPEG, WebP and GIF
 * files that declare huge dimensions or expand enormously must be rejected
 * before pixel memory is allocated, and quickly.
 *
 * Each case is built here (zlib for the deflate streams, libvips for a small
 * genuine JPEG / WebP whose header is then patched), decoded through
 * hm_fp_compute (what the daemon's workers run), timed, and the process's
 * peak RSS is compared before and after: a decoder that allocated the
 * declared canvas would add hundreds of MiB.  The times are printed as
 * "bomb: NAME ms=..." lines (docs/RELIABILITY.md records them).
 */
#include <check.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <zlib.h>

#include "hm_decode.h"
#include "hm_error.h"
#include "hm_fp.h"
#include "test_util.h"

typedef struct buf {
    uint8_t *p;
    size_t n, cap;
} buf_t;

static void s_put(buf_t *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2;
        b->p = realloc(b->p, b->cap);
        ck_assert_ptr_nonnull(b->p);
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}

static void s_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

/* One PNG chunk: length, type, data, CRC. */
static void s_chunk(buf_t *b, const char *type, const void *data, size_t n)
{
    uint8_t h[8];
    s_be32(h, (uint32_t)n);
    memcpy(h + 4, type, 4);
    s_put(b, h, 8);
    s_put(b, data, n);
    uLong crc = crc32(0, h + 4, 4);
    crc = crc32(crc, data, (uInt)n);
    s_be32(h, (uint32_t)crc);
    s_put(b, h, 4);
}

/* deflate() n zero bytes (streamed, so the input is never in memory). */
static uint8_t *s_deflate_zeros(size_t n, size_t *out_len)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    ck_assert_int_eq(deflateInit(&z, 9), Z_OK);
    static uint8_t zeros[1 << 16];
    size_t cap = n / 500 + 4096, done = 0;
    uint8_t *out = malloc(cap);
    z.next_out = out;
    z.avail_out = (uInt)cap;
    int rc;
    do {
        size_t k = n - done < sizeof zeros ? n - done : sizeof zeros;
        z.next_in = zeros;
        z.avail_in = (uInt)k;
        done += k;
        rc = deflate(&z, done == n ? Z_FINISH : Z_NO_FLUSH);
        ck_assert(rc != Z_STREAM_ERROR && z.avail_out > 0);
    } while (rc != Z_STREAM_END);
    *out_len = z.total_out;
    deflateEnd(&z);
    return out;
}

/* A w x h PNG (grey, bit depth `depth`) whose IDAT is real all-zero data. */
static buf_t s_png_zero(uint32_t w, uint32_t h, int depth)
{
    buf_t b = { 0 };
    s_put(&b, "\x89PNG\r\n\x1a\n", 8);
    uint8_t ihdr[13];
    s_be32(ihdr, w);
    s_be32(ihdr + 4, h);
    ihdr[8] = (uint8_t)depth; ihdr[9] = 0; ihdr[10] = 0; ihdr[11] = 0; ihdr[12] = 0;
    s_chunk(&b, "IHDR", ihdr, 13);
    size_t zl;
    uint8_t *z = s_deflate_zeros((size_t)h * (1 + ((size_t)w * depth + 7) / 8), &zl);
    s_chunk(&b, "IDAT", z, zl);
    free(z);
    s_chunk(&b, "IEND", "", 0);
    return b;
}

/* A small genuine image through libvips (suffix ".jpg", ".webp"). */
static buf_t s_small(const char *suffix)
{
    uint8_t rgb[64 * 64 * 3];
    for (size_t i = 0; i < sizeof rgb; i++)
        rgb[i] = (uint8_t)(i * 7);
    void *out;
    size_t len;
    ck_assert_int_eq(tu_encode(rgb, 64, 64, suffix, &out, &len), 0);
    buf_t b = { 0 };
    s_put(&b, out, len);
    g_free(out);
    return b;
}

static long s_maxrss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* Score the bytes; they must be refused within 1 s without pixel memory. */
static void s_expect_refused(const char *name, const buf_t *b)
{
    hm_fp_ctx_t *ctx = NULL;
    ck_assert_int_eq(hm_decode_init(), 0); /* libvips start-up is not the bomb's cost */
    ck_assert_int_eq(hm_fp_ctx_new(&ctx, NULL), 0);
    hm_fp_t *fp = malloc(sizeof *fp);
    long rss0 = s_maxrss_kib();
    struct timespec a, c;
    clock_gettime(CLOCK_MONOTONIC, &a);
    int rc = hm_fp_compute(ctx, b->p, b->n, fp);
    clock_gettime(CLOCK_MONOTONIC, &c);
    double ms = (c.tv_sec - a.tv_sec) * 1e3 + (c.tv_nsec - a.tv_nsec) / 1e6;
    long grew = s_maxrss_kib() - rss0;
    fprintf(stderr, "bomb: %s bytes=%zu rc=%s ms=%.2f peak_rss_growth_kib=%ld\n", name, b->n,
            hm_err_name(rc), ms, grew);
    ck_assert_msg(rc == HM_E_TOO_LARGE || rc == HM_E_CORRUPT || rc == HM_E_DECODE,
                  "%s: accepted or odd error %s", name, hm_err_name(rc));
    ck_assert_msg(ms < 1000, "%s: refusing took %.1f ms", name, ms);
    ck_assert_msg(grew < 64 * 1024, "%s: peak RSS grew by %ld KiB", name, grew);
    free(fp);
    hm_fp_ctx_free(&ctx);
}

START_TEST(png_bombs)
{
    /* 16k x 16k all-zero, 1-bit: 32 MiB of rows that deflate to ~32 KiB. */
    buf_t b = s_png_zero(16384, 16384, 1);
    s_expect_refused("png-16384x16384-zero", &b);
    free(b.p);
    /* 8-bit 20000 x 20000: 400 Mpx, ~400 KiB on the wire. */
    b = s_png_zero(20000, 20000, 8);
    ck_assert_int_lt(b.n, 1 << 20);
    s_expect_refused("png-20000x20000-zero", &b);
    free(b.p);
    /* Inside the pixel limit, but a zTXt chunk inflating to 256 MiB: libpng's
     * chunk allocation limit must stop it (the image itself may decode). */
    b = s_png_zero(64, 64, 8);
    b.n -= 12; /* drop IEND, add the chunk, put IEND back */
    size_t zl;
    uint8_t *z = s_deflate_zeros((size_t)256 << 20, &zl);
    buf_t t = { 0 };
    s_put(&t, "Comment\0\0", 9);
    s_put(&t, z, zl);
    free(z);
    s_chunk(&b, "zTXt", t.p, t.n);
    free(t.p);
    s_chunk(&b, "IEND", "", 0);
    hm_fp_ctx_t *ctx = NULL;
    ck_assert_int_eq(hm_decode_init(), 0); /* libvips start-up is not the bomb's cost */
    ck_assert_int_eq(hm_fp_ctx_new(&ctx, NULL), 0);
    hm_fp_t *fp = malloc(sizeof *fp);
    long rss0 = s_maxrss_kib();
    struct timespec a, c;
    clock_gettime(CLOCK_MONOTONIC, &a);
    int rc = hm_fp_compute(ctx, b.p, b.n, fp);
    clock_gettime(CLOCK_MONOTONIC, &c);
    double ms = (c.tv_sec - a.tv_sec) * 1e3 + (c.tv_nsec - a.tv_nsec) / 1e6;
    long grew = s_maxrss_kib() - rss0;
    fprintf(stderr, "bomb: png-ztxt-256MiB bytes=%zu rc=%s ms=%.2f peak_rss_growth_kib=%ld\n",
            b.n, hm_err_name(rc), ms, grew);
    ck_assert_msg(grew < 64 * 1024, "zTXt bomb: peak RSS grew by %ld KiB", grew);
    ck_assert_msg(ms < 2000, "zTXt bomb took %.1f ms", ms);
    free(fp);
    hm_fp_ctx_free(&ctx);
    free(b.p);
}
END_TEST

START_TEST(jpeg_bomb)
{
    /* A genuine 64x64 JPEG whose SOF says 65000 x 65000. */
    buf_t b = s_small(".jpg");
    int patched = 0;
    for (size_t i = 2; i + 9 < b.n; i++)
        if (b.p[i] == 0xFF && (b.p[i + 1] == 0xC0 || b.p[i + 1] == 0xC2)) {
            b.p[i + 5] = 65000 >> 8; b.p[i + 6] = 65000 & 0xFF; /* height */
            b.p[i + 7] = 65000 >> 8; b.p[i + 8] = 65000 & 0xFF; /* width */
            patched = 1;
            break;
        }
    ck_assert(patched);
    s_expect_refused("jpeg-65000x65000", &b);
    free(b.p);
}
END_TEST

static void s_le24(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16);
}

static void s_le32(uint8_t *p, uint32_t v)
{
    s_le24(p, v);
    p[3] = (uint8_t)(v >> 24);
}

START_TEST(webp_bomb)
{
    /* An extended WebP: a VP8X canvas of 16384 x 16384 around a 64x64 frame. */
    buf_t small = s_small(".webp");
    ck_assert(small.n > 20 && memcmp(small.p + 8, "WEBP", 4) == 0);
    buf_t b = { 0 };
    uint8_t hdr[12] = { 'R', 'I', 'F', 'F', 0, 0, 0, 0, 'W', 'E', 'B', 'P' };
    s_put(&b, hdr, 12);
    uint8_t x[18] = { 'V', 'P', '8', 'X', 10, 0, 0, 0, 0, 0, 0, 0 };
    s_le24(x + 12, 16384 - 1);
    s_le24(x + 15, 16384 - 1);
    s_put(&b, x, 18);
    s_put(&b, small.p + 12, small.n - 12);
    s_le32(b.p + 4, (uint32_t)(b.n - 8));
    free(small.p);
    s_expect_refused("webp-canvas-16384x16384", &b);
    free(b.p);
}
END_TEST

START_TEST(gif_bombs)
{
    /* GIF89a: logical screen w x h, one frame of fw x fh with a few bytes of
     * LZW data (a clear code and the end code) and many more frames. */
    for (int k = 0; k < 2; k++) {
        uint16_t w = k ? 100 : 65535, h = k ? 100 : 65535, fw = 65535, fh = 65535;
        buf_t b = { 0 };
        s_put(&b, "GIF89a", 6);
        uint8_t lsd[7] = { (uint8_t)w, (uint8_t)(w >> 8), (uint8_t)h, (uint8_t)(h >> 8),
                           0x80, 0, 0 }; /* global colour table of 2 entries */
        s_put(&b, lsd, 7);
        s_put(&b, "\0\0\0\xff\xff\xff", 6);
        for (int f = 0; f < 1000; f++) {
            uint8_t gce[8] = { 0x21, 0xF9, 4, 0, 1, 0, 0, 0 };
            s_put(&b, gce, 8);
            uint8_t id[10] = { 0x2C, 0, 0, 0, 0, (uint8_t)fw, (uint8_t)(fw >> 8), (uint8_t)fh,
                               (uint8_t)(fh >> 8), 0 };
            s_put(&b, id, 10);
            s_put(&b, "\x02\x02\x4c\x01\x00", 5); /* min code size 2; clear, end */
        }
        s_put(&b, "\x3b", 1);
        s_expect_refused(k ? "gif-100x100-screen-1000-frames-65535x65535"
                           : "gif-65535x65535-screen-1000-frames", &b);
        free(b.p);
    }
}
END_TEST

Suite *hm_suite_bombs(void)
{
    Suite *s = suite_create("bombs");
    TCase *tc = tcase_create("bombs");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, png_bombs);
    tcase_add_test(tc, jpeg_bomb);
    tcase_add_test(tc, webp_bomb);
    tcase_add_test(tc, gif_bombs);
    suite_add_tcase(s, tc);
    return s;
}
