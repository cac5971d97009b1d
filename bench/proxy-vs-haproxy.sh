#!/usr/bin/env bash
# Built-in proxy vs HAProxy 2.6 on the same two loopback demo backends at weights 20/80.
#
# Prints req/s and p99 latency (wrk -t2 -c32) for a backend directly, HAProxy and the built-in
# proxy, the ratio proxy/HAProxy (aim ≥ 0.9) and the p99 the proxy adds over direct (aim ≤ 1 ms).
# Everything runs on loopback; every run is bounded by DURATION. Environment:
#   DURATION (10s)  ROUNDS (2: the runs alternate, figures are the mean)  BASE_PORT (18480)
#   LIGHT_DURATION (5s: the light-load latency runs)
#   SKIP_BUILD=1    use the existing release build
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-2}
BASE_PORT=${BASE_PORT:-18480}
B1=$((BASE_PORT + 1)) B2=$((BASE_PORT + 2)) HAP=$((BASE_PORT + 10)) PROXY=$((BASE_PORT + 11))

if ! command -v haproxy >/dev/null || ! command -v wrk >/dev/null; then
    SUDO=$([ "$(id -u)" = 0 ] && echo "" || echo sudo)
    $SUDO apt-get install -y haproxy wrk
fi

if [ "${SKIP_BUILD:-0}" != 1 ]; then
    swift build -c release --product ProxyBench
fi
BIN=$(swift build -c release --show-bin-path)/ProxyBench

WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

wait_for_port() {
    for _ in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    echo "nothing listens on port $1" >&2
    exit 1
}

"$BIN" backend c1 "127.0.0.1:$B1" >"$WORK/b1.log" 2>&1 & PIDS+=($!)
"$BIN" backend c2 "127.0.0.1:$B2" >"$WORK/b2.log" 2>&1 & PIDS+=($!)
wait_for_port "$B1"; wait_for_port "$B2"

# HAProxy does the same work as the built-in proxy: keep-alive both sides, X-Forwarded-For, a
# response header naming the server.
cat >"$WORK/haproxy.cfg" <<EOF
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
    bind 127.0.0.1:$HAP
    default_backend be
backend be
    balance roundrobin
    http-response set-header x-zone-cluster %[srv_name]
    server c1 127.0.0.1:$B1 weight 20
    server c2 127.0.0.1:$B2 weight 80
EOF
haproxy -f "$WORK/haproxy.cfg" -db >"$WORK/haproxy.log" 2>&1 & PIDS+=($!); HAP_PID=$!
"$BIN" proxy "127.0.0.1:$PROXY" "127.0.0.1:$B1=20" "127.0.0.1:$B2=80" >"$WORK/proxy.log" 2>&1 & PIDS+=($!); PROXY_PID=$!
B1_PID=${PIDS[0]}
wait_for_port "$HAP"; wait_for_port "$PROXY"

# CPU time (user + system, in clock ticks) a process has used so far.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# One wrk run against a port, accounting the CPU of the process serving it: prints
# "REQS P99_MS CPU_US_PER_REQUEST". CPU per request is the figure that survives a loaded machine:
# req/s depends on the share of the two cores the other processes leave.
measure() {
    local port=$1 pid=$2 out before after
    before=$(cpu_ticks "$pid")
    out=$(wrk -t2 -c32 -d"$DURATION" --latency -H "Host: bench.test" "http://127.0.0.1:$port/svc1")
    after=$(cpu_ticks "$pid")
    echo "$out" >>"$WORK/wrk.log"
    local reqs p99 total
    reqs=$(echo "$out" | awk '/^Requests\/sec:/ {print $2}')
    total=$(echo "$out" | awk '/requests in/ {print $1}')
    p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
    echo "$reqs $(to_ms "$p99") $(awk -v t=$((after - before)) -v n="$total" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f", t / hz * 1e6 / n}')"
}

to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v + 0
        if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n = n; else if (v ~ /s$/) n *= 1000
        printf "%.3f", n
    }'
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
# A short warm-up so neither side pays for first connections or lazy initialisation.
for port in "$B1" "$HAP" "$PROXY"; do
    wrk -t2 -c32 -d2s -H "Host: bench.test" "http://127.0.0.1:$port/svc1" >/dev/null
done

declare -A SUM_REQS SUM_P99 SUM_CPU
for name in direct haproxy proxy; do SUM_REQS[$name]=0; SUM_P99[$name]=0; SUM_CPU[$name]=0; done
for round in $(seq 1 "$ROUNDS"); do
    for entry in "direct:$B1:$B1_PID" "haproxy:$HAP:$HAP_PID" "proxy:$PROXY:$PROXY_PID"; do
        IFS=: read -r name port pid <<<"$entry"
        read -r reqs p99 cpu < <(measure "$port" "$pid")
        printf 'round %d %-8s %10.0f req/s   p99 %7.3f ms   %6.2f us CPU/request\n' "$round" "$name" "$reqs" "$p99" "$cpu"
        SUM_REQS[$name]=$(awk -v a="${SUM_REQS[$name]}" -v b="$reqs" 'BEGIN {print a + b}')
        SUM_P99[$name]=$(awk -v a="${SUM_P99[$name]}" -v b="$p99" 'BEGIN {print a + b}')
        SUM_CPU[$name]=$(awk -v a="${SUM_CPU[$name]}" -v b="$cpu" 'BEGIN {print a + b}')
    done
done

# Latency the proxies add, apart from queueing: at full load the direct run serves twice the
# requests of a proxied one, so its p99 carries more queueing than theirs. A light load (4
# connections) measures the hop itself.
light_p99() {
    local out
    out=$(wrk -t1 -c4 -d"$LIGHT_DURATION" --latency -H "Host: bench.test" "http://127.0.0.1:$1/svc1")
    echo "$out" >>"$WORK/wrk.log"
    echo "$(to_ms "$(echo "$out" | awk '$1 == "50%" {print $2}')") $(to_ms "$(echo "$out" | awk '$1 == "99%" {print $2}')")"
}
LIGHT_DURATION=${LIGHT_DURATION:-5s}
read -r M_DIRECT L_DIRECT < <(light_p99 "$B1")
read -r M_HAP L_HAP < <(light_p99 "$HAP")
read -r M_PROXY L_PROXY < <(light_p99 "$PROXY")

mean() { awk -v s="$1" -v n="$ROUNDS" 'BEGIN {printf "%.3f", s / n}'; }
D_REQS=$(mean "${SUM_REQS[direct]}") D_P99=$(mean "${SUM_P99[direct]}") D_CPU=$(mean "${SUM_CPU[direct]}")
H_REQS=$(mean "${SUM_REQS[haproxy]}") H_P99=$(mean "${SUM_P99[haproxy]}") H_CPU=$(mean "${SUM_CPU[haproxy]}")
P_REQS=$(mean "${SUM_REQS[proxy]}") P_P99=$(mean "${SUM_P99[proxy]}") P_CPU=$(mean "${SUM_CPU[proxy]}")

# The split the proxy actually made, from its own backends' point of view.
SPLIT=$(for _ in $(seq 1 100); do
    exec 3<>"/dev/tcp/127.0.0.1/$PROXY"
    printf 'GET /svc1 HTTP/1.1\r\nHost: bench.test\r\nConnection: close\r\n\r\n' >&3
    tr -d '\r' <&3 | awk -F': ' 'tolower($1) == "x-zone-cluster" {print $2}'
    exec 3<&-
done | sort | uniq -c | awk '{printf "%s=%s ", $2, $1}')

echo
echo "wrk -t2 -c32 -d$DURATION, mean of $ROUNDS rounds, $(nproc) cores, $(haproxy -v | head -1 | awk '{print $1, $3}')"
echo "load average before: $LOAD_BEFORE; after: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-10s %10.0f req/s   p99 %7.3f ms   %6.2f us CPU/request (backend)\n' direct "$D_REQS" "$D_P99" "$D_CPU"
printf '%-10s %10.0f req/s   p99 %7.3f ms   %6.2f us CPU/request\n' haproxy "$H_REQS" "$H_P99" "$H_CPU"
printf '%-10s %10.0f req/s   p99 %7.3f ms   %6.2f us CPU/request\n' proxy "$P_REQS" "$P_P99" "$P_CPU"
awk -v p="$P_CPU" -v h="$H_CPU" 'BEGIN {printf "CPU per request haproxy/proxy %.3f (1.0 = the proxy costs what HAProxy costs)\n", h / p}'
awk -v p="$P_REQS" -v h="$H_REQS" 'BEGIN {printf "ratio proxy/haproxy      %.3f   (aim >= 0.9)\n", p / h}'
awk -v p="$P_P99" -v d="$D_P99" -v h="$H_P99" 'BEGIN {
    printf "p99 added by the proxy   %.3f ms (aim <= 1 ms); by haproxy %.3f ms\n", p - d, h - d
}'
printf 'light load (wrk -t1 -c4 -d%s) p50/p99: direct %.3f/%.3f ms, haproxy %.3f/%.3f ms, proxy %.3f/%.3f ms\n' \
    "$LIGHT_DURATION" "$M_DIRECT" "$L_DIRECT" "$M_HAP" "$L_HAP" "$M_PROXY" "$L_PROXY"
awk -v p="$M_PROXY" -v d="$M_DIRECT" -v h="$M_HAP" 'BEGIN {
    printf "p50 added at light load: proxy %.3f ms, haproxy %.3f ms\n", p - d, h - d
}' 
awk -v p="$L_PROXY" -v d="$L_DIRECT" -v h="$L_HAP" 'BEGIN {
    printf "p99 added at light load: proxy %.3f ms (aim <= 1 ms), haproxy %.3f ms\n", p - d, h - d
}'
echo "split of 100 requests through the proxy: $SPLIT(weights 20/80)"
