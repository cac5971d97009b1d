# shellcheck shell=bash
# Sourced, not run: the small sealed mesh on loopback that bench/idle-footprint.sh and scripts/startup-order.sh
# measure, configured as the README shows: agents of clusters c1 and c2 with one backend each (static endpoints),
# and a gateway with the built-in proxy on the seed's Ingress. Needs Z (the binary), ROOT (the repository) and NET
# (a 127.x prefix of the caller's), and writes into the working directory.

# Keys for both clusters and the mesh, the trust roster, the seed's Ingress with the demo's cluster names; sets
# JOIN, the agents' seed list (the first agent of each cluster).
mesh_keys() {
  "$Z" keygen --cluster c1 --out keys >/dev/null
  "$Z" keygen --cluster c2 --out keys >/dev/null
  "$Z" keygen --mesh --out keys >/dev/null
  printf 'clusters:\n  c1: [%s]\n  c2: [%s]\n' "$(head -1 keys/c1.pub)" "$(head -1 keys/c2.pub)" > keys/trust.yaml
  sed -e 's/\${cluster1-id}/c1/; s/\${cluster2-id}/c2/' "$ROOT/deploy/agents/gateway/envoy/ingress-demo.yaml" > ingress.yaml
  JOIN="[$NET.1.1:7946, $NET.2.1:7946]"
}

# Writes agent-cC-I.yaml: agent I of cluster C, at $NET.C.I, probing the cluster's backend at $NET.C.100:8080.
agent_config() {
  local c=$1 i=$2
  cat > "agent-c$c-$i.yaml" <<YAML
node: c$c-$i
cluster: c$c
gossip: { bind: "$NET.$c.$i:7946", join: $JOIN }
keys: { signing: keys/c$c.key, trust: keys/trust.yaml, mesh: keys/mesh.key }
admin: { listen: "$NET.$c.$i:9101" }
endpoints: { static: [ { service: gateway-demo/service1, address: "$NET.$c.100:8080" } ] }
probe: { http: { path: /healthz }, interval: 1s, timeout: 500ms }
YAML
}

# Writes gateway.yaml: the gateway at $NET.99.1, its proxy on port 8001, admin on 9101.
gateway_config() {
  cat > gateway.yaml <<YAML
node: gateway
gossip: { bind: "$NET.99.1:7946", join: $JOIN }
keys: { trust: keys/trust.yaml, mesh: keys/mesh.key }
admin: { listen: "$NET.99.1:9101" }
routes: { ingress: ingress.yaml }
proxy: { listen: "$NET.99.1:8001" }
YAML
}
