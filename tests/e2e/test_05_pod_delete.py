"""5. Deleting a pod under steady load loses no accepted request beyond that pod's
in-flight ones, and those get an error response, never a hang."""

from __future__ import annotations

import time

from tests.e2e.cluster import Cluster
from tests.e2e.conftest import record
from tests.e2e.load import OpenLoopLoad


def test_pod_deletion_under_load(cluster: Cluster) -> None:
    pods = cluster.pods("web")
    assert len(pods) >= 2, "need a second pod to take over"
    victim = pods[0]["metadata"]["name"]
    load = OpenLoopLoad(
        cluster.ingress_url, "/work/spin?n=4000", rate=4, duration=300, timeout=60
    ).start()
    try:
        time.sleep(8)
        t_delete = load.elapsed()
        cluster.kubectl(
            "-n", cluster.namespace, "delete", "pod", victim, "--wait=true", timeout=180
        )
        deleted_s = load.elapsed() - t_delete
        time.sleep(10)
    finally:
        load.stop()
    # Requests that were in flight at some moment of the deletion (grace period
    # included): the most the deleted pod can have had.
    t_end = t_delete + deleted_s
    inflight_at_delete = sum(
        1 for r in load.results if r.start < t_end and r.start + r.latency > t_delete
    )
    summary = load.summary()
    failures = load.failures(allow_honest_503=False)
    hangs = [f for f in failures if f.status is None]
    record(
        "pod_delete",
        {
            "victim": victim,
            "deleted_s": deleted_s,
            "inflight_at_delete": inflight_at_delete,
            "load": summary,
            "failures": [f.__dict__ for f in failures[:20]],
        },
    )
    assert not hangs, hangs[:5]
    # Only the requests the deleted pod had accepted may fail, each with an answer.
    assert len(failures) <= max(inflight_at_delete, 1), (summary, failures[:5])
    assert summary["by_status"].get("200", 0) > 0
