#!/bin/bash
# fuzz.sh — run the libFuzzer targets built by `make fuzz-build` (see
# docs/fuzzing.md), each for SECONDS, one after the other, and print one line
# per target: runs, runs per second, corpus size, and OK or the crash file.
#
#   tools/fuzz.sh SECONDS [fuzz_utf8 fuzz_sse ...]    (default: every target)
#
# Each target reads its committed seeds (tests/fuzz/corpus/<target>/, never
# written) and grows a working corpus in $FUZZ_WORK/<target>/ (default
# build-fuzz/corpus/, kept between runs, so a long run resumes where the last
# one stopped).  A crash, leak, sanitizer report or slow input (over 10 s)
# lands in build-fuzz/crashes/<target>/ and the script exits 1.
# FUZZ_JOBS=N runs N fuzzing processes per target (libFuzzer -jobs/-workers),
# each for SECONDS.  The full libFuzzer output is in $FUZZ_LOGS/<target>/
# (default build-fuzz/logs/; make test uses its own, so that it never
# overwrites the logs of a long run going on at the same time).
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
seconds=${1:?usage: tools/fuzz.sh SECONDS [target...]}
shift
jobs=${FUZZ_JOBS:-1}
work=${FUZZ_WORK:-$ROOT/build-fuzz/corpus}
logs_root=${FUZZ_LOGS:-$ROOT/build-fuzz/logs}
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
	for t in build-fuzz/fuzz_*; do
		[ -x "$t" ] && targets+=("$(basename "$t")")
	done
fi
[ ${#targets[@]} -gt 0 ] || { echo "fuzz: no targets (run make fuzz-build)" >&2; exit 1; }

# Longest input per target: a handshake head may be 8 KiB (WS_REQUEST_MAX),
# a JSON body must be able to carry a text over 4096 bytes; the UTF-8 target
# validates at every split point, so its inputs stay short.
max_len() {
	case $1 in
	fuzz_ws_handshake) echo 9000 ;;
	fuzz_msg) echo 6000 ;;
	fuzz_utf8) echo 1024 ;;
	*) echo 4096 ;;
	esac
}

# "stat::number_of_executed_units: N", once per process (-print_final_stats).
sum_stat() { # name files...
	local name=$1; shift
	cat "$@" 2>/dev/null | awk -v k="stat::$name:" '$1 == k { n += $2 } END { print n + 0 }'
}

status=0
for t in "${targets[@]}"; do
	bin=$ROOT/build-fuzz/$t
	[ -x "$bin" ] || { echo "$t: not built (make fuzz-build)"; status=1; continue; }
	seeds=$ROOT/tests/fuzz/corpus/${t#fuzz_}
	crashes=$ROOT/build-fuzz/crashes/$t
	logs=$logs_root/$t
	mkdir -p "$work/$t" "$seeds" "$crashes" "$logs"
	rm -f "$logs"/*.log
	dict=()
	[ -f "$ROOT/tests/fuzz/$t.dict" ] && dict=(-dict="$ROOT/tests/fuzz/$t.dict")
	opts=(-max_total_time="$seconds" -timeout=10 -max_len="$(max_len "$t")"
	      -print_final_stats=1 -artifact_prefix="$crashes/" "${dict[@]}")
	# The first corpus directory is the one libFuzzer writes; the seeds stay
	# as committed.
	start=$SECONDS
	if [ "$jobs" -gt 1 ]; then
		(cd "$logs" && "$bin" "${opts[@]}" -jobs="$jobs" -workers="$jobs" \
			"$work/$t" "$seeds" >"$logs/main.log" 2>&1)
	else
		"$bin" "${opts[@]}" "$work/$t" "$seeds" >"$logs/fuzz-0.log" 2>&1
	fi
	rc=$?
	took=$((SECONDS - start > 0 ? SECONDS - start : 1))
	runs=$(sum_stat number_of_executed_units "$logs"/fuzz-*.log)
	corpus=$(ls "$work/$t" | wc -l)
	result=OK
	if [ $rc -ne 0 ]; then
		status=1
		found=$(ls -t "$crashes" | head -n 1)
		result="FAILED (rc $rc) ${found:+$crashes/$found} — see $logs/"
		grep -h -m 3 -E 'CHECK failed|^==[0-9]+==ERROR|runtime error|^SUMMARY' \
			"$logs"/*.log | head -n 6
	fi
	echo "$t: $runs runs in $took s x $jobs job(s) ($((runs / took / jobs))/s per job), corpus $corpus, $result"
done
exit $status
