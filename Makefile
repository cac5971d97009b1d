# zone-agent: `make demo` runs the main job, `make test` runs the tests. Both install what they need.
SWIFT ?= swift
BIN := .build/release/zone-agent

.PHONY: all deps build release demo test drills adversarial fuzz fuzz-smoke bench bench-gossip bench-failover bench-proxy clean

all: build

deps:
	@scripts/ensure-deps.sh build

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release --product zone-agent

demo: release
	@scripts/demo.sh

test:
	@scripts/ensure-deps.sh test
	@scripts/test.sh

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
	$(SWIFT) build -c release --product zone-agent
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
	rm -rf .build .build-fuzz fuzz-artifacts
