# lighttpd.sh — sourced by tools/serve.sh: a private lighttpd (SERVER=lighttpd).
# lighttpd_conf writes RUN_DIR/conf/lighttpd.conf from
# apache-conf/lighttpd.conf.in; start_lighttpd tests it and starts lighttpd
# in the foreground of its own session.
# Uses serve.sh's settings and pids.sh's record and wait_for.
# shellcheck shell=bash

lighttpd_quote() { # value — as a lighttpd string
	local v=${1//\\/\\\\}
	printf '"%s"' "${v//\"/\\\"}"
}

lighttpd_conf() { # — RUN_DIR/conf/lighttpd.conf from apache-conf/lighttpd.conf.in
	local name value env="" user_group="" ws_port=$WS_PORT node_header="" tls_conf=""
	while IFS='=' read -r name value; do
		case $name in RT_DB|RT_SSE_MAX_AGE) continue ;; esac
		env+="  \"$name\" => $(lighttpd_quote "$value"),"$'\n'
	done < <(rt_vars; sanitizer_vars)
	[ -n "$RUN_USER" ] &&
		user_group="server.username = \"$RUN_USER\""$'\n'"server.groupname = \"$RUN_USER\""
	[ "$WS" = 1 ] || ws_port=0
	if [ "$TLS" = 1 ]; then
		tls_conf="var.rtlab_tls_cert = \"$RUN_DIR/conf/tls/cert.pem\""$'\n'
		tls_conf+="var.rtlab_tls_key = \"$RUN_DIR/conf/tls/key.pem\""$'\n'
		tls_conf+="include \"$RUN_DIR/conf/lighttpd-tls.conf\""
	fi
	[ -n "${RT_NODE:-}" ] &&
		node_header="setenv.add-response-header = ( \"X-Rtlab-Node\" => $(lighttpd_quote "$RT_NODE") )"
	RUN_DIR=$RUN_DIR PORT=$PORT DB=$(lighttpd_quote "$RT_DB") WS_PORT=$ws_port \
	SSE_MAX_AGE=$(lighttpd_quote "${RT_SSE_MAX_AGE:-300}") ENV=${env%$'\n'} \
	HELD_PROCS=$HELD_PROCS MAX_CONNECTIONS=$MAX_CONNECTIONS \
	USER_GROUP=$user_group NODE_HEADER=$node_header TLS_CONF=$tls_conf EXTRA_CONF=$(extra_conf) \
		"$ROOT/tools/fill-template.sh" "$ROOT/apache-conf/lighttpd.conf.in" >"$RUN_DIR/conf/lighttpd.conf"
}

start_lighttpd() {
	local conf=$RUN_DIR/conf/lighttpd.conf
	lighttpd_conf
	lighttpd -tt -f "$conf" >"$RUN_DIR/logs/configtest.log" 2>&1 || {
		cat "$RUN_DIR/logs/configtest.log" >&2; die "lighttpd config test failed"
	}
	env RT_DB="$RT_DB" setsid lighttpd -D -f "$conf" \
		</dev/null >>"$RUN_DIR/logs/stderr.log" 2>&1 &
	record $! lighttpd
	wait_for "$PORT" $! lighttpd "$RUN_DIR/logs/error.log" "$RUN_DIR/logs/stderr.log"
}
