# pids.sh — sourced by tools/serve.sh: a run's processes and ports.  Every
# process a run starts is recorded in RUN_DIR/pids with its start time
# (record); run_pids finds them and their sessions and children in /proc,
# never by name; stop_run stops them all and waits until the ports are
# free, stop_recorded one kind alone; wait_for waits until a port accepts;
# port_unused and free_port_from find ports no socket uses.
# Uses serve.sh's RUN_DIR and STOP_WAIT.
# shellcheck shell=bash

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
