"""Order entry for the fake futures account: matching against the synthetic book, pure.

:class:`Trader` takes Futures REST order requests (already parsed) and turns them into account
changes: a marketable order trades against the opposite side of the product's synthetic book as
a taker (consuming those levels, which the public ``book`` and ``trade`` feeds then show), the
rest of a limit order rests, and resting orders fill as makers at their limit price when the
market's best opposite price reaches them (:meth:`Trader.on_market`). Stop and take-profit
orders rest until the last price reaches the trigger, then act as the limit order (or, without
a limit price, the market order) they carry.

Results carry Kraken's ``status`` strings (``placed``, ``partiallyFilled``, ``filled``,
``cancelled``, ``edited``, ``notFound``, ``invalidSize``, ``invalidPrice``,
``insufficientAvailableFunds``, ``postWouldExecute``, ``iocWouldNotExecute``,
``wouldNotReducePosition``, ``orderForEditNotFound``, ``clientOrderIdAlreadyExist``) and the
``orderEvents`` list of the REST answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final, Protocol

from ._futures_account import FuturesAccount
from ._futures_market import FuturesProductSpec
from ._futures_orders import REST_ORDER_TYPES, FuturesOrder
from ._futures_positions import MAKER_FEE, TAKER_FEE, cross_levels, fee

__all__ = ["OrderResult", "Trader", "Venue"]

_ZERO: Final = Decimal(0)


class Venue(Protocol):
    """What the trader needs from the market."""

    def spec(self, instrument: str) -> FuturesProductSpec:
        """The listed product (raises KeyError when not listed)."""
        ...

    def opposite(self, instrument: str, buy: bool) -> Mapping[Decimal, Decimal]:
        """The side of the book a taker of side ``buy`` trades against (price -> qty)."""
        ...

    def take(self, instrument: str, buy: bool, price: Decimal, qty: Decimal) -> None:
        """A taker of side ``buy`` trades ``qty`` at the book level ``price`` (consumed)."""
        ...

    def print_trade(self, instrument: str, buy: bool, price: Decimal, qty: Decimal) -> None:
        """A trade printed at ``price`` whose taker was of side ``buy`` (the book unchanged)."""
        ...

    def last_price(self, instrument: str) -> Decimal:
        """The last trade price."""
        ...


@dataclass(slots=True)
class OrderResult:
    """The outcome of one request.

    Attributes:
        status: Kraken's status string.
        order_id: The order concerned (None when none was created).
        events: Kraken's ``orderEvents``.
    """

    status: str
    order_id: str | None = None
    events: list[dict[str, Any]] = field(default_factory=list)


class Trader:
    """Order entry and matching for one account on one venue."""

    def __init__(self, account: FuturesAccount, venue: Venue) -> None:
        self.account = account
        self.venue = venue

    def send_order(
        self,
        *,
        symbol: str,
        side: str,
        size: Decimal,
        order_type: str,
        limit_price: Decimal | None = None,
        stop_price: Decimal | None = None,
        reduce_only: bool = False,
        cli_ord_id: str | None = None,
        trigger_signal: str = "last",
    ) -> OrderResult:
        """Place an order (``sendorder``).

        Raises:
            KeyError: For a product that is not listed.
            ValueError: For a side or order type Kraken does not know (the REST layer answers
                these with an ``invalidArgument`` error).
        """
        spec = self.venue.spec(symbol)
        if side not in ("buy", "sell"):
            raise ValueError(f"side must be buy or sell, got {side!r}")
        if order_type not in REST_ORDER_TYPES:
            raise ValueError(f"orderType must be one of {sorted(REST_ORDER_TYPES)}")
        buy = side == "buy"
        if size <= 0 or size % spec.qty_step != 0:
            return OrderResult("invalidSize")
        needs_limit = order_type in ("lmt", "post", "ioc")
        for price in (limit_price, stop_price):
            if price is not None and (price <= 0 or price % spec.tick_size != 0):
                return OrderResult("invalidPrice")
        if (needs_limit and limit_price is None) or (
            order_type in ("stp", "take_profit") and stop_price is None
        ):
            return OrderResult("invalidPrice")
        if cli_ord_id is not None and self.account.find(None, cli_ord_id) is not None:
            return OrderResult("clientOrderIdAlreadyExist")
        if reduce_only:
            position = self.account.positions.get(symbol)
            if position is None or (position.size > 0) == buy:
                return OrderResult("wouldNotReducePosition")
            size = min(size, abs(position.size))
        reference = limit_price or stop_price or self.venue.last_price(symbol)
        if not reduce_only and self.account.ledger.order_margin(symbol, size, reference) > (
            self.account.ledger.available(symbol)
        ):
            return OrderResult("insufficientAvailableFunds")
        if (
            order_type == "post"
            and limit_price is not None
            and self._crosses(symbol, buy, limit_price)
        ):
            return OrderResult("postWouldExecute")
        order = self.account.new_order(
            symbol,
            buy=buy,
            qty=size,
            limit_price=limit_price if limit_price is not None else _ZERO,
            stop_price=stop_price if stop_price is not None else _ZERO,
            order_type=REST_ORDER_TYPES[order_type],
            rest_type=order_type,
            reduce_only=reduce_only,
            cli_ord_id=cli_ord_id,
            trigger_signal=trigger_signal if order_type in ("stp", "take_profit") else None,
        )
        events: list[dict[str, Any]] = [
            {"order": order.to_rest(), "reducedQuantity": None, "type": "PLACE"}
        ]
        self.account.open(order)
        if order_type in ("stp", "take_profit"):
            return OrderResult("placed", order.order_id, events)
        self._take(order, events)
        if order.remaining > 0 and order_type in ("ioc", "mkt"):
            self.account.remove(order, "ioc_order_failed_because_it_would_not_be_executed")
            if order.filled == 0:
                return OrderResult("iocWouldNotExecute", order.order_id, events)
            return OrderResult("partiallyFilled", order.order_id, events)
        return OrderResult(_fill_status(order), order.order_id, events)

    def _crosses(self, instrument: str, buy: bool, limit: Decimal) -> bool:
        levels = self.venue.opposite(instrument, buy)
        if not levels:
            return False
        best = min(levels) if buy else max(levels)
        return best <= limit if buy else best >= limit

    def _take(self, order: FuturesOrder, events: list[dict[str, Any]]) -> None:
        limit = None if order.rest_type == "mkt" or order.limit_price == 0 else order.limit_price
        spec = self.venue.spec(order.instrument)
        levels = self.venue.opposite(order.instrument, order.buy)
        for price, qty in cross_levels(levels, order.buy, order.remaining, limit):
            prior = order.to_rest()
            self.venue.take(order.instrument, order.buy, price, qty)
            fill_id = self.account.execute(
                order,
                qty,
                price,
                fill_type="taker",
                fee_paid=fee(spec.inverse, qty, price, TAKER_FEE),
                taker_order_type=order.rest_type,
            )
            events.append(
                {
                    "executionId": fill_id,
                    "price": price,
                    "amount": qty,
                    "orderPriorEdit": None,
                    "orderPriorExecution": prior,
                    "takerReducedQuantity": None,
                    "type": "EXECUTION",
                }
            )

    def edit_order(
        self,
        *,
        order_id: str | None,
        cli_ord_id: str | None,
        size: Decimal | None,
        limit_price: Decimal | None,
        stop_price: Decimal | None,
    ) -> OrderResult:
        """Change an open order's size or prices in place (``editorder``)."""
        order = self.account.find(order_id, cli_ord_id)
        if order is None:
            return OrderResult("orderForEditNotFound")
        spec = self.venue.spec(order.instrument)
        if size is not None and (size <= order.filled or size % spec.qty_step != 0):
            return OrderResult("invalidSize", order.order_id)
        for price in (limit_price, stop_price):
            if price is not None and (price <= 0 or price % spec.tick_size != 0):
                return OrderResult("invalidPrice", order.order_id)
        old = order.to_rest()
        if size is not None:
            order.qty = size
        if limit_price is not None:
            order.limit_price = limit_price
        if stop_price is not None:
            order.stop_price = stop_price
        self.account.open(order, reason="edited_by_user")
        events: list[dict[str, Any]] = [
            {"old": old, "new": order.to_rest(), "reducedQuantity": None, "type": "EDIT"}
        ]
        return OrderResult("edited", order.order_id, events)

    def cancel_order(self, *, order_id: str | None, cli_ord_id: str | None) -> OrderResult:
        """Cancel one open order (``cancelorder``)."""
        order = self.account.find(order_id, cli_ord_id)
        if order is None:
            return OrderResult("notFound")
        self.account.remove(order, "cancelled_by_user")
        event = {"uid": order.order_id, "order": order.to_rest(), "type": "CANCEL"}
        return OrderResult("cancelled", order.order_id, [event])

    def cancel_all(self, symbol: str | None) -> list[FuturesOrder]:
        """Cancel every open order, or those of ``symbol`` (``cancelallorders``)."""
        doomed = [o for o in self.account.orders.values() if symbol in (None, o.instrument)]
        for order in doomed:
            self.account.remove(order, "cancelled_by_user")
        return doomed

    def on_market(self, instrument: str) -> None:
        """After the market of ``instrument`` moved: trigger stops, fill crossed resting orders."""
        last = self.venue.last_price(instrument)
        for order in list(self.account.orders.values()):
            if order.instrument != instrument:
                continue
            if order.order_type in ("stop", "take_profit"):
                if _triggered(order, last):
                    self._trigger(order)
                continue
            if order.rest_type == "mkt" or order.limit_price == 0:
                continue
            levels = self.venue.opposite(instrument, order.buy)
            crossed = cross_levels(levels, order.buy, order.remaining, order.limit_price)
            qty = sum((q for _, q in crossed), _ZERO)
            if qty <= 0:
                continue
            spec = self.venue.spec(instrument)
            price = order.limit_price
            self.venue.print_trade(instrument, not order.buy, price, qty)
            self.account.execute(
                order,
                qty,
                price,
                fill_type="maker",
                fee_paid=fee(spec.inverse, qty, price, MAKER_FEE),
            )

    def _trigger(self, order: FuturesOrder) -> None:
        order.order_type = "limit"
        order.stop_price = _ZERO
        order.trigger_signal = None
        order.rest_type = "lmt" if order.limit_price else "mkt"
        self.account.open(order, reason="limit_order_from_stop")
        self._take(order, [])
        if order.remaining > 0 and order.rest_type == "mkt":
            self.account.remove(order, "ioc_order_failed_because_it_would_not_be_executed")


def _triggered(order: FuturesOrder, last: Decimal) -> bool:
    rising = order.buy == (order.order_type == "stop")
    return last >= order.stop_price if rising else last <= order.stop_price


def _fill_status(order: FuturesOrder) -> str:
    if order.remaining == 0:
        return "filled"
    return "partiallyFilled" if order.filled > 0 else "placed"
