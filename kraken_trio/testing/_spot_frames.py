"""The Spot v2 frames the fake servers send, built from the synthetic market (pure).

Book and level3 snapshots and updates with their CRC32 checksums, ticker, trade, ohlc and
instrument messages, numbers as fixed-point text at the pair's precision.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

import msgspec

from ._market import (
    BookEvent,
    BookSide,
    Market,
    PairBook,
)
from ._wire import encode, fixed_units, raw_units, ts6, ts9

__all__ = [
    "book_checksum",
    "book_snapshot_frame",
    "book_update_frame",
    "checksum_text",
    "instrument_frame",
    "l3_checksum",
    "l3_snapshot_frame",
    "l3_update_frame",
    "ohlc_frame",
    "ticker_frame",
    "trade_frame",
]


def _digits(text: str) -> str:
    return text.replace(".", "").lstrip("0")


def _levels(book: PairBook, side: BookSide, ticks: Sequence[int]) -> list[dict[str, Any]]:
    pp, qp = book.pp, book.qp
    lots = side.lots
    return [{"price": raw_units(t, pp), "qty": raw_units(lots[t], qp)} for t in ticks]


def checksum_text(units: int, places: int) -> str:
    """The checksum form of a wire number given as integer units.

    The wire text is ``fixed_units(units, places)``; dropping its ``.`` and leading zeros
    leaves exactly ``str(units)`` for any positive count (and a level's price and quantity
    are always positive), so this is the same text without building it twice.
    """
    return str(units) if units > 0 else _digits(fixed_units(units, places))


def book_checksum(book: PairBook) -> int:
    """CRC32 of the top ten levels (asks ascending, then bids descending)."""
    pp, qp = book.pp, book.qp
    parts: list[str] = []
    for side in (book.asks, book.bids):
        lots = side.lots
        for t in side.top(10):
            parts.append(checksum_text(t, pp) + checksum_text(lots[t], qp))
    return zlib.crc32("".join(parts).encode())


def l3_checksum(book: PairBook) -> int:
    """L3 CRC32: every order of the top ten levels, in queue order."""
    pp, qp = book.pp, book.qp
    parts: list[str] = []
    for side in (book.asks, book.bids):
        for t in side.top(10):
            price = checksum_text(t, pp)
            for order in side.orders.get(t, ()):
                parts.append(price + checksum_text(order.lots, qp))
    return zlib.crc32("".join(parts).encode())


def book_snapshot_frame(book: PairBook, depth: int, t: float) -> str:
    """A ``book`` snapshot at ``depth``."""
    data = {
        "symbol": book.spec.symbol,
        "bids": _levels(book, book.bids, book.bids.top(depth)),
        "asks": _levels(book, book.asks, book.asks.top(depth)),
        "checksum": book_checksum(book),
        "timestamp": ts6(t),
    }
    return encode({"channel": "book", "type": "snapshot", "data": [data]})


def _visible(
    book: PairBook, event: BookEvent, depth: int, is_bid: bool
) -> tuple[list[tuple[int, int]], list[int]]:
    """What a depth-limited subscriber must be sent for one side.

    Returns the changes of levels it held (in order) and the prices that slid into its depth.
    """
    side = book.side(is_bid)
    idx = 0 if is_bid else 1
    old_worst = event.old_worst[depth][idx]
    changes = [
        (t, q)
        for b, t, q in event.changes
        if b == is_bid and (old_worst is None or side.key(t) <= old_worst)
    ]
    slid: list[int] = []
    if old_worst is not None:
        slid = side.beyond(old_worst, depth)
    return changes, slid


def _deletions_first(changes: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Reorder a side's changes: levels that end deleted first (one qty 0 each), then the rest.

    Only the order across different prices changes (a client that applies the whole message
    and then truncates gets the same book), and it also serves clients that truncate after
    every level, as python-kraken-sdk does: nothing they drop is needed later.
    """
    final = dict(changes)
    deleted = [(t, 0) for t in dict.fromkeys(t for t, _ in changes) if final[t] == 0]
    return deleted + [(t, q) for t, q in changes if final[t] != 0]


def book_update_frame(book: PairBook, event: BookEvent, depth: int, checksum: int) -> str | None:
    """The ``book`` update a ``depth`` subscriber gets for ``event`` (None: nothing visible)."""
    pp, qp = book.pp, book.qp
    sides: list[list[dict[str, Any]]] = []
    for is_bid in (True, False):
        changes, slid = _visible(book, event, depth, is_bid)
        changes = _deletions_first(changes)
        lots = book.side(is_bid).lots
        levels = [{"price": raw_units(t, pp), "qty": raw_units(q, qp)} for t, q in changes]
        levels.extend({"price": raw_units(t, pp), "qty": raw_units(lots[t], qp)} for t in slid)
        sides.append(levels)
    if not sides[0] and not sides[1]:
        return None
    data = {
        "symbol": book.spec.symbol,
        "bids": sides[0],
        "asks": sides[1],
        "checksum": checksum,
        "timestamp": ts6(event.t),
    }
    return encode({"channel": "book", "type": "update", "data": [data]})


def _l3_order(book: PairBook, ticks: int, order_id: str, lots: int, t_ns: int) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "limit_price": raw_units(ticks, book.pp),
        "order_qty": raw_units(lots, book.qp),
        "timestamp": ts9(t_ns),
    }


def l3_snapshot_frame(book: PairBook, depth: int) -> str:
    """A ``level3`` snapshot at ``depth``."""
    sides = []
    for side in (book.bids, book.asks):
        sides.append(
            [
                _l3_order(book, t, o.order_id, o.lots, o.t_ns)
                for t in side.top(depth)
                for o in side.orders.get(t, ())
            ]
        )
    data = {"symbol": book.spec.symbol, "checksum": l3_checksum(book), "bids": sides[0]}
    data["asks"] = sides[1]
    return encode({"channel": "level3", "type": "snapshot", "data": [data]})


def l3_update_frame(book: PairBook, event: BookEvent, depth: int, checksum: int) -> str | None:
    """The ``level3`` update a ``depth`` subscriber gets for ``event``."""
    sides: list[list[dict[str, Any]]] = []
    for is_bid in (True, False):
        side = book.side(is_bid)
        old_worst = event.old_worst[depth][0 if is_bid else 1]
        out: list[dict[str, Any]] = []
        for op in event.l3:
            if op.is_bid == is_bid and (old_worst is None or side.key(op.ticks) <= old_worst):
                item = {"event": op.event}
                item.update(_l3_order(book, op.ticks, op.order_id, op.lots, op.t_ns))
                out.append(item)
        if old_worst is not None:
            for t in side.beyond(old_worst, depth):
                for o in side.orders.get(t, ()):
                    item = {"event": "add"}
                    item.update(_l3_order(book, t, o.order_id, o.lots, o.t_ns))
                    out.append(item)
        sides.append(out)
    if not sides[0] and not sides[1]:
        return None
    data = {"checksum": checksum, "symbol": book.spec.symbol, "bids": sides[0], "asks": sides[1]}
    return encode({"channel": "level3", "type": "update", "data": [data]})


def ticker_frame(book: PairBook, kind: str, t: float) -> str:
    """A ``ticker`` snapshot or update from the pair's current state."""
    pp, qp = book.pp, book.qp
    bid, bid_lots, ask, ask_lots = book.bbo
    change = book.last - book.open24
    pct = round(change * 10000 / book.open24) if book.open24 else 0
    vwap = book.cost // book.volume if book.volume else book.last
    data = {
        "symbol": book.spec.symbol,
        "bid": raw_units(bid or 0, pp),
        "bid_qty": raw_units(bid_lots, qp),
        "ask": raw_units(ask or 0, pp),
        "ask_qty": raw_units(ask_lots, qp),
        "last": raw_units(book.last, pp),
        "volume": raw_units(book.volume, qp),
        "vwap": raw_units(vwap, pp),
        "low": raw_units(book.low, pp),
        "high": raw_units(book.high, pp),
        "change": raw_units(change, pp),
        "change_pct": raw_units(pct, 2),
        "timestamp": ts6(t),
    }
    return encode({"channel": "ticker", "type": kind, "data": [data]})


def trade_frame(book: PairBook, trades: Sequence[Any], kind: str) -> str:
    """A ``trade`` message with ``trades`` (snapshot or update)."""
    pp, qp = book.pp, book.qp
    data = [
        {
            "symbol": book.spec.symbol,
            "side": tr.side,
            "price": raw_units(tr.ticks, pp),
            "qty": raw_units(tr.lots, qp),
            "ord_type": tr.ord_type,
            "trade_id": tr.trade_id,
            "timestamp": ts6(tr.t),
        }
        for tr in trades
    ]
    return encode({"channel": "trade", "type": kind, "data": data})


def ohlc_frame(book: PairBook, interval: int, kind: str, t: float) -> str:
    """An ``ohlc`` snapshot (recent candles) or update (the current candle)."""
    pp, qp = book.pp, book.qp
    candles = list(book.candles[interval])
    if kind == "update":
        candles = candles[-1:]
    span = interval * 60
    data = [
        {
            "symbol": book.spec.symbol,
            "open": raw_units(c.open, pp),
            "high": raw_units(c.high, pp),
            "low": raw_units(c.low, pp),
            "close": raw_units(c.close, pp),
            "trades": c.trades,
            "volume": raw_units(c.volume, qp),
            "vwap": raw_units(c.cost // c.volume if c.volume else c.close, pp),
            "interval_begin": ts9(c.begin * 1_000_000_000),
            "interval": interval,
            "timestamp": ts6(c.begin + span),
        }
        for c in candles
    ]
    return encode({"channel": "ohlc", "type": kind, "timestamp": ts9(int(t * 1e9)), "data": data})


def instrument_frame(market: Market) -> str:
    """The ``instrument`` snapshot built from the pair table."""
    precisions: dict[str, int] = {}
    for book in market.books.values():
        spec = book.spec
        precisions[spec.base] = max(precisions.get(spec.base, 0), spec.qty_precision + 2)
        precisions.setdefault(spec.quote, 4)
    assets = [
        {
            "id": asset,
            "status": "enabled",
            "precision": precision,
            "precision_display": min(precision, 5),
            "borrowable": False,
            "collateral_value": msgspec.Raw(b"1.00"),
            "margin_rate": msgspec.Raw(b"0.02"),
        }
        for asset, precision in precisions.items()
    ]
    pairs = []
    for book in market.books.values():
        spec = book.spec
        pairs.append(
            {
                "symbol": spec.symbol,
                "base": spec.base,
                "quote": spec.quote,
                "status": "online",
                "qty_precision": spec.qty_precision,
                "qty_increment": raw_units(1, spec.qty_precision),
                "price_precision": spec.price_precision,
                "cost_precision": spec.cost_precision,
                "marginable": False,
                "has_index": True,
                "cost_min": msgspec.Raw(format(spec.cost_min, "f").encode()),
                "tick_size": raw_units(1, spec.price_precision),
                "price_increment": raw_units(1, spec.price_precision),
                "qty_min": raw_units(
                    int(spec.qty_min.scaleb(spec.qty_precision)), spec.qty_precision
                ),
            }
        )
    return encode(
        {"channel": "instrument", "type": "snapshot", "data": {"assets": assets, "pairs": pairs}}
    )
