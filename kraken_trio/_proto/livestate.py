"""The live state the session keeps for stateful channels, one object per wire subscription.

Every message of a stateful channel is applied here as the connection reads it, whether or
not anybody iterates: books (Spot L2 and L3 with Kraken's checksum, Futures with ``seq``),
the instrument list, balances and executions. A subscriber that joins a live wire gets a
snapshot built from this state instead of a fresh subscribe that would disturb the others.

Pure: no trio, no clock. ``apply`` returns None when all is well, or the reason the state
can no longer be trusted (the session then resyncs that wire alone).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec

from .._errors import ProtocolError
from . import futures as f
from . import spot as s
from .book import FuturesBook, L2Book, L3Book

__all__ = [
    "BalancesState",
    "ExecutionsState",
    "FuturesBookState",
    "InstrumentState",
    "LiveState",
    "SpotBookState",
    "live_state_for",
]

_CLOSED = frozenset({"filled", "canceled", "expired"})
_KEPT_TRADES = 50


class LiveState:
    """Base: the kept state of one wire. ``synced`` is False until a snapshot arrived."""

    synced: bool = False

    def apply(self, msg: Any) -> str | None:
        """Apply one message; None, or why the state is no longer trustworthy."""
        raise NotImplementedError

    def snapshot(self) -> Any | None:
        """A snapshot message equal to the current state (None while not in sync)."""
        raise NotImplementedError

    def reset(self) -> None:
        """Forget everything until the next snapshot (link lost, resync asked)."""
        self.synced = False


class SpotBookState(LiveState):
    """A Spot L2 (``book``) or L3 (``level3``) book of one symbol.

    ``verify_each`` is set while somebody reads the book itself (``k.book()``): then every
    message's checksum is verified. Otherwise the book is kept and its checksum verified
    when a snapshot is built from it, so a plain stream costs only the apply.
    """

    def __init__(self, level: int, symbol: str, depth: int) -> None:
        self.level = level
        self.book: L2Book | L3Book = (L3Book if level == 3 else L2Book)(symbol, depth, None, None)
        self.verify_each = False
        self.last_checksum: int | None = None
        self.updates = 0
        self.checksum_failures = 0

    def set_precision(self, price: int | None, qty: int | None) -> None:
        """Use the pair's precisions for the checksum (from the instrument channel).

        The levels are kept; :meth:`verified` tells whether they match Kraken's checksum.
        """
        old = self.book
        if (price, qty) == (old.price_precision, old.qty_precision):
            return
        if isinstance(old, L3Book):
            l3 = L3Book(old.symbol, old.depth, price, qty)
            l3.apply_snapshot(
                [o for _, level in old.bid_levels() for o in level],
                [o for _, level in old.ask_levels() for o in level],
            )
            self.book = l3
        else:
            l2 = L2Book(old.symbol, old.depth, price, qty)
            l2.apply_snapshot(
                [s.PriceLevel(p, q) for p, q in old.bids()],
                [s.PriceLevel(p, q) for p, q in old.asks()],
            )
            self.book = l2

    def apply(self, msg: Any) -> str | None:
        data_list = msg.data
        if msg.type == "update" and len(data_list) == 1 and not self.verify_each:
            # The hot path (a plain stream): one symbol's update, kept but not verified.
            if not self.synced:
                return None  # an update of a stream that waits for its snapshot
            data = data_list[0]
            try:
                self.book.apply_update(data.bids, data.asks)
            except ProtocolError as exc:
                self.synced = False
                return f"bad book data: {exc.reason}"
            self.last_checksum = data.checksum
            self.updates += 1
            return None
        if msg.type != "snapshot" and not self.synced:
            return None  # an update of a stream that waits for its snapshot
        for data in data_list:
            try:
                if msg.type == "snapshot":
                    self.book.apply_snapshot(data.bids, data.asks)
                else:
                    self.book.apply_update(data.bids, data.asks)
            except ProtocolError as exc:
                self.synced = False
                return f"bad book data: {exc.reason}"
            self.last_checksum = data.checksum
            if self.verify_each and not self.book.verify(data.checksum):
                self.checksum_failures += 1
                self.synced = False
                return f"checksum mismatch: got {data.checksum}, computed {self.book.checksum()}"
        if msg.type == "snapshot":
            self.synced = True
        else:
            self.updates += 1
        return None

    def verified(self) -> bool:
        """True when the book is in sync and matches the last checksum Kraken sent."""
        return (
            self.synced and self.last_checksum is not None and self.book.verify(self.last_checksum)
        )

    def snapshot(self) -> Any | None:
        if not self.verified():
            return None
        book = self.book
        checksum = self.last_checksum
        assert checksum is not None
        if isinstance(book, L3Book):
            return s.L3Message(
                type="snapshot",
                data=[
                    s.L3Data(
                        symbol=book.symbol,
                        checksum=checksum,
                        bids=_l3_orders(book.bid_levels()),
                        asks=_l3_orders(book.ask_levels()),
                    )
                ],
            )
        return s.BookMessage(
            type="snapshot",
            data=[
                s.BookData(
                    symbol=book.symbol,
                    checksum=checksum,
                    bids=[s.PriceLevel(p, q) for p, q in book.bids()],
                    asks=[s.PriceLevel(p, q) for p, q in book.asks()],
                )
            ],
        )

    def reset(self) -> None:
        self.synced = False
        self.book.clear()
        self.last_checksum = None


def _l3_orders(levels: list[tuple[Decimal, list[Any]]]) -> list[s.L3Order]:
    return [
        s.L3Order(
            order_id=o.order_id, limit_price=o.limit_price, order_qty=o.order_qty, timestamp=None
        )
        for _, orders in levels
        for o in orders
    ]


class FuturesBookState(LiveState):
    """A Futures book of one product, checked by ``seq``."""

    def __init__(self, product_id: str) -> None:
        self.book = FuturesBook(product_id)
        self.updates = 0
        self.seq_gaps = 0

    def apply(self, msg: Any) -> str | None:
        if isinstance(msg, f.FuturesBookSnapshot):
            try:
                self.book.apply_snapshot(msg.seq, msg.bids, msg.asks)
            except ProtocolError as exc:
                self.synced = False
                return f"bad book data: {exc.reason}"
            self.synced = True
            return None
        if not self.synced:
            return None
        try:
            ok = self.book.apply_delta(msg.seq, msg.side, msg.price, msg.qty)
        except ProtocolError as exc:
            self.synced = False
            return f"bad book data: {exc.reason}"
        if not ok:
            self.seq_gaps += 1
            self.synced = False
            return f"seq gap: expected {(self.book.seq or 0) + 1}, got {msg.seq}"
        self.updates += 1
        return None

    def snapshot(self) -> Any | None:
        if not self.synced or self.book.seq is None:
            return None
        return f.FuturesBookSnapshot(
            product_id=self.book.product_id,
            seq=self.book.seq,
            bids=[f.FuturesLevel(p, q) for p, q in self.book.bids()],
            asks=[f.FuturesLevel(p, q) for p, q in self.book.asks()],
        )

    def reset(self) -> None:
        self.synced = False
        self.book.clear()


class InstrumentState(LiveState):
    """The instrument channel: assets and pairs, by id and symbol."""

    def __init__(self) -> None:
        self.assets: dict[str, s.Asset] = {}
        self.pairs: dict[str, s.InstrumentPair] = {}

    def apply(self, msg: Any) -> str | None:
        if msg.type == "snapshot":
            self.assets.clear()
            self.pairs.clear()
            self.synced = True
        elif not self.synced:
            return None
        self.assets.update((a.id, a) for a in msg.data.assets)
        self.pairs.update((p.symbol, p) for p in msg.data.pairs)
        return None

    def snapshot(self) -> Any | None:
        if not self.synced:
            return None
        return s.InstrumentMessage(
            type="snapshot",
            data=s.InstrumentData(
                assets=list(self.assets.values()), pairs=list(self.pairs.values())
            ),
        )


class BalancesState(LiveState):
    """The balances channel: each asset's balance, moved by the ledger entries of updates."""

    def __init__(self) -> None:
        self.assets: dict[str, s.BalanceAsset] = {}

    def apply(self, msg: Any) -> str | None:
        if isinstance(msg, s.BalancesSnapshot):
            self.assets = {a.asset: a for a in msg.data}
            self.synced = True
            return None
        if not self.synced:
            return None
        for entry in msg.data:
            old = self.assets.get(entry.asset)
            wallets = list(old.wallets) if old is not None else []
            if entry.wallet_type is not None and entry.wallet_id is not None:
                wallet = s.BalanceWallet(
                    type=entry.wallet_type, id=entry.wallet_id, balance=entry.balance
                )
                wallets = [w for w in wallets if (w.type, w.id) != (wallet.type, wallet.id)]
                wallets.append(wallet)
                total = sum((w.balance for w in wallets), Decimal(0))
            else:
                total = entry.balance
            self.assets[entry.asset] = s.BalanceAsset(
                asset=entry.asset,
                balance=total,
                asset_class=entry.asset_class or (old.asset_class if old else None),
                wallets=wallets,
            )
        return None

    def snapshot(self) -> Any | None:
        if not self.synced:
            return None
        return s.BalancesSnapshot(type="snapshot", data=list(self.assets.values()))


class ExecutionsState(LiveState):
    """The executions channel: open orders by id (updates merged in) and the recent trades."""

    def __init__(self) -> None:
        self.orders: dict[str, s.Execution] = {}
        self.trades: list[s.Execution] = []

    def apply(self, msg: Any) -> str | None:
        if msg.type == "snapshot":
            self.orders.clear()
            self.trades.clear()
            self.synced = True
        elif not self.synced:
            return None
        for ex in msg.data:
            if ex.exec_type == "trade" and msg.type == "snapshot":
                self.trades.append(ex)
                continue
            if ex.exec_type == "trade":
                self.trades.append(ex)
            if ex.order_id is None:
                continue
            old = self.orders.get(ex.order_id)
            merged = ex if old is None else _merge(old, ex)
            if merged.order_status in _CLOSED:
                self.orders.pop(ex.order_id, None)
            else:
                self.orders[ex.order_id] = merged
        del self.trades[:-_KEPT_TRADES]
        return None

    def snapshot(self) -> Any | None:
        if not self.synced:
            return None
        return s.ExecutionsMessage(type="snapshot", data=[*self.orders.values(), *self.trades])


def _merge(old: s.Execution, new: s.Execution) -> s.Execution:
    changes = {
        name: value
        for name in new.__struct_fields__
        if (value := getattr(new, name)) is not None and name != "exec_type"
    }
    return msgspec.structs.replace(old, **changes)


def live_state_for(
    futures: bool, channel: str, symbol: str | None, params: dict[str, Any]
) -> LiveState | None:
    """The live state a new wire subscription keeps, or None for stateless channels."""
    if params.get("snapshot") is False:
        return None
    if futures:
        return FuturesBookState(symbol) if channel == "book" and symbol is not None else None
    if channel in ("book", "level3") and symbol is not None:
        return SpotBookState(
            3 if channel == "level3" else 2, symbol, int(params.get("depth") or 10)
        )
    if channel == "instrument":
        return InstrumentState()
    if channel == "balances":
        return BalancesState()
    if channel == "executions":
        return ExecutionsState()
    return None
