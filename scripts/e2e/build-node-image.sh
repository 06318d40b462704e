#!/usr/bin/env bash
# Build the offline kind node image $NODE_IMAGE:
#  1. Debian bookworm rootfs with Debian's systemd, containerd, runc, CNI plugins;
#  2. + kubelet/kubeadm/kubectl/crictl (build-bins.sh) and scripts/e2e/node/files;
#  3. + every cluster image (build-images.sh) imported into the node's containerd
#     (content only, pinned; unpacked on first use), committed as the node image.
# Cached: the image is rebuilt only when an input changes (label crunch-e2e.stamp),
# and saved under .cache/e2e/images so a fresh Docker engine only needs `docker load`.
# build-node-image.sh --inputs prints the hash of everything the images are made from
# (recorded in $CACHE/images.inputs after a build; cache-status.sh compares it).
source "$(dirname "$0")/lib.sh"
source "$E2E_DIR/host-quirks/flags.sh"

inputs() {
  { grep -E '^(K8S_VERSION|ETCD_VERSION|COREDNS_VERSION|PAUSE_TAG|NODE_IMAGE)=' "$E2E_DIR/lib.sh"
    cat "$E2E_DIR"/{rootfs.sh,build-images.sh,build-node-image.sh}
    find "$E2E_DIR/node" "$E2E_DIR/images" "$E2E_DIR/host-quirks" -type f | sort | xargs cat
    cat "$BIN"/.stamp-* 2>/dev/null; } | sha256sum | cut -c1-16
}
if [ "${1:-}" = --inputs ]; then inputs; exit 0; fi

BASE=$("$E2E_DIR/rootfs.sh" node systemd systemd-sysv containerd runc containernetworking-plugins \
  conntrack iptables nftables iproute2 ethtool util-linux mount kmod libseccomp2 bash \
  ca-certificates procps curl)

mapfile -t tars < <(find "$IMAGES" -maxdepth 1 -name 'registry.k8s.io_*.tar' -o -maxdepth 1 -name 'crunch-e2e_*.tar' | sort)
stamp=$( { echo "$BASE $K8S_VERSION"; cat "$E2E_DIR/node/Dockerfile"; find "$E2E_DIR/node/files" -type f | sort | xargs cat;
           sha256sum "$BIN"/{kubelet,kubeadm,kubectl,crictl}; cat "${tars[@]/%/.stamp}"; } | sha256sum | cut -c1-16)
saved=$IMAGES/node-$stamp.tar
have=$(docker image inspect -f '{{ index .Config.Labels "crunch-e2e.stamp" }}' "$NODE_IMAGE" 2>/dev/null || true)
if [ "$have" = "$stamp" ] && [ -s "$saved" ]; then log "node image $NODE_IMAGE cached"; inputs > "$CACHE/images.inputs"; exit 0; fi
if [ -s "$saved" ]; then
  docker load -i "$saved" >/dev/null && log "node image loaded from $saved" && inputs > "$CACHE/images.inputs" && exit 0
fi

t0=$(now)
ctx=$(mktemp -d); trap 'rm -rf "$ctx"; docker rm -f crunch-e2e-node-build >/dev/null 2>&1 || true' EXIT
cp -a "$E2E_DIR/node/files" "$ctx/files"; mkdir "$ctx/bin"
cp "$BIN"/{kubelet,kubeadm,kubectl,crictl} "$ctx/bin/"
docker build -q -t crunch-e2e/node-stage:latest --build-arg BASE="$BASE" --build-arg K8S_VERSION="$K8S_VERSION" \
  -f "$E2E_DIR/node/Dockerfile" "$ctx" >/dev/null

# Preload: run containerd alone in a container of the stage image, import, commit.
docker rm -f crunch-e2e-node-build >/dev/null 2>&1 || true
docker run -d --name crunch-e2e-node-build "${NODE_RUN_FLAGS[@]}" --tmpfs /run --tmpfs /tmp \
  --entrypoint /usr/bin/containerd crunch-e2e/node-stage:latest >/dev/null
for _ in $(seq 1 30); do docker exec crunch-e2e-node-build ctr version >/dev/null 2>&1 && break; sleep 1; done
for t in "${tars[@]}"; do
  docker exec -i crunch-e2e-node-build ctr -n k8s.io images import --no-unpack --all-platforms --digests - < "$t" >/dev/null
done
# Pinned: the kubelet's image garbage collection never removes a preloaded image.
for i in $(docker exec crunch-e2e-node-build ctr -n k8s.io images ls -q); do
  docker exec crunch-e2e-node-build ctr -n k8s.io images label "$i" io.cri-containerd.pinned=pinned >/dev/null
done
docker exec crunch-e2e-node-build ctr -n k8s.io images ls -q | sed 's/^/  preloaded: /' >&2
docker stop -t 10 crunch-e2e-node-build >/dev/null
docker commit \
  -c 'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]' -c 'CMD []' \
  -c "LABEL crunch-e2e.stamp=$stamp" crunch-e2e-node-build "$NODE_IMAGE" >/dev/null
rm -f "$IMAGES"/node-*.tar
docker save "$NODE_IMAGE" -o "$saved.tmp" && mv "$saved.tmp" "$saved"
log "node image $NODE_IMAGE built in $(( $(now) - t0 )) s"
inputs > "$CACHE/images.inputs"
