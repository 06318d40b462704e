"""15. A worker node that stops under steady load through the Ingress (SPEC K4, the
second half; the first is test 11's drain): `docker stop` of the kind node's
container that runs crunch-web pods.

- Only what that node had in flight may fail: read from its crunch pods' own gauges
  (through the API server's pod proxy) right before the stop; no request sent well
  after the stop fails (the Ingress controller retries a connection that cannot be
  made on another pod, scripts/e2e/manifests/traefik.yaml).
- The service answers 200 again within 60 s of the stop.
- The node is marked NotReady (20 s in this cluster), its pods are deleted after
  their 10 s toleration (values-e2e.yaml) and the Deployment, at the count the HPA
  keeps, has as many Ready pods as before, all on the other workers.

Then the node is started again and rejoins, so what runs next has three workers."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections import Counter
from typing import Any

from tests.e2e.cluster import SLACK, Cluster
from tests.e2e.conftest import record
from tests.e2e.load import OpenLoopLoad, Result

# spin(4000) takes ≈ 0.3 s here: at 3 per second one pod of two is busy half the
# time, so a node has requests in flight when it stops.
RATE = 3.0  # requests per second through the Ingress
# A request sent this long after the stop returned must not fail: past one dial
# timeout (1 s) per retry attempt of the Ingress controller and its backoff.
WELL_AFTER_S = 5.0
BACK_WITHIN_S = 60.0  # SPEC K4: 200 again within 60 s of the stop
GAUGES = ("crunch_inflight_requests", "crunch_pool_busy_workers", "crunch_queue_depth")


def docker(*args: str, timeout: float = 120) -> str:
    proc = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    assert proc.returncode == 0, f"docker {' '.join(args)}: {proc.stderr}"
    return proc.stdout.strip()


def node_ip(node: str) -> str:
    return docker("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", node)


def gauges(cluster: Cluster, pod: dict[str, Any]) -> dict[str, float] | None:
    """One pod's own in-flight gauges, read through the API server's pod proxy (not
    Prometheus, which is up to one scrape behind); None once the pod does not answer."""
    port = pod["spec"]["containers"][0]["ports"][0]["containerPort"]
    name, ns = pod["metadata"]["name"], pod["metadata"]["namespace"]
    try:
        text = cluster.kubectl(
            "get", "--raw", f"/api/v1/namespaces/{ns}/pods/{name}:{port}/proxy/metrics",
            "--request-timeout=1s", timeout=5, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return None
    found = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key in GAUGES:
            found[key] = float(value)
    return found or None


class Sampler:
    """Sums the in-flight gauges of the node's crunch pods over and over, from before
    the stop until none of them answers any more (the node has gone)."""

    def __init__(self, cluster: Cluster, pods: list[dict[str, Any]], clock: Any) -> None:
        self.cluster, self.pods, self.clock = cluster, pods, clock
        self.samples: list[dict[str, Any]] = []
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Sampler:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._done.is_set():
            t = self.clock()
            per_pod = {
                p["metadata"]["name"]: inflight(g) if (g := gauges(self.cluster, p)) else None
                for p in self.pods
            }
            self.samples.append({"t": round(t, 3), "pods": per_pod})
            if all(v is None for v in per_pod.values()):
                return
            time.sleep(0.1)

    def stop(self) -> None:
        self._done.set()
        self._thread.join(30)

    def inflight_at(self, t: float) -> int:
        """What the node held in the last sample before t."""
        before = [s for s in self.samples if s["t"] < t]
        return sum(v or 0 for v in before[-1]["pods"].values()) if before else 0

    def inflight_from(self, t: float) -> int:
        """The most requests the node held at once from the last sample before t on."""
        before = [s for s in self.samples if s["t"] < t]
        after = [s for s in self.samples if s["t"] >= t]
        return max(
            (sum(v or 0 for v in s["pods"].values()) for s in before[-1:] + after), default=0
        )


def inflight(g: dict[str, float]) -> int:
    """Requests a pod holds: every HTTP request being served but the metrics request
    that reads it; at least its busy workers and queued tasks."""
    served = g.get("crunch_inflight_requests", 1) - 1
    tasks = g.get("crunch_pool_busy_workers", 0) + g.get("crunch_queue_depth", 0)
    return int(max(served, tasks))


def node_ready(cluster: Cluster, node: str) -> bool:
    n = cluster.get("node", node, namespace="default")
    return any(
        c["type"] == "Ready" and c["status"] == "True" for c in n["status"].get("conditions", [])
    )


def node_pods_ready(cluster: Cluster, node: str) -> bool:
    pods = cluster.get(
        "pods", "--all-namespaces", "--field-selector", f"spec.nodeName={node}", namespace="default"
    )["items"]
    return all(
        p["metadata"].get("deletionTimestamp") is None
        and p["status"].get("phase") in ("Running", "Succeeded")
        and (
            p["status"].get("phase") == "Succeeded"
            or all(c.get("ready") for c in p["status"].get("containerStatuses", []))
        )
        for p in pods
    )


def ready_web(cluster: Cluster) -> list[dict[str, Any]]:
    return [
        p
        for p in cluster.pods("web")
        if any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in p["status"].get("conditions", [])
        )
    ]


def pick_node(web: list[dict[str, Any]], workers: list[str]) -> str:
    """The worker running the most crunch-web pods while another worker still runs
    one (a node with every pod of the Deployment cannot be lost without a gap)."""
    count = Counter(str(p["spec"]["nodeName"]) for p in web)
    for node, n in count.most_common():
        if node in workers and len(web) - n >= 1:
            return node
    raise AssertionError(f"no worker can be lost without losing every web pod: {dict(count)}")


def outage(results: list[Result], t_stop: float) -> dict[str, Any]:
    """From the answers of requests sent after the stop, in the order they were sent:
    the longest run of failures and when the service answered 200 again."""
    after = sorted((r for r in results if r.start >= t_stop), key=lambda r: r.start)
    longest: list[Result] = []
    run: list[Result] = []
    for r in after:
        run = [] if r.ok else [*run, r]
        longest = max(longest, run, key=len)
    last_failed = max((r.start for r in after if not r.ok), default=t_stop)
    back = min(
        (r.start + r.latency for r in after if r.ok and r.start >= last_failed), default=None
    )
    return {
        "longest_failure_run": len(longest),
        "longest_failure_run_s": (
            round(longest[-1].start - longest[0].start, 3) if longest else 0.0
        ),
        "back_to_200_s": round(back - t_stop, 3) if back is not None else None,
    }


def test_a_stopped_worker_node_loses_only_its_inflight_requests(cluster: Cluster) -> None:
    workers = [
        n["metadata"]["name"]
        for n in cluster.get("nodes", namespace="default")["items"]
        if "node-role.kubernetes.io/control-plane" not in n["metadata"].get("labels", {})
    ]
    dep = cluster.deployment_name("web")
    min_replicas = cluster.wait_hpa_at_rest(dep)
    web = ready_web(cluster)
    assert len(web) >= 2, "need a second pod to take over"
    replicas_before = len(web)
    node = pick_node(web, workers)
    on_node = [p for p in web if p["spec"]["nodeName"] == node]
    ip_before = node_ip(node)

    load = OpenLoopLoad(
        cluster.ingress_url, "/work/spin?n=4000", rate=RATE, duration=400, timeout=60
    ).start()
    timeline: list[dict[str, Any]] = []
    stopped = False
    try:
        time.sleep(7)  # steady state under the load
        # The node's in-flight requests, from its pods' own gauges: read right before
        # the stop and on while the node shuts down (`docker stop` stops its systemd,
        # which takes a few seconds), until its pods stop answering.
        sampler = Sampler(cluster, on_node, load.elapsed).start()
        time.sleep(1)
        t_stop = load.elapsed()
        client_inflight = load.inflight
        docker("stop", node)
        stopped = True
        t_stopped = load.elapsed()
        sampler.stop()
        node_inflight = sampler.inflight_from(t_stop)

        # Until the Deployment has as many Ready pods as before, all off the lost node.
        not_ready_s = None
        replaced_s = None
        deadline = time.monotonic() + 240 * SLACK
        while time.monotonic() < deadline:
            now = load.elapsed() - t_stop
            ready = ready_web(cluster)
            elsewhere = [p for p in ready if p["spec"]["nodeName"] != node]
            if not_ready_s is None and not node_ready(cluster, node):
                not_ready_s = round(now, 1)
            timeline.append(
                {"t": round(now, 1), "ready": len(ready), "ready_elsewhere": len(elsewhere)}
            )
            if len(elsewhere) >= replicas_before:
                replaced_s = round(now, 1)
                break
            time.sleep(1)
        time.sleep(10)  # the replacements under the same load
    finally:
        load.stop()
        if stopped:
            docker("start", node)
            t_start = time.monotonic()

    hpa = cluster.get("hpa", dep)["status"]
    results = load.results
    failures = load.failures(allow_honest_503=False)
    late = [f for f in failures if f.start > t_stopped + WELL_AFTER_S]
    down = outage(results, t_stop)
    data = {
        "node": node,
        "pods_on_node": sorted(p["metadata"]["name"] for p in on_node),
        "replicas_before": replicas_before,
        "min_replicas": min_replicas,
        "node_inflight": node_inflight,
        "inflight_before_stop": sampler.inflight_at(t_stop),
        "inflight_samples": sampler.samples[-20:],
        "client_inflight_at_stop": client_inflight,
        "stop_s": round(t_stopped - t_stop, 3),
        "node_not_ready_s": not_ready_s,
        "replicas_ready_s": replaced_s,
        "hpa_desired": hpa.get("desiredReplicas"),
        "failed": len(failures),
        "failed_late": len(late),
        "failed_during_stop": sum(1 for f in failures if t_stop <= f.start < t_stopped),
        **down,
        "load": load.summary(),
        "failures": [f.__dict__ for f in failures[:20]],
        "timeline": timeline,
        "node_ip": [ip_before],
    }
    try:
        # The node rejoins: Ready again, the release serving, for what runs next.
        cluster.wait_for("the node Ready again", lambda: node_ready(cluster, node), timeout=240)
        data["node_ip"].append(node_ip(node))
        # Its other pods (the stack's, which keep the default 300 s toleration) restart
        # in place, some crash-looping until kube-proxy is back there: wait for them.
        cluster.wait_for(
            "every pod on the node Ready again", lambda: node_pods_ready(cluster, node), timeout=300
        )
        data["rejoined_s"] = round(time.monotonic() - t_start, 1)
        cluster.wait_serving()
    finally:
        record("node_loss", data)

    summary = json.dumps({k: data[k] for k in ("node_inflight", "failed", "load")})
    assert replaced_s is not None, f"Ready pods not back to {replicas_before}: {timeline[-5:]}"
    assert not late, (summary, late[:5])
    assert len(failures) <= node_inflight, (summary, failures[:5])
    assert down["back_to_200_s"] is not None and down["back_to_200_s"] <= BACK_WITHIN_S, down
    assert (hpa.get("desiredReplicas") or 0) >= replicas_before, hpa
