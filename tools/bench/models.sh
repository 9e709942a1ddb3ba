# models.sh — sourced by tools/bench.sh: part 4, the three concurrency
# models (a process per client, threads in a few processes, one event
# loop) at MODELS held clients; threads_env, the threaded stack, is also
# the peer part's (peer.sh).
# Uses bench.sh's run, part_begin, say, CSV_AWK, RUN_ENV.
# shellcheck shell=bash

# ---- 4. the three concurrency models -------------------------------------------------

# What holding N clients costs in each way a server can hold them: SSE with
# a process per client (mod_fcgid), SSE with many requests on threads in a
# few FastCGI processes (mod_proxy_fcgi + spawn-fcgi, RT_FCGI_THREADS per
# process: the environment passes through serve.sh to the endpoints), and
# WebSocket in one event loop (the helper).  The same publisher (HTTP POST
# through Apache to send.fcgi) and the same whole server tree in every row.

# The threaded stack for N held clients (here and in the peer part): sets
# RUN_ENV for the next run; the caller empties it after.  MODEL_PROCS
# processes for each held endpoint, RT_FCGI_THREADS requests each, and one
# process for each other endpoint (send.fcgi publishes 5 messages/s), so
# fcgi_procs counts the whole server's FastCGI processes.
threads_env() { # n
	RUN_ENV="RT_FCGI_THREADS=$(( ($1 + MODEL_PROCS - 1) / MODEL_PROCS + 16 )) RTLAB_HELD_PROCS=$MODEL_PROCS RTLAB_PROCS=1"
}
threads_note() {
	if ! grep -qs RT_FCGI_THREADS "$ROOT"/cgi-bin/*.c "$ROOT"/lib/*.c; then
		say "   (these endpoints do not read RT_FCGI_THREADS yet: the threads rows hold"
		say "    one request per process, and most of their clients are not held)"
	fi
}

models_table() { # csv
	[ "$PLANNING" = 1 ] && return 0
	awk -F, "$CSV_AWK"'
	BEGIN { print "model clients held procs fcgi_procs RSS/client_KiB CPU/msg_µs p50_ms p99_ms lost errors" }
	{ print get("label"), get("clients"), get("held"), get("srv_procs"), get("fcgi_procs"),
	        get("rss_per_conn_kib"), get("cpu_us_per_msg"), get("p50_ms"), get("p99_ms"),
	        get("lost"), get("errors") }' "$1" | column -t | tee -a "$REPORT"
}

part_models() {
	local n common
	PART="4. models"
	part_begin models.csv "== 4. three concurrency models: $MODELS held clients, $RATE messages/s for $DURATION s"
	say "   process-per-client: SSE, Apache + mod_fcgid (one FastCGI process per held client)"
	say "   threads: SSE, Apache + mod_proxy_fcgi, $MODEL_PROCS FastCGI processes, RT_FCGI_THREADS each"
	say "   event-loop: WebSocket, the helper (one process, epoll)"
	threads_note
	for n in $MODELS; do
		common=(-c "$n" -r "$RATE" -d "$DURATION" --ready-timeout 30)
		run "$CSV" process-per-client apache fcgid 1 -t sse "${common[@]}"
		threads_env "$n"
		run "$CSV" threads apache proxy-fcgi 1 -t sse "${common[@]}"
		RUN_ENV=
		run "$CSV" event-loop apache fcgid 1 -t ws --ws-base "ws://127.0.0.1:@WS_PORT@" "${common[@]}"
	done
	say
	models_table "$CSV"
}
