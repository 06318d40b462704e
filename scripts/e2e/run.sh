#!/usr/bin/env bash
# make e2e: build (or reuse) everything offline, create the kind cluster, deploy the
# stack and crunch, run tests/e2e, write the report of this run under the cluster's
# state directory ($CRUNCH_E2E_CACHE/clusters/$E2E_CLUSTER/results: report.md,
# timings.json, one JSON per test, plots). Tracked docs are never touched here:
# `make e2e-report` copies a run's figures into docs/e2e.md.
#
# Settings (environment):
#   E2E_CLUSTER       kind cluster name (crunch-e2e). A cluster of that name that this
#                     script did not create is never deleted: the run stops instead.
#   E2E_INGRESS_PORT  host port of the Ingress on 127.0.0.1 (18080), checked first.
#   E2E_IMAGE         crunch image to build and test (crunch-e2e/crunch:<version>).
#   E2E_KEEP=1        keep the cluster afterwards (then `make e2e-down`).
#   E2E_PYTEST_ARGS   extra pytest arguments, e.g. "-k autoscale".
#   CRUNCH_E2E_CACHE  the per-machine build cache (~/.cache/crunch-e2e).
source "$(dirname "$0")/lib.sh"
RESULTS=$STATE/results
declare -A T
ORDER=()
step() { # name command...
  local name=$1 t0; shift; t0=$(now)
  log "== $name"
  "$@"
  T[$name]=$(( $(now) - t0 )); ORDER+=("$name")
  log "== $name: ${T[$name]} s"
}
total0=$(now)

# Fail fast, before any build: the Ingress port and the cluster name.
"$E2E_DIR/kind.sh" preflight

rm -rf "$RESULTS"; mkdir -p "$RESULTS"
created=0
cleanup() {
  local rc=$?
  if [ "$created" = 1 ] && [ "${E2E_KEEP:-0}" != 1 ]; then "$E2E_DIR/kind.sh" down || true; fi
  exit $rc
}
trap cleanup EXIT

"$E2E_ROOT/scripts/docker-up.sh"
step host_tools "$E2E_DIR/tools.sh"
step kubernetes_bins "$E2E_DIR/build-bins.sh" kubernetes
step other_go_bins "$E2E_DIR/build-bins.sh"
step cluster_images "$E2E_DIR/build-images.sh"
step node_image "$E2E_DIR/build-node-image.sh"
step app_image make -s -C "$E2E_ROOT" image IMAGE="$E2E_IMAGE"
step fixture_image "$E2E_DIR/build-fixture-image.sh"
step example_image make -s -C "$E2E_ROOT" example-image IMAGE="$E2E_IMAGE" EXAMPLE_IMAGE="$E2E_EXAMPLE_IMAGE"
# A leftover of an earlier run of this script (same name, made by it) goes first.
"$E2E_DIR/kind.sh" down >/dev/null 2>&1 || true
created=1
step cluster_up "$E2E_DIR/kind.sh" up
step load_images "$E2E_DIR/kind.sh" load "$E2E_IMAGE" "$E2E_FIXTURE_IMAGE" "$E2E_EXAMPLE_IMAGE"
step stack "$E2E_DIR/stack.sh"
step deploy "$E2E_DIR/deploy.sh"
rc=0
t0=$(now)
# shellcheck disable=SC2086
E2E_RESULTS=$RESULTS "$E2E_ROOT/.venv/bin/pytest" "$E2E_ROOT/tests/e2e" -v -p no:cacheprovider \
  --junitxml="$RESULTS/junit.xml" ${E2E_PYTEST_ARGS:-} || rc=$?
T[tests]=$(( $(now) - t0 )); ORDER+=(tests)
T[total]=$(( $(now) - total0 )); ORDER+=(total)
{
  echo "{"
  sep=""
  for k in "${ORDER[@]}"; do printf '%s  "%s": %s' "$sep" "$k" "${T[$k]}"; sep=$',\n'; done
  echo; echo "}"
} > "$RESULTS/timings.json"
"$E2E_ROOT/.venv/bin/python" "$E2E_DIR/report.py" --results "$RESULTS" || rc=1
# Kept for `make e2e-report` (median of the last runs); the 10 newest stay.
run_dir=$CACHE/runs/$(date -u +%Y%m%dT%H%M%SZ)-$CLUSTER
mkdir -p "$CACHE/runs" && cp -r "$RESULTS" "$run_dir" && echo "$rc" > "$run_dir/exit-code"
ls -1d "$CACHE"/runs/*/ | head -n -10 | xargs -r rm -rf
log "report of this run: $RESULTS/report.md; \`make e2e-report\` puts the last runs' figures in docs/e2e.md"
exit $rc
