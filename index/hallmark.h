/*
 * hallmark.h - the public API of libhallmark, in one include.
 *
 * hallmark turns the bytes of a product image into a fingerprint (PDQ with
 * its 8 dihedral variants, pHash, dHash, the same for the trimmed content box,
 * a 304-float global descriptor), keeps banks of counterfeit and genuine
 * reference images in LMDB, searches them (multi-index hashing for binary
 * hashes, FAISS for descriptors) and turns candidates into a verdict:
 * counterfeit, suspect, genuine, unknown or error.
 *
 * The manual is in the headers this one includes, one module each:
 *   hm_error.h    every error code, hm_strerror(), hm_err_name(), hm_last_error()
 *   hm_decode.h   image bytes to sRGB pixels (libvips / libjpeg-turbo), limits
 *   hm_fp.h       the fingerprint, its computation and its serialised form
 *   hm_engine.h   the engine: open a database, score, add/remove/relabel,
 *                 authorise sellers, reviewer feedback, snapshots
 *   hm_verdict.h  the verdict's JSON form (the daemon and the CLI share it)
 * Lower-level modules (hm_store.h, hm_hindex.h, hm_vindex.h, hm_matcher.h,
 * hm_simd.h) are installed too, for tools that need them.
 *
 * Conventions: 0 is success, failures are negative HM_E_* codes (or negative
 * errno values); constructors take a T ** and return a code; destructors take
 * a T ** and set it to NULL; a returned `char *` is the caller's to free, a
 * `const char *` is borrowed (each header says for how long).  Thread safety
 * is stated per function.
 *
 * Link with `pkg-config --cflags --libs hallmark`.
 */
#ifndef HALLMARK_H
#define HALLMARK_H

#include "hm_decode.h"
#include "hm_engine.h"
#include "hm_error.h"
#include "hm_fp.h"
#include "hm_verdict.h"

#endif
