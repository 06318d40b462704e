# The HTTP contract: schemathesis fuzzes /openapi.json against a real `crunch serve`
# (every check; any finding fails). See scripts/schemathesis.sh.

.PHONY: schemathesis

EXTRA_TESTS += schemathesis

schemathesis: venv ## fuzz the OpenAPI schema against a real server (schemathesis, all checks)
	scripts/schemathesis.sh
