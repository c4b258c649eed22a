"""Pacing of subscribe and unsubscribe requests under Kraken's documented rates.

A token bucket per connection: ``capacity`` requests' worth of cost at once, refilled at
``rate`` per second. Each request's cost comes from the dialect (1 per request; level3 counts
5 / 25 / 100 per symbol by depth). Groups whose cost exceeds the bucket are split, so even a
resubscription of hundreds of symbols goes out in as few requests as Kraken accepts, spread
over time instead of bursting. Pure: the time is the ``now`` the caller passes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from .wires import Wire, params_key

__all__ = ["Pacer"]

_EPSILON = 1e-9


class Pacer:
    """Queued subscription requests, released as the bucket allows."""

    def __init__(self, capacity: float, rate: float, cost: Callable[[list[Wire]], float]) -> None:
        self.capacity = capacity
        self.rate = rate
        self._cost = cost
        self._queue: deque[tuple[str, list[Wire]]] = deque()
        self._tokens = capacity
        self._refilled = 0.0

    def __len__(self) -> int:
        return len(self._queue)

    def reset(self, now: float) -> None:
        """A new link: a full bucket, nothing queued."""
        self._queue.clear()
        self._tokens = self.capacity
        self._refilled = now

    def add(self, method: str, wires: Iterable[Wire]) -> None:
        """Queue ``method`` for ``wires``: one request per channel and parameter set, split
        where one request would cost more than the whole bucket."""
        groups: dict[tuple[Any, ...], list[Wire]] = {}
        for wire in wires:
            groups.setdefault((wire.channel, params_key(wire.params)), []).append(wire)
        for group in groups.values():
            chunk: list[Wire] = []
            for wire in group:
                if chunk and self._cost([*chunk, wire]) > self.capacity:
                    self._queue.append((method, chunk))
                    chunk = []
                chunk.append(wire)
            if chunk:
                self._queue.append((method, chunk))

    def pump(
        self,
        now: float,
        wanted: Callable[[str, Wire], bool],
        send: Callable[[str, list[Wire]], None],
    ) -> None:
        """Send what the bucket allows now; wires no longer ``wanted`` are skipped."""
        self._tokens = min(self.capacity, self._tokens + (now - self._refilled) * self.rate)
        self._refilled = now
        while self._queue:
            method, group = self._queue[0]
            group = [w for w in group if wanted(method, w)]
            if not group:
                self._queue.popleft()
                continue
            # A request costing more than the whole bucket goes when the bucket is full; the
            # epsilon keeps float rounding from holding back a request whose time has come.
            cost = min(self._cost(group), self.capacity)
            if cost > self._tokens + _EPSILON:
                return
            self._queue.popleft()
            self._tokens -= cost
            send(method, group)

    def next_time(self) -> float | None:
        """When the head of the queue can go (None: nothing queued)."""
        if not self._queue:
            return None
        cost = min(self._cost(self._queue[0][1]), self.capacity)
        return self._refilled + max(0.0, cost - self._tokens) / self.rate + _EPSILON
