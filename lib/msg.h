/*
 * msg.h — the message rules, shared by every transport (pure layer: no
 * FastCGI, no store).  The one place for the fields' limits, defaults and
 * checks: send.fcgi and the WebSocket helper both call msg_fields_check().
 *
 *   channel  [A-Za-z0-9_-]{1,64}, default "lobby"
 *   user     1–32 characters of valid UTF-8, default "anon"
 *   text     1–4096 bytes of valid UTF-8
 *   event    [a-z][a-z0-9_-]{0,31}, default "message": the message's name
 *            (SSE writes it as the "event:" line; JSON answers carry it
 *            only when it is not "message")
 *
 * Each check returns NULL when the value is acceptable, otherwise a static
 * sentence that becomes the "detail" of a 400 answer (or a WebSocket error).
 * The store takes C strings, so user and text must not contain a NUL byte
 * either (a JSON "\u0000" or a form "%00"): that is refused like invalid UTF-8.
 *
 * The second half reads the members of a JSON message body — send.fcgi's
 * application/json body, the WebSocket helper's client frames — with SQLite's
 * JSON1 functions (json_valid, json_type, json_extract), so rtlab never
 * hand-writes a JSON parser (SQLite as a parser on a private :memory:
 * connection, not the store).
 */
#ifndef RTLAB_MSG_H
#define RTLAB_MSG_H

#include <stddef.h>

#define MSG_DEFAULT_CHANNEL "lobby"
#define MSG_DEFAULT_USER    "anon"
#define MSG_CHANNEL_MAX     64    /* bytes, [A-Za-z0-9_-] */
#define MSG_USER_MAX        32    /* characters (code points) of UTF-8 */
#define MSG_TEXT_MAX        4096  /* bytes of UTF-8 */
#define MSG_USER_BYTES_MAX  (MSG_USER_MAX * 4)   /* 32 four-byte characters */
#define MSG_DEFAULT_EVENT   "message"
#define MSG_EVENT_MAX       32    /* bytes, [a-z][a-z0-9_-]* */

const char *msg_check_channel(const char *s, size_t len);
const char *msg_check_user(const char *s, size_t len);
const char *msg_check_text(const char *s, size_t len);
const char *msg_check_event(const char *s, size_t len);

/*
 * 1 if, for a client that has fallen behind, a message with this event
 * replaces the same user's undelivered message with the same event
 * ("latest wins": a position matters only as the newest one), else 0.
 * The WebSocket helper asks it for every queued frame (ws/conn.c);
 * docs/scenarios.md, "Design: latest wins in the helper".
 */
int msg_event_latest_wins(const char *event);

/* ---- reading a JSON body ------------------------------------------------ */

/*
 * The string members a message body may carry.  A member that is absent or
 * JSON null has s == NULL; otherwise s points to its decoded UTF-8 text
 * (NUL-terminated, len bytes).  Borrowed: valid until the next
 * msg_json_parse() or msg_json_close() on the same reader.
 */
struct msg_field {
	const char *s;
	size_t len;
};

struct msg_fields {
	struct msg_field type;     /* the WebSocket frame's "type" */
	struct msg_field channel;
	struct msg_field user;
	struct msg_field text;
	struct msg_field event;
	int bad_member;            /* msg_json_parse failed only because channel,
	                              user, text or event is not a string: the body
	                              is a JSON object, and type (if a string) is read */
};

/*
 * The defaults, then the rules: a channel, user or event that is absent (s
 * NULL) becomes "lobby", "anon" or "message"; text is required; then
 * msg_check_*() on each.
 * Returns NULL, or a static sentence for a 400 answer (WebSocket: an error
 * frame).
 */
const char *msg_fields_check(struct msg_fields *f);

struct msg_json;

/*
 * A reader owns a private in-memory SQLite connection (":memory:", no file)
 * and one prepared statement; open it once per process.  Returns NULL and
 * sets *errstr on failure.  Free with msg_json_close() (accepts NULL).
 */
struct msg_json *msg_json_open(const char **errstr);
void msg_json_close(struct msg_json *mj);

/*
 * Reads body (len bytes, need not be NUL-terminated) as a JSON object and
 * fills *f.  Returns NULL, or a static sentence for a 400 answer (WebSocket:
 * close 1008): the body is not valid UTF-8, holds a NUL byte or a "\u0000"
 * escape, is over 1 MiB, is not RFC 8259 JSON, is not an object, or one
 * of the members above is present with a type other than string (or
 * null).  Unknown members are ignored; of duplicate members the first
 * counts.  The values are not checked against the message rules: call
 * msg_check_*().  When the only fault is a channel, user, text or event of the
 * wrong type ("text":5), f->bad_member is 1 and f->type is still filled:
 * the WebSocket helper answers that like any other bad field (an error
 * frame), not like a frame that is not JSON (close 1008).
 */
const char *msg_json_parse(struct msg_json *mj, const char *body, size_t len,
                           struct msg_fields *f);

#endif
