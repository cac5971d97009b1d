#!/usr/bin/env bash
# Writes linker/startup-order.txt: the functions an agent and a gateway run (start, a few seconds in a small mesh, the
# gateway's proxy under wrk), in the order lld should place them first in .text (`--symbol-ordering-file`, Makefile
# RELEASE_FLAGS). Why: a process maps the binary's pages a 64 KB window at a time around each page it touches, so
# the ~2.3 MB of code that runs, spread over 27 MB of .text, kept 14.8 MB mapped; packed together, 8.7 MB
# (README, "Measured here", idle footprint). Names missing from a later build are skipped by lld, so a stale file
# costs memory, never correctness: rerun this after large changes (a release build with symbols, then ~3 minutes).
# Needs valgrind (callgrind) and wrk. Loopback only.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$ROOT/linker/startup-order.txt}
WORK=$(mktemp -d /tmp/startup-order.XXXXXX)
PIDS=()
trap 'for p in "${PIDS[@]:-}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$WORK"' EXIT
command -v valgrind >/dev/null && command -v wrk >/dev/null || { echo "needs valgrind and wrk" >&2; exit 1; }

# The release binary as `make startup-order` builds it: the release flags but with its symbols (no --strip-all);
# valgrind cannot read the DWARF swiftc writes, so the debug sections go (the symbol table stays).
[ -x "${1:-}" ] || { echo "usage: $0 UNSTRIPPED-RELEASE-BINARY (make startup-order)" >&2; exit 1; }
objcopy --strip-debug "$1" "$WORK/zone-agent"
Z=$WORK/zone-agent

cd "$WORK"
NET=127.$((100 + $$ % 150))
# shellcheck source=loopback-mesh.sh
. "$ROOT/scripts/loopback-mesh.sh"
mesh_keys
CALLGRIND=(valgrind --tool=callgrind --demangle=no --compress-strings=no --compress-pos=no --dump-line=no)
for c in 1 2; do
  "$Z" backend --name "web-c$c" --listen "$NET.$c.100:8080" >/dev/null 2>&1 & PIDS+=($!)
  for i in 1 2; do
    agent_config $c $i
    run=()
    [ "$c$i" = 11 ] && run=("${CALLGRIND[@]}" --callgrind-out-file="$WORK/agent.cg")
    "${run[@]}" "$Z" agent --config "agent-c$c-$i.yaml" >"agent-c$c-$i.log" 2>&1 & PIDS+=($!)
    [ "$c$i" = 11 ] && AGENT=$!
  done
done
gateway_config
"${CALLGRIND[@]}" --callgrind-out-file="$WORK/gateway.cg" "$Z" gateway --config gateway.yaml >gateway.log 2>&1 &
GATEWAY=$!; PIDS+=($GATEWAY)

# Until the gateway (slow under valgrind) sees all five members and serves the route: at most 3 minutes.
for _ in $(seq 1 180); do
  n=$(curl -s "http://$NET.99.1:9101/v1/members" | grep -o '"state":"alive"' | wc -l || true)
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "Host: alb.ingress.alibaba.com" "http://$NET.99.1:8001/svc1" || true)
  [ "$n" -ge 5 ] && [ "$code" = 200 ] && break
  sleep 1
done
[ "$n" -ge 5 ] && [ "$code" = 200 ] || { echo "the mesh did not form under valgrind (members $n, proxy $code)" >&2; exit 1; }
curl -s "http://$NET.1.1:9101/metrics" >/dev/null; curl -s "http://$NET.99.1:9101/metrics" >/dev/null
sleep 10   # a few gossip and probe rounds: the steady state's code, not only the start's
wrk -t2 -c32 -d8s -H "Host: alb.ingress.alibaba.com" "http://$NET.99.1:8001/svc1" >/dev/null
callgrind_control -d "$AGENT" >/dev/null; callgrind_control -d "$GATEWAY" >/dev/null
for _ in $(seq 1 30); do ls "$WORK"/agent.cg.* "$WORK"/gateway.cg.* >/dev/null 2>&1 && break; sleep 1; done

# Every function that ran and is defined in the binary, in the binary's present order (which keeps each module's
# code together). Give it the binary `make startup-order` builds, already laid out by the present file: a file
# ordered from a binary without that layout measured worse (agent 24.1 vs 21.5 MB, 2026-12-03; not understood).
python3 - "$Z" "$OUT" "$WORK"/agent.cg.* "$WORK"/gateway.cg.* <<'PY'
import re, subprocess, sys
binary, out, profiles = sys.argv[1], sys.argv[2], sys.argv[3:]
ran = set()
for p in profiles:
    for line in open(p, errors='replace'):
        if line.startswith(('fn=', 'cfn=')):
            ran.add(re.sub(r"'\d+$", '', line.split('=', 1)[1].strip()))
nm = subprocess.check_output(['nm', '-n', '--defined-only', binary], text=True)
order = [f[2] for f in (l.split() for l in nm.splitlines()) if len(f) == 3 and f[1] in 'tTwW' and f[2] in ran]
order = list(dict.fromkeys(order))
open(out, 'w').write(''.join(n + '\n' for n in order))
print(f'{out}: {len(order)} functions')
PY
