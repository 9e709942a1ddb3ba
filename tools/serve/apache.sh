# apache.sh — sourced by tools/serve.sh: a private Apache.  apache_conf
# writes RUN_DIR/conf/httpd.conf and rtlab.conf from their templates in
# apache-conf/ for MODE (fcgid, proxy-fcgi, cgi), MPM and TLS;
# spawn_pools starts the spawn-fcgi pools of MODE=proxy-fcgi; start_apache
# tests the config and starts Apache in the foreground of its own session.
# Uses serve.sh's settings and pids.sh's record and wait_for.
# shellcheck shell=bash

apache_quote() { # value — as one double-quoted Apache config argument
	local v=${1//\\/\\\\}
	printf '"%s"' "${v//\"/\\\"}"
}

# The two files a private Apache reads, from their templates in apache-conf/
# (tools/fill-template.sh fills every @NAME@): httpd.conf, the server, and
# rtlab.conf, the Defines and Includes that `make install` also writes.
apache_conf() {
	local name value m
	local mods="authz_core mime dir autoindex alias env setenvif headers filter
	            deflate proxy proxy_http proxy_wstunnel reqtimeout"
	case $MPM in
	event|prefork) ;;
	*) die "MPM must be event or prefork" ;;
	esac
	case $MODE in
	fcgid)      mods="$mods fcgid" ;;
	proxy-fcgi) mods="$mods proxy_fcgi" ;;
	cgi)        if [ "$MPM" = prefork ]; then mods="$mods cgi"; else mods="$mods cgid"; fi ;;
	*) die "MODE must be fcgid, proxy-fcgi or cgi" ;;
	esac
	local modules="" sse_define="" user_group="" pass_env="" node_header="" tls_conf=""
	# TLS=1: mod_ssl, mod_http2, and the cache of TLS sessions mod_ssl keeps
	# so that a returning client resumes instead of a full handshake.
	#   https://httpd.apache.org/docs/2.4/mod/mod_ssl.html#sslsessioncache
	if [ "$TLS" = 1 ]; then
		mods="$mods socache_shmcb ssl http2"
		tls_conf="Define RTLAB_TLS_CERT conf/tls/cert.pem"$'\n'
		tls_conf+="Define RTLAB_TLS_KEY conf/tls/key.pem"$'\n'
		tls_conf+="SSLSessionCache shmcb:run/ssl_scache(512000)"$'\n'
		tls_conf+="Include conf/rtlab-tls.conf"
	fi
	for m in $mods; do
		modules+="LoadModule ${m}_module $APACHE_MODULES/mod_${m}.so"$'\n'
	done
	[ -n "${RT_SSE_MAX_AGE:-}" ] &&
		sse_define="Define RTLAB_SSE_MAX_AGE $(apache_quote "$RT_SSE_MAX_AGE")"
	[ -n "$RUN_USER" ] && user_group="User $RUN_USER"$'\n'"Group $RUN_USER"
	[ -n "${RT_NODE:-}" ] &&
		node_header="Header always set X-Rtlab-Node $(apache_quote "$RT_NODE")"
	# RT_DB and RT_SSE_MAX_AGE reach the endpoints through rtlab-MODE.conf.
	while IFS='=' read -r name value; do
		case $name in RT_DB|RT_SSE_MAX_AGE) continue ;; esac
		# mod_fcgid and CGI keep one request per process: the lesson they
		# teach (lib/http_held.h).
		[ "$name" = RT_FCGI_THREADS ] && [ "$MODE" != proxy-fcgi ] && continue
		pass_env+="PassEnv $name"$'\n'
		[ "$MODE" = fcgid ] && pass_env+="FcgidInitialEnv $name $(apache_quote "$value")"$'\n'
	done < <(rt_vars; sanitizer_vars)
	RUN_DIR=$RUN_DIR PORT=$PORT MPM=$MPM APACHE_MODULES=$APACHE_MODULES \
	EVENT_SERVER_LIMIT=$((HELD_CLIENTS / 64)) EVENT_MAX_WORKERS=$HELD_CLIENTS \
	MODULES=${modules%$'\n'} SSE_MAX_AGE_DEFINE=$sse_define USER_GROUP=$user_group \
	PASS_ENV=${pass_env%$'\n'} NODE_HEADER=$node_header TLS_CONF=$tls_conf EXTRA_CONF=$(extra_conf) \
		"$ROOT/tools/fill-template.sh" "$ROOT/apache-conf/httpd.conf.in" >"$RUN_DIR/conf/httpd.conf"
	# The helper's Include goes when there is no helper (WS=0).
	CGI_BIN=$RUN_DIR/cgi-bin DB=$(apache_quote "$RT_DB") WS_PORT=$WS_PORT \
	FCGI_SOCKETS=$RUN_DIR/run CONF_DIR=conf MODE=$MODE \
		"$ROOT/tools/fill-template.sh" "$ROOT/apache-conf/rtlab.conf.in" |
		if [ "$WS" = 1 ]; then cat; else sed '/rtlab-ws\.conf/d'; fi >"$RUN_DIR/conf/rtlab.conf"
}

# mod_proxy_fcgi talks to FastCGI processes somebody else started: here
# spawn-fcgi, one pool per endpoint on a unix socket in RUN_DIR/run.  The
# held endpoints get 40 processes (each held client occupies one), or 4 with
# RT_FCGI_THREADS (each holds that many clients).
spawn_pools() {
	local f name n
	for f in "$RUN_DIR"/cgi-bin/*.fcgi; do
		[ -e "$f" ] || continue
		name=$(basename "$f" .fcgi)
		case $name in longpoll|sse) n=$HELD_PROCS ;; *) n=${RTLAB_PROCS:-4} ;; esac
		local user_opts=()
		[ -n "$RUN_USER" ] && user_opts=(-u "$RUN_USER" -g "$RUN_USER" -U "$RUN_USER" -G "$RUN_USER")
		rm -f "$RUN_DIR/run/$name.pids"
		# spawn-fcgi's children inherit its environment: every RT_* we have.
		env RT_DB="$RT_DB" spawn-fcgi -s "$RUN_DIR/run/$name.sock" -M 0660 \
			-F "$n" -P "$RUN_DIR/run/$name.pids" "${user_opts[@]}" \
			-d "$RUN_DIR/cgi-bin" -- "$f" >>"$RUN_DIR/logs/spawn-fcgi.log" 2>&1 ||
			die "spawn-fcgi failed for $name (see $RUN_DIR/logs/spawn-fcgi.log)"
		while read -r pid || [ -n "$pid" ]; do  # its last line has no newline
			[ -n "$pid" ] && record "$pid" "spawn-fcgi:$name"
		done <"$RUN_DIR/run/$name.pids"
	done
}

start_apache() {
	apache_conf
	# APACHE_DEFINES="A B" starts Apache with -D A -D B (e.g. RTLAB_WS_UPGRADE
	# for the 2.4.47+ form of the /ws proxy in rtlab-ws.conf).
	local defines=() d
	for d in ${APACHE_DEFINES:-}; do defines+=(-D "$d"); done
	apache2 -t -f "$RUN_DIR/conf/httpd.conf" "${defines[@]}" >"$RUN_DIR/logs/configtest.log" 2>&1 || {
		cat "$RUN_DIR/logs/configtest.log" >&2; die "apache config test failed"
	}
	[ "$MODE" = proxy-fcgi ] && spawn_pools
	# -DFOREGROUND: no daemon fork, so $! is the Apache parent, which makes
	# itself a session leader; stop_run finds its children by that session.
	env RT_DB="$RT_DB" setsid apache2 -f "$RUN_DIR/conf/httpd.conf" "${defines[@]}" -DFOREGROUND \
		</dev/null >>"$RUN_DIR/logs/stderr.log" 2>&1 &
	record $! apache2
	wait_for "$PORT" $! apache "$RUN_DIR/logs/error.log" "$RUN_DIR/logs/stderr.log"
}
