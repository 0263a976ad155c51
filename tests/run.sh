#!/usr/bin/env bash
# Runs the test suites and ends with one line "N passed, N failed"; exits
# non-zero on any failure. "unit": cmocka drivers under ASan, then UBSan.
# "integration": tests/integration/*.sh against the plain build. "all": both.
set -u
cd "$(dirname "$0")/.."
what=${1:-all}
passed=0
failed=0
jobs=$(nproc 2>/dev/null || echo 2)

run_units() {
	local build=$1 san=$2 t out rc p f
	echo "== unit tests ($san)"
	if ! make -s -j"$jobs" --no-print-directory BUILD="$build" \
	    SANITIZER="$san" units; then
		echo "not ok - unit test build ($san)"
		failed=$((failed + 1))
		return
	fi
	for t in "$build"/tests/unit/test_*; do
		[ -x "$t" ] || continue
		out=$(ASAN_OPTIONS=detect_leaks=1 "$t" 2>&1)
		rc=$?
		printf '%s\n' "$out"
		p=$(grep -oE '^\[  PASSED  \] [0-9]+' <<<"$out" | awk '{s+=$4} END {print s+0}')
		f=$(grep -oE '^\[  FAILED  \] [0-9]+' <<<"$out" | awk '{s+=$4} END {print s+0}')
		if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
			echo "not ok - $(basename "$t") ($san) exited $rc"
			f=1
		fi
		passed=$((passed + p))
		failed=$((failed + f))
	done
}

run_integration() {
	local t out rc p f s
	echo "== integration tests"
	if ! make -s -j"$jobs" --no-print-directory all; then
		echo "not ok - build"
		failed=$((failed + 1))
		return
	fi
	for t in tests/integration/test_*.sh; do
		[ -f "$t" ] || continue
		s=$SECONDS
		out=$(bash "$t" 2>&1)
		rc=$?
		printf '%s\n' "$out"
		# Where the suite's time goes (the budget is 15 minutes).
		echo "# $(basename "$t"): $((SECONDS - s)) s"
		p=$(grep -cE '^ok ' <<<"$out")
		f=$(grep -cE '^not ok ' <<<"$out")
		if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
			echo "not ok - $(basename "$t") exited $rc"
			f=1
		fi
		passed=$((passed + p))
		failed=$((failed + f))
	done
}

case $what in
unit)
	run_units build/asan address
	run_units build/ubsan undefined ;;
integration)
	run_integration ;;
all)
	run_units build/asan address
	run_units build/ubsan undefined
	run_integration ;;
*)
	echo "usage: tests/run.sh [unit|integration|all]" >&2
	exit 2 ;;
esac

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
