#!/usr/bin/env bash
# The slow attack tests of the gossip port (issue 9): a UDP flood of random and of replayed sealed datagrams at
# the highest rate one socket sends (FLOOD_SECONDS, 10 s, each phase) against one member of a three-member mesh,
# and the hostile state-sync connections. Prints the figures (datagrams sent a second, drops by reason, the
# victim's local health, RSS) and fails if a member is declared dead or a bound does not hold.
set -uo pipefail
scripts/ensure-deps.sh build || exit 1
swift build --build-tests || exit 1
log=$(mktemp)
trap 'rm -f "$log"' EXIT
FLOOD_SECONDS=${FLOOD_SECONDS:-10} swift test --skip-build --filter 'FloodTests|SyncHardeningTests' >"$log" 2>&1
status=$?
grep -E "^(flood|60 hostile|a 16 MiB|silent)|error:|Executed [0-9]+ tests" "$log"
exit "$status"
