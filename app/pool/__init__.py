"""The supervised worker pool: tasks run here, never on the event loop."""

from __future__ import annotations

from app.pool.pool import Pool, PoolObserver, TaskResult

__all__ = ["Pool", "PoolObserver", "TaskResult"]
