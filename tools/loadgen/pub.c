/*
 * pub.c — the publisher: M messages at the rate, over HTTP POST (kept-alive
 * connections, up to PUB_MAX at once) or, with --pub-ws, as frames on a
 * WebSocket of its own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "clock.h"
#include "conn.h"
#include "message.h"
#include "tls.h"

struct pub_state pub;
static struct conn pubs[PUB_MAX];

/* ---- the publisher ------------------------------------------------------ */

static void pub_result(int seq, int ok)
{
	if (seq == nmsg) {
		pub.primer_acked = ok ? 1 : -1;
		return;
	}
	pub.done++;
	if (ok) {
		pub.ok++;
		pub.acked[seq] = 1;
		pub.rtt[pub.nrtt++] = (uint32_t)(clock_now_us() - pub.start_us[seq]);
	} else {
		pub.fail++;
	}
}

void pub_echo(long long seq)
{
	if (seq == nmsg ? pub.primer_acked != 0 : pub.acked[seq])
		return;
	pub_result((int)seq, 1);
}

static int pub_text(char *text, size_t cap, int seq)
{
	return message_format(text, cap, run_tag, seq, clock_wall_us(), opt.size);
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
		url_expand(path, sizeof path, pub_target.path, channel, 0, NULL);
		ws_upgrade_headers(c, extra, sizeof extra);
		req = request_new("GET", &pub_target, path, extra, NULL, 0, &len);
		conn_send(c, &pub_target, req, len);
		return -1;
	}
	if (c->state != C_WS)
		return -1;             /* the handshake is still under way */
	pub.start_us[seq] = clock_now_us();
	pub_text(text, sizeof text, seq);
	n = snprintf(json, sizeof json,
	             "{\"type\":\"send\",\"user\":\"loadgen\",\"text\":\"%s\"}", text);
	for (i = 0; i < 4; i++)
		mask[i] = (unsigned char)random();
	len = ws_frame_encode(frame, sizeof frame, 1, WS_OP_TEXT, json, (size_t)n, mask);
	/* A frame this small goes out whole, or the connection is stuck. */
	if (conn_write(c, frame, len) != (ssize_t)len)
		pub_result(seq, 0);
	return 0;
}

int loop_publish(int seq)
{
	char text[TEXT_MAX + 1], body[TEXT_MAX * 2], path[URL_MAX], *req;
	/* The primer goes to the subscribers' channel, so that each is known to
	 * be held; the measured messages to --pub-channel (the same by default). */
	const char *chan = seq == nmsg ? channel : pub_channel;
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
	pub.start_us[seq] = clock_now_us();
	pub_text(text, sizeof text, seq);
	blen = url_expand(body, sizeof body, opt.pub_body, chan, 0, text);
	/* The URL may name the channel too (nchan: POST /pub?channel=C). */
	url_expand(path, sizeof path, pub_target.path, chan, 0, text);
	req = request_new("POST", &pub_target, path, NULL, body, blen, &len);
	c->busy = 1;
	c->pub_seq = seq;
	if (conn_send(c, &pub_target, req, len) != 0) {
		c->busy = 0;
		pub_result(seq, 0);
	}
	return 0;
}

void pub_finish(struct conn *c, int ok)
{
	if (!c->busy)
		return;
	c->busy = 0;
	pub_result(c->pub_seq, ok);
}


void pub_response_done(struct conn *c)
{
	int ok = c->resp.status >= 200 && c->resp.status < 300;

	if (opt.pub_ws) {
		if (c->resp.status != 101 || !ws_client_accept_ok(c->ws_key, c->resp.ws_accept)) {
			fprintf(stderr, "loadgen: the WebSocket publisher was refused (%d)\n",
			        c->resp.status);
			conn_close(c);
			return;
		}
		ws_open(c);
		return;
	}
	if (c->resp.close) {
		conn_close(c);
	} else {
		c->state = C_IDLE;
		conn_watch(c, EPOLLIN, EPOLL_CTL_MOD);
	}
	pub_finish(c, ok);
}


void pub_init(void)
{
	int i;

	for (i = 0; i < PUB_MAX; i++) {
		pubs[i].fd = -1;
		pubs[i].is_pub = 1;
		pubs[i].index = i;
	}
	pub.acked = calloc((size_t)nmsg + 1, 1);
	pub.start_us = calloc((size_t)nmsg + 1, sizeof *pub.start_us);
	pub.rtt = calloc((size_t)nmsg + 1, sizeof *pub.rtt);
	if (pub.acked == NULL || pub.start_us == NULL || pub.rtt == NULL)
		die("out of memory");
}

void pub_free(void)
{
	int i;

	for (i = 0; i < PUB_MAX; i++)
		conn_free(&pubs[i]);
	free(pub.acked);
	free(pub.start_us);
	free(pub.rtt);
	pub.acked = NULL;
	pub.start_us = NULL;
	pub.rtt = NULL;
}
