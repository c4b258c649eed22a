"""Local order books as the user reads them: views of the books the connection keeps.

The connection applies every ``book`` / ``level3`` message (checksum verified) and futures
``book`` message (``seq`` checked) as it reads it, so ``book.best_bid`` is current at any
moment, whether or not anybody iterates. Iterating yields :class:`BookEvent` change
notifications, conflated when the reader is behind: a slow reader never overruns and never
causes a resync. A mismatch or gap resyncs that symbol alone.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, Self

import trio

from ._config import WsKey
from ._events import SubscriptionStatistics
from ._proto.book import FuturesBook, L3Book
from ._proto.livestate import FuturesBookState, SpotBookState
from ._proto.session import BookChange

if TYPE_CHECKING:
    from collections.abc import Iterator

    from ._proto.book import BookOrder
    from ._subscription import SubscriptionHost

__all__ = ["BookEvent", "BookInbox", "LocalBook", "OrderBooks"]

BookEventKind = Literal["snapshot", "update", "resync", "gap", "untrusted"]
_MAX_PENDING = 8  # notifications kept per symbol for a reader that is behind


@dataclass(frozen=True, slots=True)
class BookEvent:
    """What happened to one book.

    Attributes:
        kind: ``snapshot`` (the book is now in sync), ``update`` (one or more updates were
            applied and verified since the last event), ``resync`` (a checksum mismatch or
            seq gap: the book waits for a fresh snapshot), ``gap`` (the connection dropped:
            a fresh snapshot follows) or ``untrusted`` (several resyncs in a row failed;
            ``detail`` says why; the connection keeps trying with backoff).
        symbol: The symbol (product id for futures).
        book: The book itself.
        detail: Why, for ``resync`` and ``untrusted``.
    """

    kind: BookEventKind
    symbol: str
    book: LocalBook
    detail: str = ""


class BookInbox:
    """What the session delivers book changes into: per symbol, conflated, never full."""

    wants_changes = True

    def __init__(self, ws_key: WsKey, precisions: dict[str, tuple[int | None, int | None]]) -> None:
        self.ws_key = ws_key
        self.precisions = precisions
        self.pending: dict[str, deque[BookChange]] = {}
        self.wakeup = trio.Event()
        self.error: BaseException | None = None
        self.ended = False
        self.release: Any = None

    def deliver(self, item: Any) -> None:
        """Take a change notification (raw messages and Gap markers are not for books)."""
        if not isinstance(item, BookChange):
            return
        queue = self.pending.setdefault(item.symbol, deque())
        if queue and (
            queue[-1].kind == item.kind or (item.kind == "update" and queue[-1].kind == "snapshot")
        ):
            queue[-1] = queue[-1] if item.kind == "update" else item  # conflate
        else:
            queue.append(item)
            while len(queue) > _MAX_PENDING:
                queue.popleft()
        self.wakeup.set()

    def fail(self, error: BaseException | None) -> None:
        """End the iteration (with ``error``, or cleanly when None)."""
        if self.error is None:
            self.error = error
        self.ended = True
        self.wakeup.set()

    def take(self) -> BookChange | None:
        """The oldest pending change of the symbol that waited longest, if any."""
        for symbol, queue in self.pending.items():
            change = queue.popleft()
            if not queue:
                del self.pending[symbol]
            else:  # round-robin: this symbol goes to the back
                self.pending[symbol] = self.pending.pop(symbol)
            return change
        return None


class LocalBook:
    """One book kept by the connection; every read is current."""

    def __init__(self, symbol: str, owner: OrderBooks) -> None:
        self.symbol = symbol
        self._owner = owner
        self._state: SpotBookState | FuturesBookState | None = None
        self.resyncs = 0

    def __repr__(self) -> str:
        return (
            f"<LocalBook {self.symbol} synced={self.synced} bid={self.best_bid} "
            f"ask={self.best_ask} resyncs={self.resyncs}>"
        )

    @property
    def _impl(self) -> Any:
        if self._state is None:
            raise RuntimeError(f"book {self.symbol} is not open (use it inside `async with`)")
        return self._state.book

    @property
    def synced(self) -> bool:
        """True while the book matches Kraken's (a snapshot arrived, nothing failed since)."""
        return self._state is not None and self._state.synced

    @property
    def updates(self) -> int:
        """Updates applied (and verified) so far."""
        return self._state.updates if self._state is not None else 0

    @property
    def checksum_failures(self) -> int:
        """Spot: checksum mismatches seen."""
        return self._state.checksum_failures if isinstance(self._state, SpotBookState) else 0

    @property
    def seq_gaps(self) -> int:
        """Futures: ``seq`` gaps seen."""
        return self._state.seq_gaps if isinstance(self._state, FuturesBookState) else 0

    @property
    def last_checksum(self) -> int | None:
        """Spot: the checksum Kraken sent with the last applied message."""
        return self._state.last_checksum if isinstance(self._state, SpotBookState) else None

    @property
    def level(self) -> int:
        """2 for Level 2 books (spot and futures), 3 for Level 3."""
        return 3 if isinstance(self._impl, L3Book) else 2

    @property
    def price_precision(self) -> int | None:
        """Decimal places of prices used for the checksum (None: the wire text as decoded)."""
        impl = self._impl
        return None if isinstance(impl, FuturesBook) else impl.price_precision

    @property
    def qty_precision(self) -> int | None:
        """Decimal places of quantities used for the checksum."""
        impl = self._impl
        return None if isinstance(impl, FuturesBook) else impl.qty_precision

    @property
    def best_bid(self) -> tuple[Decimal, Decimal] | None:
        """(price, qty) of the best bid, or None."""
        return self._impl.best_bid  # type: ignore[no-any-return]

    @property
    def best_ask(self) -> tuple[Decimal, Decimal] | None:
        """(price, qty) of the best ask, or None."""
        return self._impl.best_ask  # type: ignore[no-any-return]

    @property
    def spread(self) -> Decimal | None:
        """Best ask minus best bid."""
        return self._impl.spread  # type: ignore[no-any-return]

    @property
    def mid(self) -> Decimal | None:
        """Mid price."""
        return self._impl.mid  # type: ignore[no-any-return]

    def bids(self, n: int | None = None) -> list[tuple[Decimal, Decimal]]:
        """The best ``n`` bids (all by default), best first, aggregated per price."""
        return self._impl.bids(n)  # type: ignore[no-any-return]

    def asks(self, n: int | None = None) -> list[tuple[Decimal, Decimal]]:
        """The best ``n`` asks (all by default), best first, aggregated per price."""
        return self._impl.asks(n)  # type: ignore[no-any-return]

    def orders_at(self, price: Decimal) -> list[BookOrder]:
        """Level 3 only: the orders queued at ``price``, in queue order."""
        impl = self._impl
        if not isinstance(impl, L3Book):
            raise TypeError("orders_at needs a level=3 book")
        return impl.orders_at(price)

    @property
    def checksum(self) -> int | None:
        """The checksum of the current state (spot books), or None for futures."""
        impl = self._impl
        if isinstance(impl, FuturesBook):
            return None
        return impl.checksum()  # type: ignore[no-any-return]

    def __aiter__(self) -> OrderBooks:
        return self._owner


class OrderBooks:
    """Several books sharing one subscription; iterate for :class:`BookEvent` s."""

    def __init__(
        self,
        host_getter: Any,
        ws_key: WsKey,
        channel: str,
        symbols: list[str],
        params: dict[str, Any],
        precisions: dict[str, tuple[int | None, int | None]],
    ) -> None:
        self._host_getter = host_getter
        self._channel = channel
        self._params = params
        self._symbols = symbols
        self._inbox = BookInbox(ws_key, precisions)
        self._books = {symbol: LocalBook(symbol, self) for symbol in symbols}
        self._host: SubscriptionHost | None = None
        self._handles: list[Any] = []
        self._delivered = 0

    def __getitem__(self, symbol: str) -> LocalBook:
        return self._books[symbol]

    def __iter__(self) -> Iterator[LocalBook]:
        return iter(self._books.values())

    def __len__(self) -> int:
        return len(self._books)

    async def open(self) -> None:
        """Subscribe (or join the live books) and wait for the acks. A checkpoint."""
        host: SubscriptionHost = self._host_getter()
        handles = await host.attach(self._inbox, self._channel, self._symbols, self._params)  # type: ignore[arg-type]
        self._host, self._handles = host, handles
        for wire in handles:
            book = self._books.get(wire.symbol)
            if book is not None and isinstance(wire.live, SpotBookState | FuturesBookState):
                book._state = wire.live

    async def aclose(self) -> None:
        """Leave the books (unsubscribing where nobody else reads them). A checkpoint."""
        host, self._host = self._host, None
        if host is not None:
            host.detach_nowait(self._inbox, self._handles)  # type: ignore[arg-type]
        self._inbox.fail(None)
        await trio.lowlevel.checkpoint()

    def __repr__(self) -> str:
        pending = sum(map(len, self._inbox.pending.values()))
        return f"<OrderBooks {list(self._books)} pending={pending}>"

    def statistics(self) -> SubscriptionStatistics:
        """Counters in the shape of a subscription's: ``buffered`` is the change events
        waiting to be read (conflated, so never more than a few per symbol); nothing is
        ever lost: the books themselves are always current."""
        return SubscriptionStatistics(
            buffered=sum(map(len, self._inbox.pending.values())),
            buffer_size=_MAX_PENDING * len(self._books),
            delivered=self._delivered,
            lost=0,
            conflated=0,
            gaps=sum(b.resyncs for b in self._books.values()),
        )

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> BookEvent:
        """The next change of any of these books (conflated). A checkpoint.

        Raises:
            StopAsyncIteration: the client closed.
            KrakenError: the connection failed for good (authentication, reconnect limit).
        """
        inbox = self._inbox
        while True:
            await trio.lowlevel.checkpoint_if_cancelled()
            change = inbox.take()
            if change is not None:
                book = self._books.get(change.symbol)
                if book is None:
                    continue
                if change.kind == "resync":
                    book.resyncs += 1
                if not inbox.pending:
                    inbox.wakeup = trio.Event()
                await trio.lowlevel.cancel_shielded_checkpoint()
                self._delivered += 1
                return BookEvent(change.kind, change.symbol, book, change.detail)
            if inbox.ended:
                if inbox.error is not None:
                    raise inbox.error
                raise StopAsyncIteration
            inbox.wakeup = trio.Event()
            await inbox.wakeup.wait()
