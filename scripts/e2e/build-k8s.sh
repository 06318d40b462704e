#!/usr/bin/env bash
# Build the Kubernetes binaries the node image needs from the Go module proxy
# (wrapper module scripts/e2e/go/kubernetes pins the staging modules). Output: $BIN.
source "$(dirname "$0")/lib.sh"
cd "$E2E_DIR/go/kubernetes"
minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
ld="-s -w"
for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
  ld+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  ld+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
want=(kubelet kubeadm kube-apiserver kube-controller-manager kube-scheduler kube-proxy kubectl)
missing=()
for c in "${want[@]}"; do
  [ -x "$BIN/$c" ] && "$BIN/$c" --version 2>/dev/null | grep -q "$K8S_VERSION" || missing+=("$c")
done
[ ${#missing[@]} -eq 0 ] && { log "kubernetes $K8S_VERSION binaries cached"; exit 0; }
log "building ${missing[*]} ($K8S_VERSION) with GOMAXPROCS=$GOMAXPROCS under nice"
for c in "${missing[@]}"; do
  t0=$(now)
  "${NICE[@]}" go build -p "$GOMAXPROCS" -tags selinux,notest,grpcnotrace -ldflags "$ld" \
    -o "$BIN/$c" "k8s.io/kubernetes/cmd/$c"
  log "built $c in $(( $(now) - t0 )) s"
done
