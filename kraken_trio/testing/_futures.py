"""The Futures WebSocket v1 server of the fake Kraken exchange.

One :class:`FuturesExchange` is one server on loopback that speaks Kraken's Futures WebSocket v1
(``wss://futures.kraken.com/ws/v1``) as ``../shared/kraken-protocol.md`` section 7 documents it,
over a seeded synthetic market (:mod:`._futures_market`) and one account that trades
(:mod:`._futures_account`, :mod:`._futures_trading`); its :attr:`FuturesExchange.rest` answers
Kraken's Futures REST API (:mod:`._futures_rest`) for the fake's REST server. The real exchange
serves public and private feeds on one URL, and so does this server. Requests and feeds are
handled by :mod:`._futures_feeds`, which lists the choices made where Kraken's documentation is
silent; the server's own:

* WebSocket protocol pings are answered with pongs (unless the ``stall_pongs`` fault is on).
* ``ticker`` and ``ticker_lite`` updates are throttled to one per product per second, as on
  Kraken (a new subscriber gets the current ticker at once); at that pace ``open_positions`` is
  pushed again when a product with an open position got a new mark price.
* Resting orders are checked against the book after every market tick: one that the market
  reaches fills as a maker at its limit price.
* A connection whose outbound queue overflows (a client that stops reading) is closed with code
  1008 ``"slow consumer"`` instead of losing messages silently.
* Idle connections stay open unless ``idle_timeout`` is set (Kraken asks for a ping at least
  every 60 s and may drop silent connections); then they are closed with 1001.
* Timestamps follow the wall clock; everything else (prices, quantities, ``seq``, trade and order
  ids) is a function of the seed. Challenges are random UUIDs.
"""

from __future__ import annotations

import itertools
import random
import ssl
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Final

import trio
from trio_websocket import ConnectionClosed

from kraken_trio._proto.auth import sign_futures_challenge
from kraken_trio.testing._faults import Faults, Received, ping_each
from kraken_trio.testing._limits import Limits
from kraken_trio.testing._listen import format_url, open_listeners, reset_stream
from kraken_trio.testing._wsserver import ServerWebSocket

from ._futures_account import FuturesAccount
from ._futures_common import Number, dec, encode
from ._futures_feeds import PRIVATE_FEEDS, PUBLIC_FEEDS, Connection, FeedHub
from ._futures_market import FuturesProductSpec, ProductMarket, TickerThrottle, futures_product
from ._futures_orders import FuturesOrder
from ._futures_rest import FuturesRest
from ._futures_trading import Trader

__all__ = [
    "FUTURES_PATH",
    "PRIVATE_FEEDS",
    "PUBLIC_FEEDS",
    "FuturesAccount",
    "FuturesExchange",
    "FuturesFaults",
    "FuturesOrder",
    "FuturesProductSpec",
    "futures_product",
]

FUTURES_PATH: Final = "/ws/v1"
"""The URL path the server answers on, as on ``wss://futures.kraken.com/ws/v1``."""

_QUEUE_SIZE: Final = 10_000
_CLOSE_BOUND: Final = 1.0


# --------------------------------------------------------------------------------------------
# Faults


class FuturesFaults(Faults):
    """The futures server's faults: the shared :class:`~kraken_trio.testing.Faults` API plus
    :meth:`skip_seq`.

    On this server ``stall_pongs`` withholds both WebSocket protocol pongs and the reply to
    ``{"event":"ping"}``; ``delay`` holds back every outbound message (order preserved);
    ``refuse`` answers new handshakes with HTTP 503; ``reject_next_auth`` poisons the next
    challenges (the subscribe signed with one gets the auth alert); ``drop`` closes with 1001 or
    a TCP reset; ``restart`` closes every connection with 1012 ("service restart"), keeping the
    port, the market and the account.
    """

    def __init__(self, exchange: FuturesExchange) -> None:
        super().__init__(exchange)
        self._exchange = exchange

    def skip_seq(self, product_id: str) -> None:
        """Lose the next book delta of ``product_id``: the one after it jumps ``seq`` by 2.

        The lost delta is applied to the server's book, so a client that ignores the gap ends up
        with a wrong book, as after a real lost message.

        Raises:
            KeyError: For a product the server does not list.
        """
        self._exchange._market(product_id).skip += 1


# --------------------------------------------------------------------------------------------
# The server


class FuturesExchange:
    """A fake Kraken Futures WebSocket v1 server.

    Args:
        seed: Seeds the synthetic market and the account's ids.
        api_key: The API key private subscribes must carry.
        api_secret: The base64 secret challenges are signed with.
        update_interval: Seconds between market ticks; ``None`` moves the market only on
            :meth:`step`.
        products: Product ids to list (see :func:`futures_product`).
        heartbeat_interval: Seconds between ``heartbeat`` feed messages.
        balances: Starting funds: currency -> amount in the flex wallet, or ``F-XBT:USD``-style
            names for single-collateral wallets (default: none).
        idle_timeout: Close a connection (code 1001, ``"idle timeout"``) when the client has
            sent neither a message nor a protocol ping for this long; ``None`` (the default)
            never does. Kraken asks for a ping at least every 60 s.

    Example::

        exchange = FuturesExchange(api_key=key, api_secret=secret, update_interval=None)
        async with trio.open_nursery() as nursery:
            url = await nursery.start(exchange.run)  # "ws://127.0.0.1:<port>/ws/v1"
            ...  # connect clients to url
            await exchange.step()  # the market moves one tick
            order_id = exchange.account.place_order("PI_XBTUSD", "buy", 100, "64000.5")
            await exchange.faults.drop(reset=True)
            nursery.cancel_scope.cancel()

    Attributes:
        faults: The fault switches (:class:`FuturesFaults`).
        received: Every message received, in order (:class:`~kraken_trio.testing.Received`:
            the decoded JSON, or the raw frame when it was not JSON).
        account: The private account (:class:`FuturesAccount`): scripted by tests, traded by
            clients through :attr:`rest`.
        trader: Order entry and matching for the account.
        rest: The Futures REST endpoints (the fake's REST server routes ``/derivatives/`` here).
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        api_key: str,
        api_secret: str,
        update_interval: float | None = 0.05,
        products: Sequence[str] = ("PI_XBTUSD", "PF_ETHUSD", "PF_SOLUSD"),
        heartbeat_interval: float = 1.0,
        idle_timeout: float | None = None,
        balances: Mapping[str, Number] | None = None,
    ) -> None:
        if not api_key or not api_secret:
            raise ValueError("api_key and api_secret must both be non-empty")
        sign_futures_challenge(api_secret, "check")  # validates the base64, hiding the secret
        if update_interval is not None and update_interval <= 0:
            raise ValueError("update_interval must be positive or None")
        if heartbeat_interval <= 0:
            raise ValueError("heartbeat_interval must be positive")
        if idle_timeout is not None and idle_timeout <= 0:
            raise ValueError("idle_timeout must be positive or None")
        if not products or len(set(products)) != len(products):
            raise ValueError("products must be a non-empty sequence of distinct ids")
        self._idle_timeout = idle_timeout
        self._update_interval = update_interval
        self._rng = random.Random(f"futures-market-{seed}")
        self._markets = {p: ProductMarket(futures_product(p), self._rng) for p in products}
        self._throttle = TickerThrottle()
        self._sockets: dict[int, tuple[ServerWebSocket, trio.abc.Stream]] = {}
        self._conn_ids = itertools.count(1)
        self._url: str | None = None
        self._running = False
        self._changed = trio.Event()
        self.faults = FuturesFaults(self)
        self.account = FuturesAccount(seed=seed, spec=self.spec, mark_price=self._mark_price)
        self.trader = Trader(self.account, self)
        self.rest = FuturesRest(self._markets, self.trader, api_key=api_key, api_secret=api_secret)
        self._hub = FeedHub(
            self._markets,
            self.account,
            api_key=api_key,
            api_secret=api_secret,
            heartbeat_interval=heartbeat_interval,
            pongs_stalled=self._pongs_stalled,
            take_auth_reject=self.faults.take_auth_reject,
        )
        self.received: list[Received] = self._hub.received
        self.account.add_sink(self._hub.publish)
        for currency, amount in (balances or {}).items():
            self._fund(currency, dec(amount, f"balances[{currency!r}]"))

    def __repr__(self) -> str:
        return f"FuturesExchange(url={self._url!r}, products={list(self._markets)})"

    @property
    def limits(self) -> Limits:
        """The request limits this server enforces (open_fake_kraken shares the spot ones)."""
        return self._hub.limits

    @limits.setter
    def limits(self, limits: Limits) -> None:
        self._hub.limits = limits

    def _fund(self, currency: str, amount: Decimal) -> None:
        """Starting funds: ``F-XBT:USD``-style names fund a single-collateral wallet."""
        if currency.startswith("F-"):
            self.account.wallets.single[currency] = amount
        else:
            self.account.wallets.set_flex(currency, amount, None)

    # -- public API ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``ws://host:port/ws/v1`` once :meth:`run` has started.

        Raises:
            RuntimeError: Before the server is listening.
        """
        if self._url is None:
            raise RuntimeError("the futures server is not running yet")
        return self._url

    @property
    def products(self) -> Mapping[str, FuturesProductSpec]:
        """The listed products."""
        return {p: m.spec for p, m in self._markets.items()}

    async def run(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
        task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Serve until cancelled. Use ``url = await nursery.start(exchange.run)``.

        Binds first, then reports ``ws://<host>:<port>/ws/v1`` through ``task_status``
        (``wss://`` with ``ssl_context``). On cancellation every connection is closed with a
        close frame (1001), bounded.

        Raises:
            RuntimeError: If this exchange is already running.
            OSError: If the address cannot be bound.
        """
        if self._running:
            raise RuntimeError("this FuturesExchange is already running")
        self._running = True
        try:
            listeners, bound_port = await open_listeners(host, port, ssl_context)
        except BaseException:
            self._running = False
            raise
        try:
            tls = ssl_context is not None
            self._url = format_url("ws", host, bound_port, FUTURES_PATH, tls=tls)
            async with trio.open_nursery() as nursery:
                await nursery.start(trio.serve_listeners, self._handle_stream, listeners)
                if self._update_interval is not None:
                    nursery.start_soon(self._market_loop, self._update_interval)
                task_status.started(self._url)
        finally:
            self._url = None
            self._running = False
            with trio.CancelScope(shield=True):
                for listener in listeners:
                    await listener.aclose()

    async def step(self) -> None:
        """Advance the synthetic market one tick and push the resulting messages.

        Every product gets one to three book deltas and perhaps a trade; resting orders the
        market reached fill; then the ticker of every product whose last ticker is at least a
        second old (``trio.current_time()``) goes to its ``ticker``/``ticker_lite``
        subscribers. A checkpoint.
        """
        self._step()
        await trio.lowlevel.checkpoint()

    def live_subscriptions(self) -> dict[int, set[tuple[str, str | None]]]:
        """Open connections by id, each with its ``(feed, product_id or None)`` subscriptions."""
        return {cid: set(conn.subs) for cid, conn in self._hub.conns.items()}

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        """Wait until ``predicate()`` is true, without polling.

        The predicate is checked now and again whenever a connection opens or closes or a
        client message has been handled (so after every subscription change and every addition
        to :attr:`received`). Typical use, bounded by the caller::

            with trio.fail_after(5):
                await exchange.wait_until(lambda: len(exchange.live_subscriptions()) == 2)

        A checkpoint. Has no timeout of its own.
        """
        await trio.lowlevel.checkpoint()
        while not predicate():
            await self._changed.wait()

    def _state_changed(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    def book(self, product_id: str) -> tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]:
        """A copy of the server's book of one product: ``(bids, asks)``, price -> qty."""
        market = self._market(product_id)
        return dict(market.bids), dict(market.asks)

    # -- the venue the trader trades on (see ._futures_trading.Venue) --------------------

    def spec(self, instrument: str) -> FuturesProductSpec:
        """The product ``instrument``: listed, else described from its id (scripted orders).

        Raises:
            KeyError: For an id that is neither listed nor a Kraken futures product id.
        """
        market = self._markets.get(instrument)
        if market is not None:
            return market.spec
        try:
            return futures_product(instrument)
        except ValueError:
            raise KeyError(f"the fake futures exchange does not list {instrument!r}") from None

    def _mark_price(self, instrument: str) -> Decimal:
        return self._market(instrument).mark_price()

    def last_price(self, instrument: str) -> Decimal:
        """The last trade price of a listed product."""
        return self._market(instrument).last

    def opposite(self, instrument: str, buy: bool) -> Mapping[Decimal, Decimal]:
        """The side of the book a taker of side ``buy`` trades against."""
        market = self._market(instrument)
        return market.asks if buy else market.bids

    def take(self, instrument: str, buy: bool, price: Decimal, qty: Decimal) -> None:
        """A taker trades ``qty`` at the book level ``price``; the feeds show it."""
        market = self._market(instrument)
        for message in market.take_level("buy" if buy else "sell", price, qty, self._rng):
            self._hub.publish(str(message["feed"]), instrument, message)

    def print_trade(self, instrument: str, buy: bool, price: Decimal, qty: Decimal) -> None:
        """A trade against a resting order of the account; the ``trade`` feed shows it."""
        market = self._market(instrument)
        trade = market.record_trade("buy" if buy else "sell", price, qty, self._rng)
        self._hub.publish("trade", instrument, trade)

    def _market(self, product_id: str) -> ProductMarket:
        try:
            return self._markets[product_id]
        except KeyError:
            raise KeyError(f"the fake futures exchange does not list {product_id!r}") from None

    # -- the market ----------------------------------------------------------------------

    async def _market_loop(self, interval: float) -> None:
        while True:
            await trio.sleep(interval)  # the market's own clock, not a wait for an event
            self._step()

    def _step(self) -> None:
        now = trio.current_time()
        for product_id, market in self._markets.items():
            for message in market.step(self._rng):
                self._hub.publish(str(message["feed"]), product_id, message)
            self.trader.on_market(product_id)
        marked = False
        for product_id, market in self._markets.items():
            if self._throttle.due(product_id, now):
                self._hub.publish("ticker", product_id, market.ticker())
                self._hub.publish("ticker_lite", product_id, market.ticker_lite())
                marked |= product_id in self.account.ledger.positions
        if marked:  # a new mark price moves the PnL of open positions: Kraken pushes them
            self._hub.publish("open_positions", None, self.account.ledger.positions_message())

    # -- connections ---------------------------------------------------------------------

    def _pongs_stalled(self) -> bool:
        return self.faults.stall_pongs

    async def _handle_stream(self, stream: trio.abc.Stream) -> None:
        ws = ServerWebSocket(stream, stalled=self._pongs_stalled)
        # trio-websocket's reader task must outlive a cancellation of the server, so that the
        # closing handshake can complete (it reads the client's close reply); it is shielded and
        # stopped explicitly once this connection is finished.
        reader_scope = trio.CancelScope(shield=True)

        async def read_frames() -> None:
            with reader_scope:
                await ws.read_frames()

        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(read_frames)
                try:
                    await self._serve_handshake(ws, stream, nursery)
                finally:
                    reader_scope.cancel()
        finally:
            with trio.CancelScope(shield=True):
                await stream.aclose()

    async def _serve_handshake(
        self, ws: ServerWebSocket, stream: trio.abc.Stream, nursery: trio.Nursery
    ) -> None:
        with trio.move_on_after(10) as handshake:
            request = await ws.handshake()
        if handshake.cancelled_caught:
            return
        status, body = 0, b""
        if self.faults.refusing:
            status, body = 503, b"Service Unavailable"
        elif request.path.split("?")[0] != FUTURES_PATH:
            status, body = 404, b"Not Found"
        if status:
            with trio.move_on_after(_CLOSE_BOUND):
                await request.reject(status, body=body)
            return
        await request.accept()
        send_channel, receive_channel = trio.open_memory_channel[tuple[float, str | bytes]](
            _QUEUE_SIZE
        )
        conn = Connection(next(self._conn_ids), send_channel, nursery)
        self._hub.conns[conn.id] = conn
        self._sockets[conn.id] = (ws, stream)
        self._state_changed()
        try:
            with conn.scope:
                conn.send(encode({"event": "info", "version": 1}))
                nursery.start_soon(self._writer, conn, ws, receive_channel)
                if self._idle_timeout is not None:
                    nursery.start_soon(self._idle_watch, conn, ws, self._idle_timeout)
                await self._reader(conn, ws)
        finally:
            del self._hub.conns[conn.id]
            del self._sockets[conn.id]
            self._state_changed()
            with trio.CancelScope(shield=True):
                await self._close_connection(conn, ws, stream)
            conn.done.set()
            nursery.cancel_scope.cancel()

    async def _close_connection(
        self, conn: Connection, ws: ServerWebSocket, stream: trio.abc.Stream
    ) -> None:
        self._hub.limits.forget(conn.id)
        await conn.send_channel.aclose()
        if conn.reset:
            await reset_stream(stream)
            return
        with trio.move_on_after(_CLOSE_BOUND):
            await ws.aclose(conn.close_code, conn.close_reason)

    async def _writer(
        self,
        conn: Connection,
        ws: ServerWebSocket,
        receive_channel: trio.MemoryReceiveChannel[tuple[float, str | bytes]],
    ) -> None:
        async with receive_channel:
            async for queued_at, payload in receive_channel:
                delay = self.faults.delay
                if delay > 0:
                    await trio.sleep_until(queued_at + delay)
                try:
                    await ws.send_message(payload)
                except ConnectionClosed:
                    conn.scope.cancel()
                    return

    async def _reader(self, conn: Connection, ws: ServerWebSocket) -> None:
        while True:
            await self.faults.wait_reading()
            try:
                raw = await ws.get_message()
            except ConnectionClosed:
                return
            ws.last_activity = trio.current_time()
            self._hub.on_message(conn, raw)
            self._state_changed()

    async def _idle_watch(self, conn: Connection, ws: ServerWebSocket, idle_limit: float) -> None:
        while True:
            deadline = ws.last_activity + idle_limit
            if trio.current_time() >= deadline:
                conn.abort(1001, "idle timeout")
                return
            await trio.sleep_until(deadline)

    async def _drop_connections(self, *, reset: bool, connection_id: int | None = None) -> int:
        if reset:
            return await self._close_all(1006, "reset", reset=True, connection_id=connection_id)
        return await self._close_all(1001, "going away", connection_id=connection_id)

    async def _ping_clients(self, payload: bytes, *, connection_id: int | None = None) -> int:
        sockets = [
            ws
            for cid, (ws, _) in list(self._sockets.items())
            if connection_id is None or cid == connection_id
        ]
        return await ping_each(sockets, payload)

    async def _send_raw_all(
        self, payload: str | bytes, *, connection_id: int | None = None
    ) -> None:
        if not isinstance(payload, str | bytes):
            raise TypeError("payload must be str or bytes")
        for cid, conn in list(self._hub.conns.items()):
            if connection_id is None or cid == connection_id:
                conn.send(payload)
        await trio.lowlevel.checkpoint()

    async def _restart(self) -> None:
        await self._close_all(1012, "service restart")

    async def _close_all(
        self, code: int, reason: str, *, reset: bool = False, connection_id: int | None = None
    ) -> int:
        conns = [
            conn
            for cid, conn in self._hub.conns.items()
            if connection_id is None or cid == connection_id
        ]
        for conn in conns:
            conn.abort(code, reason, reset=reset)
        for conn in conns:
            with trio.move_on_after(_CLOSE_BOUND * 5):
                await conn.done.wait()
        return len(conns)
