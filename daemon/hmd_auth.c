/* hmd_auth.c - accounts (libsodium crypto_pwhash_str), sessions, tokens. */
#include "hmd_auth.h"

#include <ctype.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hm_error.h"
#include "hm_log.h"

typedef struct s_account {
    char name[HMD_NAME_MAX];
    int role;
    char pwhash[crypto_pwhash_STRBYTES];
    char **brands;
    int n_brands;
} s_account_t;

typedef struct s_session {
    char token[HMD_TOKEN_LEN + 1];   /* "" = free slot */
    char csrf[HMD_TOKEN_LEN + 1];
    int account;
    time_t created, seen;
} s_session_t;

struct hmd_auth {
    pthread_mutex_t mu;
    s_account_t *acc;
    int n_acc, cap_acc;
    char dummy[crypto_pwhash_STRBYTES]; /* verified against for unknown names */
    s_session_t sess[HMD_AUTH_MAX_SESSIONS];
};

char *hmd_auth_hash_password(const char *password)
{
    char *out = malloc(crypto_pwhash_STRBYTES);
    if (out && crypto_pwhash_str(out, password, strlen(password),
                                 crypto_pwhash_OPSLIMIT_INTERACTIVE,
                                 crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
        free(out);
        out = NULL;
    }
    return out;
}

void hmd_auth_random_token(char *out)
{
    unsigned char b[HMD_TOKEN_LEN / 2];
    randombytes_buf(b, sizeof b);
    sodium_bin2hex(out, HMD_TOKEN_LEN + 1, b, sizeof b);
}

int hmd_auth_token_eq(const char *expected, const char *given)
{
    if (!expected || !given || strlen(expected) != HMD_TOKEN_LEN ||
        strnlen(given, HMD_TOKEN_LEN + 1) != HMD_TOKEN_LEN)
        return 0;
    return sodium_memcmp(expected, given, HMD_TOKEN_LEN) == 0;
}

static int s_valid_token(const char *s)
{
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("._-@", *p))
            return 0;
    return *s && strlen(s) < HMD_NAME_MAX;
}

int hmd_auth_add(hmd_auth_t *a, const char *name, int role, const char *pwhash,
                 const char *const *brands, int n_brands)
{
    if (!a || !name || !s_valid_token(name) || (role != HMD_ROLE_REVIEWER && role != HMD_ROLE_HOLDER) ||
        !pwhash || strlen(pwhash) >= crypto_pwhash_STRBYTES ||
        strncmp(pwhash, "$argon2", 7) != 0 || n_brands < 0 ||
        (role == HMD_ROLE_HOLDER && n_brands == 0))
        return hm__seterr(HM_E_INVAL, "account '%s': bad name, role or password hash (a holder needs a brand)",
                          name ? name : "");
    for (int i = 0; i < a->n_acc; i++)
        if (strcmp(a->acc[i].name, name) == 0)
            return hm__seterr(HM_E_EXISTS, "account '%s' given twice", name);
    if (a->n_acc == a->cap_acc) {
        int cap = a->cap_acc ? a->cap_acc * 2 : 8;
        s_account_t *n = realloc(a->acc, (size_t)cap * sizeof *n);
        if (!n)
            return hm__seterr(HM_E_NOMEM, "accounts: out of memory");
        a->acc = n;
        a->cap_acc = cap;
    }
    s_account_t *ac = &a->acc[a->n_acc];
    memset(ac, 0, sizeof *ac);
    snprintf(ac->name, sizeof ac->name, "%s", name);
    snprintf(ac->pwhash, sizeof ac->pwhash, "%s", pwhash);
    ac->role = role;
    if (n_brands) {
        ac->brands = calloc((size_t)n_brands, sizeof *ac->brands);
        if (!ac->brands)
            return hm__seterr(HM_E_NOMEM, "accounts: out of memory");
        for (int i = 0; i < n_brands; i++)
            if (!(ac->brands[ac->n_brands++] = strdup(brands[i]))) {
                for (int j = 0; j < ac->n_brands - 1; j++)
                    free(ac->brands[j]);
                free(ac->brands);
                return hm__seterr(HM_E_NOMEM, "accounts: out of memory");
            }
    }
    a->n_acc++;
    return 0;
}

static int s_load(hmd_auth_t *a, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return hm__seterr(HM_E_CONFIG, "console accounts %s: cannot open", path);
    char line[4096];
    int lineno = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        lineno++;
        char *hash = strchr(line, '#');
        /* '#' starts a comment only at a token start: a hash never holds one. */
        if (hash && (hash == line || isspace((unsigned char)hash[-1])))
            *hash = '\0';
        const char *tok[64];
        int n = 0;
        for (char *save = NULL, *t = strtok_r(line, " \t\r\n", &save); t && n < 64;
             t = strtok_r(NULL, " \t\r\n", &save))
            tok[n++] = t;
        if (n == 0)
            continue;
        int role = n >= 2 && strcmp(tok[1], "reviewer") == 0 ? HMD_ROLE_REVIEWER
                 : n >= 2 && (strcmp(tok[1], "holder") == 0 || strcmp(tok[1], "rights-holder") == 0)
                     ? HMD_ROLE_HOLDER : 0;
        if (n < 3 || !role || (role == HMD_ROLE_HOLDER && n < 4))
            rc = hm__seterr(HM_E_CONFIG, "%s:%d: expected `name reviewer|holder pwhash [brand...]` "
                            "(a holder needs a brand)", path, lineno);
        else if ((rc = hmd_auth_add(a, tok[0], role, tok[2], tok + 3, n - 3)) != 0)
            rc = hm__seterr(HM_E_CONFIG, "%s:%d: %s", path, lineno, hm_last_error());
    }
    fclose(f);
    return rc;
}

int hmd_auth_new(hmd_auth_t **out, const char *path)
{
    if (sodium_init() < 0)
        return hm__seterr(HM_E_INTERNAL, "libsodium init failed");
    hmd_auth_t *a = calloc(1, sizeof *a);
    if (!a)
        return hm__seterr(HM_E_NOMEM, "accounts: out of memory");
    pthread_mutex_init(&a->mu, NULL);
    char pw[HMD_TOKEN_LEN + 1];
    hmd_auth_random_token(pw);
    char *d = hmd_auth_hash_password(pw);
    int rc = d ? 0 : hm__seterr(HM_E_NOMEM, "accounts: cannot hash");
    if (d) {
        snprintf(a->dummy, sizeof a->dummy, "%s", d);
        free(d);
    }
    if (rc == 0 && path && *path)
        rc = s_load(a, path);
    if (rc) {
        hmd_auth_free(&a);
        return rc;
    }
    hm_log_info("console_accounts", "count=%d", a->n_acc);
    *out = a;
    return 0;
}

void hmd_auth_free(hmd_auth_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    hmd_auth_t *a = *self_p;
    for (int i = 0; i < a->n_acc; i++) {
        for (int j = 0; j < a->acc[i].n_brands; j++)
            free(a->acc[i].brands[j]);
        free(a->acc[i].brands);
    }
    free(a->acc);
    sodium_memzero(a->sess, sizeof a->sess);
    pthread_mutex_destroy(&a->mu);
    free(a);
    *self_p = NULL;
}

int hmd_auth_login(hmd_auth_t *a, const char *name, const char *password, char *token)
{
    token[0] = '\0';
    if (!name || !password || strlen(password) > 1024)
        return hm__seterr(HM_E_DENIED, "login refused");
    int idx = -1;
    for (int i = 0; i < a->n_acc; i++)
        if (strcmp(a->acc[i].name, name) == 0)
            idx = i;
    /* The accounts table is read-only after start, so verifying (the slow,
     * memory-hard part) runs outside the lock. */
    const char *h = idx >= 0 ? a->acc[idx].pwhash : a->dummy;
    int ok = crypto_pwhash_str_verify(h, password, strlen(password)) == 0 && idx >= 0;
    if (!ok) {
        hm_log_info("console_login", "user=%s result=refused", idx >= 0 ? a->acc[idx].name : "-");
        return hm__seterr(HM_E_DENIED, "login refused");
    }
    time_t now = time(NULL);
    pthread_mutex_lock(&a->mu);
    int slot = 0;
    for (int i = 0; i < HMD_AUTH_MAX_SESSIONS; i++) {
        s_session_t *s = &a->sess[i];
        if (!s->token[0] || now - s->seen > HMD_AUTH_IDLE_S) {
            slot = i;
            break;
        }
        if (s->seen < a->sess[slot].seen)
            slot = i; /* all taken: the least recently used goes */
    }
    s_session_t *s = &a->sess[slot];
    hmd_auth_random_token(s->token);
    hmd_auth_random_token(s->csrf);
    s->account = idx;
    s->created = s->seen = now;
    memcpy(token, s->token, HMD_TOKEN_LEN + 1);
    pthread_mutex_unlock(&a->mu);
    hm_log_info("console_login", "user=%s result=ok", a->acc[idx].name);
    return 0;
}

static s_session_t *s_find(hmd_auth_t *a, const char *token)
{
    if (!token || strnlen(token, HMD_TOKEN_LEN + 1) != HMD_TOKEN_LEN)
        return NULL;
    s_session_t *hit = NULL;
    for (int i = 0; i < HMD_AUTH_MAX_SESSIONS; i++)
        if (a->sess[i].token[0] && hmd_auth_token_eq(a->sess[i].token, token))
            hit = &a->sess[i];
    return hit;
}

int hmd_auth_session(hmd_auth_t *a, const char *token, hmd_session_view_t *out)
{
    memset(out, 0, sizeof *out);
    time_t now = time(NULL);
    pthread_mutex_lock(&a->mu);
    s_session_t *s = s_find(a, token);
    if (s && now - s->seen > HMD_AUTH_IDLE_S) {
        memset(s, 0, sizeof *s);
        s = NULL;
    }
    if (s) {
        s->seen = now;
        const s_account_t *ac = &a->acc[s->account];
        snprintf(out->user, sizeof out->user, "%s", ac->name);
        out->role = ac->role;
        memcpy(out->csrf, s->csrf, sizeof out->csrf);
        if (ac->role == HMD_ROLE_HOLDER) {
            out->brands = (const char *const *)ac->brands;
            out->n_brands = ac->n_brands;
        }
    }
    pthread_mutex_unlock(&a->mu);
    return s ? 0 : HM_E_DENIED;
}

void hmd_auth_logout(hmd_auth_t *a, const char *token)
{
    pthread_mutex_lock(&a->mu);
    s_session_t *s = s_find(a, token);
    if (s)
        sodium_memzero(s, sizeof *s);
    pthread_mutex_unlock(&a->mu);
}
