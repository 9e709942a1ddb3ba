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
# Beside it: tools/bench/ (csv.awk, sweep-plot.awk, peer.sh: the nchan part)
# and tools/nchan/nginx.conf.in (the peer's configuration).
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

# ---- servers -----------------------------------------------------------------

RUN=
PORT=
WS_PORT=
STACK_ERR=
RUN_ENV=                # extra environment for the next stack (VAR=value ...)
stack_stop() {
	[ -n "$RUN" ] || return 0
	local recorded left
	# serve.sh stop empties RUN/pids: read what it recorded first.
	recorded=$(awk '{ print $1 ":" $2 }' "$RUN/pids" 2>/dev/null)
	tools/serve.sh stop "$RUN" >/dev/null 2>&1
	left=$(stack_gone "$recorded" "$PORT" "$WS_PORT") ||
		say "bench: warning: the stack of $RUN was not gone after 30 s ($left); going on with new ports"
	rm -rf "$RUN"
	RUN=
}
trap 'stack_stop; peer_stop' EXIT
trap 'stack_stop; peer_stop; exit 130' INT TERM

proc_start() { # pid — its start time (field 22 of /proc/PID/stat), or nothing
	local rest
	{ read -r rest <"/proc/$1/stat"; } 2>/dev/null || return 0
	rest=${rest##*) }
	set -- $rest
	echo "${20}"
}

# Waits (30 s at most) until a stopped stack is really gone: every recorded
# process (pid:start, so a reused pid is not mistaken for ours), every live
# process in a session one of them led (Apache's and mod_fcgid's children),
# and every listener on its ports.  A next run started earlier could find
# its port still bound, or share the CPU with a dying stack.  Prints what is
# left when it gives up.
stack_gone() { # "pid:start ..." port...
	local recorded=$1 i ps pid alive listen filter= p
	shift
	for p in "$@"; do [ -n "$p" ] && filter="$filter${filter:+ or }sport = :$p"; done
	for i in $(seq 1 300); do
		alive=
		for ps in $recorded; do
			pid=${ps%%:*}
			[ "$(proc_start "$pid")" = "${ps#*:}" ] && alive="$alive $pid"
			ps -o stat=,pid= --sid "$pid" 2>/dev/null | grep -qv '^Z' &&
				alive="$alive session:$pid"
		done
		listen=
		[ -n "$filter" ] && listen=$(ss -Hltn "( $filter )" 2>/dev/null)
		[ -z "$alive$listen" ] && return 0
		sleep 0.1
	done
	echo "processes:${alive:- none}${listen:+; a port still listening}"
	return 1
}

# Ports for a stack: below the kernel's ephemeral range, so that no
# outgoing connection of loadgen (nor one of its thousands of TIME_WAIT
# sockets, which a listener's bind collides with) can hold one; and no
# socket in any state on the port or the next one (the helper's).
read -r EPH_LO EPH_HI </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || { EPH_LO=32768; EPH_HI=60999; }
free_port() {
	local lo=20000 hi=$((EPH_LO - 2)) p i
	[ "$hi" -gt $((lo + 1000)) ] || { lo=$((EPH_HI + 1)); hi=65500; }
	for i in $(seq 1 50); do
		p=$((lo + (RANDOM * 32768 + RANDOM) % (hi - lo)))
		[ -z "$(ss -Htan "( sport = :$p or sport = :$((p + 1)) )" 2>/dev/null)" ] &&
			{ echo "$p"; return 0; }
	done
	return 1
}

# Room for the held clients of this benchmark: mod_fcgid needs one process
# per long-poll or SSE client, Apache one worker per held request.  The
# shipped configuration (apache-conf/rtlab-fcgid.conf) allows 48 per
# endpoint; the connection-scale part shows what that does.
LIMITS=$OUT/bench-limits.conf
held=$CLIENTS
[ "$HELD_MAX" -gt "$held" ] && held=$HELD_MAX
if [ "$DO_MODELS" = 1 ]; then
	for n in $MODELS; do [ "$n" -gt "$held" ] && held=$n; done
fi
[ "$DO_PEER" = 1 ] && [ "$PEER_THREADS" -gt "$held" ] && held=$PEER_THREADS
cat >"$LIMITS" <<EOF
# Written by tools/bench.sh: process limits sized for $held held clients.
<IfModule mpm_event_module>
    ServerLimit $(( (held * 2 + 256) / 64 + 1 ))
    ThreadsPerChild 64
    MaxRequestWorkers $(( ((held * 2 + 256) / 64 + 1) * 64 ))
</IfModule>
<IfModule fcgid_module>
    FcgidMaxProcessesPerClass $((held + 32))
    FcgidMaxProcesses $((held * 2 + 64))
    FcgidSpawnScoreUpLimit $((held * 2 + 64))
</IfModule>
EOF

stack_start() { # server mode limits(0|1) — sets RUN, PORT, WS_PORT (or STACK_ERR)
	local extra= attempt err
	[ "$3" = 1 ] && [ "$1" = apache ] && extra=$LIMITS
	STACK_ERR=
	# Someone else may take the "free" port before the server binds it, or
	# a server may be slow to start on a loaded machine: three tries, each
	# on new ports.
	for attempt in 1 2 3; do
		PORT=$(free_port) || { STACK_ERR="no free port"; continue; }
		err=$(mktemp)
		RUN=$(env $RUN_ENV TLS=$TLS_RUN PORT=$PORT SERVER=$1 MODE=$2 EXTRA_CONF=$extra \
			tools/serve.sh start 2>"$err")
		{ echo "== $(date -u +%T) $1 $2 port $PORT, attempt $attempt"; cat "$err"; } >>"$OUT/serve.log"
		if [ -n "$RUN" ]; then
			rm -f "$err"
			WS_PORT=$(sed -n 's/^WS_PORT=//p' "$RUN/info")
			return 0
		fi
		STACK_ERR=$(grep -v '^\s*$' "$err" | tail -n 3 | tr '\n' ' ')
		rm -f "$err"
		[ "$attempt" -lt 3 ] && say "   $1 ($2) did not start on port $PORT (${STACK_ERR:-no message}); again on new ports"
	done
	RUN=
	return 1
}

HEADER=$("$LOADGEN" --help | sed -n 's/^Prints one CSV row: //p')

# ---- progress and failures ----------------------------------------------------

# Every part is first walked through with PLANNING=1, which only counts the
# runs and estimates their time; then for real, with "[k/N] part: what,
# elapsed, time left" before each run.
PLANNING=0
PLANNED=0
PLAN_EST=0
DONE_RUNS=0
DONE_EST=0
PART=
FAILURES=()

hms() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

est_run() { # loadgen args — a rough duration in seconds: start, connect, settle, publish, drain
	awk 'BEGIN { c = 10; d = 4; r = 5; m = ""
		for (i = 1; i < ARGC; i++) {
			if (ARGV[i] == "-c") c = ARGV[++i]; else if (ARGV[i] == "-d") d = ARGV[++i]
			else if (ARGV[i] == "-r") r = ARGV[++i]; else if (ARGV[i] == "-m") m = ARGV[++i]
		}
		if (m != "") d = m / r
		printf "%d", 8 + d + c / 1000 }' "$@"
}

# Counts a run (planning) or announces it; returns 1 when only planning.
run_begin() { # what loadgen-args...
	local what=$1 est now el left
	shift
	est=$(est_run "$@")
	if [ "$PLANNING" = 1 ]; then
		PLANNED=$((PLANNED + 1))
		PLAN_EST=$((PLAN_EST + est))
		return 1
	fi
	now=$(date +%s)
	el=$((now - T0))
	left=$((PLAN_EST - DONE_EST))
	[ "$DONE_EST" -gt 0 ] && [ "$el" -gt 0 ] && left=$(( left * el / DONE_EST ))
	printf '[%d/%d] %s: %s   (%s elapsed, about %s left)\n' "$((DONE_RUNS + 1))" \
		"$PLANNED" "$PART" "$what" "$(hms "$el")" "$(hms "$left")"
	RUN_EST=$est
	return 0
}

run_end() {
	DONE_RUNS=$((DONE_RUNS + 1))
	DONE_EST=$((DONE_EST + RUN_EST))
}

failed() { # what why
	FAILURES+=("$PART: $1: $2")
	say "   FAILED $1: $2"
}

# One loadgen run on a fresh server.  run CSV LABEL SERVER MODE LIMITS ARGS...
# SERVER nchan is the peer (peer_start); @PORT@, @WS_PORT@ and @HELPER@ in
# ARGS become the fresh server's ports and the helper's pid.
run() {
	local csv=$1 label=$2 server=$3 mode=$4 limits=$5 row err what pids=
	shift 5
	what="$label $(printf '%s ' "$@" | sed 's/--[a-z-]*-url [^ ]* //g; s/--ws-base [^ ]* //; s/--pub-[a-z]* [^ ]* //g; s/ $//')"
	run_begin "$what" "$@" || return 0
	if [ "$server" = nchan ]; then
		peer_start && pids=$PEER_DIR/pids
	else
		stack_start "$server" "$mode" "$limits" && pids=$RUN/pids
		# A cluster (RUN_ENV CLUSTER=N): Redis and HAProxy, then every host.
		if [ -n "$pids" ] && grep -qs '^CLUSTER=' "$RUN/info"; then
			cat "$RUN/pids" "$RUN"/node*/pids >"$RUN/all.pids"
			pids=$RUN/all.pids
		fi
	fi
	if [ -z "$pids" ]; then
		failed "$what" "$server ($mode) did not start in 3 tries: ${STACK_ERR:-see $OUT/serve.log}"
		run_end
		return 0
	fi
	local args=("$@")
	args=("${args[@]//@PORT@/$PORT}")
	args=("${args[@]//@WS_PORT@/$WS_PORT}")
	args=("${args[@]//@HELPER@/$(awk '$3 == "rtlab-wsd" {print $1}' "$pids")}")
	[ "$TLS_RUN" = 1 ] && args+=(--tls)
	err=$(mktemp)
	row=$("$LOADGEN" -q --label "$label" --base "http://127.0.0.1:$PORT" \
		--pid-file "$pids" "${args[@]}" 2>"$err")
	if [ "$server" = nchan ]; then peer_stop; else stack_stop; fi
	run_row "$csv" "$what" "$row" "$err"
	run_end
}

# Keeps a run's row, or says why there is none.
run_row() { # csv what row stderr-file
	if [ -z "$3" ]; then
		failed "$2" "loadgen gave no result: $(tail -n 2 "$4" | tr '\n' ' ')"
	else
		echo "$3" >>"$1"
		echo "  $3" | cut -d, -f1-13
	fi
	rm -f "$4"
}

# ---- 1. the comparison table --------------------------------------------------

table_runs() { # csv label server mode
	local csv=$1 label=$2 server=$3 mode=$4 T helper=helper
	local common=(-c "$CLIENTS" -r "$RATE" -d "$DURATION")
	# The helper is the same program behind every server: name the stack.
	[ "$label" != "$SERVER-$MODE" ] && helper=helper@$label
	if has poll; then
		for T in $INTERVALS; do
			run "$csv" "$label" "$server" "$mode" 1 -t poll -i "$T" "${common[@]}"
		done
	fi
	has longpoll && run "$csv" "$label" "$server" "$mode" 1 -t longpoll "${common[@]}"
	has sse && run "$csv" "$label" "$server" "$mode" 1 -t sse "${common[@]}"
	has ws && run "$csv" "$label" "$server" "$mode" 1 -t ws "${common[@]}"
	# The helper speaks plain TCP on loopback: no +tls rows for it.
	if has ws && [ "$TLS_RUN" = 0 ]; then
		run "$csv" "$helper" "$server" "$mode" 1 -t ws --ws-base "ws://127.0.0.1:@WS_PORT@" "${common[@]}"
		run "$csv" "$helper-wspub" "$server" "$mode" 1 -t ws --ws-base "ws://127.0.0.1:@WS_PORT@" \
			--pub-ws "$WSPUB" "${common[@]}"
	fi
}

# The WebSocket publisher of the helper-wspub rows: frames to the helper,
# so the message never crosses Apache or a FastCGI process.
WSPUB='ws://127.0.0.1:@WS_PORT@/ws?channel={channel}&history=0'

# A server somebody else runs (--target): no stack to start or stop.
run_target() { # csv label base wsbase tech
	local args=(-q --label "$2" --base "$3" -t "$5" -c "$CLIENTS" -r "$RATE" -d "$DURATION")
	local err row
	[ -n "$4" ] && args+=(--ws-base "$4")
	[ "$5" = poll ] && args+=(-i "${INTERVALS%% *}")
	run_begin "$2 $5 -c $CLIENTS" "${args[@]}" || return 0
	err=$(mktemp)
	row=$("$LOADGEN" "${args[@]}" 2>"$err")
	run_row "$1" "$2 $5" "$row" "$err"
	run_end
}

part_table() {
	local c s m t label urls base wsb tech
	PART="1. comparison"
	part_begin comparison.csv "== 1. comparison: $CLIENTS clients, $RATE messages/s for $DURATION s ($SERVER, $MODE)"
	table_runs "$CSV" "$SERVER-$MODE" "$SERVER" "$MODE"
	# The same rows over HTTPS: TLS=1 stack, loadgen --tls (HTTP/1.1 in TLS:
	# a full handshake per connection, then every byte through the record
	# layer).  What it costs per technique: docs/benchmark.md, "TLS".
	if [ "$BENCH_TLS" = 1 ]; then
		TLS_RUN=1
		table_runs "$CSV" "$SERVER-$MODE+tls" "$SERVER" "$MODE"
		TLS_RUN=0
	fi
	for c in "${COMPARE[@]}"; do
		s=${c%%:*}; m=fcgid
		[[ $c == *:* ]] && m=${c#*:}
		[ "$s" = lighttpd ] && m=fastcgi
		table_runs "$CSV" "$s-$m" "$s" "${m/fastcgi/fcgid}"
	done
	for t in "${TARGETS[@]}"; do
		label=${t%%=*}; urls=${t#*=}; base=${urls%%,*}; wsb=
		[[ $urls == *,* ]] && wsb=${urls#*,}
		for tech in $TECHS; do
			run_target "$CSV" "$label" "$base" "$wsb" "$tech"
		done
	done
	say
	table "$CSV"
}

# ---- 2. the scaling sweep -------------------------------------------------------

part_sweep() {
	local T=${INTERVALS%% *} n tech common
	PART="2. sweep"
	part_begin sweep.csv "== 2. scaling sweep: clients $SWEEP, $RATE messages/s for $SWEEP_DURATION s"
	say "   (polling every $T ms up to $POLL_MAX clients; long-poll and SSE up to $HELD_MAX,"
	say "    one mod_fcgid process each; WebSocket straight to the helper)"
	for n in $SWEEP; do
		common=(-c "$n" -r "$RATE" -d "$SWEEP_DURATION")
		has poll && [ "$n" -le "$POLL_MAX" ] &&
			run "$CSV" "$SERVER-$MODE" "$SERVER" "$MODE" 1 -t poll -i "$T" "${common[@]}"
		for tech in longpoll sse; do
			has $tech && [ "$n" -le "$HELD_MAX" ] &&
				run "$CSV" "$SERVER-$MODE" "$SERVER" "$MODE" 1 -t $tech "${common[@]}"
		done
		has ws && run "$CSV" helper "$SERVER" "$MODE" 1 -t ws \
			--ws-base "ws://127.0.0.1:@WS_PORT@" "${common[@]}"
	done
	# The held techniques once more at HELD_MAX, where the steps skip past it.
	for tech in longpoll sse; do
		if has $tech && [[ " $SWEEP " != *" $HELD_MAX "* ]]; then
			run "$CSV" "$SERVER-$MODE" "$SERVER" "$MODE" 1 -t $tech -c "$HELD_MAX" \
				-r "$RATE" -d "$SWEEP_DURATION"
		fi
	done
	say
	table "$CSV"
	[ "$PLANNING" = 1 ] || plot_svg "$CSV" >"$OUT/sweep.svg"
}

# ---- 3. connection scale --------------------------------------------------------

part_scale() {
	local tech
	PART="3. scale"
	part_begin scale.csv "== 3. connection scale"
	if has ws; then
		say "   $SCALE_WS WebSockets on the helper, one message to all (max_ms: until the"
		say "   last has it); CPU and RSS are the helper's alone; published by HTTP POST"
		say "   (helper) and by a WebSocket client of the helper (helper-wspub)"
		# --pid-file /dev/null overrides run's: count the helper alone.
		run "$CSV" helper "$SERVER" "$MODE" 1 -t ws -c "$SCALE_WS" -m 1 -r 1 \
			--ws-base "ws://127.0.0.1:@WS_PORT@" --pids @HELPER@ --pid-file /dev/null
		run "$CSV" helper-wspub "$SERVER" "$MODE" 1 -t ws -c "$SCALE_WS" -m 1 -r 1 \
			--ws-base "ws://127.0.0.1:@WS_PORT@" --pub-ws "$WSPUB" --pids @HELPER@ \
			--pid-file /dev/null
	fi
	if [ "$SERVER" = apache ] && [ "$MODE" = fcgid ]; then
		say "   $SCALE_HELD long-poll / SSE clients against the shipped mod_fcgid limits"
		say "   (FcgidMaxProcessesPerClass 48): held = clients that got the primer in 20 s"
		for tech in longpoll sse; do
			has $tech && run "$CSV" "$SERVER-$MODE-shipped" "$SERVER" "$MODE" 0 -t $tech \
				-c "$SCALE_HELD" -r "$RATE" -d 5 --ready-timeout 20 --drain 5
		done
	fi
	say
	table "$CSV"
}

# ---- the peer: nginx + nchan (tools/bench/peer.sh) ------------------------------

. "$ROOT/tools/bench/peer.sh"

# ---- 5. the store (tools/bench/store.sh) ------------------------------------------

. "$ROOT/tools/bench/store.sh"

# ---- 4. the three concurrency models -------------------------------------------------

# What holding N clients costs in each way a server can hold them: SSE with
# a process per client (mod_fcgid), SSE with many requests on threads in a
# few FastCGI processes (mod_proxy_fcgi + spawn-fcgi, RT_FCGI_THREADS per
# process: the environment passes through serve.sh to the endpoints), and
# WebSocket in one event loop (the helper).  The same publisher (HTTP POST
# through Apache to send.fcgi) and the same whole server tree in every row.

# The threaded stack for N held clients (here and in the peer part): sets
# RUN_ENV for the next run; the caller empties it after.  MODEL_PROCS
# processes for each held endpoint, RT_FCGI_THREADS requests each, and one
# process for each other endpoint (send.fcgi publishes 5 messages/s), so
# fcgi_procs counts the whole server's FastCGI processes.
threads_env() { # n
	RUN_ENV="RT_FCGI_THREADS=$(( ($1 + MODEL_PROCS - 1) / MODEL_PROCS + 16 )) RTLAB_HELD_PROCS=$MODEL_PROCS RTLAB_PROCS=1"
}
threads_note() {
	if ! grep -qs RT_FCGI_THREADS "$ROOT"/cgi-bin/*.c "$ROOT"/lib/*.c; then
		say "   (these endpoints do not read RT_FCGI_THREADS yet: the threads rows hold"
		say "    one request per process, and most of their clients are not held)"
	fi
}

models_table() { # csv
	[ "$PLANNING" = 1 ] && return 0
	awk -F, "$CSV_AWK"'
	BEGIN { print "model clients held procs fcgi_procs RSS/client_KiB CPU/msg_µs p50_ms p99_ms lost errors" }
	{ print get("label"), get("clients"), get("held"), get("srv_procs"), get("fcgi_procs"),
	        get("rss_per_conn_kib"), get("cpu_us_per_msg"), get("p50_ms"), get("p99_ms"),
	        get("lost"), get("errors") }' "$1" | column -t | tee -a "$REPORT"
}

part_models() {
	local n common
	PART="4. models"
	part_begin models.csv "== 4. three concurrency models: $MODELS held clients, $RATE messages/s for $DURATION s"
	say "   process-per-client: SSE, Apache + mod_fcgid (one FastCGI process per held client)"
	say "   threads: SSE, Apache + mod_proxy_fcgi, $MODEL_PROCS FastCGI processes, RT_FCGI_THREADS each"
	say "   event-loop: WebSocket, the helper (one process, epoll)"
	threads_note
	for n in $MODELS; do
		common=(-c "$n" -r "$RATE" -d "$DURATION" --ready-timeout 30)
		run "$CSV" process-per-client apache fcgid 1 -t sse "${common[@]}"
		threads_env "$n"
		run "$CSV" threads apache proxy-fcgi 1 -t sse "${common[@]}"
		RUN_ENV=
		run "$CSV" event-loop apache fcgid 1 -t ws --ws-base "ws://127.0.0.1:@WS_PORT@" "${common[@]}"
	done
	say
	models_table "$CSV"
}

# ---- the run ----------------------------------------------------------------------

part_begin() { # csv-name title
	CSV=$OUT/$1
	[ "$PLANNING" = 1 ] && return 0
	echo "$HEADER" >"$CSV"
	say
	say "$2"
}

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
