"""B1: busy-aware balancing vs round-robin on the seed's workload, through a real HAProxy.

Two crunch instances (one worker each by default: this is a 2-CPU machine) run tasks
of a random size ``n`` drawn uniformly from ``[spin_min, spin_max]``, cost growing with
n*n, drawn inside the instance so that neither balancer can see it. Two workloads:

- ``spin``: ``GET /hello``, the seed's microservice, which burns the CPU (``spin(n)``);
- ``hold``: ``GET /work/hold`` (``bench/tasks.py``), which keeps the worker busy for
  the same shape of time but asleep. The balancer sees the very same busy workers; the
  service times no longer depend on the CPU other processes leave over, which on a
  shared 2-CPU machine otherwise swings capacity by tens of percent from minute to minute.
The same instances sit behind HAProxy in two modes (``app.balancer.haproxy``):

- ``busy``: ``balance leastconn`` + ``maxconn`` = workers; the overflow waits in
  HAProxy's queue and goes to whichever instance frees first (the seed's busy-aware proxy);
- ``roundrobin``: ``balance roundrobin`` and no ``maxconn``; every other request goes to
  each instance, busy or not, and waits in that instance's own queue.

Each repetition first measures the instances' capacity (closed loop, 4 clients per
worker, round-robin: every instance's own queue stays full, so no worker idles), then
offers 50 %, 80 %, 95 % of it open-loop (constant arrival rate, latency from the
intended send time: ``bench.loadgen``) to each mode, the mode order alternating between
repetitions and loads, the instances idle before every run. Ratios are taken inside a repetition
and reported as median [min, max] over the repetitions.

Next to the measurement, ``model`` simulates the same queues with ideal servers
(constant arrivals, the same task-size distribution, no overheads): the best ratio
this workload allows, which tells a miss of the balancer from a limit of the workload.

Writes ``bench/results/balance.json`` (one entry per workload),
``docs/img/balance-<workload>-{cdf,tail}.png`` and the workload's results section of
``docs/balancing.md``.

    python -m bench.balance [--workload hold|spin|all] [--reps 3] [--duration 30] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx

from app.balancer.haproxy import BalancerSettings, Mode, local_instances
from bench import loadgen
from tools.cluster import Cluster, find_haproxy
from tools.procs import free_port

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "balance.json"
DOC = ROOT / "docs" / "balancing.md"
IMG = ROOT / "docs" / "img"
BEGIN, END = "<!-- balance-results:begin -->", "<!-- balance-results:end -->"  # per workload
MODES: tuple[Mode, ...] = ("busy", "roundrobin")
WORKLOADS = ("hold", "spin")


@dataclass(frozen=True)
class Config:
    workload: str = "hold"
    reps: int = 3
    instances: int = 2
    workers: int = 1
    spin_min: int = 300
    spin_max: int = 1500
    hold_ms: float = 140.0  # hold: milliseconds for n = 1000 (mean task ~ 0.93 x this)
    loads: tuple[float, ...] = (0.5, 0.8, 0.95)
    duration: float = 60.0  # seconds of open-loop sending per (load, mode), in all slices
    slices: int = 3  # the modes alternate this many times per load
    warmup: float = 1.0  # seconds left out of goodput at the start of every slice
    capacity_duration: float = 10.0
    timeout: float = 60.0  # per request, from its intended send time
    queue_timeout: float = 30.0  # HAProxy's timeout queue in busy mode
    queue_slack: int = 0  # busy mode: maxconn = workers + this
    max_connections: int = 1024
    seed: int = 1
    model_jobs: int = 200_000  # simulated tasks per model point

    @classmethod
    def quick(cls) -> Config:
        return cls(reps=1, duration=8.0, slices=2, capacity_duration=4.0)


def key(config: Config) -> str:
    """Where a run is stored: the workload (hold: with its scale), the slack when not 0."""
    name = f"hold-ms{config.hold_ms:g}" if config.workload == "hold" else config.workload
    return name + (f"-slack{config.queue_slack}" if config.queue_slack else "")


def path(config: Config) -> str:
    if config.workload == "spin":
        return "/hello"
    return f"/work/hold?lo={config.spin_min}&hi={config.spin_max}&ms={config.hold_ms:g}"


def log(message: str) -> None:
    print(f"[balance {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- model


def model_p99(config: Config, load: float, mode: Mode, jobs: int | None = None) -> float:
    """p99 latency in units of the mean task, for ideal servers (no overheads).

    Constant arrivals at ``load`` x capacity; task cost n*n with n uniform, like /hello.
    ``busy``: a central FIFO queue, each task to the first free worker (what leastconn +
    maxconn does); ``roundrobin``: task i to instance i mod k, FIFO inside it.
    """
    jobs = jobs or config.model_jobs
    rng = random.Random(config.seed)
    a, b = config.spin_min, config.spin_max
    mean = (b**3 - a**3) / (3 * (b - a)) if b > a else float(a * a)
    k, w = config.instances, config.workers
    interval = mean / (load * k * w)
    free = [[0.0] * w for _ in range(k)]
    latencies = []
    for i in range(jobs):
        t = i * interval
        cost = rng.uniform(a, b) ** 2
        if mode == "busy":
            inst, slot = min(
                ((x, y) for x in range(k) for y in range(w)), key=lambda s: free[s[0]][s[1]]
            )
        else:
            inst = i % k
            slot = min(range(w), key=lambda y: free[inst][y])
        start = max(t, free[inst][slot])
        free[inst][slot] = start + cost
        latencies.append((start + cost - t) / mean)
    latencies.sort()
    return latencies[int(0.99 * len(latencies))]


# --------------------------------------------------------------------------- running


@dataclass
class Bench:
    config: Config
    cluster: Cluster
    front: str
    instance_urls: list[str]
    reps: list[dict[str, Any]] = field(default_factory=list)

    def settings(self, mode: Mode) -> BalancerSettings:
        slack = self.config.queue_slack if mode == "busy" else 0
        return replace(
            self.cluster.settings,
            mode=mode,
            queue_timeout=self.config.queue_timeout,
            queue_slack=slack,
        )

    def use(self, mode: Mode) -> None:
        if self.cluster.settings != self.settings(mode):
            self.cluster.rebalance(self.settings(mode))

    async def idle(self) -> None:
        """Wait (bounded) until no instance runs or queues anything."""
        deadline = time.monotonic() + 180
        async with httpx.AsyncClient(timeout=10) as client:
            while True:
                states = [(await client.get(u + "/readyz")).json() for u in self.instance_urls]
                if all(s.get("busy", 0) == 0 and s.get("queued", 0) == 0 for s in states):
                    return
                if time.monotonic() > deadline:
                    raise RuntimeError(f"instances still busy after 180 s: {states}")
                await asyncio.sleep(0.2)

    async def capacity(self) -> float:
        self.use("roundrobin")
        await self.idle()
        workers = self.config.instances * self.config.workers
        result = await loadgen.closed_loop(
            self.front + path(self.config),
            concurrency=4 * workers,
            duration=self.config.capacity_duration,
            timeout=self.config.timeout,
        )
        if result.ok == 0:
            raise RuntimeError(f"capacity run answered nothing: {result.summary()}")
        return result.ok / result.elapsed

    async def run(self, mode: Mode, rate: float, duration: float) -> loadgen.Result:
        self.use(mode)
        await self.idle()
        return await loadgen.open_loop(
            self.front + path(self.config),
            rate=rate,
            duration=duration,
            timeout=self.config.timeout,
            max_connections=self.config.max_connections,
        )

    async def rep(self, index: int) -> dict[str, Any]:
        """Capacity, then every load in both modes, in interleaved slices.

        Each (load, mode) gets ``slices`` open-loop runs of ``duration / slices`` s, the
        modes alternating slice by slice, so both see the same minutes of a shared machine.
        """
        capacity = await self.capacity()
        log(f"{self.config.workload} rep {index + 1}: capacity {capacity:.1f} req/s")
        runs: dict[str, dict[str, Any]] = {}
        orders = []
        part = self.config.duration / self.config.slices
        for n, load in enumerate(self.config.loads):
            results: dict[str, list[loadgen.Result]] = {mode: [] for mode in MODES}
            for k in range(self.config.slices):
                order = MODES if (index + n + k) % 2 == 0 else MODES[::-1]
                orders.append(list(order))
                for mode in order:
                    results[mode].append(await self.run(mode, load * capacity, part))
            for mode in MODES:
                summary = combine(results[mode], self.config.warmup)
                lat = summary["latency_ms"]
                log(
                    f"{self.config.workload} rep {index + 1} load {load:.0%} {mode:<10} "
                    f"p50 {lat.get('p50', 0):7.1f} "
                    f"p99 {lat.get('p99', 0):7.1f} ms, goodput {summary['goodput']:.1f}/s, "
                    f"503: {summary['rejected_503']}, errors {summary['errors']}, "
                    f"timeouts {summary['timeouts']}"
                )
                runs[f"{mode}@{load}"] = summary
        return {"capacity": capacity, "orders": orders, "runs": runs}


def combine(results: Sequence[loadgen.Result], warmup: float) -> dict[str, Any]:
    """One summary for several runs of the same load: histograms and counts added up.

    Goodput counts 2xx answers completed inside each run's sending window after its
    first ``warmup`` seconds, over the total of those windows.
    """
    total = loadgen.Result(results[0].url, results[0].method, "open", results[0].rate, 0, 0)
    done = 0.0
    window = 0.0
    for r in results:
        total.duration += r.duration
        total.connections = max(total.connections, r.connections)
        for name in ("planned", "sent", "responses", "timeouts", "errors"):
            setattr(total, name, getattr(total, name) + getattr(r, name))
        total.rejected_without_retry_after += r.rejected_without_retry_after
        total.elapsed += r.elapsed
        total.connections_opened += r.connections_opened
        for code, count in r.statuses.items():
            total.statuses[code] = total.statuses.get(code, 0) + count
        for kind, count in r.error_kinds.items():
            total.error_kinds[kind] = total.error_kinds.get(kind, 0) + count
        total.latency.add(r.latency)
        total.send_lag.add(r.send_lag)
        total.service.add(r.service)
        for code, hist in r.by_status.items():
            total.by_status.setdefault(code, loadgen.new_histogram()).add(hist)
        done += r.goodput(warmup, r.duration) * (r.duration - warmup)
        window += r.duration - warmup
    summary = total.summary()
    summary["goodput"] = done / window if window > 0 else 0.0
    summary["rejected_503"] = total.statuses.get(503, 0)
    summary["slices"] = len(results)
    return summary


def _stats(values: Sequence[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def analyse(config: Config, reps: list[dict[str, Any]]) -> dict[str, Any]:
    """Per load: ratios and counts over the repetitions, the model, and the goals."""
    table = []
    for load in config.loads:
        row: dict[str, Any] = {"load": load}
        for mode in MODES:
            runs = [r["runs"][f"{mode}@{load}"] for r in reps]
            row[mode] = {
                "p50_ms": _stats([x["latency_ms"]["p50"] for x in runs]),
                "p99_ms": _stats([x["latency_ms"]["p99"] for x in runs]),
                "p999_ms": _stats([x["latency_ms"]["p999"] for x in runs]),
                "goodput_over_capacity": _stats(
                    [x["goodput"] / r["capacity"] for x, r in zip(runs, reps, strict=True)]
                ),
                "goodput_over_offered": _stats([x["goodput"] / x["rate"] for x in runs]),
                "rejected_503": sum(x["rejected_503"] for x in runs),
                "errors": sum(x["errors"] + x["timeouts"] for x in runs),
                "other_non_2xx": sum(
                    n
                    for x in runs
                    for code, n in x["statuses"].items()
                    if not code.startswith("2") and code != "503"
                ),
            }
        ratios = [
            r["runs"][f"busy@{load}"]["latency_ms"]["p99"]
            / r["runs"][f"roundrobin@{load}"]["latency_ms"]["p99"]
            for r in reps
        ]
        row["p99_ratio"] = _stats(ratios)
        row["model"] = {mode: model_p99(config, load, mode) for mode in MODES}
        row["model"]["p99_ratio"] = row["model"]["busy"] / row["model"]["roundrobin"]
        table.append(row)

    def at(load: float) -> dict[str, Any]:
        return next(r for r in table if abs(r["load"] - load) < 1e-9)

    goals = []
    if 0.8 in config.loads:
        ratio = at(0.8)["p99_ratio"]["median"]
        goals.append(
            {
                "id": "B1",
                "goal": "80 % load: busy-aware p99 <= 0.5 x round-robin p99",
                "value": ratio,
                "model": at(0.8)["model"]["p99_ratio"],
                "met": ratio <= 0.5,
            }
        )
    low = [r for r in table if r["load"] < 0.9]
    rejected = sum(r["busy"]["rejected_503"] for r in low)
    goals.append(
        {
            "id": "no-503",
            "goal": "busy-aware: no 503 below 90 % of capacity",
            "value": rejected,
            "met": rejected == 0,
        }
    )
    if 0.95 in config.loads:
        row = at(0.95)
        worst = min(
            x["goodput"] / r["capacity"] - 0.95 for r in reps for x in [r["runs"]["busy@0.95"]]
        )
        goals.append(
            {
                "id": "goodput-95",
                "goal": "95 % load: busy-aware goodput within 5 % of capacity of the offered rate",
                "value": row["busy"]["goodput_over_capacity"]["median"],
                "worst_shortfall": -worst,
                "met": row["busy"]["goodput_over_capacity"]["median"] >= 0.90,
            }
        )
    return {"table": table, "goals": goals}


def _haproxy_version(binary: str) -> str:
    out = subprocess.run([binary, "-v"], capture_output=True, text=True, check=False).stdout
    return out.splitlines()[0] if out else "unknown"


async def measure(config: Config, log_dir: Path) -> dict[str, Any]:
    os.environ.update(
        CRUNCH_SPIN_MIN=str(config.spin_min),
        CRUNCH_SPIN_MAX=str(config.spin_max),
        CRUNCH_ACCESS_LOG="false",
        CRUNCH_LOG_FORMAT="text",
        # Workers at the default niceness (10) lose the CPU to every other process on a
        # shared machine, which swings capacity between runs; the comparison is fairer
        # when they compete on equal terms.
        CRUNCH_WORKER_NICE="0",
        CRUNCH_TASK_MODULES="bench.tasks",
        PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
    )
    base = free_port()
    while not all(_free(base + n) for n in range(config.instances)):
        base = free_port()
    instances = local_instances(
        config.instances, workers=config.workers, base_port=base, layout="all"
    )
    settings = BalancerSettings(
        port=free_port(),
        mode="roundrobin",
        queue_timeout=config.queue_timeout,
        task_timeout=max(30.0, config.timeout),
    )
    cluster = Cluster(
        instances, settings, task_timeout=settings.task_timeout, drain_timeout=5, log_dir=log_dir
    )
    started = time.time()
    with cluster:
        cluster.start()
        bench = Bench(
            config,
            cluster,
            f"http://127.0.0.1:{settings.port}",
            [f"http://{i.address}" for i in instances],
        )
        reps = []
        for index in range(config.reps):
            reps.append(await bench.rep(index))
    return {
        "scenario": f"B1 busy-aware vs round-robin, workload {config.workload} (bench/balance.py)",
        "path": path(config),
        "key": key(config),
        "config": asdict(config),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "haproxy": _haproxy_version(find_haproxy()),
            "load_average_at_start": os.getloadavg(),
        },
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "seconds": round(time.time() - started, 1),
        "reps": reps,
        **analyse(config, reps),
    }


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


# --------------------------------------------------------------------------- report


def _merged(data: dict[str, Any], key: str) -> Any:
    hist = loadgen.new_histogram()
    for rep in data["reps"]:
        hist.add(loadgen.decode(rep["runs"][key]["latency_ms"]["hdr"]))
    return hist


def plot(data: dict[str, Any], img: Path = IMG) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    img.mkdir(parents=True, exist_ok=True)
    loads = data["config"]["loads"]
    colors = {"busy": "tab:blue", "roundrobin": "tab:red"}
    labels = {"busy": "busy-aware (leastconn + maxconn)", "roundrobin": "round-robin"}
    paths = []
    for kind in ("cdf", "tail"):
        fig, axes = plt.subplots(1, len(loads), figsize=(5 * len(loads), 4), sharey=True)
        axes = axes if len(loads) > 1 else [axes]
        for ax, load in zip(axes, loads, strict=True):
            for mode in MODES:
                points = loadgen.cdf(_merged(data, f"{mode}@{load}"))
                xs = [p[0] for p in points]
                if kind == "cdf":
                    ys = [p[1] for p in points]
                else:
                    ys = [max(1e-5, 1 - p[1] / 100) for p in points]
                ax.plot(xs, ys, color=colors[mode], label=labels[mode])
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_title(f"{load:.0%} of capacity")
            ax.set_xlabel("latency (ms, from intended send time)")
            ax.grid(True, which="both", alpha=0.3)
            if kind == "tail":
                ax.set_yscale("log")
        axes[0].set_ylabel("percentile" if kind == "cdf" else "fraction slower than x")
        axes[0].legend(loc="lower right" if kind == "cdf" else "lower left")
        c = data["config"]
        fig.suptitle(
            f"{data.get('path', '/hello')}: n ~ U[{c['spin_min']}, {c['spin_max']}], "
            f"{c['instances']} instances x {c['workers']} worker, {c['reps']} reps merged"
        )
        fig.tight_layout()
        out = img / f"balance-{data.get('key', c.get('workload', 'spin'))}-{kind}.png"
        fig.savefig(out, dpi=110)
        plt.close(fig)
        paths.append(out)
    return paths


def _fmt(s: dict[str, float], digits: int = 0, pct: bool = False) -> str:
    if pct:
        return f"{s['median']:.0%} [{s['min']:.0%}, {s['max']:.0%}]"
    return f"{s['median']:.{digits}f} [{s['min']:.{digits}f}, {s['max']:.{digits}f}]"


def markdown(data: dict[str, Any]) -> str:
    c = data["config"]
    caps = [r["capacity"] for r in data["reps"]]
    workload = data.get("key", c.get("workload", "spin"))
    slack = c.get("queue_slack", 0)
    lines = [
        f"Workload `{workload}`, measured {data['started']} ({data['seconds']:.0f} s): "
        f"{c['reps']} repetitions, {c['instances']} instances x {c['workers']} worker, "
        f"`{data.get('path', '/hello')}` with n uniform in "
        f"[{c['spin_min']}, {c['spin_max']}], {c['duration']:.0f} s open-loop per load and mode "
        f"({c.get('slices', 1)} slice(s), modes alternating); "
        f"capacity {statistics.median(caps):.1f} req/s (min {min(caps):.1f}, max "
        f"{max(caps):.1f}); busy-aware maxconn = workers + {slack}; "
        f"{data['machine']['cpus']} CPUs, {data['machine']['haproxy']}.",
        "Values are median [min, max] over the repetitions; the p99 ratio is busy-aware / "
        "round-robin within each repetition; *model* is the same ratio for ideal servers "
        "(see below).",
        "",
        "| load | mode | p50 ms | p99 ms | p99.9 ms | goodput / capacity | 503 | errors |"
        " p99 ratio | model ratio |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in data["table"]:
        for mode in MODES:
            m = row[mode]
            ratio = _fmt(row["p99_ratio"], 2) if mode == "busy" else ""
            model = f"{row['model']['p99_ratio']:.2f}" if mode == "busy" else ""
            lines.append(
                f"| {row['load']:.0%} | {mode} | {_fmt(m['p50_ms'])} | {_fmt(m['p99_ms'])} | "
                f"{_fmt(m['p999_ms'])} | {_fmt(m['goodput_over_capacity'], pct=True)} | "
                f"{m['rejected_503']} | {m['errors'] + m['other_non_2xx']} | {ratio} | {model} |"
            )
    lines += ["", "| goal | measured | met |", "|---|---|---|"]
    for goal in data["goals"]:
        value = goal["value"]
        shown = f"{value:.2f}" if isinstance(value, float) else str(value)
        if "model" in goal:
            shown += f" (model: {goal['model']:.2f})"
        lines.append(
            f"| {goal['id']}: {goal['goal']} | {shown} | {'yes' if goal['met'] else 'no'} |"
        )
    lines += [
        "",
        f"![latency CDF, {workload}](img/balance-{workload}-cdf.png)",
        "",
        f"![latency tail, {workload}](img/balance-{workload}-tail.png)",
    ]
    return "\n".join(lines)


def markers(workload: str) -> tuple[str, str]:
    return BEGIN.replace(":begin", f":{workload}:begin"), END.replace(":end", f":{workload}:end")


def write_doc(data: dict[str, Any], doc: Path = DOC) -> None:
    """Replace the workload's results section of the doc (added at the end if missing)."""
    begin, end = markers(data.get("key", data["config"].get("workload", "spin")))
    text = doc.read_text() if doc.exists() else "# Balancing\n"
    if begin not in text or end not in text:
        text += f"\n{begin}\n{end}\n"
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    doc.write_text(f"{head}{begin}\n{markdown(data)}\n{end}{tail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.balance", description=__doc__)
    parser.add_argument("--workload", choices=(*WORKLOADS, "all"), default="all")
    parser.add_argument("--quick", action="store_true", help="1 short repetition (smoke test)")
    parser.add_argument("--reps", type=int)
    parser.add_argument("--duration", type=float, help="open-loop seconds per load and mode")
    parser.add_argument("--slices", type=int, help="the modes alternate this often per load")
    parser.add_argument("--spin-min", type=int)
    parser.add_argument("--spin-max", type=int)
    parser.add_argument("--slack", type=int, help="busy mode: maxconn = workers + SLACK")
    parser.add_argument("--hold-ms", type=float, help="hold: milliseconds for n = 1000")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument(
        "--report-only", action="store_true", help="redo plots and doc from --output"
    )
    parser.add_argument("--no-doc", action="store_true", help="write the JSON only")
    args = parser.parse_args(argv)
    workloads = WORKLOADS if args.workload == "all" else (args.workload,)
    stored: dict[str, Any] = json.loads(args.output.read_text()) if args.output.exists() else {}
    changes = {
        k: v
        for k, v in (
            ("reps", args.reps),
            ("duration", args.duration),
            ("slices", args.slices),
            ("spin_min", args.spin_min),
            ("spin_max", args.spin_max),
            ("queue_slack", args.slack),
            ("hold_ms", args.hold_ms),
        )
        if v is not None
    }
    if not args.report_only:
        base = Config.quick() if args.quick else Config()
        for workload in workloads:
            config = replace(base, workload=workload, **changes)
            with tempfile.TemporaryDirectory(prefix="crunch-balance-") as tmp:
                stored[key(config)] = asyncio.run(measure(config, Path(tmp)))
            args.output.parent.mkdir(parents=True, exist_ok=True)
            args.output.write_text(json.dumps(stored, indent=1) + "\n")
            log(f"wrote {args.output} ({key(config)})")
    keys = [key(replace(Config(), workload=w, **changes)) for w in workloads]
    for name in keys:
        data = stored.get(name)
        if data is None:
            log(f"no {name} results in {args.output}")
            continue
        if not args.no_doc:
            for out in plot(data):
                log(f"wrote {out}")
            write_doc(data)
            log(f"wrote {DOC} ({name})")
        for goal in data["goals"]:
            verdict = "met" if goal["met"] else "MISSED"
            log(f"{name} {goal['id']}: {goal['value']:.3g} -> {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
