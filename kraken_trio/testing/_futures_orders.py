"""Orders of the fake futures account and how Kraken writes them (WebSocket and REST), pure."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from ._futures_common import iso_ms

__all__ = ["CANCEL_REASONS", "FILL_TYPES", "REST_ORDER_TYPES", "FuturesOrder"]

REST_ORDER_TYPES: Final = {
    "lmt": "limit",
    "post": "limit",
    "ioc": "limit",
    "mkt": "limit",
    "stp": "stop",
    "take_profit": "take_profit",
}
"""Futures REST ``orderType`` -> the ``type`` the ``open_orders`` feed shows."""
FILL_TYPES: Final = frozenset(
    {
        "maker",
        "taker",
        "liquidation",
        "assignee",
        "assignor",
        "unwindBankrupt",
        "unwindCounterparty",
        "takerAfterEdit",
    }
)
CANCEL_REASONS: Final = frozenset(
    {
        "cancelled_by_user",
        "liquidation",
        "contract_expired",
        "not_enough_margin",
        "market_inactive",
        "cancelled_by_admin",
        "dead_man_switch",
        "ioc_order_failed_because_it_would_not_be_executed",
        "post_order_failed_because_it_would_filled",
        "would_execute_self",
        "would_not_reduce_position",
        "order_for_edit_not_found",
    }
)


@dataclass(slots=True)
class FuturesOrder:
    """One order of the account (all prices and quantities exact).

    Attributes:
        order_id: Kraken-style UUID.
        instrument: Product id.
        direction: 0 buy, 1 sell.
        order_type: ``limit``, ``stop`` or ``take_profit`` (the feed's ``type``).
        qty: Order quantity.
        filled: Quantity filled so far.
        limit_price: Limit price (0 for a stop without one).
        stop_price: Trigger price (0 for limit orders).
        reduce_only: Reduce-only flag.
        time: Creation time, ms.
        last_update_time: Last change, ms.
        cli_ord_id: Client order id, if set.
        trigger_signal: ``last``, ``mark`` or ``spot`` for stop/take-profit orders.
        rest_type: The Futures REST ``orderType`` (``lmt``, ``post``, ``ioc``, ``mkt``, ``stp``,
            ``take_profit``).
    """

    order_id: str
    instrument: str
    direction: int
    order_type: str
    qty: Decimal
    filled: Decimal
    limit_price: Decimal
    stop_price: Decimal
    reduce_only: bool
    time: int
    last_update_time: int
    cli_ord_id: str | None = None
    trigger_signal: str | None = None
    rest_type: str = "lmt"

    @property
    def buy(self) -> bool:
        """True for a buy order."""
        return self.direction == 0

    @property
    def remaining(self) -> Decimal:
        """Quantity not filled yet."""
        return self.qty - self.filled

    def to_wire(self) -> dict[str, Any]:
        """The order object as ``open_orders`` carries it."""
        wire: dict[str, Any] = {
            "instrument": self.instrument,
            "time": self.time,
            "last_update_time": self.last_update_time,
            "qty": self.qty,
            "filled": self.filled,
            "limit_price": self.limit_price,
            "stop_price": self.stop_price,
            "type": self.order_type,
            "order_id": self.order_id,
        }
        if self.cli_ord_id is not None:
            wire["cli_ord_id"] = self.cli_ord_id
        wire["direction"] = self.direction
        wire["reduce_only"] = self.reduce_only
        if self.trigger_signal is not None:
            wire["triggerSignal"] = self.trigger_signal
        return wire

    def to_rest(self) -> dict[str, Any]:
        """The order object of Futures REST ``orderEvents`` (``sendorder``, ``cancelorder``)."""
        wire: dict[str, Any] = {
            "orderId": self.order_id,
            "cliOrdId": self.cli_ord_id,
            "type": self.rest_type,
            "symbol": self.instrument,
            "side": "buy" if self.buy else "sell",
            "quantity": self.qty,
            "filled": self.filled,
            "limitPrice": self.limit_price,
            "reduceOnly": self.reduce_only,
            "timestamp": iso_ms(self.time),
            "lastUpdateTimestamp": iso_ms(self.last_update_time),
        }
        if self.order_type != "limit":
            wire["stopPrice"] = self.stop_price
            wire["triggerSignal"] = self.trigger_signal
        return wire

    def to_open_order(self) -> dict[str, Any]:
        """One entry of Futures REST ``openorders``."""
        wire: dict[str, Any] = {
            "order_id": self.order_id,
            "symbol": self.instrument,
            "side": "buy" if self.buy else "sell",
            "orderType": self.rest_type,
            "limitPrice": self.limit_price,
            "unfilledSize": self.remaining,
            "receivedTime": iso_ms(self.time),
            "status": "partiallyFilled" if self.filled else "untouched",
            "filledSize": self.filled,
            "reduceOnly": self.reduce_only,
            "lastUpdateTime": iso_ms(self.last_update_time),
        }
        if self.cli_ord_id is not None:
            wire["cliOrdId"] = self.cli_ord_id
        if self.order_type != "limit":
            wire["stopPrice"] = self.stop_price
            wire["triggerSignal"] = self.trigger_signal
        return wire
