#!/usr/bin/env bash
# Build the crunch image (crunch:<version>) with whatever this machine can reach.
#
#   online : the Dockerfile's default base (official python:3.11-slim-bookworm) is
#            present or can be pulled -> plain `docker build`, pip uses PyPI.
#   offline: no registry -> a Debian bookworm base made here with debootstrap
#            (cached as a tarball under .cache/image/) and a wheelhouse downloaded
#            on the host (.cache/wheelhouse/), which the build installs from with
#            --no-index. Bookworm's python3 is 3.11, like the wheels.
#
# Environment: VERSION (default: from pyproject.toml), IMAGE (crunch:$VERSION),
# BASE_IMAGE (force a base; skips detection), OFFLINE=1 (force the offline path),
# PULL_TIMEOUT (seconds to try a pull, default 30).
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=${VERSION:-$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)}
IMAGE=${IMAGE:-crunch:$VERSION}
DEFAULT_BASE=$(sed -n 's/^ARG BASE_IMAGE=//p' Dockerfile)
OFFLINE_BASE=crunch-base:bookworm-py311-tini
CACHE=.cache
PULL_TIMEOUT=${PULL_TIMEOUT:-30}

log() { echo "image: $*" >&2; }

debian_mirror() {
  # The mirror apt on this machine uses (debootstrap's built-in default may be unreachable).
  local uri
  uri=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' \
        | grep -v -e security -e updates | head -n1 || true)
  if [ -z "$uri" ]; then
    uri=$(grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
          | awk '{print $2}' | grep -v -e security | head -n1 || true)
  fi
  echo "${uri:-http://deb.debian.org/debian}"
}

build_offline_base() {
  if docker image inspect "$OFFLINE_BASE" >/dev/null 2>&1; then
    log "offline base $OFFLINE_BASE already present"
    return
  fi
  local tarball=$CACHE/image/bookworm-python3-tini.tar
  if [ ! -s "$tarball" ]; then
    [ "$(id -u)" = 0 ] || { log "debootstrap needs root to build the offline base"; exit 1; }
    if ! command -v debootstrap >/dev/null 2>&1; then
      log "installing debootstrap (Debian package)"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
    fi
    local mirror rootfs
    mirror=$(debian_mirror)
    rootfs=$(mktemp -d "${TMPDIR:-/tmp}/crunch-rootfs.XXXXXX")
    mkdir -p "$CACHE/image"
    log "debootstrap bookworm (minbase + python3 + tini) from $mirror (about a minute)"
    nice debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates,tini \
      bookworm "$rootfs" "$mirror" >"$CACHE/image/debootstrap.log" 2>&1 \
      || { log "debootstrap failed, see $CACHE/image/debootstrap.log"; rm -rf "$rootfs"; exit 1; }
    # Trim what a runtime never reads: docs, man pages, locales, apt's lists and caches.
    rm -rf "$rootfs"/usr/share/{doc,man,info,locale,lintian,linda}/* \
           "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* \
           "$rootfs"/var/cache/debconf/*-old "$rootfs"/var/log/* "$rootfs"/tmp/*
    tar --numeric-owner -C "$rootfs" -cf "$tarball.tmp" .
    mv "$tarball.tmp" "$tarball"
    rm -rf "$rootfs"
  fi
  log "importing $tarball as $OFFLINE_BASE"
  docker import --change 'CMD ["python3"]' --change 'ENV LANG=C.UTF-8' "$tarball" "$OFFLINE_BASE" >/dev/null
}

build_wheelhouse() {
  local wh=$CACHE/wheelhouse stamp
  stamp=$wh/.stamp-$(cat requirements.txt requirements-dev.txt | sha256sum | cut -c1-16)
  if [ -f "$stamp" ]; then return; fi
  log "downloading the wheelhouse (cp311, manylinux x86_64) into $wh"
  rm -rf "$wh" && mkdir -p "$wh"
  local setuptools
  setuptools=$(grep -E '^setuptools==' requirements-dev.txt || echo 'setuptools>=68')
  python3 -m pip download --quiet --disable-pip-version-check --dest "$wh" \
    --only-binary=:all: --implementation cp --python-version 3.11 --abi cp311 --abi abi3 --abi none \
    --platform manylinux_2_36_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform any \
    -r requirements.txt "$setuptools"
  touch "$stamp"
}

base=${BASE_IMAGE:-}
wheelhouse=no
if [ -n "$base" ]; then
  log "base forced: $base"
  docker image inspect "$base" >/dev/null 2>&1 || timeout "$PULL_TIMEOUT" docker pull -q "$base" >/dev/null
elif [ "${OFFLINE:-0}" != 1 ] && docker image inspect "$DEFAULT_BASE" >/dev/null 2>&1; then
  base=$DEFAULT_BASE
  log "using $base (present locally)"
elif [ "${OFFLINE:-0}" != 1 ] && timeout "$PULL_TIMEOUT" docker pull -q "$DEFAULT_BASE" >/dev/null 2>&1; then
  base=$DEFAULT_BASE
  log "using $base (pulled)"
else
  log "$DEFAULT_BASE cannot be pulled: building offline (debootstrap base + host wheelhouse)"
  build_offline_base
  build_wheelhouse
  base=$OFFLINE_BASE
  wheelhouse=auto
fi

previous=$(docker image inspect -f '{{.Id}}' "$IMAGE" 2>/dev/null || true)
revision=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
created=$(date -u +%Y-%m-%dT%H:%M:%SZ)
log "building $IMAGE on $base"
nice docker build --quiet \
  --build-arg "BASE_IMAGE=$base" --build-arg "WHEELHOUSE=$wheelhouse" \
  --build-arg "VERSION=$VERSION" --build-arg "REVISION=$revision" --build-arg "CREATED=$created" \
  -t "$IMAGE" . >/dev/null
# Only dangling images of crunch's own build stage (see the Dockerfile's LABEL), and
# the image this build replaced under the same tag, if nothing else uses it.
docker image prune --force --filter label=org.crunch.stage=build >/dev/null
if [ -n "$previous" ] && [ "$previous" != "$(docker image inspect -f '{{.Id}}' "$IMAGE")" ]; then
  docker rmi "$previous" >/dev/null 2>&1 || true
fi
size=$(docker image inspect -f '{{.Size}}' "$IMAGE")
log "built $IMAGE: $((size / 1000000)) MB"
