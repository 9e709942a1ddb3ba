/*
 * longpoll.c — long polling: the server holds the request until there is
 * something to say.
 *
 *   GET /cgi-bin/longpoll.fcgi?channel=lobby&since=41&timeout=25
 *
 *   200 {"messages":[{"id":42,"channel":"lobby","user":"alice","text":"hi",
 *        "ts":1795830491671,"via":"http"}],"last_id":42}
 *
 * The one idea: a poll that is not answered until a message with id > since
 * exists on the channel, or until `timeout` seconds have passed (0–55;
 * default $RT_LONGPOLL_TIMEOUT, else 25): then 200 with an empty list and
 * the store's newest id as last_id.  The client sends its next request with
 * since=last_id as soon as it has an answer, so a message reaches it the
 * moment it is stored — without the client asking every second.
 *
 * Waiting costs nothing: the process sleeps in store_wait() (poll() on an
 * inotify watch of its channel's notify file, see lib/store.h) and wakes
 * when another process commits on our channel; a commit on another channel
 * does not wake us at all.
 *
 * Without since, or with a since above the store's newest id (the database
 * was recreated), it answers at once, like poll.
 *
 * A client that gives up while we hold its request: FastCGI gives us no
 * reliable sign of that (the web server does not read from the client while
 * it waits for our answer), so the request is held until a message or the
 * timeout; the answer's write then fails or is discarded by the server, and
 * the process takes the next request.  The timeout is what bounds it, which
 * is one reason it is at most 55 s (the other: proxies and browsers give up
 * on silent requests after about 60 s).
 *
 * From a shell (http_accept() serves one CGI request when stdin is not a
 * FastCGI socket):
 *   sqlite3 /tmp/x.db < sql/schema.sql
 *   RT_DB=/tmp/x.db REQUEST_METHOD=GET QUERY_STRING='since=0&timeout=20' \
 *       ./cgi-bin/longpoll.fcgi
 * and, within 20 s, publish from a second shell (send.fcgi, or sqlite3):
 *   sqlite3 /tmp/x.db "INSERT INTO messages (channel, user, text, ts, via)
 *                      VALUES ('lobby', 'me', 'hi', 0, 'http')"
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <fcgiapp.h>

#include "clock.h"
#include "http.h"
#include "http_held.h"
#include "http_poll.h"
#include "settings.h"

#define TIMEOUT_DEFAULT  25    /* s, when $RT_LONGPOLL_TIMEOUT is unset */
#define TIMEOUT_MAX      55    /* s: below the ~60 s proxies allow a silent request */

/* ---- static helpers ----------------------------------------------------- */

/*
 * The hold time in seconds: the query's timeout, else $RT_LONGPOLL_TIMEOUT,
 * else 25.  Returns NULL, or a sentence for a 400 answer.
 */
static const char *parse_timeout(const char *qs, long long *timeout)
{
	int found = http_form_int(qs, "timeout", 0, TIMEOUT_MAX, timeout);

	if (found < 0)
		return "timeout must be a number of seconds, 0-55";
	if (!found)
		*timeout = settings_int("RT_LONGPOLL_TIMEOUT", 0, TIMEOUT_MAX,
		                        TIMEOUT_DEFAULT);
	return NULL;
}

/* ---- the request -------------------------------------------------------- */

static void handle_longpoll(struct http_req *r, struct http_held *h)
{
	struct http_poll p = { { NULL, 0 }, 0, 0 };
	struct http_cursor c;
	const char *err;
	long long timeout;
	int64_t deadline;
	size_t len;
	char *body;

	if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0) {
		http_send_error(r, 405, "longpoll takes GET only",
		                "Allow: GET, HEAD\r\n");
		return;
	}
	if ((err = http_cursor_parse(r->query, &c)) != NULL ||
	    (err = parse_timeout(r->query, &timeout)) != NULL) {
		http_send_error(r, 400, err, NULL);
		return;
	}
	if (http_held_check(r, h) < 0)
		return;

	/*
	 * Read; while there is nothing after since, sleep until a commit on our
	 * channel (store_watch, store_wait), then read again.  A wake may rarely
	 * be spurious: the read finds nothing and we wait for the time left.
	 * No since, or a reset, answers at once, like poll.
	 */
	deadline = clock_now_ms() + timeout * 1000;
	if (c.has_since && http_held_watch(h, c.channel, c.since) < 0)
		goto fail;
	for (;;) {
		int64_t left;
		int woke;

		http_poll_free(&p);
		if (http_held_poll_read(h, &c, &p) < 0)
			goto fail;
		left = deadline - clock_now_ms();
		if (p.msgs.n > 0 || p.reset || !c.has_since || left <= 0 ||
		    http_stopping())      /* SIGTERM: answer now, empty */
			break;
		if ((woke = http_held_wait(h, (int)left)) < 0)
			goto fail;
		if (woke == STORE_WAIT_RESET) {
			/* The database was recreated: answer reset with its newest id,
			 * as for a since above it (docs/protocol.md, docs/store.md). */
			if (http_held_reopen(h) < 0)
				goto fail;
			c.since = INT64_MAX;
		}
	}
	if ((body = http_poll_json(&p, &len)) == NULL) {
		http_send_error(r, 503, "out of memory", HTTP_RETRY_AFTER);
		goto out;
	}
	http_send_json(r, 200, "no-store", NULL, body, len);
	free(body);
out:
	http_held_unwatch(h);
	http_poll_free(&p);
	return;
fail:
	http_held_unwatch(h);
	http_poll_free(&p);
	http_held_fail(r, h);
}

/* ---- main: the FastCGI accept loop -------------------------------------- */

int main(void)
{
	/* FastCGI: one request after another, or RT_FCGI_THREADS of them at
	 * once in threads that share one store wait (lib/http_held.h);
	 * CGI: exactly one. */
	return http_held_serve(handle_longpoll);
}
