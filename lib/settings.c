/*
 * settings.c — RT_* settings from the environment (see settings.h).
 */
#include "settings.h"

#include <stdio.h>
#include <stdlib.h>

#include "http_query.h"   /* http_parse_int: the one checked number parser */

long long settings_int(const char *name, long long min, long long max,
                       long long dflt)
{
	const char *s = getenv(name);
	long long v;

	if (s == NULL || *s == '\0')
		return dflt;
	if (http_parse_int(s, min, max, &v) < 0) {
		fprintf(stderr, "rtlab: %s=%.40s is not a number in [%lld, %lld]; "
		        "using %lld\n", name, s, min, max, dflt);
		return dflt;
	}
	return v;
}
