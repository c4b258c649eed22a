"""``open_fake_kraken``: every fake server on loopback, and the handle tests drive them with."""

from __future__ import annotations

import base64
import math
import random
import ssl
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from decimal import Decimal
from functools import partial
from typing import Any

import trio

from .._config import WsKey
from .._proto.auth import Credentials
from ._faults import Faults
from ._limits import Limits
from ._market import Market
from ._pairs import DEFAULT_PAIRS, PairSpec
from ._rest import RestServer, TokenStore
from ._rest_orders import QUERY_ORDERS_PATH, query_orders_route
from ._spot import SpotServer
from ._spot_hub import EngineLike, Exchange
from ._spot_servers import Level3Server, PrivateServer, PublicServer
from ._tls import FakeCA

__all__ = ["FakeKraken", "open_fake_kraken"]

_ON_TIME_PERIOD = 0.25
FUTURES_BALANCES: dict[str, Decimal] = {"USD": Decimal(100_000), "F-XBT:USD": Decimal(2)}
"""The futures account's starting funds: 100,000 USD in the flex wallet (linear contracts)
and 2 XBT in the ``F-XBT:USD`` single-collateral wallet (inverse ``PI_XBTUSD``)."""


def _credentials(seed: int) -> tuple[str, str]:
    rng = random.Random(f"kraken-trio-fake-credentials-{seed}")
    key = base64.b64encode(rng.randbytes(42)).decode()
    secret = base64.b64encode(rng.randbytes(64)).decode()
    return key, secret


def _make_engine(market: Market, balances: Mapping[str, Decimal] | None) -> EngineLike | None:
    try:
        from ._engine import Engine  # the matching engine (another module of this package)
    except ImportError:  # pragma: no cover - only while the engine is being written
        return None
    engine: EngineLike = Engine(market, default_balances=balances)  # type: ignore[arg-type,unused-ignore]
    return engine


def _futures_class() -> Any:
    try:
        from ._futures import FuturesExchange
    except ImportError:  # pragma: no cover - only while the futures server is being written
        return None
    return FuturesExchange


class FakeKraken:
    """A running fake Kraken exchange; made by :func:`open_fake_kraken`.

    Attributes:
        endpoints: The ``ws://`` (``wss://`` with ``tls=True``) URL of every
            :class:`~kraken_trio.WsKey` (both futures keys map to the one futures server, as
            on the real exchange).
        rest_url: Base URL of the REST server (``http://127.0.0.1:<port>``, or
            ``https://`` with ``tls=True``).
        futures_rest_url: Base URL of the Futures REST API, in place of
            ``https://futures.kraken.com/derivatives`` (``<rest_url>/derivatives``; the
            endpoints are under ``/api/v3/``).
        api_key: A valid API key (its account is open, with default balances).
        market: The synthetic market.
        engine: The matching engine (None only if it is not available).
        exchange: What the spot servers share (market, engine, tokens).
        rest: The REST server (``rest.faults``, ``rest.received``).
        public, beta_public, private, beta_private, level3: The spot servers.
        futures: The futures server (None if not available).
        ca_file: With ``tls=True``, the path of the throwaway CA certificate (PEM) that
            signed every server's certificate: point ``SSL_CERT_FILE`` (or a client's own
            CA option) at it. None without TLS.
        ssl_context: With ``tls=True``, a client :class:`ssl.SSLContext` trusting that CA
            (pass it to ``open_kraken(ssl_context=...)``). None without TLS.
    """

    def __init__(
        self,
        *,
        exchange: Exchange,
        rest: RestServer,
        spot: Mapping[WsKey, SpotServer],
        futures: Any,
        endpoints: dict[WsKey, str],
        api_key: str,
        api_secret: str,
        credentials: dict[str, str],
        ca: FakeCA | None = None,
    ) -> None:
        self.exchange = exchange
        self.market = exchange.market
        self.engine = exchange.engine
        self.rest = rest
        self.rest_url = rest.url
        self.futures_rest_url = f"{rest.url}/derivatives"
        self._spot = dict(spot)
        self.futures = futures
        self.endpoints = endpoints
        self.api_key = api_key
        self._api_secret = api_secret
        self._credentials = credentials
        self.public = self._spot[WsKey.SPOT_PUBLIC_V2]
        self.beta_public = self._spot[WsKey.SPOT_BETA_PUBLIC_V2]
        self.private = self._spot[WsKey.SPOT_PRIVATE_V2]
        self.beta_private = self._spot[WsKey.SPOT_BETA_PRIVATE_V2]
        self.level3 = self._spot[WsKey.SPOT_L3_V2]
        self.ca_file: str | None = ca.ca_file if ca is not None else None
        self.ssl_context: ssl.SSLContext | None = ca.client_context() if ca is not None else None

    @property
    def limits(self) -> Limits:
        """The request and subscription limits every server enforces (and their refusals)."""
        return self.exchange.limits

    def __repr__(self) -> str:
        return (
            f"FakeKraken(rest_url={self.rest_url!r}, "
            f"public={self.endpoints.get(WsKey.SPOT_PUBLIC_V2)!r}, "
            f"api_key={self.credentials!r})"
        )

    @property
    def api_secret(self) -> str:
        """The base64 secret matching :attr:`api_key` (never shown in reprs)."""
        return self._api_secret

    @property
    def credentials(self) -> Credentials:
        """:attr:`api_key` and :attr:`api_secret` as a :class:`Credentials`."""
        return Credentials(self.api_key, self._api_secret)

    def server(self, key: WsKey) -> Any:
        """The server behind ``key`` (a spot server, or the futures server)."""
        if key.is_futures:
            if self.futures is None:
                raise LookupError("the futures server is not available in this build")
            return self.futures
        return self._spot[key]

    def faults(self, key: WsKey) -> Any:
        """The fault switches of the server behind ``key``.

        Spot keys give a :class:`~kraken_trio.testing.Faults`; the futures keys give the
        futures server's faults object, which shares ``drop``, ``send_raw``, ``refuse``,
        ``restart``, ``reject_next_auth``, ``stall_pongs`` and ``delay``.
        """
        return self.server(key).faults

    def spot_faults(self, key: WsKey) -> Faults:
        """:meth:`faults` for a spot key, typed."""
        if key.is_futures:
            raise ValueError(f"{key} is not a spot endpoint")
        return self._spot[key].faults

    def received(self, key: WsKey) -> list[Any]:
        """Every frame the server behind ``key`` received, in order.

        Spot servers record :class:`~kraken_trio.testing.Received` items.
        """
        received: list[Any] = self.server(key).received
        return received

    def set_system_status(self, system: str) -> None:
        """Send a ``status`` update with ``system`` on every spot endpoint (and on connect).

        Only the status messages change; the matching engine keeps trading.
        """
        for server in self._spot.values():
            server.set_system_status(system)

    def new_account(self, balances: Mapping[str, Decimal] | None = None) -> Credentials:
        """Open another account with its own API key (each key is one account)."""
        key, secret = _credentials(random.getrandbits(64))
        self._credentials[key] = secret
        if self.engine is not None:
            self.engine.open_account(key, balances)
        return Credentials(key, secret)

    def fill_order(self, order_id: str, qty: Decimal | str, price: Decimal | str) -> None:
        """Fill ``qty`` of an open order at ``price`` now, whatever the market does.

        The executions events go to whoever is subscribed at this moment: inside
        :meth:`private_link_down` nobody is, so a client learns of the fill only by
        reconciling after it reconnects.

        Raises:
            KeyError: no open order has this id.
            ValueError: ``qty`` is not positive or exceeds what remains.
        """
        engine = self._engine()
        engine.force_fill(order_id, Decimal(qty), Decimal(price), time.time())
        self.exchange.pump()

    def cancel_order(self, order_id: str, reason: str = "User requested") -> None:
        """Cancel an open order now (see :meth:`fill_order` for who hears of it).

        Raises:
            KeyError: no open order has this id.
        """
        self._engine().force_cancel(order_id, time.time(), reason)
        self.exchange.pump()

    @asynccontextmanager
    async def private_link_down(
        self, keys: Iterable[WsKey] = (WsKey.SPOT_PRIVATE_V2, WsKey.SPOT_BETA_PRIVATE_V2)
    ) -> AsyncIterator[None]:
        """Drop every connection of the private endpoints and refuse new ones in the block.

        Whatever happens to orders meanwhile (:meth:`fill_order`, :meth:`cancel_order`) is
        sent to nobody; clients may reconnect once the block exits.
        """
        faults = [self.spot_faults(key) for key in keys]
        for f in faults:
            f.refuse(math.inf)
        try:
            for f in faults:
                await f.drop()
            yield
        finally:
            for f in faults:
                f.refuse(0)

    def _engine(self) -> Any:
        if self.engine is None:
            raise LookupError("the matching engine is not available in this build")
        return self.engine

    def step_now(self) -> None:
        """Advance the market once and deliver what it caused, synchronously."""
        now = time.time()
        moved = self.market.step(now)
        engine = self.engine
        if engine is not None:
            for symbol in moved:
                engine.on_market(symbol, now)
            self.exchange.pump()

    async def step(self, n: int = 1, *, futures: bool = True) -> None:
        """Advance the spot market (and the futures market) ``n`` times.

        Frames caused by a step are queued to every spot subscriber before this returns.
        A checkpoint after each step.

        Args:
            n: How many steps.
            futures: Also step the futures server's market.
        """
        for _ in range(n):
            self.step_now()
            if futures and self.futures is not None:
                await self.futures.step()
            await trio.lowlevel.checkpoint()


async def _run_market(fake: FakeKraken, interval: float) -> None:
    while True:
        await trio.sleep(interval)
        fake.step_now()


async def _run_timers(exchange: Exchange) -> None:
    engine = exchange.engine
    if engine is None:
        return
    while True:
        expiry = engine.next_deadman_expiry()
        wait = _ON_TIME_PERIOD
        if expiry is not None:
            wait = max(0.0, min(wait, expiry - time.time()))
        changed = exchange.deadman_changed
        with trio.move_on_after(wait):
            await changed.wait()
        engine.on_time(time.time())
        exchange.pump()


@asynccontextmanager
async def open_fake_kraken(
    *,
    seed: int = 0,
    pairs: Iterable[PairSpec] = DEFAULT_PAIRS,
    update_interval: float | None = 0.05,
    api_key: str | None = None,
    api_secret: str | None = None,
    balances: Mapping[str, Decimal] | None = None,
    heartbeat_interval: float = 1.0,
    show_engine_orders: bool = True,
    host: str = "127.0.0.1",
    base_port: int = 0,
    tls: bool = False,
) -> AsyncIterator[FakeKraken]:
    """Run a fake Kraken exchange on loopback for the duration of the block.

    Starts the spot public, beta public, private, beta private and level3 WebSocket servers,
    the futures server and the REST server, each on its own port, plus the market clock and
    the matching engine's timers, all inside one nursery. Leaving the block stops them all.

    Args:
        seed: Seeds the market (books, changes, trades) and the default credentials.
        pairs: The pairs the market trades.
        update_interval: Seconds between market steps; 0 or None steps only when the test
            calls :meth:`FakeKraken.step`.
        api_key: The API key of the default account (default: derived from ``seed``).
        api_secret: Its base64 secret (default: 64 bytes derived from ``seed``).
        balances: Starting balances of new accounts (default: the engine's).
        heartbeat_interval: Idle seconds before a subscribed connection gets a heartbeat.
        show_engine_orders: Show resting orders placed through the private endpoints in the
            public book and level3 (they never trade against the synthetic market's takers;
            the engine fills them when the market trades through their price).
        host: Interface to bind.
        base_port: 0 for ephemeral ports; otherwise the servers take ``base_port`` (public),
            +1 (private), +2 (level3), +3 (beta public), +4 (beta private), +5 (REST),
            +6 (futures).
        tls: Serve ``wss://`` and ``https://`` with certificates from a throwaway CA (for
            ``127.0.0.1``, ``localhost``, ``::1`` and ``host``) whose PEM file is
            :attr:`FakeKraken.ca_file` (removed when the block ends). Needs ``trustme``
            (``pip install 'kraken-trio[testing]'``).

    Yields:
        The running :class:`FakeKraken`.
    """
    default_key, default_secret = _credentials(seed)
    key = api_key or default_key
    secret = api_secret or default_secret
    Credentials(key, secret)  # validates the secret (base64) without echoing it
    now = time.time()
    pairs = list(pairs)
    market = Market(seed=seed, pairs=pairs, now=now, step_seconds=update_interval or 0.05)
    engine = _make_engine(market, balances)
    if engine is not None:
        engine.open_account(key, balances)
    tokens = TokenStore()
    credentials = {key: secret}
    exchange = Exchange(market, engine, tokens, show_engine_orders=show_engine_orders)
    spot: dict[WsKey, SpotServer] = {
        WsKey.SPOT_PUBLIC_V2: PublicServer(
            "spot public", exchange, heartbeat_interval=heartbeat_interval
        ),
        WsKey.SPOT_PRIVATE_V2: PrivateServer(
            "spot private", exchange, heartbeat_interval=heartbeat_interval
        ),
        WsKey.SPOT_L3_V2: Level3Server(
            "spot level3", exchange, heartbeat_interval=heartbeat_interval
        ),
        WsKey.SPOT_BETA_PUBLIC_V2: PublicServer(
            "spot beta public", exchange, heartbeat_interval=heartbeat_interval
        ),
        WsKey.SPOT_BETA_PRIVATE_V2: PrivateServer(
            "spot beta private", exchange, heartbeat_interval=heartbeat_interval
        ),
    }
    rest = RestServer(tokens, credentials, pairs)
    ca = FakeCA([host]) if tls else None
    if engine is not None:
        rest.private_routes[QUERY_ORDERS_PATH] = query_orders_route(engine)  # type: ignore[arg-type]
    user_error: BaseException | None = None
    try:
        async with trio.open_nursery() as nursery:
            fake = await _start(
                nursery,
                exchange=exchange,
                rest=rest,
                spot=spot,
                credentials=credentials,
                seed=seed,
                key=key,
                secret=secret,
                host=host,
                base_port=base_port,
                update_interval=update_interval,
                ca=ca,
            )
            try:
                yield fake
            except BaseException as exc:
                user_error = exc
                raise
            finally:
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        # The servers stop quietly when cancelled, so a group here normally holds only the
        # caller's own exception: give it back unwrapped. Anything else is a real failure.
        if user_error is None or not _only(group, user_error):
            raise
    finally:
        if ca is not None:
            ca.close()
    if user_error is not None:
        raise user_error


def _only(group: BaseExceptionGroup[BaseException], error: BaseException) -> bool:
    """True when every leaf of ``group`` is ``error`` or a Cancelled."""
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            if not _only(exc, error):
                return False
        elif exc is not error and not isinstance(exc, trio.Cancelled):
            return False
    return True


async def _start(
    nursery: trio.Nursery,
    *,
    exchange: Exchange,
    rest: RestServer,
    spot: dict[WsKey, SpotServer],
    credentials: dict[str, str],
    seed: int,
    key: str,
    secret: str,
    host: str,
    base_port: int,
    update_interval: float | None,
    ca: FakeCA | None,
) -> FakeKraken:
    server_context = ca.server_context() if ca is not None else None
    endpoints: dict[WsKey, str] = {}
    for offset, (ws_key, server) in enumerate(spot.items()):
        port = base_port + offset if base_port else 0
        endpoints[ws_key] = await nursery.start(
            partial(server.run, host=host, port=port, ssl_context=server_context)
        )
    rest_port = base_port + len(spot) if base_port else 0
    await nursery.start(partial(rest.run, host=host, port=rest_port, ssl_context=server_context))
    futures: Any = None
    futures_class = _futures_class()
    if futures_class is not None:
        # Integration point with the futures server (kraken_trio/testing/_futures.py).
        futures = futures_class(
            seed=seed,
            api_key=key,
            api_secret=secret,
            update_interval=update_interval or None,
            balances=FUTURES_BALANCES,
        )
        futures.limits = exchange.limits
        futures_port = base_port + len(spot) + 1 if base_port else 0
        futures_url: str = await nursery.start(
            partial(futures.run, host=host, port=futures_port, ssl_context=server_context)
        )
        endpoints[WsKey.DERIVATIVES_PUBLIC_V1] = futures_url
        endpoints[WsKey.DERIVATIVES_PRIVATE_V1] = futures_url
        rest.derivatives = futures.rest.handle  # Futures REST under /derivatives/api/v3/
    fake = FakeKraken(
        exchange=exchange,
        rest=rest,
        spot=spot,
        futures=futures,
        endpoints=endpoints,
        api_key=key,
        api_secret=secret,
        credentials=credentials,
        ca=ca,
    )
    if update_interval:
        nursery.start_soon(_run_market, fake, update_interval)
    nursery.start_soon(_run_timers, exchange)
    return fake
