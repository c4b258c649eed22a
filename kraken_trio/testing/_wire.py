"""Kraken-style JSON rendering for the fake exchange, pure.

Kraken writes prices and quantities as JSON number literals in fixed-point, padded to the
pair's precision (``0.00000000``, ``1797.30``, ``0.000012345``), never in exponent form. The
fake builds frames as plain dicts whose numbers are :class:`msgspec.Raw` fixed-point text and
encodes them with msgspec, so the text on the wire is exactly the text the checksum was
computed from.

Method responses (acks, errors, pongs, trading replies) are encoded with sorted keys, as
Kraken's are; channel data keeps the insertion order the builders use (Kraken's order).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import msgspec

__all__ = [
    "decode",
    "encode",
    "encode_sorted",
    "fixed_units",
    "num",
    "raw_units",
    "to_wire",
    "ts0",
    "ts6",
    "ts9",
]

_ENCODER = msgspec.json.Encoder()
_SORTED_ENCODER = msgspec.json.Encoder(order="sorted")
_DECODER = msgspec.json.Decoder(float_hook=Decimal)


def encode(obj: Any) -> str:
    """Encode ``obj`` (dict keys in insertion order) to JSON text."""
    return _ENCODER.encode(obj).decode()


def encode_sorted(obj: Any) -> str:
    """Encode ``obj`` with dict keys sorted, like Kraken's method responses."""
    return _SORTED_ENCODER.encode(obj).decode()


def decode(data: str | bytes) -> Any:
    """Decode a client frame; JSON floats become :class:`~decimal.Decimal` (exact).

    Raises:
        msgspec.DecodeError: The text is not JSON.
    """
    return _DECODER.decode(data)


def fixed_units(units: int, places: int) -> str:
    """Render an integer count of ``10**-places`` units as fixed-point text.

    ``fixed_units(123450, 1) == "12345.0"``, ``fixed_units(5, 8) == "0.00000005"``.
    """
    if places == 0:
        return str(units)
    sign = "-" if units < 0 else ""
    whole, frac = divmod(abs(units), 10**places)
    return f"{sign}{whole}.{frac:0{places}d}"


def raw_units(units: int, places: int) -> msgspec.Raw:
    """:func:`fixed_units` as a raw JSON number literal."""
    return msgspec.Raw(fixed_units(units, places).encode())


def num(value: Decimal, places: int | None = None) -> msgspec.Raw:
    """A Decimal as a fixed-point JSON number literal (at ``places`` decimals if given)."""
    text = format(value, "f") if places is None else format(value, f".{places}f")
    return msgspec.Raw(text.encode())


def to_wire(obj: Any) -> Any:
    """Replace every Decimal inside ``obj`` by its fixed-point literal (``format(d, 'f')``).

    Used for result dicts coming from the matching engine, whose Decimals are already
    quantized to the pair's precision.
    """
    if isinstance(obj, Decimal):
        return msgspec.Raw(format(obj, "f").encode())
    if isinstance(obj, Mapping):
        return {k: to_wire(v) for k, v in obj.items()}
    if isinstance(obj, Sequence) and not isinstance(obj, str | bytes):
        return [to_wire(v) for v in obj]
    return obj


_last_second = -1
_last_prefix = ""


def _prefix(second: int) -> str:
    global _last_second, _last_prefix
    if second != _last_second:
        _last_prefix = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        _last_second = second
    return _last_prefix


def ts6(t: float | None = None) -> str:
    """RFC3339 UTC with 6 fractional digits: ``2023-10-06T17:35:55.219022Z``."""
    if t is None:
        t = time.time()
    micros = round(t * 1_000_000)
    second, frac = divmod(micros, 1_000_000)
    return f"{_prefix(second)}.{frac:06d}Z"


def ts9(t_ns: int) -> str:
    """RFC3339 UTC with 9 fractional digits from integer nanoseconds."""
    second, frac = divmod(t_ns, 1_000_000_000)
    return f"{_prefix(second)}.{frac:09d}Z"


def ts0(t: float) -> str:
    """RFC3339 UTC without fractional digits: ``2023-09-21T15:49:29Z``."""
    return f"{_prefix(int(t))}Z"
