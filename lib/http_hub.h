/*
 * http_hub.h — the hub of a threaded held endpoint (private to
 * lib/http_held.c and lib/http_hub.c; the interface is http_held.h).
 *
 * One per process with RT_FCGI_THREADS: the shared store connection, the one
 * change wait, a window of messages per held channel.  Everything in it is
 * guarded by `mu` (http_hub.c says why one lock is enough).
 */
#ifndef RTLAB_HTTP_HUB_H
#define RTLAB_HTTP_HUB_H

#include <pthread.h>
#include <signal.h>
#include <stdint.h>

#include "http_held.h"

struct hub_chan {
	struct hub_chan *next;
	char name[STORE_CHANNEL_MAX + 1];
	unsigned gen;               /* the store generation it belongs to */
	unsigned watchers;
	int64_t after, cursor;      /* the window: every message in (after, cursor] */
	struct store_msg win[HTTP_HELD_WINDOW];
	size_t n;
	uint64_t seq;               /* bumped when messages are appended */
	pthread_cond_t cond;        /* its threads sleep here */
};

struct http_held_hub {
	pthread_mutex_t mu;
	struct store *st;           /* shared; NULL until opened */
	unsigned gen;               /* bumped when the store is replaced */
	struct hub_chan *chans;
	int poke_fd;                /* eventfd: "look at the watches again" */
	int stopping;               /* SIGTERM seen by the hub */
	int read_failed;            /* the last read failed: again soon */
	int quit;                   /* http_held_hub_run() returns */
	unsigned long reads;        /* store reads for the windows (the cost) */
	unsigned alive, busy;       /* request threads running, in a request */
	pthread_cond_t idle;        /* busy reached 0, or alive did */
	pthread_mutex_t accept_mu;  /* FCGX_Accept_r one thread at a time */
	void (*handle)(struct http_req *, struct http_held *);
};

struct http_held {
	struct http_held_hub *hub;            /* NULL: one request at a time, st below */
	struct store *st;
	char channel[STORE_CHANNEL_MAX + 1];
	int watching;
	struct hub_chan *ch;        /* threaded: the watched channel */
	unsigned gen;
	uint64_t seen;              /* ch->seq at this thread's last look */
};

/* Under hub->mu: */
void http_hub_chan_release(struct http_held_hub *hub, struct hub_chan *ch);
struct hub_chan *http_hub_chan_find(struct http_held_hub *hub, const char *name);
struct hub_chan *http_hub_chan_new(struct http_held_hub *hub, const char *name,
                                   int64_t cursor);
void http_hub_reset(struct http_held_hub *hub);
/* Any time: makes the hub look at its watches again. */
void http_hub_poke(struct http_held_hub *hub);
/* The hub's loop; unblocked: the signal mask inside its ppoll() (NULL: as is). */
void http_hub_run(struct http_held_hub *hub, const sigset_t *unblocked);

#endif
