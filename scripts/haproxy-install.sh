#!/usr/bin/env bash
# Make sure the haproxy binary is present (Debian's package). Idempotent: does nothing
# when haproxy is already on PATH (or in /usr/sbin). Installing needs root and apt-get;
# otherwise it says what to do and exits 1. The package's own service is not needed:
# `make cluster` runs haproxy in the foreground with a generated configuration (Debian's
# stock /etc/haproxy/haproxy.cfg binds no port, so its service does not get in the way).
set -uo pipefail

if command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ]; then exit 0; fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "haproxy-install: haproxy is missing and apt-get is not available; install HAProxy >= 2.6" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "haproxy-install: haproxy is missing; run as root: apt-get install haproxy" >&2
    exit 1
  fi
fi
echo "haproxy-install: installing Debian's haproxy package" >&2
if ! { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends haproxy; } >/dev/null; then
  echo "haproxy-install: apt-get install haproxy failed" >&2
  exit 1
fi
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || {
  echo "haproxy-install: haproxy still not found after installing" >&2; exit 1; }
