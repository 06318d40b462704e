#!/usr/bin/env bash
# The e2e-only image $E2E_FIXTURE_IMAGE: the crunch image under test ($E2E_IMAGE) plus
# the test-only task modules of tests/e2e/fixtures (e.g. e2e_hold: a worker held
# without CPU), built the way a user adds their own tasks (FROM crunch + a package).
# Only the tests that need a fixture deploy it; nothing else ever runs it.
source "$(dirname "$0")/lib.sh"
ctx=$(mktemp -d); trap 'rm -rf "$ctx"' EXIT
find "$E2E_ROOT/tests/e2e/fixtures" -maxdepth 1 -name '*.py' ! -name '__init__.py' -exec cp {} "$ctx/" \;
printf 'FROM %s\nCOPY *.py /opt/crunch-e2e/\nENV PYTHONPATH=/opt/crunch-e2e\n' "$E2E_IMAGE" \
  | docker build -q -t "$E2E_FIXTURE_IMAGE" -f - "$ctx" >/dev/null
log "image $E2E_FIXTURE_IMAGE (= $E2E_IMAGE + tests/e2e/fixtures)"
