"""Position, PnL and matching arithmetic of the fake futures account, pure and exact (Decimal).

Linear contracts (``PF_``/``FF_``) are sized in the base currency and settle PnL in the quote
currency: ``pnl = (price - entry) * size``. Inverse contracts (``PI_``/``FI_``) are sized in USD
and settle in the base currency: ``pnl = size * (1/entry - 1/price)``; their average entry is the
harmonic mean weighted by size, as on Kraken's inverse contracts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

__all__ = [
    "INITIAL_MARGIN_RATE",
    "MAINTENANCE_MARGIN_RATE",
    "MAKER_FEE",
    "TAKER_FEE",
    "Position",
    "cross_levels",
    "fee",
    "notional_usd",
]

INITIAL_MARGIN_RATE: Final = Decimal("0.02")
"""Initial margin as a share of the position's value (50x leverage, as Kraken's top tier)."""
MAINTENANCE_MARGIN_RATE: Final = Decimal("0.01")
"""Maintenance margin as a share of the position's value."""
MAKER_FEE: Final = Decimal("0.0002")
TAKER_FEE: Final = Decimal("0.0005")
_ZERO: Final = Decimal(0)
BASE_UNIT: Final = Decimal("1e-10")
"""Inverse contracts' PnL, fees and margins are in the base currency, to 10 places as Kraken's."""
PRICE_UNIT: Final = Decimal("1e-8")
"""Average entry prices are kept to 8 places."""


def _sign(value: Decimal) -> int:
    return (value > 0) - (value < 0)


@dataclass(slots=True)
class Position:
    """One open position.

    Attributes:
        instrument: The product id.
        inverse: True for inverse contracts.
        size: Signed size (negative = short).
        entry: Average entry price.
        realized: Realized PnL so far (quote currency for linear, base for inverse).
        opened: When the position was entered (or last flipped), ms since the epoch.
    """

    instrument: str
    inverse: bool
    size: Decimal = _ZERO
    entry: Decimal = _ZERO
    realized: Decimal = _ZERO
    opened: int = 0

    def apply_fill(self, buy: bool, qty: Decimal, price: Decimal) -> Decimal:
        """Apply a fill of ``qty`` at ``price``; returns the PnL it realized.

        A fill in the position's direction moves the average entry; against it, it realizes
        PnL on the closed part; past zero, the rest opens a new position at ``price``.

        Raises:
            ValueError: If ``qty`` or ``price`` is not positive.
        """
        if qty <= 0 or price <= 0:
            raise ValueError(f"fill qty and price must be positive, got {qty} @ {price}")
        signed = qty if buy else -qty
        if self.size == 0 or _sign(self.size) == _sign(signed):
            self.entry = self._average(abs(self.size), qty, price)
            self.size += signed
            return _ZERO
        closed = min(qty, abs(self.size))
        realized = self.pnl_of(closed * _sign(self.size), price)
        self.realized += realized
        self.size += signed
        if self.size == 0:
            self.entry = _ZERO
        elif _sign(self.size) == _sign(signed):
            self.entry = price  # flipped: the rest opened at this price
        return realized

    def _average(self, held: Decimal, qty: Decimal, price: Decimal) -> Decimal:
        if held == 0:
            return price
        if self.inverse:
            average = (held + qty) / (held / self.entry + qty / price)
        else:
            average = (held * self.entry + qty * price) / (held + qty)
        return average.quantize(PRICE_UNIT).normalize()

    def pnl_of(self, size: Decimal, price: Decimal) -> Decimal:
        """PnL of ``size`` (signed) entered at :attr:`entry` and valued at ``price``."""
        if self.entry == 0 or size == 0:
            return _ZERO
        if self.inverse:
            return (size * (1 / self.entry - 1 / price)).quantize(BASE_UNIT)
        return (price - self.entry) * size

    def unrealized(self, mark: Decimal) -> Decimal:
        """Unrealized PnL at the mark price."""
        return self.pnl_of(self.size, mark)

    def value_usd(self, mark: Decimal) -> Decimal:
        """The position's absolute size in USD at the mark price."""
        return notional_usd(self.inverse, abs(self.size), mark)

    def initial_margin(self, mark: Decimal) -> Decimal:
        """Initial margin in the settlement currency."""
        return self._in_settlement(self.value_usd(mark), mark) * INITIAL_MARGIN_RATE

    def maintenance_margin(self, mark: Decimal) -> Decimal:
        """Maintenance margin in the settlement currency."""
        return self._in_settlement(self.value_usd(mark), mark) * MAINTENANCE_MARGIN_RATE

    def _in_settlement(self, usd: Decimal, mark: Decimal) -> Decimal:
        return (usd / mark).quantize(BASE_UNIT) if self.inverse else usd

    def liquidation_price(self) -> Decimal:
        """Where the loss would eat the initial margin (a simple estimate, as a guide)."""
        if self.size == 0:
            return _ZERO
        move = 1 - INITIAL_MARGIN_RATE if self.size > 0 else 1 + INITIAL_MARGIN_RATE
        return self.entry * move


def notional_usd(inverse: bool, qty: Decimal, price: Decimal) -> Decimal:
    """The USD value of ``qty`` contracts at ``price`` (inverse contracts are worth 1 USD each)."""
    return qty if inverse else qty * price


def fee(inverse: bool, qty: Decimal, price: Decimal, rate: Decimal) -> Decimal:
    """The fee of a fill, in the settlement currency (base for inverse, quote for linear)."""
    usd = notional_usd(inverse, qty, price)
    return (usd / price * rate).quantize(BASE_UNIT) if inverse else usd * rate


def cross_levels(
    levels: Mapping[Decimal, Decimal], buy: bool, qty: Decimal, limit: Decimal | None
) -> list[tuple[Decimal, Decimal]]:
    """What a taker order of ``qty`` would trade against the opposite side ``levels``.

    Args:
        levels: The opposite side of the book (asks for a buy, bids for a sell): price -> qty.
        buy: The taker's side.
        qty: The taker's quantity.
        limit: The taker's limit price (None for a market order).

    Returns:
        ``(price, qty)`` per level crossed, best first; empty when nothing crosses.
    """
    fills: list[tuple[Decimal, Decimal]] = []
    remaining = qty
    for price in sorted(levels, reverse=not buy):
        if remaining <= 0:
            break
        if limit is not None and (price > limit if buy else price < limit):
            break
        take = min(remaining, levels[price])
        fills.append((price, take))
        remaining -= take
    return fills
