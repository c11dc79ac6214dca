/* hm_sha.c - SHA-256 through libsodium (see hm_sha.h). */
#include "hm_sha.h"

#include <pthread.h>
#include <sodium.h>

#include "hm_error.h"

static pthread_once_t s_once = PTHREAD_ONCE_INIT;
static int s_init_rc;

static void s_init(void)
{
    /* sodium_init() returns 1 when already initialised by someone else. */
    s_init_rc = sodium_init() < 0 ? HM_E_INTERNAL : 0;
}

int hm_sha256(const void *data, size_t len, uint8_t out[HM_SHA256_BYTES])
{
    if (!out || (!data && len > 0))
        return hm__seterr(HM_E_INVAL, "hm_sha256: NULL argument");
    pthread_once(&s_once, s_init);
    if (s_init_rc)
        return hm__seterr(s_init_rc, "hm_sha256: sodium_init failed");
    static const unsigned char empty[1] = { 0 };
    crypto_hash_sha256(out, data ? data : empty, (unsigned long long)len);
    return 0;
}

int hm_sha256_is_zero(const uint8_t sha[HM_SHA256_BYTES])
{
    uint8_t acc = 0;
    for (int i = 0; i < HM_SHA256_BYTES; i++)
        acc |= sha[i];
    return acc == 0;
}

void hm_sha256_to_hex(const uint8_t sha[HM_SHA256_BYTES], char hex[65])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < HM_SHA256_BYTES; i++) {
        hex[2 * i] = digits[sha[i] >> 4];
        hex[2 * i + 1] = digits[sha[i] & 15];
    }
    hex[64] = '\0';
}
