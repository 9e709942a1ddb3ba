# cluster.sh — sourced by tools/serve.sh: a cluster (CLUSTER=N,
# docs/scaling.md): one private Redis (start_redis, also REDIS=1's store),
# N web hosts, each an ordinary run of serve.sh in RUN_DIR/nodeK
# (cluster_start), HAProxy in front on PORT (start_haproxy); stop_cluster
# stops every host, then Redis and HAProxy.
# Uses serve.sh's settings, stop_run and pids.sh.
# shellcheck shell=bash

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
