/*
 * store.c — the SQLite message store and its change wait (see store.h).
 *
 * Three ideas, each tied to a SQLite document:
 *  - WAL mode with synchronous=NORMAL: a commit is an append to the -wal file,
 *    durable across a process crash (not a power cut until the next
 *    checkpoint), and readers never block it.  https://www.sqlite.org/wal.html
 *  - a busy timeout plus BEGIN IMMEDIATE for writes: concurrent writers queue
 *    for the write lock inside SQLite instead of seeing SQLITE_BUSY.
 *    https://www.sqlite.org/c3ref/busy_timeout.html
 *  - no query to learn that nothing happened: after each COMMIT the writer
 *    raises its channel's number in a small file beside the database
 *    (lib/notify.h), and a waiter watches only its channels' files with
 *    inotify(7).  SQLite is asked only once there is something to read.
 *
 * Every statement is prepared once per connection and reset after use, so no
 * read transaction stays open while a process waits (an open reader would
 * hold back checkpoints and let the WAL grow).
 */
#include "store.h"
#include "clock.h"      /* clock_now_ms: the one clock */
#include "settings.h"   /* settings_int: the one RT_* reader */
#include "wake.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#define BUSY_TIMEOUT_MS     5000   /* longest a writer queues for the lock */
#define PRUNE_EVERY         64     /* apply retention every N inserts */
#define DEFAULT_KEEP        10000  /* messages kept per channel */

enum {
	Q_INSERT, Q_AFTER_CH, Q_AFTER_ALL, Q_LAST_CH, Q_LAST_ID,
	Q_BEGIN, Q_COMMIT, Q_ROLLBACK, Q_PRUNE_KEEP, Q_PRUNE_AGE, Q_COUNT
};

/*
 * Every read returns the same five columns: id, channel, event, user, and
 * the message as JSON built by SQLite (json_object escapes every string),
 * with "event" only when it is not the default "message" (docs/protocol.md "Messages").
 */
#define MSG_OBJECT \
	"json_object('id', id, 'channel', channel, 'user', user, 'text', text," \
	" 'ts', ts, 'via', via)"
#define ROW_COLUMNS \
	"id, channel, event, user, CASE event WHEN 'message' THEN " MSG_OBJECT \
	" ELSE json_insert(" MSG_OBJECT ", '$.event', event) END"

static const char *const sql_text[Q_COUNT] = {
	[Q_INSERT] =
		"INSERT INTO messages (channel, user, text, ts, via, event)"
		" VALUES (?1, ?2, ?3, ?5, ?4, ?6) RETURNING " ROW_COLUMNS,
	[Q_AFTER_CH] =
		"SELECT " ROW_COLUMNS
		" FROM messages WHERE channel = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
	[Q_AFTER_ALL] =
		"SELECT " ROW_COLUMNS
		" FROM messages WHERE id > ?2 ORDER BY id LIMIT ?3",
	[Q_LAST_CH] =
		"SELECT * FROM (SELECT " ROW_COLUMNS
		" FROM messages WHERE channel = ?1 ORDER BY id DESC LIMIT ?3)"
		" ORDER BY 1",
	[Q_LAST_ID] =
		"SELECT coalesce((SELECT seq FROM sqlite_sequence"
		" WHERE name = 'messages'), 0)",
	[Q_BEGIN]    = "BEGIN IMMEDIATE",
	[Q_COMMIT]   = "COMMIT",
	[Q_ROLLBACK] = "ROLLBACK",
	[Q_PRUNE_KEEP] =
		"DELETE FROM messages WHERE channel = ?1 AND id <= (SELECT id FROM"
		" messages WHERE channel = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
	[Q_PRUNE_AGE] =
		"DELETE FROM messages WHERE ts < ?1",
};

struct store {
	sqlite3 *db;
	sqlite3_stmt *q[Q_COUNT];
	char *path;
	dev_t dev;            /* the file we opened, to notice it being replaced */
	ino_t ino;
	struct wake wake;     /* the change wait and the writer's announcements */
	int replaced;         /* the wait found the file replaced (sticky) */
	unsigned inserts;     /* since open, for PRUNE_EVERY */
	long long keep;       /* RT_KEEP: messages per channel, 0 = unlimited */
	long long max_age_ms; /* RT_MAX_AGE in ms, 0 = unlimited */
};

/*
 * Brings a database made by an older sql/schema.sql up to this one, so a
 * course server that upgrades keeps its messages.  One step so far: the
 * event column (every older message was a plain "message").  Most opens
 * only look (one read of the schema); the first process to find the column
 * missing adds it under the write lock, and whoever comes second finds it
 * there.  ALTER TABLE ... ADD COLUMN rewrites no row: the default covers
 * them (https://www.sqlite.org/lang_altertable.html#altertabaddcol).
 * Returns 0, or -1 (no messages table, or the change failed).
 */
static int has_event_column(sqlite3 *db)
{
	sqlite3_stmt *q;
	int found = 0;

	if (sqlite3_prepare_v2(db, "SELECT 1 FROM pragma_table_info('messages')"
	                       " WHERE name = 'event'", -1, &q, NULL) != SQLITE_OK)
		return -1;
	found = sqlite3_step(q) == SQLITE_ROW;
	sqlite3_finalize(q);
	return found;
}

static int migrate(sqlite3 *db)
{
	int found = has_event_column(db);

	if (found != 0)
		return found < 0 ? -1 : 0;
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return -1;
	found = has_event_column(db);
	if (found == 0 && sqlite3_exec(db, "ALTER TABLE messages ADD COLUMN " STORE_EVENT_COLUMN,
	                               NULL, NULL, NULL) != SQLITE_OK)
		found = -1;
	if (sqlite3_exec(db, found < 0 ? "ROLLBACK" : "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		found = -1;
	return found < 0 ? -1 : 0;
}

struct store *store_open(const char *path, const char **errstr)
{
	struct store *st;
	const char *err = "out of memory";
	struct stat sb;
	int64_t last;

	if (path == NULL)
		path = getenv("RT_DB");
	if (path == NULL || *path == '\0')
		path = STORE_DEFAULT_PATH;
	if ((st = calloc(1, sizeof *st)) == NULL)
		goto fail;
	st->wake.fd = st->wake.wal_wd = -1;
	st->keep = settings_int("RT_KEEP", 0, LLONG_MAX, DEFAULT_KEEP);
	st->max_age_ms = settings_int("RT_MAX_AGE", 0, LLONG_MAX / 1000, 0) * 1000;
	if ((st->path = strdup(path)) == NULL)
		goto fail;

	err = "the message store cannot be opened";
	/* No SQLITE_OPEN_CREATE: a missing database is an installation error
	 * (run sql/schema.sql), not something to paper over with an empty file. */
	if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE |
	                    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
		goto fail;
	sqlite3_busy_timeout(st->db, BUSY_TIMEOUT_MS);
	if (sqlite3_exec(st->db, "PRAGMA journal_mode = WAL;"
	                 "PRAGMA synchronous = NORMAL;", NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	err = "the message store has no schema (run sql/schema.sql)";
	if (migrate(st->db) < 0)
		goto fail;
	for (int i = 0; i < Q_COUNT; i++)
		if (sqlite3_prepare_v3(st->db, sql_text[i], -1,
		                       SQLITE_PREPARE_PERSISTENT, &st->q[i], NULL) != SQLITE_OK)
			goto fail;
	err = "the message store cannot be read";
	if (store_last_id(st, &last) < 0 || stat(path, &sb) < 0)
		goto fail;
	st->dev = sb.st_dev;
	st->ino = sb.st_ino;
	/* RT_NO_INOTIFY=1 forces the timed fallback: for tests, and for
	 * filesystems where inotify never hears of other writers.
	 * RT_SLOW_CHECK_MS: how soon writers that do not announce (the sqlite3
	 * shell) are seen; 0 when every writer is rtlab (docs/store.md). */
	err = "out of memory";
	if (wake_init(&st->wake, path, settings_int("RT_NO_INOTIFY", 0, 1, 0) != 0,
	              (int)settings_int("RT_SLOW_CHECK_MS", 0, 60000,
	                                STORE_SLOW_CHECK_MS)) < 0)
		goto fail;
	return st;
fail:
	store_close(st);
	if (errstr != NULL)
		*errstr = err;
	return NULL;
}

void store_close(struct store *st)
{
	if (st == NULL)
		return;
	for (int i = 0; i < Q_COUNT; i++)
		sqlite3_finalize(st->q[i]);
	sqlite3_close(st->db);
	wake_free(&st->wake);
	free(st->path);
	free(st);
}

int store_reopen(struct store **st)
{
	char *path = strdup(store_path(*st));

	store_close(*st);
	*st = NULL;
	if (path == NULL)
		return -1;
	/* An admin's "rm rtlab.db; sqlite3 rtlab.db < schema.sql" is two
	 * steps: the wait may report the first before the second is done. */
	for (int waited = 0; (*st = store_open(path, NULL)) == NULL &&
	     waited < STORE_REOPEN_MS; waited += 50)
		usleep(50 * 1000);
	free(path);
	return *st != NULL ? 0 : -1;
}

const char *store_path(const struct store *st)
{
	return st->path;
}

int store_replaced(const struct store *st)
{
	struct stat sb;

	if (stat(st->path, &sb) < 0)
		return 1;
	return sb.st_dev != st->dev || sb.st_ino != st->ino;
}

/* Copies the current row (ROW_COLUMNS) of q into m. */
static int row_to_msg(sqlite3_stmt *q, struct store_msg *m)
{
	const char *channel = (const char *)sqlite3_column_text(q, 1);
	const char *event = (const char *)sqlite3_column_text(q, 2);
	const char *user = (const char *)sqlite3_column_text(q, 3);
	const char *json = (const char *)sqlite3_column_text(q, 4);
	int len = sqlite3_column_bytes(q, 4);

	memset(m, 0, sizeof *m);
	if (channel == NULL || event == NULL || user == NULL || json == NULL)
		return -1;
	m->id = sqlite3_column_int64(q, 0);
	snprintf(m->channel, sizeof m->channel, "%s", channel);
	snprintf(m->event, sizeof m->event, "%s", event);
	snprintf(m->user, sizeof m->user, "%s", user);
	if ((m->json = malloc((size_t)len + 1)) == NULL)
		return -1;
	memcpy(m->json, json, (size_t)len + 1);
	m->json_len = (size_t)len;
	return 0;
}

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void exec_quiet(struct store *st, int which)
{
	sqlite3_step(st->q[which]);
	sqlite3_reset(st->q[which]);
}

/* Retention, in its own transaction after the insert has committed.  WAL
 * readers keep reading their snapshot while it runs. */
static void prune(struct store *st, const char *channel)
{
	sqlite3_stmt *q;

	if (st->keep == 0 && st->max_age_ms == 0)
		return;
	if (sqlite3_step(st->q[Q_BEGIN]) != SQLITE_DONE) {
		sqlite3_reset(st->q[Q_BEGIN]);
		return;
	}
	sqlite3_reset(st->q[Q_BEGIN]);
	if (st->keep > 0) {
		q = st->q[Q_PRUNE_KEEP];
		sqlite3_bind_text(q, 1, channel, -1, SQLITE_STATIC);
		sqlite3_bind_int64(q, 2, st->keep);
		sqlite3_step(q);
		sqlite3_reset(q);
		sqlite3_clear_bindings(q);
	}
	if (st->max_age_ms > 0) {
		q = st->q[Q_PRUNE_AGE];
		sqlite3_bind_int64(q, 1, wall_ms() - st->max_age_ms);
		sqlite3_step(q);
		sqlite3_reset(q);
	}
	exec_quiet(st, Q_COMMIT);
}

/* For wake_announce(): a bucket number at or above a new id is from an older
 * database if this one has not handed it out. */
static int announced_older(void *arg, int64_t seen)
{
	int64_t last;

	return store_last_id(arg, &last) == 0 && seen > last;
}

int store_insert(struct store *st, const char *channel, const char *user,
                 const char *text, const char *via, struct store_msg *out)
{
	return store_insert_event(st, channel, MSG_DEFAULT_EVENT, user, text, via, out);
}

int store_insert_event(struct store *st, const char *channel, const char *event,
                       const char *user, const char *text, const char *via,
                       struct store_msg *out)
{
	sqlite3_stmt *q = st->q[Q_INSERT];
	int rc, ret = -1;

	memset(out, 0, sizeof *out);
	/* BEGIN IMMEDIATE takes the write lock up front, where the busy timeout
	 * applies; a deferred transaction could fail with SQLITE_BUSY later. */
	rc = sqlite3_step(st->q[Q_BEGIN]);
	sqlite3_reset(st->q[Q_BEGIN]);
	if (rc != SQLITE_DONE)
		return -1;
	sqlite3_bind_text(q, 1, channel, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, user, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, text, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 4, via, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 5, wall_ms());
	sqlite3_bind_text(q, 6, event, -1, SQLITE_STATIC);
	if (sqlite3_step(q) == SQLITE_ROW && row_to_msg(q, out) == 0 &&
	    sqlite3_step(q) == SQLITE_DONE)
		ret = 0;
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	if (ret == 0) {
		rc = sqlite3_step(st->q[Q_COMMIT]);
		sqlite3_reset(st->q[Q_COMMIT]);
		if (rc != SQLITE_DONE)
			ret = -1;
	}
	if (ret != 0) {
		exec_quiet(st, Q_ROLLBACK);
		store_msg_clear(out);
		return -1;
	}
	/* After COMMIT, never before: a waiter woken by the announcement must
	 * find the row when it reads. */
	wake_announce(&st->wake, channel, out->id, announced_older, st);
	if (++st->inserts % PRUNE_EVERY == 0)
		prune(st, channel);
	return 0;
}

/* Runs a bound SELECT of (id, channel, json) rows into out. */
static int read_rows(sqlite3_stmt *q, struct store_msgs *out)
{
	size_t cap = 0;
	int rc;

	out->v = NULL;
	out->n = 0;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		if (out->n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct store_msg *nv = realloc(out->v, ncap * sizeof *nv);
			if (nv == NULL)
				break;
			out->v = nv;
			cap = ncap;
		}
		if (row_to_msg(q, &out->v[out->n]) < 0)
			break;
		out->n++;
	}
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	if (rc != SQLITE_DONE) {
		store_msgs_free(out);
		return -1;
	}
	return 0;
}

static int clamp_limit(int limit)
{
	if (limit < 0)
		return 0;
	return limit > STORE_READ_MAX ? STORE_READ_MAX : limit;
}

int store_read_after(struct store *st, const char *channel, int64_t since,
                     int limit, struct store_msgs *out)
{
	sqlite3_stmt *q = st->q[channel != NULL ? Q_AFTER_CH : Q_AFTER_ALL];

	if (channel != NULL)
		sqlite3_bind_text(q, 1, channel, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, since);
	sqlite3_bind_int(q, 3, clamp_limit(limit));
	return read_rows(q, out);
}

int store_read_last(struct store *st, const char *channel, int limit,
                    struct store_msgs *out)
{
	sqlite3_stmt *q = st->q[Q_LAST_CH];

	sqlite3_bind_text(q, 1, channel, -1, SQLITE_STATIC);
	sqlite3_bind_int(q, 3, clamp_limit(limit));
	return read_rows(q, out);
}

int store_last_id(struct store *st, int64_t *id)
{
	sqlite3_stmt *q = st->q[Q_LAST_ID];
	int rc = sqlite3_step(q);

	if (rc == SQLITE_ROW)
		*id = sqlite3_column_int64(q, 0);
	sqlite3_reset(q);
	return rc == SQLITE_ROW ? 0 : -1;
}

void store_msg_clear(struct store_msg *m)
{
	if (m == NULL)
		return;
	free(m->json);
	memset(m, 0, sizeof *m);
}

void store_msgs_free(struct store_msgs *ms)
{
	if (ms == NULL)
		return;
	for (size_t i = 0; i < ms->n; i++)
		free(ms->v[i].json);
	free(ms->v);
	ms->v = NULL;
	ms->n = 0;
}

/* ---- the change wait (lib/wake.c) --------------------------------------- */

int store_watch(struct store *st, const char *channel, int64_t after)
{
	return wake_watch(&st->wake, channel, after);
}

void store_unwatch(struct store *st, const char *channel)
{
	wake_unwatch(&st->wake, channel);
}

int store_wait_fd(struct store *st)
{
	return wake_open(&st->wake);
}

int store_wait_next_ms(struct store *st)
{
	return st->replaced ? 0 : wake_next_ms(&st->wake);
}

/* One stat(2) when the database file was touched (or on the slow check):
 * a replaced store is reported, and stays reported, until the caller reopens. */
int store_wait_check(struct store *st)
{
	int found;

	if (st->replaced)
		return STORE_WAIT_RESET;
	found = wake_check(&st->wake);
	if ((found & WAKE_DB_EVENT) && store_replaced(st)) {
		st->replaced = 1;
		return STORE_WAIT_RESET;
	}
	return (found & WAKE_CHANGE) ? STORE_WAIT_CHANGE : 0;
}

int store_wait(struct store *st, int timeout_ms)
{
	int64_t deadline = timeout_ms < 0 ? -1 : clock_now_ms() + timeout_ms;
	int fd = store_wait_fd(st), rc;

	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int left = -1, next = store_wait_next_ms(st);

		if (deadline >= 0) {
			int64_t d = deadline - clock_now_ms();
			left = d > 0 ? (int)(d > INT_MAX ? INT_MAX : d) : 0;
		}
		if (next >= 0 && (left < 0 || next < left))
			left = next;
		if (poll(&pfd, fd >= 0 ? 1 : 0, left) < 0) {
			if (errno == EINTR)
				return 0;
			return -1;
		}
		if ((rc = store_wait_check(st)) != 0)
			return rc;
		if (deadline >= 0 && clock_now_ms() >= deadline)
			break;
	}
	/* Each timeout (an SSE heartbeat, a long-poll's end) also looks at the
	 * file itself, in case no directory event told us (issue 11 item 6). */
	if (store_replaced(st)) {
		st->replaced = 1;
		return STORE_WAIT_RESET;
	}
	return 0;
}
