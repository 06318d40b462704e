"""The balancing benchmark's arithmetic and report (no load is sent here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("hdrh", reason="bench deps: pip install -r bench/requirements.txt")

from bench import balance, loadgen

CONFIG = balance.Config(workload="hold", reps=2, loads=(0.5, 0.8, 0.95), model_jobs=2000)


def test_the_model_favours_busy_aware_and_the_gap_grows_with_load() -> None:
    small = balance.Config(spin_min=300, spin_max=1500)
    ratios = [
        balance.model_p99(small, load, "busy", jobs=20_000)
        / balance.model_p99(small, load, "roundrobin", jobs=20_000)
        for load in (0.5, 0.95)
    ]
    assert all(r <= 1.0 for r in ratios)
    assert ratios[1] < ratios[0]


def _run(p99_ms: float, rate: float, goodput: float, s503: int = 0) -> dict[str, Any]:
    hist = loadgen.new_histogram()
    hist.record_value(int(p99_ms * 1000))
    digest = {"p50": p99_ms / 2, "p99": p99_ms, "p999": p99_ms, "hdr": loadgen.encode(hist)}
    statuses = {"200": 100} | ({"503": s503} if s503 else {})
    return {
        "latency_ms": digest,
        "goodput": goodput,
        "rate": rate,
        "rejected_503": s503,
        "errors": 0,
        "timeouts": 0,
        "statuses": statuses,
    }


def _reps(busy_p99: float, rr_p99: float, s503: int = 0) -> list[dict[str, Any]]:
    runs = {}
    for load in CONFIG.loads:
        rate = 40 * load
        runs[f"busy@{load}"] = _run(busy_p99, rate, rate, s503 if load < 0.9 else 0)
        runs[f"roundrobin@{load}"] = _run(rr_p99, rate, rate)
    return [{"capacity": 40.0, "orders": [], "runs": runs} for _ in range(CONFIG.reps)]


def test_goals_are_judged_from_the_ratios_inside_each_repetition() -> None:
    met = {g["id"]: g for g in balance.analyse(CONFIG, _reps(100, 250))["goals"]}
    assert met["B1"]["met"]
    assert met["B1"]["value"] == pytest.approx(0.4)
    assert met["no-503"]["met"]
    assert met["goodput-95"]["met"]
    missed = {g["id"]: g for g in balance.analyse(CONFIG, _reps(200, 250, s503=3))["goals"]}
    assert not missed["B1"]["met"]
    assert not missed["no-503"]["met"]
    assert missed["no-503"]["value"] == 3 * 2 * 2  # 3 per run, at 50 % and 80 %, 2 reps


def test_the_report_replaces_only_its_own_section(tmp_path: Path) -> None:
    data: dict[str, Any] = {
        "config": {**CONFIG.__dict__, "loads": list(CONFIG.loads)},
        "reps": _reps(100, 250),
        "started": "2026-01-01T00:00:00Z",
        "seconds": 1.0,
        "machine": {"cpus": 2, "haproxy": "HAProxy 2.6"},
        **balance.analyse(CONFIG, _reps(100, 250)),
    }
    doc = tmp_path / "balancing.md"
    begin, end = balance.markers("hold")
    doc.write_text(f"# prose\n\n{begin}\nstale-section\n{end}\n\nmore prose\n")
    balance.write_doc(data, doc)
    text = doc.read_text()
    assert text.startswith("# prose")
    assert text.endswith("more prose\n")
    assert "stale-section" not in text
    assert "| 80% | busy |" in text
    paths = balance.plot(data, tmp_path / "img")
    assert [p.name for p in paths] == ["balance-hold-cdf.png", "balance-hold-tail.png"]
    assert all(p.stat().st_size > 0 for p in paths)


def test_slices_of_one_load_combine_into_one_summary() -> None:
    def result(latencies_ms: list[int], statuses: dict[int, int]) -> loadgen.Result:
        r = loadgen.Result("http://127.0.0.1:1/x", "GET", "open", 10.0, 10.0, 8)
        for ms in latencies_ms:
            r.latency.record_value(ms * 1000)
        r.responses = len(latencies_ms)
        r.statuses = statuses
        r.ok_times.extend([2.0, 3.0, 9.5])
        return r

    summary = balance.combine([result([10, 20], {200: 2}), result([30], {200: 1, 503: 4})], 1.0)
    assert summary["responses"] == 3
    assert summary["statuses"] == {"200": 3, "503": 4}
    assert summary["rejected_503"] == 4
    assert summary["latency_ms"]["count"] == 3
    assert summary["latency_ms"]["max"] == pytest.approx(30, rel=0.01)
    assert summary["goodput"] == pytest.approx(6 / 18)  # 3 answers per 9 s window, twice
    assert summary["slices"] == 2
