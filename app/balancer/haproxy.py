"""Render the HAProxy configuration that balances crunch instances by busyness.

The seed's last proxy marks a target busy while it works and holds every request in a
queue until some target is free. HAProxy does exactly that when each server line says
how many requests the instance can run at once:

- ``maxconn`` per server = the instance's workers (+ ``queue_slack``): a server with
  that many requests in flight is *busy* and gets nothing more;
- ``balance leastconn``: a new request goes to the instance with the fewest in flight;
- when every instance is busy the request waits in the backend's queue (in HAProxy, not
  piled onto one instance) and goes to the first instance that answers;
- ``timeout queue`` bounds that wait; past it the client gets 503 with ``Retry-After`` and
  the same JSON error body the app answers (``{"error": "overloaded", ...}``).

``queue_slack`` > 0 lets each instance hold that many requests in its own queue, so
a freed worker never idles for the balancer's round trip; it costs busy-awareness: a
request in an instance's queue can no longer move to another instance that frees first.

Routes (the seed's proxy): ``/hello`` to the instances serving hello, ``/world`` to those
serving world, everything else (``/``, ``/work``, ``/batch``, ``/tasks``, ...) to the
instances serving ``web``. ``maxconn`` is counted per backend: an instance listed in two
backends (say hello and web) may run up to twice its workers at once, the surplus then
waiting in the instance's own queue. Give each instance one route group when strict
busy-awareness matters (the benchmark does).

``render`` is a pure function from (instances, settings) to the configuration text;
``main`` is the command line (``crunch haproxy-config``, ``python -m app.balancer.haproxy``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

from app.config import (
    ConfigError,
    Setting,
    add_flags,
    boolean,
    declared,
    float_in,
    hostname,
    int_in,
    load_values,
    one_of,
    optional,
    setting,
)

ROUTE_GROUPS: Final = ("hello", "world", "web")
"""What the balancer routes to an instance: the seed's two microservices (the app's
``CRUNCH_SERVICES``), and ``web``: every route that is not one of them."""

APP_SERVICES: Final = ("hello", "world")
MODES: Final = ("busy", "roundrobin")
Mode = Literal["busy", "roundrobin"]
ENV_PREFIX: Final = "CRUNCH_LB_"
LOCAL_STATS_PORT: Final = 8404  # `make cluster`'s stats page, unless told otherwise
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,62}")
_HOST = re.compile(r"[A-Za-z0-9.\-]+|\[[0-9A-Fa-f:.]+\]")


class BalancerConfigError(ConfigError):
    """A balancer setting or instance description is wrong; the message is one line."""


@dataclass(frozen=True)
class Instance:
    """One crunch instance behind the balancer: where it listens and what it can run."""

    name: str
    host: str
    port: int
    workers: int
    services: tuple[str, ...] = ROUTE_GROUPS

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise BalancerConfigError(f"instance name {self.name!r}: use letters, digits, _.-")
        if not _HOST.fullmatch(self.host):
            raise BalancerConfigError(f"instance {self.name}: not a host: {self.host!r}")
        if not 1 <= self.port <= 65535:
            raise BalancerConfigError(f"instance {self.name}: port {self.port} out of range")
        if not 1 <= self.workers <= 512:
            raise BalancerConfigError(f"instance {self.name}: workers must be 1..512")
        unknown = [s for s in self.services if s not in ROUTE_GROUPS]
        if unknown:
            raise BalancerConfigError(
                f"instance {self.name}: unknown service {unknown[0]!r} "
                f"(known: {', '.join(ROUTE_GROUPS)})"
            )
        if not self.services:
            raise BalancerConfigError(f"instance {self.name}: serves nothing")

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def app_services(self) -> str:
        """The instance's ``CRUNCH_SERVICES`` value."""
        return ",".join(s for s in APP_SERVICES if s in self.services) or "none"


@dataclass(frozen=True)
class BalancerSettings:
    """How HAProxy listens, balances and queues. Durations in seconds.

    Each setting is declared once (``app.config.setting``): its flag ``--<name>`` and its
    environment name ``CRUNCH_LB_<NAME>`` follow. ``task_timeout`` is the pods' own
    ``CRUNCH_TASK_TIMEOUT``; ``check_interval`` is not a knob.
    """

    host: str = setting("127.0.0.1", hostname, "address HAProxy binds")
    port: int = setting("8081", int_in(1, 65535), "its port")
    mode: Mode = setting(
        "busy",
        one_of(*MODES),
        "busy: leastconn + maxconn = workers (+ slack); roundrobin: no maxconn",
    )
    queue_slack: int = setting(
        "0",
        int_in(0, 1000),
        "requests each instance may queue itself beyond its workers (default 0: strict)",
    )
    task_timeout: float = 30.0
    queue_timeout: float | None = setting(
        "0",
        optional(float_in(0.001, 3600)),
        "seconds a request may wait for a free instance (default, 0: the task timeout)",
    )
    queue_limit: int = setting(
        "0",
        int_in(0, 1_000_000),
        "requests the balancer's queue may hold before answering 503 (0: bound by time)",
    )
    retry_after: int = setting("1", int_in(1, 3600), "seconds in HAProxy's own 503 answers")
    check_interval: float = 1.0
    max_clients: int = setting(
        "2000", int_in(1, 1_000_000), "connections HAProxy accepts at once (global and frontend)"
    )
    stats_port: int | None = setting(
        "0",
        optional(int_in(1, 65535)),
        f"serve HAProxy's stats page (/) and Prometheus metrics (/metrics) here; 0: off "
        f"(the local cluster's default: {LOCAL_STATS_PORT})",
    )
    access_log: bool = setting("false", boolean, "log every request to stderr")

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise BalancerConfigError(f"mode must be one of {', '.join(MODES)}: {self.mode!r}")
        if not _HOST.fullmatch(self.host):
            raise BalancerConfigError(f"not a host: {self.host!r}")
        for name in ("port", "stats_port"):
            value = getattr(self, name)
            if value is not None and not 1 <= value <= 65535:
                raise BalancerConfigError(f"{name} {value} out of range")
        if self.queue_slack < 0 or self.queue_limit < 0:
            raise BalancerConfigError("queue_slack and queue_limit must be >= 0")
        if self.task_timeout <= 0 or (self.queue_timeout is not None and self.queue_timeout <= 0):
            raise BalancerConfigError("task_timeout and queue_timeout must be > 0")
        if self.retry_after < 1 or self.check_interval <= 0 or self.max_clients < 1:
            raise BalancerConfigError("retry_after, check_interval, max_clients must be positive")

    @property
    def queue_wait(self) -> float:
        """Longest a request waits in the balancer for a free instance (``timeout queue``).

        Default: the task timeout. A request that waited a whole task budget for a worker
        is better answered 503 now: the client may retry elsewhere or later.
        """
        return self.task_timeout if self.queue_timeout is None else self.queue_timeout

    def maxconn(self, instance: Instance) -> int | None:
        """Requests an instance may have in flight (None: unlimited, round-robin mode)."""
        return instance.workers + self.queue_slack if self.mode == "busy" else None


def _duration(seconds: float) -> str:
    ms = max(1, math.ceil(seconds * 1000))
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def _string(payload: Mapping[str, str]) -> str:
    text = json.dumps(payload, separators=(", ", ": "))
    if "'" in text:  # pragma: no cover - the details below are fixed text
        raise BalancerConfigError("a JSON body for HAProxy may not contain a single quote")
    return f"'{text}'"


def overloaded_body(settings: BalancerSettings) -> str:
    """The JSON HAProxy answers with its own 503 (queue timeout, no instance up)."""
    return _string(
        {
            "error": "overloaded",
            "detail": (
                "every instance stayed busy (or none is ready) for the balancer queue "
                f"timeout of {_duration(settings.queue_wait)}; retry later"
            ),
        }
    )


def _queue_full_body(settings: BalancerSettings) -> str:
    return _string(
        {
            "error": "overloaded",
            "detail": f"the balancer queue holds {settings.queue_limit} requests; retry later",
        }
    )


def backends(instances: Sequence[Instance]) -> dict[str, list[Instance]]:
    """Route group → the instances serving it (only groups someone serves).

    When every group has the same instances (``--layout all``, or one instance), they are
    one backend, ``web``, for every path: HAProxy counts ``maxconn`` per backend, so an
    instance in three backends could run three requests on one worker.
    """
    groups = {group: [i for i in instances if group in i.services] for group in ROUTE_GROUPS}
    served = {group: members for group, members in groups.items() if members}
    if "web" in served and all(members == served["web"] for members in served.values()):
        return {"web": served["web"]}
    return served


# Sections shared by `render` (instances at fixed addresses) and `render_kubernetes`
# (pods found through cluster DNS): one text for timeouts, retries, errors, checks.


def _defaults_section(settings: BalancerSettings) -> list[str]:
    queue = settings.queue_wait
    server_timeout = settings.task_timeout + 5  # the app answers 504 at its task timeout
    client_timeout = queue + server_timeout + 5
    out = ["defaults", "    mode http"]
    if settings.access_log:
        out += ["    log global", "    option httplog"]
    out += [
        "    timeout connect 2s",
        f"    timeout client {_duration(client_timeout)}",
        f"    timeout server {_duration(server_timeout)}",
        f"    timeout queue {_duration(queue)}",
        "    timeout http-request 10s",
        "    timeout http-keep-alive 10s",
        "    timeout check 2s",
        "    # An instance that refuses the connection or answers 503 (its queue is full, or it",
        "    # drains) never started the task: try another one.",
        "    option redispatch",
        "    retries 2",
        "    retry-on conn-failure 503",
        "    # HAProxy's own 503 (queue timeout, no instance ready) speaks the app's error JSON.",
        "    http-error status 503 content-type application/json "
        f"string {overloaded_body(settings)} hdr Retry-After {settings.retry_after}",
        "",
    ]
    return out


def _retry_after_lines(settings: BalancerSettings) -> list[str]:
    return [
        "    # Every 503 tells the client when to come back, whoever produced it.",
        f"    http-after-response set-header Retry-After {settings.retry_after} "
        "if { status 503 } !{ res.hdr(retry-after) -m found }",
    ]


def _backend_head(settings: BalancerSettings) -> list[str]:
    """A backend's lines before its servers: balance, /readyz checks, queue limit."""
    out = [
        f"    balance {'leastconn' if settings.mode == 'busy' else 'roundrobin'}",
        "    option httpchk",
        "    http-check send meth GET uri /readyz ver HTTP/1.1 hdr Host localhost",
        "    http-check expect status 200",
    ]
    if settings.queue_limit:
        out.append(
            "    http-request return status 503 content-type application/json "
            f"string {_queue_full_body(settings)} hdr Retry-After {settings.retry_after} "
            f"if {{ queue() ge {settings.queue_limit} }}"
        )
    out.append("    http-response set-header X-Crunch-Instance %[srv_name]")
    inter = _duration(settings.check_interval)
    out.append(f"    default-server check inter {inter} fastinter {inter} fall 2 rise 1")
    return out


def _stats_section(settings: BalancerSettings, health: bool = False) -> list[str]:
    if settings.stats_port is None:
        return []
    out = ["", "listen stats", f"    bind {settings.host}:{settings.stats_port}"]
    if health:
        out.append(
            "    http-request return status 200 content-type text/plain string ok "
            "if { path /healthz }"
        )
    out += [
        "    http-request use-service prometheus-exporter if { path /metrics }",
        "    stats enable",
        "    stats uri /",
        "    stats refresh 2s",
    ]
    return out


def render(instances: Sequence[Instance], settings: BalancerSettings | None = None) -> str:
    """The complete HAProxy configuration for these instances. Pure: no I/O."""
    settings = settings or BalancerSettings()
    if not instances:
        raise BalancerConfigError("no instances to balance")
    names = [i.name for i in instances]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate:
        raise BalancerConfigError(f"instance name {duplicate!r} used twice")
    groups = backends(instances)
    if "web" not in groups:
        raise BalancerConfigError("no instance serves web (/, /work, ...): add 'web' to one")

    queue = settings.queue_wait
    busy = settings.mode == "busy"
    out: list[str] = []
    add = out.append

    add("# Generated by `crunch haproxy-config` (app/balancer/haproxy.py): do not edit,")
    add("# regenerate from the instances' settings. Instances (name address workers services):")
    for i in instances:
        add(f"#   {i.name} {i.address} workers={i.workers} services={'+'.join(i.services)}")
    mode_line = (
        f"busy-aware: leastconn, maxconn = workers + {settings.queue_slack}"
        if busy
        else "round-robin, no maxconn (every request goes to the next instance, busy or not)"
    )
    add(f"# Mode: {mode_line}; timeout queue {_duration(queue)}.")
    add("")
    add("global")
    add(f"    maxconn {settings.max_clients}")
    if settings.access_log:
        add("    log stderr format raw local0 info")
    add("")
    out.extend(_defaults_section(settings))
    add("frontend crunch")
    add(f"    bind {settings.host}:{settings.port}")
    add(f"    maxconn {settings.max_clients}")
    for group in APP_SERVICES:
        if group in groups:
            add(f"    acl route_{group} path /{group} or path_beg /{group}/")
            add(f"    use_backend {group} if route_{group}")
    add("    default_backend web")
    out.extend(_retry_after_lines(settings))
    for group, members in groups.items():
        add("")
        add(f"backend {group}")
        out.extend(_backend_head(settings))
        for i in members:
            limit = settings.maxconn(i)
            add(f"    server {i.name} {i.address}" + (f" maxconn {limit}" if limit else ""))
    out.extend(_stats_section(settings))
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------
# In a Kubernetes cluster: HAProxy as a Deployment of its own (the Helm chart's
# `balancer`, k8s/overlays/haproxy-balancer) finds each microservice's pods through a
# headless Service and the cluster DNS, one server slot per possible pod.


@dataclass(frozen=True)
class KubeBackend:
    """One microservice behind the in-cluster balancer.

    ``fqdn``: its headless Service (one DNS A record per Ready pod); ``slots``: server
    slots HAProxy keeps for its pods (at least the most pods it can have); ``workers``:
    each pod's workers.
    """

    name: str
    path: str
    fqdn: str
    port: int
    workers: int
    slots: int

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise BalancerConfigError(f"service name {self.name!r}: use letters, digits, _.-")
        if not self.path.startswith("/"):
            raise BalancerConfigError(f"service {self.name}: path must start with /")
        if not _HOST.fullmatch(self.fqdn):
            raise BalancerConfigError(f"service {self.name}: not a host: {self.fqdn!r}")
        if not 1 <= self.port <= 65535 or not 1 <= self.workers <= 512 or self.slots < 1:
            raise BalancerConfigError(f"service {self.name}: port, workers or slots out of range")


def kube_maxconn(workers: int, balancer_replicas: int, queue_slack: int = 0) -> int:
    """Requests one balancer replica sends a pod at once: its workers divided by the
    balancer replicas (each counts on its own), at least 1, plus any slack."""
    return max(1, workers // max(1, balancer_replicas)) + queue_slack


def render_kubernetes(
    services: Sequence[KubeBackend],
    settings: BalancerSettings | None = None,
    *,
    replicas: int = 1,
) -> str:
    """HAProxy's configuration for the in-cluster balancer. Pure: no I/O.

    Same defaults, checks and error answers as ``render``; servers come from
    ``server-template`` over each headless Service, resolved through the pod's own
    nameserver (``parse-resolv-conf``). Routes: a request goes to the first service
    (in the given order) whose path is a prefix of its path, else to the ``/`` one.
    The balancer pod's init container renders it (``crunch haproxy-config
    --kube-service ...``) from the arguments the chart or the kustomize overlay gives.
    """
    settings = settings or BalancerSettings(host="0.0.0.0", port=8080)
    if not services:
        raise BalancerConfigError("no services to balance")
    if replicas < 1:
        raise BalancerConfigError("balancer replicas must be >= 1")
    names = [s.name for s in services]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate:
        raise BalancerConfigError(f"service name {duplicate!r} used twice")
    busy = settings.mode == "busy"
    out: list[str] = []
    add = out.append
    add("# crunch-balancer: HAProxy in front of each microservice's pods, found through")
    add("# their headless Service. Rendered at pod start by `crunch haproxy-config")
    add("# --kube-service ...` (the balancer's init container). Services (name path")
    add("# address workers slots):")
    for s in services:
        add(f"#   {s.name} {s.path} {s.fqdn}:{s.port} workers={s.workers} slots={s.slots}")
    add(
        f"# Busy-aware: leastconn, maxconn per pod = workers / {replicas} balancer replicas"
        f" (at least 1) + {settings.queue_slack}; timeout queue {_duration(settings.queue_wait)}."
    )
    add("")
    add("global")
    add(f"    maxconn {settings.max_clients}")
    if settings.access_log:
        add("    log stdout format raw local0 info")
    add("")
    add("resolvers dns")
    add("    parse-resolv-conf")
    add("    accepted_payload_size 8192")
    add("    resolve_retries 3")
    add("    timeout resolve 1s")
    add("    timeout retry 1s")
    add("    hold valid 2s")
    add("    hold other 2s")
    add("    hold refused 2s")
    add("    hold nx 2s")
    add("    hold timeout 2s")
    add("    hold obsolete 0s")
    add("")
    out.extend(_defaults_section(settings))
    add("frontend crunch")
    add(f"    bind {settings.host}:{settings.port}")
    add(f"    maxconn {settings.max_clients}")
    root = None
    for s in services:
        if s.path == "/":
            root = root or s.name
            continue
        prefix = s.path.rstrip("/")
        add(f"    acl route_{s.name} path {prefix} or path_beg {prefix}/")
        add(f"    use_backend {s.name} if route_{s.name}")
    if root:
        add(f"    default_backend {root}")
    else:
        add(
            "    http-request return status 404 content-type application/json "
            'string \'{"error": "not found"}\''
        )
    out.extend(_retry_after_lines(settings))
    for s in services:
        add("")
        add(f"backend {s.name}")
        out.extend(_backend_head(settings))
        limit = (
            f" maxconn {kube_maxconn(s.workers, replicas, settings.queue_slack)}" if busy else ""
        )
        add(
            f"    server-template {s.name} {s.slots} {s.fqdn}:{s.port} resolvers dns"
            f" init-addr none{limit}"
        )
    out.extend(_stats_section(settings, health=True))
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------
# The local cluster's layout, shared by `make cluster` and the command line below.

LAYOUTS: Final = ("seed", "all")


def local_instances(
    count: int = 2,
    *,
    workers: int = 1,
    host: str = "127.0.0.1",
    base_port: int = 8082,
    layout: str = "seed",
) -> list[Instance]:
    """The seed's cluster: ``seed`` alternates hello and world instances (8082 hello, 8083
    world), every one also serving web; ``all`` makes every instance serve everything."""
    if layout not in LAYOUTS:
        raise BalancerConfigError(f"layout must be one of {', '.join(LAYOUTS)}: {layout!r}")
    if not 1 <= count <= 64:
        raise BalancerConfigError(f"instances must be 1..64, got {count}")
    if count == 1 or layout == "all":
        return [
            Instance(f"crunch-{n + 1}", host, base_port + n, workers, ROUTE_GROUPS)
            for n in range(count)
        ]
    out = []
    for n in range(count):
        service = APP_SERVICES[n % 2]
        name = f"{service}-{n // 2 + 1}"
        out.append(Instance(name, host, base_port + n, workers, (service, "web")))
    return out


def default_workers(count: int, environ: Mapping[str, str] | None = None) -> int:
    """Workers per instance: ``CRUNCH_WORKERS`` when set, else the CPUs split evenly."""
    env = os.environ if environ is None else environ
    from app.config import Settings  # the pods' own parsing and validation

    settings = Settings.load(env)
    if env.get("CRUNCH_WORKERS"):
        return settings.workers
    return max(1, settings.workers // max(1, count))


def parse_instance(spec: str) -> Instance:
    """``NAME=HOST:PORT/WORKERS[/SERVICES]``, SERVICES ``+``-joined or ``all``.

    Example: ``hello-1=127.0.0.1:8082/2/hello+web``.
    """
    match = re.fullmatch(r"([^=]+)=(.+):(\d+)/(\d+)(?:/([a-z+]+))?", spec.strip())
    if not match:
        raise BalancerConfigError(f"instance {spec!r}: expected NAME=HOST:PORT/WORKERS[/SERVICES]")
    name, host, port, workers, services = match.groups()
    groups = ROUTE_GROUPS if services in (None, "all") else tuple(services.split("+"))
    return Instance(name, host, int(port), int(workers), groups)


def parse_kube_backend(spec: str) -> KubeBackend:
    """``NAME=PATH@HOST:PORT/WORKERS/SLOTS``: one microservice behind the in-cluster
    balancer (its headless Service's name, each pod's workers, server slots).

    Example: ``hello=/hello@crunch-hello-pods.crunch.svc.cluster.local:8080/2/10``.
    """
    match = re.fullmatch(r"([^=]+)=(/[^@]*)@(.+):(\d+)/(\d+)/(\d+)", spec.strip())
    if not match:
        raise BalancerConfigError(f"service {spec!r}: expected NAME=PATH@HOST:PORT/WORKERS/SLOTS")
    name, path, fqdn, port, workers, slots = match.groups()
    return KubeBackend(name, path, fqdn, int(port), int(workers), int(slots))


def instances_from_json(data: Any) -> list[Instance]:
    """A JSON list of ``{"name", "host", "port", "workers", "services"}`` objects."""
    if not isinstance(data, list):
        raise BalancerConfigError("instances JSON must be a list of objects")
    out = []
    for item in data:
        if not isinstance(item, dict):
            raise BalancerConfigError("instances JSON must be a list of objects")
        try:
            services = item.get("services", list(ROUTE_GROUPS))
            out.append(
                Instance(
                    name=str(item["name"]),
                    host=str(item.get("host", "127.0.0.1")),
                    port=int(item["port"]),
                    workers=int(item["workers"]),
                    services=tuple(str(s) for s in services),
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, BalancerConfigError):
                raise
            raise BalancerConfigError(f"instance {item!r}: {exc!r}") from None
    return out


BALANCER_SETTINGS: Final[tuple[Setting, ...]] = declared(BalancerSettings, ENV_PREFIX)


@dataclass(frozen=True)
class LocalLayout:
    """The local cluster's shape (``make cluster``, and ``crunch haproxy-config`` without
    instances), declared like every setting: ``--<name>``, ``CRUNCH_LB_<NAME>``."""

    count: int = setting("2", int_in(1, 64), "crunch instances", env="instances")
    base_port: int = setting(
        "8082", int_in(1, 65535), "port of the first instance; the others follow"
    )
    layout: str = setting(
        "seed",
        one_of(*LAYOUTS),
        "seed: /hello and /world on separate instances; all: every instance serves all",
    )


LAYOUT_SETTINGS: Final[tuple[Setting, ...]] = declared(LocalLayout, ENV_PREFIX)


def add_local_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of the local cluster and of its balancer, shared by ``make cluster`` and
    ``crunch haproxy-config``; each defaults to its ``CRUNCH_LB_<NAME>``."""
    local = parser.add_argument_group("local cluster (each flag defaults to CRUNCH_LB_<NAME>)")
    add_flags(local, LAYOUT_SETTINGS)
    local.add_argument(
        "--workers", type=int, help="per instance (default: CRUNCH_WORKERS, else CPUs / count)"
    )
    add_flags(
        parser.add_argument_group("balancer (each flag defaults to CRUNCH_LB_<NAME>)"),
        BALANCER_SETTINGS,
    )


def local_layout(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> LocalLayout:
    env = os.environ if environ is None else environ
    overrides = {s.name: getattr(args, s.name) for s in LAYOUT_SETTINGS}
    return LocalLayout(**load_values(LAYOUT_SETTINGS, env, overrides))


def settings_from_args(
    args: argparse.Namespace,
    task_timeout: float,
    *,
    local: bool = False,
    environ: Mapping[str, str] | None = None,
) -> BalancerSettings:
    """The balancer's settings: flags, else ``CRUNCH_LB_*``, else the declared defaults;
    for the local cluster (``local``) the stats page is on at LOCAL_STATS_PORT unless set."""
    env = os.environ if environ is None else environ
    overrides = {s.name: getattr(args, s.name) for s in BALANCER_SETTINGS}
    if local and overrides["stats_port"] is None and ENV_PREFIX + "STATS_PORT" not in env:
        overrides["stats_port"] = str(LOCAL_STATS_PORT)
    values = load_values(BALANCER_SETTINGS, env, overrides)
    return BalancerSettings(task_timeout=task_timeout, **values)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crunch haproxy-config",
        description=(
            "Print the HAProxy configuration for crunch instances. Without --instance or "
            "--instances: the local cluster `make cluster` starts, sized from CRUNCH_* "
            "(CRUNCH_WORKERS, CRUNCH_TASK_TIMEOUT) like the pods."
        ),
    )
    parser.add_argument(
        "--instance",
        action="append",
        default=[],
        metavar="NAME=HOST:PORT/WORKERS[/SERVICES]",
        help="one instance (repeatable); SERVICES: hello, world, web joined by + (default all)",
    )
    parser.add_argument(
        "--instances", metavar="FILE", help="JSON list of instances ('-' for stdin)"
    )
    parser.add_argument("--task-timeout", type=float, help="default: CRUNCH_TASK_TIMEOUT")
    kube = parser.add_argument_group(
        "in-cluster balancer (the chart's and k8s/overlays/haproxy-balancer's init container)"
    )
    kube.add_argument(
        "--kube-service",
        action="append",
        default=[],
        metavar="NAME=PATH@HOST:PORT/WORKERS/SLOTS",
        help="one microservice's headless Service (repeatable); renders the in-cluster config",
    )
    kube.add_argument(
        "--balancer-replicas",
        type=int,
        default=1,
        help="balancer pods: each sends a pod at most its workers divided by this",
    )
    parser.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    add_local_arguments(parser)
    return parser


def _instances(args: argparse.Namespace) -> list[Instance]:
    if args.instances:
        raw = sys.stdin.read() if args.instances == "-" else Path(args.instances).read_text()
        return instances_from_json(json.loads(raw))
    if args.instance:
        return [parse_instance(spec) for spec in args.instance]
    shape = local_layout(args)
    workers = args.workers or default_workers(shape.count)
    return local_instances(
        shape.count, workers=workers, base_port=shape.base_port, layout=shape.layout
    )


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        from app.config import Settings

        task_timeout = args.task_timeout or Settings.load().task_timeout
        local = not (args.instance or args.instances or args.kube_service)
        settings = settings_from_args(args, task_timeout, local=local)
        if args.kube_service:
            services = [parse_kube_backend(spec) for spec in args.kube_service]
            text = render_kubernetes(services, settings, replicas=args.balancer_replicas)
        else:
            text = render(_instances(args), settings)
    except (ConfigError, OSError, json.JSONDecodeError) as exc:
        print(f"crunch haproxy-config: {exc}", file=sys.stderr)
        return 2
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
