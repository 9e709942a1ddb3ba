# run.sh — sourced by tools/bench.sh: one loadgen run on a fresh stack (run,
# run_row), the CSV every part writes (HEADER, part_begin), and the
# progress and failures around the runs: every part is walked once with
# PLANNING=1 to count and estimate, then for real.
# Uses bench.sh's say, OUT, LOADGEN; stack.sh's stack_start and stack_stop;
# peer.sh's peer_start and peer_stop.
# shellcheck shell=bash

# The columns of every CSV: loadgen's own header line.
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

# ---- a part's CSV ------------------------------------------------------------------

part_begin() { # csv-name title
	CSV=$OUT/$1
	[ "$PLANNING" = 1 ] && return 0
	echo "$HEADER" >"$CSV"
	say
	say "$2"
}
