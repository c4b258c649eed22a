"""The fake futures account's books: positions, wallets and the margin they imply, pure.

:class:`Ledger` computes what the private feeds report about positions and balances (PnL at the
mark price, initial and maintenance margin of positions and open orders, available margin) and
builds the ``open_positions``, ``balances`` and legacy ``account_balances_and_margins``
messages (without ``seq``: the server numbers them per subscription).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, Final

from ._futures_common import now_ms
from ._futures_market import FuturesProductSpec
from ._futures_orders import FuturesOrder
from ._futures_positions import BASE_UNIT, INITIAL_MARGIN_RATE, Position, notional_usd
from ._futures_wallets import Exposure, Wallets, single_wallet_name, usd_per_unit

__all__ = ["Ledger"]

_ZERO: Final = Decimal("0.0")


class Ledger:
    """Positions and wallets of one account, and the reports built from them.

    Args:
        account_id: The ``account`` field of the messages.
        spec: Describes a product id.
        mark_price: The mark price of a product (raises KeyError when it has none).
        orders: The account's open orders (shared, read here for the margin they reserve).
    """

    def __init__(
        self,
        account_id: str,
        spec: Callable[[str], FuturesProductSpec],
        mark_price: Callable[[str], Decimal] | None,
        orders: dict[str, FuturesOrder],
    ) -> None:
        self.account_id = account_id
        self._spec = spec
        self._mark = mark_price
        self.orders = orders
        self.positions: dict[str, Position] = {}
        self.scripted: dict[str, dict[str, Any]] = {}
        self.last_price: dict[str, Decimal] = {}
        self.wallets = Wallets()

    def __repr__(self) -> str:
        return f"Ledger(positions={sorted(self.positions) + sorted(self.scripted)})"

    def mark(self, instrument: str) -> Decimal:
        """The mark price used for PnL and margin."""
        if self._mark is not None:
            try:
                return self._mark(instrument)
            except KeyError:
                pass  # not listed by the market: a scripted product
        return self.last_price.get(instrument, Decimal(1))

    # -- exposure ------------------------------------------------------------------------

    def exposure(self, wallet: str) -> Exposure:
        """What the positions and orders settled in ``wallet`` (``flex`` or a wallet name) weigh."""
        out = Exposure()
        for instrument, position in self.positions.items():
            if self.wallet_of(instrument) != wallet:
                continue
            mark = self.mark(instrument)
            out.pnl += position.unrealized(mark)
            out.initial_margin += position.initial_margin(mark)
            out.maintenance_margin += position.maintenance_margin(mark)
            out.position_size_usd += position.value_usd(mark)
        for order in self.orders.values():
            if self.wallet_of(order.instrument) == wallet:
                out.order_margin += self.order_margin(
                    order.instrument, order.remaining, order.limit_price
                )
        return out

    def order_margin(self, instrument: str, qty: Decimal, price: Decimal) -> Decimal:
        """Initial margin an order of ``qty`` at ``price`` reserves, in its wallet's units."""
        spec = self._spec(instrument)
        if price <= 0:
            price = self.mark(instrument)
        usd = notional_usd(spec.inverse, qty, price)
        margin = (usd / price if spec.inverse else usd) * INITIAL_MARGIN_RATE
        return margin.quantize(BASE_UNIT) if spec.inverse else margin

    def available(self, instrument: str) -> Decimal:
        """Available margin of the wallet that ``instrument`` settles in."""
        wallet = self.wallet_of(instrument)
        if wallet == "flex":
            return self.wallets.flex_available(self.exposure("flex"))
        return self.wallets.single_available(wallet, self.exposure(wallet))

    def margin_equity(self, wallet: str) -> Decimal:
        """Balance plus unrealized PnL of ``wallet``, in its units."""
        pnl = self.exposure(wallet).pnl
        if wallet == "flex":
            return self.wallets.flex_total() + pnl
        return self.wallets.single.get(wallet, _ZERO) + pnl

    def wallet_of(self, instrument: str) -> str:
        """``flex`` for linear products, the ``F-<base>:<quote>`` wallet for inverse ones."""
        spec = self._spec(instrument)
        return single_wallet_name(spec.base, spec.quote) if spec.inverse else "flex"

    # -- messages ------------------------------------------------------------------------

    def positions_message(self) -> dict[str, Any]:
        """``open_positions``: the whole position list."""
        positions = list(self.scripted.values())
        for instrument, position in self.positions.items():
            positions.append(self._position_wire(instrument, position))
        return {
            "feed": "open_positions",
            "account": self.account_id,
            "positions": positions,
            "timestamp": now_ms(),
        }

    def _position_wire(self, instrument: str, position: Position) -> dict[str, Any]:
        spec = self._spec(instrument)
        mark = self.mark(instrument)
        pnl = position.unrealized(mark)
        initial = position.initial_margin(mark)
        with_orders = initial + sum(
            (
                self.order_margin(o.instrument, o.remaining, o.limit_price)
                for o in self.orders.values()
                if o.instrument == instrument
            ),
            _ZERO,
        )
        equity = self.margin_equity(self.wallet_of(instrument))
        if spec.inverse:
            equity *= mark  # the wallet's base units, valued in USD like the position
        return {
            "instrument": instrument,
            "balance": position.size,
            "pnl": pnl,
            "entry_price": position.entry,
            "mark_price": mark,
            "index_price": mark,
            "liquidation_threshold": position.liquidation_price(),
            "effective_leverage": _ratio(position.value_usd(mark), equity),
            "return_on_equity": _ratio(pnl * 100, initial),
            "unrealized_funding": _ZERO,
            "initial_margin": initial,
            "initial_margin_with_orders": with_orders,
            "maintenance_margin": position.maintenance_margin(mark),
            "pnl_currency": spec.base if spec.inverse else spec.quote,
        }

    def balances_message(self, changed: str | None) -> dict[str, Any]:
        """``balances_snapshot`` (``changed`` None) or a ``balances`` delta of one wallet.

        As Kraken documents the deltas: a holding-wallet change carries ``holding`` (and an
        empty ``futures``), a single-collateral change ``futures`` with that wallet (and an
        empty ``holding``), a flex change ``flex_futures`` only.
        """
        message: dict[str, Any] = {
            "feed": "balances" if changed else "balances_snapshot",
            "account": self.account_id,
        }
        singles = sorted(self.wallets.single)
        if changed is None:
            message["holding"] = dict(self.wallets.holding)
            message["futures"] = {
                n: self.wallets.single_entry(n, self.exposure(n)) for n in singles
            }
            message["flex_futures"] = self._flex()
        elif changed == "holding":
            message["holding"] = dict(self.wallets.holding)
            message["futures"] = {}
        elif changed == "flex":
            message["flex_futures"] = self._flex()
        else:
            message["holding"] = {}
            message["futures"] = {
                changed: self.wallets.single_entry(changed, self.exposure(changed))
            }
        message["timestamp"] = now_ms()
        return message

    def _flex(self) -> dict[str, Any]:
        single_pnl = sum(
            (self.exposure(n).pnl * usd_per_unit(n) for n in self.wallets.single),
            _ZERO,
        )
        return self.wallets.flex_structure(self.exposure("flex"), single_pnl)

    def legacy_balances_message(self) -> dict[str, Any]:
        """The legacy ``account_balances_and_margins`` message (see the server's docstring)."""
        singles = {n: self.exposure(n) for n in self.wallets.single}
        return {
            "feed": "account_balances_and_margins",
            "account": self.account_id,
            "margin_accounts": self.wallets.legacy_margin_accounts(self.exposure("flex"), singles),
        }


def _ratio(numerator: Decimal, denominator: Decimal) -> Decimal:
    """``numerator / denominator`` to 8 places; 0 when the denominator is not positive."""
    if denominator <= 0:
        return _ZERO
    return (numerator / denominator).quantize(Decimal("1e-8"))
