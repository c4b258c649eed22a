"""What to do about a refusal: a short hint added to Kraken's own error text.

Pure functions, no I/O. :func:`refusal_hint` looks at Kraken's error text and at the request
that drew it, and returns one sentence telling the user what to change, or ``None`` when there
is nothing better to say than Kraken's text. :func:`suggest_field` maps a parameter name from
another API (``price``, ``qty``, ``pair``, ...) to Kraken's own.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Mapping

__all__ = ["refusal_hint", "suggest_field"]

# Names users bring from Kraken's REST API, other exchanges or other libraries.
_RENAMES = {
    "price": "limit_price",
    "limitprice": "limit_price",
    "limit": "limit_price",
    "qty": "order_qty",
    "quantity": "order_qty",
    "volume": "order_qty",
    "amount": "order_qty",
    "size": "order_qty",
    "type": "order_type",
    "ordertype": "order_type",
    "pair": "symbol",
    "userref": "order_userref",
    "client_order_id": "cl_ord_id",
    "clientorderid": "cl_ord_id",
    "cl_oid": "cl_ord_id",
    "timeinforce": "time_in_force",
    "trigger_price": "triggers",
    "stop_price": "triggers",
    "stoppx": "triggers",
    "oflags": "post_only / fee_preference / no_mpp",
}

_SPOT_PUBLIC_KEYS = frozenset({"spotPublicV2", "spotBetaPublicV2"})
_SPOT_PRIVATE_CHANNELS = frozenset({"executions", "balances"})
_FUTURES_PRODUCT = re.compile(r"^(?:PI|PF|PV|FI|FF|IN|RR)_[A-Z0-9]+$", re.IGNORECASE)
_PAIR_REFUSED = re.compile(r"Currency pair not (?:supported|in ISO 4217-A3 format)\s*(\S*)")
_UNSUPPORTED_FIELD = re.compile(r"Unsupported field: '([^']+)'")


def suggest_field(name: str, known: Collection[str]) -> str | None:
    """Kraken's name for ``name`` when it looks like a field of another API, else a close match.

    Args:
        name: The parameter the user passed.
        known: The parameter names the call accepts.
    """
    renamed = _RENAMES.get(name.lower().replace("-", "_")) or _RENAMES.get(
        name.lower().replace("_", "").replace("-", "")
    )
    if renamed is not None:
        return renamed
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.75)
    return close[0] if close else None


def _symbols(params: Mapping[str, object]) -> list[str]:
    value = params.get("symbol")
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [v for v in value if isinstance(v, str)]
    return []


def _symbol_hint(symbol: str) -> str | None:
    """What is wrong with a spot v2 symbol, if anything can be said without Kraken's list."""
    if _FUTURES_PRODUCT.match(symbol):
        return (
            f"{symbol!r} is a Kraken Futures product: futures feeds take "
            f"product_ids=[{symbol!r}] (and ws_key=WsKey.DERIVATIVES_PUBLIC_V1), not symbol"
        )
    fixed = symbol.upper()
    parts = fixed.split("/")
    parts = ["BTC" if part == "XBT" else part for part in parts]
    fixed = "/".join(parts)
    if "/" not in fixed and len(fixed) in (6, 7, 8):
        return f"spot v2 symbols carry a slash, like 'BTC/USD'; got {symbol!r}"
    if fixed == symbol:
        return None
    reasons = []
    if symbol != symbol.upper():
        reasons.append("symbols are upper case")
    if "XBT" in symbol.upper().split("/"):
        reasons.append("the v2 WebSocket names bitcoin BTC, not XBT")
    return f"{' and '.join(reasons)}: try {fixed!r}"


def refusal_hint(
    error_text: str, channel: str, params: Mapping[str, object], ws_key_name: str
) -> str | None:
    """One sentence on what to change after Kraken refused a subscription or a request.

    Args:
        error_text: Kraken's error text, verbatim.
        channel: The channel or futures feed subscribed to, or the request's method
            (``add_order``, ...).
        params: The request's parameters as the user gave them (``symbol``, ``product_ids``,
            ``limit_price``, ...).
        ws_key_name: The connection's key as a string (``"spotPublicV2"``, ...).

    Returns:
        The hint, or ``None`` when Kraken's text says it all.
    """
    if channel in _SPOT_PRIVATE_CHANNELS and ws_key_name in _SPOT_PUBLIC_KEYS:
        return (
            f"{channel} is a private channel: subscribe on WsKey.SPOT_PRIVATE_V2 (the default "
            "when ws_key is not given), with api_key and api_secret passed to open_kraken"
        )
    if channel == "level3" and ws_key_name != "spotL3V2":
        return "level3 is served on its own authenticated endpoint: WsKey.SPOT_L3_V2 (default)"
    refused_pair = _PAIR_REFUSED.search(error_text)
    if refused_pair is not None or "EQuery:Unknown asset pair" in error_text:
        named = refused_pair[1] if refused_pair is not None and refused_pair[1] else None
        for symbol in [named] if named else _symbols(params):
            hint = _symbol_hint(symbol)
            if hint is not None:
                return hint
        return None
    field = _UNSUPPORTED_FIELD.search(error_text)
    if field is not None:
        better = suggest_field(field[1], ())
        if better is not None:
            return f"Kraken calls {field[1]!r} {better!r}"
        return None
    if "Rate limit exceeded" in error_text and error_text.startswith("EOrder"):
        return (
            "the per-pair order rate counter is full: wait for it to decay before the next "
            "order on this pair, and prefer amend_order to cancel-and-replace (cancelling a "
            "young order costs most)"
        )
    if "Tick size check failed" in error_text:
        return "limit_price must be a multiple of the pair's price_increment (instrument channel)"
    if "Order minimum not met" in error_text:
        return "order_qty is below the pair's qty_min (instrument channel)"
    if "Cost minimum not met" in error_text:
        return "order_qty x price is below the pair's cost_min (instrument channel)"
    if "Permission denied" in error_text or "Invalid permissions" in error_text:
        return f"the API key lacks a permission that {channel} needs (see 'Going live' in the docs)"
    return None
