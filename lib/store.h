/*
 * store.h — the shared message store: one SQLite database in WAL mode.
 *
 * Every transport (send/poll/longpoll/sse endpoints and the WebSocket helper)
 * talks to the store only through this interface, so a second backend (for
 * instance Redis Streams, for a course that outgrows one host) can be added
 * without touching them.
 *
 *   open → insert / read after an id / last id → wait for a change → close
 *
 * Messages come back as ready-made JSON built by SQLite's json_object(), so no
 * caller ever escapes a string by hand:
 *   {"id":42,"channel":"lobby","user":"alice","text":"hi","ts":1795830491671,"via":"ws"}
 *
 * The change wait: a process that holds a client (long-poll, SSE, the helper)
 * blocks in store_wait() — or puts store_wait_fd() in its own poll/epoll set —
 * and wakes when *another* connection commits.  On Linux the fd is an inotify
 * watch on the database directory (the WAL file is appended on every commit);
 * each wake is confirmed with PRAGMA data_version.  Where inotify is missing
 * (or with RT_NO_INOTIFY=1, for network filesystems) the wait falls back to
 * a bounded timed check.  A connection's own commits do
 * not wake it: after store_insert() the caller already has the message.
 */
#ifndef RTLAB_STORE_H
#define RTLAB_STORE_H

#include <stddef.h>
#include <stdint.h>

#define STORE_CHANNEL_MAX 64    /* bytes, [A-Za-z0-9_-] */
#define STORE_USER_MAX    32    /* characters (code points) of UTF-8 */
#define STORE_TEXT_MAX    4096  /* bytes of UTF-8 */
#define STORE_READ_MAX    500   /* most messages one read returns */

struct store;

struct store_msg {
	int64_t id;
	char    channel[STORE_CHANNEL_MAX + 1];
	char   *json;       /* the message as JSON, NUL-terminated; owned */
	size_t  json_len;
};

struct store_msgs {
	struct store_msg *v;  /* oldest first, ascending id */
	size_t n;
};

/*
 * Opens the database at path (NULL: $RT_DB, else STORE_DEFAULT_PATH).  The
 * schema must exist (sql/schema.sql).  On failure returns NULL and sets
 * *errstr to a static sentence fit for a 503 detail.  Free with store_close().
 */
#define STORE_DEFAULT_PATH "/var/lib/rtlab/rtlab.db"
struct store *store_open(const char *path, const char **errstr);
void store_close(struct store *st);          /* accepts NULL */
const char *store_path(const struct store *st);

/*
 * 1 if the file at the store's path is no longer the one it opened (deleted,
 * or recreated from sql/schema.sql by an admin), else 0.  A long-lived
 * process checks it per request (one stat) and reopens: its open connection
 * would otherwise keep reading the old, unlinked file for ever.
 */
int store_replaced(const struct store *st);

/*
 * Stores one message (arguments already checked by msg_fields_check) and fills
 * *out with it as stored (id, ts).  Returns 0, or -1 if the store failed
 * (the message is then not stored).  Caller frees with store_msg_clear().
 * Retention is applied by every insert, in its own transaction: its
 * channel keeps at most RT_KEEP messages (+ a slack of RT_KEEP / 8, at most
 * 64), nothing older than RT_MAX_AGE seconds stays, and a new channel beyond
 * RT_MAX_CHANNELS evicts the one idle longest (docs/store.md).
 */
int store_insert(struct store *st, const char *channel, const char *user,
                 const char *text, const char *via, struct store_msg *out);

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
 * store_wait() blocks until another connection commits or timeout_ms passes
 * (-1: forever).  Returns 1 on a change, 0 on timeout (or EINTR), -1 on error.
 * A return of 1 means "read again": it may rarely be spurious, never late.
 *
 * For an event loop: put store_wait_fd() (readable on a possible change; -1
 * when inotify is unavailable) in your epoll set.  When it is readable — or
 * when store_wait_next_ms() ms have passed — call store_wait_check(), which
 * drains the fd and returns 1 if the data changed, else 0.
 * store_wait_next_ms() is how long the loop may sleep at most before calling
 * store_wait_check() again (-1: no limit): it is short while a commit seen on
 * the WAL is not yet visible, and bounded when there is no inotify.
 */
int store_wait(struct store *st, int timeout_ms);
int store_wait_fd(struct store *st);
int store_wait_check(struct store *st);
int store_wait_next_ms(struct store *st);

#endif
