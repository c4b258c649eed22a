"""The synthetic market's building blocks: one side of a book with its level3 queues,
trades, candles, and the events the market tells its listeners (pure data, no I/O).

Prices are integer ticks and quantities integer lots at the pair's precision.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal, overload

__all__ = [
    "ALL_DEPTHS",
    "BOOK_DEPTHS",
    "L3_DEPTHS",
    "OHLC_INTERVALS",
    "BookEvent",
    "BookSide",
    "Candle",
    "L3Op",
    "L3Order",
    "LevelsView",
    "MarketEvent",
    "OhlcEvent",
    "Side",
    "TickerEvent",
    "Trade",
    "TradeEvent",
]

BOOK_DEPTHS = (10, 25, 100, 500, 1000)
L3_DEPTHS = (10, 100, 1000)
OHLC_INTERVALS = (1, 5, 15, 30, 60, 240, 1440, 10080, 21600)
ALL_DEPTHS = tuple(sorted(set(BOOK_DEPTHS) | set(L3_DEPTHS)))

Side = Literal["buy", "sell"]


@dataclass(slots=True)
class L3Order:
    """One synthetic resting order inside a price level."""

    order_id: str
    lots: int
    t_ns: int
    engine: bool = False  # a resting order of the matching engine (shown, never taken here)


@dataclass(slots=True, frozen=True)
class L3Op:
    """One order-level change: ``event`` is ``add``, ``modify`` or ``delete``."""

    is_bid: bool
    event: str
    ticks: int
    order_id: str
    lots: int
    t_ns: int


class BookSide:
    """One side of a book: price ticks -> lots, with its order queues, best first."""

    __slots__ = ("_keys", "is_bid", "lots", "orders")

    def __init__(self, *, is_bid: bool) -> None:
        self.is_bid = is_bid
        self.lots: dict[int, int] = {}
        self.orders: dict[int, list[L3Order]] = {}
        self._keys: list[int] = []  # -ticks for bids, ticks for asks: ascending == best first

    def __len__(self) -> int:
        return len(self._keys)

    def key(self, ticks: int) -> int:
        """Sort key of a price: smaller is better."""
        return -ticks if self.is_bid else ticks

    def ticks_at(self, rank: int) -> int:
        """Price of the level at ``rank`` (0 = best)."""
        k = self._keys[rank]
        return -k if self.is_bid else k

    def best(self) -> int | None:
        """Best price in ticks, or None if the side is empty."""
        return self.ticks_at(0) if self._keys else None

    def top(self, n: int) -> list[int]:
        """The best ``n`` prices (ticks), best first."""
        keys = self._keys[:n]
        return [-k for k in keys] if self.is_bid else keys

    def beyond(self, key: int, depth: int) -> list[int]:
        """Prices (ticks) among the best ``depth`` whose sort key is worse than ``key``."""
        start = bisect.bisect_right(self._keys, key, 0, min(depth, len(self._keys)))
        keys = self._keys[start:depth]
        return [-k for k in keys] if self.is_bid else keys

    def worst_key_within(self, depth: int) -> int | None:
        """Key of the level at rank ``depth - 1``; None when the side has fewer levels."""
        return self._keys[depth - 1] if len(self._keys) >= depth else None

    def set_level(self, ticks: int, lots: int) -> None:
        """Set a level's total (0 removes it); the order queue is managed by the caller."""
        k = self.key(ticks)
        present = ticks in self.lots
        if lots > 0:
            if not present:
                bisect.insort(self._keys, k)
            self.lots[ticks] = lots
        elif present:
            del self.lots[ticks]
            self.orders.pop(ticks, None)
            i = bisect.bisect_left(self._keys, k)
            del self._keys[i]


@dataclass(slots=True)
class Trade:
    """One public trade; ``side`` is the taker's side."""

    side: Side
    ticks: int
    lots: int
    ord_type: str
    trade_id: int
    t: float


@dataclass(slots=True)
class Candle:
    """One OHLC candle in ticks/lots."""

    begin: int  # seconds
    open: int
    high: int
    low: int
    close: int
    trades: int = 0
    volume: int = 0
    cost: int = 0  # sum(ticks * lots), for vwap


@dataclass(slots=True, eq=False)
class BookEvent:
    """The book of ``symbol`` changed: L2 ``changes`` (in order) and the matching L3 ops.

    ``old_worst``/``new_worst`` map each depth to the sort keys of the last level inside that
    depth (bid, ask) before and after the change, None when the side was thinner than depth.
    ``cache`` lets every server reuse a frame rendered for one depth across its subscribers.
    """

    symbol: str
    changes: list[tuple[bool, int, int]]
    l3: list[L3Op]
    old_worst: dict[int, tuple[int | None, int | None]]
    new_worst: dict[int, tuple[int | None, int | None]]
    t: float
    cache: dict[Any, Any] = field(default_factory=dict)


@dataclass(slots=True, eq=False)
class TradeEvent:
    """Public trades on ``symbol``."""

    symbol: str
    trades: list[Trade]
    t: float
    cache: dict[Any, Any] = field(default_factory=dict)


@dataclass(slots=True, eq=False)
class TickerEvent:
    """The ticker of ``symbol`` changed: ``trigger`` is ``bbo`` or ``trades``."""

    symbol: str
    trigger: str
    t: float
    cache: dict[Any, Any] = field(default_factory=dict)


@dataclass(slots=True, eq=False)
class OhlcEvent:
    """The current candles of ``symbol`` changed (after a trade)."""

    symbol: str
    t: float
    cache: dict[Any, Any] = field(default_factory=dict)


MarketEvent = BookEvent | TradeEvent | TickerEvent | OhlcEvent


class LevelsView(Sequence[tuple[Decimal, Decimal]]):
    """A lazy, read-only view of one side as (price, qty) Decimals, best first."""

    def __init__(
        self, side: BookSide, pp: int, qp: int, hidden: Mapping[int, int] | None = None
    ) -> None:
        self._side = side
        self._pp = pp
        self._qp = qp
        self._hidden = dict(hidden or {})
        ticks = side.top(len(side))
        if self._hidden:
            ticks = [t for t in ticks if side.lots.get(t, 0) > self._hidden.get(t, 0)]
        self._ticks = ticks

    def __len__(self) -> int:
        return len(self._ticks)

    @overload
    def __getitem__(self, index: int) -> tuple[Decimal, Decimal]: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[tuple[Decimal, Decimal]]: ...
    def __getitem__(
        self, index: int | slice
    ) -> tuple[Decimal, Decimal] | Sequence[tuple[Decimal, Decimal]]:
        if isinstance(index, slice):
            return [self._item(t) for t in self._ticks[index]]
        return self._item(self._ticks[index])

    def _item(self, ticks: int) -> tuple[Decimal, Decimal]:
        lots = self._side.lots.get(ticks, 0) - self._hidden.get(ticks, 0)
        return (Decimal(ticks).scaleb(-self._pp), Decimal(lots).scaleb(-self._qp))

    def __iter__(self) -> Iterator[tuple[Decimal, Decimal]]:
        for t in self._ticks:
            yield self._item(t)
