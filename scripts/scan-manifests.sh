#!/usr/bin/env bash
# Security and best-practice scans (checkov, kube-score, hadolint) of what users
# deploy: the chart rendered for each autoscaling mode with every optional resource
# on, every kustomize tree, and the Dockerfiles (crunch's and the thumbnails
# example's). Skipped checks and their reasons: .checkov.yaml, the inline checkov
# skips and the kube-score block below. checkov runs offline (--skip-download; inside
# a network namespace when this machine allows one). Needs `make tools`.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.cache/bin
OUT=.cache/packaging/rendered
rm -rf "$OUT" && mkdir -p "$OUT"

for mode in prometheus-adapter keda cpu off; do
  "$BIN/helm" template crunch helm/crunch -n crunch \
    --set autoscaling.mode=$mode --set serviceMonitor.enabled=true \
    --set prometheusRule.enabled=true --set grafanaDashboard.enabled=true \
    --set ingress.busyAware.enabled=true --set balancer.enabled=true >"$OUT/helm-$mode.yaml"
done
for tree in base $(cd k8s && echo overlays/*); do
  "$BIN/kubectl" kustomize "k8s/$tree" >"$OUT/kustomize-$(basename "$tree").yaml"
done
cp Dockerfile "$OUT/Dockerfile"
mkdir -p "$OUT/example" && cp examples/thumbnails/Dockerfile "$OUT/example/Dockerfile"

checkov=(.cache/tools-venv/bin/checkov --config-file .checkov.yaml -d "$OUT")
if unshare -n true 2>/dev/null; then
  unshare -n "${checkov[@]}"
else
  "${checkov[@]}"
fi

# hadolint (with the shellcheck it embeds) on both Dockerfiles: any finding fails.
.cache/tools-venv/bin/hadolint Dockerfile examples/thumbnails/Dockerfile
echo "hadolint: no finding in 2 Dockerfiles"

# kube-score: every CRITICAL finding fails (its exit code); warnings are printed. Two
# checks are off, each for a reason of the chart's:
#   container-image-pull-policy          it wants Always (to re-check imagePullSecrets on
#     every start); the chart pins a tag and defaults to IfNotPresent, like most charts,
#     so a pod starts without a registry round trip and on offline clusters (kind: Never).
#   deployment-has-host-podantiaffinity  the chart spreads pods over hosts and zones
#     with topologySpreadConstraints (topologySpread.*), which this check does not read.
# Its warnings that stay: "few replicas" for the balancer (one by design: two HAProxy
# instances would each fill every pod's maxconn, docs/balancing.md) and for Deployments
# whose replica count an autoscaler owns without an HPA object in the render (KEDA).
KUBE_SCORE=.cache/bin/kube-score
if [ -x "$KUBE_SCORE" ]; then
  # One render at a time: the renders share object names, and kube-score would pair
  # one render's HPA with another's Deployment.
  failed=0
  for render in "$OUT"/*.yaml; do
    rc=0
    report=$("$KUBE_SCORE" score --output-format ci \
      --ignore-test container-image-pull-policy \
      --ignore-test deployment-has-host-podantiaffinity \
      "$render") || rc=$?
    grep -v '^\[OK\]\|^\[SKIPPED\]' <<<"$report" | sed "s|^|$(basename "$render"): |" || true
    [ "$rc" = 0 ] || failed=$((failed + 1))
  done
  if [ "$failed" != 0 ]; then echo "kube-score: critical findings in $failed renders (above)" >&2; exit 1; fi
  echo "kube-score: no critical finding in $(ls "$OUT"/*.yaml | wc -l) renders"
elif [ -n "${CI:-}" ]; then
  echo "kube-score: missing ($KUBE_SCORE); CI must run it: install Go and run make tools" >&2
  exit 1
else
  echo "kube-score: SKIPPED: not installed (make tools builds it when Go is on PATH)"
fi
