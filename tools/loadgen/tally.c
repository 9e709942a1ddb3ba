/*
 * tally.c — who has what: a bit per (subscriber, message) for duplicates
 * and losses, the latency of every first receipt, and which subscribers
 * are subscribed (ready) and held (got the primer).
 *
 * With --procs N the subscribers live in N child processes (one loop uses
 * one core; one process may hold only so many descriptors).  A child's
 * tally_ready/tally_receive become 16-byte records on a pipe to the parent,
 * which applies them here; the latency is computed in the child from the
 * message's stamp, so the pipe's delay does not enter it.  The parent keeps
 * the publisher and every decision (all ready, all held, all delivered), so
 * a run reads the same with one process or many.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "conn.h"

struct tally tally;

static unsigned char *seen;    /* clients × stride bytes of bits */
static size_t stride;
static unsigned char *ready, *held;   /* per subscriber */
static int *receivers;         /* nmsg + 1: held subscribers that have it */
static size_t lat_cap;

void tally_init(void)
{
	stride = (size_t)(nmsg + 1 + 7) / 8;       /* + the primer */
	seen = calloc((size_t)opt.clients, stride);
	ready = calloc((size_t)opt.clients, 1);
	held = calloc((size_t)opt.clients, 1);
	receivers = calloc((size_t)nmsg + 1, sizeof *receivers);
	if (seen == NULL || ready == NULL || held == NULL || receivers == NULL)
		die("out of memory");
}

/* ---- the bookkeeping (in the one process that publishes) ---------------- */

static void apply_ready(int sub)
{
	if (sub < 0 || sub >= opt.clients || ready[sub])
		return;
	ready[sub] = 1;
	tally.nready++;
}

static void apply_receive(int sub, long long seq, uint32_t lat_us)
{
	unsigned char *bits;

	if (sub < 0 || sub >= opt.clients || seq < 0 || seq > nmsg)
		return;
	bits = seen + (size_t)sub * stride;
	if (bits[seq / 8] & (1u << (seq % 8))) {
		tally.duplicates++;
		return;
	}
	bits[seq / 8] |= (unsigned char)(1u << (seq % 8));
	if (seq == nmsg) {             /* the primer: this client is held */
		held[sub] = 1;
		tally.nheld++;
		return;
	}
	if (held[sub])
		receivers[seq]++;
	if (tally.nlat == lat_cap) {
		lat_cap = lat_cap ? lat_cap * 2 : 65536;
		tally.lat = xrealloc(tally.lat, lat_cap * sizeof *tally.lat);
	}
	tally.lat[tally.nlat++] = lat_us;
}

int tally_held(int sub) { return held[sub]; }

int tally_has(int sub, int seq)
{
	return (seen[(size_t)sub * stride + (size_t)seq / 8] >> (seq % 8)) & 1;
}

int tally_all_delivered(void)
{
	int s;

	if (pub.done < pub.published)
		return 0;
	if (pub_elsewhere)
		return 1;              /* nothing is expected on the subscribers' channel */
	for (s = 0; s < nmsg; s++)
		if (pub.acked[s] && receivers[s] < tally.nheld)
			return 0;
	return 1;
}

/* ---- records between processes ------------------------------------------ */

enum { REC_READY = 1, REC_RECEIVE, REC_COUNTERS };

struct record {
	int32_t kind, sub, seq;
	uint32_t lat_us;
};

static int out_fd = -1;        /* a worker's pipe to the parent */
static struct record out[512];
static size_t nout;

static void write_all(const void *p, size_t n)
{
	const char *b = p;

	while (n > 0) {
		ssize_t w = write(out_fd, b, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			_exit(3);          /* the parent is gone: nothing to report to */
		b += w;
		n -= (size_t)w;
	}
}

static void flush_records(void)
{
	if (nout > 0)
		write_all(out, nout * sizeof *out);
	nout = 0;
}

static void emit(int kind, int sub, long long seq, uint32_t lat_us)
{
	if (nout == sizeof out / sizeof *out)
		flush_records();
	out[nout++] = (struct record){ kind, sub, (int32_t)seq, lat_us };
}

void tally_ready(int sub)
{
	if (out_fd >= 0)
		emit(REC_READY, sub, 0, 0);
	else
		apply_ready(sub);
}

void tally_receive(int sub, long long seq, uint32_t lat_us)
{
	if (out_fd >= 0)
		emit(REC_RECEIVE, sub, seq, lat_us);
	else
		apply_receive(sub, seq, lat_us);
}

/* ---- the workers --------------------------------------------------------- */

struct worker {
	pid_t pid;
	int from;                  /* records from the worker */
	int stop;                  /* closing it tells the worker to stop */
	int done;                  /* its pipe reached EOF */
	char buf[sizeof(struct record) * 256 + sizeof(struct loop_counters)];
	size_t len;
	int want_counters;         /* a REC_COUNTERS header was read */
};

static struct worker workers[PROCS_MAX];
static int nworkers;

static void add_counters(const struct loop_counters *w)
{
	counters.requests += w->requests;
	counters.bytes_in += w->bytes_in;
	counters.bytes_out += w->bytes_out;
	counters.foreign += w->foreign;
	counters.err_connect += w->err_connect;
	counters.err_http += w->err_http;
	counters.err_reset += w->err_reset;
	counters.err_proto += w->err_proto;
}

/* Parent: records arrived from worker w. */
static void worker_input(void *arg)
{
	struct worker *w = arg;
	size_t off = 0;
	ssize_t n = read(w->from, w->buf + w->len, sizeof w->buf - w->len);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		w->done = 1;
		close(w->from);        /* also leaves the epoll set */
		return;
	}
	w->len += (size_t)n;
	for (;;) {
		if (w->want_counters) {
			struct loop_counters c;
			if (w->len - off < sizeof c)
				break;
			memcpy(&c, w->buf + off, sizeof c);
			off += sizeof c;
			add_counters(&c);
			w->want_counters = 0;
			continue;
		}
		{
			struct record r;
			if (w->len - off < sizeof r)
				break;
			memcpy(&r, w->buf + off, sizeof r);
			off += sizeof r;
			if (r.kind == REC_READY)
				apply_ready(r.sub);
			else if (r.kind == REC_RECEIVE)
				apply_receive(r.sub, r.seq, r.lat_us);
			else if (r.kind == REC_COUNTERS)
				w->want_counters = 1;
		}
	}
	memmove(w->buf, w->buf + off, w->len - off);
	w->len -= off;
}

/* Worker: the parent closed our stop pipe (or died): report and exit. */
static void worker_stop(void *arg)
{
	(void)arg;
	emit(REC_COUNTERS, 0, 0, 0);
	flush_records();
	write_all(&counters, sizeof counters);
	loop_free();
	_exit(0);
}

static int never(void) { return 0; }

void tally_fork_workers(uint64_t t_start)
{
	int k;

	for (k = 0; k < opt.procs; k++) {
		int data[2], stop[2];
		pid_t pid;
		if (pipe2(data, O_CLOEXEC) != 0 || pipe2(stop, O_CLOEXEC) != 0)
			die("pipe: %s", strerror(errno));
		pid = fork();
		if (pid < 0)
			die("fork: %s", strerror(errno));
		if (pid == 0) {
			int first = (int)((long long)opt.clients * k / opt.procs);
			int end = (int)((long long)opt.clients * (k + 1) / opt.procs);
			int j;
			/* If the parent dies, stop too (its stop pipe's EOF says so as well). */
			prctl(PR_SET_PDEATHSIG, SIGTERM);
			close(data[0]);
			close(stop[1]);
			for (j = 0; j < nworkers; j++) {
				close(workers[j].from);
				close(workers[j].stop);
			}
			loop_free();       /* the parent's epoll set and publisher */
			out_fd = data[1];
			loop_init(first, end, 0, t_start);
			loop_before_wait = flush_records;
			loop_watch(stop[0], worker_stop, NULL);
			loop_until(never, UINT64_MAX, 0);
			_exit(0);
		}
		close(data[1]);
		close(stop[0]);
		fcntl(data[0], F_SETFL, O_NONBLOCK);
		workers[nworkers] = (struct worker){ .pid = pid, .from = data[0], .stop = stop[1] };
		loop_watch(data[0], worker_input, &workers[nworkers]);
		nworkers++;
	}
}

static int workers_done(void)
{
	int k;

	for (k = 0; k < nworkers; k++)
		if (!workers[k].done)
			return 0;
	return 1;
}

void tally_stop_workers(void)
{
	int k;

	for (k = 0; k < nworkers; k++)
		close(workers[k].stop);
	/* Their last records and counters, then EOF; 60 s for 100,000 sockets
	 * to close on a busy machine. */
	if (!loop_until(workers_done, clock_now_us() + 60 * 1000000ULL, 0))
		fprintf(stderr, "loadgen: a subscriber process did not report back\n");
	for (k = 0; k < nworkers; k++) {
		if (!workers[k].done)
			kill(workers[k].pid, SIGKILL);
		waitpid(workers[k].pid, NULL, 0);
	}
	nworkers = 0;
}

void tally_free(void)
{
	free(seen);
	free(ready);
	free(held);
	free(receivers);
	free(tally.lat);
	seen = ready = held = NULL;
	receivers = NULL;
	tally.lat = NULL;
}
