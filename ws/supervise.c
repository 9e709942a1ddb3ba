/*
 * supervise.c — rtlab-wsd past one process: N workers on one port.
 *
 * One event loop uses one core, and here one process may hold at most
 * 20,000 open files (the hard RLIMIT_NOFILE, which even root cannot raise
 * inside this container).  So `--workers N` runs N copies of the loop, each
 * a process of its own with its own store connection and store wait, and a
 * parent that only supervises:
 *
 *   parent   makes N listening sockets on the same address with
 *            SO_REUSEPORT (socket(7)): the kernel spreads new connections
 *            over them by a hash of the 4-tuple, so no worker wakes for
 *            another's clients (no thundering herd on one shared socket);
 *            forks worker i with socket i; keeps its own copy of every
 *            socket, so a dead worker's pending connections wait in its
 *            backlog for the replacement instead of being reset
 *   worker   the ordinary helper (main.c's loop) on socket i
 *
 * A message published through a client of worker 1 is stored by worker 1;
 * worker 2 learns of it from its store wait, like any other process that
 * commits (send.fcgi): each worker fans out every row exactly once, in id
 * order, to its own subscribers.
 *
 * Signals: SIGTERM/SIGINT are forwarded to every worker (each closes its
 * clients with 1001), the sockets are closed, and the parent exits when the
 * last worker has; a worker still alive after STOP_KILL_MS is killed.  A
 * worker that dies otherwise is restarted (after RESTART_DELAY_MS if it
 * lived less than that, so a crash loop does not spin).  A worker asks the
 * kernel for SIGTERM if the parent dies (PR_SET_PDEATHSIG), so no worker
 * outlives a killed supervisor.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "supervise.h"
#include "wsd.h"

#define RESTART_DELAY_MS 1000
#define STOP_KILL_MS     8000   /* workers close within 3 s (main.c) */

struct worker {
	pid_t pid;                  /* 0: not running */
	int64_t started;            /* ms */
	int64_t restart_at;         /* ms; 0: no restart due */
};

static pid_t start_worker(int i, struct worker *w, const int *fds, int n,
                          int sigfd, int (*run)(int listen_fd))
{
	pid_t ppid = getpid(), pid = fork();
	sigset_t none;

	if (pid < 0) {
		wsd_log(NULL, "worker %d: fork: %s (retrying)", i + 1, strerror(errno));
		w->restart_at = clock_now_ms() + RESTART_DELAY_MS;
		return -1;
	}
	if (pid > 0) {
		w->pid = pid;
		w->started = clock_now_ms();
		w->restart_at = 0;
		wsd_log(NULL, "worker %d started (pid %d)", i + 1, (int)pid);
		return pid;
	}
	/* The worker: only its own socket, the parent's signals unblocked
	 * (main.c blocks the ones it reads through its own signalfd). */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != ppid)
		_exit(0);   /* the parent died before the prctl */
	close(sigfd);
	for (int k = 0; k < n; k++)
		if (k != i)
			close(fds[k]);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	snprintf(wsd.name, sizeof wsd.name, "w%d", i + 1);
	_exit(run(fds[i]));
}

static void close_sockets(int *fds, int n)
{
	for (int i = 0; i < n; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
}

static int worker_index(const struct worker *w, int n, pid_t pid)
{
	for (int i = 0; i < n; i++)
		if (w[i].pid == pid)
			return i;
	return -1;
}

/* Reaps every exited worker; schedules a restart unless stopping. */
static int reap(struct worker *w, int n, int stopping)
{
	int status, alive = 0;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		int i = worker_index(w, n, pid);
		int64_t now = clock_now_ms();
		if (i < 0)
			continue;
		if (WIFSIGNALED(status))
			wsd_log(NULL, "worker %d (pid %d) killed by %s", i + 1, (int)pid,
			        strsignal(WTERMSIG(status)));
		else
			wsd_log(NULL, "worker %d (pid %d) exited with %d", i + 1, (int)pid,
			        WEXITSTATUS(status));
		w[i].pid = 0;
		if (!stopping)
			w[i].restart_at = now - w[i].started < RESTART_DELAY_MS
			                  ? now + RESTART_DELAY_MS : now;
	}
	for (int i = 0; i < n; i++)
		alive += w[i].pid > 0;
	return alive;
}

int supervise(int *fds, int n, int (*run)(int listen_fd))
{
	struct worker *w = calloc((size_t)n, sizeof *w);
	sigset_t set;
	int sigfd, stopping = 0, alive;
	int64_t kill_at = 0;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGCHLD);
	if (!w || sigprocmask(SIG_BLOCK, &set, NULL) < 0 ||
	    (sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) < 0) {
		free(w);
		return 1;
	}
	for (int i = 0; i < n; i++)
		start_worker(i, &w[i], fds, n, sigfd, run);

	for (;;) {
		struct pollfd pfd = { .fd = sigfd, .events = POLLIN };
		struct signalfd_siginfo si;
		int64_t now = clock_now_ms(), next = now + 60000;

		for (int i = 0; i < n && !stopping; i++)
			if (!w[i].pid && w[i].restart_at && w[i].restart_at < next)
				next = w[i].restart_at;
		if (stopping && kill_at < next)
			next = kill_at;
		poll(&pfd, 1, (int)(next > now ? next - now : 0));

		while (read(sigfd, &si, sizeof si) == sizeof si) {
			if (si.ssi_signo == SIGCHLD || stopping)
				continue;
			stopping = 1;
			kill_at = clock_now_ms() + STOP_KILL_MS;
			wsd_log(NULL, "stopping on %s: telling %d workers",
			        strsignal((int)si.ssi_signo), n);
			for (int i = 0; i < n; i++)
				if (w[i].pid > 0)
					kill(w[i].pid, SIGTERM);
			/* No new client may wait in a socket nobody accepts on. */
			close_sockets(fds, n);
		}
		alive = reap(w, n, stopping);
		now = clock_now_ms();
		if (stopping && alive == 0)
			break;
		if (stopping && now >= kill_at) {
			for (int i = 0; i < n; i++)
				if (w[i].pid > 0) {
					wsd_log(NULL, "worker %d (pid %d) did not stop: killing it",
					        i + 1, (int)w[i].pid);
					kill(w[i].pid, SIGKILL);
				}
			kill_at = now + 60000;
		}
		for (int i = 0; i < n && !stopping; i++)
			if (!w[i].pid && w[i].restart_at && now >= w[i].restart_at)
				start_worker(i, &w[i], fds, n, sigfd, run);
	}
	wsd_log(NULL, "stopped");
	close(sigfd);
	free(w);
	return 0;
}
