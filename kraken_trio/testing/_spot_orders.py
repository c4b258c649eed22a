"""The matching engine's records: orders, triggers, accounts, replies and events,
the parameters' vocabulary, and :class:`EngineState`, the state every layer of the
engine shares (accounts, open orders, ids, the per-pair rate counter).

The engine is layered, one concern a module, each layer a subclass of the one below:
:class:`EngineState` (here) < ``_spot_funds.Funds`` (prices, holds) <
``_spot_parse.RequestParsing`` (parameters) < ``_spot_render.Rendering`` (the
``executions`` views) < ``_spot_matching.Matching`` (life cycle, fills, triggers) <
``_spot_requests.RequestHandlers`` (the eight methods) < ``_engine.Engine`` (the
public API the servers use).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Literal, Protocol

from ._pairs import DEFAULT_PAIRS, PairSpec

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

ZERO = Decimal(0)
HUNDRED = Decimal(100)
MAX_SNAP_TRADES = 50
MAX_CLOSED = 10_000  # closed orders kept per account for QueryOrders
MAX_DEADMAN_TIMEOUT = 86400
_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

ORDER_TYPES = (
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
LIMIT_TYPES = frozenset(
    {"limit", "iceberg", "stop-loss-limit", "take-profit-limit", "trailing-stop-limit"}
)
TRIGGER_TYPES = frozenset(
    {
        "stop-loss",
        "stop-loss-limit",
        "take-profit",
        "take-profit-limit",
        "trailing-stop",
        "trailing-stop-limit",
    }
)
TRAILING_TYPES = frozenset({"trailing-stop", "trailing-stop-limit"})
CONDITIONAL_TYPES = (
    "limit",
    "stop-loss",
    "stop-loss-limit",
    "take-profit",
    "take-profit-limit",
    "trailing-stop",
    "trailing-stop-limit",
)
PRICE_TYPES = ("static", "pct", "quote")
STP_TYPES = ("cancel_newest", "cancel_oldest", "cancel_both")

ORDER_FIELDS = frozenset(
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
ADD_FIELDS = ORDER_FIELDS | {"symbol", "deadline", "validate"}
AMEND_FIELDS = frozenset(
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
EDIT_FIELDS = frozenset(
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
DEPRECATED_FIELDS = {"price": "limit_price", "trigger": "triggers", "stop_price": "triggers"}

# Rate-counter costs (protocol reference 5.1): (age bound in seconds, cost) pairs.
AMEND_DECAY = ((5.0, 3), (10.0, 2), (15.0, 1))
EDIT_DECAY = ((5.0, 6), (10.0, 5), (15.0, 4), (45.0, 2), (90.0, 1))
CANCEL_DECAY = ((5.0, 8), (10.0, 6), (15.0, 5), (45.0, 4), (90.0, 2), (300.0, 1))

_RFC3339 = re.compile(
    r"^(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d+))?([Zz]|[+-]\d\d:\d\d)$"
)
UUID_RE = re.compile(
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


class Reject(Exception):
    """A request (or one order of it) is refused with Kraken's error text."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


def invalid(detail: str) -> Reject:
    return Reject(f"EGeneral:Invalid arguments:{detail}")


# --------------------------------------------------------------------------------------
# Small helpers: time, numbers, ids


def rfc3339(now: float) -> str:
    """Render epoch seconds as Kraken's RFC3339 text with 6 fractional digits and Z."""
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=round(now * 1_000_000))
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def rfc3339_seconds(now: float) -> str:
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


def step_of(places: int) -> Decimal:
    return Decimal(1).scaleb(-places)


def decimal_places(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)


def fixed(value: Decimal, places: int) -> Decimal:
    """`value` with at least `places` decimals, never in exponent form, never rounded."""
    return value.quantize(step_of(max(places, decimal_places(value.normalize()))))


def is_multiple(value: Decimal, step: Decimal) -> bool:
    return value % step == 0


def relative_price(pair: PairSpec, base: Decimal, value: Decimal, price_type: str) -> Decimal:
    """`value` read as a static price, or as a pct/quote offset from `base`, on the tick."""
    if price_type == "static":
        return value.quantize(pair.price_increment)
    price = base * (1 + value / HUNDRED) if price_type == "pct" else base + value
    return price.quantize(pair.price_increment, ROUND_HALF_EVEN)


@dataclass(eq=False)
class Trigger:
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
class Conditional:
    order_type: str
    limit_price: Decimal | None
    limit_price_type: str
    trigger_price: Decimal | None
    trigger_price_type: str


@dataclass(eq=False)
class Order:
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
    trigger: Trigger | None
    conditional: Conditional | None
    created: float = 0.0
    touched: float = 0.0  # created or last amended: the age the rate counter uses
    cum_qty: Decimal = ZERO
    cum_cost: Decimal = ZERO
    cum_fee: Decimal = ZERO
    cash_spent: Decimal = ZERO
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
            return ZERO
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
class Account:
    name: str
    balances: dict[str, Decimal]
    orders: dict[str, Order] = field(default_factory=dict)  # open orders, in placement order
    trades: list[dict[str, Any]] = field(default_factory=list)
    deadman: float | None = None
    rates: dict[str, tuple[float, float]] = field(default_factory=dict)  # symbol -> (v, at)
    closed: dict[str, Order] = field(default_factory=dict)  # the last closed orders, by id


class EngineState:
    """The state every layer of the engine shares (the arguments are ``Engine``'s)."""

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
        self._accounts: dict[str, Account] = {}
        self._orders: dict[str, Order] = {}  # every open order, by id
        self._by_symbol: dict[str, dict[str, Order]] = {}  # the same, per symbol
        self._events: list[PrivateEvent] = []
        self._counters: dict[str, int] = {}
        self._asset_places: dict[str, int] = {}
        for pair in DEFAULT_PAIRS:
            self._learn_pair(pair)
        self._in_market = False
        self._market_backlog: list[tuple[str, float]] = []

    def open_account(self, account: str, balances: Mapping[str, Decimal] | None = None) -> None:
        """Create an account (or reset the balances of an existing one).

        Args:
            account: The account's name (the fake maps API keys to accounts).
            balances: What it holds; the engine's default balances when None.
        """
        start = {k: Decimal(v) for k, v in (balances or self._default_balances).items()}
        existing = self._accounts.get(account)
        if existing is None:
            self._accounts[account] = Account(account, start)
        else:
            existing.balances = start

    # ----------------------------------------------------------------------------------
    # Accounts, ids, rate counter

    def _account(self, name: str) -> Account:
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
        return fixed(amount, self._asset_places.get(asset, 0))

    def _new_id(self, prefix: str) -> str:
        n = self._counters.get(prefix, 0) + 1
        self._counters[prefix] = n
        digest = hashlib.blake2b(f"kraken-trio:{prefix}:{n}".encode(), digest_size=16).digest()
        chars = "".join(_ID_ALPHABET[b % len(_ID_ALPHABET)] for b in digest)
        return f"{prefix}{chars[:5]}-{chars[5:10]}-{chars[10:16]}"

    def _rate_value(self, acct: Account, symbol: str, now: float) -> float:
        value, at = acct.rates.get(symbol, (0.0, now))
        return max(0.0, value - self.rate_decay * max(0.0, now - at))

    def _rate_charge(
        self, acct: Account, symbol: str, cost: float, now: float, *, force: bool = False
    ) -> None:
        value = self._rate_value(acct, symbol, now)
        if not force and value + cost > self.max_rate_count:
            raise Reject("EOrder:Rate limit exceeded")
        acct.rates[symbol] = (value + cost, now)

    @staticmethod
    def _decay_cost(table: tuple[tuple[float, int], ...], age: float) -> int:
        for bound, cost in table:
            if age < bound:
                return cost
        return 0
