"""Run the benchmark: repetitions of S1-S10, goals judged on ratios, JSON + docs + plots.

    python -m bench.run                # full: 3 repetitions (make bench)
    python -m bench.run --quick        # reduced set, < 60 s (make bench-quick)
    python -m bench.run --only S8,S9   # the payload scenarios alone (make bench-payload)

Each repetition calibrates the work, self-tests the load generator, then runs every
scenario for crunch and each peer (the order of servers rotates between
repetitions). Goals are judged per repetition on ratios measured in that
repetition; the table reports the median with min and max across repetitions.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench import scenarios
from bench.procs import ROOT, cpu_pressure
from bench.scenarios import Config

RESULTS = ROOT / "bench" / "results"
# Scenarios that need no calibrated spin server of their own: `--only S8,S9` writes its
# own results file and its own block of docs/benchmarks.md.
PAYLOAD = frozenset({"S8", "S9"})
SERVER_SCENARIOS: dict[str, scenarios.ServerScenario] = {
    "S2": scenarios.s2_throughput,
    "S3": scenarios.s3_responsiveness,
    "S4": scenarios.s4_head_of_line,
    "S5": scenarios.s5_overload,
}


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


async def run_rep(index: int, config: Config, log_dir: Path) -> dict[str, Any]:
    started = time.monotonic()
    rep: dict[str, Any] = {"index": index, "load_before": os.getloadavg()}
    sizes = scenarios.calibrate_all(config)
    rep["sizes"] = sizes.as_dict()
    log(f"rep {index}: spin n={sizes.task.n} takes {sizes.task.seconds * 1000:.1f} ms inline")
    only = set(config.only)

    def wanted(sid: str) -> bool:
        return not only or sid in only

    rep["selftest"] = await scenarios.selftest(config, sizes)
    if wanted("S1"):
        log("S1 dispatch")
        rep["S1"] = await asyncio.to_thread(scenarios.s1_dispatch, config)
    if wanted("S8"):
        log("S8 bytes through the pool")
        rep["S8"] = await asyncio.to_thread(scenarios.s8_bytes, config)
    servers = ["crunch", *config.peers]
    shift = index % len(servers)
    servers = servers[shift:] + servers[:shift]
    launch = scenarios.Launcher(
        config, sizes, log_dir, reuse=config.reuse_servers, settle=config.settle
    )
    try:
        for sid, scenario in SERVER_SCENARIOS.items():
            if not wanted(sid):
                continue
            rep[sid] = {}
            extra = list(config.s2_extra) if sid == "S2" else []
            for name in servers + extra:
                log(f"{sid} {name}")
                pressure = cpu_pressure()
                rep[sid][name] = await scenario(launch, name, config, sizes)
                rep[sid][name]["cpu_pressure"] = [pressure, cpu_pressure()]
        if wanted("S6"):
            log("S6 http overhead")
            rep["S6"] = await scenarios.s6_http(launch, config)
        if wanted("S10"):
            rep["S10"] = {}
            storm = list(config.s10_servers)
            shift = index % len(storm)
            for name in storm[shift:] + storm[:shift]:
                log(f"S10 {name}")
                pressure = cpu_pressure()
                rep["S10"][name] = await scenarios.s10_storm(launch, name, config, sizes)
                rep["S10"][name]["cpu_pressure"] = [pressure, cpu_pressure()]
    finally:
        await launch.close()
    if wanted("S9"):
        log("S9 the thumbnails example at saturation")
        rep["S9"] = await scenarios.s9_example(config, log_dir)
    rep["load_after"] = os.getloadavg()
    rep["elapsed"] = time.monotonic() - started
    return rep


# --------------------------------------------------------------------------- goals


def _get(rep: dict[str, Any], *path: str) -> float:
    node: Any = rep
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return math.nan
        node = node[key]
    return float(node) if isinstance(node, int | float) else math.nan


def _div(a: float, b: float) -> float:
    return a / b if b else math.nan


@dataclass(frozen=True)
class Goal:
    """One row of the table: what crunch measures, what the peers measure, and the bar."""

    id: str
    measure: str
    goal: str
    unit: str
    crunch: Callable[[dict[str, Any]], float]
    peers: Callable[[dict[str, Any]], dict[str, float]]
    ratio: Callable[[dict[str, Any]], float] | None  # None: the goal is on the value
    passes: Callable[[float], bool] | None  # on ratio (or value); None: reported only


def _http_peers(
    rep: dict[str, Any], sid: str, fn: Callable[[dict[str, Any]], float], variants: bool = True
) -> dict[str, float]:
    """``fn`` of every server but crunch; ``variants``: also crunch's diagnostic variants."""
    return {
        name: fn(data)
        for name, data in rep.get(sid, {}).items()
        if name != "crunch" and (variants or not name.startswith("crunch"))
    }


def _storm_ratio(rep: dict[str, Any], name: str) -> float:
    return _div(_get(rep, "S10", name, "goodput"), _get(rep, "S10", name, "base_goodput"))


def _p(data: dict[str, Any], hist: str, status: str | None, q: str) -> float:
    if status is None:
        return _get(data, hist, q)
    return _get(data, "latency_ms_by_status", status, q)


GOALS: tuple[Goal, ...] = (
    Goal(
        "S1",
        "`noop` round trip through the pool, p50 (µs) — vs `ProcessPoolExecutor`",
        "≤ 0.3 x",
        "µs",
        lambda r: 1000 * _get(r, "S1", "crunch", "p50"),
        lambda r: {
            "ProcessPoolExecutor": 1000 * _get(r, "S1", "ppe", "p50"),
            "anyio.to_process": 1000 * _get(r, "S1", "anyio", "p50"),
        },
        lambda r: _div(_get(r, "S1", "crunch", "p50"), _get(r, "S1", "ppe", "p50")),
        lambda x: x <= 0.3,
    ),
    Goal(
        "S1",
        "same, vs `anyio.to_process`",
        "≤ 0.75 x",
        "µs",
        lambda r: 1000 * _get(r, "S1", "crunch", "p50"),
        lambda r: {"anyio.to_process": 1000 * _get(r, "S1", "anyio", "p50")},
        lambda r: _div(_get(r, "S1", "crunch", "p50"), _get(r, "S1", "anyio", "p50")),
        lambda x: x <= 0.75,
    ),
    Goal(
        "S8",
        "1 MiB in + 1 MiB out through the pool, p50 (ms) — vs `ProcessPoolExecutor`",
        "≤ 0.6 x",
        "ms",
        lambda r: _get(r, "S8", "crunch", "p50"),
        lambda r: {"ProcessPoolExecutor": _get(r, "S8", "ppe", "p50")},
        lambda r: _div(_get(r, "S8", "crunch", "p50"), _get(r, "S8", "ppe", "p50")),
        lambda x: x <= 0.6,
    ),
    Goal(
        "S9",
        "the thumbnails example (1 MP JPEG → 256 px PNG) over HTTP, peak goodput (req/s) — "
        "vs workers / inline time of the same call",
        "≥ 0.9 x",
        "req/s",
        lambda r: _get(r, "S9", "peak_goodput"),
        lambda r: {
            "ideal": _get(r, "S9", "capacity_here"),
            "workers / their own run time (diagnostic)": _get(r, "S9", "pace_capacity"),
        },
        lambda r: _div(_get(r, "S9", "peak_goodput"), _get(r, "S9", "capacity_here")),
        lambda x: x >= 0.9,
    ),
    Goal(
        "S2",
        "peak goodput of ~50 ms `spin` tasks (req/s) — vs workers / inline task time "
        "(timed just before and after crunch's run)",
        "≥ 0.9 x",
        "req/s",
        lambda r: _get(r, "S2", "crunch", "peak_goodput"),
        lambda r: {
            "ideal": _get(r, "S2", "crunch", "capacity_here"),
            **_http_peers(r, "S2", lambda d: _get(d, "peak_goodput")),
        },
        lambda r: _div(
            _get(r, "S2", "crunch", "peak_goodput"), _get(r, "S2", "crunch", "capacity_here")
        ),
        lambda x: x >= 0.9,
    ),
    Goal(
        "S2",
        "same, vs `uvicorn --workers N` (cluster)",
        "≥ 1.0 x",
        "req/s",
        lambda r: _get(r, "S2", "crunch", "peak_goodput"),
        lambda r: {"cluster": _get(r, "S2", "cluster", "peak_goodput")},
        lambda r: _div(
            _get(r, "S2", "crunch", "peak_goodput"), _get(r, "S2", "cluster", "peak_goodput")
        ),
        lambda x: x >= 1.0,
    ),
    Goal(
        "S3",
        "`/healthz` p99 while every worker is busy (ms)",
        "< 2 ms",
        "ms",
        lambda r: _get(r, "S3", "crunch", "probe", "latency_ms", "p99"),
        lambda r: {
            **_http_peers(r, "S3", lambda d: _get(d, "probe", "latency_ms", "p99")),
            "generator alone": _get(r, "selftest", "probe", "latency_ms", "p99"),
        },
        None,
        lambda x: x < 2.0,
    ),
    Goal(
        "S4",
        "small batch (4 x 1 ms) after a big one (40 x 200 ms): done after (s) — vs one big "
        "task (median run time in crunch's big batch)",
        "≤ 1.5 x",
        "s",
        lambda r: _get(r, "S4", "crunch", "small_s"),
        lambda r: {
            **_http_peers(r, "S4", lambda d: _get(d, "small_s")),
            "one big task": _get(r, "S4", "crunch", "big_task_s"),
        },
        lambda r: _get(r, "S4", "crunch", "ratio_to_big_task_run"),
        lambda x: x <= 1.5,
    ),
    Goal(
        "S5",
        "5 x overload: goodput (req/s) — vs S2 peak",
        "≥ 0.95 x",
        "req/s",
        lambda r: _get(r, "S5", "crunch", "goodput"),
        lambda r: _http_peers(r, "S5", lambda d: _get(d, "goodput")),
        lambda r: _div(_get(r, "S5", "crunch", "goodput"), _get(r, "S2", "crunch", "peak_goodput")),
        lambda x: x >= 0.95,
    ),
    Goal(
        "S5",
        "5 x overload: p99 of rejections (503) (ms); peers: p99 of all answers",
        "< 10 ms",
        "ms",
        lambda r: _get(r, "S5", "crunch", "latency_ms_by_status", "503", "p99"),
        lambda r: {
            **_http_peers(r, "S5", lambda d: _get(d, "latency_ms", "p99")),
            "generator alone": _get(r, "selftest", "bulk", "latency_ms", "p99"),
        },
        None,
        lambda x: x < 10.0,
    ),
    Goal(
        "S5",
        "5 x overload: timeouts + connection errors",
        "= 0",
        "",
        lambda r: _get(r, "S5", "crunch", "timeouts") + _get(r, "S5", "crunch", "errors"),
        lambda r: _http_peers(r, "S5", lambda d: _get(d, "timeouts") + _get(d, "errors")),
        None,
        lambda x: x == 0,
    ),
    Goal(
        "S5",
        "5 x overload: answers neither 200 nor 503 + Retry-After",
        "= 0",
        "",
        lambda r: (
            _get(r, "S5", "crunch", "other_statuses")
            + _get(r, "S5", "crunch", "rejected_without_retry_after")
        ),
        lambda r: {},
        None,
        lambda x: x == 0,
    ),
    Goal(
        "S6",
        "`/work/noop` req/s (closed loop) — vs a bare Starlette route",
        "≥ 0.4 x",
        "req/s",
        lambda r: _get(r, "S6", "crunch", "rps"),
        lambda r: {
            "bare Starlette": _get(r, "S6", "bare", "rps"),
            "load generator alone": _get(r, "S6", "trivial", "rps"),
        },
        lambda r: _div(_get(r, "S6", "crunch", "rps"), _get(r, "S6", "bare", "rps")),
        lambda x: x >= 0.4,
    ),
    Goal(
        "S10",
        "retry storm (200 clients resending at once, ~25 ms tasks): goodput (req/s) — vs "
        "the same server's peak without 503s (16 clients, just before)",
        "≥ 0.8 x",
        "req/s",
        lambda r: _get(r, "S10", "crunch", "goodput"),
        lambda r: {
            "peak": _get(r, "S10", "crunch", "base_goodput"),
            **_http_peers(r, "S10", lambda d: _get(d, "goodput")),
        },
        lambda r: _div(
            _get(r, "S10", "crunch", "goodput"), _get(r, "S10", "crunch", "base_goodput")
        ),
        lambda x: x >= 0.8,
    ),
    Goal(
        "S10",
        "same, goodput / own peak, each server",
        "≥ 0.8 x",
        "x",
        lambda r: _storm_ratio(r, "crunch"),
        lambda r: {name: _storm_ratio(r, name) for name in r.get("S10", {}) if name != "crunch"},
        None,
        lambda x: x >= 0.8,
    ),
    Goal(
        "S10",
        "retry storm: `/healthz` p99 (ms), probed from another process (behind HAProxy: an "
        "instance, as a kubelet would)",
        "< 10 ms",
        "ms",
        lambda r: _get(r, "S10", "crunch", "probe", "latency_ms", "p99"),
        lambda r: _http_peers(r, "S10", lambda d: _get(d, "probe", "latency_ms", "p99")),
        None,
        lambda x: x < 10.0,
    ),
    Goal(
        "S10",
        "retry storm: requests past the 5 s deadline (timeouts, 504s)",
        "= 0",
        "",
        lambda r: _get(r, "S10", "crunch", "late"),
        lambda r: _http_peers(r, "S10", lambda d: _get(d, "late")),
        None,
        lambda x: x == 0,
    ),
    Goal(
        "S10",
        "retry storm: refusals (503) per second",
        "report",
        "/s",
        lambda r: _get(r, "S10", "crunch", "rejections_per_s"),
        lambda r: _http_peers(r, "S10", lambda d: _get(d, "rejections_per_s")),
        None,
        None,
    ),
    Goal(
        "S10",
        "retry storm: CPU of the process serving HTTP (cores; behind HAProxy: HAProxy)",
        "report",
        "cores",
        lambda r: _get(r, "S10", "crunch", "server_cpu", "root"),
        lambda r: _http_peers(r, "S10", lambda d: _get(d, "server_cpu", "root")),
        None,
        None,
    ),
    Goal(
        "S7",
        "memory of the process tree, idle (PSS MB)",
        "report",
        "MB",
        lambda r: _get(r, "S2", "crunch", "memory", "idle", "pss_mb"),
        lambda r: _http_peers(
            r, "S2", lambda d: _get(d, "memory", "idle", "pss_mb"), variants=False
        ),
        None,
        None,
    ),
    Goal(
        "S7",
        "memory of the process tree under S2 load (PSS MB)",
        "report",
        "MB",
        lambda r: _get(r, "S2", "crunch", "memory", "load", "pss_mb"),
        lambda r: _http_peers(
            r, "S2", lambda d: _get(d, "memory", "load", "pss_mb"), variants=False
        ),
        None,
        None,
    ),
)


def stats(values: list[float]) -> dict[str, Any]:
    clean = [v for v in values if not math.isnan(v)]
    if not clean:
        return {"median": None, "min": None, "max": None, "values": []}
    return {
        "median": statistics.median(clean),
        "min": min(clean),
        "max": max(clean),
        "values": clean,
    }


def judge(reps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for goal in GOALS:
        crunch = stats([goal.crunch(r) for r in reps])
        names: dict[str, None] = {}
        for r in reps:
            names.update(dict.fromkeys(goal.peers(r)))
        peers = {name: stats([goal.peers(r).get(name, math.nan) for r in reps]) for name in names}
        ratio = stats([goal.ratio(r) for r in reps]) if goal.ratio else None
        judged = ratio if ratio is not None else crunch
        verdict: str | None = None
        per_rep: list[bool] = []
        if goal.passes is not None and judged["median"] is not None:
            verdict = "pass" if goal.passes(judged["median"]) else "miss"
            per_rep = [goal.passes(v) for v in judged["values"]]
        rows.append(
            {
                "id": goal.id,
                "measure": goal.measure,
                "goal": goal.goal,
                "unit": goal.unit,
                "crunch": crunch,
                "peers": peers,
                "ratio": ratio,
                "result": verdict,
                "reps_passed": sum(per_rep),
                "reps": len(per_rep),
            }
        )
    return rows


# --------------------------------------------------------------------------- main


def _git_rev() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
        return out.stdout.strip()
    except OSError:
        return "unknown"


async def run(config: Config, log_dir: Path) -> dict[str, Any]:
    started = datetime.datetime.now(datetime.UTC)
    reps = []
    for index in range(config.reps):
        reps.append(await run_rep(index, config, log_dir))
    return {
        "meta": {
            "config": asdict(config),
            "started": started.isoformat(timespec="seconds"),
            "finished": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "commit": _git_rev(),
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "load_before": reps[0]["load_before"] if reps else None,
            "load_after": reps[-1]["load_after"] if reps else None,
        },
        "goals": judge(reps),
        "reps": reps,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="reduced set, under a minute")
    parser.add_argument("--reps", type=int, help="repetitions (default: 3 full, 1 quick)")
    parser.add_argument(
        "--only", help="comma-separated scenario ids to run (e.g. S3,S5,S6,S10); default all"
    )
    parser.add_argument(
        "--peers", help="comma-separated peers for S2-S5 (crunch variants also run in S6)"
    )
    parser.add_argument(
        "--s10-servers", help="comma-separated servers for S10 (default: crunch and its peers)"
    )
    parser.add_argument("--out", type=Path, help="JSON file (default: bench/results/NAME.json)")
    parser.add_argument("--report", action="store_true", help="update docs/benchmarks.md + plots")
    args = parser.parse_args(argv)
    config = Config.quick() if args.quick else Config.full()
    changes: dict[str, Any] = {}
    if args.reps:
        changes["reps"] = args.reps
    if args.only:
        changes["only"] = tuple(part.strip().upper() for part in args.only.split(","))
    if args.peers:
        changes["peers"] = tuple(part.strip() for part in args.peers.split(","))
    if args.s10_servers:
        changes["s10_servers"] = tuple(part.strip() for part in args.s10_servers.split(","))
    if changes:
        config = Config(**{**asdict(config), **changes})
    payload_only = bool(config.only) and set(config.only) <= PAYLOAD
    name = f"payload-{config.name}" if payload_only else config.name
    out = args.out or RESULTS / f"{'payload' if name == 'payload-full' else name}.json"
    import uvloop

    with tempfile.TemporaryDirectory(prefix="crunch-bench-") as tmp:
        log(f"{config.name} run, {config.reps} repetition(s); server logs in {tmp}")
        results = uvloop.run(run(config, Path(tmp)))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")
    log(f"wrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    from bench import report

    shown = [g for g in results["goals"] if not payload_only or g["id"] in PAYLOAD]
    print(report.table(shown, results["meta"]))
    if args.report:
        (report.write_payload if payload_only else report.write)(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
