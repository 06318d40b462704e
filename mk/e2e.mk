# kind end-to-end (docs/e2e.md). Not part of `make test`: it needs a Docker engine,
# builds its cluster offline on first run (Go modules + Debian packages, cached per
# machine outside the work tree: $CRUNCH_E2E_CACHE, default ~/.cache/crunch-e2e) and
# takes minutes.

.PHONY: e2e e2e-image e2e-up e2e-down

e2e: venv ## kind cluster (node + images built offline), Helm + kustomize deploys, tests/e2e, docs/e2e.md
	scripts/e2e/run.sh

e2e-image: ## build (or reuse from the e2e cache) the offline kind node image and every cluster image
	@scripts/docker-up.sh
	scripts/e2e/tools.sh
	scripts/e2e/build-bins.sh
	scripts/e2e/build-images.sh
	scripts/e2e/build-node-image.sh

e2e-up: e2e-image image ## create the e2e cluster, install Traefik/Prometheus/adapter and crunch; keep it
	scripts/e2e/kind.sh up
	scripts/e2e/kind.sh load crunch:$(VERSION)
	scripts/e2e/stack.sh
	scripts/e2e/deploy.sh

e2e-down: ## delete the e2e kind cluster
	scripts/e2e/kind.sh down
