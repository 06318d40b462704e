#!/usr/bin/env bash
# Install what the crunch chart expects around it: the Ingress controller (Traefik),
# Prometheus and prometheus-adapter (with the project's adapter rule). Idempotent.
source "$(dirname "$0")/lib.sh"

k() { "$BIN/kubectl" "$@"; }
export TRAEFIK_IMAGE=${TRAEFIK_IMAGE:-crunch-e2e/traefik:1}
export PROMETHEUS_IMAGE=${PROMETHEUS_IMAGE:-crunch-e2e/prometheus:1}
export ADAPTER_IMAGE=${ADAPTER_IMAGE:-crunch-e2e/prometheus-adapter:1}
# kubectl + a shell (the routes-cni image) for Prometheus' pod-discovery sidecar.
export TOOLS_IMAGE=${TOOLS_IMAGE:-crunch-e2e/routes-cni:1}
render() {
  sed -e "s|\${TRAEFIK_IMAGE}|$TRAEFIK_IMAGE|" -e "s|\${PROMETHEUS_IMAGE}|$PROMETHEUS_IMAGE|" \
      -e "s|\${ADAPTER_IMAGE}|$ADAPTER_IMAGE|" -e "s|\${TOOLS_IMAGE}|$TOOLS_IMAGE|" "$E2E_DIR/manifests/$1"
}
render traefik.yaml | k apply -f -
render prometheus.yaml | k apply -f -
k -n monitoring create configmap prometheus-adapter-config \
  --from-file=config.yaml="$E2E_ROOT/k8s/overlays/prometheus-adapter/adapter/config.yaml" \
  --dry-run=client -o yaml | k apply -f -
render prometheus-adapter.yaml | k apply -f -
k -n ingress rollout status deploy/traefik --timeout=180s
k -n monitoring rollout status deploy/prometheus --timeout=180s
k -n monitoring rollout status deploy/prometheus-adapter --timeout=180s
render custom-metrics-apiservice.yaml | k apply -f -

# The HPA reads crunch_saturation through the aggregated custom metrics API. Seen here
# with kube-apiserver v1.34.4 when the APIService was created before the adapter was
# Ready: the adapter answers, but the aggregator keeps answering 404 (empty body) to
# every custom.metrics.k8s.io request; a restart of kube-apiserver clears it. Hence
# the APIService comes after the adapter's rollout above, and this check stays.
metrics_api() { k get --raw "/apis/custom.metrics.k8s.io/v1beta1" >/dev/null 2>&1; }
for attempt in 1 2; do
  for _ in $(seq 1 30); do metrics_api && break; sleep 2; done
  metrics_api && break
  [ "$attempt" = 2 ] && { echo "stack: custom.metrics.k8s.io still not served" >&2; exit 1; }
  log "custom.metrics.k8s.io answers 404 through the aggregator: restarting kube-apiserver"
  docker exec "$CLUSTER-control-plane" sh -c 'crictl stop $(crictl ps -q --name kube-apiserver)' >/dev/null
  for _ in $(seq 1 60); do k get --raw /readyz >/dev/null 2>&1 && break; sleep 2; done
done
log "custom.metrics.k8s.io served"
