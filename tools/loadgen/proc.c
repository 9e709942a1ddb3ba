/*
 * proc.c — the server's CPU, RSS, processes and connections from /proc.
 */
#include <dirent.h>
#include <stdint.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>

#include "http_query.h"
#include "proc.h"

int proc_set_parse(struct proc_set *set, const char *list)
{
	char buf[1024], *tok, *save;

	snprintf(buf, sizeof buf, "%s", list);
	for (tok = strtok_r(buf, ", ", &save); tok && set->npids < PROC_PIDS_MAX;
	     tok = strtok_r(NULL, ", ", &save)) {
		long long v;
		if (http_parse_int(tok, 1, INT32_MAX, &v) != 0)
			return -1;
		set->pids[set->npids++] = (int)v;
	}
	return 0;
}

int proc_set_read(struct proc_set *set, const char *path)
{
	FILE *f = fopen(path, "r");
	char line[256];

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof line, f) && set->npids < PROC_PIDS_MAX) {
		long long v;
		line[strcspn(line, " \t\r\n")] = '\0';
		if (http_parse_int(line, 1, INT32_MAX, &v) == 0)
			set->pids[set->npids++] = (int)v;
	}
	fclose(f);
	return 0;
}

void proc_set_port(struct proc_set *set, int port)
{
	int i;

	for (i = 0; i < set->nports; i++)
		if (set->ports[i] == port)
			return;
	if (set->nports < PROC_PORTS_MAX)
		set->ports[set->nports++] = port;
}

static int port_watched(const struct proc_set *set, int port)
{
	int i;

	for (i = 0; i < set->nports; i++)
		if (set->ports[i] == port)
			return 1;
	return 0;
}

/*
 * ESTABLISHED TCP sockets of one address family whose local port is
 * watched, asked of the kernel over NETLINK_SOCK_DIAG (sock_diag(7)), as
 * ss(8) does.  Reading /proc/net/tcp instead costs time quadratic in the
 * sockets on the machine (the file is rebuilt for every read), which on a
 * shared machine with a few hundred thousand sockets is seconds per sample.
 * Returns -1 if netlink is not available.
 */
static int count_conns_diag(const struct proc_set *set, int family)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 req;
	} msg = {
		.nlh = { .nlmsg_len = sizeof msg, .nlmsg_type = SOCK_DIAG_BY_FAMILY,
		         .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP },
		.req = { .sdiag_family = (unsigned char)family, .sdiag_protocol = IPPROTO_TCP,
		         .idiag_states = 1u << TCP_ESTABLISHED },
	};
	static char buf[1 << 16];
	int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG), n = 0;

	if (fd < 0)
		return -1;
	if (send(fd, &msg, sizeof msg, 0) != (ssize_t)sizeof msg)
		goto fail;
	for (;;) {
		ssize_t len = recv(fd, buf, sizeof buf, 0);
		struct nlmsghdr *h = (struct nlmsghdr *)(void *)buf;
		if (len <= 0)
			goto fail;
		for (; NLMSG_OK(h, (size_t)len); h = NLMSG_NEXT(h, len)) {
			const struct inet_diag_msg *m = NLMSG_DATA(h);
			if (h->nlmsg_type == NLMSG_DONE)
				goto out;
			if (h->nlmsg_type == NLMSG_ERROR)
				goto fail;
			if (port_watched(set, ntohs(m->id.idiag_sport)))
				n++;
		}
	}
out:
	close(fd);
	return n;
fail:
	close(fd);
	return -1;
}

/* The same from /proc/net/tcp or tcp6, where netlink is not there. */
static int count_conns_proc(const struct proc_set *set, const char *path)
{
	FILE *f = fopen(path, "r");
	char line[512];
	int n = 0;

	if (f == NULL)
		return 0;
	/* "sl local_address rem_address st ...", hex; st 01 = ESTABLISHED. */
	while (fgets(line, sizeof line, f)) {
		unsigned lport, st;
		char *colon = strchr(line, ':');
		if (colon == NULL)
			continue;
		colon = strchr(colon + 1, ':');
		if (colon == NULL || sscanf(colon + 1, "%x %*s %x", &lport, &st) != 2)
			continue;
		if (st == 1 && port_watched(set, (int)lport))
			n++;
	}
	fclose(f);
	return n;
}

static int count_conns(const struct proc_set *set)
{
	int v4 = count_conns_diag(set, AF_INET), v6 = count_conns_diag(set, AF_INET6);

	if (v4 < 0 || v6 < 0)
		return count_conns_proc(set, "/proc/net/tcp") +
		       count_conns_proc(set, "/proc/net/tcp6");
	return v4 + v6;
}

struct proc_stat {
	int pid, ppid;
	unsigned long long ticks;
	long long rss_pages;
	int fcgi;                  /* its command name ends in ".fcgi" */
};

/* Reads /proc/<pid>/stat: parent, CPU ticks, RSS pages, command name. */
static int proc_stat_read(int pid, struct proc_stat *ps)
{
	char path[64], buf[1024], *open, *close;
	FILE *f;
	unsigned long long ut, st, cut, cst;
	size_t n;

	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	open = strchr(buf, '(');
	close = strrchr(buf, ')');     /* comm may hold spaces and parens */
	if (open == NULL || close == NULL || close < open)
		return -1;
	ps->pid = pid;
	ps->fcgi = close - open - 1 >= 5 && memcmp(close - 5, ".fcgi", 5) == 0;
	/* fields after comm: state ppid pgrp session tty tpgid flags minflt
	 * cminflt majflt cmajflt utime stime cutime cstime priority nice
	 * num_threads itrealvalue starttime vsize rss (proc(5)) */
	if (sscanf(close + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu "
	           "%llu %llu %*d %*d %*d %*d %*u %*u %lld",
	           &ps->ppid, &ut, &st, &cut, &cst, &ps->rss_pages) != 6)
		return -1;
	ps->ticks = ut + st + cut + cst;
	return 0;
}

long long proc_status_switches(const char *text, size_t len)
{
	static const char key[] = "voluntary_ctxt_switches:";
	const size_t kl = sizeof key - 1;
	size_t i = 0;
	long long v = -1;

	/* Line by line: "nonvoluntary_ctxt_switches:" must not match. */
	while (i < len) {
		if (len - i >= kl && memcmp(text + i, key, kl) == 0) {
			for (i += kl; i < len && (text[i] == ' ' || text[i] == '\t'); i++)
				;
			for (; i < len && text[i] >= '0' && text[i] <= '9'; i++) {
				if (v < 0)
					v = 0;
				if (v > (INT64_MAX - 9) / 10)
					return -1;
				v = v * 10 + (text[i] - '0');
			}
			return i == len || text[i] == '\n' ? v : -1;
		}
		while (i < len && text[i] != '\n')
			i++;
		i++;
	}
	return -1;
}

/* Voluntary context switches of every thread of pid (/proc/PID/task). */
static long long proc_wakes_read(int pid)
{
	char path[64], buf[4096];
	struct dirent *e;
	long long sum = 0;
	DIR *d;

	snprintf(path, sizeof path, "/proc/%d/task", pid);
	if ((d = opendir(path)) == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		FILE *f;
		size_t n;
		long long v;
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof path, "/proc/%d/task/%.16s/status", pid, e->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		n = fread(buf, 1, sizeof buf, f);
		fclose(f);
		if ((v = proc_status_switches(buf, n)) > 0)
			sum += v;
	}
	closedir(d);
	return sum;
}

static int listed(const struct proc_set *set, int pid)
{
	int k;

	for (k = 0; k < set->npids; k++)
		if (set->pids[k] == pid)
			return 1;
	return 0;
}

void proc_sample(const struct proc_set *set, struct proc_sample *s)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	long tick = sysconf(_SC_CLK_TCK), page_kib = sysconf(_SC_PAGESIZE) / 1024;
	unsigned long long ticks = 0;
	struct proc_stat *all = NULL;
	size_t n = 0, cap = 0, i;

	memset(s, 0, sizeof *s);
	if (d == NULL)
		return;
	/* Every process once; then keep those with a listed ancestor. */
	while ((e = readdir(d)) != NULL) {
		long long v;
		if (http_parse_int(e->d_name, 1, INT32_MAX, &v) != 0)
			continue;
		if (n == cap) {
			struct proc_stat *grown;
			cap = cap ? cap * 2 : 1024;
			grown = realloc(all, cap * sizeof *all);
			if (grown == NULL)
				break;
			all = grown;
		}
		if (proc_stat_read((int)v, &all[n]) == 0)
			n++;
	}
	closedir(d);
	for (i = 0; i < n; i++) {
		int cur = all[i].pid, depth, hit = 0;
		for (depth = 0; depth < 32 && cur > 1; depth++) {
			size_t j;
			if ((hit = listed(set, cur)) != 0)
				break;
			for (j = 0; j < n && all[j].pid != cur; j++)
				;
			cur = j < n ? all[j].ppid : 1;
		}
		if (!hit)
			continue;
		ticks += all[i].ticks;
		s->rss_kib += all[i].rss_pages * page_kib;
		s->wakes += proc_wakes_read(all[i].pid);
		s->nprocs++;
		if (all[i].fcgi) {
			s->fcgi_procs++;
			s->fcgi_rss_kib += all[i].rss_pages * page_kib;
		}
	}
	free(all);
	s->cpu_s = (double)ticks / (double)tick;
	s->conns = count_conns(set);
}
