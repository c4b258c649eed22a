"""The engine's rendering: orders as the ``executions`` channel shows them, and the events
queued for the servers.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Literal

from ._spot_orders import (
    ZERO,
    Order,
    PrivateEvent,
    fixed,
    rfc3339,
)
from ._spot_parse import RequestParsing


class Rendering(RequestParsing):
    """Events and views (a layer of the engine; see ``_spot_orders``)."""

    def _emit(self, account: str, channel: Literal["executions", "balances"], item: Any) -> None:
        self._events.append(PrivateEvent(account, channel, [item]))

    def _ids(self, order: Order) -> dict[str, Any]:
        ids: dict[str, Any] = {"order_id": order.order_id, "order_userref": order.order_userref}
        if order.cl_ord_id is not None:
            ids["cl_ord_id"] = order.cl_ord_id
        return ids

    def _q_qty(self, order: Order, qty: Decimal) -> Decimal:
        return qty.quantize(order.pair.qty_increment)

    def _q_price(self, order: Order, price: Decimal) -> Decimal:
        return price.quantize(order.pair.price_increment, ROUND_HALF_EVEN)

    def _q_cost(self, order: Order, cost: Decimal) -> Decimal:
        return fixed(cost, order.pair.cost_precision)

    def _avg(self, order: Order) -> Decimal:
        if order.cum_qty == 0:
            return ZERO
        return self._q_price(order, order.cum_cost / order.cum_qty)

    def _fee_usd(self, order: Order, fee: Decimal, fee_asset: str) -> Decimal:
        if fee == 0:
            return ZERO
        if fee_asset == "USD":
            return fee
        pair = self.market.pair(f"{fee_asset}/USD")
        if pair is None:
            return ZERO
        value: Decimal = fee * self.market.last_price(pair.symbol)
        return value.quantize(Decimal("0.0001"), ROUND_HALF_EVEN)

    def _triggers_view(self, order: Order, now: float) -> dict[str, Any]:
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

    def _order_view(self, order: Order, exec_type: str, now: float) -> dict[str, Any]:
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

    def _fee_asset(self, order: Order) -> str:
        return order.pair.base if order.fee_preference == "base" else order.pair.quote

    def _status_event(self, order: Order, exec_type: str, now: float, **more: Any) -> None:
        item: dict[str, Any] = {
            "timestamp": rfc3339(now),
            "order_status": order.status,
            "exec_type": exec_type,
        }
        item.update(self._ids(order))
        item.update(more)
        self._emit(order.account, "executions", item)
