"""The pairs the fake exchange trades, with Kraken-shaped precision and limits."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

__all__ = ["DEFAULT_PAIRS", "PairSpec"]


@dataclass(frozen=True, slots=True)
class PairSpec:
    """One spot pair as the instrument channel describes it.

    Attributes:
        symbol: ``BASE/QUOTE``.
        base: Base asset id.
        quote: Quote asset id.
        price_precision: Decimal places of prices on the wire (and in checksums).
        qty_precision: Decimal places of quantities on the wire (and in checksums).
        qty_min: Smallest order quantity.
        cost_min: Smallest order cost in quote units.
        cost_precision: Decimal places of costs.
        start_price: Where the synthetic market starts.
    """

    symbol: str
    base: str
    quote: str
    price_precision: int
    qty_precision: int
    qty_min: Decimal
    cost_min: Decimal
    cost_precision: int
    start_price: Decimal

    @property
    def price_increment(self) -> Decimal:
        """The tick size."""
        return Decimal(1).scaleb(-self.price_precision)

    @property
    def qty_increment(self) -> Decimal:
        """The lot step."""
        return Decimal(1).scaleb(-self.qty_precision)


DEFAULT_PAIRS: tuple[PairSpec, ...] = (
    PairSpec(
        "BTC/USD", "BTC", "USD", 1, 8, Decimal("0.0001"), Decimal("0.5"), 5, Decimal("65000.0")
    ),
    PairSpec(
        "ETH/USD", "ETH", "USD", 2, 8, Decimal("0.002"), Decimal("0.5"), 5, Decimal("3200.00")
    ),
    PairSpec(
        "ETH/BTC", "ETH", "BTC", 6, 8, Decimal("0.002"), Decimal("0.00002"), 10, Decimal("0.049000")
    ),
    PairSpec("SOL/USD", "SOL", "USD", 2, 8, Decimal("0.02"), Decimal("0.5"), 5, Decimal("150.00")),
    PairSpec(
        "SHIB/USD", "SHIB", "USD", 9, 5, Decimal("50000"), Decimal("0.5"), 5, Decimal("0.000012345")
    ),
)
