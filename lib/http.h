/*
 * http.h — the HTTP side shared by the FastCGI endpoints (and, for the pure
 * functions, by the WebSocket helper's handshake).
 *
 * Two halves:
 *  - pure functions on strings (query/form decoding, the checked number
 *    parser, the Origin rule): no I/O, unit-tested in tests/unit/check_http.c;
 *  - functions on a struct http_req, which wraps one FastCGI request
 *    (fcgiapp.h FCGX_*): bounded body reading, JSON and error answers.
 *
 * Ownership: every const char * in struct http_req is borrowed from libfcgi
 * and valid until the next FCGX_Accept().
 */
#ifndef RTLAB_HTTP_H
#define RTLAB_HTTP_H

#include <stddef.h>
#include <fcgiapp.h>

#define HTTP_BODY_MAX  (16 * 1024)  /* SPEC: 413 above this */
#define HTTP_PARAM_MAX 8192         /* longest decoded query/form value we accept */

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
 * The Origin rule of SPEC.md for POST and the WebSocket handshake: a request
 * without Origin passes (curl); otherwise the Origin must be listed in
 * allowed (space-separated, e.g. "http://a.example https://b.example"; pass
 * getenv("RT_ALLOWED_ORIGINS")), or, when allowed is NULL/empty, its host[:port]
 * must equal the request's Host.  Returns 1 allowed, 0 refused.
 */
int http_origin_allowed(const char *origin, const char *host,
                        const char *allowed);

/* ---- one FastCGI request ----------------------------------------------- */

struct http_req {
	FCGX_Stream *in, *out, *err;
	FCGX_ParamArray env;
	const char *method;        /* REQUEST_METHOD, never NULL */
	const char *query;         /* QUERY_STRING, never NULL ("" if absent) */
	const char *content_type;  /* CONTENT_TYPE or NULL */
	const char *origin;        /* HTTP_ORIGIN or NULL */
	const char *host;          /* HTTP_HOST or NULL */
};

void http_req_init(struct http_req *r, FCGX_Stream *in, FCGX_Stream *out,
                   FCGX_Stream *err, FCGX_ParamArray env);
/* FCGX_GetParam for this request; NULL if absent. */
const char *http_req_param(const struct http_req *r, const char *name);

/*
 * Reads the body (CONTENT_LENGTH bytes, at most max) into buf and
 * NUL-terminates it.  Returns 0, or the HTTP status to answer: 413 if
 * CONTENT_LENGTH is above max, 400 if it is malformed or the body is short.
 */
int http_read_body(struct http_req *r, char *buf, size_t max, size_t *len);

/*
 * Writes a complete answer: "Status:", Content-Type application/json;
 * charset=utf-8, Cache-Control (cache, e.g. "no-store"), any extra header
 * lines (each ending "\r\n", or NULL), a blank line, then body (already JSON).
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

#endif
