/*
 * supervise.h — the parent of `rtlab-wsd --workers N` (supervise.c).
 */
#ifndef RTLAB_WS_SUPERVISE_H
#define RTLAB_WS_SUPERVISE_H

/*
 * fds: n listening sockets bound to one address with SO_REUSEPORT.  Forks
 * worker i (wsd.name "w<i+1>") to run run(fds[i]) and exit with its result;
 * restarts a worker that dies; on SIGTERM/SIGINT forwards SIGTERM to every
 * worker, closes the sockets (and sets each fds[i] to -1) and returns 0 once
 * they have all exited.  Returns 1 if it cannot start.
 */
int supervise(int *fds, int n, int (*run)(int listen_fd));

#endif
