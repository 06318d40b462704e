"""Configuration: read once at start, validated, then frozen.

Every setting has one home (the ``SETTINGS`` table below), one environment name
(``CRUNCH_<NAME>``) and one CLI flag (``--<name>``). Bad values fail at start with
one clear line (``ConfigError``), never at the first request.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from app.cpu import available_cpus

PREFIX = "CRUNCH_"
KNOWN_SERVICES = ("hello", "world")


class ConfigError(ValueError):
    """A setting has a bad value; the message is one line meant for the operator."""


def _int(lo: int, hi: int | None = None) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw.strip())
        except ValueError:
            raise ConfigError(f"expected an integer, got {raw!r}") from None
        if value < lo or (hi is not None and value > hi):
            bound = f"between {lo} and {hi}" if hi is not None else f">= {lo}"
            raise ConfigError(f"must be {bound}, got {value}")
        return value

    return parse


def _float(lo: float, hi: float | None = None) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        try:
            value = float(raw.strip())
        except ValueError:
            raise ConfigError(f"expected a number, got {raw!r}") from None
        if value != value or value < lo or (hi is not None and value > hi):
            bound = f"between {lo} and {hi}" if hi is not None else f">= {lo}"
            raise ConfigError(f"must be {bound}, got {raw.strip()}")
        return value

    return parse


def _auto(parse: Callable[[str], int]) -> Callable[[str], int]:
    """``auto`` (0: derived from other settings) or what ``parse`` accepts."""

    def parse_auto(raw: str) -> int:
        return 0 if raw.strip().lower() == "auto" else parse(raw)

    return parse_auto


def _bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"expected true or false, got {raw!r}")


def _choice(*choices: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in choices:
            raise ConfigError(f"expected one of {', '.join(choices)}, got {raw!r}")
        return value

    return parse


def _names(raw: str) -> tuple[str, ...]:
    items = tuple(item.strip() for item in raw.split(",") if item.strip())
    for item in items:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.\-]*", item):
            raise ConfigError(f"{item!r} is not a valid name")
    return items


def _services(raw: str) -> tuple[str, ...]:
    value = raw.strip().lower()
    if value in ("", "none"):
        return ()
    if value == "all":
        return KNOWN_SERVICES
    items = _names(value)
    for item in items:
        if item not in KNOWN_SERVICES:
            raise ConfigError(f"unknown service {item!r} (known: {', '.join(KNOWN_SERVICES)})")
    return tuple(dict.fromkeys(items))


def _host(raw: str) -> str:
    value = raw.strip()
    if not value or not re.fullmatch(r"[A-Za-z0-9.:\-\[\]]+", value):
        raise ConfigError(f"not a host or address: {raw!r}")
    return value


@dataclass(frozen=True)
class Setting:
    """One tunable: its default (as text, like the environment gives it) and why it exists."""

    name: str
    parse: Callable[[str], Any]
    default: Callable[[], str]
    doc: str


def _const(value: str) -> Callable[[], str]:
    return lambda: value


SETTINGS: tuple[Setting, ...] = (
    Setting("host", _host, _const("0.0.0.0"), "Address to bind."),
    Setting("port", _int(1, 65535), _const("8080"), "Port to listen on."),
    Setting(
        "workers",
        _int(1, 512),
        lambda: str(available_cpus()),
        "Worker processes in the pool. Default: the CPUs this container may use "
        "(cgroup quota, then affinity); one busy worker per CPU is the most a pod can do.",
    ),
    Setting(
        "queue_limit",
        _int(0, 100_000),
        _const("64"),
        "Tasks that may wait for a worker. Past it requests get 503 + Retry-After at "
        "once, so latency stays bounded instead of growing without end.",
    ),
    Setting(
        "reject_rate",
        _float(0.0, 1_000_000),
        _const("1000"),
        "Refusals per second answered at once while the queue is full. Past it, requests "
        "wait unread (the connection is not read, TCP pushes back) until a place frees or "
        "the hold timeout passes, so clients that retry at once cannot make the event loop "
        "starve the workers. 0: no budget, every refusal answered at once.",
    ),
    Setting(
        "hold_timeout",
        _float(0.01, 60),
        _const("1"),
        "Longest a request waits unread for a place while the queue is full; then it is "
        "read and refused (503 + Retry-After) like any other.",
    ),
    Setting(
        "task_timeout",
        _float(0.001, 3600),
        _const("30"),
        "Seconds a task may take, queue wait included. Queued past it: 503; running "
        "past it: 504 and the worker is killed and replaced.",
    ),
    Setting(
        "aging",
        _float(0.0, 60),
        _const("0.5"),
        "Seconds of head start each cheaper cost class gets over the next dearer one; "
        "small tasks overtake big ones, and a big task waits at most this much longer.",
    ),
    Setting(
        "max_tasks_per_worker",
        _int(0),
        _const("0"),
        "Recycle a worker after this many tasks (0: never). Caps leaks in task code.",
    ),
    Setting(
        "worker_nice",
        _int(0, 19),
        _const("10"),
        "Niceness added to worker processes so the event loop (health, metrics) wins the CPU.",
    ),
    Setting(
        "drain_timeout",
        _float(0.0, 3600),
        _const("20"),
        "On SIGTERM: seconds to let in-flight work finish before exiting.",
    ),
    Setting(
        "services",
        _services,
        _const("all"),
        "Which of the seed's microservices this pod serves: hello, world, all or none.",
    ),
    Setting(
        "spin_min",
        _int(0, 20000),
        _const("500"),
        "Smallest random spin size /hello and /world draw.",
    ),
    Setting(
        "spin_max",
        _int(0, 20000),
        _const("2500"),
        "Largest random spin size /hello and /world draw.",
    ),
    Setting(
        "spin_limit",
        _int(0, 1_000_000),
        _const("20000"),
        "Largest n the spin task accepts (n*n loop iterations): caps what one request may cost.",
    ),
    Setting(
        "primes_limit",
        _int(2, 1_000_000_000),
        _const("5000000"),
        "Largest limit the primes task accepts.",
    ),
    Setting(
        "task_modules",
        _names,
        _const(""),
        "Comma-separated Python modules imported at start (server and workers) to "
        "register user tasks with @task.",
    ),
    Setting(
        "batch_limit",
        _auto(_int(1, 100_000)),
        _const("auto"),
        "Most items one /batch request may carry; auto: workers + queue limit, the most "
        "an idle pod can admit at once. A larger value fails at start: such a batch "
        "could never be admitted.",
    ),
    Setting(
        "header_timeout",
        _float(0.1, 600),
        _const("10"),
        "Seconds a client may take to send a request's headers (from connecting, or "
        "from the first byte of a request on a kept-alive connection); then it is closed.",
    ),
    Setting(
        "body_timeout",
        _float(0.1, 600),
        _const("10"),
        "Seconds a request body may take to arrive once the headers are in; then 408 "
        "and the connection is closed.",
    ),
    Setting(
        "max_body",
        _int(64, 64 * 1024 * 1024),
        _const("1048576"),
        "Largest request body in bytes; larger bodies get 413 without being read.",
    ),
    Setting(
        "spawn_allow",
        _names,
        _const("ls"),
        "Programs /spawn/{name} may run (looked up on PATH at start, run without a shell).",
    ),
    Setting(
        "spawn_timeout",
        _float(0.01, 600),
        _const("5"),
        "Seconds a spawned program may run before it is killed.",
    ),
    Setting(
        "spawn_output_limit",
        _int(1, 64 * 1024 * 1024),
        _const("1048576"),
        "Bytes of output a spawned program may stream before it is killed.",
    ),
    Setting(
        "spawn_concurrency",
        _int(1, 1024),
        _const("4"),
        "Spawned programs that may run at once; more get 503 + Retry-After.",
    ),
    Setting(
        "log_format",
        _choice("json", "text"),
        _const("json"),
        "Log lines as JSON (for log collectors) or text (for people).",
    ),
    Setting(
        "log_level",
        _choice("debug", "info", "warning", "error"),
        _const("info"),
        "Least severe log level written.",
    ),
    Setting(
        "access_log",
        _bool,
        _const("true"),
        "Write one log line per request (formatted and written off the event loop's path).",
    ),
    Setting(
        "pod_name",
        lambda raw: raw.strip() or "local",
        lambda: os.environ.get("HOSTNAME", "local"),
        "Name reported in answers and logs. Default: the HOSTNAME (the pod name in Kubernetes).",
    ),
)


@dataclass(frozen=True)
class Settings:
    """Validated, immutable configuration of one crunch process."""

    host: str = "0.0.0.0"
    port: int = 8080
    workers: int = 1
    queue_limit: int = 64
    reject_rate: float = 1000.0
    hold_timeout: float = 1.0
    task_timeout: float = 30.0
    aging: float = 0.5
    max_tasks_per_worker: int = 0
    worker_nice: int = 10
    drain_timeout: float = 20.0
    services: tuple[str, ...] = KNOWN_SERVICES
    spin_min: int = 500
    spin_max: int = 2500
    spin_limit: int = 20000
    primes_limit: int = 5_000_000
    task_modules: tuple[str, ...] = ()
    batch_limit: int = 0
    header_timeout: float = 10.0
    body_timeout: float = 10.0
    max_body: int = 1_048_576
    spawn_allow: tuple[str, ...] = ("ls",)
    spawn_timeout: float = 5.0
    spawn_output_limit: int = 1_048_576
    spawn_concurrency: int = 4
    log_format: str = "json"
    log_level: str = "info"
    access_log: bool = True
    pod_name: str = "local"

    @classmethod
    def load(
        cls,
        environ: Mapping[str, str] | None = None,
        overrides: Mapping[str, str | None] | None = None,
    ) -> Settings:
        """Build settings from the environment, then CLI overrides (flags win)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for setting in SETTINGS:
            key = PREFIX + setting.name.upper()
            raw = (overrides or {}).get(setting.name)
            source = f"--{setting.name.replace('_', '-')}"
            if raw is None:
                raw, source = env.get(key), key
            if raw is None:
                raw, source = setting.default(), f"{key} (default)"
            try:
                values[setting.name] = setting.parse(raw)
            except ConfigError as exc:
                raise ConfigError(f"{source}: {exc}") from None
        settings = cls(**values)
        settings.check()
        return settings

    def check(self) -> None:
        """Cross-field rules."""
        if self.spin_min > self.spin_max:
            raise ConfigError(
                f"CRUNCH_SPIN_MIN ({self.spin_min}) is larger than "
                f"CRUNCH_SPIN_MAX ({self.spin_max})"
            )
        if self.spin_max > self.spin_limit:
            raise ConfigError(
                f"CRUNCH_SPIN_MAX ({self.spin_max}) is larger than CRUNCH_SPIN_LIMIT "
                f"({self.spin_limit})"
            )

        if self.batch_limit > self.workers + self.queue_limit:
            raise ConfigError(
                f"CRUNCH_BATCH_LIMIT ({self.batch_limit}) is larger than CRUNCH_WORKERS + "
                f"CRUNCH_QUEUE_LIMIT ({self.workers + self.queue_limit}): a batch that "
                "size could never be admitted"
            )

    @property
    def max_batch(self) -> int:
        """Most items one /batch may carry (``batch_limit``, or workers + queue limit)."""
        return self.batch_limit or self.workers + self.queue_limit

    def replace(self, **changes: Any) -> Settings:
        new = dataclasses.replace(self, **changes)
        new.check()
        return new


# The metric that shows each tunable's effect, so a change can be judged by numbers.
EFFECT_METRIC = {
    "workers": "crunch_pool_workers",
    "queue_limit": 'crunch_rejected_total{reason="queue_full"}',
    "reject_rate": "crunch_held_requests",
    "hold_timeout": "crunch_held_total",
    "task_timeout": 'crunch_worker_restarts_total{reason="timeout"}',
    "aging": "crunch_queue_wait_seconds",
    "max_tasks_per_worker": 'crunch_worker_restarts_total{reason="recycle"}',
    "worker_nice": "crunch_event_loop_lag_seconds",
    "drain_timeout": "crunch_inflight_requests",
    "spin_min": 'crunch_task_duration_seconds{task="spin"}',
    "spin_max": 'crunch_task_duration_seconds{task="spin"}',
    "spin_limit": 'crunch_requests_total{status="422"}',
    "primes_limit": 'crunch_requests_total{status="422"}',
    "batch_limit": 'crunch_requests_total{route="/batch",status="422"}',
    "max_body": 'crunch_requests_total{status="413"}',
    "spawn_concurrency": 'crunch_rejected_total{reason="spawn_busy"}',
    "spawn_timeout": 'crunch_request_duration_seconds{route="/spawn/{name}"}',
}


def settings_table() -> list[tuple[str, str, str, str]]:
    """(environment name, default, why, metric) for every setting: the README's table."""
    rows = []
    for setting in SETTINGS:
        default = "CPUs available" if setting.name == "workers" else setting.default()
        if setting.name == "pod_name":
            default = "$HOSTNAME"
        metric = EFFECT_METRIC.get(setting.name, "")
        rows.append((PREFIX + setting.name.upper(), default, setting.doc, metric))
    return rows
