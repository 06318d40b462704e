"""Admission: refuse at once what cannot start or queue, refuse everything while draining."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import pytest

from app.admission import Admission
from app.errors import CrunchError, Draining, Overloaded, QueueTimeout
from app.metrics import Metrics

if TYPE_CHECKING:
    from app.pool import Pool


@dataclass
class FakePool:
    size: int = 2
    busy: int = 0
    queue_limit: int = 3
    queued: int = 0
    raises: CrunchError | None = None
    submitted: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def retry_after(self) -> float:
        return 2.5

    async def submit(self, task: str, params: dict[str, Any]) -> str:
        self.submitted.append((task, params))
        if self.raises is not None:
            raise self.raises
        return "result"


def admission(pool: FakePool) -> tuple[Admission, Metrics]:
    metrics = Metrics()
    return Admission(cast("Pool", pool), metrics), metrics


def rejected(metrics: Metrics, reason: str) -> float | None:
    return metrics.registry.get_sample_value("crunch_rejected_total", {"reason": reason})


def test_tasks_that_fit_idle_workers_and_queue_are_admitted() -> None:
    adm, _ = admission(FakePool(size=2, busy=1, queue_limit=3, queued=1))
    adm.check(tasks=3)  # one idle worker + two free queue places


def test_tasks_beyond_idle_workers_and_queue_are_overloaded() -> None:
    adm, _ = admission(FakePool(size=2, busy=1, queue_limit=3, queued=1))
    with pytest.raises(Overloaded):
        adm.check(tasks=4)


def test_overload_carries_the_pools_retry_after() -> None:
    adm, _ = admission(FakePool(busy=2, queued=3))
    with pytest.raises(Overloaded) as caught:
        adm.check()
    assert caught.value.headers() == {"Retry-After": "3"}


def test_overload_is_counted_as_queue_full() -> None:
    adm, metrics = admission(FakePool(busy=2, queued=3))
    with pytest.raises(Overloaded):
        adm.check()
    assert rejected(metrics, "queue_full") == 1


def test_draining_refuses_even_an_idle_pool() -> None:
    adm, metrics = admission(FakePool())
    adm.begin_drain()
    with pytest.raises(Draining):
        adm.check()
    assert rejected(metrics, "draining") == 1


async def test_run_hands_the_task_to_the_pool() -> None:
    pool = FakePool()
    adm, _ = admission(pool)
    result: object = await adm.run("spin", {"n": 1})
    assert result == "result"
    assert pool.submitted == [("spin", {"n": 1})]


async def test_run_while_draining_never_reaches_the_pool() -> None:
    pool = FakePool()
    adm, _ = admission(pool)
    adm.begin_drain()
    with pytest.raises(Draining):
        await adm.run("spin", {"n": 1})
    assert pool.submitted == []


@pytest.mark.parametrize(
    ("error", "reason"),
    [(Overloaded("full"), "queue_full"), (QueueTimeout("late"), "queue_timeout")],
)
async def test_pool_refusal_is_counted_by_reason(error: CrunchError, reason: str) -> None:
    adm, metrics = admission(FakePool(raises=error))
    with pytest.raises(type(error)):
        await adm.run("spin", {"n": 1})
    assert rejected(metrics, reason) == 1


def test_ready_only_between_open_and_drain() -> None:
    adm, _ = admission(FakePool())
    assert not adm.ready and not adm.draining
    adm.open()
    assert adm.ready
    adm.begin_drain()
    assert not adm.ready and adm.draining
    adm.open()  # a drain is never undone
    assert adm.draining


def test_room_is_idle_workers_plus_free_queue_places() -> None:
    adm, _ = admission(FakePool(size=4, busy=1, queue_limit=5, queued=2))
    assert adm.room() == 3 + 3


async def test_drain_is_done_only_when_no_request_is_in_flight() -> None:
    adm, _ = admission(FakePool())
    adm.begin_drain()
    adm.inflight = 1
    assert not await adm.drained(timeout=0.05)
    adm.inflight = 0
    assert await adm.drained(timeout=0.05)
