/*
 * storebench.c — the store's own speed, below any web server: how long one
 * insert takes, and how long a waiting process takes to wake after another
 * process commits (the floor under every long-poll, SSE and WebSocket figure).
 *
 *   tools/storebench [-n ROUNDS] [-w WAITERS] [DB]   (DB: a fresh temp database)
 *
 * The waiter blocks in store_wait(); the writer stamps CLOCK_MONOTONIC just
 * before store_insert() and sends the stamp over a pipe; the waiter stamps
 * when store_wait() returns and the row is readable.  Both clocks are the
 * same machine's monotonic clock, so the difference is the wake latency.
 *
 * With -w N, N waiting processes instead of one, run twice:
 *  - same channel: all N wait on the channel the writer inserts on; each
 *    stamps when it has read the row.  Printed: the CPU time each woken
 *    process spent per insert (its own CLOCK_PROCESS_CPUTIME_ID, wait to
 *    read included), and how long after the insert began the last of the N
 *    had the row;
 *  - cross channel: all N wait on another channel; printed: their CPU time
 *    and wakes per insert, which per-channel wake-ups keep near zero.
 * The writer pauses between inserts (-g ms, default 20 + N/10) so that every
 * waiter is asleep again before the next one.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "clock.h"
#include "store.h"

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static double pct(int64_t *v, int n, double p)
{
	int i = (int)(p / 100.0 * (n - 1) + 0.5);

	return v[i] / 1000.0;  /* ns → µs */
}

static int make_db(const char *path)
{
	sqlite3 *db;
	FILE *f = fopen("sql/schema.sql", "r");
	char schema[8192];
	size_t n;
	int rc;

	if (f == NULL) {
		fprintf(stderr, "storebench: run from the repo root (needs sql/schema.sql)\n");
		return -1;
	}
	n = fread(schema, 1, sizeof schema - 1, f);
	schema[n] = '\0';
	fclose(f);
	if (sqlite3_open(path, &db) != SQLITE_OK)
		return -1;
	rc = sqlite3_exec(db, schema, NULL, NULL, NULL);
	sqlite3_close(db);
	return rc == SQLITE_OK ? 0 : -1;
}

/* ---- -w N: many waiters ----------------------------------------------------- */

struct shared {                  /* in MAP_SHARED memory, written by waiters */
	int64_t *read_ns;            /* [round * waiters + w]: row read at */
	int64_t *cpu_ns;             /* [w]: CPU time spent waiting and reading */
	int64_t *wakes;              /* [w]: store_wait() returned a change */
};

static int64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * One waiting process: watches `channel`, reports ready on the pipe, then
 * reads every row on its channel until `rounds` rows have come (same
 * channel), or until the row on "stop" (cross channel: the writer's last).
 */
static void waiter(const char *db, const char *channel, int rounds, int idx,
                   int nwaiters, struct shared *sh, int ready_fd)
{
	struct store *st = store_open(db, NULL);
	int64_t cursor = 0, t0;
	int got = 0, stop = 0;

	if (st == NULL || store_last_id(st, &cursor) < 0 ||
	    store_watch(st, channel, cursor) < 0 || store_watch(st, "stop", cursor) < 0)
		_exit(1);
	store_wait_fd(st);               /* the watch is armed before "ready" */
	if (write(ready_fd, "r", 1) != 1)
		_exit(1);
	t0 = cpu_ns();
	while (got < rounds && !stop) {
		struct store_msgs ms = { 0 };
		int rc = store_wait(st, 20000);
		if (rc < 0)
			_exit(1);
		if (rc == 0)
			_exit(2);                /* 20 s without the row: lost */
		sh->wakes[idx]++;
		if (store_read_after(st, NULL, cursor, STORE_READ_MAX, &ms) < 0)
			_exit(1);
		for (size_t i = 0; i < ms.n; i++) {
			if (strcmp(ms.v[i].channel, "stop") == 0)
				stop = 1;
			else if (strcmp(ms.v[i].channel, channel) == 0 && got < rounds)
				sh->read_ns[(size_t)got++ * nwaiters + idx] = clock_now_ns();
			cursor = ms.v[i].id;
		}
		store_msgs_free(&ms);
	}
	sh->cpu_ns[idx] = cpu_ns() - t0;
	store_close(st);
	_exit(0);
}

/* Starts n waiters on channel, inserts `rounds` rows on "bench", and prints. */
static int run_waiters(const char *db, int n, int rounds, int gap_ms, int cross)
{
	const char *channel = cross ? "quiet" : "bench";
	size_t cells = (size_t)rounds * n;
	struct shared sh;
	int64_t *t0 = calloc((size_t)rounds, sizeof *t0), *last = calloc((size_t)rounds, sizeof *last);
	int64_t *all = calloc(cells, sizeof *all), cpu = 0, wakes = 0;
	pid_t *pids = calloc((size_t)n, sizeof *pids);
	struct store *st;
	struct store_msg m;
	int ready[2], failed = 0;
	char c;
	void *mem = mmap(NULL, (cells + 2 * (size_t)n) * sizeof(int64_t),
	                 PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (mem == MAP_FAILED || !t0 || !last || !all || !pids || pipe(ready) < 0)
		return -1;
	sh.read_ns = mem;
	sh.cpu_ns = sh.read_ns + cells;
	sh.wakes = sh.cpu_ns + n;
	for (int w = 0; w < n; w++) {
		if ((pids[w] = fork()) == 0)
			waiter(db, channel, cross ? INT32_MAX : rounds, w, n, &sh, ready[1]);
		if (pids[w] < 0)
			return -1;
	}
	for (int w = 0; w < n; w++)
		if (read(ready[0], &c, 1) != 1)
			return -1;
	if ((st = store_open(db, NULL)) == NULL)
		return -1;
	usleep(100000);                      /* every waiter asleep in its wait */
	for (int i = 0; i < rounds; i++) {
		usleep((useconds_t)gap_ms * 1000);
		t0[i] = clock_now_ns();
		if (store_insert(st, "bench", "w", "x", "http", &m) < 0)
			return -1;
		store_msg_clear(&m);
	}
	if (cross && store_insert(st, "stop", "w", "x", "http", &m) == 0)
		store_msg_clear(&m);
	store_close(st);
	for (int w = 0; w < n; w++) {
		int status;
		waitpid(pids[w], &status, 0);
		failed += !WIFEXITED(status) || WEXITSTATUS(status) != 0;
		cpu += sh.cpu_ns[w];
		wakes += sh.wakes[w];
	}
	if (failed) {
		fprintf(stderr, "storebench: %d waiters failed (a row not seen within 20 s?)\n", failed);
		return -1;
	}
	if (cross) {
		/* The last wake of each waiter is the "stop" row: not counted. */
		printf("cross channel: %d waiters on \"quiet\", %d inserts on \"bench\" (%d ms apart):\n"
		       "  CPU per waiter per insert %.2f µs, wakes per waiter per insert %.3f\n",
		       n, rounds, gap_ms, cpu / 1000.0 / n / rounds,
		       (double)(wakes - n) / n / rounds);
	} else {
		for (int i = 0; i < rounds; i++) {
			last[i] = 0;
			for (int w = 0; w < n; w++) {
				int64_t d = sh.read_ns[(size_t)i * n + w] - t0[i];
				all[(size_t)i * n + w] = d;
				if (d > last[i])
					last[i] = d;
			}
		}
		qsort(all, cells, sizeof *all, cmp_i64);
		qsort(last, (size_t)rounds, sizeof *last, cmp_i64);
		printf("same channel: %d waiters on \"bench\", %d inserts (%d ms apart):\n"
		       "  CPU per woken waiter per insert %.1f µs (wakes per waiter per insert %.2f)\n"
		       "  row read, after insert start: p50 %.2f ms over all waiters;"
		       " the last of the %d: p50 %.2f ms  max %.2f ms\n",
		       n, rounds, gap_ms, cpu / 1000.0 / n / rounds, (double)wakes / n / rounds,
		       pct(all, (int)cells, 50) / 1000, n, pct(last, rounds, 50) / 1000,
		       pct(last, rounds, 100) / 1000);
	}
	munmap(mem, (cells + 2 * (size_t)n) * sizeof(int64_t));
	free(t0);
	free(last);
	free(all);
	free(pids);
	return 0;
}

int main(int argc, char **argv)
{
	int rounds = -1, waiters = 0, gap_ms = -1, opt, p[2], status;
	char dir[] = "/tmp/storebench.XXXXXX", path[64];
	const char *db = NULL;
	int64_t *wake, *ins;
	pid_t pid;

	while ((opt = getopt(argc, argv, "n:w:g:h")) != -1) {
		char *end;
		long v = optarg ? strtol(optarg, &end, 10) : 0;
		if (opt == 'n' && *end == '\0' && v >= 10 && v <= 100000) {
			rounds = (int)v;
		} else if (opt == 'w' && *end == '\0' && v >= 1 && v <= 10000) {
			waiters = (int)v;
		} else if (opt == 'g' && *end == '\0' && v >= 0 && v <= 10000) {
			gap_ms = (int)v;
		} else {
			fprintf(stderr, "usage: tools/storebench [-n ROUNDS 10..100000] "
			        "[-w WAITERS 1..10000] [-g GAP_MS] [DB]\n");
			return opt == 'h' ? 0 : 2;
		}
	}
	if (optind < argc) {
		db = argv[optind];
	} else {
		if (mkdtemp(dir) == NULL)
			return 1;
		snprintf(path, sizeof path, "%s/bench.db", dir);
		if (make_db(path) < 0)
			return 1;
		db = path;
	}
	if (rounds < 0)
		rounds = waiters > 0 ? 50 : 500;
	if (waiters > 0) {
		int rc;
		if (gap_ms < 0)
			gap_ms = 20 + waiters / 10;
		rc = run_waiters(db, waiters, rounds, gap_ms, 0) < 0 ||
		     run_waiters(db, waiters, rounds, gap_ms, 1) < 0;
		if (db == path) {
			char cmd[96];
			snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
			if (system(cmd) != 0)
				return 1;
		}
		return rc;
	}
	wake = calloc((size_t)rounds, sizeof *wake);
	ins = calloc((size_t)rounds, sizeof *ins);
	if (wake == NULL || ins == NULL || pipe(p) < 0)
		return 1;

	pid = fork();
	if (pid == 0) {                      /* the writer */
		struct store *st = store_open(db, NULL);
		struct store_msg m;
		close(p[0]);
		if (st == NULL)
			_exit(1);
		for (int i = 0; i < rounds; i++) {
			int64_t t0;
			usleep(2000);                /* let the waiter block again */
			t0 = clock_now_ns();
			if (store_insert(st, "bench", "w", "x", "http", &m) < 0)
				_exit(1);
			ins[i] = clock_now_ns() - t0;
			store_msg_clear(&m);
			if (write(p[1], &t0, sizeof t0) != sizeof t0 ||
			    write(p[1], &ins[i], sizeof ins[i]) != sizeof ins[i])
				_exit(1);
		}
		store_close(st);
		_exit(0);
	}
	close(p[1]);
	{
		struct store *st = store_open(db, NULL);
		int64_t cursor = 0;
		if (st == NULL || store_last_id(st, &cursor) < 0 ||
		    store_watch(st, "bench", cursor) < 0) {
			fprintf(stderr, "storebench: cannot open %s\n", db);
			return 1;
		}
		for (int i = 0; i < rounds; ) {
			struct store_msgs ms = { 0 };
			int64_t t0, t1;
			while (ms.n == 0) {
				if (store_wait(st, 5000) < 0 ||
				    store_read_after(st, "bench", cursor, 10, &ms) < 0)
					return 1;
			}
			t1 = clock_now_ns();
			cursor = ms.v[ms.n - 1].id;
			/* Under load one read may bring two rows: one round each. */
			for (size_t k = 0; k < ms.n && i < rounds; k++, i++) {
				if (read(p[0], &t0, sizeof t0) != sizeof t0 ||
				    read(p[0], &ins[i], sizeof ins[i]) != sizeof ins[i])
					return 1;
				wake[i] = t1 - t0;
			}
			store_msgs_free(&ms);
		}
		store_close(st);
	}
	waitpid(pid, &status, 0);
	qsort(wake, (size_t)rounds, sizeof *wake, cmp_i64);
	qsort(ins, (size_t)rounds, sizeof *ins, cmp_i64);
	printf("store insert (commit, WAL, synchronous=NORMAL): p50 %.1f µs  p99 %.1f µs\n",
	       pct(ins, rounds, 50), pct(ins, rounds, 99));
	printf("cross-process wake (insert start → row read by waiter): "
	       "p50 %.1f µs  p90 %.1f µs  p99 %.1f µs  max %.1f µs  (%d rounds)\n",
	       pct(wake, rounds, 50), pct(wake, rounds, 90), pct(wake, rounds, 99),
	       pct(wake, rounds, 100), rounds);
	if (db == path) {
		char cmd[96];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			return 1;
	}
	free(wake);
	free(ins);
	return 0;
}
