# helper.sh — sourced by tools/serve.sh: the WebSocket helper rtlab-wsd.
# start_helper starts it (serve.sh _helper, in its own session, as the run
# user) and waits until it accepts; stop_helper stops it alone (the tests
# restart it); exec_helper is what serve.sh _helper runs.
# Uses serve.sh's RUN_DIR, WS_PORT, RT_DB, RUN_USER and pids.sh.
# shellcheck shell=bash

start_helper() {
	[ -x "$RUN_DIR/bin/rtlab-wsd" ] || return 0
	env RT_DB="$RT_DB" setsid "$0" _helper </dev/null >>"$RUN_DIR/logs/helper.log" 2>&1 &
	record $! rtlab-wsd
	wait_for "$WS_PORT" $! rtlab-wsd "$RUN_DIR/logs/helper.log"
}

stop_helper() { # run_dir
	stop_recorded "$1" rtlab-wsd
}

# The helper's own process (serve.sh _helper, started by start_helper):
exec_helper() {
	# Runs in its own session (setsid) as the run user; exec keeps the pid.
	# RT_STORE (redis://...) wins over RT_DB, as in every endpoint (lib/store.c).
	exec_args=(--listen "127.0.0.1:$WS_PORT" --db "${RT_STORE:-$RT_DB}")
	[ -n "${WS_WORKERS:-}" ] && exec_args+=(--workers "$WS_WORKERS")
	if [ -n "$RUN_USER" ]; then
		exec setpriv --reuid="$RUN_USER" --regid="$RUN_USER" --init-groups -- \
			"$RUN_DIR/bin/rtlab-wsd" "${exec_args[@]}"
	fi
	exec "$RUN_DIR/bin/rtlab-wsd" "${exec_args[@]}"
}
