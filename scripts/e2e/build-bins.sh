#!/usr/bin/env bash
# Build the Go programs of the offline cluster from the Go module proxy, each from a
# wrapper module under scripts/e2e/go/<name> (go.mod pins the upstream module and,
# where upstream uses local replace lines, the matching releases). Output: $BIN.
# A program is rebuilt only when its wrapper module changed (stamp = hash of go.mod,
# go.sum and flags). Usage: build-bins.sh [--check] [component...]   (default: all)
# --check builds nothing: it prints the components that would be built, exit 1 if any.
source "$(dirname "$0")/lib.sh"

k8s_ldflags() {
  local minor=${K8S_VERSION#v1.} ld="-s -w" pkg
  minor=${minor%%.*}
  for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    ld+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ld+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  echo "$ld"
}

# component -> "package=output ..." and flags
declare -A PKGS=(
  [kubernetes]="k8s.io/kubernetes/cmd/kubelet=kubelet k8s.io/kubernetes/cmd/kubeadm=kubeadm k8s.io/kubernetes/cmd/kube-apiserver=kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager=kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler=kube-scheduler k8s.io/kubernetes/cmd/kube-proxy=kube-proxy k8s.io/kubernetes/cmd/kubectl=kubectl"
  [etcd]="go.etcd.io/etcd/server/v3=etcd"
  [coredns]="github.com/coredns/coredns=coredns"
  [cri-tools]="sigs.k8s.io/cri-tools/cmd/crictl=crictl"
  [local-path-provisioner]="github.com/rancher/local-path-provisioner=local-path-provisioner"
  [prometheus-adapter]="sigs.k8s.io/prometheus-adapter/cmd/adapter=prometheus-adapter"
  [traefik]="github.com/traefik/traefik/v3/cmd/traefik=traefik"
  [metrics-server]="sigs.k8s.io/metrics-server/cmd/metrics-server=metrics-server"
  [keda]="github.com/kedacore/keda/v2/cmd/operator=keda-operator github.com/kedacore/keda/v2/cmd/adapter=keda-adapter"
  [kube-router]="github.com/cloudnativelabs/kube-router/v2/cmd/kube-router=kube-router"
)
declare -A TAGS=([kubernetes]="selinux,notest,grpcnotrace")
ldflags_of() {
  case $1 in
    kubernetes) k8s_ldflags ;;
    keda) echo "-s -w -X github.com/kedacore/keda/v2/version.Version=$(awk '$1=="github.com/kedacore/keda/v2"{print $2}' "$E2E_DIR/go/keda/go.mod")" ;;
    traefik) echo "-s -w -X github.com/traefik/traefik/v3/pkg/version.Version=$(awk '/^require/{print $3}' "$E2E_DIR/go/traefik/go.mod")" ;;
    *) echo "-s -w" ;;
  esac
}

build_one() {
  local name=$1 dir=$E2E_DIR/go/$1 ld stamp want pair pkg out t0
  ld=$(ldflags_of "$name")
  stamp=$(cat "$dir/go.mod" "$dir/go.sum" <(echo "$ld ${TAGS[$name]:-} $(go env GOVERSION)") | sha256sum | cut -c1-16)
  want=1
  if [ -f "$BIN/.stamp-$name" ] && [ "$(cat "$BIN/.stamp-$name")" = "$stamp" ]; then
    want=0
    for pair in ${PKGS[$name]}; do [ -x "$BIN/${pair#*=}" ] || want=1; done
  fi
  [ $want = 0 ] && { [ "$CHECK" = 1 ] || log "$name: cached"; return 0; }
  [ "$CHECK" = 1 ] && { echo "$name"; STALE=1; return 0; }
  for pair in ${PKGS[$name]}; do
    pkg=${pair%%=*} out=${pair#*=} t0=$(now)
    (cd "$dir" && "${NICE[@]}" go build -p "$GOMAXPROCS" -tags "${TAGS[$name]:-}" -ldflags "$ld" -o "$BIN/$out" "$pkg")
    log "$name: built $out in $(( $(now) - t0 )) s"
  done
  echo "$stamp" > "$BIN/.stamp-$name"
}

build_pause() {
  local src=$E2E_DIR/images/pause/pause.c
  if [ -x "$BIN/pause" ] && [ "$(cat "$BIN/.stamp-pause" 2>/dev/null)" = "$(sha256sum < "$src")" ]; then
    [ "$CHECK" = 1 ] || log "pause: cached"; return 0
  fi
  [ "$CHECK" = 1 ] && { echo pause; STALE=1; return 0; }
  "${NICE[@]}" cc -Os -static -o "$BIN/pause" "$src" && strip "$BIN/pause"
  sha256sum < "$src" > "$BIN/.stamp-pause"
  log "pause: built"
}

CHECK=0 STALE=0
[ "${1:-}" = --check ] && { CHECK=1; shift; }
comps=("$@")
[ ${#comps[@]} -eq 0 ] && comps=(pause kubernetes etcd coredns cri-tools local-path-provisioner prometheus-adapter traefik metrics-server keda kube-router)
for c in "${comps[@]}"; do
  if [ "$c" = pause ]; then build_pause; else build_one "$c"; fi
done
[ "$STALE" = 0 ]
