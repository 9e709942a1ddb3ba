/*
 * ws_handshake.h — the WebSocket opening handshake (RFC 6455 §4), no I/O.
 *
 * The client sends an ordinary HTTP/1.1 GET:
 *
 *   GET /ws?channel=lobby&since=41 HTTP/1.1
 *   Host: 127.0.0.1:8080
 *   Upgrade: websocket
 *   Connection: Upgrade
 *   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==
 *   Sec-WebSocket-Version: 13
 *   Origin: http://127.0.0.1:8080
 *
 * and the server proves it understood by hashing the key with a fixed GUID
 * (§4.2.2): base64(SHA-1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")).
 *
 *   HTTP/1.1 101 Switching Protocols
 *   Upgrade: websocket
 *   Connection: Upgrade
 *   Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
 *
 * From then on the same TCP connection carries frames (ws_frame.h).
 *
 * ws_request_parse() splits the request in the caller's buffer
 * (picohttpparser-style: spans point into it, nothing is copied),
 * ws_request_check() applies the rules and reads the query, and the two
 * writers produce the 101 answer or a plain-text refusal.
 *
 * Pure layer (lib/README.md): no FastCGI, no store, no socket; the helper
 * in ws/ reads and writes the bytes.
 */
#ifndef RTLAB_WS_HANDSHAKE_H
#define RTLAB_WS_HANDSHAKE_H

#include <stddef.h>
#include <stdint.h>

#include "http_query.h"

#define WS_REQUEST_MAX  8192  /* a longer request head is refused */
#define WS_ACCEPT_LEN      28 /* base64 of a 20-byte SHA-1 */

struct ws_span {
	const char *p;   /* into the caller's buffer; NULL if absent */
	size_t len;
};

struct ws_request {
	struct ws_span method, path, query;
	int http_minor;             /* HTTP/1.x */
	struct ws_span host, forwarded_host, origin, key, version;
	int upgrade_websocket;      /* Upgrade lists the token "websocket" */
	int connection_upgrade;     /* Connection lists the token "upgrade" */
};

/*
 * Parses a request head (request line and header lines up to the empty
 * line).  Returns the length of the head, -2 if the empty line has not
 * arrived yet, -1 if the head is malformed.  Spans borrow buf.
 */
int ws_request_parse(const char *buf, size_t len, struct ws_request *rq);

/*
 * Checks a parsed request against §4.2.1 and docs/protocol.md and reads its query
 * (/ws?channel=&since=&history=) with the endpoints' own cursor parser,
 * http_cursor_parse(), into *cursor.
 * allowed_origins is RT_ALLOWED_ORIGINS (NULL: same host, see
 * http_origin_allowed).  Returns 0 when the handshake may proceed, else the
 * HTTP status to refuse it with (400, 403, 404, 405, 426) and *errstr, a
 * static sentence for the plain-text body.
 */
int ws_request_check(const struct ws_request *rq, const char *allowed_origins,
                     struct http_cursor *cursor, const char **errstr);

/* base64(SHA-1(key + GUID)) into out, NUL-terminated (§4.2.2 step 5.4). */
void ws_accept_value(const char *key, size_t key_len,
                     char out[WS_ACCEPT_LEN + 1]);

/* The 101 answer for rq (already checked).  Returns its length, 0 if cap is
 * too small. */
size_t ws_handshake_accept(char *out, size_t cap, const struct ws_request *rq);

/*
 * A refusal: status line, Content-Type text/plain, Content-Length,
 * Connection: close, the header the status calls for (405 Allow: GET, 426
 * Sec-WebSocket-Version: 13, 503 Retry-After), then detail and a newline as
 * the body.  Returns its length, 0 if cap is too small.
 */
size_t ws_handshake_refuse(char *out, size_t cap, int status,
                           const char *detail);

/*
 * Adds "name: value\r\n" to an answer of len bytes in out (the 101 or a
 * refusal), before the blank line that ends its head; the body, if any,
 * moves along.  The helper names its host this way (X-Rtlab-Node, from
 * RT_NODE: docs/scaling.md).  Returns the new length, or 0 — out left as it
 * was — if cap is too small, out has no head end, or name or value holds a
 * CR or LF (a header must not smuggle another, RFC 9110 §5.5).
 */
size_t ws_handshake_add_header(char *out, size_t len, size_t cap,
                               const char *name, const char *value);

#endif
