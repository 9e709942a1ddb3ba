/*
 * http.c — the HTTP side shared by the endpoints (see http.h).
 *
 * The pure half decodes what CGI/FastCGI hands us (RFC 3875 meta-variables:
 * QUERY_STRING, CONTENT_LENGTH, CONTENT_TYPE, HTTP_*), the request half writes
 * CGI responses: a "Status:" header line, other headers, a blank line, the
 * body (RFC 3875 §6).  The web server turns that into a real HTTP response.
 */
#include "http.h"

#include <errno.h>   /* program_invocation_short_name (GNU) */
#include <limits.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "msg.h"

/* ---- pure functions ---------------------------------------------------- */

static int hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes the form value p[0..n) (WHATWG URL "application/x-www-form-
 * urlencoded parser": "+" is a space, "%XX" a byte) into buf. */
static int form_decode(const char *p, size_t n, char *buf, size_t buflen,
                       size_t *len)
{
	size_t out = 0;

	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)p[i];
		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			int hi, lo;
			if (i + 2 >= n || (hi = hex_value(p[i + 1])) < 0 ||
			    (lo = hex_value(p[i + 2])) < 0)
				return -1;
			c = hi * 16 + lo;
			i += 2;
		}
		if (out + 1 >= buflen)
			return -1;
		buf[out++] = (char)c;
	}
	buf[out] = '\0';
	if (len != NULL)
		*len = out;
	return 1;
}

int http_form_get(const char *qs, const char *name, char *buf, size_t buflen,
                  size_t *len)
{
	size_t name_len = strlen(name);

	if (buflen == 0)
		return -1;
	while (qs != NULL && *qs != '\0') {
		const char *end = strchr(qs, '&');
		size_t pair_len = end != NULL ? (size_t)(end - qs) : strlen(qs);
		const char *eq = memchr(qs, '=', pair_len);
		size_t key_len = eq != NULL ? (size_t)(eq - qs) : pair_len;

		/* Names are matched as written: rtlab's names are plain letters,
		 * which no client has a reason to percent-encode. */
		if (key_len == name_len && memcmp(qs, name, name_len) == 0) {
			const char *val = eq != NULL ? eq + 1 : qs + pair_len;
			return form_decode(val, (size_t)(qs + pair_len - val), buf,
			                   buflen, len);
		}
		qs = end != NULL ? end + 1 : NULL;
	}
	return 0;
}

int http_parse_int(const char *s, long long min, long long max, long long *out)
{
	long long v = 0;
	int neg = 0;

	if (s == NULL)
		return -1;
	if (*s == '-' && min < 0) {
		neg = 1;
		s++;
	}
	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		if (v > (LLONG_MAX - (*s - '0')) / 10)
			return -1;                   /* would overflow */
		v = v * 10 + (*s - '0');
	}
	if (neg)
		v = -v;
	if (v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

long long http_env_int(const char *name, long long min, long long max,
                       long long dflt)
{
	const char *s = getenv(name);
	long long v;

	if (s == NULL || http_parse_int(s, min, max, &v) < 0)
		return dflt;
	return v;
}

/* Length of p without a default port suffix (":80" for http, ":443" for
 * https), so "http://h" and Host "h:80" are the same origin (RFC 6454 §4). */
static size_t without_default_port(const char *p, size_t n, int https)
{
	const char *port = https ? ":443" : ":80";
	size_t pl = strlen(port);

	if (n > pl && memcmp(p + n - pl, port, pl) == 0)
		return n - pl;
	return n;
}

int http_origin_allowed(const char *origin, const char *host,
                        const char *allowed)
{
	size_t origin_len;

	if (origin == NULL)
		return 1;                            /* curl, same-origin GET, ... */
	origin_len = strlen(origin);
	if (allowed != NULL && *allowed != '\0') {
		const char *p = allowed;
		while (*p != '\0') {
			size_t n;
			p += strspn(p, " \t");
			n = strcspn(p, " \t");
			if (n > 0 && n == origin_len && strncasecmp(p, origin, n) == 0)
				return 1;
			p += n;
		}
		return 0;
	}
	if (host == NULL || *host == '\0')
		return 0;

	/* Default: the serialized origin "scheme://host[:port]" (RFC 6454 §6.2)
	 * must name the host the request was sent to. */
	int https;
	const char *hp;
	if (strncasecmp(origin, "http://", 7) == 0) {
		https = 0;
		hp = origin + 7;
	} else if (strncasecmp(origin, "https://", 8) == 0) {
		https = 1;
		hp = origin + 8;
	} else {
		return 0;                            /* "null", file:, ... */
	}
	size_t hp_len = strlen(hp);
	if (hp_len == 0 || memchr(hp, '/', hp_len) != NULL)
		return 0;
	hp_len = without_default_port(hp, hp_len, https);
	size_t host_len = without_default_port(host, strlen(host), https);
	return hp_len == host_len && strncasecmp(hp, host, hp_len) == 0;
}

int http_content_type_is(const char *content_type, const char *type)
{
	const char *p = content_type, *end;
	size_t type_len = strlen(type);

	if (p == NULL)
		return 0;
	p += strspn(p, " \t");
	end = p + strcspn(p, ";");
	while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	if ((size_t)(end - p) != type_len || strncasecmp(p, type, type_len) != 0)
		return 0;
	/* Parameters: only charset matters, and it must be UTF-8. */
	for (p = strchr(p, ';'); p != NULL; p = strchr(p + 1, ';')) {
		const char *param = p + 1 + strspn(p + 1, " \t");
		if (strncasecmp(param, "charset=", 8) == 0) {
			const char *cs = param + 8;
			size_t n = strcspn(cs, "; \t");
			if (n >= 2 && cs[0] == '"' && cs[n - 1] == '"') {
				cs++;
				n -= 2;
			}
			if (!(n == 5 && strncasecmp(cs, "utf-8", 5) == 0))
				return 0;
		}
	}
	return 1;
}

/* FNV-1a, 64 bit (http://www.isthe.com/chongo/tech/comp/fnv/): a short,
 * well-known hash, good enough to tell two answers apart. */
static uint64_t fnv1a64(const char *p, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

void http_etag_make(char *buf, int64_t id, const char *body, size_t len)
{
	snprintf(buf, HTTP_ETAG_MAX, "\"%lld-%016llx\"", (long long)id,
	         (unsigned long long)fnv1a64(body, len));
}

int http_etag_match(const char *if_none_match, const char *etag)
{
	const char *p = if_none_match;
	size_t etag_len = strlen(etag);

	if (p == NULL)
		return 0;
	/* If-None-Match = "*" / #entity-tag; entity-tag = [ "W/" ] DQUOTE
	 * etagc* DQUOTE.  A malformed member ends the scan: no match. */
	for (;;) {
		p += strspn(p, " \t,");
		if (*p == '\0')
			return 0;
		if (*p == '*')
			return 1;
		if (strncmp(p, "W/", 2) == 0)
			p += 2;
		if (*p != '"')
			return 0;
		const char *close = strchr(p + 1, '"');
		if (close == NULL)
			return 0;
		if ((size_t)(close + 1 - p) == etag_len &&
		    memcmp(p, etag, etag_len) == 0)
			return 1;
		p = close + 1;
	}
}

/* One numeric query parameter: absent keeps *out, else it must be in range. */
static const char *cursor_number(const char *qs, const char *name, long long min,
                                 long long max, long long *out, int *present,
                                 const char *bad)
{
	char buf[32];
	int rc = http_form_get(qs, name, buf, sizeof buf, NULL);

	if (present != NULL)
		*present = rc == 1;
	if (rc == 0)
		return NULL;
	if (rc < 0 || http_parse_int(buf, min, max, out) < 0)
		return bad;
	return NULL;
}

const char *http_cursor_parse(const char *qs, struct http_cursor *c)
{
	char buf[256];
	size_t len;
	long long since = 0, limit = HTTP_LIMIT_DEFAULT, history = HTTP_HISTORY_DEFAULT;
	const char *err;
	int rc;

	memset(c, 0, sizeof *c);
	rc = http_form_get(qs, "channel", buf, sizeof buf, &len);
	if (rc < 0)
		return "channel is malformed or too long";
	if (rc == 0) {
		strcpy(buf, MSG_DEFAULT_CHANNEL);
		len = strlen(buf);
	}
	if ((err = msg_check_channel(buf, len)) != NULL)
		return err;
	memcpy(c->channel, buf, len + 1);

	if ((err = cursor_number(qs, "since", 0, INT64_MAX, &since, &c->has_since,
	                         "since must be a message id (0 or more)")) ||
	    (err = cursor_number(qs, "limit", 1, STORE_READ_MAX, &limit, NULL,
	                         "limit must be a number from 1 to 500")) ||
	    (err = cursor_number(qs, "history", 0, STORE_READ_MAX, &history, NULL,
	                         "history must be a number from 0 to 500")))
		return err;
	c->since = since;
	c->limit = (int)limit;
	c->history = (int)history;
	return NULL;
}

/* ---- the poll answer ---------------------------------------------------- */

int http_poll_read(struct store *st, const struct http_cursor *c,
                   struct http_poll *p)
{
	int64_t newest;
	int rc;

	memset(p, 0, sizeof *p);
	/* The newest id first: any message committed after this read has a
	 * larger id, so answering it with an empty list never skips one. */
	if (store_last_id(st, &newest) < 0)
		return -1;
	if (c->has_since && c->since > newest) {
		p->reset = 1;
		p->last_id = newest;
		return 0;
	}
	if (c->has_since)
		rc = store_read_after(st, c->channel, c->since, c->limit, &p->msgs);
	else
		rc = store_read_last(st, c->channel, c->limit, &p->msgs);
	if (rc < 0)
		return -1;
	p->last_id = p->msgs.n > 0 ? p->msgs.v[p->msgs.n - 1].id : newest;
	return 0;
}

char *http_poll_json(const struct http_poll *p, size_t *len)
{
	static const char head[] = "{\"messages\":[";
	size_t cap = sizeof head + 64, n = 0;
	char *out;

	for (size_t i = 0; i < p->msgs.n; i++)
		cap += p->msgs.v[i].json_len + 1;
	if ((out = malloc(cap)) == NULL)
		return NULL;
	memcpy(out, head, sizeof head - 1);
	n = sizeof head - 1;
	/* Each message is already JSON from SQLite's json_object(): the list
	 * is only joined, nothing is escaped here. */
	for (size_t i = 0; i < p->msgs.n; i++) {
		if (i > 0)
			out[n++] = ',';
		memcpy(out + n, p->msgs.v[i].json, p->msgs.v[i].json_len);
		n += p->msgs.v[i].json_len;
	}
	n += (size_t)snprintf(out + n, cap - n, "],\"last_id\":%lld%s}",
	                      (long long)p->last_id, p->reset ? ",\"reset\":true" : "");
	*len = n;
	return out;
}

void http_poll_free(struct http_poll *p)
{
	if (p == NULL)
		return;
	store_msgs_free(&p->msgs);
}

/* ---- one FastCGI request ----------------------------------------------- */

/*
 * CGI streams.  FCGX_Stream is a public struct whose buffer is refilled and
 * emptied through two function pointers (fcgiapp.h: "we wouldn't need our
 * own if platform vendors provided a standard way to subclass theirs");
 * these two do it with read(2)/write(2) on a file descriptor, so the
 * endpoints write through FCGX_PutStr() whether they run as FastCGI or CGI.
 */
struct cgi_stream {
	FCGX_Stream s;
	int fd;
	unsigned long long left;    /* reader: bytes it may still read */
	unsigned char buf[8192];
};

static void cgi_fill(FCGX_Stream *s)
{
	struct cgi_stream *c = s->data;
	size_t want = c->left < sizeof c->buf ? (size_t)c->left : sizeof c->buf;
	ssize_t n = 0;

	/* Never past CONTENT_LENGTH (RFC 3875 §4.2): the server need not
	 * close stdin after the body, and a shell's tty never does. */
	if (want > 0)
		do
			n = read(c->fd, c->buf, want);
		while (n < 0 && errno == EINTR);
	s->rdNext = s->stopUnget = c->buf;
	s->stop = c->buf + (n > 0 ? n : 0);
	if (n > 0)
		c->left -= (unsigned long long)n;
	if (n <= 0) {                   /* end of input, or an error */
		s->isClosed = 1;
		s->FCGI_errno = n < 0 ? errno : 0;
	}
}

static void cgi_empty(FCGX_Stream *s, int do_close)
{
	struct cgi_stream *c = s->data;
	const unsigned char *p = c->buf;

	(void)do_close;                 /* the fd stays open for exit() */
	while (p < s->wrNext) {
		ssize_t n = write(c->fd, p, (size_t)(s->wrNext - p));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {           /* the client went away (EPIPE) */
			s->isClosed = 1;
			s->FCGI_errno = errno;
			break;
		}
		p += n;
	}
	s->wrNext = c->buf;
	s->stop = c->buf + sizeof c->buf;
}

static FCGX_Stream *cgi_stream_init(struct cgi_stream *c, int fd, int reader)
{
	const char *cl = getenv("CONTENT_LENGTH");
	long long n;

	memset(&c->s, 0, sizeof c->s);
	c->fd = fd;
	/* Without CONTENT_LENGTH (a chunked body, a shell pipe): to the end. */
	c->left = cl != NULL && http_parse_int(cl, 0, LLONG_MAX, &n) == 0 ?
	          (unsigned long long)n : ULLONG_MAX;
	c->s.isReader = reader;
	c->s.fillBuffProc = cgi_fill;
	c->s.emptyBuffProc = cgi_empty;
	c->s.data = c;
	c->s.stopUnget = c->s.rdNext = c->s.wrNext = c->buf;
	/* A reader starts empty (the first read fills it), a writer with the
	 * whole buffer free. */
	c->s.stop = reader ? c->buf : c->buf + sizeof c->buf;
	return &c->s;
}

/* Reads and drops up to HTTP_DRAIN_MAX more bytes of a request body. */
static void drain_input(FCGX_Stream *in)
{
	char sink[4096];
	size_t dropped = 0;
	int n;

	while (dropped < HTTP_DRAIN_MAX &&
	       (n = FCGX_GetStr(sink, sizeof sink, in)) > 0)
		dropped += (size_t)n;
}

/*
 * SIGTERM is how mod_fcgid, spawn-fcgi's owner and `apachectl graceful-stop`
 * ask a process to finish.  libfcgi's own handler only ends the accept loop,
 * which a held SSE stream or long-poll never returns to; ours also raises a
 * flag the held endpoints check whenever store_wait() returns (the signal
 * interrupts its poll()), so they end their answer cleanly — the client
 * resumes from its cursor elsewhere — and then chains to libfcgi's.
 */
static volatile sig_atomic_t stop_requested;
static struct sigaction libfcgi_term;

static void on_sigterm(int sig)
{
	stop_requested = 1;
	if (libfcgi_term.sa_handler != SIG_DFL && libfcgi_term.sa_handler != SIG_IGN &&
	    !(libfcgi_term.sa_flags & SA_SIGINFO))
		libfcgi_term.sa_handler(sig);
}

static void catch_sigterm(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_sigterm;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;          /* no SA_RESTART: interrupt the wait */
	sigaction(SIGTERM, &sa, &libfcgi_term);
}

int http_stopping(void)
{
	return stop_requested;
}

int http_accept(struct http_req *r)
{
	static struct cgi_stream cgi_in, cgi_out, cgi_err;
	static int handler_set;
	static int cgi_served;
	static FCGX_Stream *prev_in;
	FCGX_Stream *in, *out, *err;
	FCGX_ParamArray env;

	/* FCGX_IsCGI(): stdin is not a listening socket (getpeername fails
	 * with something other than ENOTCONN).  It also runs FCGX_Init(),
	 * which ignores SIGPIPE, so a vanished client is a write error. */
	if (!handler_set) {
		int cgi = FCGX_IsCGI();   /* runs FCGX_Init(): libfcgi's handlers first */
		(void)cgi;
		catch_sigterm();
		handler_set = 1;
	}
	if (!FCGX_IsCGI()) {
		/* Read what is left of the previous request's body first: a
		 * FastCGI connection closed with unread input in it is reset
		 * (TCP RST) and the server may lose the answer we just wrote. */
		if (prev_in != NULL)
			drain_input(prev_in);
		if (stop_requested) {           /* SIGTERM: finish, take no more */
			FCGX_Finish();
			return -1;
		}
		if (FCGX_Accept(&in, &out, &err, &env) < 0)
			return -1;
		http_req_init(r, in, out, err, env);
		prev_in = in;
		return 0;
	}
	if (cgi_served) {
		/* The same for CGI: exiting with unread input on mod_cgid's
		 * socket resets it.  Only a body of known length is drained:
		 * without one, reading to the end could wait on a tty. */
		if (cgi_in.left != ULLONG_MAX)
			drain_input(&cgi_in.s);
		FCGX_FClose(&cgi_out.s);
		FCGX_FClose(&cgi_err.s);
		return -1;
	}
	cgi_served = 1;
	http_req_init(r, cgi_stream_init(&cgi_in, STDIN_FILENO, 1),
	              cgi_stream_init(&cgi_out, STDOUT_FILENO, 0),
	              cgi_stream_init(&cgi_err, STDERR_FILENO, 0), environ);
	return 0;
}

void http_req_init(struct http_req *r, FCGX_Stream *in, FCGX_Stream *out,
                   FCGX_Stream *err, FCGX_ParamArray env)
{
	r->in = in;
	r->out = out;
	r->err = err;
	r->env = env;
	r->method = http_req_param(r, "REQUEST_METHOD");
	if (r->method == NULL || *r->method == '\0')
		r->method = "GET";            /* run from a shell without it */
	r->query = http_req_param(r, "QUERY_STRING");
	if (r->query == NULL)
		r->query = "";
	r->content_type = http_req_param(r, "CONTENT_TYPE");
	r->origin = http_req_param(r, "HTTP_ORIGIN");
	r->host = http_req_param(r, "HTTP_HOST");
}

const char *http_req_param(const struct http_req *r, const char *name)
{
	return FCGX_GetParam(name, r->env);
}

/* Reads up to want bytes; returns how many arrived before the end. */
static size_t read_full(struct http_req *r, char *buf, size_t want)
{
	size_t got = 0;

	while (got < want) {
		size_t chunk = want - got > INT_MAX ? INT_MAX : want - got;
		int n = FCGX_GetStr(buf + got, (int)chunk, r->in);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	return got;
}

int http_read_body(struct http_req *r, char *buf, size_t max, size_t *len)
{
	const char *cl = http_req_param(r, "CONTENT_LENGTH");
	long long want;

	*len = 0;
	buf[0] = '\0';
	if (cl == NULL || *cl == '\0') {
		/* No length (a chunked request the server streams to us): read to
		 * the end, one byte past max to tell "exactly max" from "more". */
		size_t got = read_full(r, buf, max + 1);
		if (got > max) {
			drain_input(r->in);
			buf[0] = '\0';
			return 413;
		}
		buf[got] = '\0';
		*len = got;
		return 0;
	}
	if (http_parse_int(cl, 0, LLONG_MAX, &want) < 0)
		return 400;
	if ((unsigned long long)want > max) {
		drain_input(r->in);
		return 413;
	}
	*len = read_full(r, buf, (size_t)want);
	buf[*len] = '\0';
	return *len == (size_t)want ? 0 : 400;
}

static const char *status_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 413: return "Content Too Large";       /* RFC 9110 §15.5.14 */
	case 415: return "Unsupported Media Type";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default:  return "Unknown";
	}
}

void http_send_json(struct http_req *r, int status, const char *cache,
                    const char *extra_headers, const char *body, size_t len)
{
	int with_body = body != NULL && status != 304;

	FCGX_FPrintF(r->out, "Status: %d %s\r\n", status, status_reason(status));
	if (with_body)
		/* libfcgi's own printf knows no %zu. */
		FCGX_FPrintF(r->out, "Content-Type: application/json; charset=utf-8\r\n"
		             "Content-Length: %lu\r\n", (unsigned long)len);
	FCGX_FPrintF(r->out, "Cache-Control: %s\r\n", cache);
	if (extra_headers != NULL)
		FCGX_PutS(extra_headers, r->out);
	FCGX_PutS("\r\n", r->out);
	/* HEAD: the same headers, no body (RFC 9110 §9.3.2). */
	if (with_body && strcmp(r->method, "HEAD") != 0)
		FCGX_PutStr(body, (int)len, r->out);
}

void http_log(struct http_req *r, int status, const char *detail)
{
	const char *script = http_req_param(r, "SCRIPT_NAME");

	if (script == NULL || *script == '\0')
		script = program_invocation_short_name;
	else if (strrchr(script, '/') != NULL)
		script = strrchr(script, '/') + 1;
	FCGX_FPrintF(r->err, "rtlab %s: %s %d %s\n", script, r->method, status,
	             detail);
	FCGX_FFlush(r->err);
}

void http_send_error(struct http_req *r, int status, const char *code,
                     const char *detail, const char *extra_headers)
{
	char body[512];
	int n;

	n = snprintf(body, sizeof body, "{\"error\":\"%s\",\"detail\":\"%s\"}",
	             code, detail);
	if (n < 0 || (size_t)n >= sizeof body)
		n = snprintf(body, sizeof body, "{\"error\":\"%s\"}", code);
	http_send_json(r, status, "no-store", extra_headers, body, (size_t)n);
	http_log(r, status, detail);
}

int http_store_check(struct http_req *r, struct store **st)
{
	const char *err = "the message store cannot be opened";

	/* An admin may recreate the database under a long-lived FastCGI
	 * process; its connection would keep reading the unlinked old file. */
	if (*st != NULL && store_replaced(*st)) {
		store_close(*st);
		*st = NULL;
	}
	if (*st == NULL)
		*st = store_open(NULL, &err);
	if (*st != NULL)
		return 0;
	http_send_error(r, 503, "store_unavailable", err, HTTP_RETRY_AFTER);
	return -1;
}

void http_store_fail(struct http_req *r, struct store **st)
{
	http_send_error(r, 503, "store_unavailable", "the message store failed",
	                HTTP_RETRY_AFTER);
	store_close(*st);
	*st = NULL;
}
