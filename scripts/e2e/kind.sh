#!/usr/bin/env bash
# kind.sh preflight|up|down|down-own|load IMAGE...
#   preflight  fail fast (before any build) when the Ingress port 127.0.0.1:$E2E_INGRESS_PORT
#              is taken, or a cluster named $E2E_CLUSTER exists that these scripts did
#              not create;
#   up         create the e2e cluster from the offline node image (or reuse ours);
#   down       delete it, only if these scripts created it (marker in its state dir);
#   load       load local Docker images into its nodes.
# kind runs with scripts/e2e/host-quirks first on PATH when `docker run --privileged`
# does not work on this host (see host-quirks/README.md); elsewhere it runs as is.
source "$(dirname "$0")/lib.sh"
OWNER=$STATE/created-by-crunch-e2e
# Each cluster on a Docker network of its own, not kind's shared "kind": a node that
# is stopped and started again (test 15) gets its address back only if no other
# container took it meanwhile, and the other nodes route its pods' subnet to that
# address, so on a shared network another cluster's new node could receive them.
NETWORK=kind-$CLUSTER
export KIND_EXPERIMENTAL_DOCKER_NETWORK=$NETWORK

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

# Node containers of a cluster carry kind's label io.x-k8s.kind.cluster=<name>; this
# needs only docker, not the kind binary (not built yet on a cold machine).
exists() { [ -n "$(docker ps -aq --filter "label=io.x-k8s.kind.cluster=$CLUSTER")" ]; }
ours() { exists && [ -f "$OWNER" ] && [ "$(cat "$OWNER")" = "$(docker ps -aq --no-trunc --filter "label=io.x-k8s.kind.cluster=$CLUSTER" --filter "label=io.x-k8s.kind.role=control-plane")" ]; }
port_free() {
  python3 -c 'import socket,sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try: s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError: sys.exit(1)' "$E2E_INGRESS_PORT"
}

case ${1:-up} in
  preflight)
    if exists && ! ours; then
      echo "e2e: a kind cluster named '$CLUSTER' exists that make e2e did not create; it is left alone." >&2
      echo "e2e: run with another name (E2E_CLUSTER=crunch-e2e-2 make e2e) or delete it yourself." >&2
      exit 1
    fi
    if ! port_free; then
      if ours && docker port "$CLUSTER-control-plane" 2>/dev/null | grep -q "127.0.0.1:$E2E_INGRESS_PORT\$"; then
        log "127.0.0.1:$E2E_INGRESS_PORT is held by our own earlier cluster $CLUSTER (replaced below)"
      else
        echo "e2e: 127.0.0.1:$E2E_INGRESS_PORT (the Ingress port) is already in use." >&2
        echo "e2e: free it, or pick a free port: E2E_INGRESS_PORT=18090 make e2e" >&2
        exit 1
      fi
    fi
    log "preflight: cluster name '$CLUSTER' free or ours, 127.0.0.1:$E2E_INGRESS_PORT usable"
    ;;
  up)
    if exists; then
      ours || { echo "e2e: cluster '$CLUSTER' exists and is not ours; not touching it" >&2; exit 1; }
      log "cluster $CLUSTER exists"; "$BIN/kind" get kubeconfig --name "$CLUSTER" > "$KUBECONFIG"; exit 0
    fi
    p=$(kind_path)
    cfg=$STATE/kind-config.yaml
    sed "s/\${E2E_INGRESS_PORT}/$E2E_INGRESS_PORT/" "$E2E_DIR/cluster/kind-config.yaml" > "$cfg"
    t0=$(now)
    rc=0
    PATH=$p "$BIN/kind" create cluster --name "$CLUSTER" --image "$NODE_IMAGE" --config "$cfg" \
      --kubeconfig "$KUBECONFIG" --wait 5m --retain=${E2E_RETAIN:-false} || rc=$?
    # Mark it ours (by its control plane's container id) even after a failed start,
    # so that the cleanup may remove what it made.
    docker ps -aq --no-trunc --filter "label=io.x-k8s.kind.cluster=$CLUSTER" \
      --filter "label=io.x-k8s.kind.role=control-plane" > "$OWNER"
    [ $rc = 0 ] || exit $rc
    log "cluster $CLUSTER up in $(( $(now) - t0 )) s"
    ;;
  load)
    shift
    p=$(kind_path)
    # One call: the images travel as one archive, shared layers once.
    PATH=$p "$BIN/kind" load docker-image --name "$CLUSTER" "$@"
    ;;
  down)
    if ! exists; then log "no cluster $CLUSTER"; rm -f "$OWNER"; exit 0; fi
    if ! ours; then
      echo "e2e: cluster '$CLUSTER' was not created by make e2e; not deleting it" >&2
      exit 1
    fi
    PATH=$BIN:$PATH "$BIN/kind" delete cluster --name "$CLUSTER" --kubeconfig "$KUBECONFIG"
    rm -f "$OWNER"
    # kind leaves networks behind; ours goes with the cluster once nothing uses it.
    if [ -z "$(docker network inspect -f '{{range .Containers}}x{{end}}' "$NETWORK" 2>/dev/null || echo x)" ]; then
      docker network rm "$NETWORK" >/dev/null && log "network $NETWORK removed"
    fi
    ;;
  *) echo "usage: $0 preflight|up|down|load IMAGE..." >&2; exit 2 ;;
esac
