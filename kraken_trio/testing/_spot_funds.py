"""The engine's prices and funds: trigger levels, reference prices, and what an open order
holds of an account's balances.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

from ._spot_orders import (
    HUNDRED,
    LIMIT_TYPES,
    TAKER_FEE,
    ZERO,
    Account,
    EngineState,
    Order,
    Reject,
    Side,
    relative_price,
)


class Funds(EngineState):
    """Prices and holds (a layer of the engine; see ``_spot_orders``)."""

    def _trigger_level(self, order: Order) -> Decimal:
        trig = order.trigger
        assert trig is not None
        pair = order.pair
        if trig.trailing:
            offset = trig.anchor * trig.price / HUNDRED if trig.price_type == "pct" else trig.price
            level = trig.anchor - offset if order.side == "sell" else trig.anchor + offset
        elif trig.price_type == "static":
            level = trig.price
        elif trig.price_type == "pct":
            level = trig.anchor * (1 + trig.price / HUNDRED)
        else:
            level = trig.anchor + trig.price
        return level.quantize(pair.price_increment, ROUND_HALF_EVEN)

    def _limit_from(self, order: Order, base_price: Decimal) -> Decimal:
        """The absolute limit price of a -limit order whose trigger fired at base_price."""
        assert order.limit_price is not None
        return relative_price(order.pair, base_price, order.limit_price, order.limit_price_type)

    def _reference_price(self, order: Order) -> Decimal | None:
        """The price an order is expected to trade at (for funds and cost checks)."""
        if order.working_limit is not None:
            return order.working_limit
        if order.trigger is not None and order.trigger.status == "untriggered":
            level = self._trigger_level(order)
            if order.order_type in LIMIT_TYPES:
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

    def _market_cost(self, order: Order) -> Decimal:
        """What a market buy of the order's remaining qty would cost, walking the book."""
        left = order.remaining
        cost = ZERO
        last = self.market.last_price(order.symbol)
        for price, qty in self.market.opposite_levels(order.symbol, order.side):
            take = min(left, qty)
            cost += take * price
            left -= take
            last = price
            if left <= 0:
                break
        return cost + left * last

    def _hold(self, order: Order) -> tuple[str, Decimal]:
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

    def _available(self, acct: Account, asset: str, exclude: Order | None = None) -> Decimal:
        held = ZERO
        for order in acct.orders.values():
            if order is exclude:
                continue
            hold_asset, amount = self._hold(order)
            if hold_asset == asset:
                held += amount
        return acct.balances.get(asset, ZERO) - held

    def _check_funds(self, acct: Account, order: Order, exclude: Order | None = None) -> None:
        asset, need = self._hold(order)
        if need > self._available(acct, asset, exclude if exclude is not None else order):
            raise Reject("EOrder:Insufficient funds")
