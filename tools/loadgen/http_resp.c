/*
 * http_resp.c — the client side of an HTTP/1.1 response (RFC 9112), no I/O.
 * Unit tests: tests/unit/check_loadgen_http_resp.c.
 */
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "http_query.h"
#include "http_resp.h"

enum { CK_SIZE, CK_DATA, CK_CRLF, CK_TRAILER };

void http_resp_init(struct http_resp *r)
{
	memset(r, 0, sizeof *r);
	r->clen = -1;
}

int http_resp_ends_at_close(const struct http_resp *r)
{
	return r->phase == HTTP_RESP_BODY && !r->chunked && r->clen < 0;
}

/* 1 if the header line is "name: value" (name case-insensitive, §5.1); then
 * *val / *vlen are the value without leading blanks. */
static int header_is(const char *line, size_t len, const char *name,
                     const char **val, size_t *vlen)
{
	size_t nl = strlen(name);
	const char *v, *end = line + len;

	if (len <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
		return 0;
	for (v = line + nl + 1; v < end && (*v == ' ' || *v == '\t'); v++)
		;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	*val = v;
	*vlen = (size_t)(end - v);
	return 1;
}

/* 1 if the comma-separated list v[0..n) holds token (case-insensitive). */
static int has_token(const char *v, size_t n, const char *token)
{
	size_t tl = strlen(token), i;

	for (i = 0; i + tl <= n; i++)
		if (strncasecmp(v + i, token, tl) == 0)
			return 1;
	return 0;
}

/* The checked number parser wants a NUL-terminated string: copy, bounded. */
static int span_to_int(const char *v, size_t n, long long max, long long *out)
{
	char digits[24];

	if (n == 0 || n >= sizeof digits)
		return -1;
	memcpy(digits, v, n);
	digits[n] = '\0';
	return http_parse_int(digits, 0, max, out);
}

/* A chunk-size line: hex digits, then optional ";ext" (§7.1.1). */
static int chunk_size(const char *line, size_t len, unsigned long long *out)
{
	unsigned long long v = 0;
	size_t i;

	for (i = 0; i < len; i++) {
		char ch = line[i];
		int d = ch >= '0' && ch <= '9' ? ch - '0' :
		        ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 :
		        ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
		if (d < 0)
			break;
		v = v * 16 + (unsigned)d;
		if (v > (unsigned long long)HTTP_RESP_BODY_MAX)
			return -1;
	}
	if (i == 0 || (i < len && line[i] != ';' && line[i] != ' ' && line[i] != '\t'))
		return -1;
	*out = v;
	return 0;
}

static int status_line(struct http_resp *r, const char *line, size_t len)
{
	long long st;

	/* "HTTP/1.1 200 OK": the version, one space, three digits. */
	if (len < 12 || strncmp(line, "HTTP/1.", 7) != 0 || line[8] != ' ' ||
	    span_to_int(line + 9, 3, 599, &st) != 0 || st < 100)
		return -1;
	r->status = (int)st;
	r->close = line[7] == '0';     /* HTTP/1.0: no keep-alive by default */
	r->phase = HTTP_RESP_HEADERS;
	return 0;
}

static int header_line(struct http_resp *r, const char *line, size_t len)
{
	const char *v;
	size_t vl;

	if (len == 0) {                 /* end of the head */
		if (r->status == 101 || r->status == 204 || r->status == 304 ||
		    r->clen == 0) {
			r->phase = HTTP_RESP_DONE;  /* no body (RFC 9112 §6.3) */
			return 0;
		}
		r->phase = HTTP_RESP_BODY;
		if (!r->chunked && r->clen < 0)
			r->close = 1;   /* the body runs until the server closes */
		return 0;
	}
	if (header_is(line, len, "Content-Length", &v, &vl)) {
		if (span_to_int(v, vl, HTTP_RESP_BODY_MAX, &r->clen) != 0)
			return -1;
	} else if (header_is(line, len, "Transfer-Encoding", &v, &vl)) {
		r->chunked = has_token(v, vl, "chunked");
	} else if (header_is(line, len, "Connection", &v, &vl)) {
		if (has_token(v, vl, "close"))
			r->close = 1;
	} else if (header_is(line, len, "Sec-WebSocket-Accept", &v, &vl)) {
		if (vl >= sizeof r->ws_accept)
			return -1;
		memcpy(r->ws_accept, v, vl);
		r->ws_accept[vl] = '\0';
	}
	return 0;
}

/* A line of the chunked framing: size, the CRLF after data, the trailer. */
static int chunk_line(struct http_resp *r, const char *line, size_t len)
{
	if (r->chunk_phase == CK_SIZE) {
		if (chunk_size(line, len, &r->chunk_left) != 0)
			return -1;
		r->chunk_phase = r->chunk_left ? CK_DATA : CK_TRAILER;
	} else if (r->chunk_phase == CK_CRLF) {
		if (len != 0)
			return -1;
		r->chunk_phase = CK_SIZE;
	} else if (len == 0) {          /* CK_TRAILER: a blank line ends it */
		r->phase = HTTP_RESP_DONE;
	}
	return 0;
}

long http_resp_parse(struct http_resp *r, const char *buf, size_t len,
                     const char **body, size_t *body_len)
{
	*body = buf;
	*body_len = 0;
	if (r->phase == HTTP_RESP_DONE)
		return -1;
	if (len == 0)
		return -2;
	if (r->phase != HTTP_RESP_BODY || (r->chunked && r->chunk_phase != CK_DATA)) {
		const char *nl = memchr(buf, '\n', len);
		size_t ll;
		int rc;
		if (nl == NULL)
			return len > HTTP_RESP_LINE_MAX ? -1 : -2;
		ll = (size_t)(nl - buf);
		if (ll > HTTP_RESP_LINE_MAX)
			return -1;
		if (ll > 0 && buf[ll - 1] == '\r')
			ll--;       /* lines end in CRLF; a bare LF is tolerated (§2.2) */
		rc = r->phase == HTTP_RESP_STATUS ? status_line(r, buf, ll) :
		     r->phase == HTTP_RESP_HEADERS ? header_line(r, buf, ll) :
		     chunk_line(r, buf, ll);
		return rc != 0 ? -1 : (long)(nl - buf) + 1;
	}
	if (r->chunked) {
		size_t take = len < r->chunk_left ? len : (size_t)r->chunk_left;
		r->chunk_left -= take;
		if (r->chunk_left == 0)
			r->chunk_phase = CK_CRLF;
		*body_len = take;
		return (long)take;
	}
	if (r->clen >= 0 && (long long)len > r->clen - r->body_got)
		len = (size_t)(r->clen - r->body_got);
	r->body_got += (long long)len;
	if (r->clen >= 0 && r->body_got == r->clen)
		r->phase = HTTP_RESP_DONE;
	*body_len = len;
	return (long)len;
}
