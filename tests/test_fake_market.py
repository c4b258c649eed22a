"""The synthetic spot market stays realistic however long it runs (no clock, no I/O).

The market is stepped directly with made-up timestamps: a whole simulated day in coarse
steps, and a quarter of an hour in the fake exchange's own 50 ms steps (where the old model
had widened BTC/USD's spread from 0.1 bp to 36 bp within six minutes). After every step,
for every pair: the book is not crossed, the spread stays within a few basis points, each
side keeps its depth near the top and about 1100 levels in all, and the price stays within
a band around where it started.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from kraken_trio.testing import DEFAULT_PAIRS, Market
from kraken_trio.testing._market import PairBook

MAX_SPREAD_BP = 10
NEAR_LEVELS = 10  # at least this many levels per side ...
NEAR_BAND = 0.01  # ... within 1 % of the mid price
PRICE_BAND = 0.10  # the mid stays within 10 % of the start price


def _check(book: PairBook, step: int) -> tuple[float, float]:
    """Assert the sane bounds on ``book``; returns (spread in bp, mid / start)."""
    where = f"{book.spec.symbol} after step {step}"
    bid, ask = book.bids.best(), book.asks.best()
    assert bid is not None, where
    assert ask is not None, where
    assert bid < ask, where
    mid = (bid + ask) / 2
    spread_bp = (ask - bid) / mid * 1e4
    assert spread_bp <= MAX_SPREAD_BP, f"{where}: spread {spread_bp:.1f} bp"
    assert book.bids.ticks_at(NEAR_LEVELS - 1) >= mid * (1 - NEAR_BAND), f"{where}: thin bids"
    assert book.asks.ticks_at(NEAR_LEVELS - 1) <= mid * (1 + NEAR_BAND), f"{where}: thin asks"
    for side in (book.bids, book.asks):
        assert 1000 <= len(side) <= 1200, f"{where}: {len(side)} levels"
    start = int(book.spec.start_price.scaleb(book.pp))
    moved = mid / start
    assert abs(moved - 1) <= PRICE_BAND, f"{where}: mid at {moved:.3f} of the start"
    return spread_bp, moved


@pytest.mark.slow
@pytest.mark.parametrize(
    ("steps", "interval"),
    [(10_000, 86_400 / 10_000), (18_000, 0.05)],
    ids=["one-day-in-8.64s-steps", "15-minutes-in-50ms-steps"],
)
def test_market_stays_sane(steps: int, interval: float) -> None:
    now = 1_800_000_000.0
    market = Market(seed=7, now=now, step_seconds=interval)
    spreads: dict[str, list[float]] = {s: [] for s in market.symbols}
    lows = dict.fromkeys(market.symbols, 1.0)
    highs = dict.fromkeys(market.symbols, 1.0)
    first_trade = {s: b.trade_id for s, b in market.books.items()}
    for step in range(1, steps + 1):
        now += interval
        market.step(now)
        for symbol, book in market.books.items():
            spread, moved = _check(book, step)
            spreads[symbol].append(spread)
            lows[symbol] = min(lows[symbol], moved)
            highs[symbol] = max(highs[symbol], moved)
    for symbol, book in market.books.items():
        # the market moves: trades happen and the price is not frozen
        assert book.trade_id > first_trade[symbol], symbol
        assert highs[symbol] - lows[symbol] > 0, symbol
        # and the typical spread is tight, not merely under the cap
        typical = sorted(spreads[symbol])[len(spreads[symbol]) // 2]
        assert typical <= MAX_SPREAD_BP / 2, f"{symbol}: median spread {typical:.1f} bp"


def test_the_market_is_deterministic_for_a_seed() -> None:
    a, b = Market(seed=3, now=0.0), Market(seed=3, now=0.0)
    for i in range(1, 200):
        a.step(i * 0.05)
        b.step(i * 0.05 + i % 7)  # the wall clock a step is given does not matter
    for symbol in a.symbols:
        assert a.best_bid_ask(symbol) == b.best_bid_ask(symbol)
        assert a.last_price(symbol) == b.last_price(symbol)
        assert isinstance(a.last_price(symbol), Decimal)
    assert [p.symbol for p in DEFAULT_PAIRS] == a.symbols
