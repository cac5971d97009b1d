#!/usr/bin/env bash
# Side by side on loopback: HashiCorp Serf and zone-agent gossip members (gossip-node), N members each; one is
# killed with SIGKILL and we measure the time until every survivor has seen it failed (Serf: member-failed event;
# zone-agent: state dead). Prints both and the ratio (aim: zone-agent ≤ 0.5 × Serf).
#
# Usage: bench/serf-compare.sh [N ...]          (default: 5 20)
# Env:   SERF=/usr/bin/serf  NODE=.build/release/GossipNode  PROFILE=lan  RUNS=1
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SERF=${SERF:-/usr/bin/serf}
NODE=${NODE:-$ROOT/.build/release/GossipNode}
PROFILE=${PROFILE:-lan}
RUNS=${RUNS:-1}
SIZES=("$@")
[ ${#SIZES[@]} -eq 0 ] && SIZES=(5 20)
[ -x "$SERF" ] || { echo "serf not found at $SERF" >&2; exit 1; }
[ -x "$NODE" ] || { echo "gossip-node not built: swift build -c release --product GossipNode" >&2; exit 1; }

WORK=$(mktemp -d /tmp/serf-compare.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do kill -9 "$p" 2>/dev/null || true; done; PIDS=(); }
trap 'cleanup; rm -rf "$WORK"' EXIT

now_ms() { date +%s%3N; }

# Waits until "$@" succeeds, polling every 50 ms, at most $1 seconds; returns 1 on timeout.
wait_for() {
    local limit=$1; shift
    local deadline=$(( $(now_ms) + limit * 1000 ))
    until "$@"; do
        [ "$(now_ms)" -gt "$deadline" ] && return 1
        sleep 0.05
    done
}

# --- Serf -------------------------------------------------------------------------------------------------------
serf_all_alive() {
    local n=$1 i
    for ((i = 0; i < n; i++)); do
        local count
        count=$("$SERF" members -rpc-addr=127.0.0.1:$((27000 + i)) -status=alive 2>/dev/null | wc -l) || return 1
        [ "$count" -eq "$n" ] || return 1
    done
}
serf_failed_everywhere() {
    local n=$1 victim=$2
    [ "$(grep -c " $victim\$" "$WORK/serf-failed.log" 2>/dev/null || true)" -ge $((n - 1)) ]
}
run_serf() {
    local n=$1 i
    : > "$WORK/serf-failed.log"
    cat > "$WORK/serf-handler.sh" <<HANDLER
#!/bin/sh
t=\$(date +%s%3N)
while read -r name rest; do echo "\$t \$SERF_SELF_NAME \$name" >> "$WORK/serf-failed.log"; done
HANDLER
    chmod +x "$WORK/serf-handler.sh"
    for ((i = 0; i < n; i++)); do
        local join=()
        [ "$i" -gt 0 ] && join=(-join=127.0.0.1:26000)
        "$SERF" agent -node=serf$i -bind=127.0.0.1:$((26000 + i)) -rpc-addr=127.0.0.1:$((27000 + i)) \
            -event-handler="member-failed=$WORK/serf-handler.sh" -log-level=err ${join[@]+"${join[@]}"} > "$WORK/serf$i.out" 2>&1 &
        PIDS+=($!)
        [ "$i" -eq 0 ] && sleep 0.5
        sleep 0.05
    done
    wait_for 180 serf_all_alive "$n" || { echo "serf: the cluster of $n never formed" >&2; cleanup; return 1; }
    sleep 3
    local victim=$((n - 1))
    local start; start=$(now_ms)
    kill -9 "${PIDS[$victim]}"
    wait_for 120 serf_failed_everywhere "$n" "serf$victim" || { echo "serf: not every survivor saw the failure" >&2; cleanup; return 1; }
    local last; last=$(grep " serf$victim\$" "$WORK/serf-failed.log" | awk '{print $1}' | sort -n | tail -1)
    cleanup
    sleep 1
    echo $((last - start))
}

# --- zone-agent gossip ------------------------------------------------------------------------------------------
node_all_alive() {
    local n=$1 i
    for ((i = 0; i < n; i++)); do
        # The newest state each member printed for each other member.
        local alive
        alive=$(awk '{state[$3] = $4} END {c = 0; for (m in state) if (state[m] == "alive") c++; print c}' "$WORK/node$i.out")
        [ "$alive" -eq $((n - 1)) ] || return 1
    done
}
node_dead_everywhere() {
    local n=$1 victim=$2 i
    for ((i = 0; i < n; i++)); do
        [ "$i" -eq "$victim" ] && continue
        grep -q " node$victim dead\$" "$WORK/node$i.out" || return 1
    done
}
run_nodes() {
    local n=$1 i
    for ((i = 0; i < n; i++)); do
        local join=()
        [ "$i" -gt 0 ] && join=(--join 127.0.0.1:28000)
        "$NODE" --name node$i --cluster c$((i % 2)) --bind 127.0.0.1:$((28000 + i)) --profile "$PROFILE" ${join[@]+"${join[@]}"} \
            > "$WORK/node$i.out" 2> "$WORK/node$i.err" &
        PIDS+=($!)
        [ "$i" -eq 0 ] && sleep 0.3
    done
    wait_for 180 node_all_alive "$n" || { echo "zone-agent: the mesh of $n never formed" >&2; cleanup; return 1; }
    sleep 3
    local victim=$((n - 1))
    local start; start=$(now_ms)
    kill -9 "${PIDS[$victim]}"
    wait_for 120 node_dead_everywhere "$n" "$victim" || { echo "zone-agent: not every survivor saw the death" >&2; cleanup; return 1; }
    local last=0
    for ((i = 0; i < n - 1; i++)); do
        local t; t=$(grep " node$victim dead\$" "$WORK/node$i.out" | head -1 | awk '{print $1}')
        [ "$t" -gt "$last" ] && last=$t
    done
    cleanup
    sleep 1
    echo $((last - start))
}

printf '%-6s %-6s %14s %14s %8s\n' N run "serf (ms)" "zone-agent (ms)" ratio
for n in "${SIZES[@]}"; do
    for ((r = 1; r <= RUNS; r++)); do
        serf_ms=$(run_serf "$n")
        node_ms=$(run_nodes "$n")
        ratio=$(awk -v a="$node_ms" -v b="$serf_ms" 'BEGIN { printf "%.2f", a / b }')
        printf '%-6s %-6s %14s %14s %8s\n' "$n" "$r" "$serf_ms" "$node_ms" "$ratio"
    done
done
echo "(profile $PROFILE; aim: ratio ≤ 0.5)"
