"""The request broker: ``req_id`` -> the caller waiting for its reply.

Synchronous bookkeeping plus one :class:`trio.Event` per call; the connection task resolves
calls as replies arrive and fails them all when the link drops.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import trio

__all__ = ["Broker", "PendingCall"]

_INT32_MAX = 2**31 - 1


class PendingCall:
    """One request in flight.

    Attributes:
        method: The request's method.
        req_id: Its id (int32, unique among pending calls).
        expected: How many replies end it (``cancel_order`` gets one per order).
        replies: The replies received so far.
        error: Set when the call failed without (all) replies.
        sent: True once the frame was handed to the writer.
        cl_ord_id: The client order id, for error messages.
    """

    __slots__ = (
        "cl_ord_id",
        "done",
        "enough",
        "error",
        "expected",
        "method",
        "minimum",
        "replies",
        "req_id",
        "sent",
    )

    def __init__(
        self, method: str, req_id: int, expected: int, cl_ord_id: str | None, minimum: int
    ) -> None:
        self.method = method
        self.req_id = req_id
        self.expected = expected
        self.minimum = minimum
        self.cl_ord_id = cl_ord_id
        self.replies: list[Any] = []
        self.error: BaseException | None = None
        self.sent = False
        self.done = trio.Event()
        # Usually the call ends with its last expected reply: then one event serves both.
        self.enough = self.done if minimum == expected else trio.Event()

    def finish(self, error: BaseException | None = None) -> None:
        """End the call (with ``error`` if it failed)."""
        if error is not None and self.error is None:
            self.error = error
        self.done.set()
        self.enough.set()


class Broker:
    """Allocates req_ids and matches replies to waiting callers."""

    def __init__(self, first_req_id: int = 1) -> None:
        self._pending: dict[int, PendingCall] = {}
        self._next = first_req_id

    def __len__(self) -> int:
        return len(self._pending)

    def reserve(self) -> int:
        """A req_id that no pending call uses, to :meth:`register` before any checkpoint."""
        while True:
            req_id = self._next
            self._next = 1 if req_id >= _INT32_MAX else req_id + 1
            if req_id not in self._pending:
                return req_id

    def register(
        self,
        req_id: int,
        method: str,
        *,
        expected: int = 1,
        minimum: int | None = None,
        cl_ord_id: str | None = None,
    ) -> PendingCall:
        """Register a call under a req_id from :meth:`reserve`.

        ``expected`` replies end the call; ``minimum`` (default: ``expected``) replies set its
        ``enough`` event (open-ended calls wait for a barrier instead of a count).
        """
        call = PendingCall(
            method, req_id, expected, cl_ord_id, expected if minimum is None else minimum
        )
        self._pending[req_id] = call
        return call

    def allocate(
        self,
        method: str,
        *,
        expected: int = 1,
        minimum: int | None = None,
        cl_ord_id: str | None = None,
    ) -> PendingCall:
        """Reserve a req_id and register a call under it (see :meth:`register`)."""
        return self.register(
            self.reserve(), method, expected=expected, minimum=minimum, cl_ord_id=cl_ord_id
        )

    def resolve(self, req_id: int | None, reply: Any) -> bool:
        """Hand a reply to its call; returns False if no call waits for ``req_id``."""
        if req_id is None:
            return False
        call = self._pending.get(req_id)
        if call is None:
            return False
        call.replies.append(reply)
        if len(call.replies) >= call.minimum:
            call.enough.set()
        if len(call.replies) >= call.expected:
            del self._pending[req_id]
            call.finish()
        return True

    def fail(self, req_id: int, error: BaseException) -> bool:
        """Fail the call waiting for ``req_id`` (its reply could not be read)."""
        call = self._pending.pop(req_id, None)
        if call is None:
            return False
        call.finish(error)
        return True

    def discard(self, call: PendingCall) -> None:
        """Forget a call (its caller gave up); late replies are then ignored."""
        if self._pending.get(call.req_id) is call:
            del self._pending[call.req_id]

    def fail_all(self, make_error: Callable[[PendingCall], BaseException]) -> int:
        """Fail every pending call (the link dropped); returns how many."""
        calls = list(self._pending.values())
        self._pending.clear()
        for call in calls:
            call.finish(make_error(call))
        return len(calls)
