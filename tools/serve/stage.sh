# stage.sh — sourced by tools/serve.sh: the run directory.  stage copies
# what the server runs and reads into RUN_DIR and creates the database;
# tls_cert makes the TLS=1 certificate; rt_vars, sanitizer_vars and
# extra_conf are what every generated config takes from the environment.
# Uses serve.sh's ROOT, BUILD, RUN_DIR, DB_FILE, RUN_USER, WS, TLS, die.
# shellcheck shell=bash

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
