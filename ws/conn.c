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
 * Memory: an idle client holds only its struct conn.  The request buffer
 * lives only during the handshake, the message buffer only while a message
 * arrives, queue nodes only while bytes wait: reads go through one static
 * buffer shared by every client.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "ae.h"
#include "wsd.h"

#define CLOSE_GRACE_MS      5000   /* CLOSING + LINGER may last this long */
#define HANDSHAKE_MS       10000
#define WRITEV_MAX             64

/* Every read lands here first: a whole 64 KiB frame, plus the few bytes of
 * a partial header a client may have left over from its previous read. */
static unsigned char rbuf[WS_MESSAGE_MAX + WS_HEADER_MAX + WS_CONTROL_MAX];

/* ---- shared buffers ------------------------------------------------------ */

struct wsbuf *wsbuf_new(size_t len)
{
	struct wsbuf *b = malloc(sizeof *b + len);

	if (!b)
		return NULL;
	b->refs = 1;
	b->len = len;
	return b;
}

struct wsbuf *wsbuf_frame(int opcode, const void *payload, size_t len)
{
	struct wsbuf *b = wsbuf_new(WS_HEADER_MAX + len);

	if (!b)
		return NULL;
	b->len = ws_frame_header(b->data, 1, opcode, len, NULL);
	if (len)
		memcpy(b->data + b->len, payload, len);
	b->len += len;
	return b;
}

struct wsbuf *wsbuf_ref(struct wsbuf *b)
{
	b->refs++;
	return b;
}

void wsbuf_unref(struct wsbuf *b)
{
	if (b && --b->refs == 0)
		free(b);
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
	c->id = ++wsd.next_id;
	snprintf(c->peer, sizeof c->peer, "%s", peer);
	c->deadline = clock_now_ms() + HANDSHAKE_MS;
	ws_reader_init(&c->rd, 1);
	if (ae_add(wsd.loop, fd, AE_READABLE, c) < 0) {
		free(c);
		return NULL;
	}
	c->next = wsd.conns;
	if (wsd.conns)
		wsd.conns->prev = c;
	wsd.conns = c;
	wsd.nconns++;
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
		wsbuf_unref(n->buf);
		free(n);
		n = next;
	}
	c->out_head = c->out_tail = keep;
	if (!keep)
		c->out_off = 0;
}

static void conn_free(struct conn *c)
{
	if (c->pending) {
		struct conn **p = &wsd.pending;
		while (*p != c)
			p = &(*p)->pending_next;
		*p = c->pending_next;
	}
	if (c->state == CONN_OPEN)
		wsd.nopen--;
	hub_unsubscribe(c);
	ae_del(wsd.loop, c->fd);
	close(c->fd);
	queue_drop(c, 0);
	free(c->in);
	ws_reader_free(&c->rd);
	if (c->prev)
		c->prev->next = c->next;
	else
		wsd.conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	wsd.nconns--;
	free(c);
}

static void mark_pending(struct conn *c)
{
	if (c->pending)
		return;
	c->pending = 1;
	c->pending_next = wsd.pending;
	wsd.pending = c;
}

static void enqueue(struct conn *c, struct wsbuf *b)
{
	struct qnode *n = malloc(sizeof *n);

	if (!n)
		return;   /* the client misses a frame; it will resume with since */
	n->buf = wsbuf_ref(b);
	n->next = NULL;
	if (c->out_tail)
		c->out_tail->next = n;
	else
		c->out_head = n;
	c->out_tail = n;
	c->out_bytes += b->len;
	mark_pending(c);
}

void conn_send(struct conn *c, struct wsbuf *b)
{
	if (!b || c->state != CONN_OPEN)
		return;
	enqueue(c, b);
	/* A client that cannot keep up is dropped rather than buffered without
	 * bound; the store keeps everything, so it resumes with since. */
	if (c->out_bytes > wsd.queue_max)
		conn_close_with(c, WS_CLOSE_POLICY, "client too slow: resume with since");
}

void conn_close_with(struct conn *c, int code, const char *why)
{
	unsigned char body[WS_CONTROL_MAX];
	struct wsbuf *b;

	if (c->state == CONN_CLOSING || c->state == CONN_LINGER)
		return;
	wsd_log(c, "close %d %s", code, why);
	if (c->out_bytes > wsd.queue_max)
		queue_drop(c, 1);   /* too slow: the close frame goes next */
	if (c->state == CONN_OPEN) {
		wsd.nopen--;
		hub_unsubscribe(c);
		b = code == WS_CLOSE_NO_STATUS
		    ? wsbuf_frame(WS_OP_CLOSE, NULL, 0)
		    : wsbuf_frame(WS_OP_CLOSE, body, ws_close_payload(body, code, why));
		if (b)
			enqueue(c, b);
		wsbuf_unref(b);
	}
	c->state = CONN_CLOSING;
	c->deadline = clock_now_ms() + CLOSE_GRACE_MS;
	mark_pending(c);
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
			if (!c->want_write && ae_mod(wsd.loop, c->fd,
			                             AE_READABLE | AE_WRITABLE, c) == 0)
				c->want_write = 1;
			return 0;
		}
		if (w < 0) {
			/* Not freed here: a fan-out may be flushing while this
			 * client's own frame is being handled.  Shut the socket; its
			 * read side then reports EOF and frees it on its own turn. */
			wsd_log(c, "gone (write: %s)", strerror(errno));
			if (c->state == CONN_OPEN) {
				wsd.nopen--;
				hub_unsubscribe(c);
			}
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
			c->out_head = q->next;
			if (!c->out_head)
				c->out_tail = NULL;
			wsbuf_unref(q->buf);
			free(q);
		}
	}
	if (c->want_write && ae_mod(wsd.loop, c->fd, AE_READABLE, c) == 0)
		c->want_write = 0;
	if (c->state == CONN_CLOSING) {
		shutdown(c->fd, SHUT_WR);   /* FIN after our last frame */
		c->state = CONN_LINGER;
	} else if (c->state == CONN_OPEN && c->replaying) {
		hub_replay(c);
	}
	return 0;
}

void conn_flush_pending(void)
{
	while (wsd.pending) {
		struct conn *c = wsd.pending;
		wsd.pending = c->pending_next;
		c->pending = 0;
		conn_flush(c);
	}
}

/* ---- the handshake ------------------------------------------------------ */

static void refuse(struct conn *c, int status, const char *detail)
{
	struct wsbuf *b = wsbuf_new(1024);

	wsd_log(c, "refused %d %s", status, detail);
	if (b)
		b->len = ws_handshake_refuse((char *)b->data, 1024, status, detail);
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
		wsd_log(c, "gone during the handshake");
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
	if (!wsd.echo && !hub_ready()) {
		refuse(c, 503, "the message store is unavailable");
		return;
	}
	if (wsd.nopen >= wsd.max_conns) {
		refuse(c, 503, "connection limit reached");
		return;
	}
	if (!(b = wsbuf_new(256))) {
		refuse(c, 503, "out of memory");
		return;
	}
	b->len = ws_handshake_accept((char *)b->data, 256, &rq);
	c->state = CONN_OPEN;
	wsd.nopen++;
	c->next_ping = clock_now_ms() + wsd.ping_ms;
	enqueue(c, b);
	c->hello_queued = 1;
	wsbuf_unref(b);
	if (wsd.echo)
		wsd_log(c, "open (echo)");
	else
		wsd_log(c, "open channel=%s since=%lld history=%d", params.channel,
		        params.has_since ? (long long)params.since : -1LL, params.history);

	/* Bytes after the head are already frames (a client may not wait). */
	size_t extra = c->in_len - (size_t)head;
	memcpy(rbuf, c->in + head, extra);
	free(c->in);
	c->in = NULL;
	c->in_len = 0;
	if (!wsd.echo && (err = hub_subscribe(c, &params)) != NULL) {
		conn_close_with(c, WS_CLOSE_INTERNAL, err);
		return;
	}
	if (extra)
		process_frames(c, rbuf, extra);
}

/* ---- frames in ---------------------------------------------------------- */

static void on_event(struct conn *c, const struct ws_event *ev)
{
	struct wsbuf *b;

	switch (ev->type) {
	case WS_EV_MESSAGE:
		if (wsd.echo) {
			b = wsbuf_frame(ev->opcode, ev->data, ev->len);
			conn_send(c, b);
			wsbuf_unref(b);
		} else if (ev->opcode != WS_OP_TEXT) {
			conn_close_with(c, WS_CLOSE_POLICY, "binary frames are not JSON");
		} else {
			hub_client_message(c, ev->data, ev->len);
		}
		break;
	case WS_EV_PING:   /* §5.5.2: answer with a pong carrying the same data */
		b = wsbuf_frame(WS_OP_PONG, ev->data, ev->len);
		conn_send(c, b);
		wsbuf_unref(b);
		break;
	case WS_EV_PONG:
		c->awaiting_pong = 0;
		break;
	case WS_EV_CLOSE:
		/* §5.5.1: answer with a close frame, echoing the status code. */
		c->peer_closed = 1;
		wsd_log(c, "peer closes with %d", ev->code);
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

	while (c->state == CONN_OPEN) {
		struct ws_event ev;
		off += ws_reader_feed(&c->rd, buf + off, len - off, &ev);
		if (ev.type == WS_EV_NONE)
			break;
		on_event(c, &ev);
	}
	if (c->state == CONN_OPEN && off < len) {
		/* a partial header or control frame: at most 139 bytes */
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
			wsd_log(c, "gone without a close frame");
		else if (c->state == CONN_LINGER)
			wsd_log(c, "closed");
		else
			wsd_log(c, "gone while closing");
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

void conn_on_event(struct conn *c, int mask)
{
	if ((mask & AE_WRITABLE) && conn_flush(c) < 0)
		return;   /* the shut socket reads EOF on the next turn */
	if (!(mask & AE_READABLE))
		return;
	if (c->state == CONN_HANDSHAKE)
		read_handshake(c);
	else
		read_frames(c);
}

/* ---- timers ------------------------------------------------------------- */

void conn_tick(struct conn *c, int64_t now)
{
	static struct wsbuf *ping;

	if (c->state != CONN_OPEN) {
		if (now >= c->deadline) {
			wsd_log(c, c->state == CONN_HANDSHAKE ? "handshake timeout"
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
	if (c->replaying)
		hub_replay(c);    /* a replay the store interrupted */
}
