/* test_util.c - helpers shared by the Check suites. */
#include "test_util.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vips/vips.h>

#include "hm_decode.h"

static int s_is_dir(const char *p)
{
    struct stat st;
    return p && stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

const char *tu_shared_dir(void)
{
    static char buf[4096];
    const char *env = getenv("HM_SHARED");
    if (env && s_is_dir(env))
        return env;
    if (s_is_dir("../shared")) {
        if (realpath("../shared", buf))
            return buf;
    }
    const char *ci = getenv("CI");
    if (ci && strcmp(ci, "true") == 0)
        ck_abort_msg("../shared is missing (HM_SHARED=%s) and CI=true: this test needs it",
                     env ? env : "(unset)");
    fprintf(stderr, "NOT RUN: ../shared is missing; set HM_SHARED to run this test\n");
    return NULL;
}

const char *tu_shared_path(const char *rel)
{
    static _Thread_local char buf[4096];
    const char *d = tu_shared_dir();
    if (!d)
        return NULL;
    snprintf(buf, sizeof buf, "%s/%s", d, rel);
    return buf;
}

int tu_try_read_file(const char *path, uint8_t **data, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -errno;
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return -EIO;
    }
    long n = ftell(f);
    rewind(f);
    uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
    if (!buf) {
        fclose(f);
        return -ENOMEM;
    }
    size_t got = fread(buf, 1, (size_t)n, f);
    fclose(f);
    if (got != (size_t)n) {
        free(buf);
        return -EIO;
    }
    *data = buf;
    *len = (size_t)n;
    return 0;
}

void tu_read_file(const char *path, uint8_t **data, size_t *len)
{
    int rc = tu_try_read_file(path, data, len);
    ck_assert_msg(rc == 0, "cannot read %s: %s", path, strerror(-rc));
}

uint64_t tu_rand(uint64_t *s)
{
    return hm_rng_next(s);
}

char *tu_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/hm-test-XXXXXX", base && *base ? base : "/tmp");
    char *d = mkdtemp(tmpl);
    ck_assert_msg(d != NULL, "mkdtemp: %s", strerror(errno));
    return strdup(d);
}

static int s_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st; (void)flag; (void)ftw;
    return remove(path);
}

void tu_rmtree(const char *dir)
{
    if (dir)
        nftw(dir, s_rm, 16, FTW_DEPTH | FTW_PHYS);
}

int tu_encode(const uint8_t *rgb, int w, int h, const char *suffix, void **out, size_t *len)
{
    hm_decode_init();
    VipsImage *im = vips_image_new_from_memory_copy(rgb, (size_t)w * h * 3, w, h, 3,
                                                    VIPS_FORMAT_UCHAR);
    if (!im)
        return -1;
    im->Type = VIPS_INTERPRETATION_sRGB;
    int rc = vips_image_write_to_buffer(im, suffix, out, len, NULL);
    g_object_unref(im);
    return rc;
}
