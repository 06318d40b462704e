#!/usr/bin/env bash
# Security scan (checkov) of what users deploy: the chart rendered for each
# autoscaling mode with every optional resource on, every kustomize tree, and the
# Dockerfiles (crunch's and the thumbnails example's). Skipped checks and their reasons: .checkov.yaml and the inline
# checkov skips. Runs offline (--skip-download; inside a network namespace when
# this machine allows one). Needs `make tools`.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.cache/bin
OUT=.cache/packaging/rendered
rm -rf "$OUT" && mkdir -p "$OUT"

for mode in prometheus-adapter keda cpu off; do
  "$BIN/helm" template crunch helm/crunch -n crunch \
    --set autoscaling.mode=$mode --set serviceMonitor.enabled=true \
    --set prometheusRule.enabled=true --set grafanaDashboard.enabled=true \
    --set ingress.busyAware.enabled=true >"$OUT/helm-$mode.yaml"
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
