"""Fixed-point rendering of wire numbers and Kraken's CRC32 book checksums, pure.

Kraken's checksum concatenates, for the top ten asks (low to high) then the top ten bids
(high to low), each price and quantity rendered at the pair's precision with the decimal
point and leading zeros removed, and takes the unsigned CRC32 of that text.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from decimal import Decimal

__all__ = ["checksum_digits", "crc32_levels", "fixed"]


def fixed(value: Decimal, places: int) -> str:
    """Render ``value`` as a fixed-point literal with exactly ``places`` decimals.

    Never uses exponent notation (``Decimal('1E-8')`` at 8 places is ``'0.00000001'``).
    """
    return format(value, f".{places}f")


def checksum_digits(value: Decimal, places: int) -> str:
    """The checksum form of a number: fixed-point, ``.`` removed, leading zeros stripped."""
    return format(value, f".{places}f").replace(".", "").lstrip("0")


def crc32_levels(asks: Iterable[tuple[str, str]], bids: Iterable[tuple[str, str]]) -> int:
    """CRC32 over already-rendered checksum digits: asks first (ascending), then bids.

    Each item is ``(price_digits, qty_digits)`` as produced by :func:`checksum_digits`
    (L3: one item per order, in queue order within each level).
    """
    parts = [p + q for p, q in asks]
    parts.extend(p + q for p, q in bids)
    return zlib.crc32("".join(parts).encode("ascii"))
