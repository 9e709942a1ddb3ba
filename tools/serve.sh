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
# With CLUSTER=N (docs/scaling.md), `start` and `demo` start one private
# redis-server, N web hosts (each a run of its own in RUN_DIR/nodeK, with
# RT_STORE=redis://... and RT_NODE=nodeK) and HAProxy in front on PORT;
# `stop RUN_DIR` stops all of it.  `redis-stop`/`redis-start RUN_DIR` stop
# and start the cluster's Redis alone (the tests restart it).
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
#                    default RT_DB is RUN_DIR/db/rtlab.db; RT_STORE=redis://...
#                    for a Redis store; RT_NODE names the host in X-Rtlab-Node)
#   REDIS=1          one host, its store a private Redis in RUN_DIR (RT_STORE
#                    set to it): the single-host Redis the tests can switch to
#   CLUSTER=N        N web hosts on one Redis behind HAProxy on PORT
#   STICKY=1         cluster: HAProxy pins a client to its first host (cookie)
#   REDIS_PORT       cluster: Redis's port (default: a free one above PORT)
#   RT_FCGI_THREADS  N > 1: longpoll and sse serve N requests at once per
#                    process (lib/http_held.h); only under MODE=proxy-fcgi and
#                    SERVER=lighttpd (mod_fcgid and CGI are not given it).  The
#                    held pools are then 4 processes (RTLAB_HELD_PROCS), and
#                    Apache's MaxRequestWorkers / lighttpd's max-connections
#                    leave room for 1,000 held clients
#   RTLAB_HELD_PROCS processes per held pool (longpoll, sse): 40, or 4 with
#                    RT_FCGI_THREADS; RTLAB_PROCS the other pools (4)
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
# Held requests per FastCGI process (settings.h's rule: a bad value is 1).
case ${RT_FCGI_THREADS:-1} in
''|*[!0-9]*) THREADS=1 ;;
*) THREADS=${RT_FCGI_THREADS:-1} ;;
esac
if [ "$THREADS" -gt 1 ]; then
	HELD_PROCS=${RTLAB_HELD_PROCS:-4}    # 4 processes × RT_FCGI_THREADS
	HELD_CLIENTS=1280                    # Apache workers for held clients
	MAX_CONNECTIONS=2048                 # lighttpd: clients, held or not
else
	HELD_PROCS=${RTLAB_HELD_PROCS:-40}   # one held client per process
	HELD_CLIENTS=256
	MAX_CONNECTIONS=1024
fi

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

# ---- lighttpd --------------------------------------------------------------

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

# ---- the WebSocket helper ----------------------------------------------------

start_helper() {
	[ -x "$RUN_DIR/bin/rtlab-wsd" ] || return 0
	env RT_DB="$RT_DB" setsid "$0" _helper </dev/null >>"$RUN_DIR/logs/helper.log" 2>&1 &
	record $! rtlab-wsd
	wait_for "$WS_PORT" $! rtlab-wsd "$RUN_DIR/logs/helper.log"
}

stop_helper() { # run_dir
	stop_recorded "$1" rtlab-wsd
}

# Stops the recorded processes named `what` (SIGTERM, 5 s, SIGKILL) and
# forgets them; the rest of the run goes on.
stop_recorded() { # run_dir what
	local dir=$1 name=$2 pid start what i keep
	keep=$(mktemp)
	while read -r pid start what; do
		if [ "$what" = "$name" ]; then
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

# ---- a cluster: one Redis, N web hosts, HAProxy in front (CLUSTER=N) ------

# A port may be taken without anyone listening on it: the local end of an
# outgoing connection (ports in the ephemeral range, which a busy machine
# has thousands of) makes a later bind fail just the same.  So no socket in
# any state may use it (ss), not only no listener.
port_unused() { # port
	if command -v ss >/dev/null; then
		[ -z "$(ss -Htan "( sport = :$1 )" 2>/dev/null)" ]
	else
		! port_accepts "$1"
	fi
}

free_port_from() { # port — the first port from there that no socket uses
	local p=$1
	until port_unused "$p"; do p=$((p + 1)); done
	echo "$p"
}

# The cluster's Redis: RUN_DIR/conf/redis.conf from apache-conf/redis.conf.in
# (appendonly yes, appendfsync always: docs/scaling.md), its data in
# RUN_DIR/redis, in the foreground in its own session, recorded like every
# other process.  Started again on the same directory, it reads its AOF back.
start_redis() {
	local conf=$RUN_DIR/conf/redis.conf run_as=()
	if [ ! -f "$conf" ]; then
		PORT=$REDIS_PORT DIR=$RUN_DIR/redis LOGFILE=$RUN_DIR/logs/redis.log \
			"$ROOT/tools/fill-template.sh" "$ROOT/apache-conf/redis.conf.in" >"$conf"
	fi
	if [ -n "$RUN_USER" ]; then
		chown -R "$RUN_USER:$RUN_USER" "$RUN_DIR/redis" "$RUN_DIR/logs"
		run_as=(setpriv --reuid="$RUN_USER" --regid="$RUN_USER" --init-groups --)
	fi
	setsid "${run_as[@]}" redis-server "$conf" </dev/null >>"$RUN_DIR/logs/redis.stderr" 2>&1 &
	record $! redis-server
	wait_for "$REDIS_PORT" $! redis-server "$RUN_DIR/logs/redis.log" "$RUN_DIR/logs/redis.stderr"
}

# HAProxy: RUN_DIR/conf/haproxy.cfg from apache-conf/haproxy.cfg.in, with one
# server line per host (and the cookie lines when STICKY=1).
start_haproxy() { # web-server-lines ws-server-lines
	local conf=$RUN_DIR/conf/haproxy.cfg sticky=""
	[ "${STICKY:-0}" = 1 ] &&
		sticky="    cookie RTLAB_NODE insert indirect nocache httponly"
	PORT=$PORT WEB_SERVERS=$1 WS_SERVERS=$2 STICKY_WEB=$sticky STICKY_WS=$sticky \
		"$ROOT/tools/fill-template.sh" "$ROOT/apache-conf/haproxy.cfg.in" >"$conf"
	haproxy -c -q -f "$conf" >"$RUN_DIR/logs/configtest.log" 2>&1 || {
		cat "$RUN_DIR/logs/configtest.log" >&2; return 1
	}
	setsid haproxy -db -f "$conf" </dev/null >>"$RUN_DIR/logs/haproxy.log" 2>&1 &
	record $! haproxy
	wait_for "$PORT" $! haproxy "$RUN_DIR/logs/haproxy.log"
}

cluster_nodes() { # run_dir — "name dir port ws_port" per host
	[ -f "$1/info" ] || return 0
	sed -n 's/^NODE //p' "$1/info"
}

stop_cluster() { # run_dir — every host, then Redis and HAProxy
	local dir=$1 name node_dir port ws_port ok=0
	while read -r name node_dir port ws_port; do
		stop_run "$node_dir" || ok=1
	done < <(cluster_nodes "$dir")
	stop_run "$dir" || ok=1
	return $ok
}

cluster_start() {
	local n=$CLUSTER k node_port ws_port servers="" ws_servers="" used cookie="" store
	case $n in ''|*[!0-9]*) die "CLUSTER must be a number of hosts (1-9)" ;; esac
	[ "$n" -ge 1 ] && [ "$n" -le 9 ] || die "CLUSTER must be 1-9"
	command -v redis-server >/dev/null && command -v haproxy >/dev/null ||
		die "CLUSTER needs redis-server and haproxy (tools/deps.sh cluster installs them)"
	# HAProxy here speaks plain HTTP to the hosts and to its clients.
	[ "$TLS" = 1 ] && die "CLUSTER with TLS=1 is not built (HAProxy would have to terminate TLS)"
	RUN_DIR=${RUN_DIR:-$(mktemp -d /tmp/rtlab-cluster.XXXXXX)}
	mkdir -p "$RUN_DIR"/{conf,logs,run,redis}
	chmod 755 "$RUN_DIR"
	RUN_DIR=$(cd "$RUN_DIR" && pwd)
	port_accepts "$PORT" && die "port $PORT is already in use"
	REDIS_PORT=${REDIS_PORT:-$(free_port_from $((PORT + 100)))}
	store="redis://127.0.0.1:$REDIS_PORT/0"
	: >"$RUN_DIR/pids"
	printf 'CLUSTER=%s\nPORT=%s\nREDIS_PORT=%s\nRT_STORE=%s\n' "$n" "$PORT" "$REDIS_PORT" "$store" >"$RUN_DIR/info"
	declare -p RUN_DIR REDIS_PORT | sed 's/^declare -- /declare -g /' >"$RUN_DIR/env"
	start_redis || { stop_cluster "$RUN_DIR"; exit 1; }
	used=" $PORT $REDIS_PORT "
	for k in $(seq 1 "$n"); do
		node_port=$(free_port_from $((PORT + 10 * k)))
		ws_port=$(free_port_from $((node_port + 1)))
		case $used in *" $node_port "*|*" $ws_port "*) die "port clash ($node_port)" ;; esac
		used+="$node_port $ws_port "
		# Each host is an ordinary run of this script, in RUN_DIR/nodeK:
		# its own server, endpoints and helper, on the shared store.
		env RUN_DIR="$RUN_DIR/node$k" PORT="$node_port" WS_PORT="$ws_port" \
			RT_STORE="$store" RT_NODE="node$k" CLUSTER=0 "$0" start >/dev/null || {
			stop_cluster "$RUN_DIR"; exit 1
		}
		echo "NODE node$k $RUN_DIR/node$k $node_port $ws_port" >>"$RUN_DIR/info"
		[ "${STICKY:-0}" = 1 ] && cookie=" cookie node$k"
		servers+="    server node$k 127.0.0.1:$node_port check$cookie"$'\n'
		ws_servers+="    server node$k 127.0.0.1:$ws_port check$cookie"$'\n'
	done
	start_haproxy "${servers%$'\n'}" "${ws_servers%$'\n'}" || { stop_cluster "$RUN_DIR"; exit 1; }
	echo "$RUN_DIR"
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
	if [ "${REDIS:-0}" = 1 ]; then
		# The store is a private Redis, recorded and stopped with the run.
		mkdir -p "$RUN_DIR/redis"
		REDIS_PORT=${REDIS_PORT:-$(free_port_from $((PORT + 100)))}
		declare -p REDIS_PORT | sed 's/^declare -- /declare -g /' >"$RUN_DIR/redis.env"
		start_redis || { stop_run "$RUN_DIR"; exit 1; }
		export RT_STORE="redis://127.0.0.1:$REDIS_PORT/0"
	fi
	tls_cert
	{
		printf 'PORT=%s\nWS_PORT=%s\nSERVER=%s\nMODE=%s\nMPM=%s\nRT_DB=%s\nTLS=%s\n' \
			"$PORT" "$WS_PORT" "$SERVER" "$MODE" "$MPM" "$RT_DB" "$TLS"
		[ -n "${RT_STORE:-}" ] && printf 'RT_STORE=%s\n' "$RT_STORE"
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
	if [ "${CLUSTER:-0}" != 0 ]; then cluster_start; else cmd_start; fi
	;;
stop)
	[ -n "${2:-}" ] || die "usage: serve.sh stop RUN_DIR"
	if grep -q '^CLUSTER=' "$2/info" 2>/dev/null; then stop_cluster "$2"; else stop_run "$2"; fi
	;;
redis-stop)    # serve.sh redis-stop RUN_DIR: the cluster's Redis alone
	[ -n "${2:-}" ] || die "usage: serve.sh redis-stop RUN_DIR"
	stop_recorded "$2" redis-server
	;;
redis-start)   # serve.sh redis-start RUN_DIR: again, same port and data
	[ -n "${2:-}" ] || die "usage: serve.sh redis-start RUN_DIR"
	RUN_DIR=$(cd "$2" && pwd)
	. "$RUN_DIR/env"
	[ -f "$RUN_DIR/redis.env" ] && . "$RUN_DIR/redis.env"
	start_redis
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
	;;
_helper)
	# Runs in its own session (setsid) as the run user; exec keeps the pid.
	# RT_STORE (redis://...) wins over RT_DB, as in every endpoint (lib/store.c).
	exec_args=(--listen "127.0.0.1:$WS_PORT" --db "${RT_STORE:-$RT_DB}")
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
