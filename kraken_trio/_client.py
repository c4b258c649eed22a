"""``open_kraken()`` and the client object users hold."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime
from decimal import Decimal
from types import TracebackType
from typing import Any, Literal, Self, overload

import trio

from ._config import Config, WsKey
from ._connection import Connection
from ._errors import (
    ClosedError,
    InvalidRequestError,
    KrakenAPIError,
    KrakenError,
    RequestTimeoutError,
)
from ._events import ConnectionStatistics, Gap, LifecycleEvent
from ._localbook import LocalBook, OrderBooks
from ._orders import OrderTracker, track_orders
from ._pacing import admit, learn, params_of, refused
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
from ._rest import TokenSource
from ._subscription import OverflowPolicy, Subscription
from ._trading import (
    build_add_order,
    build_amend_order,
    build_batch_add,
    build_batch_cancel,
    build_cancel_order,
    build_edit_order,
    check_cancel_after,
    check_pair_limits,
)

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


class DeadMansSwitch:
    """State of an armed dead man's switch (see :meth:`KrakenClient.dead_mans_switch`).

    Attributes:
        timeout: The armed timeout in seconds.
        armed: False once disarmed on exit.
        refreshes: Successful refreshes so far.
        failures: Refreshes that failed (each also an ``exception`` lifecycle event).
        trigger_time: When Kraken would cancel everything if no refresh came.
    """

    def __init__(self, timeout: int) -> None:
        self.timeout = timeout
        self.armed = True
        self.refreshes = 0
        self.failures: list[BaseException] = []
        self.trigger_time: datetime | None = None

    def __repr__(self) -> str:
        return (
            f"<DeadMansSwitch timeout={self.timeout} armed={self.armed} refreshes={self.refreshes}>"
        )


class KrakenClient:
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
                self.credentials, self.config.rest_url, self.config.rest_timeout
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

    # ----------------------------------------------------------------- trading (WebSocket API)

    async def _trade(
        self,
        method: str,
        params: s._Out,
        *,
        expected: int = 1,
        open_ended: bool = False,
        cl_ord_id: str | None = None,
        ws_key: WsKey = WsKey.SPOT_PRIVATE_V2,
        order_userref: int | None = None,
        wait_for_link: bool = True,
    ) -> list[Any]:
        if self.credentials is None:
            raise InvalidRequestError(f"{method} needs api_key and api_secret")
        conn = self._connections.get(ws_key)
        if conn is None or self._closed or conn.key not in TRADING_KEYS:
            key = WsKey(ws_key)
            if key not in TRADING_KEYS:
                raise InvalidRequestError(f"trading goes over a spot private endpoint, not {key}")
            conn = self.connection(key)
        governor = self.rate_governor
        fields = params_of(params)
        costs = await admit(
            governor, self.config.rate_limit, method, fields, self.config.request_timeout
        )
        try:
            replies = await conn.request(
                method,
                params,
                expected=expected,
                open_ended=open_ended,
                cl_ord_id=cl_ord_id,
                order_userref=order_userref,
                wait_for_link=wait_for_link,
            )
        except KrakenAPIError as exc:
            refused(governor, exc, fields, costs)
            raise
        learn(governor, method, fields, replies, trio.current_time())
        return replies

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

    def rate_counter(self, symbol: str) -> float:
        """The modelled trading rate counter of ``symbol`` now (for dashboards).

        Kraken's counter per pair, as this client models it from its own requests (see
        :class:`Config` ``rate_tier``); 0 for a pair it has not traded.
        """
        return self.rate_governor.value(symbol, trio.current_time())

    def _check_pair_limits(self, symbol: str, orders: Sequence[tuple[str, s.BatchOrder]]) -> None:
        """Once the instrument channel was read, check ``orders`` against the pair's limits."""
        pair = (self._pairs or {}).get(symbol)
        if pair is not None:
            for what, order in orders:
                check_pair_limits(what, order, pair)

    async def add_order(
        self,
        *,
        order_type: str,
        side: str,
        symbol: str,
        order_qty: Decimal | int | str | None = None,
        limit_price: Decimal | int | str | None = None,
        ws_key: WsKey = WsKey.SPOT_PRIVATE_V2,
        **options: Any,
    ) -> s.AddOrderResult:
        """Place an order (Kraken ``add_order``; @siebly/kraken-api ``submitSpotOrder``).

        Keyword arguments are Kraken's parameter names: ``limit_price_type``, ``triggers``
        (``{"price": Decimal, "reference": "last", "price_type": "static"}``),
        ``time_in_force`` (``gtc``/``gtd``/``ioc``), ``expire_time``, ``deadline``,
        ``post_only``, ``reduce_only``, ``display_qty``, ``fee_preference``, ``stp_type``,
        ``cash_order_qty``, ``order_userref``, ``cl_ord_id``, ``conditional``, ``validate``...
        Prices and quantities are ``Decimal`` (or int / numeric str), never float.

        A checkpoint. Cancellation before the frame is handed to the connection's writer
        means nothing was sent; after it, the order may be live: reconcile it from the
        ``executions`` stream by ``cl_ord_id``.

        Returns:
            The result; ``.order_id`` is Kraken's id.

        Raises:
            InvalidRequestError: a field failed the local checks (nothing was sent); once the
                ``instrument`` channel has been read (:meth:`instrument_pairs`, or any
                :meth:`book`), these include the pair's tick size, ``qty_min`` and ``cost_min``.
            KrakenAPIError: Kraken refused the order (its text, method and req_id).
            RequestTimeoutError: no reply within the request deadline (may be live).
            ConnectionLostError: the link dropped with the request in flight (may be live;
                never resent).
        """
        params = build_add_order(
            {
                "order_type": order_type,
                "side": side,
                "symbol": symbol,
                "order_qty": order_qty,
                "limit_price": limit_price,
                **options,
            }
        )
        self._check_pair_limits(params.symbol, [("add_order", params)])
        (reply,) = await self._trade(
            "add_order",
            params,
            cl_ord_id=params.cl_ord_id,
            order_userref=params.order_userref,
            ws_key=ws_key,
        )
        result: s.AddOrderResult = reply.result
        return result

    async def amend_order(
        self, *, ws_key: WsKey = WsKey.SPOT_PRIVATE_V2, **fields: Any
    ) -> s.AmendOrderResult:
        """Amend an order in place (Kraken ``amend_order``; siebly ``amendSpotOrder``).

        Needs ``order_id`` or ``cl_ord_id`` and the new total ``order_qty``; optional
        ``limit_price``, ``display_qty``, ``trigger_price``, ``post_only``, ``deadline``...
        Queue priority is kept where possible. Cancellation semantics as :meth:`add_order`.

        Raises:
            InvalidRequestError, KrakenAPIError, RequestTimeoutError, ConnectionLostError.
        """
        params = build_amend_order(fields)
        (reply,) = await self._trade(
            "amend_order", params, cl_ord_id=params.cl_ord_id, ws_key=ws_key
        )
        result: s.AmendOrderResult = reply.result
        return result

    async def edit_order(
        self, *, ws_key: WsKey = WsKey.SPOT_PRIVATE_V2, **fields: Any
    ) -> s.EditOrderResult:
        """Cancel and replace an order (Kraken ``edit_order``; a new order id).

        Needs ``order_id`` and ``symbol``; plus what changes (``order_qty``,
        ``limit_price``, ``triggers``, ...). Queue priority is lost.

        Raises:
            InvalidRequestError, KrakenAPIError, RequestTimeoutError, ConnectionLostError.
        """
        params = build_edit_order(fields)
        (reply,) = await self._trade("edit_order", params, ws_key=ws_key)
        result: s.EditOrderResult = reply.result
        return result

    async def cancel_order(
        self,
        *,
        order_id: str | Sequence[str] | None = None,
        cl_ord_id: str | Sequence[str] | None = None,
        order_userref: int | Sequence[int] | None = None,
        ws_key: WsKey = WsKey.SPOT_PRIVATE_V2,
    ) -> list[s.CancelOrderResult]:
        """Cancel orders (Kraken ``cancel_order``; siebly ``cancelSpotOrder``).

        Kraken answers once per order; this returns when every order named is answered.

        Raises:
            KrakenAPIError: at least one order could not be cancelled (all texts joined).
            InvalidRequestError, RequestTimeoutError, ConnectionLostError.
        """
        params, count = build_cancel_order(order_id, cl_ord_id, order_userref)
        # One userref may name several orders: how many replies come is not known then.
        replies = await self._trade(
            "cancel_order",
            params,
            expected=count,
            open_ended=params.order_userref is not None,
            ws_key=ws_key,
        )
        return [r.result for r in replies]

    async def cancel_all(self, *, ws_key: WsKey = WsKey.SPOT_PRIVATE_V2) -> int:
        """Cancel every open order, untriggered ones included; returns how many.

        Raises:
            KrakenAPIError, RequestTimeoutError, ConnectionLostError.
        """
        (reply,) = await self._trade("cancel_all", s.CancelAllParams(), ws_key=ws_key)
        return int(reply.result.count)

    async def cancel_all_orders_after(
        self, timeout: int, *, ws_key: WsKey = WsKey.SPOT_PRIVATE_V2
    ) -> s.CancelAllOrdersAfterResult:
        """Arm (or with 0 disarm) the dead man's switch (Kraken ``cancel_all_orders_after``).

        Raises:
            InvalidRequestError, KrakenAPIError, RequestTimeoutError, ConnectionLostError.
        """
        return await self._cancel_after(timeout, ws_key)

    async def _cancel_after(
        self, timeout: int, ws_key: WsKey, *, wait_for_link: bool = True
    ) -> s.CancelAllOrdersAfterResult:
        params = s.CancelAllOrdersAfterParams(timeout=check_cancel_after(timeout))
        (reply,) = await self._trade(
            "cancel_all_orders_after", params, ws_key=ws_key, wait_for_link=wait_for_link
        )
        result: s.CancelAllOrdersAfterResult = reply.result
        return result

    async def batch_add(
        self,
        *,
        symbol: str,
        orders: Sequence[Mapping[str, Any] | s.BatchOrder],
        deadline: Any = None,
        validate: bool | None = None,
        ws_key: WsKey = WsKey.SPOT_PRIVATE_V2,
    ) -> list[s.BatchAddResult]:
        """Place 2-15 orders on one symbol (Kraken ``batch_add``).

        Each order is a mapping of add_order's fields (without symbol). The result lists
        one element per order in request order; an element whose ``error`` is set was
        refused alone by the engine while the others were placed.

        Raises:
            InvalidRequestError, KrakenAPIError (the whole batch refused),
            RequestTimeoutError, ConnectionLostError.
        """
        params = build_batch_add(symbol, orders, deadline, validate)
        self._check_pair_limits(
            params.symbol, [(f"orders[{i}]", order) for i, order in enumerate(params.orders)]
        )
        (reply,) = await self._trade("batch_add", params, ws_key=ws_key)
        return list(reply.result or [])

    async def batch_cancel(
        self,
        *,
        orders: Sequence[str] | None = None,
        cl_ord_id: Sequence[str] | None = None,
        ws_key: WsKey = WsKey.SPOT_PRIVATE_V2,
    ) -> int:
        """Cancel 2-50 orders by id / userref (as strings) or cl_ord_id; returns the count.

        Accepts both the documented ``result.count`` and the live ``orders_cancelled``.

        Raises:
            InvalidRequestError, KrakenAPIError, RequestTimeoutError, ConnectionLostError.
        """
        params = build_batch_cancel(orders, cl_ord_id)
        (reply,) = await self._trade("batch_cancel", params, ws_key=ws_key)
        return int(reply.count or 0)

    @asynccontextmanager
    async def dead_mans_switch(
        self, timeout: int = 60, refresh_every: float = 20, *, ws_key: WsKey = WsKey.SPOT_PRIVATE_V2
    ) -> AsyncIterator[DeadMansSwitch]:
        """Keep Kraken's dead man's switch armed for the duration of the block.

        Arms ``cancel_all_orders_after(timeout)``, refreshes it every ``refresh_every``
        seconds from a task in the client's nursery, and disarms it (timeout 0) on exit.
        A refresh that fails is logged, sent as an ``exception`` lifecycle event, counted
        on the yielded object and raised when the block exits.

        Raises:
            InvalidRequestError: ``refresh_every`` not below ``timeout``.
            KrakenError: arming failed, or a refresh failed during the block.
        """
        check_cancel_after(timeout)
        if (
            isinstance(refresh_every, bool)
            or not isinstance(refresh_every, int | float)
            or refresh_every != refresh_every  # NaN
            or timeout == 0
            or not 0 < refresh_every < timeout
        ):
            raise InvalidRequestError(
                f"need 0 < refresh_every < timeout, got refresh_every={refresh_every!r}, "
                f"timeout={timeout!r}"
            )
        switch = DeadMansSwitch(timeout)
        switch.trigger_time = (
            await self.cancel_all_orders_after(timeout, ws_key=ws_key)
        ).trigger_time

        async def refresher(task_status: trio.TaskStatus[trio.CancelScope]) -> None:
            with trio.CancelScope() as scope:
                task_status.started(scope)
                while True:
                    await trio.sleep(refresh_every)
                    try:
                        result = await self.cancel_all_orders_after(timeout, ws_key=ws_key)
                    except KrakenError as exc:
                        switch.failures.append(exc)
                        self.emit(
                            LifecycleEvent(
                                "exception",
                                WsKey(ws_key),
                                f"dead man's switch refresh failed: {exc}",
                                exc,
                            )
                        )
                    else:
                        switch.refreshes += 1
                        switch.trigger_time = result.trigger_time

        scope = await self._nursery.start(refresher)
        try:
            yield switch
        finally:
            scope.cancel()
            # Disarm: shielded (the caller may be leaving because it was cancelled) but
            # bounded by the close deadline, and without waiting for a link that is down.
            with trio.CancelScope(shield=True):
                with trio.move_on_after(self.config.close_timeout) as bounded:
                    try:
                        await self._cancel_after(0, ws_key, wait_for_link=False)
                        switch.armed = False
                    except KrakenError as exc:
                        log.error(  # noqa: TRY400 - the text says all; no traceback wanted
                            "[%s] could not disarm the dead man's switch: %s (Kraken cancels "
                            "every order at %s unless it is disarmed or refreshed)",
                            ws_key,
                            exc,
                            switch.trigger_time,
                        )
                if bounded.cancelled_caught:
                    log.error(
                        "[%s] could not disarm the dead man's switch within %ss (Kraken "
                        "cancels every order at %s unless it is disarmed or refreshed)",
                        ws_key,
                        self.config.close_timeout,
                        switch.trigger_time,
                    )
        if switch.failures:
            raise KrakenError(
                f"dead man's switch: {len(switch.failures)} refresh(es) failed; "
                f"first: {switch.failures[0]}"
            ) from switch.failures[0]

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
