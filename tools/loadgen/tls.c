/*
 * tls.c — TLS for loadgen's connections with OpenSSL's libssl, driven by
 * the epoll loop: SSL_connect/SSL_read/SSL_write on a non-blocking socket
 * return SSL_ERROR_WANT_READ or _WANT_WRITE instead of blocking, and the
 * connection then waits for that event (SSL_get_error(3)).
 *   https://docs.openssl.org/3.0/man3/SSL_get_error/
 *   https://docs.openssl.org/3.0/man3/SSL_CTX_set_mode/
 */
#include <errno.h>
#include <unistd.h>
#include <sys/epoll.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "conn.h"
#include "tls.h"

static SSL_CTX *ctx;

static const char *tls_reason(void)
{
	unsigned long e = ERR_get_error();
	return e ? ERR_reason_error_string(e) : "no reason given";
}

void tls_init(void)
{
	/* ALPN protocol list: length-prefixed names (RFC 7301 §3.1). */
	static const unsigned char alpn[] = "\x08http/1.1";

	ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL)
		die("TLS: SSL_CTX_new: %s", tls_reason());
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	/* SSL_write may send part of a buffer, and the retry may come from a
	 * buffer that has moved (c->out is realloc'ed): what write(2) allows. */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	                      SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* A server that closes a kept-alive connection without close_notify
	 * ends the stream, as a plain socket's EOF does. */
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	if (SSL_CTX_set_alpn_protos(ctx, alpn, sizeof alpn - 1) != 0)
		die("TLS: ALPN: %s", tls_reason());
}

void tls_free(void)
{
	SSL_CTX_free(ctx);
	ctx = NULL;
}

int tls_attach(struct conn *c, const struct target *t)
{
	if (ctx == NULL)
		tls_init();
	c->ssl = SSL_new(ctx);
	if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1)
		return -1;
	SSL_set_tlsext_host_name(c->ssl, t->host);
	SSL_set_connect_state(c->ssl);
	return 0;
}

/* What a WANT_* asks for, as the epoll event the connection must wait for;
 * 0 for a real error (errno set). */
static uint32_t tls_wait_for(struct conn *c, int rc)
{
	switch (SSL_get_error(c->ssl, rc)) {
	case SSL_ERROR_WANT_READ:
		return EPOLLIN;
	case SSL_ERROR_WANT_WRITE:
		return EPOLLOUT;
	case SSL_ERROR_ZERO_RETURN:
		errno = 0;
		return 0;
	default:
		ERR_clear_error();
		if (errno == 0)
			errno = ECONNRESET;
		return 0;
	}
}

int tls_handshake(struct conn *c)
{
	int rc;
	uint32_t ev;

	ERR_clear_error();
	rc = SSL_do_handshake(c->ssl);
	if (rc == 1)
		return 1;
	ev = tls_wait_for(c, rc);
	if (ev == 0)
		return -1;
	conn_watch(c, ev, EPOLL_CTL_MOD);
	return 0;
}

void tls_detach(struct conn *c)
{
	SSL_free(c->ssl);      /* no close_notify: the socket closes next */
	c->ssl = NULL;
}

/* An SSL_read/SSL_write that moved no bytes, as read(2)/write(2) would
 * say it: -1 with EAGAIN while OpenSSL waits for an event, 0 at the end of
 * the stream (a read), -1 with errno otherwise. */
static ssize_t tls_io_result(struct conn *c, int rc, int writing)
{
	if (tls_wait_for(c, rc) != 0) {
		errno = EAGAIN;
		return -1;
	}
	if (errno != 0)
		return -1;
	if (!writing)
		return 0;
	errno = EPIPE;
	return -1;
}

ssize_t conn_read(struct conn *c, void *buf, size_t n)
{
	int rc;

	if (c->ssl == NULL)
		return read(c->fd, buf, n);
	ERR_clear_error();
	rc = SSL_read(c->ssl, buf, n > INT32_MAX ? INT32_MAX : (int)n);
	return rc > 0 ? rc : tls_io_result(c, rc, 0);
}

ssize_t conn_write(struct conn *c, const void *buf, size_t n)
{
	int rc;

	if (c->ssl == NULL)
		return write(c->fd, buf, n);
	ERR_clear_error();
	rc = SSL_write(c->ssl, buf, n > INT32_MAX ? INT32_MAX : (int)n);
	return rc > 0 ? rc : tls_io_result(c, rc, 1);
}
