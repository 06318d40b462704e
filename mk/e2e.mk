# kind end-to-end (docs/e2e.md). Not part of `make test`: it needs a Docker engine,
# builds its cluster offline on first run (Go modules + Debian packages, cached per
# machine outside the work tree: $CRUNCH_E2E_CACHE, default ~/.cache/crunch-e2e) and
# takes minutes. Settings: E2E_CLUSTER, E2E_INGRESS_PORT, E2E_IMAGE, E2E_KEEP (see
# scripts/e2e/run.sh).

.PHONY: e2e e2e-image e2e-up e2e-down e2e-report e2e-cache-status

E2E_REPORT_RUNS ?= 3

# tools: test 13 parses the chart's renders with the packaging tools' YAML parser; without
# them its six admission dry runs would be skipped.
e2e: venv bench-deps example-deps tools ## kind cluster (node + images built offline), every autoscaling mode, Helm + kustomize, tests/e2e; report of the run
	scripts/e2e/run.sh

e2e-image: ## build (or reuse from the e2e cache) the offline kind node image and every cluster image
	@scripts/docker-up.sh
	scripts/e2e/tools.sh
	scripts/e2e/build-bins.sh kubernetes
	scripts/e2e/build-bins.sh
	scripts/e2e/build-images.sh
	scripts/e2e/build-node-image.sh

e2e-up: venv example-deps tools e2e-image ## create the e2e cluster, install the stack and crunch; keep it (tests/e2e files then run alone)
	scripts/e2e/kind.sh preflight
	. scripts/e2e/lib.sh && $(MAKE) -s image IMAGE="$$E2E_IMAGE"
	scripts/e2e/build-fixture-image.sh
	. scripts/e2e/lib.sh && $(MAKE) -s example-image IMAGE="$$E2E_IMAGE" EXAMPLE_IMAGE="$$E2E_EXAMPLE_IMAGE"
	scripts/e2e/kind.sh up
	. scripts/e2e/lib.sh && scripts/e2e/kind.sh load "$$E2E_IMAGE" "$$E2E_FIXTURE_IMAGE" "$$E2E_EXAMPLE_IMAGE"
	scripts/e2e/stack.sh
	scripts/e2e/deploy.sh

e2e-down: ## delete the e2e kind cluster (only one that make e2e/e2e-up created)
	scripts/e2e/kind.sh down

e2e-report: bench-deps ## docs/e2e.md + docs/img from the last $(E2E_REPORT_RUNS) `make e2e` runs (median [min-max])
	. scripts/e2e/lib.sh && $(PY) scripts/e2e/report.py --docs docs \
		--results $$(ls -1d "$$CACHE"/runs/*/ | tail -n $(E2E_REPORT_RUNS))

e2e-cache-status: ## say whether the e2e build cache is warm (what is missing if not)
	@scripts/e2e/cache-status.sh
