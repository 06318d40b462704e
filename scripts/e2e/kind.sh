#!/usr/bin/env bash
# kind.sh up|down|load IMAGE...: create (or delete) the e2e kind cluster from the
# offline node image, or load local Docker images into its nodes.
# kind runs with scripts/e2e/host-quirks first on PATH when `docker run --privileged`
# does not work on this host (see host-quirks/README.md); elsewhere it runs as is.
source "$(dirname "$0")/lib.sh"

export E2E_INGRESS_PORT=${E2E_INGRESS_PORT:-18080}

kind_path() {
  if [ -z "${CRUNCH_E2E_PRIVILEGED:-}" ]; then
    if docker run --rm --privileged --entrypoint /bin/true "$NODE_IMAGE" >/dev/null 2>&1; then
      CRUNCH_E2E_PRIVILEGED=yes
    else
      CRUNCH_E2E_PRIVILEGED=no
    fi
  fi
  export CRUNCH_E2E_PRIVILEGED
  if [ "$CRUNCH_E2E_PRIVILEGED" = no ]; then
    log "docker run --privileged fails here: kind runs through scripts/e2e/host-quirks/docker"
    echo "$E2E_DIR/host-quirks:$BIN:$PATH"
  else
    echo "$BIN:$PATH"
  fi
}

case ${1:-up} in
  up)
    if "$BIN/kind" get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
      log "cluster $CLUSTER exists"; "$BIN/kind" get kubeconfig --name "$CLUSTER" > "$KUBECONFIG"; exit 0
    fi
    p=$(kind_path)
    cfg=$STATE/kind-config.yaml
    sed "s/\${E2E_INGRESS_PORT}/$E2E_INGRESS_PORT/" "$E2E_DIR/cluster/kind-config.yaml" > "$cfg"
    t0=$(now)
    PATH=$p "$BIN/kind" create cluster --name "$CLUSTER" --image "$NODE_IMAGE" --config "$cfg" \
      --kubeconfig "$KUBECONFIG" --wait 5m --retain=${E2E_RETAIN:-false}
    echo "$(( $(now) - t0 ))" > "$STATE/timing-cluster-up"
    log "cluster $CLUSTER up in $(cat "$STATE/timing-cluster-up") s"
    ;;
  load)
    shift
    p=$(kind_path)
    for image in "$@"; do
      PATH=$p "$BIN/kind" load docker-image --name "$CLUSTER" "$image"
    done
    ;;
  down)
    PATH=$BIN:$PATH "$BIN/kind" delete cluster --name "$CLUSTER" --kubeconfig "$KUBECONFIG"
    ;;
  *) echo "usage: $0 up|down|load IMAGE..." >&2; exit 2 ;;
esac
