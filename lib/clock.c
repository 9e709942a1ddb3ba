/*
 * clock.c — the one clock (see clock.h).
 */
#include "clock.h"

#include <time.h>

static int64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t clock_now_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

int64_t clock_now_ms(void)
{
	return clock_now_ns() / 1000000;
}

uint64_t clock_now_us(void)
{
	return (uint64_t)clock_ns(CLOCK_MONOTONIC) / 1000;
}

int64_t clock_wall_ms(void)
{
	return clock_ns(CLOCK_REALTIME) / 1000000;
}

uint64_t clock_wall_us(void)
{
	return (uint64_t)clock_ns(CLOCK_REALTIME) / 1000;
}
