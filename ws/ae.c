/*
 * ae.c — epoll(7) in four calls.
 *
 * epoll keeps the interest list in the kernel, so each wait costs in
 * proportion to the sockets that are ready, not to the 10,000 that are idle:
 * that is what lets one thread hold every WebSocket client.
 *
 *   EPOLL_CTL_ADD  start watching an fd (once, after accept)
 *   EPOLL_CTL_MOD  change what we wait for: we add EPOLLOUT only while a
 *                  client's output queue is stuck, else every idle socket
 *                  would wake us as "writable" on every turn
 *   EPOLL_CTL_DEL  stop watching (before close(), so nothing stale fires)
 *
 * Level-triggered (the default): an fd with unread bytes fires again on the
 * next turn, so a handler may read once and return without starving others.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "ae.h"

struct ae_loop *ae_loop_new(int setsize)
{
	struct ae_loop *loop = calloc(1, sizeof *loop);

	if (!loop)
		return NULL;
	loop->setsize = setsize;
	loop->fired = calloc((size_t)setsize, sizeof *loop->fired);
	loop->raw = calloc((size_t)setsize, sizeof(struct epoll_event));
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (!loop->fired || !loop->raw || loop->epfd < 0) {
		ae_loop_free(loop);
		return NULL;
	}
	return loop;
}

void ae_loop_free(struct ae_loop *loop)
{
	if (!loop)
		return;
	if (loop->epfd >= 0)
		close(loop->epfd);
	free(loop->fired);
	free(loop->raw);
	free(loop);
}

static int ctl(struct ae_loop *loop, int op, int fd, int mask, void *data)
{
	struct epoll_event ee = { 0 };

	if (mask & AE_READABLE)
		ee.events |= EPOLLIN;
	if (mask & AE_WRITABLE)
		ee.events |= EPOLLOUT;
	ee.data.ptr = data;
	return epoll_ctl(loop->epfd, op, fd, &ee);
}

int ae_add(struct ae_loop *loop, int fd, int mask, void *data)
{
	return ctl(loop, EPOLL_CTL_ADD, fd, mask, data);
}

int ae_mod(struct ae_loop *loop, int fd, int mask, void *data)
{
	return ctl(loop, EPOLL_CTL_MOD, fd, mask, data);
}

void ae_del(struct ae_loop *loop, int fd)
{
	struct epoll_event ee = { 0 };  /* ignored, but pre-2.6.9 kernels want it */

	epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, &ee);
}

int ae_poll(struct ae_loop *loop, int timeout_ms)
{
	struct epoll_event *raw = loop->raw;
	int n = epoll_wait(loop->epfd, raw, loop->setsize, timeout_ms);

	if (n < 0)
		return errno == EINTR ? 0 : -1;
	for (int i = 0; i < n; i++) {
		int mask = 0;
		if (raw[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
			mask |= AE_READABLE;
		if (raw[i].events & EPOLLOUT)
			mask |= AE_WRITABLE;
		loop->fired[i].data = raw[i].data.ptr;
		loop->fired[i].mask = mask;
	}
	return n;
}
