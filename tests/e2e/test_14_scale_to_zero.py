"""14. Scale to zero (SPEC K5): in KEDA mode with the balancer, crunch-web idles at 0 pods.

The first request is held by the balancer's HAProxy (the Lua hold while its backend
has no server up) and counts in HAProxy's backend sessions; Prometheus scrapes that
from the balancer, KEDA's second trigger sees it above 0 and scales crunch-web to 1,
HAProxy finds the pod through the headless Service, and the held request is answered
200. Measured: one request at zero (request → 200), then a burst of 20 at zero, none
lost. Each time the service first goes back to zero on its own (cooldownPeriod).
"""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.e2e.cluster import Cluster
from tests.e2e.conftest import BALANCER, record

COOLDOWN = 15  # autoscaling.keda.cooldownPeriod of this test, seconds
QUEUE_TIMEOUT = 90  # balancer.queueTimeout: the hold lasts at most this long
BURST = 20
PATH = "/work/spin?n=2000"

VALUES = (
    *BALANCER,
    "--set", f"balancer.queueTimeout={QUEUE_TIMEOUT}",
    "--set", "autoscaling.mode=keda",
    "--set", f"autoscaling.keda.cooldownPeriod={COOLDOWN}",
    "--set-json", 'services=[{"name":"web","path":"/","crunchServices":"none","minReplicas":0,'
    '"maxReplicas":4},{"name":"hello","path":"/hello","crunchServices":"hello"},'
    '{"name":"world","path":"/world","crunchServices":"world"}]',
)  # fmt: skip


def _web_replicas(cluster: Cluster) -> int:
    spec = cluster.get("deployment", cluster.deployment_name("web"))["spec"]
    return int(spec.get("replicas", 1))


def _wait_at_zero(cluster: Cluster) -> float:
    """Wait until crunch-web has scaled to zero and its pods are gone; return the wait."""
    sel = f"app.kubernetes.io/instance={cluster.release},app.kubernetes.io/component=web"
    t0 = time.monotonic()
    # Terminating pods too: one that drains still answers what the balancer sends it.
    cluster.wait_for(
        "crunch-web at 0 replicas with no pod left",
        lambda: _web_replicas(cluster) == 0 and not cluster.get("pods", "-l", sel)["items"],
        timeout=240,
    )
    return time.monotonic() - t0


def _get(url: str) -> tuple[int | None, float, str]:
    t0 = time.monotonic()
    try:
        response = httpx.get(url, timeout=QUEUE_TIMEOUT + 30)
        return response.status_code, time.monotonic() - t0, response.text[:200]
    except httpx.HTTPError as exc:
        return None, time.monotonic() - t0, repr(exc)


def test_from_zero_the_first_requests_are_held_and_answered(kind: Cluster) -> None:
    cluster = kind
    cluster.deploy("scale-to-zero", *VALUES)
    url = cluster.ingress_url + PATH

    to_zero_s = _wait_at_zero(cluster)
    status, first_s, body = _get(url)
    assert status == 200, (status, body)
    assert _web_replicas(cluster) >= 1

    _wait_at_zero(cluster)
    with ThreadPoolExecutor(max_workers=BURST) as pool:
        burst = list(pool.map(_get, [url] * BURST))
    lost = [(s, b) for s, _, b in burst if s != 200]
    latencies = sorted(t for _, t, _ in burst)
    record(
        "scale_to_zero",
        {
            "cooldown_s": COOLDOWN,
            "queue_timeout_s": QUEUE_TIMEOUT,
            "idle_to_zero_s": to_zero_s,
            "first_request_s": first_s,
            "burst": BURST,
            "burst_lost": len(lost),
            "burst_first_s": latencies[0],
            "burst_median_s": statistics.median(latencies),
            "burst_last_s": latencies[-1],
            "replicas_after_burst": _web_replicas(cluster),
            "lost": lost[:5],
        },
    )
    assert not lost, lost[:5]
