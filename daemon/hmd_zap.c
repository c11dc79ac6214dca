/* hmd_zap.c - the ZAP handler and the CURVE server keys of control. */
#include "hmd_zap.h"

#include <ctype.h>
#include <errno.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "hm_error.h"
#include "hm_log.h"

#define S_ZAP_ENDPOINT "inproc://zeromq.zap.01"

struct hmd_zap {
    void *rep;
    char secret[41];
    uint8_t (*keys)[32];
    size_t n_keys;
};

/* Z85 keys from a file, one a line; '#' at a line's start or after a blank starts a comment. */
static int s_read_keys(const char *path, uint8_t (**keys)[32], size_t *n)
{
    int rc = 0;
    size_t cap = 0, cnt = 0;
    uint8_t (*k)[32] = NULL;
    char line[256];
    int lineno = 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return hm__seterr(HM_E_CONFIG, "%s: cannot open: %s", path, strerror(errno));
    while (fgets(line, sizeof line, f)) {
        lineno++;
        /* Z85 uses '#': a comment starts a line or follows whitespace. */
        char *s = line;
        for (char *h = s; *h; h++)
            if (*h == '#' && (h == s || isspace((unsigned char)h[-1]))) {
                *h = '\0';
                break;
            }
        while (isspace((unsigned char)*s))
            s++;
        size_t len = strlen(s);
        while (len && isspace((unsigned char)s[len - 1]))
            s[--len] = '\0';
        if (!len)
            continue;
        if (cnt == cap) {
            cap = cap ? cap * 2 : 8;
            void *nk = realloc(k, cap * sizeof *k);
            if (!nk) {
                rc = HM_E_NOMEM;
                goto leave;
            }
            k = nk;
        }
        if (len != 40 || !zmq_z85_decode(k[cnt], s)) {
            rc = hm__seterr(HM_E_CONFIG, "%s:%d: not a Z85 CURVE public key (40 characters)",
                            path, lineno);
            goto leave;
        }
        cnt++;
    }
leave:
    fclose(f);
    if (rc) {
        free(k);
        return rc;
    }
    *keys = k;
    *n = cnt;
    return 0;
}

int hmd_zap_open(hmd_zap_t **out, void *zctx, const char *secret_file, const char *allow_file)
{
    int rc = 0;
    hmd_zap_t *z = calloc(1, sizeof *z);
    if (!z)
        return HM_E_NOMEM;
    uint8_t (*sk)[32] = NULL;
    size_t nsk = 0;
    /* A secret others can read is no secret: refuse it, as ssh does. */
    struct stat st;
    if (stat(secret_file, &st) == 0 && (st.st_mode & 077)) {
        rc = hm__seterr(HM_E_CONFIG, "%s: secret key file is accessible by group or others "
                        "(mode %04o; chmod 600 it)", secret_file, (unsigned)(st.st_mode & 07777));
        goto leave;
    }
    if ((rc = s_read_keys(secret_file, &sk, &nsk)) != 0)
        goto leave;
    if (nsk != 1) {
        rc = hm__seterr(HM_E_CONFIG, "%s: expected exactly one secret key", secret_file);
        goto leave;
    }
    zmq_z85_encode(z->secret, sk[0], 32);
    if (!allow_file || !*allow_file) {
        rc = hm__seterr(HM_E_CONFIG, "curve-secret-file needs curve-allow (client public keys)");
        goto leave;
    }
    if ((rc = s_read_keys(allow_file, &z->keys, &z->n_keys)) != 0)
        goto leave;
    z->rep = zmq_socket(zctx, ZMQ_REP);
    int linger = 0;
    if (!z->rep || zmq_setsockopt(z->rep, ZMQ_LINGER, &linger, sizeof linger) ||
        zmq_bind(z->rep, S_ZAP_ENDPOINT) != 0) {
        rc = hm__seterr(HM_E_INTERNAL, "zap: %s", zmq_strerror(zmq_errno()));
        goto leave;
    }
    hm_log_info("curve", "status=on allowed_keys=%zu", z->n_keys);
leave:
    if (sk) {
        memset(sk, 0, nsk * sizeof *sk);
        free(sk);
    }
    if (rc) {
        hmd_zap_close(&z);
        return rc;
    }
    *out = z;
    return 0;
}

void hmd_zap_close(hmd_zap_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    hmd_zap_t *z = *self_p;
    if (z->rep)
        zmq_close(z->rep);
    memset(z->secret, 0, sizeof z->secret);
    free(z->keys);
    free(z);
    *self_p = NULL;
}

void *hmd_zap_socket(hmd_zap_t *z)
{
    return z->rep;
}

int hmd_zap_secure(hmd_zap_t *z, void *sock)
{
    int one = 1;
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof one) ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, z->secret, 40) ||
        zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, HMD_ZAP_DOMAIN, strlen(HMD_ZAP_DOMAIN)))
        return hm__seterr(HM_E_INTERNAL, "curve: %s", zmq_strerror(zmq_errno()));
    return 0;
}

int hmd_zap_reload(hmd_zap_t *z, const char *allow_file)
{
    uint8_t (*k)[32] = NULL;
    size_t n = 0;
    int rc = s_read_keys(allow_file, &k, &n);
    if (rc)
        return rc;
    free(z->keys);
    z->keys = k;
    z->n_keys = n;
    hm_log_info("curve_reload", "allowed_keys=%zu", n);
    return 0;
}

static int s_part_is(zmq_msg_t *m, const char *s)
{
    size_t n = strlen(s);
    return zmq_msg_size(m) == n && memcmp(zmq_msg_data(m), s, n) == 0;
}

/*
 * A ZAP request: version, request id, domain, address, identity, mechanism,
 * credentials...; at most 8 frames are kept, the rest are released.
 */
void hmd_zap_handle(hmd_zap_t *z)
{
    zmq_msg_t parts[8];
    int n = 0, more = 1;
    while (more) {
        zmq_msg_t tmp, *m = n < 8 ? &parts[n] : &tmp;
        zmq_msg_init(m);
        if (zmq_msg_recv(m, z->rep, n == 0 ? ZMQ_DONTWAIT : 0) < 0) {
            zmq_msg_close(m);
            if (n == 0)
                return;
            break;
        }
        more = zmq_msg_more(m);
        if (m == &tmp)
            zmq_msg_close(m);
        n++;
    }
    int kept = n < 8 ? n : 8;
    const char *status = "400", *text = "denied";
    if (kept >= 6 && s_part_is(&parts[0], "1.0")) {
        int control = s_part_is(&parts[2], HMD_ZAP_DOMAIN);
        int curve = s_part_is(&parts[5], "CURVE");
        if (!control) {
            status = "200";
            text = "OK";
        } else if (curve && kept >= 7 && zmq_msg_size(&parts[6]) == 32) {
            for (size_t i = 0; i < z->n_keys; i++)
                if (memcmp(z->keys[i], zmq_msg_data(&parts[6]), 32) == 0) {
                    status = "200";
                    text = "OK";
                }
            if (status[0] != '2') {
                char key[41];
                zmq_z85_encode(key, zmq_msg_data(&parts[6]), 32);
                hm_log_warn("curve_denied", "client_key=%s", key);
            }
        } else {
            hm_log_warn("curve_denied", "reason=\"plaintext or unknown mechanism\"");
        }
    }
    /* Reply: version, request id, status code, status text, user id, metadata. */
    const char *ver = "1.0";
    zmq_send(z->rep, ver, 3, ZMQ_SNDMORE);
    if (kept >= 2)
        zmq_send(z->rep, zmq_msg_data(&parts[1]), zmq_msg_size(&parts[1]), ZMQ_SNDMORE);
    else
        zmq_send(z->rep, "", 0, ZMQ_SNDMORE);
    zmq_send(z->rep, status, 3, ZMQ_SNDMORE);
    zmq_send(z->rep, text, strlen(text), ZMQ_SNDMORE);
    zmq_send(z->rep, "", 0, ZMQ_SNDMORE);
    zmq_send(z->rep, "", 0, 0);
    for (int i = 0; i < kept; i++)
        zmq_msg_close(&parts[i]);
}
