/*
 * writer.c — the helper's inserts run in a thread of their own.
 *
 * An insert waits for SQLite's write lock: behind another writer, or a
 * checkpoint, for up to the store's busy timeout (5 s).  In the event loop
 * that wait would freeze every client of the process — no frame read, no
 * pong, no fan-out.  So the loop hands each client's message to this one
 * writer thread, which owns a second store connection, and goes on; the
 * thread stores the messages in the order they came and reports each back
 * through an eventfd(2) in the loop's epoll set.  The loop then fans out
 * as usual (hub.c).  Reads stay in the loop: in WAL mode a reader never
 * waits for a writer (https://www.sqlite.org/wal.html §2.2).
 *
 * Only the job lists are shared, under one mutex; each store connection is
 * used by one thread only.  Why not a short busy timeout in the loop and a
 * retry from the timer instead: a checkpoint or a writer storm could make
 * every retry fail for seconds, and the retries would still each block the
 * loop for their timeout; a thread waits without costing the clients.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "store.h"
#include "writer.h"
#include "wsd.h"

static struct {
	pthread_t thread;
	int started;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct writer_job *todo, *todo_tail, *done, *done_tail;
	size_t queued;                /* todo jobs */
	int stop;
	int efd;
	const char *db_path;
	struct store *st;             /* the thread's own connection */
} w = { .lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER,
        .efd = -1 };

struct writer_job *writer_job_new(void *owner, const char *channel,
                                  const char *event, const char *user,
                                  const char *text)
{
	struct writer_job *job = calloc(1, sizeof *job);

	if (!job)
		return NULL;
	job->owner = owner;
	snprintf(job->channel, sizeof job->channel, "%s", channel);
	job->event = event ? strdup(event) : NULL;
	job->user = strdup(user);
	job->text = strdup(text);
	if ((event && !job->event) || !job->user || !job->text) {
		writer_job_free(job);
		return NULL;
	}
	return job;
}

void writer_job_free(struct writer_job *job)
{
	if (!job)
		return;
	free(job->event);
	free(job->user);
	free(job->text);
	free(job);
}

/* In the thread: one insert, reopening the store if it went away. */
static void store_one(struct writer_job *job)
{
	struct store_msg m = { 0 };
	const char *err = NULL;

	if (w.st && store_replaced(w.st)) {
		store_close(w.st);
		w.st = NULL;
	}
	if (!w.st && !(w.st = store_open(w.db_path, &err))) {
		wsd_log(NULL, "writer: store unavailable: %s", err ? err : "?");
		return;
	}
	if (store_insert_event(w.st, job->channel, job->event, job->user, job->text,
	                       "ws", &m) < 0)
		return;
	job->ok = 1;
	job->id = m.id;
	store_msg_clear(&m);
}

static void *writer_main(void *arg)
{
	uint64_t one = 1;

	(void)arg;
	pthread_mutex_lock(&w.lock);
	for (;;) {
		struct writer_job *job;

		while (!w.todo && !w.stop)
			pthread_cond_wait(&w.wake, &w.lock);
		if (!w.todo)
			break;    /* stopping, and nothing left to store */
		job = w.todo;
		w.todo = job->next;
		if (!w.todo)
			w.todo_tail = NULL;
		w.queued--;
		pthread_mutex_unlock(&w.lock);

		job->next = NULL;
		store_one(job);

		pthread_mutex_lock(&w.lock);
		if (w.done_tail)
			w.done_tail->next = job;
		else
			w.done = job;
		w.done_tail = job;
		if (write(w.efd, &one, sizeof one) < 0) {
			/* the counter is full: the loop is already due to read */
		}
	}
	pthread_mutex_unlock(&w.lock);
	store_close(w.st);
	w.st = NULL;
	return NULL;
}

int writer_start(const char *db_path)
{
	if (w.started)
		return w.efd;
	w.db_path = db_path;
	w.stop = 0;
	if ((w.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
		return -1;
	if (pthread_create(&w.thread, NULL, writer_main, NULL) != 0) {
		close(w.efd);
		w.efd = -1;
		return -1;
	}
	w.started = 1;
	return w.efd;
}

void writer_stop(void)
{
	if (!w.started)
		return;
	pthread_mutex_lock(&w.lock);
	w.stop = 1;
	pthread_cond_signal(&w.wake);
	pthread_mutex_unlock(&w.lock);
	pthread_join(w.thread, NULL);
	w.started = 0;
	close(w.efd);
	w.efd = -1;
}

int writer_submit(struct writer_job *job)
{
	int rc = -1;

	job->next = NULL;
	pthread_mutex_lock(&w.lock);
	if (w.started && w.queued < WRITER_QUEUE_MAX) {
		if (w.todo_tail)
			w.todo_tail->next = job;
		else
			w.todo = job;
		w.todo_tail = job;
		w.queued++;
		pthread_cond_signal(&w.wake);
		rc = 0;
	}
	pthread_mutex_unlock(&w.lock);
	return rc;
}

struct writer_job *writer_take_done(void)
{
	struct writer_job *list;
	uint64_t n;

	if (w.efd >= 0 && read(w.efd, &n, sizeof n) < 0) {
		/* EAGAIN: nothing signalled since the last call */
	}
	pthread_mutex_lock(&w.lock);
	list = w.done;
	w.done = w.done_tail = NULL;
	pthread_mutex_unlock(&w.lock);
	return list;
}
