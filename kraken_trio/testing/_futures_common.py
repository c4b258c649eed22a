"""Small helpers every part of the fake futures exchange shares: JSON text, exact numbers, time."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import msgspec

__all__ = ["Number", "dec", "encode", "iso_ms", "now_ms", "plain"]

_ENCODER = msgspec.json.Encoder(decimal_format="number")
Number = Decimal | int | str
"""What the scripting API accepts for a price or quantity (never a float: floats are inexact)."""


def plain(value: Any) -> Any:
    """Decimals whose ``str`` uses exponent form (``1E-7``, ``0E-8``) as fixed-point JSON text."""
    if isinstance(value, Decimal):
        return msgspec.Raw(format(value, "f").encode()) if "E" in str(value) else value
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def encode(message: Mapping[str, Any]) -> str:
    """JSON text with Decimals as fixed-point number literals, as Kraken writes them."""
    return _ENCODER.encode(plain(message)).decode()


def now_ms() -> int:
    """Wall-clock time in ms since the epoch (Kraken's timestamps)."""
    return int(time.time() * 1000)


def iso_ms(ms: int) -> str:
    """``2024-01-02T03:04:05.678Z`` for a time in ms, as Kraken's Futures REST writes times."""
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def dec(value: Number, what: str) -> Decimal:
    """Exact Decimal from a Decimal, int or decimal string; floats are refused (inexact).

    Raises:
        TypeError: For a float, a bool or anything else that is not a number.
        ValueError: For a string that is not a finite number.
    """
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise TypeError(f"{what} must be a Decimal, int or str, not {type(value).__name__}")
    try:
        result = Decimal(value)
    except ArithmeticError:
        raise ValueError(f"{what} must be a number, got {value!r}") from None
    if not result.is_finite():
        raise ValueError(f"{what} must be finite, got {value!r}")
    if result.as_tuple().exponent > 0:  # type: ignore[operator]
        result = result.quantize(Decimal(1))  # never an exponent on the wire
    return result
