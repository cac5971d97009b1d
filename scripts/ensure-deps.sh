#!/usr/bin/env bash
# Installs the Debian packages a target needs, only those missing, so `make demo` and `make test` work on a
# fresh machine. Usage: scripts/ensure-deps.sh [build|test|bench]
set -euo pipefail

need=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

for pkg in libsodium-dev pkg-config haproxy; do have_pkg "$pkg" || need+=("$pkg"); done
if [ "${1:-build}" = test ]; then
  # The drill tests: iptables for the partition drill (in a network namespace of its own), Chromium to open reports.
  for pkg in iptables chromium; do have_pkg "$pkg" || need+=("$pkg"); done
  # promtool (Debian's prometheus) checks /metrics, the alert rules and their unit tests.
  have_pkg prometheus || need+=(prometheus)
fi
if [ "${1:-build}" = bench ]; then
  for pkg in haproxy serf wrk hyperfine; do have_pkg "$pkg" || need+=("$pkg"); done
fi
[ ${#need[@]} -eq 0 ] && exit 0

echo "installing ${need[*]} (Debian packages)"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq "${need[@]}" >/dev/null
