"""Protocol facts in one place: channel and feed names, depths, intervals, which channels
need a snapshot, which error texts mean "authentication failed", and the pure check that
turns a user's ``subscribe()`` arguments into a connection key, symbols and wire parameters.
"""

from __future__ import annotations

from typing import Any

from .._config import WsKey
from .._errors import InvalidRequestError
from . import spot as s

__all__ = [
    "BOOK_DEPTHS",
    "FUTURES_PRIVATE_FEEDS",
    "FUTURES_PUBLIC_FEEDS",
    "FUTURES_SNAPSHOT_FEEDS",
    "L3_DEPTHS",
    "OHLC_INTERVALS",
    "SPOT_PRIVATE_CHANNELS",
    "SPOT_PUBLIC_CHANNELS",
    "SPOT_SNAPSHOT_CHANNELS",
    "SPOT_SYMBOL_CHANNELS",
    "TRADING_KEYS",
    "UNSUBSCRIBE_KEYS",
    "check_member",
    "is_auth_error",
    "is_token_error",
    "plan_subscription",
    "symbol_list",
    "ws_key_of",
]

SPOT_PUBLIC_CHANNELS = frozenset({"ticker", "book", "trade", "ohlc", "instrument"})
SPOT_PRIVATE_CHANNELS = frozenset({"executions", "balances"})
SPOT_SYMBOL_CHANNELS = frozenset({"ticker", "book", "trade", "ohlc", "level3"})
# Channels whose updates mean nothing without the snapshot before them.
SPOT_SNAPSHOT_CHANNELS = frozenset({"book", "level3", "instrument", "executions", "balances"})
FUTURES_PUBLIC_FEEDS = frozenset({"book", "ticker", "ticker_lite", "trade", "heartbeat"})
FUTURES_PRIVATE_FEEDS = frozenset(
    {
        "open_orders",
        "open_orders_verbose",
        "fills",
        "open_positions",
        "balances",
        "account_log",
        "notifications_auth",
    }
)
FUTURES_SNAPSHOT_FEEDS = frozenset({"book"})
TRADING_KEYS = frozenset({WsKey.SPOT_PRIVATE_V2, WsKey.SPOT_BETA_PRIVATE_V2})
BOOK_DEPTHS = frozenset({10, 25, 100, 500, 1000})
L3_DEPTHS = frozenset({10, 100, 1000})
OHLC_INTERVALS = frozenset({1, 5, 15, 30, 60, 240, 1440, 10080, 21600})
# Kraken's unsubscribe takes the identifying options only.
UNSUBSCRIBE_KEYS = frozenset({"symbol", "token", "depth", "interval", "event_trigger"})

_AUTH_ERRORS = ("EAPI:", "Token(s) not found", "EGeneral:Permission denied", "ESession:", "EAuth:")
_TOKEN_ERRORS = ("Token(s) not found", "ESession:Invalid session", "EAPI:Invalid token")


def is_auth_error(text: str) -> bool:
    """Kraken texts that mean the credentials or token were refused."""
    return any(marker in text for marker in _AUTH_ERRORS)


def is_token_error(text: str) -> bool:
    """Kraken texts that mean only the WebSocket token was refused (expired or revoked):
    the request was not executed, and a fresh token can fix it."""
    return any(marker in text for marker in _TOKEN_ERRORS)


def plan_subscription(
    channel: str, ws_key: WsKey | None, params: dict[str, Any]
) -> tuple[WsKey, list[str | None], dict[str, Any]]:
    params = dict(params)
    if not isinstance(channel, str) or not channel:
        raise InvalidRequestError(f"channel must be a non-empty string, got {channel!r}")
    if ws_key is not None:
        ws_key = ws_key_of(ws_key)
    futures = (
        (ws_key is not None and ws_key.is_futures)
        or "product_ids" in params
        or channel in {"ticker_lite", "heartbeat"}
        or (channel in FUTURES_PRIVATE_FEEDS and channel != "balances")
    )
    if futures:
        if channel not in FUTURES_PUBLIC_FEEDS | FUTURES_PRIVATE_FEEDS:
            raise InvalidRequestError(
                f"unknown futures feed {channel!r}; known: "
                f"{sorted(FUTURES_PUBLIC_FEEDS | FUTURES_PRIVATE_FEEDS)}"
            )
        private = channel in FUTURES_PRIVATE_FEEDS
        key = (
            WsKey(ws_key)
            if ws_key is not None
            else (WsKey.DERIVATIVES_PRIVATE_V1 if private else WsKey.DERIVATIVES_PUBLIC_V1)
        )
        if private and key != WsKey.DERIVATIVES_PRIVATE_V1:
            raise InvalidRequestError(
                f"futures feed {channel!r} is private: use {WsKey.DERIVATIVES_PRIVATE_V1}"
            )
        products = params.pop("product_ids", None)
        if params:
            raise InvalidRequestError(
                f"unknown parameter(s) {sorted(params)} for futures feed {channel!r}; "
                "futures feeds take product_ids only"
            )
        if channel in FUTURES_PUBLIC_FEEDS and channel != "heartbeat":
            # Kraken accepts product ids in any case and acks them in upper case.
            products_list: list[str | None] = [
                p.upper() for p in symbol_list(products, "product_ids", channel)
            ]
            return key, products_list, {}
        if products is not None and channel != "fills":
            raise InvalidRequestError(f"futures feed {channel!r} takes no product_ids")
        return key, [None], {}
    # Spot
    known = SPOT_PUBLIC_CHANNELS | SPOT_PRIVATE_CHANNELS | {"level3"}
    if channel not in known:
        raise InvalidRequestError(f"unknown spot channel {channel!r}; known: {sorted(known)}")
    if ws_key is None:
        if channel in SPOT_PRIVATE_CHANNELS:
            key = WsKey.SPOT_PRIVATE_V2
        elif channel == "level3":
            key = WsKey.SPOT_L3_V2
        else:
            key = WsKey.SPOT_PUBLIC_V2
    else:
        key = WsKey(ws_key)
        if key.is_futures:
            raise InvalidRequestError(f"{key} is a futures endpoint; {channel!r} is a spot channel")
    if "token" in params:
        raise InvalidRequestError("do not pass token: the client fetches and renews it itself")
    symbols_param = params.pop("symbol", None)
    if channel in SPOT_SYMBOL_CHANNELS:
        symbols: list[str | None] = list(symbol_list(symbols_param, "symbol", channel))
    else:
        if symbols_param is not None:
            raise InvalidRequestError(f"channel {channel!r} takes no symbol")
        symbols = [None]
    if channel == "book":
        check_member("book depth", params.get("depth"), BOOK_DEPTHS)
    if channel == "level3":
        check_member("level3 depth", params.get("depth"), L3_DEPTHS)
    if channel == "ohlc":
        check_member("ohlc interval (minutes)", params.get("interval"), OHLC_INTERVALS)
    if channel == "ticker" and params.get("event_trigger", "trades") not in ("bbo", "trades"):
        raise InvalidRequestError(
            f"ticker event_trigger must be 'bbo' or 'trades', got {params['event_trigger']!r}"
        )
    try:
        s.SubscribeParams(channel=channel, **params)
    except TypeError as exc:
        raise InvalidRequestError(f"bad parameter for channel {channel!r}: {exc}") from None
    return key, symbols, params


def ws_key_of(value: Any) -> WsKey:
    try:
        return WsKey(value)
    except ValueError:
        raise InvalidRequestError(
            f"unknown ws_key {value!r}; one of {[k.value for k in WsKey]}"
        ) from None


def check_member(name: str, value: Any, allowed: frozenset[int]) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value not in allowed:
        raise InvalidRequestError(f"{name} must be one of {sorted(allowed)}, got {value!r}")


def symbol_list(value: Any, name: str, channel: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not value:
        raise InvalidRequestError(
            f"{channel} needs {name}: a non-empty list of strings, got {value!r}"
        )
    if not all(isinstance(v, str) and v for v in value):
        raise InvalidRequestError(f"{name} must be non-empty strings, got {value!r}")
    if len(set(value)) != len(value):
        raise InvalidRequestError(f"{name} lists a symbol twice: {value!r}")
    return list(value)
