"""Tasks: what the worker pool runs. Register your own with ``@task``."""

from __future__ import annotations

from app.tasks.binary import Binary
from app.tasks.registry import REQUIRED, Param, Registry, TaskSpec, load_modules, registry, task

__all__ = [
    "REQUIRED",
    "Binary",
    "Param",
    "Registry",
    "TaskSpec",
    "load_modules",
    "registry",
    "task",
]

# Importing the package registers the built-in tasks.
from app.tasks import builtin as _builtin  # noqa: F401
