"""The fake exchange's synthetic market: seeded, deterministic, pure (no I/O, no clock).

Every pair has a full order book (about 1100 levels per side, so depth 1000 works), each
level holding a FIFO queue of synthetic orders (for level3). :meth:`Market.step` moves every
book by a few changes (modifications, deletions, insertions, sometimes the same price twice in
one message) and sometimes a trade that eats into the best levels, then tells its listeners
through :class:`BookEvent`, :class:`TradeEvent`, :class:`TickerEvent` and :class:`OhlcEvent`.
Prices are held as integer ticks and quantities as integer lots at the pair's precision, so
the fixed-point text is exact and cheap to produce.

Listeners are called synchronously, right after the book changed, so a listener can read the
book (for example to compute what a depth-limited subscriber must be sent) at that moment.

The book sides, trades, candles and events are in ``_book`` (re-exported here). The market
also implements the matching engine's ``MarketView`` protocol
(:meth:`pair`, :meth:`opposite_levels`, :meth:`take`, :meth:`last_price`,
:meth:`best_bid_ask`).
"""

from __future__ import annotations

import math
import random
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal

from ._book import (
    ALL_DEPTHS,
    BOOK_DEPTHS,
    L3_DEPTHS,
    OHLC_INTERVALS,
    BookEvent,
    BookSide,
    Candle,
    L3Op,
    L3Order,
    LevelsView,
    MarketEvent,
    OhlcEvent,
    Side,
    TickerEvent,
    Trade,
    TradeEvent,
)
from ._pairs import DEFAULT_PAIRS, PairSpec
from ._wire import fixed_units

__all__ = [
    "BOOK_DEPTHS",
    "L3_DEPTHS",
    "OHLC_INTERVALS",
    "BookEvent",
    "BookSide",
    "Candle",
    "L3Op",
    "L3Order",
    "Market",
    "MarketEvent",
    "OhlcEvent",
    "PairBook",
    "TickerEvent",
    "Trade",
    "TradeEvent",
]

_LEVELS_PER_SIDE = 1100
_MAX_LEVELS_PER_SIDE = _LEVELS_PER_SIDE + 100  # beyond this the worst levels are cancelled
# The fair value every book gravitates to: a mean-reverting random walk of the log price
# (Ornstein-Uhlenbeck), about 1.5 % a day, pulled back toward the start price over hours, so
# the market moves like a market yet stays in a sane band however long it runs.
_FAIR_REVERSION = 4 * 3600.0
_FAIR_VOLATILITY = 0.015 / math.sqrt(86400)
# How far (a fraction of the price, at least 3 ticks) the best quotes may stray from fair
# value before makers quote inside them or takers trade them away.
_QUOTE_BAND = 0.5e-4
_MAX_ARBITRAGE_LEVELS = 20  # levels one step's arbitrage may take per side
_CANDLE_HISTORY = 12
_TRADE_HISTORY = 50
_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


class PairBook:
    """Everything the market knows about one pair."""

    def __init__(
        self,
        spec: PairSpec,
        rng: random.Random,
        id_rng: random.Random,
        now: float,
        step_seconds: float = 0.05,
    ):
        self.spec = spec
        self.pp = spec.price_precision
        self.qp = spec.qty_precision
        self._rng = rng
        self._id_rng = id_rng
        self.bids = BookSide(is_bid=True)
        self.asks = BookSide(is_bid=False)
        # The matching engine's resting orders shown in the book: (is_bid, ticks) -> {id: lots}.
        self.overlay: dict[tuple[bool, int], dict[str, int]] = {}
        self.trade_id = rng.randint(1_000_000, 9_000_000)
        self.trades: deque[Trade] = deque(maxlen=_TRADE_HISTORY)
        self._min_lots = max(1, int(spec.qty_min.scaleb(self.qp)))
        start = int(spec.start_price.scaleb(self.pp))
        self._init_book(start, now)
        self.start_ticks = start
        self.fair = float(start)
        self.step_seconds = step_seconds
        self.last = start
        self.open24 = start
        typical = self._min_lots * 300
        self.volume = typical * 400
        self.cost = self.volume * start
        self.low = start * 97 // 100
        self.high = start * 103 // 100
        self.candles: dict[int, deque[Candle]] = {}
        for interval in OHLC_INTERVALS:
            self.candles[interval] = self._init_candles(interval, start, now)
        self.bbo = self._bbo()

    # --- construction -----------------------------------------------------------------------

    def _new_id(self) -> str:
        bits = self._id_rng.getrandbits(85)
        chars = []
        for _ in range(17):
            chars.append(_ID_ALPHABET[bits & 31])
            bits >>= 5
        s = "".join(chars)
        return f"O{s[:5]}-{s[5:10]}-{s[10:16]}"

    def _random_lots(self) -> int:
        rng = self._rng
        return max(1, int(self._min_lots * rng.uniform(0.5, 300.0) * rng.random() ** 1.5) + 1)

    def _init_book(self, start: int, now: float) -> None:
        rng = self._rng
        t_ns = int(now * 1e9)
        bid = start - 1 - rng.randint(0, 2)
        ask = start + 1 + rng.randint(0, 2)
        for _ in range(_LEVELS_PER_SIDE):
            for side, ticks in ((self.bids, bid), (self.asks, ask)):
                if ticks <= 0:
                    continue
                orders = [
                    L3Order(self._new_id(), self._random_lots(), t_ns - rng.randint(0, 10**11))
                    for _ in range(rng.randint(1, 3))
                ]
                side.orders[ticks] = orders
                side.set_level(ticks, sum(o.lots for o in orders))
            bid -= rng.randint(1, 3)
            ask += rng.randint(1, 3)

    def _init_candles(self, interval: int, start: int, now: float) -> deque[Candle]:
        rng = self._rng
        span = interval * 60
        begin = int(now) // span * span
        out: deque[Candle] = deque(maxlen=_CANDLE_HISTORY)
        price = start
        for i in range(_CANDLE_HISTORY - 1, 0, -1):
            o = price
            c = max(1, o + rng.randint(-20, 20))
            hi = max(o, c) + rng.randint(0, 10)
            lo = max(1, min(o, c) - rng.randint(0, 10))
            vol = self._random_lots() * rng.randint(1, 50)
            out.append(Candle(begin - i * span, o, hi, lo, c, rng.randint(1, 200), vol, vol * c))
            price = c
        out.append(Candle(begin, start, start, start, start))
        return out

    # --- reading -----------------------------------------------------------------------------

    def side(self, is_bid: bool) -> BookSide:
        """The bid or ask side."""
        return self.bids if is_bid else self.asks

    def _bbo(self) -> tuple[int | None, int, int | None, int]:
        b, a = self.bids.best(), self.asks.best()
        return (
            b,
            self.bids.lots.get(b, 0) if b is not None else 0,
            a,
            self.asks.lots.get(a, 0) if a is not None else 0,
        )

    def worst_keys(self) -> dict[int, tuple[int | None, int | None]]:
        """For each depth the keys of the last level inside it (None if thinner)."""
        return {
            d: (self.bids.worst_key_within(d), self.asks.worst_key_within(d)) for d in ALL_DEPTHS
        }

    def price_text(self, ticks: int) -> str:
        """A price as fixed-point text."""
        return fixed_units(ticks, self.pp)

    def qty_text(self, lots: int) -> str:
        """A quantity as fixed-point text."""
        return fixed_units(lots, self.qp)

    # --- mutation ----------------------------------------------------------------------------

    def apply(
        self,
        is_bid: bool,
        ticks: int,
        lots: int,
        t_ns: int,
        changes: list[tuple[bool, int, int]],
        l3: list[L3Op],
        *,
        fifo: bool = False,
    ) -> None:
        """Set a level to ``lots`` and record the L2 change and the L3 ops that explain it.

        A decrease takes from the front of the queue when ``fifo`` (a trade), else from the
        back (cancellations of the newest orders).
        """
        side = self.side(is_bid)
        shown = sum(self.overlay.get((is_bid, ticks), {}).values())
        old = side.lots.get(ticks, 0) - shown
        if lots == old:
            return
        queue = side.orders.setdefault(ticks, [])
        if lots > old:
            order = L3Order(self._new_id(), lots - old, t_ns)
            queue.append(order)
            l3.append(L3Op(is_bid, "add", ticks, order.order_id, order.lots, t_ns))
        else:
            remove = old - lots
            while remove > 0:
                own = [o for o in queue if not o.engine]
                if not own:
                    break
                order = own[0] if fifo else own[-1]
                if order.lots <= remove:
                    remove -= order.lots
                    queue.remove(order)
                    l3.append(L3Op(is_bid, "delete", ticks, order.order_id, order.lots, order.t_ns))
                else:
                    order.lots -= remove
                    remove = 0
                    l3.append(L3Op(is_bid, "modify", ticks, order.order_id, order.lots, t_ns))
        side.set_level(ticks, lots + shown)
        changes.append((is_bid, ticks, lots + shown))

    def synthetic(self, is_bid: bool, ticks: int) -> int:
        """Lots at a level that belong to the synthetic market (not the engine's orders)."""
        return self.side(is_bid).lots.get(ticks, 0) - sum(
            self.overlay.get((is_bid, ticks), {}).values()
        )

    def show_engine_orders(
        self,
        resting: Iterable[tuple[Side, Decimal, Decimal, str]],
        t: float,
        changes: list[tuple[bool, int, int]],
        l3: list[L3Op],
    ) -> None:
        """Make the book show exactly ``resting`` (the engine's resting orders) on top of the
        synthetic liquidity, recording the L2 changes and L3 ops."""
        wanted: dict[tuple[bool, int], dict[str, int]] = {}
        for side_name, price, qty, order_id in resting:
            lots = int(qty.scaleb(self.qp))
            if lots > 0:
                key = (side_name == "buy", int(price.scaleb(self.pp)))
                wanted.setdefault(key, {})[order_id] = lots
        if wanted == self.overlay:
            return
        t_ns = int(t * 1e9)
        for key in sorted(set(self.overlay) | set(wanted)):
            before = self.overlay.get(key, {})
            after = wanted.get(key, {})
            if before == after:
                continue
            is_bid, ticks = key
            side = self.side(is_bid)
            synthetic = side.lots.get(ticks, 0) - sum(before.values())
            queue = side.orders.setdefault(ticks, [])
            for order in list(queue):
                if order.engine and order.order_id not in after:
                    queue.remove(order)
                    l3.append(L3Op(is_bid, "delete", ticks, order.order_id, order.lots, order.t_ns))
                elif order.engine and after[order.order_id] != order.lots:
                    order.lots = after[order.order_id]
                    l3.append(L3Op(is_bid, "modify", ticks, order.order_id, order.lots, t_ns))
            held = {o.order_id for o in queue if o.engine}
            for order_id, lots in after.items():
                if order_id not in held:
                    queue.append(L3Order(order_id, lots, t_ns, engine=True))
                    l3.append(L3Op(is_bid, "add", ticks, order_id, lots, t_ns))
            total = synthetic + sum(after.values())
            side.set_level(ticks, total)
            changes.append((is_bid, ticks, total))
        self.overlay = wanted

    def record_trade(self, side: Side, ticks: int, lots: int, ord_type: str, t: float) -> Trade:
        """Book-keeping of a trade: ids, ticker statistics and candles."""
        self.trade_id += 1
        trade = Trade(side, ticks, lots, ord_type, self.trade_id, t)
        self.trades.append(trade)
        self.last = ticks
        self.volume += lots
        self.cost += ticks * lots
        self.low = min(self.low, ticks)
        self.high = max(self.high, ticks)
        for interval, candles in self.candles.items():
            span = interval * 60
            begin = int(t) // span * span
            current = candles[-1]
            if current.begin != begin:
                current = Candle(begin, ticks, ticks, ticks, ticks)
                candles.append(current)
            current.high = max(current.high, ticks)
            current.low = min(current.low, ticks)
            current.close = ticks
            current.trades += 1
            current.volume += lots
            current.cost += ticks * lots
        return trade

    def random_changes(
        self, t: float, changes: list[tuple[bool, int, int]], l3: list[L3Op]
    ) -> list[Trade]:
        """One step of synthetic activity; returns the trades it made.

        The fair value moves first (by :attr:`step_seconds` of market time). Then a few random
        changes near the top: new sizes, cancellations, new levels around fair value; a
        random trade now and then, more often toward fair value; takers trade away quotes
        that stray too far past fair value; makers quote inside a spread that grew too wide;
        the tails are refilled and trimmed so each side keeps about 1100 levels.
        """
        rng = self._rng
        t_ns = int(t * 1e9)
        self._move_fair(self.step_seconds)
        trades: list[Trade] = []
        for _ in range(rng.randint(1, 4)):
            is_bid = rng.random() < 0.5
            side = self.side(is_bid)
            if not len(side):
                continue
            r = rng.random()
            rank = min(int(rng.expovariate(0.25)), len(side) - 1)
            ticks = side.ticks_at(rank)
            if r < 0.45:
                self.apply(is_bid, ticks, self._random_lots(), t_ns, changes, l3)
                if rng.random() < 0.15:  # the same price twice in one message
                    self.apply(is_bid, ticks, self._random_lots(), t_ns, changes, l3)
            elif r < 0.55:
                if len(side) > 20:
                    self.apply(is_bid, ticks, 0, t_ns, changes, l3)
            elif r < 0.7:
                offset = 1 + int(rng.expovariate(1 / self._band()))
                self._quote(is_bid, offset, t_ns, changes, l3)
            else:
                self._fill_gap(
                    is_bid, min(int(rng.expovariate(0.1)), len(side) - 2), t_ns, changes, l3
                )
        if rng.random() < 0.25:
            trades = self._random_trade(t, changes, l3)
        trades += self._arbitrage(t, changes, l3)
        band = self._band()
        for is_bid in (True, False):
            best = self.side(is_bid).best()
            if best is None or abs(best - self.fair) > band:
                self._quote(is_bid, rng.randint(1, max(1, band // 2)), t_ns, changes, l3)
            self._refill(is_bid, t_ns, changes, l3)
        return trades

    def _move_fair(self, dt: float) -> None:
        """Advance the fair value by ``dt`` seconds (an exact Ornstein-Uhlenbeck step)."""
        if dt <= 0:
            return
        decay = math.exp(-dt / _FAIR_REVERSION)
        spread = _FAIR_VOLATILITY * math.sqrt(_FAIR_REVERSION / 2 * (1 - decay * decay))
        x = math.log(self.fair / self.start_ticks) * decay + spread * self._rng.gauss(0.0, 1.0)
        self.fair = max(1.0, self.start_ticks * math.exp(x))

    def _band(self) -> int:
        """How many ticks the best quotes may stray from fair value."""
        return max(3, int(self.fair * _QUOTE_BAND))

    def _quote(
        self,
        is_bid: bool,
        offset: int,
        t_ns: int,
        changes: list[tuple[bool, int, int]],
        l3: list[L3Op],
    ) -> None:
        """A new level ``offset`` ticks from fair value (never crossing the other side)."""
        if is_bid:
            ticks = math.ceil(self.fair) - offset
            best_ask = self.asks.best()
            if best_ask is not None and ticks >= best_ask:
                ticks = best_ask - 1
        else:
            ticks = math.floor(self.fair) + offset
            best_bid = self.bids.best()
            if best_bid is not None and ticks <= best_bid:
                ticks = best_bid + 1
        if ticks <= 0 or ticks in self.side(is_bid).lots:
            return
        self.apply(is_bid, ticks, self._random_lots(), t_ns, changes, l3)

    def _fill_gap(
        self,
        is_bid: bool,
        rank: int,
        t_ns: int,
        changes: list[tuple[bool, int, int]],
        l3: list[L3Op],
    ) -> None:
        """A new level between the levels at ``rank`` and ``rank + 1``, if they are apart.

        The counterpart of cancellations deep in the book: it keeps the levels near the top
        dense after the price moved away from them.
        """
        side = self.side(is_bid)
        if rank < 0:
            return
        inner, outer = side.ticks_at(rank), side.ticks_at(rank + 1)
        if abs(inner - outer) < 2:
            return
        ticks = self._rng.randint(min(inner, outer) + 1, max(inner, outer) - 1)
        self.apply(is_bid, ticks, self._random_lots(), t_ns, changes, l3)

    def _arbitrage(
        self, t: float, changes: list[tuple[bool, int, int]], l3: list[L3Op]
    ) -> list[Trade]:
        """Takers trade away synthetic quotes more than the band past fair value."""
        band = self._band()
        trades: list[Trade] = []
        takers: tuple[tuple[Side, BookSide], ...] = (("buy", self.asks), ("sell", self.bids))
        for taker, book in takers:
            taken = 0
            rank = 0
            while taken < _MAX_ARBITRAGE_LEVELS and rank < len(book) - 1:
                ticks = book.ticks_at(rank)
                past = self.fair - ticks if taker == "buy" else ticks - self.fair
                if past <= band:
                    break
                have = self.synthetic(book.is_bid, ticks)
                if have <= 0:  # only the engine's orders here: the engine fills those itself
                    rank += 1
                    continue
                trades.append(self.take_level(taker, ticks, have, "market", t, changes, l3))
                taken += 1
                if ticks in book.lots:
                    rank += 1
        return trades

    def _random_trade(
        self, t: float, changes: list[tuple[bool, int, int]], l3: list[L3Op]
    ) -> list[Trade]:
        rng = self._rng
        best_bid, best_ask = self.bids.best(), self.asks.best()
        lean = 0.0  # buyers are likelier when the book stands below fair value
        if best_bid is not None and best_ask is not None:
            lean = (self.fair - (best_bid + best_ask) / 2) / self._band()
        taker: Side = "buy" if rng.random() < 0.5 + 0.4 * max(-1.0, min(1.0, lean)) else "sell"
        book = self.asks if taker == "buy" else self.bids
        if len(book) < 2:
            return []
        want = max(1, int(book.lots[book.ticks_at(0)] * rng.uniform(0.05, 1.6)))
        ord_type = "market" if rng.random() < 0.6 else "limit"
        trades = []
        rank = 0
        while want > 0 and rank < len(book) - 1:
            ticks = book.ticks_at(rank)
            have = self.synthetic(book.is_bid, ticks)
            if have <= 0:  # only the engine's orders here: the engine fills those itself
                rank += 1
                continue
            got = min(have, want)
            trades.append(self.take_level(taker, ticks, got, ord_type, t, changes, l3))
            want -= got
            if got == have and ticks in book.lots:
                rank += 1
        return trades

    def take_level(
        self,
        taker: Side,
        ticks: int,
        lots: int,
        ord_type: str,
        t: float,
        changes: list[tuple[bool, int, int]],
        l3: list[L3Op],
    ) -> Trade:
        """Remove ``lots`` at ``ticks`` from the side a ``taker`` trades against."""
        is_bid = taker == "sell"
        have = self.synthetic(is_bid, ticks)
        self.apply(is_bid, ticks, max(0, have - lots), int(t * 1e9), changes, l3, fifo=True)
        return self.record_trade(taker, ticks, lots, ord_type, t)

    def _refill(
        self, is_bid: bool, t_ns: int, changes: list[tuple[bool, int, int]], l3: list[L3Op]
    ) -> None:
        side = self.side(is_bid)
        rng = self._rng
        while len(side) < _LEVELS_PER_SIDE:
            if not len(side):
                other = self.side(not is_bid).best()
                if other is None:
                    return
                worst = other - 1 if is_bid else other + 1
            else:
                worst = side.ticks_at(len(side) - 1)
                step = rng.randint(1, 3)
                worst = worst - step if is_bid else worst + step
            if worst <= 0:
                return
            self.apply(is_bid, worst, self._random_lots(), t_ns, changes, l3)
        while len(side) > _MAX_LEVELS_PER_SIDE:
            self.apply(is_bid, side.ticks_at(len(side) - 1), 0, t_ns, changes, l3)


class Market:
    """The synthetic market over a set of pairs; seeded and deterministic.

    Args:
        seed: Seed of every random choice (same seed, same books, same sequence of changes).
        pairs: The pairs to trade.
        now: Wall-clock time used for initial timestamps and candle boundaries.
        step_seconds: Market time one :meth:`step` stands for: how far the fair value every
            book gravitates to moves per step. The moves depend on the step count, never on
            the ``now`` given to :meth:`step`, so a seed replays exactly.
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        pairs: Iterable[PairSpec] = DEFAULT_PAIRS,
        now: float = 0.0,
        step_seconds: float = 0.05,
    ) -> None:
        self.seed = seed
        self.books: dict[str, PairBook] = {}
        for spec in pairs:
            salt = zlib.crc32(spec.symbol.encode())
            rng = random.Random(seed * 1_000_003 + salt)
            id_rng = random.Random((seed << 32) ^ salt ^ 0x5EED)
            self.books[spec.symbol] = PairBook(spec, rng, id_rng, now, step_seconds)
        self._listeners: list[Callable[[MarketEvent], None]] = []
        self.steps = 0

    @property
    def symbols(self) -> list[str]:
        """All symbols, in table order."""
        return list(self.books)

    def add_listener(self, listener: Callable[[MarketEvent], None]) -> None:
        """Call ``listener`` synchronously with every event from now on."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[MarketEvent], None]) -> None:
        """Stop calling ``listener``."""
        self._listeners.remove(listener)

    def _emit(self, event: MarketEvent) -> None:
        for listener in list(self._listeners):
            listener(event)

    def _publish(
        self,
        book: PairBook,
        old_worst: dict[int, tuple[int | None, int | None]],
        changes: list[tuple[bool, int, int]],
        l3: list[L3Op],
        trades: list[Trade],
        t: float,
    ) -> None:
        symbol = book.spec.symbol
        if changes:
            self._emit(BookEvent(symbol, changes, l3, old_worst, book.worst_keys(), t))
        if trades:
            self._emit(TradeEvent(symbol, trades, t))
            self._emit(TickerEvent(symbol, "trades", t))
            self._emit(OhlcEvent(symbol, t))
        bbo = book._bbo()
        if bbo != book.bbo:
            book.bbo = bbo
            self._emit(TickerEvent(symbol, "bbo", t))

    def step(self, now: float) -> list[str]:
        """Move every pair's book once; returns the symbols that changed."""
        self.steps += 1
        moved = []
        for symbol, book in self.books.items():
            old_worst = book.worst_keys()
            changes: list[tuple[bool, int, int]] = []
            l3: list[L3Op] = []
            trades = book.random_changes(now, changes, l3)
            if changes or trades:
                moved.append(symbol)
            self._publish(book, old_worst, changes, l3, trades, now)
        return moved

    # --- MarketView (the matching engine's window on the market) -----------------------------

    def pair(self, symbol: str) -> PairSpec | None:
        """The pair's spec, or None when the market does not trade it."""
        book = self.books.get(symbol)
        return book.spec if book else None

    def opposite_levels(self, symbol: str, side: Side) -> Sequence[tuple[Decimal, Decimal]]:
        """Levels a ``side`` order would trade against, best first (buy -> asks ascending)."""
        book = self.books[symbol]
        is_bid = side == "sell"
        hidden = {t: sum(o.values()) for (b, t), o in book.overlay.items() if b == is_bid}
        return LevelsView(book.side(is_bid), book.pp, book.qp, hidden)

    def take(self, symbol: str, side: Side, price: Decimal, qty: Decimal, now: float) -> int:
        """Remove liquidity at ``price`` for a ``side`` taker, publish the trade; returns its id."""
        book = self.books[symbol]
        ticks = int(price.scaleb(book.pp))
        lots = int(qty.scaleb(book.qp))
        old_worst = book.worst_keys()
        changes: list[tuple[bool, int, int]] = []
        l3: list[L3Op] = []
        trade = book.take_level(side, ticks, lots, "limit", now, changes, l3)
        for is_bid in (True, False):
            book._refill(is_bid, int(now * 1e9), changes, l3)
        self._publish(book, old_worst, changes, l3, [trade], now)
        return trade.trade_id

    def last_price(self, symbol: str) -> Decimal:
        """Price of the last trade."""
        book = self.books[symbol]
        return Decimal(book.last).scaleb(-book.pp)

    def best_bid_ask(self, symbol: str) -> tuple[Decimal | None, Decimal | None]:
        """Best synthetic bid and ask prices (None for an empty side).

        The engine's own resting orders, shown in the public book, are left out: this is the
        liquidity :meth:`take` can trade against.
        """
        book = self.books[symbol]
        out: list[Decimal | None] = []
        for is_bid in (True, False):
            side = book.side(is_bid)
            best: Decimal | None = None
            for rank in range(len(side)):
                ticks = side.ticks_at(rank)
                if book.synthetic(is_bid, ticks) > 0:
                    best = Decimal(ticks).scaleb(-book.pp)
                    break
            out.append(best)
        return out[0], out[1]

    def show_engine_orders(
        self, symbol: str, resting: Iterable[tuple[Side, Decimal, Decimal, str]], now: float
    ) -> None:
        """Show the engine's resting orders of ``symbol`` in the public book (and level3).

        Publishes a book event when what is shown changes. The engine keeps trading only
        against the synthetic liquidity (:meth:`opposite_levels`, :meth:`take`).
        """
        book = self.books[symbol]
        old_worst = book.worst_keys()
        changes: list[tuple[bool, int, int]] = []
        l3: list[L3Op] = []
        book.show_engine_orders(resting, now, changes, l3)
        if changes:
            self._publish(book, old_worst, changes, l3, [], now)
