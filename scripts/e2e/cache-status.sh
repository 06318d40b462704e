#!/usr/bin/env bash
# Is the per-machine e2e cache warm, i.e. would `make e2e` start its cluster without a
# long build? Builds nothing. Prints "warm" (exit 0) or "cold: <what is missing>"
# (exit 1). Used by .ci/run, which runs the e2e only on a warm cache.
#   Go programs: every wrapper module's stamp (build-bins.sh --check);
#   images:      the node image of the current inputs, saved by build-node-image.sh
#                together with a hash of every file that goes into the images.
source "$(dirname "$0")/lib.sh"
missing=()
command -v docker >/dev/null && docker info >/dev/null 2>&1 || missing+=("no Docker engine")
[ -x "$BIN/kind" ] && [ -x "$BIN/helm" ] || missing+=("kind/helm not installed")
if stale=$("$E2E_DIR/build-bins.sh" --check 2>/dev/null); [ -n "$stale" ]; then
  missing+=("Go programs not built: $(echo $stale | tr ' ' ',')")
fi
if [ ! -s "$CACHE/images.inputs" ] || [ "$(cat "$CACHE/images.inputs")" != "$("$E2E_DIR/build-node-image.sh" --inputs)" ]; then
  missing+=("cluster/node images not built for these inputs")
elif ! ls "$IMAGES"/node-*.tar >/dev/null 2>&1; then
  missing+=("no saved node image")
fi
if [ ${#missing[@]} = 0 ]; then echo "warm ($CACHE)"; exit 0; fi
printf 'cold: %s' "${missing[0]}"; for m in "${missing[@]:1}"; do printf '; %s' "$m"; done; echo " ($CACHE)"
exit 1
