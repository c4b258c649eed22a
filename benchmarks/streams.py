"""Realistic Kraken Spot v2 messages for the replay server, built once and pre-encoded.

Book streams come from a simulated exchange book (more levels than the subscribed depth)
and carry the checksum that :class:`kraken_trio._proto.book.L2Book` computes for the
client's view, rendered at the pair's precision. Each update message lists, in order, the
level changes a subscriber at ``depth`` can see: a changed or deleted level inside its
view, and the level that enters the view from below when one inside is deleted; a level
pushed out by an insertion is not sent (the client truncates), exactly as Kraken does.

Every message of a stream carries a unique ``timestamp`` (``BASE + i`` milliseconds), so a
client that coalesces messages (ccxt resolves one future per batch) can still report how
many it processed: the index of the last one it saw.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import NamedTuple

from kraken_trio._proto.book import L2Book

BASE_TIME = datetime(2026, 1, 1, tzinfo=UTC)
BOOK_SYMBOL = "BTC/USD"
PRICE_PRECISION = 1
QTY_PRECISION = 8
_QTY_SCALE = 10**QTY_PRECISION


def timestamp(index: int) -> str:
    """The RFC3339 timestamp of message ``index`` (BASE_TIME + index ms)."""
    seconds, ms = divmod(index, 1000)
    minutes, sec = divmod(seconds, 60)
    hours, minute = divmod(minutes, 60)
    days, hour = divmod(hours, 24)
    return f"2026-01-{1 + days:02d}T{hour:02d}:{minute:02d}:{sec:02d}.{ms * 1000:06d}Z"


def index_of(ts: datetime | str) -> int:
    """Inverse of :func:`timestamp`."""
    if isinstance(ts, str):
        ts = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    return round((ts - BASE_TIME) / timedelta(milliseconds=1))


def price_text(ticks: int) -> str:
    """Price in ticks of 0.1 -> fixed-point text at PRICE_PRECISION."""
    return f"{ticks // 10}.{ticks % 10}"


def qty_text(units: int) -> str:
    """Quantity in 1e-8 units -> fixed-point text at QTY_PRECISION."""
    return f"{units // _QTY_SCALE}.{units % _QTY_SCALE:08d}"


class _Level(NamedTuple):
    price: Decimal
    qty: Decimal


@dataclass
class BookStream:
    """A book snapshot and its updates as JSON text, plus the oracle's final state."""

    symbol: str
    depth: int
    snapshot: str
    updates: list[str]
    final_bids: list[tuple[Decimal, Decimal]]
    final_asks: list[tuple[Decimal, Decimal]]


class _ExchangeSide:
    """One side of the simulated exchange book: prices best first, qty by price."""

    def __init__(self, descending: bool) -> None:
        self.descending = descending
        self.prices: list[int] = []  # best first
        self.qty: dict[int, int] = {}

    def rank_of_insert(self, price: int) -> int:
        prices = self.prices
        lo, hi = 0, len(prices)
        if self.descending:
            while lo < hi:
                mid = (lo + hi) // 2
                if prices[mid] > price:
                    lo = mid + 1
                else:
                    hi = mid
        else:
            while lo < hi:
                mid = (lo + hi) // 2
                if prices[mid] < price:
                    lo = mid + 1
                else:
                    hi = mid
        return lo


def _levels_json(levels: list[tuple[int, int]]) -> str:
    return ",".join(f'{{"price":{price_text(p)},"qty":{qty_text(q)}}}' for p, q in levels)


def _book_json(kind: str, symbol: str, bids: str, asks: str, checksum: int, ts: str | None) -> str:
    tail = f',"timestamp":"{ts}"' if ts is not None else ""
    return (
        f'{{"channel":"book","type":"{kind}","data":[{{"symbol":"{symbol}",'
        f'"bids":[{bids}],"asks":[{asks}],"checksum":{checksum}{tail}}}]}}'
    )


def build_book_stream(
    count: int, depth: int = 10, seed: int = 1, symbol: str = BOOK_SYMBOL, first_index: int = 0
) -> BookStream:
    """A snapshot and ``count`` updates of one symbol's book at ``depth``, checksums valid.

    Message ``i`` of the updates carries ``timestamp(first_index + i)``.
    """
    rng = random.Random(seed)
    extra = max(20, depth // 10)
    full = depth + extra
    mid = 600_000  # 60000.0
    bids = _ExchangeSide(descending=True)
    asks = _ExchangeSide(descending=False)
    price = mid
    for _ in range(full):
        price -= rng.choice((1, 1, 1, 2, 3))
        bids.prices.append(price)
        bids.qty[price] = rng.randrange(1, 5 * _QTY_SCALE)
    price = mid + 1
    for _ in range(full):
        asks.prices.append(price)
        asks.qty[price] = rng.randrange(1, 5 * _QTY_SCALE)
        price += rng.choice((1, 1, 1, 2, 3))

    oracle = L2Book(symbol, depth, PRICE_PRECISION, QTY_PRECISION)

    def view(side: _ExchangeSide) -> list[tuple[int, int]]:
        return [(p, side.qty[p]) for p in side.prices[:depth]]

    snap_bids, snap_asks = view(bids), view(asks)
    oracle.apply_snapshot(
        [_Level(Decimal(price_text(p)), Decimal(qty_text(q))) for p, q in snap_bids],
        [_Level(Decimal(price_text(p)), Decimal(qty_text(q))) for p, q in snap_asks],
    )
    snapshot = _book_json(
        "snapshot",
        symbol,
        _levels_json(snap_bids),
        _levels_json(snap_asks),
        oracle.checksum(),
        timestamp(max(first_index - 1, 0)),
    )
    # Where the changes land: mostly the top of the book, sometimes deeper.
    mean_rank = 3.0 if depth <= 10 else 12.0
    updates: list[str] = []
    for i in range(count):
        changed: dict[bool, list[tuple[int, int]]] = {True: [], False: []}
        for _ in range(rng.choice((1, 1, 1, 2, 2, 3))):
            is_bid = rng.random() < 0.5
            side = bids if is_bid else asks
            other = asks if is_bid else bids
            out = changed[is_bid]
            prices = side.prices
            action = rng.random()
            if (action < 0.2 and len(prices) > depth + 5) or len(prices) > full + extra:
                rank = min(int(rng.expovariate(1 / mean_rank)), len(prices) - 1)
                p = prices.pop(rank)
                del side.qty[p]
                if rank < depth:
                    out.append((p, 0))
                    if len(prices) >= depth:
                        q_in = prices[depth - 1]
                        out.append((q_in, side.qty[q_in]))
            elif action < 0.45 or len(prices) < full:
                # a new price level between existing ones (never crossing the other side)
                rank = min(int(rng.expovariate(1 / mean_rank)), len(prices) - 1)
                anchor = prices[rank]
                step = 1 if side.descending else -1
                p = anchor + step  # one tick better than the anchor
                best_other = other.prices[0]
                if (
                    p in side.qty
                    or (side.descending and p >= best_other)
                    or (not side.descending and p <= best_other)
                ):
                    side.qty[anchor] = rng.randrange(1, 5 * _QTY_SCALE)
                    if rank < depth:
                        out.append((anchor, side.qty[anchor]))
                    continue
                at = side.rank_of_insert(p)
                prices.insert(at, p)
                side.qty[p] = rng.randrange(1, 5 * _QTY_SCALE)
                if at < depth:
                    out.append((p, side.qty[p]))
            else:
                rank = min(int(rng.expovariate(1 / mean_rank)), len(prices) - 1)
                p = prices[rank]
                side.qty[p] = rng.randrange(1, 5 * _QTY_SCALE)
                if rank < depth:
                    out.append((p, side.qty[p]))
        ub, ua = changed[True], changed[False]
        if not ub and not ua:  # invisible change: refresh the best bid instead
            p = bids.prices[0]
            bids.qty[p] = rng.randrange(1, 5 * _QTY_SCALE)
            ub = [(p, bids.qty[p])]
        oracle.apply_update(
            [_Level(Decimal(price_text(p)), Decimal(qty_text(q))) for p, q in ub],
            [_Level(Decimal(price_text(p)), Decimal(qty_text(q))) for p, q in ua],
        )
        updates.append(
            _book_json(
                "update",
                symbol,
                _levels_json(ub),
                _levels_json(ua),
                oracle.checksum(),
                timestamp(first_index + i),
            )
        )
    final_bids = [(Decimal(price_text(p)), Decimal(qty_text(q))) for p, q in view(bids)]
    final_asks = [(Decimal(price_text(p)), Decimal(qty_text(q))) for p, q in view(asks)]
    if oracle.bids() != final_bids or oracle.asks() != final_asks:
        raise AssertionError("book generator: the client view diverged from the exchange book")
    return BookStream(symbol, depth, snapshot, updates, final_bids, final_asks)


def fanout_symbols(n: int) -> list[str]:
    """``n`` synthetic spot pairs for the fan-out scenario."""
    return [f"C{i:03d}/USD" for i in range(n)]


def ticker_json(symbol: str, kind: str, rng: random.Random) -> str:
    """One ticker message (one data element, as Kraken sends)."""
    bid = rng.randrange(10_000, 20_000)
    return (
        f'{{"channel":"ticker","type":"{kind}","data":[{{"symbol":"{symbol}",'
        f'"bid":{bid / 10000:.4f},"bid_qty":{qty_text(rng.randrange(1, 10**11))},'
        f'"ask":{(bid + 1) / 10000:.4f},"ask_qty":{qty_text(rng.randrange(1, 10**11))},'
        f'"last":{bid / 10000:.4f},"volume":{qty_text(rng.randrange(1, 10**14))},'
        f'"vwap":{bid / 10000:.4f},"low":{(bid - 100) / 10000:.4f},'
        f'"high":{(bid + 100) / 10000:.4f},"change":0.0012,"change_pct":0.85}}]}}'
    )


def trade_json(symbol: str, kind: str, trade_id: int, ts: str, rng: random.Random) -> str:
    """One trade message (one trade)."""
    side = "buy" if rng.random() < 0.5 else "sell"
    return (
        f'{{"channel":"trade","type":"{kind}","data":[{{"symbol":"{symbol}","side":"{side}",'
        f'"price":{rng.randrange(10_000, 20_000) / 10000:.4f},'
        f'"qty":{qty_text(rng.randrange(1, 10**10))},"ord_type":"limit",'
        f'"trade_id":{trade_id},"timestamp":"{ts}"}}]}}'
    )


def instrument_json(symbols: list[str]) -> str:
    """An instrument snapshot listing ``symbols`` (precision 1/8 for BTC/USD, 4/8 others)."""
    pairs = []
    for sym in symbols:
        base, quote = sym.split("/")
        pp = PRICE_PRECISION if sym == BOOK_SYMBOL else 4
        pairs.append(
            {
                "symbol": sym,
                "base": base,
                "quote": quote,
                "status": "online",
                "qty_precision": QTY_PRECISION,
                "qty_increment": 1e-08,
                "qty_min": 0.0001,
                "price_precision": pp,
                "price_increment": 10.0**-pp,
                "cost_precision": 5,
                "cost_min": 0.5,
                "marginable": False,
                "has_index": True,
            }
        )
    assets = [
        {"id": a, "status": "enabled", "precision": 8, "precision_display": 5}
        for a in sorted({p for s in symbols for p in s.split("/")})
    ]
    return json.dumps(
        {"channel": "instrument", "type": "snapshot", "data": {"assets": assets, "pairs": pairs}},
        separators=(",", ":"),
    )


def server_frame(text: str) -> bytes:
    """One unmasked server->client WebSocket text frame."""
    payload = text.encode()
    n = len(payload)
    if n < 126:
        header = bytes((0x81, n))
    elif n < 65536:
        header = bytes((0x81, 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((0x81, 127)) + n.to_bytes(8, "big")
    return header + payload
