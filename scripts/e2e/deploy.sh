#!/usr/bin/env bash
# Install (or upgrade) the crunch Helm release of the e2e run and wait for it.
source "$(dirname "$0")/lib.sh"
export KUBECONFIG=$CACHE/kubeconfig HELM_PLUGINS=$E2E_DIR/helm-plugins
NS=${E2E_NAMESPACE:-crunch} RELEASE=${E2E_RELEASE:-crunch}
"$BIN/helm" upgrade --install "$RELEASE" "$E2E_ROOT/helm/crunch" -n "$NS" --create-namespace \
  -f "$E2E_DIR/values-e2e.yaml" --post-renderer e2e-cpu-request --wait --timeout 300s
"$BIN/kubectl" -n "$NS" get pods -o wide
