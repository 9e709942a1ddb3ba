/*
 * ae.h — the helper's event loop: a thin layer over Linux epoll(7), after
 * Redis's ae_epoll.c.  One epoll instance watches every socket; each fd is
 * registered once with the events it wants and a pointer that comes back
 * when it fires.
 */
#ifndef RTLAB_WS_AE_H
#define RTLAB_WS_AE_H

enum { AE_READABLE = 1, AE_WRITABLE = 2 };

struct ae_fired {
	void *data;   /* what ae_add() was given */
	int mask;     /* AE_READABLE | AE_WRITABLE (errors and hang-ups count
	                 as readable: the next read() reports them) */
};

struct ae_loop {
	int epfd;
	int setsize;                 /* most events returned by one ae_poll() */
	struct ae_fired *fired;
	void *raw;                   /* struct epoll_event[setsize] */
};

struct ae_loop *ae_loop_new(int setsize);
void ae_loop_free(struct ae_loop *loop);          /* accepts NULL */

int ae_add(struct ae_loop *loop, int fd, int mask, void *data);
int ae_mod(struct ae_loop *loop, int fd, int mask, void *data);
void ae_del(struct ae_loop *loop, int fd);

/* Waits up to timeout_ms (-1: forever); returns how many entries of
 * loop->fired are filled, 0 on timeout or signal. */
int ae_poll(struct ae_loop *loop, int timeout_ms);

#endif
