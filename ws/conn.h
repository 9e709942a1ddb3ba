/*
 * conn.h — one WebSocket client, as the rest of the helper sees it.
 *
 * struct conn is private to conn.c: the hub sends frames, asks how much
 * room a client's output queue has, and closes it, through these calls
 * only.  What happens to a client is reported upward through struct
 * conn_events, which main.c sets once (the hub's, or echo's).
 */
#ifndef RTLAB_WS_CONN_H
#define RTLAB_WS_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "http_query.h"
#include "wsbuf.h"

struct conn;

struct conn_events {
	/* Before the 101: NULL to accept, or the detail of a 503 refusal
	 * (the store is not open). */
	const char *(*admit)(void);
	/* After the 101: NULL, or why to close at once with 1011. */
	const char *(*open)(struct conn *c, const struct http_cursor *cur);
	/* A complete data message (text or binary). */
	void (*message)(struct conn *c, int opcode, const unsigned char *data,
	                size_t len);
	/* The output queue was written out: there may be room again. */
	void (*drained)(struct conn *c);
	/* The client leaves the open state (closing, gone): forget it now; no
	 * conn_send() to it will be delivered any more. */
	void (*closed)(struct conn *c);
};

void conn_set_events(const struct conn_events *ev);

/* Connections beyond --max-conns that are still accepted, each to be
 * refused with 503 at once; past that the listener pauses (main.c). */
#define CONN_REFUSE_SLOTS 64

/* A client just accepted on fd (non-blocking); NULL if out of memory.
 * Over wsd.max_conns connections (in any state) it is refused with 503. */
struct conn *conn_new(int fd, const char *peer);
/* The loop's call when fd is ready: AE_READABLE and/or AE_WRITABLE. */
void conn_on_event(struct conn *c, int mask);

/* Queues a frame (takes a new reference).  A client whose queue grows past
 * wsd.queue_max is closed with 1008: it resumes with since. */
void conn_send(struct conn *c, struct wsbuf *b);
/* Bytes that may still be queued before a replay should wait for the
 * drained event (half the queue bound); 0 once the client is not open. */
size_t conn_room(const struct conn *c);
int conn_is_open(const struct conn *c);
/* hold: stop reading c (TCP flow control then holds its sender); 0: read
 * again, first what was already read.  Used while c's messages wait for the
 * store; a client that hangs up meanwhile is still noticed. */
void conn_hold_input(struct conn *c, int hold);
void conn_close_with(struct conn *c, int code, const char *why);

/* What the events' owner keeps per client (the hub's subscription). */
void conn_set_data(struct conn *c, void *data);
void *conn_data(const struct conn *c);
/* "#id peer", for the log. */
const char *conn_name(const struct conn *c);

/* Every client: write out what was queued, run the timers (handshake and
 * close deadlines, pings), close with a code (shutdown), free them all. */
void conn_flush_pending(void);
void conn_tick_all(int64_t now);
void conn_close_all(int code, const char *why);
void conn_free_all(void);
int conn_count(void);          /* every connection */
int conn_open_count(void);     /* open WebSockets */

#endif
