#!/usr/bin/env bash
# Build every container image the offline cluster runs, from the binaries of
# build-bins.sh and Debian rootfs images of rootfs.sh, and save each as a tarball
# under .cache/e2e/images (rebuilt only when its inputs change). Tags are the
# upstream names kubeadm and kind ask for, so nothing is ever pulled.
source "$(dirname "$0")/lib.sh"
TOOLS=$("$E2E_DIR/rootfs.sh" tools iptables iproute2 conntrack ca-certificates procps prometheus)

# save IMAGE TAR STAMP: docker save after a build.
tarname() { echo "$IMAGES/$(echo "$1" | tr '/:' '__').tar"; }
fresh() { # IMAGE STAMP -> 0 when the saved tarball matches the inputs
  local t; t=$(tarname "$1")
  [ -s "$t" ] && [ "$(cat "$t.stamp" 2>/dev/null)" = "$2" ]
}
save() { local t; t=$(tarname "$1"); docker save "$1" "${@:3}" -o "$t.tmp" && mv "$t.tmp" "$t" && echo "$2" > "$t.stamp"; log "image $1 saved"; }
stamp_of() { cat "$@" | sha256sum | cut -c1-16; }

# static IMAGE PATH-IN-IMAGE BINARY [EXTRA-TAG...]: a one-binary image (runs as
# $STATIC_USER when set: for manifests that demand runAsNonRoot without a user).
static() {
  local image=$1 dest=$2 bin=$3 st d; shift 3
  if [ ! -x "$bin" ] && [ -n "${E2E_PARTIAL:-}" ]; then log "image $image skipped: no $bin yet"; return; fi
  st=$(stamp_of "$bin" <(echo "$image $dest $* ${STATIC_USER:-}"))
  if fresh "$image" "$st"; then log "image $image cached"; return; fi
  d=$(mktemp -d); mkdir -p "$d/$(dirname "$dest")" "$d/tmp" "$d/etc"; chmod 1777 "$d/tmp"
  cp "$bin" "$d/$dest"
  echo 'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin' > "$d/etc/passwd"
  echo 'nogroup:x:65534:' > "$d/etc/group"
  local user=()
  [ -n "${STATIC_USER:-}" ] && user=(-c "USER $STATIC_USER")
  tar -C "$d" --numeric-owner --owner=0 --group=0 -c . | docker import "${user[@]}" \
    -c "ENV PATH=/usr/local/bin:/usr/bin:/bin" -c "ENTRYPOINT [\"$dest\"]" - "$image" >/dev/null
  rm -rf "$d"
  local extra=()
  for t in "$@"; do docker tag "$image" "$t"; extra+=("$t"); done
  save "$image" "$st" "${extra[@]}"
}

# fromrootfs BASE IMAGE CONTEXT-DIR DOCKERFILE-TEXT: an image on a Debian rootfs image.
fromrootfs() {
  local base=$1 image=$2 ctx=$3 text=$4 st
  st=$(stamp_of <(echo "$base $text") $(find "$ctx" -type f | sort))
  if fresh "$image" "$st"; then log "image $image cached"; return; fi
  printf 'FROM %s\n%s\n' "$base" "$text" | docker build -q -t "$image" -f - "$ctx" >/dev/null
  save "$image" "$st"
}
# fromtools IMAGE CONTEXT-DIR DOCKERFILE-TEXT: an image on the Debian tools rootfs.
fromtools() { fromrootfs "$TOOLS" "$@"; }

K=$K8S_VERSION
# The images kubeadm will ask for must be exactly the ones built here.
want=$("$BIN/kubeadm" config images list --kubernetes-version "$K" 2>/dev/null | sort)
have=$(printf '%s\n' registry.k8s.io/kube-{apiserver,controller-manager,scheduler,proxy}:$K \
  registry.k8s.io/coredns/coredns:$COREDNS_VERSION registry.k8s.io/pause:$PAUSE_TAG \
  registry.k8s.io/etcd:${ETCD_VERSION#v}-0 | sort)
if [ "$want" != "$have" ]; then
  echo "build-images: kubeadm $K wants other images than lib.sh pins:" >&2
  diff <(echo "$want") <(echo "$have") >&2 || true
  exit 1
fi
static registry.k8s.io/pause:$PAUSE_TAG /pause "$BIN/pause" registry.k8s.io/pause:3.10
static registry.k8s.io/kube-apiserver:$K /usr/local/bin/kube-apiserver "$BIN/kube-apiserver"
static registry.k8s.io/kube-controller-manager:$K /usr/local/bin/kube-controller-manager "$BIN/kube-controller-manager"
static registry.k8s.io/kube-scheduler:$K /usr/local/bin/kube-scheduler "$BIN/kube-scheduler"
static registry.k8s.io/etcd:${ETCD_VERSION#v}-0 /usr/local/bin/etcd "$BIN/etcd"
static registry.k8s.io/coredns/coredns:$COREDNS_VERSION /coredns "$BIN/coredns"
static crunch-e2e/local-path-provisioner:1 /usr/local/bin/local-path-provisioner "$BIN/local-path-provisioner"
static crunch-e2e/prometheus-adapter:1 /adapter "$BIN/prometheus-adapter"
static crunch-e2e/traefik:1 /traefik "$BIN/traefik"
# Autoscaling modes cpu (metrics-server) and keda (operator + metrics apiserver).
static crunch-e2e/metrics-server:1 /metrics-server "$BIN/metrics-server"
# KEDA's manifests ask for runAsNonRoot and name no user: the image does (as upstream's).
STATIC_USER=65532:65532 static crunch-e2e/keda-operator:1 /keda "$BIN/keda-operator"
STATIC_USER=65532:65532 static crunch-e2e/keda-adapter:1 /keda-adapter "$BIN/keda-adapter"

ctx=$(mktemp -d); trap 'rm -rf "$ctx"' EXIT
cp "$BIN/kube-proxy" "$BIN/kubectl" "$E2E_DIR/images/cni/routes-cni" "$ctx/"
fromtools registry.k8s.io/kube-proxy:$K "$ctx" 'COPY kube-proxy /usr/local/bin/kube-proxy'
fromtools crunch-e2e/routes-cni:1 "$ctx" 'COPY kubectl routes-cni /usr/local/bin/
ENTRYPOINT ["/usr/local/bin/routes-cni"]'
fromtools crunch-e2e/prometheus:1 "$ctx" 'USER 65534
ENTRYPOINT ["/usr/bin/prometheus"]'
# local-path-provisioner's helper pod needs a shell, mkdir, rm, chmod.
fromtools crunch-e2e/local-path-helper:1 "$ctx" ''

# The chart's in-cluster balancer (balancer.enabled, tests/e2e/test_09_busy_aware.py):
# Debian's haproxy package on a rootfs of its own. Preloaded into the node image like
# the others (crunch-e2e/*), so it is never pulled.
HAPROXY_ROOTFS=$("$E2E_DIR/rootfs.sh" haproxy haproxy)
empty=$(mktemp -d); trap 'rm -rf "$ctx" "$empty"' EXIT
fromrootfs "$HAPROXY_ROOTFS" crunch-e2e/haproxy:1 "$empty" 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
USER 10001
ENTRYPOINT ["haproxy"]'

# The NetworkPolicy enforcer (kube-router's firewall controller, manifests/kube-router.yaml):
# it drives iptables, ipset and conntrack, so it runs on a rootfs that has them.
NETPOL_ROOTFS=$("$E2E_DIR/rootfs.sh" netpol iptables ipset conntrack iproute2 kmod)
kr=$(mktemp -d); trap 'rm -rf "$ctx" "$empty" "$kr"' EXIT
cp "$BIN/kube-router" "$kr/"
fromrootfs "$NETPOL_ROOTFS" crunch-e2e/kube-router:1 "$kr" 'COPY kube-router /usr/local/bin/kube-router
ENTRYPOINT ["/usr/local/bin/kube-router"]'
