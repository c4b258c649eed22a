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

The pieces: ``_spot_hub`` (what the servers share), ``_spot_frames`` (the frames),
``_wsserver`` (the WebSocket plumbing the futures server shares), this module (a
connection and the base server: handshake, dispatch, subscriptions, faults) and
``_spot_servers`` (the public, private and level3 endpoints).
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import ssl
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, WebSocketRequest

from ._faults import Faults, Received, ping_each
from ._limits import SPOT_RATE_ERROR
from ._listen import format_url, open_listeners, reset_stream
from ._market import (
    MarketEvent,
    PairBook,
)
from ._spot_hub import (
    Exchange,
)
from ._wire import decode, encode, encode_sorted, ts6
from ._wsserver import ServerWebSocket

__all__ = [
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
EXECUTIONS_WARNINGS = [
    "cancel_reason is deprecated, use reason",
    "stop_price is deprecated, use triggers.price",
    "trigger is deprecated use triggers.reference",
    "triggered_price is deprecated use triggers.last_price",
]


@dataclass(eq=False)
class Conn:
    id: int
    ws: WebSocketConnection
    stream: trio.abc.Stream
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


class RequestError(Exception):
    """A request error: answered with ``success: false`` and this text."""

    def __init__(self, error: str, *, symbol: str | None = None) -> None:
        super().__init__(error, symbol)
        self.error = error
        self.symbol = symbol


def response_frame(
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
        self._conns: dict[int, Conn] = {}
        self._index: dict[tuple[str, str | None], dict[int, Conn]] = {}
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

    def _record(self, conn: Conn, message: Any) -> None:
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
        ssl_context: ssl.SSLContext | None = None,
        task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Serve until cancelled; ``task_status.started`` gets the ``ws://`` URL.

        With ``ssl_context`` the server speaks TLS and the URL is ``wss://``.
        """
        listeners, bound = await open_listeners(host, port, ssl_context)
        self.url = format_url("ws", host, bound, "/v2", tls=ssl_context is not None)
        self.market.add_listener(self._on_market)
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(trio.serve_listeners, self._serve_stream, listeners)
                task_status.started(self.url)
                await trio.sleep_forever()
        finally:
            self.market.remove_listener(self._on_market)

    async def _serve_stream(self, stream: trio.abc.Stream) -> None:
        try:
            async with trio.open_nursery() as nursery:
                request: WebSocketRequest | None = None
                ws = ServerWebSocket(stream, stalled=lambda: self.faults.stall_pongs)
                nursery.start_soon(ws.read_frames)
                with trio.move_on_after(10):
                    request = await ws.handshake()
                if request is not None:
                    await self._handle(request, stream)
                nursery.cancel_scope.cancel()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            with trio.move_on_after(1) as scope:
                scope.shield = True
                await stream.aclose()

    async def _handle(self, request: WebSocketRequest, stream: trio.abc.Stream) -> None:
        if self.faults.refusing:
            await request.reject(503, body=b"Service Unavailable")
            return
        ws = await request.accept()
        self.connections_accepted += 1
        send, receive = trio.open_memory_channel[str | bytes](_OUT_QUEUE)
        with trio.CancelScope() as scope:
            conn = Conn(_new_connection_id(), ws, stream, send, scope)
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

    async def _writer(self, conn: Conn, receive: trio.MemoryReceiveChannel[str | bytes]) -> None:
        async with receive:
            async for frame in receive:
                try:
                    await conn.ws.send_message(frame)
                except ConnectionClosed:
                    conn.scope.cancel()
                    return

    async def _heartbeat(self, conn: Conn) -> None:
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

    async def _reader(self, conn: Conn) -> None:
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
                await self._reply(
                    conn, response_frame(None, None, time_in, error="Malformed request")
                )
                self._state_changed()
                continue
            self._record(conn, msg)
            await self._dispatch(conn, msg, time_in)
            self._state_changed()

    async def _reply(self, conn: Conn, frame: str) -> None:
        if self.faults.delay > 0:
            await trio.sleep(self.faults.delay)
        conn.push(frame)

    async def _dispatch(self, conn: Conn, msg: Any, time_in: str) -> None:
        if not isinstance(msg, dict) or not isinstance(msg.get("method"), str):
            given = msg.get("method") if isinstance(msg, dict) else None
            await self._reply(
                conn,
                response_frame(
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
            await self._reply(
                conn, response_frame(method, None, time_in, error="Malformed request")
            )
            return
        params = msg.get("params")
        if method == "ping":
            if "params" in msg:
                error = "Unsupported field: 'params' for the given msg type: ping"
                await self._reply(conn, response_frame("ping", req_id, time_in, error=error))
            elif not self.faults.stall_pongs:
                await self._reply(conn, response_frame("pong", req_id, time_in, success=None))
            return
        if params is not None and not isinstance(params, dict):
            await self._reply(
                conn, response_frame(method, req_id, time_in, error="Malformed request")
            )
            return
        params = params or {}
        if not self.exchange.limits.spot_message(conn.id, trio.current_time()):
            await self._reply(conn, response_frame(method, req_id, time_in, error=SPOT_RATE_ERROR))
            return
        if method in ("subscribe", "unsubscribe"):
            await self._subscription(conn, method, params, req_id, time_in)
            return
        try:
            await self._method(conn, method, params, req_id, time_in)
        except RequestError as exc:
            await self._reply(conn, response_frame(method, req_id, time_in, error=exc.error))

    async def _method(
        self, conn: Conn, method: str, params: dict[str, Any], req_id: int | None, time_in: str
    ) -> None:
        if method in TRADING_METHODS:  # trading needs the authenticated endpoint
            raise RequestError("EGeneral:Permission denied")
        raise RequestError("Unsupported event")

    async def _subscription(
        self, conn: Conn, method: str, params: dict[str, Any], req_id: int | None, time_in: str
    ) -> None:
        channel = params.get("channel")
        if not isinstance(channel, str) or channel not in self.channels:
            await self._reply(
                conn, response_frame(method, req_id, time_in, error="Unsupported event")
            )
            return
        try:
            unknown = sorted(set(params) - _CHANNEL_FIELDS.get(channel, frozenset()))
            if unknown:
                raise RequestError(
                    f"Unsupported field: '{unknown[0]}' for the given msg type: {method}"
                )
            self._check_unsupported_options(channel, params)
            frames = self._subscribe_frames(conn, method, channel, params, req_id, time_in)
        except RequestError as exc:
            await self._reply(conn, response_frame(method, req_id, time_in, error=exc.error))
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
                raise RequestError(
                    f"EGeneral:Invalid arguments:{name}={params[name]!r} is not supported "
                    "by the fake exchange"
                )

    def _symbols(self, params: dict[str, Any]) -> list[str]:
        symbols = params.get("symbol")
        if not isinstance(symbols, list) or not symbols:
            raise RequestError("Malformed request")
        if not all(isinstance(s, str) for s in symbols):
            raise RequestError("Malformed request")
        return symbols

    @staticmethod
    def _depth(params: dict[str, Any], allowed: Collection[int]) -> int:
        depth = params.get("depth", 10)
        if isinstance(depth, bool) or not isinstance(depth, int) or depth not in allowed:
            raise RequestError("Subscription depth not supported")
        return int(depth)

    @staticmethod
    def _bool(params: dict[str, Any], name: str, default: bool) -> bool:
        value = params.get(name, default)
        if not isinstance(value, bool):
            raise RequestError(f"{name.capitalize()} field must be a boolean")
        return value

    def _subscribe_frames(
        self,
        conn: Conn,
        method: str,
        channel: str,
        params: dict[str, Any],
        req_id: int | None,
        time_in: str,
    ) -> list[str]:
        """Validate a (un)subscribe and return every frame to send, acks first per symbol."""
        raise RequestError("Unsupported event")

    def _per_symbol(
        self,
        conn: Conn,
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
                    response_frame(
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
                        response_frame(
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
                frames.append(response_frame(method, req_id, time_in, result=result))
                if options.get("snapshot", True):
                    snap = snapshot(book)
                    if snap is not None:
                        frames.append(snap)
            else:
                if key not in conn.subs:
                    frames.append(
                        response_frame(
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
                frames.append(response_frame(method, req_id, time_in, result=result))
        return frames

    def _add_sub(self, conn: Conn, key: tuple[str, str | None], options: dict[str, Any]) -> None:
        conn.subs[key] = options
        self._index.setdefault(key, {})[conn.id] = conn

    def _remove_sub(self, conn: Conn, key: tuple[str, str | None]) -> dict[str, Any]:
        held = conn.subs.pop(key)
        subs = self._index.get(key)
        if subs is not None:
            subs.pop(conn.id, None)
            if not subs:
                del self._index[key]
        return held

    def _forget(self, conn: Conn) -> None:
        for key in list(conn.subs):
            self._remove_sub(conn, key)
        self._conns.pop(conn.id, None)
        self.exchange.limits.forget(conn.id)
        self._state_changed()

    # --- market fan-out ---

    def _on_market(self, event: MarketEvent) -> None:
        pass

    # --- faults ---

    def _selected(self, connection_id: int | None) -> list[Conn]:
        if connection_id is None:
            return list(self._conns.values())
        conn = self._conns.get(connection_id)
        return [conn] if conn is not None else []

    async def _drop_connections(self, *, reset: bool, connection_id: int | None = None) -> int:
        conns = self._selected(connection_id)
        for conn in conns:
            self._forget(conn)
            if reset:
                await reset_stream(conn.stream)
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
