"""The fake REST server's ``POST /0/private/QueryOrders``, answered from the matching engine.

Request (signed like every private call; form or JSON body): ``nonce``, ``txid`` (a comma
list of 1 to 50 order ids), optional ``trades`` (``true`` adds each order's trade ids),
``userref`` (only orders with that reference) and ``consolidate_taker`` (accepted, no effect).

Answer, keyed by txid, in Kraken's shape (numbers as strings, times as epoch seconds)::

    {"error": [], "result": {"OABC12-...": {
        "refid": null, "userref": 0, "cl_ord_id": "...", "status": "closed",
        "opentm": 1700000000.123, "starttm": 0, "expiretm": 0, "closetm": 1700000001.5,
        "descr": {"pair": "XBTUSD", "type": "buy", "ordertype": "limit", "price": "60000.0",
                  "price2": "0", "leverage": "none", "order": "buy 0.01000000 XBTUSD @ limit
                  60000.0", "close": ""},
        "vol": "0.01000000", "vol_exec": "0.01000000", "cost": "600.00000", "fee": "1.50000",
        "price": "60000.0", "stopprice": "0", "limitprice": "0", "misc": "", "oflags": "fciq",
        "reason": null, "trades": ["T..."]}}}

``status`` is ``pending``, ``open``, ``closed`` (filled), ``canceled`` or ``expired``;
``price`` is the average fill price. Errors: an unknown txid ``EOrder:Invalid order``; no
``txid``, more than 50, or a malformed ``trades``/``userref``: ``EGeneral:Invalid arguments``.
The engine keeps the last 10,000 closed orders of each account.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, Protocol

from ._reference import rest_names

__all__ = ["MAX_TXIDS", "QUERY_ORDERS_PATH", "query_orders_route"]

QUERY_ORDERS_PATH = "/0/private/QueryOrders"
MAX_TXIDS = 50
_STATUS = {
    "pending_new": "pending",
    "new": "open",
    "partially_filled": "open",
    "triggered": "open",
    "filled": "closed",
    "canceled": "canceled",
    "expired": "expired",
}


class _Engine(Protocol):
    def find_order(self, account: str, order_id: str) -> Any: ...


def _text(value: Decimal, places: int) -> str:
    return format(value.quantize(Decimal(1).scaleb(-places)), "f")


def _describe(order: Any, with_trades: bool) -> dict[str, Any]:
    pair = order.pair
    altname = rest_names(pair)[1]  # Kraken's REST name: XBTUSD, not BTC/USD
    vol = order.order_qty if order.order_qty is not None else order.cum_qty
    limit = order.working_limit if order.working_limit is not None else order.limit_price
    price_text = "0" if limit is None else _text(limit, pair.price_precision)
    avg = order.cum_cost / order.cum_qty if order.cum_qty else Decimal(0)
    info: dict[str, Any] = {
        "refid": None,
        "userref": order.order_userref,
        "status": _STATUS.get(order.status, order.status),
        "opentm": order.created,
        "starttm": 0,
        "expiretm": order.expire_time or 0,
        "descr": {
            "pair": altname,
            "type": order.side,
            "ordertype": order.order_type,
            "price": price_text,
            "price2": "0",
            "leverage": "none",
            "order": (
                f"{order.side} {_text(vol, pair.qty_precision)} {altname} @ "
                f"{order.order_type} {price_text}"
            ),
            "close": "",
        },
        "vol": _text(vol, pair.qty_precision),
        "vol_exec": _text(order.cum_qty, pair.qty_precision),
        "cost": _text(order.cum_cost, pair.cost_precision),
        "fee": _text(order.cum_fee, pair.cost_precision),
        "price": _text(avg, pair.price_precision),
        "stopprice": "0",
        "limitprice": "0",
        "misc": "",
        "oflags": "fcib" if order.fee_preference == "base" else "fciq",
        "reason": None,
    }
    if order.cl_ord_id is not None:
        info["cl_ord_id"] = order.cl_ord_id
    if order.closed_at is not None:
        info["closetm"] = order.closed_at
    if with_trades and order.trade_ids:
        info["trades"] = list(order.trade_ids)
    return info


def query_orders_route(
    engine: _Engine,
) -> Callable[[str, dict[str, str]], tuple[int, dict[str, Any]]]:
    """The QueryOrders handler for :attr:`RestServer.private_routes` over ``engine``."""

    def handle(account: str, fields: dict[str, str]) -> tuple[int, dict[str, Any]]:
        def fail(error: str) -> tuple[int, dict[str, Any]]:
            return 200, {"error": [error], "result": {}}

        txids = [t.strip() for t in fields.get("txid", "").split(",") if t.strip()]
        if not txids or len(txids) > MAX_TXIDS:
            return fail("EGeneral:Invalid arguments")
        trades = fields.get("trades", "false").lower()
        if trades not in ("true", "false"):
            return fail("EGeneral:Invalid arguments")
        userref_text = fields.get("userref")
        userref: int | None = None
        if userref_text is not None:
            try:
                userref = int(userref_text)
            except ValueError:
                return fail("EGeneral:Invalid arguments")
        result: dict[str, Any] = {}
        for txid in txids:
            order = engine.find_order(account, txid)
            if order is None:
                return fail("EOrder:Invalid order")
            if userref is None or order.order_userref == userref:
                result[txid] = _describe(order, trades == "true")
        return 200, {"error": [], "result": result}

    return handle
