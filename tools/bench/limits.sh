# limits.sh — sourced by tools/bench/stack.sh and tools/bench/cpu-split.sh:
# the Apache and mod_fcgid limits for a number of held clients, as an
# EXTRA_CONF file for tools/serve.sh.  mod_fcgid needs one process per
# long-poll or SSE client, Apache one worker per held request; the shipped
# configuration (apache-conf/rtlab-fcgid.conf) allows 48 per endpoint.
# shellcheck shell=bash

limits_conf() { # held — prints the configuration
	local held=$1
	cat <<EOF
# Written by tools/bench: process limits sized for $held held clients.
<IfModule mpm_event_module>
    ServerLimit $(( (held * 2 + 256) / 64 + 1 ))
    ThreadsPerChild 64
    MaxRequestWorkers $(( ((held * 2 + 256) / 64 + 1) * 64 ))
</IfModule>
<IfModule fcgid_module>
    FcgidMaxProcessesPerClass $((held + 32))
    FcgidMaxProcesses $((held * 2 + 64))
    FcgidSpawnScoreUpLimit $((held * 2 + 64))
</IfModule>
EOF
}
