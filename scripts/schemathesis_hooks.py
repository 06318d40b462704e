"""schemathesis hooks for crunch (loaded by scripts/schemathesis.sh, Python 3.13 venv).

/spawn answers NDJSON: {"output"} lines as the program writes, then one status line;
the OpenAPI schema describes one line (SpawnLine). schemathesis validates a response
body as one document, so this deserializer checks the stream's shape itself and hands
the status line on for schema validation.
"""

from __future__ import annotations

import json
from typing import Any

import schemathesis

STATUS_KEYS = {"exit", "bytes", "truncated", "timed_out", "duration_ms"}


@schemathesis.deserializer("application/x-ndjson")
def ndjson(ctx: Any, response: Any) -> Any:
    lines = [json.loads(line) for line in response.content.splitlines() if line.strip()]
    if not lines:
        raise ValueError("an NDJSON stream without a status line")
    *chunks, status = lines
    for chunk in chunks:
        if not isinstance(chunk, dict) or set(chunk) != {"output"}:
            raise ValueError(f"expected an output line, got {str(chunk)[:200]}")
    if not isinstance(status, dict) or set(status) != STATUS_KEYS:
        raise ValueError(f"expected the status line last, got {str(status)[:200]}")
    return status
