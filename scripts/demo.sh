#!/usr/bin/env bash
# The main job. Until the two-cluster demo (`zone-agent demo`) lands, this runs the parts that exist.
set -euo pipefail
bin=.build/release/zone-agent
if "$bin" demo --help >/dev/null 2>&1; then
  exec "$bin" demo
fi
echo "zone-agent $("$bin" --version): the two-cluster failover demo is not built yet; running the parts that exist."
keys=$(mktemp -d)
trap 'rm -rf "$keys"' EXIT
echo
echo "== keygen: a signing key per cluster and the mesh key"
"$bin" keygen --cluster c1 --out "$keys"
"$bin" keygen --cluster c2 --out "$keys"
"$bin" keygen --mesh --out "$keys"
ls -l "$keys"
echo
echo "== wire format and crypto figures (release build)"
swift build -c release --product Benchmarks >/dev/null
.build/release/Benchmarks wire
