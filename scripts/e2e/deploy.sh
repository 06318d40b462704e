#!/usr/bin/env bash
# Install (or upgrade) the crunch Helm release of the e2e run (values-e2e.yaml, image
# $E2E_IMAGE, autoscaling mode prometheus-adapter: the "e2e:prometheus-adapter"
# profile of tests/e2e) and wait until it is really serving: every Deployment at its
# HPA minimum and Ready, every route answering 200 through the Ingress on 127.0.0.1.
# Fails, saying which, when a Deployment or a route never gets there.
source "$(dirname "$0")/lib.sh"
NS=${E2E_NAMESPACE:-crunch} RELEASE=${E2E_RELEASE:-crunch}
PORT=$E2E_INGRESS_PORT
k() { "$BIN/kubectl" "$@"; }
repo=${E2E_IMAGE%:*} tag=${E2E_IMAGE##*:}
"$BIN/helm" upgrade --install "$RELEASE" "$E2E_ROOT/helm/crunch" -n "$NS" --create-namespace \
  -f "$E2E_DIR/values-e2e.yaml" --set image.repository="$repo" --set image.tag="$tag" \
  --set autoscaling.mode=prometheus-adapter --description e2e:prometheus-adapter \
  --wait --timeout 300s
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
  code=000
  for _ in $(seq 1 60); do
    code=$(curl -s -o /dev/null -w '%{http_code}' -m 5 "http://127.0.0.1:$PORT$path" || true)
    [ "$code" = 200 ] && break
    sleep 1
  done
  if [ "$code" != 200 ]; then
    echo "deploy: http://127.0.0.1:$PORT$path never answered 200 in 60 s (last: $code)" >&2
    k -n "$NS" get pods,ingress -o wide >&2 || true
    k -n ingress logs deploy/traefik --tail=20 >&2 || true
    exit 1
  fi
done
log "every route answers 200 through http://127.0.0.1:$PORT"
k -n "$NS" get pods -o wide
