/*
 * wsd.h — what every file of the helper shares: its settings, the event
 * loop, the log.  The files call each other in one direction only:
 *
 *   main.c   options, the listening socket, signals, the event loop and
 *            its once-a-second tick; wires conn.c to hub.c (or to echo)
 *   supervise.c  --workers N: the parent of N such loops on one port
 *   hub.c    the store in the loop: channels, replay on connect, fan-out
 *            of every new row to its channel's subscribers — through
 *            conn.h's small interface only
 *   conn.c   one client: handshake, frames in, the output queue out,
 *            close; it reports upward through struct conn_events
 *   writer.c the hub's inserts, in a thread of their own
 *   wsbuf.c  shared output buffers      log.c  the log line      ae.c  epoll
 *
 *   main → hub → conn → wsbuf, ae          (conn → hub only as callbacks)
 */
#ifndef RTLAB_WS_WSD_H
#define RTLAB_WS_WSD_H

#include <stddef.h>

/* What an epoll registration points at: the first member of each source. */
enum src_kind { SRC_LISTENER, SRC_SIGNAL, SRC_STORE, SRC_WRITER, SRC_CONN };

/* The helper's settings and shared state; one instance, in main.c. */
struct wsd {
	int echo;                     /* --echo: store nothing */
	int max_conns;                /* connections in any state, this process */
	int fault_queue;              /* RT_WS_FAULT_QUEUE (tests): fail every Nth queueing */
	int ping_ms;
	size_t queue_max;             /* output queue bound, bytes */
	int sndbuf;                   /* SO_SNDBUF per client; 0: kernel autotuning */
	const char *db_path;
	const char *node;             /* RT_NODE: X-Rtlab-Node on every handshake answer */
	const char *allowed_origins;
	struct ae_loop *loop;
	int stopping;                 /* SIGTERM: refuse new clients */
	char name[16];                /* "w2" in a worker of --workers N, else "" */
};
extern struct wsd wsd;

/* One line on stderr: "<time> rtlab-wsd[ <worker>]: [<who> ]<message>";
 * who is a connection's "#id peer", or NULL for the helper itself.  The line
 * goes out in one write(2), so workers sharing the log never mix lines. */
void wsd_log(const char *who, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
