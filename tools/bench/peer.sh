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
		for c in 1 $([ "$CLIENTS" != 1 ] && echo "$CLIENTS"); do
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

