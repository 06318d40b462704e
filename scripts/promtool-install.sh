#!/usr/bin/env bash
# promtool, Prometheus' own checker, into .cache/bin: `make test` runs `promtool check
# metrics` on a real /metrics page and `promtool check rules` on every PromQL query the
# chart ships. Taken from Debian's prometheus package: apt-get download and dpkg-deb
# extract the one binary, so no service, user or root is involved (root only runs
# `apt-get update` when the package lists are missing). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.cache/bin
DL=.cache/downloads/promtool
[ -x "$BIN/promtool" ] && exit 0
mkdir -p "$BIN" "$DL"
if command -v promtool >/dev/null 2>&1; then
  ln -sf "$(command -v promtool)" "$BIN/promtool"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-deb >/dev/null 2>&1; then
  echo "promtool-install: promtool is missing and apt-get/dpkg-deb are not available;" >&2
  echo "                  put Prometheus' promtool (>= 2.40) on PATH" >&2
  exit 1
fi
download() { (cd "$DL" && apt-get download prometheus >/dev/null 2>&1); }
# Stale or missing package lists: only root may refresh them.
if ! download && ! { [ "$(id -u)" = 0 ] && apt-get update -qq >/dev/null && download; }; then
  echo "promtool-install: apt-get download prometheus failed (run apt-get update as root?)" >&2
  exit 1
fi
deb=$(ls -1 "$DL"/prometheus_*.deb | tail -n 1)
echo "promtool-install: promtool from $(basename "$deb")" >&2
dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/bin/promtool >"$BIN/promtool.tmp"
chmod 0755 "$BIN/promtool.tmp"
mv "$BIN/promtool.tmp" "$BIN/promtool"
"$BIN/promtool" --version | sed -n 1p
