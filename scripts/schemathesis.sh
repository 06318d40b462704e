#!/usr/bin/env bash
# Fuzz /openapi.json against a real `crunch serve` with schemathesis (every check) and
# fail on any finding. schemathesis runs from its own virtual environment under
# Python 3.13 (under 3.11 it crashes while generating bodies for /spawn).
#
#   scripts/schemathesis.sh            # venv in .cache/schemathesis-venv, server on a free port
#   ST_MAX_EXAMPLES=200 scripts/schemathesis.sh
set -euo pipefail
cd "$(dirname "$0")/.."

ST_VERSION=4.32.5
ST_VENV=${ST_VENV:-.cache/schemathesis-venv}
ST_MAX_EXAMPLES=${ST_MAX_EXAMPLES:-200}
ST_SEED=${ST_SEED:-1}
ST_PYTHON=${ST_PYTHON:-}
CRUNCH=${CRUNCH:-.venv/bin/crunch}
REPORT_DIR=${REPORT_DIR:-.cache/schemathesis-report}

if [ ! -x "$ST_VENV/bin/schemathesis" ] || ! "$ST_VENV/bin/schemathesis" --version | grep -q "$ST_VERSION"; then
  if [ -z "$ST_PYTHON" ]; then
    if command -v pyenv >/dev/null && [ -x "$(pyenv root)/versions/3.13.0/bin/python" ]; then
      ST_PYTHON="$(pyenv root)/versions/3.13.0/bin/python"
    elif command -v python3.13 >/dev/null; then
      ST_PYTHON=python3.13
    else
      echo "schemathesis: needs Python 3.13 (set ST_PYTHON, or install it with pyenv)" >&2
      exit 1
    fi
  fi
  rm -rf "$ST_VENV"
  "$ST_PYTHON" -m venv "$ST_VENV"
  "$ST_VENV/bin/pip" install --quiet --upgrade pip
  "$ST_VENV/bin/pip" install --quiet "schemathesis==$ST_VERSION"
fi

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$REPORT_DIR"
log="$REPORT_DIR/server.log"
# The shipped defaults, with small task caps so every valid request the fuzzer makes
# runs in milliseconds (a 5xx would be a finding), the example user tasks loaded, and
# two harmless programs for /spawn.
env -i PATH="$PATH" HOME="${HOME:-/tmp}" \
  CRUNCH_HOST=127.0.0.1 CRUNCH_PORT="$port" CRUNCH_WORKERS=2 \
  CRUNCH_SPIN_LIMIT=300 CRUNCH_SPIN_MIN=1 CRUNCH_SPIN_MAX=100 CRUNCH_PRIMES_LIMIT=20000 \
  CRUNCH_TASK_MODULES=examples.tasks CRUNCH_SPAWN_ALLOW=ls,echo CRUNCH_SPAWN_OUTPUT_LIMIT=16384 \
  CRUNCH_ACCESS_LOG=false CRUNCH_LOG_FORMAT=text CRUNCH_POD_NAME=fuzz \
  "$CRUNCH" serve >"$log" 2>&1 &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT

for _ in $(seq 1 100); do
  if curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$server" 2>/dev/null; then cat "$log" >&2; exit 1; fi
  sleep 0.1
done

status=0
PYTHONPATH=scripts SCHEMATHESIS_HOOKS=schemathesis_hooks timeout 600 \
  "$ST_VENV/bin/schemathesis" run "http://127.0.0.1:$port/openapi.json" \
  --checks all \
  --max-examples "$ST_MAX_EXAMPLES" \
  --seed "$ST_SEED" \
  --workers 1 \
  --continue-on-failure \
  --request-timeout 20 \
  --generation-database none \
  --no-color \
  --report json --report-json-path "$REPORT_DIR/report.json" || status=$?
if grep -q "Traceback" "$log"; then
  echo "schemathesis: the server logged a traceback (see $log)" >&2
  status=1
fi
exit "$status"
