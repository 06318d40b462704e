"""The scenarios S1-S9 (see docs/benchmarks.md). Each returns JSON-ready dicts.

Every scenario compares servers measured in the same run on the same machine; the
work sizes are calibrated at the start of each repetition by timing ``spin(n)``
inline in this process, so "one task" means the same thing to every server.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
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
from bench.procs import ROOT, Server, serving


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
    selftest_duration: float = 2.0
    calibrate_repeat: int = 7
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

    def as_dict(self) -> dict[str, Any]:
        return {
            "task": self.task.as_dict(),
            "big": self.big.as_dict(),
            "small": self.small.as_dict(),
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
    for target_ms, times in ((config.big_ms, max(3, repeat - 2)), (config.small_ms, 3 * repeat)):
        n = max(1, round(task.n * (target_ms / 1000 / task.seconds) ** 0.5))
        sizes.append(Work(n, _time_spin(n, times)))
    return Sizes(task, sizes[0], sizes[1])


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

    @contextlib.asynccontextmanager
    async def __call__(self, name: str) -> AsyncIterator[Server]:
        if not self.reuse:
            async with serving(name, self.config.workers, self.log_dir) as server:
                await warm(server, self.sizes)
                yield server
            return
        kept = self._kept.get(name)
        if kept is None:
            kept = await self._stack.enter_async_context(
                serving(name, self.config.workers, self.log_dir)
            )
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
    duration = config.s5_duration if server_name == "crunch" else config.s5_peer_duration
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
    for name in ("bare", "crunch"):
        async with launch(name) as server:
            url = f"{server.url}/work/noop"
            await loadgen.closed_loop(url, config.s6_concurrency, config.s6_duration / 4)
            result = await loadgen.closed_loop(url, config.s6_concurrency, config.s6_duration)
            out[name] = result.summary()
            out[name]["rps"] = result.statuses.get(200, 0) / result.elapsed
    out["trivial"]["rps"] = out["trivial"]["throughput"]
    return out


# --------------------------------------------------------------------------- S9


def s9_photo(width: int, height: int) -> bytes:
    """A photo-like JPEG (gradient + noise: JPEG cannot shrink it to nothing)."""
    import io

    from PIL import Image

    gradient = Image.linear_gradient("L").resize((width, height))
    noise = Image.effect_noise((width, height), 40)
    image = Image.merge("RGB", (gradient, noise, gradient.transpose(Image.Transpose.ROTATE_90)))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


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


async def s9_example(config: Config, log_dir: Path) -> dict[str, Any]:
    """The thumbnails example over HTTP at and past saturation: goodput vs workers / inline.

    The photo goes in as the raw body (image/jpeg), a PNG comes back; the inline time
    of the same call in this process is taken right before and after the run.
    """
    photo = s9_photo(*config.s9_pixels)
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
        for mult in config.s9_mults:
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
            step = _digest(result, config.warmup)
            step["mult"] = mult
            steps.append(step)
            await asyncio.sleep(1.0)
    inline.append(_time_thumbnail(photo, config.s9_size, 7))
    capacity_here = config.workers / statistics.mean(inline)
    peak = max(step["goodput"] for step in steps)
    return {
        "photo_bytes": len(photo),
        "pixels": list(config.s9_pixels),
        "inline_ms": [round(t * 1000, 3) for t in inline],
        "capacity_here": capacity_here,
        "steps": steps,
        "peak_goodput": peak,
        "ratio": peak / capacity_here,
    }


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
