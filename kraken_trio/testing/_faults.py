"""Faults on demand and the record of what a fake server received.

Every fake WebSocket server (spot and futures) carries a :class:`Faults` object with the same
API, so a test can break any endpoint the same way::

    await fake.faults(WsKey.SPOT_PUBLIC_V2).drop(reset=True)
    fake.faults(WsKey.SPOT_PUBLIC_V2).stall_pongs = True
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import trio
from trio_websocket import ConnectionClosed, WebSocketConnection

__all__ = ["FaultTarget", "Faults", "Received", "ping_each"]


@dataclass(frozen=True, slots=True)
class Received:
    """One frame a fake server received.

    Attributes:
        connection_id: The server-side id of the connection (spot: the ``connection_id`` of
            its status message).
        message: The decoded JSON (numbers that were floats are Decimals), or the raw text
            when it was not valid JSON.
        time: ``trio.current_time()`` when it arrived.
    """

    connection_id: int
    message: Any
    time: float


class FaultTarget(Protocol):
    """What a server offers its :class:`Faults` object."""

    async def _drop_connections(self, *, reset: bool, connection_id: int | None = None) -> int: ...

    async def _send_raw_all(
        self, payload: str | bytes, *, connection_id: int | None = None
    ) -> None: ...

    async def _restart(self) -> None: ...

    async def _ping_clients(self, payload: bytes, *, connection_id: int | None = None) -> int: ...


class Faults:
    """Faults of one server; every attribute and method takes effect at once.

    Attributes:
        stall_pongs: While True, pings go unanswered: application-level ones
            (``{"method":"ping"}``) and WebSocket protocol pings alike.
        delay: Seconds the server waits before sending each reply to a request.
    """

    def __init__(self, target: FaultTarget) -> None:
        self._target = target
        self.stall_pongs = False
        self.delay = 0.0
        self._refuse_until = -1.0
        self._auth_rejects = 0
        self._corrupt: Counter[str] = Counter()
        self._rate_limits = 0
        self._reading = trio.Event()
        self._reading.set()

    def __repr__(self) -> str:
        return (
            f"Faults(stall_pongs={self.stall_pongs}, delay={self.delay}, "
            f"auth_rejects={self._auth_rejects}, rate_limits={self._rate_limits})"
        )

    async def drop(self, *, reset: bool = False, connection_id: int | None = None) -> int:
        """Close every live connection: a close frame (1001), or an abrupt TCP reset.

        Args:
            reset: Reset the TCP connection instead of closing the WebSocket.
            connection_id: Only this connection (default: all of them).

        Returns:
            How many connections were dropped.
        """
        return await self._target._drop_connections(reset=reset, connection_id=connection_id)

    async def send_raw(self, payload: str | bytes, *, connection_id: int | None = None) -> None:
        """Send ``payload`` as is: a text frame for str, a binary frame for bytes.

        Args:
            payload: The frame's content (for example malformed or invalid JSON).
            connection_id: Only to this connection (default: every connection).
        """
        await self._target._send_raw_all(payload, connection_id=connection_id)

    async def ping(self, payload: bytes = b"fake-ping", *, connection_id: int | None = None) -> int:
        """Send a WebSocket protocol ping to every connection and wait for each pong.

        Kraken's servers may ping; a client must answer. Bound the wait with
        ``trio.fail_after``: a client that never answers makes this wait forever.

        Returns:
            How many connections answered.
        """
        return await self._target._ping_clients(payload, connection_id=connection_id)

    def pause_reading(self) -> None:
        """Stop reading clients' frames until :meth:`resume_reading`.

        What arrives meanwhile stays in the sockets, so TCP backpressure builds up in the
        client as it would against a stalled exchange; nothing is lost.
        """
        if self._reading.is_set():
            self._reading = trio.Event()

    def resume_reading(self) -> None:
        """Read clients' frames again (see :meth:`pause_reading`)."""
        self._reading.set()

    async def wait_reading(self) -> None:
        """Return at once unless reading is paused; then wait until it resumes."""
        if not self._reading.is_set():
            await self._reading.wait()

    def refuse(self, seconds: float) -> None:
        """Refuse new connections (HTTP 503 on the upgrade) for ``seconds``."""
        self._refuse_until = trio.current_time() + seconds

    @property
    def refusing(self) -> bool:
        """True while new connections are refused."""
        return trio.current_time() < self._refuse_until

    async def restart(self) -> None:
        """Drop every connection and forget every subscription; new connections get new ids."""
        await self._target._restart()

    def reject_next_auth(self, n: int = 1) -> None:
        """Make the next ``n`` token checks (spot) or challenges (futures) fail."""
        self._auth_rejects += n

    def take_auth_reject(self) -> bool:
        """Consume one pending auth rejection; True when this check must fail."""
        if self._auth_rejects > 0:
            self._auth_rejects -= 1
            return True
        return False

    def corrupt_next_checksum(self, symbol: str) -> None:
        """The next book (or level3) update for ``symbol`` carries a wrong checksum.

        The levels themselves stay right, so a client that resubscribes recovers.
        """
        self._corrupt[symbol] += 1

    def corrupt_pending(self, symbol: str) -> bool:
        """True when the next update for ``symbol`` must carry a wrong checksum."""
        return self._corrupt[symbol] > 0

    def take_corrupt(self, symbol: str) -> bool:
        """Consume one pending checksum corruption for ``symbol``."""
        if self._corrupt[symbol] > 0:
            self._corrupt[symbol] -= 1
            return True
        return False

    def rate_limit_next(self, n: int) -> None:
        """Answer the next ``n`` trading requests with ``EOrder:Rate limit exceeded``."""
        self._rate_limits += n

    def take_rate_limit(self) -> bool:
        """Consume one pending rate-limit answer."""
        if self._rate_limits > 0:
            self._rate_limits -= 1
            return True
        return False


async def ping_each(sockets: Sequence[WebSocketConnection], payload: bytes) -> int:
    """Ping every socket at once; returns how many answered (closed ones do not count)."""
    answered = 0

    async def one(ws: WebSocketConnection) -> None:
        nonlocal answered
        with contextlib.suppress(ConnectionClosed):
            await ws.ping(payload)
            answered += 1

    async with trio.open_nursery() as nursery:
        for ws in sockets:
            nursery.start_soon(one, ws)
    return answered
