/*
 * http_status.c — the status table and the error-JSON builder (see
 * http_status.h).
 */
#include "http_status.h"

#include <stdio.h>
#include <string.h>

static const struct {
	int status;
	const char *reason;      /* RFC 9110 §15 */
	const char *error;       /* rtlab's code in {"error":...} */
} statuses[] = {
	{ 200, "OK", NULL },
	{ 201, "Created", NULL },
	{ 202, "Accepted", NULL },
	{ 204, "No Content", NULL },
	{ 304, "Not Modified", NULL },
	{ 400, "Bad Request", "bad_request" },
	{ 403, "Forbidden", "forbidden" },
	{ 404, "Not Found", "not_found" },
	{ 405, "Method Not Allowed", "method_not_allowed" },
	{ 413, "Content Too Large", "too_large" },          /* RFC 9110 §15.5.14 */
	{ 415, "Unsupported Media Type", "unsupported_media_type" },
	{ 426, "Upgrade Required", "upgrade_required" },
	{ 431, "Request Header Fields Too Large", "too_large" },  /* RFC 6585 §5 */
	{ 500, "Internal Server Error", "internal_error" },
	{ 503, "Service Unavailable", "unavailable" },
};

const char *http_status_reason(int status)
{
	for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++)
		if (statuses[i].status == status)
			return statuses[i].reason;
	return "Unknown";
}

const char *http_status_error(int status)
{
	for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++)
		if (statuses[i].status == status && statuses[i].error != NULL)
			return statuses[i].error;
	return "error";
}

size_t http_error_json(char *buf, size_t cap, int ws_frame, int status,
                       const char *detail)
{
	static const char tail[] = "\"}";
	int n;
	size_t len;

	if (cap == 0)
		return 0;
	n = snprintf(buf, cap, "{%s\"error\":\"%s\",\"detail\":\"",
	             ws_frame ? "\"type\":\"error\"," : "", http_status_error(status));
	if (n < 0 || (size_t)n + sizeof tail > cap) {
		buf[0] = '\0';
		return 0;
	}
	len = (size_t)n;
	/* RFC 8259 §7: '"', '\\' and control characters must be escaped; the
	 * rest of UTF-8 passes as it is.  Room for the tail is kept. */
	for (const char *p = detail ? detail : ""; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;
		char esc[8];
		size_t k;

		if (c == '"' || c == '\\')
			k = (size_t)snprintf(esc, sizeof esc, "\\%c", c);
		else if (c < 0x20)
			k = (size_t)snprintf(esc, sizeof esc, "\\u%04x", c);
		else
			esc[0] = (char)c, k = 1;
		if (len + k + sizeof tail > cap)
			break;
		memcpy(buf + len, esc, k);
		len += k;
	}
	memcpy(buf + len, tail, sizeof tail);   /* with its NUL */
	return len + sizeof tail - 1;
}
