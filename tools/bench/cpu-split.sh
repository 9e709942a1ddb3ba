#!/bin/bash
# cpu-split.sh — where a held technique's server CPU goes, per program.
#
#   tools/bench/cpu-split.sh [-t sse|longpoll|ws] [-c CLIENTS] [-r RATE] [-d SECONDS]
#
# Starts a private stack (tools/serve.sh, with mod_fcgid limits sized for the
# clients, as bench.sh does), runs loadgen against it twice — the clients
# with one message, then with the run's — and prints, from the difference,
# the CPU each program of that stack spent on the messages: the web server,
# each FastCGI endpoint, the helper, in CPU-seconds and in µs per delivered
# message.  It answers the question the bench's one "cpu%" column cannot:
# of what a delivery costs, how much is the web server relaying and how much
# the endpoint's own process (docs/benchmark.md, "Goals against nchan").
# Only the run's own processes are counted (tools/serve.sh pids).
# Environment: SERVER, MODE as for tools/serve.sh (default apache, fcgid).
set -eu
cd "$(dirname "$0")/../.."
TECH=sse CLIENTS=200 RATE=5 DURATION=20
while [ $# -gt 0 ]; do
	case $1 in
	-t) TECH=$2; shift 2 ;;
	-c) CLIENTS=$2; shift 2 ;;
	-r) RATE=$2; shift 2 ;;
	-d) DURATION=$2; shift 2 ;;
	-h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "cpu-split.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
done
case $TECH in sse|longpoll|ws) ;; *) echo "cpu-split.sh: -t takes sse, longpoll or ws" >&2; exit 2 ;; esac
[ -x tools/loadgen/loadgen ] || { echo "cpu-split.sh: run make first" >&2; exit 1; }

. tools/serve/pids.sh
work=$(mktemp -d)
limits=$work/limits.conf
. tools/bench/limits.sh
limits_conf "$CLIENTS" >"$limits"
port=$(free_port_from 30000)
RUN=$(EXTRA_CONF=$limits PORT=$port tools/serve.sh start | tail -n 1)
trap 'tools/serve.sh stop "$RUN" >/dev/null; rm -rf "$work"' EXIT

# One line per process of the run (tools/serve.sh pids: what it recorded,
# their children and sessions): "name ns" — the run time of its threads
# from /proc/PID/task/*/schedstat, in ns: /proc/PID/stat's utime and stime
# are whole ticks per process, and a held process that used 3 ms shows 0
# there.  Plus "(exited) ns" from each one's reaped children (cutime and
# cstime, ticks: summed over all of them before the rounding).
snapshot() {
	local hz p
	hz=$(getconf CLK_TCK)
		for p in $(tools/serve.sh pids "$RUN"); do
		{
			tr ' ' _ <"/proc/$p/comm"
			cat /proc/"$p"/task/*/schedstat
			sed 's/^.*) //' "/proc/$p/stat"
		} 2>/dev/null | awk -v hz="$hz" 'NR == 1 { n = $1; next }
			NF == 3 { ns += $1; next }
			{ print n, ns; print "(exited)", ($14 + $15) * 1e9 / hz }'
	done | awk '{ t[$1] += $2 } END { for (k in t) printf "%s %.0f\n", k, t[k] }' | sort
}

# One loadgen run: NAME ns used meanwhile (in $work/$1.cpu) and the
# messages delivered (in $work/$1.n).
measure() { # label loadgen-args...
	local label=$1; shift
	snapshot >"$work/before"
	tools/loadgen/loadgen --base "http://127.0.0.1:$port" -t "$TECH" -c "$CLIENTS" "$@" \
		--ready-timeout 60 >"$work/$label.out" 2>&1 || { cat "$work/$label.out" >&2; exit 1; }
	snapshot >"$work/after"
	join -a 2 -e 0 -o 0,1.2,2.2 "$work/before" "$work/after" | awk '{ print $1, $3 - $2 }' >"$work/$label.cpu"
	awk '/delivered [0-9]+ of/ { print $2 }' "$work/$label.out" >"$work/$label.n"
}

# The same clients with one message, then with the run's: the difference is
# what the messages cost, without what connecting the clients cost (a
# process spawned for each under mod_fcgid, Apache's accept and request).
measure base -m 1 -r 1
measure run -r "$RATE" -d "$DURATION"
delivered=$(( $(cat "$work/run.n") - $(cat "$work/base.n") ))

echo "$TECH, $CLIENTS clients, $RATE messages/s for $DURATION s, ${SERVER:-apache} ${MODE:-fcgid}:"
grep -E 'delivered|latency' "$work/run.out" | sed 's/^ */  /'
echo "  the CPU of the messages: this run's, less that of the same clients with one message"
printf '  %-16s %10s %16s\n' program CPU-s "µs per delivery"
join -a 1 -e 0 -o 0,1.2,2.2 "$work/run.cpu" "$work/base.cpu" |
	awk -v n="$delivered" '{ s = ($2 - $3) / 1e9; if (s > 0.0005) { tot += s
		printf "  %-16s %10.2f %16.1f\n", $1, s, n ? s * 1e6 / n : 0 } }
		END { printf "  %-16s %10.2f %16.1f\n", "all", tot, n ? tot * 1e6 / n : 0 }'
