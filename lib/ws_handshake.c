/*
 * ws_handshake.c — the opening handshake of RFC 6455 §4.2, from a buffer.
 * The helper (ws/) reads the bytes; this file only parses, checks and
 * writes answers into buffers.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "http_header.h"
#include "http_query.h"
#include "http_status.h"
#include "ws_handshake.h"

/* §1.3: the GUID every server appends to the client's key. */
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

static int is_tchar(unsigned char c)
{
	/* RFC 9110 §5.6.2 token characters */
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int span_is(struct ws_span s, const char *lit)
{
	return s.p && s.len == strlen(lit) && strncasecmp(s.p, lit, s.len) == 0;
}

/* 1 if the comma-separated list in v holds token (case-insensitive), as
 * Connection: keep-alive, Upgrade and Upgrade: websocket, h2c do. */
static int list_has(const char *v, size_t len, const char *token)
{
	size_t i = 0, tlen = strlen(token);

	while (i < len) {
		size_t start, end;
		while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		start = i;
		while (i < len && v[i] != ',')
			i++;
		end = i;
		while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t'))
			end--;
		if (end - start == tlen && strncasecmp(v + start, token, tlen) == 0)
			return 1;
	}
	return 0;
}

/* One header line [p, p+len) without its line ending. */
static int header_line(const char *p, size_t len, struct ws_request *rq)
{
	size_t n = 0, v, e;
	struct ws_span name, value;

	while (n < len && is_tchar((unsigned char)p[n]))
		n++;
	if (n == 0 || n == len || p[n] != ':')
		return -1;   /* RFC 9112 §5.1: no space before the colon */
	for (size_t i = n + 1; i < len; i++) {
		unsigned char c = (unsigned char)p[i];
		if ((c < 0x20 && c != '\t') || c == 0x7F)
			return -1;
	}
	v = n + 1;
	while (v < len && (p[v] == ' ' || p[v] == '\t'))
		v++;
	e = len;
	while (e > v && (p[e - 1] == ' ' || p[e - 1] == '\t'))
		e--;
	name = (struct ws_span){ p, n };
	value = (struct ws_span){ p + v, e - v };

	if (span_is(name, "Host"))
		rq->host = value;
	else if (span_is(name, "X-Forwarded-Host"))
		rq->forwarded_host = value;
	else if (span_is(name, "Origin"))
		rq->origin = value;
	else if (span_is(name, "Sec-WebSocket-Key"))
		rq->key = value;
	else if (span_is(name, "Sec-WebSocket-Version"))
		rq->version = value;
	else if (span_is(name, "Upgrade"))
		rq->upgrade_websocket |= list_has(value.p, value.len, "websocket");
	else if (span_is(name, "Connection"))
		rq->connection_upgrade |= list_has(value.p, value.len, "upgrade");
	return 0;
}

/* "GET /ws?channel=x HTTP/1.1" */
static int request_line(const char *p, size_t len, struct ws_request *rq)
{
	const char *sp1 = memchr(p, ' ', len), *sp2, *q;

	if (!sp1 || sp1 == p)
		return -1;
	sp2 = memchr(sp1 + 1, ' ', len - (size_t)(sp1 + 1 - p));
	if (!sp2 || sp2 == sp1 + 1)
		return -1;
	for (const char *c = p; c < sp1; c++)
		if (!is_tchar((unsigned char)*c))
			return -1;
	for (const char *c = sp1 + 1; c < sp2; c++)
		if ((unsigned char)*c <= 0x20 || *c == 0x7F)
			return -1;
	if (p + len - (sp2 + 1) != 8 || memcmp(sp2 + 1, "HTTP/1.", 7) != 0 ||
	    sp2[8] < '0' || sp2[8] > '9')
		return -1;
	rq->http_minor = sp2[8] - '0';
	rq->method = (struct ws_span){ p, (size_t)(sp1 - p) };
	q = memchr(sp1 + 1, '?', (size_t)(sp2 - sp1 - 1));
	if (q) {
		rq->path = (struct ws_span){ sp1 + 1, (size_t)(q - sp1 - 1) };
		rq->query = (struct ws_span){ q + 1, (size_t)(sp2 - q - 1) };
	} else {
		rq->path = (struct ws_span){ sp1 + 1, (size_t)(sp2 - sp1 - 1) };
		rq->query = (struct ws_span){ sp2, 0 };
	}
	return 0;
}

int ws_request_parse(const char *buf, size_t len, struct ws_request *rq)
{
	size_t pos = 0;
	int first = 1;

	memset(rq, 0, sizeof *rq);
	for (;;) {
		const char *nl = memchr(buf + pos, '\n', len - pos);
		size_t end;

		if (!nl)
			return -2;
		end = (size_t)(nl - buf);
		if (end > pos && buf[end - 1] == '\r')
			end--;        /* CRLF, or a bare LF as RFC 9112 §2.2 allows */
		if (first) {
			if (request_line(buf + pos, end - pos, rq) < 0)
				return -1;
			first = 0;
		} else if (end == pos) {
			return (int)(nl - buf + 1);   /* the empty line: head complete */
		} else if (header_line(buf + pos, end - pos, rq) < 0) {
			return -1;
		}
		pos = (size_t)(nl - buf + 1);
	}
}

/* The key is base64 of 16 random bytes (§4.1): 22 characters, then "==". */
static int key_valid(struct ws_span k)
{
	if (!k.p || k.len != 24 || k.p[22] != '=' || k.p[23] != '=')
		return 0;
	for (size_t i = 0; i < 22; i++) {
		unsigned char c = (unsigned char)k.p[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '+' || c == '/'))
			return 0;
	}
	return 1;
}

/* The last entry of a comma-separated header value, without blanks. */
static struct ws_span last_entry(struct ws_span v)
{
	size_t start = v.len, end = v.len;

	while (start > 0 && v.p[start - 1] != ',')
		start--;
	while (start < end && (v.p[start] == ' ' || v.p[start] == '\t'))
		start++;
	while (end > start && (v.p[end - 1] == ' ' || v.p[end - 1] == '\t'))
		end--;
	return (struct ws_span){ v.p + start, end - start };
}

/* A span copied into a NUL-terminated buffer; -1 if it does not fit. */
static int span_copy(struct ws_span s, char *buf, size_t cap)
{
	if (s.len >= cap)
		return -1;
	if (s.len)
		memcpy(buf, s.p, s.len);
	buf[s.len] = '\0';
	return 0;
}

/* channel, since and history from the query string, as every endpoint
 * reads them (http_cursor_parse). */
static int read_params(struct ws_span query, struct http_cursor *cursor,
                       const char **errstr)
{
	char qs[WS_REQUEST_MAX];

	if (span_copy(query, qs, sizeof qs) < 0) {
		*errstr = "the query string is malformed";
		return 400;
	}
	if ((*errstr = http_cursor_parse(qs, cursor)) != NULL)
		return 400;
	return 0;
}

int ws_request_check(const struct ws_request *rq, const char *allowed_origins,
                     struct http_cursor *cursor, const char **errstr)
{
	char origin[1024], host[512];
	struct ws_span h;

	if (!span_is(rq->method, "GET")) {
		*errstr = "a WebSocket handshake is a GET request";
		return 405;
	}
	if (!span_is(rq->path, "/ws") && !span_is(rq->path, "/")) {
		*errstr = "the WebSocket endpoint is /ws";
		return 404;
	}
	if (rq->http_minor < 1 || !rq->host.p) {
		*errstr = "a WebSocket handshake needs HTTP/1.1 and a Host header";
		return 400;
	}
	if (!rq->upgrade_websocket || !rq->connection_upgrade) {
		*errstr = "not a WebSocket handshake (Upgrade: websocket and "
		          "Connection: Upgrade are required)";
		return 400;
	}
	if (!span_is(rq->version, "13")) {
		/* §4.4: answer with the versions we speak. */
		*errstr = "unsupported WebSocket version (this server speaks 13)";
		return 426;
	}
	if (!key_valid(rq->key)) {
		*errstr = "Sec-WebSocket-Key must be base64 of 16 bytes";
		return 400;
	}
	if (rq->origin.p) {
		/* Behind a proxy, Host names the helper; the browser's host is in
		 * X-Forwarded-Host.  Only its last entry is trusted: Apache's
		 * mod_proxy appends its own entry after whatever the client sent
		 * ("evil.example, 127.0.0.1:8080" from a forged header), and
		 * lighttpd's mod_proxy replaces the header with its one value, so
		 * the last entry is the one our own proxy wrote.  (A browser cannot
		 * set the header; a script outside one can set anything anyway.) */
		h = rq->host;
		if (rq->forwarded_host.p)
			h = last_entry(rq->forwarded_host);
		if (span_copy(rq->origin, origin, sizeof origin) < 0 ||
		    span_copy(h, host, sizeof host) < 0 ||
		    !http_origin_allowed(origin, host, allowed_origins)) {
			*errstr = "cross-origin WebSocket refused (see RT_ALLOWED_ORIGINS)";
			return 403;
		}
	}
	return read_params(rq->query, cursor, errstr);
}

void ws_accept_value(const char *key, size_t key_len,
                     char out[WS_ACCEPT_LEN + 1])
{
	unsigned char in[64 + sizeof WS_GUID], md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (key_len > 64)
		key_len = 64;   /* checked keys are 24 bytes */
	memcpy(in, key, key_len);
	memcpy(in + key_len, WS_GUID, sizeof WS_GUID - 1);
	EVP_Digest(in, key_len + sizeof WS_GUID - 1, md, &mdlen, EVP_sha1(), NULL);
	EVP_EncodeBlock((unsigned char *)out, md, (int)mdlen);  /* NUL-terminates */
}

size_t ws_handshake_accept(char *out, size_t cap, const struct ws_request *rq)
{
	char accept[WS_ACCEPT_LEN + 1];
	int n;

	ws_accept_value(rq->key.p, rq->key.len, accept);
	/* No Sec-WebSocket-Protocol or -Extensions: we select none (§4.2.2). */
	n = snprintf(out, cap,
	             "HTTP/1.1 101 Switching Protocols\r\n"
	             "Upgrade: websocket\r\n"
	             "Connection: Upgrade\r\n"
	             "Sec-WebSocket-Accept: %s\r\n"
	             "\r\n", accept);
	return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

size_t ws_handshake_refuse(char *out, size_t cap, int status,
                           const char *detail)
{
	const char *extra = "";
	int n;

	if (status == 405)
		extra = "Allow: GET\r\n";
	else if (status == 426)
		extra = "Sec-WebSocket-Version: 13\r\nUpgrade: websocket\r\n";
	else if (status == 503)
		extra = "Retry-After: 5\r\n";
	n = snprintf(out, cap,
	             "HTTP/1.1 %d %s\r\n"
	             "Content-Type: text/plain; charset=utf-8\r\n"
	             "Content-Length: %zu\r\n"
	             "Cache-Control: no-store\r\n"
	             "Connection: close\r\n"
	             "%s"
	             "\r\n"
	             "%s\n", status, http_status_reason(status), strlen(detail) + 1,
	             extra, detail);
	return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

size_t ws_handshake_add_header(char *out, size_t len, size_t cap,
                               const char *name, const char *value)
{
	size_t nlen = strlen(name), vlen = strlen(value), add = nlen + 2 + vlen + 2;
	char *end = memmem(out, len, "\r\n\r\n", 4);

	if (end == NULL || strpbrk(name, "\r\n") || strpbrk(value, "\r\n") ||
	    len + add > cap)
		return 0;
	end += 2;                        /* after the last header line's CRLF */
	memmove(end + add, end, len - (size_t)(end - out));
	memcpy(end, name, nlen);
	memcpy(end + nlen, ": ", 2);
	memcpy(end + nlen + 2, value, vlen);
	memcpy(end + nlen + 2 + vlen, "\r\n", 2);
	return len + add;
}
