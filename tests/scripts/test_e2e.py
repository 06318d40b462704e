"""The kind e2e's own scripts, without a cluster: what a fresh clone meets first."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
E2E = ROOT / "scripts" / "e2e"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "CRUNCH_E2E_CACHE": str(tmp_path / "cache"), **extra}


def _run(tmp_path: Path, script: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(E2E / script), *args],
        env=_env(tmp_path, **env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_taken_ingress_port_stops_the_run_before_any_build(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        proc = _run(
            tmp_path, "kind.sh", "preflight", E2E_INGRESS_PORT=str(port), E2E_CLUSTER="crunch-t"
        )
    assert proc.returncode == 1, proc
    assert f"127.0.0.1:{port} (the Ingress port) is already in use" in proc.stderr
    assert "E2E_INGRESS_PORT=" in proc.stderr
    assert not (tmp_path / "cache" / "bin" / "kind").exists()


def test_a_free_port_and_name_pass_the_preflight(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = _run(
        tmp_path, "kind.sh", "preflight", E2E_INGRESS_PORT=str(port), E2E_CLUSTER="crunch-t-free"
    )
    assert proc.returncode == 0, proc.stderr


def test_an_empty_cache_is_reported_cold_with_what_is_missing(tmp_path: Path) -> None:
    proc = _run(tmp_path, "cache-status.sh")
    assert proc.returncode == 1
    line = proc.stdout.strip()
    assert line.startswith("cold: "), line
    assert "Go programs not built: " in line and "kubernetes" in line, line
    assert "\n" not in line


def _run_dir(tmp_path: Path, decision: float, ready: float) -> Path:
    d = tmp_path / f"run-{decision}"
    d.mkdir()
    (d / "timings.json").write_text(json.dumps({"kubernetes_bins": 0, "total": 900}))
    data = {
        "mode": "keda",
        "scale_decision_s": decision,
        "new_pods_ready_s": ready,
        "min_replicas": 2,
        "peak_replicas": 5,
        "honest_503": 0,
        "p99_step_s": 0.9,
        "scale_down_after_load_s": 48.0,
        "failures": [],
        "rate_rps": 6.0,
    }
    (d / "autoscale-keda.json").write_text(json.dumps(data))
    return d


def _report(runs: list[Path]) -> str:
    """The report of these runs, as `make e2e` writes it beside the last one."""
    subprocess.run(
        [sys.executable, str(E2E / "report.py"), "--results", *map(str, runs)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return (runs[-1] / "report.md").read_text()


def test_the_report_of_a_run_marks_each_goal_and_leaves_the_docs_alone(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    run = _run_dir(tmp_path, decision=25.0, ready=29.0)
    proc = subprocess.run(
        [sys.executable, str(E2E / "report.py"), "--results", str(run)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=tmp_path,
    )
    report = (run / "report.md").read_text()
    assert "| K1 | keda | 25.0 s ≤ 30 s: **pass** | 29.0 s ≤ 60 s: **pass** |" in report
    assert "| K3 | keda | 25.0 s ≤ 20 s: **MISS** | 29.0 s ≤ 30 s: **pass** |" in report
    assert "| prometheus-adapter | not run |" in report
    assert list(docs.iterdir()) == [], proc.stdout


def test_the_docs_get_the_median_of_several_runs_only_when_asked(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "e2e.md").write_text(
        "intro\n<!-- e2e-results:begin -->\nold\n<!-- e2e-results:end -->\nrest\n"
    )
    runs = [_run_dir(tmp_path, d, r) for d, r in ((12.0, 20.0), (30.0, 40.0), (18.0, 25.0))]
    subprocess.run(
        [sys.executable, str(E2E / "report.py"), "--docs", str(docs), "--results", *map(str, runs)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    text = (docs / "e2e.md").read_text()
    assert text.startswith("intro\n") and text.endswith("rest\n") and "old" not in text
    assert (
        "| K3 | keda | 18.0 [12.0-30.0] s ≤ 20 s: **pass** | 25.0 [20.0-40.0] s ≤ 30 s: **pass** |"
        in text
    )


def test_the_report_checks_a_lost_node_against_its_own_inflight_requests(tmp_path: Path) -> None:
    runs = []
    for i, (failed, inflight, back) in enumerate(((1, 2, 3.5), (0, 0, 0.8), (2, 1, 70.0))):
        d = tmp_path / f"run-{i}"
        d.mkdir()
        (d / "node_loss.json").write_text(
            json.dumps(
                {
                    "failed_before_stop": failed,
                    "failed_during_stop": 0,
                    "stop_s": 2.0,
                    "node_inflight": inflight,
                    "back_to_200_s": back,
                    "replicas_ready_s": 40.0,
                    "node_not_ready_s": 20.0,
                    "longest_failure_run": failed,
                    "failed_late": 0,
                    "replicas_before": 2,
                    "hpa_desired": 3,
                }
            )
        )
        runs.append(d)
    for chosen, verdicts in ((runs[:2], "**pass**"), (runs, "**MISS**")):
        report = _report(chosen)
        rows = [
            r for r in report.splitlines() if r.startswith(("| failed requests", "| 200 again"))
        ]
        assert len(rows) == 2 and all(r.endswith(f"| {verdicts} |") for r in rows), rows
    assert (
        "| failed requests ≤ in flight on the node at the stop | failed 1 [0-2], "
        "in flight 1 [0-2] |" in report
    )


def test_the_report_checks_each_proportional_run_against_its_own_band(tmp_path: Path) -> None:
    runs = []
    # (2 x count, 4 x count, the band test 10 recorded for the 4 x count).
    for i, (two, four, band) in enumerate(((4, 9, [6, 10]), (5, 12, [8, 13]), (4, 12, [6, 10]))):
        d = tmp_path / f"run-{i}"
        d.mkdir()
        steps = [
            {"load_x": 2, "replicas": two, "nodes": {"a": 1, "b": 1, "c": 1}},
            {"load_x": 4, "replicas": four, "band": band, "nodes": {"a": 1, "b": 1, "c": 1}},
        ]
        (d / "proportional.json").write_text(json.dumps({"steps": steps, "peak_replicas": four}))
        runs.append(d)
    for chosen, row in (
        (
            runs[:2],
            "| 4 x one pod | 8 | 10 [9-12] | band 6-10, 8-13: 2 of 2 runs in it: **pass** |",
        ),
        (runs, "| 4 x one pod | 8 | 12 [9-12] | band 6-10, 8-13: 2 of 3 runs in it: **MISS** |"),
    ):
        report = _report(chosen)
        assert row in report, report
