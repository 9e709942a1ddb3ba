/*
 * http_hub.c — the hub of a threaded held endpoint: the process's one
 * change wait, and a window of messages per held channel (http_hub.h; the
 * interface is http_held.h, the request side lib/http_held.c).
 *
 *   request threads (N)                     main thread: the hub
 *   ------------------------------------    -----------------------------------
 *   FCGX_Accept_r (one at a time)           ppoll(store_wait_fd, poke eventfd)
 *   handle(): read its history (store),     store_wait_check(): a watched
 *     http_held_watch(channel) -----poke--> channel moved → read each held
 *     http_held_wait(): sleep on the          channel after its window, append,
 *       channel's condition     <--------     broadcast that channel's condition
 *     http_held_read_after(): copy from
 *       the window, write, flush
 *
 * One mutex (`mu`) guards everything shared: the store connection (SQLite
 * statements are prepared once and reused, so two threads must never step
 * the same one), the channel list and windows, the counters.  It is held for
 * a store call or a copy, never across a write to a client, so one lock is
 * enough: nobody waits on it for long.
 *
 * A channel's window holds every message of the channel with an id in
 * (after, cursor]; it starts empty at the cursor of the first thread that
 * watches the channel, whose watch reports every commit above that cursor
 * to the hub (the reasoning of wake.c's "one race").  A thread whose own
 * cursor is below `after` (a resumed stream, a thread that fell behind the
 * window) reads the store itself, under the mutex.
 */
#include "http_hub.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define NO_STORE_RETRY_MS 250   /* the hub without a store looks again */

static void cond_init_monotonic(pthread_cond_t *c)
{
	pthread_condattr_t a;

	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);   /* the one clock */
	pthread_cond_init(c, &a);
	pthread_condattr_destroy(&a);
}

/* ---- the channels and their windows, under hub->mu ------------------------ */

struct hub_chan *http_hub_chan_find(struct http_held_hub *hub, const char *name)
{
	for (struct hub_chan *ch = hub->chans; ch != NULL; ch = ch->next)
		if (ch->gen == hub->gen && strcmp(ch->name, name) == 0)
			return ch;
	return NULL;
}

void http_hub_chan_release(struct http_held_hub *hub, struct hub_chan *ch)
{
	if (--ch->watchers > 0)
		return;
	for (struct hub_chan **p = &hub->chans; *p != NULL; p = &(*p)->next)
		if (*p == ch) {
			*p = ch->next;
			break;
		}
	for (size_t i = 0; i < ch->n; i++)
		store_msg_clear(&ch->win[i]);
	pthread_cond_destroy(&ch->cond);
	free(ch);
}

struct hub_chan *http_hub_chan_new(struct http_held_hub *hub, const char *name,
                                   int64_t cursor)
{
	struct hub_chan *ch = calloc(1, sizeof *ch);

	if (ch == NULL)
		return NULL;
	strcpy(ch->name, name);          /* checked by the caller */
	ch->gen = hub->gen;
	ch->after = ch->cursor = cursor;
	cond_init_monotonic(&ch->cond);
	ch->next = hub->chans;
	hub->chans = ch;
	return ch;
}

/* Appends m (taken over) to the window, dropping the oldest when full. */
static void chan_append(struct hub_chan *ch, struct store_msg *m)
{
	if (ch->n == HTTP_HELD_WINDOW) {
		ch->after = ch->win[0].id;
		store_msg_clear(&ch->win[0]);
		memmove(ch->win, ch->win + 1, (ch->n - 1) * sizeof ch->win[0]);
		ch->n--;
	}
	ch->win[ch->n++] = *m;
	ch->cursor = m->id;
	m->json = NULL;
}

/*
 * After a change: one read per held channel, the news to its threads.  More
 * than a window's worth after the window (a first watcher far behind, a
 * burst): the window is refilled with the channel's newest messages instead,
 * and the threads behind it read the store themselves.
 */
static int hub_read(struct http_held_hub *hub)
{
	for (struct hub_chan *ch = hub->chans; ch != NULL; ch = ch->next) {
		struct store_msgs ms = { NULL, 0 };

		if (ch->gen != hub->gen)
			continue;
		hub->reads++;
		if (store_read_after(hub->st, ch->name, ch->cursor, HTTP_HELD_WINDOW + 1,
		                     &ms) < 0)
			return -1;
		if (ms.n > HTTP_HELD_WINDOW) {
			store_msgs_free(&ms);
			hub->reads++;
			if (store_read_last(hub->st, ch->name, HTTP_HELD_WINDOW, &ms) < 0)
				return -1;
			for (size_t i = 0; i < ch->n; i++)
				store_msg_clear(&ch->win[i]);
			ch->n = 0;
			ch->after = ms.v[0].id - 1;     /* nothing of the channel between */
		}
		for (size_t i = 0; i < ms.n; i++)
			chan_append(ch, &ms.v[i]);
		if (ms.n > 0) {
			ch->seq++;
			pthread_cond_broadcast(&ch->cond);
		}
		store_msgs_free(&ms);
	}
	return 0;
}

/*
 * The database file was replaced (or the wait said so): every watch died
 * with the old connection.  Open the new file (once; http_held_reopen()
 * retries), start a new generation, and wake every thread: its wait answers
 * STORE_WAIT_RESET, and it watches again on the new store.
 */
void http_hub_reset(struct http_held_hub *hub)
{
	store_close(hub->st);
	hub->st = store_open(NULL, NULL);
	hub->gen++;
	hub->read_failed = 0;
	for (struct hub_chan *ch = hub->chans; ch != NULL; ch = ch->next)
		pthread_cond_broadcast(&ch->cond);
}

void http_hub_poke(struct http_held_hub *hub)
{
	uint64_t one = 1;

	if (write(hub->poke_fd, &one, sizeof one) < 0)
		return;                 /* the counter is full: a poke is pending */
}

/* ---- the loop ------------------------------------------------------------------ */

/* SIGTERM: every held request ends (its wait returns and it sees
 * http_stopping()); the process exits once none is in progress.  Threads
 * still blocked in accept() hold no request: exit() ends them. */
static void hub_stop(struct http_held_hub *hub)
{
	pthread_mutex_lock(&hub->mu);
	hub->stopping = 1;
	for (struct hub_chan *ch = hub->chans; ch != NULL; ch = ch->next)
		pthread_cond_broadcast(&ch->cond);
	while (hub->busy > 0)
		pthread_cond_wait(&hub->idle, &hub->mu);
	pthread_mutex_unlock(&hub->mu);
}

/* The main thread: the one change wait of the process. */
void http_hub_run(struct http_held_hub *hub, const sigset_t *unblocked)
{
	for (;;) {
		struct pollfd pfd[2] = { { .fd = hub->poke_fd, .events = POLLIN },
		                         { .fd = -1, .events = POLLIN } };
		struct timespec ts, *tsp = NULL;
		int next = NO_STORE_RETRY_MS, rc = 0;
		uint64_t pokes;

		pthread_mutex_lock(&hub->mu);
		if (hub->quit) {
			pthread_mutex_unlock(&hub->mu);
			return;
		}
		if (hub->st != NULL) {
			pfd[1].fd = store_wait_fd(hub->st);
			next = store_wait_next_ms(hub->st);
			if (hub->read_failed && (next < 0 || next > NO_STORE_RETRY_MS))
				next = NO_STORE_RETRY_MS;
		}
		pthread_mutex_unlock(&hub->mu);
		if (next >= 0) {
			ts.tv_sec = next / 1000;
			ts.tv_nsec = (long)(next % 1000) * 1000000;
			tsp = &ts;
		}
		/* SIGTERM is blocked except inside ppoll(): it cannot slip in
		 * between the check and the sleep. */
		if (http_stopping() ||
		    (ppoll(pfd, 2, tsp, unblocked) < 0 && errno == EINTR && http_stopping())) {
			hub_stop(hub);
			return;
		}
		if (read(hub->poke_fd, &pokes, sizeof pokes) < 0 && errno != EAGAIN)
			return;
		pthread_mutex_lock(&hub->mu);
		if (hub->st != NULL)
			rc = store_wait_check(hub->st);
		/* A read that failed (the store busy past its timeout) is tried
		 * again shortly; the windows stay as they were, nothing is lost. */
		if (rc == STORE_WAIT_CHANGE || (rc == 0 && hub->read_failed && hub->st != NULL))
			hub->read_failed = hub_read(hub) < 0;
		if (rc == STORE_WAIT_RESET)
			http_hub_reset(hub);
		pthread_mutex_unlock(&hub->mu);
	}
}

/* ---- open, run, stop, close (http_held.h) ------------------------------------ */

struct http_held_hub *http_held_hub_open(void)
{
	struct http_held_hub *hub = calloc(1, sizeof *hub);

	if (hub == NULL)
		return NULL;
	if ((hub->poke_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
		free(hub);
		return NULL;
	}
	pthread_mutex_init(&hub->mu, NULL);
	pthread_mutex_init(&hub->accept_mu, NULL);
	cond_init_monotonic(&hub->idle);
	hub->st = store_open(NULL, NULL);    /* retried per request */
	return hub;
}

void http_held_hub_run(struct http_held_hub *hub)
{
	http_hub_run(hub, NULL);
}

void http_held_hub_stop(struct http_held_hub *hub)
{
	pthread_mutex_lock(&hub->mu);
	hub->quit = 1;
	pthread_mutex_unlock(&hub->mu);
	http_hub_poke(hub);
}

void http_held_hub_close(struct http_held_hub *hub)
{
	if (hub == NULL)
		return;
	while (hub->chans != NULL) {         /* a test's handles left watching */
		hub->chans->watchers = 1;
		http_hub_chan_release(hub, hub->chans);
	}
	store_close(hub->st);
	close(hub->poke_fd);
	pthread_cond_destroy(&hub->idle);
	pthread_mutex_destroy(&hub->accept_mu);
	pthread_mutex_destroy(&hub->mu);
	free(hub);
}

unsigned long http_held_hub_reads(struct http_held_hub *hub)
{
	unsigned long n;

	pthread_mutex_lock(&hub->mu);
	n = hub->reads;
	pthread_mutex_unlock(&hub->mu);
	return n;
}

