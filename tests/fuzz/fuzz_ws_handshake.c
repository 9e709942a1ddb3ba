/*
 * fuzz_ws_handshake.c — libFuzzer target for lib/ws_handshake.c
 * (docs/fuzzing.md).
 *
 * The input is one byte choosing RT_ALLOWED_ORIGINS (unset, empty, a list),
 * then a request head as a client would send it.  Checked:
 *  - ws_request_parse() on a buffer of exactly the input's size returns -2,
 *    -1 or a length ending at the blank line; the head is self-delimiting
 *    (its prefixes need more, -2; the head alone parses to the same
 *    length), a malformed head stays malformed whatever follows, every span
 *    lies inside the head and no header value holds a control character or
 *    starts or ends with a space;
 *  - ws_request_check() answers 0 or one of 400/403/404/405/426 with a
 *    sentence; 0 only for a GET of /ws or / over HTTP/1.1 with Host,
 *    Upgrade: websocket, Connection: Upgrade, version 13 and a 24-character
 *    base64 key; the cursor it reads equals http_cursor_parse() of the query;
 *  - the 101 answer and a refusal fit exactly sized buffers (one byte short:
 *    0), end their head with a blank line, and a refusal's Content-Length
 *    is its body's length.
 */
#include <strings.h>

#include "fuzz.h"
#include "msg.h"
#include "ws_handshake.h"

static const char *const origins[] = {
	NULL, "", "http://a.example https://b.example", "http://127.0.0.1:8080",
};

/* Span s lies in [buf, buf + len). */
static void span_inside(struct ws_span s, const char *buf, size_t len)
{
	if (s.p == NULL)
		return;
	CHECK(s.p >= buf && s.p + s.len <= buf + len);
}

static void value_clean(struct ws_span s)
{
	if (s.p == NULL)
		return;
	for (size_t i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.p[i];
		CHECK(c >= 0x20 || c == '\t');
		CHECK(c != 0x7F);
	}
	if (s.len > 0) {
		CHECK(s.p[0] != ' ' && s.p[0] != '\t');
		CHECK(s.p[s.len - 1] != ' ' && s.p[s.len - 1] != '\t');
	}
}

static int parse_copy(const char *p, size_t len, struct ws_request *rq,
                      char **copy)
{
	*copy = fuzz_copy(p, len, 0);
	return ws_request_parse(*copy, len, rq);
}

static void check_parse(const char *buf, size_t len, int rc,
                        const struct ws_request *rq)
{
	struct ws_request again;
	char *copy;
	int rc2;

	CHECK(rc == -2 || rc == -1 || (rc > 0 && (size_t)rc <= len));
	if (rc == -1) {
		/* A broken line stays broken, whatever follows it. */
		char *more = malloc(len + 4);
		CHECK(more != NULL);
		memcpy(more, buf, len);
		memcpy(more + len, "\r\n\r\n", 4);
		rc2 = ws_request_parse(more, len + 4, &again);
		CHECK(rc2 == -1);
		free(more);
		return;
	}
	/* Shorter prefixes need more: every one for a short head, else a few. */
	size_t end = rc > 0 ? (size_t)rc : len;
	size_t step = end <= 300 ? 1 : end / 16;
	for (size_t k = 0; k < end; k += step) {
		rc2 = parse_copy(buf, k, &again, &copy);
		CHECK(rc2 == -2);
		free(copy);
	}
	if (rc < 0)
		return;
	CHECK(buf[rc - 1] == '\n');
	rc2 = parse_copy(buf, (size_t)rc, &again, &copy);
	CHECK(rc2 == rc);
	CHECK(again.http_minor == rq->http_minor);
	CHECK(again.method.len == rq->method.len && again.path.len == rq->path.len);
	free(copy);

	struct ws_span spans[] = { rq->method, rq->path, rq->query, rq->host,
	                           rq->forwarded_host, rq->origin, rq->key,
	                           rq->version };
	for (size_t i = 0; i < sizeof spans / sizeof spans[0]; i++)
		span_inside(spans[i], buf, (size_t)rc);
	CHECK(rq->method.p != NULL && rq->method.len > 0);
	CHECK(rq->path.p != NULL && rq->query.p != NULL);
	CHECK(rq->http_minor >= 0 && rq->http_minor <= 9);
	value_clean(rq->host);
	value_clean(rq->forwarded_host);
	value_clean(rq->origin);
	value_clean(rq->key);
	value_clean(rq->version);
}

static int span_eq(struct ws_span s, const char *lit)
{
	return s.p && s.len == strlen(lit) && strncasecmp(s.p, lit, s.len) == 0;
}

/* A refusal or an acceptance into exactly sized buffers. */
static void check_answers(const struct ws_request *rq, int status,
                          const char *err)
{
	char big[2048], *exact;
	size_t n;

	if (status == 0) {
		n = ws_handshake_accept(big, sizeof big, rq);
		CHECK(n > 0 && memcmp(big, "HTTP/1.1 101 ", 13) == 0);
		const char *acc = strstr(big, "Sec-WebSocket-Accept: ");
		CHECK(acc != NULL);
		acc += strlen("Sec-WebSocket-Accept: ");
		CHECK(strspn(acc, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		                  "0123456789+/=") == WS_ACCEPT_LEN);
		CHECK(memcmp(acc + WS_ACCEPT_LEN, "\r\n\r\n", 4) == 0);
	} else {
		n = ws_handshake_refuse(big, sizeof big, status, err);
		CHECK(n > 0 && memcmp(big, "HTTP/1.1 ", 9) == 0);
		const char *body = strstr(big, "\r\n\r\n");
		const char *cl = strstr(big, "Content-Length: ");
		CHECK(body != NULL && cl != NULL && cl < body);
		body += 4;
		CHECK((size_t)strtoul(cl + 16, NULL, 10) == n - (size_t)(body - big));
		CHECK(strlen(body) == strlen(err) + 1 && body[strlen(err)] == '\n');
	}
	CHECK(n == strlen(big));
	/* snprintf needs room for its NUL: n + 1 bytes fit, n do not. */
	exact = malloc(n + 1);
	CHECK(exact != NULL);
	CHECK((status == 0 ? ws_handshake_accept(exact, n + 1, rq)
	                   : ws_handshake_refuse(exact, n + 1, status, err)) == n);
	CHECK(memcmp(exact, big, n) == 0);
	CHECK((status == 0 ? ws_handshake_accept(exact, n, rq)
	                   : ws_handshake_refuse(exact, n, status, err)) == 0);
	free(exact);
}

static void check_request(const struct ws_request *rq, const char *allowed)
{
	struct http_cursor cur, want;
	const char *err = NULL;
	int status = ws_request_check(rq, allowed, &cur, &err);

	CHECK(status == 0 || status == 400 || status == 403 || status == 404 ||
	      status == 405 || status == 426);
	CHECK((status == 0) == (err == NULL));
	if (status == 0) {
		CHECK(span_eq(rq->method, "GET"));
		CHECK(span_eq(rq->path, "/ws") || span_eq(rq->path, "/"));
		CHECK(rq->http_minor >= 1 && rq->host.p != NULL);
		CHECK(rq->upgrade_websocket && rq->connection_upgrade);
		CHECK(span_eq(rq->version, "13"));
		CHECK(rq->key.len == 24 && rq->key.p[22] == '=' && rq->key.p[23] == '=');
		for (size_t i = 0; i < 22; i++) {
			unsigned char c = (unsigned char)rq->key.p[i];
			CHECK((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			      (c >= '0' && c <= '9') || c == '+' || c == '/');
		}
		char *qs = fuzz_copy(rq->query.p, rq->query.len, 1);
		CHECK(http_cursor_parse(qs, &want) == NULL);
		CHECK(memcmp(&cur, &want, sizeof cur) == 0);
		CHECK(msg_check_channel(cur.channel, strlen(cur.channel)) == NULL);
		free(qs);
	}
	check_answers(rq, status, err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	const char *allowed = origins[fuzz_byte(&in) % 4];
	struct ws_request rq;
	char *buf;
	int rc;

	if (in.len > 2 * WS_REQUEST_MAX)
		return 0;
	rc = parse_copy((const char *)in.p, in.len, &rq, &buf);
	check_parse(buf, in.len, rc, &rq);
	if (rc > 0)
		check_request(&rq, allowed);
	free(buf);
	return 0;
}
