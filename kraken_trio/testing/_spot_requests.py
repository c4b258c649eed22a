"""The engine's trading methods: ``add_order``, ``batch_add``, ``amend_order``,
``edit_order``, ``cancel_order``, ``cancel_all``, ``cancel_all_orders_after`` and
``batch_cancel``, each answering with Kraken's shapes and error texts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ._spot_matching import Matching
from ._spot_orders import (
    AMEND_DECAY,
    AMEND_FIELDS,
    CANCEL_DECAY,
    DEPRECATED_FIELDS,
    EDIT_DECAY,
    EDIT_FIELDS,
    MAX_DEADMAN_TIMEOUT,
    PRICE_TYPES,
    Account,
    Order,
    Reject,
    Reply,
    invalid,
    relative_price,
    rfc3339,
    rfc3339_seconds,
)


class RequestHandlers(Matching):
    """The trading methods (a layer of the engine; see ``_spot_orders``)."""

    def _echo(self, order: Order, params: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if order.cl_ord_id is not None:
            out["cl_ord_id"] = order.cl_ord_id
        if "order_userref" in params:
            out["order_userref"] = order.order_userref
        return out

    def _add_order(self, acct: Account, p: Mapping[str, Any], now: float) -> list[Reply]:
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

    def _batch_add(self, acct: Account, p: Mapping[str, Any], now: float) -> list[Reply]:
        self._check_fields(p, frozenset({"symbol", "orders", "deadline", "validate"}), "batch add")
        pair = self._pair_for(p.get("symbol"))
        raw_orders = p.get("orders")
        if not isinstance(raw_orders, list):
            raise invalid("orders must be a list of orders")
        if not 2 <= len(raw_orders) <= 15:
            raise invalid("batch_add needs between 2 and 15 orders")
        self._rate_charge(acct, pair.symbol, len(raw_orders) / 2, now)
        validate = bool(self._bool(p, "validate"))
        deadline = self._deadline(p, now)
        drafts = []
        for raw in raw_orders:
            if not isinstance(raw, Mapping):
                raise invalid("each order must be an object")
            drafts.append((raw, self._parse_order(acct, raw, pair, now, "batch add")))
        ids = [d.cl_ord_id for _, d in drafts if d.cl_ord_id is not None]
        if len(ids) != len(set(ids)):
            raise invalid("cl_ord_id values in a batch must be unique")
        self._check_deadline(deadline, now)
        results: list[dict[str, Any]] = []
        for raw, order in drafts:
            echo = self._echo(order, raw)
            try:
                self._check_funds(acct, order)
            except Reject as exc:
                results.append({"error": exc.error, **echo})
                continue
            if validate:
                results.append(echo)
                continue
            self._register(acct, order, now)
            results.append({"order_id": order.order_id, **echo})
        return [Reply(True, results)]

    def _find(self, acct: Account, order_id: Any, cl_ord_id: Any) -> Order:
        if order_id is not None:
            if not isinstance(order_id, str):
                raise Reject("Order_id field must be a string")
            order = acct.orders.get(order_id)
        elif cl_ord_id is not None:
            if not isinstance(cl_ord_id, str):
                raise Reject("Cl_ord_id field must be a string")
            order = next((o for o in acct.orders.values() if o.cl_ord_id == cl_ord_id), None)
        else:
            raise invalid("order_id or cl_ord_id is required")
        if order is None:
            raise Reject("EOrder:Unknown order")
        return order

    def _amend_order(self, acct: Account, p: Mapping[str, Any], now: float) -> list[Reply]:
        self._check_fields(p, AMEND_FIELDS, "amend order")
        order_qty = self._number(p, "order_qty")
        limit_price = self._number(p, "limit_price")
        display_qty = self._number(p, "display_qty")
        trigger_price = self._number(p, "trigger_price")
        post_only = self._bool(p, "post_only")
        if p.get("order_id") is not None and p.get("cl_ord_id") is not None:
            raise invalid("order_id and cl_ord_id are mutually exclusive")
        order = self._find(acct, p.get("order_id"), p.get("cl_ord_id"))
        if p.get("symbol") is not None and p.get("symbol") != order.symbol:
            raise invalid("symbol does not match the order")
        pair = order.pair
        self._rate_charge(
            acct, pair.symbol, 1 + self._decay_cost(AMEND_DECAY, now - order.touched), now
        )
        deadline = self._deadline(p, now)
        if order_qty is None:
            raise invalid("order_qty is required")
        self._check_qty(pair, order_qty)
        lpt = self._enum(p, "limit_price_type", PRICE_TYPES)
        tpt = self._enum(p, "trigger_price_type", PRICE_TYPES) or "static"
        if lpt is not None and order.order_type != "trailing-stop-limit":
            raise invalid("limit_price_type can only be amended on trailing-stop-limit orders")
        if limit_price is not None:
            if order.limit_price is None:
                raise invalid(f"limit_price cannot be set on a {order.order_type} order")
            if (lpt or order.limit_price_type) == "static":
                self._check_price(pair, limit_price, "limit_price")
        if trigger_price is not None:
            if order.trigger is None:
                raise invalid(f"trigger_price cannot be set on a {order.order_type} order")
            if order.trigger.status == "triggered":
                raise invalid("the order has already triggered")
        if display_qty is not None:
            if order.order_type != "iceberg":
                raise invalid("display_qty is only available when ordertype = iceberg")
            self._check_qty(pair, display_qty, "display_qty")
            if display_qty * 15 < order_qty - order.cum_qty:
                raise invalid("display_qty must be at least 1/15 of the remaining quantity")
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
            new_limit = relative_price(pair, base, limit_price, new_lpt)
        if (
            post_only
            and new_limit is not None
            and self._would_take(order.symbol, order.side, new_limit)
        ):
            raise Reject("EOrder:Post only order")
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
            except Reject:
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

    def _edit_order(self, acct: Account, p: Mapping[str, Any], now: float) -> list[Reply]:
        self._check_fields(p, EDIT_FIELDS, "edit order")
        for key, use in DEPRECATED_FIELDS.items():
            if key in p:
                raise invalid(
                    f"{key} is deprecated and not supported by the fake exchange; use {use}"
                )
        order_qty = self._number(p, "order_qty")
        limit_price = self._number(p, "limit_price")
        display_qty = self._number(p, "display_qty")
        order_id = p.get("order_id")
        if order_id is None:
            raise invalid("order_id is required")
        symbol = p.get("symbol")
        if symbol is None:
            raise invalid("symbol is required")
        pair = self._pair_for(symbol)
        order = self._find(acct, order_id, None)
        if order.symbol != pair.symbol:
            raise invalid("symbol cannot be changed")
        self._rate_charge(
            acct, pair.symbol, 1 + self._decay_cost(EDIT_DECAY, now - order.touched), now
        )
        if order.trigger is not None and order.trigger.status == "triggered":
            raise invalid("triggered orders cannot be edited")
        if order.conditional is not None:
            raise invalid("orders with a conditional close cannot be edited")
        if order.cash_order_qty is not None:
            raise invalid("cash_order_qty orders cannot be edited")
        # Build the replacement as an add_order request and validate it the same way.
        new_qty = order_qty if order_qty is not None else order.order_qty
        assert new_qty is not None
        if new_qty <= order.cum_qty:
            raise invalid("order_qty must exceed the executed quantity")
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
            raise invalid(f"limit_price is not allowed for order_type {order.order_type}")
        if order.expire_time is not None:
            spec["expire_time"] = rfc3339(order.expire_time)
        if order.display_qty is not None:
            spec["display_qty"] = display_qty if display_qty is not None else order.display_qty
        elif display_qty is not None:
            raise invalid("display_qty is only available when ordertype = iceberg")
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
            raise invalid("cl_ord_id and order_userref are mutually exclusive")
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

    def _cancel_cost(self, acct: Account, order: Order, now: float) -> None:
        self._rate_charge(
            acct, order.symbol, self._decay_cost(CANCEL_DECAY, now - order.touched), now
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
            raise invalid(f"{key} must be a list of {noun}")
        return value

    def _cancel_order(self, acct: Account, p: Mapping[str, Any], now: float) -> list[Reply]:
        self._check_fields(p, frozenset({"order_id", "cl_ord_id", "order_userref"}), "cancel order")
        order_ids = self._list(p, "order_id", str)
        cl_ids = self._list(p, "cl_ord_id", str)
        refs = self._list(p, "order_userref", int)
        if not (order_ids or cl_ids or refs):
            raise invalid("order_id, cl_ord_id or order_userref is required")
        replies: list[Reply] = []

        def cancel_one(order: Order, result: dict[str, Any]) -> None:
            try:
                self._cancel_cost(acct, order, now)
            except Reject as exc:
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

    def _cancel_all(self, acct: Account, p: Mapping[str, Any], now: float) -> list[Reply]:
        self._check_fields(p, frozenset(), "cancel all")
        orders = list(acct.orders.values())
        for order in orders:
            self._cancel(order, now)
        return [Reply(True, {"count": len(orders)})]

    def _cancel_after(self, acct: Account, p: Mapping[str, Any], now: float) -> list[Reply]:
        self._check_fields(p, frozenset({"timeout"}), "cancel all orders after")
        timeout = self._int(p, "timeout")
        if timeout is None:
            raise invalid("timeout is required")
        if not 0 <= timeout < MAX_DEADMAN_TIMEOUT:
            raise invalid("timeout must be between 0 and 86399 seconds")
        current = rfc3339_seconds(now)
        if timeout == 0:
            acct.deadman = None
            return [Reply(True, {"currentTime": current, "triggerTime": "0"})]
        acct.deadman = now + timeout
        return [
            Reply(True, {"currentTime": current, "triggerTime": rfc3339_seconds(now + timeout)})
        ]

    def _batch_cancel(self, acct: Account, p: Mapping[str, Any], now: float) -> list[Reply]:
        self._check_fields(p, frozenset({"orders", "cl_ord_id"}), "batch cancel")
        ids = self._list(p, "orders", str)
        cl_ids = self._list(p, "cl_ord_id", str)
        if not 2 <= len(ids) + len(cl_ids) <= 50:
            raise invalid("batch_cancel needs between 2 and 50 orders")
        targets: dict[str, Order] = {}
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
            raise Reject("EOrder:Unknown order")
        cost_by_symbol: dict[str, int] = {}
        for order in targets.values():
            cost = self._decay_cost(CANCEL_DECAY, now - order.touched)
            cost_by_symbol[order.symbol] = cost_by_symbol.get(order.symbol, 0) + cost
        for symbol, cost in cost_by_symbol.items():
            self._rate_charge(acct, symbol, cost, now, force=True)
        for order in targets.values():
            self._cancel(order, now)
        return [Reply(True, None, extra={"orders_cancelled": len(targets)})]
