"""The scenarios S1-S10 (see docs/benchmarks.md). Each returns JSON-ready dicts.

Every scenario compares servers measured in the same run on the same machine; the
work sizes are calibrated at the start of each repetition by timing ``spin(n)``
inline in this process, so "one task" means the same thing to every server.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import math
import re
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.tasks.builtin import spin
from bench import loadgen
from bench.procs import HAPROXY, ROOT, Server, serving, serving_haproxy


@dataclass(frozen=True)
class Config:
    """Sizes and durations of one benchmark run (``full()`` or ``quick()``)."""

    name: str = "full"
    reps: int = 3
    workers: int = 2
    peers: tuple[str, ...] = ("blocking", "threadpool", "executor", "cluster")
    task_ms: float = 50.0  # S2/S3/S5 task
    big_ms: float = 200.0  # S4
    small_ms: float = 1.0  # S4
    big_count: int = 40
    small_count: int = 4
    s1_calls: int = 2000
    s1_warmup: int = 200
    s8_payload: int = 1 << 20  # bytes each way
    s8_calls: int = 500
    s8_warmup: int = 50
    s9_mults: tuple[float, ...] = (1.0, 1.5)  # offered load, x workers / inline time
    s9_duration: float = 6.0
    s9_pixels: tuple[int, int] = (1000, 1000)  # the photo the example resizes (~1 MP)
    s9_size: int = 256  # thumbnail side
    s2_mults: tuple[float, ...] = (0.5, 1.0, 1.5)
    # Diagnostic servers measured in S2 only (not goals): crunch with worker niceness 0.
    s2_extra: tuple[str, ...] = ("crunch-nice0",)
    s2_duration: float = 4.0
    warmup: float = 1.0  # seconds of each open-loop run left out of goodput
    s3_duration: float = 5.0
    s3_load_mult: float = 1.5
    s3_probe_rate: float = 100.0
    s5_mult: float = 5.0
    s5_duration: float = 30.0
    s5_peer_duration: float = 8.0
    s6_concurrency: int = 16
    s6_duration: float = 4.0
    timeout: float = 2.0  # per request (from its intended send time) in S2 and S3
    s5_timeout: float = 5.0  # in S5 (crunch's worst queue wait is ~1.6 s)
    max_connections: int = 512
    # S10, the retry storm: clients that retry at once on ~25 ms tasks, ignoring Retry-After.
    storm_ms: float = 25.0
    # crunch-nohold (a diagnostic, not a goal): crunch with every refusal answered at once.
    s10_servers: tuple[str, ...] = ("crunch", HAPROXY, "cluster", "executor", "crunch-nohold")
    s10_connections: int = 200
    s10_duration: float = 15.0
    s10_base_connections: int = 16  # the no-503 closed loop the storm is compared with
    s10_base_duration: float = 4.0
    s10_deadline: float = 5.0  # client timeout: an answer later than this missed its deadline
    selftest_duration: float = 2.0
    calibrate_repeat: int = 7
    only: tuple[str, ...] = ()  # scenario ids to run (e.g. ("S10",)); empty: all
    reuse_servers: bool = False  # one server per name for S2-S5 (quick) or a fresh one each
    settle: float = 1.0  # with reuse_servers: seconds between scenarios on the same server

    @classmethod
    def full(cls) -> Config:
        return cls()

    @classmethod
    def quick(cls) -> Config:
        return cls(
            name="quick",
            reps=1,
            peers=("cluster",),
            big_count=6,
            s1_calls=300,
            s1_warmup=50,
            s8_calls=100,
            s8_warmup=20,
            s9_mults=(1.2,),
            s9_duration=2.0,
            s2_mults=(1.2,),
            s2_extra=(),
            s2_duration=1.5,
            warmup=0.5,
            s3_duration=1.5,
            s5_duration=1.5,
            s5_peer_duration=1.5,
            s6_duration=1.0,
            timeout=1.0,
            s5_timeout=1.0,
            s10_servers=("crunch",),
            s10_connections=64,
            s10_duration=2.0,
            s10_base_duration=1.0,
            s10_deadline=2.0,
            selftest_duration=0.5,
            calibrate_repeat=3,
            reuse_servers=True,
            settle=0.5,
        )


# --------------------------------------------------------------------------- calibration


@dataclass(frozen=True)
class Work:
    """A spin size and its single-task time, measured inline in this process."""

    n: int
    seconds: float

    def as_dict(self) -> dict[str, float]:
        return {"n": self.n, "ms": round(self.seconds * 1000, 3)}


def _time_spin(n: int, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        spin(n)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def calibrate(target_ms: float, repeat: int = 7) -> Work:
    """The ``n`` for which ``spin(n)`` takes about ``target_ms`` here, and its median time.

    The cost is ~n²; a few rounds of Newton-like steps from a guess converge to 5 %.
    """
    n = 500
    seconds = _time_spin(n, 3)
    for _ in range(6):
        n = max(1, round(n * (target_ms / 1000 / seconds) ** 0.5))
        seconds = _time_spin(n, 3)
        if abs(seconds * 1000 / target_ms - 1) < 0.05:
            break
    return Work(n, _time_spin(n, repeat))


@dataclass
class Sizes:
    task: Work
    big: Work
    small: Work
    storm: Work

    def as_dict(self) -> dict[str, Any]:
        return {
            "task": self.task.as_dict(),
            "big": self.big.as_dict(),
            "small": self.small.as_dict(),
            "storm": self.storm.as_dict(),
        }


def calibrate_all(config: Config) -> Sizes:
    # Half a second of spinning first: an idle CPU runs at a low clock for a while,
    # and sizes chosen then come out too short once it speeds up.
    end = time.perf_counter() + 0.5
    while time.perf_counter() < end:
        spin(100)
    repeat = config.calibrate_repeat
    task = calibrate(config.task_ms, repeat)
    # The cost grows with n², so the other sizes follow from the task's without a search.
    sizes = []
    for target_ms, times in (
        (config.big_ms, max(3, repeat - 2)),
        (config.small_ms, 3 * repeat),
        (config.storm_ms, repeat),
    ):
        n = max(1, round(task.n * (target_ms / 1000 / task.seconds) ** 0.5))
        sizes.append(Work(n, _time_spin(n, times)))
    return Sizes(task, sizes[0], sizes[1], sizes[2])


# --------------------------------------------------------------------------- helpers


def _spin_url(server: Server, work: Work) -> str:
    return f"{server.url}/work/spin?n={work.n}"


def _dirty(result: loadgen.Result, slack: float = 1.0) -> bool:
    """Did the run leave work behind in the server (timeouts, or a long tail after sending)?"""
    return result.timeouts > 0 or result.errors > 0 or result.elapsed > result.duration + slack


def _digest(result: loadgen.Result, warmup: float) -> dict[str, Any]:
    return result.summary(warmup)


async def warm(server: Server, sizes: Sizes) -> None:
    """A few requests of each size (imports, connections, and crunch's cost estimates)."""
    for work in (sizes.small, sizes.small, sizes.task, sizes.big, sizes.small):
        await loadgen.request(_spin_url(server, work), timeout=30)
    await loadgen.request(f"{server.url}/work/noop", timeout=30)


class Launcher:
    """Gives scenarios a started, warmed-up server.

    By default every scenario (and S2 after a step that left a backlog) gets a fresh
    server. With ``reuse`` (the quick run) each server is started once and kept;
    between scenarios it gets ``settle`` seconds to finish what is left.
    """

    def __init__(
        self, config: Config, sizes: Sizes, log_dir: Path, reuse: bool = False, settle: float = 1.0
    ) -> None:
        self.config = config
        self.sizes = sizes
        self.log_dir = log_dir
        self.reuse = reuse
        self.settle = settle
        self._kept: dict[str, Server] = {}
        self._stack = contextlib.AsyncExitStack()

    def _start(self, name: str) -> contextlib.AbstractAsyncContextManager[Server]:
        if name == HAPROXY:
            return serving_haproxy(self.config.workers, self.log_dir)
        return serving(name, self.config.workers, self.log_dir)

    @contextlib.asynccontextmanager
    async def __call__(self, name: str) -> AsyncIterator[Server]:
        if not self.reuse:
            async with self._start(name) as server:
                await warm(server, self.sizes)
                yield server
            return
        kept = self._kept.get(name)
        if kept is None:
            kept = await self._stack.enter_async_context(self._start(name))
            await warm(kept, self.sizes)
            self._kept[name] = kept
        else:
            await asyncio.sleep(self.settle)
        yield kept

    async def close(self) -> None:
        await self._stack.aclose()


# --------------------------------------------------------------------------- S1


def _micro(dispatcher: str, workers: int, calls: int, warmup: int, payload: int = 0) -> Any:
    argv = [sys.executable, "-m", "bench.micro", dispatcher, "--workers", str(workers)]
    argv += ["--calls", str(calls), "--warmup", str(warmup), "--payload", str(payload)]
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300, check=True)
    return json.loads(proc.stdout)


def s1_dispatch(config: Config) -> dict[str, Any]:
    """``noop`` round trips through each raw dispatcher, each in a fresh interpreter."""
    return {
        dispatcher: _micro(dispatcher, config.workers, config.s1_calls, config.s1_warmup)
        for dispatcher in ("ppe", "anyio", "crunch")
    }


# --------------------------------------------------------------------------- S8


def s8_bytes(config: Config) -> dict[str, Any]:
    """``s8_payload`` bytes in and the same back, through each raw dispatcher (as S1)."""
    return {
        dispatcher: _micro(
            dispatcher, config.workers, config.s8_calls, config.s8_warmup, config.s8_payload
        )
        for dispatcher in ("ppe", "crunch")
    }


# --------------------------------------------------------------------------- S2 + S7


async def s2_throughput(
    launch: Launcher, server_name: str, config: Config, sizes: Sizes
) -> dict[str, Any]:
    """Goodput of ~50 ms spins at rising offered rates; memory idle and under load (S7).

    ``capacity_here`` is workers / the inline time of one task measured right before
    and right after this server's run, so the goal's ratio sees the same machine.
    """
    capacity = config.workers / sizes.task.seconds
    inline = [_time_spin(sizes.task.n, 5)]
    steps: list[dict[str, Any]] = []
    idle: dict[str, float] = {}
    loaded: list[dict[str, float]] = []
    mults = list(config.s2_mults)
    while mults:
        async with launch(server_name) as server:
            if not idle:
                await asyncio.sleep(0.5)
                idle = server.memory().as_dict()
            while mults:
                mult = mults.pop(0)
                async with server.sampling() as samples:
                    result = await loadgen.open_loop(
                        _spin_url(server, sizes.task),
                        mult * capacity,
                        config.s2_duration,
                        timeout=config.timeout,
                        max_connections=config.max_connections,
                    )
                if mult >= 1.0:
                    loaded.extend(m.as_dict() for m in samples)
                step = _digest(result, config.warmup)
                step["mult"] = mult
                steps.append(step)
                if _dirty(result):
                    break  # fresh server for the next rate
                await asyncio.sleep(0.5)
    inline.append(_time_spin(sizes.task.n, 5))
    peak = max(step["goodput"] for step in steps)
    under_load = max(loaded, key=lambda m: m["pss_mb"]) if loaded else {}
    return {
        "capacity": capacity,
        "inline_ms": [round(t * 1000, 3) for t in inline],
        "capacity_here": config.workers / statistics.mean(inline),
        "steps": steps,
        "peak_goodput": peak,
        "memory": {"idle": idle, "load": under_load},
    }


# --------------------------------------------------------------------------- S3


async def s3_responsiveness(
    launch: Launcher, server_name: str, config: Config, sizes: Sizes
) -> dict[str, Any]:
    """``/healthz`` latency (open loop, precise send times) while the pool is saturated."""
    capacity = config.workers / sizes.task.seconds
    async with launch(server_name) as server:
        load_task = asyncio.create_task(
            loadgen.open_loop(
                _spin_url(server, sizes.task),
                config.s3_load_mult * capacity,
                config.s3_duration,
                timeout=config.timeout,
                max_connections=config.max_connections,
            )
        )
        await asyncio.sleep(min(1.0, config.s3_duration / 4))
        probe = await loadgen.open_loop(
            f"{server.url}/healthz",
            config.s3_probe_rate,
            config.s3_duration * 0.6,
            timeout=config.timeout,
            precise=True,
        )
        load = await load_task
    return {"probe": _digest(probe, 0.0), "load": _digest(load, config.warmup)}


# --------------------------------------------------------------------------- S4


async def s4_head_of_line(
    launch: Launcher, server_name: str, config: Config, sizes: Sizes
) -> dict[str, Any]:
    """A big batch, then (0.1 s later) a small one: when does the small one finish?"""

    def batch(work: Work, count: int) -> bytes:
        return json.dumps([{"task": "spin", "params": {"n": work.n}}] * count).encode()

    async def post(body: bytes) -> tuple[float, int, list[Any]]:
        start = loadgen.clock()
        status, raw = await loadgen.request(
            f"{server.url}/batch", "POST", body, timeout=config.timeout * 12
        )
        items = json.loads(raw) if status == 200 else []
        return loadgen.clock() - start, status, items

    async with launch(server_name) as server:
        big_task = asyncio.create_task(post(batch(sizes.big, config.big_count)))
        await asyncio.sleep(0.1)
        try:
            small_s, small_status, small_items = await post(batch(sizes.small, config.small_count))
        except TimeoutError:
            small_s, small_status, small_items = float("inf"), 0, []
        try:
            big_s, big_status, big_items = await big_task
        except TimeoutError:
            big_s, big_status, big_items = float("inf"), 0, []

    def ok(items: list[Any], count: int) -> bool:
        return len(items) == count and all(item.get("status") == 200 for item in items)

    runs = [float(item["run_ms"]) / 1000 for item in big_items if "run_ms" in item]
    big_task_s = statistics.median(runs) if runs else sizes.big.seconds
    # The big tasks already running when the small batch came: it cannot overtake those.
    first = [
        float(item["run_ms"]) / 1000
        for item in big_items
        if "run_ms" in item and float(item.get("queue_ms", 0.0)) < 100.0
    ]
    waits = [float(item.get("queue_ms", 0.0)) / 1000 for item in small_items]
    return {
        "first_big_runs_s": first,
        "small_max_queue_s": max(waits) if waits else None,
        "big_task_s": big_task_s,
        "ratio_to_big_task_run": small_s / big_task_s,
        "small_s": small_s,
        "big_s": big_s,
        "small_ok": small_status == 200 and ok(small_items, config.small_count),
        "big_ok": big_status == 200 and ok(big_items, config.big_count),
        "ratio_to_big_task": small_s / sizes.big.seconds,
    }


# --------------------------------------------------------------------------- S5


async def s5_overload(
    launch: Launcher, server_name: str, config: Config, sizes: Sizes
) -> dict[str, Any]:
    """``s5_mult`` x capacity of ~50 ms spins; crunch for ``s5_duration``, peers shorter."""
    capacity = config.workers / sizes.task.seconds
    duration = config.s5_duration if server_name.startswith("crunch") else config.s5_peer_duration
    async with launch(server_name) as server:
        result = await loadgen.open_loop(
            _spin_url(server, sizes.task),
            config.s5_mult * capacity,
            duration,
            timeout=config.s5_timeout,
            max_connections=config.max_connections,
        )
    out = _digest(result, config.warmup)
    out["capacity"] = capacity
    out["other_statuses"] = sum(n for code, n in result.statuses.items() if code not in (200, 503))
    return out


# --------------------------------------------------------------------------- S6


async def s6_http(launch: Launcher, config: Config) -> dict[str, Any]:
    """Closed-loop requests/s: ``/work/noop`` on crunch vs the same path on bare Starlette."""
    out: dict[str, Any] = {}
    test = await loadgen.self_test(duration=config.s6_duration, concurrency=config.s6_concurrency)
    out["trivial"] = test.result.summary()
    variants = [name for name in config.peers if name.startswith("crunch-")]
    for name in ("bare", "crunch", *variants):
        async with launch(name) as server:
            url = f"{server.url}/work/noop"
            await loadgen.closed_loop(url, config.s6_concurrency, config.s6_duration / 4)
            result = await loadgen.closed_loop(url, config.s6_concurrency, config.s6_duration)
            out[name] = result.summary()
            out[name]["rps"] = result.statuses.get(200, 0) / result.elapsed
    out["trivial"]["rps"] = out["trivial"]["throughput"]
    return out


# --------------------------------------------------------------------------- S9


def _time_thumbnail(photo: bytes, size: int, repeat: int) -> float:
    # The example is a project of its own (make example-deps installs it), not a
    # package of this repository: import it by name.
    thumbnail = importlib.import_module("thumbnails.tasks").thumbnail

    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        thumbnail(memoryview(photo), size)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


_TASK_SECONDS = re.compile(
    r'^crunch_task_duration_seconds_(sum|count)\{task="thumbnail"\} ([0-9.e+-]+)$', re.M
)


async def _thumbnail_seconds(server: Server) -> tuple[float, float]:
    """(sum, count) of the pod's own ``crunch_task_duration_seconds`` for the thumbnail task."""
    _, body = await loadgen.request(f"{server.url}/metrics", timeout=10)
    found = {kind: float(value) for kind, value in _TASK_SECONDS.findall(body.decode())}
    return found.get("sum", 0.0), found.get("count", 0.0)


async def s9_example(config: Config, log_dir: Path) -> dict[str, Any]:
    """The thumbnails example over HTTP at and past saturation: goodput vs workers / inline.

    The photo goes in as the raw body (image/jpeg), a PNG comes back; the inline time
    of the same call in this process is taken right before and after the run. Each step
    also records the workers' own mean run time (from the pod's metrics): on a shared
    machine it shows how much of a shortfall is CPU the workers did not get
    (``pace_ratio`` = goodput / (workers / that run time): crunch's own overhead).
    """
    from tools.photo import photo as make_photo  # Pillow: only with the example's deps

    photo = make_photo(*config.s9_pixels, quality=90)
    inline = [_time_thumbnail(photo, config.s9_size, 7)]
    capacity = config.workers / inline[0]
    env = {"CRUNCH_TASK_MODULES": "thumbnails.tasks", "CRUNCH_MAX_BODY": str(8 << 20)}
    headers = {"Content-Type": "image/jpeg"}
    steps: list[dict[str, Any]] = []
    async with serving("crunch", config.workers, log_dir, env_extra=env) as server:
        url = f"{server.url}/work/thumbnail?size={config.s9_size}"
        for _ in range(5):
            status, _ = await loadgen.request(
                url, method="POST", body=photo, headers=headers, timeout=30
            )
            if status != 200:
                raise RuntimeError(f"thumbnail answered {status}")
        # Saturation without overload first: 2 clients per worker keep every worker
        # busy with one task queued behind it. Then open loop at multiples of the
        # inline capacity (past saturation when the machine gives the workers less).
        plan: list[float | None] = [None, *config.s9_mults]
        for mult in plan:
            before = await _thumbnail_seconds(server)
            if mult is None:
                result = await loadgen.closed_loop(
                    url,
                    2 * config.workers,
                    config.s9_duration,
                    method="POST",
                    body=photo,
                    headers=headers,
                    timeout=config.timeout * 2,
                )
            else:
                result = await loadgen.open_loop(
                    url,
                    mult * capacity,
                    config.s9_duration,
                    method="POST",
                    body=photo,
                    headers=headers,
                    timeout=config.timeout * 2,
                    max_connections=config.max_connections,
                )
            after = await _thumbnail_seconds(server)
            step = _digest(result, config.warmup)
            step["mult"] = mult
            if mult is None:
                step["rate"] = step["throughput"]  # a closed loop offers what it gets
            runs = after[1] - before[1]
            run_s = (after[0] - before[0]) / runs if runs else math.nan
            step["worker_run_ms"] = run_s * 1000
            step["pace_ratio"] = step["goodput"] * run_s / config.workers
            steps.append(step)
            await asyncio.sleep(1.0)
    inline.append(_time_thumbnail(photo, config.s9_size, 7))
    capacity_here = config.workers / statistics.mean(inline)
    best = max(steps, key=lambda step: step["goodput"])
    peak = best["goodput"]
    return {
        "pace_ratio": best["pace_ratio"],
        "worker_run_ms": best["worker_run_ms"],
        "pace_capacity": config.workers * 1000 / best["worker_run_ms"],
        "photo_bytes": len(photo),
        "pixels": list(config.s9_pixels),
        "inline_ms": [round(t * 1000, 3) for t in inline],
        "capacity_here": capacity_here,
        "steps": steps,
        "peak_goodput": peak,
        "ratio": peak / capacity_here,
    }


# --------------------------------------------------------------------------- S10


def _late(result: loadgen.Result, deadline: float) -> int:
    """Requests that got no answer by ``deadline``, or an answer saying the deadline passed."""
    over = 0
    hist = result.by_status.get(200)
    if hist is not None:
        limit_us = deadline * 1e6
        over = sum(
            item.count_at_value_iterated_to
            for item in hist.get_recorded_iterator()
            if item.value_iterated_to > limit_us
        )
    return result.timeouts + result.statuses.get(504, 0) + over


async def s10_storm(
    launch: Launcher, server_name: str, config: Config, sizes: Sizes
) -> dict[str, Any]:
    """A retry storm: ``s10_connections`` clients that resend the moment they get an answer
    (503 + Retry-After included), on ~25 ms spins; a separate ``/healthz`` probe at 100/s.

    First, on the same server, a closed loop at ``s10_base_connections`` (few enough that
    crunch's queue never fills): the goodput the storm is compared with.
    """
    url = _spin_url_n(sizes.storm.n)
    async with launch(server_name) as server:
        base = await loadgen.closed_loop(
            server.url + url,
            config.s10_base_connections,
            config.s10_base_duration,
            timeout=config.s10_deadline,
        )
        await asyncio.sleep(config.settle)
        cpu_before, t_before = server.cpu(), loadgen.clock()
        load_task = asyncio.create_task(
            loadgen.closed_loop(
                server.url + url,
                config.s10_connections,
                config.s10_duration,
                timeout=config.s10_deadline,
            )
        )
        lead = min(2.0, config.s10_duration / 4)
        await asyncio.sleep(lead)
        probe = await _probe(
            server.health_url,
            config.s3_probe_rate,
            max(0.5, config.s10_duration - 2 * lead),
            timeout=config.timeout,
        )
        load = await load_task
        cpu_after, t_after = server.cpu(), loadgen.clock()
    warmup = min(2.0, config.s10_duration / 4)
    span = config.s10_duration - warmup
    return {
        "base": _digest(base, 0.0),
        "base_goodput": base.goodput(),
        "probe": probe,
        "load": _digest(load, warmup),
        "goodput": load.goodput(warmup),
        "rejections_per_s": load.statuses.get(503, 0) / max(load.elapsed, 1e-9),
        "late": _late(load, config.s10_deadline),
        "other_statuses": sum(
            n for code, n in load.statuses.items() if code not in (200, 503, 504)
        ),
        "connections_opened": load.connections_opened,
        "server_cpu": {
            key: (cpu_after[key] - cpu_before[key]) / (t_after - t_before) for key in cpu_after
        },
        "warmup": warmup,
        "span": span,
        "capacity": config.workers / sizes.storm.seconds,
    }


async def _probe(url: str, rate: float, duration: float, timeout: float) -> dict[str, Any]:
    """An open-loop probe (precise send times) from its own process, so the flood's
    generator, busy in this one, does not delay it; its summary, histograms kept."""
    argv = [sys.executable, "-m", "bench.loadgen", url, "--rate", str(rate)]
    argv += ["--duration", str(duration), "--timeout", str(timeout), "--precise", "--hdr"]
    proc = await asyncio.create_subprocess_exec(
        *argv, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), duration + timeout + 30)
    if proc.returncode != 0:
        raise RuntimeError(f"probe failed: {err.decode(errors='replace')[-500:]}")
    summary: dict[str, Any] = json.loads(out)
    return summary


def _spin_url_n(n: int) -> str:
    return f"/work/spin?n={n}"


# --------------------------------------------------------------------------- self-test


async def selftest(config: Config, sizes: Sizes) -> dict[str, Any]:
    """The generator against a trivial server at the highest open-loop rates used."""
    capacity = config.workers / sizes.task.seconds
    rate = max(config.s5_mult, config.s3_load_mult, *config.s2_mults) * capacity
    bulk = await loadgen.self_test(rate + config.s3_probe_rate, config.selftest_duration)
    with loadgen.trivial_server() as url:
        probe = await loadgen.open_loop(
            url, config.s3_probe_rate, config.selftest_duration, precise=True
        )
    return {"bulk": bulk.summary(), "probe": probe.summary()}


ServerScenario = Callable[["Launcher", str, Config, Sizes], Awaitable[dict[str, Any]]]
