/*
 * loop.c — loadgen's event loop: one epoll set, every socket non-blocking
 * (epoll(7)).  Each ready descriptor is a connection (conn.c), whose
 * completed responses go to the subscriber (sub.c) or publisher (pub.c)
 * side, or a pipe between loadgen processes (loop_watch, tally.c).  Timers
 * issue the subscribers' next requests; the publisher sends when due.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "conn.h"
#include "tls.h"

const char *const tech_name[] = { "poll", "longpoll", "sse", "ws" };
struct loop_counters counters;
int epfd = -1;
void (*loop_before_wait)(void);
static struct conn *watches[PROCS_MAX + 1];   /* loop_watch's; freed by loop_free */
static int nwatches;

/* A socket broke: a publish failed, or a subscriber retries after a pause. */
void conn_fail(struct conn *c, long long *counter)
{
	if (c->is_pub) {
		conn_close(c);
		pub_finish(c, 0);
	} else {
		sub_retry(c, counter);
	}
}


/* EOF or a reset while a response was expected. */
static void conn_eof(struct conn *c)
{
	if (c->state == C_IDLE) {
		conn_close(c);
		return;
	}
	if (c->state == C_READING && http_resp_ends_at_close(&c->resp)) {
		c->resp.phase = HTTP_RESP_DONE;
		if (c->is_pub)
			pub_response_done(c);
		else
			sub_response_done(c);
		return;
	}
	if (c->reused && c->resp_got == 0) {
		/* The server closed the idle keep-alive socket just as we reused
		 * it: retry once on a new one (RFC 9112 §9.3.1). */
		char *req = c->out;
		size_t len = c->out_len;
		c->out = NULL;
		conn_close(c);
		if (c->is_pub) {
			if (conn_send(c, &pub_target, req, len) != 0)
				pub_finish(c, 0);
		} else if (conn_send(c, &sub_target, req, len) != 0) {
			counters.err_connect++;
			sub_retry_later(c);
		}
		return;
	}
	conn_fail(c, &counters.err_reset);
}

static void conn_readable(struct conn *c)
{
	for (;;) {
		ssize_t n;
		int rc;

		if (c->in_cap - c->in_len < 4096) {
			if (c->in_cap >= IN_MAX + 8192) {
				counters.err_proto++;
				conn_fail(c, &counters.err_reset);
				return;
			}
			c->in_cap = c->in_cap ? c->in_cap * 2 : 8192;
			c->in = xrealloc(c->in, c->in_cap);
		}
		n = conn_read(c, c->in + c->in_len, c->in_cap - c->in_len);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			conn_eof(c);
			return;
		}
		if (!c->is_pub)
			counters.bytes_in += n;
		c->in_len += (size_t)n;
		c->resp_got += (size_t)n;
		if (c->state == C_WS) {
			ws_feed(c);
			if (c->state != C_WS)
				return;
			continue;
		}
		if (c->state == C_IDLE) {
			c->in_len = 0;     /* bytes nobody asked for: ignore */
			continue;
		}
		{
			enum http_resp_phase before = c->resp.phase;
			rc = resp_feed(c);
			/* An SSE stream's head arrived: from now on it is subscribed. */
			if (!c->is_pub && opt.tech == TECH_SSE && before < HTTP_RESP_BODY &&
			    c->resp.phase >= HTTP_RESP_BODY && c->resp.status == 200)
				sub_ready(c);
		}
		if (rc < 0) {
			counters.err_proto++;
			conn_fail(c, &counters.err_reset);
			return;
		}
		if (rc == 1) {
			if (c->is_pub)
				pub_response_done(c);
			else
				sub_response_done(c);
			return;
		}
	}
}

static void conn_writable(struct conn *c)
{
	if (c->state == C_CONNECTING) {
		int err = 0;
		socklen_t el = sizeof err;
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
		if (err != 0) {
			conn_fail(c, &counters.err_connect);
			return;
		}
		c->state = C_WRITING;
		if (c->target->tls) {
			if (tls_attach(c, c->target) != 0) {
				conn_fail(c, &counters.err_connect);
				return;
			}
			c->state = C_HANDSHAKE;
		}
	}
	if (c->state == C_HANDSHAKE) {
		int rc = tls_handshake(c);
		if (rc < 0)
			conn_fail(c, &counters.err_connect);
		if (rc <= 0)
			return;
		c->state = C_WRITING;
		conn_watch(c, EPOLLOUT, EPOLL_CTL_MOD);
	}
	while (c->out_off < c->out_len) {
		ssize_t n = conn_write(c, c->out + c->out_off, c->out_len - c->out_off);
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			conn_fail(c, &counters.err_reset);
			return;
		}
		c->out_off += (size_t)n;
		if (!c->is_pub)
			counters.bytes_out += n;
	}
	c->state = C_READING;
	conn_watch(c, EPOLLIN, EPOLL_CTL_MOD);
	/* A long-poll request on the wire is a subscriber held by the server. */
	if (!c->is_pub && opt.tech == TECH_LONGPOLL)
		sub_ready(c);
}

static void conn_event(struct conn *c, uint32_t events)
{
	if (c->on_input) {
		c->on_input(c->arg);
		return;
	}
	if (c->fd < 0)
		return;
	/* The handshake waits for whichever event OpenSSL asked for. */
	if (c->state == C_HANDSHAKE || (events & EPOLLOUT))
		conn_writable(c);
	else if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
		conn_readable(c);
}


/* ---- the loop ----------------------------------------------------------- */

void loop_init(int first, int end, int with_pub, uint64_t t_start)
{
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		die("epoll_create1: %s", strerror(errno));
	if (with_pub)
		pub_init();
	sub_init(first, end, t_start);
}

void loop_watch(int fd, void (*on_input)(void *), void *arg)
{
	struct conn *w = calloc(1, sizeof *w);
	struct epoll_event ev = { .events = EPOLLIN };

	if (w == NULL || nwatches == PROCS_MAX + 1)
		die("out of memory");
	watches[nwatches++] = w;
	w->fd = fd;
	w->on_input = on_input;
	w->arg = arg;
	ev.data.ptr = w;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
		die("epoll_ctl: %s", strerror(errno));
}

int loop_until(int (*done)(void), uint64_t deadline, uint64_t pub_start)
{
	struct epoll_event evs[256];

	while (!done()) {
		uint64_t now = clock_now_us(), wake = deadline, next;
		int i, n, timeout;

		if (now >= deadline)
			return 0;
		next = sub_run_timers(now);
		if (next && next < wake)
			wake = next;
		if (pub_start && pub.published < nmsg) {
			uint64_t due = pub_start + (uint64_t)((double)pub.published * 1e6 / opt.rate);
			if (due <= now && loop_publish(pub.published) != 0) {
				due = now + 1000;  /* every publisher busy: try again in 1 ms */
			} else if (due <= now) {
				pub.published++;
				due = now;         /* sent; the next may be due already */
			}
			if (pub.published < nmsg && due < wake)
				wake = due;
		}
		if (loop_before_wait)
			loop_before_wait();
		now = clock_now_us();
		/* At most a second: a deadline far away must not overflow an int. */
		timeout = wake <= now ? 0 : wake - now > 1000000 ? 1000 :
		          (int)((wake - now + 999) / 1000);
		n = epoll_wait(epfd, evs, 256, timeout);
		for (i = 0; i < n; i++)
			conn_event(evs[i].data.ptr, evs[i].events);
	}
	return 1;
}

void loop_free(void)
{
	/* Close every socket so the servers see clean FINs. */
	sub_free();
	pub_free();
	while (nwatches > 0)
		free(watches[--nwatches]);   /* their fds belong to the caller */
	if (epfd >= 0)
		close(epfd);
	epfd = -1;
}
