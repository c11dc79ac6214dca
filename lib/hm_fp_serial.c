/*
 * hm_fp_serial.c - the stable, versioned byte form of a fingerprint.
 *
 * Layout of version 1 (all integers little-endian, floats as IEEE-754 bits):
 *   "HMFP" u16 version u16 flags(bit 0: has_trim) u32 width u32 height
 *   hashset full: 8 x 32-byte PDQ (words w[0..3]), i32 quality, u64 phash, u64 dhash
 *   i32 trim x, y, w, h
 *   hashset trim (zeros when no trim)
 *   HM_DESC_DIM x f32 descriptor
 * A new field means a new version; readers keep accepting every old version.
 */
#include <string.h>

#include "hm_error.h"
#include "hm_fp.h"
#include "hm_util.h"

/* Cursor forms of hm_util.h's codecs: n is 2, 4 or 8 bytes. */
static uint8_t *s_put(uint8_t *p, uint64_t v, int n)
{
    if (n == 2)
        hm_put_le16(p, (uint16_t)v);
    else if (n == 4)
        hm_put_le32(p, (uint32_t)v);
    else
        hm_put_le64(p, v);
    return p + n;
}

static uint64_t s_get(const uint8_t **pp, int n)
{
    const uint8_t *p = *pp;
    *pp += n;
    return n == 2 ? hm_get_le16(p) : n == 4 ? hm_get_le32(p) : hm_get_le64(p);
}

static uint8_t *s_put_hs(uint8_t *p, const hm_hashset_t *hs)
{
    for (int d = 0; d < HM_DIH_COUNT; d++)
        for (int w = 0; w < HM_PDQ_WORDS; w++)
            p = s_put(p, hs->pdq[d].w[w], 8);
    p = s_put(p, (uint32_t)hs->quality, 4);
    p = s_put(p, hs->phash, 8);
    return s_put(p, hs->dhash, 8);
}

static void s_get_hs(const uint8_t **p, hm_hashset_t *hs)
{
    for (int d = 0; d < HM_DIH_COUNT; d++)
        for (int w = 0; w < HM_PDQ_WORDS; w++)
            hs->pdq[d].w[w] = s_get(p, 8);
    hs->quality = (int)(int32_t)s_get(p, 4);
    hs->phash = s_get(p, 8);
    hs->dhash = s_get(p, 8);
}

int hm_fp_serialize(const hm_fp_t *fp, uint8_t *buf, size_t cap)
{
    if (!fp || !buf || cap < HM_FP_SERIAL_BYTES)
        return hm__seterr(HM_E_INVAL, "serialise: need %d bytes", HM_FP_SERIAL_BYTES);
    uint8_t *p = buf;
    memcpy(p, "HMFP", 4);
    p += 4;
    p = s_put(p, HM_FP_SERIAL_VERSION, 2);
    p = s_put(p, fp->has_trim ? 1 : 0, 2);
    p = s_put(p, fp->width, 4);
    p = s_put(p, fp->height, 4);
    p = s_put_hs(p, &fp->full);
    p = s_put(p, (uint32_t)fp->trim_box.x, 4);
    p = s_put(p, (uint32_t)fp->trim_box.y, 4);
    p = s_put(p, (uint32_t)fp->trim_box.w, 4);
    p = s_put(p, (uint32_t)fp->trim_box.h, 4);
    p = s_put_hs(p, &fp->trim);
    for (int i = 0; i < HM_DESC_DIM; i++) {
        uint32_t bits;
        memcpy(&bits, &fp->desc[i], 4);
        p = s_put(p, bits, 4);
    }
    return (int)(p - buf);
}

int hm_fp_deserialize_prefix(const uint8_t *buf, size_t len, hm_fp_t *fp, size_t *used)
{
    if (len > HM_FP_SERIAL_BYTES && buf && memcmp(buf, "HMFP", 4) == 0 && buf[4] == HM_FP_SERIAL_VERSION &&
        buf[5] == 0)
        len = HM_FP_SERIAL_BYTES;
    int rc = hm_fp_deserialize(buf, len, fp);
    if (!rc && used)
        *used = HM_FP_SERIAL_BYTES;
    return rc;
}

int hm_fp_deserialize(const uint8_t *buf, size_t len, hm_fp_t *fp)
{
    if (!buf || !fp || len < 8 || memcmp(buf, "HMFP", 4) != 0)
        return hm__seterr(HM_E_CORRUPT, "not a serialised fingerprint");
    const uint8_t *p = buf + 4;
    unsigned version = (unsigned)s_get(&p, 2);
    if (version != HM_FP_SERIAL_VERSION)
        return hm__seterr(HM_E_VERSION, "fingerprint version %u, this build reads %d",
                          version, HM_FP_SERIAL_VERSION);
    if (len != HM_FP_SERIAL_BYTES)
        return hm__seterr(HM_E_CORRUPT, "fingerprint is %zu bytes, version 1 has %d", len,
                          HM_FP_SERIAL_BYTES);
    memset(fp, 0, sizeof *fp);
    unsigned flags = (unsigned)s_get(&p, 2);
    fp->has_trim = flags & 1;
    fp->width = (uint32_t)s_get(&p, 4);
    fp->height = (uint32_t)s_get(&p, 4);
    s_get_hs(&p, &fp->full);
    fp->trim_box.x = (int)(int32_t)s_get(&p, 4);
    fp->trim_box.y = (int)(int32_t)s_get(&p, 4);
    fp->trim_box.w = (int)(int32_t)s_get(&p, 4);
    fp->trim_box.h = (int)(int32_t)s_get(&p, 4);
    s_get_hs(&p, &fp->trim);
    for (int i = 0; i < HM_DESC_DIM; i++) {
        uint32_t bits = (uint32_t)s_get(&p, 4);
        memcpy(&fp->desc[i], &bits, 4);
    }
    return 0;
}
