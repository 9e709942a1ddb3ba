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

# The pieces, in tools/serve/ (each file says what it holds), found from
# this script's own directory, not the caller's:
. "$ROOT/tools/serve/pids.sh"      # a run's processes and ports: record, wait, stop by pid
. "$ROOT/tools/serve/stage.sh"     # the run directory, the TLS certificate
. "$ROOT/tools/serve/apache.sh"    # a private Apache (and spawn-fcgi pools)
. "$ROOT/tools/serve/lighttpd.sh"  # a private lighttpd
. "$ROOT/tools/serve/helper.sh"    # the WebSocket helper
. "$ROOT/tools/serve/cluster.sh"   # Redis, N hosts, HAProxy (CLUSTER=N)
. "$ROOT/tools/serve/demo.sh"      # serve.sh demo and the scenarios' publishers

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
	cmd_demo
	;;
_helper)
	exec_helper
	;;
*)
	sed -n '2,/^set -eu$/{/^#/p}' "$0" | sed 's/^# \{0,1\}//'
	exit 2
	;;
esac
