"""The engine's matching: an order's life cycle (rest, sweep, fill, close), the fills'
ledger and balances, and the reactions to the market (triggers, resting fills).
"""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_UP, Decimal
from typing import Any

from ._spot_orders import (
    LIMIT_TYPES,
    MAKER_FEE,
    MAX_CLOSED,
    MAX_SNAP_TRADES,
    TAKER_FEE,
    TRAILING_TYPES,
    TRIGGER_TYPES,
    ZERO,
    Account,
    Order,
    Reject,
    Trigger,
    rfc3339,
    step_of,
)
from ._spot_render import Rendering


class Matching(Rendering):
    """Life cycle and market reactions (a layer of the engine; see ``_spot_orders``)."""

    def _register(self, acct: Account, order: Order, now: float) -> None:
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

    def _activate(self, order: Order, now: float, *, taker: bool) -> None:
        """The order is live (no trigger, or its trigger fired): trade now, then rest."""
        if order.order_type in LIMIT_TYPES:
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

    def _crosses(self, order: Order) -> bool:
        limit = order.working_limit if order.working_limit is not None else order.limit_price
        return limit is not None and self._would_take(order.symbol, order.side, limit)

    def _sweep(self, order: Order, now: float, limit: Decimal | None, *, maker: bool) -> None:
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

    def _complete_cash(self, order: Order, now: float) -> None:
        """A cash_order_qty order has spent all it can: it is filled."""
        order.order_qty = order.cum_qty
        if order.cum_qty > 0:
            self._finish_filled(order, now)

    def _fill(
        self, order: Order, price: Decimal, qty: Decimal, trade_id: int, now: float, *, maker: bool
    ) -> None:
        pair = order.pair
        acct = self._accounts[order.account]
        cost = (price * qty).quantize(step_of(pair.cost_precision), ROUND_HALF_EVEN)
        rate = MAKER_FEE if maker else TAKER_FEE
        if order.fee_preference == "base":
            fee_asset = pair.base
            fee = (qty * rate).quantize(pair.qty_increment, ROUND_UP)
        else:
            fee_asset = pair.quote
            fee = (cost * rate).quantize(step_of(pair.cost_precision), ROUND_UP)
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
        del acct.trades[:-MAX_SNAP_TRADES]

        # Ledger: base leg first, then quote.
        sign = 1 if order.side == "buy" else -1
        legs = [
            (pair.base, sign * qty, fee if fee_asset == pair.base else ZERO),
            (pair.quote, -sign * cost, fee if fee_asset == pair.quote else ZERO),
        ]
        for asset, amount, leg_fee in legs:
            balance = acct.balances.get(asset, ZERO) + amount - leg_fee
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

    def _finish_filled(self, order: Order, now: float) -> None:
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

    def _forget(self, order: Order, now: float) -> None:
        self._orders.pop(order.order_id, None)
        self._by_symbol.get(order.symbol, {}).pop(order.order_id, None)
        order.closed_at = now
        acct = self._accounts.get(order.account)
        if acct is not None:
            acct.orders.pop(order.order_id, None)
            acct.closed[order.order_id] = order
            if len(acct.closed) > MAX_CLOSED:
                del acct.closed[next(iter(acct.closed))]

    def _close(self, order: Order, now: float, status: str, reason: str) -> None:
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

    def _cancel(self, order: Order, now: float, reason: str = "User requested") -> None:
        self._close(order, now, "canceled", reason)

    def _finish(self, order: Order, now: float, status: str, reason: str) -> None:
        self._close(order, now, status, reason)

    def _place_close(self, primary: Order, now: float) -> None:
        """Place the OTO close order of a primary that traded."""
        cond = primary.conditional
        if cond is None or primary.cum_qty <= 0:
            return
        primary.conditional = None
        acct = self._accounts[primary.account]
        trigger = None
        if cond.order_type in TRIGGER_TYPES:
            assert cond.trigger_price is not None
            trigger = Trigger(
                "last",
                cond.trigger_price,
                cond.trigger_price_type,
                cond.order_type in TRAILING_TYPES,
                self.market.last_price(primary.symbol),
            )
        close = Order(
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

    def _check_trigger(self, order: Order, now: float) -> None:
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
        if order.order_type in LIMIT_TYPES:
            order.working_limit = self._limit_from(order, level)
        order.status = "triggered"
        self._status_event(order, "status", now, triggers=self._triggers_view(order, now))
        order.status = "new" if order.cum_qty == 0 else "partially_filled"
        acct = self._accounts[order.account]
        if not order.is_close:
            try:
                self._check_funds(acct, order)
            except Reject:
                self._cancel(order, now, "Insufficient funds")
                return
        self._activate(order, now, taker=True)

    def _take(self, order: Order, price: Decimal, qty: Decimal, now: float) -> int:
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
