/*
 * wake.h — the change wait behind store_wait() (used by lib/store.c only).
 *
 * One inotify instance per waiting store handle, with
 *  - a watch on the notify file of each bucket the caller waits on
 *    (IN_MODIFY: a writer announced a commit there — lib/notify.h);
 *  - a one-shot watch on the database's -wal file: the slow check for
 *    writers that do not announce (the sqlite3 shell), at most once per
 *    slow_ms while the database is written to, never when it is idle;
 *  - a watch on the database's directory for the database file being
 *    deleted, created or moved: the store may have been replaced.
 * Without inotify (or with RT_NO_INOTIFY=1) the same checks run on a timer.
 */
#ifndef RTLAB_WAKE_H
#define RTLAB_WAKE_H

#include <stddef.h>
#include <stdint.h>

#include "notify.h"

#define WAKE_FALLBACK_MS  250    /* no inotify: how often the files are read */

struct wake_watch;               /* one watched bucket */

struct wake {
	struct notify nt;
	char *wal_path;              /* "<db>-wal" */
	char *wal_name, *db_name;    /* their basenames, for directory events */
	char *dir;                   /* the database's directory */
	int no_inotify;              /* RT_NO_INOTIFY=1 */
	int slow_ms;                 /* the slow check's period, 0: none */
	int opened;                  /* wake_open() has run */
	int fd;                      /* the inotify instance, -1 without */
	int wal_wd;                  /* the one-shot -wal watch, -1 when not armed */
	struct wake_watch *w;        /* watched buckets */
	size_t nw, wcap;
	int pending;                 /* report a change at the next check */
	int64_t slow_due;            /* ms: when the slow check is due, 0: not */
	int64_t next_tick;           /* ms: the fallback's next look */
	int64_t wal_size, wal_mtime; /* the fallback's view of the -wal file */
};

/* What wake_check() found (a bit set). */
#define WAKE_CHANGE   1          /* a watched bucket moved: read again */
#define WAKE_DB_EVENT 2          /* the database file was touched: is it replaced? */

int wake_init(struct wake *wk, const char *db_path, int no_inotify, int slow_ms);
void wake_free(struct wake *wk);
int wake_open(struct wake *wk);          /* the instance, on the first wait */
int wake_watch(struct wake *wk, const char *channel, int64_t after);
void wake_unwatch(struct wake *wk, const char *channel);
int wake_check(struct wake *wk);
int wake_next_ms(struct wake *wk);

/* The writer's side: announce a committed id on channel's bucket.  older()
 * says whether a number above id is left by a database since replaced. */
void wake_announce(struct wake *wk, const char *channel, int64_t id,
                   int (*older)(void *arg, int64_t seen), void *arg);

#endif
