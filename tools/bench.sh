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
#      again against a private nginx + nchan, side by side (--peer: only that)
#
# Every run gets a fresh private server (tools/serve.sh start … stop), so no
# run inherits another's processes.  Results: bench-results/ (CSV per part,
# sweep.svg, machine.txt, report.txt).  How to read them: docs/benchmark.md.
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD

# awk reads every CSV by column name (the header line), never by position:
# loadgen may add columns at the end.  get("p50_ms") is this row's value.
CSV_AWK='NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
function get(name) { return (name in col) ? $(col[name]) : "" }
function mib(k) { return k == "" ? "" : sprintf("%.1f", k / 1024) }'

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
# log scales, one line per technique.  Plain awk, no plotting package.
plot_svg() { # sweep.csv
	awk -F, "$CSV_AWK"'
	get("p50_ms") == "" || get("p50_ms") == "nan" { next }
	{
		key = get("technique") (get("interval_ms") > 0 ? " every " get("interval_ms") " ms" : "") \
		      (get("label") == "helper" ? " (helper)" : "")
		if (!(key in n)) { keys[++nk] = key; n[key] = 0 }
		i = ++n[key]; X[key, i] = get("clients"); L[key, i] = get("p50_ms"); C[key, i] = get("srv_cpu_pct")
	}
	function lg(v) { return log(v < 0.01 ? 0.01 : v) / log(10) }
	function fl(v) { return v < 0 ? -int(-v + 0.999999) : int(v) }
	function px(v) { return ox + (lg(v) - x0) / (x1 - x0) * pw }
	function py(v, lo, hi) { return oy + ph - (lg(v) - lo) / (hi - lo) * ph }
	function axis(title, lo, hi, unit,   e, y) {
		printf "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#888\"/>\n", ox, oy, pw, ph
		printf "<text x=\"%d\" y=\"%d\" font-weight=\"bold\">%s</text>\n", ox, oy - 10, title
		for (e = lo; e <= hi; e++) {
			y = oy + ph - (e - lo) / (hi - lo) * ph
			printf "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#eee\"/>\n", ox, y, ox + pw, y
			printf "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s%s</text>\n", ox - 4, y + 4, 10 ^ e, unit
		}
		for (e = x0; e <= x1; e++)
			printf "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%d</text>\n", ox + (e - x0) / (x1 - x0) * pw, oy + ph + 16, 10 ^ e
		printf "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">clients</text>\n", ox + pw / 2, oy + ph + 34
	}
	function lines(which, lo, hi,   k, i, key, pts, v) {
		for (k = 1; k <= nk; k++) {
			key = keys[k]; pts = ""
			for (i = 1; i <= n[key]; i++) {
				v = which == "L" ? L[key, i] : C[key, i]
				pts = pts sprintf("%.1f,%.1f ", px(X[key, i]), py(v, lo, hi))
				printf "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", px(X[key, i]), py(v, lo, hi), col[k]
			}
			printf "<polyline points=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\"/>\n", pts, col[k]
		}
	}
	END {
		split("#1f77b4 #d62728 #2ca02c #ff7f0e #9467bd #8c564b", col, " ")
		xmin = 1e18; xmax = 0; lmin = 1e18; lmax = 0; cmin = 1e18; cmax = 0
		for (k = 1; k <= nk; k++) for (i = 1; i <= n[keys[k]]; i++) {
			key = keys[k]
			if (X[key, i] < xmin) xmin = X[key, i]; if (X[key, i] > xmax) xmax = X[key, i]
			if (L[key, i] < lmin) lmin = L[key, i]; if (L[key, i] > lmax) lmax = L[key, i]
			if (C[key, i] < cmin) cmin = C[key, i]; if (C[key, i] > cmax) cmax = C[key, i]
		}
		x0 = fl(lg(xmin)); x1 = fl(lg(xmax)); if (x1 < lg(xmax)) x1++; if (x1 == x0) x1++
		l0 = fl(lg(lmin)); l1 = fl(lg(lmax)) + 1
		c0 = fl(lg(cmin)); c1 = fl(lg(cmax)) + 1
		print "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"960\" height=\"470\" font-family=\"sans-serif\" font-size=\"12\">"
		print "<rect width=\"960\" height=\"470\" fill=\"white\"/>"
		pw = 360; ph = 300; oy = 40
		ox = 70;  axis("p50 latency, ms (publish start to whole message)", l0, l1, ""); lines("L", l0, l1)
		ox = 540; axis("server CPU, % of one core while publishing", c0, c1, ""); lines("C", c0, c1)
		for (k = 1; k <= nk; k++) {
			printf "<rect x=\"%d\" y=\"%d\" width=\"14\" height=\"4\" fill=\"%s\"/>", 70 + (k - 1) * 150, 420, col[k]
			printf "<text x=\"%d\" y=\"%d\">%s</text>\n", 90 + (k - 1) * 150, 426, keys[k]
		}
		print "</svg>"
	}' "$1"
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
      --compare S[:M]    run the table on a second server too, side by side
                         (e.g. lighttpd, or apache:proxy-fcgi)
      --target LABEL=URL[,WSURL]  run the table against another push server that
                         is already running (same URL layout as rtlab, see
                         tools/loadgen --help for templates); no server CPU/RSS
      --peer             only the comparison with nginx + nchan (the peer part)
      --no-sweep, --no-scale, --no-peer   skip those parts
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
OUT=${BENCH_OUT:-bench-results}
COMPARE=()
TARGETS=()
DO_TABLE=1
DO_SWEEP=1
DO_SCALE=1
DO_PEER=1

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
	--no-sweep) DO_SWEEP=0 ;;
	--no-scale) DO_SCALE=0 ;;
	--no-peer) DO_PEER=0 ;;
	--peer) DO_TABLE=0; DO_SWEEP=0; DO_SCALE=0; DO_PEER=1 ;;
	--quick) CLIENTS=20; DURATION=4; SWEEP=10,100; SWEEP_DURATION=3
	         HELD_MAX=100; SCALE_WS=1000; SCALE_HELD=60; INTERVALS=500 ;;
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
cat >"$LIMITS" <<EOF
# Written by tools/bench.sh: process limits sized for $held held clients.
<IfModule mpm_event_module>
    ServerLimit $(( (held * 2 + 256) / 64 + 1 ))
    ThreadsPerChild 64
    MaxRequestWorkers $(( ((held * 2 + 256) / 64 + 1) * 64 ))
</IfModule>
FcgidMaxProcessesPerClass $((held + 32))
FcgidMaxProcesses $((held * 2 + 64))
FcgidSpawnScoreUpLimit $((held * 2 + 64))
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
		RUN=$(env $RUN_ENV PORT=$PORT SERVER=$1 MODE=$2 EXTRA_CONF=$extra \
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
	local csv=$1 label=$2 server=$3 mode=$4 limits=$5 row err what pids
	shift 5
	what="$label $(printf '%s ' "$@" | sed 's/--[a-z-]*-url [^ ]* //g; s/--ws-base [^ ]* //; s/--pub-[a-z]* [^ ]* //g; s/ $//')"
	run_begin "$what" "$@" || return 0
	if [ "$server" = nchan ]; then
		peer_start && pids=$PEER_DIR/pids
	else
		stack_start "$server" "$mode" "$limits" && pids=$RUN/pids
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
	if has ws; then
		run "$csv" "$label" "$server" "$mode" 1 -t ws "${common[@]}"
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

# ---- the peer: nginx + nchan ------------------------------------------------------

# Debian's libnginx-mod-nchan puts the module where nginx's dynamic modules
# go; ask dpkg rather than guess.
NCHAN_MODULE=$(dpkg -L libnginx-mod-nchan 2>/dev/null | grep '/ngx_nchan_module\.so$' | head -n 1)
[ -z "$NCHAN_MODULE" ] && [ -f /usr/lib/nginx/modules/ngx_nchan_module.so ] &&
	NCHAN_MODULE=/usr/lib/nginx/modules/ngx_nchan_module.so
have_nchan() { [ -n "$NCHAN_MODULE" ] && command -v nginx >/dev/null 2>&1; }

PEER_DIR=
PEER_PID=

port_accepts() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A private nginx + nchan from tools/nchan/nginx.conf.in, in its own prefix
# directory, in the foreground of its own session; sets PORT and PEER_DIR
# (whose pids file names nginx's master, as serve.sh's does its servers).
peer_start() {
	local attempt i conns nofile hard
	conns=$((SCALE_WS + CLIENTS + 1024))
	hard=$(ulimit -Hn)
	nofile=$((conns + 1024))
	[ "$hard" != unlimited ] && [ "$nofile" -gt "$hard" ] && nofile=$hard
	STACK_ERR=
	for attempt in 1 2 3; do
		PORT=$(free_port) || { STACK_ERR="no free port"; continue; }
		WS_PORT=
		PEER_DIR=$(mktemp -d /tmp/rtlab-nchan.XXXXXX)
		chmod 755 "$PEER_DIR"
		mkdir -p "$PEER_DIR/logs" "$PEER_DIR/tmp"
		sed -e "s|@PREFIX@|$PEER_DIR|g" -e "s|@PORT@|$PORT|g" \
		    -e "s|@MODULE@|$NCHAN_MODULE|g" -e "s|@WORKERS@|$(nproc)|g" \
		    -e "s|@CONNECTIONS@|$conns|g" -e "s|@NOFILE@|$nofile|g" \
		    "$ROOT/tools/nchan/nginx.conf.in" >"$PEER_DIR/nginx.conf"
		setsid nginx -p "$PEER_DIR" -c "$PEER_DIR/nginx.conf" -e "$PEER_DIR/logs/error.log" \
			</dev/null >>"$PEER_DIR/logs/stderr.log" 2>&1 &
		PEER_PID=$!
		echo "$PEER_PID $(proc_start "$PEER_PID") nginx" >"$PEER_DIR/pids"
		for i in $(seq 1 300); do
			port_accepts "$PORT" && return 0
			kill -0 "$PEER_PID" 2>/dev/null || break
			sleep 0.1
		done
		STACK_ERR=$(cat "$PEER_DIR"/logs/*.log 2>/dev/null | grep -v '^\s*$' | tail -n 3 | tr '\n' ' ')
		{ echo "== $(date -u +%T) nginx + nchan port $PORT, attempt $attempt"; echo "$STACK_ERR"; } >>"$OUT/serve.log"
		peer_stop
	done
	return 1
}

# Stops nginx by the pid it started: SIGTERM is nginx's fast shutdown (its
# workers exit with the master); then waits until it is really gone.
peer_stop() {
	[ -n "$PEER_PID" ] || return 0
	local recorded left pid
	recorded=$(awk '{ print $1 ":" $2 }' "$PEER_DIR/pids" 2>/dev/null)
	[ "$(proc_start "$PEER_PID")" = "${recorded#*:}" ] && kill -TERM "$PEER_PID" 2>/dev/null
	if ! left=$(stack_gone "$recorded" "$PORT"); then
		# Whatever is left of its session, by pid: never by name.
		for pid in $(ps -o pid= --sid "$PEER_PID" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
		say "bench: warning: nginx + nchan was not gone after 30 s ($left); killed"
	fi
	[ -s "$PEER_DIR/logs/error.log" ] && cat "$PEER_DIR/logs/error.log" >>"$OUT/nchan-error.log"
	rm -rf "$PEER_DIR"
	PEER_DIR=
	PEER_PID=
}

# rtlab and nchan row by row: each rtlab row is followed by nchan's, and
# the ratios say how many times nchan's figure rtlab's is (< 1: rtlab does
# better).  For a one-message row the max is what counts: until the last
# subscriber has it.
peer_table() { # csv
	[ "$PLANNING" = 1 ] && return 0
	awk -F, "$CSV_AWK"'
	function ratio(a, b) { return (b > 0 && a != "nan" && b != "nan") ? sprintf("%.2f", a / b) : "-" }
	BEGIN { print "technique clients msgs rtlab p50_ms nchan p50× p99_ms nchan p99× max_ms nchan max× cpu% nchan lost nchan" }
	get("label") != "nchan" { r_label = get("label"); r_tech = get("technique"); r_c = get("clients")
		r_m = get("messages"); r50 = get("p50_ms"); r99 = get("p99_ms"); rmax = get("max_ms")
		rcpu = get("srv_cpu_pct"); rlost = get("lost"); have = 1; next }
	have {
		print r_tech, r_c, r_m, r_label, r50, get("p50_ms"), ratio(r50, get("p50_ms")),
		      r99, get("p99_ms"), ratio(r99, get("p99_ms")), rmax, get("max_ms"),
		      ratio(rmax, get("max_ms")), rcpu, get("srv_cpu_pct"), rlost, get("lost")
		have = 0
	}' "$1" | column -t | tee -a "$REPORT"
}

part_peer() {
	local common=(-r "$RATE" -d "$DURATION") c
	local sse='http://127.0.0.1:@PORT@/sub?channel={channel}'
	local ws='ws://127.0.0.1:@PORT@/sub?channel={channel}'
	local pub=(--pub-url 'http://127.0.0.1:@PORT@/pub?channel={channel}' --pub-body '{text}'
	           --pub-type text/plain)
	PART="peer"
	part_begin peer.csv "== rtlab and nginx + nchan side by side: $RATE messages/s for $DURATION s"
	if ! have_nchan; then
		say "   nginx + nchan are not installed (tools/deps.sh bench installs them): skipped"
		return 0
	fi
	say "   nchan $(dpkg-query -W -f='${Version}' libnginx-mod-nchan 2>/dev/null), $(nginx -v 2>&1 | sed 's/.*: //'), $(nproc) workers;"
	say "   every row published by HTTP POST, rtlab's to send.fcgi, nchan's to /pub"
	if has sse; then
		for c in 1 "$CLIENTS"; do
			run "$CSV" "$SERVER-$MODE" "$SERVER" "$MODE" 1 -t sse -c "$c" "${common[@]}"
			run "$CSV" nchan nchan - 0 -t sse -c "$c" --sub-url "$sse" "${pub[@]}" "${common[@]}"
		done
	fi
	if has ws; then
		run "$CSV" helper "$SERVER" "$MODE" 1 -t ws -c "$CLIENTS" \
			--ws-base "ws://127.0.0.1:@WS_PORT@" "${common[@]}"
		run "$CSV" nchan nchan - 0 -t ws -c "$CLIENTS" --sub-url "$ws" "${pub[@]}" "${common[@]}"
		run "$CSV" helper "$SERVER" "$MODE" 1 -t ws -c "$SCALE_WS" -m 1 -r 1 \
			--ws-base "ws://127.0.0.1:@WS_PORT@"
		run "$CSV" nchan nchan - 0 -t ws -c "$SCALE_WS" -m 1 -r 1 --sub-url "$ws" "${pub[@]}"
	fi
	say
	table "$CSV"
	say
	say "   rtlab / nchan, row by row (ratio < 1: rtlab is faster or cheaper):"
	peer_table "$CSV"
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
[ "$DO_SWEEP" = 1 ] && PARTS+=(part_sweep)
[ "$DO_SCALE" = 1 ] && PARTS+=(part_scale)

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
