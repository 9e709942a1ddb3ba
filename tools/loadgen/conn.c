/*
 * conn.c — loadgen's sockets: opening, requests, keep-alive, and turning
 * the bytes that arrive into HTTP responses, SSE events and WebSocket
 * messages through the I/O-free parsers (http_resp.h, sse_client.h,
 * lib's ws_frame.h), whose markers (message.h) go to tally.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "clock.h"
#include "conn.h"
#include "message.h"
#include "tls.h"

/* ---- URL templates ------------------------------------------------------ */

/* Expands {channel} (chan), {since} and {text} into out; returns its length. */
size_t url_expand(char *out, size_t cap, const char *tpl, const char *chan,
                  long long since, const char *text)
{
	size_t n = 0;

	while (*tpl) {
		char val[32];
		const char *v = NULL;
		if (strncmp(tpl, "{channel}", 9) == 0) {
			v = chan; tpl += 9;
		} else if (strncmp(tpl, "{since}", 7) == 0) {
			snprintf(val, sizeof val, "%lld", since); v = val; tpl += 7;
		} else if (strncmp(tpl, "{text}", 6) == 0) {
			v = text ? text : ""; tpl += 6;
		}
		if (v) {
			size_t l = strlen(v);
			if (n + l >= cap)
				die("expanded template too long");
			memcpy(out + n, v, l);
			n += l;
		} else {
			if (n + 1 >= cap)
				die("expanded template too long");
			out[n++] = *tpl++;
		}
	}
	out[n] = '\0';
	return n;
}


/*
 * A subscriber (or the WebSocket publisher) now holds a whole unit: a poll
 * answer, an SSE event, a WebSocket message.  Every marker in it counts.
 */
void note_messages(struct conn *c, const char *p, size_t len)
{
	uint64_t now = clock_wall_us();
	struct message_mark m;
	long n;

	if (!c->is_pub)
		sub_ready(c);          /* a client that receives is subscribed */
	while ((n = message_scan(p, len, run_tag, &m)) > 0) {
		p += n;
		len -= (size_t)n;
		if (m.seq < 0) {
			counters.err_proto++;
		} else if (m.seq > nmsg) {
			counters.foreign++;
		} else if (c->is_pub) {
			pub_echo(m.seq);
		} else {
			uint64_t d = now > m.usec ? now - m.usec : 0;
			tally_receive(c->index, m.seq, d > UINT32_MAX ? UINT32_MAX : (uint32_t)d);
		}
	}
}


/* ---- connections -------------------------------------------------------- */

void conn_watch(struct conn *c, uint32_t events, int op)
{
	struct epoll_event ev = { .events = events, .data.ptr = c };

	if (epoll_ctl(epfd, op, c->fd, &ev) != 0)
		die("epoll_ctl: %s", strerror(errno));
}

void conn_close(struct conn *c)
{
	if (c->ssl)
		tls_detach(c);
	if (c->fd >= 0) {
		/* close() removes the fd from the epoll set (epoll(7), Q6). */
		close(c->fd);
		c->fd = -1;
	}
	c->state = C_CLOSED;
	free(c->out);
	c->out = NULL;
	c->in_len = 0;
	c->body_len = 0;
	if (c->ws_inited) {
		ws_reader_free(&c->ws);
		c->ws_inited = 0;
	}
}

/* Closes and frees every buffer: the connection is done for good. */
void conn_free(struct conn *c)
{
	conn_close(c);
	free(c->in);
	free(c->body);
	free(c->sse);
	c->in = c->body = NULL;
	c->sse = NULL;
	c->in_cap = c->body_cap = 0;
}

/*
 * One client address has about 28,000 ephemeral ports toward one server
 * port (net.ipv4.ip_local_port_range).  Past that, subscribers bind to
 * other loopback sources first, 127.0.0.2, 127.0.0.3, … (all of 127/8 is
 * the loopback); IP_BIND_ADDRESS_NO_PORT leaves the port to connect(), so
 * each source address gets its own range (ip(7)).
 */
static void conn_bind_source(struct conn *c, const struct target *t)
{
	struct sockaddr_in src = { .sin_family = AF_INET };
	int one = 1;

	if (c->is_pub || opt.src_addrs <= 0 ||
	    (ntohl(t->addr.sin_addr.s_addr) >> 24) != 127)
		return;
	src.sin_addr.s_addr = htonl(0x7f000002u + (uint32_t)(c->index % opt.src_addrs));
	setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
	if (bind(c->fd, (const struct sockaddr *)&src, sizeof src) != 0)
		fprintf(stderr, "loadgen: bind %s: %s\n", inet_ntoa(src.sin_addr),
		        strerror(errno));
}

static int conn_open(struct conn *c, const struct target *t)
{
	int one = 1;

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		fprintf(stderr, "loadgen: socket: %s\n", strerror(errno));
		return -1;
	}
	/* Small messages one at a time: Nagle would add up to 40 ms. */
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	conn_bind_source(c, t);
	if (connect(c->fd, (const struct sockaddr *)&t->addr, sizeof t->addr) != 0 &&
	    errno != EINPROGRESS) {
		conn_close(c);
		return -1;
	}
	c->state = C_CONNECTING;
	c->target = t;
	c->reused = 0;
	conn_watch(c, EPOLLOUT, EPOLL_CTL_ADD);
	return 0;
}

/* Queues a request; writes it on the kept-alive socket or opens a new one. */
int conn_send(struct conn *c, const struct target *t, char *req, size_t len)
{
	if (c->fd < 0 || c->state != C_IDLE)
		conn_close(c);
	free(c->out);
	c->out = req;
	c->out_len = len;
	c->out_off = 0;
	http_resp_init(&c->resp);
	c->resp_got = 0;
	c->body_len = 0;
	if (c->sse)
		sse_client_init(c->sse);
	if (c->fd >= 0) {
		c->reused = 1;
		c->state = C_WRITING;
		conn_watch(c, EPOLLOUT, EPOLL_CTL_MOD);
		return 0;
	}
	return conn_open(c, t);
}

char *request_new(const char *method, const struct target *t,
                         const char *path, const char *extra, const char *body,
                         size_t body_len, size_t *len)
{
	size_t cap = strlen(path) + strlen(t->host) + (extra ? strlen(extra) : 0) +
	             body_len + 256;
	char *req = xrealloc(NULL, cap);
	int n = snprintf(req, cap, "%s %s HTTP/1.1\r\nHost: %s:%d\r\n%s", method,
	                 path, t->host, t->port, extra ? extra : "");

	if (body) {
		n += snprintf(req + n, cap - (size_t)n,
		              "Content-Type: %s\r\nContent-Length: %zu\r\n\r\n",
		              opt.pub_type, body_len);
		memcpy(req + n, body, body_len);
		n += (int)body_len;
	} else {
		n += snprintf(req + n, cap - (size_t)n, "\r\n");
	}
	*len = (size_t)n;
	return req;
}

/* The opening handshake's headers with a fresh key (RFC 6455 §4.1). */
void ws_upgrade_headers(struct conn *c, char *extra, size_t cap)
{
	unsigned char raw[16];
	size_t i;

	for (i = 0; i < sizeof raw; i++)
		raw[i] = (unsigned char)random();
	ws_client_key(raw, c->ws_key);
	if (ws_client_headers(extra, cap, c->ws_key) < 0)
		die("WebSocket headers too long");
}


/* ---- response handling -------------------------------------------------- */

static void body_append(struct conn *c, const char *p, size_t n)
{
	if (c->body_len + n + 1 > c->body_cap) {
		c->body_cap = (c->body_len + n + 1) * 2;
		c->body = xrealloc(c->body, c->body_cap);
	}
	memcpy(c->body + c->body_len, p, n);
	c->body_len += n;
	c->body[c->body_len] = '\0';
}

/* Body bytes of the response being read: a poll answer collects them, an
 * SSE stream turns every whole line into fields and events at once. */
static int body_bytes(struct conn *c, const char *p, size_t n)
{
	size_t off = 0;

	if (c->is_pub || opt.tech != TECH_SSE) {
		if (c->body_len + n > IN_MAX)
			return -1;
		body_append(c, p, n);
		return 0;
	}
	body_append(c, p, n);
	for (;;) {
		struct sse_client_event ev;
		int dispatched;
		long used = sse_client_parse(c->sse, c->body + off, c->body_len - off,
		                             &ev, &dispatched);
		if (used == -2)
			break;
		if (used < 0)
			return -1;
		off += (size_t)used;
		if (!dispatched)
			continue;
		if (ev.len > 0)
			note_messages(c, ev.data, ev.len);
		if (ev.id >= 0)
			c->since = ev.id;
	}
	memmove(c->body, c->body + off, c->body_len - off);
	c->body_len -= off;
	return 0;
}

/*
 * Consumes c->in: response head, then body bytes.  Returns 1 when the
 * response is complete (for a 101, once its head is), 0 for "need more",
 * -1 if malformed.
 */
int resp_feed(struct conn *c)
{
	size_t off = 0;
	int rc = 0;

	while (off < c->in_len && c->resp.phase != HTTP_RESP_DONE) {
		const char *body;
		size_t blen;
		long used = http_resp_parse(&c->resp, c->in + off, c->in_len - off,
		                            &body, &blen);
		if (used == -2)
			break;
		if (used < 0 || (blen > 0 && body_bytes(c, body, blen) != 0)) {
			rc = -1;
			break;
		}
		off += (size_t)used;
	}
	memmove(c->in, c->in + off, c->in_len - off);
	c->in_len -= off;
	if (rc == 0 && c->resp.phase == HTTP_RESP_DONE)
		rc = 1;
	return rc;
}


/* Sends a masked control frame (every client frame is masked, §5.3). */
static void ws_send_control(struct conn *c, int opcode, const void *p, size_t n)
{
	unsigned char frame[WS_HEADER_MAX + WS_CONTROL_MAX], mask[4];
	size_t len, i;
	ssize_t w;

	for (i = 0; i < 4; i++)
		mask[i] = (unsigned char)random();
	len = ws_frame_encode(frame, sizeof frame, 1, opcode, p, n, mask);
	/* A control frame is tiny; if the socket cannot take it now we drop it
	 * (the benchmark never relies on pongs). */
	w = conn_write(c, frame, len);
	if (w > 0 && !c->is_pub)
		counters.bytes_out += w;
}


/* Frames arriving on an open WebSocket. */
void ws_feed(struct conn *c)
{
	size_t off = 0;

	while (off < c->in_len) {
		struct ws_event ev;
		size_t used = ws_reader_feed(&c->ws, (unsigned char *)c->in + off,
		                             c->in_len - off, &ev);
		off += used;
		if (ev.type == WS_EV_NONE) {
			if (used == 0)
				break;
			continue;
		}
		if (ev.type == WS_EV_MESSAGE) {
			long long id = message_json_int((const char *)ev.data, ev.len, opt.id_key);
			note_messages(c, (const char *)ev.data, ev.len);
			if (id > c->since)
				c->since = id;
		} else if (ev.type == WS_EV_PING) {
			ws_send_control(c, WS_OP_PONG, ev.data, ev.len);
		} else if (ev.type == WS_EV_CLOSE || ev.type == WS_EV_ERROR) {
			if (ev.type == WS_EV_ERROR)
				counters.err_proto++;
			conn_fail(c, &counters.err_reset);
			return;
		}
	}
	memmove(c->in, c->in + off, c->in_len - off);
	c->in_len -= off;
}

/* The 101 is in: frames from now on (what is left in c->in is the first). */
void ws_open(struct conn *c)
{
	c->state = C_WS;
	ws_reader_init(&c->ws, 0);
	c->ws_inited = 1;
	conn_watch(c, EPOLLIN, EPOLL_CTL_MOD);
	ws_feed(c);
}

