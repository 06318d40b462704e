"""One worker process: the rule for sending a tiny task ahead to it, on a real worker."""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import Iterator

import pytest

from app.pool.pool import Job
from app.pool.queue import TINY, CostQueue
from app.pool.supervisor import State, WorkerProcess, interpreter_flags

SMALL, LARGE = TINY + 1, TINY + 3
_ids = itertools.count(1)


@pytest.fixture
def worker() -> Iterator[WorkerProcess]:
    process = WorkerProcess(1, dict(os.environ))
    yield process
    process.kill("shutdown")
    process.proc.wait()
    process.close()


def job(cost_class: int, enqueued_at: float = 0.0) -> Job:
    future = asyncio.get_running_loop().create_future()
    return Job(next(_ids), "noop", {}, future, enqueued_at, 60.0, cost_class, 0.0)


def running(worker: WorkerProcess, cost_class: int) -> Job:
    task = job(cost_class)
    task.worker, worker.job, worker.state = worker, task, State.BUSY
    return task


def queue_of(*jobs: Job) -> CostQueue[Job]:
    queue: CostQueue[Job] = CostQueue(aging=0.1)
    for task in jobs:
        queue.push(task)
    return queue


async def test_worker_running_a_tiny_task_takes_the_next_tiny_one_ahead(
    worker: WorkerProcess,
) -> None:
    running(worker, TINY)
    tiny = job(TINY)
    queue = queue_of(tiny)
    assert worker.send_ahead(queue, max_tasks=0) is tiny
    assert (worker.next_job, tiny.worker, len(queue)) == (tiny, worker, 0)
    assert worker.is_ahead(tiny)


async def test_nothing_is_sent_ahead_to_a_worker_running_a_bigger_task(
    worker: WorkerProcess,
) -> None:
    running(worker, SMALL)
    queue = queue_of(job(TINY))
    assert worker.send_ahead(queue, max_tasks=0) is None
    assert len(queue) == 1


async def test_bigger_task_next_in_line_is_not_sent_ahead(worker: WorkerProcess) -> None:
    running(worker, TINY)
    queue = queue_of(job(LARGE, enqueued_at=0.0), job(TINY, enqueued_at=1.0))
    assert worker.send_ahead(queue, max_tasks=0) is None
    assert len(queue) == 2


async def test_one_task_ahead_at_most(worker: WorkerProcess) -> None:
    running(worker, TINY)
    queue = queue_of(job(TINY), job(TINY))
    assert worker.send_ahead(queue, max_tasks=0) is not None
    assert worker.send_ahead(queue, max_tasks=0) is None
    assert len(queue) == 1


async def test_worker_recycled_after_its_task_takes_nothing_ahead(worker: WorkerProcess) -> None:
    running(worker, TINY)
    worker.tasks_done = 4
    queue = queue_of(job(TINY))
    assert worker.send_ahead(queue, max_tasks=5) is None
    assert worker.send_ahead(queue, max_tasks=6) is not None


async def test_task_whose_caller_left_is_skipped(worker: WorkerProcess) -> None:
    running(worker, TINY)
    gone, wanted = job(TINY), job(TINY)
    gone.future.cancel()
    assert worker.send_ahead(queue_of(gone, wanted), max_tasks=0) is wanted


async def test_task_sent_ahead_starts_when_the_one_before_answers(worker: WorkerProcess) -> None:
    first = running(worker, TINY)
    ahead = worker.send_ahead(queue_of(job(TINY)), max_tasks=0)
    assert ahead is not None
    assert worker.answered(first.id) is ahead
    assert (worker.job, worker.next_job, worker.tasks_done) == (ahead, None, 1)
    assert worker.answered(ahead.id) is None
    assert worker.job is None


async def test_worker_that_dies_gives_back_the_task_it_never_started(
    worker: WorkerProcess,
) -> None:
    first = running(worker, TINY)
    ahead = worker.send_ahead(queue_of(job(TINY)), max_tasks=0)
    worker.answered(first.id)
    assert worker.unstart()  # it died answering: the task it was about to run never ran
    assert worker.take_back() is ahead
    assert ahead is not None and ahead.worker is None
    assert worker.take_back() is None


def test_workers_start_isolated_keeping_the_container_flags() -> None:
    assert interpreter_flags({})[0] == "-I"
    flags = interpreter_flags({"PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1"})
    assert {"-I", "-B", "-u"} <= set(flags)
