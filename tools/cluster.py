"""``make cluster``: the seed's server cluster on one machine, balanced by busyness.

Starts N crunch instances (default 2: ``hello-1`` on 8082 serving /hello, ``world-1`` on
8083 serving /world, both serving / and /work), waits until each is ready, then runs
HAProxy on 8081 with the configuration ``app.balancer.haproxy`` renders from the very
numbers the instances were started with (workers, task timeout). Ctrl-C or SIGTERM lets
the instances drain, then stops HAProxy softly, and kills whatever is left after that.

    python -m tools.cluster [--count N] [--layout seed|all] [--workers W] ...
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from app.balancer.haproxy import (
    BalancerConfigError,
    BalancerSettings,
    Instance,
    add_local_arguments,
    backends,
    default_workers,
    local_instances,
    local_layout,
    render,
    settings_from_args,
)
from app.config import ConfigError, Settings
from tools.procs import NotReady, port_free, spawn, stop_group, wait_ready

PROG = "make cluster"


class ClusterError(RuntimeError):
    """The cluster could not start; the message is one line for the operator."""


def find_haproxy() -> str:
    binary = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/usr/local/sbin")
    if binary is None:
        raise ClusterError("haproxy is not installed: run `make haproxy-install`")
    return binary


def find_crunch() -> list[str]:
    """The command that starts one crunch instance: this interpreter's ``crunch serve``."""
    return [sys.executable, "-m", "app", "serve"]


@dataclass
class Cluster:
    """The running processes of a local cluster; a context manager that always cleans up."""

    instances: Sequence[Instance]
    settings: BalancerSettings
    task_timeout: float
    drain_timeout: float = 20.0
    log_dir: Path | None = None
    ready_timeout: float = 60.0
    haproxy: str = ""
    crunch: Sequence[str] = ()
    config_path: Path | None = None
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    interrupted: threading.Event = field(default_factory=threading.Event)
    _tmp: tempfile.TemporaryDirectory[str] | None = None

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        log = None if self.log_dir is None else self.log_dir / f"{name}.log"
        self.procs[name] = spawn(argv, env=env, log=log)

    def start(self) -> None:
        """Start the instances, wait for their /readyz, then start HAProxy."""
        self.haproxy = self.haproxy or find_haproxy()
        self.crunch = self.crunch or find_crunch()
        wanted = [(i.host, i.port) for i in self.instances]
        wanted.append((self.settings.host, self.settings.port))
        if self.settings.stats_port:
            wanted.append((self.settings.host, self.settings.stats_port))
        busy = [f"{h}:{p}" for h, p in wanted if not port_free(h, p)]
        if busy:
            raise ClusterError(f"port in use: {', '.join(busy)} (another cluster running?)")
        config = render(self.instances, self.settings)
        self._tmp = tempfile.TemporaryDirectory(prefix="crunch-cluster-")
        self.config_path = Path(self._tmp.name) / "haproxy.cfg"
        self.config_path.write_text(config)
        check = subprocess.run(
            [self.haproxy, "-c", "-q", "-f", str(self.config_path)],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
        if check.returncode != 0:
            raise ClusterError(f"haproxy rejected the configuration: {check.stderr.strip()}")
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
        for i in self.instances:
            env = dict(os.environ, CRUNCH_POD_NAME=i.name, CRUNCH_SERVICES=i.app_services)
            argv = [
                *self.crunch,
                *("--host", i.host, "--port", str(i.port), "--workers", str(i.workers)),
                *("--task-timeout", str(self.task_timeout), "--services", i.app_services),
            ]
            self._spawn(i.name, argv, env)
        deadline = time.monotonic() + self.ready_timeout
        for i in self.instances:
            self._wait(i.name, f"http://{i.address}/readyz", deadline)
        self._spawn("haproxy", [self.haproxy, "-db", "-f", str(self.config_path)])
        front = f"http://{self.settings.host}:{self.settings.port}/readyz"
        self._wait("haproxy", front, time.monotonic() + 30)

    def rebalance(self, settings: BalancerSettings) -> None:
        """Restart HAProxy alone with other settings (the instances keep running).

        The benchmark uses it to compare balancing modes on the very same instances.
        """
        assert self.config_path is not None, "start() first"
        stop_group(self.procs.pop("haproxy"), grace=10)
        self.settings = settings
        self.config_path.write_text(render(self.instances, settings))
        self._spawn("haproxy", [self.haproxy, "-db", "-f", str(self.config_path)])
        self._wait(
            "haproxy", f"http://{settings.host}:{settings.port}/readyz", time.monotonic() + 30
        )

    def _wait(self, name: str, url: str, deadline: float) -> None:
        try:
            wait_ready(
                url,
                exited=self.procs[name].poll,
                timeout=max(0.0, deadline - time.monotonic()),
                name=name,
                cancel=self.interrupted,
                interval=0.1,
            )
        except NotReady as exc:
            raise ClusterError(str(exc)) from None

    def failed(self) -> str | None:
        """The name of a process that exited on its own, if any."""
        return next((n for n, p in self.procs.items() if p.poll() is not None), None)

    def stop(self) -> None:
        """The instances drain first: HAProxy, still up, sees them turn unready and sends
        them nothing new (it answers 503 + Retry-After itself), while the answers in flight
        still pass through it. Then HAProxy stops softly (SIGUSR1: it closes its listeners
        and exits once its connections end), as the in-cluster balancer does. Each step is
        bounded; whatever is left is killed."""
        instances = [i.name for i in self.instances]
        steps = (
            (instances, signal.SIGTERM, self.drain_timeout + 5.0),
            (["haproxy"], signal.SIGUSR1, 5.0),
        )
        for group, sig, grace in steps:
            live = [self.procs[n] for n in group if n in self.procs]
            for proc in live:
                if proc.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        proc.send_signal(sig)
            deadline = time.monotonic() + grace
            for proc in live:
                try:
                    proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
        self.procs.clear()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def describe(self) -> Iterator[str]:
        s = self.settings
        mode = (
            f"busy-aware: leastconn, maxconn = workers + {s.queue_slack}, "
            f"queue up to {s.queue_wait:g} s"
            if s.mode == "busy"
            else "round-robin, no maxconn"
        )
        yield f"{PROG}: HAProxy on http://{s.host}:{s.port} ({mode})"
        groups = backends(self.instances)
        for group, members in groups.items():
            path = f"/{group}" if group != "web" else "/ (and /work, ...)"
            if len(groups) == 1:
                path = "every path"
            targets = ", ".join(f"{i.name} {i.address} ({i.workers} w)" for i in members)
            yield f"  {path:<20} -> {targets}"
        if s.stats_port:
            yield f"  HAProxy stats: http://{s.host}:{s.stats_port}/ (Prometheus: /metrics)"
        yield f"  configuration: {self.config_path}; Ctrl-C stops everything"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="The seed's server cluster: crunch instances behind a busy-aware HAProxy.",
    )
    parser.add_argument("--log-dir", type=Path, help="write each process's output to DIR/NAME.log")
    parser.add_argument("--ready-timeout", type=float, default=60.0)
    add_local_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        app_settings = Settings.load()
        shape = local_layout(args)
        workers = args.workers or default_workers(shape.count)
        instances = local_instances(
            shape.count, workers=workers, base_port=shape.base_port, layout=shape.layout
        )
        settings = settings_from_args(args, app_settings.task_timeout, local=True)
    except ConfigError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2

    cluster = Cluster(
        instances,
        settings,
        task_timeout=app_settings.task_timeout,
        drain_timeout=app_settings.drain_timeout,
        log_dir=args.log_dir,
        ready_timeout=args.ready_timeout,
    )

    def on_signal(signum: int, frame: FrameType | None) -> None:
        cluster.interrupted.set()

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, on_signal)
    with cluster:
        try:
            cluster.start()
        except (ClusterError, BalancerConfigError, OSError) as exc:
            print(f"{PROG}: {exc}", file=sys.stderr)
            return 1
        for line in cluster.describe():
            print(line, flush=True)
        while not cluster.interrupted.wait(0.5):
            dead = cluster.failed()
            if dead:
                print(f"{PROG}: {dead} exited; stopping the cluster", file=sys.stderr)
                return 1
        print(f"{PROG}: stopping", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
