"""The fake futures exchange's market model, pure: products, books, trades and tickers.

Nothing here touches a socket, a task or a clock: :meth:`ProductMarket.step` takes the random
generator and returns the messages the move caused, and the server publishes them. The book of
each product holds a few hundred levels per side (a live Kraken futures book holds hundreds);
changes land mostly near the top, new levels arrive within a few ticks of the opposite side (so
trades and cancels that remove top levels never open the spread for good), and the far end is
refilled so the depth stays between :data:`MIN_DEPTH` and :data:`MAX_DEPTH`.
"""

from __future__ import annotations

import bisect
import random
import re
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final, Literal

from ._futures_common import now_ms

__all__ = [
    "MAX_DEPTH",
    "MIN_DEPTH",
    "TICKER_PERIOD",
    "FuturesProductSpec",
    "ProductMarket",
    "TickerThrottle",
    "futures_product",
]

MIN_DEPTH: Final = 200
"""Fewest levels a side keeps: the far end is refilled below this."""
MAX_DEPTH: Final = 500
"""Most levels a side keeps: the worst levels are removed above this."""
TICKER_PERIOD: Final = 1.0
"""Kraken throttles ``ticker`` and ``ticker_lite`` to one message per second per product."""

Side = Literal["buy", "sell"]


@dataclass(frozen=True, slots=True)
class FuturesProductSpec:
    """One futures product as the fake lists it.

    Attributes:
        product_id: Kraken's id, such as ``PI_XBTUSD``.
        pair: ``BASE:QUOTE`` as in the ticker's ``pair`` field.
        tag: ``perpetual``, ``month`` or ``quarter`` (the ticker's ``tag``).
        tick_size: Price step.
        qty_step: Quantity step (1 for inverse contracts).
        start_price: Where the synthetic market starts.
        maturity_time: Expiry in ms since the epoch; 0 for perpetuals.
        inverse: True for inverse contracts (``PI_``/``FI_``: sized in USD, margined in the base).
    """

    product_id: str
    pair: str
    tag: str
    tick_size: Decimal
    qty_step: Decimal
    start_price: Decimal
    maturity_time: int = 0
    inverse: bool = False

    @property
    def is_perpetual(self) -> bool:
        """True for perpetual contracts (they carry funding fields)."""
        return self.tag == "perpetual"

    @property
    def base(self) -> str:
        """The base currency, such as ``XBT``."""
        return self.pair.split(":")[0]

    @property
    def quote(self) -> str:
        """The quote currency, such as ``USD``."""
        return self.pair.split(":")[1]


_PRODUCT_RE = re.compile(r"^(PI|PF|FI|FF)_([A-Z0-9]+?)(USDT|USDC|USD|EUR|GBP)(?:_(\d{6}))?$")
_START_PRICES: Final = {
    "XBT": Decimal(65000),
    "ETH": Decimal(3200),
    "SOL": Decimal(150),
    "XRP": Decimal("0.6"),
    "LTC": Decimal(80),
    "DOGE": Decimal("0.15"),
}
_QUARTER_MONTHS: Final = frozenset({3, 6, 9, 12})


def futures_product(product_id: str) -> FuturesProductSpec:
    """Describe a product from its Kraken id.

    ``PI_``/``PF_`` ids are perpetuals (inverse/linear), ``FI_``/``FF_`` ids with a ``_YYMMDD``
    suffix are fixed-maturity contracts: tagged ``quarter`` when they expire in March, June,
    September or December (as Kraken tags ``FI_XBTUSD_260925``), else ``month``.

    Raises:
        ValueError: If the id does not look like a Kraken futures product id.
    """
    match = _PRODUCT_RE.match(product_id)
    if match is None:
        raise ValueError(f"not a Kraken futures product id: {product_id!r}")
    kind, base, quote, date = match.groups()
    perpetual = kind in ("PI", "PF")
    if perpetual == (date is not None):
        raise ValueError(
            f"{product_id!r}: PI_/PF_ ids take no maturity date, FI_/FF_ ids need _YYMMDD"
        )
    inverse = kind in ("PI", "FI")
    price = _START_PRICES.get(base, Decimal(100))
    if price >= 10000:
        tick, linear_step = (Decimal("0.5") if inverse else Decimal(1)), Decimal("0.0001")
    elif price >= 1000:
        tick, linear_step = (Decimal("0.05") if inverse else Decimal("0.1")), Decimal("0.001")
    elif price >= 10:
        tick, linear_step = Decimal("0.01"), Decimal("0.01")
    elif price >= 1:
        tick, linear_step = Decimal("0.001"), Decimal("0.1")
    else:
        tick, linear_step = Decimal("0.0001"), Decimal(1)
    maturity, tag = 0, "perpetual"
    if date is not None:
        expiry = datetime.strptime(date, "%y%m%d").replace(hour=16, tzinfo=UTC)
        maturity = int(expiry.timestamp() * 1000)
        tag = "quarter" if expiry.month in _QUARTER_MONTHS else "month"
    return FuturesProductSpec(
        product_id=product_id,
        pair=f"{base}:{quote}",
        tag=tag,
        tick_size=tick,
        qty_step=Decimal(1) if inverse else linear_step,
        start_price=price.quantize(tick),
        maturity_time=maturity,
        inverse=inverse,
    )


class TickerThrottle:
    """At most one ticker per product per :data:`TICKER_PERIOD` seconds; time is an argument."""

    def __init__(self, period: float = TICKER_PERIOD) -> None:
        self._period = period
        self._last: dict[str, float] = {}

    def due(self, product_id: str, now: float) -> bool:
        """True (and noted) when ``product_id`` may send a ticker at ``now``."""
        last = self._last.get(product_id)
        if last is not None and now - last < self._period:
            return False
        self._last[product_id] = now
        return True


class ProductMarket:
    """The synthetic market of one product: an L2 book, trades and ticker statistics.

    Args:
        spec: The product.
        rng: The market's random generator (shared by every product of one exchange).
        depth: Levels per side at the start.
    """

    def __init__(self, spec: FuturesProductSpec, rng: random.Random, depth: int = 300) -> None:
        self.spec = spec
        self.bids: dict[Decimal, Decimal] = {}
        self.asks: dict[Decimal, Decimal] = {}
        self.seq = rng.randint(100_000, 999_999)
        self.skip = 0
        self.trade_seq = rng.randint(1_000, 99_999)
        self.trades: deque[dict[str, Any]] = deque(maxlen=100)
        tick = spec.tick_size
        mid = spec.start_price
        bid = mid - tick * rng.randint(1, 3)
        ask = mid + tick * rng.randint(1, 3)
        for i in range(depth):
            bid -= tick * (rng.randint(1, 3) if i else 0)
            ask += tick * (rng.randint(1, 3) if i else 0)
            if bid > 0:
                self.bids[bid] = self.random_qty(rng)
            self.asks[ask] = self.random_qty(rng)
        # Each side's prices, ascending, kept beside the dicts so the best and the n-th best
        # level are found without sorting (set_level keeps them in step).
        self._bid_prices = sorted(self.bids)
        self._ask_prices = sorted(self.asks)
        self.last = mid
        self.last_qty = self.random_qty(rng)
        self.last_time = now_ms()
        self.open = mid
        self.high = mid
        self.low = mid
        self.volume = self.random_qty(rng) * 1000
        self.open_interest = self.random_qty(rng) * 5000
        self.funding_rate = rng.uniform(-5e-10, 5e-10)
        self.funding_rate_prediction = rng.uniform(-5e-10, 5e-10)
        self.index_ratio = rng.uniform(-2e-4, 2e-4)
        self.mark_ratio = rng.uniform(-1e-4, 1e-4)

    def random_qty(self, rng: random.Random) -> Decimal:
        """A random level or trade size on the product's quantity grid."""
        step = self.spec.qty_step
        top = 20_000 if step == 1 else 10_000
        return step * rng.randint(1, top)

    def best_bid(self) -> Decimal:
        """The highest bid."""
        return self._bid_prices[-1]

    def best_ask(self) -> Decimal:
        """The lowest ask."""
        return self._ask_prices[0]

    def _nth_best(self, side: Side, rank: int) -> Decimal:
        """The price ``rank`` levels behind the best of ``side`` (the worst if there are fewer)."""
        prices = self._bid_prices if side == "buy" else self._ask_prices
        rank = min(rank, len(prices) - 1)
        return prices[-1 - rank] if side == "buy" else prices[rank]

    def _worst(self, side: Side) -> Decimal:
        return self._bid_prices[0] if side == "buy" else self._ask_prices[-1]

    def mid(self) -> Decimal:
        """Half-way between the best bid and ask."""
        return (self.best_bid() + self.best_ask()) / 2

    def mark_price(self) -> Decimal:
        """The mark price (the mid, nudged by a small random premium), exact."""
        grid = self.spec.tick_size / 100
        return (self.mid() * (1 + Decimal(repr(self.mark_ratio)))).quantize(grid)

    def index_price(self) -> Decimal:
        """The index price, to the cent."""
        return (self.mid() * (1 + Decimal(repr(self.index_ratio)))).quantize(Decimal("0.01"))

    # -- moving ----------------------------------------------------------------------------

    def step(self, rng: random.Random) -> list[dict[str, Any]]:
        """One market tick: one to three book changes and perhaps a trade.

        Returns:
            The ``book`` and ``trade`` messages to publish, in order (a delta lost by
            :attr:`skip` is applied but not returned).
        """
        out: list[dict[str, Any]] = []
        for _ in range(rng.randint(1, 3)):
            self._book_change(rng, out)
        if rng.random() < 0.35:
            taker: Side = rng.choice(("buy", "sell"))
            levels = self.asks if taker == "buy" else self.bids
            if len(levels) >= 2:
                price = self.best_ask() if taker == "buy" else self.best_bid()
                qty = min(levels[price], self.random_qty(rng))
                out += self.take_level(taker, price, qty, rng)
                self._keep_depth("sell" if taker == "buy" else "buy", rng, out)
        self.funding_rate += rng.uniform(-2e-11, 2e-11)
        self.funding_rate_prediction += rng.uniform(-2e-11, 2e-11)
        self.index_ratio = rng.uniform(-2e-4, 2e-4)
        self.mark_ratio = rng.uniform(-1e-4, 1e-4)
        return out

    def _book_change(self, rng: random.Random, out: list[dict[str, Any]]) -> None:
        tick = self.spec.tick_size
        side: Side = rng.choice(("buy", "sell"))
        levels = self.bids if side == "buy" else self.asks
        action = rng.random()
        if action < 0.4 or len(levels) < 2:
            # Half the new orders arrive within a few ticks of the opposite side (the spread
            # stays tight however many top levels trades and cancels take away), half deeper
            # in their own side (the near book stays dense).
            if rng.random() < 0.5:
                gap = tick * rng.randint(1, 12)
                anchor = self.best_ask() if side == "buy" else self.best_bid()
            else:
                gap = tick * (1 + int(rng.expovariate(1 / 30)))
                anchor = self.best_bid() if side == "buy" else self.best_ask()
            price = anchor - gap if side == "buy" else anchor + gap
            if price > 0:
                self._emit(out, self.set_level(side, price, self.random_qty(rng)))
        elif action < 0.6:
            price = self._nth_best(side, int(rng.expovariate(1 / 15)))
            self._emit(out, self.set_level(side, price, Decimal(0) * self.spec.qty_step))
        else:
            price = self._nth_best(side, int(rng.expovariate(1 / 25)))
            self._emit(out, self.set_level(side, price, self.random_qty(rng)))
        self._keep_depth(side, rng, out)

    def _keep_depth(self, side: Side, rng: random.Random, out: list[dict[str, Any]]) -> None:
        """Refill the far end below :data:`MIN_DEPTH`, trim the worst levels above the max."""
        tick = self.spec.tick_size
        levels = self.bids if side == "buy" else self.asks
        while len(levels) < MIN_DEPTH:
            worst = self._worst(side)
            gap = tick * rng.randint(1, 3)
            far = worst - gap if side == "buy" else worst + gap
            if far <= 0:
                break
            self._emit(out, self.set_level(side, far, self.random_qty(rng)))
        while len(levels) > MAX_DEPTH:
            worst = self._worst(side)
            self._emit(out, self.set_level(side, worst, Decimal(0) * self.spec.qty_step))

    @staticmethod
    def _emit(out: list[dict[str, Any]], message: dict[str, Any] | None) -> None:
        if message is not None:
            out.append(message)

    def set_level(self, side: Side, price: Decimal, qty: Decimal) -> dict[str, Any] | None:
        """Set one level (``qty`` 0 removes it); returns its ``book`` delta, or None if lost."""
        levels = self.bids if side == "buy" else self.asks
        prices = self._bid_prices if side == "buy" else self._ask_prices
        if qty == 0:
            if levels.pop(price, None) is not None:
                del prices[bisect.bisect_left(prices, price)]
        else:
            if price not in levels:
                bisect.insort(prices, price)
            levels[price] = qty
        self.seq += 1
        if self.skip > 0:
            self.skip -= 1  # lost on the wire: applied here, never sent
            return None
        return {
            "feed": "book",
            "product_id": self.spec.product_id,
            "side": side,
            "seq": self.seq,
            "price": price,
            "qty": qty,
            "timestamp": now_ms(),
        }

    def take_level(
        self, taker: Side, price: Decimal, qty: Decimal, rng: random.Random
    ) -> list[dict[str, Any]]:
        """A taker of side ``taker`` trades ``qty`` at ``price`` against that book level.

        Returns:
            The ``book`` delta (unless lost) and the ``trade`` message.
        """
        maker: Side = "sell" if taker == "buy" else "buy"
        levels = self.asks if taker == "buy" else self.bids
        out: list[dict[str, Any]] = []
        self._emit(out, self.set_level(maker, price, levels.get(price, qty) - qty))
        out.append(self.record_trade(taker, price, qty, rng))
        return out

    def record_trade(
        self, taker: Side, price: Decimal, qty: Decimal, rng: random.Random
    ) -> dict[str, Any]:
        """Note a trade in the statistics and the trade history; returns its ``trade`` message."""
        self.trade_seq += 1
        now = now_ms()
        trade: dict[str, Any] = {
            "feed": "trade",
            "product_id": self.spec.product_id,
            "uid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "side": taker,
            "type": "fill",
            "seq": self.trade_seq,
            "time": now,
            "qty": qty,
            "price": price,
        }
        self.trades.append(trade)
        self.last, self.last_qty, self.last_time = price, qty, now
        self.high = max(self.high, price)
        self.low = min(self.low, price)
        self.volume += qty
        self.open_interest += qty if rng.random() < 0.5 else -min(qty, self.open_interest)
        return trade

    # -- messages ----------------------------------------------------------------------

    def book_snapshot(self) -> dict[str, Any]:
        """The ``book_snapshot`` message: every level, best first."""
        return {
            "feed": "book_snapshot",
            "product_id": self.spec.product_id,
            "timestamp": now_ms(),
            "seq": self.seq,
            "tickSize": None,
            "bids": [{"price": p, "qty": self.bids[p]} for p in reversed(self._bid_prices)],
            "asks": [{"price": p, "qty": self.asks[p]} for p in self._ask_prices],
        }

    def trade_snapshot(self) -> dict[str, Any]:
        """The ``trade_snapshot`` message: the recent trades, newest first."""
        return {
            "feed": "trade_snapshot",
            "product_id": self.spec.product_id,
            "trades": list(reversed(self.trades)),
        }

    def _ticker_common(self) -> tuple[dict[str, Any], int, float]:
        spec = self.spec
        now = now_ms()
        dtm = 0 if spec.is_perpetual else max(0, (spec.maturity_time - now) // 86_400_000)
        mid = float(self.mid())
        index = round(mid * (1 + self.index_ratio), 2)
        common = {
            "bid": self.best_bid(),
            "ask": self.best_ask(),
            "change": float((self.last - self.open) / self.open * 100),
            "premium": round((mid - index) / index * 100, 1),
            "volume": self.volume,
            "tag": spec.tag,
            "pair": spec.pair,
            "dtm": dtm,
            "maturityTime": spec.maturity_time,
            "volumeQuote": self.volume if spec.inverse else self.volume * self.last,
        }
        return common, now, index

    def ticker(self) -> dict[str, Any]:
        """The ``ticker`` message, full field set; funding fields for perpetuals only."""
        spec = self.spec
        common, now, index = self._ticker_common()
        ticker: dict[str, Any] = {"time": now, "product_id": spec.product_id}
        if spec.is_perpetual:
            hour = 3_600_000
            ticker |= {
                "funding_rate": self.funding_rate,
                "funding_rate_prediction": self.funding_rate_prediction,
                "relative_funding_rate": self.funding_rate * index,
                "relative_funding_rate_prediction": self.funding_rate_prediction * index,
                "next_funding_rate_time": (now // hour + 1) * hour,
            }
        ticker |= {
            "feed": "ticker",
            "bid": common["bid"],
            "ask": common["ask"],
            "bid_size": self.bids[self.best_bid()],
            "ask_size": self.asks[self.best_ask()],
            "volume": common["volume"],
            "dtm": common["dtm"],
            "leverage": "50x",
            "index": index,
            "premium": common["premium"],
            "last": self.last,
            "change": common["change"],
            "suspended": False,
            "tag": spec.tag,
            "pair": spec.pair,
            "openInterest": self.open_interest,
            "markPrice": float(self.mark_price()),
            "maturityTime": spec.maturity_time,
            "post_only": False,
            "volumeQuote": common["volumeQuote"],
            "open": self.open,
            "high": self.high,
            "low": self.low,
        }
        return ticker

    def ticker_lite(self) -> dict[str, Any]:
        """The ``ticker_lite`` message."""
        common, _, _ = self._ticker_common()
        return {"feed": "ticker_lite", "product_id": self.spec.product_id, **common}
