#!/usr/bin/env bash
# `make deploy-check` (part of `make test`): the fast checks of deploy/agents, about 30-60 s once the tools are
# installed (scripts/ensure-deps.sh deploy):
#   - the keys made as deploy/agents/README.md says (zone-agent keygen, --trust), in a copy of deploy/agents;
#   - every kustomization rendered with `kubectl kustomize` (components are checked through the kustomizations
#     that use them);
#   - every rendered manifest validated with `kubernetes-validate --strict` against the Kubernetes versions in
#     $K8S_VERSIONS, pinned: the oldest the manifests need (native sidecars are on by default from 1.29; 1.31 is
#     the oldest release still maintained) and the newest the validator knows (kinds from outside Kubernetes
#     itself, such as the monitoring stack's, are listed and skipped);
#   - `checkov --framework kubernetes` on every rendered manifest: no failed check (a check that does not apply is
#     skipped in the manifest by a `checkov.io/skip` annotation that gives the reason);
#   - Envoy's bootstrap and the EDS files a real gateway writes (one backend, one agent, one gateway on
#     loopback) parsed with Envoy's own message definitions (scripts/deploy_check_envoy.py).
# BIN names the zone-agent binary (default: the debug build).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
K8S_VERSIONS=${K8S_VERSIONS:-1.31.0 1.37.0}
TOOLS=${ZONE_AGENT_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/zone-agent/deploy-venv}
BIN=${BIN:-$ROOT/.build/debug/zone-agent}
[ -x "$BIN" ] || { echo "deploy-check: no $BIN: swift build --product zone-agent first" >&2; exit 1; }
[ -x "$TOOLS/bin/checkov" ] || { echo "deploy-check: no tools in $TOOLS: run scripts/ensure-deps.sh deploy" >&2; exit 1; }
command -v kubectl >/dev/null || { echo "deploy-check: no kubectl: run scripts/ensure-deps.sh deploy" >&2; exit 1; }
PY=$TOOLS/bin/python
# Components (keys/, mesh-network/) need the kustomize of kubectl 1.21 or later (v4+); Debian 12's kubernetes-client
# is 1.20 (kustomize v2), so where it is the only kubectl, say so rather than fail on a puzzling error.
kustomize=$(kubectl version --client -o json 2>/dev/null | "$PY" -c 'import json,sys; print(json.load(sys.stdin).get("kustomizeVersion","v0"))')
[ "${kustomize#v}" != "${kustomize}" ] && [ "${kustomize:1:1}" -ge 4 ] 2>/dev/null \
  || { echo "deploy-check: kubectl's kustomize is $kustomize; deploy/agents needs v4 or later (kubectl 1.21+)" >&2; exit 1; }
WORK=$(mktemp -d /tmp/deploy-check.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do kill -9 "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
started=$(date +%s)

# Keys, as the README's step 1 makes them, in a copy (the real keys/ folder is the operator's, and gitignored).
cp -r deploy/agents "$WORK/agents"
rm -f "$WORK"/agents/keys/*.key "$WORK"/agents/keys/*/*.key "$WORK"/agents/keys/*/*.pub "$WORK"/agents/keys/trust.yaml "$WORK"/agents/keys/admin.token
K=$WORK/agents/keys
"$BIN" keygen --mesh --out "$K" >/dev/null
"$BIN" keygen --cluster c1 --out "$K/c1" --trust "$K/trust.yaml" >/dev/null
"$BIN" keygen --cluster c2 --out "$K/c2" --trust "$K/trust.yaml" >/dev/null
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$K/admin.token"

# Render every kustomization that is not a component.
mkdir -p "$WORK/rendered"
rendered=()
while IFS= read -r file; do
  dir=$(dirname "$file")
  grep -qE '^kind:[[:space:]]*Component' "$file" && continue
  name=$(realpath --relative-to="$WORK/agents" "$dir" | tr / _)
  [ "$name" = . ] && name=root
  kubectl kustomize "$dir" > "$WORK/rendered/$name.yaml" 2> "$WORK/kustomize.err" \
    || { echo "deploy-check: kubectl kustomize ${dir#$WORK/} failed:" >&2; cat "$WORK/kustomize.err" >&2; exit 1; }
  rendered+=("$name")
done < <(find "$WORK/agents" -name kustomization.yaml | sort)
echo "deploy-check: rendered ${#rendered[@]} kustomizations: ${rendered[*]}"

# Validate against the pinned Kubernetes version; kinds outside Kubernetes (CRDs) have no schema there.
for version in $K8S_VERSIONS; do "$PY" "$ROOT/scripts/deploy_check_validate.py" "$version" "$WORK"/rendered/*.yaml; done

# checkov: every check passes or is skipped with a reason in the manifest (one run, read as JSON).
"$TOOLS/bin/checkov" --framework kubernetes -d "$WORK/rendered" --skip-download --output json > "$WORK/checkov.json" 2> "$WORK/checkov.err" || true
"$PY" - "$WORK/checkov.json" <<'PY' || { cat "$WORK/checkov.err" >&2; exit 1; }
import json, sys
try:
    reports = json.load(open(sys.argv[1]))
except ValueError:
    sys.exit("deploy-check: checkov printed no report")
reports = reports if isinstance(reports, list) else [reports]
failed = [c for r in reports for c in r["results"]["failed_checks"]]
for c in failed:
    print(f"deploy-check: checkov: {c['check_id']} {c['check_name']}: {c['resource']} in {c['file_path'].lstrip('/')}"
          f" ({c.get('guideline') or 'no guideline'})", file=sys.stderr)
summary = [r["summary"] for r in reports]
print("deploy-check: checkov --framework kubernetes: %d passed, %d failed, %d skipped (each skip gives its reason in the manifest)"
      % (sum(s["passed"] for s in summary), sum(s["failed"] for s in summary), sum(s["skipped"] for s in summary)))
sys.exit(1 if failed else 0)
PY

# Envoy: the bootstrap, and the EDS files a real gateway writes.
NET=127.$((200 + $$ % 50))
M=$WORK/mesh
mkdir -p "$M"
"$BIN" keygen --cluster c1 --out "$M" --trust "$M/trust.yaml" >/dev/null
"$BIN" keygen --cluster c2 --out "$M" --trust "$M/trust.yaml" >/dev/null
"$BIN" keygen --mesh --out "$M" >/dev/null
cat > "$M/agent.yaml" <<YAML
node: c1-a
cluster: c1
gossip: { bind: "$NET.1.1:7946", join: ["$NET.1.1:7946"], profile: fast }
keys: { signing: $M/c1.key, trust: $M/trust.yaml, mesh: $M/mesh.key }
admin: { listen: "$NET.1.1:9101" }
endpoints: { static: [ { service: gateway-demo/service1, address: "$NET.1.100:8080" }, { service: gateway-demo/service1, address: "$NET.1.101:8080" } ] }
probe: { http: { path: /healthz }, interval: 200ms, timeout: 100ms, rise: 1 }
YAML
cat > "$M/gateway.yaml" <<YAML
node: gw-1
gossip: { bind: "$NET.9.1:7946", join: ["$NET.1.1:7946"], profile: fast }
keys: { trust: $M/trust.yaml, mesh: $M/mesh.key }
admin: { listen: "$NET.9.1:9101" }
routes: { ingress: $ROOT/deploy/agents/gateway/envoy/ingress-demo.yaml }
outputs: { envoy: { dir: $M/eds } }
YAML
for b in 100 101; do "$BIN" backend --name web-demo --listen "$NET.1.$b:8080" > "$M/backend-$b.log" 2>&1 & PIDS+=($!); done
"$BIN" agent --config "$M/agent.yaml" > "$M/agent.log" 2>&1 & PIDS+=($!)
"$BIN" gateway --config "$M/gateway.yaml" > "$M/gateway.log" 2>&1 & PIDS+=($!)
for _ in $(seq 1 100); do
  grep -q '"zone" : "c1"' "$M/eds/gateway-demo_service1.json" 2>/dev/null && break
  sleep 0.2
done
grep -q '"zone" : "c1"' "$M/eds/gateway-demo_service1.json" 2>/dev/null \
  || { echo "deploy-check: the gateway wrote no EDS assignment for c1 within 20 s:" >&2; tail -5 "$M/gateway.log" "$M/agent.log" >&2; exit 1; }
"$PY" "$ROOT/scripts/deploy_check_envoy.py" deploy/agents/gateway/envoy/envoy.yaml deploy/agents/gateway/envoy/gateway.yaml "$M/eds"

echo "deploy-check: deploy/agents checked in $(( $(date +%s) - started )) s"
