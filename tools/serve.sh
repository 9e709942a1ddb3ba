#!/bin/bash
# serve.sh — run rtlab on a private web server (never the system one).
#
#   tools/serve.sh start        start in the background; prints the run dir once
#                               the web server AND the WebSocket helper accept
#   tools/serve.sh stop RUN_DIR stop exactly the processes `start` recorded;
#                               returns once they are gone and the ports free
#   tools/serve.sh demo         start, print the URL, Ctrl-C/SIGTERM stops all
#   tools/serve.sh pids RUN_DIR the live pids of a run (what `stop` would stop)
#
# Environment:
#   PORT=8080        web server port on 127.0.0.1
#   WS_PORT          helper port (default PORT+1, or a free one)
#   SERVER=apache    apache | lighttpd
#   MODE=fcgid       fcgid | proxy-fcgi | cgi            (apache only)
#   MPM=event        event | prefork                     (apache only)
#   TLS=0            1: HTTPS + HTTP/2 (ALPN h2, HTTP/1.1 beside it) on PORT,
#                    with a self-signed certificate made in RUN_DIR/conf/tls/
#   RUN_DIR          run directory (default: a new /tmp/rtlab-run.XXXXXX)
#   EXTRA_CONF       a file appended to the generated server config (lab variants)
#   APACHE_DEFINES   names passed to Apache as -D NAME (e.g. RTLAB_WS_UPGRADE)
#   RTLAB_BUILD      the built tree whose binaries are staged (default: repo root)
#   WS=0             do not start the helper
#   WS_WORKERS=N     the helper's --workers (default: its own, one per core)
#   SCENARIOS=0      demo: do not start the scenarios' publishers (tools/scenarios/)
#   STOP_WAIT=10     seconds `stop` waits after SIGTERM before SIGKILL
#   RT_*             passed to every endpoint and to the helper (RT_DB included;
#                    default RT_DB is RUN_DIR/db/rtlab.db)
#
# Everything the server runs or reads is copied into RUN_DIR, which the
# www-data user can reach even when the checkout lives in a private home
# directory.  Layout of RUN_DIR:
#   conf/  generated server config + copies of apache-conf/*
#          (TLS=1: conf/tls/cert.pem, key.pem — the self-signed certificate)
#   cgi-bin/ htdocs/ bin/   staged endpoints, pages, helper
#   db/    the SQLite database (writable by the server's user)
#   logs/  error/access logs, helper.log, spawn-fcgi.log
#   run/   pid files, sockets, mod_fcgid's IPC dir
#   pids   one line per process started: "<pid> <what>"
set -eu
umask 022
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${RTLAB_BUILD:-$ROOT}
PORT=${PORT:-8080}
SERVER=${SERVER:-apache}
MODE=${MODE:-fcgid}
MPM=${MPM:-event}
WS=${WS:-1}
TLS=${TLS:-0}
APACHE_MODULES=/usr/lib/apache2/modules

die() { echo "serve.sh: $*" >&2; exit 1; }

# As root the servers drop to www-data (docs/protocol.md, "Commands": as
# root it runs the children as www-data); as anyone else everything runs as that user.
if [ "$(id -u)" = 0 ]; then RUN_USER=www-data; else RUN_USER=; fi

# ---- helpers ---------------------------------------------------------------

port_accepts() { # port — 0 if something accepts TCP connections on it
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# The pids a run owns: those recorded in RUN_DIR/pids, every process in a
# session one of them leads (Apache and lighttpd call setsid), and every
# descendant (mod_fcgid's process manager and its children, lighttpd's
# FastCGI children).  Read from /proc, never matched by name.
run_pids() { # run_dir
	[ -s "$1/pids" ] || return 0
	# One awk over all of /proc/*/stat: "pid (comm) state ppid pgrp session
	# ... starttime(22nd)"; comm may hold spaces, so fields are counted from
	# the last ") ".  A session keeps its leader's pid as its id after the
	# leader has exited, so orphaned FastCGI children are still found; the
	# start time guards against a recorded pid reused by someone else.
	cat /proc/[0-9]*/stat 2>/dev/null | awk '
	NR == FNR { recorded[$1] = $2; next }
	{
		rest = $0; sub(/^.*\) /, "", rest); split(rest, f, " ")
		pid = $1 + 0; ppid[pid] = f[2]; sid[pid] = f[4]; state[pid] = f[1]
		if ((pid in recorded) && recorded[pid] == f[20]) mine[pid] = 1
	}
	END {
		do {
			changed = 0
			for (p in ppid)
				if (!(p in mine) && ((ppid[p] in mine) || (sid[p] in recorded))) {
					mine[p] = 1; changed = 1
				}
		} while (changed)
		# A zombie has exited already; its parent (or init, slowly) reaps it.
		for (p in mine) if (state[p] != "Z") printf "%s ", p
	}' "$1/pids" -
}

proc_start() { # pid — its start time in clock ticks since boot, or nothing
	local rest fields
	{ read -r rest <"/proc/$1/stat"; } 2>/dev/null || return 0
	rest=${rest##*) }
	read -r -a fields <<<"$rest"
	echo "${fields[19]}"
}

port_listener() { # port — who listens on it ("apache2",pid=123 ...), or nothing
	local who
	if ! command -v ss >/dev/null; then
		port_accepts "$1" && echo "a process"
		return 0
	fi
	ss -Hltn "sport = :$1" 2>/dev/null | grep -q . || return 0
	who=$(ss -Hltnp "sport = :$1" 2>/dev/null | grep -o '"[^"]*",pid=[0-9]*' | sort -u | tr '\n' ' ')
	echo "${who:-a process of another user}"
}

# Stop a run and return only once every process of it is gone and its ports
# are free, so that the next start (a test, a bench run) never meets a
# half-stopped server: SIGTERM, up to STOP_WAIT seconds (10) for a clean
# exit, then SIGKILL of what is left, saying so.
stop_run() { # run_dir
	local dir=$1 pids left i port busy="" ports=""
	[ -f "$dir/pids" ] || return 0
	pids=$(run_pids "$dir")
	[ -n "$pids" ] && kill -TERM $pids 2>/dev/null || true
	for i in $(seq 1 $((${STOP_WAIT:-10} * 10))); do
		left=$(run_pids "$dir")
		[ -z "$left" ] && break
		sleep 0.1
	done
	if [ -n "$left" ]; then
		echo "serve.sh: stop: still running ${STOP_WAIT:-10} s after SIGTERM, sent SIGKILL: $left" >&2
		kill -KILL $left 2>/dev/null || true
		for i in $(seq 1 50); do
			left=$(run_pids "$dir")
			[ -z "$left" ] && break
			sleep 0.1
		done
		[ -z "$left" ] || echo "serve.sh: stop: not gone even after SIGKILL: $left" >&2
	fi
	# A listening socket closes with the last process holding it, so the
	# ports should be free now; wait a little in case one still closes.
	[ -f "$dir/info" ] && ports=$(sed -n 's/^\(WS_\)\{0,1\}PORT=//p' "$dir/info")
	for i in $(seq 1 50); do
		busy=""
		for port in $ports; do [ -n "$(port_listener "$port")" ] && busy="$busy $port"; done
		[ -z "$busy" ] && break
		sleep 0.1
	done
	for port in $busy; do
		echo "serve.sh: stop: port $port is still listening after the run stopped: $(port_listener "$port")" >&2
	done
	: >"$dir/pids"
	[ -z "$left" ] && [ -z "$busy" ]
}

record() { # pid what
	echo "$1 $(proc_start "$1") $2" >>"$RUN_DIR/pids"
}

# Until the port accepts connections from the process we started; if it
# does not, say plainly why (it exited, or it is still not listening, or
# someone else holds the port) with the last lines of its logs.
wait_for() { # port pid what logfile...
	local port=$1 pid=$2 what=$3 i why log; shift 3
	for i in $(seq 1 300); do        # up to 30 s on a loaded machine
		kill -0 "$pid" 2>/dev/null || break
		port_accepts "$port" && return 0
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		why="still not listening after 30 s"
	else
		why="it exited before listening"
		port_accepts "$port" && why="$why; the port is held by $(port_listener "$port")"
	fi
	echo "serve.sh: $what did not start listening on 127.0.0.1:$port: $why" >&2
	for log; do
		[ -s "$log" ] && { echo "--- last lines of $log:"; tail -n 20 "$log"; } >&2
	done
	return 1
}

# Every RT_* variable of our environment, one "NAME=value" per line.
rt_vars() {
	env | grep -E '^RT_[A-Za-z0-9_]*=' || true
}

# The sanitizer settings of our environment (the tests' ASan pass), likewise.
sanitizer_vars() {
	env | grep -E '^(ASAN|UBSAN|LSAN)_OPTIONS=' || true
}

# EXTRA_CONF's text, to append to a generated config (lab variants).
extra_conf() {
	[ -n "${EXTRA_CONF:-}" ] || return 0
	echo "# EXTRA_CONF=$EXTRA_CONF"
	cat "$EXTRA_CONF"
}

apache_quote() { # value — as one double-quoted Apache config argument
	local v=${1//\\/\\\\}
	printf '"%s"' "${v//\"/\\\"}"
}

# ---- staging ---------------------------------------------------------------

stage() {
	mkdir -p "$RUN_DIR"/{conf,cgi-bin,htdocs,bin,db,logs,run}
	chmod 755 "$RUN_DIR"
	local f n=0
	for f in "$BUILD"/cgi-bin/*.fcgi; do
		[ -x "$f" ] || continue
		cp "$f" "$RUN_DIR/cgi-bin/"; n=$((n + 1))
	done
	[ $n -gt 0 ] || echo "serve.sh: warning: no endpoints built in $BUILD/cgi-bin (run make)" >&2
	cp -r "$ROOT"/public_html/. "$RUN_DIR/htdocs/" 2>/dev/null || true
	# The study guides, for the pages' "why" boxes (docs/scenarios.md, ...).
	mkdir -p "$RUN_DIR/htdocs/docs" && cp "$ROOT"/docs/*.md "$RUN_DIR/htdocs/docs/"
	cp "$ROOT"/apache-conf/*.conf "$RUN_DIR/conf/"
	cp -r "$ROOT"/apache-conf/lighttpd-errors "$RUN_DIR/conf/"
	if [ -x "$BUILD/ws/rtlab-wsd" ] && [ "$WS" = 1 ]; then
		cp "$BUILD/ws/rtlab-wsd" "$RUN_DIR/bin/"
	fi
	# The database: created from sql/schema.sql; its directory must be
	# writable by the server's user, since SQLite creates the -wal and -shm
	# files beside it.
	if [ ! -f "$DB_FILE" ]; then
		sqlite3 "$DB_FILE" <"$ROOT/sql/schema.sql" >/dev/null
	fi
	if [ -n "$RUN_USER" ]; then
		chown -R "$RUN_USER:$RUN_USER" "$RUN_DIR/db" "$RUN_DIR/logs" "$RUN_DIR/run"
	fi
	: >"$RUN_DIR/pids"
}

# ---- TLS ---------------------------------------------------------------------

# TLS=1: a self-signed certificate for 127.0.0.1 and localhost, made fresh
# for each run (valid 30 days).  Browsers check the subjectAltName, not the
# CN, so both names are in it; a P-256 key keeps the handshake cheap.
#   https://docs.openssl.org/3.0/man1/openssl-req/
tls_cert() {
	local dir=$RUN_DIR/conf/tls
	[ "$TLS" = 1 ] || return 0
	command -v openssl >/dev/null || die "TLS=1 needs openssl (apt-get install openssl)"
	mkdir -p "$dir"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-days 30 -subj "/CN=127.0.0.1" \
		-addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
		-addext "basicConstraints=critical,CA:FALSE" \
		-addext "extendedKeyUsage=serverAuth" \
		-keyout "$dir/key.pem" -out "$dir/cert.pem" 2>"$RUN_DIR/logs/openssl.log" ||
		die "openssl could not make the certificate (see $RUN_DIR/logs/openssl.log)"
	chmod 600 "$dir/key.pem"
}

# ---- Apache ----------------------------------------------------------------

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
	local modules="" sse_define="" user_group="" pass_env="" tls_conf=""
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
	# RT_DB and RT_SSE_MAX_AGE reach the endpoints through rtlab-MODE.conf.
	while IFS='=' read -r name value; do
		case $name in RT_DB|RT_SSE_MAX_AGE) continue ;; esac
		pass_env+="PassEnv $name"$'\n'
		[ "$MODE" = fcgid ] && pass_env+="FcgidInitialEnv $name $(apache_quote "$value")"$'\n'
	done < <(rt_vars; sanitizer_vars)
	RUN_DIR=$RUN_DIR PORT=$PORT MPM=$MPM APACHE_MODULES=$APACHE_MODULES \
	MODULES=${modules%$'\n'} SSE_MAX_AGE_DEFINE=$sse_define USER_GROUP=$user_group \
	PASS_ENV=${pass_env%$'\n'} TLS_CONF=$tls_conf EXTRA_CONF=$(extra_conf) \
		"$ROOT/tools/fill-template.sh" "$ROOT/apache-conf/httpd.conf.in" >"$RUN_DIR/conf/httpd.conf"
	# The helper's Include goes when there is no helper (WS=0).
	CGI_BIN=$RUN_DIR/cgi-bin DB=$(apache_quote "$RT_DB") WS_PORT=$WS_PORT \
	FCGI_SOCKETS=$RUN_DIR/run CONF_DIR=conf MODE=$MODE \
		"$ROOT/tools/fill-template.sh" "$ROOT/apache-conf/rtlab.conf.in" |
		if [ "$WS" = 1 ]; then cat; else sed '/rtlab-ws\.conf/d'; fi >"$RUN_DIR/conf/rtlab.conf"
}

# mod_proxy_fcgi talks to FastCGI processes somebody else started: here
# spawn-fcgi, one pool per endpoint on a unix socket in RUN_DIR/run.  The
# held endpoints get 40 processes (each held client occupies one).
spawn_pools() {
	local f name n
	for f in "$RUN_DIR"/cgi-bin/*.fcgi; do
		[ -e "$f" ] || continue
		name=$(basename "$f" .fcgi)
		case $name in longpoll|sse) n=${RTLAB_HELD_PROCS:-40} ;; *) n=${RTLAB_PROCS:-4} ;; esac
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

# ---- lighttpd --------------------------------------------------------------

lighttpd_quote() { # value — as a lighttpd string
	local v=${1//\\/\\\\}
	printf '"%s"' "${v//\"/\\\"}"
}

lighttpd_conf() { # — RUN_DIR/conf/lighttpd.conf from apache-conf/lighttpd.conf.in
	local name value env="" user_group="" ws_port=$WS_PORT tls_conf=""
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
	RUN_DIR=$RUN_DIR PORT=$PORT DB=$(lighttpd_quote "$RT_DB") WS_PORT=$ws_port \
	SSE_MAX_AGE=$(lighttpd_quote "${RT_SSE_MAX_AGE:-300}") ENV=${env%$'\n'} \
	USER_GROUP=$user_group TLS_CONF=$tls_conf EXTRA_CONF=$(extra_conf) \
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

# ---- the WebSocket helper ----------------------------------------------------

start_helper() {
	[ -x "$RUN_DIR/bin/rtlab-wsd" ] || return 0
	env RT_DB="$RT_DB" setsid "$0" _helper </dev/null >>"$RUN_DIR/logs/helper.log" 2>&1 &
	record $! rtlab-wsd
	wait_for "$WS_PORT" $! rtlab-wsd "$RUN_DIR/logs/helper.log"
}

stop_helper() { # run_dir
	local dir=$1 pid start what i keep
	keep=$(mktemp)
	while read -r pid start what; do
		if [ "$what" = rtlab-wsd ]; then
			[ "$(proc_start "$pid")" = "$start" ] || continue
			kill -TERM "$pid" 2>/dev/null || true
			for i in $(seq 1 50); do
				[ "$(proc_start "$pid")" = "$start" ] || break
				sleep 0.1
			done
			[ "$(proc_start "$pid")" = "$start" ] && kill -KILL "$pid" 2>/dev/null
		else
			echo "$pid $start $what" >>"$keep"
		fi
	done <"$dir/pids"
	cat "$keep" >"$dir/pids"
	rm -f "$keep"
}

# ---- commands ----------------------------------------------------------------

setup_env() {
	RUN_DIR=${RUN_DIR:-$(mktemp -d /tmp/rtlab-run.XXXXXX)}
	mkdir -p "$RUN_DIR"
	RUN_DIR=$(cd "$RUN_DIR" && pwd)
	DB_FILE=$RUN_DIR/db/rtlab.db
	export RT_DB=${RT_DB:-$DB_FILE}
	if [ -z "${WS_PORT:-}" ]; then
		WS_PORT=$((PORT + 1))
		while port_accepts "$WS_PORT"; do WS_PORT=$((WS_PORT + 1)); done
	fi
	export RUN_DIR WS_PORT
	port_accepts "$PORT" && die "port $PORT is already in use"
	if [ "$WS" = 1 ] && [ -x "$BUILD/ws/rtlab-wsd" ] && port_accepts "$WS_PORT"; then
		die "port $WS_PORT is already in use"
	fi
}

cmd_start() {
	setup_env
	stage
	tls_cert
	{
		printf 'PORT=%s\nWS_PORT=%s\nSERVER=%s\nMODE=%s\nMPM=%s\nRT_DB=%s\nTLS=%s\n' \
			"$PORT" "$WS_PORT" "$SERVER" "$MODE" "$MPM" "$RT_DB" "$TLS"
	} >"$RUN_DIR/info"
	# What start-helper needs to start the helper again the same way.
	{
		declare -p RUN_DIR WS_PORT WS
		[ -n "${WS_WORKERS:-}" ] && declare -p WS_WORKERS
		for name in $(compgen -e | grep '^RT_'); do declare -p "$name"; done
	} | sed 's/^declare -x /declare -gx /; s/^declare -- /declare -g /' >"$RUN_DIR/env"
	trap 'stop_run "$RUN_DIR"' ERR
	case $SERVER in
	apache)   start_apache ;;
	lighttpd) start_lighttpd ;;
	*) die "SERVER must be apache or lighttpd" ;;
	esac || { stop_run "$RUN_DIR"; exit 1; }
	start_helper || { stop_run "$RUN_DIR"; exit 1; }
	trap - ERR
	echo "$RUN_DIR"
}

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

case ${1:-} in
start)
	cmd_start
	;;
stop)
	[ -n "${2:-}" ] || die "usage: serve.sh stop RUN_DIR"
	stop_run "$2"
	;;
pids)          # serve.sh pids RUN_DIR: the live pids of the run, space-separated
	[ -n "${2:-}" ] || die "usage: serve.sh pids RUN_DIR"
	run_pids "$2"; echo
	;;
stop-helper)   # serve.sh stop-helper RUN_DIR: the helper alone (tests restart it)
	[ -n "${2:-}" ] || die "usage: serve.sh stop-helper RUN_DIR"
	stop_helper "$2"
	;;
start-helper)  # serve.sh start-helper RUN_DIR: start it again, same port and env
	[ -n "${2:-}" ] || die "usage: serve.sh start-helper RUN_DIR"
	RUN_DIR=$(cd "$2" && pwd)
	. "$RUN_DIR/env"
	start_helper
	;;
demo)
	# Ctrl-C (SIGINT to the terminal's process group) or SIGTERM: stop
	# everything this run started, even halfway through starting it.
	trap 'echo; echo "rtlab: stopping"; [ -n "${RUN_DIR:-}" ] && stop_run "$RUN_DIR"; exit 0' INT TERM
	cmd_start >/dev/null
	if [ "$SERVER" = apache ]; then what="Apache, $MODE, mpm_$MPM"; else what=lighttpd; fi
	echo "rtlab: $what; run dir $RUN_DIR (logs in logs/)"
	if [ "$TLS" = 1 ]; then scheme=https; ws_scheme=wss; else scheme=http; ws_scheme=ws; fi
	[ -x "$RUN_DIR/bin/rtlab-wsd" ] &&
		echo "rtlab: WebSocket helper on 127.0.0.1:$WS_PORT, proxied at $ws_scheme://127.0.0.1:$PORT/ws"
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
	;;
_helper)
	# Runs in its own session (setsid) as the run user; exec keeps the pid.
	exec_args=(--listen "127.0.0.1:$WS_PORT" --db "$RT_DB")
	[ -n "${WS_WORKERS:-}" ] && exec_args+=(--workers "$WS_WORKERS")
	if [ -n "$RUN_USER" ]; then
		exec setpriv --reuid="$RUN_USER" --regid="$RUN_USER" --init-groups -- \
			"$RUN_DIR/bin/rtlab-wsd" "${exec_args[@]}"
	fi
	exec "$RUN_DIR/bin/rtlab-wsd" "${exec_args[@]}"
	;;
*)
	sed -n '2,/^set -eu$/{/^#/p}' "$0" | sed 's/^# \{0,1\}//'
	exit 2
	;;
esac
