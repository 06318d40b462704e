"""Fixtures of the kind end-to-end tests (run by `make e2e`, never by `make test`)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cluster import STATE, Cluster

RESULTS = Path(os.environ.get("E2E_RESULTS") or STATE / "results")


@pytest.fixture(scope="session")
def cluster() -> Cluster:
    c = Cluster.from_env()
    if not c.kubeconfig.exists():
        pytest.fail(f"no kind cluster: {c.kubeconfig} is missing (run `make e2e`)")
    status = json.loads(c.helm("-n", c.namespace, "status", c.release, "-o", "json"))
    assert status["info"]["status"] == "deployed", status["info"]
    return c


def record(name: str, data: dict[str, Any]) -> Path:
    """Keep a test's measurements for docs/e2e.md (scripts/e2e/report.py)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, sort_keys=True))
    return path
