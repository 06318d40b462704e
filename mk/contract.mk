# The HTTP contract: schemathesis fuzzes /openapi.json against a real `crunch serve`
# (every check; any finding fails). See scripts/schemathesis.sh. Prometheus' promtool
# checks the /metrics page and the chart's PromQL (tests/app/routes/test_routes.py,
# tests/packaging/test_promql.py); its tests skip, saying why, without it.

.PHONY: schemathesis promtool

EXTRA_TESTS += schemathesis
TEST_PREREQS += promtool

schemathesis: venv ## fuzz the OpenAPI schema against a real server (schemathesis, all checks)
	scripts/schemathesis.sh

promtool: ## install promtool (from Debian's prometheus package) into .cache/bin
	@scripts/promtool-install.sh
