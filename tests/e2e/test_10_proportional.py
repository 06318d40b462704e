"""10. Replicas track the offered load. With the test-only `hold` task (a worker held
without CPU, tests/e2e/fixtures/e2e_hold.py) a 2-core machine can offer many pods'
worth of work: at 2 x and then 4 x one pod's capacity (1 worker per pod), crunch-web
settles at a replica count proportional to the load, at least 8 pods at 4 x, over
all three workers; after the load it scales back to the minimum of 2.

The goal, the 4 x count within the HPA's tolerance (10 %, applied to both settled
counts) of twice the 2 x count, is recorded and reported pass or MISS in
docs/e2e.md, like K3's timings: where in that band the HPA stops is a statistic of a
noisy 2-core machine, and a MISS in one run out of ten must not block every landing
once e2e runs in CI. What the test asserts every time is that the count follows the
load: 1.5 to 3 times the 2 x count at twice the load (neither stuck nor run away).

Why relative to the 2 x step and not to k / target (4, then 8 pods at target 0.5):
crunch_saturation counts queued tasks too, and requests reach pods unevenly (the
Ingress does not know which pod is busy), so at a mean utilisation of 0.5 a pod
also has tasks waiting; the HPA settles where busy + queued averages the target,
at a utilisation below it (about 0.4 for random arrivals on 1-worker pods). That
utilisation does not depend on the load, so the count stays proportional to it.
Both counts and the k / target figure are recorded for docs/e2e.md.

The release (values-hold.yaml) adds at most one pod per HPA sync, so both counts are
reached from below: the HPA keeps any count whose metric is within its tolerance, and
a step that overshoots (the metric window right after a scale-up still holds the
backlog of the pods that were too few) may stand at the top of that band instead."""

from __future__ import annotations

import math
import time
from typing import Any

from tests.e2e.cluster import ROOT, Cluster
from tests.e2e.conftest import record
from tests.e2e.load import OpenLoopLoad
from tests.e2e.test_03_autoscale import Recorder

VALUES = ROOT / "tests" / "e2e" / "fixtures" / "values-hold.yaml"
HOLD_MS = 1000
TARGET = 0.5  # autoscaling.targetSaturation in values-hold.yaml
TOLERANCE = 0.1  # the HPA controller's default --horizontal-pod-autoscaler-tolerance
STEADY_S = 45.0  # no change for three HPA periods: the replica count has settled
FOLLOWS = (1.5, 3.0)  # the 4 x count over the 2 x count, asserted (the band is the goal)


def band(count_at_2x: int) -> tuple[int, int]:
    """Replica counts the HPA may settle at for 4 x, given where it settled for 2 x:
    each settled count is only fixed within the HPA's tolerance of the load it
    serves, so twice the 2 x count is widened by the tolerance twice."""
    predicted = 2 * count_at_2x
    return (
        math.floor(predicted / (1 + TOLERANCE) ** 2),
        math.ceil(predicted / (1 - TOLERANCE) ** 2),
    )


def _steady(cluster: Cluster, name: str, timeout: float) -> dict[str, Any]:
    """Wait until the Deployment's replica count has not changed for STEADY_S and every
    pod is Ready; returns what it settled at."""
    last: tuple[int, float] | None = None

    def settled() -> dict[str, Any] | None:
        nonlocal last
        dep = cluster.get("deployment", name)
        replicas = dep["spec"]["replicas"]
        now = time.monotonic()
        if last is None or last[0] != replicas:
            last = (replicas, now)
            return None
        ready = dep["status"].get("readyReplicas", 0) >= replicas
        if ready and now - last[1] >= STEADY_S:
            return {"replicas": replicas, "nodes": _nodes(cluster)}
        return None

    return dict(cluster.wait_for(f"{name} to settle", settled, timeout=timeout, interval=3))


def _nodes(cluster: Cluster) -> dict[str, int]:
    out: dict[str, int] = {}
    for p in cluster.pods("web"):
        node = p["spec"].get("nodeName", "?")
        out[node] = out.get(node, 0) + 1
    return out


def test_replicas_track_two_and_four_times_one_pods_capacity(kind: Cluster) -> None:
    cluster = kind
    cluster.deploy("hold", "-f", str(VALUES), image=cluster.fixture_image)
    name = cluster.deployment_name("web")
    min_replicas = cluster.wait_hpa_at_rest(name)
    path = f"/work/hold?ms={HOLD_MS}"
    rate = 1000 / HOLD_MS  # one pod's capacity: its one worker always busy

    t0 = time.time()
    rec = Recorder(cluster, t0).start()
    steps: list[dict[str, Any]] = []
    loads = [OpenLoopLoad(cluster.ingress_url, path, rate=2 * rate, duration=800).start()]
    try:
        steps.append({"load_x": 2, "ideal": 2 / TARGET, **_steady(cluster, name, timeout=360)})
        steps[-1]["settled_s"] = round(time.time() - t0, 1)
        # Another 2 x on top: 4 x in all, without a gap in the offered load.
        loads.append(OpenLoopLoad(cluster.ingress_url, path, rate=2 * rate, duration=600).start())
        steps.append(
            {
                "load_x": 4,
                "ideal": 4 / TARGET,
                "band": band(steps[0]["replicas"]),
                **_steady(cluster, name, timeout=360),
            }
        )
        steps[-1]["settled_s"] = round(time.time() - t0, 1)
    finally:
        for load in loads:
            load.stop()
    load_stopped = time.time() - t0
    cluster.wait_for(
        "scale-down to the minimum",
        lambda: cluster.get("deployment", name)["spec"]["replicas"] == min_replicas,
        timeout=420,
    )
    down_at = time.time() - t0
    time.sleep(4)
    rec.stop()
    peak = max((s.get("replicas", 0) for s in rec.samples), default=0)
    failures = [f for load in loads for f in load.failures(allow_honest_503=True)]
    record(
        "proportional",
        {
            "hold_ms": HOLD_MS,
            "target": TARGET,
            "min_replicas": min_replicas,
            "peak_replicas": peak,
            "steps": steps,
            "load_stopped_s": load_stopped,
            "scaled_down_s": down_at,
            "scale_down_after_load_s": down_at - load_stopped,
            "loads": [load.summary() for load in loads],
            "failures": [f.__dict__ for f in failures[:20]],
            "timeline": rec.samples,
        },
    )
    assert not failures, failures[:5]
    ratio = steps[1]["replicas"] / steps[0]["replicas"]
    assert FOLLOWS[0] <= ratio <= FOLLOWS[1], steps
    assert steps[1]["replicas"] >= 8, steps
    assert len(steps[-1]["nodes"]) == 3, steps[-1]["nodes"]
