/*
 * hmd_auth.h - the review console's accounts, sessions and CSRF tokens.
 *
 * Accounts come from a file of lines `name role pwhash [brand...]` ('#'
 * starts a comment): role is `reviewer` (sees and acts on every verdict) or
 * `holder` (a rights holder: sees only verdicts of the listed brands, cannot
 * act).  pwhash is libsodium's crypto_pwhash_str() text (Argon2id, salted;
 * `hallmarkd --hash-password` prints one).  Names and brands are single
 * whitespace-free tokens.
 *
 * Sessions: 256-bit random tokens (randombytes_buf) held in memory, at most
 * HMD_AUTH_MAX_SESSIONS (the oldest is dropped), expiring after
 * HMD_AUTH_IDLE_S seconds idle; each has its own 256-bit CSRF token.
 * Tokens are compared with sodium_memcmp (constant time).
 *
 * Thread safety: every call may run on any thread (one mutex).
 */
#ifndef HMD_AUTH_H
#define HMD_AUTH_H

#include <stddef.h>

#define HMD_AUTH_MAX_SESSIONS 256
#define HMD_AUTH_IDLE_S (8 * 3600)
#define HMD_TOKEN_LEN 64            /* hex characters of a token */
#define HMD_NAME_MAX 64

enum hmd_role { HMD_ROLE_REVIEWER = 1, HMD_ROLE_HOLDER = 2 };

/* What a request learns about its session: a copy, except brands, which is
 * borrowed from the account table (valid until hmd_auth_free). */
typedef struct hmd_session_view {
    char user[HMD_NAME_MAX];
    int role;
    char csrf[HMD_TOKEN_LEN + 1];
    const char *const *brands;   /* holder: the visible brands; reviewer: NULL */
    int n_brands;
} hmd_session_view_t;

typedef struct hmd_auth hmd_auth_t;

/*
 * hmd_auth_new - load the accounts file (path may be NULL or "": no accounts,
 * nobody can log in).
 * @return 0, HM_E_CONFIG (unreadable file, bad line: the message names the
 *         file and line), HM_E_INTERNAL (libsodium), HM_E_NOMEM.
 */
int hmd_auth_new(hmd_auth_t **out, const char *path);
void hmd_auth_free(hmd_auth_t **self_p);
/* Add one account (tests; the file loader uses it).  brands is copied.
 * @return 0, HM_E_INVAL (bad name, role or hash), HM_E_EXISTS, HM_E_NOMEM. */
int hmd_auth_add(hmd_auth_t *a, const char *name, int role, const char *pwhash,
                 const char *const *brands, int n_brands);

/*
 * hmd_auth_login - check name/password (the same work is done for an unknown
 * name, so timing does not tell which names exist) and open a session.
 * @param[out] token  HMD_TOKEN_LEN + 1 bytes: the session cookie value.
 * @return 0, HM_E_DENIED, HM_E_NOMEM.
 */
int hmd_auth_login(hmd_auth_t *a, const char *name, const char *password, char *token);
/* Look a session up (and refresh its idle time).  @return 0, HM_E_DENIED. */
int hmd_auth_session(hmd_auth_t *a, const char *token, hmd_session_view_t *out);
/* End a session (unknown tokens are ignored). */
void hmd_auth_logout(hmd_auth_t *a, const char *token);
/* 1 when given equals expected (both HMD_TOKEN_LEN hex), in constant time. */
int hmd_auth_token_eq(const char *expected, const char *given);
/* A fresh random token (hex) into out (HMD_TOKEN_LEN + 1 bytes). */
void hmd_auth_random_token(char *out);
/* Hash a password for the accounts file.  @return a malloc()ed string, NULL
 * on failure. */
char *hmd_auth_hash_password(const char *password);

#endif
