"""The fake exchange's matching engine and accounts: pure, synchronous, no I/O.

The private WebSocket endpoint of the fake exchange hands every trading request to
:meth:`Engine.request` and sends back the :class:`Reply` objects it returns; after each
move of the synthetic market it calls :meth:`Engine.on_market`, and when the clock passes
:meth:`Engine.next_deadman_expiry` it calls :meth:`Engine.on_time`. Everything the engine
wants to stream on the ``executions`` and ``balances`` channels is queued and handed out
by :meth:`Engine.drain`, in order.

The engine never touches a socket, a clock or a task: time comes in as ``now`` (seconds
since the epoch) and market data through the :class:`MarketView` protocol.

Model and documented choices (where Kraken's behaviour is not pinned down by the protocol
reference, the choice is written here so that tests and users can rely on it):

* Liquidity. Taker orders walk :meth:`MarketView.opposite_levels` and consume it with
  :meth:`MarketView.take`. ``opposite_levels`` must describe the synthetic liquidity only;
  the engine's own resting orders are matched against the synthetic market (when it moves
  into them), never against each other across accounts.
* Resting fills. In :meth:`Engine.on_market` a resting buy fills against every ask level
  priced at or below its limit (sells: bids at or above), at the level's price, as maker,
  through ``market.take(symbol, order_side, level_price, qty, now)`` so the public tape
  and the private fill agree. If the last trade price moved strictly through the limit
  since the engine last looked and no crossing liquidity is left, the rest fills at the
  limit price through ``market.take(symbol, order_side, limit, qty, now)`` (the market may
  have nothing to remove there; it still publishes the trade).
* Fees: taker 0.40 %, maker 0.25 %, charged in the quote currency unless
  ``fee_preference`` is ``base`` (Kraken's executions example shows a sell with
  ``fee_ccy_pref: fciq`` and a USD fee, so quote is the default for both sides). Costs are
  rounded half-even to the pair's ``cost_precision``; fees are rounded up to the
  ``cost_precision`` (quote) or ``qty_precision`` (base).
* Funds. An open order holds ``remaining * price * (1 + taker fee)`` quote (buys) or its
  remaining base quantity (sells); new orders must fit in ``balance - holds`` or get
  ``EOrder:Insufficient funds``.
* ``validate: true`` checks everything (including funds) and places nothing; the result
  carries only the echoed ``cl_ord_id`` / ``order_userref`` (like REST, which returns no
  txid for a validate-only order), so ``{}`` when neither was sent.
* ``batch_add``: validation failures reject the whole batch; an engine-level failure
  (insufficient funds) turns only that element into ``{"error": text}`` plus the echoed
  ids; an elapsed ``deadline`` rejects the whole batch. A batch of n orders costs n/2 on
  the rate counter; a ``batch_cancel`` costs each order's decaying cancel cost and, as
  Kraken documents, is accepted even when that takes the counter past the threshold.
* ``edit_order`` cancels the original (``canceled``, reason ``Order replaced``) and places
  a new order for ``order_qty - cum_qty`` of the original.
* Cancel reasons: ``User requested``; ``Post only order``; ``Immediate or cancel`` (an ioc
  remainder); ``Insufficient liquidity`` (a market order that emptied the book);
  ``Insufficient funds`` (a triggered order the account can no longer pay for);
  ``Dead man's switch`` (``cancel_all_orders_after`` expiry). ``gtd`` orders end with
  ``exec_type: expired``.
* Triggers use the last trade price. ``pct``/``quote`` trigger prices are offsets from the
  last price when the order is placed (trailing orders: from the best price seen since),
  and relative limit prices of ``-limit`` orders are offsets from the trigger price.
  Triggered orders emit ``exec_type: status`` with ``order_status: triggered`` and
  ``triggers.status: triggered`` when their trigger fires, then trade as takers.
* :meth:`Engine.next_deadman_expiry` also reports ``gtd`` expiries, so one timer serves
  both.
* ``cancel_all_orders_after`` with ``timeout: 0`` answers ``triggerTime: "0"``.
* Not supported, rejected with ``EGeneral:Invalid arguments:...``: ``margin: true``,
  ``settle-position``, ``effective_time``, ``triggers.reference: index``, and on
  ``edit_order`` the deprecated ``price``/``trigger``/``stop_price`` fields.
  ``reduce_only: true`` is answered as on an account without positions:
  ``EOrder:Reduce only:No position exists``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_UP, Decimal
from typing import Any, Literal, Protocol

from ._pairs import DEFAULT_PAIRS, PairSpec

__all__ = [
    "DEFAULT_BALANCES",
    "MAKER_FEE",
    "TAKER_FEE",
    "Engine",
    "MarketView",
    "PrivateEvent",
    "Reply",
    "Side",
    "parse_rfc3339",
    "rfc3339",
]

Side = Literal["buy", "sell"]

TAKER_FEE = Decimal("0.0040")
"""Fee rate charged to liquidity takers."""
MAKER_FEE = Decimal("0.0025")
"""Fee rate charged to liquidity makers."""

DEFAULT_BALANCES: Mapping[str, Decimal] = {
    "USD": Decimal("100000"),
    "BTC": Decimal("1"),
    "ETH": Decimal("10"),
    "SOL": Decimal("100"),
    "SHIB": Decimal("100000000"),
}
"""What a new account holds when no other balances are given."""

_ZERO = Decimal(0)
_HUNDRED = Decimal(100)
_MAX_SNAP_TRADES = 50
_MAX_CLOSED = 10_000  # closed orders kept per account for QueryOrders
_MAX_DEADMAN_TIMEOUT = 86400
_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

_ORDER_TYPES = (
    "limit",
    "market",
    "iceberg",
    "stop-loss",
    "stop-loss-limit",
    "take-profit",
    "take-profit-limit",
    "trailing-stop",
    "trailing-stop-limit",
    "settle-position",
)
_LIMIT_TYPES = frozenset(
    {"limit", "iceberg", "stop-loss-limit", "take-profit-limit", "trailing-stop-limit"}
)
_TRIGGER_TYPES = frozenset(
    {
        "stop-loss",
        "stop-loss-limit",
        "take-profit",
        "take-profit-limit",
        "trailing-stop",
        "trailing-stop-limit",
    }
)
_TRAILING_TYPES = frozenset({"trailing-stop", "trailing-stop-limit"})
_CONDITIONAL_TYPES = (
    "limit",
    "stop-loss",
    "stop-loss-limit",
    "take-profit",
    "take-profit-limit",
    "trailing-stop",
    "trailing-stop-limit",
)
_PRICE_TYPES = ("static", "pct", "quote")
_STP_TYPES = ("cancel_newest", "cancel_oldest", "cancel_both")

_ORDER_FIELDS = frozenset(
    {
        "order_type",
        "side",
        "order_qty",
        "limit_price",
        "limit_price_type",
        "triggers",
        "time_in_force",
        "expire_time",
        "effective_time",
        "margin",
        "post_only",
        "reduce_only",
        "display_qty",
        "fee_preference",
        "no_mpp",
        "stp_type",
        "cash_order_qty",
        "order_userref",
        "cl_ord_id",
        "sender_sub_id",
        "conditional",
    }
)
_ADD_FIELDS = _ORDER_FIELDS | {"symbol", "deadline", "validate"}
_AMEND_FIELDS = frozenset(
    {
        "order_id",
        "cl_ord_id",
        "order_qty",
        "display_qty",
        "limit_price",
        "limit_price_type",
        "post_only",
        "trigger_price",
        "trigger_price_type",
        "deadline",
        "symbol",
    }
)
_EDIT_FIELDS = frozenset(
    {
        "order_id",
        "symbol",
        "order_qty",
        "limit_price",
        "display_qty",
        "fee_preference",
        "order_userref",
        "post_only",
        "reduce_only",
        "triggers",
        "deadline",
        "validate",
        "no_mpp",
        "price",
        "trigger",
        "stop_price",
    }
)
_DEPRECATED_FIELDS = {"price": "limit_price", "trigger": "triggers", "stop_price": "triggers"}

# Rate-counter costs (protocol reference 5.1): (age bound in seconds, cost) pairs.
_AMEND_DECAY = ((5.0, 3), (10.0, 2), (15.0, 1))
_EDIT_DECAY = ((5.0, 6), (10.0, 5), (15.0, 4), (45.0, 2), (90.0, 1))
_CANCEL_DECAY = ((5.0, 8), (10.0, 6), (15.0, 5), (45.0, 4), (90.0, 2), (300.0, 1))

_RFC3339 = re.compile(
    r"^(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d+))?([Zz]|[+-]\d\d:\d\d)$"
)
_UUID_RE = re.compile(
    r"^(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"|[0-9a-fA-F]{32})$"
)


class MarketView(Protocol):
    """What the engine needs from the synthetic market."""

    def pair(self, symbol: str) -> PairSpec | None:
        """The pair's specification, or None if the market does not trade it."""
        ...

    def opposite_levels(self, symbol: str, side: Side) -> Sequence[tuple[Decimal, Decimal]]:
        """Liquidity a taker on `side` would hit, best first (side 'buy' -> asks ascending)."""
        ...

    def take(self, symbol: str, side: Side, price: Decimal, qty: Decimal, now: float) -> int:
        """A taker on `side` consumed `qty` at `price`; returns the public trade_id."""
        ...

    def last_price(self, symbol: str) -> Decimal:
        """The price of the last public trade."""
        ...

    def best_bid_ask(self, symbol: str) -> tuple[Decimal | None, Decimal | None]:
        """The best bid and ask, None for an empty side."""
        ...


@dataclass
class Reply:
    """One answer to a trading request.

    Attributes:
        success: Kraken's ``success`` flag.
        result: Kraken's ``result`` (a dict, or a list for ``batch_add``); None for none.
        error: Kraken's error text when ``success`` is False.
        extra: Further top-level keys (``batch_cancel``: ``{"orders_cancelled": n}``).
    """

    success: bool
    result: Any = None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class PrivateEvent:
    """One ``update`` message for a private channel of one account.

    Attributes:
        account: Whose channel it goes to.
        channel: ``executions`` or ``balances``.
        data: The elements of the message's ``data`` array.
    """

    account: str
    channel: Literal["executions", "balances"]
    data: list[dict[str, Any]]


class _Reject(Exception):
    """A request (or one order of it) is refused with Kraken's error text."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


def _invalid(detail: str) -> _Reject:
    return _Reject(f"EGeneral:Invalid arguments:{detail}")


# --------------------------------------------------------------------------------------
# Small helpers: time, numbers, ids


def rfc3339(now: float) -> str:
    """Render epoch seconds as Kraken's RFC3339 text with 6 fractional digits and Z."""
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=round(now * 1_000_000))
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _rfc3339_seconds(now: float) -> str:
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=int(now))
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str) -> float:
    """Parse RFC3339 text (any number of fractional digits) into epoch seconds.

    Raises:
        ValueError: the text is not an RFC3339 timestamp.
    """
    match = _RFC3339.match(text)
    if match is None:
        raise ValueError(f"not an RFC3339 timestamp: {text!r}")
    year, month, day, hour, minute, second, frac, zone = match.groups()
    moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), 0, UTC)
    if zone not in ("Z", "z"):
        sign = 1 if zone[0] == "+" else -1
        moment -= sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
    seconds = (moment - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds()
    return seconds + (float("0." + frac) if frac else 0.0)


def _step(places: int) -> Decimal:
    return Decimal(1).scaleb(-places)


def _places(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)


def _fixed(value: Decimal, places: int) -> Decimal:
    """`value` with at least `places` decimals, never in exponent form, never rounded."""
    return value.quantize(_step(max(places, _places(value.normalize()))))


def _is_multiple(value: Decimal, step: Decimal) -> bool:
    return value % step == 0


def _relative(pair: PairSpec, base: Decimal, value: Decimal, price_type: str) -> Decimal:
    """`value` read as a static price, or as a pct/quote offset from `base`, on the tick."""
    if price_type == "static":
        return value.quantize(pair.price_increment)
    price = base * (1 + value / _HUNDRED) if price_type == "pct" else base + value
    return price.quantize(pair.price_increment, ROUND_HALF_EVEN)


@dataclass(eq=False)
class _Trigger:
    reference: str
    price: Decimal
    price_type: str
    trailing: bool
    anchor: Decimal  # last price at placement; for trailing orders the best price seen
    status: str = "untriggered"
    last_price: Decimal | None = None
    actual_price: Decimal | None = None
    timestamp: float | None = None


@dataclass(eq=False)
class _Conditional:
    order_type: str
    limit_price: Decimal | None
    limit_price_type: str
    trigger_price: Decimal | None
    trigger_price_type: str


@dataclass(eq=False)
class _Order:
    order_id: str
    account: str
    pair: PairSpec
    side: Side
    order_type: str
    order_qty: Decimal | None
    cash_order_qty: Decimal | None
    limit_price: Decimal | None  # as requested: absolute, or an offset when relative
    limit_price_type: str
    time_in_force: str
    expire_time: float | None
    post_only: bool
    display_qty: Decimal | None
    fee_preference: str
    order_userref: int
    cl_ord_id: str | None
    sender_sub_id: str | None
    stp_type: str
    trigger: _Trigger | None
    conditional: _Conditional | None
    created: float = 0.0
    touched: float = 0.0  # created or last amended: the age the rate counter uses
    cum_qty: Decimal = _ZERO
    cum_cost: Decimal = _ZERO
    cum_fee: Decimal = _ZERO
    cash_spent: Decimal = _ZERO
    status: str = "pending_new"
    working_limit: Decimal | None = None  # the price it rests at, once it can rest
    display_remain: Decimal | None = None
    seen_last: Decimal | None = None
    is_close: bool = False
    closed_at: float | None = None
    trade_ids: list[str] = field(default_factory=list)  # exec ids of its fills

    @property
    def symbol(self) -> str:
        return self.pair.symbol

    @property
    def remaining(self) -> Decimal:
        if self.order_qty is None:
            return _ZERO
        return self.order_qty - self.cum_qty

    @property
    def is_open(self) -> bool:
        return self.status in ("pending_new", "new", "partially_filled")

    @property
    def awaiting_trigger(self) -> bool:
        return self.trigger is not None and self.trigger.status == "untriggered"

    @property
    def resting(self) -> bool:
        return self.is_open and not self.awaiting_trigger and self.working_limit is not None


@dataclass
class _Account:
    name: str
    balances: dict[str, Decimal]
    orders: dict[str, _Order] = field(default_factory=dict)  # open orders, in placement order
    trades: list[dict[str, Any]] = field(default_factory=list)
    deadman: float | None = None
    rates: dict[str, tuple[float, float]] = field(default_factory=dict)  # symbol -> (v, at)
    closed: dict[str, _Order] = field(default_factory=dict)  # the last closed orders, by id


class Engine:
    """The matching engine and the accounts of one fake exchange.

    Args:
        market: The synthetic market to trade against.
        default_balances: What an account opened implicitly (first request) holds;
            :data:`DEFAULT_BALANCES` when None.
        max_rate_count: The rate-counter threshold (Kraken Pro: 180), also what the
            ``executions`` ack reports as ``maxratecount``.
        rate_decay: How much the rate counter decays per second (Kraken Pro: 3.75).
    """

    def __init__(
        self,
        market: MarketView,
        *,
        default_balances: Mapping[str, Decimal] | None = None,
        max_rate_count: int = 180,
        rate_decay: float = 3.75,
    ) -> None:
        self.market = market
        self.max_rate_count = max_rate_count
        self.rate_decay = rate_decay
        self._default_balances = dict(
            DEFAULT_BALANCES if default_balances is None else default_balances
        )
        self._accounts: dict[str, _Account] = {}
        self._orders: dict[str, _Order] = {}  # every open order, by id
        self._by_symbol: dict[str, dict[str, _Order]] = {}  # the same, per symbol
        self._events: list[PrivateEvent] = []
        self._counters: dict[str, int] = {}
        self._asset_places: dict[str, int] = {}
        for pair in DEFAULT_PAIRS:
            self._learn_pair(pair)
        self._in_market = False
        self._market_backlog: list[tuple[str, float]] = []

    # ----------------------------------------------------------------------------------
    # Public API

    def open_account(self, account: str, balances: Mapping[str, Decimal] | None = None) -> None:
        """Create an account (or reset the balances of an existing one).

        Args:
            account: The account's name (the fake maps API keys to accounts).
            balances: What it holds; the engine's default balances when None.
        """
        start = {k: Decimal(v) for k, v in (balances or self._default_balances).items()}
        existing = self._accounts.get(account)
        if existing is None:
            self._accounts[account] = _Account(account, start)
        else:
            existing.balances = start

    def request(
        self, account: str, method: str, params: Mapping[str, Any], now: float
    ) -> list[Reply]:
        """Handle one trading request and return the replies to send, in order.

        Args:
            account: Whose request it is (opened with the default balances if new).
            method: The request's ``method``.
            params: The decoded ``params`` (numbers as Decimal or int), token removed.
            now: The current time, seconds since the epoch.

        Returns:
            One reply, except ``cancel_order`` which answers once per order named.
        """
        acct = self._account(account)
        handler = {
            "add_order": self._add_order,
            "amend_order": self._amend_order,
            "edit_order": self._edit_order,
            "cancel_order": self._cancel_order,
            "cancel_all": self._cancel_all,
            "cancel_all_orders_after": self._cancel_after,
            "batch_add": self._batch_add,
            "batch_cancel": self._batch_cancel,
        }.get(method)
        if handler is None:
            return [Reply(False, error="Unsupported event")]
        params = {k: v for k, v in params.items() if k != "token"}
        try:
            return handler(acct, params, now)
        except _Reject as exc:
            return [Reply(False, error=exc.error)]

    def on_market(self, symbol: str, now: float) -> None:
        """React to a move of the market in `symbol`: triggers, trailing stops, fills.

        Safe to call re-entrantly (from inside :meth:`MarketView.take`): nested calls are
        queued and run after the current one.
        """
        self._market_backlog.append((symbol, now))
        if self._in_market:
            return
        self._in_market = True
        try:
            while self._market_backlog:
                sym, at = self._market_backlog.pop(0)
                self._process_market(sym, at)
        finally:
            self._in_market = False

    def on_time(self, now: float) -> None:
        """Fire dead man's switches and expire ``gtd`` orders whose time has come."""
        for acct in self._accounts.values():
            if acct.deadman is not None and acct.deadman <= now:
                acct.deadman = None
                for order in list(acct.orders.values()):
                    self._cancel(order, now, "Dead man's switch")
        for order in list(self._orders.values()):
            if order.expire_time is not None and order.expire_time <= now and order.is_open:
                self._finish(order, now, "expired", "Order expired")

    def drain(self) -> list[PrivateEvent]:
        """Hand out (and forget) the queued ``executions``/``balances`` updates, in order."""
        events, self._events = self._events, []
        return events

    def executions_snapshot(
        self, account: str, *, snap_orders: bool = True, snap_trades: bool = False
    ) -> list[dict[str, Any]]:
        """The ``data`` of an ``executions`` snapshot: last 50 trades, then open orders."""
        acct = self._account(account)
        data: list[dict[str, Any]] = []
        if snap_trades:
            data.extend(dict(t) for t in acct.trades[-_MAX_SNAP_TRADES:])
        if snap_orders:
            data.extend(self._order_view(o, "new", o.touched) for o in acct.orders.values())
        return data

    def balances_snapshot(self, account: str) -> list[dict[str, Any]]:
        """The ``data`` of a ``balances`` snapshot."""
        acct = self._account(account)
        out = []
        for asset, amount in acct.balances.items():
            shown = self._asset_amount(asset, amount)
            out.append(
                {
                    "asset": asset,
                    "asset_class": "currency",
                    "balance": shown,
                    "wallets": [{"type": "spot", "id": "main", "balance": shown}],
                }
            )
        return out

    def open_orders(self, account: str) -> list[dict[str, Any]]:
        """The account's open orders as the exchange sees them (for tests)."""
        acct = self._account(account)
        return [self._order_view(o, "new", o.touched) for o in acct.orders.values()]

    def balances(self, account: str) -> dict[str, Decimal]:
        """The account's total balances (held funds included), exact."""
        return dict(self._account(account).balances)

    def resting(self, symbol: str) -> list[tuple[Side, Decimal, Decimal, str]]:
        """(side, price, displayed remaining qty, order_id) of the resting limit orders."""
        out: list[tuple[Side, Decimal, Decimal, str]] = []
        for order in self._by_symbol.get(symbol, {}).values():
            if order.resting and order.working_limit is not None:
                shown = order.remaining
                if order.display_remain is not None:
                    shown = min(shown, order.display_remain)
                shown = shown.quantize(order.pair.qty_increment)
                out.append((order.side, order.working_limit, shown, order.order_id))
        return out

    def next_deadman_expiry(self) -> float | None:
        """When :meth:`on_time` next has work: a dead man's switch or a gtd expiry."""
        times = [a.deadman for a in self._accounts.values() if a.deadman is not None]
        times.extend(o.expire_time for o in self._orders.values() if o.expire_time is not None)
        return min(times) if times else None

    def find_order(self, account: str, order_id: str) -> _Order | None:
        """One of the account's orders, open or among the last closed (for QueryOrders)."""
        acct = self._account(account)
        return acct.orders.get(order_id) or acct.closed.get(order_id)

    def force_fill(self, order_id: str, qty: Decimal, price: Decimal, now: float) -> None:
        """Fill ``qty`` of an open order at ``price`` as maker, whatever the market does.

        A fault for tests: the executions events are queued as for any fill.

        Raises:
            KeyError: no open order has this id.
            ValueError: ``qty`` is not positive or exceeds what remains.
        """
        order = self._orders[order_id]
        if not 0 < qty <= order.remaining:
            raise ValueError(f"qty must be in (0, {order.remaining}], got {qty}")
        self._fill(order, price, qty, self._take(order, price, qty, now), now, maker=True)

    def force_cancel(self, order_id: str, now: float, reason: str = "User requested") -> None:
        """Cancel an open order as if its owner had (a fault for tests).

        Raises:
            KeyError: no open order has this id.
        """
        self._cancel(self._orders[order_id], now, reason)

    def rate_count(self, account: str, symbol: str, now: float) -> float:
        """The account's current rate counter for `symbol` (for tests and ``ratecounter``)."""
        return self._rate_value(self._account(account), symbol, now)

    # ----------------------------------------------------------------------------------
    # Accounts, ids, rate counter

    def _account(self, name: str) -> _Account:
        acct = self._accounts.get(name)
        if acct is None:
            self.open_account(name)
            acct = self._accounts[name]
        return acct

    def _learn_pair(self, pair: PairSpec) -> None:
        base = self._asset_places.get(pair.base, 0)
        quote = self._asset_places.get(pair.quote, 0)
        self._asset_places[pair.base] = max(base, pair.qty_precision)
        self._asset_places[pair.quote] = max(quote, pair.cost_precision)

    def _asset_amount(self, asset: str, amount: Decimal) -> Decimal:
        return _fixed(amount, self._asset_places.get(asset, 0))

    def _new_id(self, prefix: str) -> str:
        n = self._counters.get(prefix, 0) + 1
        self._counters[prefix] = n
        digest = hashlib.blake2b(f"kraken-trio:{prefix}:{n}".encode(), digest_size=16).digest()
        chars = "".join(_ID_ALPHABET[b % len(_ID_ALPHABET)] for b in digest)
        return f"{prefix}{chars[:5]}-{chars[5:10]}-{chars[10:16]}"

    def _rate_value(self, acct: _Account, symbol: str, now: float) -> float:
        value, at = acct.rates.get(symbol, (0.0, now))
        return max(0.0, value - self.rate_decay * max(0.0, now - at))

    def _rate_charge(
        self, acct: _Account, symbol: str, cost: float, now: float, *, force: bool = False
    ) -> None:
        value = self._rate_value(acct, symbol, now)
        if not force and value + cost > self.max_rate_count:
            raise _Reject("EOrder:Rate limit exceeded")
        acct.rates[symbol] = (value + cost, now)

    @staticmethod
    def _decay_cost(table: tuple[tuple[float, int], ...], age: float) -> int:
        for bound, cost in table:
            if age < bound:
                return cost
        return 0

    # ----------------------------------------------------------------------------------
    # Parameter parsing

    @staticmethod
    def _check_fields(params: Mapping[str, Any], allowed: frozenset[str], msg: str) -> None:
        for key in params:
            if key not in allowed:
                raise _Reject(f"Unsupported field: '{key}' for the given msg type: {msg}")

    @staticmethod
    def _number(params: Mapping[str, Any], key: str) -> Decimal | None:
        value = params.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, Decimal, float)):
            raise _Reject(f"{key[:1].upper()}{key[1:]} field must be a number_float")
        result = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
        if not result.is_finite():
            raise _Reject(f"{key[:1].upper()}{key[1:]} field must be a number_float")
        return result

    @staticmethod
    def _bool(params: Mapping[str, Any], key: str) -> bool | None:
        value = params.get(key)
        if value is None:
            return None
        if not isinstance(value, bool):
            raise _Reject(f"{key[:1].upper()}{key[1:]} field must be a boolean")
        return value

    @staticmethod
    def _str(params: Mapping[str, Any], key: str) -> str | None:
        value = params.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise _Reject(f"{key[:1].upper()}{key[1:]} field must be a string")
        return value

    @staticmethod
    def _int(params: Mapping[str, Any], key: str) -> int | None:
        value = params.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Reject(f"{key[:1].upper()}{key[1:]} field must be a number_integer")
        return value

    def _enum(self, params: Mapping[str, Any], key: str, choices: Sequence[str]) -> str | None:
        value = self._str(params, key)
        if value is not None and value not in choices:
            raise _invalid(f"{key} must be one of {', '.join(choices)}, got {value!r}")
        return value

    def _pair_for(self, symbol: Any) -> PairSpec:
        if symbol is None:
            raise _invalid("symbol is required")
        if not isinstance(symbol, str):
            raise _Reject("Symbol field must be a string")
        pair = self.market.pair(symbol)
        if pair is None:
            raise _Reject("EQuery:Unknown asset pair")
        self._learn_pair(pair)
        return pair

    def _time(self, params: Mapping[str, Any], key: str) -> float | None:
        text = self._str(params, key)
        if text is None:
            return None
        try:
            return parse_rfc3339(text)
        except ValueError:
            raise _invalid(f"{key} must be an RFC3339 timestamp, got {text!r}") from None

    def _deadline(self, params: Mapping[str, Any], now: float) -> float | None:
        deadline = self._time(params, "deadline")
        if deadline is not None and deadline > now + 60.0:
            raise _invalid("deadline must be at most 60 seconds in the future")
        return deadline

    @staticmethod
    def _check_deadline(deadline: float | None, now: float) -> None:
        if deadline is not None and deadline <= now:
            raise _Reject("EService:Deadline elapsed")

    @staticmethod
    def _check_qty(pair: PairSpec, qty: Decimal, key: str = "order_qty") -> None:
        if qty <= 0:
            raise _invalid(f"{key} must be positive")
        if _places(qty.normalize()) > pair.qty_precision:
            raise _invalid(f"{key} has more than {pair.qty_precision} decimal places")

    @staticmethod
    def _check_price(pair: PairSpec, price: Decimal, key: str) -> None:
        if price <= 0:
            raise _invalid(f"{key} must be positive")
        if not _is_multiple(price, pair.price_increment):
            raise _Reject("EOrder:Tick size check failed")

    def _parse_triggers(self, raw: Any, pair: PairSpec, order_type: str, side: Side) -> _Trigger:
        if not isinstance(raw, Mapping):
            raise _invalid("triggers must be an object")
        for key in raw:
            if key not in ("reference", "price", "price_type"):
                raise _Reject(f"Unsupported field: '{key}' for the given msg type: triggers")
        reference = self._enum(raw, "reference", ("index", "last")) or "last"
        if reference == "index":
            raise _invalid("triggers reference index is not supported by the fake exchange")
        price = self._number(raw, "price")
        if price is None:
            raise _invalid(f"triggers.price is required for order_type {order_type}")
        price_type = self._enum(raw, "price_type", _PRICE_TYPES) or "static"
        trailing = order_type in _TRAILING_TYPES
        return self._make_trigger(pair, order_type, price, price_type, trailing)

    def _make_trigger(
        self, pair: PairSpec, order_type: str, price: Decimal, price_type: str, trailing: bool
    ) -> _Trigger:
        if trailing:
            if price_type == "static":
                raise _invalid(
                    "trailing stop orders need a relative trigger (price_type pct or quote)"
                )
            if price <= 0:
                raise _invalid("trailing stop offset must be positive")
        if price_type == "static":
            self._check_price(pair, price, "triggers.price")
        elif price_type == "quote" and not _is_multiple(price, pair.price_increment):
            raise _Reject("EOrder:Tick size check failed")
        elif price_type == "pct" and not (Decimal(-100) < price < _HUNDRED * 10):
            raise _invalid("triggers.price percentage out of range")
        anchor = self.market.last_price(pair.symbol)
        return _Trigger("last", price, price_type, trailing, anchor)

    def _parse_conditional(self, raw: Any, pair: PairSpec) -> _Conditional:
        if not isinstance(raw, Mapping):
            raise _invalid("conditional must be an object")
        allowed = {
            "order_type",
            "limit_price",
            "limit_price_type",
            "trigger_price",
            "trigger_price_type",
            "stop_price",
        }
        for key in raw:
            if key not in allowed:
                raise _Reject(f"Unsupported field: '{key}' for the given msg type: conditional")
        if "stop_price" in raw:
            raise _invalid(
                "conditional.stop_price is deprecated and not supported by the fake exchange;"
                " use trigger_price"
            )
        order_type = self._enum(raw, "order_type", _CONDITIONAL_TYPES)
        if order_type is None:
            raise _invalid("conditional.order_type is required")
        limit_price = self._number(raw, "limit_price")
        trigger_price = self._number(raw, "trigger_price")
        default_lpt = "quote" if order_type == "trailing-stop-limit" else "static"
        lpt = self._enum(raw, "limit_price_type", _PRICE_TYPES) or default_lpt
        tpt = self._enum(raw, "trigger_price_type", _PRICE_TYPES) or "static"
        if order_type in _LIMIT_TYPES:
            if limit_price is None:
                raise _invalid(f"conditional.limit_price is required for {order_type}")
            if lpt == "static":
                self._check_price(pair, limit_price, "conditional.limit_price")
        elif limit_price is not None:
            raise _invalid(f"conditional.limit_price is not allowed for {order_type}")
        if order_type in _TRIGGER_TYPES:
            if trigger_price is None:
                raise _invalid(f"conditional.trigger_price is required for {order_type}")
            if order_type in _TRAILING_TYPES and tpt == "static":
                raise _invalid(
                    "trailing stop orders need a relative trigger (price_type pct or quote)"
                )
            if tpt == "static":
                self._check_price(pair, trigger_price, "conditional.trigger_price")
        elif trigger_price is not None:
            raise _invalid(f"conditional.trigger_price is not allowed for {order_type}")
        return _Conditional(order_type, limit_price, lpt, trigger_price, tpt)

    def _parse_order(
        self, acct: _Account, p: Mapping[str, Any], pair: PairSpec, now: float, msg: str
    ) -> _Order:
        """Validate one order's fields; returns an unplaced order (no id yet)."""
        allowed = _ADD_FIELDS if msg == "add order" else _ORDER_FIELDS
        self._check_fields(p, allowed, msg)
        order_qty = self._number(p, "order_qty")
        limit_price = self._number(p, "limit_price")
        display_qty = self._number(p, "display_qty")
        cash_qty = self._number(p, "cash_order_qty")
        order_type = self._enum(p, "order_type", _ORDER_TYPES)
        if order_type is None:
            raise _invalid("order_type is required")
        side_text = self._enum(p, "side", ("buy", "sell"))
        if side_text is None:
            raise _invalid("side is required")
        side: Side = "buy" if side_text == "buy" else "sell"
        if order_type == "settle-position":
            raise _invalid("settle-position needs margin, which the fake exchange does not offer")
        if self._bool(p, "margin"):
            raise _invalid("margin trading is not supported by the fake exchange")
        if self._bool(p, "reduce_only"):
            raise _Reject("EOrder:Reduce only:No position exists")
        if p.get("effective_time") is not None:
            raise _invalid("effective_time is not supported by the fake exchange")
        if self._bool(p, "no_mpp") and order_type != "market":
            raise _invalid("no_mpp order option is only available when ordertype = market")

        # Quantity.
        if cash_qty is not None:
            if order_type != "market" or side != "buy":
                raise _invalid("cash_order_qty is only available for market buy orders")
            if order_qty is not None:
                raise _invalid("order_qty and cash_order_qty are mutually exclusive")
            if cash_qty <= 0:
                raise _invalid("cash_order_qty must be positive")
            if cash_qty < pair.cost_min:
                raise _Reject("EOrder:Cost minimum not met")
        else:
            if order_qty is None:
                raise _invalid("order_qty is required")
            self._check_qty(pair, order_qty)
            if order_qty < pair.qty_min:
                raise _Reject("EOrder:Order minimum not met")

        # Prices.
        default_lpt = "quote" if order_type == "trailing-stop-limit" else "static"
        limit_price_type = self._enum(p, "limit_price_type", _PRICE_TYPES) or default_lpt
        if order_type in _LIMIT_TYPES:
            if limit_price is None:
                raise _invalid(f"limit_price is required for order_type {order_type}")
            if order_type in ("limit", "iceberg") and limit_price_type != "static":
                raise _invalid(f"limit_price_type {limit_price_type} needs a triggered order type")
            if limit_price_type == "static":
                self._check_price(pair, limit_price, "limit_price")
            elif limit_price_type == "quote" and not _is_multiple(
                limit_price, pair.price_increment
            ):
                raise _Reject("EOrder:Tick size check failed")
        else:
            if limit_price is not None:
                raise _invalid(f"limit_price is not allowed for order_type {order_type}")
            if "limit_price_type" in p:
                raise _invalid(f"limit_price_type is not allowed for order_type {order_type}")

        trigger: _Trigger | None = None
        if order_type in _TRIGGER_TYPES:
            if p.get("triggers") is None:
                raise _invalid(f"triggers are required for order_type {order_type}")
            trigger = self._parse_triggers(p["triggers"], pair, order_type, side)
        elif p.get("triggers") is not None:
            raise _invalid(f"triggers are not allowed for order_type {order_type}")

        # Time in force.
        tif_text = self._str(p, "time_in_force")
        tif = (tif_text or "gtc").lower()
        if tif not in ("gtc", "gtd", "ioc"):
            raise _invalid(f"time_in_force must be one of gtc, gtd, ioc, got {tif_text!r}")
        expire_time = self._time(p, "expire_time")
        if tif == "gtd":
            if expire_time is None:
                raise _invalid("expire_time is required when time_in_force = gtd")
            if expire_time <= now:
                raise _invalid("expire_time is in the past")
            if expire_time > now + 31 * 86400:
                raise _invalid("expire_time is more than one month ahead")
        elif expire_time is not None:
            raise _invalid("expire_time is only available when time_in_force = gtd")

        post_only = bool(self._bool(p, "post_only"))
        if post_only and order_type != "limit":
            raise _invalid("post_only order option is only available when ordertype = limit")

        if order_type == "iceberg":
            if display_qty is None:
                raise _invalid("display_qty is required for order_type iceberg")
            self._check_qty(pair, display_qty, "display_qty")
            assert order_qty is not None
            if display_qty * 15 < order_qty:
                raise _invalid("display_qty must be at least 1/15 of order_qty")
            if display_qty > order_qty:
                raise _invalid("display_qty must not exceed order_qty")
        elif display_qty is not None:
            raise _invalid("display_qty is only available when ordertype = iceberg")

        fee_pref = self._enum(p, "fee_preference", ("base", "quote")) or "quote"
        stp_type = self._enum(p, "stp_type", _STP_TYPES) or "cancel_newest"
        sender_sub_id = self._str(p, "sender_sub_id")
        order_userref = self._int(p, "order_userref")
        if order_userref is not None and not -(2**31) <= order_userref < 2**31:
            raise _invalid("order_userref must be a 32-bit integer")
        cl_ord_id = self._str(p, "cl_ord_id")
        if cl_ord_id is not None:
            if order_userref is not None:
                raise _invalid("cl_ord_id and order_userref are mutually exclusive")
            if not (_UUID_RE.match(cl_ord_id) or 0 < len(cl_ord_id) <= 18):
                raise _invalid("cl_ord_id must be a UUID or free text of at most 18 characters")
            if any(o.cl_ord_id == cl_ord_id for o in acct.orders.values()):
                raise _invalid(f"cl_ord_id {cl_ord_id!r} is already used by an open order")

        conditional = None
        if p.get("conditional") is not None:
            if cash_qty is not None:
                raise _invalid("conditional close is not available with cash_order_qty")
            conditional = self._parse_conditional(p["conditional"], pair)

        order = _Order(
            order_id="",
            account=acct.name,
            pair=pair,
            side=side,
            order_type=order_type,
            order_qty=order_qty,
            cash_order_qty=cash_qty,
            limit_price=limit_price,
            limit_price_type=limit_price_type,
            time_in_force=tif,
            expire_time=expire_time,
            post_only=post_only,
            display_qty=display_qty,
            fee_preference=fee_pref,
            order_userref=order_userref or 0,
            cl_ord_id=cl_ord_id,
            sender_sub_id=sender_sub_id,
            stp_type=stp_type,
            trigger=trigger,
            conditional=conditional,
            created=now,
            touched=now,
        )
        # Cost minimum, on the price the order would trade at.
        if order.order_qty is not None:
            price = self._reference_price(order)
            if price is not None and order.order_qty * price < pair.cost_min:
                raise _Reject("EOrder:Cost minimum not met")
        return order

    # ----------------------------------------------------------------------------------
    # Prices and holds

    def _trigger_level(self, order: _Order) -> Decimal:
        trig = order.trigger
        assert trig is not None
        pair = order.pair
        if trig.trailing:
            offset = trig.anchor * trig.price / _HUNDRED if trig.price_type == "pct" else trig.price
            level = trig.anchor - offset if order.side == "sell" else trig.anchor + offset
        elif trig.price_type == "static":
            level = trig.price
        elif trig.price_type == "pct":
            level = trig.anchor * (1 + trig.price / _HUNDRED)
        else:
            level = trig.anchor + trig.price
        return level.quantize(pair.price_increment, ROUND_HALF_EVEN)

    def _limit_from(self, order: _Order, base_price: Decimal) -> Decimal:
        """The absolute limit price of a -limit order whose trigger fired at base_price."""
        assert order.limit_price is not None
        return _relative(order.pair, base_price, order.limit_price, order.limit_price_type)

    def _reference_price(self, order: _Order) -> Decimal | None:
        """The price an order is expected to trade at (for funds and cost checks)."""
        if order.working_limit is not None:
            return order.working_limit
        if order.trigger is not None and order.trigger.status == "untriggered":
            level = self._trigger_level(order)
            if order.order_type in _LIMIT_TYPES:
                return self._limit_from(order, level)
            return level
        if order.order_type in ("limit", "iceberg"):
            return order.limit_price
        best = self._best_opposite(order.symbol, order.side)
        return best if best is not None else self.market.last_price(order.symbol)

    def _best_opposite(self, symbol: str, side: Side) -> Decimal | None:
        """The best price a `side` taker would hit (the best ask for a buy)."""
        bid, ask = self.market.best_bid_ask(symbol)
        return ask if side == "buy" else bid

    def _would_take(self, symbol: str, side: Side, limit: Decimal) -> bool:
        best = self._best_opposite(symbol, side)
        if best is None:
            return False
        return best <= limit if side == "buy" else best >= limit

    def _market_cost(self, order: _Order) -> Decimal:
        """What a market buy of the order's remaining qty would cost, walking the book."""
        left = order.remaining
        cost = _ZERO
        last = self.market.last_price(order.symbol)
        for price, qty in self.market.opposite_levels(order.symbol, order.side):
            take = min(left, qty)
            cost += take * price
            left -= take
            last = price
            if left <= 0:
                break
        return cost + left * last

    def _hold(self, order: _Order) -> tuple[str, Decimal]:
        pair = order.pair
        if order.side == "sell":
            qty = order.remaining
            if order.fee_preference == "base":
                qty += qty * TAKER_FEE
            return pair.base, qty
        if order.cash_order_qty is not None:
            cost = order.cash_order_qty - order.cash_spent
        elif order.order_type == "market" or (
            order.order_type in ("stop-loss", "take-profit", "trailing-stop")
            and not order.awaiting_trigger
        ):
            cost = self._market_cost(order)
        else:
            price = self._reference_price(order)
            assert price is not None
            cost = order.remaining * price
        if order.fee_preference == "quote":
            cost += cost * TAKER_FEE
        return pair.quote, cost

    def _available(self, acct: _Account, asset: str, exclude: _Order | None = None) -> Decimal:
        held = _ZERO
        for order in acct.orders.values():
            if order is exclude:
                continue
            hold_asset, amount = self._hold(order)
            if hold_asset == asset:
                held += amount
        return acct.balances.get(asset, _ZERO) - held

    def _check_funds(self, acct: _Account, order: _Order, exclude: _Order | None = None) -> None:
        asset, need = self._hold(order)
        if need > self._available(acct, asset, exclude if exclude is not None else order):
            raise _Reject("EOrder:Insufficient funds")

    # ----------------------------------------------------------------------------------
    # Events

    def _emit(self, account: str, channel: Literal["executions", "balances"], item: Any) -> None:
        self._events.append(PrivateEvent(account, channel, [item]))

    def _ids(self, order: _Order) -> dict[str, Any]:
        ids: dict[str, Any] = {"order_id": order.order_id, "order_userref": order.order_userref}
        if order.cl_ord_id is not None:
            ids["cl_ord_id"] = order.cl_ord_id
        return ids

    def _q_qty(self, order: _Order, qty: Decimal) -> Decimal:
        return qty.quantize(order.pair.qty_increment)

    def _q_price(self, order: _Order, price: Decimal) -> Decimal:
        return price.quantize(order.pair.price_increment, ROUND_HALF_EVEN)

    def _q_cost(self, order: _Order, cost: Decimal) -> Decimal:
        return _fixed(cost, order.pair.cost_precision)

    def _avg(self, order: _Order) -> Decimal:
        if order.cum_qty == 0:
            return _ZERO
        return self._q_price(order, order.cum_cost / order.cum_qty)

    def _fee_usd(self, order: _Order, fee: Decimal, fee_asset: str) -> Decimal:
        if fee == 0:
            return _ZERO
        if fee_asset == "USD":
            return fee
        pair = self.market.pair(f"{fee_asset}/USD")
        if pair is None:
            return _ZERO
        value: Decimal = fee * self.market.last_price(pair.symbol)
        return value.quantize(Decimal("0.0001"), ROUND_HALF_EVEN)

    def _triggers_view(self, order: _Order, now: float) -> dict[str, Any]:
        trig = order.trigger
        assert trig is not None
        view: dict[str, Any] = {
            "reference": trig.reference,
            "price": trig.price if trig.price_type == "pct" else self._q_price(order, trig.price),
            "price_type": trig.price_type,
            "actual_price": (
                trig.actual_price if trig.actual_price is not None else self._trigger_level(order)
            ),
            "status": trig.status,
            "timestamp": rfc3339(trig.timestamp if trig.timestamp is not None else now),
        }
        if trig.trailing:
            view["peak_price"] = trig.anchor
        if trig.last_price is not None:
            view["last_price"] = trig.last_price
        return view

    def _order_view(self, order: _Order, exec_type: str, now: float) -> dict[str, Any]:
        """The full description of an order (pending_new events and snapshots)."""
        status = exec_type if exec_type == "pending_new" else order.status
        view: dict[str, Any] = {
            "order_id": order.order_id,
            "symbol": order.symbol,
        }
        if order.order_qty is not None:
            view["order_qty"] = self._q_qty(order, order.order_qty)
        if order.cash_order_qty is not None:
            view["cash_order_qty"] = self._q_cost(order, order.cash_order_qty)
        view.update(
            {
                "cum_qty": self._q_qty(order, order.cum_qty),
                "cum_cost": self._q_cost(order, order.cum_cost),
                "time_in_force": order.time_in_force.upper(),
                "exec_type": exec_type,
                "side": order.side,
                "order_type": order.order_type,
            }
        )
        if order.limit_price is not None:
            view["limit_price_type"] = order.limit_price_type
            view["limit_price"] = (
                self._q_price(order, order.limit_price)
                if order.limit_price_type != "pct"
                else order.limit_price
            )
        if order.display_qty is not None:
            view["display_qty"] = self._q_qty(order, order.display_qty)
            view["display_qty_remain"] = self._q_qty(
                order, min(order.remaining, order.display_remain or order.display_qty)
            )
        if order.expire_time is not None:
            view["expire_time"] = rfc3339(order.expire_time)
        if order.post_only:
            view["post_only"] = True
        if order.trigger is not None:
            view["triggers"] = self._triggers_view(order, now)
            view["stop_price"] = self._trigger_level(order)
        if order.conditional is not None:
            cond = order.conditional
            contingent: dict[str, Any] = {"order_type": cond.order_type}
            if cond.trigger_price is not None:
                contingent["trigger_price"] = cond.trigger_price
                contingent["trigger_price_type"] = cond.trigger_price_type
            if cond.limit_price is not None:
                contingent["limit_price"] = cond.limit_price
                contingent["limit_price_type"] = cond.limit_price_type
            view["contingent"] = contingent
        if order.sender_sub_id is not None:
            view["sender_sub_id"] = order.sender_sub_id
        view.update(
            {
                "order_status": status,
                "fee_usd_equiv": self._fee_usd(order, order.cum_fee, self._fee_asset(order)),
                "fee_ccy_pref": "fcib" if order.fee_preference == "base" else "fciq",
                "timestamp": rfc3339(now),
            }
        )
        view.update(self._ids(order))
        return view

    def _fee_asset(self, order: _Order) -> str:
        return order.pair.base if order.fee_preference == "base" else order.pair.quote

    def _status_event(self, order: _Order, exec_type: str, now: float, **more: Any) -> None:
        item: dict[str, Any] = {
            "timestamp": rfc3339(now),
            "order_status": order.status,
            "exec_type": exec_type,
        }
        item.update(self._ids(order))
        item.update(more)
        self._emit(order.account, "executions", item)

    # ----------------------------------------------------------------------------------
    # Order life cycle

    def _register(self, acct: _Account, order: _Order, now: float) -> None:
        """Give the order its id, announce it, and let it trade or rest."""
        order.order_id = self._new_id("O")
        order.created = order.touched = now
        if order.display_qty is not None:
            order.display_remain = order.display_qty
        order.seen_last = self.market.last_price(order.symbol)
        self._emit(acct.name, "executions", self._order_view(order, "pending_new", now))
        acct.orders[order.order_id] = order
        self._orders[order.order_id] = order
        self._by_symbol.setdefault(order.symbol, {})[order.order_id] = order
        if order.post_only and order.limit_price is not None and self._crosses(order):
            self._close(order, now, "canceled", "Post only order")
            return
        order.status = "new"
        self._status_event(order, "new", now)
        if order.trigger is None:
            self._activate(order, now, taker=True)
        else:
            self._check_trigger(order, now)

    def _activate(self, order: _Order, now: float, *, taker: bool) -> None:
        """The order is live (no trigger, or its trigger fired): trade now, then rest."""
        if order.order_type in _LIMIT_TYPES:
            if order.working_limit is None:
                assert order.limit_price is not None
                order.working_limit = order.limit_price.quantize(order.pair.price_increment)
            self._sweep(order, now, order.working_limit, maker=not taker)
            if order.is_open and order.time_in_force == "ioc":
                self._close(order, now, "canceled", "Immediate or cancel")
        else:
            self._sweep(order, now, None, maker=False)
            if order.is_open:
                self._close(order, now, "canceled", "Insufficient liquidity")

    def _crosses(self, order: _Order) -> bool:
        limit = order.working_limit if order.working_limit is not None else order.limit_price
        return limit is not None and self._would_take(order.symbol, order.side, limit)

    def _sweep(self, order: _Order, now: float, limit: Decimal | None, *, maker: bool) -> None:
        """Consume crossing synthetic liquidity for the order, best level first.

        Levels are read one at a time and re-read after every take, so a deep book costs
        only the levels actually consumed.
        """
        pair = order.pair
        levels = self.market.opposite_levels(order.symbol, order.side)
        index = 0
        previous: tuple[Decimal, Decimal] | None = None
        while order.is_open and index < len(levels):
            price, available = levels[index]
            if limit is not None and (price > limit if order.side == "buy" else price < limit):
                break
            if available <= 0 or (price, available) == previous:
                index += 1  # empty, or the market did not remove what was taken: move on
                continue
            if order.cash_order_qty is not None:
                left_cash = order.cash_order_qty - order.cash_spent
                qty = min(available, (left_cash / price).quantize(pair.qty_increment, ROUND_DOWN))
                if qty <= 0:
                    self._complete_cash(order, now)
                    break
            else:
                qty = min(available, order.remaining)
            trade_id = self._take(order, price, qty, now)
            self._fill(order, price, qty, trade_id, now, maker=maker)
            previous = (price, available)
            levels = self.market.opposite_levels(order.symbol, order.side)
            index = 0
        if order.is_open and order.cash_order_qty is not None and order.cum_qty > 0:
            left_cash = order.cash_order_qty - order.cash_spent
            last = self.market.last_price(order.symbol)
            if (left_cash / last).quantize(pair.qty_increment, ROUND_DOWN) <= 0:
                self._complete_cash(order, now)

    def _complete_cash(self, order: _Order, now: float) -> None:
        """A cash_order_qty order has spent all it can: it is filled."""
        order.order_qty = order.cum_qty
        if order.cum_qty > 0:
            self._finish_filled(order, now)

    def _fill(
        self, order: _Order, price: Decimal, qty: Decimal, trade_id: int, now: float, *, maker: bool
    ) -> None:
        pair = order.pair
        acct = self._accounts[order.account]
        cost = (price * qty).quantize(_step(pair.cost_precision), ROUND_HALF_EVEN)
        rate = MAKER_FEE if maker else TAKER_FEE
        if order.fee_preference == "base":
            fee_asset = pair.base
            fee = (qty * rate).quantize(pair.qty_increment, ROUND_UP)
        else:
            fee_asset = pair.quote
            fee = (cost * rate).quantize(_step(pair.cost_precision), ROUND_UP)
        order.cum_qty += qty
        order.cum_cost += cost
        order.cum_fee += fee
        if order.cash_order_qty is not None:
            order.cash_spent += cost
        if order.display_remain is not None:
            order.display_remain -= qty
        order.status = "partially_filled"
        exec_id = self._new_id("T")
        order.trade_ids.append(exec_id)
        fee_usd = self._fee_usd(order, fee, fee_asset)
        trade: dict[str, Any] = {
            "order_id": order.order_id,
            "order_userref": order.order_userref,
            "exec_id": exec_id,
            "exec_type": "trade",
            "trade_id": trade_id,
            "symbol": order.symbol,
            "side": order.side,
            "last_qty": self._q_qty(order, qty),
            "last_price": self._q_price(order, price),
            "liquidity_ind": "m" if maker else "t",
            "cost": self._q_cost(order, cost),
            "order_type": order.order_type,
            "timestamp": rfc3339(now),
            "order_status": "partially_filled",
            "cum_qty": self._q_qty(order, order.cum_qty),
            "cum_cost": self._q_cost(order, order.cum_cost),
            "avg_price": self._avg(order),
            "fee_usd_equiv": fee_usd,
            "fees": [{"asset": fee_asset, "qty": self._asset_amount(fee_asset, fee)}],
        }
        if order.cl_ord_id is not None:
            trade["cl_ord_id"] = order.cl_ord_id
        self._emit(order.account, "executions", trade)
        acct.trades.append(trade)
        del acct.trades[:-_MAX_SNAP_TRADES]

        # Ledger: base leg first, then quote.
        sign = 1 if order.side == "buy" else -1
        legs = [
            (pair.base, sign * qty, fee if fee_asset == pair.base else _ZERO),
            (pair.quote, -sign * cost, fee if fee_asset == pair.quote else _ZERO),
        ]
        for asset, amount, leg_fee in legs:
            balance = acct.balances.get(asset, _ZERO) + amount - leg_fee
            acct.balances[asset] = balance
            self._emit(
                order.account,
                "balances",
                {
                    "ledger_id": self._new_id("L"),
                    "ref_id": exec_id,
                    "timestamp": rfc3339(now),
                    "type": "trade",
                    "asset": asset,
                    "asset_class": "currency",
                    "category": "trade",
                    "wallet_type": "spot",
                    "wallet_id": "main",
                    "amount": self._asset_amount(asset, amount),
                    "fee": self._asset_amount(asset, leg_fee),
                    "balance": self._asset_amount(asset, balance),
                },
            )
        if order.display_remain is not None and order.display_remain <= 0 and order.remaining > 0:
            assert order.display_qty is not None
            order.display_remain = min(order.display_qty, order.remaining)
            self._status_event(
                order,
                "iceberg_refill",
                now,
                display_qty_remain=self._q_qty(order, order.display_remain),
            )
        if order.order_qty is not None and order.remaining <= 0:
            self._finish_filled(order, now)

    def _finish_filled(self, order: _Order, now: float) -> None:
        order.status = "filled"
        self._forget(order, now)
        self._status_event(
            order,
            "filled",
            now,
            cum_qty=self._q_qty(order, order.cum_qty),
            cum_cost=self._q_cost(order, order.cum_cost),
            avg_price=self._avg(order),
            fee_usd_equiv=self._fee_usd(order, order.cum_fee, self._fee_asset(order)),
        )
        self._place_close(order, now)

    def _forget(self, order: _Order, now: float) -> None:
        self._orders.pop(order.order_id, None)
        self._by_symbol.get(order.symbol, {}).pop(order.order_id, None)
        order.closed_at = now
        acct = self._accounts.get(order.account)
        if acct is not None:
            acct.orders.pop(order.order_id, None)
            acct.closed[order.order_id] = order
            if len(acct.closed) > _MAX_CLOSED:
                del acct.closed[next(iter(acct.closed))]

    def _close(self, order: _Order, now: float, status: str, reason: str) -> None:
        """End an open order without a fill of its remainder (canceled or expired)."""
        if not order.is_open:
            return
        order.status = status
        self._forget(order, now)
        more: dict[str, Any] = {
            "cum_qty": self._q_qty(order, order.cum_qty),
            "cum_cost": self._q_cost(order, order.cum_cost),
            "fee_usd_equiv": self._fee_usd(order, order.cum_fee, self._fee_asset(order)),
            "avg_price": self._avg(order),
            "reason": reason,
        }
        if status == "canceled":
            more["cancel_reason"] = reason
        self._status_event(order, status, now, **more)
        if order.cum_qty > 0:
            self._place_close(order, now)

    def _cancel(self, order: _Order, now: float, reason: str = "User requested") -> None:
        self._close(order, now, "canceled", reason)

    def _finish(self, order: _Order, now: float, status: str, reason: str) -> None:
        self._close(order, now, status, reason)

    def _place_close(self, primary: _Order, now: float) -> None:
        """Place the OTO close order of a primary that traded."""
        cond = primary.conditional
        if cond is None or primary.cum_qty <= 0:
            return
        primary.conditional = None
        acct = self._accounts[primary.account]
        trigger = None
        if cond.order_type in _TRIGGER_TYPES:
            assert cond.trigger_price is not None
            trigger = _Trigger(
                "last",
                cond.trigger_price,
                cond.trigger_price_type,
                cond.order_type in _TRAILING_TYPES,
                self.market.last_price(primary.symbol),
            )
        close = _Order(
            order_id="",
            account=acct.name,
            pair=primary.pair,
            side="sell" if primary.side == "buy" else "buy",
            order_type=cond.order_type,
            order_qty=primary.cum_qty,
            cash_order_qty=None,
            limit_price=cond.limit_price,
            limit_price_type=cond.limit_price_type,
            time_in_force="gtc",
            expire_time=None,
            post_only=False,
            display_qty=None,
            fee_preference=primary.fee_preference,
            order_userref=primary.order_userref,
            cl_ord_id=None,
            sender_sub_id=primary.sender_sub_id,
            stp_type=primary.stp_type,
            trigger=trigger,
            conditional=None,
            is_close=True,
        )
        self._register(acct, close, now)

    # ----------------------------------------------------------------------------------
    # Market reactions

    def _check_trigger(self, order: _Order, now: float) -> None:
        trig = order.trigger
        if trig is None or trig.status != "untriggered" or not order.is_open:
            return
        last = self.market.last_price(order.symbol)
        if trig.trailing:
            if order.side == "sell":
                trig.anchor = max(trig.anchor, last)
            else:
                trig.anchor = min(trig.anchor, last)
        level = self._trigger_level(order)
        stop_like = order.order_type.startswith(("stop-loss", "trailing-stop"))
        if stop_like:
            fire = last <= level if order.side == "sell" else last >= level
        else:
            fire = last >= level if order.side == "sell" else last <= level
        if not fire:
            return
        trig.status = "triggered"
        trig.last_price = last
        trig.actual_price = level
        trig.timestamp = now
        if order.order_type in _LIMIT_TYPES:
            order.working_limit = self._limit_from(order, level)
        order.status = "triggered"
        self._status_event(order, "status", now, triggers=self._triggers_view(order, now))
        order.status = "new" if order.cum_qty == 0 else "partially_filled"
        acct = self._accounts[order.account]
        if not order.is_close:
            try:
                self._check_funds(acct, order)
            except _Reject:
                self._cancel(order, now, "Insufficient funds")
                return
        self._activate(order, now, taker=True)

    def _take(self, order: _Order, price: Decimal, qty: Decimal, now: float) -> int:
        """Consume liquidity through the market; the engine's own prints never count as
        the market trading through a resting order."""
        trade_id = self.market.take(order.symbol, order.side, price, qty, now)
        last = self.market.last_price(order.symbol)
        for other in self._by_symbol.get(order.symbol, {}).values():
            other.seen_last = last
        return trade_id

    def _process_market(self, symbol: str, now: float) -> None:
        orders = list(self._by_symbol.get(symbol, {}).values())
        if not orders:
            return
        last = self.market.last_price(symbol)
        # Which orders saw the market print a new price since the engine last looked?
        moved = {o.order_id for o in orders if o.seen_last is not None and o.seen_last != last}
        for order in orders:
            if not order.is_open:
                continue
            if order.awaiting_trigger:
                self._check_trigger(order, now)
                continue
            if not order.resting or order.working_limit is None:
                continue
            limit = order.working_limit
            if self._would_take(symbol, order.side, limit):
                self._sweep(order, now, limit, maker=True)
            through = last < limit if order.side == "buy" else last > limit
            if order.is_open and order.order_id in moved and through:
                qty = order.remaining
                trade_id = self._take(order, limit, qty, now)
                self._fill(order, limit, qty, trade_id, now, maker=True)
        current = self.market.last_price(symbol)
        for order in orders:
            order.seen_last = current

    # ----------------------------------------------------------------------------------
    # Methods

    def _echo(self, order: _Order, params: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if order.cl_ord_id is not None:
            out["cl_ord_id"] = order.cl_ord_id
        if "order_userref" in params:
            out["order_userref"] = order.order_userref
        return out

    def _add_order(self, acct: _Account, p: Mapping[str, Any], now: float) -> list[Reply]:
        pair = self._pair_for(p.get("symbol"))
        self._rate_charge(acct, pair.symbol, 1, now)
        order = self._parse_order(acct, p, pair, now, "add order")
        validate = bool(self._bool(p, "validate"))
        deadline = self._deadline(p, now)
        self._check_deadline(deadline, now)
        self._check_funds(acct, order)
        if validate:
            return [Reply(True, self._echo(order, p))]
        self._register(acct, order, now)
        result = {"order_id": order.order_id}
        result.update(self._echo(order, p))
        return [Reply(True, result)]

    def _batch_add(self, acct: _Account, p: Mapping[str, Any], now: float) -> list[Reply]:
        self._check_fields(p, frozenset({"symbol", "orders", "deadline", "validate"}), "batch add")
        pair = self._pair_for(p.get("symbol"))
        raw_orders = p.get("orders")
        if not isinstance(raw_orders, list):
            raise _invalid("orders must be a list of orders")
        if not 2 <= len(raw_orders) <= 15:
            raise _invalid("batch_add needs between 2 and 15 orders")
        self._rate_charge(acct, pair.symbol, len(raw_orders) / 2, now)
        validate = bool(self._bool(p, "validate"))
        deadline = self._deadline(p, now)
        drafts = []
        for raw in raw_orders:
            if not isinstance(raw, Mapping):
                raise _invalid("each order must be an object")
            drafts.append((raw, self._parse_order(acct, raw, pair, now, "batch add")))
        ids = [d.cl_ord_id for _, d in drafts if d.cl_ord_id is not None]
        if len(ids) != len(set(ids)):
            raise _invalid("cl_ord_id values in a batch must be unique")
        self._check_deadline(deadline, now)
        results: list[dict[str, Any]] = []
        for raw, order in drafts:
            echo = self._echo(order, raw)
            try:
                self._check_funds(acct, order)
            except _Reject as exc:
                results.append({"error": exc.error, **echo})
                continue
            if validate:
                results.append(echo)
                continue
            self._register(acct, order, now)
            results.append({"order_id": order.order_id, **echo})
        return [Reply(True, results)]

    def _find(self, acct: _Account, order_id: Any, cl_ord_id: Any) -> _Order:
        if order_id is not None:
            if not isinstance(order_id, str):
                raise _Reject("Order_id field must be a string")
            order = acct.orders.get(order_id)
        elif cl_ord_id is not None:
            if not isinstance(cl_ord_id, str):
                raise _Reject("Cl_ord_id field must be a string")
            order = next((o for o in acct.orders.values() if o.cl_ord_id == cl_ord_id), None)
        else:
            raise _invalid("order_id or cl_ord_id is required")
        if order is None:
            raise _Reject("EOrder:Unknown order")
        return order

    def _amend_order(self, acct: _Account, p: Mapping[str, Any], now: float) -> list[Reply]:
        self._check_fields(p, _AMEND_FIELDS, "amend order")
        order_qty = self._number(p, "order_qty")
        limit_price = self._number(p, "limit_price")
        display_qty = self._number(p, "display_qty")
        trigger_price = self._number(p, "trigger_price")
        post_only = self._bool(p, "post_only")
        if p.get("order_id") is not None and p.get("cl_ord_id") is not None:
            raise _invalid("order_id and cl_ord_id are mutually exclusive")
        order = self._find(acct, p.get("order_id"), p.get("cl_ord_id"))
        if p.get("symbol") is not None and p.get("symbol") != order.symbol:
            raise _invalid("symbol does not match the order")
        pair = order.pair
        self._rate_charge(
            acct, pair.symbol, 1 + self._decay_cost(_AMEND_DECAY, now - order.touched), now
        )
        deadline = self._deadline(p, now)
        if order_qty is None:
            raise _invalid("order_qty is required")
        self._check_qty(pair, order_qty)
        lpt = self._enum(p, "limit_price_type", _PRICE_TYPES)
        tpt = self._enum(p, "trigger_price_type", _PRICE_TYPES) or "static"
        if lpt is not None and order.order_type != "trailing-stop-limit":
            raise _invalid("limit_price_type can only be amended on trailing-stop-limit orders")
        if limit_price is not None:
            if order.limit_price is None:
                raise _invalid(f"limit_price cannot be set on a {order.order_type} order")
            if (lpt or order.limit_price_type) == "static":
                self._check_price(pair, limit_price, "limit_price")
        if trigger_price is not None:
            if order.trigger is None:
                raise _invalid(f"trigger_price cannot be set on a {order.order_type} order")
            if order.trigger.status == "triggered":
                raise _invalid("the order has already triggered")
        if display_qty is not None:
            if order.order_type != "iceberg":
                raise _invalid("display_qty is only available when ordertype = iceberg")
            self._check_qty(pair, display_qty, "display_qty")
            if display_qty * 15 < order_qty - order.cum_qty:
                raise _invalid("display_qty must be at least 1/15 of the remaining quantity")
        new_trigger = None
        if trigger_price is not None:
            assert order.trigger is not None
            new_trigger = self._make_trigger(
                pair, order.order_type, trigger_price, tpt, order.trigger.trailing
            )
        # Would the new price take? post_only amends are refused then.
        new_lpt = lpt or order.limit_price_type
        new_limit = order.working_limit
        if limit_price is not None and order.working_limit is not None:
            base = limit_price
            if order.trigger is not None and order.trigger.actual_price is not None:
                base = order.trigger.actual_price
            new_limit = _relative(pair, base, limit_price, new_lpt)
        if (
            post_only
            and new_limit is not None
            and self._would_take(order.symbol, order.side, new_limit)
        ):
            raise _Reject("EOrder:Post only order")
        self._check_deadline(deadline, now)
        # Funds for the amended order.
        saved = (
            order.order_qty,
            order.limit_price,
            order.limit_price_type,
            order.working_limit,
            order.trigger,
        )
        order.order_qty = max(order_qty, order.cum_qty)
        if limit_price is not None:
            order.limit_price = limit_price
            order.limit_price_type = new_lpt
            order.working_limit = new_limit
        if new_trigger is not None:
            order.trigger = new_trigger
        if order.remaining > 0:
            try:
                self._check_funds(acct, order)
            except _Reject:
                (
                    order.order_qty,
                    order.limit_price,
                    order.limit_price_type,
                    order.working_limit,
                    order.trigger,
                ) = saved
                raise
        if display_qty is not None:
            order.display_qty = display_qty
            order.display_remain = min(display_qty, order.remaining)
        order.touched = now
        amend_id = self._new_id("T")
        more: dict[str, Any] = {
            "order_qty": self._q_qty(order, order_qty),
            "amended": True,
            "reason": "User requested",
        }
        if order.limit_price is not None:
            more["limit_price"] = (
                order.limit_price
                if order.limit_price_type == "pct"
                else self._q_price(order, order.limit_price)
            )
        if display_qty is not None:
            more["display_qty"] = self._q_qty(order, display_qty)
        if order.trigger is not None and new_trigger is not None:
            more["triggers"] = self._triggers_view(order, now)
        self._status_event(order, "amended", now, **more)
        if order.remaining <= 0:
            self._cancel(order, now)
        elif order.resting and self._crosses(order):
            assert order.working_limit is not None
            self._sweep(order, now, order.working_limit, maker=False)
        elif order.awaiting_trigger:
            self._check_trigger(order, now)
        result: dict[str, Any] = {"amend_id": amend_id}
        if p.get("order_id") is not None:
            result["order_id"] = order.order_id
        else:
            result["cl_ord_id"] = order.cl_ord_id
        return [Reply(True, result)]

    def _edit_order(self, acct: _Account, p: Mapping[str, Any], now: float) -> list[Reply]:
        self._check_fields(p, _EDIT_FIELDS, "edit order")
        for key, use in _DEPRECATED_FIELDS.items():
            if key in p:
                raise _invalid(
                    f"{key} is deprecated and not supported by the fake exchange; use {use}"
                )
        order_qty = self._number(p, "order_qty")
        limit_price = self._number(p, "limit_price")
        display_qty = self._number(p, "display_qty")
        order_id = p.get("order_id")
        if order_id is None:
            raise _invalid("order_id is required")
        symbol = p.get("symbol")
        if symbol is None:
            raise _invalid("symbol is required")
        pair = self._pair_for(symbol)
        order = self._find(acct, order_id, None)
        if order.symbol != pair.symbol:
            raise _invalid("symbol cannot be changed")
        self._rate_charge(
            acct, pair.symbol, 1 + self._decay_cost(_EDIT_DECAY, now - order.touched), now
        )
        if order.trigger is not None and order.trigger.status == "triggered":
            raise _invalid("triggered orders cannot be edited")
        if order.conditional is not None:
            raise _invalid("orders with a conditional close cannot be edited")
        if order.cash_order_qty is not None:
            raise _invalid("cash_order_qty orders cannot be edited")
        # Build the replacement as an add_order request and validate it the same way.
        new_qty = order_qty if order_qty is not None else order.order_qty
        assert new_qty is not None
        if new_qty <= order.cum_qty:
            raise _invalid("order_qty must exceed the executed quantity")
        self._check_qty(pair, new_qty)
        spec: dict[str, Any] = {
            "order_type": order.order_type,
            "side": order.side,
            "order_qty": new_qty - order.cum_qty,
            "time_in_force": order.time_in_force,
            "fee_preference": self._enum(p, "fee_preference", ("base", "quote"))
            or order.fee_preference,
        }
        if order.limit_price is not None:
            spec["limit_price"] = limit_price if limit_price is not None else order.limit_price
            spec["limit_price_type"] = order.limit_price_type
        elif limit_price is not None:
            raise _invalid(f"limit_price is not allowed for order_type {order.order_type}")
        if order.expire_time is not None:
            spec["expire_time"] = rfc3339(order.expire_time)
        if order.display_qty is not None:
            spec["display_qty"] = display_qty if display_qty is not None else order.display_qty
        elif display_qty is not None:
            raise _invalid("display_qty is only available when ordertype = iceberg")
        post_only = self._bool(p, "post_only")
        if post_only if post_only is not None else order.post_only:
            spec["post_only"] = True
        if p.get("reduce_only") is not None:
            spec["reduce_only"] = p["reduce_only"]
        if p.get("no_mpp") is not None:
            spec["no_mpp"] = p["no_mpp"]
        if p.get("triggers") is not None:
            spec["triggers"] = p["triggers"]
        elif order.trigger is not None:
            spec["triggers"] = {
                "reference": order.trigger.reference,
                "price": order.trigger.price,
                "price_type": order.trigger.price_type,
            }
        userref = self._int(p, "order_userref")
        if order.cl_ord_id is None:
            spec["order_userref"] = userref if userref is not None else order.order_userref
        elif userref is not None:
            raise _invalid("cl_ord_id and order_userref are mutually exclusive")
        else:
            spec["cl_ord_id"] = order.cl_ord_id
        if order.sender_sub_id is not None:
            spec["sender_sub_id"] = order.sender_sub_id
        if order.stp_type != "cancel_newest":
            spec["stp_type"] = order.stp_type
        hidden_cl = order.cl_ord_id
        order.cl_ord_id = None  # the replacement may reuse it
        try:
            new = self._parse_order(acct, spec, pair, now, "batch add")
        finally:
            order.cl_ord_id = hidden_cl
        validate = bool(self._bool(p, "validate"))
        deadline = self._deadline(p, now)
        self._check_deadline(deadline, now)
        self._check_funds(acct, new, exclude=order)
        if validate:
            return [Reply(True, {"original_order_id": order.order_id})]
        self._cancel(order, now, "Order replaced")
        self._register(acct, new, now)
        return [Reply(True, {"order_id": new.order_id, "original_order_id": order.order_id})]

    def _cancel_cost(self, acct: _Account, order: _Order, now: float) -> None:
        self._rate_charge(
            acct, order.symbol, self._decay_cost(_CANCEL_DECAY, now - order.touched), now
        )

    @staticmethod
    def _list(p: Mapping[str, Any], key: str, kind: type) -> list[Any]:
        value = p.get(key)
        if value is None:
            return []
        if not isinstance(value, list) or not all(
            isinstance(v, kind) and not isinstance(v, bool) for v in value
        ):
            noun = "strings" if kind is str else "integers"
            raise _invalid(f"{key} must be a list of {noun}")
        return value

    def _cancel_order(self, acct: _Account, p: Mapping[str, Any], now: float) -> list[Reply]:
        self._check_fields(p, frozenset({"order_id", "cl_ord_id", "order_userref"}), "cancel order")
        order_ids = self._list(p, "order_id", str)
        cl_ids = self._list(p, "cl_ord_id", str)
        refs = self._list(p, "order_userref", int)
        if not (order_ids or cl_ids or refs):
            raise _invalid("order_id, cl_ord_id or order_userref is required")
        replies: list[Reply] = []

        def cancel_one(order: _Order, result: dict[str, Any]) -> None:
            try:
                self._cancel_cost(acct, order, now)
            except _Reject as exc:
                replies.append(Reply(False, error=exc.error))
                return
            self._cancel(order, now)
            replies.append(Reply(True, result))

        for oid in order_ids:
            order = acct.orders.get(oid)
            if order is None:
                replies.append(Reply(False, error="EOrder:Unknown order"))
            else:
                cancel_one(order, {"order_id": oid})
        for cid in cl_ids:
            found = next((o for o in acct.orders.values() if o.cl_ord_id == cid), None)
            if found is None:
                replies.append(Reply(False, error="EOrder:Unknown order"))
            else:
                cancel_one(found, {"cl_ord_id": cid})
        for ref in refs:
            matches = [o for o in acct.orders.values() if o.order_userref == ref]
            if not matches:
                replies.append(Reply(False, error="EOrder:Unknown order"))
            for order in matches:
                cancel_one(order, {"order_id": order.order_id})
        return replies

    def _cancel_all(self, acct: _Account, p: Mapping[str, Any], now: float) -> list[Reply]:
        self._check_fields(p, frozenset(), "cancel all")
        orders = list(acct.orders.values())
        for order in orders:
            self._cancel(order, now)
        return [Reply(True, {"count": len(orders)})]

    def _cancel_after(self, acct: _Account, p: Mapping[str, Any], now: float) -> list[Reply]:
        self._check_fields(p, frozenset({"timeout"}), "cancel all orders after")
        timeout = self._int(p, "timeout")
        if timeout is None:
            raise _invalid("timeout is required")
        if not 0 <= timeout < _MAX_DEADMAN_TIMEOUT:
            raise _invalid("timeout must be between 0 and 86399 seconds")
        current = _rfc3339_seconds(now)
        if timeout == 0:
            acct.deadman = None
            return [Reply(True, {"currentTime": current, "triggerTime": "0"})]
        acct.deadman = now + timeout
        return [
            Reply(True, {"currentTime": current, "triggerTime": _rfc3339_seconds(now + timeout)})
        ]

    def _batch_cancel(self, acct: _Account, p: Mapping[str, Any], now: float) -> list[Reply]:
        self._check_fields(p, frozenset({"orders", "cl_ord_id"}), "batch cancel")
        ids = self._list(p, "orders", str)
        cl_ids = self._list(p, "cl_ord_id", str)
        if not 2 <= len(ids) + len(cl_ids) <= 50:
            raise _invalid("batch_cancel needs between 2 and 50 orders")
        targets: dict[str, _Order] = {}
        for ident in ids:
            order = acct.orders.get(ident)
            if order is not None:
                targets[order.order_id] = order
            elif re.fullmatch(r"-?\d+", ident):
                for o in acct.orders.values():
                    if o.order_userref == int(ident):
                        targets[o.order_id] = o
        for cid in cl_ids:
            for o in acct.orders.values():
                if o.cl_ord_id == cid:
                    targets[o.order_id] = o
        if not targets:
            raise _Reject("EOrder:Unknown order")
        cost_by_symbol: dict[str, int] = {}
        for order in targets.values():
            cost = self._decay_cost(_CANCEL_DECAY, now - order.touched)
            cost_by_symbol[order.symbol] = cost_by_symbol.get(order.symbol, 0) + cost
        for symbol, cost in cost_by_symbol.items():
            self._rate_charge(acct, symbol, cost, now, force=True)
        for order in targets.values():
            self._cancel(order, now)
        return [Reply(True, None, extra={"orders_cancelled": len(targets)})]
