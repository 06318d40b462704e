#!/usr/bin/env bash
# Wait until the aggregated metrics APIs are served, restarting kube-apiserver once if
# it keeps answering 404 for one of them. Run by stack.sh, and by test 15 after a
# node restart (an adapter that crash-looped there can leave the same state).
source "$(dirname "$0")/lib.sh"

k() { "$BIN/kubectl" "$@"; }
# The HPA reads its metrics through the aggregated APIs: custom (prometheus-adapter),
# external (KEDA), resource (metrics-server). Seen here with kube-apiserver v1.34.4
# when an APIService was created before its server was Ready: the server answers, but
# the aggregator keeps answering 404 (empty body) to every request of that group; a
# restart of kube-apiserver clears it. Hence stack.sh registers the APIServices of our
# own manifests after their rollouts, and this check stays (KEDA's manifests bring
# theirs; a server that restarts later, as after a node restart, can do it again).
served() { k get --raw "/apis/$1/v1beta1" >/dev/null 2>&1; }
APIS=(custom.metrics.k8s.io external.metrics.k8s.io metrics.k8s.io)
for attempt in 1 2; do
  missing=()
  for api in "${APIS[@]}"; do
    for _ in $(seq 1 30); do served "$api" && break; sleep 2; done
    served "$api" || missing+=("$api")
  done
  [ ${#missing[@]} = 0 ] && break
  [ "$attempt" = 2 ] && { echo "metrics-apis: still not served: ${missing[*]}" >&2; exit 1; }
  log "${missing[*]} answer 404 through the aggregator: restarting kube-apiserver"
  docker exec "$CLUSTER-control-plane" sh -c 'crictl stop $(crictl ps -q --name kube-apiserver)' >/dev/null
  for _ in $(seq 1 60); do k get --raw /readyz >/dev/null 2>&1 && break; sleep 2; done
done
log "served: ${APIS[*]}"
