/*
 * conn.c — one WebSocket client, from accept() to close().
 *
 *   HANDSHAKE  read the HTTP request (≤ 8 KiB, ≤ 10 s), answer 101 or a
 *              plain-text refusal
 *   OPEN       bytes in → ws_reader (lib/ws_frame.c) → events; frames out
 *              through a bounded queue of shared buffers
 *   CLOSING    our close frame (or refusal) is queued; input is ignored
 *   LINGER     everything sent, write side shut down: wait for the peer's
 *              EOF so our last bytes are not lost to a reset (RFC 6455
 *              §7.1.1: the server closes the TCP connection first)
 *
 * Upward, a client reports through struct conn_events (conn.h): the hub
 * (or echo mode) never reaches inside struct conn, which only this file
 * knows.
 *
 * Memory: an idle client holds only its struct conn (and the hub's small
 * subscription).  The request buffer
 * lives only during the handshake, the message buffer only while a message
 * arrives, queue nodes only while bytes wait: reads go through one static
 * buffer shared by every client.
 *
 * (Over 600 lines on purpose: the four states share one struct and one
 * queue, and reading the state machine top to bottom in one file is the
 * point of it.)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "ae.h"
#include "conn.h"
#include "clock.h"
#include "ws_frame.h"
#include "ws_handshake.h"
#include "wsd.h"

#define CLOSE_GRACE_MS      5000   /* CLOSING + LINGER may last this long */
#define HANDSHAKE_MS       10000
#define WRITEV_MAX             64

/* Every read lands here first: a whole 64 KiB frame, plus the few bytes of
 * a partial header a client may have left over from its previous read. */
static unsigned char rbuf[WS_MESSAGE_MAX + WS_HEADER_MAX + WS_CONTROL_MAX];

struct qnode {
	struct wsbuf *buf;
	struct qnode *next;
};

/* What one queued frame costs besides its bytes: its node and the
 * allocator's header (a small frame, e.g. a pong, is mostly this). */
#define QNODE_COST (sizeof(struct qnode) + 16)

enum conn_state {
	CONN_HANDSHAKE,  /* reading the HTTP request */
	CONN_OPEN,       /* frames both ways */
	CONN_CLOSING,    /* our close frame (or HTTP refusal) is queued; input ignored */
	CONN_LINGER      /* all sent, write side shut: wait for the peer's EOF */
};

struct conn {
	enum src_kind kind;           /* SRC_CONN: first, for the loop's dispatch */
	int fd;
	enum conn_state state;
	char who[64];                 /* "#id peer", for the log */
	int64_t deadline;             /* ms: handshake or close must end by then */
	int64_t next_ping;            /* ms */
	int awaiting_pong;
	int peer_closed;              /* the peer's close frame has arrived */
	int want_write;               /* EPOLLOUT registered */
	int input_held;               /* not reading: its messages wait for the store */

	unsigned char *in;            /* unparsed input: the request head, or a
	                                 partial frame header; NULL when none */
	size_t in_len;
	struct ws_reader rd;

	struct qnode *out_head, *out_tail;
	size_t out_off;               /* bytes of out_head already written */
	int hello_queued;             /* the 101 answer is still in the queue */
	size_t out_bytes;             /* queued, not yet written */
	size_t out_nodes;             /* frames queued (each costs QNODE_COST) */
	struct qnode *pong;           /* our pong still waiting in the queue */
	unsigned long superseded;     /* frames replaced by a newer one (latest wins) */
	struct conn *pending_next;    /* on the to-flush list */
	int pending;

	void *data;                   /* the events' owner's (the hub's subscription) */
	struct conn *prev, *next;     /* every connection */
};

static struct {
	const struct conn_events *ev;
	struct conn *all;             /* every connection */
	int n, nopen;
	struct conn *pending;         /* to flush before the next wait */
	unsigned long next_id;
	unsigned long queued;         /* queue allocations so far (fault injection) */
} conns;

/* What a client's queue holds, in bytes, nodes included. */
static size_t queue_cost(const struct conn *c)
{
	return c->out_bytes + c->out_nodes * QNODE_COST;
}

/* RT_WS_FAULT_QUEUE=N (tests only): every Nth queue allocation fails, as
 * if out of memory, so the 1011 path can be seen without starving the
 * machine. */
static int fault_due(void)
{
	conns.queued++;
	return wsd.fault_queue > 0 && conns.queued % (unsigned long)wsd.fault_queue == 0;
}

void conn_set_events(const struct conn_events *ev)
{
	conns.ev = ev;
}

void conn_set_data(struct conn *c, void *data)
{
	c->data = data;
}

void *conn_data(const struct conn *c)
{
	return c->data;
}

const char *conn_name(const struct conn *c)
{
	return c->who;
}

int conn_is_open(const struct conn *c)
{
	return c->state == CONN_OPEN;
}

size_t conn_room(const struct conn *c)
{
	size_t half = wsd.queue_max / 2, cost = queue_cost(c);

	if (c->state != CONN_OPEN || cost >= half)
		return 0;
	return half - cost;
}

int conn_count(void)
{
	return conns.n;
}

int conn_open_count(void)
{
	return conns.nopen;
}

static void refuse(struct conn *c, int status, const char *detail);

/* The client leaves the open state: the events' owner forgets it. */
static void leave_open(struct conn *c)
{
	conns.nopen--;
	if (conns.ev && conns.ev->closed)
		conns.ev->closed(c);
}

/* ---- the connection list and the output queue --------------------------- */

struct conn *conn_new(int fd, const char *peer)
{
	struct conn *c = calloc(1, sizeof *c);

	if (!c)
		return NULL;
	c->kind = SRC_CONN;
	c->fd = fd;
	c->state = CONN_HANDSHAKE;
	snprintf(c->who, sizeof c->who, "#%lu %.48s", ++conns.next_id, peer);
	c->deadline = clock_now_ms() + HANDSHAKE_MS;
	ws_reader_init(&c->rd, 1);
	if (ae_add(wsd.loop, fd, AE_READABLE, c) < 0) {
		free(c);
		return NULL;
	}
	c->next = conns.all;
	if (conns.all)
		conns.all->prev = c;
	conns.all = c;
	conns.n++;
	/* --max-conns counts every connection, whatever its state: one in the
	 * handshake or closing holds a descriptor just like an open one.  The
	 * few over the cap (main.c accepts at most CONN_REFUSE_SLOTS more) get
	 * their 503 at once, without waiting for their request. */
	if (conns.n > wsd.max_conns)
		refuse(c, 503, "connection limit reached");
	return c;
}

static void queue_drop(struct conn *c, int keep_started)
{
	struct qnode *n = c->out_head, *keep = NULL;

	if (keep_started && n && (c->out_off > 0 || c->hello_queued)) {
		keep = n;             /* half-written, or the 101: the peer must get it */
		n = n->next;
		keep->next = NULL;
	}
	while (n) {
		struct qnode *next = n->next;
		c->out_bytes -= n->buf->len;
		c->out_nodes--;
		wsbuf_unref(n->buf);
		free(n);
		n = next;
	}
	c->out_head = c->out_tail = keep;
	if (c->pong != keep)
		c->pong = NULL;
	if (!keep)
		c->out_off = 0;
}

static void conn_free(struct conn *c)
{
	if (c->pending) {
		struct conn **p = &conns.pending;
		while (*p != c)
			p = &(*p)->pending_next;
		*p = c->pending_next;
	}
	if (c->state == CONN_OPEN)
		leave_open(c);
	if (c->superseded > 0)
		wsd_log(c->who, "%lu frames were replaced by newer ones before they "
		        "went out (latest wins)", c->superseded);
	ae_del(wsd.loop, c->fd);
	close(c->fd);
	queue_drop(c, 0);
	free(c->in);
	ws_reader_free(&c->rd);
	if (c->prev)
		c->prev->next = c->next;
	else
		conns.all = c->next;
	if (c->next)
		c->next->prev = c->prev;
	conns.n--;
	free(c);
}

static void mark_pending(struct conn *c)
{
	if (c->pending)
		return;
	c->pending = 1;
	c->pending_next = conns.pending;
	conns.pending = c;
}

/* Appends b to c's queue; -1 when out of memory (nothing queued). */
static int enqueue(struct conn *c, struct wsbuf *b)
{
	struct qnode *n = fault_due() ? NULL : malloc(sizeof *n);

	if (!n)
		return -1;
	n->buf = wsbuf_ref(b);
	n->next = NULL;
	if (c->out_tail)
		c->out_tail->next = n;
	else
		c->out_head = n;
	c->out_tail = n;
	c->out_bytes += b->len;
	c->out_nodes++;
	mark_pending(c);
	return 0;
}

/*
 * Latest wins: a frame with a key replaces the queued frame with the same
 * key that has not started going out — that frame is unlinked and the new
 * one appended at the tail, so the client still receives ids in order, with
 * a gap.  The head is skipped when it is half-written or the 101: bytes on
 * the wire must form whole frames.  Frames the kernel already took are
 * beyond reach: this only acts once the client is really behind (the
 * socket refused more and the queue grows).
 */
static void drop_superseded(struct conn *c, uint64_t key)
{
	struct qnode **link = &c->out_head, *prev = NULL;

	if (*link && (c->out_off > 0 || c->hello_queued)) {
		prev = *link;
		link = &prev->next;
	}
	for (; *link; prev = *link, link = &(*link)->next) {
		struct qnode *n = *link;
		if (n->buf->latest_key != key)
			continue;
		*link = n->next;
		if (c->out_tail == n)
			c->out_tail = prev;
		c->out_bytes -= n->buf->len;
		c->out_nodes--;
		c->superseded++;
		wsbuf_unref(n->buf);
		free(n);
		return;       /* at most one: each enqueue keeps it that way */
	}
}

void conn_send(struct conn *c, struct wsbuf *b)
{
	if (c->state != CONN_OPEN)
		return;
	/* Out of memory (no frame, or no node for it): the client must not
	 * silently miss a frame while its cursor moves on.  1011 makes it
	 * reconnect and resume with since, and the store still has the row. */
	if (!b) {
		conn_close_with(c, WS_CLOSE_INTERNAL, "out of memory: resume with since");
		return;
	}
	if (b->latest_key != 0)
		drop_superseded(c, b->latest_key);
	if (enqueue(c, b) < 0) {
		conn_close_with(c, WS_CLOSE_INTERNAL, "out of memory: resume with since");
		return;
	}
	/* A client that cannot keep up is dropped rather than buffered without
	 * bound; the store keeps everything, so it resumes with since. */
	if (queue_cost(c) > wsd.queue_max)
		conn_close_with(c, WS_CLOSE_POLICY, "client too slow: resume with since");
}

void conn_close_with(struct conn *c, int code, const char *why)
{
	unsigned char body[WS_CONTROL_MAX];
	struct wsbuf *b;

	if (c->state == CONN_CLOSING || c->state == CONN_LINGER)
		return;
	wsd_log(c->who, "close %d %s", code, why);
	if (queue_cost(c) > wsd.queue_max)
		queue_drop(c, 1);   /* too slow: the close frame goes next */
	if (c->state == CONN_OPEN) {
		leave_open(c);
		b = code == WS_CLOSE_NO_STATUS
		    ? wsbuf_frame(WS_OP_CLOSE, NULL, 0)
		    : wsbuf_frame(WS_OP_CLOSE, body, ws_close_payload(body, code, why));
		/* Without memory for the close frame the FIN still goes out: the
		 * client sees an abnormal close (1006) and resumes all the same. */
		if (b)
			enqueue(c, b);
		wsbuf_unref(b);
	}
	c->state = CONN_CLOSING;
	c->deadline = clock_now_ms() + CLOSE_GRACE_MS;
	mark_pending(c);
}

/* What epoll watches for c: input unless held, output while stuck. */
static void watch_events(struct conn *c)
{
	ae_mod(wsd.loop, c->fd, (c->input_held ? 0 : AE_READABLE) |
	                        (c->want_write ? AE_WRITABLE : 0), c);
}

/* Writes as much of the queue as the socket takes.  Returns -1 if the
 * client is gone (it is freed later, never here). */
static int conn_flush(struct conn *c)
{
	while (c->out_head) {
		struct iovec iov[WRITEV_MAX];
		int n = 0;
		ssize_t w;

		for (struct qnode *q = c->out_head; q && n < WRITEV_MAX; q = q->next, n++) {
			size_t off = n == 0 ? c->out_off : 0;
			iov[n].iov_base = q->buf->data + off;
			iov[n].iov_len = q->buf->len - off;
		}
		w = writev(c->fd, iov, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (!c->want_write) {
				c->want_write = 1;
				watch_events(c);
			}
			return 0;
		}
		if (w < 0) {
			/* Not freed here: a fan-out may be flushing while this
			 * client's own frame is being handled.  Shut the socket; its
			 * read side then reports EOF and frees it on its own turn. */
			wsd_log(c->who, "gone (write: %s)", strerror(errno));
			if (c->state == CONN_OPEN)
				leave_open(c);
			queue_drop(c, 0);
			shutdown(c->fd, SHUT_RDWR);
			c->state = CONN_LINGER;
			c->deadline = clock_now_ms();
			return -1;
		}
		c->out_bytes -= (size_t)w;
		while (w > 0) {
			struct qnode *q = c->out_head;
			size_t left = q->buf->len - c->out_off;
			if ((size_t)w < left) {
				c->out_off += (size_t)w;
				break;
			}
			w -= (ssize_t)left;
			c->out_off = 0;
			c->hello_queued = 0;   /* the first buffer out is the 101 */
			if (q == c->pong)
				c->pong = NULL;
			c->out_nodes--;
			c->out_head = q->next;
			if (!c->out_head)
				c->out_tail = NULL;
			wsbuf_unref(q->buf);
			free(q);
		}
	}
	if (c->want_write) {
		c->want_write = 0;
		watch_events(c);
	}
	if (c->state == CONN_CLOSING) {
		shutdown(c->fd, SHUT_WR);   /* FIN after our last frame */
		c->state = CONN_LINGER;
	} else if (c->state == CONN_OPEN && conns.ev && conns.ev->drained) {
		conns.ev->drained(c);     /* e.g. a replay goes on */
	}
	return 0;
}

void conn_flush_pending(void)
{
	while (conns.pending) {
		struct conn *c = conns.pending;
		conns.pending = c->pending_next;
		c->pending = 0;
		conn_flush(c);
	}
}

/* ---- the handshake ------------------------------------------------------ */

static void refuse(struct conn *c, int status, const char *detail)
{
	struct wsbuf *b = wsbuf_new(1024);

	wsd_log(c->who, "refused %d %s", status, detail);
	if (b)
		b->len = ws_handshake_refuse((char *)b->data, 1024, status, detail);
	if (b && b->len && wsd.node)     /* a cluster: name this host (docs/scaling.md) */
		b->len = ws_handshake_add_header((char *)b->data, b->len, 1024, "X-Rtlab-Node", wsd.node);
	free(c->in);
	c->in = NULL;
	c->in_len = 0;
	c->state = CONN_CLOSING;
	c->deadline = clock_now_ms() + CLOSE_GRACE_MS;
	if (b && b->len)
		enqueue(c, b);
	wsbuf_unref(b);
	mark_pending(c);
}

static void process_frames(struct conn *c, unsigned char *buf, size_t len);

static void read_handshake(struct conn *c)
{
	struct ws_request rq;
	struct http_cursor params;
	const char *err;
	struct wsbuf *b;
	ssize_t n;
	int head, status;

	if (!c->in && !(c->in = malloc(WS_REQUEST_MAX))) {
		conn_free(c);
		return;
	}
	n = read(c->fd, c->in + c->in_len, WS_REQUEST_MAX - c->in_len);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		wsd_log(c->who, "gone during the handshake");
		conn_free(c);
		return;
	}
	c->in_len += (size_t)n;
	head = ws_request_parse((char *)c->in, c->in_len, &rq);
	if (head == -2) {
		if (c->in_len == WS_REQUEST_MAX)
			refuse(c, 431, "the request head is over 8 KiB");
		return;
	}
	if (head < 0) {
		refuse(c, 400, "malformed HTTP request");
		return;
	}
	status = ws_request_check(&rq, wsd.allowed_origins, &params, &err);
	if (status) {
		refuse(c, status, err);
		return;
	}
	if (wsd.stopping) {
		refuse(c, 503, "the WebSocket helper is shutting down");
		return;
	}
	if (conns.ev && conns.ev->admit && (err = conns.ev->admit()) != NULL) {
		refuse(c, 503, err);
		return;
	}
	if ((b = wsbuf_new(256)) != NULL)
		b->len = ws_handshake_accept((char *)b->data, 256, &rq);
	if (b && wsd.node)     /* a cluster: name this host (docs/scaling.md) */
		b->len = ws_handshake_add_header((char *)b->data, b->len, 256, "X-Rtlab-Node", wsd.node);
	if (!b || enqueue(c, b) < 0) {
		wsbuf_unref(b);
		refuse(c, 503, "out of memory");
		return;
	}
	wsbuf_unref(b);
	c->state = CONN_OPEN;
	conns.nopen++;
	c->next_ping = clock_now_ms() + wsd.ping_ms;
	c->hello_queued = 1;
	if (wsd.echo)
		wsd_log(c->who, "open (echo)");
	else
		wsd_log(c->who, "open channel=%s since=%lld history=%d", params.channel,
		        params.has_since ? (long long)params.since : -1LL, params.history);

	/* Bytes after the head are already frames (a client may not wait). */
	size_t extra = c->in_len - (size_t)head;
	memcpy(rbuf, c->in + head, extra);
	free(c->in);
	c->in = NULL;
	c->in_len = 0;
	if (conns.ev && conns.ev->open && (err = conns.ev->open(c, &params)) != NULL) {
		conn_close_with(c, WS_CLOSE_INTERNAL, err);
		return;
	}
	if (extra)
		process_frames(c, rbuf, extra);
}

/* ---- frames in ---------------------------------------------------------- */

/*
 * At most one pong waits in a queue.  §5.5.3: "If an endpoint receives a
 * Ping frame and has not yet sent Pong frame(s) in response to previous
 * Ping frame(s), the endpoint MAY elect to send a Pong frame for only the
 * most recently processed Ping frame."  So a ping flood replaces the
 * waiting pong instead of growing the queue; one already being written
 * stays, and the new one queues behind it.
 */
static void queue_pong(struct conn *c, struct wsbuf *b)
{
	struct qnode *q = c->pong;

	if (b && q && !(q == c->out_head && c->out_off > 0)) {
		c->out_bytes = c->out_bytes - q->buf->len + b->len;
		wsbuf_unref(q->buf);
		q->buf = wsbuf_ref(b);
		return;
	}
	conn_send(c, b);
	if (c->state == CONN_OPEN)
		c->pong = c->out_tail;
}

static void on_event(struct conn *c, const struct ws_event *ev)
{
	struct wsbuf *b;

	switch (ev->type) {
	case WS_EV_MESSAGE:
		if (conns.ev && conns.ev->message)
			conns.ev->message(c, ev->opcode, ev->data, ev->len);
		break;
	case WS_EV_PING:   /* §5.5.2: answer with a pong carrying the same data */
		b = wsbuf_frame(WS_OP_PONG, ev->data, ev->len);
		queue_pong(c, b);
		wsbuf_unref(b);
		break;
	case WS_EV_PONG:
		c->awaiting_pong = 0;
		break;
	case WS_EV_CLOSE:
		/* §5.5.1: answer with a close frame, echoing the status code. */
		c->peer_closed = 1;
		wsd_log(c->who, "peer closes with %d", ev->code);
		conn_close_with(c, ev->code, "");   /* 1005: an empty close */
		break;
	case WS_EV_ERROR:
		conn_close_with(c, ev->code, ev->why);
		break;
	case WS_EV_NONE:
		break;
	}
}

static void process_frames(struct conn *c, unsigned char *buf, size_t len)
{
	size_t off = 0;

	while (c->state == CONN_OPEN && !c->input_held) {
		struct ws_event ev;
		off += ws_reader_feed(&c->rd, buf + off, len - off, &ev);
		if (ev.type == WS_EV_NONE)
			break;
		on_event(c, &ev);
	}
	if (c->state == CONN_OPEN && off < len) {
		/* a partial header or control frame (at most 139 bytes), or, when
		 * input is held, the rest of this read (at most sizeof rbuf) */
		if ((c->in = malloc(len - off)) != NULL) {
			memcpy(c->in, buf + off, len - off);
			c->in_len = len - off;
		} else {
			conn_close_with(c, WS_CLOSE_INTERNAL, "out of memory");
		}
	}
}

static void read_frames(struct conn *c)
{
	size_t have = c->in_len;
	ssize_t n;

	if (have)
		memcpy(rbuf, c->in, have);
	n = read(c->fd, rbuf + have, sizeof rbuf - have);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		if (c->state == CONN_OPEN)
			wsd_log(c->who, "gone without a close frame");
		else if (c->state == CONN_LINGER)
			wsd_log(c->who, "closed");
		else
			wsd_log(c->who, "gone while closing");
		conn_free(c);
		return;
	}
	if (c->state != CONN_OPEN)
		return;   /* after our close frame nothing more is read (§5.5.1) */
	free(c->in);
	c->in = NULL;
	c->in_len = 0;
	process_frames(c, rbuf, have + (size_t)n);
}

/*
 * Input held (conn_hold_input): epoll no longer watches for input, but still
 * reports a reset or hang-up.  Peek: a client that is gone is freed, one
 * that merely sent more waits in the kernel (TCP flow control).
 */
static void check_held(struct conn *c)
{
	char byte;
	ssize_t n = recv(c->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);

	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
		wsd_log(c->who, "gone without a close frame");
		conn_free(c);
	}
}

void conn_hold_input(struct conn *c, int hold)
{
	hold = hold != 0;
	if (c->state != CONN_OPEN || c->input_held == hold)
		return;
	c->input_held = hold;
	watch_events(c);
	if (!hold && c->in_len) {
		/* The rest of the read that was held: frames first, then the
		 * socket again on its next turn. */
		size_t len = c->in_len;
		memcpy(rbuf, c->in, len);
		free(c->in);
		c->in = NULL;
		c->in_len = 0;
		process_frames(c, rbuf, len);
	}
}

void conn_on_event(struct conn *c, int mask)
{
	if ((mask & AE_WRITABLE) && conn_flush(c) < 0)
		return;   /* the shut socket reads EOF on the next turn */
	if (!(mask & AE_READABLE))
		return;
	if (c->input_held) {
		check_held(c);
		return;
	}
	if (c->state == CONN_HANDSHAKE)
		read_handshake(c);
	else
		read_frames(c);
}

/* ---- timers ------------------------------------------------------------- */

static void conn_tick(struct conn *c, int64_t now)
{
	static struct wsbuf *ping;

	if (c->state != CONN_OPEN) {
		if (now >= c->deadline) {
			wsd_log(c->who, c->state == CONN_HANDSHAKE ? "handshake timeout"
			                                           : "close timeout");
			conn_free(c);
		}
		return;
	}
	if (now >= c->next_ping) {
		/* A peer that did not answer the last ping within a whole
		 * interval is gone (or a proxy dropped it): free its slot. */
		if (c->awaiting_pong) {
			conn_close_with(c, WS_CLOSE_POLICY, "no pong within the ping interval");
			return;
		}
		if (!ping)
			ping = wsbuf_frame(WS_OP_PING, NULL, 0);   /* shared, kept */
		conn_send(c, ping);
		c->awaiting_pong = 1;
		c->next_ping = now + wsd.ping_ms;
	}
}

void conn_tick_all(int64_t now)
{
	for (struct conn *c = conns.all, *next; c; c = next) {
		next = c->next;
		conn_tick(c, now);
	}
}

void conn_close_all(int code, const char *why)
{
	for (struct conn *c = conns.all; c; c = c->next)
		conn_close_with(c, code, why);
}

void conn_free_all(void)
{
	while (conns.all) {   /* whoever did not finish closing in time */
		wsd_log(conns.all->who, "close timeout");
		conn_free(conns.all);
	}
}
