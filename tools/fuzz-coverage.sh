#!/bin/bash
# fuzz-coverage.sh — how much of each pure-layer file the fuzz corpora reach
# (docs/fuzzing.md).  Builds each target with clang's source-based coverage
# into build-fuzz/cov/, runs it once over its seeds and its working corpus
# (build-fuzz/corpus/, grown by `make fuzz`), and prints llvm-cov's line,
# region and branch coverage of the lib/ file the target mirrors.
#
#   tools/fuzz-coverage.sh [fuzz_ws_frame ...]     (default: every target)
set -eu
cd "$(dirname "$0")/.."
ROOT=$PWD
LLVM=${LLVM_BIN:-/usr/lib/llvm-14/bin}
out=$ROOT/build-fuzz/cov
mkdir -p "$out"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
	for f in tests/fuzz/fuzz_*.c; do targets+=("$(basename "$f" .c)"); done
fi
srcs="clock http_header http_query http_status msg settings sse utf8 ws_frame ws_handshake"

for t in "${targets[@]}"; do
	file=${t#fuzz_}
	bin=$out/$t
	# shellcheck disable=SC2046
	clang -O0 -g -std=c11 -D_GNU_SOURCE -Ilib -fsanitize=fuzzer \
		-fprofile-instr-generate -fcoverage-mapping -o "$bin" "tests/fuzz/$t.c" \
		$(for s in $srcs; do echo "lib/$s.c"; done) \
		$(pkg-config --cflags --libs sqlite3 libcrypto)
	rm -f "$out/$t".*.profraw
	mkdir -p "build-fuzz/corpus/$t"
	LLVM_PROFILE_FILE="$out/$t.%p.profraw" "$bin" -runs=0 \
		"build-fuzz/corpus/$t" "tests/fuzz/corpus/$file" >"$out/$t.log" 2>&1
	"$LLVM/llvm-profdata" merge -sparse -o "$out/$t.profdata" "$out/$t".*.profraw
	"$LLVM/llvm-cov" report "$bin" -instr-profile="$out/$t.profdata" \
		"lib/$file.c" | awk -v t="$t" -v root="$ROOT/" 'NR > 2 && $1 ~ /\.c$/ {
			sub(root, "", $1)
			printf "%-18s %-22s regions %-7s lines %-7s branches %s\n",
			       t, $1, $4, $10, $13 }'
done
