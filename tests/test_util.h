/*
 * test_util.h - helpers shared by the Check suites.
 */
#ifndef HM_TEST_UTIL_H
#define HM_TEST_UTIL_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>

#include "hm_util.h" /* clocks, codecs, hm_rng_next() */

/*
 * The folder ../shared (conformance images, datasets), from $HM_SHARED or
 * ../shared relative to the working directory.  When it is missing: under
 * CI=true the calling test fails loudly; otherwise NULL is returned and the
 * test reports itself as not run (a visible message, never a silent pass).
 */
const char *tu_shared_dir(void);
/* tu_shared_dir() + "/" + rel into a static buffer, or NULL as above. */
const char *tu_shared_path(const char *rel);

/* Read a whole file; the caller frees *data.  Fails the test on error. */
void tu_read_file(const char *path, uint8_t **data, size_t *len);
/* Read a whole file; returns 0 or -errno, does not fail the test. */
int tu_try_read_file(const char *path, uint8_t **data, size_t *len);

/* hm_rng_next() (xorshift64*), kept under the name the suites use. */
uint64_t tu_rand(uint64_t *state);

/* A temporary directory (mkdtemp under $TMPDIR); removed by tu_rmtree(). */
char *tu_tmpdir(void);
void tu_rmtree(const char *dir);

/* Encode w x h RGB pixels as PNG or JPEG through libvips (for generated
 * cases); the caller g_free()s *out. */
int tu_encode(const uint8_t *rgb, int w, int h, const char *suffix, void **out, size_t *len);

#endif
