"""Local order books kept from the ``book`` / ``level3`` channels and futures ``book`` feed.

Every message is applied in order and its checksum verified (Spot L2 and L3) or its ``seq``
checked (Futures). A mismatch or gap resyncs that symbol alone: a fresh snapshot is asked
for it, no other symbol or subscription is disturbed, and the event is visible in-band
(a ``BookEvent`` of kind ``"resync"``), in the lifecycle events and in the counters.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, Self

from ._config import WsKey
from ._errors import ProtocolError
from ._proto import futures as f
from ._proto import spot as s
from ._proto.book import FuturesBook, L2Book, L3Book
from ._subscription import Gap, Subscription

if TYPE_CHECKING:
    from ._proto.book import BookOrder

__all__ = ["BookEvent", "LocalBook", "OrderBooks"]

log = logging.getLogger("kraken_trio")

BookEventKind = Literal["snapshot", "update", "resync", "gap"]


@dataclass(frozen=True, slots=True)
class BookEvent:
    """What happened to one book.

    Attributes:
        kind: ``snapshot`` (the book is now in sync), ``update`` (an update was applied and
            verified), ``resync`` (a checksum mismatch, seq gap or overflow: the book waits
            for a fresh snapshot) or ``gap`` (the connection dropped: a fresh snapshot follows).
        symbol: The symbol (product id for futures).
        book: The book itself.
    """

    kind: BookEventKind
    symbol: str
    book: LocalBook


class LocalBook:
    """One maintained book. Read it after each :class:`BookEvent`."""

    def __init__(self, symbol: str, impl: L2Book | L3Book | FuturesBook, owner: OrderBooks) -> None:
        self.symbol = symbol
        self._impl = impl
        self._owner = owner
        self.synced = False
        self.updates = 0
        self.resyncs = 0
        self.checksum_failures = 0
        self.seq_gaps = 0
        self.last_checksum: int | None = None

    def __repr__(self) -> str:
        return (
            f"<LocalBook {self.symbol} synced={self.synced} bid={self.best_bid} "
            f"ask={self.best_ask} resyncs={self.resyncs}>"
        )

    @property
    def level(self) -> int:
        """2 for Level 2 books (spot and futures), 3 for Level 3."""
        return 3 if isinstance(self._impl, L3Book) else 2

    @property
    def price_precision(self) -> int | None:
        """Decimal places of prices used for the checksum (None: the wire text as decoded)."""
        return None if isinstance(self._impl, FuturesBook) else self._impl.price_precision

    @property
    def qty_precision(self) -> int | None:
        """Decimal places of quantities used for the checksum."""
        return None if isinstance(self._impl, FuturesBook) else self._impl.qty_precision

    @property
    def best_bid(self) -> tuple[Decimal, Decimal] | None:
        """(price, qty) of the best bid, or None."""
        return self._impl.best_bid

    @property
    def best_ask(self) -> tuple[Decimal, Decimal] | None:
        """(price, qty) of the best ask, or None."""
        return self._impl.best_ask

    @property
    def spread(self) -> Decimal | None:
        """Best ask minus best bid."""
        return self._impl.spread

    @property
    def mid(self) -> Decimal | None:
        """Mid price."""
        return self._impl.mid

    def bids(self, n: int | None = None) -> list[tuple[Decimal, Decimal]]:
        """The best ``n`` bids (all by default), best first, aggregated per price."""
        return self._impl.bids(n)

    def asks(self, n: int | None = None) -> list[tuple[Decimal, Decimal]]:
        """The best ``n`` asks (all by default), best first, aggregated per price."""
        return self._impl.asks(n)

    def orders_at(self, price: Decimal) -> list[BookOrder]:
        """Level 3 only: the orders queued at ``price``, in queue order."""
        if not isinstance(self._impl, L3Book):
            raise TypeError("orders_at needs a level=3 book")
        return self._impl.orders_at(price)

    @property
    def checksum(self) -> int | None:
        """The checksum of the current state (spot books), or None for futures."""
        if isinstance(self._impl, FuturesBook):
            return None
        return self._impl.checksum()

    def __aiter__(self) -> OrderBooks:
        return self._owner


_SPOT_BOOK_TYPES = (s.BookMessage, s.L3Message)


class OrderBooks:
    """Several maintained books sharing one subscription; iterate for :class:`BookEvent` s."""

    def __init__(
        self,
        sub: Subscription[Any],
        symbols: list[str],
        *,
        level: int,
        depth: int,
        futures: bool,
        precisions: dict[str, tuple[int | None, int | None]],
    ) -> None:
        self._sub = sub
        self._futures = futures
        self._books: dict[str, LocalBook] = {}
        for symbol in symbols:
            impl: L2Book | L3Book | FuturesBook
            if futures:
                impl = FuturesBook(symbol)
            else:
                pp, qp = precisions.get(symbol, (None, None))
                impl = (L3Book if level == 3 else L2Book)(symbol, depth, pp, qp)
            self._books[symbol] = LocalBook(symbol, impl, self)

    def __getitem__(self, symbol: str) -> LocalBook:
        return self._books[symbol]

    def __iter__(self) -> Any:
        return iter(self._books.values())

    def __len__(self) -> int:
        return len(self._books)

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> BookEvent:
        """Apply the next message and say what happened. A checkpoint.

        Raises:
            StopAsyncIteration: the client closed.
            KrakenError: the connection failed for good (authentication, reconnect limit).
        """
        while True:
            msg = await self._sub.__anext__()
            event = self._apply(msg)
            if event is not None:
                return event

    def _apply(self, msg: Any) -> BookEvent | None:
        if isinstance(msg, Gap):
            return self._on_gap(msg)
        if isinstance(msg, _SPOT_BOOK_TYPES):
            event: BookEvent | None = None
            for data in msg.data:
                event = self._apply_spot(msg.type, data) or event
            return event
        if isinstance(msg, f.FuturesBookSnapshot):
            book = self._books.get(msg.product_id)
            if book is None:
                return None
            assert isinstance(book._impl, FuturesBook)
            book._impl.apply_snapshot(msg.seq, msg.bids, msg.asks)
            book.synced = True
            return BookEvent("snapshot", book.symbol, book)
        if isinstance(msg, f.FuturesBookDelta):
            book = self._books.get(msg.product_id)
            if book is None or not book.synced:
                return None
            assert isinstance(book._impl, FuturesBook)
            if book._impl.apply_delta(msg.seq, msg.side, msg.price, msg.qty):
                book.updates += 1
                return BookEvent("update", book.symbol, book)
            book.seq_gaps += 1
            expected = (book._impl.seq or 0) + 1
            return self._resync(book, f"seq gap: expected {expected}, got {msg.seq}")
        return None

    def _apply_spot(self, kind: str, data: s.BookData | s.L3Data) -> BookEvent | None:
        book = self._books.get(data.symbol)
        if book is None:
            return None
        impl = book._impl
        assert not isinstance(impl, FuturesBook)
        try:
            if kind == "snapshot":
                impl.apply_snapshot(data.bids, data.asks)  # type: ignore[arg-type]
            elif not book.synced:
                return None  # stale update of a stream being resynced
            else:
                impl.apply_update(data.bids, data.asks)  # type: ignore[arg-type]
        except ProtocolError as exc:
            book.synced = False
            return self._resync(book, f"bad book data: {exc.reason}")
        book.last_checksum = data.checksum
        if not impl.verify(data.checksum):
            book.checksum_failures += 1
            book.synced = False
            return self._resync(
                book, f"checksum mismatch: got {data.checksum}, computed {impl.checksum()}"
            )
        if kind == "snapshot":
            book.synced = True
            return BookEvent("snapshot", book.symbol, book)
        book.updates += 1
        return BookEvent("update", book.symbol, book)

    def _on_gap(self, gap: Gap) -> BookEvent | None:
        if gap.reason == "resync":
            return None  # we asked for it ourselves
        targets = (
            [self._books[gap.symbol]] if gap.symbol in self._books else list(self._books.values())
        )
        if gap.reason == "overflow":
            event = None
            for book in targets:
                book.synced = False
                event = self._resync(book, f"{gap.lost} message(s) dropped by a slow consumer")
            return event
        for book in targets:
            book.synced = False
        return BookEvent("gap", targets[0].symbol, targets[0]) if targets else None

    def _resync(self, book: LocalBook, reason: str) -> BookEvent:
        book.synced = False
        book.resyncs += 1
        log.warning("[%s] resyncing book %s: %s", self._key(), book.symbol, reason)
        conn = self._sub._connection
        if conn is not None:
            channel = self._sub.channel
            conn.resync(channel, book.symbol, self._sub.params, reason)
        return BookEvent("resync", book.symbol, book)

    def _key(self) -> WsKey | None:
        conn = self._sub._connection
        return conn.key if conn is not None else None
