#!/usr/bin/env bash
# Resident memory and CPU of zone-agent at idle: a mesh of 20 members (2 clusters of 9 and 10 agents with
# one backend each, and a gateway with the built-in proxy on the seed's Ingress), the release binary as the
# Makefile builds it (`make release`), configured as the README shows, loopback only. Settles for 20 s, then
# samples for 30 s; then, where wrk is installed, loads the gateway's proxy (wrk -t2 -c32 -d10s, as issue 13's
# proxy figures) and reports the gateway's memory under that load.
# RSS counts every resident page, shared ones whole; PSS shares each shared page among the processes mapping it
# (the fair share of a node's memory); USS is what the process alone holds (freed if it exits).
# Aim (DESIGN.md): an idle agent ≤ 20 MB RSS and ≤ 1% of a core; the gateway ≤ 25 MB RSS under load.
# The binary's pages are most of the RSS, and how many of them a process maps depends on the page cache, not only on
# what the process touches: the kernel maps a whole cached folio per fault, and a binary written in large blocks
# (as gold writes it; seen here: 1 MB mapped per touch) sits in large folios, so scattered touches map nearly all of
# it; read in by the processes' own faults (after a reboot, or CACHE=cold, which drops this binary's cached pages
# first) it sits in readahead-sized folios and only the touched neighbourhoods are mapped. Compare builds cold.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
Z=${Z:-$ROOT/.build/release/zone-agent}
[ -x "$Z" ] || { echo "build first: make release" >&2; exit 1; }
SETTLE=${SETTLE:-20}
CACHE=${CACHE:-warm}
SAMPLE=${SAMPLE:-30}
NET=127.$((100 + $$ % 150))
WORK=$(mktemp -d /tmp/footprint.XXXXXX)
PIDS=()
trap 'for p in "${PIDS[@]:-}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$WORK"' EXIT
cd "$WORK"

# Cold: drop the binary's pages from the page cache (only if no process maps them), before any run reads it.
[ "$CACHE" = cold ] && dd if="$Z" iflag=nocache count=0 status=none
# shellcheck source=../scripts/loopback-mesh.sh
. "$ROOT/scripts/loopback-mesh.sh"
mesh_keys
for c in 1 2; do
  "$Z" backend --name "web-c$c" --listen "$NET.$c.100:8080" >/dev/null 2>&1 & PIDS+=($!)
  count=$([ $c = 1 ] && echo 9 || echo 10)
  for i in $(seq 1 "$count"); do
    agent_config $c "$i"
    "$Z" agent --config "agent-c$c-$i.yaml" >"agent-c$c-$i.log" 2>&1 & PIDS+=($!)
    [ "$c$i" = 11 ] && AGENT=$!   # the agent measured (its own PID: other runs may be going on beside this one)
  done
done
gateway_config
"$Z" gateway --config gateway.yaml >gateway.log 2>&1 & GATEWAY=$!; PIDS+=($GATEWAY)

sleep "$SETTLE"
members=$(curl -s "http://$NET.99.1:9101/v1/members" | grep -o '"state":"alive"' | wc -l)
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
a0=$(ticks "$AGENT"); g0=$(ticks "$GATEWAY")
sleep "$SAMPLE"
a1=$(ticks "$AGENT"); g1=$(ticks "$GATEWAY")
# RSS, PSS and USS in MB from /proc/PID/smaps_rollup (USS: the private pages, clean and dirty).
memory() {
  awk '/^Rss:/ {r = $2} /^Pss:/ {p = $2} /^Private_(Clean|Dirty):/ {u += $2}
       END {printf "RSS %5.1f MB  PSS %5.1f MB  USS %5.1f MB", r / 1024, p / 1024, u / 1024}' "/proc/$1/smaps_rollup"
}
# Where the RSS is: the binary's own file-backed pages, anonymous memory (heap, stacks, relocated data), the rest;
# and the threads (each with its stack and, with glibc, possibly its own malloc arena).
rss_split() {
  local exe; exe=$(readlink "/proc/$1/exe")
  awk -v exe="$exe" '/^[0-9a-f]+-[0-9a-f]+ / {file = ($6 == exe)}
       /^Rss:/ {if (file) b += $2} /^Anonymous:/ {a += $2}
       END {printf "binary pages %5.1f MB, anonymous %5.1f MB", b / 1024, a / 1024}' "/proc/$1/smaps"
  printf ", %s threads" "$(awk '/^Threads:/ {print $2}' "/proc/$1/status")"
}
cpu() { awk -v d="$1" -v hz="$hz" -v s="$SAMPLE" 'BEGIN {printf "%.2f", 100 * d / hz / s}'; }
echo "idle footprint, $members members alive in the gateway's view, ${SAMPLE} s sample ($Z, $(du -m "$Z" | cut -f1) MB, page cache $CACHE)"
for who in agent gateway; do
  pid=$([ $who = agent ] && echo "$AGENT" || echo "$GATEWAY")
  d=$([ $who = agent ] && echo $((a1 - a0)) || echo $((g1 - g0)))
  printf "  %-8s %s   CPU %5s%% of a core   (aim: ≤ 20 MB RSS, ≤ 1%%)\n" $who "$(memory "$pid")" "$(cpu "$d")"
  printf "           (%s)\n" "$(rss_split "$pid")"
done
if command -v wrk >/dev/null; then
  wrk -t2 -c32 -d10s -H "Host: alb.ingress.alibaba.com" "http://$NET.99.1:8001/svc1" > wrk.txt 2>&1 &
  LOAD=$!
  sleep 8   # well into the run: every connection open, the pools warm
  under=$(memory "$GATEWAY"); under_split=$(rss_split "$GATEWAY")
  wait "$LOAD" || true
  peak=$(awk '/VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$GATEWAY/status")
  rate=$(awk '/Requests\/sec/ {print $2}' wrk.txt)
  printf "  %-8s %s   under wrk -t2 -c32 (%s req/s), peak RSS %s MB   (aim: ≤ 25 MB RSS)\n" gateway "$under" "${rate:-?}" "$peak"
  printf "           (%s)\n" "$under_split"
fi
