"""The pool: a shared queue, idle workers, deadlines, and the id → caller map.

A task goes to a worker only when that worker is idle; everything else waits in one
shared queue (``queue.py``), so nothing queues behind a particular busy worker. Each
task carries an id; the worker answers with it and the pool resolves the awaiting
caller's future (the seed's resolver map). A watchdog enforces deadlines: a task
still queued at its deadline gets 503, one still running gets 504 and its worker is
killed and replaced. A worker that dies fails only the task it was running.

One exception to "only idle workers": a worker running a tiny task may be sent the next
tiny task ahead of time. The worker (``supervisor.WorkerProcess.send_ahead``) keeps
that rule; the pool asks it and counts such tasks as queued until they start.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from app.config import Settings
from app.errors import (
    Draining,
    InvalidInput,
    Overloaded,
    QueueTimeout,
    TaskFailed,
    TaskTimeout,
    UnknownTask,
    WorkerCrashed,
)
from app.pool.protocol import ERROR, FATAL, READY, REJECTED
from app.pool.queue import CostQueue, cost_class
from app.pool.supervisor import State, WorkerProcess
from app.tasks.registry import COST_CLASSES, Registry, Task

log = logging.getLogger("crunch.pool")

# Weight of the newest sample in the running averages of task run time.
EWMA_ALPHA = 0.2
# A worker that dies before it is ready is restarted after this pause, so a broken
# task module cannot make the pool fork in a tight loop.
RESTART_BACKOFF_S = 1.0


@dataclass(slots=True, frozen=True)
class TaskResult:
    task_id: int
    task: str
    value: Any
    worker: int
    queue_s: float
    run_s: float


@dataclass(slots=True, eq=False)
class Job:
    id: int
    name: str
    params: dict[str, Any]
    future: asyncio.Future[TaskResult]
    enqueued_at: float
    deadline: float
    cost_class: int
    cost: float
    started_at: float = 0.0
    worker: WorkerProcess | None = None


class PoolObserver(Protocol):
    """What the pool reports as it works (metrics implement it)."""

    def task_finished(self, task: str, queue_s: float, run_s: float) -> None: ...

    def worker_restarted(self, reason: str) -> None: ...


class _NullObserver:
    def task_finished(self, task: str, queue_s: float, run_s: float) -> None:
        pass

    def worker_restarted(self, reason: str) -> None:
        pass


class Pool:
    """A supervised pool of ``settings.workers`` worker processes."""

    def __init__(
        self,
        settings: Settings,
        registry: Registry | None = None,
        observer: PoolObserver | None = None,
    ) -> None:
        if registry is None:
            from app.tasks import registry as default_registry

            registry = default_registry
        self.settings = settings
        self.size = settings.workers
        self.queue_limit = settings.queue_limit
        self.timeout = settings.task_timeout
        self.specs: Mapping[str, Task] = registry.bind(settings)
        self.observer: PoolObserver = observer or _NullObserver()
        self._queue: CostQueue[Job] = CostQueue(settings.aging)
        self._workers: dict[int, WorkerProcess] = {}
        self._idle: list[WorkerProcess] = []
        self._dying: set[WorkerProcess] = set()  # exited or killed, not yet reaped
        self._pending: dict[int, Job] = {}  # task id → job sent to a worker: the resolver map
        self._prefetched = 0  # of those, tiny tasks sent ahead that have not started
        self._task_ids = itertools.count(1)
        self._worker_ids = itertools.count(1)
        self._rate: dict[str, float] = {}  # seconds per unit of estimated cost, per task
        self._mean_run_s = 0.05
        self._closing = False
        self._watchdog: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = asyncio.Event()
        self._env = self._worker_env()

    # -- state, read by metrics and admission -------------------------------------------

    @property
    def busy(self) -> int:
        return len(self._pending) - self._prefetched

    @property
    def queued(self) -> int:
        return len(self._queue) + self._prefetched

    @property
    def live_workers(self) -> int:
        return sum(1 for w in self._workers.values() if w.state in (State.IDLE, State.BUSY))

    @property
    def saturation(self) -> float:
        return (len(self._pending) + len(self._queue)) / self.size

    def retry_after(self) -> float:
        """Seconds until the queue ahead of a new task would likely have drained."""
        return (len(self._queue) / self.size + 1.0) * self._mean_run_s

    # -- lifecycle -------------------------------------------------------------------

    async def start(self, timeout: float = 60.0) -> None:
        self._loop = asyncio.get_running_loop()
        for _ in range(self.size):
            self._spawn()
        self._watchdog = asyncio.create_task(self._watch(), name="crunch-pool-watchdog")
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
        except TimeoutError:
            await self.close()
            raise RuntimeError(f"worker pool did not start within {timeout:g} s") from None
        if self._closing:
            raise RuntimeError("worker pool failed to start (a worker exited at start)")

    async def close(self, timeout: float = 5.0) -> None:
        """Stop: fail what is queued, let workers exit, kill those that do not."""
        self._closing = True
        self._ready.set()
        while (job := self._queue.pop()) is not None:
            _fail(job, Draining("the server is shutting down"))
        if self._watchdog is not None:
            self._watchdog.cancel()
        loop = asyncio.get_running_loop()
        for worker in list(self._workers.values()):
            worker.retire()
        end = loop.time() + timeout
        everyone = [*self._workers.values(), *self._dying]
        while any(not w.reaped() for w in everyone) and loop.time() < end:
            await asyncio.sleep(0.01)
        for worker in everyone:
            if not worker.reaped():
                worker.kill("shutdown")
                await asyncio.to_thread(worker.proc.wait)
            self._forget(worker)
        self._dying.clear()
        for job in list(self._pending.values()):
            _fail(job, Draining("the server shut down before the task finished"))
        self._pending.clear()

    def abort(self, error: Exception) -> None:
        """Stop now: fail every queued and running task with ``error`` and kill the
        workers running them, so their callers answer at once (a second signal)."""
        self._closing = True
        while (job := self._queue.pop()) is not None:
            _fail(job, error)
        for job in list(self._pending.values()):
            _fail(job, error)
        for worker in list(self._workers.values()):
            if worker.job is not None:
                worker.kill("shutdown")

    # -- submitting ------------------------------------------------------------------

    async def submit(
        self, name: str, params: dict[str, Any], timeout: float | None = None
    ) -> TaskResult:
        """Run task ``name`` with validated ``params`` on an idle worker; await its result."""
        if self._closing:
            raise Draining("the server is shutting down")
        spec = self.specs.get(name)
        if spec is None:
            raise UnknownTask(f"unknown task {name!r}")
        loop = self._loop or asyncio.get_running_loop()
        now = loop.time()
        cost = spec.cost(params) if spec.cost is not None else 1.0
        rate = self._rate.get(name)
        options = spec.options
        if timeout is None:
            timeout = options.timeout if options.timeout is not None else self.timeout
        job = Job(
            next(self._task_ids),
            name,
            params,
            loop.create_future(),
            now,
            now + timeout,
            COST_CLASSES[options.cost_class]
            if options.cost_class is not None
            else cost_class(0.0 if cost == 0 else cost * rate if rate is not None else None),
            cost,
        )
        if self._idle and not self._queue:
            self._run(self._idle.pop(), job)
        elif room(self) < 1:
            raise overloaded(self)
        else:
            self._queue.push(job)
        try:
            return await job.future
        except asyncio.CancelledError:
            # The caller went away: a queued task is dropped; a running one finishes
            # and its result is discarded (killing the worker would cost more).
            if job.worker is None:
                self._queue.remove(job)
            raise

    def _run(self, worker: WorkerProcess, job: Job) -> None:
        loop = self._loop
        assert loop is not None
        job.worker = worker
        job.started_at = loop.time()
        worker.job = job
        worker.state = State.BUSY
        self._pending[job.id] = job
        try:
            worker.send_job(job)
        except OSError:
            # The worker died and we have not read its end of file yet: try the next one.
            self._pending.pop(job.id, None)
            worker.job = None
            job.worker = None
            worker.state = State.RETIRING
            worker.kill("crash")
            self._queue.push(job)
            if self._idle:
                self._next(self._idle.pop())
            return
        if self._queue:
            self._send_ahead(worker)

    def _send_ahead(self, worker: WorkerProcess) -> None:
        """Send a queued tiny task ahead, if the worker may take one (it decides)."""
        job = worker.send_ahead(self._queue, self.settings.max_tasks_per_worker)
        if job is not None:
            self._pending[job.id] = job
            self._prefetched += 1

    def _next(self, worker: WorkerProcess) -> None:
        """Give an idle worker the next queued task, or park it."""
        while (job := self._queue.pop()) is not None:
            if not job.future.done():
                self._run(worker, job)
                return
        worker.state = State.IDLE
        self._idle.append(worker)

    # -- results ---------------------------------------------------------------------

    def _on_readable(self, worker: WorkerProcess) -> None:
        try:
            messages = worker.reader.read(worker.from_fd)
        except BlockingIOError:
            return
        except OSError:
            messages = None
        if messages is None:
            self._on_exit(worker)
            return
        loop = self._loop
        assert loop is not None
        for kind, task_id, value, run_ns in messages:
            if kind == READY:
                self._on_ready(worker)
                continue
            job = self._pending.pop(task_id, None)
            started = worker.answered(task_id)
            if started is not None:  # the task sent ahead starts now
                started.started_at = loop.time()
                self._prefetched -= 1
            if job is None:  # its deadline passed already; the answer has no taker
                if worker.state is State.RETIRING and worker.unstart():
                    self._prefetched += 1
                continue
            run_s = run_ns / 1e9
            queue_s = job.started_at - job.enqueued_at
            self._learn(job, run_s)
            if kind == FATAL:
                _fail(job, WorkerCrashed(f"task {job.name!r} broke its worker: {value}"))
                worker.state = State.RETIRING
                if worker.unstart():
                    self._prefetched += 1
                continue
            if kind == ERROR:
                _fail(job, TaskFailed(f"task {job.name!r} failed: {value}"))
            elif kind == REJECTED:
                _fail(job, InvalidInput(f"task {job.name!r} rejected its input: {value}"))
            elif not job.future.done():
                job.future.set_result(
                    TaskResult(job.id, job.name, value, worker.id, queue_s, run_s)
                )
            self.observer.task_finished(job.name, queue_s, run_s)
            limit = self.settings.max_tasks_per_worker
            if limit and worker.tasks_done >= limit:
                worker.exit_reason = "recycle"
                worker.retire()
            elif worker.state is State.BUSY:
                if worker.job is None:
                    self._next(worker)
                elif self._queue:
                    self._send_ahead(worker)

    def _on_ready(self, worker: WorkerProcess) -> None:
        if worker.state is not State.STARTING:
            return
        self._next(worker)
        if self.live_workers >= self.size:
            self._ready.set()

    def _learn(self, job: Job, run_s: float) -> None:
        self._mean_run_s += EWMA_ALPHA * (run_s - self._mean_run_s)
        if job.cost > 0:
            sample = run_s / job.cost
            old = self._rate.get(job.name)
            self._rate[job.name] = sample if old is None else old + EWMA_ALPHA * (sample - old)

    # -- supervision -----------------------------------------------------------------

    def _spawn(self) -> None:
        loop = self._loop
        assert loop is not None
        worker = WorkerProcess(next(self._worker_ids), self._env)
        self._workers[worker.id] = worker
        loop.add_reader(worker.from_fd, self._on_readable, worker)

    def _on_exit(self, worker: WorkerProcess) -> None:
        was_starting = worker.state is State.STARTING
        reason = worker.exit_reason
        if worker in self._idle:
            self._idle.remove(worker)
        job = worker.job
        if job is not None:
            self._pending.pop(job.id, None)
            _fail(job, WorkerCrashed(f"the worker running task {job.name!r} died"))
        worker.job = None
        ahead = worker.take_back()
        if ahead is not None:
            # Sent ahead but never started (results arrive in order): it keeps its place.
            self._pending.pop(ahead.id, None)
            self._prefetched -= 1
            if not ahead.future.done():
                self._queue.push_front(ahead)
                if self._idle:
                    self._next(self._idle.pop())
        worker.state = State.DEAD
        self._forget(worker)
        self._reap_later(worker, 0)
        if self._closing:
            return
        self.observer.worker_restarted(reason)
        if was_starting:
            log.error("worker %d exited before it was ready; restarting in %gs", worker.id, 1.0)
            if not self._ready.is_set():
                # A worker that cannot start at all (a broken task module): fail start().
                self._closing = True
                self._ready.set()
                return
            assert self._loop is not None
            self._loop.call_later(RESTART_BACKOFF_S, self._respawn)
        else:
            if reason == "crash":
                log.warning("worker %d (pid %d) died; replacing it", worker.id, worker.pid)
            self._respawn()

    def _respawn(self) -> None:
        if not self._closing:
            self._spawn()

    def _forget(self, worker: WorkerProcess) -> None:
        if self._loop is not None and worker.from_fd >= 0:
            self._loop.remove_reader(worker.from_fd)
        worker.close()
        self._workers.pop(worker.id, None)

    def _reap_later(self, worker: WorkerProcess, attempt: int) -> None:
        if worker.reaped() or self._loop is None:
            self._dying.discard(worker)
            return
        self._dying.add(worker)
        if attempt == 20:
            worker.kill(worker.exit_reason)
        self._loop.call_later(0.05, self._reap_later, worker, attempt + 1)

    async def _watch(self) -> None:
        """Enforce deadlines; coarse ticks cost less than a timer per task."""
        loop = asyncio.get_running_loop()
        shortest = min(
            [self.timeout, *(s.options.timeout for s in self.specs.values() if s.options.timeout)]
        )
        tick = max(0.005, min(0.05, shortest / 10))
        while True:
            await asyncio.sleep(tick)
            now = loop.time()
            expired = [
                j
                for j in self._pending.values()
                if j.deadline <= now and (j.worker is None or not j.worker.is_ahead(j))
            ]
            for job in expired:
                self._pending.pop(job.id, None)
                worker = job.worker
                _fail(
                    job,
                    TaskTimeout(
                        f"task {job.name!r} ran past its {job.deadline - job.enqueued_at:g} s"
                        " deadline; its worker was replaced"
                    ),
                )
                if worker is not None and worker.state is not State.DEAD:
                    worker.job = None
                    worker.state = State.RETIRING
                    worker.kill("timeout")
            if self._queue:
                for job in [j for j in self._queue if j.deadline <= now]:
                    self._queue.remove(job)
                    _fail(
                        job,
                        QueueTimeout(
                            "no worker became free before the task's deadline",
                            retry_after=self.retry_after(),
                        ),
                    )

    def _worker_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["CRUNCH_TASK_MODULES"] = ",".join(self.settings.task_modules)
        env["CRUNCH_WORKER_NICE"] = str(self.settings.worker_nice)
        # Workers must import exactly what the server imports (user task modules too);
        # they start isolated, so the path travels in a variable of crunch's own.
        env["CRUNCH_WORKER_PATH"] = json.dumps([p or os.getcwd() for p in sys.path])
        return env


def room(pool: Pool) -> int:
    """How many new tasks could start or queue now: idle workers + free queue places.

    The one measure of "overloaded", for single tasks, batches and held connections.
    Tiny tasks sent ahead to a busy worker take a queue place: they wait like the rest.
    """
    return max(0, pool.size - pool.busy) + pool.queue_limit - pool.queued


def overloaded(pool: Pool, tasks: int = 1) -> Overloaded:
    """The refusal of ``tasks`` that do not fit in ``pool``, with when to come back."""
    return Overloaded(
        f"{tasks} task(s) do not fit: {pool.busy} of {pool.size} workers busy, "
        f"{pool.queued} of {pool.queue_limit} queue places taken",
        retry_after=pool.retry_after(),
    )


def _fail(job: Job, error: Exception) -> None:
    if not job.future.done():
        job.future.set_exception(error)
