/*
 * proc.h — what the server costs, read from /proc (proc(5)).
 *
 * A sample sums over the listed pids and every descendant (found by walking
 * each process's parent link): CPU as utime + stime + cutime + cstime, so
 * children already reaped still count; RSS (field 24 of /proc/PID/stat);
 * the number of processes, and among them the FastCGI ones (a command name
 * ending in ".fcgi": mod_fcgid's, spawn-fcgi's or lighttpd's children) with
 * their own RSS; the voluntary context switches of all their threads (each
 * one is a sleep after a wake: a process woken by a commit, a worker by a
 * socket; threads and processes that exited before the sample are not in
 * it); and the ESTABLISHED TCP connections whose local port is one
 * of the watched ports (asked of the kernel over sock_diag, as ss(8) does;
 * /proc/net/tcp where netlink is not available).
 *
 * A sample walks every process and every established socket of the machine
 * (tens of milliseconds with 10,000): loadgen takes one only between phases,
 * never while messages are in flight.
 */
#ifndef LOADGEN_PROC_H
#define LOADGEN_PROC_H

#define PROC_PIDS_MAX  64
#define PROC_PORTS_MAX 8

struct proc_set {
	int pids[PROC_PIDS_MAX];
	int npids;
	int ports[PROC_PORTS_MAX];
	int nports;
};

struct proc_sample {
	double cpu_s;
	long long rss_kib;
	int nprocs;
	int fcgi_procs;
	long long fcgi_rss_kib;
	long long wakes;           /* voluntary context switches, every thread */
	int conns;
};

/* The value of "voluntary_ctxt_switches:" in the text of a
 * /proc/PID/task/TID/status file (proc(5)); -1 if it is not there. */
long long proc_status_switches(const char *text, size_t len);

/* Adds pids from "P,P,..." (commas or spaces); -1 on a bad pid. */
int proc_set_parse(struct proc_set *set, const char *list);

/* Adds the first field of every line of a run file ("<pid> <start> <what>",
 * what tools/serve.sh writes to RUN_DIR/pids); -1 if it cannot be read. */
int proc_set_read(struct proc_set *set, const char *path);

void proc_set_port(struct proc_set *set, int port);

void proc_sample(const struct proc_set *set, struct proc_sample *s);

#endif
