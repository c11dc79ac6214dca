/*
 * hmd_zap.h - CURVE for the control socket: the server key pair and a ZAP 1.0
 * handler (RFC 27) that admits only allow-listed client public keys.
 *
 * The handler's REP socket (inproc://zeromq.zap.01) is polled by the socket
 * thread like every other socket; answering is a table lookup.  Requests for
 * domains other than HMD_ZAP_DOMAIN (the NULL mechanism on the other sockets)
 * are accepted; for the control domain only CURVE with a listed key passes,
 * so plaintext is refused.
 */
#ifndef HMD_ZAP_H
#define HMD_ZAP_H

#include <stdint.h>

#define HMD_ZAP_DOMAIN "hallmark-control"

typedef struct hmd_zap hmd_zap_t;

/*
 * hmd_zap_open - read the server secret key (Z85, 40 characters, the first
 * non-comment line of secret_file) and the allow-list (Z85 public keys, one a
 * line; '#' starts a comment at a line's start or after whitespace, since
 * Z85 itself uses '#'), and bind the ZAP socket on zctx.
 * @return 0, HM_E_CONFIG (unreadable or malformed key files), HM_E_INTERNAL.
 */
int hmd_zap_open(hmd_zap_t **out, void *zctx, const char *secret_file, const char *allow_file);
void hmd_zap_close(hmd_zap_t **self_p);
/* The REP socket, for the caller's poll set. */
void *hmd_zap_socket(hmd_zap_t *z);
/* Secure sock as a CURVE server with this key and the ZAP domain (before bind). */
int hmd_zap_secure(hmd_zap_t *z, void *sock);
/* Answer one pending ZAP request (non-blocking). */
void hmd_zap_handle(hmd_zap_t *z);
/* Re-read the allow-list (SIGHUP).  @return 0, HM_E_CONFIG (old list kept). */
int hmd_zap_reload(hmd_zap_t *z, const char *allow_file);

#endif
