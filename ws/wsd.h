/*
 * wsd.h — what the helper's three files share.
 *
 *   main.c  options, the listening socket, signals, the event loop and its
 *           once-a-second tick
 *   conn.c  one client: handshake, frames in, the output queue out, close
 *   hub.c   the store in the loop: channels, replay on connect, fan-out of
 *           every new row to the subscribers of its channel
 */
#ifndef RTLAB_WS_WSD_H
#define RTLAB_WS_WSD_H

#include <stddef.h>
#include <stdint.h>

#include "clock.h"
#include "ws_frame.h"
#include "ws_handshake.h"

/* What an epoll registration points at: the first member of each source. */
enum src_kind { SRC_LISTENER, SRC_SIGNAL, SRC_STORE, SRC_CONN };

/*
 * Bytes ready to send, shared: a message is encoded into one frame and every
 * subscriber's queue holds a reference to it, instead of a copy.
 */
struct wsbuf {
	unsigned refs;
	size_t len;
	unsigned char data[];
};

struct wsbuf *wsbuf_new(size_t len);                     /* refs = 1 */
struct wsbuf *wsbuf_frame(int opcode, const void *payload, size_t len);
struct wsbuf *wsbuf_ref(struct wsbuf *b);
void wsbuf_unref(struct wsbuf *b);                       /* accepts NULL */

struct qnode {
	struct wsbuf *buf;
	struct qnode *next;
};

enum conn_state {
	CONN_HANDSHAKE,  /* reading the HTTP request */
	CONN_OPEN,       /* frames both ways */
	CONN_CLOSING,    /* our close frame (or HTTP refusal) is queued; input ignored */
	CONN_LINGER      /* all sent, write side shut: wait for the peer's EOF */
};

struct channel;

struct conn {
	enum src_kind kind;           /* SRC_CONN */
	int fd;
	enum conn_state state;
	unsigned long id;             /* for the log */
	char peer[48];
	int64_t deadline;             /* ms: handshake or close must end by then */
	int64_t next_ping;            /* ms */
	int awaiting_pong;
	int peer_closed;              /* the peer's close frame has arrived */
	int want_write;               /* EPOLLOUT registered */

	unsigned char *in;            /* unparsed input: the request head, or a
	                                 partial frame header; NULL when none */
	size_t in_len;
	struct ws_reader rd;

	struct qnode *out_head, *out_tail;
	size_t out_off;               /* bytes of out_head already written */
	int hello_queued;             /* the 101 answer is still in the queue */
	size_t out_bytes;             /* queued, not yet written */
	struct conn *pending_next;    /* on the to-flush list */
	int pending;

	/* subscription (hub.c) */
	struct channel *ch;
	struct conn *sub_prev, *sub_next;
	int replaying;                /* not yet live: still catching up */
	int64_t last_sent;            /* id of the last message queued to it */

	struct conn *prev, *next;     /* every connection */
};

/* The helper's settings and state; one instance, in main.c. */
struct wsd {
	int echo;
	int max_conns;
	int ping_ms;
	size_t queue_max;             /* output queue bound, bytes */
	int sndbuf;                   /* SO_SNDBUF per client; 0: kernel autotuning */
	const char *db_path;
	const char *allowed_origins;
	struct ae_loop *loop;
	struct conn *conns;           /* every connection */
	int nconns, nopen;
	struct conn *pending;         /* to flush before the next wait */
	int stopping;
	unsigned long next_id;
};
extern struct wsd wsd;

void wsd_log(const struct conn *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* conn.c */
struct conn *conn_new(int fd, const char *peer);
void conn_on_event(struct conn *c, int mask);
void conn_send(struct conn *c, struct wsbuf *b);      /* takes a new reference */
void conn_close_with(struct conn *c, int code, const char *why);
void conn_tick(struct conn *c, int64_t now);
void conn_flush_pending(void);

/* hub.c */
int hub_open(void);                    /* 0, or -1 (retried by hub_tick) */
void hub_close(void);
int hub_ready(void);                   /* the store is open */
const char *hub_subscribe(struct conn *c, const struct http_cursor *p);
void hub_unsubscribe(struct conn *c);
void hub_replay(struct conn *c);       /* continue a replay as the queue drains */
void hub_on_store_event(void);         /* the wait fd fired */
int hub_wait_ms(void);                 /* how long the loop may sleep */
void hub_tick(void);
void hub_client_message(struct conn *c, const unsigned char *data, size_t len);

#endif
