/*
 * http_send.c — the answer out (see http.h): a CGI response is a "Status:"
 * header line, other headers, a blank line, the body (RFC 3875 §6); the web
 * server turns it into a real HTTP response.
 */
#include "http.h"

#include <errno.h>   /* program_invocation_short_name (GNU) */
#include <string.h>

#include "store.h"

void http_send_json(struct http_req *r, int status, const char *cache,
                    const char *extra_headers, const char *body, size_t len)
{
	int with_body = body != NULL && status != 304;

	FCGX_FPrintF(r->out, "Status: %d %s\r\n", status, http_status_reason(status));
	if (with_body)
		/* libfcgi's own printf knows no %zu. */
		FCGX_FPrintF(r->out, "Content-Type: application/json; charset=utf-8\r\n"
		             "Content-Length: %lu\r\n", (unsigned long)len);
	FCGX_FPrintF(r->out, "Cache-Control: %s\r\n", cache);
	if (extra_headers != NULL)
		FCGX_PutS(extra_headers, r->out);
	FCGX_PutS("\r\n", r->out);
	/* HEAD: the same headers, no body (RFC 9110 §9.3.2). */
	if (with_body && strcmp(r->method, "HEAD") != 0)
		FCGX_PutStr(body, (int)len, r->out);
}

void http_log(struct http_req *r, int status, const char *detail)
{
	const char *script = http_req_param(r, "SCRIPT_NAME");

	if (script == NULL || *script == '\0')
		script = program_invocation_short_name;
	else if (strrchr(script, '/') != NULL)
		script = strrchr(script, '/') + 1;
	FCGX_FPrintF(r->err, "rtlab %s: %s %d %s\n", script, r->method, status,
	             detail);
	FCGX_FFlush(r->err);
}

void http_send_error(struct http_req *r, int status, const char *detail,
                     const char *extra_headers)
{
	char body[512];
	size_t n = http_error_json(body, sizeof body, 0, status, detail);

	http_send_json(r, status, "no-store", extra_headers, body, n);
	http_log(r, status, detail);
}

int http_store_check(struct http_req *r, struct store **st)
{
	const char *err = "the message store cannot be opened";

	/* An admin may recreate the database under a long-lived FastCGI
	 * process; its connection would keep reading the unlinked old file. */
	if (*st != NULL && store_replaced(*st)) {
		store_close(*st);
		*st = NULL;
	}
	if (*st == NULL)
		*st = store_open(NULL, &err);
	if (*st != NULL)
		return 0;
	http_send_error(r, 503, err, HTTP_RETRY_AFTER);
	return -1;
}

void http_store_fail(struct http_req *r, struct store **st)
{
	http_send_error(r, 503, "the message store failed", HTTP_RETRY_AFTER);
	store_close(*st);
	*st = NULL;
}
