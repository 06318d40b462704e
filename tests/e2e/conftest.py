"""Fixtures of the kind end-to-end tests (run by `make e2e`, never by `make test`).

Every test asks for the state it needs (a fixture below, or `Cluster.deploy` with a
profile of its own), so each test file runs alone:
`.venv/bin/pytest tests/e2e/test_03_autoscale.py` on a cluster made by `make e2e-up`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cluster import STATE, Cluster

RESULTS = Path(os.environ.get("E2E_RESULTS") or STATE / "results")
# The chart's in-cluster balancer, on the HAProxy image built for the e2e (never pulled).
BALANCER = (
    "--set", "balancer.enabled=true",
    "--set", "balancer.image.repository=crunch-e2e/haproxy",
    "--set", "balancer.image.tag=1",
    "--set", "balancer.image.pullPolicy=Never",
)  # fmt: skip
# The autoscaling modes of the chart, each a profile of the standard release.
MODES = ("prometheus-adapter", "cpu", "keda")


@pytest.fixture(scope="session")
def kind() -> Cluster:
    """The kind cluster, whatever is installed on it."""
    c = Cluster.from_env()
    if not c.kubeconfig.exists():
        pytest.fail(f"no kind cluster: {c.kubeconfig} is missing (run `make e2e-up`)")
    return c


def deploy_mode(cluster: Cluster, mode: str) -> Cluster:
    """The standard release (values-e2e.yaml) autoscaled in `mode`."""
    cluster.deploy(mode, "--set", f"autoscaling.mode={mode}")
    return cluster


@pytest.fixture
def cluster(kind: Cluster) -> Cluster:
    """The standard release with autoscaling on, in whichever mode it already runs
    (prometheus-adapter when there is none)."""
    if kind.profile() in MODES:
        kind.wait_serving()
        return kind
    return deploy_mode(kind, MODES[0])


def record(name: str, data: dict[str, Any]) -> Path:
    """Keep a test's measurements for the run's report (scripts/e2e/report.py)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, sort_keys=True))
    return path
