"""The pool with real worker processes, driven directly (no HTTP)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

import tests.support.tasks  # noqa: F401  (registers the test tasks in this process)
from app.config import Settings
from app.errors import Overloaded, QueueTimeout, TaskFailed, TaskTimeout, WorkerCrashed
from app.pool import Pool
from app.tasks import registry

MODULES = ("tests.support.tasks",)
PoolFactory = Callable[..., Awaitable[Pool]]


class Recorder:
    def __init__(self) -> None:
        self.restarts: list[str] = []
        self.finished: list[str] = []

    def task_finished(self, task: str, queue_s: float, run_s: float) -> None:
        self.finished.append(task)

    def worker_restarted(self, reason: str) -> None:
        self.restarts.append(reason)


@pytest.fixture
async def make_pool() -> AsyncIterator[PoolFactory]:
    pools: list[Pool] = []

    async def make(observer: Recorder | None = None, **settings: Any) -> Pool:
        config = Settings(**{"workers": 2, "task_modules": MODULES, **settings})
        pool = Pool(config, registry, observer=observer)
        await pool.start()
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        await pool.close()


async def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        assert loop.time() < end, "condition not reached"
        await asyncio.sleep(0.01)


async def test_result_comes_back_to_its_caller_by_id(make_pool: PoolFactory) -> None:
    pool = await make_pool()
    results = await asyncio.gather(*(pool.submit("spin", {"n": n}) for n in range(0, 300, 10)))
    assert [r.value for r in results] == [n * n for n in range(0, 300, 10)]
    assert len({r.task_id for r in results}) == len(results)


async def test_workers_run_at_lower_priority(make_pool: PoolFactory) -> None:
    pool = await make_pool(worker_nice=7)
    result = await pool.submit("whoami", {})
    assert result.value["pid"] != os.getpid()
    assert result.value["nice"] >= os.nice(0) + 7


async def test_tasks_go_only_to_idle_workers(make_pool: PoolFactory) -> None:
    pool = await make_pool(workers=2)
    first = asyncio.ensure_future(pool.submit("nap", {"seconds": 0.5}))
    await wait_for(lambda: pool.busy == 1)
    # One worker is busy: the next task must go to the other one, at once.
    second = await pool.submit("nap", {"seconds": 0.0})
    assert second.worker != (await first).worker
    assert second.queue_s < 0.5


async def test_small_batch_overtakes_a_queued_big_batch(make_pool: PoolFactory) -> None:
    pool = await make_pool(workers=1, aging=5.0)
    await pool.submit("nap", {"seconds": 0.15})  # teach the pool what a nap costs
    await pool.submit("nap", {"seconds": 0.001})
    big = [asyncio.ensure_future(pool.submit("nap", {"seconds": 0.15})) for _ in range(6)]
    await wait_for(lambda: pool.queued == 5)
    small = [asyncio.ensure_future(pool.submit("nap", {"seconds": 0.001})) for _ in range(2)]
    big_done = sorted([(await b).value for b in big])
    small_done = [(await s).value for s in small]
    # A FIFO queue would finish the small tasks after all six big ones; here they
    # wait only for the big task that was already running.
    assert max(small_done) < big_done[1]


async def test_queue_full_is_refused_at_once(make_pool: PoolFactory) -> None:
    pool = await make_pool(workers=1, queue_limit=2)
    running = [asyncio.ensure_future(pool.submit("nap", {"seconds": 0.3})) for _ in range(3)]
    await wait_for(lambda: pool.busy == 1 and pool.queued == 2)
    assert pool.saturation == 3.0  # (1 busy + 2 queued) / 1 worker
    with pytest.raises(Overloaded) as refused:
        await pool.submit("nap", {"seconds": 0.3})
    assert refused.value.status == 503
    assert int(refused.value.headers()["Retry-After"]) >= 1
    assert all(r.done() is False for r in running[1:])  # refused before anything queued ran
    assert len(await asyncio.gather(*running)) == 3


async def test_deadline_kills_the_worker_and_the_pool_recovers(make_pool: PoolFactory) -> None:
    recorder = Recorder()
    pool = await make_pool(recorder, workers=1, task_timeout=0.5)
    before = (await pool.submit("whoami", {})).value["pid"]
    with pytest.raises(TaskTimeout):
        await pool.submit("nap", {"seconds": 20})
    after = (await pool.submit("whoami", {})).value["pid"]
    assert after != before
    assert recorder.restarts == ["timeout"]


async def test_task_queued_past_its_deadline_gets_queue_timeout(make_pool: PoolFactory) -> None:
    pool = await make_pool(workers=1, task_timeout=0.4)
    running = asyncio.ensure_future(pool.submit("nap", {"seconds": 5}))
    await wait_for(lambda: pool.busy == 1)
    with pytest.raises(QueueTimeout):
        await pool.submit("nap", {"seconds": 0})
    with pytest.raises(TaskTimeout):
        await running


@pytest.mark.parametrize("how", ["exit", "segv", "memory"])
async def test_crash_fails_only_its_own_task(make_pool: PoolFactory, how: str) -> None:
    recorder = Recorder()
    pool = await make_pool(recorder, workers=2)
    bystander = asyncio.ensure_future(pool.submit("nap", {"seconds": 0.3}))
    await wait_for(lambda: pool.busy == 1)
    with pytest.raises(WorkerCrashed):
        await pool.submit("crash", {"how": how})
    assert (await bystander).task == "nap"
    await wait_for(lambda: pool.live_workers == 2)
    assert (await pool.submit("spin", {"n": 10})).value == 100
    assert recorder.restarts == ["crash"]


async def test_task_exception_fails_the_task_not_the_worker(make_pool: PoolFactory) -> None:
    recorder = Recorder()
    pool = await make_pool(recorder, workers=1)
    pid = (await pool.submit("whoami", {})).value["pid"]
    with pytest.raises(TaskFailed, match="always fails"):
        await pool.submit("fail", {})
    assert (await pool.submit("whoami", {})).value["pid"] == pid
    assert recorder.restarts == []


async def test_workers_are_recycled_after_max_tasks(make_pool: PoolFactory) -> None:
    recorder = Recorder()
    pool = await make_pool(recorder, workers=1, max_tasks_per_worker=3)
    pids = [(await pool.submit("whoami", {})).value["pid"] for _ in range(3)]
    await wait_for(lambda: pool.live_workers == 1 and recorder.restarts == ["recycle"])
    assert (await pool.submit("whoami", {})).value["pid"] not in pids


async def test_cancelled_caller_frees_its_queue_place(make_pool: PoolFactory) -> None:
    pool = await make_pool(workers=1, queue_limit=1)
    running = asyncio.ensure_future(pool.submit("nap", {"seconds": 0.3}))
    await wait_for(lambda: pool.busy == 1)
    queued = asyncio.ensure_future(pool.submit("nap", {"seconds": 0}))
    await wait_for(lambda: pool.queued == 1)
    queued.cancel()
    await wait_for(lambda: pool.queued == 0)
    await running


async def test_close_stops_every_worker(make_pool: PoolFactory) -> None:
    pool = await make_pool(workers=2)
    pids = [w.pid for w in pool._workers.values()]
    await pool.close()
    for pid in pids:
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)


async def test_tiny_tasks_sent_ahead_all_come_back(make_pool: PoolFactory) -> None:
    pool = await make_pool(workers=2, queue_limit=1000)
    await pool.submit("noop", {})
    results = await asyncio.gather(*(pool.submit("spin", {"n": i % 7}) for i in range(500)))
    assert [r.value for r in results] == [(i % 7) ** 2 for i in range(500)]
    assert (pool.busy, pool.queued, pool._prefetched) == (0, 0, 0)


async def test_tiny_task_is_never_sent_ahead_behind_a_big_one(make_pool: PoolFactory) -> None:
    pool = await make_pool(workers=2, queue_limit=1000)
    await pool.submit("nap", {"seconds": 0.3})  # teach the pool that naps of 0.3 s are big
    await pool.submit("noop", {})
    big = asyncio.ensure_future(pool.submit("nap", {"seconds": 0.6}))
    await wait_for(lambda: pool.busy == 1)
    tiny = await asyncio.gather(*(pool.submit("noop", {}) for _ in range(200)))
    big_worker = (await big).worker
    # Every tiny task ran on the other worker: none waited behind the big nap.
    assert all(r.worker != big_worker for r in tiny)
