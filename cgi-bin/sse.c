/*
 * sse.c — Server-Sent Events: one long response that the server keeps
 * writing to.
 *
 *   GET /cgi-bin/sse.fcgi?channel=lobby            (Last-Event-ID: 41)
 *
 *   200 Content-Type: text/event-stream; charset=utf-8
 *   retry: 2000
 *
 *   id: 42
 *   event: message
 *   data: {"id":42,"channel":"lobby","user":"alice","text":"hi",...}
 *
 *   id: 43
 *   event: goal                     (a message published with event=goal)
 *   data: {"id":43,"channel":"lobby",...,"event":"goal"}
 *
 *   : heartbeat
 *
 * The one idea: the response never ends (well — see RT_SSE_MAX_AGE), and
 * each message is written as an event and *flushed* the moment it is stored.
 * The browser's EventSource parses the stream, remembers the last `id:`, and
 * when the connection drops it reconnects by itself after `retry:` ms,
 * sending that id in a Last-Event-ID header: we resume right after it, so
 * nothing is lost or repeated.
 *
 * Where we start: after Last-Event-ID (header) or `since` (query; the header
 * wins), or, without either, with the last `history` (0–500, default 20)
 * messages.  A cursor above the store's newest id (the database was
 * recreated) starts from the current end.
 *
 * Between messages the process sleeps in store_wait() (inotify on its
 * channel's notify file, lib/store.h), so an idle stream costs no CPU, and
 * a commit on another channel does not even wake it.  Every
 * RT_SSE_HEARTBEAT seconds (default 15) it writes a ": heartbeat" comment:
 * clients ignore comments, but it keeps proxies from timing the stream out
 * and it is how we notice a client that has gone — FastCGI tells us nothing
 * until a write fails, and then we leave the loop so the process is free for
 * the next request.  After RT_SSE_MAX_AGE seconds the stream ends cleanly;
 * the client reconnects with Last-Event-ID, and the server gets its process
 * back.  Every shipped config (apache-conf/) sets 300 s, with mod_fcgid's
 * FcgidBusyTimeout raised to 400 s above it; unset (a server configured
 * without those files) it is 240 s, below mod_fcgid's default busy timeout
 * of 300 s, which would otherwise kill the stream as a hung request.
 *
 * From a shell (http_accept() serves one CGI request when stdin is not a
 * FastCGI socket); events appear as they are stored, Ctrl-C stops it:
 *   sqlite3 /tmp/x.db < sql/schema.sql
 *   RT_DB=/tmp/x.db RT_SSE_HEARTBEAT=2 REQUEST_METHOD=GET \
 *       QUERY_STRING='history=5' ./cgi-bin/sse.fcgi
 * and publish from a second shell (send.fcgi, or sqlite3 as in longpoll.c).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <fcgiapp.h>

#include "clock.h"
#include "http.h"
#include "http_held.h"
#include "settings.h"
#include "sse.h"

#define RETRY_MS          2000  /* protocol.md: the client's reconnection delay */
#define HEARTBEAT_DEFAULT 15    /* s, when $RT_SSE_HEARTBEAT is unset */
#define MAX_AGE_DEFAULT   240   /* s, when $RT_SSE_MAX_AGE is unset: below
                                   mod_fcgid's own FcgidBusyTimeout (300) */
#define PROBE_MS(hb)      ((hb) / 4 < 1000 ? (hb) / 4 : 1000)  /* after a heartbeat */

/* ---- static helpers ----------------------------------------------------- */

/*
 * Writes len bytes and flushes them to the web server at once: without the
 * flush libfcgi keeps them in its 8 KiB buffer and the client sees nothing.
 * Returns 0, or -1 when the connection is gone.
 */
static int write_flush(struct http_req *r, const char *buf, long len)
{
	if (len < 0 || FCGX_PutStr(buf, (int)len, r->out) != (int)len)
		return -1;
	if (FCGX_FFlush(r->out) < 0 || FCGX_GetError(r->out) != 0)
		return -1;
	return 0;
}

/* One message as an event; the buffer grows to fit.  0 or -1. */
static int write_message(struct http_req *r, const struct store_msg *m,
                         char **buf, size_t *cap)
{
	size_t need = sse_event_max(strlen(m->event), m->json_len);

	if (need > *cap) {
		char *p = realloc(*buf, need);
		if (p == NULL)
			return -1;
		*buf = p;
		*cap = need;
	}
	/* The message's event name (docs/protocol.md "Messages", default "message") is
	 * the event's type: the browser dispatches it to
	 * addEventListener(<name>) (WHATWG HTML §9.2.6, "dispatch the event"). */
	return write_flush(r, *buf, sse_format_event(*buf, *cap, m->id, m->event,
	                                              m->json, m->json_len));
}

/*
 * Writes every message of the channel after *cursor, oldest first, each
 * flushed on its own, and moves *cursor past them.  0, or -1 when the store
 * or the connection failed.
 */
static int write_after(struct http_req *r, struct http_held *h, const char *channel,
                       int64_t *cursor, char **buf, size_t *cap)
{
	struct store_msgs ms = { NULL, 0 };
	int rc = 0;

	do {
		store_msgs_free(&ms);
		if (http_held_read_after(h, channel, *cursor, STORE_READ_MAX, &ms) < 0)
			return -1;
		for (size_t i = 0; i < ms.n && rc == 0; i++) {
			rc = write_message(r, &ms.v[i], buf, cap);
			*cursor = ms.v[i].id;
		}
	} while (rc == 0 && ms.n == STORE_READ_MAX);
	store_msgs_free(&ms);
	return rc;
}

/*
 * The last `history` messages of the channel; *cursor becomes the newest id
 * they or the store had before the read (see the comment in the handler).
 */
static int write_history(struct http_req *r, struct http_held *h, const char *channel,
                         int history, int64_t *cursor, char **buf, size_t *cap)
{
	struct store_msgs ms = { NULL, 0 };
	int rc = 0;

	if (history > 0 && http_held_read_last(h, channel, history, &ms) < 0)
		return -1;
	for (size_t i = 0; i < ms.n && rc == 0; i++) {
		rc = write_message(r, &ms.v[i], buf, cap);
		if (ms.v[i].id > *cursor)
			*cursor = ms.v[i].id;
	}
	store_msgs_free(&ms);
	return rc;
}

/*
 * The cursor: Last-Event-ID (what EventSource sends when it reconnects)
 * wins over since; an empty header counts as none, as EventSource never
 * sends one.  Returns NULL, or a sentence for a 400 answer.
 */
static const char *parse_last_event_id(const struct http_req *r,
                                       struct http_cursor *c)
{
	const char *s = http_req_param(r, "HTTP_LAST_EVENT_ID");
	long long id;

	if (s == NULL || s[0] == '\0')
		return NULL;
	if (http_parse_int(s, 0, INT64_MAX, &id) < 0)
		return "Last-Event-ID must be a message id >= 0";
	c->has_since = 1;
	c->since = id;
	return NULL;
}

/* ---- the request -------------------------------------------------------- */

static void handle_sse(struct http_req *r, struct http_held *h)
{
	int64_t heartbeat_ms = settings_int("RT_SSE_HEARTBEAT", 1, 24 * 3600,
	                                    HEARTBEAT_DEFAULT) * 1000;
	int64_t max_age_ms = settings_int("RT_SSE_MAX_AGE", 1, 24 * 3600,
	                                  MAX_AGE_DEFAULT) * 1000;
	int64_t cursor, last_id, now, end, next_heartbeat, next_probe = INT64_MAX;
	int probes = 0;
	struct http_cursor c;
	const char *err;
	char *buf = NULL, line[64];
	size_t cap = 0;

	if (strcmp(r->method, "GET") != 0) {
		http_send_error(r, 405, "sse takes GET only",
		                "Allow: GET\r\n");
		return;
	}
	if ((err = http_cursor_parse(r->query, &c)) != NULL ||
	    (err = parse_last_event_id(r, &c)) != NULL) {
		http_send_error(r, 400, err, NULL);
		return;
	}
	if (http_held_check(r, h) < 0)
		return;
	if (http_held_last_id(h, &last_id) < 0) {
		http_held_fail(r, h);
		return;
	}

	/*
	 * From here on the answer is a stream: the status is sent, and an error
	 * can only end it.  X-Accel-Buffering: no asks a proxy in front (nginx)
	 * not to buffer it; the web server's own buffering is the config's job
	 * (apache-conf/: FcgidOutputBufferSize 0, flushpackets=on).
	 */
	FCGX_PutS("Status: 200 OK\r\n"
	          "Content-Type: text/event-stream; charset=utf-8\r\n"
	          "Cache-Control: no-cache\r\n"
	          "X-Accel-Buffering: no\r\n"
	          "\r\n", r->out);
	if (write_flush(r, line, sse_format_retry(line, sizeof line, RETRY_MS)) < 0)
		goto out;

	/*
	 * Where to start.  last_id was read before any message, and everything
	 * up to it was committed before our reads: after the history, the
	 * larger of it and the newest message sent is a cursor that neither
	 * skips nor repeats a message.  A cursor beyond the store's end means
	 * the store was recreated: start from its current end.
	 */
	if (!c.has_since) {
		cursor = last_id;
		if (write_history(r, h, c.channel, c.history, &cursor, &buf, &cap) < 0)
			goto out;
	} else {
		cursor = c.since > last_id ? last_id : c.since;
	}

	/*
	 * The stream: send what is new, sleep until a commit, the next
	 * heartbeat or the end of the stream's life, and again.  Every write is
	 * flushed; the first one that fails ends the loop.
	 */
	now = clock_now_ms();
	end = now + max_age_ms;
	next_heartbeat = now + heartbeat_ms;
	if (http_held_watch(h, c.channel, cursor) < 0)   /* wake for this channel only */
		goto out;
	for (;;) {
		int64_t until;
		int woke;

		if (write_after(r, h, c.channel, &cursor, &buf, &cap) < 0)
			goto out;
		now = clock_now_ms();
		if (now >= end)
			break;                   /* the client reconnects with Last-Event-ID */
		if (now >= next_heartbeat) {
			/* Also the write that notices a client that has gone. */
			if (write_flush(r, line, sse_format_comment(line, sizeof line,
			                                            "heartbeat")) < 0)
				goto out;
			next_heartbeat = now + heartbeat_ms;
			probes = 2;
			next_probe = now + PROBE_MS(heartbeat_ms);
		} else if (probes > 0 && now >= next_probe) {
			/* A vanished client: the server's first write after the
			 * heartbeat only draws the peer's RST, its second fails and it
			 * closes our connection, our third write fails (docs/sse.md).
			 * Two blank lines, which EventSource ignores, get there within
			 * the heartbeat instead of two heartbeats later. */
			if (write_flush(r, "\n", 1) < 0)
				goto out;
			next_probe = --probes > 0 ? now + PROBE_MS(heartbeat_ms) : INT64_MAX;
		}
		until = next_heartbeat < end ? next_heartbeat : end;
		if (next_probe < until)
			until = next_probe;
		do {
			woke = http_held_wait(h, (int)(until - now));
			now = clock_now_ms();
		} while (woke == 0 && now < until && !http_stopping());
		if (woke < 0 || http_stopping())
			goto out;        /* SIGTERM: end cleanly, the client resumes */
		if (woke == STORE_WAIT_RESET) {
			/* The database was recreated: go on with the new one from its
			 * first message, so nothing stored in it is lost (docs/store.md). */
			if (http_held_reopen(h) < 0 || http_held_watch(h, c.channel, 0) < 0)
				goto out;
			cursor = 0;
		}
	}
out:
	http_held_unwatch(h);
	free(buf);
}

/* ---- main: the FastCGI accept loop -------------------------------------- */

int main(void)
{
	/* FastCGI: one request after another, or RT_FCGI_THREADS of them at
	 * once in threads that share one store wait (lib/http_held.h);
	 * CGI: exactly one. */
	return http_held_serve(handle_sse);
}
