/* hm_hex.c - hex forms of hashes, as Meta's reference tools print them. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "hm_error.h"
#include "hm_fp.h"

/* PDQ's reference prints sixteen 16-bit words, word 15 (bits 240..255) first. */
void hm_pdq_to_hex(const hm_pdq_t *h, char hex[65])
{
    static const char digits[] = "0123456789abcdef";
    for (int word = 15, o = 0; word >= 0; word--) {
        unsigned v = (unsigned)(h->w[word / 4] >> (16 * (word % 4))) & 0xffffu;
        for (int s = 12; s >= 0; s -= 4)
            hex[o++] = digits[(v >> s) & 0xf];
    }
    hex[64] = '\0';
}

static int s_nibble(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

int hm_pdq_from_hex(const char *s, hm_pdq_t *h)
{
    if (!s || !h || strlen(s) != 64)
        return hm__seterr(HM_E_INVAL, "a PDQ hash is 64 hex digits");
    memset(h, 0, sizeof *h);
    for (int word = 15, o = 0; word >= 0; word--) {
        unsigned v = 0;
        for (int n = 0; n < 4; n++) {
            int x = s_nibble((unsigned char)s[o++]);
            if (x < 0)
                return hm__seterr(HM_E_INVAL, "not a hex digit in PDQ hash");
            v = (v << 4) | (unsigned)x;
        }
        h->w[word / 4] |= (uint64_t)v << (16 * (word % 4));
    }
    return 0;
}

void hm_u64_to_hex(uint64_t v, char hex[17])
{
    snprintf(hex, 17, "%016llx", (unsigned long long)v);
}

int hm_u64_from_hex(const char *s, uint64_t *v)
{
    if (!s || !v || strlen(s) != 16)
        return hm__seterr(HM_E_INVAL, "a 64-bit hash is 16 hex digits");
    uint64_t x = 0;
    for (int i = 0; i < 16; i++) {
        int n = s_nibble((unsigned char)s[i]);
        if (n < 0)
            return hm__seterr(HM_E_INVAL, "not a hex digit in 64-bit hash");
        x = (x << 4) | (uint64_t)n;
    }
    *v = x;
    return 0;
}
