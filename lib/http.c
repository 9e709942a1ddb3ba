/*
 * http.c — the request in (see http.h): the accept loop for FastCGI and for
 * one CGI request, SIGTERM, the request's parameters and its body.
 *
 * CGI/FastCGI hand us RFC 3875 meta-variables (QUERY_STRING,
 * CONTENT_LENGTH, CONTENT_TYPE, HTTP_*) and the body as a stream; the answer
 * side is lib/http_send.c.
 */
#include "http.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/*
 * Set by http_read_body() when the request declares a body beyond
 * HTTP_DRAIN_MAX: it is refused unread, and nothing waits for it later
 * either (a client that declares 999999999 bytes and sends 30 would hold
 * the process until the server gives up).  http_req_init() clears it.
 */
static int body_abandoned;

/* Reads and drops up to HTTP_DRAIN_MAX more bytes of a request body. */
static void drain_input(FCGX_Stream *in)
{
	char sink[4096];
	size_t dropped = 0;
	int n;

	if (body_abandoned)
		return;
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

void http_init(void)
{
	static int handler_set;

	/* libfcgi's handlers first: FCGX_Init() catches SIGPIPE (a vanished
	 * client is then a write error, not death) and installs its SIGTERM
	 * handler, which ours saves and chains to.  Called before any thread
	 * starts (lib/http_held.c), so the flag needs no lock. */
	if (!handler_set) {
		FCGX_Init();
		catch_sigterm();
		handler_set = 1;
	}
}

void http_req_drain(struct http_req *r)
{
	drain_input(r->in);
}

int http_accept(struct http_req *r)
{
	static struct cgi_stream cgi_in, cgi_out, cgi_err;
	static int cgi_served;
	static FCGX_Stream *prev_in;
	FCGX_Stream *in, *out, *err;
	FCGX_ParamArray env;

	http_init();
	/* FCGX_IsCGI(): stdin is not a listening socket (getpeername fails
	 * with something other than ENOTCONN). */
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
	body_abandoned = 0;
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
		/* Drop the rest first only when all of it can be dropped. */
		if ((unsigned long long)want > HTTP_DRAIN_MAX)
			body_abandoned = 1;
		drain_input(r->in);
		return 413;
	}
	*len = read_full(r, buf, (size_t)want);
	buf[*len] = '\0';
	return *len == (size_t)want ? 0 : 400;
}
