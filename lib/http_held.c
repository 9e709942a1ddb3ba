/*
 * http_held.c — the store of a held request, and the accept loop that
 * serves held requests one at a time or RT_FCGI_THREADS at once (see
 * http_held.h).  With threads, the requests share the process's hub
 * (lib/http_hub.c: one store connection, one change wait, a window of
 * messages per channel) and take hub->mu for each store call or copy.
 */
#include "http_hub.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "settings.h"

/*
 * Request threads run the endpoint (a few KiB of frames), libfcgi and SQLite
 * reads: 128 KiB of stack is plenty and lets a thousand threads fit (only
 * the pages touched count in RSS).  AddressSanitizer's red zones need more.
 */
#if defined(__SANITIZE_ADDRESS__)
#define THREAD_STACK (1024 * 1024)
#else
#define THREAD_STACK (128 * 1024)
#endif

/* ---- the store of a held request ---------------------------------------------- */

static void held_lock(struct http_held *h)
{
	if (h->hub != NULL)
		pthread_mutex_lock(&h->hub->mu);
}

static void held_unlock(struct http_held *h)
{
	if (h->hub != NULL)
		pthread_mutex_unlock(&h->hub->mu);
}

static struct store **held_store(struct http_held *h)
{
	return h->hub != NULL ? &h->hub->st : &h->st;
}

int http_held_check(struct http_req *r, struct http_held *h)
{
	const char *err = "the message store cannot be opened";
	struct store **st = held_store(h);
	int open;

	if (h->hub == NULL)
		return http_store_check(r, st);
	/* As http_store_check(), but a replaced file is a reset for every
	 * thread that shares the connection. */
	held_lock(h);
	if (*st != NULL && store_replaced(*st))
		http_hub_reset(h->hub);
	if (*st == NULL)
		*st = store_open(NULL, &err);
	open = *st != NULL;
	held_unlock(h);
	if (open)
		return 0;
	http_send_error(r, 503, err, HTTP_RETRY_AFTER);
	return -1;
}

void http_held_fail(struct http_req *r, struct http_held *h)
{
	if (h->hub == NULL) {
		http_store_fail(r, &h->st);
		return;
	}
	http_send_error(r, 503, "the message store failed", HTTP_RETRY_AFTER);
}

int http_held_last_id(struct http_held *h, int64_t *id)
{
	struct store *st;
	int rc = -1;

	held_lock(h);
	if ((st = *held_store(h)) != NULL)
		rc = store_last_id(st, id);
	held_unlock(h);
	return rc;
}

int http_held_read_last(struct http_held *h, const char *channel, int limit,
                        struct store_msgs *out)
{
	struct store *st;
	int rc = -1;

	out->v = NULL;
	out->n = 0;
	held_lock(h);
	if ((st = *held_store(h)) != NULL)
		rc = store_read_last(st, channel, limit, out);
	held_unlock(h);
	return rc;
}

/* The window's messages after since (at most limit) into out, copied.
 * 1 if the window answers for since (perhaps with none), 0 if it does not,
 * -1 when out of memory.  Under hub->mu. */
static int window_copy(struct http_held *h, const char *channel, int64_t since,
                       int limit, struct store_msgs *out)
{
	struct hub_chan *ch = h->ch;
	size_t i = 0, k = 0;

	if (ch == NULL || h->gen != h->hub->gen || since < ch->after ||
	    strcmp(ch->name, channel) != 0)
		return 0;
	h->seen = ch->seq;
	while (i < ch->n && ch->win[i].id <= since)
		i++;
	if (i == ch->n)
		return 1;
	if ((out->v = calloc(ch->n - i, sizeof *out->v)) == NULL)
		return -1;
	for (; i < ch->n && k < (size_t)limit; i++, k++) {
		out->v[k] = ch->win[i];
		out->v[k].json = malloc(ch->win[i].json_len + 1);
		if (out->v[k].json == NULL) {
			out->n = k;
			return -1;
		}
		memcpy(out->v[k].json, ch->win[i].json, ch->win[i].json_len + 1);
	}
	out->n = k;
	return 1;
}

int http_held_read_after(struct http_held *h, const char *channel, int64_t since,
                         int limit, struct store_msgs *out)
{
	struct store *st;
	int rc = -1;

	out->v = NULL;
	out->n = 0;
	held_lock(h);
	if (h->hub != NULL && (rc = window_copy(h, channel, since, limit, out)) != 0)
		rc = rc > 0 ? 0 : -1;
	else if ((st = *held_store(h)) != NULL)
		rc = store_read_after(st, channel, since, limit, out);
	held_unlock(h);
	return rc;
}

int http_held_poll_read(struct http_held *h, const struct http_cursor *c,
                        struct http_poll *p)
{
	struct store *st;
	int rc = -1;

	memset(p, 0, sizeof *p);
	held_lock(h);
	/* From the window only with a message to answer: an empty answer
	 * needs the store's newest id (http_poll.h). */
	if (h->hub != NULL && c->has_since &&
	    (rc = window_copy(h, c->channel, c->since, c->limit, &p->msgs)) != 0 &&
	    (rc < 0 || p->msgs.n > 0)) {
		if (rc > 0)
			p->last_id = p->msgs.v[p->msgs.n - 1].id;
		rc = rc > 0 ? 0 : -1;
	} else {
		store_msgs_free(&p->msgs);
		rc = (st = *held_store(h)) != NULL ? http_poll_read(st, c, p) : -1;
	}
	held_unlock(h);
	return rc;
}

int http_held_watch(struct http_held *h, const char *channel, int64_t after)
{
	struct http_held_hub *hub = h->hub;
	struct store *st = *held_store(h);
	struct hub_chan *ch;
	int64_t newest;
	int rc = -1;

	if (h->watching || strlen(channel) > STORE_CHANNEL_MAX)
		return -1;               /* one channel per request */
	if (hub == NULL) {
		if (st == NULL || store_watch(st, channel, after) < 0)
			return -1;
		strcpy(h->channel, channel);
		h->watching = 1;
		return 0;
	}
	pthread_mutex_lock(&hub->mu);
	if ((st = hub->st) == NULL || store_watch(st, channel, after) < 0)
		goto out;
	if ((ch = http_hub_chan_find(hub, channel)) == NULL) {
		/* The window starts empty at this thread's cursor: the watch,
		 * armed after the read that set it, reports every commit above it
		 * to the hub (the file comment).  Not above the store's newest id:
		 * a long-poll's since past it is about to be answered "reset". */
		if (store_last_id(st, &newest) < 0 ||
		    (ch = http_hub_chan_new(hub, channel, after < newest ? after : newest)) == NULL) {
			store_unwatch(st, channel);
			goto out;
		}
	}
	ch->watchers++;
	strcpy(h->channel, channel);
	h->watching = 1;
	h->ch = ch;
	h->gen = hub->gen;
	h->seen = ch->seq;
	rc = 0;
out:
	pthread_mutex_unlock(&hub->mu);
	if (rc == 0)
		http_hub_poke(hub);           /* the watch may have news already */
	return rc;
}

void http_held_unwatch(struct http_held *h)
{
	struct store *st;

	if (!h->watching)
		return;
	held_lock(h);
	st = *held_store(h);
	/* A watch of a replaced store died with its connection. */
	if (st != NULL && (h->hub == NULL || h->gen == h->hub->gen))
		store_unwatch(st, h->channel);
	if (h->ch != NULL)
		http_hub_chan_release(h->hub, h->ch);
	h->ch = NULL;
	h->watching = 0;
	held_unlock(h);
}

int http_held_wait(struct http_held *h, int timeout_ms)
{
	struct http_held_hub *hub = h->hub;
	struct timespec until;
	int rc = 0;

	if (hub == NULL)
		return h->st != NULL ? store_wait(h->st, timeout_ms) : -1;
	if (timeout_ms < 0)
		timeout_ms = 24 * 3600 * 1000;   /* "forever", for a timed wait */
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&hub->mu);
	for (;;) {
		if (hub->stopping)
			break;              /* the caller sees http_stopping() */
		if (h->ch == NULL)
			rc = -1;
		else if (h->gen != hub->gen)
			rc = STORE_WAIT_RESET;
		else if (h->ch->seq != h->seen)
			rc = STORE_WAIT_CHANGE;
		if (rc != 0 || timeout_ms == 0 ||
		    pthread_cond_timedwait(&h->ch->cond, &hub->mu, &until) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&hub->mu);
	return rc;
}

int http_held_reopen(struct http_held *h)
{
	struct http_held_hub *hub = h->hub;
	int64_t deadline = clock_now_ms() + STORE_REOPEN_MS;
	int rc;

	if (hub == NULL) {
		h->watching = 0;         /* the watch went with the connection */
		return store_reopen(&h->st);
	}
	pthread_mutex_lock(&hub->mu);
	if (h->ch != NULL)
		http_hub_chan_release(hub, h->ch);
	h->ch = NULL;
	h->watching = 0;
	/* The hub opened the new file, unless it was not there yet: an admin's
	 * "rm; sqlite3 < schema.sql" is two steps (store_reopen()). */
	while (hub->st == NULL && (hub->st = store_open(NULL, NULL)) == NULL &&
	       clock_now_ms() < deadline) {
		pthread_mutex_unlock(&hub->mu);
		usleep(50 * 1000);
		pthread_mutex_lock(&hub->mu);
	}
	rc = hub->st != NULL ? 0 : -1;
	pthread_mutex_unlock(&hub->mu);
	http_hub_poke(hub);
	return rc;
}

/* ---- the threaded process: request threads ------------------------------------ */

/*
 * A request thread's name says whether it holds a request: `ps -L -C
 * sse.fcgi -o tid,comm` (or /proc/PID/task/TID/comm) shows who is busy, as
 * the process list does for one-request processes.  The tests count them.
 */
#define THREAD_IDLE "rtlab-idle"
#define THREAD_BUSY "rtlab-busy"

static void *request_thread(void *arg)
{
	struct http_held_hub *hub = arg;
	struct http_held h = { .hub = hub };
	struct http_req r;
	FCGX_Request req;

	FCGX_InitRequest(&req, 0, 0);   /* fd 0: the listening socket (FastCGI spec §2.2) */
	prctl(PR_SET_NAME, THREAD_IDLE);
	for (;;) {
		int rc;

		pthread_mutex_lock(&hub->accept_mu);
		rc = http_stopping() ? -1 : FCGX_Accept_r(&req);
		pthread_mutex_unlock(&hub->accept_mu);
		if (rc < 0)
			break;
		pthread_mutex_lock(&hub->mu);
		hub->busy++;
		pthread_mutex_unlock(&hub->mu);
		prctl(PR_SET_NAME, THREAD_BUSY);

		http_req_init(&r, req.in, req.out, req.err, req.envp);
		hub->handle(&r, &h);
		http_held_unwatch(&h);           /* in case the handler did not */
		http_req_drain(&r);
		FCGX_Finish_r(&req);             /* the answer's end, before busy-- */
		prctl(PR_SET_NAME, THREAD_IDLE);

		pthread_mutex_lock(&hub->mu);
		if (--hub->busy == 0)
			pthread_cond_broadcast(&hub->idle);
		pthread_mutex_unlock(&hub->mu);
	}
	FCGX_Free(&req, 1);
	pthread_mutex_lock(&hub->mu);
	if (--hub->alive == 0)
		hub->quit = 1;           /* no more requests: the process ends */
	pthread_mutex_unlock(&hub->mu);
	http_hub_poke(hub);
	return NULL;
}

static int serve_threads(struct http_held_hub *hub, int n)
{
	sigset_t term, old;
	pthread_attr_t attr;
	pthread_t t;
	int started = 0;

	http_init();
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	/* The request threads inherit a mask with SIGTERM blocked: the signal
	 * goes to the hub, whose ppoll() it interrupts. */
	pthread_sigmask(SIG_BLOCK, &term, &old);
	sigdelset(&old, SIGTERM);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, THREAD_STACK);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	hub->alive = (unsigned)n;
	for (int i = 0; i < n; i++)
		if (pthread_create(&t, &attr, request_thread, hub) == 0)
			started++;
	pthread_attr_destroy(&attr);
	pthread_mutex_lock(&hub->mu);
	hub->alive -= (unsigned)(n - started);
	pthread_mutex_unlock(&hub->mu);
	if (started == 0)
		return 1;
	http_hub_run(hub, &old);
	/* Leave at once: the threads blocked in accept() hold nothing. */
	pthread_mutex_lock(&hub->mu);
	store_close(hub->st);
	hub->st = NULL;
	fflush(NULL);
	_exit(0);
}

struct http_held *http_held_new(struct http_held_hub *hub)
{
	struct http_held *h = calloc(1, sizeof *h);

	if (h != NULL && (h->hub = hub) == NULL)
		h->st = store_open(NULL, NULL);  /* retried per request */
	return h;
}

void http_held_free(struct http_held *h)
{
	if (h == NULL)
		return;
	http_held_unwatch(h);
	store_close(h->st);
	free(h);
}

int http_held_serve(void (*handle)(struct http_req *r, struct http_held *h))
{
	int threads = settings_int("RT_FCGI_THREADS", 1, HTTP_HELD_THREADS_MAX, 1);
	struct http_held_hub *hub;
	struct http_held *h;
	struct http_req r;

	http_init();
	if (threads > 1 && !FCGX_IsCGI() && (hub = http_held_hub_open()) != NULL) {
		hub->handle = handle;
		return serve_threads(hub, threads);
	}
	/* FastCGI: one request after another; CGI: exactly one. */
	if ((h = http_held_new(NULL)) == NULL)
		return 1;
	while (http_accept(&r) >= 0) {
		handle(&r, h);
		http_held_unwatch(h);
	}
	http_held_free(h);
	return 0;
}
