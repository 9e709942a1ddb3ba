/*
 * check_loadgen_ws_client.c — unit tests for tools/loadgen/ws_client.c, the
 * client's half of the WebSocket opening handshake (RFC 6455 §4.1).
 * Fixtures: the RFC's own example (§1.3: the nonce "the sample nonce").
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "../../tools/loadgen/ws_client.h"

START_TEST(test_key_rfc_example)
{
	char key[WS_CLIENT_KEY_LEN + 1];

	ws_client_key((const unsigned char *)"the sample nonce", key);
	ck_assert_str_eq(key, "dGhlIHNhbXBsZSBub25jZQ==");
}
END_TEST

START_TEST(test_headers)
{
	char out[256];
	static const char want[] =
		"Upgrade: websocket\r\nConnection: Upgrade\r\n"
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";

	ck_assert_int_eq(ws_client_headers(out, sizeof out, "dGhlIHNhbXBsZSBub25jZQ=="),
	                 (int)sizeof want - 1);
	ck_assert_str_eq(out, want);
	ck_assert_int_eq(ws_client_headers(out, 40, "dGhlIHNhbXBsZSBub25jZQ=="), -1);
}
END_TEST

static const struct { const char *accept; int ok; } accepts[] = {
	{ "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", 1 },     /* RFC 6455 §1.3 */
	{ "s3pPLMBiTxaQ9kYGzzhZRbK+xOo", 0 },
	{ "S3pPLMBiTxaQ9kYGzzhZRbK+xOo=", 0 },     /* base64 is case-sensitive */
	{ "", 0 },
	{ "dGhlIHNhbXBsZSBub25jZQ==", 0 },         /* the key echoed back */
};

START_TEST(test_accept)
{
	ck_assert_int_eq(ws_client_accept_ok("dGhlIHNhbXBsZSBub25jZQ==", accepts[_i].accept),
	                 accepts[_i].ok);
}
END_TEST

static Suite *ws_client_suite(void)
{
	Suite *s = suite_create("loadgen_ws_client");
	TCase *tc = tcase_create("handshake");

	tcase_add_test(tc, test_key_rfc_example);
	tcase_add_test(tc, test_headers);
	tcase_add_loop_test(tc, test_accept, 0, sizeof accepts / sizeof accepts[0]);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(ws_client_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
