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

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from ._spot_orders import (
    DEFAULT_BALANCES,
    MAKER_FEE,
    MAX_SNAP_TRADES,
    TAKER_FEE,
    MarketView,
    Order,
    PrivateEvent,
    Reject,
    Reply,
    Side,
    parse_rfc3339,
    rfc3339,
)
from ._spot_requests import RequestHandlers

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


class Engine(RequestHandlers):
    """The matching engine and the accounts of one fake exchange.

    Args:
        market: The synthetic market to trade against.
        default_balances: What an account opened implicitly (first request) holds;
            :data:`DEFAULT_BALANCES` when None.
        max_rate_count: The rate-counter threshold (Kraken Pro: 180), also what the
            ``executions`` ack reports as ``maxratecount``.
        rate_decay: How much the rate counter decays per second (Kraken Pro: 3.75).
    """

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
        except Reject as exc:
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
            data.extend(dict(t) for t in acct.trades[-MAX_SNAP_TRADES:])
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

    def find_order(self, account: str, order_id: str) -> Order | None:
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
