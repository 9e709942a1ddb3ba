/*
 * notify.h — the wake-up files beside the database (used by lib/store.c only).
 *
 * SQLite stays the one source of truth; these files only say "look now".
 * Beside rtlab.db lives a directory rtlab.db-notify/ (named like SQLite's own
 * -wal and -shm files) with one 8-byte file per *bucket* of channels: a
 * channel's bucket is a hash of its name modulo NOTIFY_BUCKETS, and the file
 * holds the newest message id committed in that bucket (int64, host byte
 * order, at offset 0; `od -An -td8 FILE` shows it).  After each COMMIT the
 * writer raises its bucket's number; a waiting process has an inotify watch
 * on its bucket's file only, so a commit on another channel does not wake it.
 *
 * Buckets, not one file per channel: the number of files stays bounded (at
 * most NOTIFY_BUCKETS) whatever names clients invent, so a waiter may create
 * its file if it is missing, and nothing ever has to delete one.  Two
 * channels that share a bucket wake each other's waiters: a spurious read,
 * never a missed one.
 */
#ifndef RTLAB_NOTIFY_H
#define RTLAB_NOTIFY_H

#include <stdint.h>
#include <sys/types.h>

#define NOTIFY_BUCKETS 1024

struct notify {
	char *dir;        /* "<db>-notify" */
	uid_t uid;        /* the database file's owner, mode: what new */
	gid_t gid;        /* files and the directory get (see notify.c) */
	mode_t mode;
	int warned;       /* a failure was reported on stderr once */
};

/* Fills n for the database at db_path (which must exist).  0 or -1. */
int notify_init(struct notify *n, const char *db_path);
void notify_free(struct notify *n);

/* The bucket of a channel name: 0 .. NOTIFY_BUCKETS-1. */
unsigned notify_bucket(const char *channel);

/* The file of bucket b, into buf; 0, or -1 if too long. */
int notify_path(const struct notify *n, unsigned b, char *buf, size_t size);

/* Opens bucket b's file, creating it (and the directory) if needed, with the
 * database's owner and mode.  flags: O_RDONLY or O_RDWR.  fd or -1. */
int notify_open(struct notify *n, unsigned b, int flags);

/* The number in an open file (0 for an empty or new one). */
int64_t notify_read(int fd);

/* Writes id into an open file; 0 or -1. */
int notify_write(int fd, int64_t id);

#endif
