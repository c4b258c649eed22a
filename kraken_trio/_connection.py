"""One supervised task per WsKey: connect, authenticate, read, dispatch, heartbeat, reconnect.

The task owns its socket. It reads a whole batch of frames, decodes and dispatches every one
of them without awaiting (subscriptions are fed with ``send_nowait``), then reads again.

Frames go out without any caller ever awaiting a write, so a cancelled caller can never
leave half a frame on the wire. :meth:`Connection.send_nowait` is the only way out: when
nothing is queued or being written, it puts the frame into the kernel synchronously (no
checkpoint, so nothing can interrupt it); otherwise, or for whatever the kernel did not take,
the frame goes to the connection's one writer task through an unbounded memory channel, which
keeps the order. Only the writer ever awaits a write.
"""

from __future__ import annotations

import bisect
import logging
import math
import random
from collections import deque
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal, Protocol

import msgspec
import trio

from ._broker import Broker, PendingCall
from ._config import Config, WsKey
from ._errors import (
    AuthenticationError,
    ClosedError,
    ConnectionLostError,
    InvalidRequestError,
    KrakenAPIError,
    KrakenError,
    ProtocolError,
    ReconnectExhaustedError,
    RequestTimeoutError,
    SubscriptionError,
)
from ._proto import futures as f
from ._proto import spot as s
from ._proto.auth import Credentials, redact, sign_futures_challenge
from ._proto.codec import FuturesDecoder, SpotDecoder, encode_futures, encode_request
from ._subscription import Gap
from ._transport import Oversized, TransportClosed, WebSocket, connect_websocket

if TYPE_CHECKING:
    from ._rest import TokenSource
    from ._subscription import Subscription

__all__ = ["Connection", "ConnectionStatistics", "LifecycleEvent"]

log = logging.getLogger("kraken_trio")

EventKind = Literal[
    "open", "authenticated", "reconnecting", "reconnected", "close", "exception", "status", "resync"
]

FUTURES_PRIVATE_FEEDS = frozenset(
    {
        "open_orders",
        "open_orders_verbose",
        "fills",
        "open_positions",
        "balances",
        "account_log",
        "notifications_auth",
    }
)

# Futures data struct -> (subscription feed, carries product_id)
_FUTURES_ROUTES: dict[type[Any], tuple[str, bool]] = {
    f.FuturesBookSnapshot: ("book", True),
    f.FuturesBookDelta: ("book", True),
    f.FuturesTicker: ("ticker", True),
    f.FuturesTickerLite: ("ticker_lite", True),
    f.FuturesTradeSnapshot: ("trade", True),
    f.FuturesTrade: ("trade", True),
    f.FuturesHeartbeat: ("heartbeat", False),
    f.FuturesOpenOrdersSnapshot: ("open_orders", False),
    f.FuturesOpenOrders: ("open_orders", False),
    f.FuturesOpenOrdersVerboseSnapshot: ("open_orders_verbose", False),
    f.FuturesOpenOrdersVerbose: ("open_orders_verbose", False),
    f.FuturesFillsSnapshot: ("fills", False),
    f.FuturesFills: ("fills", False),
    f.FuturesOpenPositions: ("open_positions", False),
    f.FuturesBalancesSnapshot: ("balances", False),
    f.FuturesBalances: ("balances", False),
    f.FuturesAccountLogSnapshot: ("account_log", False),
    f.FuturesAccountLog: ("account_log", False),
    f.FuturesNotifications: ("notifications_auth", False),
}

_SYMBOL_CHANNELS: tuple[type[Any], ...] = (
    s.BookMessage,
    s.TickerMessage,
    s.TradeMessage,
    s.L3Message,
)
_WHOLE_CHANNELS: tuple[type[Any], ...] = (
    s.InstrumentMessage,
    s.ExecutionsMessage,
    s.BalancesSnapshot,
    s.BalancesUpdate,
)


@dataclass(frozen=True, slots=True)
class LifecycleEvent:
    """Something happened to a connection.

    Attributes:
        kind: ``open``, ``authenticated``, ``reconnecting``, ``reconnected``, ``close``,
            ``exception``, ``status`` (the server's status message) or ``resync`` (a book
            was resynchronised after a checksum mismatch).
        ws_key: The connection.
        detail: Human-readable detail (never contains a secret or token).
        error: The exception, for ``exception`` and ``reconnecting``.
        attempt: Reconnect attempt number, for ``reconnecting``.
    """

    kind: EventKind
    ws_key: WsKey
    detail: str = ""
    error: BaseException | None = None
    attempt: int = 0


@dataclass(slots=True)
class ConnectionStatistics:
    """Counters of one connection (see :meth:`KrakenClient.statistics`).

    Attributes:
        ws_key: The connection.
        connected: True while the link is up.
        messages: Frames received.
        bad_messages: Frames dropped because they could not be read.
        unrouted: Messages (or replies) nobody was waiting for.
        reconnects: Links re-established after a failure.
        resyncs: Book or level3 resynchronisations.
        token_fetches: WebSocket tokens fetched over REST.
        wire_subscriptions: Live wire subscriptions.
        pending_requests: Requests waiting for their reply.
        connection_id: The server's id of the current link (spot status message).
        bytes_received: Bytes read on the current link.
        direct_writes: Frames the socket took whole at once (no hand-off to the writer).
        queued_writes: Frames (or the rest of one) the writer sent: the socket was busy or
            backed up, or the link is TLS.
        extra: Further counters, by name.
    """

    ws_key: WsKey
    connected: bool = False
    messages: int = 0
    bad_messages: int = 0
    unrouted: int = 0
    reconnects: int = 0
    resyncs: int = 0
    token_fetches: int = 0
    wire_subscriptions: int = 0
    pending_requests: int = 0
    connection_id: int | None = None
    bytes_received: int = 0
    direct_writes: int = 0
    queued_writes: int = 0
    extra: dict[str, int] = field(default_factory=dict)


class Hub(Protocol):
    """What a connection needs from its client."""

    config: Config
    credentials: Credentials | None

    def emit(self, event: LifecycleEvent) -> None: ...

    def token_source(self) -> TokenSource: ...

    def start_soon(self, fn: Callable[[], Any], name: str) -> None: ...


class _PongTimeout(Exception):
    pass


class _PingFrame:
    __slots__ = ("payload",)

    def __init__(self, payload: bytes) -> None:
        self.payload = payload


class _Encoded:
    """Wire bytes already framed: a control frame, or what the kernel did not take of one."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data


_Outgoing = bytes | _PingFrame | _Encoded


class _Wire:
    """One subscription on the wire (channel + symbol), shared by its users."""

    __slots__ = (
        "acked",
        "channel",
        "error",
        "key",
        "params",
        "req_id",
        "sent",
        "state",
        "symbol",
        "users",
    )

    def __init__(self, key: Hashable, channel: str, symbol: str | None, params: dict[str, Any]):
        self.key = key
        self.channel = channel
        self.symbol = symbol
        self.params = params
        self.users: list[Subscription[Any]] = []
        self.state: Literal["pending", "active", "unsubscribing"] = "pending"
        self.acked = trio.Event()
        self.error: BaseException | None = None
        self.req_id: int | None = None
        self.sent = False


def _params_key(params: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted((k, repr(v)) for k, v in params.items()))


class Connection:
    """The supervised connection of one WsKey. Created and owned by the client."""

    def __init__(self, key: WsKey, url: str, hub: Hub) -> None:
        self.key = key
        self.url = url
        self._hub = hub
        self._cfg = hub.config
        self._futures = key.is_futures
        self._spot_decoder = SpotDecoder()
        self._futures_decoder = FuturesDecoder()
        self._wires: dict[Hashable, _Wire] = {}
        self._sub_requests: dict[int, list[_Wire]] = {}
        self._unsub_requests: dict[int, list[_Wire]] = {}
        self._fut_pending: deque[list[_Wire]] = deque()
        self._broker = Broker()
        self._ready = trio.Event()
        self._fatal: BaseException | None = None
        self._closing = False
        self._running = False
        self._stopped = trio.Event()
        self._send_ch: trio.MemorySendChannel[_Outgoing] | None = None
        self._queued = 0  # items handed to the writer and not yet written
        self._link_scope: trio.CancelScope | None = None
        self._link_failure: BaseException | None = None
        self._ws: WebSocket | None = None
        self._token: str | None = None
        self._challenge: tuple[str, str] | None = None
        self._challenge_event: trio.Event | None = None
        self._challenge_error: str | None = None
        self._pong_event: trio.Event | None = None
        self._ping_counter = 0
        # Requests in flight by deadline: (deadline, call waited on, the request's call).
        # One timer task expires them, instead of a cancel scope per request.
        self._timed: deque[tuple[float, PendingCall, PendingCall]] = deque()
        self._reaper_scope: trio.CancelScope | None = None
        self._reaper_until = math.inf
        self._links_up = 0
        self.stats = ConnectionStatistics(ws_key=key)
        self._spot_handlers: dict[type[Any], Callable[[Any], None]] = {}
        for cls in _SYMBOL_CHANNELS:
            self._spot_handlers[cls] = self._route_symbol
        for cls in _WHOLE_CHANNELS:
            self._spot_handlers[cls] = self._route_whole
        self._spot_handlers[s.OhlcMessage] = self._route_ohlc
        self._spot_handlers[s.Heartbeat] = _ignore
        self._spot_handlers[s.StatusMessage] = self._on_status
        self._spot_handlers[s.SubscribeResponse] = self._on_subscribe_response
        self._spot_handlers[s.UnknownMessage] = self._on_unknown

    def __repr__(self) -> str:
        return f"<Connection {self.key} {self.url} ready={self._ready.is_set()}>"

    # ================================================================ lifecycle

    @property
    def closing(self) -> bool:
        """True once :meth:`aclose` has begun."""
        return self._closing

    @property
    def needs_token(self) -> bool:
        """Spot private and level3 connections authenticate with a REST token."""
        return self.key.is_private and not self._futures

    def ensure_started(self) -> None:
        """Start the supervisor task if it is not running (lazy connection)."""
        if self._closing:
            raise ClosedError(f"connection {self.key} is closed")
        if self._running:
            return
        if self.key.is_private and self._hub.credentials is None:
            raise AuthenticationError(
                f"{self.key} needs api_key and api_secret (pass them to open_kraken)",
                "connect",
            )
        self._fatal = None
        self._running = True
        self._stopped = trio.Event()
        self._ready = trio.Event()
        self._hub.start_soon(self._supervise, f"kraken_trio connection {self.key}")

    async def wait_ready(self) -> None:
        """Wait until connected (and authenticated). A checkpoint; the caller bounds it.

        Raises:
            AuthenticationError, ReconnectExhaustedError: the connection failed for good.
            ClosedError: the client is closing.
        """
        self.ensure_started()
        while True:
            event = self._ready
            await event.wait()
            if self._fatal is not None:
                raise self._fatal
            if self._closing:
                raise ClosedError(f"connection {self.key} is closed")
            if event is self._ready:
                return

    async def _supervise(self) -> None:
        failures = 0
        try:
            while not self._closing:
                links_before = self._links_up
                try:
                    await self._run_link()
                except AuthenticationError as exc:
                    self._set_fatal(exc)
                    return
                except (TransportClosed, _PongTimeout, trio.TooSlowError, KrakenError) as exc:
                    failure: BaseException = exc
                else:
                    failure = ConnectionLostError("link ended")
                if self.closing:
                    return
                if self._links_up != links_before:
                    failures = 0
                failures += 1
                limit = self._cfg.max_reconnects
                if limit is not None and failures > limit:
                    self._set_fatal(
                        ReconnectExhaustedError(
                            f"{self.key}: gave up after {failures - 1} reconnect attempt(s); "
                            f"last error: {_describe(failure)}"
                        )
                    )
                    return
                backoff = self._cfg.reconnect_delay * 2 ** (failures - 1)
                delay = random.uniform(0, min(self._cfg.reconnect_delay_max, backoff))
                self.stats.reconnects += 1
                self._hub.emit(
                    LifecycleEvent(
                        "reconnecting",
                        self.key,
                        f"{_describe(failure)}; retrying in {delay:.2f}s",
                        failure,
                        failures,
                    )
                )
                await trio.sleep(delay)
        finally:
            self._running = False
            self._stopped.set()

    async def _run_link(self) -> None:
        """One connection attempt and, if it succeeds, its whole life."""
        token: str | None = None
        if self.needs_token:
            with trio.fail_after(self._cfg.auth_timeout):
                token = await self._hub.token_source().fetch()
            self.stats.token_fetches += 1
        with trio.fail_after(self._cfg.connect_timeout):
            ws = await connect_websocket(
                self.url,
                max_message_size=self._cfg.max_message_size,
                ssl_context=self._cfg.ssl_context,
            )
        self._ws = ws
        self._link_failure = None
        link_up = False
        if self._futures:
            ws.on_pong = self._on_protocol_pong
        try:
            async with trio.open_nursery() as nursery:
                self._link_scope = nursery.cancel_scope
                send, recv = trio.open_memory_channel[_Outgoing](math.inf)
                self._send_ch = send
                self._queued = 0
                ws.send_control = self._send_control
                nursery.start_soon(self._guard, self._writer, ws, recv)
                nursery.start_soon(self._guard, self._reader, ws)
                try:
                    if self._futures and self.key.is_private:
                        await self._authenticate_futures()
                except (AuthenticationError, trio.TooSlowError) as exc:
                    self._link_failure = exc
                    nursery.cancel_scope.cancel()
                else:
                    self._token = token
                    link_up = True
                    self._link_up()
                    nursery.start_soon(self._guard, self._heartbeat)
                    nursery.start_soon(self._reaper)
                    if self._closing:
                        nursery.cancel_scope.cancel()
        finally:
            self._send_ch = None
            self._link_scope = None
            self._ws = None
            self._link_down(link_up)
            with trio.CancelScope(shield=True), trio.move_on_after(self._cfg.close_timeout):
                await ws.aclose()
        if self._link_failure is not None:
            raise self._link_failure

    async def _guard(self, fn: Callable[..., Any], *args: Any) -> None:
        try:
            await fn(*args)
        except (TransportClosed, _PongTimeout) as exc:
            if self._link_failure is None:
                self._link_failure = exc
            if self._link_scope is not None:
                self._link_scope.cancel()

    def _link_up(self) -> None:
        self.stats.connected = True
        self._links_up += 1
        if self._links_up > 1:
            self._hub.emit(LifecycleEvent("reconnected", self.key, self.url))
            for wire in list(self._wires.values()):
                for user in tuple(wire.users):
                    user._push(Gap(reason="reconnect", ws_key=self.key, symbol=wire.symbol))
        else:
            self._hub.emit(LifecycleEvent("open", self.key, self.url))
        if self.key.is_private:
            self._hub.emit(LifecycleEvent("authenticated", self.key))
        wires = [w for w in self._wires.values() if w.state != "unsubscribing"]
        if wires:
            self._send_subscribe(wires)
        self._ready.set()

    def _link_down(self, was_up: bool) -> None:
        self.stats.connected = False
        if self._ready.is_set() and self._fatal is None:
            self._ready = trio.Event()
        self._token = None
        self._challenge = None
        lost = self._broker.fail_all(self._lost_in_flight)
        if lost:
            log.warning("[%s] connection lost with %d request(s) in flight", self.key, lost)
        self._sub_requests.clear()
        self._unsub_requests.clear()
        self._fut_pending.clear()
        for key, wire in list(self._wires.items()):
            if wire.state == "unsubscribing":
                del self._wires[key]
                wire.acked.set()
            elif wire.state == "active":
                wire.state = "pending"
                wire.acked = trio.Event()

    def _set_fatal(self, exc: BaseException) -> None:
        log.error("[%s] connection failed for good: %s", self.key, exc)
        self._fatal = exc
        for wire in self._wires.values():
            wire.error = exc
            wire.acked.set()
            for user in list(wire.users):
                user._fail(exc)
        self._wires.clear()
        self._broker.fail_all(lambda call: exc)
        self._ready.set()
        self._hub.emit(LifecycleEvent("exception", self.key, str(exc), exc))

    async def aclose(self) -> None:
        """Close the connection: iterators end, requests fail with ClosedError, close frame sent."""
        if self._closing:
            return
        self._closing = True
        for wire in self._wires.values():
            for user in list(wire.users):
                user._fail(None)
        self._wires.clear()
        self._broker.fail_all(lambda call: ClosedError(f"client closed while {call.method} waited"))
        self._ready.set()
        if self._link_scope is not None:
            self._link_scope.cancel()
        if self._running:
            with trio.CancelScope(shield=True), trio.move_on_after(self._cfg.close_timeout + 1):
                await self._stopped.wait()
        self._hub.emit(LifecycleEvent("close", self.key))

    # ================================================================ I/O tasks

    async def _writer(self, ws: WebSocket, recv: trio.MemoryReceiveChannel[_Outgoing]) -> None:
        async for item in recv:
            parts = [self._encode_out(ws, item)]
            while True:  # coalesce whatever else is queued into one write
                try:
                    parts.append(self._encode_out(ws, recv.receive_nowait()))
                except trio.WouldBlock:
                    break
            await ws.send_raw(b"".join(parts))
            self._queued -= len(parts)

    @staticmethod
    def _encode_out(ws: WebSocket, item: _Outgoing) -> bytes:
        if type(item) is bytes:
            return ws.encode_text(item)
        if isinstance(item, _Encoded):
            return item.data
        assert isinstance(item, _PingFrame)
        return ws.encode_ping(item.payload)

    async def _reader(self, ws: WebSocket) -> None:
        on_frame = self._on_frame_futures if self._futures else self._on_frame_spot
        stats = self.stats
        while True:
            frames = await ws.receive_batch()
            stats.messages += len(frames)
            for frame in frames:
                on_frame(frame)
            stats.bytes_received = ws.bytes_received

    async def _heartbeat(self) -> None:
        while True:
            await trio.sleep(self._cfg.ping_interval)
            send = self._send_ch
            if send is None:
                return
            if self._futures:
                self._ping_counter += 1
                event = self._pong_event = trio.Event()
                self.send_nowait(_PingFrame(str(self._ping_counter).encode()))
                with trio.move_on_after(self._cfg.pong_timeout):
                    await event.wait()
                if not event.is_set():
                    raise _PongTimeout(f"no pong within {self._cfg.pong_timeout}s")
            else:
                call = self._broker.allocate("ping")
                self.send_nowait(encode_request(s.Request(method="ping", req_id=call.req_id)))
                with trio.move_on_after(self._cfg.pong_timeout):
                    await call.done.wait()
                if not call.done.is_set():
                    self._broker.discard(call)
                    raise _PongTimeout(f"no pong within {self._cfg.pong_timeout}s")

    async def _reaper(self) -> None:
        """Fail the requests whose deadline passed with :class:`RequestTimeoutError`."""
        timed = self._timed
        while True:
            self._drop_finished_timed()
            now = trio.current_time()
            if timed and timed[0][0] <= now:
                _, waiter, call = timed.popleft()
                error = RequestTimeoutError(call.method, call.req_id, call.cl_ord_id, sent=True)
                for c in (waiter, call):
                    self._broker.discard(c)
                    c.finish(error)
                continue
            # Idle: a request sent meanwhile has a deadline past this wake-up (see _time).
            self._reaper_until = timed[0][0] if timed else now + self._cfg.request_timeout
            with trio.CancelScope(deadline=self._reaper_until) as self._reaper_scope:
                await trio.sleep_forever()

    def _drop_finished_timed(self) -> None:
        timed = self._timed
        while timed and timed[0][2].done.is_set():
            timed.popleft()

    def _time(self, deadline: float, waiter: PendingCall, call: PendingCall) -> None:
        """Put a sent request under the reaper's watch."""
        self._drop_finished_timed()
        timed = self._timed
        entry = (deadline, waiter, call)
        if timed and deadline < timed[-1][0]:  # it waited for the link: earlier than others
            bisect.insort(timed, entry, key=lambda e: e[0])
        else:
            timed.append(entry)
        if deadline < self._reaper_until and self._reaper_scope is not None:
            self._reaper_scope.cancel()  # the reaper sleeps past this deadline: wake it

    def _on_protocol_pong(self, payload: bytes) -> None:
        if self._pong_event is not None:
            self._pong_event.set()

    def send_nowait(self, item: _Outgoing) -> bool:
        """Send a frame without awaiting; False if there is no live link.

        Written straight to the socket when nothing is queued or being written and the
        kernel takes it; otherwise queued for the writer (a partly written frame's rest
        first in line). Either way frames leave in the order of these calls, whole.
        """
        send = self._send_ch
        ws = self._ws
        if send is None or ws is None:
            return False
        if not self._queued and ws.can_send_now:
            try:
                data = self._encode_out(ws, item)
            except TransportClosed:
                pass  # the writer meets the same error and fails the link
            else:
                sent = ws.send_now(data)
                if sent == len(data):
                    self.stats.direct_writes += 1
                    return True
                if sent:
                    item = _Encoded(data[sent:])
        try:
            send.send_nowait(item)
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            return False
        self._queued += 1
        self.stats.queued_writes += 1
        return True

    def _send_control(self, data: bytes) -> None:
        self.send_nowait(_Encoded(data))

    # ================================================================ spot dispatch

    def _on_frame_spot(self, frame: bytes | str | Oversized) -> None:
        if type(frame) is not str:
            self._odd_frame(frame)
            return
        try:
            msg = self._spot_decoder.decode(frame)
        except ProtocolError as exc:
            self._bad(exc)
            req_id = _req_id_of(frame)
            if req_id is not None and self._broker.fail(req_id, exc):
                log.warning("[%s] request %d failed: its reply could not be read", self.key, req_id)
            return
        handler = self._spot_handlers.get(type(msg))
        if handler is not None:
            handler(msg)
        elif isinstance(msg, s.Response) and not self._broker.resolve(msg.req_id, msg):
            self._unrouted("reply", msg)

    def _odd_frame(self, frame: bytes | str | Oversized) -> None:
        if isinstance(frame, Oversized):
            self._bad(
                ProtocolError(
                    f"message of {frame.size} bytes dropped: larger than max_message_size "
                    f"({self._cfg.max_message_size})"
                )
            )
        else:
            self._bad(ProtocolError("binary frame where Kraken sends text", frame))

    def _bad(self, exc: ProtocolError) -> None:
        self.stats.bad_messages += 1
        log.warning("[%s] dropped a bad message: %s", self.key, exc)

    def _unrouted(self, what: str, msg: Any) -> None:
        self.stats.unrouted += 1
        log.debug("[%s] %s nobody waits for: %.200r", self.key, what, msg)

    def _deliver(self, key: Hashable, msg: Any) -> None:
        wire = self._wires.get(key)
        if wire is None:
            self._unrouted("message", msg)
            return
        users = wire.users
        if len(users) == 1:
            users[0]._push(msg)
        else:
            # A push can detach its subscriber (overrun): iterate over a snapshot.
            for user in tuple(users):
                user._push(msg)

    def _route_symbol(self, msg: Any) -> None:
        data = msg.data
        if not data:
            return
        symbol = data[0].symbol
        if len(data) > 1 and any(d.symbol != symbol for d in data):
            for sym in dict.fromkeys(d.symbol for d in data):
                part = type(msg)(type=msg.type, data=[d for d in data if d.symbol == sym])
                self._deliver((msg.channel, sym), part)
            return
        self._deliver((msg.channel, symbol), msg)

    def _route_ohlc(self, msg: s.OhlcMessage) -> None:
        data = msg.data
        if not data:
            return
        groups: dict[tuple[str, int], list[s.Candle]] = {}
        for candle in data:
            groups.setdefault((candle.symbol, candle.interval), []).append(candle)
        if len(groups) == 1:
            ((symbol, interval),) = groups
            self._deliver(("ohlc", symbol, interval), msg)
            return
        for (symbol, interval), candles in groups.items():
            part = s.OhlcMessage(type=msg.type, data=candles, timestamp=msg.timestamp)
            self._deliver(("ohlc", symbol, interval), part)

    def _route_whole(self, msg: Any) -> None:
        self._deliver((msg.channel, None), msg)

    def _on_status(self, msg: s.StatusMessage) -> None:
        if msg.data:
            status = msg.data[0]
            self.stats.connection_id = status.connection_id
            self._hub.emit(
                LifecycleEvent(
                    "status",
                    self.key,
                    f"system={status.system} version={status.version} "
                    f"connection_id={status.connection_id}",
                )
            )

    def _on_unknown(self, msg: s.UnknownMessage) -> None:
        self.stats.unrouted += 1
        log.info("[%s] message of an unknown kind: %.200r", self.key, msg.raw)

    def _on_subscribe_response(self, msg: s.SubscribeResponse) -> None:
        if msg.method == "unsubscribe" or (
            msg.req_id is not None and msg.req_id in self._unsub_requests
        ):
            self._on_unsubscribe_response(msg)
            return
        if msg.success and msg.result is not None:
            key = self._ack_key(msg.result)
            wire = self._wires.get(key)
            if wire is None or wire.state != "pending":
                self._unrouted("subscribe ack", msg)
                return
            wire.state = "active"
            wire.acked.set()
            self._forget_request(wire)
            return
        wires = self._sub_requests.get(msg.req_id) if msg.req_id is not None else None
        if not wires:
            self._unrouted("subscribe error", msg)
            return
        text = msg.error or "subscription refused"
        error: KrakenAPIError = (
            AuthenticationError(text, "subscribe", msg.req_id)
            if is_auth_error(text)
            else SubscriptionError(text, "subscribe", msg.req_id)
        )
        for wire in list(wires):
            if wire.state == "pending" and (msg.symbol is None or wire.symbol == msg.symbol):
                self._refuse(wire, error)

    def _on_unsubscribe_response(self, msg: s.SubscribeResponse) -> None:
        wires = self._unsub_requests.get(msg.req_id) if msg.req_id is not None else None
        if msg.result is not None:
            key = self._ack_key(msg.result)
            wire = self._wires.get(key)
            if wire is not None and wire.state == "unsubscribing":
                del self._wires[key]
                wire.acked.set()
            if wires is not None and wire in wires:
                wires.remove(wire)
        elif wires:
            # A refusal ("Subscription Not Found"): the wire is gone either way.
            for wire in list(wires):
                if msg.symbol is None or wire.symbol == msg.symbol:
                    if self._wires.get(wire.key) is wire:
                        del self._wires[wire.key]
                    wire.acked.set()
                    wires.remove(wire)
            log.info("[%s] unsubscribe answered: %s", self.key, msg.error)
        if wires is not None and not wires and msg.req_id is not None:
            self._unsub_requests.pop(msg.req_id, None)

    def _ack_key(self, result: s.SubscriptionResult) -> Hashable:
        if result.channel == "ohlc":
            return ("ohlc", result.symbol, result.interval or 1)
        return (result.channel, result.symbol)

    def _forget_request(self, wire: _Wire) -> None:
        if wire.req_id is None:
            return
        wires = self._sub_requests.get(wire.req_id)
        if wires is not None and all(w.state != "pending" for w in wires):
            del self._sub_requests[wire.req_id]

    def _refuse(self, wire: _Wire, error: BaseException) -> None:
        log.warning(
            "[%s] subscription %s %s refused: %s", self.key, wire.channel, wire.symbol, error
        )
        wire.error = error
        wire.acked.set()
        if self._wires.get(wire.key) is wire:
            del self._wires[wire.key]
        for user in list(wire.users):
            if not user.closed and user._state == "open":
                user._fail(error)
        self._forget_request(wire)

    # ================================================================ futures dispatch

    def _on_frame_futures(self, frame: bytes | str | Oversized) -> None:
        if type(frame) is not str:
            self._odd_frame(frame)
            return
        try:
            msg = self._futures_decoder.decode(frame)
        except ProtocolError as exc:
            self._bad(exc)
            return
        route = _FUTURES_ROUTES.get(type(msg))
        if route is not None:
            feed, per_product = route
            self._deliver((feed, msg.product_id if per_product else None), msg)
            return
        if isinstance(msg, f.FuturesSubscribed):
            pid = msg.product_ids[0] if msg.product_ids else None
            wire = self._wires.get((msg.feed, pid))
            if wire is None or wire.state != "pending":
                self._unrouted("subscribe ack", msg)
                return
            wire.state = "active"
            wire.acked.set()
            self._prune_futures_pending()
        elif isinstance(msg, f.FuturesUnsubscribed):
            pid = msg.product_ids[0] if msg.product_ids else None
            wire = self._wires.get((msg.feed, pid))
            if wire is not None and wire.state == "unsubscribing":
                del self._wires[wire.key]
                wire.acked.set()
        elif isinstance(msg, f.FuturesChallenge):
            if self._challenge_event is not None and msg.message:
                self._challenge = (msg.message, "")
                self._challenge_event.set()
        elif isinstance(msg, f.FuturesSubscribedFailed | f.FuturesError | f.FuturesAlert):
            self._on_futures_refusal(msg)
        elif isinstance(msg, f.FuturesUnsubscribedFailed):
            log.info("[%s] unsubscribe refused: %s", self.key, msg.message)
        elif isinstance(msg, f.FuturesInfo):
            self._hub.emit(LifecycleEvent("status", self.key, f"info version={msg.version}"))
        elif isinstance(msg, f.FuturesPong):
            if self._pong_event is not None:
                self._pong_event.set()
        else:
            self._unrouted("message", msg)

    def _on_futures_refusal(self, msg: Any) -> None:
        text = msg.message or "refused"
        if self._challenge_event is not None and not self._challenge_event.is_set():
            self._challenge_error = text
            self._challenge_event.set()
            return
        self._prune_futures_pending()
        if not self._fut_pending:
            log.warning("[%s] server error nobody waits for: %s", self.key, text)
            self.stats.unrouted += 1
            return
        group = self._fut_pending.popleft()
        private = any(w.channel in FUTURES_PRIVATE_FEEDS for w in group)
        error: KrakenAPIError = (
            AuthenticationError(text, "subscribe")
            if private and isinstance(msg, f.FuturesAlert)
            else SubscriptionError(text, "subscribe")
        )
        for wire in group:
            if wire.state == "pending":
                self._refuse(wire, error)

    def _prune_futures_pending(self) -> None:
        while self._fut_pending and all(w.state != "pending" for w in self._fut_pending[0]):
            self._fut_pending.popleft()

    async def _authenticate_futures(self) -> None:
        creds = self._hub.credentials
        assert creds is not None  # checked in ensure_started
        self._challenge_event = trio.Event()
        self._challenge_error = None
        self._challenge = None
        try:
            self.send_nowait(encode_futures(f.FuturesChallengeRequest(api_key=creds.api_key)))
            with trio.fail_after(self._cfg.auth_timeout):
                await self._challenge_event.wait()
        finally:
            self._challenge_event = None
        challenge = self._received_challenge()
        if self._challenge_error is not None or challenge is None:
            raise AuthenticationError(self._challenge_error or "no challenge received", "challenge")
        original = challenge[0]
        self._challenge = (original, sign_futures_challenge(creds.secret, original))
        log.debug("[%s] challenge signed (%s)", self.key, redact(original))

    # ================================================================ subscriptions

    def _received_challenge(self) -> tuple[str, str] | None:
        return self._challenge

    def route_key(self, channel: str, symbol: str | None, params: dict[str, Any]) -> Hashable:
        """The routing key of one wire subscription."""
        if not self._futures and channel == "ohlc":
            return ("ohlc", symbol, params.get("interval") or 1)
        return (channel, symbol)

    async def attach(self, sub: Subscription[Any]) -> None:
        """Register ``sub`` on its wire subscriptions (subscribing where new) and await acks."""
        self.ensure_started()
        if self._fatal is not None:
            raise self._fatal
        params = sub.params
        fresh: list[_Wire] = []
        mine: list[_Wire] = []
        deadline = trio.current_time() + self._cfg.request_timeout
        if not self._ready.is_set():
            deadline += self._cfg.connect_timeout + self._cfg.auth_timeout
        try:
            for symbol in sub.symbols:
                key = self.route_key(sub.channel, symbol, params)
                wire = self._wires.get(key)
                if wire is not None and wire.state == "unsubscribing":
                    with trio.move_on_at(deadline):
                        await wire.acked.wait()
                    wire = self._wires.get(key)
                    if wire is not None and wire.state == "unsubscribing":
                        del self._wires[key]
                        wire = None
                if wire is None:
                    wire = _Wire(key, sub.channel, symbol, params)
                    self._wires[key] = wire
                    fresh.append(wire)
                elif _params_key(wire.params) != _params_key(params):
                    raise InvalidRequestError(
                        f"{sub.channel} {symbol or ''} is already subscribed on {self.key} with "
                        f"{wire.params}; Kraken allows one set of options per channel and symbol "
                        f"on a connection, and this asks for {params}"
                    )
                wire.users.append(sub)
                mine.append(wire)
            sub._wires = mine  # type: ignore[attr-defined]
            if fresh and self._ready.is_set() and self._fatal is None:
                self._send_subscribe(fresh)
            for wire in mine:
                # Joining a live wire whose stream means nothing without its snapshot: ask
                # for a fresh one (the other users see a resync gap and the new snapshot).
                if wire not in fresh and wire.state == "active" and self._needs_snapshot(wire):
                    self.resync(
                        wire.channel, wire.symbol, wire.params, "a new subscriber needs a snapshot"
                    )
            with trio.move_on_at(deadline):
                for wire in mine:
                    await wire.acked.wait()
            errors = [w.error for w in mine if w.error is not None]
            if errors:
                raise errors[0]
            if self._fatal is not None:
                raise self._fatal
            if any(w.state != "active" for w in mine):
                raise RequestTimeoutError(
                    "subscribe", None, sent=any(w.sent for w in mine if w.state != "active")
                )
        except BaseException:
            self._release(sub, mine)
            raise

    async def detach(self, sub: Subscription[Any]) -> None:
        """Unregister ``sub``; unsubscribe on the wire where it was the last user."""
        self.detach_nowait(sub)
        await trio.lowlevel.checkpoint()

    def detach_nowait(self, sub: Subscription[Any]) -> None:
        """Synchronous :meth:`detach` (the unsubscribe frame is queued, not awaited)."""
        wires: list[_Wire] = getattr(sub, "_wires", [])
        self._release(sub, wires)
        sub._wires = []  # type: ignore[attr-defined]

    def _release(self, sub: Subscription[Any], wires: Iterable[_Wire]) -> None:
        leaving: list[_Wire] = []
        for wire in wires:
            if sub in wire.users:
                wire.users.remove(sub)
            if not wire.users and self._wires.get(wire.key) is wire:
                # A pending wire's subscribe is already on the wire (link up): undo it too,
                # or the server would keep a subscription nobody here knows about.
                live = wire.state in ("active", "pending") and wire.error is None
                if live and self._ready.is_set() and not self._closing:
                    wire.state = "unsubscribing"
                    wire.acked = trio.Event()
                    leaving.append(wire)
                elif wire.state != "unsubscribing":
                    del self._wires[wire.key]
                    wire.acked.set()
        if leaving:
            self._send_unsubscribe(leaving)

    def _needs_snapshot(self, wire: _Wire) -> bool:
        if wire.params.get("snapshot") is False:
            return False
        return wire.channel in (
            _FUTURES_SNAPSHOT_FEEDS if self._futures else _SPOT_SNAPSHOT_CHANNELS
        )

    def resync(self, channel: str, symbol: str | None, params: dict[str, Any], reason: str) -> bool:
        """Ask for a fresh snapshot of one wire subscription (unsubscribe + subscribe).

        Only that channel and symbol is touched. Its users get a ``Gap(reason="resync")``
        and then the fresh snapshot. Returns False when nothing was sent because a snapshot
        is already on its way (the link is down or the wire is still pending).
        """
        wire = self._wires.get(self.route_key(channel, symbol, params))
        if wire is None or wire.state != "active" or not self._ready.is_set():
            return False
        if self._futures:
            self.send_nowait(self._futures_request("unsubscribe", [wire]))
        else:
            call = self._broker.allocate("unsubscribe")
            self._broker.discard(call)
            self.send_nowait(self._spot_request("unsubscribe", [wire], call.req_id))
        wire.acked = trio.Event()
        self._send_subscribe([wire])
        for user in tuple(wire.users):
            user._push(Gap(reason="resync", ws_key=self.key, symbol=symbol))
        self.stats.resyncs += 1
        self._hub.emit(LifecycleEvent("resync", self.key, f"{channel} {symbol}: {reason}"))
        return True

    def _groups(self, wires: Iterable[_Wire]) -> dict[tuple[Any, ...], list[_Wire]]:
        groups: dict[tuple[Any, ...], list[_Wire]] = {}
        for wire in wires:
            groups.setdefault((wire.channel, _params_key(wire.params)), []).append(wire)
        return groups

    def _send_subscribe(self, wires: Iterable[_Wire]) -> None:
        for group in self._groups(wires).values():
            for wire in group:
                wire.state = "pending"
                wire.sent = True
            if self._futures:
                self._fut_pending.append(group)
                self.send_nowait(self._futures_request("subscribe", group))
            else:
                call = self._broker.allocate("subscribe")
                self._broker.discard(call)  # only reserve an id; acks are matched by symbol
                for wire in group:
                    wire.req_id = call.req_id
                self._sub_requests[call.req_id] = list(group)
                self.send_nowait(self._spot_request("subscribe", group, call.req_id))

    def _send_unsubscribe(self, wires: Iterable[_Wire]) -> None:
        for group in self._groups(wires).values():
            if self._futures:
                self.send_nowait(self._futures_request("unsubscribe", group))
            else:
                call = self._broker.allocate("unsubscribe")
                self._broker.discard(call)
                self._unsub_requests[call.req_id] = list(group)
                self.send_nowait(self._spot_request("unsubscribe", group, call.req_id))

    def _spot_request(self, method: str, group: list[_Wire], req_id: int) -> bytes:
        first = group[0]
        params = dict(first.params)
        symbols = [w.symbol for w in group if w.symbol is not None]
        if symbols:
            params["symbol"] = symbols
        if self.key.is_private and self._token is not None:
            params["token"] = self._token
        if method == "unsubscribe":
            # Kraken's unsubscribe takes the identifying options only.
            params = {k: v for k, v in params.items() if k in _UNSUB_KEYS}
        return encode_request(
            s.Request(
                method=method,
                params=s.SubscribeParams(channel=first.channel, **params),
                req_id=req_id,
            )
        )

    def _futures_request(self, event: str, group: list[_Wire]) -> bytes:
        feed = group[0].channel
        product_ids = [w.symbol for w in group if w.symbol is not None] or None
        request = f.FuturesSubscribeRequest(event=event, feed=feed, product_ids=product_ids)
        creds = self._hub.credentials
        if feed in FUTURES_PRIVATE_FEEDS and self._challenge is not None and creds is not None:
            request.api_key = creds.api_key
            request.original_challenge, request.signed_challenge = self._challenge
        return encode_futures(request)

    # ================================================================ requests (the broker)

    async def request(
        self,
        method: str,
        params: s._Out,
        *,
        expected: int = 1,
        open_ended: bool = False,
        cl_ord_id: str | None = None,
    ) -> list[Any]:
        """Send a trading request and wait for its reply (or ``expected`` replies).

        With ``open_ended`` the number of replies is not known in advance (cancel_order by
        ``order_userref`` gets one reply per matching order): a ping sent right behind the
        request marks the end, since the server answers a connection's requests in order.

        Bounded by the configured request deadline (kept by the connection's one request
        timer, not a cancel scope per call); the caller may narrow it with a cancel scope.
        Cancellation before the frame is sent means nothing was sent; after it, the order
        may be live.

        Raises:
            KrakenAPIError: Kraken answered ``success: false`` (its text, method, req_id).
            RequestTimeoutError: no reply within the deadline.
            ConnectionLostError: the link dropped while the request was in flight.
            AuthenticationError: the connection could not authenticate.
        """
        deadline = trio.current_time() + self._cfg.request_timeout
        sent: tuple[PendingCall, PendingCall | None] | None = None
        while sent is None:
            if (
                not self._ready.is_set()
                or self._fatal is not None
                or self._closing
                or self._send_ch is None
            ):
                with trio.move_on_at(deadline) as waiting:
                    await self.wait_ready()
                if waiting.cancelled_caught:
                    raise RequestTimeoutError(method, None, cl_ord_id, sent=False)
                if self._send_ch is None:
                    continue
            sent = self._send_request(method, params, expected, open_ended, cl_ord_id)
        call, barrier = sent
        # Registered after the frame went out: nothing awaited in between, so the reply
        # cannot have been read yet, and the server starts on the order sooner. The
        # deadline is the reaper's (it fails the call with RequestTimeoutError).
        self._time(deadline, barrier or call, call)
        try:
            if barrier is not None:
                # Every reply to the request precedes the pong.
                await barrier.done.wait()
                if barrier.error is not None:
                    self._broker.discard(call)
                    call.finish(barrier.error)
            await call.enough.wait()
            if not call.done.is_set():
                self._broker.discard(call)
                call.finish()
        finally:
            if not call.done.is_set():
                self._broker.discard(call)
            if barrier is not None and not barrier.done.is_set():
                self._broker.discard(barrier)
        if call.error is not None:
            raise call.error
        replies = call.replies
        if len(replies) == 1 and replies[0].success:
            return replies
        failed = [r for r in replies if not r.success]
        if failed:
            text = "; ".join(dict.fromkeys(r.error or "unknown error" for r in failed))
            if is_auth_error(text):
                raise AuthenticationError(text, method, call.req_id)
            raise KrakenAPIError(text, method, call.req_id)
        return call.replies

    def _lost_in_flight(self, call: PendingCall) -> ConnectionLostError:
        return ConnectionLostError(
            f"{self.key}: connection lost while {call.method} (req_id={call.req_id}"
            + (f", cl_ord_id={call.cl_ord_id}" if call.cl_ord_id else "")
            + ") was in flight; it may or may not have reached the exchange and is not resent"
        )

    def _send_request(
        self,
        method: str,
        params: s._Out,
        expected: int,
        open_ended: bool,
        cl_ord_id: str | None,
    ) -> tuple[PendingCall, PendingCall | None] | None:
        """Send a request (and its barrier ping) and register the call; None if no link.

        Synchronous: the frame is whole in the kernel or in the writer's queue on return.
        """
        if hasattr(params, "token"):
            params.token = self._token
        req_id = self._broker.reserve()
        if not self.send_nowait(
            encode_request(s.Request(method=method, params=params, req_id=req_id))
        ):
            return None
        call = self._broker.register(
            req_id,
            method,
            expected=_UNBOUNDED if open_ended else expected,
            minimum=expected,
            cl_ord_id=cl_ord_id,
        )
        call.sent = True
        barrier: PendingCall | None = None
        if open_ended:
            barrier = self._broker.allocate("ping")
            ping = encode_request(s.Request(method="ping", req_id=barrier.req_id))
            if not self.send_nowait(ping):  # the link died between two synchronous sends
                self._broker.discard(barrier)
                self._broker.discard(call)
                call.finish(self._lost_in_flight(call))
        log.debug("[%s] %s sent (req_id=%d)", self.key, method, req_id)
        return call, barrier

    def statistics(self) -> ConnectionStatistics:
        """Current counters (a copy: it does not change afterwards)."""
        self.stats.wire_subscriptions = len(self._wires)
        self.stats.pending_requests = len(self._broker)
        return replace(self.stats, extra=dict(self.stats.extra))

    def live_wires(self) -> list[tuple[str, str | None]]:
        """(channel, symbol) of every wire subscription, for tests and diagnostics."""
        return [(w.channel, w.symbol) for w in self._wires.values()]


_UNBOUNDED = 2**31

# Channels whose updates mean nothing without the snapshot before them.
_SPOT_SNAPSHOT_CHANNELS = frozenset({"book", "level3", "instrument", "executions", "balances"})
_FUTURES_SNAPSHOT_FEEDS = frozenset({"book"})

_UNSUB_KEYS = frozenset({"symbol", "token", "depth", "interval", "event_trigger"})


class _ReqIdOnly(msgspec.Struct):
    req_id: Any = None


_decode_req_id = msgspec.json.Decoder(_ReqIdOnly).decode


def _req_id_of(frame: str) -> int | None:
    """The req_id of a frame that failed to decode, if it has a readable one."""
    try:
        req_id = _decode_req_id(frame).req_id
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return None
    return req_id if isinstance(req_id, int) and not isinstance(req_id, bool) else None


_AUTH_ERRORS = ("EAPI:", "Token(s) not found", "EGeneral:Permission denied", "ESession:", "EAuth:")


def is_auth_error(text: str) -> bool:
    """Kraken texts that mean the credentials or token were refused."""
    return any(marker in text for marker in _AUTH_ERRORS)


def _ignore(msg: Any) -> None:
    return None


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
