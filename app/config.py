"""Configuration: read once at start, validated, then frozen.

Every setting is declared once, as a field of ``Settings`` (:func:`setting`: default,
parser, doc, effect metric); its environment name (``CRUNCH_<NAME>``), its CLI flag
(``--<name>``, :func:`add_flags`) and the README's table follow from that declaration.
The balancer's settings are declared the same way (``CRUNCH_LB_<NAME>``). Bad values
fail at start with one clear line (``ConfigError``), never at the first request.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from app.cpu import available_cpus

PREFIX = "CRUNCH_"
KNOWN_SERVICES = ("hello", "world")


class ConfigError(ValueError):
    """A setting has a bad value; the message is one line meant for the operator."""


def int_in(lo: int, hi: int | None = None) -> Callable[[str], int]:
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


def float_in(lo: float, hi: float | None = None) -> Callable[[str], float]:
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


def optional(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """Empty or ``0``: None (off, or derived elsewhere); else what ``parse`` accepts."""

    def parse_optional(raw: str) -> Any:
        return None if raw.strip() in ("", "0") else parse(raw)

    return parse_optional


def boolean(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"expected true or false, got {raw!r}")


def one_of(*choices: str) -> Callable[[str], str]:
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


def hostname(raw: str) -> str:
    value = raw.strip()
    if not value or not re.fullmatch(r"[A-Za-z0-9.:\-\[\]]+", value):
        raise ConfigError(f"not a host or address: {raw!r}")
    return value


@dataclass(frozen=True)
class Setting:
    """One tunable, as its declaration (:func:`setting`) gives it: environment name, flag,
    parser, default (as text, like the environment gives it), why it exists, and the
    metric that shows its effect."""

    name: str
    parse: Callable[[str], Any]
    default: Callable[[], str]
    doc: str
    prefix: str = PREFIX
    metric: str = ""
    shown: str = ""  # the default as the docs show it, where it depends on the machine
    env_name: str = ""  # where the environment name is not the field's

    @property
    def env(self) -> str:
        return self.prefix + (self.env_name or self.name).upper()

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


_DECLARED = "crunch.setting"


def setting(
    default: str,
    parse: Callable[[str], Any],
    doc: str,
    *,
    metric: str = "",
    machine: Callable[[], str] | None = None,
    shown: str = "",
    env: str = "",
) -> Any:
    """Declare a settings dataclass field once: its default (text, parsed for the field's
    own default), parser, doc and effect metric. ``machine`` computes the default at load
    time where it depends on the machine (the field keeps ``default`` for plain use)."""
    meta = {_DECLARED: (parse, machine or _const(default), doc, metric, shown, env)}
    return dataclasses.field(default=parse(default), metadata=meta)


def declared(cls: type, prefix: str = PREFIX) -> tuple[Setting, ...]:
    """The settings a dataclass declares with :func:`setting`, in field order."""
    out = []
    for f in dataclasses.fields(cls):
        if _DECLARED in f.metadata:
            parse, default, doc, metric, shown, env = f.metadata[_DECLARED]
            out.append(Setting(f.name, parse, default, doc, prefix, metric, shown, env))
    return tuple(out)


def load_values(
    settings: Sequence[Setting],
    environ: Mapping[str, str],
    overrides: Mapping[str, str | None] | None = None,
) -> dict[str, Any]:
    """Parse every setting from its flag, else its environment name, else its default;
    a bad value is a ConfigError that names where it came from."""
    values: dict[str, Any] = {}
    for s in settings:
        raw, source = (overrides or {}).get(s.name), s.flag
        if raw is None:
            raw, source = environ.get(s.env), s.env
        if raw is None:
            raw, source = s.default(), f"{s.env} (default)"
        try:
            values[s.name] = s.parse(raw)
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None
    return values


class _ArgumentGroup(Protocol):
    def add_argument(self, *args: Any, **kwargs: Any) -> Any: ...


def add_flags(parser: _ArgumentGroup, settings: Sequence[Setting]) -> None:
    """One flag per setting, ``None`` unless given (then it wins over the environment).
    A true/false setting gets ``--name`` and ``--no-name``."""
    for s in settings:
        help_ = f"{s.doc} [env {s.env}]"
        if s.parse is boolean:
            parser.add_argument(s.flag, dest=s.name, action="store_const", const="true", help=help_)
            no = "--no-" + s.flag[2:]
            parser.add_argument(no, dest=s.name, action="store_const", const="false")
        else:
            parser.add_argument(s.flag, dest=s.name, metavar=s.name.upper(), help=help_)


def _const(value: str) -> Callable[[], str]:
    return lambda: value


def _pod_name(raw: str) -> str:
    return raw.strip() or "local"


@dataclass(frozen=True)
class Settings:
    """Validated, immutable configuration of one crunch process: every setting declared
    once, here; environment names, flags, defaults and the README's table follow."""

    host: str = setting("0.0.0.0", hostname, "Address to bind.")
    port: int = setting("8080", int_in(1, 65535), "Port to listen on.")
    workers: int = setting(
        "1",
        int_in(1, 512),
        "Worker processes in the pool. Default: the CPUs this container may use "
        "(cgroup quota, then affinity); one busy worker per CPU is the most a pod can do.",
        metric="crunch_pool_workers",
        machine=lambda: str(available_cpus()),
        shown="CPUs available",
    )
    queue_limit: int = setting(
        "64",
        int_in(0, 100_000),
        "Tasks that may wait for a worker. Past it requests get 503 + Retry-After at "
        "once, so latency stays bounded instead of growing without end.",
        metric='crunch_rejected_total{reason="queue_full"}',
    )
    reject_rate: float = setting(
        "1000",
        float_in(0.0, 1_000_000),
        "Refusals per second answered at once while the queue is full. Past it, requests "
        "wait unread (the connection is not read, TCP pushes back) until a place frees or "
        "the hold timeout passes, so clients that retry at once cannot make the event loop "
        "starve the workers. 0: no budget, every refusal answered at once.",
        metric="crunch_held_requests",
    )
    hold_timeout: float = setting(
        "1",
        float_in(0.01, 60),
        "Longest a request waits unread for a place while the queue is full; then it is "
        "read and refused (503 + Retry-After) like any other.",
        metric="crunch_held_total",
    )
    task_timeout: float = setting(
        "30",
        float_in(0.001, 3600),
        "Seconds a task may take, queue wait included. Queued past it: 503; running "
        "past it: 504 and the worker is killed and replaced.",
        metric='crunch_worker_restarts_total{reason="timeout"}',
    )
    aging: float = setting(
        "0.5",
        float_in(0.0, 60),
        "Seconds of head start each cheaper cost class gets over the next dearer one; "
        "small tasks overtake big ones, and a big task waits at most this much longer.",
        metric="crunch_queue_wait_seconds",
    )
    max_tasks_per_worker: int = setting(
        "0",
        int_in(0),
        "Recycle a worker after this many tasks (0: never). Caps leaks in task code.",
        metric='crunch_worker_restarts_total{reason="recycle"}',
    )
    worker_nice: int = setting(
        "10",
        int_in(0, 19),
        "Niceness added to worker processes so the event loop (health, metrics) wins the CPU.",
        metric="crunch_event_loop_lag_seconds",
    )
    drain_timeout: float = setting(
        "20",
        float_in(0.0, 3600),
        "On SIGTERM: seconds to let in-flight work finish before exiting.",
        metric="crunch_inflight_requests",
    )
    services: tuple[str, ...] = setting(
        "all",
        _services,
        "Which of the seed's microservices this pod serves: hello, world, all or none.",
    )
    spin_min: int = setting(
        "500",
        int_in(0, 20000),
        "Smallest random spin size /hello and /world draw.",
        metric='crunch_task_duration_seconds{task="spin"}',
    )
    spin_max: int = setting(
        "2500",
        int_in(0, 20000),
        "Largest random spin size /hello and /world draw.",
        metric='crunch_task_duration_seconds{task="spin"}',
    )
    spin_limit: int = setting(
        "20000",
        int_in(0, 1_000_000),
        "Largest n the spin task accepts (n*n loop iterations): caps what one request may cost.",
        metric='crunch_requests_total{status="422"}',
    )
    primes_limit: int = setting(
        "5000000",
        int_in(2, 1_000_000_000),
        "Largest limit the primes task accepts.",
        metric='crunch_requests_total{status="422"}',
    )
    task_modules: tuple[str, ...] = setting(
        "",
        _names,
        "Comma-separated Python modules imported at start (server and workers) to "
        "register user tasks with @task.",
    )
    batch_limit: int = setting(
        "auto",
        _auto(int_in(1, 100_000)),
        "Most items one /batch request may carry; auto: workers + queue limit, the most "
        "an idle pod can admit at once. A larger value fails at start: such a batch "
        "could never be admitted.",
        metric='crunch_requests_total{route="/batch",status="422"}',
    )
    header_timeout: float = setting(
        "10",
        float_in(0.1, 600),
        "Seconds a client may take to send a request's headers (from connecting, or "
        "from the first byte of a request on a kept-alive connection); then it is closed.",
    )
    body_timeout: float = setting(
        "10",
        float_in(0.1, 600),
        "Seconds a request body may take to arrive once the headers are in; then 408 "
        "and the connection is closed.",
    )
    max_body: int = setting(
        "1048576",
        int_in(64, 64 * 1024 * 1024),
        "Largest request body in bytes; larger bodies get 413 without being read.",
        metric='crunch_requests_total{status="413"}',
    )
    spawn_allow: tuple[str, ...] = setting(
        "ls",
        _names,
        "Programs /spawn/{name} may run (looked up on PATH at start, run without a shell).",
    )
    spawn_timeout: float = setting(
        "5",
        float_in(0.01, 600),
        "Seconds a spawned program may run before it is killed.",
        metric='crunch_request_duration_seconds{route="/spawn/{name}"}',
    )
    spawn_output_limit: int = setting(
        "1048576",
        int_in(1, 64 * 1024 * 1024),
        "Bytes of output a spawned program may stream before it is killed.",
    )
    spawn_concurrency: int = setting(
        "4",
        int_in(1, 1024),
        "Spawned programs that may run at once; more get 503 + Retry-After.",
        metric='crunch_rejected_total{reason="spawn_busy"}',
    )
    log_format: str = setting(
        "json",
        one_of("json", "text"),
        "Log lines as JSON (for log collectors) or text (for people).",
    )
    log_level: str = setting(
        "info",
        one_of("debug", "info", "warning", "error"),
        "Least severe log level written.",
    )
    access_log: bool = setting(
        "true",
        boolean,
        "Write one log line per request (formatted and written off the event loop's path).",
    )
    pod_name: str = setting(
        "local",
        _pod_name,
        "Name reported in answers and logs. Default: the HOSTNAME (the pod name in Kubernetes).",
        machine=lambda: os.environ.get("HOSTNAME", "local"),
        shown="$HOSTNAME",
    )

    @classmethod
    def load(
        cls,
        environ: Mapping[str, str] | None = None,
        overrides: Mapping[str, str | None] | None = None,
    ) -> Settings:
        """Build settings from the environment, then CLI overrides (flags win)."""
        env = os.environ if environ is None else environ
        settings = cls(**load_values(SETTINGS, env, overrides))
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


SETTINGS: tuple[Setting, ...] = declared(Settings)


def settings_table() -> list[tuple[str, str, str, str]]:
    """(environment name, default, why, metric) for every setting: the README's table."""
    return [(s.env, s.shown or s.default(), s.doc, s.metric) for s in SETTINGS]
