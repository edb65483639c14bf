"""A small thread-safe LRU cache with an optional size budget.

Everything the emulator caches is a pure function of its key, so two threads that miss at
once may both compute the value; the second result simply replaces the first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class Lru(Generic[V]):
    """Keeps at most ``max_items`` values and, if ``weigh`` is given, ``max_weight`` in total."""

    def __init__(
        self,
        max_items: int,
        *,
        max_weight: int | None = None,
        weigh: Callable[[V], int] | None = None,
    ) -> None:
        self._items: OrderedDict[Hashable, V] = OrderedDict()
        self._weights: dict[Hashable, int] = {}
        self._total = 0
        self._max_items = max_items
        self._max_weight = max_weight
        self._weigh = weigh
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> V | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: Hashable, value: V) -> None:
        weight = self._weigh(value) if self._weigh else 0
        with self._lock:
            if key in self._items:
                self._total -= self._weights.pop(key)
                del self._items[key]
            self._items[key] = value
            self._weights[key] = weight
            self._total += weight
            while len(self._items) > self._max_items or (
                self._max_weight is not None and self._total > self._max_weight
            ):
                if len(self._items) == 1:
                    break  # one oversized value is kept rather than recomputed every time
                old, _ = self._items.popitem(last=False)
                self._total -= self._weights.pop(old)

    def get_or_make(self, key: Hashable, make: Callable[[], V]) -> V:
        found = self.get(key)
        if found is not None:
            return found
        value = make()
        self.put(key, value)
        return value

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
