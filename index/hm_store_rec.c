/* hm_store_rec.c - explicit little-endian record formats (see hm_store_rec.h). */
#include "hm_store_rec.h"

#include <string.h>

#include "hm_error.h"

/* ---- writing: a cursor that never passes cap ---- */

typedef struct {
    uint8_t *p, *end;
    int over; /* set when a write would pass end; the caller returns 0 */
} s_wr_t;

static void s_bytes(s_wr_t *w, const void *src, size_t n)
{
    if (w->over || (size_t)(w->end - w->p) < n) {
        w->over = 1;
        return;
    }
    if (n)
        memcpy(w->p, src, n);
    w->p += n;
}

static void s_u8(s_wr_t *w, unsigned v)
{
    uint8_t b = (uint8_t)v;
    s_bytes(w, &b, 1);
}

static void s_u16(s_wr_t *w, unsigned v)
{
    uint8_t b[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
    s_bytes(w, b, 2);
}

static void s_u32(s_wr_t *w, uint32_t v)
{
    uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
    s_bytes(w, b, 4);
}

void hm__put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

uint64_t hm__get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static void s_u64(s_wr_t *w, uint64_t v)
{
    uint8_t b[8];
    hm__put_u64(b, v);
    s_bytes(w, b, 8);
}

static void s_str(s_wr_t *w, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    s_u16(w, (unsigned)n);
    s_bytes(w, s ? s : "", n);
    s_u8(w, 0);
}

/* strlen bounded by max; returns max + 1 when longer (so callers reject it). */
static size_t s_len(const char *s, size_t max)
{
    return s ? strnlen(s, max + 1) : 0;
}

/* ---- reading: every access checked against the end ---- */

typedef struct {
    const uint8_t *p, *end;
    int bad;
} s_rd_t;

static const uint8_t *s_take(s_rd_t *r, size_t n)
{
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = 1;
        return NULL;
    }
    const uint8_t *q = r->p;
    r->p += n;
    return q;
}

static unsigned s_r8(s_rd_t *r)
{
    const uint8_t *q = s_take(r, 1);
    return q ? q[0] : 0;
}

static unsigned s_r16(s_rd_t *r)
{
    const uint8_t *q = s_take(r, 2);
    return q ? (unsigned)q[0] | (unsigned)q[1] << 8 : 0;
}

static uint32_t s_r32(s_rd_t *r)
{
    const uint8_t *q = s_take(r, 4);
    return q ? (uint32_t)q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16 |
                   (uint32_t)q[3] << 24
             : 0;
}

static uint64_t s_r64(s_rd_t *r)
{
    const uint8_t *q = s_take(r, 8);
    return q ? hm__get_u64(q) : 0;
}

/* A string must hold no NUL inside and end with one, so the view can be used
 * as a C string in place. */
static const char *s_rstr(s_rd_t *r, size_t max)
{
    size_t n = s_r16(r);
    const uint8_t *q = s_take(r, n + 1);
    if (!q || n > max || q[n] != 0 || memchr(q, 0, n) != NULL) {
        r->bad = 1;
        return "";
    }
    return (const char *)q;
}

static int s_corrupt(const char *what)
{
    return hm__seterr(HM_E_CORRUPT, "store: corrupt %s record", what);
}

/* ---- reference ---- */

size_t hm_store_rec_ref_size(const hm_ref_t *ref)
{
    if (!ref || (ref->bank != HM_BANK_COUNTERFEIT && ref->bank != HM_BANK_GENUINE))
        return 0;
    size_t ext = s_len(ref->ext_id, HM_STORE_MAX_ID);
    size_t brand = s_len(ref->brand, HM_STORE_MAX_ID);
    size_t rh = s_len(ref->rights_holder, HM_STORE_MAX_TEXT);
    size_t src = s_len(ref->source, HM_STORE_MAX_TEXT);
    if (ext == 0 || ext > HM_STORE_MAX_ID || brand > HM_STORE_MAX_ID ||
        rh > HM_STORE_MAX_TEXT || src > HM_STORE_MAX_TEXT ||
        ref->fp_len > HM_STORE_MAX_BLOB || (ref->fp_len && !ref->fp))
        return 0;
    return 1 + 1 + 2 + 4 + 8 + 8 + 32 + (3 + ext) + (3 + brand) + (3 + rh) + (3 + src) +
           4 + ref->fp_len;
}

size_t hm_store_rec_ref_encode(const hm_ref_t *ref, uint8_t *buf, size_t cap)
{
    size_t n = hm_store_rec_ref_size(ref);
    if (n == 0 || n > cap)
        return 0;
    s_wr_t w = { buf, buf + cap, 0 };
    s_u8(&w, HM_STORE_REC_VERSION);
    s_u8(&w, (unsigned)ref->bank);
    s_u16(&w, 0);
    s_u32(&w, ref->flags);
    s_u64(&w, ref->id);
    s_u64(&w, (uint64_t)ref->added);
    s_bytes(&w, ref->sha256, 32);
    s_str(&w, ref->ext_id);
    s_str(&w, ref->brand);
    s_str(&w, ref->rights_holder);
    s_str(&w, ref->source);
    s_u32(&w, (uint32_t)ref->fp_len);
    s_bytes(&w, ref->fp, ref->fp_len);
    return w.over ? 0 : (size_t)(w.p - buf);
}

int hm_store_rec_ref_decode(const uint8_t *buf, size_t len, hm_ref_t *ref)
{
    memset(ref, 0, sizeof *ref);
    if (!buf)
        return s_corrupt("reference");
    s_rd_t r = { buf, buf + len, 0 };
    unsigned ver = s_r8(&r);
    ref->bank = (int)s_r8(&r);
    unsigned reserved = s_r16(&r);
    ref->flags = s_r32(&r);
    ref->id = s_r64(&r);
    ref->added = (int64_t)s_r64(&r);
    const uint8_t *sha = s_take(&r, 32);
    if (sha)
        memcpy(ref->sha256, sha, 32);
    ref->ext_id = s_rstr(&r, HM_STORE_MAX_ID);
    ref->brand = s_rstr(&r, HM_STORE_MAX_ID);
    ref->rights_holder = s_rstr(&r, HM_STORE_MAX_TEXT);
    ref->source = s_rstr(&r, HM_STORE_MAX_TEXT);
    ref->fp_len = s_r32(&r);
    ref->fp = s_take(&r, ref->fp_len);
    if (r.bad || r.p != r.end || ver != HM_STORE_REC_VERSION || reserved != 0 ||
        (ref->bank != HM_BANK_COUNTERFEIT && ref->bank != HM_BANK_GENUINE) ||
        ref->ext_id[0] == '\0' || ref->fp_len > HM_STORE_MAX_BLOB || ref->id == 0) {
        memset(ref, 0, sizeof *ref);
        return s_corrupt("reference");
    }
    return 0;
}

/* ---- change ---- */

size_t hm_store_rec_change_size(const hm_store_change_t *ch)
{
    size_t a = s_len(ch->a, HM_STORE_MAX_ID), b = s_len(ch->b, HM_STORE_MAX_ID);
    size_t c = s_len(ch->c, HM_STORE_MAX_ID);
    if (a > HM_STORE_MAX_ID || b > HM_STORE_MAX_ID || c > HM_STORE_MAX_ID ||
        ch->op < HM_OP_ADD || ch->op > HM_OP_STRIKE)
        return 0;
    return 4 + 8 + 8 + 32 + (3 + a) + (3 + b) + (3 + c);
}

size_t hm_store_rec_change_encode(const hm_store_change_t *ch, uint8_t *buf, size_t cap)
{
    size_t n = hm_store_rec_change_size(ch);
    if (n == 0 || n > cap)
        return 0;
    s_wr_t w = { buf, buf + cap, 0 };
    s_u8(&w, HM_STORE_REC_VERSION);
    s_u8(&w, (unsigned)ch->op);
    s_u8(&w, (unsigned)ch->bank);
    s_u8(&w, 0);
    s_u64(&w, (uint64_t)ch->time);
    s_u64(&w, ch->id);
    s_bytes(&w, ch->sha256, 32);
    s_str(&w, ch->a);
    s_str(&w, ch->b);
    s_str(&w, ch->c);
    return w.over ? 0 : (size_t)(w.p - buf);
}

int hm_store_rec_change_decode(const uint8_t *buf, size_t len, hm_store_change_t *ch)
{
    memset(ch, 0, sizeof *ch);
    if (!buf)
        return s_corrupt("change");
    s_rd_t r = { buf, buf + len, 0 };
    unsigned ver = s_r8(&r);
    ch->op = (int)s_r8(&r);
    ch->bank = (int)s_r8(&r);
    unsigned reserved = s_r8(&r);
    ch->time = (int64_t)s_r64(&r);
    ch->id = s_r64(&r);
    const uint8_t *sha = s_take(&r, 32);
    if (sha)
        memcpy(ch->sha256, sha, 32);
    ch->a = s_rstr(&r, HM_STORE_MAX_ID);
    ch->b = s_rstr(&r, HM_STORE_MAX_ID);
    ch->c = s_rstr(&r, HM_STORE_MAX_ID);
    if (r.bad || r.p != r.end || ver != HM_STORE_REC_VERSION || reserved != 0 ||
        ch->op < HM_OP_ADD || ch->op > HM_OP_STRIKE || ch->bank > HM_BANK_GENUINE) {
        memset(ch, 0, sizeof *ch);
        return s_corrupt("change");
    }
    return 0;
}

/* ---- allow ---- */

size_t hm_store_rec_allow_size(const hm_allow_t *a)
{
    size_t note = s_len(a->note, HM_STORE_MAX_TEXT);
    if (note > HM_STORE_MAX_TEXT)
        return 0;
    return 4 + 8 + 32 + 3 + note;
}

size_t hm_store_rec_allow_encode(const hm_allow_t *a, uint8_t *buf, size_t cap)
{
    size_t n = hm_store_rec_allow_size(a);
    if (n == 0 || n > cap)
        return 0;
    s_wr_t w = { buf, buf + cap, 0 };
    s_u8(&w, HM_STORE_REC_VERSION);
    s_u8(&w, a->has_pdq ? 1 : 0);
    s_u16(&w, 0);
    s_u64(&w, (uint64_t)a->time);
    for (int i = 0; i < HM_PDQ_WORDS; i++)
        s_u64(&w, a->has_pdq ? a->pdq.w[i] : 0);
    s_str(&w, a->note);
    return w.over ? 0 : (size_t)(w.p - buf);
}

int hm_store_rec_allow_decode(const uint8_t *buf, size_t len, hm_allow_t *a)
{
    memset(a, 0, sizeof *a);
    if (!buf)
        return s_corrupt("allow");
    s_rd_t r = { buf, buf + len, 0 };
    unsigned ver = s_r8(&r);
    unsigned has = s_r8(&r);
    unsigned reserved = s_r16(&r);
    a->has_pdq = has == 1;
    a->time = (int64_t)s_r64(&r);
    for (int i = 0; i < HM_PDQ_WORDS; i++)
        a->pdq.w[i] = s_r64(&r);
    a->note = s_rstr(&r, HM_STORE_MAX_TEXT);
    if (r.bad || r.p != r.end || ver != HM_STORE_REC_VERSION || reserved != 0 || has > 1) {
        memset(a, 0, sizeof *a);
        return s_corrupt("allow");
    }
    return 0;
}
