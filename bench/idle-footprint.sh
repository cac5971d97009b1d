#!/usr/bin/env bash
# Resident memory and CPU of zone-agent at idle: a mesh of 20 members (2 clusters of 9 and 10 agents with
# one backend each, and a gateway), release build, loopback only. Settles for 20 s, then samples for 30 s.
# Aim (DESIGN.md): ≤ 20 MB RSS and ≤ 1% of a core per process.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
Z=${Z:-$ROOT/.build/release/zone-agent}
[ -x "$Z" ] || { echo "build first: swift build -c release --product zone-agent" >&2; exit 1; }
SETTLE=${SETTLE:-20}
SAMPLE=${SAMPLE:-30}
NET=127.$((100 + $$ % 150))
WORK=$(mktemp -d /tmp/footprint.XXXXXX)
PIDS=()
trap 'exec 2>/dev/null; for p in "${PIDS[@]:-}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$WORK"' EXIT
cd "$WORK"

"$Z" keygen --cluster c1 --out keys >/dev/null
"$Z" keygen --cluster c2 --out keys >/dev/null
"$Z" keygen --mesh --out keys >/dev/null
printf 'clusters:\n  c1: [%s]\n  c2: [%s]\n' "$(head -1 keys/c1.pub)" "$(head -1 keys/c2.pub)" > keys/trust.yaml
sed -e 's/\${cluster1-id}/c1/; s/\${cluster2-id}/c2/' "$ROOT/deploy/agents/gateway/envoy/ingress-demo.yaml" > ingress.yaml
JOIN="[$NET.1.1:7946, $NET.2.1:7946]"

for c in 1 2; do
  "$Z" backend --name "web-c$c" --listen "$NET.$c.100:8080" >/dev/null 2>&1 & PIDS+=($!)
  count=$([ $c = 1 ] && echo 9 || echo 10)
  for i in $(seq 1 "$count"); do
    cat > "agent-c$c-$i.yaml" <<YAML
node: c$c-$i
cluster: c$c
gossip: { bind: "$NET.$c.$i:7946", join: $JOIN }
keys: { signing: keys/c$c.key, trust: keys/trust.yaml, mesh: keys/mesh.key }
admin: { listen: "$NET.$c.$i:9101" }
endpoints: { static: [ { service: gateway-demo/service1, address: "$NET.$c.100:8080" } ] }
probe: { http: { path: /healthz }, interval: 1s, timeout: 500ms }
YAML
    "$Z" agent --config "agent-c$c-$i.yaml" >"agent-c$c-$i.log" 2>&1 & PIDS+=($!)
  done
done
cat > gateway.yaml <<YAML
node: gateway
gossip: { bind: "$NET.99.1:7946", join: $JOIN }
keys: { trust: keys/trust.yaml, mesh: keys/mesh.key }
admin: { listen: "$NET.99.1:9101" }
routes: { ingress: ingress.yaml }
proxy: { listen: "$NET.99.1:8001" }
YAML
"$Z" gateway --config gateway.yaml >gateway.log 2>&1 & GATEWAY=$!; PIDS+=($GATEWAY)
AGENT=$(pgrep -f "agent-c1-1.yaml")

sleep "$SETTLE"
members=$(curl -s "http://$NET.99.1:9101/v1/members" | grep -o '"state":"alive"' | wc -l)
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
a0=$(ticks "$AGENT"); g0=$(ticks "$GATEWAY")
sleep "$SAMPLE"
a1=$(ticks "$AGENT"); g1=$(ticks "$GATEWAY")
rss() { awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
# Of the RSS, how much is the process's own (heap, stacks) rather than shared code pages of the binary and libraries.
anon() { awk '/RssAnon/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
cpu() { awk -v d="$1" -v hz="$hz" -v s="$SAMPLE" 'BEGIN {printf "%.2f", 100 * d / hz / s}'; }
echo "idle footprint, $members members alive in the gateway's view, ${SAMPLE} s sample (release build)"
for who in agent gateway; do
  pid=$([ $who = agent ] && echo "$AGENT" || echo "$GATEWAY")
  d=$([ $who = agent ] && echo $((a1 - a0)) || echo $((g1 - g0)))
  printf "  %-8s RSS %5s MB (%s MB its own, the rest shared code pages)   CPU %5s%% of a core   (aim: ≤ 20 MB, ≤ 1%%)\n" \
    $who "$(rss "$pid")" "$(anon "$pid")" "$(cpu "$d")"
done
