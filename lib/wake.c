/*
 * wake.c — the change wait behind store_wait() (see wake.h, notify.h).
 *
 * What a wake costs, and why it is cheap: a commit on channel A writes A's
 * bucket file once; the kernel queues an event only for the inotify
 * instances that watch that file (inotify(7)), so a process waiting on
 * channel B is not even scheduled.  A process waiting on A wakes, reads the
 * event (one read(2)) and reports "read again": no SQLite, no -shm lock
 * until the caller reads the rows it was woken for.
 *
 * The one race: a caller reads the store, then arms its watch; a commit in
 * between would go unseen.  So wake_watch() arms first and then reads the
 * bucket's number: above the caller's cursor means "read again" at once.
 */
#include "wake.h"
#include "clock.h"      /* clock_now_ms: the one clock */

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct wake_watch {
	unsigned bucket;
	unsigned refs;               /* channels of the caller in this bucket */
	int wd;                      /* its inotify watch, -1 without */
	int64_t seen;                /* its number at the last look (fallback) */
};

int wake_init(struct wake *wk, const char *db_path, int no_inotify, int slow_ms)
{
	char *copy1 = strdup(db_path), *copy2 = strdup(db_path);
	int rc = -1;

	memset(wk, 0, sizeof *wk);
	wk->fd = wk->wal_wd = -1;
	wk->no_inotify = no_inotify;
	wk->slow_ms = slow_ms;
	if (copy1 == NULL || copy2 == NULL)
		goto out;
	wk->dir = strdup(dirname(copy1));
	wk->db_name = strdup(basename(copy2));
	if (wk->dir == NULL || wk->db_name == NULL)
		goto out;
	if (asprintf(&wk->wal_name, "%s-wal", wk->db_name) < 0) {
		wk->wal_name = NULL;
		goto out;
	}
	if (asprintf(&wk->wal_path, "%s-wal", db_path) < 0) {
		wk->wal_path = NULL;
		goto out;
	}
	rc = notify_init(&wk->nt, db_path);
out:
	free(copy1);
	free(copy2);
	return rc;
}

void wake_free(struct wake *wk)
{
	if (wk->fd >= 0)
		close(wk->fd);
	notify_free(&wk->nt);
	free(wk->w);
	free(wk->dir);
	free(wk->db_name);
	free(wk->wal_name);
	free(wk->wal_path);
	memset(wk, 0, sizeof *wk);
	wk->fd = wk->wal_wd = -1;
}

/* ---- the writer's side ---------------------------------------------------- */

/*
 * Writers finish their commits in any order (the pwrite comes after COMMIT
 * has released SQLite's lock), so under an flock(2) of the file the number
 * only grows: a waiter that compares it with its cursor is never shown an
 * older commit hiding a newer one.  Every write is an IN_MODIFY event for the
 * bucket's waiters.  A number at or above id that the store has not reached
 * was left by a database since deleted and recreated (ids start again at 1):
 * it is replaced, or the new database's commits would never be announced.
 */
void wake_announce(struct wake *wk, const char *channel, int64_t id,
                   int (*older)(void *arg, int64_t seen), void *arg)
{
	int fd = notify_open(&wk->nt, notify_bucket(channel), O_RDWR);
	int64_t seen;

	if (fd < 0)
		return;                  /* waiters still see it by the slow check */
	if (flock(fd, LOCK_EX) == 0) {
		seen = notify_read(fd);
		if (seen < id || (seen >= id && older(arg, seen)))
			notify_write(fd, id);
	}
	close(fd);                   /* and with it the lock */
}

/* ---- the waiter's side ---------------------------------------------------- */

/* The -wal watch is one-shot: after one event it is gone until the slow check
 * re-arms it, so a busy database costs a waiter one wake per slow_ms.  With
 * slow_ms 0 (RT_SLOW_CHECK_MS=0: every writer is rtlab) there is none. */
static void arm_wal(struct wake *wk)
{
	if (wk->fd >= 0 && wk->wal_wd < 0 && wk->slow_ms > 0)
		wk->wal_wd = inotify_add_watch(wk->fd, wk->wal_path, IN_MODIFY | IN_ONESHOT);
}

/* The fallback's view of the -wal file: size and mtime, 1 if they moved. */
static int wal_moved(struct wake *wk)
{
	struct stat sb;
	int64_t mtime;

	if (stat(wk->wal_path, &sb) < 0)
		return 0;
	mtime = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
	if (sb.st_size == wk->wal_size && mtime == wk->wal_mtime)
		return 0;
	wk->wal_size = sb.st_size;
	wk->wal_mtime = mtime;
	return 1;
}

int wake_open(struct wake *wk)
{
	if (wk->opened)
		return wk->fd;
	/* An inotify instance is a per-user resource (fs.inotify.
	 * max_user_instances, 128 by default): only processes that wait take
	 * one, on their first wait, not every send or poll process. */
	wk->opened = 1;
	wk->next_tick = clock_now_ms() + WAKE_FALLBACK_MS;
	if (wk->no_inotify) {
		wal_moved(wk);
		return -1;
	}
	wk->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (wk->fd >= 0 && inotify_add_watch(wk->fd, wk->dir, IN_CREATE | IN_MOVED_TO |
	                                     IN_DELETE | IN_MOVED_FROM) < 0) {
		close(wk->fd);
		wk->fd = -1;
	}
	if (wk->fd < 0) {
		fprintf(stderr, "rtlab store: no inotify (%s); checking for changes "
		        "every %d ms instead\n", strerror(errno), WAKE_FALLBACK_MS);
		wal_moved(wk);
		return -1;
	}
	arm_wal(wk);                 /* fails harmlessly if there is no -wal yet */
	return wk->fd;
}

static struct wake_watch *find_bucket(struct wake *wk, unsigned bucket)
{
	for (size_t i = 0; i < wk->nw; i++)
		if (wk->w[i].bucket == bucket)
			return &wk->w[i];
	return NULL;
}

/* Watch first, then read the number: a commit between the caller's last read
 * and the watch is then either in the number or a later event. */
static int64_t arm_bucket(struct wake *wk, struct wake_watch *w)
{
	char path[4096];
	int fd = notify_open(&wk->nt, w->bucket, O_RDONLY);
	int64_t seen = 0;

	if (fd < 0)
		return 0;
	if (wk->fd >= 0 && w->wd < 0 &&
	    notify_path(&wk->nt, w->bucket, path, sizeof path) == 0)
		w->wd = inotify_add_watch(wk->fd, path, IN_MODIFY);
	seen = notify_read(fd);
	close(fd);
	return seen;
}

int wake_watch(struct wake *wk, const char *channel, int64_t after)
{
	unsigned bucket = notify_bucket(channel);
	struct wake_watch *w = find_bucket(wk, bucket);
	int64_t seen;

	wake_open(wk);
	if (w == NULL) {
		if (wk->nw == wk->wcap) {
			size_t ncap = wk->wcap ? wk->wcap * 2 : 4;
			struct wake_watch *nv = realloc(wk->w, ncap * sizeof *nv);
			if (nv == NULL)
				return -1;
			wk->w = nv;
			wk->wcap = ncap;
		}
		w = &wk->w[wk->nw++];
		w->bucket = bucket;
		w->refs = 0;
		w->wd = -1;
		w->seen = 0;
	}
	/* Above the caller's cursor: there is news already.  Moved since the
	 * bucket's last look (another channel of the caller shares it, and the
	 * fallback has not looked yet): news for that channel, perhaps. */
	seen = arm_bucket(wk, w);
	if (seen > after || (w->refs > 0 && seen != w->seen))
		wk->pending = 1;
	w->refs++;
	w->seen = seen;
	return 0;
}

void wake_unwatch(struct wake *wk, const char *channel)
{
	struct wake_watch *w = find_bucket(wk, notify_bucket(channel));

	if (w == NULL || --w->refs > 0)
		return;
	if (w->wd >= 0)
		inotify_rm_watch(wk->fd, w->wd);
	*w = wk->w[--wk->nw];
}

/* Reads every queued event; returns WAKE_* bits. */
static int drain_events(struct wake *wk)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	int found = 0;
	ssize_t n;

	/* One read(2) per wake as a rule: a short read means the queue is empty
	 * (an event that comes later makes the fd readable again). */
	while ((n = read(wk->fd, buf, sizeof buf)) > 0) {
		int more = (size_t)n + sizeof(struct inotify_event) + NAME_MAX + 1 > sizeof buf;
		for (char *p = buf; p < buf + n; ) {
			const struct inotify_event *ev = (const struct inotify_event *)p;
			p += sizeof *ev + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) {
				found |= WAKE_CHANGE | WAKE_DB_EVENT;   /* events were lost */
			} else if (ev->wd == wk->wal_wd) {
				/* a write to the -wal (the watch is gone now), or it went */
				wk->wal_wd = -1;
				if (wk->slow_due == 0)
					wk->slow_due = clock_now_ms() + wk->slow_ms;
			} else if (ev->len > 0 && strcmp(ev->name, wk->db_name) == 0) {
				found |= WAKE_DB_EVENT;
			} else if (ev->len > 0 && strcmp(ev->name, wk->wal_name) == 0) {
				if ((ev->mask & (IN_CREATE | IN_MOVED_TO)) && wk->slow_due == 0)
					arm_wal(wk);
			} else if (ev->len == 0) {
				for (size_t i = 0; i < wk->nw; i++) {
					if (wk->w[i].wd != ev->wd)
						continue;
					found |= WAKE_CHANGE;
					if (ev->mask & IN_IGNORED) {
						/* its file was deleted: make it again, watch it */
						wk->w[i].wd = -1;
						arm_bucket(wk, &wk->w[i]);
					}
				}
			}
		}
		if (!more)
			break;
	}
	return found;
}

/* The fallback: read every watched bucket's number. */
static int read_buckets(struct wake *wk)
{
	int found = 0;

	for (size_t i = 0; i < wk->nw; i++) {
		int64_t seen = arm_bucket(wk, &wk->w[i]);
		if (seen != wk->w[i].seen) {
			wk->w[i].seen = seen;
			found = WAKE_CHANGE;
		}
	}
	return found;
}

int wake_check(struct wake *wk)
{
	int found = wk->pending ? WAKE_CHANGE : 0;
	int64_t now;

	wake_open(wk);
	wk->pending = 0;
	if (wk->fd >= 0)
		found |= drain_events(wk);
	now = clock_now_ms();
	if (wk->fd < 0 && now >= wk->next_tick) {
		wk->next_tick = now + WAKE_FALLBACK_MS;
		found |= read_buckets(wk) | WAKE_DB_EVENT;
		if (wal_moved(wk) && wk->slow_due == 0 && wk->slow_ms > 0)
			wk->slow_due = now + wk->slow_ms;
	}
	if (wk->slow_due != 0 && now >= wk->slow_due) {
		/* Re-arm first, so a write after this look is an event again.
		 * Something was written that we may not have been told of: the
		 * caller reads once (a spurious read at worst, once a second). */
		wk->slow_due = 0;
		arm_wal(wk);
		found |= WAKE_CHANGE | WAKE_DB_EVENT;
	}
	return found;
}

int wake_next_ms(struct wake *wk)
{
	int64_t now, due = -1;

	wake_open(wk);
	if (wk->pending)
		return 0;
	if (wk->fd < 0)
		due = wk->next_tick;
	if (wk->slow_due != 0 && (due < 0 || wk->slow_due < due))
		due = wk->slow_due;
	if (due < 0)
		return -1;
	now = clock_now_ms();
	return due > now ? (int)(due - now) : 0;
}
