/*
 * ws_client.c — the client's half of the WebSocket opening handshake, no I/O
 * (RFC 6455 §4.1).  Unit tests: tests/unit/check_loadgen_ws_client.c.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "ws_client.h"
#include "ws_handshake.h"

void ws_client_key(const unsigned char raw[16], char key[WS_CLIENT_KEY_LEN + 1])
{
	EVP_EncodeBlock((unsigned char *)key, raw, 16);
}

int ws_client_headers(char *out, size_t cap, const char *key)
{
	int n = snprintf(out, cap,
	                 "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	                 "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n", key);

	return n < 0 || (size_t)n >= cap ? -1 : n;
}

int ws_client_accept_ok(const char *key, const char *accept)
{
	char want[WS_ACCEPT_LEN + 1];

	ws_accept_value(key, strlen(key), want);
	return strcmp(want, accept) == 0;
}
