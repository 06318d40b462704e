#!/usr/bin/env bash
# Build the thumbnails example's image (crunch-thumbnails:<version>) on top of crunch's.
#
# The example's Dockerfile takes crunch's image as its base (CRUNCH_IMAGE) and a
# Python 3.11 image to install the project with pip (BASE_IMAGE). Offline, as
# scripts/build-image.sh does for crunch: the debootstrap base that build made, and
# a wheelhouse of the project's pins (Pillow) downloaded here on the host.
#
# Environment: VERSION (from pyproject.toml), CRUNCH_IMAGE (crunch:$VERSION),
# IMAGE (crunch-thumbnails:$VERSION), BASE_IMAGE (force the build stage's base).
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=${VERSION:-$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)}
CRUNCH_IMAGE=${CRUNCH_IMAGE:-crunch:$VERSION}
IMAGE=${IMAGE:-crunch-thumbnails:$VERSION}
PROJECT=examples/thumbnails
DEFAULT_BASE=$(sed -n 's/^ARG BASE_IMAGE=//p' $PROJECT/Dockerfile)
OFFLINE_BASE=crunch-base:bookworm-py311

log() { echo "example-image: $*" >&2; }

docker image inspect "$CRUNCH_IMAGE" >/dev/null 2>&1 \
  || { log "$CRUNCH_IMAGE is missing: build it first (make image)"; exit 1; }

build_wheelhouse() {
  local wh=$PROJECT/.cache/wheelhouse stamp pins
  pins=$(sed -n 's/^dependencies = \[\(.*\)\]/\1/p' $PROJECT/pyproject.toml | tr -d '" ' | tr ',' ' ')
  stamp=$wh/.stamp-$(echo "$pins" | sha256sum | cut -c1-16)
  if [ -f "$stamp" ]; then return; fi
  log "downloading the wheelhouse ($pins, setuptools; cp311 manylinux x86_64) into $wh"
  rm -rf "$wh" && mkdir -p "$wh"
  # shellcheck disable=SC2086 # one argument per pin
  python3 -m pip download --quiet --disable-pip-version-check --dest "$wh" \
    --only-binary=:all: --implementation cp --python-version 3.11 --abi cp311 --abi abi3 --abi none \
    --platform manylinux_2_36_x86_64 --platform manylinux_2_28_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform any \
    $pins 'setuptools>=68'
  touch "$stamp"
}

base=${BASE_IMAGE:-}
wheelhouse=no
if [ -z "$base" ] && docker image inspect "$DEFAULT_BASE" >/dev/null 2>&1; then
  base=$DEFAULT_BASE
  log "using $base (present locally; pip reaches PyPI)"
elif [ -z "$base" ]; then
  docker image inspect "$OFFLINE_BASE" >/dev/null 2>&1 \
    || { log "neither $DEFAULT_BASE nor $OFFLINE_BASE is present: run make image first"; exit 1; }
  base=$OFFLINE_BASE
  build_wheelhouse
  wheelhouse=auto
  log "offline: $base + host wheelhouse"
fi

log "building $IMAGE from $CRUNCH_IMAGE"
nice docker build --quiet \
  --build-arg "CRUNCH_IMAGE=$CRUNCH_IMAGE" --build-arg "BASE_IMAGE=$base" \
  --build-arg "WHEELHOUSE=$wheelhouse" --build-arg "VERSION=$VERSION" \
  -t "$IMAGE" "$PROJECT" >/dev/null
docker image prune --force --filter label=org.crunch.stage=build >/dev/null
size=$(docker image inspect -f '{{.Size}}' "$IMAGE")
log "built $IMAGE: $((size / 1000000)) MB"
