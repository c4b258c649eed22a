"""Kraken's spot trading rate counter, modelled from the client's own requests; pure.

Kraken keeps one counter per client and pair. Every transaction adds to it, and it decays at
the account tier's rate; past the tier's threshold the engine answers
``EOrder:Rate limit exceeded``. The costs (Kraken's "Spot Trading Limits" guide):

============  =====  ====  =====  =====  =====  =====  ======
request       fixed  <5 s  <10 s  <15 s  <45 s  <90 s  <300 s
============  =====  ====  =====  =====  =====  =====  ======
add_order     1      -     -      -      -      -      -
amend_order   1      3     2      1      -      -      -
edit_order    1      6     5      4      2      1      -
cancel_order  -      8     6      5      4      2      1
batch_add     n/2    -     -      -      -      -      -
batch_cancel  -      8n    6n     5n     4n     2n     1n
============  =====  ====  =====  =====  =====  =====  ======

The ages are seconds since the order was placed or last amended. Tiers: starter 60 / 1.0 per
second, intermediate 125 / 2.34, pro 180 / 3.75.

What the model assumes where Kraken says nothing:

* An order's age starts when the client saw it placed (its reply, or its ``pending_new`` /
  ``new`` execution): a little later than the engine's clock, so the model's cancel cost is
  never lower than Kraken's.
* An order the model has not seen (placed by another session, or before the client started)
  is costed as brand new (the highest cost) when its symbol is known, and not at all when
  it is not (a cancel by an unknown id or by ``order_userref``).
* ``batch_cancel`` is charged per order by its age, each on its own pair; Kraken accepts a
  batch cancel even past the threshold, so it never waits.
* ``cancel_all`` and ``cancel_all_orders_after`` cost nothing (the guide lists no cost).
* The model keeps a headroom of a quarter second of decay (at least 1) below the
  threshold, for requests that bunch up in transit.

Corrections: the ``maxratecount`` of an ``executions`` ack replaces the threshold; with
``ratecounter=True`` the counter values in the executions stream replace the modelled
value; an ``EOrder:Rate limit exceeded`` answer sets the pair's counter to the threshold.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = [
    "AMEND_COSTS",
    "CANCEL_COSTS",
    "EDIT_COSTS",
    "TIERS",
    "RateGovernor",
    "RateTier",
    "decaying_cost",
]

AMEND_COSTS = ((5.0, 3), (10.0, 2), (15.0, 1))
EDIT_COSTS = ((5.0, 6), (10.0, 5), (15.0, 4), (45.0, 2), (90.0, 1))
CANCEL_COSTS = ((5.0, 8), (10.0, 6), (15.0, 5), (45.0, 4), (90.0, 2), (300.0, 1))
_MAX_TRACKED = 100_000  # orders whose age is remembered (oldest forgotten first)


@dataclass(frozen=True, slots=True)
class RateTier:
    """A rate counter's threshold and decay per second (Kraken's tiers, or a negotiated one).

    Attributes:
        threshold: The counter value past which Kraken refuses.
        decay: How much the counter falls per second.
    """

    threshold: float
    decay: float

    def __post_init__(self) -> None:
        for name in ("threshold", "decay"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ValueError(f"RateTier.{name} must be a positive number, got {value!r}")


TIERS: Mapping[str, RateTier] = {
    "starter": RateTier(60, 1.0),
    "intermediate": RateTier(125, 2.34),
    "pro": RateTier(180, 3.75),
}


def decaying_cost(table: tuple[tuple[float, int], ...], age: float) -> int:
    """The decaying part of a cost for an order ``age`` seconds old."""
    for bound, cost in table:
        if age < bound:
            return cost
    return 0


@dataclass(slots=True)
class _Order:
    symbol: str
    touched: float
    cl_ord_id: str | None


class RateGovernor:
    """The per-pair counters and the order ages they depend on.

    Every method takes ``now`` (seconds on any monotonic clock, the same for every call).

    Args:
        tier: A tier name (``starter``, ``intermediate``, ``pro``) or a :class:`RateTier`.
    """

    def __init__(self, tier: str | RateTier = "starter") -> None:
        chosen = TIERS.get(tier) if isinstance(tier, str) else tier
        if not isinstance(chosen, RateTier):  # a bad value, not a bad type: users pass names
            raise ValueError(  # noqa: TRY004
                f"rate tier must be one of {sorted(TIERS)} or a RateTier, got {tier!r}"
            )
        self.threshold = float(chosen.threshold)
        self.decay = float(chosen.decay)
        self._counters: dict[str, tuple[float, float]] = {}
        self._orders: OrderedDict[str, _Order] = OrderedDict()
        self._by_cl_ord_id: dict[str, str] = {}

    def __repr__(self) -> str:
        return (
            f"<RateGovernor threshold={self.threshold:g} decay={self.decay:g}/s "
            f"pairs={len(self._counters)} orders={len(self._orders)}>"
        )

    @property
    def headroom(self) -> float:
        """How far below the threshold the model stays."""
        return max(1.0, self.decay * 0.25)

    # ------------------------------------------------------------------ the counters

    def value(self, symbol: str, now: float) -> float:
        """The modelled counter of ``symbol`` at ``now``."""
        value, at = self._counters.get(symbol, (0.0, now))
        return max(0.0, value - self.decay * max(0.0, now - at))

    def delay(self, costs: Mapping[str, float], now: float) -> float:
        """Seconds until every cost fits under its pair's threshold; ``inf`` if one never can."""
        limit = self.threshold - self.headroom
        wait = 0.0
        for symbol, cost in costs.items():
            if cost > limit:
                return math.inf
            excess = self.value(symbol, now) + cost - limit
            if excess > 0:
                wait = max(wait, excess / self.decay)
        return wait

    def charge(self, costs: Mapping[str, float], now: float) -> None:
        """Add ``costs`` to the counters (even past the threshold: Kraken counts refusals)."""
        for symbol, cost in costs.items():
            if cost:
                self._counters[symbol] = (self.value(symbol, now) + cost, now)

    def saturate(self, symbol: str, now: float) -> None:
        """Kraken refused a request on ``symbol`` for its rate: its counter is at the top."""
        self._counters[symbol] = (max(self.value(symbol, now), self.threshold), now)

    # ------------------------------------------------------------------ costs of requests

    def _order_cost(
        self,
        table: tuple[tuple[float, int], ...],
        now: float,
        order_id: str | None,
        cl_ord_id: str | None,
        symbol: str | None,
    ) -> tuple[str | None, int]:
        order = self._find(order_id, cl_ord_id)
        if order is not None:
            return order.symbol, decaying_cost(table, now - order.touched)
        return symbol, decaying_cost(table, 0.0)

    def costs(self, method: str, params: Mapping[str, object], now: float) -> dict[str, float]:
        """What a trading request adds to each pair's counter.

        Args:
            method: Kraken's method name (``add_order``, ``cancel_order``...).
            params: The request's parameters by Kraken's names (lists for id lists).
            now: The current time.
        """
        symbol = params.get("symbol")
        sym = symbol if isinstance(symbol, str) else None
        out: dict[str, float] = {}

        def add(target: str | None, cost: float) -> None:
            if target is not None and cost:
                out[target] = out.get(target, 0.0) + cost

        if method == "add_order":
            add(sym, 1)
        elif method == "batch_add":
            orders = params.get("orders")
            add(sym, len(orders) / 2 if isinstance(orders, list | tuple) else 0)
        elif method in ("amend_order", "edit_order"):
            table = AMEND_COSTS if method == "amend_order" else EDIT_COSTS
            target, cost = self._order_cost(
                table, now, _str(params.get("order_id")), _str(params.get("cl_ord_id")), sym
            )
            add(target, 1 + cost)
        elif method in ("cancel_order", "batch_cancel"):
            ids = list(_strs(params.get("order_id"))) + list(_strs(params.get("orders")))
            for order_id in ids:
                add(*self._order_cost(CANCEL_COSTS, now, order_id, None, None))
            for cl_ord_id in _strs(params.get("cl_ord_id")):
                add(*self._order_cost(CANCEL_COSTS, now, None, cl_ord_id, None))
        return out

    # ------------------------------------------------------------------ what it learns

    def _find(self, order_id: str | None, cl_ord_id: str | None) -> _Order | None:
        if order_id is None and cl_ord_id is not None:
            order_id = self._by_cl_ord_id.get(cl_ord_id)
        return self._orders.get(order_id) if order_id is not None else None

    def placed(self, order_id: str, symbol: str, now: float, cl_ord_id: str | None = None) -> None:
        """An order was placed (or seen for the first time): its age starts now."""
        if order_id in self._orders:
            return
        self._orders[order_id] = _Order(symbol, now, cl_ord_id)
        if cl_ord_id is not None:
            self._by_cl_ord_id[cl_ord_id] = order_id
        while len(self._orders) > _MAX_TRACKED:
            self._drop(next(iter(self._orders)))

    def amended(self, order_id: str | None, now: float, cl_ord_id: str | None = None) -> None:
        """An order was amended: its age starts again."""
        order = self._find(order_id, cl_ord_id)
        if order is not None:
            order.touched = now

    def closed(self, order_id: str) -> None:
        """An order ended (filled, canceled, expired): forget its age."""
        self._drop(order_id)

    def _drop(self, order_id: str) -> None:
        order = self._orders.pop(order_id, None)
        if order is not None and order.cl_ord_id is not None:
            self._by_cl_ord_id.pop(order.cl_ord_id, None)

    def set_threshold(self, threshold: float) -> None:
        """The account's real threshold (an executions ack's ``maxratecount``)."""
        if threshold > 0:
            self.threshold = float(threshold)

    def set_counter(self, symbol: str, value: float, now: float) -> None:
        """The server's own counter value for ``symbol`` (``ratecounter=True``)."""
        self._counters[symbol] = (max(0.0, float(value)), now)

    def observe(self, message: object, now: float) -> None:
        """Learn from a message of the ``executions`` channel or its subscribe ack.

        Accepts a :class:`~kraken_trio._proto.spot.SubscribeResponse` (its ``maxratecount``)
        and an :class:`~kraken_trio._proto.spot.ExecutionsMessage` (orders placed, amended
        and closed; rate counter values when subscribed with ``ratecounter=True``). Anything
        else is ignored.
        """
        self.observe_ack(getattr(message, "result", None))
        if getattr(message, "channel", None) != "executions":
            return
        data = getattr(message, "data", None)
        if isinstance(data, list):
            self.observe_executions(data, now)

    def observe_ack(self, result: object) -> None:
        """Learn the threshold from an ``executions`` subscribe ack's ``result``."""
        if getattr(result, "channel", None) != "executions":
            return
        maxratecount = getattr(result, "maxratecount", None)
        if isinstance(maxratecount, int) and not isinstance(maxratecount, bool):
            self.set_threshold(maxratecount)

    def observe_executions(self, data: Iterable[object], now: float) -> None:
        """Learn from the elements of an executions message (see :meth:`observe`)."""
        for item in data:
            order_id = getattr(item, "order_id", None)
            exec_type = getattr(item, "exec_type", None)
            symbol = getattr(item, "symbol", None)
            count = getattr(item, "ratecount", None)
            if isinstance(symbol, str) and isinstance(count, int | float):
                self.set_counter(symbol, count, now)
            if not isinstance(order_id, str):
                continue
            status = getattr(item, "order_status", None)
            if status in ("filled", "canceled", "expired"):
                self.closed(order_id)
            elif exec_type == "amended":
                self.amended(order_id, now)
            elif isinstance(symbol, str) and status in ("pending_new", "new", "partially_filled"):
                self.placed(order_id, symbol, now, _str(getattr(item, "cl_ord_id", None)))


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _strs(value: object) -> Iterable[str]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple):
        return tuple(v for v in value if isinstance(v, str))
    return ()
