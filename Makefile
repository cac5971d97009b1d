# zone-agent: `make demo` runs the main job, `make test` runs the tests. Both install what they need.
SWIFT ?= swift
BIN := .build/release/zone-agent
# The release binary carries the Swift runtime and Foundation (no shared Swift libraries to load: less memory per
# process, and an image without a toolchain) and no symbol table. Every target that builds it uses these flags, so
# one binary at one path serves the demo, the drills, the benches and `make image`.
# Its layout: every function in a section of its own (our modules and the packages'; the Swift runtime and
# Foundation mostly come so), and the functions an agent and a gateway run placed first and together by lld
# (linker/startup-order.txt, `make startup-order` rewrites it). A process maps the binary 64 KB around every page it
# touches: the 2.3 MB of code that runs, scattered over 27 MB of .text, kept 14.8 MB of it mapped in each process
# (README, "Measured here", idle footprint). The order changes where code sits, not what it does.
# SwiftPM links executables with --export-dynamic: every one of the binary's ~31,000 functions in the dynamic symbol
# table (2.8 MB of .dynsym, .dynstr and .gnu.hash, much of it read at start as the dynamic linker resolves libc's
# symbols against the executable first). Nothing loads code that links against us, so the table holds only what we
# import: idle agent 22.6 -> 20.9 MB RSS (bench/idle-footprint.sh, CACHE=cold; 19.5-19.8 with the order refreshed). A
# crash backtrace loses the names that table gave it: the same flags without --strip-all build a binary to read its
# addresses against (addr2line -f -e).
RELEASE_LAYOUT := -Xswiftc -Xfrontend -Xswiftc -function-sections -Xcc -ffunction-sections \
  -Xlinker --symbol-ordering-file=$(CURDIR)/linker/startup-order.txt -Xlinker --no-warn-symbol-ordering \
  -Xlinker --no-export-dynamic
RELEASE_FLAGS := --static-swift-stdlib $(RELEASE_LAYOUT) -Xlinker --strip-all

.PHONY: all deps build release startup-order demo test deploy-check image drills adversarial fuzz fuzz-smoke bench bench-gossip bench-failover bench-proxy clean

all: build

deps:
	@scripts/ensure-deps.sh build

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release --product zone-agent $(RELEASE_FLAGS)

# The start-up order file from a profile (callgrind) of an agent and a gateway built as `release` but with symbols.
startup-order: deps
	$(SWIFT) build -c release --product zone-agent --static-swift-stdlib $(RELEASE_LAYOUT)
	scripts/startup-order.sh .build/release/zone-agent

demo: release
	@scripts/demo.sh

# The deploy checks run first (under a minute) and do not stop the tests; either failing fails the target.
test:
	@scripts/ensure-deps.sh test
	@$(MAKE) --no-print-directory deploy-check; deploy=$$?; scripts/test.sh; tests=$$?; \
	  [ $$deploy -eq 0 ] || echo "make test: the deploy checks failed (above)"; exit $$((deploy || tests))

# deploy/agents rendered, validated (kubernetes-validate --strict, checkov) and Envoy's files parsed with Envoy's
# own message definitions; the fast part of issue 14's checks.
deploy-check:
	@scripts/ensure-deps.sh deploy
	$(SWIFT) build --product zone-agent
	@scripts/deploy-check.sh

# The container image as an OCI archive in .build-image/, built without a container engine and checked inside
# (the binary as uid 65532 on a read-only root, a one-agent one-gateway smoke run). Needs root; a few minutes.
image: release
	@scripts/ensure-deps.sh image
	@scripts/image.sh

# Every drill on the local mesh at the drill timing, with its report in drill-reports/.
drills: release
	$(BIN) drill --scenario all --profile fast

# The gossip port under attack, at full length (10 s floods; `make test` runs 3 s ones): prints its figures.
adversarial: deps
	@scripts/adversarial.sh

# A short, seeded round of the decoder fuzzer (at least 100,000 mutated inputs built from valid messages).
fuzz-smoke:
	@scripts/fuzz.sh 100000 1

# An open-ended fuzzing session; FUZZ_RUNS=N bounds it.
fuzz: deps
	@scripts/fuzz.sh $${FUZZ_RUNS:-0} $${FUZZ_SEED:-$$RANDOM}

bench: deps
	$(SWIFT) build -c release --product Benchmarks
	.build/release/Benchmarks wire
	.build/release/Benchmarks table

bench-gossip:
	@scripts/ensure-deps.sh bench
	$(SWIFT) build -c release --product Benchmarks
	$(SWIFT) build -c release --product GossipNode
	.build/release/Benchmarks gossip
	bench/serf-compare.sh 5 20

# zone-agent against HAProxy's health checks: the same mesh, faults and request stream (about half an hour).
bench-failover: release
	@scripts/ensure-deps.sh bench
	bench/failover-vs-haproxy.sh

bench-proxy:
	@scripts/ensure-deps.sh bench
	bench/proxy-vs-haproxy.sh
	$(SWIFT) build -c release --product zone-agent $(RELEASE_FLAGS)
	bench/idle-footprint.sh

# Observability checks with Prometheus's own promtool: the alert rules and their unit tests, the dashboard's
# queries, and `promtool check metrics` on a live agent's and gateway's /metrics during a failover (`make test`
# runs them too; this runs them alone).
.PHONY: monitoring-check
monitoring-check:
	@scripts/ensure-deps.sh test
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --filter 'MonitoringRulesTests|MonitoringLiveTests|MetricsTests|StatusPageTests'

clean:
	rm -rf .build .build-fuzz .build-image fuzz-artifacts
