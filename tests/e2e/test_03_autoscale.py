"""3. In every autoscaling mode of the chart (prometheus-adapter, cpu through
metrics-server, keda), the same open-loop load step through the Ingress raises
crunch_saturation, the HPA scales the Deployment up, and back down to its minimum
once the load stops. No request fails except honest 503s (with Retry-After), which
are counted. The seconds to the scale-up decision and to the new pods Ready are
recorded for the report (SPEC K1/K3), never asserted: timings on a shared machine
are no test verdict."""

from __future__ import annotations

import json
import statistics
import threading
import time
from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.e2e.cluster import Cluster
from tests.e2e.conftest import MODES, deploy_mode, record
from tests.e2e.load import OpenLoopLoad

SERVICE = "web"
SPIN_N = 4000
TARGET_BUSY_WORKERS = 2.0  # offered load, in workers kept busy: above 0.7 x 2 pods


def _epoch(ts: str) -> float:
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


class Recorder:
    """Samples HPA, Deployment and Prometheus every `interval` seconds."""

    def __init__(self, cluster: Cluster, t0: float, interval: float = 2.0) -> None:
        self.cluster, self.t0, self.interval = cluster, t0, interval
        self.samples: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Recorder:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(60)

    def _run(self) -> None:
        name = self.cluster.deployment_name(SERVICE)
        deadline = time.time() + 900
        while not self._stop.is_set() and time.time() < deadline:
            s: dict[str, Any] = {"t": round(time.time() - self.t0, 1)}
            try:
                dep = self.cluster.get("deployment", name)
                hpa = self.cluster.get("hpa", name)
                s["replicas"] = dep["spec"].get("replicas", 0)
                s["ready"] = dep["status"].get("readyReplicas", 0)
                s["desired"] = hpa["status"].get("desiredReplicas")
                metrics = hpa["status"].get("currentMetrics") or []
                if metrics:
                    s["hpa_metric"] = _hpa_metric(metrics[0])
                sel = f'namespace="{self.cluster.namespace}",pod=~"{name}-.*"'
                res = self.cluster.prometheus(f"avg(crunch_saturation{{{sel}}})")
                if res:
                    s["saturation"] = float(res[0]["value"][1])
                s["last_scale"] = hpa["status"].get("lastScaleTime")
            except (AssertionError, KeyError, ValueError) as exc:
                s["error"] = str(exc)[:200]
            self.samples.append(s)
            self._stop.wait(self.interval)


def _quantity(q: str) -> float:
    if q.endswith("m"):
        return float(q[:-1]) / 1000
    return float(q)


def _hpa_metric(metric: dict[str, Any]) -> float | None:
    """The HPA's current value of its first metric: per-pod saturation (Pods metric of
    prometheus-adapter, External metric of KEDA) or CPU utilisation as a fraction of
    the request (mode cpu), so each plots on the same axis as its target."""
    kind = metric.get("type", "").lower()
    current = (metric.get(kind) or {}).get("current") or {}
    if "averageUtilization" in current:
        return float(current["averageUtilization"]) / 100
    if "averageValue" in current:
        return _quantity(str(current["averageValue"]))
    return None


def _calibrate(cluster: Cluster) -> float:
    """Seconds one spin(SPIN_N) takes on a worker of this cluster (median of 5)."""
    runs = []
    with httpx.Client(base_url=cluster.ingress_url, timeout=30) as client:
        for _ in range(5):
            r = client.get(f"/work/spin?n={SPIN_N}")
            assert r.status_code == 200, r.text
            runs.append(r.json()["run_ms"] / 1000)
    return float(statistics.median(runs))


@pytest.mark.parametrize("mode", MODES)
def test_load_scales_up_then_down(kind: Cluster, mode: str) -> None:
    cluster = deploy_mode(kind, mode)
    name = cluster.deployment_name(SERVICE)
    # KEDA creates its HPA (same name) a moment after Helm created the ScaledObject.
    cluster.wait_for(
        f"the HPA {name}",
        lambda: json.loads(
            cluster.kubectl(
                "-n", cluster.namespace, "get", "hpa", name, "-o", "json", "--ignore-not-found"
            )
            or "null"
        ),
        timeout=120,
    )
    # Start from rest: minimum replicas, the mode's metric served.
    min_replicas = cluster.wait_hpa_at_rest(name)
    run_s = _calibrate(cluster)
    rate = min(40.0, TARGET_BUSY_WORKERS / run_s)

    t0 = time.time()
    rec = Recorder(cluster, t0).start()
    load = OpenLoopLoad(
        cluster.ingress_url, f"/work/spin?n={SPIN_N}", rate=rate, duration=240
    ).start()
    scaled_at = ready_at = None
    try:
        dep = cluster.wait_for(
            "a scale-up decision",
            lambda: (d := cluster.get("deployment", name))["spec"]["replicas"] > min_replicas and d,
            timeout=150,
            interval=1,
        )
        h = cluster.get("hpa", name)
        scaled_at = (
            _epoch(h["status"]["lastScaleTime"]) - t0
            if h["status"].get("lastScaleTime")
            else time.time() - t0
        )
        target = dep["spec"]["replicas"]
        cluster.wait_for(
            f"{target} ready pods",
            lambda: cluster.get("deployment", name)["status"].get("readyReplicas", 0) >= target,
            timeout=180,
            interval=1,
        )
        ready_at = time.time() - t0
        time.sleep(20)  # the scaled-out Deployment under the same load
    finally:
        load.stop()
    load_stopped = time.time() - t0
    peak = max((s.get("replicas", 0) for s in rec.samples), default=0)
    cluster.wait_for(
        "scale-down to the minimum",
        lambda: cluster.get("deployment", name)["spec"]["replicas"] == min_replicas,
        timeout=420,
        interval=2,
    )
    down_at = time.time() - t0
    time.sleep(4)
    rec.stop()

    summary = load.summary()
    failures = load.failures(allow_honest_503=True)
    step = [r for r in load.results if r.start <= load_stopped]
    lat = sorted(r.latency for r in step if r.ok)
    record(
        f"autoscale-{mode}",
        {
            "mode": mode,
            "p99_step_s": lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else None,
            "honest_503": summary["honest_503"],
            "spin_n": SPIN_N,
            "run_s": run_s,
            "rate_rps": rate,
            "min_replicas": min_replicas,
            "peak_replicas": peak,
            "scale_decision_s": scaled_at,
            "new_pods_ready_s": ready_at,
            "load_stopped_s": load_stopped,
            "scaled_down_s": down_at,
            "scale_down_after_load_s": down_at - load_stopped,
            "load": summary,
            "failures": [f.__dict__ for f in failures[:20]],
            "timeline": rec.samples,
        },
    )
    assert not failures, (summary, failures[:5])
    assert summary["by_status"].get("200", 0) > 0
    assert peak > min_replicas
    assert max((s.get("saturation", 0.0) for s in rec.samples), default=0.0) > 0.7
