#!/usr/bin/env bash
# rootfs.sh NAME PACKAGES...: a Debian bookworm minbase rootfs with PACKAGES, made with
# debootstrap from the Debian mirror apt already uses on this machine, imported into
# Docker as crunch-e2e/rootfs-NAME:<hash> (hash of the package list). Cached as a
# tarball under .cache/e2e/images. Prints the image name.
source "$(dirname "$0")/lib.sh"
name=$1; shift
pkgs=$(printf '%s\n' "$@" | sort -u | paste -sd, -)
tag=$(echo "bookworm $pkgs" | sha256sum | cut -c1-12)
image=crunch-e2e/rootfs-$name:$tag
tarball=$IMAGES/rootfs-$name-$tag.tar
if docker image inspect "$image" >/dev/null 2>&1; then echo "$image"; exit 0; fi
if [ ! -s "$tarball" ]; then
  mirror=${DEBIAN_MIRROR:-}
  if [ -z "$mirror" ]; then
    mirror=$(grep -rhoE '^(URIs:|deb) +https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
      | grep -oE 'https?://[^ ]+' | grep -v security | head -1 || true)
  fi
  mirror=${mirror:-http://deb.debian.org/debian}
  command -v debootstrap >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap) >&2
  dir=$(mktemp -d "$CACHE/rootfs-$name.XXXX")
  trap 'rm -rf "$dir"' EXIT
  t0=$(now)
  log "debootstrap $name ($pkgs) from $mirror"
  "${NICE[@]}" debootstrap --variant=minbase --include="$pkgs" bookworm "$dir/root" "$mirror" > "$CACHE/debootstrap-$name.log" 2>&1 \
    || { tail -20 "$CACHE/debootstrap-$name.log" >&2; exit 1; }
  rm -rf "$dir"/root/var/cache/apt/archives/*.deb "$dir"/root/var/lib/apt/lists/* \
         "$dir"/root/usr/share/doc/* "$dir"/root/usr/share/man/* "$dir"/root/usr/share/locale/*
  : > "$dir/root/etc/machine-id"
  tar -C "$dir/root" --numeric-owner -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
  log "rootfs $name in $(( $(now) - t0 )) s"
fi
docker import "$tarball" "$image" >/dev/null
echo "$image"
