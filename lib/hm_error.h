/*
 * hm_error.h - hallmark's one error table.
 *
 * Every hallmark function that can fail returns an int: 0 on success, a
 * negative HM_E_* code on failure.  Codes from the C library pass through as
 * negative errno values (-ENOMEM, -EIO, ...), so a caller can always print
 * hm_strerror(rc).
 *
 * "Say it once, where it happens": the function that detects a failure records
 * a message, paired with its code, in a thread-local buffer (hm_error_set());
 * callers only pass the code up and read it with hm_error_message(rc).  Failures of libvips, LMDB, FAISS and ZeroMQ are translated to
 * hallmark codes at the wrapper boundary, keeping the library's own text in
 * the message.
 *
 * Thread safety: all functions here are safe to call from any thread; the
 * last-error buffer is per thread.
 */
#ifndef HM_ERROR_H
#define HM_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

/* X(name, value, stable-lowercase-code, text) */
#define HM_ERROR_TABLE(X)                                                      \
    X(HM_E_INVAL,       -30501, "invalid_argument", "invalid argument")         \
    X(HM_E_NOMEM,       -30502, "out_of_memory",    "out of memory")            \
    X(HM_E_EMPTY,       -30503, "empty",            "empty input")              \
    X(HM_E_TOO_LARGE,   -30504, "too_large",        "input too large")          \
    X(HM_E_TOO_SMALL,   -30505, "too_small",        "image too small")          \
    X(HM_E_UNSUPPORTED, -30506, "unsupported",      "unsupported image format") \
    X(HM_E_CORRUPT,     -30507, "corrupt",          "corrupt or truncated data")\
    X(HM_E_DECODE,      -30508, "decode_failed",    "image decode failed")      \
    X(HM_E_VERSION,     -30509, "bad_version",      "unsupported version")      \
    X(HM_E_NOTFOUND,    -30510, "not_found",        "not found")                \
    X(HM_E_EXISTS,      -30511, "exists",           "already exists")           \
    X(HM_E_IO,          -30512, "io_error",         "input/output error")       \
    X(HM_E_STORE,       -30513, "store_error",      "database error")           \
    X(HM_E_LOCKED,      -30514, "locked",           "database locked by another process") \
    X(HM_E_INDEX,       -30515, "index_error",      "search index error")       \
    X(HM_E_PROTO,       -30516, "protocol_error",   "protocol error")           \
    X(HM_E_BUSY,        -30517, "busy",             "overloaded, try again")    \
    X(HM_E_CONFIG,      -30518, "config_error",     "configuration error")      \
    X(HM_E_INTERNAL,    -30519, "internal",         "internal error")           \
    X(HM_E_TIMEOUT,     -30520, "timeout",          "timed out")                \
    X(HM_E_DENIED,      -30521, "denied",           "permission denied")        \
    X(HM_E_READONLY,    -30522, "read_only",        "read-only replica")

enum hm_error {
#define HM__ERR_ENUM(name, value, code, text) name = value,
    HM_ERROR_TABLE(HM__ERR_ENUM)
#undef HM__ERR_ENUM
    HM_OK = 0
};

/*
 * hm_strerror - a human-readable text for any return code.
 * @param[in] rc  0, an HM_E_* code, or a negative errno value.
 * @return a static string; never NULL.
 */
const char *hm_strerror(int rc);

/*
 * hm_err_name - the stable machine-readable name of a code ("too_large",
 * "corrupt", ...), as used in JSON verdicts and the protocol.  errno values
 * map to "system".  0 maps to "ok".
 * @return a static string; never NULL.
 */
const char *hm_err_name(int rc);

/*
 * hm_last_error - the message recorded by the last failing hallmark call on
 * this thread, or the text of hm_strerror() when none was recorded.
 * Prefer hm_error_message(rc) when the code is at hand: a code returned
 * without a message cannot be paired with an older message then.
 * @return borrowed; valid until the next hallmark call on this thread.
 */
const char *hm_last_error(void);

/*
 * hm_error_message - the message for the code a call just returned: this
 * thread's recorded message when it was recorded with rc, else
 * hm_strerror(rc) (so a stale message of another failure is never shown).
 * @param[in] rc  the code the failing call returned (0 gives "success").
 * @return borrowed; valid until the next hallmark call on this thread.
 */
const char *hm_error_message(int rc);

/*
 * hm_error_set - record a message for this thread, paired with rc, and
 * return rc unchanged: `return hm_error_set(HM_E_INVAL, "bad id %s", id);`.
 * For every layer (lib, index, daemon, tools): the function that detects a
 * failure calls it once; its callers only pass rc up.  The message is
 * truncated to 511 bytes.
 */
int hm_error_set(int rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* hm_error_clear - forget this thread's message (a new call begins). */
void hm_error_clear(void);

/* Deprecated spellings of hm_error_set() and hm_error_clear(), kept until
 * every caller is renamed. */
#define hm__seterr hm_error_set
#define hm__clearerr hm_error_clear

#ifdef __cplusplus
}
#endif
#endif
