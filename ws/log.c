/*
 * log.c — the helper's one log line format (see wsd.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "wsd.h"

void wsd_log(const char *who, const char *fmt, ...)
{
	char when[32];
	time_t t = time(NULL);
	struct tm tm;
	va_list ap;

	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
	if (who)
		fprintf(stderr, "%s rtlab-wsd: %s ", when, who);
	else
		fprintf(stderr, "%s rtlab-wsd: ", when);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
