/*
 * http.h — one FastCGI (or CGI) request, for the endpoints in cgi-bin/
 * (I/O layer: the only lib header that includes fcgiapp.h).
 *
 *   lib/http.c       the request in: the accept loop (FastCGI, or one CGI
 *                    request from a shell), SIGTERM, parameters, the body
 *   lib/http_send.c  the answer out: JSON and error answers, the store's
 *                    503s, the one-line log
 *
 * The pure helpers an endpoint also needs come with it: query and cursor
 * parsing (http_query.h), header rules (http_header.h), the status table and
 * error JSON (http_status.h).  The poll answer, which reads the store, is in
 * http_poll.h.  Layers: lib/README.md.
 *
 * Ownership: every const char * in struct http_req is borrowed from libfcgi
 * (or the process environment) and valid until the next http_accept().
 * Unit-tested in tests/unit/check_http.c.
 */
#ifndef RTLAB_HTTP_H
#define RTLAB_HTTP_H

#include <stddef.h>
#include <fcgiapp.h>

#include "http_header.h"
#include "http_query.h"
#include "http_status.h"

#define HTTP_BODY_MAX  (16 * 1024)  /* protocol.md: 413 above this */
#define HTTP_DRAIN_MAX (1024 * 1024) /* body bytes read and dropped before a 413 */

struct store;

/* ---- the request in (http.c) ------------------------------------------- */

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

/*
 * What http_accept() does first, for a process that accepts with
 * FCGX_Accept_r() from threads instead (lib/http_held.c): FCGX_Init() and the
 * SIGTERM handler.  Idempotent; call it before starting threads.
 */
void http_init(void);

/*
 * Reads and drops what is left of the request body (at most HTTP_DRAIN_MAX):
 * a FastCGI connection closed with unread input is reset and the server may
 * lose the answer.  http_accept() does it for the previous request.
 */
void http_req_drain(struct http_req *r);

void http_req_init(struct http_req *r, FCGX_Stream *in, FCGX_Stream *out,
                   FCGX_Stream *err, FCGX_ParamArray env);
/* FCGX_GetParam for this request; NULL if absent. */
const char *http_req_param(const struct http_req *r, const char *name);

/*
 * Reads the body (CONTENT_LENGTH bytes, at most max) into buf, which holds
 * max + 1 bytes, and NUL-terminates it.  Without CONTENT_LENGTH it reads to
 * the end of the input.  Returns 0, or the HTTP status to answer: 413 if the
 * body is above max (up to HTTP_DRAIN_MAX of it is read and dropped first,
 * so the server is not left writing into a connection nobody reads; a
 * declared length above HTTP_DRAIN_MAX is refused at once, unread: those
 * bytes may never come), 400 if CONTENT_LENGTH is malformed or the body is
 * shorter than it says.
 */
int http_read_body(struct http_req *r, char *buf, size_t max, size_t *len);

/* ---- the answer out (http_send.c) --------------------------------------- */

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
 * The error answer {"error":"<code>","detail":"<detail>"} (http_error_json:
 * the code comes from the status, so it is the same everywhere) with
 * Cache-Control: no-store, plus extra headers (Allow for 405, Retry-After
 * for 503).  Also logs one line to stderr (the server's error log): method,
 * script, status, detail.
 */
void http_send_error(struct http_req *r, int status, const char *detail,
                     const char *extra_headers);

/*
 * The store of an endpoint process, opened once before the accept loop
 * (store_open(NULL, NULL) reads $RT_DB; it may fail, e.g. the database is
 * not created yet).  http_store_check(): if *st is NULL (or its file was
 * replaced), opens it again; if that fails too, answers 503 with
 * Retry-After and returns -1, else 0.  http_store_fail(): answers 503 with
 * Retry-After for a store call that failed, and closes *st so the next
 * request opens it afresh.
 */
#define HTTP_RETRY_AFTER "Retry-After: 2\r\n"
int http_store_check(struct http_req *r, struct store **st);
void http_store_fail(struct http_req *r, struct store **st);

/* One line to stderr (the server's error log):
 *   "rtlab <script>: <method> <status> <detail>"  */
void http_log(struct http_req *r, int status, const char *detail);

#endif
