"""One worker process as the server sees it: its pipes, its state, how to start and stop it.

It also keeps the one exception to "a task goes only to an idle worker": a worker running
a tiny task (cost class 0, estimated under 5 ms) may be sent the next tiny task ahead of
time, so it does not sit idle for a round trip through the event loop between two tasks
of a few microseconds. Nothing else is ever sent ahead, so no task can wait behind a
bigger one this way. The worker answers in order, so the task sent ahead starts when the
one before it answers. The pool asks ``send_ahead`` whether (and what) to send, and tells
the worker what happened (``answered``, ``unstart``, ``take_back``).
"""

from __future__ import annotations

import contextlib
import enum
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING

from app.pool.protocol import FrameReader, encode_parts, out_of_band, widen, write_all
from app.pool.queue import TINY

if TYPE_CHECKING:
    from app.pool.pool import Job
    from app.pool.queue import CostQueue

# The directory holding crunch's own ``app`` package (site-packages once installed).
PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# A worker runs isolated (-I: neither the working directory nor PYTHONPATH nor the user
# site is on its path) and imports crunch's worker from PACKAGE_ROOT first, so a user's
# directory with its own ``app/`` package can never stand in for crunch's. Only then does
# the worker take the server's sys.path (``worker.main``) to import the user's task modules.
BOOTSTRAP = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from app.pool.worker import main; sys.exit(main(sys.argv[1:]))"
)


def interpreter_flags(env: Mapping[str, str]) -> list[str]:
    """-I, plus the flags of the PYTHON* variables -I makes the worker ignore that matter
    in a container: no bytecode writes (read-only root), unbuffered output (logs)."""
    flags = ["-I"]
    if sys.dont_write_bytecode or env.get("PYTHONDONTWRITEBYTECODE"):
        flags.append("-B")
    if env.get("PYTHONUNBUFFERED"):
        flags.append("-u")
    return flags


class State(enum.Enum):
    STARTING = "starting"
    IDLE = "idle"
    BUSY = "busy"
    RETIRING = "retiring"
    DEAD = "dead"


class WorkerProcess:
    """A worker started with exec (never a fork of the threaded server) and two pipes."""

    __slots__ = (
        "exit_reason",
        "from_fd",
        "id",
        "job",
        "next_job",
        "proc",
        "reader",
        "state",
        "tasks_done",
        "to_fd",
    )

    def __init__(self, worker_id: int, env: Mapping[str, str]) -> None:
        self.id = worker_id
        # Two pipes: tasks go down one, results come up the other.
        child_in, self.to_fd = os.pipe2(os.O_CLOEXEC)
        self.from_fd, child_out = os.pipe2(os.O_CLOEXEC)
        for fd in (self.to_fd, self.from_fd):
            widen(fd)
        try:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    *interpreter_flags(env),
                    "-c",
                    BOOTSTRAP,
                    PACKAGE_ROOT,
                    *map(str, (child_in, child_out)),
                ],
                pass_fds=(child_in, child_out),
                stdin=subprocess.DEVNULL,
                env=dict(env),
            )
        except BaseException:
            for fd in (child_in, child_out, self.to_fd, self.from_fd):
                os.close(fd)
            raise
        os.close(child_in)
        os.close(child_out)
        os.set_blocking(self.from_fd, False)
        self.reader = FrameReader()
        self.state = State.STARTING
        self.job: Job | None = None
        self.next_job: Job | None = None  # a tiny task sent ahead (see send_ahead)
        self.tasks_done = 0
        self.exit_reason = "crash"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def send_job(self, job: Job) -> None:
        """Write ``job``'s task frame (OSError: the worker is gone)."""
        write_all(self.to_fd, encode_parts((job.id, job.name, out_of_band(job.params))))

    # -- tiny tasks sent ahead ---------------------------------------------------------

    def send_ahead(self, queue: CostQueue[Job], max_tasks: int) -> Job | None:
        """Send the next tiny task of ``queue`` ahead if this worker may take one now.

        It may while it runs a tiny task, has none ahead yet, and will not be recycled
        after the task it runs (``max_tasks``; 0: never recycled). Returns the task sent.
        """
        running = self.job
        if (
            running is None
            or running.cost_class != TINY
            or self.next_job is not None
            or (max_tasks and self.tasks_done + 1 >= max_tasks)
        ):
            return None
        while (job := queue.pop_if_class(TINY)) is not None:
            if job.future.done():
                continue
            try:
                self.send_job(job)
            except OSError:
                queue.push_front(job)  # the worker is dying; the pool replaces it
                return None
            job.worker = self
            self.next_job = job
            return job
        return None

    def answered(self, task_id: int) -> Job | None:
        """The worker answered ``task_id``: the task sent ahead, if any, starts now."""
        self.tasks_done += 1
        ahead = self.next_job
        if ahead is not None and ahead.id != task_id:
            self.next_job = None
            self.job = ahead
            return ahead
        self.job = None
        return None

    def unstart(self) -> bool:
        """The worker is dying and will not run the task just started from ahead: it is
        ahead again (True), so ``take_back`` puts it back in line."""
        promoted = self.job
        if promoted is not None and self.next_job is None:
            self.job, self.next_job = None, promoted
            return True
        return False

    def take_back(self) -> Job | None:
        """The worker is gone: the task sent ahead, which it never started, if any."""
        ahead = self.next_job
        if ahead is not None:
            self.next_job = None
            ahead.worker = None
        return ahead

    def is_ahead(self, job: Job) -> bool:
        """``job`` was sent ahead and has not started (its deadline waits until it does)."""
        return self.next_job is job

    def retire(self) -> None:
        """Ask the worker to exit once idle: closing its input pipe is the signal."""
        self.state = State.RETIRING
        self._close_fd("to_fd")

    def kill(self, reason: str) -> None:
        self.exit_reason = reason
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGKILL)

    def close(self) -> None:
        self._close_fd("to_fd")
        self._close_fd("from_fd")

    def _close_fd(self, attr: str) -> None:
        fd = getattr(self, attr)
        if fd >= 0:
            setattr(self, attr, -1)
            os.close(fd)

    def reaped(self) -> bool:
        return self.proc.poll() is not None
