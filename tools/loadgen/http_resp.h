/*
 * http_resp.h — the client side of an HTTP/1.1 response (RFC 9112), with no
 * I/O: loadgen feeds the bytes it has read and learns how many were used,
 * where the body bytes are, and when the response is complete.
 *
 *   struct http_resp r;
 *   http_resp_init(&r);
 *   while (r.phase != HTTP_RESP_DONE &&
 *          (n = http_resp_parse(&r, buf + off, len - off, &body, &blen)) > 0) {
 *       use body[0..blen);          -- points into buf, may be empty
 *       off += n;
 *   }
 *   n == -2: keep buf[off..len) and read more;  n == -1: malformed
 *
 * What it understands is what a benchmark client meets: the status line,
 * Content-Length, Transfer-Encoding: chunked (§7.1), Connection: close, a
 * body delimited by the close (§6.3, rule 8), and the Sec-WebSocket-Accept of
 * a 101 (RFC 6455 §4.1).
 */
#ifndef LOADGEN_HTTP_RESP_H
#define LOADGEN_HTTP_RESP_H

#include <stddef.h>

#define HTTP_RESP_LINE_MAX 8192        /* longest status/header/chunk-size line */
#define HTTP_RESP_BODY_MAX (64LL << 20) /* largest Content-Length or chunk we accept */

enum http_resp_phase {
	HTTP_RESP_STATUS, HTTP_RESP_HEADERS, HTTP_RESP_BODY, HTTP_RESP_DONE
};

struct http_resp {
	enum http_resp_phase phase;
	int status;
	int chunked;
	int close;                 /* the server closes after this response */
	long long clen;            /* Content-Length, -1 if absent */
	long long body_got;
	int chunk_phase;           /* private: size line, data, CRLF, trailer */
	unsigned long long chunk_left;
	char ws_accept[64];        /* Sec-WebSocket-Accept, "" if absent */
};

void http_resp_init(struct http_resp *r);

/*
 * Parses one step from buf[0..len): a line of the head or of the chunked
 * framing, or a run of body bytes.  Returns the bytes consumed (> 0), with
 * *body / *body_len the body bytes of this step (a pointer into buf; length
 * 0 for a framing step); -2 when buf holds no whole line yet; -1 when the
 * response is malformed (or a line is longer than HTTP_RESP_LINE_MAX).
 * Do not call it once r->phase is HTTP_RESP_DONE (it returns -1).
 */
long http_resp_parse(struct http_resp *r, const char *buf, size_t len,
                     const char **body, size_t *body_len);

/* 1 if the body runs until the server closes (no length, not chunked):
 * the response is complete at EOF rather than broken. */
int http_resp_ends_at_close(const struct http_resp *r);

#endif
