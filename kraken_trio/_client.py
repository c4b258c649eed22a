"""``open_kraken()`` and the client object users hold."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from types import TracebackType
from typing import Any, Literal, Self, overload

import trio

from ._config import Config, WsKey
from ._connection import Connection
from ._errors import (
    ClosedError,
    InvalidRequestError,
    KrakenError,
    RequestTimeoutError,
)
from ._events import ConnectionStatistics, Gap, LifecycleEvent
from ._localbook import LocalBook, OrderBooks
from ._orders import OrderTracker, track_orders
from ._proto import futures as f
from ._proto import spot as s
from ._proto.auth import Credentials
from ._proto.channels import (
    BOOK_DEPTHS,
    L3_DEPTHS,
    TRADING_KEYS,
    check_member,
    plan_subscription,
    ws_key_of,
)
from ._proto.ratelimit import RateGovernor
from ._proto.spot_session import SpotDialect
from ._rest import TokenSource
from ._subscription import OverflowPolicy, Subscription
from ._trading_client import DeadMansSwitch, TradingClient

__all__ = ["DeadMansSwitch", "EventStream", "KrakenClient"]

log = logging.getLogger("kraken_trio")


class EventStream:
    """Lifecycle events of every connection, for one listener (see :meth:`KrakenClient.events`)."""

    def __init__(self, client: KrakenClient, buffer_size: int) -> None:
        self._client = client
        self._send, self._recv = trio.open_memory_channel[LifecycleEvent](buffer_size)
        self.dropped = 0
        client._listeners.append(self)

    def _push(self, event: LifecycleEvent) -> None:
        try:
            self._send.send_nowait(event)
        except trio.WouldBlock:
            self.dropped += 1
        except trio.ClosedResourceError:
            pass

    def close(self) -> None:
        """Stop listening; iteration ends after the buffered events."""
        if self in self._client._listeners:
            self._client._listeners.remove(self)
        self._send.close()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> LifecycleEvent:
        try:
            return await self._recv.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            raise StopAsyncIteration from None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class KrakenClient(TradingClient):
    """The client yielded by :func:`open_kraken`. Holds one lazy connection per WsKey."""

    def __init__(
        self, nursery: trio.Nursery, config: Config, credentials: Credentials | None
    ) -> None:
        self._nursery = nursery
        self.config = config
        self.credentials = credentials
        self._connections: dict[WsKey, Connection] = {}
        self._listeners: list[EventStream] = []
        self._token_source: TokenSource | None = None
        self._pairs: dict[str, s.InstrumentPair] | None = None
        self._closed = False
        self.awaiting_replies = 0  # requests in flight on any connection (see _connection)
        self.rate_governor = RateGovernor(config.rate_tier)

    def __repr__(self) -> str:
        keys = ", ".join(str(k) for k in self._connections)
        return f"<KrakenClient connections=[{keys}] credentials={self.credentials!r}>"

    # ----------------------------------------------------------------- hub for connections

    def emit(self, event: LifecycleEvent) -> None:
        """Log a lifecycle event and hand it to every listener."""
        level = logging.WARNING if event.kind in ("exception", "reconnecting") else logging.INFO
        log.log(level, "[%s] %s %s", event.ws_key, event.kind, event.detail)
        for listener in list(self._listeners):
            listener._push(event)

    def token_source(self) -> TokenSource:
        """The shared token fetcher (one httpx client for every private connection)."""
        if self._token_source is None:
            if self.credentials is None:
                raise InvalidRequestError("private endpoints need api_key and api_secret")
            self._token_source = TokenSource(
                self.credentials,
                self.config.rest_url,
                self.config.rest_timeout,
                max_body=self.config.max_rest_body_size,
                ssl_context=self.config.ssl_context,
            )
        return self._token_source

    def start_soon(self, fn: Callable[[], Any], name: str) -> None:
        """Run a background task in the client's nursery."""
        self._nursery.start_soon(fn, name=name)

    # ----------------------------------------------------------------- public API

    def connection(self, ws_key: WsKey) -> Connection:
        """The connection of ``ws_key`` (created on first use, not yet connected)."""
        if self._closed:
            raise ClosedError("the client is closed")
        key = WsKey(ws_key)
        conn = self._connections.get(key)
        if conn is None:
            url = self.config.endpoints.get(key)
            if not url:
                raise InvalidRequestError(f"no endpoint URL configured for {key}")
            conn = Connection(key, url, self)
            self._connections[key] = conn
            dialect = conn.session.dialect
            if key in TRADING_KEYS and isinstance(dialect, SpotDialect):
                # Rate governor hooks: an executions ack's maxratecount is the real threshold,
                # and every executions message (whoever subscribed) tells of orders placed,
                # amended and closed, and of the server's counter values.
                dialect.on_ack_result = self.rate_governor.observe_ack
                dialect.on_executions = self.rate_governor.observe
        return conn

    async def connect(self, ws_key: WsKey) -> None:
        """Open (and authenticate) the connection of ``ws_key`` now instead of on first use.

        A checkpoint. Bounded by the connect and auth deadlines of the configuration.

        Raises:
            AuthenticationError: credentials were rejected (Kraken's text).
            ReconnectExhaustedError: the endpoint could not be reached within the limit.
            RequestTimeoutError: not connected within the connect and auth deadlines.
        """
        conn = self.connection(ws_key)
        with trio.move_on_after(conn.link_bound()) as scope:
            await conn.wait_ready()
        if scope.cancelled_caught:
            raise RequestTimeoutError("connect", None, sent=False)

    # Overloads: what each channel yields, so that a type checker sees the message fields.
    # Futures first: ``product_ids`` (or the futures private key) is what tells them apart.
    @overload
    def subscribe(
        self,
        channel: Literal["ticker"],
        *,
        product_ids: Sequence[str],
        ws_key: WsKey | None = None,
        on_overflow: OverflowPolicy = "raise",
        buffer_size: int | None = None,
    ) -> Subscription[f.FuturesTicker | Gap]: ...
    @overload
    def subscribe(
        self,
        channel: Literal["ticker_lite"],
        *,
        product_ids: Sequence[str],
        ws_key: WsKey | None = None,
        on_overflow: OverflowPolicy = "raise",
        buffer_size: int | None = None,
    ) -> Subscription[f.FuturesTickerLite | Gap]: ...
    @overload
    def subscribe(
        self,
        channel: Literal["book"],
        *,
        product_ids: Sequence[str],
        ws_key: WsKey | None = None,
        on_overflow: OverflowPolicy = "raise",
        buffer_size: int | None = None,
    ) -> Subscription[f.FuturesBookSnapshot | f.FuturesBookDelta | Gap]: ...
    @overload
    def subscribe(
        self,
        channel: Literal["trade"],
        *,
        product_ids: Sequence[str],
        ws_key: WsKey | None = None,
        on_overflow: OverflowPolicy = "raise",
        buffer_size: int | None = None,
    ) -> Subscription[f.FuturesTradeSnapshot | f.FuturesTrade | Gap]: ...
    @overload
    def subscribe(
        self,
        channel: Literal["heartbeat"],
        *,
        ws_key: WsKey | None = None,
        on_overflow: OverflowPolicy = "raise",
        buffer_size: int | None = None,
    ) -> Subscription[f.FuturesHeartbeat | Gap]: ...
    @overload
    def subscribe(
        self,
        channel: Literal["open_orders"],
        *,
        ws_key: WsKey | None = None,
        on_overflow: OverflowPolicy = "raise",
        buffer_size: int | None = None,
    ) -> Subscription[f.FuturesOpenOrdersSnapshot | f.FuturesOpenOrders | Gap]: ...
    @overload
    def subscribe(
        self,
        channel: Literal["open_orders_verbose"],
        *,
        ws_key: WsKey | None = None,
        on_overflow: OverflowPolicy = "raise",
        buffer_size: int | None = None,
    ) -> Subscription[f.FuturesOpenOrdersVerboseSnapshot | f.FuturesOpenOrdersVerbose | Gap]: ...
    @overload
    def subscribe(
        self,
        channel: Literal["fills"],
        *,
        product_ids: Sequence[str] | None = None,
        ws_key: WsKey | None = None,
        on_overflow: OverflowPolicy = "raise",
        buffer_size: int | None = None,
    ) -> Subscription[f.FuturesFillsSnapshot | f.FuturesFills | Gap]: ...
    @overload
    def subscribe(
        self,
        channel: Literal["open_positions"],
        *,
        ws_key: WsKey | None = None,
        on_overflow: OverflowPolicy = "raise",
        buffer_size: int | None = None,
    ) -> Subscription[f.FuturesOpenPositions | Gap]: ...
    @overload
    def subscribe(
        self,
        channel: Literal["account_log"],
        *,
        ws_key: WsKey | None = None,
        on_overflow: OverflowPolicy = "raise",
        buffer_size: int | None = None,
    ) -> Subscription[f.FuturesAccountLogSnapshot | f.FuturesAccountLog | Gap]: ...
    @overload
    def subscribe(
        self,
        channel: Literal["notifications_auth"],
        *,
        ws_key: WsKey | None = None,
        on_overflow: OverflowPolicy = "raise",
        buffer_size: int | None = None,
    ) -> Subscription[f.FuturesNotifications | Gap]: ...
    @overload
    def subscribe(
        self,
        channel: Literal["balances"],
        *,
        ws_key: Literal[WsKey.DERIVATIVES_PRIVATE_V1],
        on_overflow: OverflowPolicy = "raise",
        buffer_size: int | None = None,
    ) -> Subscription[f.FuturesBalancesSnapshot | f.FuturesBalances | Gap]: ...
    @overload
    def subscribe(
        self,
        channel: Literal["ticker"],
        *,
        ws_key: WsKey | None = None,
        on_overflow: OverflowPolicy = "raise",
        buffer_size: int | None = None,
        **params: Any,
    ) -> Subscription[s.TickerMessage | Gap]: ...
    @overload
    def subscribe(
        self,
        channel: Literal["book"],
        *,
        ws_key: WsKey | None = None,
        on_overflow: OverflowPolicy = "raise",
        buffer_size: int | None = None,
        **params: Any,
    ) -> Subscription[s.BookMessage | Gap]: ...
    @overload
    def subscribe(
        self,
        channel: Literal["trade"],
        *,
        ws_key: WsKey | None = None,
        on_overflow: OverflowPolicy = "raise",
        buffer_size: int | None = None,
        **params: Any,
    ) -> Subscription[s.TradeMessage | Gap]: ...
    @overload
    def subscribe(
        self,
        channel: Literal["ohlc"],
        *,
        ws_key: WsKey | None = None,
        on_overflow: OverflowPolicy = "raise",
        buffer_size: int | None = None,
        **params: Any,
    ) -> Subscription[s.OhlcMessage | Gap]: ...
    @overload
    def subscribe(
        self,
        channel: Literal["instrument"],
        *,
        ws_key: WsKey | None = None,
        on_overflow: OverflowPolicy = "raise",
        buffer_size: int | None = None,
        **params: Any,
    ) -> Subscription[s.InstrumentMessage | Gap]: ...
    @overload
    def subscribe(
        self,
        channel: Literal["level3"],
        *,
        ws_key: WsKey | None = None,
        on_overflow: OverflowPolicy = "raise",
        buffer_size: int | None = None,
        **params: Any,
    ) -> Subscription[s.L3Message | Gap]: ...
    @overload
    def subscribe(
        self,
        channel: Literal["executions"],
        *,
        ws_key: WsKey | None = None,
        on_overflow: OverflowPolicy = "raise",
        buffer_size: int | None = None,
        **params: Any,
    ) -> Subscription[s.ExecutionsMessage | Gap]: ...
    @overload
    def subscribe(
        self,
        channel: Literal["balances"],
        *,
        ws_key: Literal[WsKey.SPOT_PRIVATE_V2, WsKey.SPOT_BETA_PRIVATE_V2] | None = None,
        on_overflow: OverflowPolicy = "raise",
        buffer_size: int | None = None,
        **params: Any,
    ) -> Subscription[s.BalancesSnapshot | s.BalancesUpdate | Gap]: ...
    @overload
    def subscribe(
        self,
        channel: str,
        *,
        ws_key: WsKey | None = None,
        on_overflow: OverflowPolicy = "raise",
        buffer_size: int | None = None,
        **params: Any,
    ) -> Subscription[Any]: ...

    def subscribe(
        self,
        channel: str,
        *,
        ws_key: WsKey | None = None,
        on_overflow: OverflowPolicy = "raise",
        buffer_size: int | None = None,
        **params: Any,
    ) -> Subscription[Any]:
        """Subscribe to a Spot channel or a Futures feed.

        Use it as ``async with k.subscribe(...) as sub: async for msg in sub`` or iterate it
        directly. The subscription is made (and every per-symbol ack awaited) on entry or on
        the first iteration.

        Args:
            channel: Kraken's channel (``ticker``, ``book``, ``trade``, ``ohlc``,
                ``instrument``, ``level3``, ``executions``, ``balances``) or futures feed.
            ws_key: The connection; by default spot channels route to their endpoint and
                futures feeds are recognised by ``product_ids`` or a futures-only name.
            on_overflow: What happens when this subscriber falls ``buffer_size`` messages
                behind: ``"raise"`` an :class:`~kraken_trio.OverrunError` (default),
                ``"drop_oldest"`` with a :class:`~kraken_trio.Gap` marker counting the loss,
                or keep only the ``"latest"`` message per symbol (tickers).
            buffer_size: Messages buffered for this subscriber (default from the config).
            **params: Kraken's own parameters (``symbol``, ``depth``, ``interval``,
                ``event_trigger``, ``snapshot``, ``product_ids``, ...).

        Raises:
            InvalidRequestError: an unknown channel or parameter, a bad depth/interval, a
                missing symbol (raised at once; nothing is sent).
        """
        if self._closed:
            raise ClosedError("the client is closed")
        if on_overflow not in ("raise", "drop_oldest", "latest"):
            raise InvalidRequestError(
                f"on_overflow must be 'raise', 'drop_oldest' or 'latest', got {on_overflow!r}"
            )
        if buffer_size is not None and (
            isinstance(buffer_size, bool) or not isinstance(buffer_size, int) or buffer_size < 1
        ):
            raise InvalidRequestError(f"buffer_size must be an int >= 1, got {buffer_size!r}")
        key, symbols, wire_params = plan_subscription(channel, ws_key, params)
        if key.is_private and self.credentials is None:
            raise InvalidRequestError(
                f"{channel} is private: open_kraken needs api_key and api_secret for {key}"
            )
        return Subscription(
            lambda: self.connection(key),
            key,
            channel,
            symbols,
            wire_params,
            buffer_size=buffer_size or self.config.buffer_size,
            on_overflow=on_overflow,
        )

    # ----------------------------------------------------------------- local books

    async def instrument_pairs(self, *, refresh: bool = False) -> dict[str, s.InstrumentPair]:
        """Every pair of the ``instrument`` channel, fetched once and cached.

        A checkpoint, bounded by the request deadline.

        Raises:
            RequestTimeoutError: no instrument snapshot within the request deadline.
        """
        if self._pairs is None or refresh:
            with trio.move_on_after(self.config.request_timeout) as scope:
                async with self.subscribe("instrument") as sub:
                    async for msg in sub:
                        if isinstance(msg, s.InstrumentMessage) and msg.type == "snapshot":
                            self._pairs = {p.symbol: p for p in msg.data.pairs}
                            break
            if scope.cancelled_caught or self._pairs is None:
                raise RequestTimeoutError("instrument snapshot", None, sent=True)
        return self._pairs

    @overload
    def book(  # type: ignore[overload-overlap]  # a str is also a Sequence[str]; str wins
        self,
        symbol: str,
        depth: int = 10,
        *,
        level: int = 2,
        ws_key: WsKey | None = None,
        buffer_size: int | None = None,
    ) -> AbstractAsyncContextManager[LocalBook]: ...
    @overload
    def book(
        self,
        symbol: Sequence[str],
        depth: int = 10,
        *,
        level: int = 2,
        ws_key: WsKey | None = None,
        buffer_size: int | None = None,
    ) -> AbstractAsyncContextManager[OrderBooks]: ...

    @asynccontextmanager
    async def book(
        self,
        symbol: str | Sequence[str],
        depth: int = 10,
        *,
        level: int = 2,
        ws_key: WsKey | None = None,
        buffer_size: int | None = None,
    ) -> AsyncIterator[Any]:
        """Keep local, verified order books for one or several symbols.

        ``async with k.book("BTC/USD", depth=10) as book`` yields a :class:`LocalBook`;
        with a list of symbols it yields :class:`OrderBooks` (``books["ETH/USD"]``). Iterate
        either for a :class:`BookEvent` after each applied message. Spot L2 (``level=2``)
        and L3 (``level=3``) books verify Kraken's checksum with the pair's precision from
        the ``instrument`` channel; futures books (``ws_key=DERIVATIVES_PUBLIC_V1``) check
        ``seq``. A mismatch, gap or overflow resyncs that symbol alone.

        Raises:
            InvalidRequestError: bad symbol, depth or level.
            SubscriptionError: Kraken refused a symbol.
        """
        if isinstance(symbol, str):
            symbols = [symbol]
        elif isinstance(symbol, list | tuple) and all(isinstance(x, str) for x in symbol):
            symbols = list(symbol)
        else:
            raise InvalidRequestError(f"symbol must be a str or a list of str, got {symbol!r}")
        if not symbols:
            raise InvalidRequestError("book needs at least one symbol")
        if isinstance(level, bool) or level not in (2, 3):
            raise InvalidRequestError(f"level must be 2 or 3, got {level!r}")
        check_member("depth", depth, L3_DEPTHS if level == 3 else BOOK_DEPTHS)
        if depth is None:
            raise InvalidRequestError("depth must be given (10 by default), got None")
        if ws_key is not None:
            ws_key = ws_key_of(ws_key)
        futures = ws_key is not None and ws_key.is_futures
        precisions: dict[str, tuple[int | None, int | None]] = {}
        if futures:
            if level != 2:
                raise InvalidRequestError("futures books are level 2")
            key, planned, params = plan_subscription("book", ws_key, {"product_ids": symbols})
            channel = "book"
        else:
            channel = "level3" if level == 3 else "book"
            key, planned, params = plan_subscription(
                channel, ws_key, {"symbol": symbols, "depth": depth}
            )
            try:
                pairs = await self.instrument_pairs()
            except KrakenError as exc:
                log.warning("instrument channel unavailable (%s): checksums use the wire text", exc)
                pairs = {}
            for sym in symbols:
                pair = pairs.get(sym)
                if pair is not None:
                    precisions[sym] = (pair.price_precision, pair.qty_precision)
        books = OrderBooks(
            lambda: self.connection(key),
            key,
            channel,
            [p for p in planned if p is not None],
            params,
            precisions,
        )
        await books.open()
        try:
            yield books[str(planned[0])] if isinstance(symbol, str) else books
        finally:
            with trio.CancelScope(shield=True):
                await books.aclose()

    def orders(
        self, *, buffer_size: int | None = None
    ) -> AbstractAsyncContextManager[OrderTracker]:
        """Track the account's own orders, reconciled across reconnects.

        ``async with k.orders() as orders`` subscribes ``executions`` (``snap_orders`` and
        ``snap_trades``; shared with every other subscriber asking the same) and yields an
        :class:`OrderTracker` once the snapshot is in: ``orders.open``,
        ``orders.get(order_id)``, ``await orders.closed(order_id)``, and ``async for update
        in orders`` for each :class:`OrderUpdate`. See the order tracking guide.

        Args:
            buffer_size: Updates buffered for the iterator (default from the config).

        Raises:
            InvalidRequestError: no credentials, or another ``executions`` subscription
                with different options is live on the connection.
            RequestTimeoutError: no snapshot within the request deadline.
        """
        if buffer_size is not None and (
            isinstance(buffer_size, bool) or not isinstance(buffer_size, int) or buffer_size < 1
        ):
            raise InvalidRequestError(f"buffer_size must be an int >= 1, got {buffer_size!r}")
        if self.credentials is None:
            raise InvalidRequestError("orders() needs api_key and api_secret")
        return track_orders(self, buffer_size=buffer_size)

    def events(self, buffer_size: int = 256) -> EventStream:
        """A stream of every connection's lifecycle events, for one listener.

        Each listener gets all events from the moment it is created; when it falls
        ``buffer_size`` behind, further events are dropped and counted in ``dropped``.
        """
        return EventStream(self, buffer_size)

    def statistics(self) -> dict[WsKey, ConnectionStatistics]:
        """Counters of every connection (a synchronous snapshot)."""
        return {key: conn.statistics() for key, conn in self._connections.items()}

    async def aclose(self) -> None:
        """Close every connection; iterators end, pending requests fail with ClosedError."""
        if self._closed:
            return
        self._closed = True
        with trio.CancelScope(shield=True):
            async with trio.open_nursery() as nursery:
                for conn in self._connections.values():
                    nursery.start_soon(conn.aclose)
            if self._token_source is not None:
                with trio.move_on_after(self.config.close_timeout):
                    await self._token_source.aclose()
        for listener in list(self._listeners):
            listener.close()
