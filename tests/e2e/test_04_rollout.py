"""4. A rolling update (helm upgrade changing an env value) under steady load loses
no request: every answer is a 200."""

from __future__ import annotations

import json
import time

from tests.e2e.cluster import Cluster
from tests.e2e.conftest import record
from tests.e2e.load import OpenLoopLoad


def test_helm_upgrade_under_load_fails_no_request(cluster: Cluster) -> None:
    before = {p["metadata"]["name"] for p in cluster.pods("web")}
    profile = cluster.profile()
    marker = str(int(time.time()))
    loads = [
        OpenLoopLoad(cluster.ingress_url, "/work/spin?n=300", rate=8, duration=300).start(),
        OpenLoopLoad(cluster.ingress_url, "/hello", rate=2, duration=300).start(),
    ]
    t0 = time.time()
    try:
        time.sleep(5)
        cluster.helm(
            "upgrade",
            cluster.release,
            str(cluster.chart),
            "-n",
            cluster.namespace,
            "--reuse-values",
            "--description",  # the same profile: an env value more changes nothing else
            f"e2e:{profile}",
            "--set-json",
            "serviceDefaults.env=" + json.dumps([{"name": "CRUNCH_E2E_ROLLOUT", "value": marker}]),
            "--wait",
            "--timeout",
            "300s",
        )
        rollout_s = time.time() - t0
        time.sleep(10)  # old pods finish draining while the load goes on
    finally:
        for load in loads:
            load.stop()
    after = {p["metadata"]["name"] for p in cluster.pods("web")}
    assert after and not (after & before), "the upgrade replaced no pod"
    env = cluster.get("deployment", cluster.deployment_name("web"))["spec"]["template"]["spec"][
        "containers"
    ][0]["env"]
    assert {"name": "CRUNCH_E2E_ROLLOUT", "value": marker} in env
    summaries = [load.summary() for load in loads]
    failures = [f for load in loads for f in load.failures(allow_honest_503=False)]
    record(
        "rollout",
        {
            "rollout_s": rollout_s,
            "loads": summaries,
            "failures": [f.__dict__ for f in failures[:20]],
        },
    )
    assert not failures, (summaries, failures[:5])
