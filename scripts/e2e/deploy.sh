#!/usr/bin/env bash
# Install (or upgrade) the crunch Helm release of the e2e run and wait until it is
# really serving: every Deployment at its HPA minimum and Ready, every route
# answering 200 through the Ingress on 127.0.0.1.
source "$(dirname "$0")/lib.sh"

NS=${E2E_NAMESPACE:-crunch} RELEASE=${E2E_RELEASE:-crunch}
PORT=${E2E_INGRESS_PORT:-18080}
k() { "$BIN/kubectl" "$@"; }
"$BIN/helm" upgrade --install "$RELEASE" "$E2E_ROOT/helm/crunch" -n "$NS" --create-namespace \
  -f "$E2E_DIR/values-e2e.yaml" --wait --timeout 300s
# A fresh install starts each Deployment at its HPA minimum; an upgrade keeps the live
# count. Check that every Deployment has at least the minimum Ready either way.
for svc in web hello world; do
  min=$(k -n "$NS" get hpa "$RELEASE-$svc" -o jsonpath='{.spec.minReplicas}' 2>/dev/null || echo 1)
  for _ in $(seq 1 90); do
    ready=$(k -n "$NS" get deploy "$RELEASE-$svc" -o jsonpath='{.status.readyReplicas}')
    [ "${ready:-0}" -ge "${min:-1}" ] && break
    sleep 2
  done
  [ "${ready:-0}" -ge "${min:-1}" ] || { echo "deploy: $RELEASE-$svc has ${ready:-0}/$min ready" >&2; exit 1; }
done
for path in /hello /world / "/work/spin?n=10"; do
  for _ in $(seq 1 60); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' -m 5 "http://127.0.0.1:$PORT$path")" = 200 ] && break
    sleep 1
  done
done
k -n "$NS" get pods -o wide
