#!/usr/bin/env bash
# `make bench-failover`: zone-agent and HAProxy side by side, in one run, on the same loopback topology (the drill's
# local mesh: two clusters, two backends each, 20/80), the same faults and the same open-loop request stream.
# zone-agent at `lan` and `fast`; HAProxy 2.6 with active health checks on the same backends at its default
# `inter 2s fall 3 rise 2` and at `inter 1s`, each with and without `option redispatch`. Scenarios kill-cluster,
# scale-to-zero and partition (the partition in a network namespace of the drill's own, so root).
# REPS=N repetitions each (default 5), RATE=N requests a second (default 50), SCENARIOS="..." to choose.
set -euo pipefail
cd "$(dirname "$0")/.."

REPS=${REPS:-5}
RATE=${RATE:-50}
SCENARIOS=${SCENARIOS:-"kill-cluster scale-to-zero partition"}
OUT=${OUT:-drill-reports/bench-failover-$(date -u +%Y%m%d-%H%M%S)}
BIN=${BIN:-.build/release/zone-agent}
[ -x "$BIN" ] || swift build -c release --product zone-agent
mkdir -p "$OUT"

run() { # name, scenario, drill options...
    local name=$1 scenario=$2; shift 2
    echo "== $name: $scenario x $REPS" >&2
    "$BIN" drill --scenario "$scenario" --repeat "$REPS" --rate "$RATE" --duration 5s \
        --out "$OUT/$name/$scenario" "$@" > "$OUT/$name-$scenario.log" 2>&1 || true
    grep -E "^  (HELD|FAILED)" "$OUT/$name-$scenario.log" >&2 || tail -5 "$OUT/$name-$scenario.log" >&2
}

for scenario in $SCENARIOS; do
    run "zone-agent-lan" "$scenario" --profile lan
    run "zone-agent-fast" "$scenario" --profile fast
    run "haproxy-inter2s" "$scenario" --anchor-haproxy "inter 2s fall 3 rise 2"
    run "haproxy-inter2s-redispatch" "$scenario" --anchor-haproxy "inter 2s fall 3 rise 2 redispatch"
    run "haproxy-inter1s" "$scenario" --anchor-haproxy "inter 1s fall 3 rise 2"
    run "haproxy-inter1s-redispatch" "$scenario" --anchor-haproxy "inter 1s fall 3 rise 2 redispatch"
done
python3 bench/failover-summary.py "$OUT"
