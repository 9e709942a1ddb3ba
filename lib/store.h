/*
 * store.h — the shared message store: one SQLite database in WAL mode, or
 * (RT_STORE=redis://HOST:PORT[/DB]) one Redis shared by several hosts.
 *
 * Every transport (send/poll/longpoll/sse endpoints and the WebSocket helper)
 * talks to the store only through this interface; lib/store.c forwards each
 * call to the backend the store's name chose (lib/store_backend.h):
 * lib/store_sqlite.c or lib/store_redis.c.  Ids, cursors, JSON and the
 * change wait behave the same on both (docs/store.md, docs/scaling.md).
 *
 *   open → insert / read after an id / last id → wait for a change → close
 *
 * Messages come back as ready-made JSON built by SQLite's json_object(), so no
 * caller ever escapes a string by hand:
 *   {"id":42,"channel":"lobby","user":"alice","text":"hi","ts":1795830491671,"via":"ws"}
 * and, for a named event (docs/protocol.md "Messages"), "event" last:
 *   {"id":43,"channel":"match","user":"referee","text":"…","ts":…,"via":"http","event":"goal"}
 *
 * The change wait, per channel: a process that holds a client (long-poll,
 * SSE, the helper) says which channels it waits on (store_watch), then blocks
 * in store_wait() — or puts store_wait_fd() in its own poll/epoll set — and
 * wakes when a commit on one of *those* channels may have something for it.
 * A commit on another channel costs it nothing: it is not even woken.  With
 * SQLite, writers announce each commit in a small file per bucket of
 * channels beside the database, and the fd is an inotify instance watching
 * the waiter's files (lib/notify.h, lib/wake.h, docs/store.md).  With Redis,
 * the insert PUBLISHes on a pub/sub channel per message channel and the fd
 * is a connection SUBSCRIBEd to the waiter's channels (docs/scaling.md).
 */
#ifndef RTLAB_STORE_H
#define RTLAB_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "msg.h"

#define STORE_CHANNEL_MAX 64    /* bytes, [A-Za-z0-9_-] */
#define STORE_USER_MAX    32    /* characters (code points) of UTF-8 */
#define STORE_TEXT_MAX    4096  /* bytes of UTF-8 */
#define STORE_READ_MAX    500   /* most messages one read returns */

struct store;

/*
 * The event column, as sql/schema.sql declares it; store_open() adds it to
 * a database created before it existed (the messages keep "message").
 */
#define STORE_EVENT_COLUMN \
	"event TEXT NOT NULL DEFAULT 'message' CHECK (length(event) BETWEEN 1 AND 32" \
	" AND event GLOB '[a-z]*' AND event NOT GLOB '*[^a-z0-9_-]*')"

struct store_msg {
	int64_t id;
	char    channel[STORE_CHANNEL_MAX + 1];
	char    event[MSG_EVENT_MAX + 1];      /* "message" unless named */
	char    user[MSG_USER_BYTES_MAX + 1];  /* who sent it (the helper's "latest wins" key) */
	char   *json;       /* the message as JSON, NUL-terminated; owned */
	size_t  json_len;
};

struct store_msgs {
	struct store_msg *v;  /* oldest first, ascending id */
	size_t n;
};

/*
 * Opens the store named by path: "redis://HOST:PORT[/DB]", "sqlite:PATH" or
 * a plain PATH (NULL: $RT_STORE, else $RT_DB, else STORE_DEFAULT_PATH).  A
 * SQLite database must have its schema (sql/schema.sql).  On failure
 * returns NULL and sets *errstr to a static sentence fit for a 503 detail.
 * Free with store_close().
 */
#define STORE_DEFAULT_PATH "/var/lib/rtlab/rtlab.db"
struct store *store_open(const char *path, const char **errstr);
void store_close(struct store *st);          /* accepts NULL */
const char *store_path(const struct store *st);

/*
 * After STORE_WAIT_RESET: closes *st and opens the database now at its path,
 * waiting up to STORE_REOPEN_MS for it to exist with its schema (deleting and
 * recreating it are two steps).  0, or -1 with *st NULL.
 */
#define STORE_REOPEN_MS 2000
int store_reopen(struct store **st);

/*
 * 1 if the file at the store's path is no longer the one it opened (deleted,
 * or recreated from sql/schema.sql by an admin), else 0.  A long-lived
 * process checks it per request (one stat) and reopens: its open connection
 * would otherwise keep reading the old, unlinked file for ever.  Redis: 1
 * when the connection is gone (one poll(2), no round trip), so the next
 * request connects again — service returns by itself with Redis.
 */
int store_replaced(const struct store *st);

/*
 * Stores one message (arguments already checked by msg_fields_check) and fills
 * *out with it as stored (id, ts).  Returns 0, or -1 if the store failed
 * (the message is then not stored).  Caller frees with store_msg_clear().
 * Retention is applied by every insert, inside its transaction: its
 * channel keeps at most RT_KEEP messages (+ a slack of RT_KEEP / 8, at most
 * 64), nothing older than RT_MAX_AGE seconds stays, and a new channel beyond
 * RT_MAX_CHANNELS evicts the one idle longest (docs/store.md; Redis: the
 * same bounds with its own trimming, docs/scaling.md).
 */
int store_insert(struct store *st, const char *channel, const char *user,
                 const char *text, const char *via, struct store_msg *out);

/*
 * The same with a named event (msg_check_event; store_insert() stores
 * "message").  The stored JSON carries "event" when it is not "message".
 */
int store_insert_event(struct store *st, const char *channel, const char *event,
                       const char *user, const char *text, const char *via,
                       struct store_msg *out);

/*
 * Messages with id > since, ascending, at most limit (≤ STORE_READ_MAX).
 * channel NULL means every channel (what the WebSocket helper fans out).
 * Returns 0 or -1.  Caller frees with store_msgs_free().
 */
int store_read_after(struct store *st, const char *channel, int64_t since,
                     int limit, struct store_msgs *out);

/* The newest `limit` messages of a channel, returned oldest first. */
int store_read_last(struct store *st, const char *channel, int limit,
                    struct store_msgs *out);

/*
 * The newest id ever handed out (AUTOINCREMENT's sequence, so it does not go
 * back when retention deletes rows); 0 for an empty store.  Returns 0 or -1.
 */
int store_last_id(struct store *st, int64_t *id);

void store_msg_clear(struct store_msg *m);     /* accepts NULL */
void store_msgs_free(struct store_msgs *ms);   /* accepts NULL */

/*
 * The change wait.
 *
 * store_watch(st, channel, after): from now on the wait wakes for commits on
 * `channel` with an id above `after` (the caller's cursor: everything up to
 * it has been read or deliberately skipped).  Call it after the read that set
 * the cursor: a commit in between is reported at once.  A handle may watch
 * several channels (the helper watches each channel that has subscribers);
 * store_unwatch() undoes one store_watch() (watches are counted).  Returns 0,
 * or -1 when out of memory.
 *
 * store_wait() blocks until a watched channel may have news, or timeout_ms
 * passes (-1: forever).  Returns
 *   STORE_WAIT_CHANGE (1)  read again after your cursor: it may rarely be
 *                          spurious, it is never late;
 *   0                      timeout (or EINTR);
 *   STORE_WAIT_RESET (2)   the database file was deleted or recreated
 *                          (store_replaced() is 1): close this handle and
 *                          open the store again; ids start again from 1;
 *   -1                     error; with Redis, also "the store is gone"
 *                          (Redis stopped): not a reset — nothing was lost,
 *                          the caller's cursor stays good once it is back.
 * Who is "never late" for: every rtlab writer (store_insert announces its
 * commit).  A writer that is not rtlab (the sqlite3 shell) is noticed by a
 * slower check, within about STORE_SLOW_CHECK_MS (RT_SLOW_CHECK_MS; 0 turns
 * it off) while the database is being written, and at no cost while it is
 * idle.  A connection's own
 * commits need no wake: after store_insert() the caller reads on its own.
 *
 * For an event loop: put store_wait_fd() (readable on a possible change; -1
 * when inotify is unavailable) in your epoll set.  When it is readable — or
 * when store_wait_next_ms() ms have passed — call store_wait_check(), which
 * drains the fd and returns STORE_WAIT_CHANGE, STORE_WAIT_RESET or 0.
 * store_wait_next_ms() is how long the loop may sleep at most before calling
 * store_wait_check() again (-1: no limit).
 */
#define STORE_WAIT_CHANGE   1
#define STORE_WAIT_RESET    2
#define STORE_SLOW_CHECK_MS 1000   /* default of $RT_SLOW_CHECK_MS */

int store_watch(struct store *st, const char *channel, int64_t after);
void store_unwatch(struct store *st, const char *channel);
int store_wait(struct store *st, int timeout_ms);
int store_wait_fd(struct store *st);
int store_wait_check(struct store *st);
int store_wait_next_ms(struct store *st);

#endif
