#!/usr/bin/env bash
# make e2e: build (or reuse) everything offline, create the kind cluster, deploy the
# stack and crunch, run tests/e2e, write docs/e2e.md. Timings go to
# .cache/e2e/results/timings.json. E2E_KEEP=1 keeps the cluster afterwards.
source "$(dirname "$0")/lib.sh"
RESULTS=$CACHE/results
mkdir -p "$RESULTS"
declare -A T
step() { # name command...
  local name=$1 t0; shift; t0=$(now)
  log "== $name"
  "$@"
  T[$name]=$(( $(now) - t0 ))
  log "== $name: ${T[$name]} s"
}
total0=$(now)
"$E2E_ROOT/scripts/docker-up.sh"
step tools "$E2E_DIR/tools.sh"
step go_builds "$E2E_DIR/build-bins.sh"
step cluster_images "$E2E_DIR/build-images.sh"
step node_image "$E2E_DIR/build-node-image.sh"
step app_image make -C "$E2E_ROOT" image
"$E2E_DIR/kind.sh" down >/dev/null 2>&1 || true
step cluster_up "$E2E_DIR/kind.sh" up
step load_app_image "$E2E_DIR/kind.sh" load "crunch:0.1.0"
step stack "$E2E_DIR/stack.sh"
step deploy "$E2E_DIR/deploy.sh"
rc=0
t0=$(now)
E2E_CACHE=$CACHE "$E2E_ROOT/.venv/bin/pytest" "$E2E_ROOT/tests/e2e" -v -p no:cacheprovider \
  --junitxml="$RESULTS/junit.xml" || rc=$?
T[tests]=$(( $(now) - t0 ))
T[total]=$(( $(now) - total0 ))
{
  echo "{"
  first=1
  for k in "${!T[@]}"; do
    [ $first = 1 ] || echo ","
    printf '  "%s": %s' "$k" "${T[$k]}"; first=0
  done
  echo; echo "}"
} > "$RESULTS/timings.json"
"$E2E_ROOT/.venv/bin/python" "$E2E_DIR/report.py" --results "$RESULTS" --out "$E2E_ROOT/docs" || rc=1
[ "${E2E_KEEP:-0}" = 1 ] || "$E2E_DIR/kind.sh" down
exit $rc
