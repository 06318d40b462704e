"""The shared queue: one for the whole pool, ordered by cost class with aging.

Tasks are sorted into classes by their estimated run time (tiny, small, medium,
large). Within a class it is first in, first out. Across classes each task's key is
``enqueued_at + class * aging``: a cheap task overtakes dearer ones queued up to
``class * aging`` seconds before it, so a small batch never waits behind a whole big
batch, and a big task is overtaken for at most ``3 * aging`` seconds, so it never starves.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import Generic, Protocol, TypeVar

# Upper bounds (seconds of estimated run time) of the cost classes; the last is open.
CLASS_BOUNDS = (0.005, 0.05, 0.5)
CLASSES = len(CLASS_BOUNDS) + 1
UNKNOWN_CLASS = 1
TINY = 0  # estimated under 5 ms: the only class ever sent ahead to a busy worker


def cost_class(estimate: float | None) -> int:
    if estimate is None:
        return UNKNOWN_CLASS
    for index, bound in enumerate(CLASS_BOUNDS):
        if estimate < bound:
            return index
    return len(CLASS_BOUNDS)


class Queued(Protocol):
    cost_class: int
    enqueued_at: float


T = TypeVar("T", bound=Queued)


class CostQueue(Generic[T]):
    def __init__(self, aging: float) -> None:
        self.aging = aging
        self._lanes: list[deque[T]] = [deque() for _ in range(CLASSES)]
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[T]:
        for lane in self._lanes:
            yield from lane

    def push(self, item: T) -> None:
        self._lanes[item.cost_class].append(item)
        self._size += 1

    def _best(self) -> int:
        """Index of the lane whose head goes next, or -1 when empty."""
        best, best_key = -1, 0.0
        for index, lane in enumerate(self._lanes):
            if lane:
                key = lane[0].enqueued_at + index * self.aging
                if best < 0 or key < best_key:
                    best, best_key = index, key
        return best

    def pop(self) -> T | None:
        best = self._best()
        if best < 0:
            return None
        self._size -= 1
        return self._lanes[best].popleft()

    def pop_if_class(self, cost_class: int) -> T | None:
        """The next item, but only if it is of ``cost_class``."""
        if self._best() != cost_class:
            return None
        self._size -= 1
        return self._lanes[cost_class].popleft()

    def push_front(self, item: T) -> None:
        """Put back an item that was taken but never ran: it keeps its place."""
        self._lanes[item.cost_class].appendleft(item)
        self._size += 1

    def remove(self, item: T) -> bool:
        try:
            self._lanes[item.cost_class].remove(item)
        except ValueError:
            return False
        self._size -= 1
        return True
