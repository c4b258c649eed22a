"""The engine's request parsing: Kraken's parameters checked and turned into orders, with
Kraken's error texts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from ._pairs import PairSpec
from ._spot_funds import Funds
from ._spot_orders import (
    ADD_FIELDS,
    CONDITIONAL_TYPES,
    HUNDRED,
    LIMIT_TYPES,
    ORDER_FIELDS,
    ORDER_TYPES,
    PRICE_TYPES,
    STP_TYPES,
    TRAILING_TYPES,
    TRIGGER_TYPES,
    UUID_RE,
    Account,
    Conditional,
    Order,
    Reject,
    Side,
    Trigger,
    decimal_places,
    invalid,
    is_multiple,
    parse_rfc3339,
)


class RequestParsing(Funds):
    """Parameter parsing (a layer of the engine; see ``_spot_orders``)."""

    @staticmethod
    def _check_fields(params: Mapping[str, Any], allowed: frozenset[str], msg: str) -> None:
        for key in params:
            if key not in allowed:
                raise Reject(f"Unsupported field: '{key}' for the given msg type: {msg}")

    @staticmethod
    def _number(params: Mapping[str, Any], key: str) -> Decimal | None:
        value = params.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, Decimal, float)):
            raise Reject(f"{key[:1].upper()}{key[1:]} field must be a number_float")
        result = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
        if not result.is_finite():
            raise Reject(f"{key[:1].upper()}{key[1:]} field must be a number_float")
        return result

    @staticmethod
    def _bool(params: Mapping[str, Any], key: str) -> bool | None:
        value = params.get(key)
        if value is None:
            return None
        if not isinstance(value, bool):
            raise Reject(f"{key[:1].upper()}{key[1:]} field must be a boolean")
        return value

    @staticmethod
    def _str(params: Mapping[str, Any], key: str) -> str | None:
        value = params.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise Reject(f"{key[:1].upper()}{key[1:]} field must be a string")
        return value

    @staticmethod
    def _int(params: Mapping[str, Any], key: str) -> int | None:
        value = params.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise Reject(f"{key[:1].upper()}{key[1:]} field must be a number_integer")
        return value

    def _enum(self, params: Mapping[str, Any], key: str, choices: Sequence[str]) -> str | None:
        value = self._str(params, key)
        if value is not None and value not in choices:
            raise invalid(f"{key} must be one of {', '.join(choices)}, got {value!r}")
        return value

    def _pair_for(self, symbol: Any) -> PairSpec:
        if symbol is None:
            raise invalid("symbol is required")
        if not isinstance(symbol, str):
            raise Reject("Symbol field must be a string")
        pair = self.market.pair(symbol)
        if pair is None:
            raise Reject("EQuery:Unknown asset pair")
        self._learn_pair(pair)
        return pair

    def _time(self, params: Mapping[str, Any], key: str) -> float | None:
        text = self._str(params, key)
        if text is None:
            return None
        try:
            return parse_rfc3339(text)
        except ValueError:
            raise invalid(f"{key} must be an RFC3339 timestamp, got {text!r}") from None

    def _deadline(self, params: Mapping[str, Any], now: float) -> float | None:
        deadline = self._time(params, "deadline")
        if deadline is not None and deadline > now + 60.0:
            raise invalid("deadline must be at most 60 seconds in the future")
        return deadline

    @staticmethod
    def _check_deadline(deadline: float | None, now: float) -> None:
        if deadline is not None and deadline <= now:
            raise Reject("EService:Deadline elapsed")

    @staticmethod
    def _check_qty(pair: PairSpec, qty: Decimal, key: str = "order_qty") -> None:
        if qty <= 0:
            raise invalid(f"{key} must be positive")
        if decimal_places(qty.normalize()) > pair.qty_precision:
            raise invalid(f"{key} has more than {pair.qty_precision} decimal places")

    @staticmethod
    def _check_price(pair: PairSpec, price: Decimal, key: str) -> None:
        if price <= 0:
            raise invalid(f"{key} must be positive")
        if not is_multiple(price, pair.price_increment):
            raise Reject("EOrder:Tick size check failed")

    def _parse_triggers(self, raw: Any, pair: PairSpec, order_type: str, side: Side) -> Trigger:
        if not isinstance(raw, Mapping):
            raise invalid("triggers must be an object")
        for key in raw:
            if key not in ("reference", "price", "price_type"):
                raise Reject(f"Unsupported field: '{key}' for the given msg type: triggers")
        reference = self._enum(raw, "reference", ("index", "last")) or "last"
        if reference == "index":
            raise invalid("triggers reference index is not supported by the fake exchange")
        price = self._number(raw, "price")
        if price is None:
            raise invalid(f"triggers.price is required for order_type {order_type}")
        price_type = self._enum(raw, "price_type", PRICE_TYPES) or "static"
        trailing = order_type in TRAILING_TYPES
        return self._make_trigger(pair, order_type, price, price_type, trailing)

    def _make_trigger(
        self, pair: PairSpec, order_type: str, price: Decimal, price_type: str, trailing: bool
    ) -> Trigger:
        if trailing:
            if price_type == "static":
                raise invalid(
                    "trailing stop orders need a relative trigger (price_type pct or quote)"
                )
            if price <= 0:
                raise invalid("trailing stop offset must be positive")
        if price_type == "static":
            self._check_price(pair, price, "triggers.price")
        elif price_type == "quote" and not is_multiple(price, pair.price_increment):
            raise Reject("EOrder:Tick size check failed")
        elif price_type == "pct" and not (Decimal(-100) < price < HUNDRED * 10):
            raise invalid("triggers.price percentage out of range")
        anchor = self.market.last_price(pair.symbol)
        return Trigger("last", price, price_type, trailing, anchor)

    def _parse_conditional(self, raw: Any, pair: PairSpec) -> Conditional:
        if not isinstance(raw, Mapping):
            raise invalid("conditional must be an object")
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
                raise Reject(f"Unsupported field: '{key}' for the given msg type: conditional")
        if "stop_price" in raw:
            raise invalid(
                "conditional.stop_price is deprecated and not supported by the fake exchange;"
                " use trigger_price"
            )
        order_type = self._enum(raw, "order_type", CONDITIONAL_TYPES)
        if order_type is None:
            raise invalid("conditional.order_type is required")
        limit_price = self._number(raw, "limit_price")
        trigger_price = self._number(raw, "trigger_price")
        default_lpt = "quote" if order_type == "trailing-stop-limit" else "static"
        lpt = self._enum(raw, "limit_price_type", PRICE_TYPES) or default_lpt
        tpt = self._enum(raw, "trigger_price_type", PRICE_TYPES) or "static"
        if order_type in LIMIT_TYPES:
            if limit_price is None:
                raise invalid(f"conditional.limit_price is required for {order_type}")
            if lpt == "static":
                self._check_price(pair, limit_price, "conditional.limit_price")
        elif limit_price is not None:
            raise invalid(f"conditional.limit_price is not allowed for {order_type}")
        if order_type in TRIGGER_TYPES:
            if trigger_price is None:
                raise invalid(f"conditional.trigger_price is required for {order_type}")
            if order_type in TRAILING_TYPES and tpt == "static":
                raise invalid(
                    "trailing stop orders need a relative trigger (price_type pct or quote)"
                )
            if tpt == "static":
                self._check_price(pair, trigger_price, "conditional.trigger_price")
        elif trigger_price is not None:
            raise invalid(f"conditional.trigger_price is not allowed for {order_type}")
        return Conditional(order_type, limit_price, lpt, trigger_price, tpt)

    def _parse_order(
        self, acct: Account, p: Mapping[str, Any], pair: PairSpec, now: float, msg: str
    ) -> Order:
        """Validate one order's fields; returns an unplaced order (no id yet)."""
        allowed = ADD_FIELDS if msg == "add order" else ORDER_FIELDS
        self._check_fields(p, allowed, msg)
        order_qty = self._number(p, "order_qty")
        limit_price = self._number(p, "limit_price")
        display_qty = self._number(p, "display_qty")
        cash_qty = self._number(p, "cash_order_qty")
        order_type = self._enum(p, "order_type", ORDER_TYPES)
        if order_type is None:
            raise invalid("order_type is required")
        side_text = self._enum(p, "side", ("buy", "sell"))
        if side_text is None:
            raise invalid("side is required")
        side: Side = "buy" if side_text == "buy" else "sell"
        if order_type == "settle-position":
            raise invalid("settle-position needs margin, which the fake exchange does not offer")
        if self._bool(p, "margin"):
            raise invalid("margin trading is not supported by the fake exchange")
        if self._bool(p, "reduce_only"):
            raise Reject("EOrder:Reduce only:No position exists")
        if p.get("effective_time") is not None:
            raise invalid("effective_time is not supported by the fake exchange")
        if self._bool(p, "no_mpp") and order_type != "market":
            raise invalid("no_mpp order option is only available when ordertype = market")

        # Quantity.
        if cash_qty is not None:
            if order_type != "market" or side != "buy":
                raise invalid("cash_order_qty is only available for market buy orders")
            if order_qty is not None:
                raise invalid("order_qty and cash_order_qty are mutually exclusive")
            if cash_qty <= 0:
                raise invalid("cash_order_qty must be positive")
            if cash_qty < pair.cost_min:
                raise Reject("EOrder:Cost minimum not met")
        else:
            if order_qty is None:
                raise invalid("order_qty is required")
            self._check_qty(pair, order_qty)
            if order_qty < pair.qty_min:
                raise Reject("EOrder:Order minimum not met")

        # Prices.
        default_lpt = "quote" if order_type == "trailing-stop-limit" else "static"
        limit_price_type = self._enum(p, "limit_price_type", PRICE_TYPES) or default_lpt
        if order_type in LIMIT_TYPES:
            if limit_price is None:
                raise invalid(f"limit_price is required for order_type {order_type}")
            if order_type in ("limit", "iceberg") and limit_price_type != "static":
                raise invalid(f"limit_price_type {limit_price_type} needs a triggered order type")
            if limit_price_type == "static":
                self._check_price(pair, limit_price, "limit_price")
            elif limit_price_type == "quote" and not is_multiple(limit_price, pair.price_increment):
                raise Reject("EOrder:Tick size check failed")
        else:
            if limit_price is not None:
                raise invalid(f"limit_price is not allowed for order_type {order_type}")
            if "limit_price_type" in p:
                raise invalid(f"limit_price_type is not allowed for order_type {order_type}")

        trigger: Trigger | None = None
        if order_type in TRIGGER_TYPES:
            if p.get("triggers") is None:
                raise invalid(f"triggers are required for order_type {order_type}")
            trigger = self._parse_triggers(p["triggers"], pair, order_type, side)
        elif p.get("triggers") is not None:
            raise invalid(f"triggers are not allowed for order_type {order_type}")

        # Time in force.
        tif_text = self._str(p, "time_in_force")
        tif = (tif_text or "gtc").lower()
        if tif not in ("gtc", "gtd", "ioc"):
            raise invalid(f"time_in_force must be one of gtc, gtd, ioc, got {tif_text!r}")
        expire_time = self._time(p, "expire_time")
        if tif == "gtd":
            if expire_time is None:
                raise invalid("expire_time is required when time_in_force = gtd")
            if expire_time <= now:
                raise invalid("expire_time is in the past")
            if expire_time > now + 31 * 86400:
                raise invalid("expire_time is more than one month ahead")
        elif expire_time is not None:
            raise invalid("expire_time is only available when time_in_force = gtd")

        post_only = bool(self._bool(p, "post_only"))
        if post_only and order_type != "limit":
            raise invalid("post_only order option is only available when ordertype = limit")

        if order_type == "iceberg":
            if display_qty is None:
                raise invalid("display_qty is required for order_type iceberg")
            self._check_qty(pair, display_qty, "display_qty")
            assert order_qty is not None
            if display_qty * 15 < order_qty:
                raise invalid("display_qty must be at least 1/15 of order_qty")
            if display_qty > order_qty:
                raise invalid("display_qty must not exceed order_qty")
        elif display_qty is not None:
            raise invalid("display_qty is only available when ordertype = iceberg")

        fee_pref = self._enum(p, "fee_preference", ("base", "quote")) or "quote"
        stp_type = self._enum(p, "stp_type", STP_TYPES) or "cancel_newest"
        sender_sub_id = self._str(p, "sender_sub_id")
        order_userref = self._int(p, "order_userref")
        if order_userref is not None and not -(2**31) <= order_userref < 2**31:
            raise invalid("order_userref must be a 32-bit integer")
        cl_ord_id = self._str(p, "cl_ord_id")
        if cl_ord_id is not None:
            if order_userref is not None:
                raise invalid("cl_ord_id and order_userref are mutually exclusive")
            if not (UUID_RE.match(cl_ord_id) or 0 < len(cl_ord_id) <= 18):
                raise invalid("cl_ord_id must be a UUID or free text of at most 18 characters")
            if any(o.cl_ord_id == cl_ord_id for o in acct.orders.values()):
                raise invalid(f"cl_ord_id {cl_ord_id!r} is already used by an open order")

        conditional = None
        if p.get("conditional") is not None:
            if cash_qty is not None:
                raise invalid("conditional close is not available with cash_order_qty")
            conditional = self._parse_conditional(p["conditional"], pair)

        order = Order(
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
                raise Reject("EOrder:Cost minimum not met")
        return order
