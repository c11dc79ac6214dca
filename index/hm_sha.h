/*
 * hm_sha.h - SHA-256 of image bytes, through libsodium.
 *
 * The store identifies an image file by the SHA-256 of its exact bytes, so an
 * identical file is never stored twice.  libsodium is initialised once, on the
 * first call (sodium_init() under pthread_once), so callers need no set-up.
 *
 * Thread safety: every function may be called from any thread.
 */
#ifndef HM_SHA_H
#define HM_SHA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HM_SHA256_BYTES 32

/*
 * hm_sha256 - the SHA-256 digest of data[0..len).
 * @param[in]  data  the bytes (may be NULL when len is 0); borrowed.
 * @param[in]  len   their length.
 * @param[out] out   the 32-byte digest.
 * @return 0, HM_E_INVAL (data NULL with len > 0, or out NULL),
 *         HM_E_INTERNAL (libsodium failed to initialise).
 */
int hm_sha256(const void *data, size_t len, uint8_t out[HM_SHA256_BYTES]);

/* 1 when all 32 bytes are zero (the "no image" digest of hash-only imports). */
int hm_sha256_is_zero(const uint8_t sha[HM_SHA256_BYTES]);

/* Lower-case hex form; hex must hold 65 bytes. */
void hm_sha256_to_hex(const uint8_t sha[HM_SHA256_BYTES], char hex[65]);

#ifdef __cplusplus
}
#endif
#endif
