#!/usr/bin/env bash
# The main job: a local two-cluster mesh on private loopback addresses; under a request stream, the seed's own drill
# (c2's application scaled to zero, then back) and a zone lost (c2 killed, then restarted), failover and failback
# measured, and the drill report written to drill-reports/ (see `zone-agent demo --help` for its options).
set -euo pipefail
exec .build/release/zone-agent demo "$@"
