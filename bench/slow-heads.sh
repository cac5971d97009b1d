#!/usr/bin/env bash
# The gateway's CPU for one response whose head comes from its upstream a byte a read, and for one request whose head
# comes from its client a byte a read (bench/slow-heads.py): what a hostile upstream or client costs it. The real
# gateway and one agent with a static endpoint, as the README configures them, on loopback.
#
# usage: bench/slow-heads.sh   (Z=PATH: the zone-agent binary, default the release build; SIZE: head bytes, 60000)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
Z=${Z:-$ROOT/.build/release/zone-agent}
SIZE=${SIZE:-60000}
[ -x "$Z" ] || { echo "no zone-agent binary at $Z (make release)" >&2; exit 1; }
UP=27001 GW=127.78.0.4:27080

. "$ROOT/bench/scratch.sh" slow-heads

timeout 300 python3 "$ROOT/bench/slow-heads.py" upstream "$UP" "$SIZE" & PIDS+=($!)
"$Z" keygen --cluster c1 --out keys >/dev/null
"$Z" keygen --mesh --out keys >/dev/null
printf 'clusters:\n  c1: [%s]\n' "$(head -1 keys/c1.pub)" >keys/trust.yaml
cat >agent.yaml <<YAML
node: c1-a
cluster: c1
gossip: { bind: "127.78.0.5:27946", join: ["127.78.0.4:27946"] }
keys: { signing: keys/c1.key, trust: keys/trust.yaml, mesh: keys/mesh.key }
admin: { listen: "127.78.0.5:27101" }
endpoints:
  static:
    - { service: demo/slow, address: "127.0.0.1:$UP" }
probe: { http: { path: /healthz }, interval: 1s, timeout: 500ms, fall: 2, rise: 2 }
YAML
cat >gateway.yaml <<YAML
node: gw-1
gossip: { bind: "127.78.0.4:27946", join: ["127.78.0.5:27946"] }
keys: { trust: keys/trust.yaml, mesh: keys/mesh.key }
admin: { listen: "127.78.0.4:27102" }
routes:
  - host: slow.test
    path: /
    pathType: Prefix
    service: demo/slow
    weights: { c1: 100 }
proxy:
  listen: "$GW"
  # A head a byte a write takes seconds (more on a loaded machine): what is measured is its CPU, not the deadlines.
  requestHeaderTimeout: 60s
  responseTimeout: 60s
YAML
"$Z" agent --config agent.yaml >agent.log 2>&1 & PIDS+=($!)
"$Z" gateway --config gateway.yaml >gateway.log 2>&1 & GW_PID=$!; PIDS+=($GW_PID)
for _ in $(seq 1 200); do
    curl -s -o /dev/null -m 2 -H 'host: slow.test' "http://$GW/healthz" -w '%{http_code}' 2>/dev/null | grep -q 200 && break
    sleep 0.1
done
curl -s -o /dev/null -m 2 -H 'host: slow.test' "http://$GW/healthz" -w '%{http_code}' | grep -q 200 \
    || { echo "the gateway never served the route" >&2; tail gateway.log >&2; exit 1; }

cpu_ms() { awk '{print ($14 + $15) * 10}' "/proc/$GW_PID/stat"; }   # USER_HZ = 100
before=$(cpu_ms)
result=$(curl -s -o /dev/null -m 60 -H 'host: slow.test' "http://$GW/" -w '%{http_code} in %{time_total} s')
echo "an upstream's head of $SIZE bytes a byte a read: $result, gateway CPU $(( $(cpu_ms) - before )) ms"
before=$(cpu_ms)
result=$(timeout 60 python3 "$ROOT/bench/slow-heads.py" client "${GW%:*}" "${GW#*:}" "$SIZE")
echo "a client's head of $SIZE bytes a byte a read: $result, gateway CPU $(( $(cpu_ms) - before )) ms"
