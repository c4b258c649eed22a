"""One correlator for everything that waits for an answer: requests, pings, and the
subscribe/unsubscribe acks of wire subscriptions.

Pure bookkeeping: no trio, no clock. A waiting caller is woken through a :class:`Waker`
(anything with ``set()``/``is_set()``: a ``trio.Event`` in the connection, a plain object in
tests), and deadlines are plain numbers compared with the ``now`` the caller passes in.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from typing import Any, Literal, Protocol

__all__ = ["Correlator", "Pending", "PendingKind", "Waker"]

_INT32_MAX = 2**31 - 1

PendingKind = Literal["request", "ping", "subscribe", "unsubscribe"]


class Waker(Protocol):
    """What a waiting caller is woken through (``trio.Event`` satisfies it)."""

    def set(self) -> None: ...

    def is_set(self) -> bool: ...


class Pending:
    """One thing in flight that waits for an answer.

    Attributes:
        kind: ``request`` (a trading method), ``ping``, ``subscribe`` or ``unsubscribe``.
        method: The method (or channel, for acks) for messages and errors.
        req_id: Its id (int32, unique among pending entries).
        deadline: When it times out (same clock as the ``now`` given to the correlator).
        expected: Replies that end it (``cancel_order`` by userref gets one per order).
        minimum: Replies that set ``enough`` (open-ended calls wait for a barrier ping).
        replies: The replies received so far.
        error: Set when it failed without (all of) its replies.
        sent: True once its frame was handed to the link.
        cl_ord_id, order_userref: The order's ids, for errors a user reconciles with.
        wires: For acks, the wire subscriptions it is about (opaque to the correlator).
        done: Set when it ended (answered, failed or expired).
        enough: Set when ``minimum`` replies arrived (same object as ``done`` usually).
    """

    __slots__ = (
        "cl_ord_id",
        "deadline",
        "done",
        "enough",
        "error",
        "expected",
        "kind",
        "method",
        "minimum",
        "order_userref",
        "payload",
        "replies",
        "req_id",
        "retried",
        "sent",
        "wires",
    )

    def __init__(
        self,
        kind: PendingKind,
        method: str,
        req_id: int,
        deadline: float,
        done: Waker,
        *,
        expected: int = 1,
        minimum: int | None = None,
        enough: Waker | None = None,
        cl_ord_id: str | None = None,
        order_userref: int | None = None,
    ) -> None:
        self.kind: PendingKind = kind
        self.method = method
        self.req_id = req_id
        self.deadline = deadline
        self.expected = expected
        self.minimum = expected if minimum is None else minimum
        self.cl_ord_id = cl_ord_id
        self.order_userref = order_userref
        self.replies: list[Any] = []
        self.error: BaseException | None = None
        self.sent = False
        self.wires: list[Any] = []
        self.payload: Any = None  # what is needed to send it again (held for a fresh token)
        self.retried = False
        self.done = done
        self.enough = done if enough is None or self.minimum == expected else enough

    def __repr__(self) -> str:
        return f"<Pending {self.kind} {self.method} req_id={self.req_id} done={self.done.is_set()}>"

    def finish(self, error: BaseException | None = None) -> None:
        """End it (with ``error`` if it failed); the first error wins."""
        if error is not None and self.error is None:
            self.error = error
        self.done.set()
        self.enough.set()


class Correlator:
    """Allocates req_ids, matches answers to pending entries, expires them by deadline."""

    def __init__(self, first_req_id: int = 1) -> None:
        self._pending: dict[int, Pending] = {}
        self._next = first_req_id
        self._deadlines: list[tuple[float, int, Pending]] = []
        self._seq = 0

    def __len__(self) -> int:
        return len(self._pending)

    def __iter__(self) -> Iterator[Pending]:
        return iter(list(self._pending.values()))

    def get(self, req_id: int | None) -> Pending | None:
        """The pending entry of ``req_id``, if any."""
        return None if req_id is None else self._pending.get(req_id)

    def reserve(self) -> int:
        """A req_id that no pending entry uses."""
        while True:
            req_id = self._next
            self._next = 1 if req_id >= _INT32_MAX else req_id + 1
            if req_id not in self._pending:
                return req_id

    def add(self, entry: Pending) -> Pending:
        """Register ``entry`` under its req_id and watch its deadline."""
        self._pending[entry.req_id] = entry
        self._seq += 1
        heapq.heappush(self._deadlines, (entry.deadline, self._seq, entry))
        return entry

    def resolve(self, req_id: int | None, reply: Any) -> Pending | None:
        """Hand a reply to its entry; returns the entry, or None if nobody waits for it."""
        entry = self.get(req_id)
        if entry is None:
            return None
        entry.replies.append(reply)
        if len(entry.replies) >= entry.minimum:
            entry.enough.set()
        if len(entry.replies) >= entry.expected:
            self.discard(entry)
            entry.finish()
        return entry

    def fail(self, req_id: int | None, error: BaseException) -> Pending | None:
        """Fail the entry waiting for ``req_id``; returns it, or None."""
        entry = self.get(req_id)
        if entry is None:
            return None
        self.discard(entry)
        entry.finish(error)
        return entry

    def discard(self, entry: Pending) -> None:
        """Forget an entry (answered, or its caller gave up); late answers are ignored."""
        if self._pending.get(entry.req_id) is entry:
            del self._pending[entry.req_id]
            self._prune()

    def fail_all(
        self,
        make_error: Callable[[Pending], BaseException],
        kinds: frozenset[PendingKind] | None = None,
    ) -> list[Pending]:
        """Fail every pending entry (of ``kinds``); returns them."""
        failed = [e for e in self._pending.values() if kinds is None or e.kind in kinds]
        for entry in failed:
            del self._pending[entry.req_id]
        for entry in failed:
            entry.finish(make_error(entry))
        self._prune()
        return failed

    def expired(self, now: float) -> list[Pending]:
        """Remove and return the entries whose deadline is at or before ``now``."""
        out: list[Pending] = []
        heap = self._deadlines
        while heap and heap[0][0] <= now:
            _, _, entry = heapq.heappop(heap)
            if self._pending.get(entry.req_id) is entry:
                del self._pending[entry.req_id]
                out.append(entry)
        return out

    def next_deadline(self) -> float | None:
        """The earliest deadline of a live entry, or None."""
        self._prune()
        return self._deadlines[0][0] if self._deadlines else None

    def _prune(self) -> None:
        heap = self._deadlines
        while heap and self._pending.get(heap[0][2].req_id) is not heap[0][2]:
            heapq.heappop(heap)
        if len(heap) > 2 * len(self._pending) + 8:
            # Entries answered before their deadline: rebuild (amortised O(1) per entry), so
            # the heap holds no finished entry for long.
            live = [x for x in heap if self._pending.get(x[2].req_id) is x[2]]
            heapq.heapify(live)
            self._deadlines = live
