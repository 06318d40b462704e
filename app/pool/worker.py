"""The worker process: read a task frame, run it, write the result frame, repeat.

Started by the supervisor (exec, never a fork of the threaded server) as an isolated
interpreter that imports this module from crunch's own package root (see
``supervisor.BOOTSTRAP``), with ``IN_FD OUT_FD`` as arguments. It imports the same
task modules as the server, lowers its own CPU priority so the server's event loop
wins the CPU, and exits when its input pipe closes.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
import time
from typing import Any

from app.pool.protocol import (
    ERROR,
    FATAL,
    OK,
    READY,
    REJECTED,
    FrameReader,
    encode_parts,
    read_messages,
    write_all,
    write_frame,
)


def _die_with_parent() -> None:
    # PR_SET_PDEATHSIG: if the server is SIGKILLed, do not linger as an orphan burning CPU.
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def serve(in_fd: int, out_fd: int, modules: tuple[str, ...], nice: int) -> int:
    from app.tasks.registry import load_modules, registry
    from app.tasks.results import Rejected

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the server's to handle
    _die_with_parent()
    if nice:
        os.nice(nice)
    load_modules(modules)
    functions = {t.name: t.fn for t in registry}
    write_frame(out_fd, (READY, 0, os.getpid(), 0))
    reader = FrameReader()
    clock = time.perf_counter_ns
    while True:
        messages = read_messages(in_fd, reader)
        if messages is None:
            return 0
        for task_id, name, params in messages:
            started = clock()
            kind: int
            value: Any
            try:
                value = functions[name](**params)
                kind = OK
            except MemoryError:
                # The heap may be in any state now: report, then let the supervisor replace us.
                write_frame(out_fd, (FATAL, task_id, "MemoryError", clock() - started))
                os._exit(70)
            except Rejected as exc:
                kind, value = REJECTED, str(exc)[:2000]
            except Exception as exc:  # a task's own error fails only that task
                kind, value = ERROR, f"{type(exc).__name__}: {exc}"[:2000]
            elapsed = clock() - started
            try:
                frame = encode_parts((kind, task_id, value, elapsed))
            except Exception as exc:  # the result cannot be pickled
                error = f"result not serialisable: {exc}"[:2000]
                frame = encode_parts((ERROR, task_id, error, elapsed))
            write_all(out_fd, frame)


def main(argv: list[str]) -> int:
    in_fd, out_fd = int(argv[1]), int(argv[2])
    # ``app`` is bound to crunch's package by now; the server's path finds the user's modules.
    path = os.environ.get("CRUNCH_WORKER_PATH")
    if path:
        sys.path[:] = json.loads(path)
    modules = tuple(m for m in os.environ.get("CRUNCH_TASK_MODULES", "").split(",") if m.strip())
    nice = int(os.environ.get("CRUNCH_WORKER_NICE", "0"))
    try:
        return serve(in_fd, out_fd, tuple(m.strip() for m in modules), nice)
    except BrokenPipeError:
        return 0  # the server went away


if __name__ == "__main__":
    sys.exit(main(sys.argv))
