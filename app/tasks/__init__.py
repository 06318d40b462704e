"""Tasks: what the worker pool runs. Register your own with ``@task``."""

from __future__ import annotations

from app.tasks.registry import REQUIRED, Param, Registry, Task, load_modules, registry, task
from app.tasks.results import Binary, Rejected

__all__ = [
    "REQUIRED",
    "Binary",
    "Param",
    "Registry",
    "Rejected",
    "Task",
    "load_modules",
    "registry",
    "task",
]

# Importing the package registers the built-in tasks.
from app.tasks import builtin as _builtin  # noqa: F401
