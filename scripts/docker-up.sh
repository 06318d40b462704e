#!/usr/bin/env bash
# Make sure a Docker engine answers. Installs Debian's docker.io when the engine is
# missing and starts dockerd in the background when it is not running.
# Exit 0 when `docker info` works, 1 (with the reason on stderr) when it cannot.
set -uo pipefail
LOG=${DOCKERD_LOG:-/var/log/crunch-dockerd.log}

if docker info >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" != 0 ]; then echo "docker-up: no running engine and not root to start one" >&2; exit 1; fi
if ! command -v dockerd >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io) >/dev/null 2>&1 \
    || { echo "docker-up: could not install docker.io" >&2; exit 1; }
fi
# Hosts here have cgroup v1 and no CAP_SYS_RESOURCE; the default cgroupfs driver works.
nohup dockerd >"$LOG" 2>&1 &
for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then exit 0; fi
  sleep 1
done
echo "docker-up: dockerd did not answer within 60 s (see $LOG)" >&2
exit 1
