"""The fake futures account: orders, fills, positions, wallets, log and notifications.

Tests script it directly (``place_order``, ``fill``, ``set_position``, ``set_balance``,
``add_log_entry``, ``notify``), and clients trade with it through the Futures REST API
(:mod:`._futures_trading` matches their orders against the synthetic book). Every change is
pushed at once to the sinks (the server's subscribers) as the private feed message Kraken sends;
``seq`` numbers are added per subscription by the server, not here.

A fill, scripted or traded, moves the position (average entry, realized PnL), charges the fee
and settles the realized PnL in the wallet of the product (``flex`` for linear contracts,
``F-<base>:<quote>`` for inverse ones), and reports, in this order: ``open_orders`` and
``open_orders_verbose``, ``fills``, ``open_positions``, ``balances`` (only the changed wallet),
``account_balances_and_margins`` and ``account_log``.
"""

from __future__ import annotations

import dataclasses
import random
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final, Literal

from ._futures_common import Number, dec, now_ms
from ._futures_ledger import Ledger
from ._futures_market import FuturesProductSpec, futures_product
from ._futures_orders import CANCEL_REASONS, FILL_TYPES, FuturesOrder
from ._futures_positions import Position
from ._futures_wallets import single_wallet_name

__all__ = ["AccountSink", "FuturesAccount"]

AccountSink = Callable[[str, str | None, dict[str, Any]], None]
"""``sink(feed, instrument_or_None, message)``, called for every change."""

_LOG_FIELDS: Final = (
    "old_average_entry_price",
    "new_average_entry_price",
    "trade_price",
    "mark_price",
    "realized_pnl",
    "fee",
    "execution",
    "collateral",
    "funding_rate",
    "realized_funding",
    "conversion_spread_percentage",
    "liquidation_fee",
)
_LOG_TEXT_FIELDS: Final = frozenset({"execution", "collateral"})
_NOTIFICATION_TYPES: Final = frozenset(
    {"market", "general", "new_feature", "bug_fix", "maintenance", "settlement"}
)
_ORDER_TYPES: Final = {"limit": "lmt", "stop": "stp", "take_profit": "take_profit"}
_ZERO: Final = Decimal("0.0")


class FuturesAccount:
    """A futures account: tests change it, subscribed connections see the changes.

    The methods are synchronous and must be called from the Trio thread that runs the exchange.

    Args:
        seed: Seeds order, fill and account ids.
        account_id: The ``account`` field of snapshots; derived from the seed when omitted.
        spec: Describes a product id (the exchange passes its own listing).
        mark_price: The mark price of a product (None: the last fill price).
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        account_id: str | None = None,
        spec: Callable[[str], FuturesProductSpec] = futures_product,
        mark_price: Callable[[str], Decimal] | None = None,
    ) -> None:
        self._rng = random.Random(f"futures-account-{seed}")
        self.account_id = account_id or self.new_uuid()
        self._spec = spec
        self._orders: dict[str, FuturesOrder] = {}
        self._fills: list[dict[str, Any]] = []
        self._fill_seq = 0
        self.ledger = Ledger(self.account_id, spec, mark_price, self._orders)
        self.wallets = self.ledger.wallets
        self._logs: list[dict[str, Any]] = []
        self._notifications: list[dict[str, Any]] = []
        self._sinks: list[AccountSink] = []

    def __repr__(self) -> str:
        return (
            f"FuturesAccount(account_id={self.account_id!r}, orders={len(self._orders)}, "
            f"fills={len(self._fills)}, positions={len(self.ledger.positions)})"
        )

    # -- reading -------------------------------------------------------------------------

    @property
    def orders(self) -> Mapping[str, FuturesOrder]:
        """Open orders by id (a copy)."""
        return dict(self._orders)

    @property
    def fills(self) -> Sequence[dict[str, Any]]:
        """Every fill so far, as the ``fills`` feed carries it (oldest first)."""
        return list(self._fills)

    @property
    def positions(self) -> Mapping[str, Position]:
        """Open positions by product id (a copy)."""
        return {k: dataclasses.replace(p) for k, p in self.ledger.positions.items()}

    def snapshot(self, feed: str, product_ids: Sequence[str] | None = None) -> dict[str, Any]:
        """The message a new subscriber to ``feed`` receives first (without ``seq``).

        Args:
            feed: One of the private feeds.
            product_ids: For ``fills`` only: restrict to these products.

        Raises:
            ValueError: For a feed that is not private.
        """
        if feed in ("open_orders", "open_orders_verbose"):
            return {
                "feed": f"{feed}_snapshot",
                "account": self.account_id,
                "orders": [o.to_wire() for o in self._orders.values()],
            }
        if feed == "fills":
            fills = [f for f in self._fills if not product_ids or f["instrument"] in product_ids]
            return {"feed": "fills_snapshot", "account": self.account_id, "fills": fills}
        if feed == "open_positions":
            return self.ledger.positions_message()
        if feed == "balances":
            return self.ledger.balances_message(None)
        if feed == "account_balances_and_margins":
            return self.ledger.legacy_balances_message()
        if feed == "account_log":
            return {"feed": "account_log_snapshot", "logs": list(self._logs)}
        if feed == "notifications_auth":
            return {"feed": "notifications_auth", "notifications": list(self._notifications)}
        raise ValueError(f"not a private futures feed: {feed!r}")

    # -- scripted orders -----------------------------------------------------------------

    def place_order(
        self,
        instrument: str,
        side: Literal["buy", "sell"],
        qty: Number,
        limit_price: Number,
        *,
        order_type: Literal["limit", "stop", "take_profit"] = "limit",
        stop_price: Number | None = None,
        reduce_only: bool = False,
        cli_ord_id: str | None = None,
        trigger_signal: Literal["last", "mark", "spot"] = "last",
    ) -> str:
        """Open an order without matching it; pushes ``open_orders`` (``new_placed_order_by_user``).

        Returns:
            The new order id.

        Raises:
            ValueError: For a bad side, type, quantity or price.
        """
        if side not in ("buy", "sell"):
            raise ValueError(f"side must be 'buy' or 'sell', got {side!r}")
        if order_type not in _ORDER_TYPES:
            raise ValueError(
                f"order_type must be one of {sorted(_ORDER_TYPES)}, got {order_type!r}"
            )
        quantity = dec(qty, "qty")
        price = dec(limit_price, "limit_price")
        if quantity <= 0 or price <= 0:
            raise ValueError("qty and limit_price must be positive")
        if order_type == "limit":
            if stop_price is not None:
                raise ValueError("a limit order takes no stop_price")
            stop = _ZERO
        else:
            if stop_price is None:
                raise ValueError(f"a {order_type} order needs stop_price")
            stop = dec(stop_price, "stop_price")
        order = self.new_order(
            instrument,
            buy=side == "buy",
            qty=quantity,
            limit_price=price,
            stop_price=stop,
            order_type=order_type,
            rest_type=_ORDER_TYPES[order_type],
            reduce_only=reduce_only,
            cli_ord_id=cli_ord_id,
            trigger_signal=None if order_type == "limit" else trigger_signal,
        )
        self.open(order)
        return order.order_id

    def cancel_order(self, order_id: str, *, reason: str = "cancelled_by_user") -> None:
        """Remove an open order; pushes ``open_orders`` with ``is_cancel: true``.

        Raises:
            KeyError: For an order id that is not open.
            ValueError: For a reason Kraken does not use for cancels.
        """
        if reason not in CANCEL_REASONS:
            raise ValueError(f"unknown cancel reason {reason!r}")
        order = self.take_order(order_id)
        del self._orders[order_id]
        message: dict[str, Any] = {"order_id": order.order_id}
        if order.cli_ord_id is not None:
            message["cli_ord_id"] = order.cli_ord_id
        message |= {"is_cancel": True, "reason": reason}
        for feed in ("open_orders", "open_orders_verbose"):
            self._emit(feed, order.instrument, {"feed": feed, **message})
        self._emit_margins(order.instrument)

    def fill(
        self,
        order_id: str,
        qty: Number,
        price: Number,
        *,
        fill_type: str = "maker",
        fee_paid: Number = Decimal(0),
        fee_currency: str = "USD",
        taker_order_type: str = "lmt",
    ) -> str:
        """Execute part or all of an open order at ``price`` (no book involved).

        Returns:
            The fill id.

        Raises:
            KeyError: For an order id that is not open.
            ValueError: For a quantity that is not positive or exceeds what remains.
        """
        order = self.take_order(order_id)
        quantity = dec(qty, "qty")
        if quantity <= 0 or quantity > order.remaining:
            raise ValueError(f"fill qty must be in (0, {order.remaining}], got {quantity}")
        if fill_type not in FILL_TYPES:
            raise ValueError(f"unknown fill_type {fill_type!r}")
        return self.execute(
            order,
            quantity,
            dec(price, "price"),
            fill_type=fill_type,
            fee_paid=dec(fee_paid, "fee_paid"),
            fee_currency=fee_currency,
            taker_order_type=taker_order_type,
        )

    # -- the trading core (also used by the matching in ._futures_trading) -------------

    def new_order(
        self,
        instrument: str,
        *,
        buy: bool,
        qty: Decimal,
        limit_price: Decimal,
        stop_price: Decimal,
        order_type: str,
        rest_type: str,
        reduce_only: bool = False,
        cli_ord_id: str | None = None,
        trigger_signal: str | None = None,
    ) -> FuturesOrder:
        """A new order object (not yet open)."""
        now = now_ms()
        return FuturesOrder(
            order_id=self.new_uuid(),
            instrument=instrument,
            direction=0 if buy else 1,
            order_type=order_type,
            qty=qty,
            filled=Decimal(0) * qty,
            limit_price=limit_price,
            stop_price=stop_price,
            reduce_only=reduce_only,
            time=now,
            last_update_time=now,
            cli_ord_id=cli_ord_id,
            trigger_signal=trigger_signal,
            rest_type=rest_type,
        )

    def open(self, order: FuturesOrder, *, reason: str = "new_placed_order_by_user") -> None:
        """Add ``order`` to the open orders (or report a change to it) and push it."""
        self._orders[order.order_id] = order
        self.emit_order(order, is_cancel=False, reason=reason)
        self._emit_margins(order.instrument)

    def execute(
        self,
        order: FuturesOrder,
        qty: Decimal,
        price: Decimal,
        *,
        fill_type: str,
        fee_paid: Decimal,
        fee_currency: str | None = None,
        taker_order_type: str = "lmt",
    ) -> str:
        """Fill ``qty`` of ``order`` at ``price`` and report it on every private feed.

        Returns:
            The fill id.
        """
        spec = self._spec(order.instrument)
        now = now_ms()
        order.filled += qty
        order.last_update_time = now
        done = order.remaining == 0
        if done:
            self._orders.pop(order.order_id, None)
        self.emit_order(order, is_cancel=done, reason="full_fill" if done else "partial_fill")
        fill_id = self.new_uuid()
        self._fill_seq += 1
        currency = spec.base if spec.inverse else spec.quote
        record: dict[str, Any] = {
            "instrument": order.instrument,
            "time": now,
            "price": price,
            "seq": self._fill_seq,
            "buy": order.buy,
            "qty": qty,
            "remaining_order_qty": order.remaining,
            "order_id": order.order_id,
        }
        if order.cli_ord_id is not None:
            record["cli_ord_id"] = order.cli_ord_id
        record |= {
            "fill_id": fill_id,
            "fill_type": fill_type,
            "fee_paid": fee_paid,
            "fee_currency": fee_currency or currency,
            "taker_order_type": taker_order_type,
            "order_type": order.rest_type,
        }
        self._fills.append(record)
        self._emit(
            "fills",
            order.instrument,
            {"feed": "fills", "username": self.account_id, "fills": [record]},
        )
        self.ledger.last_price[order.instrument] = price
        position = self.ledger.positions.get(order.instrument) or Position(
            order.instrument, spec.inverse
        )
        old_entry, old_size = position.entry, position.size
        realized = position.apply_fill(order.buy, qty, price)
        if (old_size > 0) != (position.size > 0) or old_size == 0:
            position.opened = now  # entered (or flipped) now: Futures REST's fillTime
        if position.size == 0:
            self.ledger.positions.pop(order.instrument, None)
        else:
            self.ledger.positions[order.instrument] = position
        self.ledger.scripted.pop(order.instrument, None)
        self._emit("open_positions", None, self.ledger.positions_message())
        change = realized - fee_paid
        if spec.inverse:
            wallet = single_wallet_name(spec.base, spec.quote)
            old, new = self.wallets.add_single(wallet, change)
            self._emit("balances", None, self.ledger.balances_message(wallet))
        else:
            wallet = "flex"
            old, new = self.wallets.add_flex(currency, change)
            self._emit("balances", None, self.ledger.balances_message("flex"))
        self._emit("account_balances_and_margins", None, self.ledger.legacy_balances_message())
        self.add_log_entry(
            asset=currency.lower(),
            info="futures trade",
            old_balance=old,
            new_balance=new,
            margin_account=wallet.lower(),
            old_average_entry_price=old_entry,
            new_average_entry_price=position.entry,
            trade_price=price,
            mark_price=self.ledger.mark(order.instrument),
            realized_pnl=realized,
            fee=fee_paid,
            execution=fill_id,
            collateral=currency,
        )
        return fill_id

    def find(self, order_id: str | None, cli_ord_id: str | None) -> FuturesOrder | None:
        """The open order with this id or client order id, if any."""
        if order_id is not None:
            return self._orders.get(order_id)
        for order in self._orders.values():
            if cli_ord_id is not None and order.cli_ord_id == cli_ord_id:
                return order
        return None

    # -- positions, balances, log, notifications -----------------------------------------

    def set_position(
        self,
        instrument: str,
        balance: Number,
        *,
        entry_price: Number,
        mark_price: Number | None = None,
        index_price: Number | None = None,
        leverage: Number = 10,
        pnl_currency: str = "USD",
    ) -> None:
        """Set (or, with ``balance`` 0, close) the position in one product, as scripted.

        ``balance`` is signed (negative = short). The figures are derived simply from the
        inputs (linear contracts) and stay as given until a fill in that product. Pushes the
        whole ``open_positions`` list.
        """
        size = dec(balance, "balance")
        self.ledger.positions.pop(instrument, None)
        if size == 0:
            self.ledger.scripted.pop(instrument, None)
        else:
            entry = dec(entry_price, "entry_price")
            mark = dec(mark_price, "mark_price") if mark_price is not None else entry
            index = dec(index_price, "index_price") if index_price is not None else mark
            lev = dec(leverage, "leverage")
            initial = abs(size) * mark / lev
            pnl = (mark - entry) * size
            self.ledger.scripted[instrument] = {
                "instrument": instrument,
                "balance": size,
                "pnl": pnl,
                "entry_price": entry,
                "mark_price": mark,
                "index_price": index,
                "liquidation_threshold": (
                    entry * (1 - 1 / lev) if size > 0 else entry * (1 + 1 / lev)
                ),
                "effective_leverage": lev,
                "return_on_equity": (pnl / initial * 100) if initial else Decimal(0),
                "unrealized_funding": Decimal(0),
                "initial_margin": initial,
                "initial_margin_with_orders": initial,
                "maintenance_margin": initial / 2,
                "pnl_currency": pnl_currency,
            }
        self._emit("open_positions", None, self.ledger.positions_message())

    def set_balance(
        self,
        currency: str,
        quantity: Number,
        *,
        wallet: Literal["flex", "holding", "futures"] = "flex",
        value: Number | None = None,
    ) -> None:
        """Set one currency's balance in a wallet; pushes ``balances`` with that wallet only.

        Args:
            currency: Such as ``USD`` or ``XBT``; for ``wallet="futures"`` the single-collateral
                wallet of ``currency`` against USD (``F-XBT:USD``).
            quantity: The new balance.
            wallet: ``flex`` (``flex_futures.currencies``), ``holding`` or ``futures``.
            value: USD value for ``flex``; derived from a fixed price table when omitted.

        Raises:
            ValueError: For an unknown wallet, or a flex currency without a known price and no
                ``value``.
        """
        amount = dec(quantity, "quantity")
        if wallet == "holding":
            self.wallets.holding[currency] = amount
            changed = "holding"
        elif wallet == "flex":
            self.wallets.set_flex(currency, amount, None if value is None else dec(value, "value"))
            changed = "flex"
        elif wallet == "futures":
            changed = single_wallet_name(currency, "USD")
            self.wallets.single[changed] = amount
        else:
            raise ValueError(f"wallet must be 'flex', 'holding' or 'futures', got {wallet!r}")
        self._emit("balances", None, self.ledger.balances_message(changed))
        self._emit("account_balances_and_margins", None, self.ledger.legacy_balances_message())

    def add_log_entry(
        self,
        *,
        asset: str,
        info: str,
        old_balance: Number,
        new_balance: Number,
        margin_account: str = "flex",
        booking_uid: str | None = None,
        **fields: Number | None,
    ) -> int:
        """Append an account log entry; pushes ``{"feed":"account_log","new_entry":{...}}``.

        Args:
            asset: Currency of the entry.
            info: Such as ``futures trade`` or ``funding rate change``.
            old_balance: Balance before.
            new_balance: Balance after.
            margin_account: Wallet name.
            booking_uid: Defaults to a fresh UUID.
            **fields: Any of ``old_average_entry_price``, ``new_average_entry_price``,
                ``trade_price``, ``mark_price``, ``realized_pnl``, ``fee``, ``execution``,
                ``collateral``, ``funding_rate``, ``realized_funding``,
                ``conversion_spread_percentage``, ``liquidation_fee``. Absent ones are written
                as Kraken's samples write them: ``0.0``, or ``""`` for the text fields
                ``execution`` and ``collateral`` (never ``null``: clients call ``float`` on them).

        Returns:
            The entry's id.
        """
        unknown = set(fields) - set(_LOG_FIELDS)
        if unknown:
            raise ValueError(f"unknown account log fields: {sorted(unknown)}")
        entry: dict[str, Any] = {
            "id": len(self._logs) + 1,
            "date": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "asset": asset,
            "info": info,
            "booking_uid": booking_uid or self.new_uuid(),
            "margin_account": margin_account,
            "old_balance": dec(old_balance, "old_balance"),
            "new_balance": dec(new_balance, "new_balance"),
        }
        for name in _LOG_FIELDS:
            raw = fields.get(name)
            if name in _LOG_TEXT_FIELDS:
                entry[name] = "" if raw is None else str(raw)
            else:
                entry[name] = _ZERO if raw is None else dec(raw, name)
        self._logs.insert(0, entry)
        self._emit("account_log", None, {"feed": "account_log", "new_entry": entry})
        return int(entry["id"])

    def notify(
        self,
        note: str,
        *,
        type: str = "general",
        priority: Literal["low", "medium", "high"] = "low",
        effective_time: int | None = None,
        expected_downtime_minutes: int | None = None,
    ) -> int:
        """Publish a notification; pushes ``notifications_auth`` with it.

        Returns:
            The notification id.
        """
        if type not in _NOTIFICATION_TYPES:
            raise ValueError(f"notification type must be one of {sorted(_NOTIFICATION_TYPES)}")
        if priority not in ("low", "medium", "high"):
            raise ValueError(f"priority must be low, medium or high, got {priority!r}")
        notification: dict[str, Any] = {
            "id": len(self._notifications) + 1,
            "type": type,
            "priority": priority,
            "note": note,
            "effective_time": effective_time if effective_time is not None else now_ms(),
        }
        if expected_downtime_minutes is not None:
            notification["expected_downtime_minutes"] = expected_downtime_minutes
        self._notifications.append(notification)
        self._emit(
            "notifications_auth",
            None,
            {"feed": "notifications_auth", "notifications": [notification]},
        )
        return int(notification["id"])

    # -- plumbing ------------------------------------------------------------------------

    def add_sink(self, sink: AccountSink) -> None:
        """Register ``sink(feed, instrument_or_None, message)``, called for every change."""
        self._sinks.append(sink)

    def new_uuid(self) -> str:
        """A UUID from the account's seeded generator."""
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def take_order(self, order_id: str) -> FuturesOrder:
        """The open order ``order_id``.

        Raises:
            KeyError: For an order id that is not open.
        """
        try:
            return self._orders[order_id]
        except KeyError:
            raise KeyError(f"no open futures order with id {order_id!r}") from None

    def remove(self, order: FuturesOrder, reason: str) -> None:
        """Take ``order`` off the open orders and push the cancel."""
        self._orders.pop(order.order_id, None)
        self.emit_order(order, is_cancel=True, reason=reason)
        self._emit_margins(order.instrument)

    def _emit(self, feed: str, instrument: str | None, message: dict[str, Any]) -> None:
        for sink in self._sinks:
            sink(feed, instrument, message)

    def _emit_margins(self, instrument: str) -> None:
        """Orders reserve margin: a change to them is a change to their wallet's balances."""
        wallet = self.ledger.wallet_of(instrument)
        self._emit("balances", None, self.ledger.balances_message(wallet))

    def emit_order(self, order: FuturesOrder, *, is_cancel: bool, reason: str) -> None:
        """Push ``open_orders`` and ``open_orders_verbose`` for ``order``."""
        for feed in ("open_orders", "open_orders_verbose"):
            message = {
                "feed": feed,
                "order": order.to_wire(),
                "is_cancel": is_cancel,
                "reason": reason,
            }
            self._emit(feed, order.instrument, message)
