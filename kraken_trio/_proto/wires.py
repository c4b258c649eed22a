"""The session's vocabulary: the wire subscription, the interfaces of the connection that
drives a session (:class:`Host`), of a subscriber's inbox (:class:`Receiver`) and of the
protocol-specific half of a session (:class:`Dialect`). Pure: no trio, no clock.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, Literal, NamedTuple, Protocol

from .._errors import KrakenError
from .._events import LifecycleEvent
from .correlator import Pending, Waker
from .livestate import LiveState

__all__ = [
    "BookChange",
    "Dialect",
    "Host",
    "NoWaker",
    "Receiver",
    "Wire",
    "WireState",
    "params_key",
]


class Host(Protocol):
    """What the session needs from the connection that drives it."""

    def send(self, frame: bytes) -> bool:
        """Write a frame (never blocks); False if there is no live link."""
        ...

    def emit(self, event: LifecycleEvent) -> None:
        """Publish a lifecycle event."""
        ...

    def waker(self) -> Waker:
        """A fresh waker (``trio.Event`` in the connection)."""
        ...

    def abort(self, error: KrakenError) -> None:
        """The endpoint speaks another protocol: stop for good with ``error``."""
        ...

    def need_auth(self) -> None:
        """The server refused the WebSocket token: fetch a fresh one, then call
        :meth:`Session.set_token` (or :meth:`Session.auth_failed`)."""
        ...


class Receiver(Protocol):
    """A subscriber's inbox, as the session sees it."""

    wants_changes: bool  # True: a book reader, told of changes (BookChange), not messages

    def deliver(self, item: Any) -> None:
        """Take one message, Gap or BookChange without blocking."""
        ...

    def fail(self, error: BaseException | None) -> None:
        """End the stream (``error`` raised after the buffered messages; None: closed)."""
        ...


class BookChange(NamedTuple):
    """What a book reader is told: ``snapshot``, ``update``, ``resync``, ``gap`` (link lost)
    or ``untrusted`` (repeated resyncs failed; the book is not to be relied on)."""

    kind: Literal["snapshot", "update", "resync", "gap", "untrusted"]
    symbol: str
    detail: str = ""


WireState = Literal["idle", "pending", "active", "unsubscribing"]


class Wire:
    """One subscription on the wire (channel + symbol + params), shared by its users."""

    __slots__ = (
        "acked",
        "auth_retried",
        "channel",
        "error",
        "ever_active",
        "good_updates",
        "key",
        "live",
        "params",
        "request",
        "resync_at",
        "resync_failures",
        "state",
        "symbol",
        "users",
    )

    def __init__(
        self,
        key: Hashable,
        channel: str,
        symbol: str | None,
        params: dict[str, Any],
        acked: Waker,
        live: LiveState | None,
    ) -> None:
        self.key = key
        self.channel = channel
        self.symbol = symbol
        self.params = params
        self.users: list[Receiver] = []
        self.state: WireState = "idle"
        self.acked = acked  # set when active, refused or gone
        self.error: BaseException | None = None
        self.request: Pending | None = None  # the subscribe/unsubscribe in flight
        self.live = live
        self.ever_active = False
        self.resync_failures = 0
        self.resync_at: float | None = None
        self.good_updates = 0
        self.auth_retried = False

    def __repr__(self) -> str:
        return f"<Wire {self.channel} {self.symbol} {self.state} users={len(self.users)}>"


class Dialect(Protocol):
    """The protocol-specific half of a session (spot or futures)."""

    futures: bool

    def route_key(self, channel: str, symbol: str | None, params: dict[str, Any]) -> Hashable: ...

    def subscribe_frame(self, method: str, group: list[Wire], req_id: int) -> bytes: ...

    def request_cost(self, group: list[Wire]) -> float: ...

    def bucket(self) -> tuple[float, float]:
        """(capacity, refill per second) of the subscription request rate."""
        ...

    def receive(self, frame: str, now: float) -> None: ...


def params_key(params: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    """A hashable form of a wire's parameters (for grouping and conflict checks)."""
    return tuple(sorted((k, repr(v)) for k, v in params.items()))


class NoWaker:
    """Acks wake their subscribers through the wires; the entry itself needs no waker."""

    __slots__ = ("_set",)

    def __init__(self) -> None:
        self._set = False

    def set(self) -> None:
        self._set = True

    def is_set(self) -> bool:
        return self._set
