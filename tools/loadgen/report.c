/*
 * report.c — percentiles, the CSV row and the summary.
 */
#include <math.h>
#include <stdlib.h>

#include "report.h"

const char report_csv_header[] =
	"label,technique,clients,held,interval_ms,messages,delivered,lost,dup,"
	"p50_ms,p90_ms,p99_ms,max_ms,req_per_s,req_per_msg,bytes_per_msg,"
	"conns,srv_procs,srv_cpu_s,srv_cpu_pct,idle_cpu_pct,srv_rss_kib,"
	"rss_per_conn_kib,errors,run_s,loadgen_cpu_s,pub_p50_ms,"
	"fcgi_procs,fcgi_rss_kib,cpu_us_per_msg,srv_wakes,wakes_per_pub,"
	"fcgi_rss_per_conn_kib";

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

double report_pct(const uint32_t *sorted, size_t n, double p)
{
	size_t k;

	if (n == 0)
		return NAN;
	k = (size_t)ceil(p / 100.0 * (double)n);
	if (k < 1)
		k = 1;
	return sorted[k - 1] / 1000.0;
}

void report_finish(struct report *r)
{
	if (r->nlat)
		qsort(r->lat, r->nlat, sizeof *r->lat, cmp_u32);
	if (r->npub_rtt)
		qsort(r->pub_rtt, r->npub_rtt, sizeof *r->pub_rtt, cmp_u32);
}

/* A message the publisher could not send in time counts as an error. */
int report_errors(const struct report *r)
{
	return (int)(r->err_connect + r->err_http + r->err_reset + r->err_proto) +
	       (r->nmsg - r->pub_ok);
}

static double lat_ms(const struct report *r, double p)
{
	return report_pct(r->lat, r->nlat, p);
}

void report_print_csv(FILE *f, const struct report *r)
{
	double busy = r->end.cpu_s - r->quiet.cpu_s;
	long long rss = r->ready.rss_kib > r->end.rss_kib ? r->ready.rss_kib : r->end.rss_kib;
	long long fcgi_rss = r->ready.fcgi_rss_kib > r->end.fcgi_rss_kib ?
	                     r->ready.fcgi_rss_kib : r->end.fcgi_rss_kib;
	double d = (double)r->delivered;
	long long wakes = r->end.wakes - r->quiet.wakes;

	fprintf(f, "%s,%s,%d,%d,%d,%d,%lld,%lld,%lld,%.3f,%.3f,%.3f,%.3f,%.1f,%.3f,%.0f,"
	        "%d,%d,%.2f,%.1f,%.1f,%lld,%.2f,%d,%.1f,%.2f,%.3f,%d,%lld,%.1f,%lld,%.1f,%.2f\n",
	        r->label, r->technique, r->clients, r->held, r->interval_ms, r->pub_ok,
	        r->delivered, r->lost, r->duplicates,
	        lat_ms(r, 50), lat_ms(r, 90), lat_ms(r, 99), lat_ms(r, 100),
	        (double)r->requests / r->run_s,
	        d > 0 ? (double)r->requests / d : 0.0,
	        d > 0 ? (double)(r->bytes_in + r->bytes_out) / d : 0.0,
	        r->ready.conns, r->ready.nprocs, busy, 100.0 * busy / r->pub_s,
	        r->settle_s > 0 ? 100.0 * (r->quiet.cpu_s - r->ready.cpu_s) / r->settle_s : 0.0,
	        rss, r->held ? (double)(r->ready.rss_kib - r->base.rss_kib) / r->held : 0.0,
	        report_errors(r), r->run_s, r->loadgen_cpu_s,
	        report_pct(r->pub_rtt, r->npub_rtt, 50),
	        r->ready.fcgi_procs > r->end.fcgi_procs ? r->ready.fcgi_procs : r->end.fcgi_procs,
	        fcgi_rss, d > 0 ? busy * 1e6 / d : 0.0,
	        wakes, r->pub_ok > 0 ? (double)wakes / r->pub_ok : 0.0,
	        r->held ? (double)(r->ready.fcgi_rss_kib - r->base.fcgi_rss_kib) / r->held : 0.0);
	fflush(f);
}

void report_print_summary(FILE *f, const struct report *r)
{
	fprintf(f,
	        "loadgen %s %s: %d clients (%d held, %d process%s), channel %s, "
	        "%d/%d published (%d failed, %d not sent in time)\n"
	        "  delivered %lld of %lld, lost %lld, duplicated %lld, foreign %lld\n"
	        "  latency ms p50 %.3f p90 %.3f p99 %.3f max %.3f "
	        "(the publisher's send acknowledged after p50 %.3f)\n"
	        "  subscriber requests %lld, bytes in %lld out %lld\n"
	        "  server: %d procs (%d FastCGI), %d conns, RSS %lld KiB (before %lld), "
	        "CPU %.2f s publishing, %.2f s quiet; %lld wakes publishing\n"
	        "  errors: connect %lld, http %lld, reset %lld, protocol %lld; "
	        "loadgen CPU %.2f s, run %.1f s\n",
	        r->label, r->technique, r->clients, r->held, r->procs,
	        r->procs == 1 ? "" : "es", r->channel,
	        r->pub_ok, r->nmsg, r->pub_fail, r->nmsg - r->pub_done, r->delivered,
	        r->expected, r->lost, r->duplicates, r->foreign,
	        lat_ms(r, 50), lat_ms(r, 90), lat_ms(r, 99), lat_ms(r, 100),
	        report_pct(r->pub_rtt, r->npub_rtt, 50),
	        r->requests, r->bytes_in, r->bytes_out, r->ready.nprocs,
	        r->ready.fcgi_procs, r->ready.conns, r->ready.rss_kib, r->base.rss_kib,
	        r->end.cpu_s - r->quiet.cpu_s, r->quiet.cpu_s - r->ready.cpu_s,
	        r->end.wakes - r->quiet.wakes,
	        r->err_connect, r->err_http, r->err_reset, r->err_proto,
	        r->loadgen_cpu_s, r->run_s);
}
