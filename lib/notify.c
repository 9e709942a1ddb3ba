/*
 * notify.c — the wake-up files beside the database (see notify.h).
 *
 * Who may create them: the first process that needs one — a writer after its
 * commit, or a waiter arming its watch.  Under a web server that is the
 * server's user (www-data); in `make demo` or a test run as root it may be
 * root.  The database's directory is writable by the server's user already
 * (SQLite creates -wal and -shm there), so the notify directory goes beside
 * them, and whoever creates a file or the directory gives it the database
 * file's owner and mode: a file root created must stay writable by www-data.
 */
#include "notify.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int notify_init(struct notify *n, const char *db_path)
{
	struct stat sb;

	memset(n, 0, sizeof *n);
	if (stat(db_path, &sb) < 0 || asprintf(&n->dir, "%s-notify", db_path) < 0) {
		n->dir = NULL;
		return -1;
	}
	n->uid = sb.st_uid;
	n->gid = sb.st_gid;
	n->mode = sb.st_mode & 0666;
	return 0;
}

void notify_free(struct notify *n)
{
	free(n->dir);
	n->dir = NULL;
}

/* FNV-1a (http://www.isthe.com/chongo/tech/comp/fnv/): short, spreads
 * similar names ("room1", "room2") over different buckets. */
unsigned notify_bucket(const char *channel)
{
	uint32_t h = 2166136261u;

	for (const unsigned char *p = (const unsigned char *)channel; *p; p++)
		h = (h ^ *p) * 16777619u;
	return h % NOTIFY_BUCKETS;
}

int notify_path(const struct notify *n, unsigned b, char *buf, size_t size)
{
	int len = snprintf(buf, size, "%s/%03x", n->dir, b);

	return len < 0 || (size_t)len >= size ? -1 : 0;
}

/* As root, hand what we created to the database's owner. */
static void give_away(const struct notify *n, const char *path, int fd)
{
	if (geteuid() != 0 || (n->uid == 0 && n->gid == 0))
		return;
	if ((fd >= 0 ? fchown(fd, n->uid, n->gid) : chown(path, n->uid, n->gid)) < 0)
		fprintf(stderr, "rtlab store: cannot chown %s: %s\n", path, strerror(errno));
}

static int make_dir(struct notify *n)
{
	/* rwx where the database has rw: 0644 → 0755, 0664 → 0775. */
	mode_t mode = n->mode | ((n->mode & 0444) >> 2);

	if (mkdir(n->dir, mode) < 0)
		return errno == EEXIST ? 0 : -1;
	chmod(n->dir, mode);            /* past the umask, like the database */
	give_away(n, n->dir, -1);
	return 0;
}

int notify_open(struct notify *n, unsigned b, int flags)
{
	char path[4096];
	int fd, created = 0;

	if (notify_path(n, b, path, sizeof path) < 0)
		return -1;
	for (int tries = 0; tries < 3; tries++) {
		if ((fd = open(path, flags | O_CLOEXEC | O_NOFOLLOW)) >= 0)
			break;
		if (errno == ENOENT &&
		    (fd = open(path, flags | O_CREAT | O_EXCL | O_CLOEXEC, n->mode)) >= 0) {
			created = 1;
			break;
		}
		if (errno == EEXIST)
			continue;           /* another process created it first */
		if (errno != ENOENT || make_dir(n) < 0)
			break;
	}
	if (fd < 0) {
		if (!n->warned)
			fprintf(stderr, "rtlab store: cannot open %s (%s): waiters see "
			        "this process's messages only by their slow check\n",
			        path, strerror(errno));
		n->warned = 1;
		return -1;
	}
	if (created) {
		fchmod(fd, n->mode);
		give_away(n, path, fd);
	}
	return fd;
}

int64_t notify_read(int fd)
{
	int64_t id = 0;

	if (pread(fd, &id, sizeof id, 0) != (ssize_t)sizeof id)
		return 0;
	return id;
}

int notify_write(int fd, int64_t id)
{
	return pwrite(fd, &id, sizeof id, 0) == (ssize_t)sizeof id ? 0 : -1;
}
