/*
 * send.c — publish one message.  The write side of every technique.
 *
 *   POST /cgi-bin/send.fcgi
 *   Content-Type: application/x-www-form-urlencoded   (an HTML form, curl -d)
 *       channel=lobby&user=alice&text=hi
 *   Content-Type: application/json                    (fetch with a JSON body)
 *       {"channel":"lobby","user":"alice","text":"hi"}
 *
 *   201 Created
 *   Content-Type: application/json; charset=utf-8
 *   Cache-Control: no-store
 *
 *   {"id":42,"channel":"lobby","user":"alice","text":"hi","ts":1795830491671,"via":"http"}
 *
 * The one idea: a message is committed to SQLite *before* anyone is told
 * about it.  The 201 answer is the stored row itself (its id is the cursor
 * every reader resumes from), and every subscriber — short poll, long poll,
 * SSE, WebSocket — finds it in the same table, whichever process it runs in.
 * send.fcgi does not know who listens: the held connections are woken by the
 * store's change wait (lib/store.c), not by this program.
 *
 * channel defaults to "lobby" and user to "anon"; text is required.  An
 * optional event names the message (docs/protocol.md "Messages", [a-z][a-z0-9_-]{0,31},
 * default "message"): SSE subscribers receive it as the "event:" line, so a
 * page can addEventListener('goal', …); the JSON answers carry "event" when
 * it is not "message":
 *       channel=match&user=referee&event=goal&text=1-0
 *   201 {"id":43,"channel":"match","user":"referee","text":"1-0",
 *        "ts":1795830491700,"via":"http","event":"goal"}
 *
 * Bad input gets docs/protocol.md's status and a JSON error, and the process goes on
 * serving: 405 (not POST, with Allow), 403 (an Origin that is not ours),
 * 415 (neither form nor JSON), 413 (body over 16 KiB), 400 (bad JSON, a
 * member that is not a string, invalid UTF-8, a NUL character, an empty or
 * over-long field, a bad channel or event name), 503 (the store is
 * unavailable).
 *
 * From a shell (http_accept() serves one CGI request when stdin is not a
 * FastCGI socket):
 *   sqlite3 /tmp/x.db < sql/schema.sql
 *   printf 'user=me&text=hello' | RT_DB=/tmp/x.db REQUEST_METHOD=POST \
 *       CONTENT_TYPE=application/x-www-form-urlencoded CONTENT_LENGTH=18 \
 *       ./cgi-bin/send.fcgi
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fcgiapp.h>

#include "http.h"
#include "msg.h"
#include "store.h"

/* A user name is at most 32 four-byte characters; one byte more tells
 * "too long" from "fits" (http_form_get fails on a longer value). */
#define USER_BUF   (MSG_USER_MAX * 4 + 2)
#define TEXT_BUF   (MSG_TEXT_MAX + 2)

/* ---- static helpers ----------------------------------------------------- */

/* Decoded form values live here until the message is stored. */
static char form_channel[MSG_CHANNEL_MAX + 2];
static char form_user[USER_BUF];
static char form_text[TEXT_BUF];
static char form_event[MSG_EVENT_MAX + 2];

/* One form field into buf; a field that is absent leaves f->s NULL. */
static const char *form_field(const char *body, const char *name, char *buf,
                              size_t buflen, struct msg_field *f,
                              const char *bad)
{
	int rc = http_form_get(body, name, buf, buflen, &f->len);

	if (rc < 0)
		return bad;
	f->s = rc == 1 ? buf : NULL;
	return NULL;
}

/* application/x-www-form-urlencoded: the same decoding as a query string. */
static const char *read_form(const char *body, size_t len, struct msg_fields *f)
{
	const char *err;

	memset(f, 0, sizeof *f);
	/* http_form_get reads a C string: a raw NUL would hide the rest. */
	if (memchr(body, '\0', len) != NULL)
		return "body holds a NUL byte";
	if ((err = form_field(body, "channel", form_channel, sizeof form_channel,
	                      &f->channel, "channel is malformed or too long")) ||
	    (err = form_field(body, "user", form_user, sizeof form_user,
	                      &f->user, "user is malformed or too long")) ||
	    (err = form_field(body, "text", form_text, sizeof form_text,
	                      &f->text, "text is malformed or longer than 4096 bytes")) ||
	    (err = form_field(body, "event", form_event, sizeof form_event,
	                      &f->event, "event is malformed or longer than 32 characters")))
		return err;
	return NULL;
}

/* ---- the request handler ------------------------------------------------ */

static void handle_send(struct http_req *r, struct store **st,
                        struct msg_json *mj)
{
	static char body[HTTP_BODY_MAX + 1];
	struct msg_fields f;
	struct store_msg m;
	const char *err;
	size_t len;
	int json, status;

	if (strcmp(r->method, "POST") != 0) {
		http_send_error(r, 405, "send takes POST only",
		                "Allow: POST\r\n");
		return;
	}
	/* A page on another site must not post as our users (a CSRF form);
	 * curl sends no Origin and passes. */
	if (!http_origin_allowed(r->origin, r->host, getenv("RT_ALLOWED_ORIGINS"))) {
		http_send_error(r, 403, "cross-origin POST refused", NULL);
		return;
	}
	if (http_content_type_is(r->content_type, "application/json"))
		json = 1;
	else if (http_content_type_is(r->content_type,
	                              "application/x-www-form-urlencoded"))
		json = 0;
	else {
		http_send_error(r, 415, "send takes "
		                "application/x-www-form-urlencoded or application/json "
		                "(UTF-8)", NULL);
		return;
	}
	if ((status = http_read_body(r, body, HTTP_BODY_MAX, &len)) != 0) {
		if (status == 413)
			http_send_error(r, 413, "body is over 16 KiB", NULL);
		else
			http_send_error(r, 400, "body is shorter than its "
			                "Content-Length", NULL);
		return;
	}

	if (json && mj == NULL) {
		http_send_error(r, 503, "the JSON reader cannot be opened",
		                HTTP_RETRY_AFTER);
		return;
	}
	err = json ? msg_json_parse(mj, body, len, &f) : read_form(body, len, &f);
	if (err == NULL)
		err = msg_fields_check(&f);    /* defaults, then the rules (lib/msg.c) */
	if (err != NULL) {
		http_send_error(r, 400, err, NULL);
		return;
	}

	if (http_store_check(r, st) < 0)
		return;
	if (store_insert_event(*st, f.channel.s, f.event.s, f.user.s, f.text.s,
	                       "http", &m) < 0) {
		http_store_fail(r, st);
		return;
	}
	http_send_json(r, 201, "no-store", NULL, m.json, m.json_len);
	store_msg_clear(&m);
}

/* ---- main: the FastCGI accept loop -------------------------------------- */

int main(void)
{
	struct http_req r;
	struct store *st = store_open(NULL, NULL);   /* retried per request */
	struct msg_json *mj = msg_json_open(NULL);

	/* FastCGI: one request after another; CGI: exactly one. */
	while (http_accept(&r) >= 0)
		handle_send(&r, &st, mj);
	msg_json_close(mj);
	store_close(st);
	return 0;
}
