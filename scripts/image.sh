#!/usr/bin/env bash
# `make image`: zone-agent's container image as an OCI image archive, built and checked without a container
# engine (none runs here), then checked from the archive itself.
#
#   1. the release binary (`make release`: static Swift runtime, stripped) must need nothing but glibc, libsodium
#      and the C++/gcc runtime: no Swift library, no toolchain in the image;
#   2. a minimal Debian root file system (debootstrap --variant=minbase with libsodium23, trimmed like
#      debian:bookworm-slim; cached in .build-image/base-rootfs, built once), plus the binary and a passwd entry
#      for uid 65532: the runtime stage of the Dockerfile;
#   3. packed with umoci into an OCI layout (user 65532:65532, the binary as entrypoint) and written as
#      .build-image/zone-agent-TAG.oci.tar. umoci, not buildah: it turns a directory into an OCI image with no
#      daemon, no storage driver and no registry configuration, which is all this needs;
#   4. the archive unpacked again, and the binary run inside that root file system as uid 65532 with the root
#      mounted read-only: `--version`, then a smoke run of one backend, one agent and one gateway (built-in
#      proxy and Envoy output), all inside the image, on loopback. It runs with `unshare --mount` + `chroot
#      --userspec`: a private mount namespace (nothing leaks to the host's mounts), a kernel-enforced read-only
#      bind of the root, and the real uid 65532, not one mapped through a user namespace (bubblewrap would need
#      one for --uid), which is how a container runtime runs the image.
#
# Push with skopeo (Debian): skopeo copy oci-archive:.build-image/zone-agent-TAG.oci.tar docker://REGISTRY/zone-agent:TAG
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
TAG=${TAG:-0.1.0}
BIN=${BIN:-.build/release/zone-agent}
OUT=${OUT:-.build-image}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
[ "$(id -u)" -eq 0 ] || { echo "make image needs root (debootstrap, mount namespaces, chroot)" >&2; exit 1; }
for tool in debootstrap umoci unshare chroot curl; do
  command -v "$tool" >/dev/null || { echo "missing $tool: run scripts/ensure-deps.sh image" >&2; exit 1; }
done
[ -x "$BIN" ] || { echo "no $BIN: run make release" >&2; exit 1; }
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
checked=()
say() { echo "image: $*"; }

# 1. The binary's libraries.
libs=$(ldd "$BIN" | awk '{print $1}' | sed 's|.*/||' | sort)
if grep -qiE 'swift|foundation|dispatch|BlocksRuntime|icu' <<<"$libs"; then
  echo "image: $BIN still links Swift's shared libraries; build it with make release (--static-swift-stdlib)" >&2
  echo "$libs" >&2
  exit 1
fi
checked+=("the binary links no Swift library ($(tr '\n' ' ' <<<"$libs" | sed 's/ $//'))")

# 2. The base root file system, once.
BASE=$OUT/base-rootfs
STAMP="debootstrap --variant=minbase --include=libsodium23 $SUITE $MIRROR"
if [ "$(cat "$BASE/.zone-agent-base" 2>/dev/null)" != "$STAMP" ]; then
  say "building the Debian base ($STAMP; a few minutes, once)"
  rm -rf "$BASE"
  debootstrap --variant=minbase --include=libsodium23 "$SUITE" "$BASE" "$MIRROR" > "$OUT/debootstrap.log" 2>&1 \
    || { tail -n 20 "$OUT/debootstrap.log" >&2; exit 1; }
  # What debian:bookworm-slim leaves out as well: documentation, manuals, translations, package lists.
  rm -rf "$BASE"/usr/share/doc/* "$BASE"/usr/share/man/* "$BASE"/usr/share/info/* "$BASE"/usr/share/locale/* \
         "$BASE"/var/lib/apt/lists/* "$BASE"/var/cache/apt/* "$BASE"/var/log/*
  echo "$STAMP" > "$BASE/.zone-agent-base"
fi

# The runtime stage: base + binary + uid 65532.
STAGE=$OUT/rootfs
rm -rf "$STAGE"
cp -a "$BASE" "$STAGE"
rm -f "$STAGE/.zone-agent-base"
install -m 0755 "$BIN" "$STAGE/usr/local/bin/zone-agent"
grep -q '^nonroot:' "$STAGE/etc/passwd" || echo 'nonroot:x:65532:65532:zone-agent:/nonexistent:/usr/sbin/nologin' >> "$STAGE/etc/passwd"
grep -q '^nonroot:' "$STAGE/etc/group" || echo 'nonroot:x:65532:' >> "$STAGE/etc/group"

# 3. Pack.
LAYOUT=$OUT/oci
rm -rf "$LAYOUT" "$OUT/bundle"
umoci init --layout "$LAYOUT"
umoci new --image "$LAYOUT:$TAG"
umoci unpack --image "$LAYOUT:$TAG" "$OUT/bundle" >/dev/null
cp -a "$STAGE/." "$OUT/bundle/rootfs/"
umoci repack --image "$LAYOUT:$TAG" "$OUT/bundle"
umoci config --image "$LAYOUT:$TAG" --config.user 65532:65532 --config.entrypoint /usr/local/bin/zone-agent \
  --config.cmd --help --config.exposedports 7946/udp --config.exposedports 7946/tcp --config.exposedports 9101/tcp \
  --config.exposedports 8001/tcp --config.label org.opencontainers.image.title=zone-agent \
  --config.label "org.opencontainers.image.version=$TAG"
umoci gc --layout "$LAYOUT"
rm -rf "$OUT/bundle"
ARCHIVE=$OUT/zone-agent-$TAG.oci.tar
tar -C "$LAYOUT" -cf "$ARCHIVE" .
say "wrote $ARCHIVE ($(du -m "$ARCHIVE" | cut -f1) MB; root file system $(du -sm "$STAGE" | cut -f1) MB)"

# 4. Check what the archive holds.
CHECK=$OUT/check
rm -rf "$CHECK"
mkdir -p "$CHECK/oci"
tar -C "$CHECK/oci" -xf "$ARCHIVE"
umoci unpack --image "$CHECK/oci:$TAG" "$CHECK/bundle" >/dev/null
R=$CHECK/bundle/rootfs
user=$(python3 -c 'import json,sys; u=json.load(open(sys.argv[1]))["process"]["user"]; print(u["uid"], u["gid"])' "$CHECK/bundle/config.json")
[ "$user" = "65532 65532" ] || { echo "image: the image runs as $user, not 65532 65532" >&2; exit 1; }
checked+=("the image's configuration runs its entrypoint as uid 65532, gid 65532")
# Mount points a container runtime would make for the volumes; the smoke run's files go in WORK, a writable volume.
WORK=$CHECK/work
mkdir -p "$R/work" "$WORK"
chown 65532:65532 "$WORK"

# Runs a command inside the image's root file system: private mounts, root read-only, as 65532:65532.
in_image() (
  exec unshare --mount --fork sh -c '
    R=$1; W=$2; shift 2
    mount --bind "$R" "$R" && mount -o remount,bind,ro "$R" &&
    mount -t proc proc "$R/proc" && mount --rbind /dev "$R/dev" && mount -t tmpfs -o size=16m tmpfs "$R/tmp" &&
    mount --bind "$W" "$R/work" &&
    exec chroot --userspec=65532:65532 "$R" "$@"' sh "$R" "$WORK" "$@"
)

version=$(in_image /usr/local/bin/zone-agent --version)
[ "$version" = "$TAG" ] || { echo "image: zone-agent --version printed '$version', not $TAG" >&2; exit 1; }
checked+=("zone-agent --version inside the image prints $TAG")
[ "$(in_image /usr/bin/id -u)" = 65532 ] || { echo "image: the process does not run as uid 65532" >&2; exit 1; }
if in_image /usr/bin/touch /usr/local/bin/written 2>/dev/null || in_image /usr/bin/touch /written 2>/dev/null; then
  echo "image: the root file system was writable in the check" >&2; exit 1
fi
checked+=("inside the image the process is uid 65532 and cannot write to the read-only root")

# The smoke run: keys made inside the image, one backend, one agent, one gateway, all on loopback addresses of
# their own.
NET=127.$((160 + $$ % 40))
PIDS=()
# Each PID starts a tree (a subshell, unshare, the zone-agent process); chroot's change of uid drops the
# parent-death signal, so the whole tree is killed, children first.
kill_tree() { local c; for c in $(pgrep -P "$1"); do kill_tree "$c"; done; kill -9 "$1" 2>/dev/null || true; }
cleanup() { for p in "${PIDS[@]:-}"; do kill_tree "$p"; done; wait 2>/dev/null || true; }
trap cleanup EXIT
# The roster lists both clusters the seed's Ingress weighs (c2 has no agent here, so c1 takes all the traffic).
for c in c1 c2; do in_image /usr/local/bin/zone-agent keygen --cluster $c --out /work/keys --trust /work/keys/trust.yaml >/dev/null; done
in_image /usr/local/bin/zone-agent keygen --mesh --out /work/keys >/dev/null
cp deploy/agents/gateway/envoy/ingress-demo.yaml "$WORK/ingress.yaml"   # the seed's Ingress, cluster ids filled in
cat > "$WORK/agent.yaml" <<YAML
node: c1-a
cluster: c1
gossip: { bind: "$NET.1.1:7946", join: ["$NET.1.1:7946"], profile: fast }
keys: { signing: /work/keys/c1.key, trust: /work/keys/trust.yaml, mesh: /work/keys/mesh.key }
admin: { listen: "$NET.1.1:9101" }
endpoints: { static: [ { service: gateway-demo/service1, address: "$NET.1.100:8080" } ] }
probe: { http: { path: /healthz }, interval: 1s, timeout: 500ms }
YAML
cat > "$WORK/gateway.yaml" <<YAML
node: gw-1
gossip: { bind: "$NET.9.1:7946", join: ["$NET.1.1:7946"], profile: fast }
keys: { trust: /work/keys/trust.yaml, mesh: /work/keys/mesh.key }
admin: { listen: "$NET.9.1:9101" }
routes: { ingress: /work/ingress.yaml }
proxy: { listen: "$NET.9.1:8001" }
outputs: { envoy: { dir: /work/eds } }
YAML
chown -R 65532:65532 "$WORK"
in_image /usr/local/bin/zone-agent backend --name web-demo --listen "$NET.1.100:8080" > "$CHECK/backend.log" 2>&1 & PIDS+=($!)
in_image /usr/local/bin/zone-agent agent --config /work/agent.yaml > "$CHECK/agent.log" 2>&1 & PIDS+=($!)
in_image /usr/local/bin/zone-agent gateway --config /work/gateway.yaml > "$CHECK/gateway.log" 2>&1 & PIDS+=($!)
ready=""
for _ in $(seq 1 120); do
  if curl -fsS -o /dev/null "http://$NET.9.1:9101/readyz" 2>/dev/null; then ready=yes; break; fi
  sleep 0.5
done
if [ -z "$ready" ]; then
  echo "image: the gateway inside the image was not ready within 60 s; its log:" >&2
  tail -n 20 "$CHECK/gateway.log" "$CHECK/agent.log" >&2
  exit 1
fi
answer=$(curl -fsS -D "$CHECK/headers.txt" -H 'Host: alb.ingress.alibaba.com' "http://$NET.9.1:8001/svc1")
grep -qi '^x-zone-cluster: c1' "$CHECK/headers.txt" && [ "$answer" = web-demo ] \
  || { echo "image: the proxy answered '$answer' without x-zone-cluster: c1" >&2; exit 1; }
for _ in $(seq 1 20); do grep -q '"zone" : "c1"' "$WORK/eds/gateway-demo_service1.json" 2>/dev/null && break; sleep 0.5; done
grep -q '"zone" : "c1"' "$WORK/eds/gateway-demo_service1.json" \
  || { echo "image: the gateway wrote no EDS assignment for c1 into its volume" >&2; exit 1; }
checked+=("smoke run inside the image: backend, agent and gateway as uid 65532; gateway ready on /readyz, a request through its proxy served by c1 (x-zone-cluster), its EDS file written to the volume")
cleanup
trap - EXIT

echo "image: $ARCHIVE checked:"
for line in "${checked[@]}"; do echo "  - $line"; done
echo "image: push it with: skopeo copy oci-archive:$ARCHIVE docker://REGISTRY/zone-agent:$TAG"
