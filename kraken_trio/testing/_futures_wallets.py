"""The fake futures account's wallets and the balance structures Kraken reports them in, pure.

Three kinds of wallet, as on Kraken Futures: the *holding* wallet (currency -> quantity), the
*single-collateral* wallets of inverse contracts (``F-XBT:USD``, margined and settled in XBT) and
the *multi-collateral* ``flex`` wallet of linear contracts (currencies valued in USD). The field
names follow Kraken's ``balances`` feed documentation; ``futures_cash_value`` and
``futures_upnl_cash_value`` are placed in ``flex_futures`` beside ``total_position_size`` and
``unified_balances`` (the documentation lists them after the flex fields without saying where
they nest: a guess).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

__all__ = ["USD_PRICES", "Exposure", "Wallets", "single_wallet_name", "usd_per_unit"]

USD_PRICES: Final = {
    "USD": Decimal(1),
    "USDT": Decimal(1),
    "USDC": Decimal(1),
    "EUR": Decimal("1.08"),
    "GBP": Decimal("1.27"),
    "XBT": Decimal(65000),
    "BTC": Decimal(65000),
    "ETH": Decimal(3200),
    "SOL": Decimal(150),
}
_ZERO: Final = Decimal("0.0")
_UNIT: Final = Decimal("1e-10")


def single_wallet_name(base: str, quote: str) -> str:
    """``F-XBT:USD``: the single-collateral wallet of inverse contracts on ``base``/``quote``."""
    return f"F-{base}:{quote}"


def usd_per_unit(wallet: str) -> Decimal:
    """USD value of one unit of a single-collateral wallet (``F-XBT:USD``: one XBT)."""
    base = wallet.removeprefix("F-").split(":")[0]
    return USD_PRICES.get(base, Decimal(1))


@dataclass(slots=True)
class Exposure:
    """What open positions and orders weigh on one wallet (in that wallet's settlement units).

    Attributes:
        pnl: Unrealized PnL of the positions.
        initial_margin: Initial margin of the positions.
        order_margin: Initial margin of the open orders.
        maintenance_margin: Maintenance margin of the positions.
        position_size_usd: Absolute size of the positions in USD.
    """

    pnl: Decimal = _ZERO
    initial_margin: Decimal = _ZERO
    order_margin: Decimal = _ZERO
    maintenance_margin: Decimal = _ZERO
    position_size_usd: Decimal = _ZERO


@dataclass(slots=True)
class Wallets:
    """The holding, single-collateral and flex wallets of one account."""

    holding: dict[str, Decimal] = field(default_factory=dict)
    single: dict[str, Decimal] = field(default_factory=dict)  # name -> balance (base units)
    flex: dict[str, tuple[Decimal, Decimal]] = field(default_factory=dict)  # ccy -> (qty, usd)

    # -- changing ----------------------------------------------------------------------

    def set_flex(self, currency: str, quantity: Decimal, value: Decimal | None) -> None:
        """Set a flex currency; ``value`` (USD) defaults to a fixed price table.

        Raises:
            ValueError: For a currency without a known price and no ``value``.
        """
        if value is None:
            if currency not in USD_PRICES:
                raise ValueError(f"no USD price known for {currency!r}; pass value=")
            value = quantity * USD_PRICES[currency]
        self.flex[currency] = (quantity, value)

    def add_flex(self, currency: str, amount: Decimal) -> tuple[Decimal, Decimal]:
        """Add ``amount`` to a flex currency; returns (old, new) quantity."""
        old, usd = self.flex.get(currency, (_ZERO, _ZERO))
        price = usd / old if old else USD_PRICES.get(currency, Decimal(1))
        new = old + amount
        self.flex[currency] = (new, new * price)
        return old, new

    def add_single(self, name: str, amount: Decimal) -> tuple[Decimal, Decimal]:
        """Add ``amount`` to a single-collateral wallet; returns (old, new) balance."""
        old = self.single.get(name, _ZERO)
        self.single[name] = old + amount
        return old, old + amount

    # -- reading -----------------------------------------------------------------------

    def flex_total(self) -> Decimal:
        """The flex wallet's USD value."""
        return sum((usd for _, usd in self.flex.values()), _ZERO)

    def flex_available(self, exposure: Exposure) -> Decimal:
        """Margin equity minus initial margin (orders included), USD."""
        return self.flex_total() + exposure.pnl - exposure.initial_margin - exposure.order_margin

    def single_available(self, name: str, exposure: Exposure) -> Decimal:
        """A single-collateral wallet's balance plus PnL minus initial margin, base units."""
        balance = self.single.get(name, _ZERO)
        return balance + exposure.pnl - exposure.initial_margin - exposure.order_margin

    def single_entry(self, name: str, exposure: Exposure) -> dict[str, Any]:
        """One entry of ``futures`` (a single-collateral wallet), as the feed writes it."""
        base, quote = name.removeprefix("F-").split(":")
        balance = self.single.get(name, _ZERO)
        price = usd_per_unit(name)
        return {
            "name": name,
            "pair": f"{base}/{quote}",
            "unit": base,
            "portfolio_value": balance + exposure.pnl,
            "balance": balance,
            "maintenance_margin": exposure.maintenance_margin,
            "initial_margin": exposure.initial_margin + exposure.order_margin,
            "available": self.single_available(name, exposure),
            "unrealized_funding": _ZERO,
            "pnl": exposure.pnl,
            "cash_value": balance * price,
        }

    def futures_cash_value(self) -> Decimal:
        """USD value of every single-collateral wallet."""
        return sum(
            (bal * usd_per_unit(n) for n, bal in self.single.items()),
            _ZERO,
        )

    def flex_structure(self, exposure: Exposure, single_pnl_usd: Decimal = _ZERO) -> dict[str, Any]:
        """``flex_futures`` as the feed writes it, with a filled-in ``cross`` block."""
        total = self.flex_total()
        equity = total + exposure.pnl
        initial = exposure.initial_margin + exposure.order_margin
        available = equity - initial
        currencies = {
            ccy: {
                "quantity": qty,
                "value": usd,
                "collateral_value": usd,
                "available": (available * qty / usd).quantize(_UNIT) if qty and usd else qty,
                "haircut": _ZERO,
                "conversion_spread": _ZERO,
            }
            for ccy, (qty, usd) in self.flex.items()
        }
        margins = {
            "initial_margin": initial,
            "initial_margin_without_orders": exposure.initial_margin,
            "maintenance_margin": exposure.maintenance_margin,
            "pnl": exposure.pnl,
            "unrealized_funding": _ZERO,
            "total_unrealized": exposure.pnl,
            "total_unrealized_as_margin": exposure.pnl,
        }
        leverage = (exposure.position_size_usd / equity).quantize(_UNIT) if equity > 0 else _ZERO
        cash = self.futures_cash_value()
        return {
            "currencies": currencies,
            "balance_value": total,
            "portfolio_value": equity,
            "collateral_value": total,
            **margins,
            "margin_equity": equity,
            "available_margin": available,
            "total_position_size": exposure.position_size_usd,
            "unified_balances": False,
            "futures_cash_value": cash,
            "futures_upnl_cash_value": cash + single_pnl_usd,
            "isolated": {},
            "cross": {
                "balance_value": total,
                "portfolio_value": equity,
                "collateral_value": total,
                **margins,
                "margin_equity": equity,
                "available_margin": available,
                "effective_leverage": leverage,
                "total_position_size": exposure.position_size_usd,
            },
        }

    def legacy_margin_accounts(
        self, flex: Exposure, singles: dict[str, Exposure]
    ) -> list[dict[str, Any]]:
        """``margin_accounts`` of the legacy ``account_balances_and_margins`` feed.

        One entry per holding currency (lower-case currency name, as the legacy cash
        accounts), per single-collateral wallet (lower-case wallet name) and ``flex``;
        fields ``name, pv, balance, funding, mm, pnl, im, am`` as the legacy feed defined them.
        """
        out: list[dict[str, Any]] = []
        for ccy, qty in self.holding.items():
            out.append(_legacy(ccy.lower(), qty, Exposure()))
        for name in sorted(set(self.single) | set(singles)):
            out.append(_legacy(name.lower(), self.single.get(name, _ZERO), singles.get(name)))
        out.append(_legacy("flex", self.flex_total(), flex))
        return out


def _legacy(name: str, balance: Decimal, exposure: Exposure | None) -> dict[str, Any]:
    ex = exposure or Exposure()
    initial = ex.initial_margin + ex.order_margin
    return {
        "name": name,
        "pv": balance + ex.pnl,
        "balance": balance,
        "funding": _ZERO,
        "mm": ex.maintenance_margin,
        "pnl": ex.pnl,
        "im": initial,
        "am": balance + ex.pnl - initial,
    }
