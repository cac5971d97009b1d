#!/usr/bin/env bash
# Runs every test (XCTest and Swift Testing), then the seeded fuzz round, and ends with one plain summary line.
set -uo pipefail
log=$(mktemp)
trap 'rm -f "$log"' EXIT

swift build --build-tests || exit 1
swift test --skip-build 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

# XCTest: "Executed N tests, with F failures", or "..., with S tests skipped and F failures" (the last such line is
# the grand total).
xc=$(grep -E "^[[:space:]]*Executed [0-9]+ tests?, with ([0-9]+ tests? skipped and )?[0-9]+ failures?" "$log" | tail -1)
xc_run=$(sed -E 's/.*Executed ([0-9]+) tests?.*/\1/' <<<"${xc:-Executed 0 tests}")
xc_failed=$(sed -E 's/.* ([0-9]+) failures?.*/\1/' <<<"${xc:-with 0 failures}")
xc_skipped=0
grep -qE "[0-9]+ tests? skipped" <<<"$xc" && xc_skipped=$(sed -E 's/.*with ([0-9]+) tests? skipped.*/\1/' <<<"$xc")
# Swift Testing: "Test run with N tests ... passed" or "... failed ... with K issues".
st=$(grep -E "Test run with [0-9]+ tests?" "$log" | tail -1)
st_run=$(sed -E 's/.*Test run with ([0-9]+) tests?.*/\1/' <<<"${st:-Test run with 0 tests}")
st_failed=0
grep -qE "Test run with [0-9]+ tests?.* failed" <<<"$st" && st_failed=$(sed -E 's/.*with ([0-9]+) issues?.*/\1/' <<<"$st")

scripts/fuzz.sh 100000 1 || status=1

failed=$((xc_failed + st_failed))
passed=$((xc_run + st_run - failed - xc_skipped))
[ "$status" -ne 0 ] && [ "$failed" -eq 0 ] && failed=1
echo
echo "tests: $passed passed, $failed failed, $xc_skipped skipped"
exit "$status"
