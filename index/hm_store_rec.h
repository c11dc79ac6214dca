/*
 * hm_store_rec.h - the on-disk record formats of hm_store (internal to the
 * store, public for its tests and for tools that read a snapshot).
 *
 * Every record starts with a version byte and is little-endian, whatever the
 * host.  Strings are written as u16 length, the bytes, then a NUL byte: the
 * NUL lets a decoded view point straight into the record (the database map)
 * without copying.  Decoders check every length against the bytes present,
 * that strings end with their NUL and contain none inside, that enums hold
 * known values and that the record is consumed exactly; anything else is
 * HM_E_CORRUPT.  They never read outside [buf, buf + len).
 *
 * A record version the decoder does not know is HM_E_CORRUPT, not
 * HM_E_VERSION: the schema check at open guarantees that this code knows every
 * record version of the database (see MIGRATION in hm_store.h).
 *
 * Reference record, version 1:
 *   u8 version, u8 bank, u16 reserved (0), u32 flags, u64 id, i64 added,
 *   u8[32] sha256, str ext_id, str brand, str rights_holder, str source,
 *   u32 fp_len, u8[fp_len] fp
 * Change record, version 1 (the sequence is the key):
 *   u8 version, u8 op, u8 bank, u8 reserved (0), i64 time, u64 id,
 *   u8[32] sha256, str a, str b, str c
 * Allow record, version 1 (the sha256 is the key):
 *   u8 version, u8 has_pdq, u16 reserved (0), i64 time, u64[4] pdq, str note
 *
 * Thread safety: pure functions.
 */
#ifndef HM_STORE_REC_H
#define HM_STORE_REC_H

#include <stddef.h>
#include <stdint.h>

#include "hm_store.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HM_STORE_REC_VERSION 1

/* The encoded size of ref, or 0 when a field is out of its limits (see
 * hm_store.h) or ext_id is missing or the bank is unknown. */
size_t hm_store_rec_ref_size(const hm_ref_t *ref);
/* Encode ref into buf (at least hm_store_rec_ref_size(ref) bytes); returns the
 * bytes written, 0 when ref is invalid. */
size_t hm_store_rec_ref_encode(const hm_ref_t *ref, uint8_t *buf, size_t cap);
/*
 * hm_store_rec_ref_decode - a view of a reference record.
 * @param[out] ref  its pointers point into buf (valid as long as buf);
 *                  ref->mem_ is NULL.
 * @return 0, HM_E_CORRUPT (message in hm_last_error()).
 */
int hm_store_rec_ref_decode(const uint8_t *buf, size_t len, hm_ref_t *ref);

size_t hm_store_rec_change_size(const hm_store_change_t *ch);
size_t hm_store_rec_change_encode(const hm_store_change_t *ch, uint8_t *buf, size_t cap);
/* ch->seq is left 0 (the key holds it).  @return 0, HM_E_CORRUPT. */
int hm_store_rec_change_decode(const uint8_t *buf, size_t len, hm_store_change_t *ch);

size_t hm_store_rec_allow_size(const hm_allow_t *a);
size_t hm_store_rec_allow_encode(const hm_allow_t *a, uint8_t *buf, size_t cap);
/* a->sha256 is left zero (the key holds it).  @return 0, HM_E_CORRUPT. */
int hm_store_rec_allow_decode(const uint8_t *buf, size_t len, hm_allow_t *a);

/* Little-endian helpers shared with the store. */
void hm__put_u64(uint8_t *p, uint64_t v);
uint64_t hm__get_u64(const uint8_t *p);

#ifdef __cplusplus
}
#endif
#endif
