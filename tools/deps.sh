#!/bin/sh
# deps.sh — make sure the Debian packages and npm test clients rtlab needs
# are here.  As root it installs what is missing (apt-get update once, then
# install); otherwise it prints the one apt-get line to run and fails.
# `make demo` and `make test` call it first; `make bench` calls
# `tools/deps.sh bench`, which adds what the benchmark compares rtlab with.
set -eu
cd "$(dirname "$0")/.."

# Build: compilers (clang for the fuzzers), libfcgi, SQLite, OpenSSL's libcrypto,
# hiredis (the Redis store's client: a small library, so every build has both
# backends), Check.
# Servers: Apache (+mod_fcgid), lighttpd (+its TLS module), spawn-fcgi for
# mod_proxy_fcgi; openssl makes the TLS=1 certificate.
# Tests: curl, wrk, valgrind, Chromium, Node, Debian's python3-websockets.
PKGS="build-essential clang pkg-config libfcgi-dev libfcgi-bin libsqlite3-dev sqlite3
libssl-dev libhiredis-dev check libsubunit-dev apache2 libapache2-mod-fcgid lighttpd
lighttpd-mod-openssl openssl spawn-fcgi curl wrk valgrind chromium nodejs npm python3-websockets procps
iproute2 ca-certificates"
# The benchmark's peer: nginx + nchan (Debian's build of https://nchan.io/).
BENCH_PKGS="nginx-light libnginx-mod-nchan"
# Past one host (docs/scaling.md): the Redis server and the HAProxy balancer,
# only for what uses them — `make demo CLUSTER=N`, `RT_STORE=redis://...`,
# and `make test`/`make lab`/`make bench` (deps.sh cluster), whose cluster
# parts need them.  A course on one host never installs either.
CLUSTER_PKGS="redis-server haproxy"
for want in "$@"; do
	case $want in
	bench)   PKGS="$PKGS $BENCH_PKGS" ;;
	cluster) PKGS="$PKGS $CLUSTER_PKGS" ;;
	esac
done
if [ "${CLUSTER:-0}" != 0 ] || case ${RT_STORE:-} in redis://*) true ;; *) false ;; esac; then
	PKGS="$PKGS $CLUSTER_PKGS"
fi

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
# Node may come from elsewhere than Debian's package; a working node+npm is enough.
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
	missing=$(echo "$missing" | tr ' ' '\n' | grep -vx -e nodejs -e npm | tr '\n' ' ')
fi
missing=$(echo $missing)

if [ -n "$missing" ]; then
	if [ "$(id -u)" = 0 ]; then
		echo "deps: installing $missing"
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends $missing >/dev/null
	else
		echo "deps: missing packages; run:" >&2
		echo "  sudo apt-get install -y $missing" >&2
		exit 1
	fi
fi

# The Debian packages start system services; rtlab never uses them, and a
# system Apache on :80 is none of our business — we leave it as it is.

# npm test clients (ws, eventsource, eventsource-parser, playwright-core),
# pinned by tests/package-lock.json.
if [ ! -d tests/node_modules ] ||
   [ tests/package-lock.json -nt tests/node_modules/.package-lock.json ]; then
	echo "deps: npm ci in tests/"
	(cd tests && npm ci --no-audit --no-fund --loglevel=error)
fi
