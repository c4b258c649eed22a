"""Spot trading over the WebSocket API: local checks, then the broker.

Every check here runs before anything is sent, and a failed check raises
:class:`~kraken_trio.InvalidRequestError` naming the field. Prices and quantities must be
``Decimal`` (or ``int`` / numeric ``str``); floats are refused because they are inexact.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from ._errors import InvalidRequestError
from ._proto import spot as s
from ._proto.hints import suggest_field

__all__ = [
    "ORDER_TYPES",
    "build_add_order",
    "build_amend_order",
    "build_batch_add",
    "build_batch_cancel",
    "build_cancel_order",
    "build_edit_order",
    "check_cancel_after",
    "check_pair_limits",
]

ORDER_TYPES = frozenset(
    {
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
    }
)
_NEEDS_LIMIT = frozenset(
    {"limit", "iceberg", "stop-loss-limit", "take-profit-limit", "trailing-stop-limit"}
)
_NEEDS_TRIGGER = frozenset(
    {
        "stop-loss",
        "stop-loss-limit",
        "take-profit",
        "take-profit-limit",
        "trailing-stop",
        "trailing-stop-limit",
    }
)
_CONDITIONAL_TYPES = frozenset(
    {
        "limit",
        "stop-loss",
        "stop-loss-limit",
        "take-profit",
        "take-profit-limit",
        "trailing-stop",
        "trailing-stop-limit",
    }
)
_PLAIN_TYPES = frozenset({"limit", "market"})  # the order types that need no option
# Fields of an order without options ("symbol": add_order's; batch orders carry none).
_PLAIN_FIELDS = frozenset(
    {"order_type", "side", "order_qty", "cash_order_qty", "limit_price", "symbol"}
)
_SIDES = frozenset({"buy", "sell"})
_TIME_IN_FORCE = frozenset({"gtc", "gtd", "ioc"})
_PRICE_TYPES = frozenset({"static", "pct", "quote"})
_REFERENCES = frozenset({"index", "last"})
_STP = frozenset({"cancel_newest", "cancel_oldest", "cancel_both"})
_FEE_PREF = frozenset({"base", "quote"})
_SYMBOL = re.compile(r"^[A-Za-z0-9.]+/[A-Za-z0-9.]+$")
_SHORT_UUID = re.compile(r"^[0-9a-fA-F]{32}$")
_DEADLINE_MIN = timedelta(milliseconds=500)
_DEADLINE_MAX = timedelta(seconds=60)
MAX_BATCH_ORDERS = 15
MAX_BATCH_CANCELS = 50


def decimal_arg(
    name: str, value: Any, *, positive: bool = True, allow_negative: bool = False
) -> Decimal:
    """A Decimal from a Decimal, int or numeric string; never from a float."""
    if isinstance(value, bool | float):
        raise InvalidRequestError(
            f"{name} must be a Decimal (or int / numeric str), got {type(value).__name__} "
            f"{value!r}: floats are inexact"
        )
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int | str):
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise InvalidRequestError(f"{name} must be a number, got {value!r}") from None
    else:
        raise InvalidRequestError(f"{name} must be a Decimal, got {type(value).__name__}")
    if not number.is_finite():
        raise InvalidRequestError(f"{name} must be finite, got {value!r}")
    if positive and not allow_negative and number <= 0:
        raise InvalidRequestError(f"{name} must be greater than zero, got {value!r}")
    return number


def _choice(name: str, value: Any, allowed: frozenset[str]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise InvalidRequestError(f"{name} must be one of {sorted(allowed)}, got {value!r}")
    return str(value)


def _flag(name: str, value: Any) -> bool:
    """A real bool: ``"false"`` must never become True."""
    if not isinstance(value, bool):
        raise InvalidRequestError(f"{name} must be a bool, got {value!r}")
    return value


def _userref(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not -(2**31) <= value < 2**31:
        raise InvalidRequestError(f"{name} must be a 32-bit integer, got {value!r}")
    return value


def _check_symbol(symbol: Any) -> str:
    if not isinstance(symbol, str) or not _SYMBOL.match(symbol):
        raise InvalidRequestError(f"symbol must look like 'BTC/USD', got {symbol!r}")
    return symbol


def check_cl_ord_id(value: Any) -> str:
    """Kraken accepts a long UUID, a 32-hex short UUID or free text of at most 18 characters."""
    if not isinstance(value, str) or not value:
        raise InvalidRequestError(f"cl_ord_id must be a non-empty string, got {value!r}")
    if len(value) <= 18 and value.isprintable():
        return value
    if _SHORT_UUID.match(value):
        return value
    try:
        uuid.UUID(value)
    except ValueError:
        raise InvalidRequestError(
            "cl_ord_id must be a UUID (36 characters), a 32-character hex UUID or free text of "
            f"at most 18 characters; got {len(value)} characters"
        ) from None
    if len(value) != 36:
        raise InvalidRequestError(f"cl_ord_id UUID must be in the 8-4-4-4-12 form, got {value!r}")
    return value


def _timestamp(name: str, value: Any) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise InvalidRequestError(f"{name} must be timezone-aware (UTC), got a naive datetime")
        return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, str):
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidRequestError(
                f"{name} must be an RFC3339 timestamp, got {value!r}"
            ) from None
        return value
    raise InvalidRequestError(f"{name} must be a datetime or RFC3339 string, got {value!r}")


def check_deadline(value: Any, now: datetime | None = None) -> str:
    """``deadline`` must lie 500 ms to 60 s ahead; returned with millisecond precision."""
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidRequestError(
                f"deadline must be an RFC3339 timestamp, got {value!r}"
            ) from None
        value = parsed
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise InvalidRequestError(f"deadline must be a timezone-aware datetime, got {value!r}")
    ahead = value - (now or datetime.now(UTC))
    if not _DEADLINE_MIN <= ahead <= _DEADLINE_MAX:
        raise InvalidRequestError(
            f"deadline must be between 0.5 s and 60 s ahead, it is {ahead.total_seconds():.3f} s"
        )
    return _timestamp("deadline", value)


def _triggers(value: Any) -> s.Triggers:
    if isinstance(value, s.Triggers):
        return value
    if not isinstance(value, Mapping):
        raise InvalidRequestError(
            f"triggers must be a mapping like {{'price': Decimal(...)}}, got {value!r}"
        )
    unknown = set(value) - {"price", "reference", "price_type"}
    if unknown:
        raise InvalidRequestError(f"triggers has unknown field(s) {sorted(unknown)}")
    if "price" not in value:
        raise InvalidRequestError("triggers needs price")
    price_type = value.get("price_type")
    return s.Triggers(
        price=decimal_arg(
            "triggers.price", value["price"], allow_negative=price_type in ("pct", "quote")
        ),
        reference=None
        if value.get("reference") is None
        else _choice("triggers.reference", value.get("reference"), _REFERENCES),
        price_type=None
        if price_type is None
        else _choice("triggers.price_type", price_type, _PRICE_TYPES),
    )


def _conditional(value: Any) -> s.Conditional:
    if isinstance(value, s.Conditional):
        return value
    if not isinstance(value, Mapping):
        raise InvalidRequestError(f"conditional must be a mapping, got {value!r}")
    allowed = {
        "order_type",
        "limit_price",
        "limit_price_type",
        "trigger_price",
        "trigger_price_type",
    }
    unknown = set(value) - allowed
    if unknown:
        raise InvalidRequestError(f"conditional has unknown field(s) {sorted(unknown)}")
    order_type = _choice("conditional.order_type", value.get("order_type"), _CONDITIONAL_TYPES)
    out = s.Conditional(
        order_type=order_type,
        limit_price=None
        if value.get("limit_price") is None
        else decimal_arg("conditional.limit_price", value["limit_price"]),
        limit_price_type=value.get("limit_price_type"),
        trigger_price=None
        if value.get("trigger_price") is None
        else decimal_arg("conditional.trigger_price", value["trigger_price"], allow_negative=True),
        trigger_price_type=value.get("trigger_price_type"),
    )
    if order_type in _NEEDS_LIMIT and out.limit_price is None:
        raise InvalidRequestError(
            f"conditional.limit_price is required for order_type {order_type!r}"
        )
    if order_type in _NEEDS_TRIGGER and out.trigger_price is None:
        raise InvalidRequestError(
            f"conditional.trigger_price is required for order_type {order_type!r}"
        )
    return out


def _order_fields(prefix: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Check one order's fields (add_order, or one element of batch_add)."""
    p = prefix
    out: dict[str, Any] = {}
    order_type = _choice(f"{p}order_type", fields.get("order_type"), ORDER_TYPES)
    out["order_type"] = order_type
    out["side"] = _choice(f"{p}side", fields.get("side"), _SIDES)
    cash = fields.get("cash_order_qty")
    qty = fields.get("order_qty")
    if cash is not None:
        if order_type != "market" or out["side"] != "buy":
            raise InvalidRequestError(f"{p}cash_order_qty is only for market buys")
        if qty is not None:
            raise InvalidRequestError(f"{p}pass order_qty or cash_order_qty, not both")
        out["cash_order_qty"] = decimal_arg(f"{p}cash_order_qty", cash)
    elif qty is None:
        raise InvalidRequestError(f"{p}order_qty is required")
    else:
        out["order_qty"] = decimal_arg(f"{p}order_qty", qty)
    limit = fields.get("limit_price")
    limit_type = fields.get("limit_price_type")
    if order_type in _NEEDS_LIMIT:
        if limit is None:
            raise InvalidRequestError(f"{p}limit_price is required for order_type {order_type!r}")
        out["limit_price"] = decimal_arg(
            f"{p}limit_price", limit, allow_negative=limit_type in ("pct", "quote")
        )
    elif limit is not None:
        raise InvalidRequestError(f"{p}limit_price is not allowed for order_type {order_type!r}")
    if limit_type is not None:
        out["limit_price_type"] = _choice(f"{p}limit_price_type", limit_type, _PRICE_TYPES)
    if order_type in _PLAIN_TYPES and fields.keys() <= _PLAIN_FIELDS:
        return out  # the common order: no options, so none of the option rules below apply
    triggers = fields.get("triggers")
    if order_type in _NEEDS_TRIGGER:
        if triggers is None:
            raise InvalidRequestError(f"{p}triggers is required for order_type {order_type!r}")
        out["triggers"] = _triggers(triggers)
    elif triggers is not None:
        raise InvalidRequestError(f"{p}triggers is only for stop, take-profit and trailing orders")
    display = fields.get("display_qty")
    if order_type == "iceberg":
        if display is None:
            raise InvalidRequestError(f"{p}display_qty is required for iceberg orders")
        out["display_qty"] = decimal_arg(f"{p}display_qty", display)
        if "order_qty" in out and out["display_qty"] * 15 < out["order_qty"]:
            raise InvalidRequestError(f"{p}display_qty must be at least 1/15 of order_qty")
    elif display is not None:
        raise InvalidRequestError(f"{p}display_qty is only for iceberg orders")
    tif = fields.get("time_in_force")
    if tif is not None:
        out["time_in_force"] = _choice(f"{p}time_in_force", tif, _TIME_IN_FORCE)
    if fields.get("expire_time") is not None:
        if tif != "gtd":
            raise InvalidRequestError(f"{p}expire_time is only for time_in_force 'gtd'")
        out["expire_time"] = _timestamp(f"{p}expire_time", fields["expire_time"])
    elif tif == "gtd":
        raise InvalidRequestError(f"{p}expire_time is required for time_in_force 'gtd'")
    if fields.get("effective_time") is not None:
        out["effective_time"] = _timestamp(f"{p}effective_time", fields["effective_time"])
    if fields.get("post_only") and order_type not in ("limit", "iceberg"):
        raise InvalidRequestError(f"{p}post_only is only for limit orders")
    if fields.get("no_mpp") and order_type != "market":
        raise InvalidRequestError(f"{p}no_mpp is only for market orders")
    for flag in ("post_only", "reduce_only", "margin", "no_mpp"):
        if fields.get(flag) is not None:
            out[flag] = _flag(f"{p}{flag}", fields[flag])
    if fields.get("fee_preference") is not None:
        out["fee_preference"] = _choice(f"{p}fee_preference", fields["fee_preference"], _FEE_PREF)
    if fields.get("stp_type") is not None:
        out["stp_type"] = _choice(f"{p}stp_type", fields["stp_type"], _STP)
    userref = fields.get("order_userref")
    cl_ord_id = fields.get("cl_ord_id")
    if userref is not None and cl_ord_id is not None:
        raise InvalidRequestError(f"{p}cl_ord_id and order_userref are mutually exclusive")
    if userref is not None:
        if (
            isinstance(userref, bool)
            or not isinstance(userref, int)
            or not -(2**31) <= userref < 2**31
        ):
            raise InvalidRequestError(f"{p}order_userref must be a 32-bit integer, got {userref!r}")
        out["order_userref"] = userref
    if cl_ord_id is not None:
        out["cl_ord_id"] = check_cl_ord_id(cl_ord_id)
    if fields.get("sender_sub_id") is not None:
        out["sender_sub_id"] = str(fields["sender_sub_id"])
    if fields.get("conditional") is not None:
        out["conditional"] = _conditional(fields["conditional"])
    return out


_ADD_FIELDS = frozenset(s.AddOrderParams.__struct_fields__) - {"token"}
_BATCH_ORDER_FIELDS = frozenset(s.BatchOrder.__struct_fields__)


def _reject_unknown(what: str, fields: Mapping[str, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(set(fields) - allowed)
    if unknown:
        hints = [
            f"{name!r} -> {better!r}"
            for name in unknown
            if (better := suggest_field(name, allowed)) is not None
        ]
        kraken = f" (Kraken's names: {', '.join(hints)})" if hints else ""
        raise InvalidRequestError(f"{what}: unknown field(s) {unknown}{kraken}")


def check_pair_limits(what: str, order: s.BatchOrder, pair: s.InstrumentPair) -> None:
    """Refuse locally what Kraken would refuse for the pair's tick size and minimums.

    Args:
        what: How the error names the order (``"add_order"``, ``"orders[2]"``).
        order: The checked order.
        pair: The pair's entry of the ``instrument`` channel.

    Raises:
        InvalidRequestError: ``limit_price`` off the pair's ``price_increment``, ``order_qty``
            below its ``qty_min``, or a limit order's cost below its ``cost_min``.
    """
    static = order.limit_price_type in (None, "static")
    price = order.limit_price if static else None
    if price is not None and pair.price_increment > 0 and price % pair.price_increment != 0:
        raise InvalidRequestError(
            f"{what}: limit_price {price} is not a multiple of {pair.symbol}'s price_increment "
            f"{pair.price_increment} (Kraken would answer 'EOrder:Tick size check failed')"
        )
    qty = order.order_qty
    if qty is not None and qty < pair.qty_min:
        raise InvalidRequestError(
            f"{what}: order_qty {qty} is below {pair.symbol}'s qty_min {pair.qty_min} "
            "(Kraken would answer 'EOrder:Order minimum not met')"
        )
    if qty is not None and price is not None and qty * price < pair.cost_min:
        raise InvalidRequestError(
            f"{what}: order_qty x limit_price = {qty * price} is below {pair.symbol}'s cost_min "
            f"{pair.cost_min} (Kraken would answer 'EOrder:Cost minimum not met')"
        )


def build_add_order(fields: Mapping[str, Any]) -> s.AddOrderParams:
    """Checked ``add_order`` params (raises InvalidRequestError naming the field)."""
    fields = {k: v for k, v in fields.items() if v is not None}
    _reject_unknown("add_order", fields, _ADD_FIELDS)
    out = _order_fields("", fields)
    out["symbol"] = _check_symbol(fields.get("symbol"))
    if "deadline" in fields:
        out["deadline"] = check_deadline(fields["deadline"])
    if "validate" in fields:
        out["validate"] = _flag("validate", fields["validate"])
    return s.AddOrderParams(**out)


def build_batch_add(symbol: Any, orders: Any, deadline: Any, validate: Any) -> s.BatchAddParams:
    """Checked ``batch_add`` params: 2-15 orders on one symbol."""
    if not isinstance(orders, Sequence) or isinstance(orders, str | bytes):
        raise InvalidRequestError("orders must be a list of order mappings")
    if not 2 <= len(orders) <= MAX_BATCH_ORDERS:
        raise InvalidRequestError(
            f"batch_add takes 2 to {MAX_BATCH_ORDERS} orders, got {len(orders)}"
        )
    checked = []
    for i, order in enumerate(orders):
        if isinstance(order, s.BatchOrder):
            order = {k: getattr(order, k) for k in order.__struct_fields__}
        if not isinstance(order, Mapping):
            raise InvalidRequestError(f"orders[{i}] must be a mapping, got {type(order).__name__}")
        order = {k: v for k, v in order.items() if v is not None}
        _reject_unknown(f"orders[{i}]", order, _BATCH_ORDER_FIELDS)
        checked.append(s.BatchOrder(**_order_fields(f"orders[{i}].", order)))
    return s.BatchAddParams(
        symbol=_check_symbol(symbol),
        orders=checked,
        deadline=None if deadline is None else check_deadline(deadline),
        validate=None if validate is None else _flag("validate", validate),
    )


def _id_list(name: str, value: Any, kind: type) -> list[Any] | None:
    if value is None:
        return None
    if isinstance(value, kind) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, Sequence) or isinstance(value, str | bytes) or not value:
        raise InvalidRequestError(f"{name} must be a {kind.__name__} or a non-empty list of them")
    for item in value:
        if (
            isinstance(item, bool)
            or not isinstance(item, kind)
            or (isinstance(item, str) and not item)
        ):
            raise InvalidRequestError(f"{name} holds {item!r}, not a {kind.__name__}")
    return list(value)


def build_cancel_order(
    order_id: Any, cl_ord_id: Any, order_userref: Any
) -> tuple[s.CancelOrderParams, int]:
    """Checked ``cancel_order`` params and how many replies Kraken will send (one per order)."""
    ids = _id_list("order_id", order_id, str)
    cl = _id_list("cl_ord_id", cl_ord_id, str)
    refs = _id_list("order_userref", order_userref, int)
    if cl:
        for c in cl:
            check_cl_ord_id(c)
    count = len(ids or ()) + len(cl or ()) + len(refs or ())
    if count == 0:
        raise InvalidRequestError("cancel_order needs order_id, cl_ord_id or order_userref")
    return s.CancelOrderParams(order_id=ids, cl_ord_id=cl, order_userref=refs), count


def build_batch_cancel(orders: Any, cl_ord_id: Any) -> s.BatchCancelParams:
    """Checked ``batch_cancel`` params: 2-50 ids in all."""
    ids = _id_list("orders", orders, str)
    cl = _id_list("cl_ord_id", cl_ord_id, str)
    count = len(ids or ()) + len(cl or ())
    if not 2 <= count <= MAX_BATCH_CANCELS:
        raise InvalidRequestError(
            f"batch_cancel takes 2 to {MAX_BATCH_CANCELS} ids in orders and cl_ord_id together, "
            f"got {count}"
        )
    return s.BatchCancelParams(orders=ids, cl_ord_id=cl)


def build_amend_order(fields: Mapping[str, Any]) -> s.AmendOrderParams:
    """Checked ``amend_order`` params."""
    fields = {k: v for k, v in fields.items() if v is not None}
    if ("order_id" in fields) == ("cl_ord_id" in fields):
        raise InvalidRequestError("amend_order needs exactly one of order_id or cl_ord_id")
    if "order_qty" not in fields:
        raise InvalidRequestError("amend_order needs order_qty (the new total quantity)")
    out: dict[str, Any] = {"order_qty": decimal_arg("order_qty", fields["order_qty"])}
    if "order_id" in fields:
        if not isinstance(fields["order_id"], str) or not fields["order_id"]:
            raise InvalidRequestError(
                f"order_id must be a non-empty string, got {fields['order_id']!r}"
            )
        out["order_id"] = fields["order_id"]
    if "cl_ord_id" in fields:
        out["cl_ord_id"] = check_cl_ord_id(fields["cl_ord_id"])
    for name in ("display_qty", "limit_price"):
        if name in fields:
            out[name] = decimal_arg(name, fields[name])
    if "trigger_price" in fields:
        out["trigger_price"] = decimal_arg(
            "trigger_price", fields["trigger_price"], allow_negative=True
        )
    for name in ("limit_price_type", "trigger_price_type"):
        if name in fields:
            out[name] = _choice(name, fields[name], _PRICE_TYPES)
    if "post_only" in fields:
        out["post_only"] = _flag("post_only", fields["post_only"])
    if "deadline" in fields:
        out["deadline"] = check_deadline(fields["deadline"])
    if "symbol" in fields:
        out["symbol"] = _check_symbol(fields["symbol"])
    return s.AmendOrderParams(**out)


def build_edit_order(fields: Mapping[str, Any]) -> s.EditOrderParams:
    """Checked ``edit_order`` params (cancel and replace)."""
    fields = {k: v for k, v in fields.items() if v is not None}
    if not isinstance(fields.get("order_id"), str) or not fields["order_id"]:
        raise InvalidRequestError("edit_order needs order_id")
    out: dict[str, Any] = {
        "order_id": fields["order_id"],
        "symbol": _check_symbol(fields.get("symbol")),
    }
    for name in ("order_qty", "limit_price", "display_qty"):
        if name in fields:
            out[name] = decimal_arg(name, fields[name])
    if "triggers" in fields:
        out["triggers"] = _triggers(fields["triggers"])
    if "fee_preference" in fields:
        out["fee_preference"] = _choice("fee_preference", fields["fee_preference"], _FEE_PREF)
    if "order_userref" in fields:
        out["order_userref"] = _userref("order_userref", fields["order_userref"])
    for flag in ("post_only", "reduce_only", "validate"):
        if flag in fields:
            out[flag] = _flag(flag, fields[flag])
    if "deadline" in fields:
        out["deadline"] = check_deadline(fields["deadline"])
    if len(out) == 2:
        raise InvalidRequestError(
            "edit_order needs something to change (order_qty, limit_price, ...)"
        )
    return s.EditOrderParams(**out)


def check_cancel_after(timeout: Any) -> int:
    """``cancel_all_orders_after`` timeout: whole seconds, 0 (disable) to 86399."""
    if isinstance(timeout, bool) or not isinstance(timeout, int) or not 0 <= timeout < 86400:
        raise InvalidRequestError(f"timeout must be whole seconds from 0 to 86399, got {timeout!r}")
    return timeout
