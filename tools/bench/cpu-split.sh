#!/bin/bash
# cpu-split.sh — where a held technique's server CPU goes, per program.
#
#   tools/bench/cpu-split.sh [-t sse|longpoll|ws] [-c CLIENTS] [-r RATE] [-d SECONDS]
#
# Starts a private stack (tools/serve.sh, with mod_fcgid limits sized for the
# clients, as bench.sh does), runs one loadgen run against it, and prints the
# CPU each program of that stack used during the run — the web server, each
# FastCGI endpoint, the helper — in CPU-seconds and in µs per delivered
# message.  It answers the question the bench's one "cpu%" column cannot:
# of what a delivery costs, how much is the web server relaying and how much
# the endpoint's own process (docs/benchmark.md, "Goals against nchan").
# Only the run's own processes and their descendants are counted (from
# tools/serve.sh pids), read from /proc/PID/stat before and after; what
# exited meanwhile is counted in "(exited)" from its parent's cutime/cstime.
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
	-h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
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

# One line per live process of the run: "name ticks", plus "(exited) ticks"
# for the reaped children of each.
snapshot() {
	local todo p seen=" "
	todo=$(tools/serve.sh pids "$RUN" | tr '\n' ' ')
	while [ -n "${todo// /}" ]; do
		set -- $todo; p=$1; shift; todo="$*"
		case $seen in *" $p "*) continue ;; esac
		seen="$seen$p "
		todo="$todo $(cat /proc/"$p"/task/*/children 2>/dev/null || true)"
	done
	for p in $seen; do
		awk '{ n = $2; gsub(/[()]/, "", n); print n, $14 + $15; print "(exited)", $16 + $17 }' \
			"/proc/$p/stat" 2>/dev/null || true
	done | awk '{ t[$1] += $2 } END { for (k in t) print k, t[k] }' | sort
}

snapshot >"$work/before"
tools/loadgen/loadgen --base "http://127.0.0.1:$port" -t "$TECH" -c "$CLIENTS" -r "$RATE" \
	-d "$DURATION" --ready-timeout 60 >"$work/loadgen" 2>&1 || { cat "$work/loadgen" >&2; exit 1; }
snapshot >"$work/after"
delivered=$(awk '/delivered [0-9]+ of/ { print $2 }' "$work/loadgen")
hz=$(getconf CLK_TCK)

echo "$TECH, $CLIENTS clients, $RATE messages/s for $DURATION s, ${SERVER:-apache} ${MODE:-fcgid}:"
grep -E 'delivered|latency' "$work/loadgen" | sed 's/^ */  /'
printf '  %-16s %10s %16s\n' program CPU-s "µs per delivery"
join -a 2 -e 0 -o 0,1.2,2.2 "$work/before" "$work/after" |
	awk -v hz="$hz" -v n="$delivered" '{ s = ($3 - $2) / hz; if (s > 0) { tot += s
		printf "  %-16s %10.2f %16.1f\n", $1, s, n ? s * 1e6 / n : 0 } }
		END { printf "  %-16s %10.2f %16.1f\n", "all", tot, n ? tot * 1e6 / n : 0 }'
