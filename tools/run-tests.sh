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
#   5. browser tests (node --test tests/browser/): headless Debian chromium
#   6. documentation (node --test tests/docs/): every relative link resolves
#      inside the repository, no file points at the developers' shared dir
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

note() { printf '\n== %s\n' "$*"; }
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

# node --test prints "# pass N" and "# fail N".
run_node() { # label dir [env...]
	local label=$1 dir=$2; shift 2
	local files
	files=$(ls "$dir"/*.test.js 2>/dev/null)
	[ -z "$files" ] && { echo "(no tests in $dir)"; return; }
	local out rc
	out=$(env "$@" node --test --test-concurrency=1 --test-reporter=tap $files 2>&1); rc=$?
	echo "$out" > "$LOG_DIR/$(echo "$label" | tr ' /' '__').tap"
	echo "$out" | grep -E '^# (Subtest|pass|fail)|^not ok|^ +not ok' | tail -n 60
	local p f
	p=$(echo "$out" | grep -E '^# pass ' | tail -n 1 | awk '{print $3}')
	f=$(echo "$out" | grep -E '^# fail ' | tail -n 1 | awk '{print $3}')
	p=${p:-0}; f=${f:-0}
	[ $rc -ne 0 ] && [ "$f" -eq 0 ] && f=1
	count "$label" "$p" "$f"
}

note "build"
if ! make -s all unit; then
	echo "build failed"; echo "0 passed, 1 failed"; exit 1
fi

note "unit tests (Check)"
for t in tests/unit/check_*; do
	[ -x "$t" ] && [ "${t%.*}" = "$t" ] || continue
	run_check "unit $(basename "$t")" "$t"
done

if [ "${RT_TEST_QUICK:-0}" != 1 ]; then
	note "unit tests under valgrind"
	for t in tests/unit/check_*; do
		[ -x "$t" ] && [ "${t%.*}" = "$t" ] || continue
		CK_FORK=no run_check "valgrind $(basename "$t")" "$t" \
			valgrind -q --leak-check=full --show-leak-kinds=definite,indirect \
			--errors-for-leak-kinds=definite,indirect --error-exitcode=99
	done

	note "sanitizer build (ASan + UBSan)"
	if make -s asan >"$LOG_DIR/asan-build.log" 2>&1; then
		for t in build-asan/tests/unit/check_*; do
			[ -x "$t" ] && [ "${t%.*}" = "$t" ] || continue
			run_check "asan $(basename "$t")" "$t"
		done
		note "integration tests against the sanitizer build"
		run_node "asan integration" tests/integration RTLAB_BUILD="$ROOT/build-asan" \
			ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 RT_TEST_ASAN=1
	else
		tail -n 30 "$LOG_DIR/asan-build.log"; count "asan build" 0 1
	fi
fi

note "integration tests (real Apache, lighttpd, helper)"
run_node "integration" tests/integration

note "browser tests (headless chromium)"
run_node "browser" tests/browser

note "documentation links"
run_node "docs" tests/docs

echo
for f in "${failures[@]}"; do echo "FAILED: $f"; done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
