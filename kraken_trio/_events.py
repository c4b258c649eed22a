"""The public data types of connections and subscriptions: plain data, no I/O.

They live apart from the connection task so that the pure session, the subscription and the
client can all use them without importing the I/O module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import msgspec

from ._config import WsKey

__all__ = ["ConnectionStatistics", "EventKind", "Gap", "LifecycleEvent", "SubscriptionStatistics"]

EventKind = Literal[
    "open", "authenticated", "reconnecting", "reconnected", "close", "exception", "status", "resync"
]


@dataclass(frozen=True, slots=True)
class LifecycleEvent:
    """Something happened to a connection.

    Attributes:
        kind: ``open``, ``authenticated``, ``reconnecting``, ``reconnected``, ``close``,
            ``exception``, ``status`` (the server's status message) or ``resync`` (a book
            was resynchronised after a checksum mismatch).
        ws_key: The connection.
        detail: Human-readable detail (never contains a secret or token).
        error: The exception, for ``exception`` and ``reconnecting``.
        attempt: Reconnect attempt number, for ``reconnecting``.
    """

    kind: EventKind
    ws_key: WsKey
    detail: str = ""
    error: BaseException | None = None
    attempt: int = 0


@dataclass(slots=True)
class ConnectionStatistics:
    """Counters of one connection (see :meth:`KrakenClient.statistics`).

    Attributes:
        ws_key: The connection.
        connected: True while the link is up.
        messages: Frames received.
        bad_messages: Frames dropped because they could not be read.
        unrouted: Messages (or replies) nobody was waiting for.
        reconnects: Links re-established after a failure.
        resyncs: Book or level3 resynchronisations.
        token_fetches: WebSocket tokens fetched over REST.
        wire_subscriptions: Live wire subscriptions.
        pending_requests: Requests waiting for their reply.
        connection_id: The server's id of the current link (spot status message).
        bytes_received: Bytes read on the current link.
        direct_writes: Frames the socket took whole at once (no hand-off to the writer).
        queued_writes: Frames (or the rest of one) the writer sent: the socket was busy or
            backed up, or the link is TLS.
        extra: Further counters, by name.
    """

    ws_key: WsKey
    connected: bool = False
    messages: int = 0
    bad_messages: int = 0
    unrouted: int = 0
    reconnects: int = 0
    resyncs: int = 0
    token_fetches: int = 0
    wire_subscriptions: int = 0
    pending_requests: int = 0
    connection_id: int | None = None
    bytes_received: int = 0
    direct_writes: int = 0
    queued_writes: int = 0
    extra: dict[str, int] = field(default_factory=dict)


class Gap(msgspec.Struct, frozen=True, kw_only=True):
    """In-band marker: messages before the next one may be missing.

    Attributes:
        reason: ``"reconnect"`` (the link dropped; a fresh snapshot follows),
            ``"overflow"`` (``on_overflow="drop_oldest"`` dropped ``lost`` messages) or
            ``"resync"`` (a book checksum mismatch; a fresh snapshot follows).
        ws_key: The connection it happened on.
        lost: How many messages were dropped, where that is known.
        symbol: The symbol concerned, where only one is.
    """

    reason: Literal["reconnect", "overflow", "resync"]
    ws_key: WsKey
    lost: int | None = None
    symbol: str | None = None


class SubscriptionStatistics(msgspec.Struct, frozen=True, kw_only=True):
    """A snapshot of a subscription's counters (see :meth:`Subscription.statistics`)."""

    buffered: int
    buffer_size: int
    delivered: int
    lost: int
    conflated: int
    gaps: int
