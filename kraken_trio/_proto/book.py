"""Local order books and their checksums, pure and synchronous (no I/O, no trio).

Three books live here:

* :class:`L2Book` for the Spot v2 ``book`` channel: one quantity per price, Kraken's CRC32
  checksum over the top ten levels of each side.
* :class:`L3Book` for the Spot v2 ``level3`` channel: a FIFO queue of orders per price, and
  the same checksum built from one item per order.
* :class:`FuturesBook` for the Futures v1 ``book`` feed: no checksum, a per-product ``seq``
  that must grow by exactly one per delta.

Each side is a price list kept sorted with :mod:`bisect` plus a dict from price to quantity
(or to an order queue), so applying a level costs one dict operation and at most one
binary search and list insert/delete: a side is never re-sorted. The checksum digits of
every level (or order) are cached and re-rendered only when that level changes, and the
checksum itself is cached until the book changes; only the top ten levels are ever rendered,
whatever the depth.

Numbers are rendered at the pair's precision (``price_precision`` / ``qty_precision`` from
the ``instrument`` channel), as Kraken requires. A precision of ``None`` selects the
"raw-text" strategy instead: each :class:`~decimal.Decimal` is rendered exactly as it was
decoded (``Decimal("0.10000000")`` keeps its eight places). That is correct when the
Decimals come straight from Kraken's wire text, which is always padded to pair precision,
and wrong for data that lost its trailing zeros (re-serialised floats).

Crossed books: a book stores exactly what Kraken sent. If an update leaves the best bid at
or above the best ask, both levels stay (Kraken's checksum covers them, so removing either
would break verification until the exchange itself cleans up); :attr:`L2Book.crossed` says
so and :attr:`L2Book.spread` is then zero or negative.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import NamedTuple, Protocol
from zlib import crc32

from .._errors import ProtocolError

__all__ = [
    "CHECKSUM_LEVELS",
    "BookOrder",
    "FuturesBook",
    "L2Book",
    "L3Book",
    "L3OrderLike",
    "L3OrderUpdateLike",
    "PriceLevelLike",
]

CHECKSUM_LEVELS = 10
"""Kraken's checksum covers the best ten price levels of each side, whatever the depth."""

_ZERO = Decimal(0)
_TWO = Decimal(2)


class PriceLevelLike(Protocol):
    """One price level as decoded from a ``book`` message (``price`` and ``qty``)."""

    @property
    def price(self) -> Decimal: ...

    @property
    def qty(self) -> Decimal: ...


class L3OrderLike(Protocol):
    """One order of a ``level3`` snapshot."""

    @property
    def order_id(self) -> str: ...

    @property
    def limit_price(self) -> Decimal: ...

    @property
    def order_qty(self) -> Decimal: ...

    @property
    def timestamp(self) -> object: ...


class L3OrderUpdateLike(L3OrderLike, Protocol):
    """One order of a ``level3`` update: an order plus its ``event`` (required in updates)."""

    @property
    def event(self) -> str | None: ...


class BookOrder(NamedTuple):
    """One resting order in an :class:`L3Book` (an immutable copy of what Kraken sent).

    Attributes:
        order_id: Kraken's order id.
        limit_price: The order's limit price.
        order_qty: The quantity still resting.
        timestamp: The order's timestamp, exactly as the caller's decoder produced it.
    """

    order_id: str
    limit_price: Decimal
    order_qty: Decimal
    timestamp: object


def _spec(places: int | None) -> str:
    if places is None:
        return "f"
    if places < 0:
        raise ValueError(f"precision must be >= 0 or None, got {places}")
    return f".{places}f"


def _check_depth(depth: int) -> None:
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")


class _Side:
    """One side of a price-keyed book: sorted prices + price -> qty + cached digits.

    Prices are kept ascending for both sides; ``descending`` says the best price is the
    last one (bids) rather than the first (asks).
    """

    __slots__ = ("descending", "digits", "prices", "qty")

    def __init__(self, *, descending: bool) -> None:
        self.descending = descending
        self.prices: list[Decimal] = []
        self.qty: dict[Decimal, Decimal] = {}
        # price -> checksum text "price_digits + qty_digits"; absent means "render again".
        self.digits: dict[Decimal, str] = {}

    def clear(self) -> None:
        self.prices.clear()
        self.qty.clear()
        self.digits.clear()

    def set(self, price: Decimal, qty: Decimal) -> None:
        """Set one level: ``qty`` zero deletes (a zero for an unknown price is ignored)."""
        book_qty = self.qty
        if qty:
            if price in book_qty:
                book_qty[price] = qty
                self.digits.pop(price, None)
            else:
                book_qty[price] = qty
                insort(self.prices, price)
        elif book_qty.pop(price, None) is not None:
            prices = self.prices
            del prices[bisect_left(prices, price)]
            self.digits.pop(price, None)

    def truncate(self, depth: int) -> None:
        """Keep only the best ``depth`` prices."""
        prices = self.prices
        excess = len(prices) - depth
        if excess <= 0:
            return
        book_qty = self.qty
        digits = self.digits
        if self.descending:  # best is last: the worst are at the front
            dropped = prices[:excess]
            del prices[:excess]
        else:
            dropped = prices[depth:]
            del prices[depth:]
        for price in dropped:
            del book_qty[price]
            digits.pop(price, None)

    def top_prices(self, n: int | None) -> list[Decimal]:
        """The best ``n`` prices (all when ``None``), best first."""
        prices = self.prices
        if n is None or n >= len(prices):
            return prices[::-1] if self.descending else prices[:]
        if n <= 0:
            return []
        return prices[: -n - 1 : -1] if self.descending else prices[:n]

    def top(self, n: int | None) -> list[tuple[Decimal, Decimal]]:
        book_qty = self.qty
        return [(p, book_qty[p]) for p in self.top_prices(n)]

    def best(self) -> tuple[Decimal, Decimal] | None:
        prices = self.prices
        if not prices:
            return None
        price = prices[-1] if self.descending else prices[0]
        return price, self.qty[price]

    def checksum_parts(self, price_spec: str, qty_spec: str, out: list[str]) -> None:
        """Append the checksum text of the top ten levels, best first, rendering only misses."""
        digits = self.digits
        book_qty = self.qty
        for price in self.top_prices(CHECKSUM_LEVELS):
            text = digits.get(price)
            if text is None:
                text = format(price, price_spec).replace(".", "").lstrip("0") + format(
                    book_qty[price], qty_spec
                ).replace(".", "").lstrip("0")
                digits[price] = text
            out.append(text)


_LOW = Decimal("1e-30")
_HIGH = Decimal("1e30")
"""Prices and non-zero quantities must lie strictly within 1e-30 and 1e30: far beyond any
real market, and close enough to 1 that rendering one for a checksum is cheap (written out,
``1e999999999999999999`` would take an exabyte)."""


def _sound_zero(qty: Decimal) -> bool:
    """A zero quantity (a delete) whose exponent is sane (``0E-999999999`` is not)."""
    return not qty and -30 <= qty.adjusted() <= 30


def _check_level(what: str, symbol: str, price: Decimal, qty: Decimal) -> None:
    """Raise unless the level is one Kraken could have sent.

    Sound: a price within (1e-30, 1e30), a quantity within [1e-30, 1e30) or zero. That
    excludes ``NaN``, ``sNaN``, ``Infinity``, huge or tiny exponents, prices not above zero
    and negative quantities; comparing a NaN signals, which is caught here.

    Raises:
        ProtocolError: the level is not sound; the message says why.
    """
    try:
        if _LOW < price < _HIGH and (_LOW <= qty < _HIGH or _sound_zero(qty)):
            return
    except InvalidOperation:
        pass
    where = f"in {what} for {symbol}"
    if not (price.is_finite() and qty.is_finite()):
        problem = f"price {price} / quantity {qty} is not a finite number"
    elif price <= _ZERO:
        problem = f"price {price} is not above zero"
    elif qty < _ZERO:
        problem = f"negative quantity {qty} at price {price}"
    else:
        # The text of even a huge exponent is short ("1E+999999999999999999"): safe to show.
        problem = f"price {price} / quantity {qty} is out of range (1e-30 to 1e30)"
    raise ProtocolError(f"{problem} {where}")


class _SideLike(Protocol):
    prices: list[Decimal]

    def best(self) -> tuple[Decimal, Decimal] | None: ...

    def top(self, n: int | None) -> list[tuple[Decimal, Decimal]]: ...


class _Quotes:
    """Best prices, spread, mid and top-N views: the same for every kind of book."""

    __slots__ = ()
    _bids: _SideLike
    _asks: _SideLike

    @property
    def best_bid(self) -> tuple[Decimal, Decimal] | None:
        """``(price, qty)`` of the highest bid level (total qty for L3), or ``None``."""
        return self._bids.best()

    @property
    def best_ask(self) -> tuple[Decimal, Decimal] | None:
        """``(price, qty)`` of the lowest ask level (total qty for L3), or ``None``."""
        return self._asks.best()

    @property
    def spread(self) -> Decimal | None:
        """Best ask minus best bid (zero or negative when crossed), ``None`` if a side is empty."""
        bid = self._bids.best()
        ask = self._asks.best()
        if bid is None or ask is None:
            return None
        return ask[0] - bid[0]

    @property
    def mid(self) -> Decimal | None:
        """The midpoint of best bid and best ask, ``None`` if a side is empty."""
        bid = self._bids.best()
        ask = self._asks.best()
        if bid is None or ask is None:
            return None
        return (ask[0] + bid[0]) / _TWO

    @property
    def crossed(self) -> bool:
        """Whether the best bid is at or above the best ask."""
        spread = self.spread
        return spread is not None and spread <= _ZERO

    @property
    def bid_count(self) -> int:
        """Number of bid price levels."""
        return len(self._bids.prices)

    @property
    def ask_count(self) -> int:
        """Number of ask price levels."""
        return len(self._asks.prices)

    def bids(self, n: int | None = None) -> list[tuple[Decimal, Decimal]]:
        """The best ``n`` bid levels (all if ``None``) as ``(price, qty)``, highest first."""
        return self._bids.top(n)

    def asks(self, n: int | None = None) -> list[tuple[Decimal, Decimal]]:
        """The best ``n`` ask levels (all if ``None``) as ``(price, qty)``, lowest first."""
        return self._asks.top(n)


class _SpotBook(_Quotes):
    """What the checksummed spot books (L2 and L3) share besides their quotes."""

    __slots__ = ()
    _symbol: str
    _depth: int
    _price_precision: int | None
    _qty_precision: int | None

    def checksum(self) -> int:
        raise NotImplementedError

    def verify(self, expected: int) -> bool:
        """Whether the book's checksum equals the ``checksum`` Kraken sent."""
        return self.checksum() == expected

    @property
    def symbol(self) -> str:
        """The pair this book is for."""
        return self._symbol

    @property
    def depth(self) -> int:
        """The number of price levels kept per side."""
        return self._depth

    @property
    def price_precision(self) -> int | None:
        """Price decimals used for the checksum (``None``: as decoded)."""
        return self._price_precision

    @property
    def qty_precision(self) -> int | None:
        """Quantity decimals used for the checksum (``None``: as decoded)."""
        return self._qty_precision


class L2Book(_SpotBook):
    """A local Level 2 book for one symbol of the Spot v2 ``book`` channel.

    Args:
        symbol: The pair, e.g. ``"BTC/USD"``.
        depth: The subscribed depth; each side is truncated to it after every message.
        price_precision: The pair's price decimals (``None``: render prices as decoded).
        qty_precision: The pair's quantity decimals (``None``: render quantities as decoded).

    Raises:
        ValueError: ``depth`` < 1 or a negative precision.
    """

    _bids: _Side
    _asks: _Side
    __slots__ = (
        "_asks",
        "_bids",
        "_checksum",
        "_depth",
        "_price_precision",
        "_price_spec",
        "_qty_precision",
        "_qty_spec",
        "_symbol",
    )

    def __init__(
        self, symbol: str, depth: int, price_precision: int | None, qty_precision: int | None
    ) -> None:
        _check_depth(depth)
        self._price_spec = _spec(price_precision)
        self._qty_spec = _spec(qty_precision)
        self._symbol = symbol
        self._depth = depth
        self._price_precision = price_precision
        self._qty_precision = qty_precision
        self._bids = _Side(descending=True)
        self._asks = _Side(descending=False)
        self._checksum: int | None = None

    def __repr__(self) -> str:
        return (
            f"<L2Book {self._symbol} depth={self._depth} bids={len(self._bids.prices)}"
            f" asks={len(self._asks.prices)} best_bid={self.best_bid} best_ask={self.best_ask}>"
        )

    # -- mutation ---------------------------------------------------------------------------

    def clear(self) -> None:
        """Forget every level (before a resync)."""
        self._bids.clear()
        self._asks.clear()
        self._checksum = None

    def apply_snapshot(
        self, bids: Iterable[PriceLevelLike], asks: Iterable[PriceLevelLike]
    ) -> None:
        """Replace the whole book with a snapshot, then truncate each side to ``depth``.

        Raises:
            ProtocolError: a level is not sound: a price or quantity that is not a finite
                number or out of range, a price not above zero or a negative quantity
                (the book is then cleared).
        """
        self.clear()
        try:
            self.apply_update(bids, asks)
        except ProtocolError:
            self.clear()
            raise

    def apply_update(self, bids: Iterable[PriceLevelLike], asks: Iterable[PriceLevelLike]) -> None:
        """Apply one update message: levels in order (qty 0 deletes), then truncate.

        A zero quantity for a price not in the book is legal and ignored; the same price
        may appear several times and the last one wins.

        Raises:
            ProtocolError: a level is not sound (see :meth:`apply_snapshot`). The levels
                before it have been applied: the book no longer matches Kraken's and needs a
                fresh snapshot.
        """
        self._checksum = None
        low, high = _LOW, _HIGH
        for side, levels in ((self._bids, bids), (self._asks, asks)):
            for level in levels:
                price = level.price
                qty = level.qty
                # _check_level, inlined: this is the hot path of every spot book.
                try:
                    sound = low < price < high and (low <= qty < high or _sound_zero(qty))
                except InvalidOperation:
                    sound = False
                if not sound:
                    _check_level("book", self._symbol, price, qty)
                side.set(price, qty)
        depth = self._depth
        self._bids.truncate(depth)
        self._asks.truncate(depth)

    # -- checksum ---------------------------------------------------------------------------

    def checksum(self) -> int:
        """Kraken's CRC32 of the current book (unsigned 32-bit)."""
        cached = self._checksum
        if cached is not None:
            return cached
        parts: list[str] = []
        self._asks.checksum_parts(self._price_spec, self._qty_spec, parts)
        self._bids.checksum_parts(self._price_spec, self._qty_spec, parts)
        value = crc32("".join(parts).encode("ascii"))
        self._checksum = value
        return value

    # -- queries ----------------------------------------------------------------------------


class _L3Side:
    """One side of an L3 book: sorted prices, a FIFO queue per price, running totals.

    A queue is an insertion-ordered ``dict`` order_id -> :class:`BookOrder`: appending,
    deleting and modifying in place (which keeps queue position) are all O(1).
    """

    __slots__ = ("descending", "prices", "queues", "totals")

    def __init__(self, *, descending: bool) -> None:
        self.descending = descending
        self.prices: list[Decimal] = []
        self.queues: dict[Decimal, dict[str, BookOrder]] = {}
        self.totals: dict[Decimal, Decimal] = {}

    def clear(self) -> None:
        self.prices.clear()
        self.queues.clear()
        self.totals.clear()

    def append(self, order: BookOrder) -> None:
        price = order.limit_price
        queue = self.queues.get(price)
        if queue is None:
            self.queues[price] = {order.order_id: order}
            self.totals[price] = order.order_qty
            insort(self.prices, price)
        else:
            queue[order.order_id] = order
            self.totals[price] += order.order_qty

    def replace(self, old: BookOrder, new: BookOrder) -> None:
        """Replace an order at the same price, keeping its place in the queue."""
        price = old.limit_price
        self.queues[price][old.order_id] = new
        self.totals[price] += new.order_qty - old.order_qty

    def remove(self, order: BookOrder) -> None:
        price = order.limit_price
        queue = self.queues[price]
        del queue[order.order_id]
        if queue:
            self.totals[price] -= order.order_qty
        else:
            del self.queues[price]
            del self.totals[price]
            prices = self.prices
            del prices[bisect_left(prices, price)]

    def truncate(self, depth: int) -> list[str]:
        """Keep the best ``depth`` prices; return the ids of the orders dropped."""
        prices = self.prices
        excess = len(prices) - depth
        if excess <= 0:
            return []
        if self.descending:
            dropped = prices[:excess]
            del prices[:excess]
        else:
            dropped = prices[depth:]
            del prices[depth:]
        ids: list[str] = []
        for price in dropped:
            ids.extend(self.queues.pop(price))
            del self.totals[price]
        return ids

    def top_prices(self, n: int | None) -> list[Decimal]:
        prices = self.prices
        if n is None or n >= len(prices):
            return prices[::-1] if self.descending else prices[:]
        if n <= 0:
            return []
        return prices[: -n - 1 : -1] if self.descending else prices[:n]

    def best(self) -> tuple[Decimal, Decimal] | None:
        prices = self.prices
        if not prices:
            return None
        price = prices[-1] if self.descending else prices[0]
        return price, self.totals[price]

    def top(self, n: int | None) -> list[tuple[Decimal, Decimal]]:
        """Aggregated L2 view: the best ``n`` levels as ``(price, total qty)``."""
        totals = self.totals
        return [(p, totals[p]) for p in self.top_prices(n)]


class L3Book(_SpotBook):
    """A local Level 3 (order-by-order) book for one symbol of the Spot v2 ``level3`` channel.

    Orders are kept in FIFO queues per price. Update events:

    * ``add``: appended at the back of its price's queue (an ``add`` for an id already in
      the book first removes the old order).
    * ``modify``: quantity changed in place, keeping queue position; a modify that moves
      the order to another price sends it to the back of that queue; a modify for an
      unknown id is treated as an ``add``; a modify to quantity zero deletes.
    * ``delete``: removed (a delete for an unknown id is ignored).

    After each message each side is truncated to ``depth`` price levels (Kraken sends no
    deletes for levels that leave scope).

    Args:
        symbol: The pair, e.g. ``"BTC/USD"``.
        depth: The subscribed depth in price levels per side.
        price_precision: The pair's price decimals (``None``: render prices as decoded).
        qty_precision: The pair's quantity decimals (``None``: render quantities as decoded).

    Raises:
        ValueError: ``depth`` < 1 or a negative precision.
    """

    _bids: _L3Side
    _asks: _L3Side
    __slots__ = (
        "_asks",
        "_bids",
        "_checksum",
        "_depth",
        "_digits",
        "_index",
        "_price_precision",
        "_price_spec",
        "_qty_precision",
        "_qty_spec",
        "_symbol",
    )

    def __init__(
        self, symbol: str, depth: int, price_precision: int | None, qty_precision: int | None
    ) -> None:
        _check_depth(depth)
        self._price_spec = _spec(price_precision)
        self._qty_spec = _spec(qty_precision)
        self._symbol = symbol
        self._depth = depth
        self._price_precision = price_precision
        self._qty_precision = qty_precision
        self._bids = _L3Side(descending=True)
        self._asks = _L3Side(descending=False)
        # order_id -> (side, order): O(1) modify and delete.
        self._index: dict[str, tuple[_L3Side, BookOrder]] = {}
        # order_id -> cached checksum text of that order.
        self._digits: dict[str, str] = {}
        self._checksum: int | None = None

    def __repr__(self) -> str:
        return (
            f"<L3Book {self._symbol} depth={self._depth} orders={len(self._index)}"
            f" best_bid={self.best_bid} best_ask={self.best_ask}>"
        )

    # -- mutation ---------------------------------------------------------------------------

    def clear(self) -> None:
        """Forget every order (before a resync)."""
        self._bids.clear()
        self._asks.clear()
        self._index.clear()
        self._digits.clear()
        self._checksum = None

    def _copy(self, order: L3OrderLike) -> BookOrder:
        price = order.limit_price
        qty = order.order_qty
        _check_level("level3", self._symbol, price, qty)
        return BookOrder(order.order_id, price, qty, order.timestamp)

    def _remove(self, order_id: str) -> None:
        entry = self._index.pop(order_id, None)
        if entry is not None:
            entry[0].remove(entry[1])
            self._digits.pop(order_id, None)

    def _add(self, side: _L3Side, order: BookOrder) -> None:
        if order.order_id in self._index:
            self._remove(order.order_id)
        side.append(order)
        self._index[order.order_id] = (side, order)

    def _truncate(self) -> None:
        index = self._index
        digits = self._digits
        for side in (self._bids, self._asks):
            for order_id in side.truncate(self._depth):
                del index[order_id]
                digits.pop(order_id, None)

    def apply_snapshot(self, bids: Iterable[L3OrderLike], asks: Iterable[L3OrderLike]) -> None:
        """Replace the whole book with a snapshot (queue order as given), then truncate.

        Raises:
            ProtocolError: an order's price or quantity is not sound (not a finite number,
                out of range, a price not above zero, a negative quantity); the book is
                then cleared.
        """
        self.clear()
        try:
            for side, orders in ((self._bids, bids), (self._asks, asks)):
                for order in orders:
                    self._add(side, self._copy(order))
        except ProtocolError:
            self.clear()
            raise
        self._truncate()

    def apply_update(
        self, bids: Iterable[L3OrderUpdateLike], asks: Iterable[L3OrderUpdateLike]
    ) -> None:
        """Apply one update message (events in order), then truncate to ``depth`` levels.

        Raises:
            ProtocolError: an unknown or missing ``event``, or an unsound price or quantity.
                The events before it have been applied: the book needs a fresh snapshot.
        """
        self._checksum = None
        index = self._index
        for side, orders in ((self._bids, bids), (self._asks, asks)):
            for update in orders:
                event = update.event
                if event == "delete":
                    self._remove(update.order_id)
                    continue
                if event not in ("add", "modify"):
                    raise ProtocolError(
                        f"unknown level3 event {event!r} for order {update.order_id}"
                        f" in {self._symbol}"
                    )
                order = self._copy(update)
                entry = index.get(order.order_id) if event == "modify" else None
                if entry is None:
                    if order.order_qty:
                        self._add(side, order)
                    else:
                        self._remove(order.order_id)
                elif not order.order_qty:
                    self._remove(order.order_id)
                elif entry[0] is side and entry[1].limit_price == order.limit_price:
                    side.replace(entry[1], order)
                    index[order.order_id] = (side, order)
                    self._digits.pop(order.order_id, None)
                else:  # moved to another price (or side): back of the new queue
                    self._add(side, order)
        self._truncate()

    # -- checksum ---------------------------------------------------------------------------

    def _checksum_parts(self, side: _L3Side, out: list[str]) -> None:
        digits = self._digits
        price_spec = self._price_spec
        qty_spec = self._qty_spec
        queues = side.queues
        for price in side.top_prices(CHECKSUM_LEVELS):
            price_text: str | None = None
            for order_id, order in queues[price].items():
                text = digits.get(order_id)
                if text is None:
                    if price_text is None:
                        price_text = format(price, price_spec).replace(".", "").lstrip("0")
                    text = price_text + format(order.order_qty, qty_spec).replace(".", "").lstrip(
                        "0"
                    )
                    digits[order_id] = text
                out.append(text)

    def checksum(self) -> int:
        """Kraken's L3 CRC32: one ``price+qty`` item per order within the top ten levels."""
        cached = self._checksum
        if cached is not None:
            return cached
        parts: list[str] = []
        self._checksum_parts(self._asks, parts)
        self._checksum_parts(self._bids, parts)
        value = crc32("".join(parts).encode("ascii"))
        self._checksum = value
        return value

    # -- queries ----------------------------------------------------------------------------

    @property
    def order_count(self) -> int:
        """Number of resting orders on both sides."""
        return len(self._index)

    def bid_levels(self, n: int | None = None) -> list[tuple[Decimal, list[BookOrder]]]:
        """The best ``n`` bid levels, each with its orders in queue (FIFO) order."""
        queues = self._bids.queues
        return [(p, list(queues[p].values())) for p in self._bids.top_prices(n)]

    def ask_levels(self, n: int | None = None) -> list[tuple[Decimal, list[BookOrder]]]:
        """The best ``n`` ask levels, each with its orders in queue (FIFO) order."""
        queues = self._asks.queues
        return [(p, list(queues[p].values())) for p in self._asks.top_prices(n)]

    def orders_at(self, price: Decimal) -> list[BookOrder]:
        """The orders at ``price`` (bid or ask side) in queue order; empty if none."""
        queue = self._bids.queues.get(price)
        if queue is None:
            queue = self._asks.queues.get(price)
        return [] if queue is None else list(queue.values())

    def order(self, order_id: str) -> BookOrder | None:
        """The resting order with this id, or ``None``."""
        entry = self._index.get(order_id)
        return None if entry is None else entry[1]


class FuturesBook(_Quotes):
    """A local book for one product of the Futures v1 ``book`` feed.

    Futures books carry no checksum: integrity comes from ``seq``, which must grow by
    exactly one per delta. :meth:`apply_delta` refuses (returns ``False``, changing
    nothing) any delta that is not the next one, and any delta before the first
    snapshot; the caller then resubscribes the product. The book is not truncated.

    Args:
        product_id: The product, e.g. ``"PI_XBTUSD"``.
    """

    _bids: _Side
    _asks: _Side
    __slots__ = ("_asks", "_bids", "_product_id", "_seq")

    def __init__(self, product_id: str) -> None:
        self._product_id = product_id
        self._bids = _Side(descending=True)
        self._asks = _Side(descending=False)
        self._seq: int | None = None

    def __repr__(self) -> str:
        return (
            f"<FuturesBook {self._product_id} seq={self._seq} bids={len(self._bids.prices)}"
            f" asks={len(self._asks.prices)} best_bid={self.best_bid} best_ask={self.best_ask}>"
        )

    def clear(self) -> None:
        """Forget every level and the sequence number (before a resubscribe)."""
        self._bids.clear()
        self._asks.clear()
        self._seq = None

    def apply_snapshot(
        self, seq: int, bids: Iterable[PriceLevelLike], asks: Iterable[PriceLevelLike]
    ) -> None:
        """Replace the whole book with a ``book_snapshot`` and remember its ``seq``.

        Raises:
            ProtocolError: a level is not sound: a price or quantity that is not a finite
                number or out of range, a price not above zero or a negative quantity
                (the book is then cleared).
        """
        self.clear()
        try:
            for side, levels in ((self._bids, bids), (self._asks, asks)):
                for level in levels:
                    price, qty = level.price, level.qty
                    _check_level("book_snapshot", self._product_id, price, qty)
                    side.set(price, qty)
        except ProtocolError:
            self.clear()
            raise
        self._seq = seq

    def apply_delta(self, seq: int, side: str, price: Decimal, qty: Decimal) -> bool:
        """Apply one ``book`` delta if ``seq`` is exactly the last ``seq`` + 1.

        Args:
            seq: The delta's ``seq``.
            side: ``"buy"`` (bids) or ``"sell"`` (asks).
            price: The level's price.
            qty: The new quantity; zero deletes the level.

        Returns:
            ``True`` if applied; ``False`` on a gap, a repeat, or before any snapshot
            (nothing is changed: resubscribe the product).

        Raises:
            ProtocolError: ``side`` is neither ``"buy"`` nor ``"sell"``, or the price or
                quantity is not sound (see :meth:`apply_snapshot`); nothing is changed.
        """
        if side == "buy":
            book_side = self._bids
        elif side == "sell":
            book_side = self._asks
        else:
            raise ProtocolError(f"unknown futures book side {side!r} for {self._product_id}")
        _check_level("book", self._product_id, price, qty)
        if self._seq is None or seq != self._seq + 1:
            return False
        book_side.set(price, qty)
        self._seq = seq
        return True

    @property
    def product_id(self) -> str:
        """The product this book is for."""
        return self._product_id

    @property
    def symbol(self) -> str:
        """Alias of :attr:`product_id`."""
        return self._product_id

    @property
    def seq(self) -> int | None:
        """The ``seq`` of the last snapshot or delta applied (``None`` before a snapshot)."""
        return self._seq
