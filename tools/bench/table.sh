# table.sh — sourced by tools/bench.sh: part 1, the comparison table.  Every
# technique at one scenario (CLIENTS, RATE, DURATION) on SERVER-MODE, again
# over HTTPS with --tls, on each --compare server, and against each --target
# (a push server somebody else runs).
# Uses bench.sh's run, run_begin, run_row, part_begin, say, table, has.
# shellcheck shell=bash

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
