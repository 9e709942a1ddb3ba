# sweep.sh — sourced by tools/bench.sh: part 2, the scaling sweep (clients
# SWEEP, as far as each technique can go; sweep.svg), and part 3, connection
# scale (SCALE_WS WebSockets on the helper; SCALE_HELD held clients against
# the shipped mod_fcgid limits).
# Uses bench.sh's run, part_begin, say, table, has, plot_svg and table.sh's WSPUB.
# shellcheck shell=bash

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
