/* test_store.h - helpers shared by the store suite's files. */
#ifndef HM_TEST_STORE_H
#define HM_TEST_STORE_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>

#include "hm_store.h"

/* Storage behind one generated reference. */
typedef struct {
    char ext[64], brand[32], holder[32], source[32];
    uint8_t fp[4096];
} ts_buf_t;

/* Fill ref with the deterministic reference number n (fp_len <= 4096 bytes of
 * pseudo-random blob; sha256 of the blob, or zero when n % 5 == 0, which is
 * then flagged HM_REF_PDQ_ONLY).  ref points into b. */
void ts_make_ref(uint64_t n, size_t fp_len, ts_buf_t *b, hm_ref_t *ref);
/* 1 when ref holds exactly what ts_make_ref(n, fp_len) made (id not checked). */
int ts_ref_matches(const hm_ref_t *ref, uint64_t n, size_t fp_len);
/* Options for tests: no fsync (tmp dirs), the given initial map. */
hm_store_opts_t ts_opts(size_t map_size);

TCase *hm__store_tcase_conc(void);

#endif
