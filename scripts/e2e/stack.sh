#!/usr/bin/env bash
# Install what the crunch chart expects around it: the Ingress controller (Traefik),
# Prometheus, and what each autoscaling mode reads: prometheus-adapter (with the
# project's adapter rule), KEDA (operator + metrics apiserver) and metrics-server; and
# kube-router's firewall controller, which enforces NetworkPolicy.
# Idempotent.
source "$(dirname "$0")/lib.sh"

k() { "$BIN/kubectl" "$@"; }
export TRAEFIK_IMAGE=${TRAEFIK_IMAGE:-crunch-e2e/traefik:1}
export PROMETHEUS_IMAGE=${PROMETHEUS_IMAGE:-crunch-e2e/prometheus:1}
export ADAPTER_IMAGE=${ADAPTER_IMAGE:-crunch-e2e/prometheus-adapter:1}
# kubectl + a shell (the routes-cni image) for Prometheus' pod-discovery sidecar.
export TOOLS_IMAGE=${TOOLS_IMAGE:-crunch-e2e/routes-cni:1}
export METRICS_SERVER_IMAGE=${METRICS_SERVER_IMAGE:-crunch-e2e/metrics-server:1}
render() {
  sed -e "s|\${TRAEFIK_IMAGE}|$TRAEFIK_IMAGE|" -e "s|\${PROMETHEUS_IMAGE}|$PROMETHEUS_IMAGE|" \
      -e "s|\${ADAPTER_IMAGE}|$ADAPTER_IMAGE|" -e "s|\${TOOLS_IMAGE}|$TOOLS_IMAGE|" \
      -e "s|\${METRICS_SERVER_IMAGE}|$METRICS_SERVER_IMAGE|" "$E2E_DIR/manifests/$1"
}
# KEDA's own manifests (CRDs, RBAC, operator, metrics apiserver: its config/minimal,
# no admission webhooks) as shipped in the Go module that build-bins.sh built the
# binaries from, with the images of this cluster. Server-side apply: the CRDs are too
# large for the last-applied annotation.
keda() {
  local v dir
  v=$(awk '$1=="github.com/kedacore/keda/v2"{print $2}' "$E2E_DIR/go/keda/go.mod")
  dir=$GOMODCACHE/github.com/kedacore/keda/v2@$v/config/minimal
  [ -d "$dir" ] || (cd "$E2E_DIR/go/keda" && go mod download github.com/kedacore/keda/v2)
  k kustomize "$dir" \
    | sed -e "s|ghcr.io/kedacore/keda:[^ ]*$|crunch-e2e/keda-operator:1|" \
          -e "s|ghcr.io/kedacore/keda-metrics-apiserver:[^ ]*$|crunch-e2e/keda-adapter:1|" \
          -e "s|imagePullPolicy: Always|imagePullPolicy: IfNotPresent|" \
    | k apply --server-side --force-conflicts -f - >/dev/null
}
# NetworkPolicy is enforced in this cluster (kube-router's firewall controller).
k apply -f "$E2E_DIR/manifests/kube-router.yaml"
render traefik.yaml | k apply -f -
render metrics-server.yaml | k apply -f -
keda
render prometheus.yaml | k apply -f -
# The project's adapter rule, with the metric window of the e2e run: 10 s of 2 s
# scrapes (the rule's 30 s suits the usual 10-15 s scrape; the window must hold
# at least two scrapes). KEDA's query uses the same window (values-e2e.yaml).
WINDOW=${E2E_METRIC_WINDOW:-10s}
sed "s/\[30s\]/[$WINDOW]/" "$E2E_ROOT/k8s/overlays/prometheus-adapter/adapter/config.yaml" > "$STATE/adapter-config.yaml"
grep -q "\[$WINDOW\]" "$STATE/adapter-config.yaml" || { echo "stack: no [30s] window in the adapter rule to replace" >&2; exit 1; }
k -n monitoring create configmap prometheus-adapter-config \
  --from-file=config.yaml="$STATE/adapter-config.yaml" \
  --dry-run=client -o yaml | k apply -f -
render prometheus-adapter.yaml | k apply -f -
# rollout NS DEPLOYMENT: wait until it is available; on a timeout, say why (events,
# pod states, the last log lines) before failing.
rollout() {
  k -n "$1" rollout status "deploy/$2" --timeout="${E2E_ROLLOUT_TIMEOUT:-300s}" && return 0
  echo "stack: deployment $1/$2 not available" >&2
  k -n "$1" get pods -o wide >&2 || true
  k -n "$1" describe pods -l "app=$2" 2>&1 | tail -30 >&2 || true
  k -n "$1" logs "deploy/$2" --all-containers --tail=30 >&2 || true
  return 1
}
k -n kube-system rollout status daemonset/kube-router --timeout="${E2E_ROLLOUT_TIMEOUT:-300s}"
rollout ingress traefik
rollout monitoring prometheus
rollout monitoring prometheus-adapter
rollout kube-system metrics-server
rollout keda keda-operator
rollout keda keda-metrics-apiserver
render custom-metrics-apiservice.yaml | k apply -f -
render metrics-apiservice.yaml | k apply -f -

"$E2E_DIR/metrics-apis.sh"
