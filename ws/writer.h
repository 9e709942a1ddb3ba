/*
 * writer.h — the helper's inserts, off the event loop (writer.c).
 */
#ifndef RTLAB_WS_WRITER_H
#define RTLAB_WS_WRITER_H

#include <stdint.h>

#include "msg.h"

/* One message to store, from a client's "send" frame. */
struct writer_job {
	void *owner;                      /* the hub's: who asked (borrowed) */
	char channel[MSG_CHANNEL_MAX + 1];
	char *event, *user, *text;        /* owned copies; event may be NULL */
	int ok;                           /* done: stored (1) or not (0) */
	int64_t id;                       /* done, ok: its id */
	struct writer_job *next;
};

/* Starts the thread, which opens its own store connection on db_path.
 * Returns the fd the loop watches (readable: jobs are done), or -1. */
int writer_start(const char *db_path);
/* Finishes every queued job, then stops the thread (accepts not started);
 * the finished jobs are still to be taken with writer_take_done(). */
void writer_stop(void);

/* A job for channel/event/user/text (checked by msg_fields_check; event
 * NULL: none); NULL if out of memory.  Queued jobs are done in order, one
 * at a time. */
struct writer_job *writer_job_new(void *owner, const char *channel,
                                  const char *event, const char *user,
                                  const char *text);
/* Queues job; -1 (job not taken) when WRITER_QUEUE_MAX jobs are waiting. */
int writer_submit(struct writer_job *job);
/* The jobs done since the last call, oldest first; caller frees each with
 * writer_job_free().  Drains the fd. */
struct writer_job *writer_take_done(void);
void writer_job_free(struct writer_job *job);   /* accepts NULL */

#define WRITER_QUEUE_MAX 4096

#endif
