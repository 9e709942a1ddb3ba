/*
 * main.c — tools/loadgen/loadgen, the benchmark's load generator: N subscribers of one
 * technique (short polling, long polling, SSE or WebSocket) on one channel,
 * one publisher sending M messages at a fixed rate, and what it all cost.
 *
 *   tools/loadgen -t sse -c 200 -r 5 -d 20 --base http://127.0.0.1:8080 \
 *                 --pids 1234,1240 --label apache-fcgid
 *
 * One process, one epoll loop, every socket non-blocking, so a single
 * loadgen holds thousands of clients (it raises its RLIMIT_NOFILE to the
 * hard limit); --procs N spreads the subscribers over N processes and
 * --src-addrs over loopback source addresses, past one core and one
 * address's ephemeral ports.  Each client speaks its technique the way a
 * browser would (sub.c):
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
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "clock.h"
#include "http_query.h"
#include "loadgen.h"
#include "report.h"
#include "tls.h"

struct options opt = {
	.tech = TECH_SSE, .clients = 10, .rate = 5, .duration = 4,
	.interval_ms = 1000, .size = 48, .connect_rate = 2000, .settle_ms = 1000,
	.ready_timeout_s = 60, .drain_s = 10, .procs = 1,
	.base = "http://127.0.0.1:8080", .ws_base = NULL,
	.pub_type = "application/x-www-form-urlencoded",
	.pub_body = "channel={channel}&user=loadgen&text={text}",
	.cursor_key = "last_id", .id_key = "id", .label = "",
};
struct target sub_target, pub_target;
char channel[80];
char pub_channel[80];
int pub_elsewhere;
char run_tag[32];
int nmsg;

void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("loadgen: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n);
	if (p == NULL)
		die("out of memory");
	return p;
}

/* ---- the command line --------------------------------------------------- */

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
"      --tls             speak TLS (HTTP/1.1 inside) to --base: http:// becomes https://,\n"
"                        the derived WebSocket URL wss://; https:// and wss:// URLs\n"
"                        use TLS anyway.  Full handshake per connection, any certificate\n"
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
"      --pub-channel NAME  publish the measured messages on another channel than the\n"
"                        subscribers' (the primer still goes to theirs): none is\n"
"                        expected, one that arrives is an error; what the server\n"
"                        pays for news on a channel nobody here watches (CPU, wakes)\n"
"      --pids P,P,...    server pids; CPU/RSS include all their descendants\n"
"      --pid-file FILE   server pids, one per line first (RUN_DIR/pids of tools/serve.sh)\n"
"      --ports P,P       ports whose ESTABLISHED connections count (the targets')\n"
"      --connect-rate N  new connections per second at startup (2000)\n"
"      --procs N         subscriber processes (1); the publisher stays in the first\n"
"      --src-addrs N     bind subscribers to loopback sources 127.0.0.2 … 127.0.0.(N+1)\n"
"                        in turn (default: --procs when > 1, and one per 12,000 clients)\n"
"      --settle MS       quiet window before publishing; idle CPU is measured here (1000)\n"
"      --ready-timeout S give up waiting for subscribers after S s (60)\n"
"      --drain S         wait up to S s after the last publish (10 + interval)\n"
"      --label TEXT      first CSV column (e.g. apache-fcgid)\n"
"      --header          print the CSV header line first\n"
"  -q, --quiet           no summary on stderr\n"
"Prints one CSV row: %s\n"
"Exit status: 0 no message lost or duplicated, 1 otherwise, 2 usage error.\n",
	report_csv_header);
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
		{ "procs", 1, 0, 20 }, { "src-addrs", 1, 0, 21 }, { "tls", 0, 0, 22 },
		{ "pub-channel", 1, 0, 23 },
		{ 0, 0, 0, 0 }
	};
	const char *ports = NULL;
	int o, drain_set = 0, src_set = 0;

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
		case 10:
			if (proc_set_parse(&opt.server, optarg) != 0)
				die("--pids: expected pids separated by commas, got '%s'", optarg);
			break;
		case 11:
			if (proc_set_read(&opt.server, optarg) != 0)
				die("%s: %s", optarg, strerror(errno));
			break;
		case 12: ports = optarg; break;
		case 13: opt.connect_rate = (int)num_arg("--connect-rate", optarg, 1, 1000000); break;
		case 14: opt.settle_ms = (int)num_arg("--settle", optarg, 0, 600000); break;
		case 15: opt.ready_timeout_s = (int)num_arg("--ready-timeout", optarg, 1, 3600); break;
		case 16: opt.drain_s = (int)num_arg("--drain", optarg, 0, 3600); drain_set = 1; break;
		case 17: opt.label = optarg; break;
		case 18: opt.header = 1; break;
		case 19: opt.pub_ws = optarg; break;
		case 20: opt.procs = (int)num_arg("--procs", optarg, 1, PROCS_MAX); break;
		case 21: opt.src_addrs = (int)num_arg("--src-addrs", optarg, 0, 250); src_set = 1; break;
		case 22: opt.tls = 1; break;
		case 23: opt.pub_channel = optarg; break;
		default: usage(stderr); exit(2);
		}
	}
	if (optind < argc) {
		usage(stderr);
		exit(2);
	}
	/* The WebSocket publisher sends everything on its one connection. */
	if (opt.pub_channel && opt.pub_ws)
		die("--pub-channel and --pub-ws do not go together");
	if (!drain_set && opt.tech == TECH_POLL)
		opt.drain_s += opt.interval_ms / 1000 + 1;
	if (ports) {
		char buf[256], *tok, *save;
		snprintf(buf, sizeof buf, "%s", ports);
		for (tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save))
			proc_set_port(&opt.server, (int)num_arg("--ports", tok, 1, 65535));
	}
	/*
	 * One source address has ~28,000 ephemeral ports toward one server
	 * port, but connect() tries the ports of one parity first (the other
	 * half is bind()'s: Linux's __inet_hash_connect) and only then the
	 * rest: past ~14,000 sockets per address every connect() walks those
	 * ~14,000 taken ports first, 1.6 ms each here, and a loop that connects
	 * falls so far behind that the server times its handshakes out.  So at
	 * most 12,000 clients per address, and one address per process.
	 */
	if (!src_set) {
		int need = (opt.clients + 11999) / 12000;
		opt.src_addrs = opt.procs > 1 ? opt.procs : 0;
		if (need > 1 && need > opt.src_addrs)
			opt.src_addrs = need;
	}
}

/* "http://host:port/path?query", "ws://…", or over TLS "https://…",
 * "wss://…" (tls.h); resolves host once. */
static void target_parse(struct target *t, const char *url)
{
	const char *p = url, *h, *slash, *colon;
	size_t hl;
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *ai;

	t->tls = 0;
	if (strncmp(p, "http://", 7) == 0)
		p += 7;
	else if (strncmp(p, "ws://", 5) == 0)
		p += 5;
	else if (strncmp(p, "https://", 8) == 0)
		p += 8, t->tls = 1;
	else if (strncmp(p, "wss://", 6) == 0)
		p += 6, t->tls = 1;
	else
		die("%s: only http://, ws://, https:// and wss:// URLs", url);
	t->port = t->tls ? 443 : 80;
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

static void setup_targets(void)
{
	static char tls_base[URL_MAX];
	char url[URL_MAX];
	static const char *const path[] = {
		"/cgi-bin/poll.fcgi?channel={channel}&since={since}",
		"/cgi-bin/longpoll.fcgi?channel={channel}&since={since}",
		"/cgi-bin/sse.fcgi?channel={channel}&since={since}",
		"/ws?channel={channel}&since={since}",
	};

	/* --tls: the same server over TLS, whatever scheme --base names. */
	if (opt.tls && strncmp(opt.base, "http://", 7) == 0) {
		snprintf(tls_base, sizeof tls_base, "https://%s", opt.base + 7);
		opt.base = tls_base;
	}
	if (opt.sub_url) {
		snprintf(url, sizeof url, "%s", opt.sub_url);
	} else if (opt.tech == TECH_WS) {
		if (opt.ws_base)
			snprintf(url, sizeof url, "%s%s", opt.ws_base, path[TECH_WS]);
		else if (strncmp(opt.base, "http://", 7) == 0)
			snprintf(url, sizeof url, "ws://%s%s", opt.base + 7, path[TECH_WS]);
		else if (strncmp(opt.base, "https://", 8) == 0)
			snprintf(url, sizeof url, "wss://%s%s", opt.base + 8, path[TECH_WS]);
		else
			die("--base must be an http:// or https:// URL");
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
	proc_set_port(&opt.server, sub_target.port);
	proc_set_port(&opt.server, pub_target.port);
}

/*
 * Thousands of sockets need thousands of descriptors: take the whole hard
 * limit (as root, first try to raise the hard limit itself to what we need).
 */
static void raise_nofile(int want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < (rlim_t)want) {
		struct rlimit up = { (rlim_t)want, (rlim_t)want };
		if (setrlimit(RLIMIT_NOFILE, &up) == 0)
			return;
	}
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < (rlim_t)want)
		fprintf(stderr, "loadgen: RLIMIT_NOFILE is %llu, fewer than the %d needed"
		        " (--procs spreads the clients over more processes)\n",
		        (unsigned long long)rl.rlim_cur, want);
}

/* ---- the run ------------------------------------------------------------ */

static int never(void) { return 0; }
static int all_ready(void) { return tally.nready >= opt.clients; }
static int all_held(void) { return tally.nheld >= opt.clients || pub.primer_acked < 0; }
static int all_published(void) { return pub.done == nmsg; }

/* Who got what, from the tally: held subscribers × acknowledged messages
 * (none with --pub-channel: then every delivery is one too many). */
static void count_delivered(struct report *r)
{
	int i, s;

	for (i = 0; i < opt.clients; i++) {
		if (!tally_held(i))
			continue;
		r->held++;
		for (s = 0; s < nmsg; s++) {
			if (!pub.acked[s])
				continue;
			r->expected += !pub_elsewhere;
			r->delivered += tally_has(i, s);
		}
	}
	r->lost = r->expected > r->delivered ? r->expected - r->delivered : 0;
}

static double rusage_s(int who)
{
	struct rusage ru;

	getrusage(who, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

int main(int argc, char **argv)
{
	struct report r = { 0 };
	uint64_t t_start, t_pub, t_end, deadline;
	int per_proc;

	parse_args(argc, argv);
	setup_targets();
	if (sub_target.tls || pub_target.tls)
		tls_init();             /* before --procs forks: one context for all */
	signal(SIGPIPE, SIG_IGN);
	srandom((unsigned)(getpid() ^ clock_wall_us()));
	per_proc = (opt.clients + opt.procs - 1) / opt.procs;
	raise_nofile(per_proc + PUB_MAX + 64);

	nmsg = opt.messages ? opt.messages : (int)llround(opt.rate * opt.duration);
	if (nmsg < 1)
		nmsg = 1;
	snprintf(run_tag, sizeof run_tag, "lg.%x%04x.", (unsigned)getpid() & 0xffffff,
	         (unsigned)random() & 0xffff);
	if (opt.channel)
		snprintf(channel, sizeof channel, "%s", opt.channel);
	else
		snprintf(channel, sizeof channel, "bench-%s-%.*s", tech_name[opt.tech],
		         (int)(strlen(run_tag) - 4), run_tag + 3);
	snprintf(pub_channel, sizeof pub_channel, "%s",
	         opt.pub_channel ? opt.pub_channel : channel);
	pub_elsewhere = strcmp(pub_channel, channel) != 0;
	if (opt.size < (int)strlen(run_tag) + 24)
		opt.size = (int)strlen(run_tag) + 24;
	tally_init();

	/* 1. connect every subscriber, connect_rate per second */
	proc_sample(&opt.server, &r.base);
	t_start = clock_now_us();
	loop_init(0, opt.procs > 1 ? 0 : opt.clients, 1, t_start);
	if (opt.procs > 1)
		tally_fork_workers(t_start);
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
	while (loop_publish(nmsg) != 0)
		loop_until(never, clock_now_us() + 1000, 0);
	loop_until(all_held, deadline, 0);
	if (pub.primer_acked < 0)
		fprintf(stderr, "loadgen: publishing the primer failed\n");
	/* 3. quiet: every subscriber held, nothing published (idle CPU) */
	proc_sample(&opt.server, &r.ready);
	loop_until(never, clock_now_us() + (uint64_t)opt.settle_ms * 1000, 0);
	proc_sample(&opt.server, &r.quiet);
	/*
	 * 4. publish nmsg messages at the rate (a server too slow to take them
	 * gets --drain seconds of grace; what is still unsent then counts as an
	 * error), then 5. drain: every message acknowledged gets --drain seconds
	 * to reach every held subscriber, counted from the last acknowledgement.
	 */
	t_pub = clock_now_us();
	loop_until(all_published, t_pub + (uint64_t)((double)nmsg * 1e6 / opt.rate) +
	           (uint64_t)opt.drain_s * 1000000, t_pub);
	loop_until(tally_all_delivered, clock_now_us() + (uint64_t)opt.drain_s * 1000000, 0);
	/* Nothing to wait for on another channel: one second, so that what
	 * the last messages cost the server (and a stray delivery) is in. */
	if (pub_elsewhere)
		loop_until(never, clock_now_us() + 1000000, 0);
	t_end = clock_now_us();
	proc_sample(&opt.server, &r.end);
	if (opt.procs > 1)
		tally_stop_workers();

	r.label = opt.label;
	r.technique = tech_name[opt.tech];
	r.channel = channel;
	r.clients = opt.clients;
	r.interval_ms = opt.tech == TECH_POLL ? opt.interval_ms : 0;
	r.procs = opt.procs;
	count_delivered(&r);
	r.nmsg = nmsg;
	r.pub_ok = pub.ok;
	r.pub_fail = pub.fail;
	r.pub_done = pub.done;
	r.duplicates = tally.duplicates;
	r.foreign = counters.foreign;
	r.lat = tally.lat;
	r.nlat = tally.nlat;
	r.pub_rtt = pub.rtt;
	r.npub_rtt = pub.nrtt;
	r.requests = counters.requests;
	r.bytes_in = counters.bytes_in;
	r.bytes_out = counters.bytes_out;
	r.err_connect = counters.err_connect;
	r.err_http = counters.err_http;
	r.err_reset = counters.err_reset;
	r.err_proto = counters.err_proto;
	r.run_s = (double)(t_end - t_start) / 1e6;
	r.pub_s = (double)(t_end - t_pub) / 1e6;
	r.settle_s = opt.settle_ms / 1000.0;
	r.loadgen_cpu_s = rusage_s(RUSAGE_SELF) + rusage_s(RUSAGE_CHILDREN);
	report_finish(&r);
	if (opt.header)
		printf("%s\n", report_csv_header);
	report_print_csv(stdout, &r);
	if (!opt.quiet)
		report_print_summary(stderr, &r);

	loop_free();
	tally_free();
	tls_free();
	/* delivered == expected: nothing lost, nothing on the wrong channel */
	return (r.delivered == r.expected && r.duplicates == 0 && r.pub_ok == nmsg &&
	        r.held > 0) ? 0 : 1;
}
