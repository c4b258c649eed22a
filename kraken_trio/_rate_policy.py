"""Trading requests paced under Kraken's per-pair rate counter (the client's side of it).

:class:`~kraken_trio._proto.ratelimit.RateGovernor` is the pure model; this module applies
the configured policy before a request is sent and teaches the model from the replies.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import trio

from ._errors import KrakenAPIError, RateLimitError
from ._proto import spot as s
from ._proto.ratelimit import RateGovernor

__all__ = ["RATE_LIMIT_ERROR", "admit", "learn", "params_of", "refused"]

RATE_LIMIT_ERROR = "EOrder:Rate limit exceeded"
_NEVER_WAIT = frozenset({"batch_cancel"})  # Kraken accepts it even past the threshold


def params_of(params: s._Out) -> dict[str, Any]:
    """A request's parameters by Kraken's names (what the model costs)."""
    return {name: getattr(params, name) for name in params.__struct_fields__}


def _blocking(
    governor: RateGovernor, costs: Mapping[str, float], now: float
) -> tuple[str, float] | None:
    """The pair that holds the request back longest, and for how long; None if it fits."""
    worst: tuple[str, float] | None = None
    for symbol, cost in costs.items():
        wait = governor.delay({symbol: cost}, now)
        if wait > 0 and (worst is None or wait > worst[1]):
            worst = (symbol, wait)
    return worst


async def admit(
    governor: RateGovernor,
    mode: str,
    method: str,
    fields: Mapping[str, Any],
    budget: float,
) -> dict[str, float]:
    """Wait (or refuse) until the request fits, then charge it; returns the costs charged.

    A checkpoint when it waits. Between the last check and the charge there is no await, so
    concurrent requests on one pair cannot both take the last room.

    Args:
        governor: The model.
        mode: ``"wait"``, ``"raise"`` or ``"off"``.
        method: Kraken's method.
        fields: The request's parameters (see :func:`params_of`).
        budget: The longest it may wait, in seconds (the request deadline).

    Raises:
        RateLimitError: ``mode="raise"`` and it does not fit now, or ``mode="wait"`` and it
            would not fit within ``budget``; nothing was charged or sent.
    """
    start = trio.current_time()
    while True:
        now = trio.current_time()
        costs = governor.costs(method, fields, now)
        blocked = (
            None if mode == "off" or method in _NEVER_WAIT else _blocking(governor, costs, now)
        )
        if blocked is None:
            governor.charge(costs, now)
            return costs
        symbol, wait = blocked
        if mode == "raise" or math.isinf(wait) or now + wait > start + budget:
            raise RateLimitError(symbol, wait, method)
        await trio.sleep(wait)


def learn(
    governor: RateGovernor,
    method: str,
    fields: Mapping[str, Any],
    replies: Sequence[Any],
    now: float,
) -> None:
    """Teach the model what a successful request did to the account's orders."""
    symbol = fields.get("symbol")
    if method == "add_order" and isinstance(symbol, str):
        result = replies[0].result if replies else None
        if result is not None and result.order_id:
            governor.placed(result.order_id, symbol, now, result.cl_ord_id)
    elif method == "batch_add" and isinstance(symbol, str) and replies:
        for item in replies[0].result or ():
            if item.order_id and not item.error:
                governor.placed(item.order_id, symbol, now, item.cl_ord_id)
    elif method == "amend_order":
        governor.amended(fields.get("order_id"), now, fields.get("cl_ord_id"))
    elif method in ("cancel_order", "batch_cancel"):
        for order_id in (fields.get("order_id") or []) + (fields.get("orders") or []):
            governor.closed(order_id)
    elif method == "edit_order" and replies:
        result = replies[0].result
        governor.closed(str(fields.get("order_id")))
        if result is not None and result.order_id and isinstance(symbol, str):
            governor.placed(result.order_id, symbol, now)


def refused(
    governor: RateGovernor,
    error: KrakenAPIError,
    fields: Mapping[str, Any],
    costs: Mapping[str, float],
) -> None:
    """Kraken refused for its rate: the pairs the request touched are full."""
    if not error.error.startswith(RATE_LIMIT_ERROR):
        return
    now = trio.current_time()
    symbols = set(costs)
    if isinstance(fields.get("symbol"), str):
        symbols.add(fields["symbol"])
    for symbol in symbols:
        governor.saturate(symbol, now)
