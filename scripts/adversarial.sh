#!/usr/bin/env bash
# The gossip port under attack (issue 9), at full strength. Two parts, both printing their figures:
#  1. Release `gossip-node` processes: three members of a sealed mesh at the `lan` profile on 127.0.0.2-4, and one
#     UDP socket on 127.0.0.9 flooding member a as fast as it sends (sendmmsg), 10 s of random 150-byte datagrams,
#     then 10 s of replayed sealed datagrams. Fails if any member is declared dead.
#  2. The XCTest attack tests (debug build): the paced in-process flood at FLOOD_SECONDS=10 and the hostile
#     state-sync connections.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-deps.sh build || exit 1
swift build -c release --product GossipNode || exit 1
node=.build/release/GossipNode
seconds=${FLOOD_SECONDS:-10}
dir=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
key=$(head -c 32 /dev/zero | tr '\0' '\011' | base64)
base=$((21000 + RANDOM % 2000 * 4))
$node --name a --cluster c0 --bind 127.0.0.2:$base --mesh-key "$key" --status-ms 250 >"$dir/a" 2>&1 & pids+=($!)
sleep 0.3
$node --name b --cluster c1 --bind 127.0.0.3:$((base + 1)) --join 127.0.0.2:$base --mesh-key "$key" --status-ms 250 >"$dir/b" 2>&1 & pids+=($!)
$node --name c --cluster c0 --bind 127.0.0.4:$((base + 2)) --join 127.0.0.2:$base --mesh-key "$key" --status-ms 250 >"$dir/c" 2>&1 & pids+=($!)
formed=0
for _ in $(seq 1 100); do
  ok=1
  for m in a b c; do [ "$(grep -cE ' (a|b|c) alive$' "$dir/$m")" -ge 2 ] || ok=0; done
  [ $ok -eq 1 ] && { formed=1; break; }
  sleep 0.1
done
[ $formed -eq 1 ] || { echo "the mesh never formed"; tail -3 "$dir"/a "$dir"/b "$dir"/c; exit 1; }
rss() { awk '/VmRSS/ {print int($2/1024) " MB"}' "/proc/$1/status"; }
echo "victim a: RSS before $(rss "${pids[0]}")"
status=0
for mode in random replay; do
  $node flood --from 127.0.0.9 --to 127.0.0.2:$base --mode "$mode" --seconds "$seconds" --mesh-key "$key" >"$dir/flood-$mode" &
  fpid=$!
  sleep "$(awk "BEGIN {print $seconds / 2}")"
  during=$(rss "${pids[0]}")
  wait $fpid
  sleep 1.5
  health=$(grep ' status ' "$dir/a" | sed -E 's/.*health=([0-9]+).*/\1/' | sort -n | tail -1)
  echo "$(cat "$dir/flood-$mode"); victim RSS during $during; victim local health up to $health; victim counters: $(grep ' status ' "$dir/a" | tail -1 | cut -d' ' -f4-)"
done
echo "victim a: RSS after $(rss "${pids[0]}")"
if grep -hE ' (a|b|c) (dead|suspect)$' "$dir"/a "$dir"/b "$dir"/c; then
  deaths=$(grep -chE ' (a|b|c) dead$' "$dir"/a "$dir"/b "$dir"/c | paste -sd+ | bc)
  echo "state changes above during the floods; declared dead: $deaths"
  [ "$deaths" -eq 0 ] || status=1
else
  echo "no member suspected or declared dead"
fi

log=$(mktemp)
swift build --build-tests || exit 1
FLOOD_SECONDS=$seconds swift test --skip-build --filter 'FloodTests|SyncHardeningTests' >"$log" 2>&1 || status=1
grep -E "^(flood|60 hostile|a 16 MiB|silent)|error:|Executed [0-9]+ tests" "$log"
rm -f "$log"
exit "$status"
