"""Starting the servers under test, watching their memory, and stopping them.

Each server runs in its own session (process group), so stopping it ends the
uvicorn process *and* every worker it forked, and nothing else. Memory is read
from ``/proc`` for the whole process tree: RSS (what ``top`` shows; shared pages
count once per process) and PSS (shared pages split between their sharers).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tools.procs import free_port, spawn, stop_group, wait_ready

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

#: Every server: ``make run``'s crunch, the peers, and the bare Starlette baseline.
#: ``crunch-nice0`` is a diagnostic variant: crunch with ``CRUNCH_WORKER_NICE=0``;
#: ``crunch-nohold`` is crunch without a refusal budget (``CRUNCH_REJECT_RATE=0``): every
#: refusal answered at once, as before requests were held (app/backpressure.py).
SERVERS = (
    "crunch",
    "crunch-nice0",
    "crunch-nohold",
    "blocking",
    "threadpool",
    "executor",
    "cluster",
    "bare",
)
#: Started by :func:`serving_haproxy`, not :func:`command`: crunch behind ``make cluster``'s
#: busy-aware HAProxy, the same workers split over two instances.
HAPROXY = "crunch-haproxy"
#: The peers crunch is compared with in the HTTP scenarios, in a fixed order.
PEERS = ("blocking", "threadpool", "executor", "cluster")


def command(name: str, port: int, workers: int) -> tuple[list[str], dict[str, str]]:
    """The command line and extra environment that start server ``name``."""
    if name.startswith("crunch"):
        # As `make run` starts it (text logs, every default), on our port and pool size.
        argv = [str(BIN / "crunch"), "serve", "--host", "127.0.0.1", "--port", str(port)]
        env = {"CRUNCH_LOG_FORMAT": "text"}
        if name == "crunch-nice0":
            env["CRUNCH_WORKER_NICE"] = "0"
        if name == "crunch-nohold":
            env["CRUNCH_REJECT_RATE"] = "0"
        return [*argv, "--workers", str(workers)], env
    uvicorn = [str(BIN / "uvicorn"), f"bench.peers.{name}:app", "--host", "127.0.0.1"]
    uvicorn += ["--port", str(port), "--loop", "uvloop", "--http", "httptools"]
    uvicorn += ["--no-access-log", "--log-level", "warning"]
    if name == "cluster":
        uvicorn += ["--workers", str(workers)]
    return uvicorn, {"BENCH_WORKERS": str(workers)}


# --------------------------------------------------------------------------- memory


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def tree(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    kids = _children()
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(kids.get(current, []))
    return out


def _kib(path: str, key: str) -> int:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


@dataclass
class Memory:
    processes: int
    rss_mb: float
    pss_mb: float

    def as_dict(self) -> dict[str, float]:
        return {"processes": self.processes, "rss_mb": self.rss_mb, "pss_mb": self.pss_mb}


def cpu_pressure() -> float:
    """Share of the last 10 s in which some runnable task waited for a CPU (PSI), in %."""
    try:
        first = Path("/proc/pressure/cpu").read_text().splitlines()[0]
        return float(first.split("avg10=")[1].split()[0])
    except (OSError, IndexError, ValueError):
        return float("nan")


def cpu_seconds(pid: int) -> dict[str, float]:
    """CPU time (user + system, s) used so far by ``pid`` alone and by its whole tree."""
    tick = os.sysconf("SC_CLK_TCK")

    def used(p: int) -> float:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return 0.0
        return (int(fields[11]) + int(fields[12])) / tick

    pids = tree(pid)
    return {"root": used(pid), "tree": sum(used(p) for p in pids)}


def memory(pid: int) -> Memory:
    """Resident memory of the process tree rooted at ``pid``."""
    pids = tree(pid)
    rss = sum(_kib(f"/proc/{p}/status", "VmRSS:") for p in pids)
    pss = sum(_kib(f"/proc/{p}/smaps_rollup", "Pss:") for p in pids)
    return Memory(len(pids), round(rss / 1024, 1), round(pss / 1024, 1))


# --------------------------------------------------------------------------- servers


@dataclass
class Server:
    name: str
    port: int
    workers: int
    proc: subprocess.Popen[bytes]
    samples: list[Memory] = field(default_factory=list)
    #: Where a liveness probe goes: the server itself, or (behind a balancer) one instance,
    #: as a kubelet probes a pod directly.
    probe_url: str | None = None
    #: Processes whose CPU time counts for the server (default: ``proc``'s tree).
    cpu_pids: tuple[int, ...] = ()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def health_url(self) -> str:
        return f"{self.probe_url or self.url}/healthz"

    def cpu(self) -> dict[str, float]:
        """CPU seconds used so far: ``root`` (the process serving HTTP) and ``tree`` (all)."""
        pids = self.cpu_pids or (self.pid,)
        used = [cpu_seconds(p) for p in pids]
        return {"root": used[0]["root"], "tree": sum(u["tree"] for u in used)}

    @property
    def pid(self) -> int:
        return self.proc.pid

    def memory(self) -> Memory:
        return memory(self.pid)

    def server_pid(self) -> int:
        """The process that runs the event loop serving HTTP (for profiling)."""
        return self.pid

    @contextlib.asynccontextmanager
    async def sampling(self, every: float = 0.25) -> AsyncIterator[list[Memory]]:
        """Sample the tree's memory every ``every`` s while the block runs."""
        seen: list[Memory] = []

        async def loop() -> None:
            while True:
                seen.append(await asyncio.to_thread(self.memory))
                await asyncio.sleep(every)

        task = asyncio.create_task(loop())
        try:
            yield seen
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def stop(server: Server, grace: float = 1.0) -> None:
    """SIGTERM the server's process group, SIGKILL it after ``grace`` seconds.

    Nothing is measured after this, so a drain is not waited for.
    """
    stop_group(server.proc, grace)


@contextlib.asynccontextmanager
async def serving(
    name: str,
    workers: int,
    log_dir: Path,
    start_timeout: float = 60.0,
    env_extra: Mapping[str, str] | None = None,
) -> AsyncIterator[Server]:
    """Start server ``name`` on a free port with ``workers`` processes; stop it after."""
    port = free_port()
    argv, extra = command(name, port, workers)
    env = {**os.environ, **extra, **(env_extra or {}), "PYTHONPATH": str(ROOT)}
    log_dir.mkdir(parents=True, exist_ok=True)
    if name not in SERVERS:
        raise ValueError(f"unknown server {name!r} (known: {', '.join(SERVERS)})")
    proc = spawn(argv, cwd=ROOT, env=env, log=log_dir / f"{name}-{port}.log")
    server = Server(name, port, workers, proc)
    try:
        # /healthz, not /readyz: the peers have no readiness route.
        await asyncio.to_thread(
            wait_ready, server.url + "/healthz", exited=proc.poll, timeout=start_timeout, name=name
        )
        yield server
    finally:
        await asyncio.to_thread(stop, server)


@contextlib.asynccontextmanager
async def serving_haproxy(workers: int, log_dir: Path) -> AsyncIterator[Server]:
    """``make cluster``'s layout on free ports: HAProxy (busy-aware) in front of two crunch
    instances that share ``workers`` between them. Yields HAProxy as the server; its
    ``probe_url`` is the first instance.
    """
    from app.balancer.haproxy import BalancerSettings, Instance
    from tools.cluster import Cluster

    count = 2 if workers >= 2 else 1
    split = [workers // count + (1 if n < workers % count else 0) for n in range(count)]
    instances = [
        Instance(f"crunch-{n + 1}", "127.0.0.1", free_port(), w) for n, w in enumerate(split)
    ]
    settings = BalancerSettings(port=free_port(), mode="busy")
    os.environ.setdefault("CRUNCH_LOG_FORMAT", "text")  # as `crunch` is started here
    cluster = Cluster(
        instances,
        settings,
        task_timeout=settings.task_timeout,
        drain_timeout=1,
        log_dir=log_dir / f"haproxy-{settings.port}",
    )
    try:
        await asyncio.to_thread(cluster.start)
        haproxy = cluster.procs["haproxy"]
        server = Server(
            HAPROXY,
            settings.port,
            workers,
            haproxy,
            probe_url=f"http://{instances[0].address}",
            cpu_pids=tuple(p.pid for p in cluster.procs.values()),
        )
        yield server
    finally:
        await asyncio.to_thread(cluster.stop)
