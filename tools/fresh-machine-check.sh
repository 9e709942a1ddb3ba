#!/bin/bash
# fresh-machine-check.sh — prove that a newcomer's first command works: on a
# machine without the build packages, a fresh clone's `make demo` installs
# them, builds, and serves.  CI runs it (as root) before `make test`.
#
#   tools/fresh-machine-check.sh        (root only; Debian with apt)
#   FRESH_REV=<commit> tools/fresh-machine-check.sh   check that commit instead
#
# What it does, and checks:
#   1. clones this checkout's HEAD into a temporary directory;
#   2. removes the build packages (BUILD_PKGS below) that can go alone:
#      apt's simulation must remove nothing else, or that one is kept;
#   3. runs `make demo PORT=<a free port>` there, in its own session, until
#      http://127.0.0.1:PORT/ answers (at most FRESH_TIMEOUT s, 900);
#   4. a send and a poll: the message published comes back from the store;
#   5. stops it as Ctrl-C would (SIGINT to the session it started, by pid)
#      and checks that no process of it is left and the port is free.
# Whatever happens, the packages are put back (tools/deps.sh) on the way out.
# Prints one line per step with the seconds it took; exit 0 if all passed.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)

# Needed to build (headers, .pc files, Check) and nothing else: the servers
# and runtime libraries stay, so other work on this machine keeps running.
BUILD_PKGS="libfcgi-dev libsqlite3-dev libssl-dev libhiredis-dev check libsubunit-dev pkg-config"
TIMEOUT=${FRESH_TIMEOUT:-900}

T0=$(date +%s.%N)
TMP="" MAKE_PID="" RUN_DIR="" removed="" failed=0

step() { # message — one line, with the seconds since the start
	awk -v t0="$T0" -v t1="$(date +%s.%N)" -v msg="$*" \
		'BEGIN { printf "fresh-machine: [%6.1fs] %s\n", t1 - t0, msg }'
}
fail() { step "FAILED: $*"; failed=1; }

port_free() { # port — 0 if nothing listens on it
	! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

alive() { # "pid:starttime ..." — prints "pid(name)" of those still running
	local p pid start now name
	for p in $1; do
		pid=${p%%:*} start=${p#*:}
		# state and start time; a zombie (Z) has exited and only awaits its
		# parent's wait(), so it counts as gone.
		read -r now name < <(awk '{ c = $0; sub(/^[^(]*\(/, "", c); sub(/\) .*$/, "", c)
			sub(/^.*\) /, ""); if ($1 != "Z") print $20, c }' "/proc/$pid/stat" 2>/dev/null)
		[ "$now" = "$start" ] && printf '%s(%s) ' "$pid" "$name"
	done
}

with_start() { # pid... — "pid:starttime" for each live one
	local pid start
	for pid in "$@"; do
		start=$(awk '{ sub(/^.*\) /, ""); print $20 }' "/proc/$pid/stat" 2>/dev/null) &&
			[ -n "$start" ] && printf '%s:%s ' "$pid" "$start"
	done
}

cleanup() {
	# Anything of ours still running (a failed step): the demo's session,
	# then the run it recorded — both by pid.
	if [ -n "$MAKE_PID" ] && kill -0 "$MAKE_PID" 2>/dev/null; then
		kill -TERM -- "-$MAKE_PID" 2>/dev/null
		sleep 2
	fi
	[ -n "$RUN_DIR" ] && [ -d "$RUN_DIR" ] && "$ROOT/tools/serve.sh" stop "$RUN_DIR" >/dev/null 2>&1
	if [ -n "$removed" ]; then
		# Put back what we removed, whatever happened above (a no-op when
		# make demo's deps step did it; apt's lists fetched only if needed).
		export DEBIAN_FRONTEND=noninteractive
		apt-get install -y -qq --no-install-recommends $removed >/dev/null 2>&1 ||
			{ apt-get update -qq && apt-get install -y -qq --no-install-recommends $removed >/dev/null; } ||
			echo "fresh-machine: could not reinstall: $removed" >&2
	fi
	[ -n "$TMP" ] && rm -rf "$TMP"
	[ -n "$RUN_DIR" ] && rm -rf "$RUN_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || { echo "fresh-machine: run as root (it removes and reinstalls packages)" >&2; exit 2; }
command -v apt-get >/dev/null || { echo "fresh-machine: needs Debian's apt-get" >&2; exit 2; }

# 1. A fresh clone of what is committed here.
TMP=$(mktemp -d /tmp/rtlab-fresh.XXXXXX)
git clone -q "$ROOT" "$TMP/rtlab" || { fail "git clone"; exit 1; }
if [ -n "${FRESH_REV:-}" ]; then
	git -C "$TMP/rtlab" checkout -q "$FRESH_REV" || { fail "no commit $FRESH_REV"; exit 1; }
fi
step "cloned $(git -C "$TMP/rtlab" rev-parse --short HEAD) into $TMP/rtlab"

# 2. Remove the build packages that can go without taking anything else.
installed="" keep=""
for p in $BUILD_PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || continue
	others=$(apt-get -s remove "$p" 2>/dev/null | awk '/^Remv/ { print $2 }' |
		grep -vxF -f <(echo "$BUILD_PKGS" | tr ' ' '\n'))
	if [ -n "$others" ]; then keep="$keep $p"; else installed="$installed $p"; fi
done
installed=$(echo $installed)
[ -n "$keep" ] && step "kept$keep (removing it would remove other packages)"
if [ -n "$installed" ]; then
	removed=$installed
	DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq $installed >/dev/null 2>&1 ||
		{ fail "apt-get remove $installed"; exit 1; }
fi
step "removed: ${installed:-nothing (none was installed)}"
if pkg-config --exists fcgi sqlite3 2>/dev/null; then
	fail "pkg-config still finds fcgi and sqlite3: not a fresh machine"; exit 1
fi

# 3. make demo, the first command of the README, on a free port.
PORT=$((20000 + RANDOM % 30000))
while ! port_free "$PORT" || ! port_free $((PORT + 1)); do PORT=$((20000 + RANDOM % 30000)); done
LOG=$TMP/make-demo.log
( cd "$TMP/rtlab" && exec setsid make demo PORT="$PORT" ) >"$LOG" 2>&1 </dev/null &
MAKE_PID=$!
step "make demo PORT=$PORT started (pid $MAKE_PID, log $LOG)"
deadline=$(( $(date +%s) + TIMEOUT ))
# Up means: make demo printed its URL (it does once the web server and the
# helper accept) and the page answers.
until grep -q "^rtlab: http://127.0.0.1:$PORT/" "$LOG" &&
      curl -fsS -o /dev/null "http://127.0.0.1:$PORT/" 2>/dev/null; do
	if ! kill -0 "$MAKE_PID" 2>/dev/null; then
		fail "make demo exited before the page answered; its last lines:"; tail -n 30 "$LOG"; exit 1
	fi
	if [ "$(date +%s)" -ge "$deadline" ]; then
		fail "no answer on http://127.0.0.1:$PORT/ after $TIMEOUT s; last lines:"; tail -n 30 "$LOG"; exit 1
	fi
	sleep 1
done
RUN_DIR=$(sed -n 's/.*run dir \(.*\) (logs in logs\/)$/\1/p' "$LOG" | tail -n 1)
[ -n "$RUN_DIR" ] || { fail "make demo did not say its run directory"; exit 1; }
step "http://127.0.0.1:$PORT/ answers (run dir $RUN_DIR)"
sed -n 's/^\(deps: .*\)/  \1/p; s/^\(rtlab: .*\)/  \1/p' "$LOG"
grep -q '^make\[1\]: Entering' "$LOG" && echo "  (built by make all: $(grep -c '^cc ' "$LOG") compiler runs)"
grep -q "undefined reference" "$LOG" && fail "the log shows link errors"

# 4. A send and a poll: the text comes back from the store.
text="fresh-$$-$RANDOM"
sent=$(curl -fsS -d "user=fresh&text=$text" "http://127.0.0.1:$PORT/cgi-bin/send.fcgi") ||
	fail "send.fcgi did not answer 2xx"
polled=$(curl -fsS "http://127.0.0.1:$PORT/cgi-bin/poll.fcgi?since=0") ||
	fail "poll.fcgi did not answer 2xx"
case $polled in
*"\"text\":\"$text\""*) step "send + poll round trip: $sent" ;;
*) fail "poll does not return the message sent; it said: $polled" ;;
esac

# 5. Stop it as Ctrl-C does, then check nothing is left.
procs=$(with_start $(ps -o pid= -s "$MAKE_PID") $("$ROOT/tools/serve.sh" pids "$RUN_DIR" 2>/dev/null))
kill -INT -- "-$MAKE_PID" 2>/dev/null
for i in $(seq 1 300); do
	kill -0 "$MAKE_PID" 2>/dev/null || break
	sleep 0.1
done
wait "$MAKE_PID" 2>/dev/null
if kill -0 "$MAKE_PID" 2>/dev/null; then
	fail "make demo still running 30 s after SIGINT"
else
	MAKE_PID=""
	step "stopped by SIGINT to its session ($(echo $procs | wc -w) processes were running)"
fi
for i in $(seq 1 50); do     # a process may take a moment to finish exiting
	left=$(alive "$procs")
	[ -z "$left" ] && break
	sleep 0.1
done
[ -z "$left" ] || fail "processes left 5 s after the stop: $left"
port_free "$PORT" || fail "port $PORT still answers after the stop"
if [ -z "$left" ] && port_free "$PORT"; then step "no process left, port $PORT free"; fi

if [ $failed = 0 ]; then step "PASSED"; else step "FAILED"; fi
exit $failed
