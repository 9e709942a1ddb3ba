# store.sh — sourced by tools/bench.sh: part 5, the store.  What the network
# store costs per message on one host (RT_STORE=redis against the default
# SQLite, the same rows), and the same rows on three hosts behind HAProxy
# on one Redis (make demo CLUSTER=3): fan-out latency p50 of the cluster
# against one host (docs/scaling.md).
# Uses bench.sh's run, say, part_begin, table, has, RUN_ENV.
# shellcheck shell=bash

have_cluster() { command -v redis-server >/dev/null 2>&1 && command -v haproxy >/dev/null 2>&1; }

part_store() {
	local env label tech common=(-c "$CLIENTS" -r "$RATE" -d "$DURATION")
	PART="5. store"
	part_begin store.csv "== 5. the store: SQLite vs Redis on one host, and 3 hosts on one Redis ($CLIENTS clients, $RATE messages/s for $DURATION s)"
	if ! have_cluster; then
		say "   (no redis-server or haproxy: skipped; tools/deps.sh cluster installs them)"
		return 0
	fi
	say "   sqlite / redis: one host, Apache + mod_fcgid, WebSocket straight to its helper"
	say "   cluster3-redis: three such hosts on one Redis behind HAProxy; every client and"
	say "   the publisher go through HAProxy (round-robin), CPU and RSS are all three hosts'"
	for env in "" "REDIS=1" "CLUSTER=3"; do
		case $env in
		"") label=sqlite ;;
		REDIS=1) label=redis ;;
		*) label=cluster3-redis ;;
		esac
		RUN_ENV=$env
		for tech in longpoll sse ws; do
			has $tech || continue
			if [ "$tech" = ws ] && [ "$label" != cluster3-redis ]; then
				run "$CSV" "$label" "$SERVER" "$MODE" 1 -t ws --ws-base "ws://127.0.0.1:@WS_PORT@" "${common[@]}"
			else
				run "$CSV" "$label" "$SERVER" "$MODE" 1 -t $tech "${common[@]}"
			fi
		done
	done
	RUN_ENV=
	say
	table "$CSV"
}
