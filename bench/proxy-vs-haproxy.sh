#!/usr/bin/env bash
# The built-in proxy as users run it, against HAProxy, on the same two loopback backends at 20/80.
#
# zone-agent side: the release `zone-agent` binary, configured as the README shows: one agent per
# cluster (static endpoints, HTTP probes), a gateway with inline routes at 20/80, the admin API and
# its metrics on, the proxy with its defaults. HAProxy side: nbthread 2, roundrobin 20/80, health
# checks, forwardfor, one response header naming the server. Both in front of two
# `zone-agent backend` processes.
#
# Three modes, each run against both with the order alternating from round to round: keep-alive at
# `wrk -c32`, keep-alive at `-c256`, and a new connection per request (`Connection: close`, -c32).
# Per mode: req/s, p50, p99, CPU per request of the proxy process (user + system from /proc/PID/stat,
# the figure that survives a loaded machine), and the 20/80 split under that load (the gateway's own
# `zone_agent_proxy_requests_total`, HAProxy's stats page). Everything on loopback, every run bounded.
# Environment:
#   DURATION (10s)  ROUNDS (2)  NET (127.77.0: the addresses used, NET.1 .. NET.6)
#   Z=PATH          the zone-agent binary (default: the release build, built first unless SKIP_BUILD=1)
#   MODES           which modes (default "c32 c256 close")
#   SYSCALLS=DIR    also count each proxy's system calls (`strace -c -f`) during its first-round runs
#                   (DIR/NAME-MODE.strace; strace slows the process, so those runs' figures are not comparable)
#   PROFILE=DIR     also record the gateway with `perf record -g` during each of its first-round runs
#                   (DIR/gateway-MODE.perf.data; read with `perf report -i FILE --no-children`)
#   CALLGRIND=DIR   instead of the modes: the gateway and HAProxy run under `valgrind --tool=callgrind`, and after a
#                   warm-up `wrk -t1 -c8 -d15s` through each; prints instructions per proxied request of each and
#                   their ratio (figures that do not depend on the machine's load) and the gateway's costliest
#                   functions, and leaves the profiles in DIR/NAME.callgrind. Names need a binary with its symbols: build `make release` without
#                   `--strip-all` (as `make startup-order` does) and `objcopy --strip-debug` it (valgrind 3.19
#                   cannot read Swift 6's DWARF 5); Z=that file. CALLGRIND_CLOSE=1: a new connection per request.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)

DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-2}
NET=${NET:-127.77.0}
MODES=${MODES:-c32 c256 close}
B1=$NET.1:18081 B2=$NET.2:18082 HAP=$NET.3:18090 HAP_STATS=$NET.3:18091 GW=$NET.4:18001 GW_ADMIN=$NET.4:19101

if ! command -v haproxy >/dev/null || ! command -v wrk >/dev/null || ! command -v curl >/dev/null; then
    SUDO=$([ "$(id -u)" = 0 ] && echo "" || echo sudo)
    $SUDO apt-get install -y haproxy wrk curl
fi
if [ -z "${Z:-}" ]; then
    if [ "${SKIP_BUILD:-0}" != 1 ]; then (cd "$ROOT" && swift build -c release --product zone-agent); fi
    Z=$ROOT/.build/release/zone-agent
fi
[ -x "$Z" ] || { echo "no zone-agent binary at $Z" >&2; exit 1; }

. "$ROOT/bench/scratch.sh" proxy-bench

wait_for() { # HOST:PORT [tries of 50 ms]
    local host=${1%:*} port=${1##*:}
    for _ in $(seq 1 "${2:-200}"); do
        if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    echo "nothing listens on $1" >&2
    exit 1
}

"$Z" backend --name web-c1 --listen "$B1" >b1.log 2>&1 & PIDS+=($!)
"$Z" backend --name web-c2 --listen "$B2" >b2.log 2>&1 & PIDS+=($!)
wait_for "$B1"; wait_for "$B2"

# --- zone-agent: keys, one agent per cluster, the gateway (README's configuration, inline routes) ---
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
under_callgrind() { # NAME: the command prefix that runs NAME under callgrind when CALLGRIND is set
    if [ -n "${CALLGRIND:-}" ]; then
        # The profile at exit goes to NAME.exit (it holds only what ran after the dump); the dump is NAME.callgrind.
        echo valgrind --tool=callgrind --compress-strings=no --compress-pos=no --callgrind-out-file="$CALLGRIND/$1.exit"
    fi
}
if [ -n "${CALLGRIND:-}" ]; then mkdir -p "$CALLGRIND"; CALLGRIND=$(cd "$CALLGRIND" && pwd); fi
# shellcheck disable=SC2046
$(under_callgrind gateway) "$Z" gateway --config gateway.yaml >gateway.log 2>&1 & GW_PID=$!; PIDS+=($GW_PID)

# --- HAProxy: the same work (keep-alive both sides, X-Forwarded-For, a response header naming the
# server, health checks), two threads as the gateway has two event loops here ---
cat >haproxy.cfg <<EOF
global
    nbthread 2
    maxconn 4096
defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    option http-keep-alive
    option forwardfor
    http-reuse always
frontend fe
    bind $HAP
    default_backend be
backend be
    balance roundrobin
    option httpchk GET /healthz
    http-response set-header x-zone-cluster %[srv_name]
    server c1 $B1 weight 20 check inter 1s fall 2 rise 2
    server c2 $B2 weight 80 check inter 1s fall 2 rise 2
listen stats
    bind $HAP_STATS
    stats enable
    stats uri /stats
EOF
# shellcheck disable=SC2046
$(under_callgrind haproxy) haproxy -f haproxy.cfg -db >haproxy.log 2>&1 & HAP_PID=$!; PIDS+=($HAP_PID)
wait_for "$HAP" $([ -n "${CALLGRIND:-}" ] && echo 2400 || echo 200)

# The gateway listens once its table can serve; then both clusters must carry their weight.
wait_for "$GW" $([ -n "${CALLGRIND:-}" ] && echo 2400 || echo 400)
for _ in $(seq 1 200); do
    if curl -s "http://$GW_ADMIN/v1/table" | grep -Eq '"effectiveWeight" *: *80'; then break; fi
    sleep 0.1
done
curl -s "http://$GW_ADMIN/v1/table" | grep -Eq '"effectiveWeight" *: *80' || { echo "the gateway's table never reached 20/80" >&2; tail gateway.log >&2; exit 1; }

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v + 0
        if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n = n; else if (v ~ /s$/) n *= 1000
        printf "%.3f", n
    }'
}

# Requests each cluster served so far: "C1 C2".
served() {
    if [ "$1" = gateway ]; then
        curl -s "http://$GW_ADMIN/metrics" | awk '
            /^zone_agent_proxy_requests_total/ && /cluster="c1"/ {a += $NF}
            /^zone_agent_proxy_requests_total/ && /cluster="c2"/ {b += $NF}
            END {printf "%d %d\n", a, b}'
    else
        # The servers' hrsp_2xx column: responses each one gave.
        curl -s "http://$HAP_STATS/stats;csv" | awk -F, '
            NR == 1 {for (i = 1; i <= NF; i++) if ($i == "hrsp_2xx") col = i}
            $1 == "be" && $2 == "c1" {a = $col}
            $1 == "be" && $2 == "c2" {b = $col}
            END {printf "%d %d\n", a, b}'
    fi
}

wrk_args() { # MODE: sets WRK_ARGS. An array: wrk takes a header only as "Name: value", and the space must survive
    # (as one word of a string, `-H Connection:close` was dropped by wrk, so "close" measured keep-alive until 2026-12-04).
    case $1 in
        c32) WRK_ARGS=(-t2 -c32) ;;
        c256) WRK_ARGS=(-t2 -c256) ;;
        close) WRK_ARGS=(-t2 -c32 -H "Connection: close") ;;
    esac
}

# One run: prints "REQS P50_MS P99_MS CPU_US_PER_REQUEST C1_SHARE_PERCENT ERRORS".
measure() { # NAME ADDRESS PID MODE
    local name=$1 address=$2 pid=$3 mode=$4 out before after s0 s1
    read -r -a s0 < <(served "$name")
    local perf_pid=
    if [ -n "${PROFILE:-}" ] && [ "$name" = gateway ] && [ ! -e "$PROFILE/gateway-$mode.perf.data" ]; then
        mkdir -p "$PROFILE"
        perf record -q -F 499 -g -p "$pid" -o "$PROFILE/gateway-$mode.perf.data" -- sleep "${DURATION%s}" >/dev/null 2>&1 & perf_pid=$!
    fi
    local strace_pid=
    if [ -n "${SYSCALLS:-}" ] && [ ! -e "$SYSCALLS/$name-$mode.strace" ]; then
        mkdir -p "$SYSCALLS"
        timeout -s INT "${DURATION%s}" strace -c -f -p "$pid" -o "$SYSCALLS/$name-$mode.strace" >/dev/null 2>&1 & strace_pid=$!
    fi
    before=$(cpu_ticks "$pid")
    wrk_args "$mode"
    out=$(wrk "${WRK_ARGS[@]}" -d"$DURATION" --latency -H "Host: bench.test" "http://$address/svc1")
    after=$(cpu_ticks "$pid")
    if [ -n "$perf_pid" ]; then wait "$perf_pid" || true; fi
    if [ -n "$strace_pid" ]; then wait "$strace_pid" || true; fi
    read -r -a s1 < <(served "$name")
    echo "== $name $mode" >>wrk.log; echo "$out" >>wrk.log
    local reqs total p50 p99 errors
    reqs=$(echo "$out" | awk '/^Requests\/sec:/ {print $2}')
    total=$(echo "$out" | awk '/requests in/ {print $1}')
    p50=$(echo "$out" | awk '$1 == "50%" {print $2}')
    p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
    if [ -n "$strace_pid" ]; then echo "requests $total" >>"$SYSCALLS/$name-$mode.strace"; fi
    errors=$(echo "$out" | awk '/Non-2xx|Socket errors/ {for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) s += $i} END {print s + 0}')
    awk -v r="$reqs" -v p50="$(to_ms "$p50")" -v p99="$(to_ms "$p99")" -v t=$((after - before)) -v n="$total" \
        -v hz="$(getconf CLK_TCK)" -v a=$((s1[0] - s0[0])) -v b=$((s1[1] - s0[1])) -v e="$errors" \
        'BEGIN {printf "%s %s %s %.2f %.3f %d\n", r, p50, p99, t / hz * 1e6 / n, (a + b) ? 100 * a / (a + b) : 0, e}'
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for address in "$HAP" "$GW"; do # warm-up: first connections, lazy initialisation, pools
    wrk -t2 -c32 -d2s -H "Host: bench.test" "http://$address/svc1" >/dev/null
done

if [ -n "${CALLGRIND:-}" ]; then
    # Counted from zero after the warm-up, dumped after the run: the requests' instructions, and for the gateway the
    # gossip's too, a few per cent of them here.
    count() { # NAME ADDRESS PID: instructions per request
        callgrind_control -z "$3" >/dev/null 2>&1
        local out total dump
        local close=()
        if [ "${CALLGRIND_CLOSE:-0}" = 1 ]; then close=(-H "Connection: close"); fi
        out=$(wrk -t1 -c8 -d15s "${close[@]}" -H "Host: bench.test" "http://$2/svc1")
        callgrind_control -d "$3" >/dev/null 2>&1
        total=$(echo "$out" | awk '/requests in/ {print $1}')
        dump=$(ls -t "$CALLGRIND/$1.exit".* | head -1)
        mv "$dump" "$CALLGRIND/$1.callgrind"
        # Each function's own instructions (the line after `calls=` is the callee's cost, not the caller's).
        awk -v n="$total" -v name="$1" -v top="$([ "$1" = gateway ] && echo 25 || echo 0)" '
            /^fn=/ {fn = substr($0, 4); next}
            /^calls=/ {callee = 1; next}
            /^[0-9+*-]/ {if (callee) {callee = 0; next} own[fn] += $2; all += $2}
            END {
                printf "%s: %d requests under callgrind, %.0f instructions per request\n", name, n, all / n > "/dev/stderr"
                print all / n
                if (top) for (f in own) printf "%10.0f  %s\n", own[f] / n, substr(f, 1, 150) | "sort -rn | head -" top " >&2"
            }' "$CALLGRIND/$1.callgrind"
    }
    g=$(count gateway "$GW" "$GW_PID")
    h=$(count haproxy "$HAP" "$HAP_PID")
    awk -v g="$g" -v h="$h" 'BEGIN {printf "instructions per request, gateway/haproxy: %.2fx (aim <= 1.0)\n", g / h}'
    exit 0
fi

declare -A SUM
for round in $(seq 1 "$ROUNDS"); do
    for mode in $MODES; do
        order=("haproxy:$HAP:$HAP_PID" "gateway:$GW:$GW_PID")
        if [ $((round % 2)) = 0 ]; then order=("${order[1]}" "${order[0]}"); fi
        for entry in "${order[@]}"; do
            IFS=: read -r name host port pid <<<"$entry"
            read -r reqs p50 p99 cpu share errors < <(measure "$name" "$host:$port" "$pid" "$mode")
            printf 'round %d %-6s %-8s %9.0f req/s  p50 %6.3f ms  p99 %6.3f ms  %6.2f us CPU/req  c1 %5.2f%%  errors %d\n' \
                "$round" "$mode" "$name" "$reqs" "$p50" "$p99" "$cpu" "$share" "$errors"
            for k in reqs p50 p99 cpu share errors; do
                SUM[$name.$mode.$k]=$(awk -v a="${SUM[$name.$mode.$k]:-0}" -v b="${!k}" 'BEGIN {print a + b}')
            done
        done
    done
done

mean() { awk -v s="${SUM[$1]}" -v n="$ROUNDS" 'BEGIN {printf "%.3f", s / n}'; }
echo
echo "zone-agent gateway vs $(haproxy -v | head -1 | awk '{print $1, $3}'), $DURATION per run, mean of $ROUNDS rounds, $(nproc) cores"
echo "load average before: $LOAD_BEFORE; after: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-6s %-8s %10s %9s %9s %11s %9s %11s\n' mode proxy req/s p50-ms p99-ms CPU-us/req c1-share errors
for mode in $MODES; do
    for name in haproxy gateway; do
        printf '%-6s %-8s %10.0f %9.3f %9.3f %11.2f %8.2f%% %11.0f\n' "$mode" "$name" \
            "$(mean "$name.$mode.reqs")" "$(mean "$name.$mode.p50")" "$(mean "$name.$mode.p99")" \
            "$(mean "$name.$mode.cpu")" "$(mean "$name.$mode.share")" "${SUM[$name.$mode.errors]}"
    done
done
echo
for mode in $MODES; do
    awk -v m="$mode" -v gr="$(mean "gateway.$mode.reqs")" -v hr="$(mean "haproxy.$mode.reqs")" \
        -v gp="$(mean "gateway.$mode.p99")" -v hp="$(mean "haproxy.$mode.p99")" \
        -v gc="$(mean "gateway.$mode.cpu")" -v hc="$(mean "haproxy.$mode.cpu")" 'BEGIN {
        printf "%-6s gateway/haproxy: req/s %.2fx (aim >= 1.0)   p99 %.2fx (aim <= 1.0)   CPU/request %.2fx (aim <= 1.0)\n",
            m, gr / hr, gp / hp, gc / hc
    }'
done
echo "split: c1's share of the requests each served under load (weights 20/80: aim 20%)"
