#!/usr/bin/env bash
# The main job: a local two-cluster mesh on private loopback addresses, a cluster killed under a request stream,
# failover and failback measured (see `zone-agent demo --help` for its options).
set -euo pipefail
exec .build/release/zone-agent demo "$@"
