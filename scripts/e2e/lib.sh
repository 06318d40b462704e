# Shared settings of the kind end-to-end scripts (sourced, not run).
# Everything built or fetched goes under one per-machine cache OUTSIDE the work tree,
# so every clone on the machine (a CI run's fresh clone too) finds a warm cache:
#   $CRUNCH_E2E_CACHE, else $XDG_CACHE_HOME/crunch-e2e, else ~/.cache/crunch-e2e.
set -euo pipefail
E2E_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
E2E_DIR=$E2E_ROOT/scripts/e2e
CACHE=${CRUNCH_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/crunch-e2e}
export CRUNCH_E2E_CACHE=$CACHE
BIN=$CACHE/bin
IMAGES=$CACHE/images
mkdir -p "$BIN" "$IMAGES"

# Versions (one place).
K8S_VERSION=v1.34.4          # last line whose kubelet still runs on cgroup v1 by default
KIND_VERSION=v0.30.0         # kind release made for Kubernetes 1.34
ETCD_VERSION=v3.6.5          # etcd kubeadm 1.34.4 expects (image tag 3.6.5-0)
COREDNS_VERSION=v1.12.1      # CoreDNS kubeadm 1.34 expects
PAUSE_TAG=3.10.1             # pause tag kubeadm 1.34 expects
CLUSTER=${E2E_CLUSTER:-crunch-e2e}
# What belongs to one cluster (kubeconfig, kind config, results) lives under its name,
# so two clusters of different names never share a kubeconfig.
STATE=$CACHE/clusters/$CLUSTER
mkdir -p "$STATE"
export KUBECONFIG=$STATE/kubeconfig
export E2E_CLUSTER=$CLUSTER
export E2E_INGRESS_PORT=${E2E_INGRESS_PORT:-18080}
# The crunch image under test (a tag of its own: `make test` on this machine builds
# crunch:<version> at any time), and the same image plus the test-only task modules
# of tests/e2e/fixtures (build-fixture-image.sh).
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' "$E2E_ROOT/pyproject.toml")
export E2E_IMAGE=${E2E_IMAGE:-crunch-e2e/crunch:$VERSION}
export E2E_FIXTURE_IMAGE=${E2E_FIXTURE_IMAGE:-${E2E_IMAGE%:*}-fixtures:${E2E_IMAGE##*:}}
# The thumbnails example (examples/thumbnails) built FROM the image under test.
export E2E_EXAMPLE_IMAGE=${E2E_EXAMPLE_IMAGE:-${E2E_IMAGE%:*}-thumbnails:${E2E_IMAGE##*:}}
NODE_IMAGE=crunch-e2e/node:${K8S_VERSION}

# Builds share two cores with everything else on the machine: be nice, cap threads.
export GOMAXPROCS=${GOMAXPROCS:-2}
export GOFLAGS="-trimpath -buildvcs=false"
export GOCACHE=$CACHE/go/build
export GOMODCACHE=$CACHE/go/mod
export CGO_ENABLED=0
NICE=(nice -n "${E2E_NICE:-15}")

log() { printf '[e2e %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# stamp FILE: seconds since epoch, for timings.
now() { date +%s; }
