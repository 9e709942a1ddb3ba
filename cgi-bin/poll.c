/*
 * poll.c — short polling: "anything new since id N?", answered at once.
 *
 *   GET /cgi-bin/poll.fcgi?channel=lobby&since=41&limit=100
 *
 *   200 OK
 *   Content-Type: application/json; charset=utf-8
 *   Cache-Control: no-cache
 *   ETag: "42-5c1b0e9f3a7d2e11"
 *
 *   {"messages":[{"id":42,"channel":"lobby","user":"alice","text":"hi",
 *                 "ts":1795830491671,"via":"http"}],"last_id":42}
 *
 * The one idea: the client asks on a timer and the server never waits.  The
 * client keeps a cursor — the last_id of the previous answer — and sends it
 * back as since; the answer holds every message of the channel with a larger
 * id (at most limit; ask again at once if you got limit), so nothing is lost
 * or repeated however often or rarely the client asks.  The price is latency
 * (up to one interval) and requests that mostly answer "nothing new": see
 * docs/polling.md for the arithmetic.
 *
 * Most polls find nothing new, so each answer carries an ETag (a hash of the
 * body) and Cache-Control: no-cache — "store it, but ask me before reusing
 * it".  A client that sends the tag back in If-None-Match gets a bodiless
 * 304 Not Modified while nothing changed (RFC 9110 §13.1.2, §15.4.5).  The
 * browser's fetch() does this by itself from its HTTP cache.
 *
 * Parameters (lib/http_query.c http_cursor_parse): channel (default lobby), since
 * (a message id; absent: the channel's last limit messages), limit (1–500,
 * default 100).  A since above the store's newest id means the database was
 * recreated: the answer is empty with "reset":true and the current last_id.
 * GET and HEAD (the same headers, no body); other methods get 405, a bad
 * parameter 400, an unavailable store 503 with Retry-After.
 *
 * From a shell (one CGI request; a 304 shows as its headers only):
 *   RT_DB=/tmp/x.db REQUEST_METHOD=GET QUERY_STRING='since=0' ./cgi-bin/poll.fcgi
 *   RT_DB=/tmp/x.db QUERY_STRING='since=0' HTTP_IF_NONE_MATCH='"42-…"' ./cgi-bin/poll.fcgi
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fcgiapp.h>

#include "http.h"
#include "http_poll.h"
#include "store.h"

/* ---- the request handler ------------------------------------------------ */

static void handle_poll(struct http_req *r, struct store **st)
{
	struct http_cursor c;
	struct http_poll p;
	char etag[HTTP_ETAG_MAX], headers[HTTP_ETAG_MAX + 16];
	const char *err;
	char *body;
	size_t len;

	if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0) {
		http_send_error(r, 405, "poll takes GET (or HEAD)",
		                "Allow: GET, HEAD\r\n");
		return;
	}
	if ((err = http_cursor_parse(r->query, &c)) != NULL) {
		http_send_error(r, 400, err, NULL);
		return;
	}
	if (http_store_check(r, st) < 0)
		return;
	if (http_poll_read(*st, &c, &p) < 0) {
		http_store_fail(r, st);
		return;
	}
	if ((body = http_poll_json(&p, &len)) == NULL) {
		http_poll_free(&p);
		http_send_error(r, 503, "out of memory", HTTP_RETRY_AFTER);
		return;
	}

	/* The tag hashes the body: it changes exactly when the answer does
	 * (a new message, a retention prune, another since or limit). */
	http_etag_make(etag, p.last_id, body, len);
	snprintf(headers, sizeof headers, "ETag: %s\r\n", etag);
	if (http_etag_match(http_req_param(r, "HTTP_IF_NONE_MATCH"), etag))
		http_send_json(r, 304, "no-cache", headers, NULL, 0);
	else
		http_send_json(r, 200, "no-cache", headers, body, len);
	free(body);
	http_poll_free(&p);
}

/* ---- main: the FastCGI accept loop -------------------------------------- */

int main(void)
{
	struct http_req r;
	struct store *st = store_open(NULL, NULL);   /* retried per request */

	/* FastCGI: one request after another; CGI: exactly one. */
	while (http_accept(&r) >= 0)
		handle_poll(&r, &st);
	store_close(st);
	return 0;
}
