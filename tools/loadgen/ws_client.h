/*
 * ws_client.h — the client's half of the WebSocket opening handshake
 * (RFC 6455 §4.1), with no I/O.  The frames themselves go through lib's
 * ws_frame.h, as the helper's do.
 */
#ifndef LOADGEN_WS_CLIENT_H
#define LOADGEN_WS_CLIENT_H

#include <stddef.h>

#define WS_CLIENT_KEY_LEN 24       /* base64 of 16 bytes */

/* The Sec-WebSocket-Key for 16 random bytes (§4.1: "a nonce consisting of a
 * randomly selected 16-byte value that has been base64-encoded"). */
void ws_client_key(const unsigned char raw[16], char key[WS_CLIENT_KEY_LEN + 1]);

/* The upgrade request's header lines for key, each ending in CRLF, into
 * out (NUL-terminated).  Returns their length, or -1 if cap is too small. */
int ws_client_headers(char *out, size_t cap, const char *key);

/* 1 if accept is the Sec-WebSocket-Accept the server owes us for key: the
 * proof that it read our request (§4.1, the client's 4th check), else 0. */
int ws_client_accept_ok(const char *key, const char *accept);

#endif
