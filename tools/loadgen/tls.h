/*
 * tls.h — loadgen's TLS client (--tls, https://, wss://): OpenSSL's libssl
 * on the same non-blocking sockets and epoll loop as plain connections.
 * HTTP/1.1 inside (ALPN "http/1.1"): loadgen measures what TLS costs each
 * technique, not HTTP/2.  Internal to loadgen.
 *
 * Every connection makes a full handshake (no session resumption) and
 * accepts any certificate: the benchmark runs on loopback against the
 * self-signed certificate `TLS=1` makes, and verifying it would measure
 * nothing more.
 */
#ifndef LOADGEN_TLS_H
#define LOADGEN_TLS_H

#include <sys/types.h>

struct conn;
struct target;

/* The one client context; dies with OpenSSL's reason if it cannot be made. */
void tls_init(void);
void tls_free(void);

/* After the TCP connect: a TLS session on c->fd for target t (SNI). */
int tls_attach(struct conn *c, const struct target *t);
/* Drives the handshake: 1 done, 0 in progress (c watches what OpenSSL
 * waits for), -1 failed. */
int tls_handshake(struct conn *c);
/* Frees c's session, if any (the socket stays c's to close). */
void tls_detach(struct conn *c);

/* read(2)/write(2) for c, through TLS when c has a session: > 0 bytes,
 * 0 end of stream, -1 with errno (EAGAIN: try again on the next event). */
ssize_t conn_read(struct conn *c, void *buf, size_t n);
ssize_t conn_write(struct conn *c, const void *buf, size_t n);

#endif
