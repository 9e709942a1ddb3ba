/*
 * loadgen.h — what loadgen's parts share: the options, the targets, the
 * run's identity, and the interfaces between the loop (loop.c), the
 * bookkeeping of who got what (tally.c) and the run (main.c).
 *
 * The protocol parsers (http_resp, sse_client, ws_client, message) do no
 * I/O and know nothing of this header; proc.c and report.c neither.
 */
#ifndef LOADGEN_H
#define LOADGEN_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include "proc.h"

#define URL_MAX   2048
#define TEXT_MAX  4096             /* SPEC: text is 1–4096 bytes */
#define PUB_MAX   16               /* publisher connections at most */
#define PROCS_MAX 64               /* loadgen processes (--procs) */

enum technique { TECH_POLL, TECH_LONGPOLL, TECH_SSE, TECH_WS };
extern const char *const tech_name[];

struct options {
	enum technique tech;
	int clients;
	double rate;               /* messages per second */
	double duration;           /* seconds of publishing */
	int messages;              /* if set, overrides rate × duration */
	int interval_ms;           /* poll interval */
	int size;                  /* message text bytes (at least the tag) */
	int connect_rate;          /* new connections per second at startup */
	int settle_ms;             /* quiet window between subscribed and publish */
	int ready_timeout_s;
	int drain_s;               /* extra wait for stragglers after publishing */
	int procs;                 /* subscriber processes */
	int src_addrs;             /* loopback source addresses 127.0.0.2… (0: none) */
	const char *base, *ws_base, *sub_url, *pub_url, *pub_body, *pub_type;
	const char *pub_ws;        /* publish over this WebSocket URL instead */
	const char *channel, *cursor_key, *id_key, *label;
	const char *pub_channel;   /* publish the measured messages there */
	struct proc_set server;    /* --pids, --pid-file, --ports */
	int header, quiet;
	int tls;                   /* --tls: the web server (--base) speaks TLS */
};
extern struct options opt;

struct target {
	char host[256];
	int port;
	int tls;                   /* https:// or wss:// (tls.h) */
	struct sockaddr_in addr;
	char path[URL_MAX];        /* path and query, still a template */
};
extern struct target sub_target, pub_target;

extern char channel[80];
extern char pub_channel[80];   /* the measured messages' channel (= channel) */
extern int pub_elsewhere;      /* pub_channel != channel: none is expected */
extern char run_tag[32];       /* "lg.<run>." — what received bytes are searched for */
extern int nmsg;               /* messages to publish; seq nmsg is the primer */

void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void *xrealloc(void *p, size_t n);

/* ---- loop.c: sockets, subscribers, the publisher ------------------------ */

struct loop_counters {         /* what the subscribers of this process did */
	long long requests, bytes_in, bytes_out, foreign;
	long long err_connect, err_http, err_reset, err_proto;
};
extern struct loop_counters counters;

/* The publisher's side (the first process only). */
struct pub_state {
	int published, done, ok, fail;
	int primer_acked;          /* 0 waiting, 1 acknowledged, -1 failed */
	unsigned char *acked;      /* nmsg + 1: 1 once acknowledged */
	uint64_t *start_us;        /* nmsg + 1: when each publish started */
	uint32_t *rtt;             /* µs from publish start to acknowledgement */
	size_t nrtt;
};
extern struct pub_state pub;

/* Subscribers [first, end) live in this process; the publisher too when
 * with_pub.  Sets up epoll and the timers that connect them. */
void loop_init(int first, int end, int with_pub, uint64_t t_start);
/* Watches fd for input; on_input(arg) runs when it is readable. */
void loop_watch(int fd, void (*on_input)(void *), void *arg);
/* Runs until done() or the monotonic deadline (publishing from pub_start if
 * non-zero); returns done(). */
int loop_until(int (*done)(void), uint64_t deadline, uint64_t pub_start);
/* Starts publishing seq (nmsg: the primer); -1 if every publisher is busy. */
int loop_publish(int seq);
/* Closes every socket and frees everything. */
void loop_free(void);

/* ---- tally.c: who has what, across every loadgen process ---------------- */

struct tally {
	int nready, nheld;
	long long duplicates;
	uint32_t *lat;             /* µs, first receipt of each (client, seq) */
	size_t nlat;
};
extern struct tally tally;

void tally_init(void);
/* A subscriber is connected and subscribed (its technique's sign). */
void tally_ready(int sub);
/* A subscriber holds message seq, lat_us after it was sent. */
void tally_receive(int sub, long long seq, uint32_t lat_us);
int tally_held(int sub);
int tally_has(int sub, int seq);
/* Every acknowledged message reached every held subscriber. */
int tally_all_delivered(void);

/*
 * --procs N: forks N subscriber processes after loop_init, each holding an
 * equal share of the subscribers; a child never returns (it runs until
 * tally_stop_workers, then exits).  Each child reports what its subscribers
 * receive through a pipe, so the bookkeeping above stays in this process.
 */
void tally_fork_workers(uint64_t t_start);
/* Stops the workers, adds their counters to ours and reaps them. */
void tally_stop_workers(void);
void tally_free(void);

#endif
