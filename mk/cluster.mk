# The seed's server cluster on one machine: HAProxy (busy-aware) in front of crunch
# instances. See tools/cluster.py, app/balancer/ and docs/balancing.md.

.PHONY: cluster haproxy-install haproxy-config bench-balance

# HAProxy must be present before the Python tests run (its tests skip without it).
TEST_PREREQS += haproxy-install

# Extra flags for `make cluster`, e.g. CLUSTER_ARGS="--count 4 --layout all".
CLUSTER_ARGS ?=

haproxy-install: ## install HAProxy (Debian's package) if it is missing
	@scripts/haproxy-install.sh

haproxy-config: venv ## print the HAProxy configuration `make cluster` uses
	@$(PY) -m app.balancer.haproxy $(CLUSTER_ARGS)

cluster: venv haproxy-install ## HAProxy on :8081 (busy-aware) -> crunch on :8082 (/hello), :8083 (/world)
	CRUNCH_LOG_FORMAT=$${CRUNCH_LOG_FORMAT:-text} $(PY) -m tools.cluster $(CLUSTER_ARGS)

bench-balance: bench-deps haproxy-install ## B1: busy-aware vs round-robin at 50/80/95 % load (~40 min): docs/balancing.md
	$(PY) -m bench.balance $(BENCH_BALANCE_ARGS)
