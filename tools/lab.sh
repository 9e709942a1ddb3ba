#!/bin/sh
# lab.sh — the config lab (`make lab`): one private web server per
# configuration variant in apache-conf/lab/, what a client observes measured,
# the table printed and written to docs/lab-results.md.
#
#   tools/lab.sh            every experiment (a few minutes)
#   tools/lab.sh 1 3 5      only these
#   tools/lab.sh --list     what there is
#
# The runner is tools/lab.js (Node: it needs timestamps on HTTP, HTTP/2 and
# WebSocket clients); docs/config-lab.md explains every experiment.
set -eu
cd "$(dirname "$0")/.."
[ -d tests/node_modules ] || tools/deps.sh
exec node tools/lab.js "$@"
