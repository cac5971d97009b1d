#!/usr/bin/env bash
# Instructions per request of the gateway's proxy, counted by `valgrind --tool=callgrind`: a figure that
# does not depend on the machine's load, unlike req/s or CPU time. The same setup as
# bench/proxy-vs-haproxy.sh (two `zone-agent backend`s, one agent per cluster, the gateway with inline
# routes at 20/80 and its metrics on) with the gateway under callgrind; after a warm-up the counters are
# zeroed, a fixed number of requests is sent with `ab`, and the counts are dumped.
# Modes: keep-alive (`ab -k`, HTTP/1.0 keep-alive) and a new connection per request (`ab` without -k).
# Environment:
#   Z=PATH       the zone-agent binary (default: the release build in .build/release)
#   REQUESTS     requests per mode (default 4000)   CONCURRENCY (default 8)
#   NET          the addresses used (default 127.78.0: NET.1 .. NET.6)
#   OUT=DIR      keep the callgrind files there (read with `callgrind_annotate FILE`)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
Z=${Z:-$ROOT/.build/release/zone-agent}
REQUESTS=${REQUESTS:-4000}
CONCURRENCY=${CONCURRENCY:-8}
NET=${NET:-127.78.0}
B1=$NET.1:18081 B2=$NET.2:18082 GW=$NET.4:18001 GW_ADMIN=$NET.4:19101
for tool in valgrind callgrind_control ab curl; do
    command -v $tool >/dev/null || { echo "needs $tool (apt-get install valgrind apache2-utils curl)" >&2; exit 1; }
done
[ -x "$Z" ] || { echo "no zone-agent binary at $Z" >&2; exit 1; }

WORK=$(mktemp -d /tmp/proxy-callgrind.XXXXXX)
OUT=${OUT:-$WORK/out}
mkdir -p "$OUT"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK/keys"
}
trap cleanup EXIT
cd "$WORK"

wait_for() { # HOST:PORT [tries of 100 ms]
    local host=${1%:*} port=${1##*:}
    for _ in $(seq 1 "${2:-300}"); do
        if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "nothing listens on $1" >&2
    exit 1
}

"$Z" backend --name web-c1 --listen "$B1" >b1.log 2>&1 & PIDS+=($!)
"$Z" backend --name web-c2 --listen "$B2" >b2.log 2>&1 & PIDS+=($!)
wait_for "$B1"; wait_for "$B2"
"$Z" keygen --cluster c1 --out keys >/dev/null
"$Z" keygen --cluster c2 --out keys >/dev/null
"$Z" keygen --mesh --out keys >/dev/null
printf 'clusters:\n  c1: [%s]\n  c2: [%s]\n' "$(head -1 keys/c1.pub)" "$(head -1 keys/c2.pub)" >keys/trust.yaml
JOIN="[$NET.5:17946, $NET.6:17946]"
for c in 1 2; do
    backend=$([ $c = 1 ] && echo "$B1" || echo "$B2")
    cat >"agent-c$c.yaml" <<YAML
node: c$c-a
cluster: c$c
gossip: { bind: "$NET.$((4 + c)):17946", join: $JOIN }
keys: { signing: keys/c$c.key, trust: keys/trust.yaml, mesh: keys/mesh.key }
admin: { listen: "$NET.$((4 + c)):19101" }
endpoints:
  static:
    - { service: gateway-demo/service1, address: "$backend" }
probe: { http: { path: /healthz }, interval: 1s, timeout: 500ms, fall: 2, rise: 2 }
YAML
    "$Z" agent --config "agent-c$c.yaml" >"agent-c$c.log" 2>&1 & PIDS+=($!)
done
cat >gateway.yaml <<YAML
node: gw-1
gossip: { bind: "$NET.4:17946", join: $JOIN }
keys: { trust: keys/trust.yaml, mesh: keys/mesh.key }
admin: { listen: "$GW_ADMIN" }
routes:
  - host: bench.test
    path: /svc1
    pathType: Prefix
    service: gateway-demo/service1
    weights: { c1: 20, c2: 80 }
proxy:
  listen: "$GW"
YAML
# Instrumentation off until the warm-up is done; --collect-atstart=no keeps start-up out of the counts.
valgrind --tool=callgrind --collect-atstart=no --callgrind-out-file="$OUT/callgrind.out.%p" \
    "$Z" gateway --config gateway.yaml >gateway.log 2>&1 & GW_PID=$!; PIDS+=($GW_PID)
wait_for "$GW" 1200
for _ in $(seq 1 600); do
    if curl -s "http://$GW_ADMIN/v1/table" | grep -Eq '"effectiveWeight" *: *80'; then break; fi
    sleep 0.2
done
curl -s "http://$GW_ADMIN/v1/table" | grep -Eq '"effectiveWeight" *: *80' || { echo "the gateway's table never reached 20/80" >&2; tail gateway.log >&2; exit 1; }

URL="http://$GW/svc1"
ab -q -k -n 500 -c "$CONCURRENCY" -H "Host: bench.test" "$URL" >/dev/null   # warm-up: pools, lazy initialisation
for mode in keepalive close; do
    args=$([ $mode = keepalive ] && echo "-k" || echo "")
    callgrind_control -z "$GW_PID" >/dev/null
    callgrind_control -i on "$GW_PID" >/dev/null
    # shellcheck disable=SC2086
    ab -q $args -n "$REQUESTS" -c "$CONCURRENCY" -H "Host: bench.test" "$URL" >"ab-$mode.log"
    callgrind_control -i off "$GW_PID" >/dev/null
    callgrind_control -d "$mode" "$GW_PID" >/dev/null
    failed=$(awk '/^Failed requests:/ {print $3}' "ab-$mode.log")
    sleep 1
    file=$(ls -t "$OUT"/callgrind.out.* | grep -- "$mode" | head -1 || true)
    [ -n "$file" ] || file=$(ls -t "$OUT"/callgrind.out.* | head -1)
    total=$(callgrind_annotate "$file" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1; exit}')
    awk -v m="$mode" -v t="$total" -v n="$REQUESTS" -v f="$failed" -v file="$file" \
        'BEGIN {printf "%-9s %8d requests  %12.0f instructions/request  failed %s  (%s)\n", m, n, t / n, f, file}'
done
