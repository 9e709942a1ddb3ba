/*
 * http_status.h — what each status rtlab answers with means (pure layer: no
 * FastCGI, no store): one table gives, per status, its reason phrase (for
 * the status line) and rtlab's error code (for the JSON error body), so
 * every endpoint and the WebSocket helper name an error the same way.
 *
 *   400 bad_request             403 forbidden
 *   404 not_found               405 method_not_allowed
 *   413 too_large               415 unsupported_media_type
 *   426 upgrade_required        431 too_large
 *   500 internal_error          503 unavailable (the store, memory, a limit)
 *
 * Unit-tested in tests/unit/check_http_status.c.
 */
#ifndef RTLAB_HTTP_STATUS_H
#define RTLAB_HTTP_STATUS_H

#include <stddef.h>

/* "Bad Request" for 400, ... (RFC 9110 §15); "Unknown" for others. */
const char *http_status_reason(int status);

/* "bad_request" for 400, ...; "error" for a status not in the table. */
const char *http_status_error(int status);

/*
 * The one error-JSON builder:
 *   {"error":"<code>","detail":"<detail>"}                (an HTTP answer)
 *   {"type":"error","error":"<code>","detail":"<detail>"} (ws_frame = 1:
 *                                                          a WebSocket frame)
 * with code = http_status_error(status).  detail is escaped for JSON (it is
 * normally one of our own sentences, but need not be).  Writes into buf
 * (cap bytes, NUL-terminated) and returns the length; a detail that does not
 * fit is cut short, never the JSON.
 */
size_t http_error_json(char *buf, size_t cap, int ws_frame, int status,
                       const char *detail);

#endif
