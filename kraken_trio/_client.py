"""``open_kraken()`` and the client object users hold."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import fields, replace
from types import TracebackType
from typing import Any, Self

import trio

from ._config import Config, WsKey
from ._connection import FUTURES_PRIVATE_FEEDS, Connection, ConnectionStatistics, LifecycleEvent
from ._errors import ClosedError, InvalidRequestError, KrakenError
from ._proto import spot as s
from ._proto.auth import Credentials
from ._rest import TokenSource
from ._subscription import OverflowPolicy, Subscription

__all__ = ["EventStream", "KrakenClient", "open_kraken"]

log = logging.getLogger("kraken_trio")

SPOT_PUBLIC_CHANNELS = frozenset({"ticker", "book", "trade", "ohlc", "instrument"})
SPOT_PRIVATE_CHANNELS = frozenset({"executions", "balances"})
SPOT_SYMBOL_CHANNELS = frozenset({"ticker", "book", "trade", "ohlc", "level3"})
FUTURES_PUBLIC_FEEDS = frozenset({"book", "ticker", "ticker_lite", "trade", "heartbeat"})
_BOOK_DEPTHS = frozenset({10, 25, 100, 500, 1000})
_L3_DEPTHS = frozenset({10, 100, 1000})
_OHLC_INTERVALS = frozenset({1, 5, 15, 30, 60, 240, 1440, 10080, 21600})
_CONFIG_FIELDS = frozenset(f.name for f in fields(Config)) - {"endpoints", "rest_url"}


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
        self._closed = False

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
        limit = self.config.connect_timeout + self.config.auth_timeout
        if conn.key.is_private:
            limit += self.config.rest_timeout
        with trio.move_on_after(limit) as scope:
            await conn.wait_ready()
        if scope.cancelled_caught:
            from ._errors import RequestTimeoutError

            raise RequestTimeoutError("connect", None, sent=False)

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
        key, symbols, wire_params = self._plan_subscription(channel, ws_key, params)
        if key.is_private and self.credentials is None:
            raise InvalidRequestError(
                f"{channel} is private: open_kraken needs api_key and api_secret for {key}"
            )
        return Subscription(
            lambda: self.connection(key),
            channel,
            symbols,
            wire_params,
            buffer_size=buffer_size or self.config.buffer_size,
            on_overflow=on_overflow,
        )

    def _plan_subscription(
        self, channel: str, ws_key: WsKey | None, params: dict[str, Any]
    ) -> tuple[WsKey, list[str | None], dict[str, Any]]:
        params = dict(params)
        if not isinstance(channel, str) or not channel:
            raise InvalidRequestError(f"channel must be a non-empty string, got {channel!r}")
        futures = (
            (ws_key is not None and WsKey(ws_key).is_futures)
            or "product_ids" in params
            or channel in {"ticker_lite", "heartbeat"}
            or (channel in FUTURES_PRIVATE_FEEDS and channel != "balances")
        )
        if futures:
            if channel not in FUTURES_PUBLIC_FEEDS | FUTURES_PRIVATE_FEEDS:
                raise InvalidRequestError(
                    f"unknown futures feed {channel!r}; known: "
                    f"{sorted(FUTURES_PUBLIC_FEEDS | FUTURES_PRIVATE_FEEDS)}"
                )
            private = channel in FUTURES_PRIVATE_FEEDS
            key = (
                WsKey(ws_key)
                if ws_key is not None
                else (WsKey.DERIVATIVES_PRIVATE_V1 if private else WsKey.DERIVATIVES_PUBLIC_V1)
            )
            if private and key != WsKey.DERIVATIVES_PRIVATE_V1:
                raise InvalidRequestError(
                    f"futures feed {channel!r} is private: use {WsKey.DERIVATIVES_PRIVATE_V1}"
                )
            products = params.pop("product_ids", None)
            if params:
                raise InvalidRequestError(
                    f"unknown parameter(s) {sorted(params)} for futures feed {channel!r}; "
                    "futures feeds take product_ids only"
                )
            if channel in FUTURES_PUBLIC_FEEDS and channel != "heartbeat":
                products_list: list[str | None] = list(
                    _symbol_list(products, "product_ids", channel)
                )
                return key, products_list, {}
            if products is not None and channel != "fills":
                raise InvalidRequestError(f"futures feed {channel!r} takes no product_ids")
            return key, [None], {}
        # Spot
        known = SPOT_PUBLIC_CHANNELS | SPOT_PRIVATE_CHANNELS | {"level3"}
        if channel not in known:
            raise InvalidRequestError(f"unknown spot channel {channel!r}; known: {sorted(known)}")
        if ws_key is None:
            if channel in SPOT_PRIVATE_CHANNELS:
                key = WsKey.SPOT_PRIVATE_V2
            elif channel == "level3":
                key = WsKey.SPOT_L3_V2
            else:
                key = WsKey.SPOT_PUBLIC_V2
        else:
            key = WsKey(ws_key)
            if key.is_futures:
                raise InvalidRequestError(
                    f"{key} is a futures endpoint; {channel!r} is a spot channel"
                )
        if "token" in params:
            raise InvalidRequestError("do not pass token: the client fetches and renews it itself")
        symbols_param = params.pop("symbol", None)
        if channel in SPOT_SYMBOL_CHANNELS:
            symbols: list[str | None] = list(_symbol_list(symbols_param, "symbol", channel))
        else:
            if symbols_param is not None:
                raise InvalidRequestError(f"channel {channel!r} takes no symbol")
            symbols = [None]
        if channel == "book" and params.get("depth", 10) not in _BOOK_DEPTHS:
            raise InvalidRequestError(
                f"book depth must be one of {sorted(_BOOK_DEPTHS)}, got {params['depth']!r}"
            )
        if channel == "level3" and params.get("depth", 10) not in _L3_DEPTHS:
            raise InvalidRequestError(
                f"level3 depth must be one of {sorted(_L3_DEPTHS)}, got {params['depth']!r}"
            )
        if channel == "ohlc" and params.get("interval", 1) not in _OHLC_INTERVALS:
            raise InvalidRequestError(
                f"ohlc interval must be one of {sorted(_OHLC_INTERVALS)} minutes, "
                f"got {params['interval']!r}"
            )
        if channel == "ticker" and params.get("event_trigger", "trades") not in ("bbo", "trades"):
            raise InvalidRequestError(
                f"ticker event_trigger must be 'bbo' or 'trades', got {params['event_trigger']!r}"
            )
        try:
            s.SubscribeParams(channel=channel, **params)
        except TypeError as exc:
            raise InvalidRequestError(f"bad parameter for channel {channel!r}: {exc}") from None
        return key, symbols, params

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


def _symbol_list(value: Any, name: str, channel: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not value:
        raise InvalidRequestError(
            f"{channel} needs {name}: a non-empty list of strings, got {value!r}"
        )
    if not all(isinstance(v, str) and v for v in value):
        raise InvalidRequestError(f"{name} must be non-empty strings, got {value!r}")
    if len(set(value)) != len(value):
        raise InvalidRequestError(f"{name} lists a symbol twice: {value!r}")
    return list(value)


@asynccontextmanager
async def open_kraken(
    api_key: str | None = None,
    api_secret: str | None = None,
    *,
    endpoints: Mapping[WsKey, str] | Mapping[str, str] | None = None,
    rest_url: str | None = None,
    config: Config | None = None,
    **timeouts: Any,
) -> AsyncIterator[KrakenClient]:
    """Open a Kraken client that owns one supervised task per connection.

    Connections open lazily on first use (or with :meth:`KrakenClient.connect`). Leaving the
    block closes every connection (close frames sent), ends every iterator and leaves no
    task behind.

    Args:
        api_key: Kraken API key, for private channels and trading.
        api_secret: Kraken API secret (base64). Never logged or shown in a repr.
        endpoints: Override WebSocket URLs per WsKey (tests point these at the fake).
        rest_url: Override the REST base URL used for WebSocket tokens.
        config: A whole :class:`Config`; keyword overrides apply on top of it.
        **timeouts: Any :class:`Config` field, e.g. ``ping_interval=5``.

    Raises:
        InvalidRequestError: unknown option, bad value or incomplete credentials.
    """
    base = config or Config()
    unknown = set(timeouts) - _CONFIG_FIELDS
    if unknown:
        raise InvalidRequestError(f"unknown open_kraken option(s): {sorted(unknown)}")
    merged = dict(base.endpoints)
    overrides: Mapping[Any, str] = endpoints or {}
    for k, url in overrides.items():
        try:
            merged[WsKey(k)] = url
        except ValueError:
            raise InvalidRequestError(f"unknown WsKey {k!r} in endpoints") from None
    try:
        cfg = replace(base, endpoints=merged, rest_url=rest_url or base.rest_url, **timeouts)
    except (ValueError, TypeError) as exc:
        raise InvalidRequestError(str(exc)) from None
    if (api_key is None) != (api_secret is None):
        raise InvalidRequestError("pass both api_key and api_secret, or neither")
    try:
        credentials = Credentials(api_key, api_secret) if api_key and api_secret else None
    except ValueError as exc:
        raise InvalidRequestError(str(exc)) from None
    to_raise: BaseException | None = None
    try:
        async with trio.open_nursery() as nursery:
            client = KrakenClient(nursery, cfg, credentials)
            try:
                yield client
            finally:
                await client.aclose()
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        to_raise = _unwrap(group)
    if to_raise is not None:
        try:
            raise to_raise
        finally:
            to_raise = None


def _unwrap(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one exception to raise for a nursery's group."""
    leaves: list[BaseException] = []

    def walk(exc: BaseException) -> None:
        if isinstance(exc, BaseExceptionGroup):
            for inner in exc.exceptions:
                walk(inner)
        elif not isinstance(exc, trio.Cancelled):
            leaves.append(exc)

    walk(group)
    if len(leaves) == 1:
        return leaves[0]
    if not leaves:
        return group
    error = KrakenError(f"internal error: {len(leaves)} failures in kraken_trio's tasks")
    error.__cause__ = group
    return error
