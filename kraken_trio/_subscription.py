"""The object a user holds: an async iterator over a bounded memory channel.

The connection task pushes into it without ever blocking (``send_nowait``); when the buffer
is full, the subscription's ``on_overflow`` policy decides, and loss is never silent.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Hashable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, Literal, Self, TypeVar

import msgspec
import trio

from ._config import WsKey
from ._errors import OverrunError

if TYPE_CHECKING:
    from ._connection import Connection

__all__ = ["Gap", "OverflowPolicy", "Subscription", "SubscriptionStatistics"]

log = logging.getLogger("kraken_trio")

OverflowPolicy = Literal["raise", "drop_oldest", "latest"]
_YIELD_EVERY = 1024
_POLICIES = ("raise", "drop_oldest", "latest")

T = TypeVar("T")


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


class Subscription(Generic[T]):
    """A live subscription: ``async with`` it, or iterate it directly.

    Iterating yields the typed messages of this subscription (its snapshot, then its
    updates) and :class:`Gap` markers. Leaving the ``async with`` block (or the client)
    unsubscribes on the wire when this was the last user of that channel and symbol.
    Cancelling an ``async for`` leaves the subscription intact.
    """

    def __init__(
        self,
        connection_getter: Callable[[], Connection],
        channel: str,
        symbols: list[str | None],
        params: dict[str, Any],
        *,
        buffer_size: int,
        on_overflow: OverflowPolicy,
        conflate_key: Callable[[Any], Hashable] | None = None,
    ) -> None:
        if on_overflow not in _POLICIES:
            raise ValueError(f"on_overflow must be one of {_POLICIES}, got {on_overflow!r}")
        if buffer_size < 1:
            raise ValueError(f"buffer_size must be >= 1, got {buffer_size!r}")
        self._connection_getter = connection_getter
        self._connection: Connection | None = None
        self.channel = channel
        self.symbols = symbols
        self.params = params
        self.on_overflow: OverflowPolicy = on_overflow
        self._buffer_size = buffer_size
        self._send, self._recv = trio.open_memory_channel[Any](buffer_size)
        self._conflate_key = conflate_key or _default_key
        self._state: Literal["new", "opening", "open", "closed"] = "new"
        self._error: BaseException | None = None
        self._pending_lost = 0
        self._delivered = 0
        self._lost = 0
        self._conflated = 0
        self._gaps = 0
        self._fast = 0

    def __repr__(self) -> str:
        return f"<Subscription {self.channel} {[s for s in self.symbols if s]} state={self._state}>"

    # ---------------------------------------------------------------- user side

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> T:
        if self._state == "open" and not self._pending_lost:
            # Fast path: the connection task hands over a whole read batch at once, so a
            # buffered message is taken without a scheduler pass. Cancellation is still
            # checked on every call, and a full checkpoint happens every _YIELD_EVERY
            # messages so other tasks get their turn.
            try:
                item = self._recv.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                pass
            else:
                self._fast += 1
                if self._fast >= _YIELD_EVERY:
                    self._fast = 0
                    await trio.lowlevel.checkpoint()
                else:
                    await trio.lowlevel.checkpoint_if_cancelled()
                self._delivered += 1
                return item  # type: ignore[no-any-return]
        if self._state == "new":
            await self.open()
        if self._pending_lost:
            lost, self._pending_lost = self._pending_lost, 0
            self._gaps += 1
            gap: Any = Gap(reason="overflow", ws_key=self._key(), lost=lost)
            return gap  # type: ignore[no-any-return]
        try:
            item = await self._recv.receive()
        except trio.EndOfChannel:
            if self._error is not None:
                raise self._error from None
            raise StopAsyncIteration from None
        except trio.ClosedResourceError:
            raise StopAsyncIteration from None
        self._delivered += 1
        return item  # type: ignore[no-any-return]

    async def open(self) -> None:
        """Subscribe on the wire (or join an existing wire subscription) and wait for the acks.

        Idempotent. A checkpoint.

        Raises:
            SubscriptionError: Kraken refused a symbol (Kraken's text included).
            AuthenticationError: a private channel could not authenticate.
            RequestTimeoutError: no ack within the request deadline.
            InvalidRequestError: the parameters conflict with a live subscription.
        """
        if self._state != "new":
            if self._state == "closed" and self._error is not None:
                raise self._error
            return
        self._state = "opening"
        try:
            self._connection = self._connection_getter()
            await self._connection.attach(self)
        except BaseException:
            self._state = "closed"
            self._connection = None
            self._send.close()
            raise
        if self._state == "opening":
            self._state = "open"

    async def aclose(self) -> None:
        """Leave the subscription; unsubscribes on the wire if this was the last user.

        Bounded by the close deadline and shielded, so it is safe in ``finally`` blocks.
        """
        if self._state == "closed" and self._connection is None:
            return
        self._state = "closed"
        conn, self._connection = self._connection, None
        self._send.close()
        if conn is not None:
            await conn.detach(self)

    def statistics(self) -> SubscriptionStatistics:
        """Counters: buffered, delivered, lost (overflow), conflated (``latest``), gaps."""
        stats = self._recv.statistics()
        return SubscriptionStatistics(
            buffered=stats.current_buffer_used,
            buffer_size=self._buffer_size,
            delivered=self._delivered,
            lost=self._lost,
            conflated=self._conflated,
            gaps=self._gaps,
        )

    def __del__(self) -> None:
        # Safety net for plain `async for ... : break`: release the wire subscription.
        conn = getattr(self, "_connection", None)
        if conn is not None and getattr(self, "_state", "closed") != "closed":
            self._state = "closed"
            self._connection = None
            try:
                conn.detach_nowait(self)
            except Exception:  # interpreter shutdown or closed loop; nothing to release then
                log.debug("subscription released during shutdown")

    # ---------------------------------------------------------------- connection side

    def _key(self) -> WsKey:
        return self._connection.key if self._connection is not None else WsKey.SPOT_PUBLIC_V2

    @property
    def closed(self) -> bool:
        """True once the subscription has ended (by the user, an error or the client)."""
        return self._state == "closed"

    def _push(self, item: Any) -> None:
        """Deliver without blocking; apply the overflow policy when full."""
        try:
            self._send.send_nowait(item)
        except trio.WouldBlock:
            pass
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            return
        else:
            return
        if self.on_overflow == "drop_oldest":
            with contextlib.suppress(trio.WouldBlock, trio.EndOfChannel):
                self._recv.receive_nowait()
            self._lost += 1
            self._pending_lost += 1
            self._send.send_nowait(item)
        elif self.on_overflow == "latest":
            self._conflate(item)
        else:
            self._lost += 1
            error = OverrunError(self._lost, f"{self.channel} {self.symbols}")
            log.warning("[%s] %s", self._key(), error)
            self._fail(error)
            conn, self._connection = self._connection, None
            if conn is not None:
                conn.detach_nowait(self)

    def _conflate(self, item: Any) -> None:
        items: list[Any] = []
        while True:
            try:
                items.append(self._recv.receive_nowait())
            except (trio.WouldBlock, trio.EndOfChannel):
                break
        items.append(item)
        latest: dict[Hashable, Any] = {}
        for it in items:
            key = self._conflate_key(it)
            latest.pop(key, None)
            latest[key] = it
        kept = list(latest.values())[-self._buffer_size :]
        self._conflated += len(items) - len(kept)
        for it in kept:
            self._send.send_nowait(it)

    def _fail(self, error: BaseException | None) -> None:
        """End the stream: buffered messages are still delivered, then ``error`` is raised."""
        if self._error is None:
            self._error = error
        self._state = "closed"
        self._send.close()


def _default_key(item: Any) -> Hashable:
    data = getattr(item, "data", None)
    if isinstance(data, list) and data:
        return (type(item), getattr(data[0], "symbol", None))
    return (type(item), getattr(item, "product_id", None))
