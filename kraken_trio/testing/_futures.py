"""The Futures WebSocket v1 part of the fake Kraken exchange.

One :class:`FuturesExchange` is one server on loopback that speaks Kraken's Futures WebSocket v1
(``wss://futures.kraken.com/ws/v1``) as Kraken documents it:
public feeds (``book``, ``ticker``, ``ticker_lite``, ``trade``, ``heartbeat``) over a seeded
synthetic market, and private feeds behind the challenge handshake, driven by a scripted
:class:`FuturesAccount`. The real exchange serves public and private feeds on one URL, and so does
this server.

Choices where Kraken's documentation is silent (each is a guess, documented here once):

* ``{"event":"ping"}`` is answered with ``{"event":"pong"}`` (ccxt's Kraken Futures client handles
  such a ``pong`` event; nautilus tolerates it). WebSocket protocol pings are answered with pongs.
* A ``challenge`` request is answered with a challenge whatever the ``api_key`` (third-party
  reports say the venue issues one for any key without checking it); a wrong key, like a wrong
  signature, makes the following private subscribe fail with
  ``{"event":"alert","message":"Failed to subscribe to authenticated feed"}``. Private
  *unsubscribe* requests that fail authentication get the same alert.
* Subscribing again to a private feed already subscribed answers
  ``{"event":"alert","message":"Already subscribed to feed, re-requesting"}`` (seen in the wild),
  then the ack and a fresh snapshot. A public re-subscribe is acked again with a fresh snapshot.
* After a public ``ticker`` or ``ticker_lite`` ack the current ticker is sent at once; afterwards
  one ticker per product per market tick (Kraken throttles to one per second; the fake follows
  its own update rate so tests run fast).
* ``trade_snapshot`` lists the most recent trades (at most 100), newest first.
* A malformed request (not JSON, not an object, no ``event``, unknown ``event``, ``product_ids``
  missing or not a list of strings) gets ``{"event":"error","message":"Json Error"}``; an unknown
  feed ``"Invalid feed"``; an unknown product ``"Invalid product id"`` (other products of the same
  request are still acked). Unsubscribing a product that is not subscribed answers
  ``unsubscribed_failed`` for that product.
* ``open_positions`` has no separate snapshot feed: every message carries the whole position list
  with a ``seq``, as in Kraken's example. ``balances`` deltas carry the whole balance structure.
* A fill emits the ``open_orders``/``open_orders_verbose`` update first, then the ``fills`` message.
* A connection whose outbound queue overflows (a client that stops reading) is closed with code
  1008 ``"slow consumer"`` instead of losing messages silently.
* Idle connections stay open unless ``idle_timeout`` is set (Kraken asks for a ping at least
  every 60 s and may drop silent connections); then they are closed with 1001.
* The legacy private feeds ``account_balances_and_margins`` and ``deposits_withdrawals`` are not
  served: they get ``"Invalid feed"``.
* Timestamps follow the wall clock; everything else (prices, quantities, ``seq``, trade and order
  ids) is a function of the seed. Challenges are random UUIDs.
"""

from __future__ import annotations

import hmac
import itertools
import json
import random
import re
import socket
import struct
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final, Literal

import msgspec
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection
from wsproto import ConnectionType, WSConnection
from wsproto.events import Ping
from wsproto.utilities import LocalProtocolError

from kraken_trio._proto.auth import sign_futures_challenge
from kraken_trio.testing._faults import Faults, Received, ping_each
from kraken_trio.testing._limits import FUTURES_RATE_ALERT, Limits

__all__ = [
    "FUTURES_PATH",
    "FuturesAccount",
    "FuturesExchange",
    "FuturesFaults",
    "FuturesOrder",
    "FuturesProductSpec",
    "futures_product",
]

FUTURES_PATH: Final = "/ws/v1"
"""The URL path the server answers on, as on ``wss://futures.kraken.com/ws/v1``."""

PUBLIC_FEEDS: Final = frozenset({"book", "ticker", "ticker_lite", "trade", "heartbeat"})
PRIVATE_FEEDS: Final = frozenset(
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
_AUTH_ALERT: Final = "Failed to subscribe to authenticated feed"
_ALREADY_ALERT: Final = "Already subscribed to feed, re-requesting"
_QUEUE_SIZE: Final = 10_000
_CLOSE_BOUND: Final = 1.0

_ENCODER = msgspec.json.Encoder(decimal_format="number")
Number = Decimal | int | str


def _plain(value: Any) -> Any:
    """Decimals whose ``str`` uses exponent form (``1E-7``, ``0E-8``) as fixed-point JSON text."""
    if isinstance(value, Decimal):
        return msgspec.Raw(format(value, "f").encode()) if "E" in str(value) else value
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _encode(message: Mapping[str, Any]) -> str:
    return _ENCODER.encode(_plain(message)).decode()


def _now_ms() -> int:
    return int(time.time() * 1000)


def _dec(value: Number, what: str) -> Decimal:
    """Exact Decimal from a Decimal, int or decimal string; floats are refused (inexact)."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise TypeError(f"{what} must be a Decimal, int or str, not {type(value).__name__}")
    result = Decimal(value)
    if not result.is_finite():
        raise ValueError(f"{what} must be finite, got {value!r}")
    if result.as_tuple().exponent > 0:  # type: ignore[operator]
        result = result.quantize(Decimal(1))  # never an exponent on the wire
    return result


# --------------------------------------------------------------------------------------------
# Products


@dataclass(frozen=True, slots=True)
class FuturesProductSpec:
    """One futures product as the fake lists it.

    Attributes:
        product_id: Kraken's id, such as ``PI_XBTUSD``.
        pair: ``BASE:QUOTE`` as in the ticker's ``pair`` field.
        tag: ``perpetual`` or ``month``.
        tick_size: Price step.
        qty_step: Quantity step (1 for inverse contracts).
        start_price: Where the synthetic market starts.
        maturity_time: Expiry in ms since the epoch; 0 for perpetuals.
    """

    product_id: str
    pair: str
    tag: str
    tick_size: Decimal
    qty_step: Decimal
    start_price: Decimal
    maturity_time: int = 0

    @property
    def is_perpetual(self) -> bool:
        """True for perpetual contracts (they carry funding fields)."""
        return self.tag == "perpetual"


_PRODUCT_RE = re.compile(r"^(PI|PF|FI|FF)_([A-Z0-9]+?)(USDT|USDC|USD|EUR|GBP)(?:_(\d{6}))?$")
_START_PRICES: Final = {
    "XBT": Decimal(65000),
    "ETH": Decimal(3200),
    "SOL": Decimal(150),
    "XRP": Decimal("0.6"),
    "LTC": Decimal(80),
    "DOGE": Decimal("0.15"),
}


def futures_product(product_id: str) -> FuturesProductSpec:
    """Describe a product from its Kraken id.

    ``PI_``/``PF_`` ids are perpetuals (inverse/linear), ``FI_``/``FF_`` ids with a ``_YYMMDD``
    suffix are fixed-maturity contracts.

    Raises:
        ValueError: If the id does not look like a Kraken futures product id.
    """
    match = _PRODUCT_RE.match(product_id)
    if match is None:
        raise ValueError(f"not a Kraken futures product id: {product_id!r}")
    kind, base, quote, date = match.groups()
    perpetual = kind in ("PI", "PF")
    if perpetual == (date is not None):
        raise ValueError(
            f"{product_id!r}: PI_/PF_ ids take no maturity date, FI_/FF_ ids need _YYMMDD"
        )
    inverse = kind in ("PI", "FI")
    price = _START_PRICES.get(base, Decimal(100))
    if price >= 10000:
        tick, linear_step = (Decimal("0.5") if inverse else Decimal(1)), Decimal("0.0001")
    elif price >= 1000:
        tick, linear_step = (Decimal("0.05") if inverse else Decimal("0.1")), Decimal("0.001")
    elif price >= 10:
        tick, linear_step = Decimal("0.01"), Decimal("0.01")
    elif price >= 1:
        tick, linear_step = Decimal("0.001"), Decimal("0.1")
    else:
        tick, linear_step = Decimal("0.0001"), Decimal(1)
    maturity = 0
    if date is not None:
        expiry = datetime.strptime(date, "%y%m%d").replace(hour=16, tzinfo=UTC)
        maturity = int(expiry.timestamp() * 1000)
    return FuturesProductSpec(
        product_id=product_id,
        pair=f"{base}:{quote}",
        tag="perpetual" if perpetual else "month",
        tick_size=tick,
        qty_step=Decimal(1) if inverse else linear_step,
        start_price=price.quantize(tick),
        maturity_time=maturity,
    )


# --------------------------------------------------------------------------------------------
# Market


class _ProductMarket:
    """The synthetic market of one product: an L2 book, trades and ticker statistics."""

    def __init__(self, spec: FuturesProductSpec, rng: random.Random) -> None:
        self.spec = spec
        self.bids: dict[Decimal, Decimal] = {}
        self.asks: dict[Decimal, Decimal] = {}
        self.seq = rng.randint(100_000, 999_999)
        self.skip = 0
        self.trade_seq = rng.randint(1_000, 99_999)
        self.trades: deque[dict[str, Any]] = deque(maxlen=100)
        tick = spec.tick_size
        mid = spec.start_price
        best_bid = mid - tick * rng.randint(1, 3)
        best_ask = mid + tick * rng.randint(1, 3)
        for i in range(25):
            best_bid -= tick * (rng.randint(1, 3) if i else 0)
            best_ask += tick * (rng.randint(1, 3) if i else 0)
            self.bids[best_bid] = self.random_qty(rng)
            self.asks[best_ask] = self.random_qty(rng)
        self.last = mid
        self.open = mid
        self.high = mid
        self.low = mid
        self.volume = self.random_qty(rng) * 1000
        self.open_interest = self.random_qty(rng) * 5000
        self.funding_rate = rng.uniform(-5e-10, 5e-10)
        self.funding_rate_prediction = rng.uniform(-5e-10, 5e-10)
        self.index_ratio = rng.uniform(-2e-4, 2e-4)
        self.mark_ratio = rng.uniform(-1e-4, 1e-4)

    def random_qty(self, rng: random.Random) -> Decimal:
        step = self.spec.qty_step
        top = 20_000 if step == 1 else 10_000
        return step * rng.randint(1, top)

    def best_bid(self) -> Decimal:
        return max(self.bids)

    def best_ask(self) -> Decimal:
        return min(self.asks)

    def mid(self) -> Decimal:
        return (self.best_bid() + self.best_ask()) / 2


# --------------------------------------------------------------------------------------------
# Account


@dataclass(slots=True)
class FuturesOrder:
    """One open order of the scripted account (all prices and quantities exact).

    Attributes:
        order_id: Kraken-style UUID.
        instrument: Product id.
        direction: 0 buy, 1 sell.
        order_type: ``limit``, ``stop`` or ``take_profit``.
        qty: Order quantity.
        filled: Quantity filled so far.
        limit_price: Limit price.
        stop_price: Trigger price (0 for limit orders).
        reduce_only: Reduce-only flag.
        time: Creation time, ms.
        last_update_time: Last change, ms.
        cli_ord_id: Client order id, if set.
        trigger_signal: ``last``, ``mark`` or ``spot`` for stop/take-profit orders.
    """

    order_id: str
    instrument: str
    direction: int
    order_type: str
    qty: Decimal
    filled: Decimal
    limit_price: Decimal
    stop_price: Decimal
    reduce_only: bool
    time: int
    last_update_time: int
    cli_ord_id: str | None = None
    trigger_signal: str | None = None

    def to_wire(self) -> dict[str, Any]:
        """The order object as ``open_orders`` carries it."""
        wire: dict[str, Any] = {
            "instrument": self.instrument,
            "time": self.time,
            "last_update_time": self.last_update_time,
            "qty": self.qty,
            "filled": self.filled,
            "limit_price": self.limit_price,
            "stop_price": self.stop_price,
            "type": self.order_type,
            "order_id": self.order_id,
        }
        if self.cli_ord_id is not None:
            wire["cli_ord_id"] = self.cli_ord_id
        wire["direction"] = self.direction
        wire["reduce_only"] = self.reduce_only
        if self.trigger_signal is not None:
            wire["triggerSignal"] = self.trigger_signal
        return wire


_ORDER_TYPES: Final = {"limit": "lmt", "stop": "stp", "take_profit": "take_profit"}
_FILL_TYPES: Final = frozenset(
    {
        "maker",
        "taker",
        "liquidation",
        "assignee",
        "assignor",
        "unwindBankrupt",
        "unwindCounterparty",
        "takerAfterEdit",
    }
)
_CANCEL_REASONS: Final = frozenset(
    {
        "cancelled_by_user",
        "liquidation",
        "contract_expired",
        "not_enough_margin",
        "market_inactive",
        "cancelled_by_admin",
        "dead_man_switch",
        "ioc_order_failed_because_it_would_not_be_executed",
        "post_order_failed_because_it_would_filled",
        "would_execute_self",
        "would_not_reduce_position",
        "order_for_edit_not_found",
    }
)
_LOG_FIELDS: Final = (
    "old_average_entry_price",
    "new_average_entry_price",
    "trade_price",
    "mark_price",
    "realized_pnl",
    "fee",
    "execution",
    "collateral",
    "funding_rate",
    "realized_funding",
    "conversion_spread_percentage",
    "liquidation_fee",
)
_NOTIFICATION_TYPES: Final = frozenset(
    {"market", "general", "new_feature", "bug_fix", "maintenance", "settlement"}
)
_USD_PRICES: Final = {
    "USD": Decimal(1),
    "USDT": Decimal(1),
    "USDC": Decimal(1),
    "EUR": Decimal("1.08"),
    "GBP": Decimal("1.27"),
    "XBT": Decimal(65000),
    "BTC": Decimal(65000),
    "ETH": Decimal(3200),
    "SOL": Decimal(150),
}

AccountSink = Callable[[str, str | None, dict[str, Any]], None]


class FuturesAccount:
    """A scripted futures account: tests change it, subscribed connections see the changes.

    Every method that changes the account pushes the matching message to every connection
    subscribed to the affected private feed, at once (the methods are synchronous and must be
    called from the Trio thread that runs the exchange).

    Args:
        seed: Seeds order, fill and account ids.
        account_id: The ``account`` field of snapshots; derived from the seed when omitted.
    """

    def __init__(self, *, seed: int = 0, account_id: str | None = None) -> None:
        self._rng = random.Random(f"futures-account-{seed}")
        self.account_id = account_id or self._uuid()
        self._orders: dict[str, FuturesOrder] = {}
        self._fills: list[dict[str, Any]] = []
        self._fill_seq = 0
        self._positions: dict[str, dict[str, Any]] = {}
        self._positions_seq = 0
        self._holding: dict[str, Decimal] = {}
        self._flex: dict[str, tuple[Decimal, Decimal]] = {}  # ccy -> (quantity, usd value)
        self._balances_seq = 0
        self._logs: list[dict[str, Any]] = []
        self._notifications: list[dict[str, Any]] = []
        self._sinks: list[AccountSink] = []

    def __repr__(self) -> str:
        return (
            f"FuturesAccount(account_id={self.account_id!r}, orders={len(self._orders)}, "
            f"fills={len(self._fills)}, positions={len(self._positions)})"
        )

    # -- reading -------------------------------------------------------------------------

    @property
    def orders(self) -> Mapping[str, FuturesOrder]:
        """Open orders by id (a read-only view)."""
        return dict(self._orders)

    @property
    def fills(self) -> Sequence[dict[str, Any]]:
        """Every fill so far, as the ``fills`` feed carries it (oldest first)."""
        return list(self._fills)

    def snapshot(self, feed: str, product_ids: Sequence[str] | None = None) -> dict[str, Any]:
        """The message a new subscriber to ``feed`` receives first.

        Args:
            feed: One of the private feeds.
            product_ids: For ``fills`` only: restrict to these products.

        Raises:
            ValueError: For a feed that is not private.
        """
        if feed in ("open_orders", "open_orders_verbose"):
            return {
                "feed": f"{feed}_snapshot",
                "account": self.account_id,
                "orders": [o.to_wire() for o in self._orders.values()],
            }
        if feed == "fills":
            fills = [f for f in self._fills if not product_ids or f["instrument"] in product_ids]
            return {"feed": "fills_snapshot", "account": self.account_id, "fills": fills}
        if feed == "open_positions":
            return self._positions_message()
        if feed == "balances":
            return self._balances_message("balances_snapshot")
        if feed == "account_log":
            return {"feed": "account_log_snapshot", "logs": list(self._logs)}
        if feed == "notifications_auth":
            return {"feed": "notifications_auth", "notifications": list(self._notifications)}
        raise ValueError(f"not a private futures feed: {feed!r}")

    # -- orders --------------------------------------------------------------------------

    def place_order(
        self,
        instrument: str,
        side: Literal["buy", "sell"],
        qty: Number,
        limit_price: Number,
        *,
        order_type: Literal["limit", "stop", "take_profit"] = "limit",
        stop_price: Number | None = None,
        reduce_only: bool = False,
        cli_ord_id: str | None = None,
        trigger_signal: Literal["last", "mark", "spot"] = "last",
    ) -> str:
        """Open an order; pushes ``open_orders`` with ``reason: new_placed_order_by_user``.

        Returns:
            The new order id.

        Raises:
            ValueError: For a bad side, type, quantity or price.
        """
        if side not in ("buy", "sell"):
            raise ValueError(f"side must be 'buy' or 'sell', got {side!r}")
        if order_type not in _ORDER_TYPES:
            raise ValueError(
                f"order_type must be one of {sorted(_ORDER_TYPES)}, got {order_type!r}"
            )
        quantity = _dec(qty, "qty")
        price = _dec(limit_price, "limit_price")
        if quantity <= 0 or price <= 0:
            raise ValueError("qty and limit_price must be positive")
        if order_type == "limit":
            if stop_price is not None:
                raise ValueError("a limit order takes no stop_price")
            stop = Decimal("0.0")
        else:
            if stop_price is None:
                raise ValueError(f"a {order_type} order needs stop_price")
            stop = _dec(stop_price, "stop_price")
        now = _now_ms()
        order = FuturesOrder(
            order_id=self._uuid(),
            instrument=instrument,
            direction=0 if side == "buy" else 1,
            order_type=order_type,
            qty=quantity,
            filled=Decimal(0) * quantity,
            limit_price=price,
            stop_price=stop,
            reduce_only=reduce_only,
            time=now,
            last_update_time=now,
            cli_ord_id=cli_ord_id,
            trigger_signal=None if order_type == "limit" else trigger_signal,
        )
        self._orders[order.order_id] = order
        self._emit_order(order, is_cancel=False, reason="new_placed_order_by_user")
        return order.order_id

    def cancel_order(self, order_id: str, *, reason: str = "cancelled_by_user") -> None:
        """Remove an open order; pushes ``open_orders`` with ``is_cancel: true``.

        Raises:
            KeyError: For an order id that is not open.
            ValueError: For a reason Kraken does not use for cancels.
        """
        if reason not in _CANCEL_REASONS:
            raise ValueError(f"unknown cancel reason {reason!r}")
        order = self._take_order(order_id)
        del self._orders[order_id]
        message: dict[str, Any] = {"order_id": order.order_id}
        if order.cli_ord_id is not None:
            message["cli_ord_id"] = order.cli_ord_id
        message |= {"is_cancel": True, "reason": reason}
        for feed in ("open_orders", "open_orders_verbose"):
            self._emit(feed, order.instrument, {"feed": feed, **message})

    def fill(
        self,
        order_id: str,
        qty: Number,
        price: Number,
        *,
        fill_type: str = "maker",
        fee_paid: Number = Decimal(0),
        fee_currency: str = "USD",
        taker_order_type: str = "lmt",
    ) -> str:
        """Execute part or all of an open order.

        Pushes ``open_orders`` (``partial_fill``, or ``full_fill`` with ``is_cancel: true`` when the
        order completes and leaves the book), then ``fills``.

        Returns:
            The fill id.

        Raises:
            KeyError: For an order id that is not open.
            ValueError: For a quantity that is not positive or exceeds what remains.
        """
        order = self._take_order(order_id)
        quantity = _dec(qty, "qty")
        fill_price = _dec(price, "price")
        remaining = order.qty - order.filled
        if quantity <= 0 or quantity > remaining:
            raise ValueError(f"fill qty must be in (0, {remaining}], got {quantity}")
        if fill_type not in _FILL_TYPES:
            raise ValueError(f"unknown fill_type {fill_type!r}")
        now = _now_ms()
        order.filled += quantity
        order.last_update_time = now
        remaining = order.qty - order.filled
        done = remaining == 0
        if done:
            del self._orders[order_id]
        self._emit_order(order, is_cancel=done, reason="full_fill" if done else "partial_fill")
        self._fill_seq += 1
        record: dict[str, Any] = {
            "instrument": order.instrument,
            "time": now,
            "price": fill_price,
            "seq": self._fill_seq,
            "buy": order.direction == 0,
            "qty": quantity,
            "remaining_order_qty": remaining,
            "order_id": order.order_id,
        }
        if order.cli_ord_id is not None:
            record["cli_ord_id"] = order.cli_ord_id
        record |= {
            "fill_id": self._uuid(),
            "fill_type": fill_type,
            "fee_paid": _dec(fee_paid, "fee_paid"),
            "fee_currency": fee_currency,
            "taker_order_type": taker_order_type,
            "order_type": _ORDER_TYPES[order.order_type],
        }
        self._fills.append(record)
        self._emit(
            "fills",
            order.instrument,
            {"feed": "fills", "username": self.account_id, "fills": [record]},
        )
        return str(record["fill_id"])

    # -- positions, balances, log, notifications -----------------------------------------

    def set_position(
        self,
        instrument: str,
        balance: Number,
        *,
        entry_price: Number,
        mark_price: Number | None = None,
        index_price: Number | None = None,
        leverage: Number = 10,
        pnl_currency: str = "USD",
    ) -> None:
        """Set (or, with ``balance`` 0, close) the position in one product.

        ``balance`` is signed (negative = short). The margin figures are derived simply from the
        inputs (linear contracts). Pushes the whole ``open_positions`` list with a new ``seq``.
        """
        size = _dec(balance, "balance")
        if size == 0:
            self._positions.pop(instrument, None)
        else:
            entry = _dec(entry_price, "entry_price")
            mark = _dec(mark_price, "mark_price") if mark_price is not None else entry
            index = _dec(index_price, "index_price") if index_price is not None else mark
            lev = _dec(leverage, "leverage")
            notional = abs(size) * mark
            initial = notional / lev
            pnl = (mark - entry) * size
            self._positions[instrument] = {
                "instrument": instrument,
                "balance": size,
                "pnl": pnl,
                "entry_price": entry,
                "mark_price": mark,
                "index_price": index,
                "liquidation_threshold": (
                    entry * (1 - 1 / lev) if size > 0 else entry * (1 + 1 / lev)
                ),
                "effective_leverage": lev,
                "return_on_equity": (pnl / initial * 100) if initial else Decimal(0),
                "unrealized_funding": Decimal(0),
                "initial_margin": initial,
                "initial_margin_with_orders": initial,
                "maintenance_margin": initial / 2,
                "pnl_currency": pnl_currency,
            }
        self._emit("open_positions", None, self._positions_message())

    def set_balance(
        self,
        currency: str,
        quantity: Number,
        *,
        wallet: Literal["flex", "holding"] = "flex",
        value: Number | None = None,
    ) -> None:
        """Set one currency's balance in the flex (multi-collateral) wallet or the holding wallet.

        Args:
            currency: Such as ``USD`` or ``XBT``.
            quantity: The new balance.
            wallet: ``flex`` (``flex_futures.currencies``) or ``holding``.
            value: USD value for ``flex``; derived from a fixed price table when omitted.

        Pushes the whole ``balances`` structure with a new ``seq``.

        Raises:
            ValueError: For an unknown wallet, or a flex currency without a known price and no
                ``value``.
        """
        amount = _dec(quantity, "quantity")
        if wallet == "holding":
            self._holding[currency] = amount
        elif wallet == "flex":
            if value is not None:
                usd = _dec(value, "value")
            elif currency in _USD_PRICES:
                usd = amount * _USD_PRICES[currency]
            else:
                raise ValueError(f"no USD price known for {currency!r}; pass value=")
            self._flex[currency] = (amount, usd)
        else:
            raise ValueError(f"wallet must be 'flex' or 'holding', got {wallet!r}")
        self._emit("balances", None, self._balances_message("balances"))

    def add_log_entry(
        self,
        *,
        asset: str,
        info: str,
        old_balance: Number,
        new_balance: Number,
        margin_account: str = "flex",
        booking_uid: str | None = None,
        **fields: Number | None,
    ) -> int:
        """Append an account log entry; pushes ``{"feed":"account_log","new_entry":{...}}``.

        Args:
            asset: Currency of the entry.
            info: Such as ``futures trade`` or ``funding rate change``.
            old_balance: Balance before.
            new_balance: Balance after.
            margin_account: Wallet name.
            booking_uid: Defaults to a fresh UUID.
            **fields: Any of ``old_average_entry_price``, ``new_average_entry_price``,
                ``trade_price``, ``mark_price``, ``realized_pnl``, ``fee``, ``execution``,
                ``collateral``, ``funding_rate``, ``realized_funding``,
                ``conversion_spread_percentage``, ``liquidation_fee`` (absent ones are ``null``).

        Returns:
            The entry's id.
        """
        unknown = set(fields) - set(_LOG_FIELDS)
        if unknown:
            raise ValueError(f"unknown account log fields: {sorted(unknown)}")
        entry: dict[str, Any] = {
            "id": len(self._logs) + 1,
            "date": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "asset": asset,
            "info": info,
            "booking_uid": booking_uid or self._uuid(),
            "margin_account": margin_account,
            "old_balance": _dec(old_balance, "old_balance"),
            "new_balance": _dec(new_balance, "new_balance"),
        }
        for name in _LOG_FIELDS:
            raw = fields.get(name)
            if name == "execution" and isinstance(raw, str):
                entry[name] = raw
            else:
                entry[name] = None if raw is None else _dec(raw, name)
        self._logs.insert(0, entry)
        self._emit("account_log", None, {"feed": "account_log", "new_entry": entry})
        return int(entry["id"])

    def notify(
        self,
        note: str,
        *,
        type: str = "general",
        priority: Literal["low", "medium", "high"] = "low",
        effective_time: int | None = None,
        expected_downtime_minutes: int | None = None,
    ) -> int:
        """Publish a notification; pushes ``notifications_auth`` with it.

        Returns:
            The notification id.
        """
        if type not in _NOTIFICATION_TYPES:
            raise ValueError(f"notification type must be one of {sorted(_NOTIFICATION_TYPES)}")
        if priority not in ("low", "medium", "high"):
            raise ValueError(f"priority must be low, medium or high, got {priority!r}")
        notification: dict[str, Any] = {
            "id": len(self._notifications) + 1,
            "type": type,
            "priority": priority,
            "note": note,
            "effective_time": effective_time if effective_time is not None else _now_ms(),
        }
        if expected_downtime_minutes is not None:
            notification["expected_downtime_minutes"] = expected_downtime_minutes
        self._notifications.append(notification)
        self._emit(
            "notifications_auth",
            None,
            {"feed": "notifications_auth", "notifications": [notification]},
        )
        return int(notification["id"])

    # -- plumbing ------------------------------------------------------------------------

    def add_sink(self, sink: AccountSink) -> None:
        """Register ``sink(feed, instrument_or_None, message)``, called for every change."""
        self._sinks.append(sink)

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def _take_order(self, order_id: str) -> FuturesOrder:
        try:
            return self._orders[order_id]
        except KeyError:
            raise KeyError(f"no open futures order with id {order_id!r}") from None

    def _emit(self, feed: str, instrument: str | None, message: dict[str, Any]) -> None:
        for sink in self._sinks:
            sink(feed, instrument, message)

    def _emit_order(self, order: FuturesOrder, *, is_cancel: bool, reason: str) -> None:
        for feed in ("open_orders", "open_orders_verbose"):
            message = {
                "feed": feed,
                "order": order.to_wire(),
                "is_cancel": is_cancel,
                "reason": reason,
            }
            self._emit(feed, order.instrument, message)

    def _positions_message(self) -> dict[str, Any]:
        self._positions_seq += 1
        return {
            "feed": "open_positions",
            "account": self.account_id,
            "positions": list(self._positions.values()),
            "seq": self._positions_seq,
            "timestamp": _now_ms(),
        }

    def _balances_message(self, feed: str) -> dict[str, Any]:
        self._balances_seq += 1
        currencies = {
            ccy: {
                "quantity": qty,
                "value": usd,
                "collateral_value": usd,
                "available": qty,
                "haircut": Decimal(0),
                "conversion_spread": Decimal(0),
            }
            for ccy, (qty, usd) in self._flex.items()
        }
        total = sum((usd for _, usd in self._flex.values()), Decimal(0))
        initial = sum((p["initial_margin"] for p in self._positions.values()), Decimal(0))
        maintenance = sum((p["maintenance_margin"] for p in self._positions.values()), Decimal(0))
        pnl = sum((p["pnl"] for p in self._positions.values()), Decimal(0))
        return {
            "feed": feed,
            "account": self.account_id,
            "holding": dict(self._holding),
            "futures": {},
            "flex_futures": {
                "currencies": currencies,
                "balance_value": total,
                "portfolio_value": total + pnl,
                "collateral_value": total,
                "initial_margin": initial,
                "initial_margin_without_orders": initial,
                "maintenance_margin": maintenance,
                "pnl": pnl,
                "unrealized_funding": Decimal(0),
                "total_unrealized": pnl,
                "total_unrealized_as_margin": pnl,
                "margin_equity": total + pnl,
                "available_margin": total + pnl - initial,
                "isolated": {},
                "cross": {},
            },
            "timestamp": _now_ms(),
            "seq": self._balances_seq,
        }


# --------------------------------------------------------------------------------------------
# Connections


class _StallableConnection(WebSocketConnection):
    """A server connection whose protocol pongs can be withheld.

    trio-websocket answers pings inside its reader task; this hook is the one place a pong is
    produced, so while ``stalled()`` is true pings are read and dropped unanswered. It also
    notes when the client last showed life (``last_activity``), for the idle timeout.
    """

    def __init__(self, stream: trio.SocketStream, *, stalled: Callable[[], bool]) -> None:
        super().__init__(stream, WSConnection(ConnectionType.SERVER))
        self._stalled = stalled
        self.last_activity = trio.current_time()

    async def _handle_ping_event(self, event: Ping) -> None:
        self.last_activity = trio.current_time()
        if self._stalled():
            return
        try:
            await super()._handle_ping_event(event)
        except LocalProtocolError:
            # A ping that crossed our own close frame: the connection is closing and a
            # pong may no longer be sent (wsproto refuses). Nothing to answer.
            return


@dataclass(eq=False)
class _Connection:
    id: int
    ws: _StallableConnection
    stream: trio.SocketStream
    send_channel: trio.MemorySendChannel[tuple[float, str | bytes]]
    nursery: trio.Nursery
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)
    subs: set[tuple[str, str | None]] = field(default_factory=set)
    challenges: dict[str, bool] = field(default_factory=dict)
    heartbeat: trio.CancelScope | None = None
    close_code: int = 1001
    close_reason: str = "server shutting down"
    reset: bool = False
    done: trio.Event = field(default_factory=trio.Event)

    def send(self, payload: str | bytes) -> None:
        try:
            self.send_channel.send_nowait((trio.current_time(), payload))
        except trio.WouldBlock:
            self.abort(1008, "slow consumer")
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            pass  # closing; nothing more goes out

    def abort(self, code: int, reason: str, *, reset: bool = False) -> None:
        self.close_code, self.close_reason, self.reset = code, reason, reset
        self.scope.cancel()


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
        account: The scripted private account (:class:`FuturesAccount`).
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
        self._idle_timeout = idle_timeout
        if not products or len(set(products)) != len(products):
            raise ValueError("products must be a non-empty sequence of distinct ids")
        self._api_key = api_key
        self._api_secret = api_secret
        self._update_interval = update_interval
        self._heartbeat_interval = heartbeat_interval
        self._rng = random.Random(f"futures-market-{seed}")
        self._markets = {p: _ProductMarket(futures_product(p), self._rng) for p in products}
        self._conns: dict[int, _Connection] = {}
        self._conn_ids = itertools.count(1)
        self._url: str | None = None
        self._running = False
        self._changed = trio.Event()
        self.faults = FuturesFaults(self)
        self.limits = Limits()  # replaced by the exchange's shared one in open_fake_kraken
        self.received: list[Received] = []
        self.account = FuturesAccount(seed=seed)
        self.account.add_sink(self._on_account_change)

    def __repr__(self) -> str:
        return f"FuturesExchange(url={self._url!r}, products={list(self._markets)})"

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
        task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Serve until cancelled. Use ``url = await nursery.start(exchange.run)``.

        Binds first, then reports ``ws://<host>:<port>/ws/v1`` through ``task_status``. On
        cancellation every connection is closed with a close frame (1001), bounded.

        Raises:
            RuntimeError: If this exchange is already running.
            OSError: If the address cannot be bound.
        """
        if self._running:
            raise RuntimeError("this FuturesExchange is already running")
        self._running = True
        try:
            listeners = await trio.open_tcp_listeners(port, host=host)
        except BaseException:
            self._running = False
            raise
        try:
            bound_port = listeners[0].socket.getsockname()[1]
            shown = f"[{host}]" if ":" in host else host
            self._url = f"ws://{shown}:{bound_port}{FUTURES_PATH}"
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

        Every product gets one to three book deltas and perhaps a trade; then every product's
        ticker is pushed to its ``ticker``/``ticker_lite`` subscribers. A checkpoint.
        """
        self._step()
        await trio.lowlevel.checkpoint()

    def live_subscriptions(self) -> dict[int, set[tuple[str, str | None]]]:
        """Open connections by id, each with its ``(feed, product_id or None)`` subscriptions."""
        return {cid: set(conn.subs) for cid, conn in self._conns.items()}

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

    # -- connections ---------------------------------------------------------------------

    def _pongs_stalled(self) -> bool:
        return self.faults.stall_pongs

    async def _handle_stream(self, stream: trio.SocketStream) -> None:
        ws = _StallableConnection(stream, stalled=self._pongs_stalled)
        # trio-websocket's reader task must outlive a cancellation of the server, so that the
        # closing handshake can complete (it reads the client's close reply); it is shielded and
        # stopped explicitly once this connection is finished.
        reader_scope = trio.CancelScope(shield=True)

        async def read_frames() -> None:
            with reader_scope:
                await ws._reader_task()

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
        self, ws: _StallableConnection, stream: trio.SocketStream, nursery: trio.Nursery
    ) -> None:
        with trio.move_on_after(10) as handshake:
            request = await ws._get_request()
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
        conn = _Connection(next(self._conn_ids), ws, stream, send_channel, nursery)
        self._conns[conn.id] = conn
        self._state_changed()
        try:
            with conn.scope:
                conn.send(_encode({"event": "info", "version": 1}))
                nursery.start_soon(self._writer, conn, receive_channel)
                if self._idle_timeout is not None:
                    nursery.start_soon(self._idle_watch, conn, self._idle_timeout)
                await self._reader(conn)
        finally:
            del self._conns[conn.id]
            self._state_changed()
            with trio.CancelScope(shield=True):
                await self._close_connection(conn)
            conn.done.set()
            nursery.cancel_scope.cancel()

    async def _close_connection(self, conn: _Connection) -> None:
        self.limits.forget(conn.id)
        await conn.send_channel.aclose()
        if conn.reset:
            # SO_LINGER with a zero timeout turns close() into a TCP RST.
            conn.stream.socket.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
            await conn.stream.aclose()
            return
        with trio.move_on_after(_CLOSE_BOUND):
            await conn.ws.aclose(conn.close_code, conn.close_reason)

    async def _writer(
        self,
        conn: _Connection,
        receive_channel: trio.MemoryReceiveChannel[tuple[float, str | bytes]],
    ) -> None:
        async with receive_channel:
            async for queued_at, payload in receive_channel:
                delay = self.faults.delay
                if delay > 0:
                    await trio.sleep_until(queued_at + delay)
                try:
                    await conn.ws.send_message(payload)
                except ConnectionClosed:
                    conn.scope.cancel()
                    return

    async def _reader(self, conn: _Connection) -> None:
        while True:
            await self.faults.wait_reading()
            try:
                raw = await conn.ws.get_message()
            except ConnectionClosed:
                return
            conn.ws.last_activity = trio.current_time()
            self._on_message(conn, raw)
            self._state_changed()

    async def _idle_watch(self, conn: _Connection, idle_limit: float) -> None:
        while True:
            deadline = conn.ws.last_activity + idle_limit
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
            conn.ws
            for cid, conn in list(self._conns.items())
            if connection_id is None or cid == connection_id
        ]
        return await ping_each(sockets, payload)

    async def _send_raw_all(
        self, payload: str | bytes, *, connection_id: int | None = None
    ) -> None:
        if not isinstance(payload, str | bytes):
            raise TypeError("payload must be str or bytes")
        for cid, conn in list(self._conns.items()):
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
            for cid, conn in self._conns.items()
            if connection_id is None or cid == connection_id
        ]
        for conn in conns:
            conn.abort(code, reason, reset=reset)
        for conn in conns:
            with trio.move_on_after(_CLOSE_BOUND * 5):
                await conn.done.wait()
        return len(conns)

    # -- requests ------------------------------------------------------------------------

    def _on_message(self, conn: _Connection, raw: str | bytes) -> None:
        try:
            message = json.loads(raw, parse_float=Decimal)
        except ValueError:  # includes UnicodeDecodeError for binary frames
            self.received.append(Received(conn.id, raw, trio.current_time()))
            self._error(conn, "Json Error")
            return
        self.received.append(Received(conn.id, message, trio.current_time()))
        if not isinstance(message, dict) or not isinstance(message.get("event"), str):
            self._error(conn, "Json Error")
            return
        event = message["event"]
        if event != "ping" and not self.limits.futures_request(conn.id, trio.current_time()):
            self._alert(conn, FUTURES_RATE_ALERT)
            return
        if event == "ping":
            if not self.faults.stall_pongs:
                conn.send(_encode({"event": "pong"}))
        elif event == "challenge":
            self._challenge(conn, message)
        elif event in ("subscribe", "unsubscribe"):
            self._subscription(conn, event, message)
        else:
            self._error(conn, "Json Error")

    def _error(self, conn: _Connection, text: str) -> None:
        conn.send(_encode({"event": "error", "message": text}))

    def _alert(self, conn: _Connection, text: str) -> None:
        conn.send(_encode({"event": "alert", "message": text}))

    def _challenge(self, conn: _Connection, message: dict[str, Any]) -> None:
        api_key = message.get("api_key")
        if not isinstance(api_key, str):
            self._error(conn, "Json Error")
            return
        challenge = str(uuid.uuid4())
        valid = hmac.compare_digest(api_key.encode(), self._api_key.encode())
        if self.faults.take_auth_reject():
            valid = False
        conn.challenges[challenge] = valid
        conn.send(_encode({"event": "challenge", "message": challenge}))

    def _authenticated(self, conn: _Connection, message: dict[str, Any]) -> bool:
        api_key = message.get("api_key")
        original = message.get("original_challenge")
        signed = message.get("signed_challenge")
        if not (isinstance(api_key, str) and isinstance(original, str) and isinstance(signed, str)):
            return False
        if not conn.challenges.get(original, False):
            return False
        if not hmac.compare_digest(api_key.encode(), self._api_key.encode()):
            return False
        expected = sign_futures_challenge(self._api_secret, original)
        return hmac.compare_digest(signed.encode(), expected.encode())

    def _product_ids(self, message: dict[str, Any]) -> list[str] | None:
        ids = message.get("product_ids")
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
            return None
        return ids

    def _subscription(self, conn: _Connection, event: str, message: dict[str, Any]) -> None:
        feed = message.get("feed")
        if not isinstance(feed, str):
            self._error(conn, "Json Error")
            return
        if feed in PRIVATE_FEEDS:
            self._private_subscription(conn, event, feed, message)
            return
        if feed not in PUBLIC_FEEDS:
            self._error(conn, "Invalid feed")
            return
        done = event + "d"
        if feed == "heartbeat":
            key: tuple[str, str | None] = ("heartbeat", None)
            if event == "subscribe":
                if key not in conn.subs:
                    conn.subs.add(key)
                    conn.heartbeat = trio.CancelScope()
                    conn.nursery.start_soon(self._heartbeat, conn, conn.heartbeat)
                conn.send(_encode({"event": done, "feed": feed}))
            elif key in conn.subs:
                conn.subs.discard(key)
                if conn.heartbeat is not None:
                    conn.heartbeat.cancel()
                conn.send(_encode({"event": done, "feed": feed}))
            else:
                conn.send(_encode({"event": "unsubscribed_failed", "feed": feed}))
            return
        product_ids = self._product_ids(message)
        if product_ids is None:
            self._error(conn, "Json Error")
            return
        for product_id in product_ids:
            if product_id not in self._markets:
                self._error(conn, "Invalid product id")
                continue
            key = (feed, product_id)
            if event == "subscribe":
                conn.subs.add(key)
                conn.send(_encode({"event": done, "feed": feed, "product_ids": [product_id]}))
                conn.send(_encode(self._public_snapshot(feed, product_id)))
            elif key in conn.subs:
                conn.subs.discard(key)
                conn.send(_encode({"event": done, "feed": feed, "product_ids": [product_id]}))
            else:
                conn.send(
                    _encode(
                        {"event": "unsubscribed_failed", "feed": feed, "product_ids": [product_id]}
                    )
                )

    def _private_subscription(
        self, conn: _Connection, event: str, feed: str, message: dict[str, Any]
    ) -> None:
        if not self._authenticated(conn, message):
            self._alert(conn, _AUTH_ALERT)
            return
        keys: list[tuple[str, str | None]] = [(feed, None)]
        filtered = feed == "fills" and "product_ids" in message
        if filtered:
            product_ids = self._product_ids(message)
            if product_ids is None:
                self._error(conn, "Json Error")
                return
            keys = []
            for product_id in product_ids:
                if product_id in self._markets:
                    keys.append((feed, product_id))
                else:
                    self._error(conn, "Invalid product id")
            if not keys:
                return
        done = event + "d"
        for key in keys:
            ack: dict[str, Any] = {"event": done, "feed": feed}
            if filtered:
                ack["product_ids"] = [key[1]]
            if event == "subscribe":
                if key in conn.subs:
                    self._alert(conn, _ALREADY_ALERT)
                conn.subs.add(key)
            elif key in conn.subs:
                conn.subs.discard(key)
            else:
                ack["event"] = "unsubscribed_failed"
            conn.send(_encode(ack))
        if event == "subscribe":
            products = [k[1] for k in keys if k[1] is not None]
            conn.send(_encode(self.account.snapshot(feed, products or None)))

    async def _heartbeat(self, conn: _Connection, scope: trio.CancelScope) -> None:
        with scope:
            while True:
                await trio.sleep(self._heartbeat_interval)
                conn.send(_encode({"feed": "heartbeat", "time": _now_ms()}))

    # -- publishing ----------------------------------------------------------------------

    def _publish(self, feed: str, product_id: str | None, message: Mapping[str, Any]) -> None:
        text: str | None = None
        for conn in list(self._conns.values()):
            if (feed, None) in conn.subs or (
                product_id is not None and (feed, product_id) in conn.subs
            ):
                if text is None:
                    text = _encode(message)
                conn.send(text)

    def _on_account_change(
        self, feed: str, instrument: str | None, message: dict[str, Any]
    ) -> None:
        self._publish(feed, instrument, message)

    def _public_snapshot(self, feed: str, product_id: str) -> dict[str, Any]:
        market = self._markets[product_id]
        if feed == "book":
            return {
                "feed": "book_snapshot",
                "product_id": product_id,
                "timestamp": _now_ms(),
                "seq": market.seq,
                "tickSize": None,
                "bids": [
                    {"price": p, "qty": market.bids[p]} for p in sorted(market.bids, reverse=True)
                ],
                "asks": [{"price": p, "qty": market.asks[p]} for p in sorted(market.asks)],
            }
        if feed == "ticker":
            return self._ticker(market)
        if feed == "ticker_lite":
            return self._ticker_lite(market)
        return {
            "feed": "trade_snapshot",
            "product_id": product_id,
            "trades": list(reversed(market.trades)),
        }

    def _market(self, product_id: str) -> _ProductMarket:
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
        rng = self._rng
        for market in self._markets.values():
            for _ in range(rng.randint(1, 3)):
                self._book_change(market, rng)
            if rng.random() < 0.35:
                self._trade(market, rng)
            market.funding_rate += rng.uniform(-2e-11, 2e-11)
            market.funding_rate_prediction += rng.uniform(-2e-11, 2e-11)
            market.index_ratio = rng.uniform(-2e-4, 2e-4)
            market.mark_ratio = rng.uniform(-1e-4, 1e-4)
        for product_id, market in self._markets.items():
            self._publish("ticker", product_id, self._ticker(market))
            self._publish("ticker_lite", product_id, self._ticker_lite(market))

    def _book_change(self, market: _ProductMarket, rng: random.Random) -> None:
        tick = market.spec.tick_size
        side = rng.choice(("buy", "sell"))
        levels = market.bids if side == "buy" else market.asks
        action = rng.random()
        if len(levels) < 10 or action < 0.3:
            if side == "buy":
                price = market.best_bid() + tick * rng.randint(-8, 2)
                if price >= market.best_ask():
                    price = market.best_ask() - tick
            else:
                price = market.best_ask() + tick * rng.randint(-2, 8)
                if price <= market.best_bid():
                    price = market.best_bid() + tick
            if price <= 0:
                return
            self._set_level(market, side, price, market.random_qty(rng))
        elif action < 0.55:
            price = rng.choice(sorted(levels))
            self._set_level(market, side, price, Decimal(0) * market.spec.qty_step)
        else:
            price = rng.choice(sorted(levels))
            self._set_level(market, side, price, market.random_qty(rng))
        while len(levels) > 60:
            worst = min(levels) if side == "buy" else max(levels)
            self._set_level(market, side, worst, Decimal(0) * market.spec.qty_step)

    def _set_level(self, market: _ProductMarket, side: str, price: Decimal, qty: Decimal) -> None:
        levels = market.bids if side == "buy" else market.asks
        if qty == 0:
            levels.pop(price, None)
        else:
            levels[price] = qty
        market.seq += 1
        if market.skip > 0:
            market.skip -= 1  # lost on the wire: applied here, never sent
            return
        self._publish(
            "book",
            market.spec.product_id,
            {
                "feed": "book",
                "product_id": market.spec.product_id,
                "side": side,
                "seq": market.seq,
                "price": price,
                "qty": qty,
                "timestamp": _now_ms(),
            },
        )

    def _trade(self, market: _ProductMarket, rng: random.Random) -> None:
        taker = rng.choice(("buy", "sell"))
        maker_side = "sell" if taker == "buy" else "buy"
        levels = market.asks if taker == "buy" else market.bids
        if len(levels) < 2:
            return
        price = market.best_ask() if taker == "buy" else market.best_bid()
        qty = min(levels[price], market.random_qty(rng))
        self._set_level(market, maker_side, price, levels[price] - qty)
        market.trade_seq += 1
        trade = {
            "feed": "trade",
            "product_id": market.spec.product_id,
            "uid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "side": taker,
            "type": "fill",
            "seq": market.trade_seq,
            "time": _now_ms(),
            "qty": qty,
            "price": price,
        }
        market.trades.append(trade)
        market.last = price
        market.high = max(market.high, price)
        market.low = min(market.low, price)
        market.volume += qty
        market.open_interest += qty if rng.random() < 0.5 else -min(qty, market.open_interest)
        self._publish("trade", market.spec.product_id, trade)

    def _ticker_common(self, market: _ProductMarket) -> dict[str, Any]:
        spec = market.spec
        now = _now_ms()
        dtm = 0 if spec.is_perpetual else max(0, (spec.maturity_time - now) // 86_400_000)
        mid = float(market.mid())
        index = round(mid * (1 + market.index_ratio), 2)
        return {
            "bid": market.best_bid(),
            "ask": market.best_ask(),
            "change": float((market.last - market.open) / market.open * 100),
            "premium": round((mid - index) / index * 100, 1),
            "volume": market.volume,
            "tag": spec.tag,
            "pair": spec.pair,
            "dtm": dtm,
            "maturityTime": spec.maturity_time,
            "volumeQuote": market.volume if spec.qty_step == 1 else market.volume * market.last,
            "_index": index,
            "_mid": mid,
            "_now": now,
        }

    def _ticker(self, market: _ProductMarket) -> dict[str, Any]:
        spec = market.spec
        common = self._ticker_common(market)
        now, index, mid = common.pop("_now"), common.pop("_index"), common.pop("_mid")
        ticker: dict[str, Any] = {"time": now, "product_id": spec.product_id}
        if spec.is_perpetual:
            hour = 3_600_000
            ticker |= {
                "funding_rate": market.funding_rate,
                "funding_rate_prediction": market.funding_rate_prediction,
                "relative_funding_rate": market.funding_rate * index,
                "relative_funding_rate_prediction": market.funding_rate_prediction * index,
                "next_funding_rate_time": (now // hour + 1) * hour,
            }
        ticker |= {
            "feed": "ticker",
            "bid": common["bid"],
            "ask": common["ask"],
            "bid_size": market.bids[market.best_bid()],
            "ask_size": market.asks[market.best_ask()],
            "volume": common["volume"],
            "dtm": common["dtm"],
            "leverage": "50x",
            "index": index,
            "premium": common["premium"],
            "last": market.last,
            "change": common["change"],
            "suspended": False,
            "tag": spec.tag,
            "pair": spec.pair,
            "openInterest": market.open_interest,
            "markPrice": mid * (1 + market.mark_ratio),
            "maturityTime": spec.maturity_time,
            "post_only": False,
            "volumeQuote": common["volumeQuote"],
            "open": market.open,
            "high": market.high,
            "low": market.low,
        }
        return ticker

    def _ticker_lite(self, market: _ProductMarket) -> dict[str, Any]:
        common = self._ticker_common(market)
        for key in ("_now", "_index", "_mid"):
            del common[key]
        return {"feed": "ticker_lite", "product_id": market.spec.product_id, **common}
