/*
 * check.c - `make install-check`: a program built only from the installed
 * headers and hallmark.pc, the way a user of libhallmark builds one.  It
 * fingerprints an image, adds it to a new bank in a temporary folder, scores
 * the same fingerprint and expects it to match itself.
 *
 *   check IMAGE      exit 0 when every step worked, 1 with a message otherwise
 */
#define _DEFAULT_SOURCE /* mkdtemp */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hallmark.h"

static unsigned char *s_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    long n;

    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (buf = malloc((size_t)n)) && fread(buf, 1, (size_t)n, f) == (size_t)n)
        *len = (size_t)n;
    else {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

int main(int argc, char **argv)
{
    char dir[] = "/tmp/hm-install-check.XXXXXX";
    hm_fp_ctx_t *ctx = NULL;
    hm_engine_t *e = NULL;
    hm_fp_t fp;
    hm_verdict_t v;
    size_t len = 0;
    unsigned char *img;
    int rc = 1;

    if (argc != 2 || !(img = s_slurp(argv[1], &len))) {
        fprintf(stderr, "usage: check IMAGE (a readable image file)\n");
        return 1;
    }
    if (!mkdtemp(dir) || hm_fp_ctx_new(&ctx, NULL) != 0 || hm_fp_compute(ctx, img, len, &fp) != 0 ||
        hm_engine_open(&e, dir, NULL) != 0) {
        fprintf(stderr, "install-check: %s\n", hm_last_error());
        goto leave;
    }
    hm_ref_meta_t meta = {.ext_id = "install-check-1", .bank = HM_BANK_GENUINE, .brand = "Check"};
    hm_query_t q = {.seller = "s-1", .listing_id = "l-1"};
    uint8_t sha[32] = {1};
    uint64_t id = 0;
    if (hm_engine_add_fp(e, &meta, &fp, sha, 0, &id) != 0 || hm_engine_score_fp(e, &fp, &q, &v) != 0) {
        fprintf(stderr, "install-check: %s\n", hm_last_error());
        goto leave;
    }
    if (v.decision != HM_DEC_SUSPECT) {
        fprintf(stderr, "install-check: the image did not match itself (%s)\n",
                hm_decision_name(v.decision));
        goto leave;
    }
    printf("install-check: ok (%s, %s)\n", hm_decision_name(v.decision), hm_strerror(HM_E_INVAL));
    rc = 0;
leave:
    hm_engine_close(&e);
    hm_fp_ctx_free(&ctx);
    free(img);
    if (dir[sizeof dir - 7] != 'X') {
        char cmd[sizeof dir + 16];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        if (system(cmd) != 0)
            rc = 1;
    }
    return rc;
}
