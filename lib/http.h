/*
 * http.h — the HTTP side shared by the FastCGI endpoints (and, for the pure
 * functions, by the WebSocket helper's handshake).
 *
 * Three parts, all unit-tested in tests/unit/check_http.c:
 *  - pure functions on strings: query/form decoding, the checked number
 *    parser, the Origin rule, Content-Type matching, ETags, and the read
 *    cursor (channel/since/limit/history) every reading endpoint shares;
 *  - the poll answer ({"messages":[...],"last_id":N}), read from the store,
 *    shared by poll and long-poll;
 *  - functions on a struct http_req, which wraps one FastCGI (or CGI)
 *    request: the accept loop, bounded body reading, JSON and error answers,
 *    the store's 503s, the one-line log.
 *
 * Ownership: every const char * in struct http_req is borrowed from libfcgi
 * (or the process environment) and valid until the next http_accept().
 */
#ifndef RTLAB_HTTP_H
#define RTLAB_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <fcgiapp.h>

#include "store.h"

#define HTTP_BODY_MAX  (16 * 1024)  /* SPEC: 413 above this */
#define HTTP_PARAM_MAX 8192         /* longest decoded query/form value we accept */
#define HTTP_DRAIN_MAX (1024 * 1024) /* body bytes read and dropped before a 413 */
#define HTTP_ETAG_MAX  48           /* room for http_etag_make()'s tag + NUL */

/* ---- pure functions ---------------------------------------------------- */

/*
 * Finds name in an application/x-www-form-urlencoded string (a query string
 * or a form body) and percent/plus-decodes its first occurrence into buf
 * (NUL-terminated; *len gets the decoded length, which may contain NUL bytes).
 * Returns 1 found, 0 absent, -1 malformed (bad %-escape) or longer than
 * buflen-1.
 */
int http_form_get(const char *qs, const char *name, char *buf, size_t buflen,
                  size_t *len);

/*
 * The one checked number parser (OpenBSD strtonum): decimal digits only, no
 * sign unless min < 0, no spaces, within [min, max].  Returns 0 and sets *out,
 * or -1.  Never use atoi on input.
 */
int http_parse_int(const char *s, long long min, long long max, long long *out);

/*
 * A setting from the environment (RT_SSE_HEARTBEAT, RT_KEEP, ...) read with
 * the same parser: its value if set and within [min, max], else dflt.
 */
long long http_env_int(const char *name, long long min, long long max,
                       long long dflt);

/*
 * The Origin rule of SPEC.md for POST and the WebSocket handshake: a request
 * without Origin passes (curl); otherwise the Origin must be listed in
 * allowed (space-separated, e.g. "http://a.example https://b.example"; pass
 * getenv("RT_ALLOWED_ORIGINS")), or, when allowed is NULL/empty, its host[:port]
 * must equal the request's Host.  Returns 1 allowed, 0 refused.
 */
int http_origin_allowed(const char *origin, const char *host,
                        const char *allowed);

/*
 * 1 if the media type of a Content-Type value (before any ";" parameter,
 * spaces trimmed) equals type, compared case-insensitively (RFC 9110
 * §8.3.1), else 0.  content_type NULL gives 0.  A charset parameter, if
 * present, must be utf-8: rtlab stores UTF-8 only.
 */
int http_content_type_is(const char *content_type, const char *type);

/*
 * ETags for poll's conditional GET (RFC 9110 §8.8.3, §13.1.2).
 * http_etag_make() writes a strong tag, "<id>-<16 hex digits>" with its
 * quotes (NUL-terminated), into buf of HTTP_ETAG_MAX bytes: id is the
 * answer's last_id (for a reader's eye), the hex digits an FNV-1a 64 hash
 * of the whole body, so the tag changes whenever the body does.
 * http_etag_match() applies If-None-Match's weak comparison: 1 if the header
 * is "*" or lists etag (with or without W/), else 0 (NULL header: 0).
 */
void http_etag_make(char *buf, int64_t id, const char *body, size_t len);
int http_etag_match(const char *if_none_match, const char *etag);

/*
 * The read cursor of the query string, shared by poll, long-poll, SSE and the
 * WebSocket handshake: channel (default "lobby", msg_check_channel), since
 * (0..2^63-1; absent: has_since = 0), limit (1–500, default 100) and history
 * (0–500, default 20).  Each endpoint uses the fields it documents and
 * ignores the rest.  Returns NULL, or a static sentence for a 400 answer.
 */
#define HTTP_LIMIT_DEFAULT   100
#define HTTP_HISTORY_DEFAULT 20

struct http_cursor {
	char    channel[STORE_CHANNEL_MAX + 1];
	int     has_since;
	int64_t since;
	int     limit;
	int     history;
};

const char *http_cursor_parse(const char *qs, struct http_cursor *c);

/*
 * The poll answer, shared by poll and long-poll (SPEC "Cursors"):
 *  - since above the store's newest id: no messages, reset = 1, last_id =
 *    the newest id (the store was recreated; start again from there);
 *  - since given: the first `limit` messages of the channel with id > since;
 *  - no since: the channel's last `limit` messages;
 *  - last_id: the last message's id, or, with no messages, the store's newest
 *    id read *before* the messages, so it is always safe as the next since.
 * http_poll_read() returns 0, or -1 if the store failed (answer 503).
 * http_poll_json() builds {"messages":[...],"last_id":N[,"reset":true]}
 * from the messages' ready-made JSON (malloc'd, caller frees; NULL when out
 * of memory).  Free the answer with http_poll_free() (accepts NULL).
 */
struct http_poll {
	struct store_msgs msgs;
	int64_t last_id;
	int reset;
};

int http_poll_read(struct store *st, const struct http_cursor *c,
                   struct http_poll *p);
char *http_poll_json(const struct http_poll *p, size_t *len);
void http_poll_free(struct http_poll *p);

/* ---- one FastCGI request ----------------------------------------------- */

struct http_req {
	FCGX_Stream *in, *out, *err;
	FCGX_ParamArray env;
	const char *method;        /* REQUEST_METHOD, never NULL ("GET" if absent) */
	const char *query;         /* QUERY_STRING, never NULL ("" if absent) */
	const char *content_type;  /* CONTENT_TYPE or NULL */
	const char *origin;        /* HTTP_ORIGIN or NULL */
	const char *host;          /* HTTP_HOST or NULL */
};

/*
 * The accept loop's one call: waits for the next request and fills *r.
 *  - FastCGI (stdin is the listening socket mod_fcgid or spawn-fcgi handed
 *    us): FCGX_Accept(), which also finishes the previous request.
 *  - plain CGI (mod_cgi) or a shell (stdin is a pipe, a file or a tty):
 *    libfcgi's FCGX_Accept() refuses to run there, and only its stdio
 *    layer (fcgi_stdio.h) knows CGI, so the first call wraps stdin, stdout,
 *    stderr and environ in FCGX streams itself; the second flushes them and
 *    returns -1.  The same loop thus serves one request and exits.
 * Returns 0 for a request, -1 when there are no more.
 */
int http_accept(struct http_req *r);

/*
 * 1 once SIGTERM has arrived (http_accept() installs the handler).  A held
 * endpoint checks it whenever store_wait() returns and ends its answer
 * cleanly; http_accept() then returns -1 and the process exits.
 */
int http_stopping(void);

void http_req_init(struct http_req *r, FCGX_Stream *in, FCGX_Stream *out,
                   FCGX_Stream *err, FCGX_ParamArray env);
/* FCGX_GetParam for this request; NULL if absent. */
const char *http_req_param(const struct http_req *r, const char *name);

/*
 * Reads the body (CONTENT_LENGTH bytes, at most max) into buf, which holds
 * max + 1 bytes, and NUL-terminates it.  Without CONTENT_LENGTH it reads to
 * the end of the input.  Returns 0, or the HTTP status to answer: 413 if the
 * body is above max (up to HTTP_DRAIN_MAX of it is read and dropped first,
 * so the server is not left writing into a connection nobody reads), 400 if
 * CONTENT_LENGTH is malformed or the body is shorter than it says.
 */
int http_read_body(struct http_req *r, char *buf, size_t max, size_t *len);

/*
 * Writes a complete answer: "Status:", Content-Type application/json;
 * charset=utf-8, Content-Length, Cache-Control (cache, e.g. "no-store"), any
 * extra header lines (each ending "\r\n", or NULL), a blank line, then body
 * (already JSON).  A HEAD request gets the same headers and no body; status
 * 304 (or body NULL) gets no Content-Type, Content-Length or body.
 */
void http_send_json(struct http_req *r, int status, const char *cache,
                    const char *extra_headers, const char *body, size_t len);

/*
 * SPEC error answer {"error":"<code>","detail":"<detail>"} with Cache-Control:
 * no-store, plus extra headers (Allow for 405, Retry-After for 503).  code and
 * detail are constant sentences from our own code, never client input, so
 * they need no escaping.  Also logs one line to stderr (the server's error
 * log): method, script, status, detail.
 */
void http_send_error(struct http_req *r, int status, const char *code,
                     const char *detail, const char *extra_headers);

/*
 * The store of an endpoint process, opened once before the accept loop
 * (store_open(NULL, NULL) reads $RT_DB; it may fail, e.g. the database is
 * not created yet).  http_store_check(): if *st is NULL, opens it again; if
 * that fails too, answers 503 with Retry-After and returns -1, else 0.
 * http_store_fail(): answers 503 with Retry-After for a store call that
 * failed, and closes *st so the next request opens it afresh.
 */
#define HTTP_RETRY_AFTER "Retry-After: 2\r\n"
int http_store_check(struct http_req *r, struct store **st);
void http_store_fail(struct http_req *r, struct store **st);

/* One line to stderr (the server's error log):
 *   "rtlab <script>: <method> <status> <detail>"  */
void http_log(struct http_req *r, int status, const char *detail);

#endif
