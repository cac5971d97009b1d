#!/usr/bin/env bash
# Installs the Debian packages a target needs, only those missing, so `make demo` and `make test` work on a
# fresh machine. Usage: scripts/ensure-deps.sh [build|test|bench|deploy|image]
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
# The deploy checks (part of test): kubectl for `kubectl kustomize` (Debian's kubernetes-client where no kubectl is
# installed), a Python with venv for the pinned PyPI tools below.
if [ "${1:-build}" = test ] || [ "${1:-build}" = deploy ]; then
  command -v kubectl >/dev/null || have_pkg kubernetes-client || need+=(kubernetes-client)
  python3 -m venv --help >/dev/null 2>&1 || need+=(python3-venv)
fi
# make image: a Debian root file system without a container engine, packed as an OCI image.
if [ "${1:-build}" = image ]; then
  for pkg in debootstrap umoci; do have_pkg "$pkg" || need+=("$pkg"); done
fi
if [ "${1:-build}" = bench ]; then
  for pkg in haproxy serf wrk hyperfine valgrind; do have_pkg "$pkg" || need+=("$pkg"); done
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]} (Debian packages)"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

# The deploy checks' PyPI tools (checkov, kubernetes-validate, xds-protos, protobuf), pinned in
# scripts/deploy-requirements.txt, in a virtual environment kept outside the clone so that CI's fresh clones reuse
# it: installed only when the pins changed since the last install.
if [ "${1:-build}" = test ] || [ "${1:-build}" = deploy ]; then
  requirements="$(dirname "$0")/deploy-requirements.txt"
  venv=${ZONE_AGENT_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/zone-agent/deploy-venv}
  stamp=$(sha256sum "$requirements" | cut -c1-16)
  if [ "$(cat "$venv/.installed" 2>/dev/null)" != "$stamp" ]; then
    echo "installing the deploy checks' Python tools into $venv (PyPI; pinned in $requirements)"
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$requirements"
    echo "$stamp" > "$venv/.installed"
  fi
fi
