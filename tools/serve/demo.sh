# demo.sh — sourced by tools/serve.sh: `serve.sh demo` (make demo).  cmd_demo
# starts a run (or a cluster), prints its URLs and waits; Ctrl-C or SIGTERM
# stops everything it started.  start_publishers starts the scenarios'
# publishers (tools/scenarios/) into it.
# Uses serve.sh's cmd_start, stop_run and settings; cluster.sh's
# cluster_start, cluster_nodes and stop_cluster.
# shellcheck shell=bash

# make demo only: the scenarios' publishers (tools/scenarios/, node) play a
# match, four sensors and 100 price ticks a second into the running server,
# so every scenario page moves (SCENARIOS=0: not started).  Each is recorded
# like every other process, so Ctrl-C stops them too.
start_publishers() {
	local base="http://127.0.0.1:$PORT" ws_opt="" args ca=""
	[ "${SCENARIOS:-1}" = 1 ] || return 0
	# TLS=1: https, trusting this run's certificate (Node reads
	# NODE_EXTRA_CA_CERTS at startup, for fetch and the ws client alike).
	if [ "$TLS" = 1 ]; then
		base="https://127.0.0.1:$PORT"
		ca=$RUN_DIR/conf/tls/cert.pem
	fi
	if ! command -v node >/dev/null 2>&1; then
		echo "rtlab: no node, so the scenarios' publishers are not started"
		return 0
	fi
	[ -d "$ROOT/tests/node_modules/ws" ] && [ -x "$RUN_DIR/bin/rtlab-wsd" ] && ws_opt=--ws
	for args in "match.mjs --loop" "sensors.mjs --sensors 4 --rate 1" "ticker.mjs --rate 100 $ws_opt"; do
		# shellcheck disable=SC2086 # the options are words on purpose
		NODE_EXTRA_CA_CERTS=$ca setsid node "$ROOT/tools/scenarios/${args%% *}" --base "$base" ${args#* } \
			>>"$RUN_DIR/logs/publishers.log" 2>&1 </dev/null &
		record $! "publisher:${args%% *}"
	done
	echo "rtlab: scenarios' publishers running (logs/publishers.log); SCENARIOS=0 to skip"
}

# serve.sh demo: start, say where everything is, run until Ctrl-C/SIGTERM.
cmd_demo() {
	# Ctrl-C (SIGINT to the terminal's process group) or SIGTERM: stop
	# everything this run started, even halfway through starting it.
	if [ "$SERVER" = apache ]; then what="Apache, $MODE, mpm_$MPM"; else what=lighttpd; fi
	if [ "$TLS" = 1 ]; then scheme=https; ws_scheme=wss; else scheme=http; ws_scheme=ws; fi
	if [ "${CLUSTER:-0}" != 0 ]; then
		trap 'echo; echo "rtlab: stopping"; [ -n "${RUN_DIR:-}" ] && stop_cluster "$RUN_DIR"; exit 0' INT TERM
		cluster_start >/dev/null
		echo "rtlab: cluster of $CLUSTER hosts ($what), run dir $RUN_DIR (logs in */logs/)"
		echo "rtlab: Redis on 127.0.0.1:$REDIS_PORT (RT_STORE=redis://127.0.0.1:$REDIS_PORT/0)"
		while read -r name node_dir node_port ws_port; do
			echo "rtlab: $name on http://127.0.0.1:$node_port/ (helper :$ws_port, $node_dir)"
		done < <(cluster_nodes "$RUN_DIR")
		echo "rtlab: HAProxy on port $PORT: round-robin, WebSockets $([ "${STICKY:-0}" = 1 ] && echo sticky || echo "not sticky") (STICKY=1); every answer names its host in X-Rtlab-Node"
	else
		trap 'echo; echo "rtlab: stopping"; [ -n "${RUN_DIR:-}" ] && stop_run "$RUN_DIR"; exit 0' INT TERM
		cmd_start >/dev/null
		echo "rtlab: $what; run dir $RUN_DIR (logs in logs/)"
		[ -x "$RUN_DIR/bin/rtlab-wsd" ] &&
			echo "rtlab: WebSocket helper on 127.0.0.1:$WS_PORT, proxied at $ws_scheme://127.0.0.1:$PORT/ws"
	fi
	start_publishers
	if [ "$TLS" = 1 ]; then
		cat <<-EOF
		rtlab: HTTPS with HTTP/2 (h2) and HTTP/1.1; the certificate is self-signed:
		rtlab:   $RUN_DIR/conf/tls/cert.pem
		rtlab: the browser warns once (Advanced → Proceed), or trust it for this run:
		rtlab:   Chromium/Chrome on Linux: certutil -d sql:\$HOME/.pki/nssdb -A -t P,, -n rtlab -i $RUN_DIR/conf/tls/cert.pem
		rtlab:   curl: curl --cacert $RUN_DIR/conf/tls/cert.pem --http2 -v $scheme://127.0.0.1:$PORT/
		EOF
	fi
	echo "rtlab: $scheme://127.0.0.1:$PORT/   (scenarios: $scheme://127.0.0.1:$PORT/scenarios/)"
	echo "rtlab: Ctrl-C stops it"
	while :; do sleep 1 & wait $! || true; done
}
