"""The shared queue: cost classes, FIFO within a class, aging across classes."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from app.pool.queue import CLASS_BOUNDS, CLASSES, UNKNOWN_CLASS, CostQueue, cost_class

TINY, SMALL, MEDIUM, LARGE = range(4)


@dataclass(eq=False)
class Item:
    name: str
    cost_class: int
    enqueued_at: float


def drain(queue: CostQueue[Item]) -> list[str]:
    names = []
    while (item := queue.pop()) is not None:
        names.append(item.name)
    return names


def test_there_is_one_class_more_than_bounds() -> None:
    assert CLASSES == len(CLASS_BOUNDS) + 1 == 4


@pytest.mark.parametrize(
    ("estimate", "expected"),
    [
        (0.0, TINY),
        (0.0049, TINY),
        (0.005, SMALL),
        (0.049, SMALL),
        (0.05, MEDIUM),
        (0.499, MEDIUM),
        (0.5, LARGE),
        (1e9, LARGE),
    ],
)
def test_cost_class_bounds_are_upper_exclusive(estimate: float, expected: int) -> None:
    assert cost_class(estimate) == expected


def test_unknown_estimate_gets_the_unknown_class() -> None:
    assert cost_class(None) == UNKNOWN_CLASS


def test_empty_queue_pops_none() -> None:
    assert CostQueue[Item](aging=0.5).pop() is None


def test_same_class_is_first_in_first_out() -> None:
    queue = CostQueue[Item](aging=0.5)
    for index, name in enumerate("abcd"):
        queue.push(Item(name, MEDIUM, float(index)))
    assert drain(queue) == list("abcd")


def test_small_task_overtakes_earlier_big_ones() -> None:
    queue = CostQueue[Item](aging=0.5)
    queue.push(Item("big1", LARGE, 0.0))
    queue.push(Item("big2", LARGE, 0.1))
    queue.push(Item("small", TINY, 1.0))
    assert drain(queue) == ["small", "big1", "big2"]


def test_big_task_is_not_starved_by_later_small_tasks() -> None:
    aging = 0.5
    queue = CostQueue[Item](aging=aging)
    queue.push(Item("big", LARGE, 0.0))
    queue.push(Item("early", TINY, 0.0 + LARGE * aging - 0.01))
    queue.push(Item("late", TINY, 0.0 + LARGE * aging + 0.01))
    assert drain(queue) == ["early", "big", "late"]


def test_zero_aging_orders_by_enqueue_time_across_classes() -> None:
    queue = CostQueue[Item](aging=0.0)
    queue.push(Item("large", LARGE, 1.0))
    queue.push(Item("tiny", TINY, 2.0))
    queue.push(Item("medium", MEDIUM, 3.0))
    assert drain(queue) == ["large", "tiny", "medium"]


def test_len_counts_pushes_minus_pops() -> None:
    queue = CostQueue[Item](aging=0.5)
    queue.push(Item("a", TINY, 0.0))
    queue.push(Item("b", LARGE, 0.0))
    queue.pop()
    assert len(queue) == 1


def test_iteration_visits_every_queued_item() -> None:
    queue = CostQueue[Item](aging=0.5)
    items = [Item(str(i), i % CLASSES, float(i)) for i in range(8)]
    for item in items:
        queue.push(item)
    assert {item.name for item in queue} == {item.name for item in items}


def test_removed_item_is_never_popped() -> None:
    queue = CostQueue[Item](aging=0.5)
    keep, gone = Item("keep", SMALL, 1.0), Item("gone", SMALL, 0.0)
    queue.push(gone)
    queue.push(keep)
    assert queue.remove(gone) is True
    assert len(queue) == 1
    assert drain(queue) == ["keep"]


def test_removing_an_absent_item_returns_false_and_keeps_the_size() -> None:
    queue = CostQueue[Item](aging=0.5)
    queue.push(Item("a", SMALL, 0.0))
    assert queue.remove(Item("a", SMALL, 0.0)) is False
    assert len(queue) == 1
