/*
 * report.h — loadgen's result: one CSV row (stdout) and a readable summary
 * (stderr).  The columns are explained in docs/benchmark.md; tools/bench.sh
 * finds them by name in the header line, so new columns go at the end.
 */
#ifndef LOADGEN_REPORT_H
#define LOADGEN_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "proc.h"

extern const char report_csv_header[];

struct report {
	const char *label, *technique, *channel;
	int clients, held, interval_ms;
	int nmsg, pub_ok, pub_fail, pub_done;
	long long delivered, expected, lost, duplicates, foreign;
	uint32_t *lat;             /* µs, sorted by report_finish */
	size_t nlat;
	uint32_t *pub_rtt;         /* µs, sorted by report_finish */
	size_t npub_rtt;
	long long requests, bytes_in, bytes_out;
	long long err_connect, err_http, err_reset, err_proto;
	struct proc_sample base, ready, quiet, end;
	double run_s, pub_s, settle_s, loadgen_cpu_s;
	int procs;                 /* loadgen processes (--procs) */
};

/* Nearest-rank percentile p (0–100] of sorted µs values, in ms (NAN if none). */
double report_pct(const uint32_t *sorted, size_t n, double p);

/* Sorts the latencies; call once before printing. */
void report_finish(struct report *r);

int report_errors(const struct report *r);
void report_print_csv(FILE *f, const struct report *r);
void report_print_summary(FILE *f, const struct report *r);

#endif
