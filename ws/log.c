/*
 * log.c — the helper's one log line format (see wsd.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "wsd.h"

void wsd_log(const char *who, const char *fmt, ...)
{
	char line[1024], when[32];
	time_t t = time(NULL);
	struct tm tm;
	va_list ap;
	int n, m;

	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
	n = snprintf(line, sizeof line, "%s rtlab-wsd%s%s: %s%s", when,
	             wsd.name[0] ? " " : "", wsd.name, who ? who : "", who ? " " : "");
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
	va_end(ap);
	n += m < 0 ? 0 : m;
	if (n > (int)sizeof line - 2)
		n = (int)sizeof line - 2;   /* cut: still one line */
	line[n++] = '\n';
	/* One write: a pipe or an O_APPEND file takes it whole (pipe(7):
	 * writes up to PIPE_BUF bytes are atomic). */
	if (write(STDERR_FILENO, line, (size_t)n) < 0)
		return;
}
