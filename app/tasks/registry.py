"""The task registry: ``@task`` turns a plain function into something the pool can run.

A task declares its parameters (typed, bounded) and a cost estimate. The server
validates every request against the declaration before anything reaches a worker;
the worker looks the function up by name in its own copy of the registry.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from app.errors import InvalidParams, UnknownTask

if TYPE_CHECKING:
    from app.config import Settings

Bound = float | Callable[["Settings"], float] | None
# Integers are ASCII digits with an optional minus; numbers are spelled as in JSON.
_INT = re.compile(r"-?[0-9]+")
_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
# The largest integer magnitude a parameter may carry (18 digits), bounds or not.
INT_LIMIT = 10**18 - 1
_EMPTY: Mapping[str, Any] = {}
_TYPES: dict[type, str] = {int: "integer", float: "number", str: "string", bool: "boolean"}


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


@dataclass(frozen=True)
class Param:
    """One parameter of a task. ``minimum``/``maximum`` may read a setting (e.g. a cap).

    The registry holds parameters as declared; ``bind`` returns a copy whose bounds
    are plain numbers, which is what ``parse`` and ``describe`` work on.
    """

    name: str
    type: type = int
    default: Any = REQUIRED
    minimum: Bound = None
    maximum: Bound = None
    max_length: int = 1024
    doc: str = ""

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    @property
    def low(self) -> float | None:
        return _fixed(self.minimum, self.name)

    @property
    def high(self) -> float | None:
        return _fixed(self.maximum, self.name)

    @property
    def json_type(self) -> str:
        return _TYPES[self.type]

    @property
    def accepted(self) -> tuple[float | None, float | None]:
        """The range the server accepts for a number: the declared bounds, and an
        integer never beyond 18 digits. (None, None) for a string or a boolean."""
        if self.type is int:
            low, high = self.low, self.high
            return (-INT_LIMIT if low is None else low, INT_LIMIT if high is None else high)
        if self.type is float:
            return self.low, self.high
        return None, None

    def bind(self, settings: Settings) -> Param:
        """This parameter with its bounds resolved against ``settings``."""
        return replace(
            self, minimum=_resolve(self.minimum, settings), maximum=_resolve(self.maximum, settings)
        )

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.json_type}
        out["required"] = self.required
        if not self.required:
            out["default"] = self.default
        if self.low is not None:
            out["minimum"] = self.low
        if self.high is not None:
            out["maximum"] = self.high
        if self.type is str:
            out["maxLength"] = self.max_length
        if self.doc:
            out["doc"] = self.doc
        return out

    def parse(self, raw: Any, *, from_text: bool) -> Any:
        value = _coerce_text(self, raw) if from_text else _check_type(self, raw)
        if isinstance(value, int | float) and not isinstance(value, bool):
            low, high = self.accepted
            if (low is not None and value < low) or (high is not None and value > high):
                raise InvalidParams(
                    f"{self.name} is out of range: {_bounds(low, high)}, got {value}"
                )
        if isinstance(value, str) and len(value) > self.max_length:
            raise InvalidParams(f"{self.name} is longer than {self.max_length} characters")
        return value


def _resolve(bound: Bound, settings: Settings) -> float | None:
    if bound is None or isinstance(bound, int | float):
        return bound
    return bound(settings)


def _fixed(bound: Bound, name: str) -> float | None:
    if callable(bound):
        # A bound that reads a setting means nothing until the registry is bound.
        raise TypeError(f"parameter {name!r} is not bound to the settings")
    return bound


def _bounds(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f"must be between {low:g} and {high:g}"
    return f"must be >= {low:g}" if low is not None else f"must be <= {high:g}"


def _coerce_text(param: Param, raw: Any) -> Any:
    # Text from a query string: only the plain ASCII spellings, nothing int() or float()
    # would also take (no "+5", no " 5", no "1_000", no "٣", no "nan").
    text = str(raw)
    if param.type is int:
        if not _INT.fullmatch(text):
            raise InvalidParams(f"{param.name} must be an integer, got {text[:40]!r}")
        if len(text.lstrip("-")) > 18:
            raise InvalidParams(f"{param.name} is out of range: {_bounds(-INT_LIMIT, INT_LIMIT)}")
        return int(text)
    if param.type is float:
        if not _NUMBER.fullmatch(text):
            raise InvalidParams(f"{param.name} must be a number, got {text[:40]!r}")
        value = float(text)
        if value in (float("inf"), float("-inf")):
            raise InvalidParams(f"{param.name} is out of range: must be a finite number")
        return value
    if param.type is bool:
        if text in ("true", "false"):
            return text == "true"
        raise InvalidParams(f"{param.name} must be true or false, got {text[:40]!r}")
    return text


def _check_type(param: Param, raw: Any) -> Any:
    # JSON is already typed: be strict (no "5" for 5, no true for 1, no 5.0 for 5).
    ok = isinstance(raw, param.type) and not (param.type is not bool and isinstance(raw, bool))
    if param.type is float and isinstance(raw, int) and not isinstance(raw, bool):
        if abs(raw) > 10**308:
            raise InvalidParams(f"{param.name} is out of range: must be a finite number")
        ok, raw = True, float(raw)
    if not ok:
        raise InvalidParams(f"{param.name} must be of type {_TYPES[param.type]}")
    if param.type is float and (raw != raw or raw in (float("inf"), float("-inf"))):
        raise InvalidParams(f"{param.name} is out of range: must be a finite number")
    return raw


# Names of the pool's queue classes (``pool/queue.py``), for a task that fixes its own.
COST_CLASSES = {"tiny": 0, "small": 1, "medium": 2, "large": 3}


@dataclass(frozen=True)
class Options:
    """What a task may set for itself instead of the pod's defaults."""

    timeout: float | None = None  # its deadline in seconds (else CRUNCH_TASK_TIMEOUT)
    cost_class: str | None = None  # its queue class (else learnt from its run times)
    body: tuple[str, ...] = ()  # content types it takes as the raw body (``bytes``)
    answers: str | None = None  # the content type of its ``Binary`` answers (else JSON)

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.timeout is not None:
            out["timeout_s"] = self.timeout
        if self.cost_class is not None:
            out["cost_class"] = self.cost_class
        if self.body:
            out["body"] = list(self.body)
        if self.answers is not None:
            out["answers"] = self.answers
        return out


@dataclass(frozen=True)
class Task:
    """A registered task: the function, its parameters and how to estimate its cost.

    ``Registry.bind`` gives each task bound to the running configuration: what the
    server validates against.
    """

    name: str
    fn: Callable[..., Any]
    params: tuple[Param, ...]
    cost: Callable[[Mapping[str, Any]], float] | None
    doc: str
    options: Options = Options()
    by_name: Mapping[str, Param] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {p.name: p for p in self.params})

    def bind(self, settings: Settings) -> Task:
        """This task with every parameter's bounds resolved against ``settings``."""
        return replace(self, params=tuple(p.bind(settings) for p in self.params))

    def validate(self, raw: Mapping[str, Any], *, from_text: bool) -> dict[str, Any]:
        """Check parameters that all came as text (a query string) or all as JSON."""
        return self.validate_sources(text=raw) if from_text else self.validate_sources(json=raw)

    def validate_sources(
        self, *, text: Mapping[str, Any] = _EMPTY, json: Mapping[str, Any] = _EMPTY
    ) -> dict[str, Any]:
        """Check parameters from a query string (``text``) and a JSON body together.

        A parameter may come from either, never from both: a silent winner would hide
        a client's mistake.
        """
        for key in json:
            if key in text:
                raise InvalidParams(
                    f"parameter {str(key)[:40]!r} is given in both the query string and the body"
                )
        unknown = [key for key in (*text, *json) if key not in self.by_name]
        if unknown:
            raise InvalidParams(
                f"unknown parameter {str(unknown[0])[:40]!r} for task {self.name!r}"
                f" (expected: {', '.join(self.by_name) or 'none'})"
            )
        out: dict[str, Any] = {}
        for param in self.params:
            if param.name in text:
                out[param.name] = param.parse(text[param.name], from_text=True)
            elif param.name in json:
                out[param.name] = param.parse(json[param.name], from_text=False)
            elif param.required:
                raise InvalidParams(f"missing parameter {param.name!r} for task {self.name!r}")
            else:
                out[param.name] = param.default
        return out

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "doc": self.doc,
            "params": [p.describe() for p in self.params],
            **self.options.describe(),
        }


class Registry:
    """Name → task. One per process; the server and every worker fill theirs the same way."""

    def __init__(self) -> None:
        self._tasks: dict[str, Task] = {}

    def task(
        self,
        *params: Param,
        name: str | None = None,
        cost: Callable[[Mapping[str, Any]], float] | None = None,
        timeout: float | None = None,
        cost_class: str | None = None,
        body: str | tuple[str, ...] = (),
        answers: str | None = None,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Register ``fn`` as a task: ``@task(Param("n", int, maximum=1000), cost=...)``.

        ``timeout`` (seconds) and ``cost_class`` (tiny, small, medium, large) replace the
        pod's deadline and the learnt queue class for this task. ``body`` names the
        content types (``image/*`` matches any image) the task takes as the raw request
        body: it is passed as the ``body`` argument, as bytes. ``answers`` is the content
        type of the ``Binary`` the task returns (what /openapi.json promises).
        """
        types = (body,) if isinstance(body, str) else tuple(body)
        options = Options(timeout, cost_class, types, answers)
        _check_options(options, params)

        def register(fn: Callable[..., Any]) -> Callable[..., Any]:
            task_name = name or fn.__name__
            if not re.fullmatch(r"[a-z][a-z0-9_]{0,63}", task_name):
                raise ValueError(f"task name {task_name!r}: use lowercase letters, digits and _")
            existing = self._tasks.get(task_name)
            if existing is not None and existing.fn is not fn:
                raise ValueError(f"task {task_name!r} is registered twice")
            doc = (fn.__doc__ or "").strip().split("\n")[0]
            self._tasks[task_name] = Task(task_name, fn, tuple(params), cost, doc, options)
            return fn

        return register

    def __contains__(self, name: object) -> bool:
        return name in self._tasks

    def __iter__(self) -> Iterator[Task]:
        return iter(self._tasks.values())

    def bind(self, settings: Settings) -> dict[str, Task]:
        """Every task with its bounds resolved against ``settings``."""
        return {t.name: t.bind(settings) for t in self._tasks.values()}


def _check_options(options: Options, params: tuple[Param, ...]) -> None:
    # A mistake here fails at import, i.e. at start, never at the first request.
    if options.timeout is not None and not 0 < options.timeout <= 86400:
        raise ValueError(f"timeout must be in (0, 86400] seconds, got {options.timeout!r}")
    if options.cost_class is not None and options.cost_class not in COST_CLASSES:
        raise ValueError(f"cost_class must be one of {', '.join(COST_CLASSES)}")
    for media in options.body:
        if not re.fullmatch(r"[a-z0-9.+-]+/([a-z0-9.+-]+|\*)", media):
            raise ValueError(f"body content type {media!r}: use type/subtype or type/*")
    if options.answers is not None and not re.fullmatch(
        r"[a-z0-9.+-]+/[a-z0-9.+-]+", options.answers
    ):
        raise ValueError(f"answers content type {options.answers!r}: use type/subtype")
    if options.body and any(p.name == "body" for p in params):
        raise ValueError("a task that takes the body cannot also have a parameter named body")


registry = Registry()
task = registry.task


def load_modules(modules: tuple[str, ...]) -> None:
    """Import the built-in tasks and the user's task modules (each registers on import)."""
    importlib.import_module("app.tasks.builtin")
    for module in modules:
        importlib.import_module(module)


def lookup(specs: Mapping[str, Task], name: str) -> Task:
    spec = specs.get(name)
    if spec is None:
        shown = name if len(name) <= 40 else name[:40] + "…"
        raise UnknownTask(f"unknown task {shown!r} (known: {', '.join(sorted(specs))})")
    return spec
