"""crunch: serve CPU-heavy Python work over HTTP without blocking the event loop."""

from __future__ import annotations

__version__ = "0.1.0"
