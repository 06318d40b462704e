"""11. `kubectl drain` of a worker node under steady load through the Ingress fails no
request (SPEC K4): the PodDisruptionBudget lets the eviction take one crunch pod at a
time, each drains (preStop, then SIGTERM with in-flight work finishing) while its
replacement starts elsewhere. The load goes to crunch-web (≥ 2 pods): a Deployment of
one replica (hello, world here) cannot be drained without a gap, PDB or not. The node
is uncordoned afterwards."""

from __future__ import annotations

import time
from collections import Counter

from tests.e2e.cluster import Cluster
from tests.e2e.conftest import record
from tests.e2e.load import OpenLoopLoad


def test_draining_a_worker_under_load_fails_no_request(cluster: Cluster) -> None:
    web = cluster.pods("web")
    assert len(web) >= 2, "need a second pod to take over"
    # The worker that runs the most crunch pods (web first): the drain that costs most.
    node = Counter(p["spec"]["nodeName"] for p in web).most_common(1)[0][0]
    evicted = sorted(p["metadata"]["name"] for p in web if p["spec"]["nodeName"] == node)
    loads = [OpenLoopLoad(cluster.ingress_url, "/work/spin?n=300", rate=8, duration=400).start()]
    t0 = time.time()
    try:
        time.sleep(5)
        cluster.kubectl(
            "drain", node, "--ignore-daemonsets", "--delete-emptydir-data",
            "--timeout=240s", timeout=300,
        )  # fmt: skip
        drained_s = time.time() - t0 - 5
        cluster.wait_serving()
        time.sleep(10)  # the replacements under the same load
    finally:
        for load in loads:
            load.stop()
        cluster.kubectl("uncordon", node)
    left = [p["metadata"]["name"] for p in cluster.pods("web") if p["spec"]["nodeName"] == node]
    summaries = [load.summary() for load in loads]
    failures = [f for load in loads for f in load.failures(allow_honest_503=False)]
    record(
        "drain",
        {
            "node": node,
            "evicted": evicted,
            "drain_s": drained_s,
            "loads": summaries,
            "failures": [f.__dict__ for f in failures[:20]],
        },
    )
    assert evicted, f"no crunch pod on {node}"
    assert not left, left
    assert not failures, (summaries, failures[:5])
