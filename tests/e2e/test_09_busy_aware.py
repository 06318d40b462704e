"""9. Busy-aware balancing in the cluster: the chart's HAProxy balancer (balancer.enabled,
Debian's haproxy in crunch-e2e/haproxy:1) between the Ingress and the pods.

This installs the release afresh (whatever ran before) with the balancer on and
autoscaling off, so crunch-web runs a fixed N = 2 pods of 1 worker.
N long requests occupy every worker; one more must wait in the balancer (HAProxy's
backend queue holds it, every pod's crunch_queue_depth stays 0 while each pod's one
worker is busy) and then succeed on the first pod that frees up. A request that waits
longer than `timeout queue` gets HAProxy's 503 with Retry-After and the app's error
JSON. The release is uninstalled at the end.
"""

from __future__ import annotations

import json
import math
import re
import statistics
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.e2e.cluster import Cluster
from tests.e2e.conftest import BALANCER, record

QUEUE_TIMEOUT = 4  # seconds: balancer.queueTimeout of this test
PODS = 2  # crunch-web replicas (values-e2e.yaml), 1 worker each
CAL_N = 4000
SPIN_LIMIT = 40000  # CRUNCH_SPIN_LIMIT: room for the ~9 s requests of the 503 case

VALUES = (
    *BALANCER,
    "--set", f"balancer.queueTimeout={QUEUE_TIMEOUT}",
    "--set", "autoscaling.mode=off",
    "--set-json", f'serviceDefaults.env=[{{"name":"CRUNCH_SPIN_LIMIT","value":"{SPIN_LIMIT}"}}]',
)  # fmt: skip


@dataclass
class Answer:
    status: int | None = None
    pod: str = ""
    retry_after: str | None = None
    body: str = ""
    started: float = 0.0
    finished: float = 0.0

    @property
    def latency(self) -> float:
        return self.finished - self.started


def _send(base_url: str, path: str, out: Answer) -> None:
    out.started = time.monotonic()
    try:
        with httpx.Client(base_url=base_url, timeout=90) as client:
            r = client.get(path)
        out.status = r.status_code
        out.retry_after = r.headers.get("retry-after")
        out.body = r.text
        if r.status_code == 200:
            out.pod = str(r.json().get("pod", ""))
    except httpx.HTTPError as exc:
        out.body = repr(exc)
    finally:
        out.finished = time.monotonic()


def _start(base_url: str, path: str) -> tuple[Answer, threading.Thread]:
    answer = Answer()
    thread = threading.Thread(target=_send, args=(base_url, path, answer), daemon=True)
    thread.start()
    return answer, thread


def _metric(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in Prometheus text format (labels: a subset to match)."""
    for line in text.splitlines():
        m = re.match(rf"^{name}(\{{[^}}]*\}})? (\S+)$", line)
        if not m:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(m.group(2))
    return None


@dataclass(frozen=True)
class Sample:
    pods: dict[str, tuple[float | None, float | None]]  # pod -> (busy workers, queue depth)
    balancer_queue: float | None  # requests waiting in HAProxy's web backend
    waiting: bool  # taken while the long requests all ran and the extra one waited


class Probe:
    """The web pods' and the balancer's metrics, read through the API server's proxy."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.web = sorted(p["metadata"]["name"] for p in cluster.pods("web"))
        (balancer,) = cluster.pods("balancer")
        self.balancer = balancer["metadata"]["name"]

    def _raw(self, pod: str, port: int) -> str:
        ns = self.cluster.namespace
        return self.cluster.kubectl(
            "get", "--raw", f"/api/v1/namespaces/{ns}/pods/{pod}:{port}/proxy/metrics", timeout=10
        )

    def pods(self) -> dict[str, tuple[float | None, float | None]]:
        """pod -> (busy workers, queue depth)."""
        out = {}
        for pod in self.web:
            text = self._raw(pod, 8080)
            out[pod] = (
                _metric(text, "crunch_pool_busy_workers"),
                _metric(text, "crunch_queue_depth"),
            )
        return out

    def balancer_metric(self, name: str) -> float | None:
        return _metric(self._raw(self.balancer, 8404), name, proxy="web")


@pytest.fixture(scope="module")
def balanced(kind: Cluster) -> Iterator[Cluster]:
    cluster = kind
    ns = cluster.namespace
    cluster.deploy("balancer", *VALUES)
    try:
        yield cluster
    finally:
        cluster.helm(
            "uninstall", cluster.release, "-n", ns, "--wait", "--timeout", "180s", check=False
        )


def _ready(cluster: Cluster) -> Probe:
    """Wait until the balancer has both web pods up and every route answers through it."""
    cluster.wait_for(
        "the web pods and one balancer pod",
        lambda: len(cluster.pods("web")) == PODS and len(cluster.pods("balancer")) == 1,
        timeout=120,
    )
    probe = Probe(cluster)
    cluster.wait_for(
        f"the balancer to see {PODS} web pods up (DNS + /readyz checks)",
        lambda: probe.balancer_metric("haproxy_backend_active_servers") == PODS,
        timeout=60,
        interval=1,
    )
    with httpx.Client(base_url=cluster.ingress_url, timeout=30) as client:
        for path, prefix in (("/hello", "hello from pod crunch-hello-"), ("/world", "world from")):
            r = cluster.wait_for(
                f"{path} through the Ingress and the balancer",
                lambda p=path: (x := client.get(p)).status_code == 200 and x,
                timeout=60,
                interval=1,
            )
            assert r.text.startswith(prefix), r.text
            assert r.headers["x-crunch-instance"].startswith(path.strip("/")), r.headers
    return probe


def _calibrate(cluster: Cluster) -> float:
    """Seconds one spin(CAL_N) takes on a worker (median of 3, one at a time)."""
    times = []
    with httpx.Client(base_url=cluster.ingress_url, timeout=60) as client:
        for _ in range(3):
            t0 = time.monotonic()
            r = client.get(f"/work/spin?n={CAL_N}")
            assert r.status_code == 200, r.text
            assert r.headers["x-crunch-instance"].startswith("web"), r.headers
            times.append(time.monotonic() - t0)
    return statistics.median(times)


def _size_for(seconds: float, cal: float) -> int:
    """The spin n that takes about `seconds` (the work grows with n squared)."""
    return min(SPIN_LIMIT, max(CAL_N, int(CAL_N * math.sqrt(seconds / cal))))


def _fill_every_worker(
    cluster: Cluster, probe: Probe, n: int
) -> list[tuple[Answer, threading.Thread]]:
    """Send one long request per web pod; return once every pod's worker is busy."""
    longs = [_start(cluster.ingress_url, f"/work/spin?n={n}") for _ in range(PODS)]
    cluster.wait_for(
        "every web pod's worker to be busy",
        lambda: all(busy == 1 for busy, _ in probe.pods().values()),
        timeout=5,
        interval=0.2,
    )
    return longs


def test_an_extra_request_waits_in_the_balancer_not_in_a_pod(balanced: Cluster) -> None:
    cluster = balanced
    probe = _ready(cluster)
    cal = _calibrate(cluster)
    n = _size_for(2.5, cal)
    longs = _fill_every_worker(cluster, probe, n)
    extra, extra_thread = _start(cluster.ingress_url, "/work/spin?n=100")
    samples: list[Sample] = []
    while not extra.finished or any(not a.finished for a, _ in longs):
        pods = probe.pods()
        queued = probe.balancer_metric("haproxy_backend_current_queue")
        # Sampled while every pod still ran its long request (so the extra one could
        # only be waiting): nothing had finished by the end of the sample.
        held = not extra.finished and not any(a.finished for a, _ in longs)
        samples.append(Sample(pods, queued, held))
        if all(a.finished for a, _ in longs) or len(samples) > 200:
            break
        time.sleep(0.2)
    for _, t in longs:
        t.join(timeout=60)
    extra_thread.join(timeout=60)

    assert all(a.status == 200 for a, _ in longs), [a.body for a, _ in longs]
    assert sorted(a.pod for a, _ in longs) == probe.web, "one long request on each pod"
    assert extra.status == 200, extra.body
    # No pod ever queued a task: the extra request waited in the balancer.
    depths = [d for s in samples for _, d in s.pods.values()]
    assert depths and all(d == 0 for d in depths), samples
    # While it waited (sampled before its answer came), each pod ran exactly its one
    # worker's task and the balancer's queue held the extra request.
    waiting = [s for s in samples if s.waiting]
    assert waiting, "the extra request was answered before any sample: it did not wait"
    assert all(busy == 1 for s in waiting for busy, _ in s.pods.values()), waiting
    assert any(s.balancer_queue == 1 for s in waiting), waiting
    # It ran only once a long one had finished, on the pod that freed first.
    ordered = sorted((a for a, _ in longs), key=lambda a: a.finished)
    assert extra.finished >= ordered[0].finished - 0.3, (extra, ordered)
    if ordered[1].finished - ordered[0].finished > 0.5:
        assert extra.pod == ordered[0].pod, (extra, ordered)
    record(
        "busy_aware",
        {
            "calibration_s": round(cal, 3),
            "spin_n": n,
            "long_latencies_s": [round(a.latency, 2) for a, _ in longs],
            "extra_latency_s": round(extra.latency, 2),
            "samples": len(samples),
            "max_pod_queue_depth": max(d or 0 for d in depths),
        },
    )


def test_past_the_queue_timeout_a_request_gets_503_with_retry_after(balanced: Cluster) -> None:
    cluster = balanced
    probe = _ready(cluster)
    cal = _calibrate(cluster)
    n = _size_for(QUEUE_TIMEOUT + 5, cal)
    longs = _fill_every_worker(cluster, probe, n)
    extra, extra_thread = _start(cluster.ingress_url, "/work/spin?n=100")
    extra_thread.join(timeout=60)
    for _, t in longs:
        t.join(timeout=90)

    assert extra.status == 503, (extra.status, extra.body)
    assert extra.retry_after == "1"
    body = json.loads(extra.body)
    assert body["error"] == "overloaded"
    assert f"timeout of {QUEUE_TIMEOUT}s" in body["detail"]
    assert QUEUE_TIMEOUT - 0.5 <= extra.latency < QUEUE_TIMEOUT + 3, extra.latency
    assert all(a.status == 200 for a, _ in longs), [a.body for a, _ in longs]
    assert all(extra.finished < a.finished for a, _ in longs), "answered before a pod freed up"
    record(
        "busy_aware_timeout",
        {
            "queue_timeout_s": QUEUE_TIMEOUT,
            "spin_n": n,
            "long_latencies_s": [round(a.latency, 2) for a, _ in longs],
            "rejected_after_s": round(extra.latency, 2),
        },
    )
