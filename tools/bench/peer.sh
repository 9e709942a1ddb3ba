# peer.sh — sourced by tools/bench.sh: nginx + nchan as the peer, the
# same SSE and WebSocket rows against a private nginx + nchan, side by side
# with rtlab's (docs/benchmark.md, "Side by side with nginx + nchan").
# Uses bench.sh's run, say, free_port, stack_gone, proc_start and table.
# shellcheck shell=bash

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
# One worker per core; or PEER_WORKERS workers (the HUGE_WS rows) that share
# the port with SO_REUSEPORT (the kernel spreads the connections by a hash,
# as over rtlab-wsd --workers), each holding its share, at most what one
# process may open here (the hard RLIMIT_NOFILE).
peer_start() {
	local attempt i conns nofile hard workers=$(nproc) listen_opts=
	conns=$(( (SCALE_WS > PEER_THREADS ? SCALE_WS : PEER_THREADS) + CLIENTS + 1024 ))
	if [ -n "${PEER_WORKERS:-}" ]; then
		workers=$PEER_WORKERS
		conns=$((HUGE_WS / workers + 2048))
		listen_opts=" reuseport"
	fi
	hard=$(ulimit -Hn)
	nofile=$((conns + 1024))
	if [ "$hard" != unlimited ] && [ "$nofile" -gt "$hard" ]; then
		nofile=$hard
		[ "$conns" -gt $((hard - 64)) ] && conns=$((hard - 64))
	fi
	STACK_ERR=
	for attempt in 1 2 3; do
		PORT=$(free_port) || { STACK_ERR="no free port"; continue; }
		WS_PORT=
		PEER_DIR=$(mktemp -d /tmp/rtlab-nchan.XXXXXX)
		chmod 755 "$PEER_DIR"
		mkdir -p "$PEER_DIR/logs" "$PEER_DIR/tmp"
		sed -e "s|@PREFIX@|$PEER_DIR|g" -e "s|@PORT@|$PORT|g" \
		    -e "s|@MODULE@|$NCHAN_MODULE|g" -e "s|@WORKERS@|$workers|g" \
		    -e "s|@CONNECTIONS@|$conns|g" -e "s|@NOFILE@|$nofile|g" \
		    -e "s|@LISTEN_OPTS@|$listen_opts|g" \
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

# rtlab and nchan row by row: the rtlab rows before an nchan row are each
# set against it (the long-poll row against nchan's SSE: "vs" names what
# it is compared with), and the ratios say how many times nchan's figure
# rtlab's is (< 1: rtlab does better).  For a one-message row the max is
# what counts: until the last subscriber has it.
peer_table() { # csv
	[ "$PLANNING" = 1 ] && return 0
	awk -F, "$CSV_AWK"'
	function ratio(a, b) { return (b > 0 && a != "nan" && b != "nan") ? sprintf("%.2f", a / b) : "-" }
	BEGIN { print "technique clients msgs rtlab vs p50_ms nchan p50× p99_ms nchan p99× max_ms nchan max× cpu% nchan wakes/msg nchan lost nchan" }
	get("label") !~ /^nchan/ { n++; for (i = 1; i <= NF; i++) row[n, i] = $i; next }
	{
		for (k = 1; k <= n; k++) {
			split("", r); for (i = 1; i <= NF; i++) r[i] = row[k, i]
			r50 = r[column_of["p50_ms"]]; r99 = r[column_of["p99_ms"]]; rmax = r[column_of["max_ms"]]
			print r[column_of["technique"]], r[column_of["clients"]], r[column_of["messages"]],
			      r[column_of["label"]], get("label") "/" get("technique"),
			      r50, get("p50_ms"), ratio(r50, get("p50_ms")),
			      r99, get("p99_ms"), ratio(r99, get("p99_ms")), rmax, get("max_ms"),
			      ratio(rmax, get("max_ms")), r[column_of["srv_cpu_pct"]], get("srv_cpu_pct"),
			      r[column_of["wakes_per_pub"]], get("wakes_per_pub"),
			      r[column_of["lost"]], get("lost")
		}
		n = 0
	}' "$1" | column -t | tee -a "$REPORT"
}

# The goals of issue 15, each checked against the row that measures it
# (docs/benchmark.md, "Goals against nchan").  A goal whose rows are
# missing (not run, or failed) says so.  Only the goals matching the
# pattern, if one is given.
peer_goals() { # csv [pattern]
	[ "$PLANNING" = 1 ] && return 0
	awk -F, -v sv="$SERVER-$MODE" "$CSV_AWK"'
	function key(l, t, c) { return l SUBSEP t SUBSEP c }
	function v(k, col) { return (k in have) ? val[k, col] : "" }
	function ratio(a, b) { return (b > 0 && a != "" && a != "nan" && b != "nan") ? a / b : "" }
	function fmt(x) { return x == "" ? "-" : sprintf("%.2f", x) }
	function goal(what, rtlab, nchan, r, ok, missing) {
		printf "%s|%s|%s|%s|%s\n", what, rtlab, nchan, (r == "" ? "-" : r "×"),
		       missing ? "not run" : (ok ? "met" : "NOT MET")
	}
	{ k = key(get("label"), get("technique"), get("clients")); have[k] = 1
	  for (c in column_of) val[k, c] = get(c) }
	END {
		print "goal|rtlab|nchan|rtlab/nchan|"
		ns = key("nchan", "sse", c200)
		for (t = 1; t <= 2; t++) {
			tech = t == 1 ? "sse" : "longpoll"; k = key(sv, tech, c200)
			r = ratio(v(k, "p50_ms"), v(ns, "p50_ms"))
			goal(tech " " c200 " (" sv "): p50 <= 2x nchan SSE, 0 lost",
			     "p50 " v(k, "p50_ms") " ms, lost " v(k, "lost"), "SSE p50 " v(ns, "p50_ms") " ms",
			     fmt(r), r != "" && r <= 2 && v(k, "lost") == 0, !(k in have) || !(ns in have))
		}
		k = key(sv ":cross", "sse", c200); n = key("nchan:cross", "sse", c200)
		goal("cross-channel: " c200 " SSE held on B, news on A: CPU <= 2% of a core",
		     v(k, "srv_cpu_pct") "%, " v(k, "wakes_per_pub") " wakes/msg",
		     v(n, "srv_cpu_pct") "%, " v(n, "wakes_per_pub") " wakes/msg",
		     fmt(ratio(v(k, "srv_cpu_pct"), v(n, "srv_cpu_pct"))),
		     v(k, "srv_cpu_pct") != "" && v(k, "srv_cpu_pct") <= 2 && v(k, "delivered") == 0,
		     !(k in have))
		k = key("threads", "sse", cthr); n = key("nchan", "sse", cthr)
		r = ratio(v(k, "p50_ms"), v(n, "p50_ms"))
		# RSS per client: that of the FastCGI processes (what the threads hold);
		# that of the whole server, Apache worker threads included, beside it.
		goal("threads: " cthr " SSE in <= 16 FastCGI procs, <= 64 KiB FastCGI RSS/client, p50 <= 1.5x nchan",
		     v(k, "held") " held, " v(k, "fcgi_procs") " procs, " v(k, "fcgi_rss_per_conn_kib") " KiB (server " v(k, "rss_per_conn_kib") "), p50 " v(k, "p50_ms") " ms",
		     "p50 " v(n, "p50_ms") " ms, " v(n, "rss_per_conn_kib") " KiB", fmt(r),
		     r != "" && r <= 1.5 && v(k, "held") == cthr && v(k, "fcgi_procs") <= 16 &&
		     v(k, "fcgi_rss_per_conn_kib") <= 64 && v(k, "lost") == 0, !(k in have) || !(n in have))
		k = key("helper", "ws", c200); n = key("nchan", "ws", c200)
		r = ratio(v(k, "p50_ms"), v(n, "p50_ms"))
		goal("WebSocket " c200 ": p50 <= 1.0x nchan", "p50 " v(k, "p50_ms") " ms",
		     "p50 " v(n, "p50_ms") " ms", fmt(r), r != "" && r <= 1 && v(k, "lost") == 0,
		     !(k in have) || !(n in have))
		for (s = 1; s <= 2; s++) {
			c = s == 1 ? cscale : chuge; if (c == "" || c == 0) continue
			k = key("helper", "ws", c); n = key("nchan", "ws", c)
			r = ratio(v(k, "max_ms"), v(n, "max_ms"))
			extra = s == 2 ? ", <= 1 KiB helper RSS each" : ""
			goal("WebSocket " c ": one message to all (until the last) <= 1.0x nchan" extra,
			     v(k, "held") " held, " v(k, "max_ms") " ms" (s == 2 ? ", " v(k, "rss_per_conn_kib") " KiB" : ""),
			     v(n, "held") " held, " v(n, "max_ms") " ms" (s == 2 ? ", " v(n, "rss_per_conn_kib") " KiB" : ""),
			     fmt(r), r != "" && r <= 1 && v(k, "lost") == 0 && v(k, "held") == c &&
			     (s == 1 || v(k, "rss_per_conn_kib") <= 1), !(k in have) || !(n in have))
		}
	}' c200="$CLIENTS" cthr="$PEER_THREADS" cscale="$SCALE_WS" chuge="$( [ "$HUGE_IN_PEER" = 1 ] && echo "$HUGE_WS" )" "$1" |
		awk -v pat="${2:-.}" 'NR == 1 || $0 ~ pat' | column -t -s '|' | tee -a "$REPORT"
}

part_peer() {
	local common=(-r "$RATE" -d "$DURATION")
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
		run "$CSV" "$SERVER-$MODE" "$SERVER" "$MODE" 1 -t sse -c 1 "${common[@]}"
		run "$CSV" nchan nchan - 0 -t sse -c 1 --sub-url "$sse" "${pub[@]}" "${common[@]}"
		if [ "$CLIENTS" != 1 ]; then
			run "$CSV" "$SERVER-$MODE" "$SERVER" "$MODE" 1 -t sse -c "$CLIENTS" "${common[@]}"
			# Long-poll has no nchan row of its own: the goal sets it
			# against nchan's SSE, the row after it.
			has longpoll && run "$CSV" "$SERVER-$MODE" "$SERVER" "$MODE" 1 -t longpoll \
				-c "$CLIENTS" "${common[@]}"
			run "$CSV" nchan nchan - 0 -t sse -c "$CLIENTS" --sub-url "$sse" "${pub[@]}" "${common[@]}"
		fi
		# What news on another channel costs: the streams are held on the
		# run's channel, the messages go to bench-cross-a (--pub-channel):
		# none is delivered, so the row is CPU and wakes, not latency.
		run "$CSV" "$SERVER-$MODE:cross" "$SERVER" "$MODE" 1 -t sse -c "$CLIENTS" \
			--pub-channel bench-cross-a "${common[@]}"
		run "$CSV" nchan:cross nchan - 0 -t sse -c "$CLIENTS" --sub-url "$sse" "${pub[@]}" \
			--pub-channel bench-cross-a "${common[@]}"
		# Many requests per FastCGI process: the threaded stack of part 4.
		if [ "$PEER_THREADS" -gt 0 ]; then
			threads_note
			threads_env "$PEER_THREADS"
			run "$CSV" threads apache proxy-fcgi 1 -t sse -c "$PEER_THREADS" "${common[@]}" \
				--ready-timeout 30
			RUN_ENV=
			run "$CSV" nchan nchan - 0 -t sse -c "$PEER_THREADS" --sub-url "$sse" "${pub[@]}" \
				"${common[@]}"
		fi
	fi
	if has ws; then
		run "$CSV" helper "$SERVER" "$MODE" 1 -t ws -c "$CLIENTS" \
			--ws-base "ws://127.0.0.1:@WS_PORT@" "${common[@]}"
		run "$CSV" nchan nchan - 0 -t ws -c "$CLIENTS" --sub-url "$ws" "${pub[@]}" "${common[@]}"
		run "$CSV" helper "$SERVER" "$MODE" 1 -t ws -c "$SCALE_WS" -m 1 -r 1 \
			--ws-base "ws://127.0.0.1:@WS_PORT@"
		run "$CSV" nchan nchan - 0 -t ws -c "$SCALE_WS" -m 1 -r 1 --sub-url "$ws" "${pub[@]}"
		[ "$HUGE_IN_PEER" = 1 ] && huge_runs "$CSV"
	fi
	say
	table "$CSV"
	say
	say "   rtlab / nchan, row by row (ratio < 1: rtlab is faster or cheaper):"
	peer_table "$CSV"
	say
	say "   the goals (issue 15), in this run:"
	peer_goals "$CSV"
}

# HUGE_WS idle WebSockets and one message to all: the helper with
# HUGE_WORKERS workers (one process may open only 20,000 files here), nchan
# with as many workers on one SO_REUSEPORT port; loadgen in as many
# processes, each from its own loopback source address.  CPU and RSS are
# the helper's alone (its parent and workers), nchan's master and workers.
huge_runs() { # csv
	local ws='ws://127.0.0.1:@PORT@/sub?channel={channel}'
	local pub=(--pub-url 'http://127.0.0.1:@PORT@/pub?channel={channel}' --pub-body '{text}'
	           --pub-type text/plain)
	local lg=(-t ws -c "$HUGE_WS" -m 1 -r 1 --procs "$HUGE_WORKERS" --connect-rate 3000
	          --ready-timeout 120)
	RUN_ENV="WS_WORKERS=$HUGE_WORKERS"
	run "$1" helper "$SERVER" "$MODE" 1 "${lg[@]}" --ws-base "ws://127.0.0.1:@WS_PORT@" \
		--pids @HELPER@ --pid-file /dev/null
	RUN_ENV=
	PEER_WORKERS=$HUGE_WORKERS
	run "$1" nchan nchan - 0 "${lg[@]}" --sub-url "$ws" "${pub[@]}"
	PEER_WORKERS=
}

# --only huge: that pair alone, with its goal.
part_huge() {
	PART="huge"
	part_begin huge.csv "== $HUGE_WS idle WebSockets, one message to all: the helper (--workers $HUGE_WORKERS) and nchan ($HUGE_WORKERS workers)"
	if ! have_nchan; then
		say "   nginx + nchan are not installed (tools/deps.sh bench installs them): skipped"
		return 0
	fi
	huge_runs "$CSV"
	say
	table "$CSV"
	say
	peer_table "$CSV"
	say
	HUGE_IN_PEER=1 peer_goals "$CSV" "^WebSocket $HUGE_WS:"
}
