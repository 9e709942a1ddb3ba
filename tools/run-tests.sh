#!/bin/bash
# run-tests.sh — everything `make test` runs, in order, with one summary line
# at the end: "N passed, N failed" over all parts.
#
#   1. build (warnings are errors) and the Check unit tests
#   2. the unit tests again under valgrind (no leaks, no invalid access)
#   3. the sanitizer build (ASan + UBSan): unit tests, then the integration
#      tests against its binaries
#   4. integration tests (node --test tests/integration/): real Apache in each
#      mode, real lighttpd, the WebSocket helper, strict clients
#   5. the protocol tests again on a private Redis store (RTLAB_TEST_STORE=redis)
#   6. browser tests (node --test tests/browser/): headless Debian chromium
#   7. documentation (node --test tests/docs/): every relative link resolves
#      inside the repository, no file points at the developers' shared dir
#   7. the fuzzers (tests/fuzz/, clang libFuzzer + ASan/UBSan), each for
#      RT_FUZZ_SECONDS (default 15) over its seeds; `make fuzz` runs longer
#
# RT_TEST_QUICK=1 skips valgrind and the sanitizer pass (for a quick local run).
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
passed=0
failed=0
failures=()
LOG_DIR=$ROOT/test-results
mkdir -p "$LOG_DIR"

# ---- progress ---------------------------------------------------------------
# Each part announces itself, and a line before every test binary or file
# says how far it is, the time so far and an estimate of the time left: each
# part as long as it took in the last complete run (test-results/durations),
# or, on a first run, this part's pace so far.
PARTS=(build unit)
[ "${RT_TEST_QUICK:-0}" != 1 ] && PARTS+=(valgrind asan asan-integration)
PARTS+=(fuzz integration redis-store browser docs)
declare -A LAST=()
if [ -f "$LOG_DIR/durations" ]; then
	while read -r p t; do LAST[$p]=$t; done <"$LOG_DIR/durations"
fi
: >"$LOG_DIR/durations.new"
T0=$SECONDS PART="" PART_T0=0 PART_I=0

hms() { # seconds — as 4m05s
	if [ "$1" -ge 60 ]; then printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); else printf '%ds' "$1"; fi
}

part_end() { # — the current part is over: keep its duration
	[ -n "$PART" ] && echo "$PART $((SECONDS - PART_T0))" >>"$LOG_DIR/durations.new"
	PART=""
}

part() { # name title — the next part of PARTS begins
	part_end
	PART=$1 PART_T0=$SECONDS PART_I=$((PART_I + 1))
	printf '\n== %s\n' "$2"
}

progress() { # done total what — one line: where we are, elapsed, time left
	local k=$1 n=$2 what=$3 in_part=$((SECONDS - PART_T0)) cur="" rest=0 i p left
	if [ -n "${LAST[$PART]:-}" ]; then
		cur=$((LAST[$PART] > in_part ? LAST[$PART] - in_part : 0))
	elif [ "$k" -gt 0 ]; then
		cur=$((in_part * (n - k) / k))
	fi
	for ((i = PART_I; i < ${#PARTS[@]}; i++)); do
		p=${PARTS[i]}
		if [ -n "${LAST[$p]:-}" ]; then rest=$((rest + LAST[$p])); else rest=""; break; fi
	done
	if [ -n "$cur" ] && [ -n "$rest" ]; then left="~$(hms $((cur + rest))) left"
	elif [ -n "$cur" ]; then left="~$(hms "$cur") left in this part"
	else left="time left: known after the first run"; fi
	printf -- '-- %s (part %d/%d): %d/%d done, now %s · %s elapsed · %s\n' \
		"$PART" "$PART_I" "${#PARTS[@]}" "$k" "$n" "$what" "$(hms $((SECONDS - T0)))" "$left"
}

count() { # name passed failed
	passed=$((passed + $2)); failed=$((failed + $3))
	[ "$3" -gt 0 ] && failures+=("$1: $3 failed")
	return 0
}

# Check prints "100%: Checks: 12, Failures: 0, Errors: 0".
run_check() { # label binary [wrapper...]
	local label=$1 bin=$2; shift 2
	local out
	out=$(CK_FORK=${CK_FORK:-yes} "$@" "$bin" 2>&1); local rc=$?
	echo "$out" | tail -n 20
	local line checks fails errs
	line=$(echo "$out" | grep -E '^[0-9]+%: Checks: ' | tail -n 1)
	if [ -z "$line" ]; then count "$label" 0 1; return; fi
	checks=$(echo "$line" | sed -E 's/.*Checks: ([0-9]+).*/\1/')
	fails=$(echo "$line" | sed -E 's/.*Failures: ([0-9]+).*/\1/')
	errs=$(echo "$line" | sed -E 's/.*Errors: ([0-9]+).*/\1/')
	local bad=$((fails + errs))
	[ $rc -ne 0 ] && [ $bad -eq 0 ] && bad=1
	count "$label" $((checks - fails - errs)) $bad
}

# node --test prints "# pass N" and "# fail N"; one file at a time, so that
# progress can say which one is running.
run_node() { # label dir [env...]
	local label=$1 dir=$2; shift 2
	local files
	files=$(ls "$dir"/*.test.js 2>/dev/null)
	[ -z "$files" ] && { echo "(no tests in $dir)"; return; }
	run_node_files "$label" "$files" "$@"
}

run_node_files() { # label files [env...]
	local label=$1 files=$2; shift 2
	local f k=0 n tap out rc p f_fail
	n=$(echo "$files" | wc -w)
	tap="$LOG_DIR/$(echo "$label" | tr ' /' '__').tap"
	: >"$tap"
	for f in $files; do
		progress "$k" "$n" "$(basename "$f")"
		out=$(env "$@" node --test --test-concurrency=1 --test-reporter=tap "$f" 2>&1); rc=$?
		echo "$out" >>"$tap"
		# Each failure with its diagnostic (TAP's YAML block: the error,
		# expected and actual, where), so that a CI log alone says why.
		echo "$out" | awk '/^ *not ok/ { on = 1; n = 0 }
			on && n < 40 { print "   " $0; n++ }
			on && /^ *\.\.\.$/ { on = 0 }' | head -n 200
		p=$(echo "$out" | grep -E '^# pass ' | tail -n 1 | awk '{print $3}')
		f_fail=$(echo "$out" | grep -E '^# fail ' | tail -n 1 | awk '{print $3}')
		p=${p:-0}; f_fail=${f_fail:-0}
		[ $rc -ne 0 ] && [ "$f_fail" -eq 0 ] && f_fail=1
		echo "   $(basename "$f"): $p passed, $f_fail failed"
		count "$label $(basename "$f")" "$p" "$f_fail"
		k=$((k + 1))
	done
}

# Each libFuzzer target for a short, bounded run (docs/fuzzing.md): its
# seeds, then new inputs until the time is up, in a scratch working corpus.
# A target counts as one test: passed if it ends without a finding.
run_fuzz() {
	local secs=${RT_FUZZ_SECONDS:-15} work t k=0 n
	part fuzz "fuzzers (libFuzzer + ASan/UBSan, $secs s each)"
	progress 0 1 "make fuzz-build"
	if ! make -s fuzz-build >"$LOG_DIR/fuzz-build.log" 2>&1; then
		tail -n 20 "$LOG_DIR/fuzz-build.log"; count "fuzz build" 0 1; return
	fi
	work=$(mktemp -d)
	n=$(ls tests/fuzz/fuzz_*.c | wc -l)
	for t in tests/fuzz/fuzz_*.c; do
		t=$(basename "$t" .c)
		progress $k "$n" "$t"; k=$((k + 1))
		if FUZZ_WORK=$work FUZZ_LOGS=$LOG_DIR/fuzz tools/fuzz.sh "$secs" "$t"; then
			count "fuzz $t" 1 0
		else
			count "fuzz $t" 0 1
		fi
	done
	rm -rf "$work"
}

part build "build"
progress 0 1 "make all unit"
if ! make -s all unit; then
	echo "build failed"; echo "0 passed, 1 failed"; exit 1
fi

# The Check binaries (tests/unit/check_X, not check_X.c/.o/.d) in DIR.
unit_binaries() { # dir
	local t
	for t in "$1"/check_*; do
		[ -x "$t" ] && [ "${t%.*}" = "$t" ] && echo "$t"
	done
}

part unit "unit tests (Check)"
units=$(unit_binaries tests/unit); k=0; n=$(echo "$units" | wc -w)
for t in $units; do
	progress $k "$n" "$(basename "$t")"; k=$((k + 1))
	run_check "unit $(basename "$t")" "$t"
done

if [ "${RT_TEST_QUICK:-0}" != 1 ]; then
	part valgrind "unit tests under valgrind"
	k=0
	for t in $units; do
		progress $k "$n" "$(basename "$t")"; k=$((k + 1))
		CK_FORK=no run_check "valgrind $(basename "$t")" "$t" \
			valgrind -q --leak-check=full --show-leak-kinds=definite,indirect \
			--errors-for-leak-kinds=definite,indirect --error-exitcode=99
	done

	part asan "sanitizer build (ASan + UBSan)"
	progress 0 1 "make asan"
	if make -s asan >"$LOG_DIR/asan-build.log" 2>&1; then
		k=0
		for t in $(unit_binaries build-asan/tests/unit); do
			progress $k "$n" "asan $(basename "$t")"; k=$((k + 1))
			run_check "asan $(basename "$t")" "$t"
		done
		part asan-integration "integration tests against the sanitizer build"
		run_node "asan integration" tests/integration RTLAB_BUILD="$ROOT/build-asan" \
			ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 RT_TEST_ASAN=1
	else
		tail -n 30 "$LOG_DIR/asan-build.log"; count "asan build" 0 1
		part asan-integration "(no sanitizer build: its integration pass is skipped)"
	fi
fi

run_fuzz

part integration "integration tests (real Apache, lighttpd, helper)"
run_node "integration" tests/integration

# The protocol's own tests once more, every stack on a private Redis
# instead of SQLite (serve.sh REDIS=1; docs/scaling.md): the same answers
# from the other store.  Tests of SQLite itself skip there.
part redis-store "protocol tests on the Redis store (RTLAB_TEST_STORE=redis)"
if command -v redis-server >/dev/null; then
	run_node_files "redis-store" "$(ls tests/integration/{foundation,longpoll,sse,ws_cross}.test.js)" \
		RTLAB_TEST_STORE=redis
else
	echo "(no redis-server: skipped; tools/deps.sh cluster installs it)"
fi

part browser "browser tests (headless chromium)"
run_node "browser" tests/browser

part docs "documentation links"
run_node "docs" tests/docs
part_end
# The durations of a complete run are the next run's estimates.
mv "$LOG_DIR/durations.new" "$LOG_DIR/durations"
echo "(all parts: $(hms $((SECONDS - T0))))"

echo
for f in "${failures[@]}"; do echo "FAILED: $f"; done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
