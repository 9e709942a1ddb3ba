#!/bin/bash
# bench.sh — `make bench`: the classic comparison of polling, long polling,
# SSE and WebSockets, measured on this machine by tools/loadgen.
#
#   1. the comparison table: every technique at one scenario (200 clients,
#      5 messages/s, 20 s; polling every 1 s and every 5 s; WebSocket through
#      the web server and straight to the helper)
#   2. the scaling sweep: 10 → 100 → 1,000 → 10,000 clients, as far as each
#      technique can go, and how latency, requests, bytes, CPU and RSS grow
#   3. connection scale: 10,000 WebSockets and one message to all of them;
#      long-poll and SSE against the shipped process limits (mod_fcgid runs
#      one process per held client: where does that stop?)
#   the peer: when nginx + nchan are installed, the SSE and WebSocket rows
#      again against a private nginx + nchan, side by side, with the goals
#      of issue 15 checked row by row (--peer: only that; about 6 minutes)
#   huge (the end of the peer part): 100,000 idle WebSockets and one message
#      to all, the helper with --workers 6 against nchan with 6 workers, about
#      1½ minutes (--no-huge leaves it out, --only huge runs it alone)
#   4. the three concurrency models at 200 and 1,000 held clients: a process
#      per client (mod_fcgid), requests on threads in a few processes
#      (mod_proxy_fcgi + RT_FCGI_THREADS), one event loop (the helper)
#   TLS=1 (or --tls): the comparison table's techniques once more over HTTPS
#      (rows labelled SERVER-MODE+tls): what TLS costs each technique
#   5. the store: the table's held rows on SQLite and on Redis, one host, and
#      on three hosts behind HAProxy on one Redis (tools/bench/store.sh)
#
# Every run gets a fresh private server (tools/serve.sh start … stop), so no
# run inherits another's processes.  Results: bench-results/ (CSV per part,
# sweep.svg, machine.txt, report.txt).  How to read them: docs/benchmark.md.
# Beside it, in tools/bench/, the modules it sources (each says what it
# holds): stack.sh (the private servers), run.sh (one run, progress), and
# the parts table.sh, sweep.sh, models.sh, peer.sh (nginx + nchan), store.sh;
# csv.awk and sweep-plot.awk; tools/nchan/nginx.conf.in (the peer's config).
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD

# awk reads every CSV by column name: tools/bench/csv.awk goes first in
# every awk program here (mawk has no -e to add a program to a -f file).
CSV_AWK=$(cat "$ROOT/tools/bench/csv.awk")

# The columns a reader compares, from the CSV, aligned.
table() { # csv
	[ "$PLANNING" = 1 ] && return 0
	awk -F, "$CSV_AWK"'
	BEGIN { print "label technique T_ms clients held msgs lost dup p50_ms p90_ms p99_ms max_ms req/s req/msg B/msg conns procs cpu% idle_cpu% rss_MiB rss/conn_KiB errors" }
	{ print get("label"), get("technique"), (get("interval_ms") > 0 ? get("interval_ms") : "-"),
	  get("clients"), get("held"), get("messages"), get("lost"), get("dup"), get("p50_ms"),
	  get("p90_ms"), get("p99_ms"), get("max_ms"), get("req_per_s"), get("req_per_msg"),
	  get("bytes_per_msg"), get("conns"), get("srv_procs"), get("srv_cpu_pct"),
	  get("idle_cpu_pct"), mib(get("srv_rss_kib")), get("rss_per_conn_kib"), get("errors") }' "$1" |
		column -t | tee -a "$REPORT"
}

has() { [[ " $TECHS " == *" $1 "* ]]; }

# The sweep as an SVG: p50 latency and server CPU against clients, both on
# log scales, one line per technique (tools/bench/sweep-plot.awk).
plot_svg() { # sweep.csv
	awk -F, -f "$ROOT/tools/bench/csv.awk" -f "$ROOT/tools/bench/sweep-plot.awk" "$1"
}

usage() {
	cat <<'EOF'
usage: tools/bench.sh [options]            (`make bench` runs it with none)
  -c, --clients N        clients in the comparison table        (BENCH_CLIENTS, 200)
  -r, --rate R           messages per second                    (BENCH_RATE, 5)
  -d, --duration S       seconds of publishing per table run    (BENCH_DURATION, 20)
  -t, --technique LIST   poll,longpoll,sse,ws                   (BENCH_TECHNIQUES, all)
  -i, --intervals LIST   poll intervals in ms                   (BENCH_POLL_INTERVALS, 1000,5000)
      --server S         apache | lighttpd                      (SERVER, apache)
      --mode M           fcgid | proxy-fcgi | cgi (apache)      (MODE, fcgid)
      --sweep LIST       clients per sweep step                 (BENCH_SWEEP, 10,100,1000,10000)
      --sweep-duration S seconds of publishing per sweep step   (BENCH_SWEEP_DURATION, 5)
      --held-max N       most long-poll/SSE clients in the sweep (BENCH_HELD_MAX, 400)
      --poll-max N       most polling clients in the sweep      (BENCH_POLL_MAX, 1000)
      --scale-ws N       WebSockets in the connection-scale run (BENCH_SCALE_WS, 10000)
      --scale-held N     long-poll/SSE clients against the shipped limits (BENCH_SCALE_HELD, 100)
      --peer-threads N   SSE clients of the threaded row of the peer part, 0: none
                                                                (BENCH_PEER_THREADS, 1000)
      --huge-ws N        WebSockets of the huge rows             (BENCH_HUGE_WS, 100000)
      --huge-workers N   helper workers, nchan workers and loadgen processes
                         of the huge rows (one may hold 20,000)  (BENCH_HUGE_WORKERS, 6)
      --no-huge          leave the huge rows out of the peer part
      --models LIST      held clients per concurrency-model row  (BENCH_MODELS, 200,1000)
      --model-procs N    FastCGI processes of the threaded model (BENCH_MODEL_PROCS, 4)
      --compare S[:M]    run the table on a second server too, side by side
                         (e.g. lighttpd, or apache:proxy-fcgi)
      --target LABEL=URL[,WSURL]  run the table against another push server that
                         is already running (same URL layout as rtlab, see
                         tools/loadgen --help for templates); no server CPU/RSS
      --peer             only the comparison with nginx + nchan (= --only peer):
                         15 runs, about 6 minutes (1½ of them the huge pair)
      --only PART        only that part: table, peer, huge, sweep, scale, models or store
      --tls              the table again over HTTPS (TLS=1 in the environment too):
                         the stack started with TLS=1, loadgen --tls (HTTP/1.1
                         over TLS), rows labelled SERVER-MODE+tls
      --no-sweep, --no-scale, --no-peer, --no-models, --no-store   skip those parts
      --quick            a one-minute smoke run (20 clients, 4 s, small sweep)
      --out DIR          results directory                       (BENCH_OUT, bench-results)
      --plot CSV         print the sweep plot (SVG) of a sweep.csv and exit
  -h, --help
EOF
}

CLIENTS=${BENCH_CLIENTS:-200}
RATE=${BENCH_RATE:-5}
DURATION=${BENCH_DURATION:-20}
TECHS=${BENCH_TECHNIQUES:-poll,longpoll,sse,ws}
INTERVALS=${BENCH_POLL_INTERVALS:-1000,5000}
SERVER=${SERVER:-apache}
MODE=${MODE:-fcgid}
SWEEP=${BENCH_SWEEP:-10,100,1000,10000}
SWEEP_DURATION=${BENCH_SWEEP_DURATION:-5}
HELD_MAX=${BENCH_HELD_MAX:-400}
POLL_MAX=${BENCH_POLL_MAX:-1000}
SCALE_WS=${BENCH_SCALE_WS:-10000}
SCALE_HELD=${BENCH_SCALE_HELD:-100}
MODELS=${BENCH_MODELS:-200,1000}
MODEL_PROCS=${BENCH_MODEL_PROCS:-4}
PEER_THREADS=${BENCH_PEER_THREADS:-1000}
HUGE_WS=${BENCH_HUGE_WS:-100000}
HUGE_WORKERS=${BENCH_HUGE_WORKERS:-6}
HUGE_IN_PEER=1
OUT=${BENCH_OUT:-bench-results}
# TLS=1 asks for the +tls rows; every stack is started with an explicit
# TLS= (stack_start), so the variable must not reach serve.sh as it is.
BENCH_TLS=${TLS:-0}
unset TLS
TLS_RUN=0               # 1 while the +tls rows run
COMPARE=()
TARGETS=()
DO_TABLE=1
DO_SWEEP=1
DO_SCALE=1
DO_PEER=1
DO_MODELS=1
DO_HUGE=0
DO_STORE=1

while [ $# -gt 0 ]; do
	case $1 in
	-c|--clients) CLIENTS=$2; shift ;;
	-r|--rate) RATE=$2; shift ;;
	-d|--duration) DURATION=$2; shift ;;
	-t|--technique) TECHS=$2; shift ;;
	-i|--intervals) INTERVALS=$2; shift ;;
	--server) SERVER=$2; shift ;;
	--mode) MODE=$2; shift ;;
	--sweep) SWEEP=$2; shift ;;
	--sweep-duration) SWEEP_DURATION=$2; shift ;;
	--held-max) HELD_MAX=$2; shift ;;
	--poll-max) POLL_MAX=$2; shift ;;
	--scale-ws) SCALE_WS=$2; shift ;;
	--scale-held) SCALE_HELD=$2; shift ;;
	--compare) COMPARE+=("$2"); shift ;;
	--target) TARGETS+=("$2"); shift ;;
	--tls) BENCH_TLS=1 ;;
	--no-sweep) DO_SWEEP=0 ;;
	--no-scale) DO_SCALE=0 ;;
	--models) MODELS=$2; shift ;;
	--model-procs) MODEL_PROCS=$2; shift ;;
	--no-peer) DO_PEER=0 ;;
	--no-models) DO_MODELS=0 ;;
	--peer-threads) PEER_THREADS=$2; shift ;;
	--huge-ws) HUGE_WS=$2; shift ;;
	--huge-workers) HUGE_WORKERS=$2; shift ;;
	--no-huge) HUGE_IN_PEER=0 ;;
	--no-store) DO_STORE=0 ;;
	--peer|--only)
		part=peer
		[ "$1" = --only ] && { part=$2; shift; }
		case $part in table|peer|huge|sweep|scale|models|store) ;; *) usage >&2; exit 2 ;; esac
		DO_TABLE=0; DO_SWEEP=0; DO_SCALE=0; DO_MODELS=0; DO_PEER=0; DO_HUGE=0; DO_STORE=0
		declare "DO_${part^^}=1" ;;
	--quick) CLIENTS=20; DURATION=4; SWEEP=10,100; SWEEP_DURATION=3
	         HELD_MAX=100; SCALE_WS=1000; SCALE_HELD=60; INTERVALS=500; MODELS=20,60
	         PEER_THREADS=60; HUGE_IN_PEER=0 ;;
	--out) OUT=$2; shift ;;
	--plot) plot_svg "$2"; exit ;;
	-h|--help) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
	shift
done
TECHS=${TECHS//,/ }
INTERVALS=${INTERVALS//,/ }
SWEEP=${SWEEP//,/ }
MODELS=${MODELS//,/ }

LOADGEN=$ROOT/tools/loadgen/loadgen
[ -x "$LOADGEN" ] || { echo "bench: build first (make)" >&2; exit 1; }
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
REPORT=$OUT/report.txt
: >"$REPORT"
say() { [ "${PLANNING:-0}" = 1 ] || echo "$@" | tee -a "$REPORT"; }

# ---- the machine -------------------------------------------------------------

# Thousands of sockets: the servers inherit this limit from serve.sh (and
# loadgen raises its own).  As root the hard limit can be raised too.
ulimit -Hn 200000 2>/dev/null
ulimit -n 200000 2>/dev/null || ulimit -n "$(ulimit -Hn)"

# Every long-poll, SSE process and the helper holds one inotify instance (the
# store's change wait).  The kernel's default of 128 per user is shared by
# every www-data process on the machine; past it the store falls back to a
# timed check, and latency jumps to its period.  Raise it as root.
INOTIFY=$(cat /proc/sys/fs/inotify/max_user_instances 2>/dev/null || echo 0)
if [ "$INOTIFY" -lt 8192 ]; then
	if [ "$(id -u)" = 0 ] && sysctl -qw fs.inotify.max_user_instances=8192 2>/dev/null; then
		INOTIFY="8192 (raised from $INOTIFY by bench.sh)"
	else
		INOTIFY="$INOTIFY (too low for hundreds of held clients: sysctl fs.inotify.max_user_instances=8192)"
	fi
fi

{
	echo "date:      $(date -u '+%Y-%m-%d %H:%M UTC')   rtlab $(git rev-parse --short HEAD 2>/dev/null)"
	echo "cpu:       $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
	echo "memory:    $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
	echo "kernel:    $(uname -sr)"
	echo "apache:    $(apache2 -v 2>/dev/null | sed -n 's/Server version: //p'), mod_fcgid $(dpkg-query -W -f='${Version}' libapache2-mod-fcgid 2>/dev/null)"
	echo "lighttpd:  $(lighttpd -v 2>/dev/null | head -n1 | cut -d' ' -f1)"
	echo "load:      $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min, at start: other work on the machine shows here)"
	echo "limits:    open files $(ulimit -n), inotify instances per user $INOTIFY"
} >"$OUT/machine.txt"
say "== rtlab benchmark"
tee -a "$REPORT" <"$OUT/machine.txt"

# ---- the parts (tools/bench/) ---------------------------------------------------

# Sourced in this order: stack.sh writes the limits file and run.sh asks
# loadgen for the CSV header as they are read; the others define the parts.
. "$ROOT/tools/bench/stack.sh"    # a fresh private server per run
. "$ROOT/tools/bench/run.sh"      # one loadgen run, progress, failures
. "$ROOT/tools/bench/table.sh"    # 1. the comparison table
. "$ROOT/tools/bench/sweep.sh"    # 2. the scaling sweep, 3. connection scale
. "$ROOT/tools/bench/peer.sh"     # the peer: nginx + nchan, the huge rows
. "$ROOT/tools/bench/store.sh"    # 5. the store
. "$ROOT/tools/bench/models.sh"   # 4. the three concurrency models

# ---- the run ----------------------------------------------------------------------

PARTS=()
[ "$DO_TABLE" = 1 ] && PARTS+=(part_table)
[ "$DO_PEER" = 1 ] && PARTS+=(part_peer)
[ "$DO_HUGE" = 1 ] && PARTS+=(part_huge)
[ "$DO_SWEEP" = 1 ] && PARTS+=(part_sweep)
[ "$DO_SCALE" = 1 ] && PARTS+=(part_scale)
[ "$DO_MODELS" = 1 ] && PARTS+=(part_models)
[ "$DO_STORE" = 1 ] && PARTS+=(part_store)

T0=$(date +%s)
PLANNING=1
for p in "${PARTS[@]}"; do "$p"; done
PLANNING=0
say
say "bench: $PLANNED runs, about $(hms "$PLAN_EST") on a quiet machine"
for p in "${PARTS[@]}"; do "$p"; done

say
say "bench: $(hms $(( $(date +%s) - T0 ))); results in $OUT/ (*.csv, sweep.svg, machine.txt, report.txt)"
if [ "${#FAILURES[@]}" -gt 0 ]; then
	say "bench: ${#FAILURES[@]} of $PLANNED runs failed:"
	for f in "${FAILURES[@]}"; do say "  - $f"; done
	say "  (server logs of every start: $OUT/serve.log)"
	exit 1
fi
