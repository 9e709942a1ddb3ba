# stack.sh — sourced by tools/bench.sh: the private servers every run gets.
# stack_start starts a fresh stack (tools/serve.sh start) on free ports below
# the ephemeral range, stack_stop stops it and waits until it is gone
# (stack_gone); the EXIT/INT/TERM traps stop whatever is still running.
# Reading it writes OUT/bench-limits.conf: Apache and mod_fcgid limits sized
# for the most held clients the chosen parts ask for.
# Uses bench.sh's say, OUT and the options; peer.sh's peer_stop.
# shellcheck shell=bash

RUN=
PORT=
WS_PORT=
STACK_ERR=
RUN_ENV=                # extra environment for the next stack (VAR=value ...)
stack_stop() {
	[ -n "$RUN" ] || return 0
	local recorded left
	# serve.sh stop empties RUN/pids: read what it recorded first.
	recorded=$(awk '{ print $1 ":" $2 }' "$RUN/pids" 2>/dev/null)
	tools/serve.sh stop "$RUN" >/dev/null 2>&1
	left=$(stack_gone "$recorded" "$PORT" "$WS_PORT") ||
		say "bench: warning: the stack of $RUN was not gone after 30 s ($left); going on with new ports"
	rm -rf "$RUN"
	RUN=
}
trap 'stack_stop; peer_stop' EXIT
trap 'stack_stop; peer_stop; exit 130' INT TERM

proc_start() { # pid — its start time (field 22 of /proc/PID/stat), or nothing
	local rest
	{ read -r rest <"/proc/$1/stat"; } 2>/dev/null || return 0
	rest=${rest##*) }
	set -- $rest
	echo "${20}"
}

# Waits (30 s at most) until a stopped stack is really gone: every recorded
# process (pid:start, so a reused pid is not mistaken for ours), every live
# process in a session one of them led (Apache's and mod_fcgid's children),
# and every listener on its ports.  A next run started earlier could find
# its port still bound, or share the CPU with a dying stack.  Prints what is
# left when it gives up.
stack_gone() { # "pid:start ..." port...
	local recorded=$1 i ps pid alive listen filter= p
	shift
	for p in "$@"; do [ -n "$p" ] && filter="$filter${filter:+ or }sport = :$p"; done
	for i in $(seq 1 300); do
		alive=
		for ps in $recorded; do
			pid=${ps%%:*}
			[ "$(proc_start "$pid")" = "${ps#*:}" ] && alive="$alive $pid"
			ps -o stat=,pid= --sid "$pid" 2>/dev/null | grep -qv '^Z' &&
				alive="$alive session:$pid"
		done
		listen=
		[ -n "$filter" ] && listen=$(ss -Hltn "( $filter )" 2>/dev/null)
		[ -z "$alive$listen" ] && return 0
		sleep 0.1
	done
	echo "processes:${alive:- none}${listen:+; a port still listening}"
	return 1
}

# Ports for a stack: below the kernel's ephemeral range, so that no
# outgoing connection of loadgen (nor one of its thousands of TIME_WAIT
# sockets, which a listener's bind collides with) can hold one; and no
# socket in any state on the port or the next one (the helper's).
read -r EPH_LO EPH_HI </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || { EPH_LO=32768; EPH_HI=60999; }
free_port() {
	local lo=20000 hi=$((EPH_LO - 2)) p i
	[ "$hi" -gt $((lo + 1000)) ] || { lo=$((EPH_HI + 1)); hi=65500; }
	for i in $(seq 1 50); do
		p=$((lo + (RANDOM * 32768 + RANDOM) % (hi - lo)))
		[ -z "$(ss -Htan "( sport = :$p or sport = :$((p + 1)) )" 2>/dev/null)" ] &&
			{ echo "$p"; return 0; }
	done
	return 1
}

# Room for the held clients of this benchmark: mod_fcgid needs one process
# per long-poll or SSE client, Apache one worker per held request.  The
# shipped configuration (apache-conf/rtlab-fcgid.conf) allows 48 per
# endpoint; the connection-scale part shows what that does.
LIMITS=$OUT/bench-limits.conf
held=$CLIENTS
[ "$HELD_MAX" -gt "$held" ] && held=$HELD_MAX
if [ "$DO_MODELS" = 1 ]; then
	for n in $MODELS; do [ "$n" -gt "$held" ] && held=$n; done
fi
[ "$DO_PEER" = 1 ] && [ "$PEER_THREADS" -gt "$held" ] && held=$PEER_THREADS
. "$ROOT/tools/bench/limits.sh"
limits_conf "$held" >"$LIMITS"

stack_start() { # server mode limits(0|1) — sets RUN, PORT, WS_PORT (or STACK_ERR)
	local extra= attempt err
	[ "$3" = 1 ] && [ "$1" = apache ] && extra=$LIMITS
	STACK_ERR=
	# Someone else may take the "free" port before the server binds it, or
	# a server may be slow to start on a loaded machine: three tries, each
	# on new ports.
	for attempt in 1 2 3; do
		PORT=$(free_port) || { STACK_ERR="no free port"; continue; }
		err=$(mktemp)
		RUN=$(env $RUN_ENV TLS=$TLS_RUN PORT=$PORT SERVER=$1 MODE=$2 EXTRA_CONF=$extra \
			tools/serve.sh start 2>"$err")
		{ echo "== $(date -u +%T) $1 $2 port $PORT, attempt $attempt"; cat "$err"; } >>"$OUT/serve.log"
		if [ -n "$RUN" ]; then
			rm -f "$err"
			WS_PORT=$(sed -n 's/^WS_PORT=//p' "$RUN/info")
			return 0
		fi
		STACK_ERR=$(grep -v '^\s*$' "$err" | tail -n 3 | tr '\n' ' ')
		rm -f "$err"
		[ "$attempt" -lt 3 ] && say "   $1 ($2) did not start on port $PORT (${STACK_ERR:-no message}); again on new ports"
	done
	RUN=
	return 1
}
