"""The object a user holds: an async iterator over a bounded memory channel.

Two objects make a subscription. The :class:`Inbox` is what the connection's session
delivers into (without ever blocking: when the buffer is full the ``on_overflow`` policy
decides, and loss is never silent). The :class:`Subscription` is what the user holds; the
connection never references it, so a subscription the user drops (``async for ... : break``
without ``async with``) is released as soon as Python frees it (at once in CPython).

A subscription talks to its connection only through :class:`SubscriptionHost`, the small
interface this module defines and the connection implements.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Hashable, Sequence
from types import TracebackType
from typing import Any, Generic, Literal, NoReturn, Protocol, Self, TypeVar

import trio

from ._config import WsKey
from ._errors import OverrunError
from ._events import Gap, SubscriptionStatistics

__all__ = ["Inbox", "OverflowPolicy", "Subscription", "SubscriptionHost"]

log = logging.getLogger("kraken_trio")

OverflowPolicy = Literal["raise", "drop_oldest", "latest"]
# A consumer takes up to this many buffered messages per scheduler pass. The connection
# hands over at most READ_SLICE messages per pass (see _connection.py), fewer than this, so
# a consumer that keeps up drains faster than the reader fills and never overruns.
YIELD_EVERY = 1024
_POLICIES = ("raise", "drop_oldest", "latest")

T = TypeVar("T")


class SubscriptionHost(Protocol):
    """What a subscription needs from its connection."""

    key: WsKey

    async def attach(
        self, inbox: Inbox, channel: str, symbols: Sequence[str | None], params: dict[str, Any]
    ) -> list[Any]:
        """Register ``inbox`` on its wire subscriptions and wait for the acks; returns
        opaque handles for :meth:`detach_nowait`."""
        ...

    def detach_nowait(self, inbox: Inbox, handles: list[Any]) -> None:
        """Unregister ``inbox`` (unsubscribing where it was the last user); never blocks."""
        ...


class Inbox:
    """The receiving end the session delivers into: a bounded buffer with a policy."""

    wants_changes = False

    def __init__(
        self,
        ws_key: WsKey,
        description: str,
        buffer_size: int,
        on_overflow: OverflowPolicy,
        conflate_key: Callable[[Any], Hashable] | None = None,
    ) -> None:
        self.ws_key = ws_key
        self.description = description
        self.buffer_size = buffer_size
        self.on_overflow: OverflowPolicy = on_overflow
        self.send, self.recv = trio.open_memory_channel[Any](buffer_size)
        self.conflate_key = conflate_key or _default_key
        self.error: BaseException | None = None
        self.ended = False
        self.pending_lost = 0
        self.lost = 0
        self.conflated = 0
        self.release: Callable[[], None] | None = None  # set while attached

    def deliver(self, item: Any) -> None:
        """Deliver without blocking; apply the overflow policy when full."""
        try:
            self.send.send_nowait(item)
        except trio.WouldBlock:
            pass
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            return
        else:
            return
        if self.on_overflow == "drop_oldest":
            with contextlib.suppress(trio.WouldBlock, trio.EndOfChannel):
                self.recv.receive_nowait()
            self.lost += 1
            self.pending_lost += 1
            self.send.send_nowait(item)
        elif self.on_overflow == "latest":
            self._conflate(item)
        else:
            self.lost += 1
            error = OverrunError(self.lost, self.description)
            log.warning("[%s] %s", self.ws_key, error)
            self.fail(error)
            release, self.release = self.release, None
            if release is not None:
                release()

    def _conflate(self, item: Any) -> None:
        items: list[Any] = []
        while True:
            try:
                items.append(self.recv.receive_nowait())
            except (trio.WouldBlock, trio.EndOfChannel):
                break
        items.append(item)
        latest: dict[Hashable, Any] = {}
        for it in items:
            # Markers are never merged away: loss and gaps are never silent.
            key = ("marker", id(it)) if isinstance(it, Gap) else self.conflate_key(it)
            latest.pop(key, None)
            latest[key] = it
        kept = list(latest.values())
        self.conflated += len(items) - len(kept)
        dropped = 0
        while len(kept) > self.buffer_size:
            # Only markers left to keep, or too many symbols: drop the oldest message.
            index = next((i for i, it in enumerate(kept) if not isinstance(it, Gap)), 0)
            del kept[index]
            dropped += 1
        if dropped:
            self.lost += dropped
            self.pending_lost += dropped
        for it in kept:
            self.send.send_nowait(it)

    def fail(self, error: BaseException | None) -> None:
        """End the stream: buffered messages are still delivered, then ``error`` is raised."""
        if self.error is None:
            self.error = error
        self.ended = True
        self.send.close()


class Subscription(Generic[T]):
    """A live subscription: ``async with`` it, or iterate it directly.

    Iterating yields the typed messages of this subscription (its snapshot, then its
    updates) and :class:`~kraken_trio.Gap` markers. Leaving the ``async with`` block (or the
    client) unsubscribes on the wire when this was the last user of that channel and
    symbol; a subscription iterated without ``async with`` is released when it is dropped
    (in CPython at once, e.g. at the ``break`` of its ``async for``). Cancelling an
    ``async for`` leaves the subscription intact and loses no message.
    """

    def __init__(
        self,
        host_getter: Callable[[], SubscriptionHost],
        ws_key: WsKey,
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
        self._host_getter = host_getter
        self._host: SubscriptionHost | None = None
        self._handles: list[Any] = []
        self.channel = channel
        self.symbols = symbols
        self.params = params
        self.on_overflow: OverflowPolicy = on_overflow
        described = [s for s in symbols if s]
        self._inbox = Inbox(
            ws_key, f"{channel} {described}", buffer_size, on_overflow, conflate_key
        )
        self._state: Literal["new", "opening", "open", "closed"] = "new"
        self._delivered = 0
        self._gaps = 0
        self._fast = 0

    def __repr__(self) -> str:
        return f"<Subscription {self.channel} {[s for s in self.symbols if s]} state={self._state}>"

    @property
    def ws_key(self) -> WsKey:
        """The connection this subscription lives on."""
        return self._inbox.ws_key

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

    def __iter__(self) -> NoReturn:
        raise TypeError(
            "a Subscription is an async iterator: use `async for msg in sub` (inside "
            "`async with open_kraken() as k`), not `for`"
        )

    async def __anext__(self) -> T:
        inbox = self._inbox
        if self._state == "open" and not inbox.pending_lost:
            # Fast path: the connection hands over a slice of a read batch at once, so a
            # buffered message is taken without a scheduler pass. Cancellation is checked
            # BEFORE a message is taken (a cancelled call never consumes one), and every
            # YIELD_EVERY messages the consumer lets other tasks run.
            await trio.lowlevel.checkpoint_if_cancelled()
            try:
                item = inbox.recv.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                pass
            else:
                self._fast += 1
                if self._fast >= YIELD_EVERY:
                    self._fast = 0
                    await trio.lowlevel.cancel_shielded_checkpoint()
                self._delivered += 1
                return item  # type: ignore[no-any-return]
        if self._state == "new":
            await self.open()
        if inbox.pending_lost:
            await trio.lowlevel.checkpoint_if_cancelled()
            lost, inbox.pending_lost = inbox.pending_lost, 0
            self._gaps += 1
            gap: Any = Gap(reason="overflow", ws_key=inbox.ws_key, lost=lost)
            return gap  # type: ignore[no-any-return]
        try:
            item = await inbox.recv.receive()
        except trio.EndOfChannel:
            if inbox.error is not None:
                raise inbox.error from None
            raise StopAsyncIteration from None
        except trio.ClosedResourceError:
            raise StopAsyncIteration from None
        self._delivered += 1
        if isinstance(item, Gap):
            self._gaps += 1
        return item  # type: ignore[no-any-return]

    async def open(self) -> None:
        """Subscribe on the wire (or join an existing wire subscription) and wait for the acks.

        Idempotent. A checkpoint.

        Raises:
            SubscriptionError: Kraken refused a symbol (Kraken's text included).
            AuthenticationError: a private channel could not authenticate.
            RequestTimeoutError: no ack within the request deadline.
            InvalidRequestError: the parameters conflict with a live subscription.
            ClosedError: the client closed meanwhile.
        """
        if self._state != "new":
            if self._state == "closed" and self._inbox.error is not None:
                raise self._inbox.error
            return
        self._state = "opening"
        inbox = self._inbox
        try:
            host = self._host_getter()
            handles = await host.attach(inbox, self.channel, self.symbols, self.params)
        except BaseException:
            self._state = "closed"
            inbox.send.close()
            raise
        self._host, self._handles = host, handles

        def release() -> None:
            host.detach_nowait(inbox, handles)

        inbox.release = release
        state: str = self._state  # aclose() may have run while we waited
        if state == "opening" and not inbox.ended:
            self._state = "open"
        elif state == "closed":
            self._release()

    async def aclose(self) -> None:
        """Leave the subscription; unsubscribes on the wire if this was the last user.

        Never blocks on the network (the unsubscribe is queued); a checkpoint.
        """
        self._state = "closed"
        self._inbox.send.close()
        self._release()
        await trio.lowlevel.checkpoint()

    def _release(self) -> None:
        release, self._inbox.release = self._inbox.release, None
        self._host = None
        if release is not None:
            release()

    def statistics(self) -> SubscriptionStatistics:
        """Counters: buffered, delivered, lost (overflow), conflated (``latest``), gaps."""
        stats = self._inbox.recv.statistics()
        return SubscriptionStatistics(
            buffered=stats.current_buffer_used,
            buffer_size=self._inbox.buffer_size,
            delivered=self._delivered,
            lost=self._inbox.lost,
            conflated=self._inbox.conflated,
            gaps=self._gaps,
        )

    @property
    def closed(self) -> bool:
        """True once the subscription has ended (by the user, an error or the client)."""
        return self._state == "closed" or self._inbox.ended

    def __del__(self) -> None:
        # A subscription iterated without `async with` and dropped: release its wires.
        inbox: Any = getattr(self, "_inbox", None)
        if inbox is None or inbox.release is None:
            return
        try:
            self._release()
        except Exception:  # interpreter shutdown or closed loop: nothing to release then
            log.debug("subscription released during shutdown")


def _default_key(item: Any) -> Hashable:
    data = getattr(item, "data", None)
    if isinstance(data, list) and data:
        return (type(item), getattr(data[0], "symbol", None))
    return (type(item), getattr(item, "product_id", None))
