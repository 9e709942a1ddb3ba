/*
 * rtlab-wsd — the WebSocket helper (RFC 6455), one thread, one epoll set.
 *
 * Why a helper and not a FastCGI program like the other endpoints: a
 * WebSocket is one long-lived TCP connection carrying frames both ways.
 * FastCGI (and CGI) hand a program one request and read one response; the
 * request body is finished before the answer starts, and the web server
 * owns the client socket.  So Apache (mod_proxy_wstunnel) or lighttpd
 * (mod_proxy with the upgrade header) pass the Upgrade request and then the
 * raw bytes through to this process, which owns the protocol.
 *
 *   ws/rtlab-wsd --listen 127.0.0.1:8081 --db /path/rtlab.db
 *   ws/rtlab-wsd --listen 127.0.0.1:9001 --echo     (conformance suites)
 *
 * Try it without a browser:
 *   curl -N -H 'Connection: Upgrade' -H 'Upgrade: websocket' \
 *        -H 'Sec-WebSocket-Version: 13' \
 *        -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' \
 *        'http://127.0.0.1:8081/ws?channel=lobby&history=5' --output -
 *
 * The loop (like Redis's aeMain): wait for events, handle each, flush every
 * client that got output, once a second run the timers; repeat until
 * SIGTERM, then close every client with 1001 and exit.
 */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>
#include <fcntl.h>

#include "ae.h"
#include "clock.h"
#include "conn.h"
#include "http_query.h"
#include "hub.h"
#include "settings.h"
#include "store.h"
#include "supervise.h"
#include "ws_frame.h"
#include "wsd.h"

#define DEFAULT_MAX_CONNS 20000
#define DEFAULT_PING_S    30
#define DEFAULT_QUEUE_MAX (1024 * 1024)
#define TICK_MS           1000
#define STOP_GRACE_MS     3000
#define ACCEPT_BATCH      256
#define MAX_WORKERS       64

struct wsd wsd;

static enum src_kind listener_src = SRC_LISTENER, signal_src = SRC_SIGNAL;
static int listen_fd = -1, signal_fd = -1, spare_fd = -1;
static const char *listen_spec = "127.0.0.1:8081";

/* --echo: every data message goes back to its sender, nothing is stored
 * (what the Autobahn conformance suite expects of a server). */
static void echo_message(struct conn *c, int opcode, const unsigned char *data,
                         size_t len)
{
	struct wsbuf *b = wsbuf_frame(opcode, data, len);

	conn_send(c, b);
	wsbuf_unref(b);
}

static const struct conn_events echo_events = { .message = echo_message };

static void usage(FILE *f)
{
	fprintf(f,
	    "usage: rtlab-wsd [--listen HOST:PORT] [--db PATH] [--echo] [--max-conns N]\n"
	    "                 [--workers N]\n"
	    "  --listen HOST:PORT  where to accept WebSocket clients (127.0.0.1:8081)\n"
	    "  --db STORE          the message store: a SQLite PATH or redis://HOST:PORT[/DB]\n"
	    "                      (default $RT_STORE, else $RT_DB, else %s)\n"
	    "  --echo              echo every data message back, store nothing\n"
	    "  --max-conns N       connections per worker at most, in any state;\n"
	    "                      more get 503 (%d, capped by the descriptor limit)\n"
	    "  --workers N         worker processes on the port (default: one per core)\n"
	    "environment: RT_ALLOWED_ORIGINS, RT_WS_PING (seconds between pings, %d),\n"
	    "  RT_WS_QUEUE_MAX (bytes queued for one client before it is dropped, %d),\n"
	    "  RT_WS_SNDBUF (kernel send buffer per client in bytes; default: autotuned)\n"
	    "SIGTERM or SIGINT closes every client with 1001, then exits.\n",
	    STORE_DEFAULT_PATH, DEFAULT_MAX_CONNS, DEFAULT_PING_S, DEFAULT_QUEUE_MAX);
}

/* "127.0.0.1:8081", "[::1]:8081" or ":8081" (every address).  reuseport:
 * one of several sockets on the same address (--workers, supervise.c). */
static int listen_on(const char *spec, int reuseport)
{
	char host[256];
	const char *colon = strrchr(spec, ':');
	struct addrinfo hints = { 0 }, *ai = NULL;
	size_t hlen;
	int fd = -1, one = 1, rc;

	if (!colon || (hlen = (size_t)(colon - spec)) >= sizeof host)
		return -1;
	memcpy(host, spec, hlen);
	host[hlen] = '\0';
	if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {
		memmove(host, host + 1, hlen - 2);
		host[hlen - 2] = '\0';
	}
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rc = getaddrinfo(*host ? host : NULL, colon + 1, &hints, &ai)) != 0) {
		fprintf(stderr, "rtlab-wsd: %s: %s\n", spec, gai_strerror(rc));
		return -1;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    (reuseport &&
	     setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
	    listen(fd, 4096) < 0) {
		fprintf(stderr, "rtlab-wsd: listen %s: %s\n", spec, strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	return fd;
}

/* Accepting pauses while every slot, refusal slots included, is taken:
 * the kernel's backlog holds the next clients until one leaves, so the
 * descriptors never run out (issue 11: the fd reserve). */
static int listener_paused;

static void listener_pause(int pause)
{
	if (pause == listener_paused || listen_fd < 0)
		return;
	if (pause)
		ae_del(wsd.loop, listen_fd);
	else
		ae_add(wsd.loop, listen_fd, AE_READABLE, &listener_src);
	listener_paused = pause;
}

static int slots_full(void)
{
	return conn_count() >= wsd.max_conns + CONN_REFUSE_SLOTS;
}

static void on_accept(void)
{
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		if (slots_full()) {
			listener_pause(1);
			return;
		}
		struct sockaddr_storage ss;
		socklen_t sl = sizeof ss;
		char host[NI_MAXHOST], serv[NI_MAXSERV], peer[48];
		int fd = accept4(listen_fd, (struct sockaddr *)&ss, &sl,
		                 SOCK_NONBLOCK | SOCK_CLOEXEC);
		int one = 1;

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE) {
				/* Out of descriptors: the pending client would make
				 * the listener fire forever.  Free the spare fd,
				 * take the client and drop it (libev's trick). */
				close(spare_fd);
				fd = accept(listen_fd, NULL, NULL);
				if (fd >= 0)
					close(fd);
				spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
				wsd_log(NULL, "out of file descriptors: client dropped");
			} else if (errno != EAGAIN && errno != EWOULDBLOCK &&
			           errno != EINTR && errno != ECONNABORTED) {
				wsd_log(NULL, "accept: %s", strerror(errno));
			}
			return;
		}
		/* Small frames go out at once, not after Nagle's 40 ms. */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		/* Optionally bound what the kernel buffers for a client too
		 * (autotuning may let it grow to tcp_wmem's maximum, 4 MiB). */
		if (wsd.sndbuf > 0)
			setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &wsd.sndbuf, sizeof wsd.sndbuf);
		if (getnameinfo((struct sockaddr *)&ss, sl, host, sizeof host, serv,
		                sizeof serv, NI_NUMERICHOST | NI_NUMERICSERV) != 0)
			snprintf(peer, sizeof peer, "?");
		else
			snprintf(peer, sizeof peer, "%.30s:%.8s", host, serv);
		if (!conn_new(fd, peer))
			close(fd);
	}
}

static void begin_stop(int signo)
{
	if (wsd.stopping)
		return;
	wsd.stopping = 1;
	wsd_log(NULL, "stopping on %s: closing %d clients with 1001",
	        strsignal(signo), conn_open_count());
	listener_pause(1);
	close(listen_fd);
	listen_fd = -1;
	conn_close_all(WS_CLOSE_GOING_AWAY, "server shutting down");
}

static void on_signal(void)
{
	struct signalfd_siginfo si;

	while (read(signal_fd, &si, sizeof si) == sizeof si)
		begin_stop((int)si.ssi_signo);
}

/* Blocked signals arrive through a descriptor in the epoll set, so the
 * loop handles them between events, never inside one. */
static int signals_init(void)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);   /* a vanished client is an EPIPE, not death */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -1;
	signal_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	return signal_fd < 0 ? -1 : 0;
}

/* Each client is a descriptor: raise the soft limit as far as allowed. */
static int raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 1024;
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	getrlimit(RLIMIT_NOFILE, &rl);
	return rl.rlim_cur > INT32_MAX ? INT32_MAX : (int)rl.rlim_cur;
}

static void run_timers(void)
{
	conn_tick_all(clock_now_ms());
	hub_tick();
}

/*
 * One event loop on listen_fd until SIGTERM: the whole helper with
 * --workers 1, one worker (a process of its own) otherwise.
 */
static int run_loop(int fd)
{
	int64_t next_tick, stop_deadline = 0;
	int fd_limit;

	listen_fd = fd;
	/* Keep a few descriptors for the store, the log and the spare, and
	 * the refusal slots. */
	fd_limit = raise_fd_limit() - 32 - CONN_REFUSE_SLOTS;
	if (wsd.max_conns > fd_limit)
		wsd.max_conns = fd_limit > 1 ? fd_limit : 1;

	if (!(wsd.loop = ae_loop_new(1024)) || signals_init() < 0) {
		wsd_log(NULL, "cannot start: %s", strerror(errno));
		return 1;
	}
	spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	ae_add(wsd.loop, listen_fd, AE_READABLE, &listener_src);
	ae_add(wsd.loop, signal_fd, AE_READABLE, &signal_src);
	conn_set_events(wsd.echo ? &echo_events : &hub_events);
	if (!wsd.echo)
		hub_open();   /* if the store is not there yet, hub_tick retries */
	wsd_log(NULL, "listening on %s%s, max %d clients, ping every %d s",
	        listen_spec, wsd.echo ? " (echo mode)" : "", wsd.max_conns,
	        wsd.ping_ms / 1000);

	next_tick = clock_now_ms() + TICK_MS;
	while (!wsd.stopping || conn_count() > 0) {
		int64_t now = clock_now_ms();
		int timeout = (int)(next_tick > now ? next_tick - now : 0);
		int store_ms = hub_wait_ms(), nev;

		if (store_ms >= 0 && store_ms < timeout)
			timeout = store_ms;
		nev = ae_poll(wsd.loop, timeout);
		for (int i = 0; i < nev; i++) {
			struct ae_fired *ev = &wsd.loop->fired[i];
			switch (*(enum src_kind *)ev->data) {
			case SRC_LISTENER: on_accept(); break;
			case SRC_SIGNAL: on_signal(); break;
			case SRC_STORE: hub_on_store_event(); break;
			case SRC_WRITER: hub_on_writer_event(); break;
			case SRC_CONN: conn_on_event(ev->data, ev->mask); break;
			}
		}
		if (hub_wait_ms() == 0)
			hub_on_store_event();   /* a bounded re-check is due */
		conn_flush_pending();
		if (listener_paused && !slots_full())
			listener_pause(0);

		now = clock_now_ms();
		if (now >= next_tick) {
			run_timers();
			conn_flush_pending();
			next_tick = now + TICK_MS;
		}
		if (wsd.stopping && !stop_deadline)
			stop_deadline = now + STOP_GRACE_MS;
		if (wsd.stopping && now >= stop_deadline)
			break;
	}

	conn_free_all();   /* whoever did not finish closing in time */
	wsd_log(NULL, "stopped");
	hub_close();
	if (listen_fd >= 0)
		close(listen_fd);
	close(signal_fd);
	close(spare_fd);
	ae_loop_free(wsd.loop);
	return 0;
}

static int cores(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > MAX_WORKERS ? MAX_WORKERS : (int)n;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "db", required_argument, NULL, 'd' },
		{ "echo", no_argument, NULL, 'e' },
		{ "max-conns", required_argument, NULL, 'm' },
		{ "workers", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int fds[MAX_WORKERS];
	long long n;
	int opt, workers = cores(), rc;

	wsd.max_conns = DEFAULT_MAX_CONNS;
	wsd.db_path = getenv("RT_STORE") ? getenv("RT_STORE") : getenv("RT_DB");
	wsd.node = getenv("RT_NODE");
	while ((opt = getopt_long(argc, argv, "l:d:em:w:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'l': listen_spec = optarg; break;
		case 'd': wsd.db_path = optarg; break;
		case 'e': wsd.echo = 1; break;
		case 'm':
			if (http_parse_int(optarg, 1, 1000000, &n) < 0) {
				fprintf(stderr, "rtlab-wsd: --max-conns wants 1..1000000\n");
				return 2;
			}
			wsd.max_conns = (int)n;
			break;
		case 'w':
			if (http_parse_int(optarg, 1, MAX_WORKERS, &n) < 0) {
				fprintf(stderr, "rtlab-wsd: --workers wants 1..%d\n", MAX_WORKERS);
				return 2;
			}
			workers = (int)n;
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	wsd.fault_queue = (int)settings_int("RT_WS_FAULT_QUEUE", 0, 1000000, 0);
	wsd.ping_ms = (int)settings_int("RT_WS_PING", 1, 3600, DEFAULT_PING_S) * 1000;
	wsd.queue_max = (size_t)settings_int("RT_WS_QUEUE_MAX", 4096, 1 << 30,
	                                DEFAULT_QUEUE_MAX);
	wsd.sndbuf = (int)settings_int("RT_WS_SNDBUF", 0, 64 << 20, 0);
	wsd.allowed_origins = getenv("RT_ALLOWED_ORIGINS");

	if (workers == 1) {
		/* One process, no supervisor: the helper as it always was. */
		if ((fds[0] = listen_on(listen_spec, 0)) < 0) {
			fprintf(stderr, "rtlab-wsd: cannot start\n");
			return 1;
		}
		return run_loop(fds[0]);
	}
	/* Every socket exists before the first fork, so a port in use is an
	 * error at once, and clients may connect before the workers run. */
	for (int i = 0; i < workers; i++) {
		if ((fds[i] = listen_on(listen_spec, 1)) < 0) {
			fprintf(stderr, "rtlab-wsd: cannot start\n");
			return 1;
		}
	}
	wsd_log(NULL, "listening on %s with %d workers%s, max %d clients each",
	        listen_spec, workers, wsd.echo ? " (echo mode)" : "", wsd.max_conns);
	rc = supervise(fds, workers, run_loop);
	for (int i = 0; i < workers; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return rc;
}
