/*
 * clock.h — the one clock of rtlab (pure layer: no FastCGI, no store).
 *
 * Deadlines, heartbeats, timeouts and measured costs all read the same
 * monotonic clock, CLOCK_MONOTONIC (POSIX clock_gettime): it never jumps
 * when an admin or NTP sets the wall-clock time, so a 25 s long-poll holds
 * 25 s.  Wall-clock time is read only where a time leaves the process: a
 * message's "ts" (the store) and loadgen's stamp inside a message text, which
 * several loadgen processes compare.
 */
#ifndef RTLAB_CLOCK_H
#define RTLAB_CLOCK_H

#include <stdint.h>

/* Nanoseconds on the monotonic clock (for measuring short costs). */
int64_t clock_now_ns(void);
/* Milliseconds on the same clock (for deadlines). */
int64_t clock_now_ms(void);
/* Microseconds on the same clock (loadgen's schedules and latencies). */
uint64_t clock_now_us(void);

/* Wall-clock time, CLOCK_REALTIME: milliseconds (a message's "ts") and
 * microseconds (loadgen's stamp). */
int64_t clock_wall_ms(void);
uint64_t clock_wall_us(void);

#endif
