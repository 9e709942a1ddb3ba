/*
 * clock.h — loadgen's one clock.  Every time loadgen reads goes through
 * these two functions, so pointing loadgen at another clock (lib's, once
 * there is one) is a change in clock.c alone.
 */
#ifndef LOADGEN_CLOCK_H
#define LOADGEN_CLOCK_H

#include <stdint.h>

/* Microseconds of CLOCK_MONOTONIC: scheduling, deadlines, durations. */
uint64_t clock_now_us(void);

/* Microseconds of CLOCK_REALTIME: the stamp carried in message texts, so
 * that every loadgen process on the machine (--procs) reads the same clock. */
uint64_t clock_wall_us(void);

#endif
