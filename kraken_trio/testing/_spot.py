"""The fake exchange's Spot WebSocket v2 servers: public, private and level3.

Each server listens on its own loopback port and speaks the v2 envelope exactly as the
protocol reference documents it: a ``status`` message on connect (a fresh u64
``connection_id`` above 2**63), ``heartbeat`` about once a second when a subscribed connection
had no other channel update, ``ping``/``pong``, one ack per symbol, Kraken's error strings,
and channel data built from the synthetic market with fixed-point numbers.

Error strings the fake uses (decisions where Kraken's exact text is not documented are
marked *chosen*):

- invalid JSON, a non-object, a missing ``method``, a non-integer ``req_id`` or a
  non-object ``params``: ``Malformed request`` (no ``method`` key when there was none).
- unknown method, unknown or missing channel: ``Unsupported event``.
- ``ping`` with ``params``: ``Unsupported field: 'params' for the given msg type: ping``.
- unknown symbol: ``Currency pair not supported <SYM>`` (one error per symbol, with a top-level
  ``symbol``), missing or empty ``symbol`` list: ``Malformed request`` (*chosen*).
- bad depth: ``Subscription depth not supported``; bad ohlc interval:
  ``Subscription ohlc interval not supported`` (*chosen*); bad ``event_trigger``:
  ``Unsupported event_trigger`` (*chosen*).
- subscribing twice: ``Already subscribed`` (per symbol); unsubscribing something not
  subscribed: ``Subscription Not Found`` with ``"method":"subscribe"`` and ``symbol``, as the
  python-kraken-sdk capture shows.
- private requests with a missing, unknown or expired token: ``Token(s) not found``
  (the live text for ``edit_order``; used for every private request, *chosen*).
- a trading method sent to the public or level3 endpoint: ``EGeneral:Permission denied``
  (*chosen*).
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import socket
import struct
import time
import zlib
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal, Protocol

import msgspec
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, WebSocketRequest
from wsproto import ConnectionType, WSConnection
from wsproto.events import Ping

from ._faults import Faults, Received, ping_each
from ._limits import SPOT_RATE_ERROR, Limits
from ._market import (
    BOOK_DEPTHS,
    L3_DEPTHS,
    OHLC_INTERVALS,
    BookEvent,
    BookSide,
    Market,
    MarketEvent,
    OhlcEvent,
    PairBook,
    TickerEvent,
    TradeEvent,
)
from ._rest import TokenStore
from ._wire import decode, encode, encode_sorted, fixed_units, raw_units, to_wire, ts6, ts9

__all__ = [
    "EngineLike",
    "Exchange",
    "Level3Server",
    "PrivateServer",
    "PublicServer",
    "SpotServer",
]

logger = logging.getLogger("kraken_trio.testing")

_STATUS_VERSION = "2.0.10"
_OUT_QUEUE = 100_000
TRADING_METHODS = frozenset(
    {
        "add_order",
        "amend_order",
        "edit_order",
        "cancel_order",
        "cancel_all",
        "cancel_all_orders_after",
        "batch_add",
        "batch_cancel",
    }
)
_COMMON_FIELDS = frozenset({"channel", "snapshot", "token"})
_CHANNEL_FIELDS: dict[str, frozenset[str]] = {
    "book": _COMMON_FIELDS | {"symbol", "depth"},
    "ticker": _COMMON_FIELDS | {"symbol", "event_trigger"},
    "trade": _COMMON_FIELDS | {"symbol"},
    "ohlc": _COMMON_FIELDS | {"symbol", "interval"},
    "instrument": _COMMON_FIELDS | {"execution_venue", "include_tokenized_assets"},
    "executions": _COMMON_FIELDS
    | {
        "snap_orders",
        "snap_trades",
        "snapshot_trades",
        "order_status",
        "ratecounter",
        "rebased",
        "users",
    },
    "balances": _COMMON_FIELDS | {"rebased", "users"},
    "level3": _COMMON_FIELDS | {"symbol", "depth"},
}
# Documented options whose non-default values the fake does not implement (rejected clearly).
_FIXED_OPTIONS: dict[str, tuple[tuple[str, object], ...]] = {
    "instrument": (("execution_venue", "international"), ("include_tokenized_assets", False)),
    "executions": (("order_status", True), ("ratecounter", False), ("rebased", True)),
    "balances": (("rebased", True),),
}
_EXECUTIONS_WARNINGS = [
    "cancel_reason is deprecated, use reason",
    "stop_price is deprecated, use triggers.price",
    "trigger is deprecated use triggers.reference",
    "triggered_price is deprecated use triggers.last_price",
]


# --- the matching engine, as the servers see it ----------------------------------------------


class _ReplyLike(Protocol):
    success: bool
    result: Any
    error: str | None
    extra: dict[str, Any]


class _EventLike(Protocol):
    account: str
    channel: Literal["executions", "balances"]
    data: list[dict[str, Any]]


class EngineLike(Protocol):
    """The part of ``kraken_trio.testing._engine.Engine`` the servers use."""

    max_rate_count: int

    def open_account(self, account: str, balances: Any = None) -> None: ...

    def request(
        self, account: str, method: str, params: Mapping[str, Any], now: float
    ) -> Sequence[_ReplyLike]: ...

    def on_market(self, symbol: str, now: float) -> None: ...

    def on_time(self, now: float) -> None: ...

    def drain(self) -> Sequence[_EventLike]: ...

    def executions_snapshot(
        self, account: str, *, snap_orders: bool = True, snap_trades: bool = False
    ) -> list[dict[str, Any]]: ...

    def balances_snapshot(self, account: str) -> list[dict[str, Any]]: ...

    def next_deadman_expiry(self) -> float | None: ...

    def resting(
        self, symbol: str
    ) -> Sequence[tuple[Literal["buy", "sell"], Decimal, Decimal, str]]: ...


class Exchange:
    """What the spot servers share: the market, the engine, the tokens, the private fan-out.

    Args:
        market: The synthetic market.
        engine: The matching engine, or None (trading methods then answer
            ``EGeneral:Internal error``).
        tokens: WebSocket tokens issued by the REST server.
        show_engine_orders: Show the engine's resting orders in the public book and level3.
    """

    def __init__(
        self,
        market: Market,
        engine: EngineLike | None,
        tokens: TokenStore,
        *,
        show_engine_orders: bool = True,
    ) -> None:
        self.market = market
        self.engine = engine
        self.tokens = tokens
        self.show_engine_orders = show_engine_orders
        self.limits = Limits()  # request and subscription limits (see _limits.py)
        self._private_servers: list[PrivateServer] = []
        self.deadman_changed = trio.Event()

    def __repr__(self) -> str:
        return f"Exchange(symbols={self.market.symbols})"

    def register_private(self, server: PrivateServer) -> None:
        """Send engine events to ``server``'s subscribers too."""
        self._private_servers.append(server)

    def pump(self) -> None:
        """Deliver every pending engine event to its account's subscribers."""
        engine = self.engine
        if engine is None:
            return
        for event in engine.drain():
            for server in self._private_servers:
                server.deliver(event.account, event.channel, event.data)
        if self.show_engine_orders:
            now = time.time()
            for symbol in self.market.symbols:
                self.market.show_engine_orders(symbol, engine.resting(symbol), now)

    def requests_handled(self) -> None:
        """Wake the timer task: a trading request may have (re)armed the dead man's switch."""
        self.deadman_changed.set()
        self.deadman_changed = trio.Event()


# --- frame builders (pure) -------------------------------------------------------------------


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


# --- connections and servers -----------------------------------------------------------------


class _StallableConnection(WebSocketConnection):
    """A server WebSocket whose protocol-level pongs can be withheld (``stall_pongs``).

    This is what ``trio_websocket.wrap_server_stream`` builds, with the one hook where
    trio-websocket answers a ping overridden; it relies on trio-websocket's ``_reader_task``
    and ``_get_request``, as ``wrap_server_stream`` itself does.
    """

    def __init__(self, stream: trio.SocketStream, *, stalled: Callable[[], bool]) -> None:
        super().__init__(stream, WSConnection(ConnectionType.SERVER))
        self._stalled = stalled

    async def _handle_ping_event(self, event: Ping) -> None:
        if self._stalled():
            return
        await super()._handle_ping_event(event)


@dataclass(eq=False)
class _Conn:
    id: int
    ws: WebSocketConnection
    stream: trio.SocketStream
    out: trio.MemorySendChannel[str | bytes]
    scope: trio.CancelScope
    subs: dict[tuple[str, str | None], dict[str, Any]] = field(default_factory=dict)
    last_update: float = 0.0
    sequence: dict[str, int] = field(default_factory=dict)
    account: str | None = None
    overflowed: bool = False

    def push(self, frame: str | bytes) -> None:
        try:
            self.out.send_nowait(frame)
        except trio.WouldBlock:
            # A consumer this slow would be disconnected by Kraken too.
            self.overflowed = True
            self.scope.cancel()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass

    def push_update(self, frame: str) -> None:
        self.last_update = trio.current_time()
        self.push(frame)

    def next_sequence(self, channel: str) -> int:
        n = self.sequence.get(channel, 0) + 1
        self.sequence[channel] = n
        return n


class _Reject(Exception):
    """A request error: answered with ``success: false`` and this text."""

    def __init__(self, error: str, *, symbol: str | None = None) -> None:
        super().__init__(error, symbol)
        self.error = error
        self.symbol = symbol


def _response(
    method: str | None,
    req_id: int | None,
    time_in: str,
    *,
    result: Any = None,
    error: str | None = None,
    success: bool | None = True,
    extra: Mapping[str, Any] | None = None,
) -> str:
    msg: dict[str, Any] = {}
    if method is not None:
        msg["method"] = method
    if req_id is not None:
        msg["req_id"] = req_id
    if error is not None:
        msg["error"] = error
        msg["success"] = False
    else:
        if result is not None:
            msg["result"] = result
        if success is not None:
            msg["success"] = success
    if extra:
        msg.update(extra)
    msg["time_in"] = time_in
    msg["time_out"] = ts6()
    return encode_sorted(msg)


def _new_connection_id() -> int:
    return (1 << 63) | secrets.randbits(63)


class SpotServer:
    """One Spot v2 WebSocket endpoint on loopback (base class).

    Attributes:
        name: What the endpoint is (for reprs and logs).
        url: ``ws://127.0.0.1:<port>/v2`` once running.
        faults: The fault switches of this endpoint.
        received: Every frame received, in order.
        connections_accepted: How many WebSocket connections were accepted so far.
    """

    channels: frozenset[str] = frozenset()

    def __init__(self, name: str, exchange: Exchange, *, heartbeat_interval: float = 1.0) -> None:
        self.name = name
        self.exchange = exchange
        self.market = exchange.market
        self.heartbeat_interval = heartbeat_interval
        self.faults = Faults(self)
        self.received: list[Received] = []
        self.url = ""
        self.connections_accepted = 0
        self._conns: dict[int, _Conn] = {}
        self._index: dict[tuple[str, str | None], dict[int, _Conn]] = {}
        self._received_changed = trio.Event()
        self._state_event = trio.Event()
        self._scripts: dict[tuple[str, str], list[str]] = {}
        self.system = "online"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, url={self.url!r}, {len(self._conns)} live)"

    # --- public inspection ---

    @property
    def connection_ids(self) -> list[int]:
        """Ids of the live connections."""
        return list(self._conns)

    def subscriptions(self) -> dict[int, list[tuple[str, str | None]]]:
        """Live ``(channel, symbol)`` subscriptions per connection id (symbol None if none)."""
        return {cid: list(conn.subs) for cid, conn in self._conns.items()}

    async def wait_received(self, count: int) -> list[Received]:
        """Wait until at least ``count`` frames have been received in total; returns them.

        A checkpoint; bound it with ``trio.fail_after``.
        """
        while len(self.received) < count:
            await self._received_changed.wait()
        await trio.lowlevel.checkpoint()
        return self.received

    def live_subscriptions(self) -> dict[int, set[tuple[str, str | None]]]:
        """Open connections by id, each with its ``(channel, symbol or None)`` subscriptions.

        The same shape as the futures server's ``live_subscriptions``.
        """
        return {cid: set(conn.subs) for cid, conn in self._conns.items()}

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        """Wait until ``predicate()`` is true, without polling.

        Checked now and again whenever a connection opens or closes and after every client
        frame has been handled (so after each subscription change and each addition to
        :attr:`received`). A checkpoint; bound it with ``trio.fail_after``.
        """
        await trio.lowlevel.checkpoint()
        while not predicate():
            await self._state_event.wait()

    def _state_changed(self) -> None:
        self._state_event.set()
        self._state_event = trio.Event()

    def _record(self, conn: _Conn, message: Any) -> None:
        self.received.append(Received(conn.id, message, trio.current_time()))
        self._received_changed.set()
        self._received_changed = trio.Event()

    def subscribers(self, channel: str, symbol: str | None = None) -> int:
        """How many live connections are subscribed to ``(channel, symbol)``."""
        return len(self._index.get((channel, symbol), {}))

    # --- serving ---

    async def run(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Serve until cancelled; ``task_status.started`` gets the ``ws://`` URL."""
        listeners = await trio.open_tcp_listeners(port, host=host)
        bound = listeners[0].socket.getsockname()
        self.url = f"ws://{bound[0]}:{bound[1]}/v2"
        self.market.add_listener(self._on_market)
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(trio.serve_listeners, self._serve_stream, listeners)
                task_status.started(self.url)
                await trio.sleep_forever()
        finally:
            self.market.remove_listener(self._on_market)

    async def _serve_stream(self, stream: trio.SocketStream) -> None:
        try:
            async with trio.open_nursery() as nursery:
                request: WebSocketRequest | None = None
                ws = _StallableConnection(stream, stalled=lambda: self.faults.stall_pongs)
                nursery.start_soon(ws._reader_task)
                with trio.move_on_after(10):
                    request = await ws._get_request()
                if request is not None:
                    await self._handle(request, stream)
                nursery.cancel_scope.cancel()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            with trio.move_on_after(1) as scope:
                scope.shield = True
                await stream.aclose()

    async def _handle(self, request: WebSocketRequest, stream: trio.SocketStream) -> None:
        if self.faults.refusing:
            await request.reject(503, body=b"Service Unavailable")
            return
        ws = await request.accept()
        self.connections_accepted += 1
        send, receive = trio.open_memory_channel[str | bytes](_OUT_QUEUE)
        with trio.CancelScope() as scope:
            conn = _Conn(_new_connection_id(), ws, stream, send, scope)
            conn.last_update = trio.current_time()
            self._conns[conn.id] = conn
            self._state_changed()
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._writer, conn, receive)
                    nursery.start_soon(self._heartbeat, conn)
                    conn.push(self._status_frame(conn.id))
                    await self._reader(conn)
                    nursery.cancel_scope.cancel()
            finally:
                self._forget(conn)
        if ws.closed is None:
            with trio.move_on_after(1) as close_scope:
                close_scope.shield = True
                await ws.aclose(1011 if conn.overflowed else 1000)

    def set_system_status(self, system: str) -> None:
        """Change ``system`` and send a ``status`` update to every live connection.

        Args:
            system: ``online``, ``cancel_only``, ``maintenance`` or ``post_only``.
        """
        if system not in ("online", "cancel_only", "maintenance", "post_only"):
            raise ValueError(f"unknown system status {system!r}")
        self.system = system
        for conn in list(self._conns.values()):
            conn.push_update(self._status_frame(conn.id))

    def _status_frame(self, connection_id: int) -> str:
        data = {
            "api_version": "v2",
            "connection_id": connection_id,
            "system": self.system,
            "version": _STATUS_VERSION,
        }
        return encode({"channel": "status", "data": [data], "type": "update"})

    async def _writer(self, conn: _Conn, receive: trio.MemoryReceiveChannel[str | bytes]) -> None:
        async with receive:
            async for frame in receive:
                try:
                    await conn.ws.send_message(frame)
                except ConnectionClosed:
                    conn.scope.cancel()
                    return

    async def _heartbeat(self, conn: _Conn) -> None:
        period = self.heartbeat_interval
        while True:
            deadline = conn.last_update + period
            if trio.current_time() >= deadline:
                if conn.subs:
                    conn.push_update('{"channel":"heartbeat"}')
                else:
                    conn.last_update = trio.current_time()
                await trio.lowlevel.checkpoint()
            else:
                await trio.sleep_until(deadline)

    async def _reader(self, conn: _Conn) -> None:
        while True:
            await self.faults.wait_reading()
            try:
                frame = await conn.ws.get_message()
            except ConnectionClosed:
                return
            time_in = ts6()
            try:
                msg = decode(frame)
            except msgspec.DecodeError:
                self._record(conn, frame)
                await self._reply(conn, _response(None, None, time_in, error="Malformed request"))
                self._state_changed()
                continue
            self._record(conn, msg)
            await self._dispatch(conn, msg, time_in)
            self._state_changed()

    async def _reply(self, conn: _Conn, frame: str) -> None:
        if self.faults.delay > 0:
            await trio.sleep(self.faults.delay)
        conn.push(frame)

    async def _dispatch(self, conn: _Conn, msg: Any, time_in: str) -> None:
        if not isinstance(msg, dict) or not isinstance(msg.get("method"), str):
            given = msg.get("method") if isinstance(msg, dict) else None
            await self._reply(
                conn,
                _response(
                    given if isinstance(given, str) else None,
                    None,
                    time_in,
                    error="Malformed request",
                ),
            )
            return
        method: str = msg["method"]
        req_id = msg.get("req_id")
        if req_id is not None and (not isinstance(req_id, int) or isinstance(req_id, bool)):
            await self._reply(conn, _response(method, None, time_in, error="Malformed request"))
            return
        params = msg.get("params")
        if method == "ping":
            if "params" in msg:
                error = "Unsupported field: 'params' for the given msg type: ping"
                await self._reply(conn, _response("ping", req_id, time_in, error=error))
            elif not self.faults.stall_pongs:
                await self._reply(conn, _response("pong", req_id, time_in, success=None))
            return
        if params is not None and not isinstance(params, dict):
            await self._reply(conn, _response(method, req_id, time_in, error="Malformed request"))
            return
        params = params or {}
        if not self.exchange.limits.spot_message(conn.id, trio.current_time()):
            await self._reply(conn, _response(method, req_id, time_in, error=SPOT_RATE_ERROR))
            return
        if method in ("subscribe", "unsubscribe"):
            await self._subscription(conn, method, params, req_id, time_in)
            return
        try:
            await self._method(conn, method, params, req_id, time_in)
        except _Reject as exc:
            await self._reply(conn, _response(method, req_id, time_in, error=exc.error))

    async def _method(
        self, conn: _Conn, method: str, params: dict[str, Any], req_id: int | None, time_in: str
    ) -> None:
        if method in TRADING_METHODS:  # trading needs the authenticated endpoint
            raise _Reject("EGeneral:Permission denied")
        raise _Reject("Unsupported event")

    async def _subscription(
        self, conn: _Conn, method: str, params: dict[str, Any], req_id: int | None, time_in: str
    ) -> None:
        channel = params.get("channel")
        if not isinstance(channel, str) or channel not in self.channels:
            await self._reply(conn, _response(method, req_id, time_in, error="Unsupported event"))
            return
        try:
            unknown = sorted(set(params) - _CHANNEL_FIELDS.get(channel, frozenset()))
            if unknown:
                raise _Reject(f"Unsupported field: '{unknown[0]}' for the given msg type: {method}")
            self._check_unsupported_options(channel, params)
            frames = self._subscribe_frames(conn, method, channel, params, req_id, time_in)
        except _Reject as exc:
            await self._reply(conn, _response(method, req_id, time_in, error=exc.error))
            return
        if self.faults.delay > 0:
            await trio.sleep(self.faults.delay)
        for frame in frames:
            conn.push(frame)

    @staticmethod
    def _check_unsupported_options(channel: str, params: dict[str, Any]) -> None:
        """Reject, in Kraken's words, documented options the fake does not implement."""
        for name, default in _FIXED_OPTIONS.get(channel, ()):
            if name in params and params[name] != default:
                raise _Reject(
                    f"EGeneral:Invalid arguments:{name}={params[name]!r} is not supported "
                    "by the fake exchange"
                )

    def _symbols(self, params: dict[str, Any]) -> list[str]:
        symbols = params.get("symbol")
        if not isinstance(symbols, list) or not symbols:
            raise _Reject("Malformed request")
        if not all(isinstance(s, str) for s in symbols):
            raise _Reject("Malformed request")
        return symbols

    @staticmethod
    def _depth(params: dict[str, Any], allowed: Collection[int]) -> int:
        depth = params.get("depth", 10)
        if isinstance(depth, bool) or not isinstance(depth, int) or depth not in allowed:
            raise _Reject("Subscription depth not supported")
        return int(depth)

    @staticmethod
    def _bool(params: dict[str, Any], name: str, default: bool) -> bool:
        value = params.get(name, default)
        if not isinstance(value, bool):
            raise _Reject(f"{name.capitalize()} field must be a boolean")
        return value

    def _subscribe_frames(
        self,
        conn: _Conn,
        method: str,
        channel: str,
        params: dict[str, Any],
        req_id: int | None,
        time_in: str,
    ) -> list[str]:
        """Validate a (un)subscribe and return every frame to send, acks first per symbol."""
        raise _Reject("Unsupported event")

    def _per_symbol(
        self,
        conn: _Conn,
        method: str,
        channel: str,
        symbols: list[str],
        options: dict[str, Any],
        unsubscribe_result: dict[str, Any],
        req_id: int | None,
        time_in: str,
        snapshot: Callable[[PairBook], str | None],
        warnings: list[str] | None = None,
    ) -> list[str]:
        frames: list[str] = []
        for symbol in symbols:
            book = self.market.books.get(symbol)
            key = (channel, symbol)
            if book is None:
                frames.append(
                    _response(
                        method,
                        req_id,
                        time_in,
                        error=f"Currency pair not supported {symbol}",
                        extra={"symbol": symbol},
                    )
                )
                continue
            if method == "subscribe":
                if key in conn.subs:
                    frames.append(
                        _response(
                            method,
                            req_id,
                            time_in,
                            error="Already subscribed",
                            extra={"symbol": symbol},
                        )
                    )
                    continue
                self._add_sub(conn, key, options)
                result = {"channel": channel, **options, "symbol": symbol}
                if warnings:
                    result["warnings"] = warnings
                frames.append(_response(method, req_id, time_in, result=result))
                if options.get("snapshot", True):
                    snap = snapshot(book)
                    if snap is not None:
                        frames.append(snap)
            else:
                if key not in conn.subs:
                    frames.append(
                        _response(
                            "subscribe",
                            req_id,
                            time_in,
                            error="Subscription Not Found",
                            extra={"symbol": symbol},
                        )
                    )
                    continue
                held = self._remove_sub(conn, key)
                result = {"channel": channel}
                result.update({k: held[k] for k in unsubscribe_result if k in held})
                result["symbol"] = symbol
                frames.append(_response(method, req_id, time_in, result=result))
        return frames

    def _add_sub(self, conn: _Conn, key: tuple[str, str | None], options: dict[str, Any]) -> None:
        conn.subs[key] = options
        self._index.setdefault(key, {})[conn.id] = conn

    def _remove_sub(self, conn: _Conn, key: tuple[str, str | None]) -> dict[str, Any]:
        held = conn.subs.pop(key)
        subs = self._index.get(key)
        if subs is not None:
            subs.pop(conn.id, None)
            if not subs:
                del self._index[key]
        return held

    def _forget(self, conn: _Conn) -> None:
        for key in list(conn.subs):
            self._remove_sub(conn, key)
        self._conns.pop(conn.id, None)
        self.exchange.limits.forget(conn.id)
        self._state_changed()

    # --- market fan-out ---

    def _on_market(self, event: MarketEvent) -> None:
        pass

    # --- faults ---

    def _selected(self, connection_id: int | None) -> list[_Conn]:
        if connection_id is None:
            return list(self._conns.values())
        conn = self._conns.get(connection_id)
        return [conn] if conn is not None else []

    async def _drop_connections(self, *, reset: bool, connection_id: int | None = None) -> int:
        conns = self._selected(connection_id)
        for conn in conns:
            self._forget(conn)
            if reset:
                with contextlib.suppress(OSError):
                    conn.stream.socket.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
                await conn.stream.aclose()
            else:
                with trio.move_on_after(0.5), contextlib.suppress(ConnectionClosed):
                    await conn.ws.aclose(1001, "Going away")
            conn.scope.cancel()
        return len(conns)

    async def _send_raw_all(
        self, payload: str | bytes, *, connection_id: int | None = None
    ) -> None:
        for conn in self._selected(connection_id):
            conn.push(payload)
        await trio.lowlevel.checkpoint()

    async def _restart(self) -> None:
        await self._drop_connections(reset=False)

    async def _ping_clients(self, payload: bytes, *, connection_id: int | None = None) -> int:
        return await ping_each([c.ws for c in self._selected(connection_id)], payload)


class PublicServer(SpotServer):
    """Spot v2 public endpoint: ticker, book, trade, ohlc, instrument (also the beta one)."""

    channels = frozenset({"ticker", "book", "trade", "ohlc", "instrument"})

    def script(self, channel: str, symbol: str, frames: Sequence[str]) -> None:
        """Answer subscriptions to ``(channel, symbol)`` with recorded ``frames``.

        After its ack, a subscriber gets these frames, in order, instead of the synthetic
        snapshot (a recording of real Kraken data, say). The symbol must be one of the
        market's pairs; do not step the market for it while the script is in use.
        """
        if self.market.books.get(symbol) is None:
            raise ValueError(f"{symbol!r} is not a pair of this market")
        self._scripts[(channel, symbol)] = list(frames)

    def _subscribe_frames(
        self,
        conn: _Conn,
        method: str,
        channel: str,
        params: dict[str, Any],
        req_id: int | None,
        time_in: str,
    ) -> list[str]:
        frames = self._synthetic_frames(conn, method, channel, params, req_id, time_in)
        if not self._scripts or method != "subscribe":
            return frames
        out: list[str] = []
        for frame in frames:
            if '"snapshot"' in frame and frame.startswith('{"channel"'):
                msg = json.loads(frame)
                data = msg.get("data")
                symbol = data[0].get("symbol") if isinstance(data, list) and data else None
                script = self._scripts.get((str(msg.get("channel")), str(symbol)))
                if script is not None:
                    out.extend(script)
                    continue
            out.append(frame)
        return out

    def _synthetic_frames(
        self,
        conn: _Conn,
        method: str,
        channel: str,
        params: dict[str, Any],
        req_id: int | None,
        time_in: str,
    ) -> list[str]:
        now = time.time()
        if channel == "instrument":
            return self._instrument(conn, method, params, req_id, time_in)
        symbols = self._symbols(params)
        snapshot = self._bool(params, "snapshot", True)
        if channel == "book":
            depth = self._depth(params, BOOK_DEPTHS)
            return self._per_symbol(
                conn,
                method,
                channel,
                symbols,
                {"depth": depth, "snapshot": snapshot},
                {"depth": depth},
                req_id,
                time_in,
                lambda book: book_snapshot_frame(book, depth, now),
            )
        if channel == "ticker":
            trigger = params.get("event_trigger", "trades")
            if trigger not in ("bbo", "trades"):
                raise _Reject("Unsupported event_trigger")
            return self._per_symbol(
                conn,
                method,
                channel,
                symbols,
                {"event_trigger": trigger, "snapshot": snapshot},
                {"event_trigger": trigger},
                req_id,
                time_in,
                lambda book: ticker_frame(book, "snapshot", now),
            )
        if channel == "trade":
            return self._per_symbol(
                conn,
                method,
                channel,
                symbols,
                {"snapshot": snapshot},
                {},
                req_id,
                time_in,
                lambda book: trade_frame(book, list(book.trades), "snapshot"),
            )
        # ohlc
        interval = params.get("interval", 1)
        if interval not in OHLC_INTERVALS or isinstance(interval, bool):
            raise _Reject("Subscription ohlc interval not supported")
        return self._per_symbol(
            conn,
            method,
            channel,
            symbols,
            {"interval": interval, "snapshot": snapshot},
            {"interval": interval},
            req_id,
            time_in,
            lambda book: ohlc_frame(book, interval, "snapshot", now),
            ["timestamp is deprecated, use interval_begin"],
        )

    def _instrument(
        self, conn: _Conn, method: str, params: dict[str, Any], req_id: int | None, time_in: str
    ) -> list[str]:
        key: tuple[str, str | None] = ("instrument", None)
        snapshot = self._bool(params, "snapshot", True)
        if method == "subscribe":
            if key in conn.subs:
                return [_response(method, req_id, time_in, error="Already subscribed")]
            self._add_sub(conn, key, {"snapshot": snapshot})
            result = {
                "channel": "instrument",
                "snapshot": snapshot,
                "warnings": ["tick_size is deprecated, use price_increment"],
            }
            frames = [_response(method, req_id, time_in, result=result)]
            if snapshot:
                frames.append(instrument_frame(self.market))
            return frames
        if key not in conn.subs:
            return [_response("subscribe", req_id, time_in, error="Subscription Not Found")]
        self._remove_sub(conn, key)
        return [_response(method, req_id, time_in, result={"channel": "instrument"})]

    def _on_market(self, event: MarketEvent) -> None:
        book = self.market.books[event.symbol]
        if isinstance(event, BookEvent):
            subs = self._index.get(("book", event.symbol))
            if not subs:
                return
            cache = event.cache
            if "crc" not in cache:
                cache["crc"] = book_checksum(book)
            checksum: int = cache["crc"]
            corrupt = self.faults.corrupt_pending(event.symbol)
            sent = False
            frames: dict[int, str | None] = {}
            for conn in list(subs.values()):
                depth = conn.subs[("book", event.symbol)]["depth"]
                if depth not in frames:
                    ckey = ("book", depth)
                    if corrupt:
                        frames[depth] = book_update_frame(
                            book, event, depth, (checksum + 1) & 0xFFFFFFFF
                        )
                    else:
                        if ckey not in cache:
                            cache[ckey] = book_update_frame(book, event, depth, checksum)
                        frames[depth] = cache[ckey]
                frame = frames[depth]
                if frame is not None:
                    conn.push_update(frame)
                    sent = True
            if corrupt and sent:
                self.faults.take_corrupt(event.symbol)
        elif isinstance(event, TradeEvent):
            subs = self._index.get(("trade", event.symbol))
            if subs:
                if "trade" not in event.cache:
                    event.cache["trade"] = trade_frame(book, event.trades, "update")
                for conn in list(subs.values()):
                    conn.push_update(event.cache["trade"])
        elif isinstance(event, TickerEvent):
            subs = self._index.get(("ticker", event.symbol))
            if subs:
                if "ticker" not in event.cache:
                    event.cache["ticker"] = ticker_frame(book, "update", event.t)
                for conn in list(subs.values()):
                    if conn.subs[("ticker", event.symbol)]["event_trigger"] == event.trigger:
                        conn.push_update(event.cache["ticker"])
        elif isinstance(event, OhlcEvent):
            subs = self._index.get(("ohlc", event.symbol))
            if subs:
                for conn in list(subs.values()):
                    interval = conn.subs[("ohlc", event.symbol)]["interval"]
                    ckey = ("ohlc", interval)
                    if ckey not in event.cache:
                        event.cache[ckey] = ohlc_frame(book, interval, "update", event.t)
                    conn.push_update(event.cache[ckey])


class PrivateServer(PublicServer):
    """Spot v2 authenticated endpoint: executions, balances, the eight trading methods.

    Public channels are served here too, as on ``ws-auth.kraken.com``.
    """

    channels = PublicServer.channels | {"executions", "balances"}

    def __init__(self, name: str, exchange: Exchange, *, heartbeat_interval: float = 1.0) -> None:
        super().__init__(name, exchange, heartbeat_interval=heartbeat_interval)
        self._private: dict[str, dict[str, dict[int, _Conn]]] = {}
        exchange.register_private(self)

    def _account(self, params: dict[str, Any]) -> str:
        token = params.get("token")
        if self.faults.take_auth_reject():
            raise _Reject("Token(s) not found")
        account = self.exchange.tokens.lookup(token, time.time())
        if account is None:
            raise _Reject("Token(s) not found")
        return account

    def _subscribe_frames(
        self,
        conn: _Conn,
        method: str,
        channel: str,
        params: dict[str, Any],
        req_id: int | None,
        time_in: str,
    ) -> list[str]:
        if channel not in ("executions", "balances"):
            return super()._subscribe_frames(conn, method, channel, params, req_id, time_in)
        account = self._account(params)
        if "users" in params:
            raise _Reject("EGeneral:Invalid arguments:users is not supported by the fake exchange")
        engine = self.exchange.engine
        if engine is None:
            raise _Reject("EGeneral:Internal error")
        key: tuple[str, str | None] = (channel, None)
        if method == "unsubscribe":
            if key not in conn.subs:
                return [_response("subscribe", req_id, time_in, error="Subscription Not Found")]
            self._remove_sub(conn, key)
            self._private.get(account, {}).get(channel, {}).pop(conn.id, None)
            return [_response(method, req_id, time_in, result={"channel": channel})]
        if key in conn.subs:
            return [_response(method, req_id, time_in, error="Already subscribed")]
        frames: list[str] = []
        if channel == "executions":
            # ``snapshot`` and ``snapshot_trades`` are the deprecated names of the two options.
            snap_orders = self._bool(params, "snap_orders", self._bool(params, "snapshot", True))
            snap_trades = self._bool(
                params, "snap_trades", self._bool(params, "snapshot_trades", False)
            )
            self._add_sub(conn, key, {"snap_orders": snap_orders, "snap_trades": snap_trades})
            result: dict[str, Any] = {
                "channel": channel,
                "maxratecount": engine.max_rate_count,
                "snap_orders": snap_orders,
                "snap_trades": snap_trades,
                "warnings": _EXECUTIONS_WARNINGS,
            }
            frames.append(_response(method, req_id, time_in, result=result))
            data = engine.executions_snapshot(
                account, snap_orders=snap_orders, snap_trades=snap_trades
            )
        else:
            snapshot = self._bool(params, "snapshot", True)
            self._add_sub(conn, key, {"snapshot": snapshot})
            frames.append(
                _response(
                    method, req_id, time_in, result={"channel": channel, "snapshot": snapshot}
                )
            )
            data = engine.balances_snapshot(account) if snapshot else []
        conn.account = account
        self._private.setdefault(account, {}).setdefault(channel, {})[conn.id] = conn
        if channel == "executions" or conn.subs[key]["snapshot"]:
            frames.append(self._private_frame(conn, channel, "snapshot", data))
        return frames

    def _private_frame(
        self, conn: _Conn, channel: str, kind: str, data: list[dict[str, Any]]
    ) -> str:
        return encode(
            {
                "channel": channel,
                "type": kind,
                "data": to_wire(data),
                "sequence": conn.next_sequence(channel),
            }
        )

    def deliver(self, account: str, channel: str, data: list[dict[str, Any]]) -> None:
        """Send an engine event to ``account``'s ``channel`` subscribers on this server."""
        subs = self._private.get(account, {}).get(channel)
        if not subs:
            return
        for conn in list(subs.values()):
            conn.push_update(self._private_frame(conn, channel, "update", data))

    def _forget(self, conn: _Conn) -> None:
        if conn.account is not None:
            for subs in self._private.get(conn.account, {}).values():
                subs.pop(conn.id, None)
        super()._forget(conn)

    async def _method(
        self, conn: _Conn, method: str, params: dict[str, Any], req_id: int | None, time_in: str
    ) -> None:
        if method not in TRADING_METHODS:
            raise _Reject("Unsupported event")
        account = self._account(params)
        if self.faults.take_rate_limit():
            raise _Reject("EOrder:Rate limit exceeded")
        engine = self.exchange.engine
        if engine is None:
            raise _Reject("EGeneral:Internal error")
        clean = {k: v for k, v in params.items() if k != "token"}
        replies = engine.request(account, method, clean, time.time())
        if self.faults.delay > 0:
            await trio.sleep(self.faults.delay)
        for reply in replies:
            if reply.success:
                frame = _response(
                    method,
                    req_id,
                    time_in,
                    result=None if reply.result is None else to_wire(reply.result),
                    extra=to_wire(reply.extra) if reply.extra else None,
                )
            else:
                frame = _response(method, req_id, time_in, error=reply.error or "EGeneral:Error")
            conn.push(frame)
        self.exchange.pump()
        self.exchange.requests_handled()


class Level3Server(SpotServer):
    """Spot v2 level3 endpoint (``ws-l3``): token required, L3 snapshots and updates."""

    channels = frozenset({"level3"})

    def _subscribe_frames(
        self,
        conn: _Conn,
        method: str,
        channel: str,
        params: dict[str, Any],
        req_id: int | None,
        time_in: str,
    ) -> list[str]:
        token = params.get("token")
        if (
            self.faults.take_auth_reject()
            or self.exchange.tokens.lookup(token, time.time()) is None
        ):
            raise _Reject("Token(s) not found")
        symbols = self._symbols(params)
        snapshot = self._bool(params, "snapshot", True)
        depth = self._depth(params, L3_DEPTHS)
        if method == "subscribe":
            new = [s for s in symbols if ("level3", s) not in conn.subs]
            held = sum(1 for key in conn.subs if key[0] == "level3")
            refused = self.exchange.limits.level3_subscribe(
                conn.id, depth, new, held, trio.current_time()
            )
            if refused is not None:
                raise _Reject(refused)
        return self._per_symbol(
            conn,
            method,
            channel,
            symbols,
            {"depth": depth, "snapshot": snapshot},
            {"depth": depth},
            req_id,
            time_in,
            lambda book: l3_snapshot_frame(book, depth),
        )

    def _on_market(self, event: MarketEvent) -> None:
        if not isinstance(event, BookEvent):
            return
        subs = self._index.get(("level3", event.symbol))
        if not subs:
            return
        book = self.market.books[event.symbol]
        cache = event.cache
        if "l3crc" not in cache:
            cache["l3crc"] = l3_checksum(book)
        checksum: int = cache["l3crc"]
        corrupt = self.faults.corrupt_pending(event.symbol)
        sent = False
        frames: dict[int, str | None] = {}
        for conn in list(subs.values()):
            depth = conn.subs[("level3", event.symbol)]["depth"]
            if depth not in frames:
                if corrupt:
                    frames[depth] = l3_update_frame(book, event, depth, (checksum + 1) & 0xFFFFFFFF)
                else:
                    ckey = ("level3", depth)
                    if ckey not in cache:
                        cache[ckey] = l3_update_frame(book, event, depth, checksum)
                    frames[depth] = cache[ckey]
            frame = frames[depth]
            if frame is not None:
                conn.push_update(frame)
                sent = True
        if corrupt and sent:
            self.faults.take_corrupt(event.symbol)
