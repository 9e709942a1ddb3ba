/*
 * loadgen.c — the benchmark's load generator: N subscribers of one
 * technique (short polling, long polling, SSE or WebSocket) on one channel,
 * one publisher sending M messages at a fixed rate, and what it all cost.
 *
 *   tools/loadgen -t sse -c 200 -r 5 -d 20 --base http://127.0.0.1:8080 \
 *                 --pids 1234,1240 --label apache-fcgid
 *
 * One process, one epoll loop, every socket non-blocking, so a single
 * loadgen holds thousands of clients (it raises its own RLIMIT_NOFILE).
 * Each client speaks its technique the way a browser would:
 *
 *   poll      GET poll.fcgi?since=<cursor> T ms after the previous answer
 *             (a setTimeout chain, each client at a random phase), keep-alive
 *   longpoll  GET longpoll.fcgi?since=<cursor>, again as soon as it answers
 *   sse       GET sse.fcgi?since=<cursor>, one endless response, events read
 *             as they arrive; when the stream ends, reconnect from the last id
 *   ws        GET /ws?since=<cursor> with Upgrade: websocket, then frames
 *
 * The publisher POSTs to send.fcgi (or, with --pub-ws, sends
 * {"type":"send",...} frames on a WebSocket of its own and takes the
 * message's return as its acknowledgement).  Every message text is
 * "lg.<run>.<seq>.<usec>" (+ padding): seq identifies the message (the
 * store's id is not known to the publisher until its POST returns, which can
 * be after a subscriber already has it), usec is the publisher's
 * CLOCK_REALTIME at the moment it started sending.  A subscriber stamps the
 * moment it holds the whole message (a complete poll answer, a complete SSE
 * event, a complete WebSocket message), so latency means the same thing for
 * every technique and every server.  Each subscriber keeps a bitmap of the
 * seqs it got: a missing one is lost, a second one is a duplicate.
 *
 * The targets are URL templates ({channel}, {since}, {text}), so the same
 * run can be pointed at any push server that answers with JSON containing
 * the text and a resume cursor (see --help).  Subscribers start from
 * since=0 on a fresh channel, so no message can fall between "connected"
 * and "subscribed".
 *
 * A run: connect every subscriber (--connect-rate per second); publish one
 * primer every subscriber must receive (a client that never does is "not
 * held"); a quiet second (the server's idle CPU); M messages at the rate;
 * then a drain until every held subscriber has every message, or --drain s.
 *
 * Server cost comes from /proc: CPU (utime+stime, plus cutime+cstime for
 * children already reaped) and RSS summed over the given pids and all their
 * descendants (found by walking each process's parent links), and the
 * ESTABLISHED TCP connections on the target ports from /proc/net/tcp.  /proc
 * is read only between phases, never while messages are in flight, so the
 * scan does not stall the latency measurement.
 *
 * Output: one CSV row on stdout (--header prints the column names first),
 * a readable summary on stderr.  Exit status 0 when nothing was lost or
 * duplicated, 1 otherwise, 2 on a usage error.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <openssl/evp.h>

#include "http.h"
#include "ws_frame.h"
#include "ws_handshake.h"

/* ---- constants ---------------------------------------------------------- */

#define PUB_MAX        16           /* publisher connections at most */
#define IN_MAX         (1 << 20)    /* longest response we buffer */
#define LINE_MAX_LEN   8192         /* longest status/header/chunk-size line */
#define URL_MAX        2048
#define TEXT_MAX       4096         /* SPEC: text is 1–4096 bytes */
#define PIDS_MAX       64
#define RETRY_US       1000000      /* back-off after an error */

enum technique { TECH_POLL, TECH_LONGPOLL, TECH_SSE, TECH_WS };
static const char *const tech_name[] = { "poll", "longpoll", "sse", "ws" };

enum conn_state {
	C_CLOSED,      /* no socket; a timer will issue the next request */
	C_CONNECTING,  /* non-blocking connect() in progress */
	C_WRITING,     /* request being written */
	C_READING,     /* response (or SSE stream) being read */
	C_IDLE,        /* keep-alive socket between requests */
	C_WS           /* WebSocket open */
};

/* Parse state of one HTTP/1.1 response (RFC 9112). */
enum resp_phase { RP_STATUS, RP_HEADERS, RP_BODY, RP_DONE };
enum chunk_phase { CK_SIZE, CK_DATA, CK_CRLF, CK_TRAILER };

struct resp {
	enum resp_phase phase;
	int status;
	int chunked, close;
	long long clen;            /* Content-Length, -1 if absent */
	long long body_got;
	enum chunk_phase ck;
	unsigned long long chunk_left;
	size_t got;                /* bytes of this response so far */
	char ws_accept[64];
};

struct conn {
	int fd;
	int is_pub;
	int index;                 /* subscriber number, or publisher slot */
	enum conn_state state;
	int reused;                /* request sent on a kept-alive socket */
	char *out;                 /* request bytes; owned */
	size_t out_len, out_off;
	char *in;                  /* received, not yet consumed; owned */
	size_t in_len, in_cap;
	struct resp resp;
	char *body;                /* response body (poll) or SSE line; owned */
	size_t body_len, body_cap;
	/* subscriber */
	long long since;           /* resume cursor */
	int ready;                 /* connected and subscribed (its technique's sign) */
	int held;                  /* got the primer: the server delivers to it */
	uint64_t timer_us;         /* when the pending timer fires (0: none) */
	char ws_key[32];
	struct ws_reader ws;
	int ws_inited;
	char sse_data[TEXT_MAX * 2];  /* data of the event being read */
	size_t sse_data_len;
	int sse_cr;                /* the last byte was a CR (a CRLF may follow) */
	long long sse_id;          /* id: field of the event being read, -1 none */
	/* publisher */
	int pub_seq;
	int busy;
};

/* ---- options ------------------------------------------------------------ */

static struct {
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
	const char *base;
	const char *ws_base;
	const char *sub_url;
	const char *pub_url;
	const char *pub_body;
	const char *pub_type;
	const char *pub_ws;        /* publish over this WebSocket URL instead */
	const char *channel;
	const char *cursor_key;
	const char *id_key;
	const char *label;
	const char *ports;
	int pids[PIDS_MAX];
	int npids;
	const char *pid_file;
	int header;
	int quiet;
} opt = {
	.tech = TECH_SSE, .clients = 10, .rate = 5, .duration = 4,
	.interval_ms = 1000, .size = 48, .connect_rate = 2000, .settle_ms = 1000,
	.ready_timeout_s = 60, .drain_s = 10,
	.base = "http://127.0.0.1:8080", .ws_base = NULL,
	.pub_type = "application/x-www-form-urlencoded",
	.pub_body = "channel={channel}&user=loadgen&text={text}",
	.cursor_key = "last_id", .id_key = "id", .label = "",
};

/* ---- run state ---------------------------------------------------------- */

struct target {
	char host[256];
	int port;
	struct sockaddr_in addr;
	char path[URL_MAX];        /* path and query, still a template */
	int tls;
};

static struct target sub_target, pub_target;
static char channel[80];
static char run_tag[32];       /* "lg.<run>." — what we search received bytes for */
static size_t run_tag_len;
static int epfd;
static struct conn *subs;
static struct conn pubs[PUB_MAX];
static int nmsg;               /* messages to publish */
static unsigned char *seen;    /* clients × nmsg bits */
static size_t seen_stride;     /* bytes per client */
static unsigned char *acked;   /* nmsg: 1 once the publisher got 2xx */
static int *receivers;         /* nmsg: subscribers that have the message */
static uint64_t *pub_start_us; /* nmsg + 1: when each publish started (monotonic) */
static uint32_t *pub_rtt;      /* µs from publish start to the publisher's 2xx */
static size_t npub_rtt;
static int published, pub_done, pub_ok, pub_fail;
static uint32_t *lat;          /* µs, first receipt of each (client, seq) */
static size_t nlat, lat_cap;
static long long duplicates, foreign, sub_requests, sub_bytes_in, sub_bytes_out;
static long long err_connect, err_http, err_reset, err_proto;
static int nready, nheld, nopen;
static int primer_acked;

/* ---- clocks ------------------------------------------------------------- */

static uint64_t now_us(void)          /* scheduling: monotonic */
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static uint64_t wall_us(void)         /* the stamp carried in message texts */
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("loadgen: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n);
	if (p == NULL)
		die("out of memory");
	return p;
}

/* ---- the timer heap (subscribers only) ---------------------------------- */

struct timer { uint64_t due; int sub; };
static struct timer *heap;
static size_t heap_len, heap_cap;

static void timer_set(struct conn *c, uint64_t due)
{
	size_t i;

	c->timer_us = due;
	if (heap_len == heap_cap) {
		heap_cap = heap_cap ? heap_cap * 2 : 1024;
		heap = xrealloc(heap, heap_cap * sizeof *heap);
	}
	i = heap_len++;
	while (i > 0 && heap[(i - 1) / 2].due > due) {
		heap[i] = heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	heap[i].due = due;
	heap[i].sub = c->index;
}

static struct timer timer_pop(void)
{
	struct timer top = heap[0], last = heap[--heap_len];
	size_t i = 0;

	for (;;) {
		size_t k = 2 * i + 1;
		if (k >= heap_len)
			break;
		if (k + 1 < heap_len && heap[k + 1].due < heap[k].due)
			k++;
		if (last.due <= heap[k].due)
			break;
		heap[i] = heap[k];
		i = k;
	}
	if (heap_len > 0)
		heap[i] = last;
	return top;
}

/* ---- URL templates ------------------------------------------------------ */

/* "http://host:port/path?query" or "ws://…"; resolves host once. */
static void target_parse(struct target *t, const char *url)
{
	const char *p = url, *h, *slash, *colon;
	size_t hl;
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *ai;

	if (strncmp(p, "http://", 7) == 0) {
		p += 7; t->port = 80;
	} else if (strncmp(p, "ws://", 5) == 0) {
		p += 5; t->port = 80;
	} else {
		die("%s: only http:// and ws:// URLs (no TLS in a loopback benchmark)", url);
	}
	h = p;
	slash = strchr(h, '/');
	if (slash == NULL)
		slash = h + strlen(h);
	colon = memchr(h, ':', (size_t)(slash - h));
	hl = (size_t)((colon ? colon : slash) - h);
	if (hl == 0 || hl >= sizeof t->host)
		die("%s: bad host", url);
	memcpy(t->host, h, hl);
	t->host[hl] = '\0';
	if (colon) {
		char port[8];
		long long v;
		size_t pl = (size_t)(slash - colon - 1);
		if (pl == 0 || pl >= sizeof port)
			die("%s: bad port", url);
		memcpy(port, colon + 1, pl);
		port[pl] = '\0';
		if (http_parse_int(port, 1, 65535, &v) != 0)
			die("%s: bad port", url);
		t->port = (int)v;
	}
	snprintf(t->path, sizeof t->path, "%s", *slash ? slash : "/");
	if (getaddrinfo(t->host, NULL, &hints, &ai) != 0)
		die("%s: cannot resolve %s", url, t->host);
	memcpy(&t->addr, ai->ai_addr, sizeof t->addr);
	t->addr.sin_port = htons((uint16_t)t->port);
	freeaddrinfo(ai);
}

/* Expands {channel}, {since} and {text} into out; returns its length. */
static size_t expand(char *out, size_t cap, const char *tpl, long long since,
                     const char *text)
{
	size_t n = 0;

	while (*tpl) {
		char val[TEXT_MAX + 64];
		const char *v = NULL;
		if (strncmp(tpl, "{channel}", 9) == 0) {
			v = channel; tpl += 9;
		} else if (strncmp(tpl, "{since}", 7) == 0) {
			snprintf(val, sizeof val, "%lld", since); v = val; tpl += 7;
		} else if (strncmp(tpl, "{text}", 6) == 0) {
			v = text ? text : ""; tpl += 6;
		}
		if (v) {
			size_t l = strlen(v);
			if (n + l >= cap)
				die("expanded template too long");
			memcpy(out + n, v, l);
			n += l;
		} else {
			if (n + 1 >= cap)
				die("expanded template too long");
			out[n++] = *tpl++;
		}
	}
	out[n] = '\0';
	return n;
}

/* ---- small parsers on received bytes ------------------------------------ */

/* Value of the first "key":<integer> in p[0..len), or -1. */
static long long json_find_int(const char *p, size_t len, const char *key)
{
	char pat[80];
	size_t pl = (size_t)snprintf(pat, sizeof pat, "\"%s\":", key);
	const char *hit = memmem(p, len, pat, pl), *end = p + len;
	char digits[24];
	size_t n = 0;
	long long v;

	if (hit == NULL)
		return -1;
	for (hit += pl; hit < end && *hit == ' '; hit++)
		;
	while (hit < end && isdigit((unsigned char)*hit) && n < sizeof digits - 1)
		digits[n++] = *hit++;
	digits[n] = '\0';
	if (http_parse_int(digits, 0, INT64_MAX, &v) != 0)
		return -1;
	return v;
}

/* Parses "<digits>" at p (at most end), sets *v; returns the next byte or NULL. */
static const char *parse_digits(const char *p, const char *end, long long max,
                                long long *v)
{
	char digits[24];
	size_t n = 0;

	while (p < end && isdigit((unsigned char)*p) && n < sizeof digits - 1)
		digits[n++] = *p++;
	digits[n] = '\0';
	if (http_parse_int(digits, 0, max, v) != 0)
		return NULL;
	return p;
}

static void seen_mark(struct conn *c, long long seq, uint64_t sent_us,
                      uint64_t now)
{
	unsigned char *bits = seen + (size_t)c->index * seen_stride;

	if (bits[seq / 8] & (1u << (seq % 8))) {
		duplicates++;
		return;
	}
	bits[seq / 8] |= (unsigned char)(1u << (seq % 8));
	if (seq == nmsg) {         /* the primer: this client is held */
		c->held = 1;
		nheld++;
		return;
	}
	if (c->held)
		receivers[seq]++;
	if (nlat == lat_cap) {
		lat_cap = lat_cap ? lat_cap * 2 : 65536;
		lat = xrealloc(lat, lat_cap * sizeof *lat);
	}
	lat[nlat++] = now > sent_us ? (uint32_t)(now - sent_us > UINT32_MAX ?
	                                         UINT32_MAX : now - sent_us) : 0;
}

static void sub_ready(struct conn *c)
{
	if (!c->ready) {
		c->ready = 1;
		nready++;
	}
}

static void pub_echo(int seq);

/*
 * A subscriber now holds a whole unit (poll answer, SSE event, WebSocket
 * message): find every "lg.<run>.<seq>.<usec>" in it.
 */
static void note_messages(struct conn *c, const char *p, size_t len)
{
	const char *end = p + len;
	uint64_t now = wall_us();

	if (!c->is_pub)
		sub_ready(c);          /* a client that receives is subscribed */
	while (p < end) {
		const char *hit = memmem(p, (size_t)(end - p), run_tag, run_tag_len);
		long long seq, sent;
		if (hit == NULL)
			break;
		p = hit + run_tag_len;
		p = parse_digits(p, end, INT32_MAX, &seq);
		if (p == NULL || p >= end || *p != '.') {
			err_proto++;
			p = hit + run_tag_len;
			continue;
		}
		p = parse_digits(p + 1, end, INT64_MAX, &sent);
		if (p == NULL || seq > nmsg) {
			foreign++;
			p = hit + run_tag_len;
			continue;
		}
		if (c->is_pub)
			pub_echo((int)seq);
		else
			seen_mark(c, seq, (uint64_t)sent, now);
	}
}

/* ---- connections -------------------------------------------------------- */

static void conn_watch(struct conn *c, uint32_t events, int op)
{
	struct epoll_event ev = { .events = events, .data.ptr = c };

	if (epoll_ctl(epfd, op, c->fd, &ev) != 0)
		die("epoll_ctl: %s", strerror(errno));
}

static void conn_close(struct conn *c)
{
	if (c->fd >= 0) {
		/* close() removes the fd from the epoll set (epoll(7), Q6). */
		close(c->fd);
		c->fd = -1;
		nopen--;
	}
	c->state = C_CLOSED;
	free(c->out);
	c->out = NULL;
	c->in_len = 0;
	c->body_len = 0;
	if (c->ws_inited) {
		ws_reader_free(&c->ws);
		c->ws_inited = 0;
	}
}

/* Closes and frees every buffer: the connection is done for good. */
static void conn_free(struct conn *c)
{
	conn_close(c);
	free(c->in);
	free(c->body);
	c->in = c->body = NULL;
	c->in_cap = c->body_cap = 0;
}

static int conn_open(struct conn *c, const struct target *t)
{
	int one = 1;

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		fprintf(stderr, "loadgen: socket: %s\n", strerror(errno));
		return -1;
	}
	nopen++;
	/* Small messages one at a time: Nagle would add up to 40 ms. */
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(c->fd, (const struct sockaddr *)&t->addr, sizeof t->addr) != 0 &&
	    errno != EINPROGRESS) {
		conn_close(c);
		return -1;
	}
	c->state = C_CONNECTING;
	c->reused = 0;
	conn_watch(c, EPOLLOUT, EPOLL_CTL_ADD);
	return 0;
}

static void resp_reset(struct resp *r)
{
	memset(r, 0, sizeof *r);
	r->clen = -1;
}

/* Queues a request; writes it on the kept-alive socket or opens a new one. */
static int conn_send(struct conn *c, const struct target *t, char *req, size_t len)
{
	if (c->fd < 0 || c->state != C_IDLE)
		conn_close(c);
	free(c->out);
	c->out = req;
	c->out_len = len;
	c->out_off = 0;
	resp_reset(&c->resp);
	c->body_len = 0;
	c->sse_data_len = 0;
	c->sse_id = -1;
	c->sse_cr = 0;
	if (c->fd >= 0) {
		c->reused = 1;
		c->state = C_WRITING;
		conn_watch(c, EPOLLOUT, EPOLL_CTL_MOD);
		return 0;
	}
	return conn_open(c, t);
}

static char *request_new(const char *method, const struct target *t,
                         const char *path, const char *extra, const char *body,
                         size_t body_len, size_t *len)
{
	size_t cap = strlen(path) + strlen(t->host) + (extra ? strlen(extra) : 0) +
	             body_len + 256;
	char *req = xrealloc(NULL, cap);
	int n = snprintf(req, cap, "%s %s HTTP/1.1\r\nHost: %s:%d\r\n%s", method,
	                 path, t->host, t->port, extra ? extra : "");

	if (body) {
		n += snprintf(req + n, cap - (size_t)n,
		              "Content-Type: %s\r\nContent-Length: %zu\r\n\r\n",
		              opt.pub_type, body_len);
		memcpy(req + n, body, body_len);
		n += (int)body_len;
	} else {
		n += snprintf(req + n, cap - (size_t)n, "\r\n");
	}
	*len = (size_t)n;
	return req;
}

/* The opening handshake's headers with a fresh key (RFC 6455 §4.1). */
static void ws_upgrade_headers(struct conn *c, char *extra, size_t cap)
{
	unsigned char raw[16];
	size_t i;

	for (i = 0; i < sizeof raw; i++)
		raw[i] = (unsigned char)random();
	EVP_EncodeBlock((unsigned char *)c->ws_key, raw, sizeof raw);
	snprintf(extra, cap,
	         "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	         "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n",
	         c->ws_key);
}

/* A subscriber's next request: its technique's GET from its cursor. */
static void sub_request(struct conn *c)
{
	char path[URL_MAX], extra[256] = "";
	size_t len;
	char *req;

	expand(path, sizeof path, sub_target.path, c->since, NULL);
	if (opt.tech == TECH_SSE)
		snprintf(extra, sizeof extra, "Accept: text/event-stream\r\n");
	else if (opt.tech == TECH_WS)
		ws_upgrade_headers(c, extra, sizeof extra);
	req = request_new("GET", &sub_target, path, extra, NULL, 0, &len);
	sub_requests++;
	if (conn_send(c, &sub_target, req, len) != 0) {
		err_connect++;
		timer_set(c, now_us() + RETRY_US);
	}
}

static void sub_retry(struct conn *c, long long *counter)
{
	(*counter)++;
	conn_close(c);
	timer_set(c, now_us() + RETRY_US);
}

/* ---- the publisher ------------------------------------------------------ */

static void pub_result(int seq, int ok)
{
	if (seq == nmsg) {
		primer_acked = ok ? 1 : -1;
		return;
	}
	pub_done++;
	if (ok) {
		pub_ok++;
		acked[seq] = 1;
		pub_rtt[npub_rtt++] = (uint32_t)(now_us() - pub_start_us[seq]);
	} else {
		pub_fail++;
	}
}

/* A WebSocket publisher got its own message back: it is stored and sent. */
static void pub_echo(int seq)
{
	if (seq == nmsg ? primer_acked != 0 : acked[seq])
		return;
	pub_result(seq, 1);
}

/* The text of message seq, stamped now: "lg.<run>.<seq>.<usec>." + padding. */
static int message_text(char *text, size_t cap, int seq)
{
	int n = snprintf(text, cap, "%s%d.%llu.", run_tag, seq,
	                 (unsigned long long)wall_us());

	while (n < opt.size && n < (int)cap - 1)
		text[n++] = 'x';
	text[n] = '\0';
	return n;
}

/*
 * Publishing over a WebSocket (SPEC: a client frame {"type":"send",...} is
 * stored, then delivered to every subscriber of the channel, its sender
 * included): one connection, frames written as they are due, and the
 * message's return to the publisher is its acknowledgement.
 */
static int pub_send_ws(int seq)
{
	struct conn *c = &pubs[0];
	char text[TEXT_MAX + 1], json[TEXT_MAX + 64];
	unsigned char frame[TEXT_MAX + 64 + WS_HEADER_MAX], mask[4];
	size_t len, i;
	int n;

	if (c->fd < 0) {
		char path[URL_MAX], extra[256], *req;
		expand(path, sizeof path, pub_target.path, 0, NULL);
		ws_upgrade_headers(c, extra, sizeof extra);
		req = request_new("GET", &pub_target, path, extra, NULL, 0, &len);
		conn_send(c, &pub_target, req, len);
		return -1;
	}
	if (c->state != C_WS)
		return -1;             /* the handshake is still under way */
	pub_start_us[seq] = now_us();
	message_text(text, sizeof text, seq);
	n = snprintf(json, sizeof json, "{\"type\":\"send\",\"user\":\"loadgen\",\"text\":\"%s\"}",
	             text);
	for (i = 0; i < 4; i++)
		mask[i] = (unsigned char)random();
	len = ws_frame_encode(frame, sizeof frame, 1, WS_OP_TEXT, json, (size_t)n, mask);
	/* A frame this small goes out whole, or the connection is stuck. */
	if (write(c->fd, frame, len) != (ssize_t)len)
		pub_result(seq, 0);
	return 0;
}

/*
 * Starts publishing message seq (seq == nmsg: the primer, sent before the
 * measurement); -1 if every publisher connection is busy.
 */
static int pub_send(int seq)
{
	char text[TEXT_MAX + 1], body[TEXT_MAX * 2], *req;
	struct conn *c = NULL;
	size_t len, blen;
	int i;

	if (opt.pub_ws)
		return pub_send_ws(seq);
	for (i = 0; i < PUB_MAX && c == NULL; i++)
		if (!pubs[i].busy && pubs[i].state == C_IDLE)
			c = &pubs[i];
	for (i = 0; i < PUB_MAX && c == NULL; i++)
		if (!pubs[i].busy)
			c = &pubs[i];
	if (c == NULL)
		return -1;
	pub_start_us[seq] = now_us();
	message_text(text, sizeof text, seq);
	blen = expand(body, sizeof body, opt.pub_body, 0, text);
	req = request_new("POST", &pub_target, pub_target.path, NULL, body, blen, &len);
	c->busy = 1;
	c->pub_seq = seq;
	if (conn_send(c, &pub_target, req, len) != 0) {
		c->busy = 0;
		pub_result(seq, 0);
	}
	return 0;
}

static void pub_finish(struct conn *c, int ok)
{
	if (!c->busy)
		return;
	c->busy = 0;
	pub_result(c->pub_seq, ok);
}

/* ---- response handling -------------------------------------------------- */

static void body_append(struct conn *c, const char *p, size_t n)
{
	if (c->body_len + n + 1 > c->body_cap) {
		c->body_cap = (c->body_len + n + 1) * 2;
		c->body = xrealloc(c->body, c->body_cap);
	}
	memcpy(c->body + c->body_len, p, n);
	c->body_len += n;
	c->body[c->body_len] = '\0';
}

/*
 * One line of an event stream (WHATWG HTML §9.2.6): "data:" lines are
 * joined, "id:" sets the cursor, a blank line dispatches the event.  The
 * "event:" and "retry:" fields and ":" comments (heartbeats) change nothing
 * we measure.
 */
static void sse_line(struct conn *c, const char *line, size_t len)
{
	const char *colon, *val;
	size_t nl, vl;

	if (len == 0) {
		if (c->sse_data_len > 0)
			note_messages(c, c->sse_data, c->sse_data_len);
		if (c->sse_id >= 0)
			c->since = c->sse_id;
		c->sse_data_len = 0;
		c->sse_id = -1;
		return;
	}
	if (line[0] == ':')
		return;
	colon = memchr(line, ':', len);
	nl = colon ? (size_t)(colon - line) : len;
	val = colon ? colon + 1 : line + len;
	if (val < line + len && *val == ' ')
		val++;
	vl = (size_t)(line + len - val);
	if (nl == 4 && memcmp(line, "data", 4) == 0) {
		if (c->sse_data_len + vl + 1 > sizeof c->sse_data) {
			err_proto++;
			return;
		}
		if (c->sse_data_len > 0)
			c->sse_data[c->sse_data_len++] = '\n';
		memcpy(c->sse_data + c->sse_data_len, val, vl);
		c->sse_data_len += vl;
	} else if (nl == 2 && memcmp(line, "id", 2) == 0) {
		char digits[24];
		long long v;
		if (vl < sizeof digits) {
			memcpy(digits, val, vl);
			digits[vl] = '\0';
			if (http_parse_int(digits, 0, INT64_MAX, &v) == 0)
				c->sse_id = v;
		}
	}
}

/* Body bytes of the response being read. */
static void body_bytes(struct conn *c, const char *p, size_t n)
{
	size_t i, start;

	if (c->is_pub || opt.tech != TECH_SSE) {
		if (c->body_len + n <= IN_MAX)
			body_append(c, p, n);
		else
			err_proto++;
		return;
	}
	/* SSE: split into lines ending in LF, CRLF or CR as they arrive. */
	start = 0;
	for (i = 0; i < n; i++) {
		char ch = p[i];
		if (ch == '\n' && c->sse_cr) {   /* the LF of a CRLF */
			c->sse_cr = 0;
			start = i + 1;
			continue;
		}
		c->sse_cr = 0;
		if (ch != '\n' && ch != '\r')
			continue;
		body_append(c, p + start, i - start);
		sse_line(c, c->body, c->body_len);
		c->body_len = 0;
		c->sse_cr = ch == '\r';
		start = i + 1;
	}
	if (start < n) {
		if (c->body_len + (n - start) > LINE_MAX_LEN * 2) {
			err_proto++;           /* a line longer than any event we send */
			c->body_len = 0;
			return;
		}
		body_append(c, p + start, n - start);
	}
}

static int header_is(const char *line, size_t len, const char *name, const char **val)
{
	size_t nl = strlen(name);

	if (len <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
		return 0;
	*val = line + nl + 1;
	while (**val == ' ' || **val == '\t')
		(*val)++;
	return 1;
}

/* One line of the status line, the headers, or the chunked framing. */
static int resp_line(struct conn *c, char *line, size_t len)
{
	struct resp *r = &c->resp;
	const char *v;

	if (r->phase == RP_STATUS) {
		long long st;
		char code[4];
		if (len < 12 || strncmp(line, "HTTP/1.", 7) != 0)
			return -1;
		memcpy(code, line + 9, 3);
		code[3] = '\0';
		if (http_parse_int(code, 100, 599, &st) != 0)
			return -1;
		r->status = (int)st;
		r->close = line[7] == '0';
		r->phase = RP_HEADERS;
		return 0;
	}
	if (r->phase == RP_HEADERS) {
		if (len == 0) {
			if (r->status == 101 || r->status == 204 || r->status == 304 ||
			    r->clen == 0)
				r->phase = RP_DONE;
			else
				r->phase = RP_BODY;
			if (!r->chunked && r->clen < 0 && r->status != 101)
				r->close = 1;  /* body runs until the server closes */
			return 0;
		}
		if (header_is(line, len, "Content-Length", &v)) {
			if (http_parse_int(v, 0, IN_MAX * 64LL, &r->clen) != 0)
				return -1;
		} else if (header_is(line, len, "Transfer-Encoding", &v)) {
			r->chunked = strcasestr(v, "chunked") != NULL;
		} else if (header_is(line, len, "Connection", &v)) {
			if (strcasestr(v, "close"))
				r->close = 1;
		} else if (header_is(line, len, "Sec-WebSocket-Accept", &v)) {
			snprintf(r->ws_accept, sizeof r->ws_accept, "%s", v);
		}
		return 0;
	}
	/* chunked body framing (RFC 9112 §7.1) */
	if (r->ck == CK_SIZE) {
		char *end;
		errno = 0;
		r->chunk_left = strtoull(line, &end, 16);
		if (end == line || errno || r->chunk_left > IN_MAX * 64ULL)
			return -1;
		r->ck = r->chunk_left ? CK_DATA : CK_TRAILER;
	} else if (r->ck == CK_CRLF) {
		if (len != 0)
			return -1;
		r->ck = CK_SIZE;
	} else if (r->ck == CK_TRAILER && len == 0) {
		r->phase = RP_DONE;
	}
	return 0;
}

/*
 * Consumes c->in: response head, then body bytes.  Returns 1 when the
 * response is complete (for a 101, once its head is), 0 for "need more",
 * -1 if malformed.
 */
static int resp_feed(struct conn *c)
{
	struct resp *r = &c->resp;
	size_t off = 0;
	int rc = 0;

	while (off < c->in_len && r->phase != RP_DONE) {
		char *p = c->in + off;
		size_t n = c->in_len - off;
		int line_mode = r->phase != RP_BODY || (r->chunked && r->ck != CK_DATA);
		if (line_mode) {
			char *nl = memchr(p, '\n', n);
			size_t ll;
			if (nl == NULL) {
				if (n > LINE_MAX_LEN)
					rc = -1;
				break;
			}
			ll = (size_t)(nl - p);
			off += ll + 1;
			if (ll > 0 && p[ll - 1] == '\r')
				ll--;
			p[ll] = '\0';
			if (resp_line(c, p, ll) != 0) {
				rc = -1;
				break;
			}
			continue;
		}
		if (r->chunked) {
			size_t take = n < r->chunk_left ? n : (size_t)r->chunk_left;
			body_bytes(c, p, take);
			off += take;
			r->chunk_left -= take;
			if (r->chunk_left == 0)
				r->ck = CK_CRLF;
		} else {
			size_t take = n;
			if (r->clen >= 0 && (long long)take > r->clen - r->body_got)
				take = (size_t)(r->clen - r->body_got);
			body_bytes(c, p, take);
			off += take;
			r->body_got += (long long)take;
			if (r->clen >= 0 && r->body_got == r->clen)
				r->phase = RP_DONE;
		}
	}
	memmove(c->in, c->in + off, c->in_len - off);
	c->in_len -= off;
	if (rc == 0 && r->phase == RP_DONE)
		rc = 1;
	return rc;
}

/* The server must prove it read our key (RFC 6455 §4.1, step 4 of the
 * client's checks of the server's answer). */
static int ws_accept_ok(const struct conn *c)
{
	char want[WS_ACCEPT_LEN + 1];

	ws_accept_value(c->ws_key, strlen(c->ws_key), want);
	return strcmp(want, c->resp.ws_accept) == 0;
}

/* Sends a masked control frame (every client frame is masked, §5.3). */
static void ws_send_control(struct conn *c, int opcode, const void *p, size_t n)
{
	unsigned char frame[WS_HEADER_MAX + WS_CONTROL_MAX], mask[4];
	size_t len, i;
	ssize_t w;

	for (i = 0; i < 4; i++)
		mask[i] = (unsigned char)random();
	len = ws_frame_encode(frame, sizeof frame, 1, opcode, p, n, mask);
	/* A control frame is tiny; if the socket cannot take it now we drop it
	 * (the benchmark never relies on pongs). */
	w = write(c->fd, frame, len);
	if (w > 0 && !c->is_pub)
		sub_bytes_out += w;
}

/* A socket broke: a publish failed, or a subscriber retries after a pause. */
static void conn_fail(struct conn *c, long long *counter)
{
	if (c->is_pub) {
		conn_close(c);
		pub_finish(c, 0);
	} else {
		sub_retry(c, counter);
	}
}

/* Frames arriving on an open WebSocket. */
static void ws_feed(struct conn *c)
{
	size_t off = 0;

	while (off < c->in_len) {
		struct ws_event ev;
		size_t used = ws_reader_feed(&c->ws, (unsigned char *)c->in + off,
		                             c->in_len - off, &ev);
		off += used;
		if (ev.type == WS_EV_NONE) {
			if (used == 0)
				break;
			continue;
		}
		if (ev.type == WS_EV_MESSAGE) {
			long long id = json_find_int((const char *)ev.data, ev.len, opt.id_key);
			note_messages(c, (const char *)ev.data, ev.len);
			if (id > c->since)
				c->since = id;
		} else if (ev.type == WS_EV_PING) {
			ws_send_control(c, WS_OP_PONG, ev.data, ev.len);
		} else if (ev.type == WS_EV_CLOSE || ev.type == WS_EV_ERROR) {
			if (ev.type == WS_EV_ERROR)
				err_proto++;
			conn_fail(c, &err_reset);
			return;
		}
	}
	memmove(c->in, c->in + off, c->in_len - off);
	c->in_len -= off;
}

/* The 101 is in: frames from now on (what is left in c->in is the first). */
static void ws_open(struct conn *c)
{
	c->state = C_WS;
	ws_reader_init(&c->ws, 0);
	c->ws_inited = 1;
	conn_watch(c, EPOLLIN, EPOLL_CTL_MOD);
	ws_feed(c);
}

static void sub_response_done(struct conn *c)
{
	struct resp *r = &c->resp;
	int keep = !r->close;

	if (opt.tech == TECH_WS) {
		if (r->status != 101 || !ws_accept_ok(c)) {
			sub_retry(c, r->status == 101 ? &err_proto : &err_http);
			return;
		}
		sub_ready(c);
		ws_open(c);
		return;
	}
	if (opt.tech == TECH_SSE) {
		/* The stream ended (RT_SSE_MAX_AGE): reconnect from the last id. */
		conn_close(c);
		if (r->status != 200)
			sub_retry(c, &err_http);
		else
			sub_request(c);
		return;
	}
	if (r->status != 200) {
		sub_retry(c, &err_http);
		return;
	}
	{
		long long cur = json_find_int(c->body, c->body_len, opt.cursor_key);
		note_messages(c, c->body, c->body_len);
		if (cur >= 0)
			c->since = cur;
	}
	if (keep) {
		c->state = C_IDLE;
		conn_watch(c, EPOLLIN, EPOLL_CTL_MOD);
	} else {
		conn_close(c);
	}
	if (opt.tech == TECH_LONGPOLL) {
		sub_ready(c);
		sub_request(c);
	} else {
		uint64_t now = now_us(), T = (uint64_t)opt.interval_ms * 1000;
		/* First answer: pick a random phase so the clients spread over T. */
		timer_set(c, c->ready ? now + T : now + (uint64_t)random() % T);
		sub_ready(c);
	}
}

/* The response head arrived on an SSE stream: from now on it is subscribed. */
static void sse_head_done(struct conn *c)
{
	if (c->resp.status == 200)
		sub_ready(c);
}

static void conn_readable(struct conn *c)
{
	for (;;) {
		ssize_t n;
		int rc;

		if (c->in_cap - c->in_len < 4096) {
			if (c->in_cap >= IN_MAX + 8192) {
				err_proto++;
				goto broken;
			}
			c->in_cap = c->in_cap ? c->in_cap * 2 : 8192;
			c->in = xrealloc(c->in, c->in_cap);
		}
		n = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			/* EOF or reset */
			if (c->state == C_IDLE) {
				conn_close(c);
				return;
			}
			if (c->state == C_READING && c->resp.phase == RP_BODY &&
			    c->resp.close && !c->resp.chunked && c->resp.clen < 0) {
				c->resp.phase = RP_DONE;
				goto done;
			}
			if (c->reused && c->resp.got == 0) {
				/* The server closed the idle keep-alive socket just as we
				 * reused it: retry once on a new one (RFC 9112 §9.3.1). */
				char *req = c->out;
				size_t len = c->out_len;
				c->out = NULL;
				conn_close(c);
				if (c->is_pub) {
					if (conn_send(c, &pub_target, req, len) != 0)
						pub_finish(c, 0);
				} else if (conn_send(c, &sub_target, req, len) != 0) {
					err_connect++;
					timer_set(c, now_us() + RETRY_US);
				}
				return;
			}
			goto broken;
		}
		if (!c->is_pub)
			sub_bytes_in += n;
		c->in_len += (size_t)n;
		c->resp.got += (size_t)n;
		if (c->state == C_WS) {
			ws_feed(c);
			if (c->state != C_WS)
				return;
			continue;
		}
		if (c->state == C_IDLE) {
			c->in_len = 0;     /* bytes nobody asked for: ignore */
			continue;
		}
		{
			enum resp_phase before = c->resp.phase;
			rc = resp_feed(c);
			if (!c->is_pub && opt.tech == TECH_SSE && before < RP_BODY &&
			    c->resp.phase >= RP_BODY)
				sse_head_done(c);
		}
		if (rc < 0) {
			err_proto++;
			goto broken;
		}
		if (rc == 1)
			goto done;
	}
done:
	if (c->is_pub && opt.pub_ws) {
		if (c->resp.status != 101 || !ws_accept_ok(c)) {
			fprintf(stderr, "loadgen: the WebSocket publisher was refused (%d)\n",
			        c->resp.status);
			conn_close(c);
			return;
		}
		ws_open(c);
		return;
	}
	if (c->is_pub) {
		int ok = c->resp.status >= 200 && c->resp.status < 300;
		if (c->resp.close) {
			conn_close(c);
		} else {
			c->state = C_IDLE;
			conn_watch(c, EPOLLIN, EPOLL_CTL_MOD);
		}
		pub_finish(c, ok);
		return;
	}
	sub_response_done(c);
	return;
broken:
	conn_fail(c, &err_reset);
}

static void conn_writable(struct conn *c)
{
	if (c->state == C_CONNECTING) {
		int err = 0;
		socklen_t el = sizeof err;
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
		if (err != 0) {
			conn_fail(c, &err_connect);
			return;
		}
		c->state = C_WRITING;
	}
	while (c->out_off < c->out_len) {
		ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			conn_fail(c, &err_reset);
			return;
		}
		c->out_off += (size_t)n;
		if (!c->is_pub)
			sub_bytes_out += n;
	}
	c->state = C_READING;
	conn_watch(c, EPOLLIN, EPOLL_CTL_MOD);
	/* A long-poll request on the wire is a subscriber held by the server. */
	if (!c->is_pub && opt.tech == TECH_LONGPOLL)
		sub_ready(c);
}

static void conn_event(struct conn *c, uint32_t events)
{
	if (c->fd < 0)
		return;
	if (events & EPOLLOUT)
		conn_writable(c);
	else if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
		conn_readable(c);
}

/* ---- server cost from /proc --------------------------------------------- */

struct proc_sample {
	double cpu_s;          /* utime+stime (+cutime+cstime) of the tree */
	long long rss_kib;     /* summed RSS */
	int nprocs;
	int conns;             /* ESTABLISHED on the target ports */
};

static int port_watched(int port)
{
	return port == sub_target.port || port == pub_target.port;
}

static int count_conns(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[512];
	int n = 0;

	if (f == NULL)
		return 0;
	/* "sl local_address rem_address st ...", hex; st 01 = ESTABLISHED. */
	while (fgets(line, sizeof line, f)) {
		unsigned lport, st;
		char *colon = strchr(line, ':');
		if (colon == NULL)
			continue;
		colon = strchr(colon + 1, ':');
		if (colon == NULL || sscanf(colon + 1, "%x %*s %x", &lport, &st) != 2)
			continue;
		if (st == 1 && port_watched((int)lport))
			n++;
	}
	fclose(f);
	return n;
}

/* Reads pid's parent, CPU ticks and RSS pages from /proc/<pid>/stat. */
static int proc_stat(int pid, int *ppid, unsigned long long *ticks, long long *rss)
{
	char path[64], buf[1024], *p;
	FILE *f;
	unsigned long long ut, st, cut, cst;
	long long rs;
	size_t n;

	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');     /* comm may hold spaces: skip past it */
	if (p == NULL)
		return -1;
	/* fields after comm: state ppid pgrp session tty tpgid flags minflt
	 * cminflt majflt cmajflt utime stime cutime cstime priority nice
	 * num_threads itrealvalue starttime vsize rss (proc(5)) */
	if (sscanf(p + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu "
	           "%llu %llu %*d %*d %*d %*d %*u %*u %lld",
	           ppid, &ut, &st, &cut, &cst, &rs) != 6)
		return -1;
	*ticks = ut + st + cut + cst;
	*rss = rs;
	return 0;
}

/*
 * Adds the pids of a run file: one process per line, the pid first
 * ("<pid> <start> <what>", what tools/serve.sh writes to RUN_DIR/pids).
 */
static void pids_from_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[256];

	if (f == NULL)
		die("%s: %s", path, strerror(errno));
	while (fgets(line, sizeof line, f) && opt.npids < PIDS_MAX) {
		long long v;
		line[strcspn(line, " \t\r\n")] = '\0';
		if (http_parse_int(line, 1, INT32_MAX, &v) == 0)
			opt.pids[opt.npids++] = (int)v;
	}
	fclose(f);
}

static void proc_sample(struct proc_sample *s)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	long tick = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE) / 1024;
	unsigned long long ticks = 0;
	int *pid = NULL, *ppid = NULL;
	size_t n = 0, cap = 0, i;

	memset(s, 0, sizeof *s);
	if (d == NULL)
		return;
	/* Every process's parent, then keep those with a listed ancestor. */
	while ((e = readdir(d)) != NULL) {
		long long v;
		unsigned long long t;
		long long rss;
		int pp;
		if (http_parse_int(e->d_name, 1, INT32_MAX, &v) != 0)
			continue;
		if (proc_stat((int)v, &pp, &t, &rss) != 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 1024;
			pid = xrealloc(pid, cap * sizeof *pid);
			ppid = xrealloc(ppid, cap * sizeof *ppid);
		}
		pid[n] = (int)v;
		ppid[n] = pp;
		n++;
	}
	closedir(d);
	for (i = 0; i < n; i++) {
		int cur = pid[i], depth, k, hit = 0;
		for (depth = 0; depth < 32 && cur > 1 && !hit; depth++) {
			size_t j;
			for (k = 0; k < opt.npids; k++)
				if (cur == opt.pids[k])
					hit = 1;
			if (hit)
				break;
			for (j = 0; j < n && pid[j] != cur; j++)
				;
			cur = j < n ? ppid[j] : 1;
		}
		if (hit) {
			unsigned long long t;
			long long rss;
			int pp;
			if (proc_stat(pid[i], &pp, &t, &rss) == 0) {
				ticks += t;
				s->rss_kib += rss * page;
				s->nprocs++;
			}
		}
	}
	free(pid);
	free(ppid);
	s->cpu_s = (double)ticks / (double)tick;
	s->conns = count_conns("/proc/net/tcp") + count_conns("/proc/net/tcp6");
}

/* ---- the loop ----------------------------------------------------------- */

static void run_timers(uint64_t now)
{
	while (heap_len > 0 && heap[0].due <= now) {
		struct timer t = timer_pop();
		struct conn *c = &subs[t.sub];
		if (c->timer_us != t.due)
			continue;          /* superseded */
		c->timer_us = 0;
		if (c->fd < 0 || c->state == C_IDLE)
			sub_request(c);
	}
}

/* Runs the loop until done() or the monotonic deadline; returns done(). */
static int loop_until(int (*done)(void), uint64_t deadline, uint64_t pub_start)
{
	struct epoll_event evs[256];

	while (!done()) {
		uint64_t now = now_us(), wake = deadline;
		int i, n, timeout;

		if (now >= deadline)
			return 0;
		run_timers(now);
		if (pub_start && published < nmsg) {
			uint64_t due = pub_start + (uint64_t)((double)published * 1e6 / opt.rate);
			if (due <= now && pub_send(published) != 0) {
				due = now + 1000;  /* every publisher busy: try again in 1 ms */
			} else if (due <= now) {
				published++;
				due = now;         /* sent; the next may be due already */
			}
			if (published < nmsg && due < wake)
				wake = due;
		}
		if (heap_len > 0 && heap[0].due < wake)
			wake = heap[0].due;
		now = now_us();
		timeout = wake > now ? (int)((wake - now + 999) / 1000) : 0;
		n = epoll_wait(epfd, evs, 256, timeout);
		for (i = 0; i < n; i++)
			conn_event(evs[i].data.ptr, evs[i].events);
	}
	return 1;
}

static int never(void) { return 0; }
static int all_ready(void) { return nready >= opt.clients; }
static int all_held(void) { return nheld >= opt.clients || primer_acked < 0; }

static int all_published(void) { return pub_done == nmsg; }

static int all_delivered(void)
{
	int s;

	if (pub_done < published)
		return 0;
	for (s = 0; s < nmsg; s++)
		if (acked[s] && receivers[s] < nheld)
			return 0;
	return 1;
}

/* ---- report ------------------------------------------------------------- */

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted µs values, in ms. */
static double pct_of(const uint32_t *v, size_t n, double p)
{
	size_t k;

	if (n == 0)
		return NAN;
	k = (size_t)ceil(p / 100.0 * (double)n);
	if (k < 1)
		k = 1;
	return v[k - 1] / 1000.0;
}

static double pct_ms(double p) { return pct_of(lat, nlat, p); }

static const char csv_header[] =
	"label,technique,clients,held,interval_ms,messages,delivered,lost,dup,"
	"p50_ms,p90_ms,p99_ms,max_ms,req_per_s,req_per_msg,bytes_per_msg,"
	"conns,srv_procs,srv_cpu_s,srv_cpu_pct,idle_cpu_pct,srv_rss_kib,"
	"rss_per_conn_kib,errors,run_s,loadgen_cpu_s,pub_p50_ms";

static void usage(FILE *f)
{
	fprintf(f,
"usage: tools/loadgen [options]\n"
"  -t, --technique T     poll | longpoll | sse | ws            (sse)\n"
"  -c, --clients N       subscribers                           (10)\n"
"  -r, --rate R          messages per second                   (5)\n"
"  -d, --duration S      seconds of publishing                 (4)\n"
"  -m, --messages M      messages to publish (default rate × duration)\n"
"  -i, --interval MS     poll interval                         (1000)\n"
"  -s, --size BYTES      message text size                     (48)\n"
"      --base URL        rtlab web server                      (http://127.0.0.1:8080)\n"
"      --ws-base URL     WebSocket root, e.g. ws://127.0.0.1:8081 (the helper directly;\n"
"                        default: the web server's /ws)\n"
"      --sub-url TPL     subscribe URL template ({channel} {since}); default per technique:\n"
"                          poll     BASE/cgi-bin/poll.fcgi?channel={channel}&since={since}\n"
"                          longpoll BASE/cgi-bin/longpoll.fcgi?channel={channel}&since={since}\n"
"                          sse      BASE/cgi-bin/sse.fcgi?channel={channel}&since={since}\n"
"                          ws       WSBASE/ws?channel={channel}&since={since}\n"
"      --pub-url URL     publish URL (POST)                    (BASE/cgi-bin/send.fcgi)\n"
"      --pub-body TPL    POST body template ({channel} {text})\n"
"                        (channel={channel}&user=loadgen&text={text})\n"
"      --pub-type TYPE   POST Content-Type                     (form-urlencoded)\n"
"      --pub-ws TPL      publish over a WebSocket instead: {\"type\":\"send\",...} frames to\n"
"                        this URL (e.g. ws://127.0.0.1:8081/ws?channel={channel}&history=0);\n"
"                        a message counts as sent when it comes back to the publisher\n"
"      --cursor-key K    JSON key of a poll answer's cursor    (last_id)\n"
"      --id-key K        JSON key of a WebSocket message's id  (id)\n"
"      --channel NAME    channel (default: a fresh one per run)\n"
"      --pids P,P,...    server pids; CPU/RSS include all their descendants\n"
"      --pid-file FILE   server pids, one per line first (RUN_DIR/pids of tools/serve.sh)\n"
"      --ports P,P       ports whose ESTABLISHED connections count (the targets')\n"
"      --connect-rate N  new connections per second at startup (2000)\n"
"      --settle MS       quiet window before publishing; idle CPU is measured here (1000)\n"
"      --ready-timeout S give up waiting for subscribers after S s (60)\n"
"      --drain S         wait up to S s after the last publish (10 + interval)\n"
"      --label TEXT      first CSV column (e.g. apache-fcgid)\n"
"      --header          print the CSV header line first\n"
"  -q, --quiet           no summary on stderr\n"
"Prints one CSV row: %s\n"
"Exit status: 0 no message lost or duplicated, 1 otherwise, 2 usage error.\n",
	csv_header);
}

static void parse_pids(const char *s)
{
	char buf[1024], *tok, *save;

	snprintf(buf, sizeof buf, "%s", s);
	for (tok = strtok_r(buf, ", ", &save); tok && opt.npids < PIDS_MAX;
	     tok = strtok_r(NULL, ", ", &save)) {
		long long v;
		if (http_parse_int(tok, 1, INT32_MAX, &v) != 0)
			die("--pids: bad pid '%s'", tok);
		opt.pids[opt.npids++] = (int)v;
	}
}

static long long num_arg(const char *name, const char *s, long long min, long long max)
{
	long long v;

	if (http_parse_int(s, min, max, &v) != 0)
		die("%s: expected an integer in [%lld, %lld], got '%s'", name, min, max, s);
	return v;
}

static double real_arg(const char *name, const char *s, double min, double max)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || *end || errno || !(v >= min && v <= max))
		die("%s: expected a number in [%g, %g], got '%s'", name, min, max, s);
	return v;
}

static void parse_args(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "technique", 1, 0, 't' }, { "clients", 1, 0, 'c' },
		{ "rate", 1, 0, 'r' }, { "duration", 1, 0, 'd' },
		{ "messages", 1, 0, 'm' }, { "interval", 1, 0, 'i' },
		{ "size", 1, 0, 's' }, { "quiet", 0, 0, 'q' }, { "help", 0, 0, 'h' },
		{ "base", 1, 0, 1 }, { "ws-base", 1, 0, 2 }, { "sub-url", 1, 0, 3 },
		{ "pub-url", 1, 0, 4 }, { "pub-body", 1, 0, 5 }, { "pub-type", 1, 0, 6 },
		{ "cursor-key", 1, 0, 7 }, { "id-key", 1, 0, 8 }, { "channel", 1, 0, 9 },
		{ "pids", 1, 0, 10 }, { "pid-file", 1, 0, 11 }, { "ports", 1, 0, 12 },
		{ "connect-rate", 1, 0, 13 }, { "settle", 1, 0, 14 },
		{ "ready-timeout", 1, 0, 15 }, { "drain", 1, 0, 16 },
		{ "label", 1, 0, 17 }, { "header", 0, 0, 18 }, { "pub-ws", 1, 0, 19 },
		{ 0, 0, 0, 0 }
	};
	int o, drain_set = 0;

	while ((o = getopt_long(argc, argv, "t:c:r:d:m:i:s:qh", lo, NULL)) != -1) {
		switch (o) {
		case 't':
			for (opt.tech = TECH_POLL; opt.tech <= TECH_WS; opt.tech++)
				if (strcmp(optarg, tech_name[opt.tech]) == 0)
					break;
			if (opt.tech > TECH_WS)
				die("--technique: poll, longpoll, sse or ws");
			break;
		case 'c': opt.clients = (int)num_arg("--clients", optarg, 1, 1000000); break;
		case 'r': opt.rate = real_arg("--rate", optarg, 0.01, 100000); break;
		case 'd': opt.duration = real_arg("--duration", optarg, 0, 86400); break;
		case 'm': opt.messages = (int)num_arg("--messages", optarg, 1, 10000000); break;
		case 'i': opt.interval_ms = (int)num_arg("--interval", optarg, 1, 3600000); break;
		case 's': opt.size = (int)num_arg("--size", optarg, 1, TEXT_MAX); break;
		case 'q': opt.quiet = 1; break;
		case 'h': usage(stdout); exit(0);
		case 1: opt.base = optarg; break;
		case 2: opt.ws_base = optarg; break;
		case 3: opt.sub_url = optarg; break;
		case 4: opt.pub_url = optarg; break;
		case 5: opt.pub_body = optarg; break;
		case 6: opt.pub_type = optarg; break;
		case 7: opt.cursor_key = optarg; break;
		case 8: opt.id_key = optarg; break;
		case 9: opt.channel = optarg; break;
		case 10: parse_pids(optarg); break;
		case 11: opt.pid_file = optarg; break;
		case 12: opt.ports = optarg; break;
		case 13: opt.connect_rate = (int)num_arg("--connect-rate", optarg, 1, 1000000); break;
		case 14: opt.settle_ms = (int)num_arg("--settle", optarg, 0, 600000); break;
		case 15: opt.ready_timeout_s = (int)num_arg("--ready-timeout", optarg, 1, 3600); break;
		case 16: opt.drain_s = (int)num_arg("--drain", optarg, 0, 3600); drain_set = 1; break;
		case 17: opt.label = optarg; break;
		case 18: opt.header = 1; break;
		case 19: opt.pub_ws = optarg; break;
		default: usage(stderr); exit(2);
		}
	}
	if (optind < argc) {
		usage(stderr);
		exit(2);
	}
	if (!drain_set && opt.tech == TECH_POLL)
		opt.drain_s += opt.interval_ms / 1000 + 1;
}

static void setup_targets(void)
{
	char url[URL_MAX];
	static const char *const path[] = {
		"/cgi-bin/poll.fcgi?channel={channel}&since={since}",
		"/cgi-bin/longpoll.fcgi?channel={channel}&since={since}",
		"/cgi-bin/sse.fcgi?channel={channel}&since={since}",
		"/ws?channel={channel}&since={since}",
	};

	if (opt.sub_url) {
		snprintf(url, sizeof url, "%s", opt.sub_url);
	} else if (opt.tech == TECH_WS) {
		if (opt.ws_base)
			snprintf(url, sizeof url, "%s%s", opt.ws_base, path[TECH_WS]);
		else if (strncmp(opt.base, "http://", 7) == 0)
			snprintf(url, sizeof url, "ws://%s%s", opt.base + 7, path[TECH_WS]);
		else
			die("--base must be an http:// URL");
	} else {
		snprintf(url, sizeof url, "%s%s", opt.base, path[opt.tech]);
	}
	target_parse(&sub_target, url);
	if (opt.pub_ws)
		snprintf(url, sizeof url, "%s", opt.pub_ws);
	else if (opt.pub_url)
		snprintf(url, sizeof url, "%s", opt.pub_url);
	else
		snprintf(url, sizeof url, "%s/cgi-bin/send.fcgi", opt.base);
	target_parse(&pub_target, url);
}

static void raise_nofile(int want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < (rlim_t)want) {
		rl.rlim_max = (rlim_t)want;   /* root may raise the hard limit */
		rl.rlim_cur = (rlim_t)want;
		if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
			return;
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur < (rlim_t)want) {
		rl.rlim_cur = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < (rlim_t)want ?
		              rl.rlim_max : (rlim_t)want;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < (rlim_t)want)
		fprintf(stderr, "loadgen: RLIMIT_NOFILE is %llu, fewer than the %d needed\n",
		        (unsigned long long)rl.rlim_cur, want);
}

int main(int argc, char **argv)
{
	struct proc_sample s_base, s_ready, s_quiet, s_end;
	uint64_t t_start, t_pub, t_end, deadline;
	struct rusage ru;
	long long delivered = 0, expected = 0, lost;
	double run_s, pub_s, lg_cpu;
	int i, s, held = 0, errors;

	parse_args(argc, argv);
	if (opt.pid_file)
		pids_from_file(opt.pid_file);
	setup_targets();
	signal(SIGPIPE, SIG_IGN);
	srandom((unsigned)(getpid() ^ wall_us()));
	raise_nofile(opt.clients + PUB_MAX + 64);

	nmsg = opt.messages ? opt.messages : (int)llround(opt.rate * opt.duration);
	if (nmsg < 1)
		nmsg = 1;
	snprintf(run_tag, sizeof run_tag, "lg.%x%04x.", (unsigned)getpid() & 0xffffff,
	         (unsigned)random() & 0xffff);
	run_tag_len = strlen(run_tag);
	if (opt.channel)
		snprintf(channel, sizeof channel, "%s", opt.channel);
	else
		snprintf(channel, sizeof channel, "bench-%s-%.*s", tech_name[opt.tech],
		         (int)(run_tag_len - 4), run_tag + 3);
	if (opt.size < (int)run_tag_len + 24)
		opt.size = (int)run_tag_len + 24;

	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		die("epoll_create1: %s", strerror(errno));
	subs = calloc((size_t)opt.clients, sizeof *subs);
	seen_stride = (size_t)(nmsg + 1 + 7) / 8;   /* + the primer */
	seen = calloc((size_t)opt.clients, seen_stride);
	acked = calloc((size_t)nmsg + 1, 1);
	receivers = calloc((size_t)nmsg + 1, sizeof *receivers);
	pub_start_us = calloc((size_t)nmsg + 1, sizeof *pub_start_us);
	pub_rtt = calloc((size_t)nmsg + 1, sizeof *pub_rtt);
	if (pub_start_us == NULL || pub_rtt == NULL)
		die("out of memory");
	if (subs == NULL || seen == NULL || acked == NULL || receivers == NULL)
		die("out of memory");
	for (i = 0; i < PUB_MAX; i++) {
		pubs[i].fd = -1;
		pubs[i].is_pub = 1;
		pubs[i].index = i;
	}

	/* 1. connect every subscriber, connect_rate per second */
	proc_sample(&s_base);
	t_start = now_us();
	for (i = 0; i < opt.clients; i++) {
		struct conn *c = &subs[i];
		c->fd = -1;
		c->index = i;
		c->since = 0;
		c->sse_id = -1;
		timer_set(c, t_start + (uint64_t)i * 1000000 / (uint64_t)opt.connect_rate);
	}
	/* One deadline for connecting and for the primer: --ready-timeout. */
	deadline = t_start + (uint64_t)opt.ready_timeout_s * 1000000 +
	           (uint64_t)opt.clients * 1000000 / (uint64_t)opt.connect_rate;
	loop_until(all_ready, deadline, 0);
	/*
	 * 2. the primer: one message every subscriber must receive before the
	 * measurement starts.  It proves each subscription works end to end
	 * (a long-poll request on the wire may still wait for a server process);
	 * a client that never gets it is reported as not held.
	 */
	while (pub_send(nmsg) != 0)
		loop_until(never, now_us() + 1000, 0);
	loop_until(all_held, deadline, 0);
	if (primer_acked < 0)
		fprintf(stderr, "loadgen: publishing the primer failed\n");
	/* 3. quiet: every subscriber held, nothing published (idle CPU) */
	proc_sample(&s_ready);
	loop_until(never, now_us() + (uint64_t)opt.settle_ms * 1000, 0);
	proc_sample(&s_quiet);
	/*
	 * 4. publish nmsg messages at the rate (a server too slow to take them
	 * gets --drain seconds of grace; what is still unsent then counts as an
	 * error), then 5. drain: every message acknowledged gets --drain seconds
	 * to reach every held subscriber, counted from the last acknowledgement.
	 */
	t_pub = now_us();
	loop_until(all_published, t_pub + (uint64_t)((double)nmsg * 1e6 / opt.rate) +
	           (uint64_t)opt.drain_s * 1000000, t_pub);
	loop_until(all_delivered, now_us() + (uint64_t)opt.drain_s * 1000000, 0);
	t_end = now_us();
	proc_sample(&s_end);

	/* report */
	for (i = 0; i < opt.clients; i++) {
		const unsigned char *bits = seen + (size_t)i * seen_stride;
		if (!subs[i].held)
			continue;
		held++;
		for (s = 0; s < nmsg; s++) {
			if (!acked[s])
				continue;
			expected++;
			if (bits[s / 8] & (1u << (s % 8)))
				delivered++;
		}
	}
	lost = expected - delivered;
	qsort(lat, nlat, sizeof *lat, cmp_u32);
	qsort(pub_rtt, npub_rtt, sizeof *pub_rtt, cmp_u32);
	run_s = (double)(t_end - t_start) / 1e6;
	pub_s = (double)(t_end - t_pub) / 1e6;
	getrusage(RUSAGE_SELF, &ru);
	lg_cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	         (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	/* A message the publisher could not send in time counts as an error. */
	errors = (int)(err_connect + err_http + err_reset + err_proto) +
	         (nmsg - pub_ok);

	if (opt.header)
		printf("%s\n", csv_header);
	printf("%s,%s,%d,%d,%d,%d,%lld,%lld,%lld,%.3f,%.3f,%.3f,%.3f,%.1f,%.3f,%.0f,"
	       "%d,%d,%.2f,%.1f,%.1f,%lld,%.2f,%d,%.1f,%.2f,%.3f\n",
	       opt.label, tech_name[opt.tech], opt.clients, held,
	       opt.tech == TECH_POLL ? opt.interval_ms : 0, pub_ok, delivered, lost,
	       duplicates, pct_ms(50), pct_ms(90), pct_ms(99), pct_ms(100),
	       (double)sub_requests / run_s,
	       delivered ? (double)sub_requests / (double)delivered : 0.0,
	       delivered ? (double)(sub_bytes_in + sub_bytes_out) / (double)delivered : 0.0,
	       s_ready.conns, s_ready.nprocs, s_end.cpu_s - s_quiet.cpu_s,
	       100.0 * (s_end.cpu_s - s_quiet.cpu_s) / pub_s,
	       opt.settle_ms ? 100.0 * (s_quiet.cpu_s - s_ready.cpu_s) /
	                       ((double)opt.settle_ms / 1000.0) : 0.0,
	       s_ready.rss_kib > s_end.rss_kib ? s_ready.rss_kib : s_end.rss_kib,
	       held ? (double)(s_ready.rss_kib - s_base.rss_kib) / held : 0.0,
	       errors, run_s, lg_cpu, pct_of(pub_rtt, npub_rtt, 50));
	fflush(stdout);
	if (!opt.quiet) {
		fprintf(stderr,
		        "loadgen %s %s: %d clients (%d held), channel %s, %d/%d published "
		        "(%d failed, %d not sent in time)\n"
		        "  delivered %lld of %lld, lost %lld, duplicated %lld, foreign %lld\n"
		        "  latency ms p50 %.3f p90 %.3f p99 %.3f max %.3f "
		        "(the publisher's send acknowledged after p50 %.3f)\n"
		        "  subscriber requests %lld, bytes in %lld out %lld\n"
		        "  server: %d procs, %d conns, RSS %lld KiB (before %lld), "
		        "CPU %.2f s publishing, %.2f s quiet\n"
		        "  errors: connect %lld, http %lld, reset %lld, protocol %lld; "
		        "loadgen CPU %.2f s, run %.1f s\n",
		        opt.label, tech_name[opt.tech], opt.clients, held, channel,
		        pub_ok, nmsg, pub_fail, nmsg - pub_done, delivered, expected, lost, duplicates,
		        foreign, pct_ms(50), pct_ms(90), pct_ms(99), pct_ms(100),
		        pct_of(pub_rtt, npub_rtt, 50),
		        sub_requests, sub_bytes_in, sub_bytes_out, s_ready.nprocs,
		        s_ready.conns, s_ready.rss_kib, s_base.rss_kib,
		        s_end.cpu_s - s_quiet.cpu_s, s_quiet.cpu_s - s_ready.cpu_s,
		        err_connect, err_http, err_reset, err_proto, lg_cpu, run_s);
	}
	/* Close every socket before exiting so the servers see clean FINs. */
	for (i = 0; i < opt.clients; i++)
		conn_free(&subs[i]);
	for (i = 0; i < PUB_MAX; i++)
		conn_free(&pubs[i]);
	free(subs);
	free(seen);
	free(acked);
	free(receivers);
	free(pub_start_us);
	free(pub_rtt);
	free(lat);
	free(heap);
	return (lost == 0 && duplicates == 0 && pub_ok == nmsg && held > 0) ? 0 : 1;
}
