#!/usr/bin/env bash
# Builds the wire decoder's libFuzzer target (ASan + fuzzer instrumentation) and runs it on the seed corpus.
# Usage: scripts/fuzz.sh RUNS [SEED]      e.g. 100000 1 for the short, seeded round that `make test` runs,
#                                        or 0 for an open-ended run (stop with Ctrl-C; findings go to fuzz-artifacts/).
set -euo pipefail
runs=${1:-100000}
seed=${2:-1}
scratch=.build-fuzz
swift build -c release --product WireFuzz --scratch-path "$scratch" \
  -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING 2>&1 | grep -vE '^\[|Cannot export local symbol' || true
fuzzer="$scratch/release/WireFuzz"
[ -x "$fuzzer" ] || { echo "fuzz: the fuzzer did not build" >&2; exit 1; }

corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
# A plain build of the same target writes the seed corpus (every message type, one packet of all of them).
swift build --product WireFuzz >/dev/null
.build/debug/WireFuzz --write-corpus "$corpus" >/dev/null
mkdir -p fuzz-artifacts
args=(-seed="$seed" -max_len=4096 -artifact_prefix=fuzz-artifacts/ -print_final_stats=1)
[ "$runs" -gt 0 ] && args+=(-runs="$runs")
echo "fuzz: $runs runs (0 = until stopped) of the wire decoder, seed $seed"
"$fuzzer" "${args[@]}" "$corpus" 2>&1 | grep -E '^(Done|stat::number_of_executed_units|==[0-9]+==ERROR|SUMMARY)' || true
status=${PIPESTATUS[0]}
if [ "$status" -ne 0 ]; then
  echo "fuzz: FAILED (exit $status); the crashing input is in fuzz-artifacts/" >&2
  exit 1
fi
echo "fuzz: clean"
