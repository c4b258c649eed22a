"""What the Spot servers share: the market, the matching engine (as the servers see it),
the tokens, and the fan-out of the engine's private events to the private servers.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Literal, Protocol

import trio

from ._limits import Limits
from ._market import (
    Market,
)
from ._rest import TokenStore


class PrivateDelivery(Protocol):
    """A private server as the hub sees it: it delivers engine events to subscribers."""

    def deliver(self, account: str, channel: str, data: list[dict[str, Any]]) -> None: ...


__all__ = ["EngineLike", "Exchange"]


class _ReplyLike(Protocol):
    success: bool
    result: Any
    error: str | None
    extra: dict[str, Any]


class _EventLike(Protocol):
    account: str
    channel: Literal["executions", "balances"]
    data: list[dict[str, Any]]


class EngineLike(Protocol):
    """The part of ``kraken_trio.testing._engine.Engine`` the servers use."""

    max_rate_count: int

    def open_account(self, account: str, balances: Any = None) -> None: ...

    def request(
        self, account: str, method: str, params: Mapping[str, Any], now: float
    ) -> Sequence[_ReplyLike]: ...

    def on_market(self, symbol: str, now: float) -> None: ...

    def on_time(self, now: float) -> None: ...

    def drain(self) -> Sequence[_EventLike]: ...

    def executions_snapshot(
        self, account: str, *, snap_orders: bool = True, snap_trades: bool = False
    ) -> list[dict[str, Any]]: ...

    def balances_snapshot(self, account: str) -> list[dict[str, Any]]: ...

    def next_deadman_expiry(self) -> float | None: ...

    def resting(
        self, symbol: str
    ) -> Sequence[tuple[Literal["buy", "sell"], Decimal, Decimal, str]]: ...


class Exchange:
    """What the spot servers share: the market, the engine, the tokens, the private fan-out.

    Args:
        market: The synthetic market.
        engine: The matching engine, or None (trading methods then answer
            ``EGeneral:Internal error``).
        tokens: WebSocket tokens issued by the REST server.
        show_engine_orders: Show the engine's resting orders in the public book and level3.
    """

    def __init__(
        self,
        market: Market,
        engine: EngineLike | None,
        tokens: TokenStore,
        *,
        show_engine_orders: bool = True,
    ) -> None:
        self.market = market
        self.engine = engine
        self.tokens = tokens
        self.show_engine_orders = show_engine_orders
        self.limits = Limits()  # request and subscription limits (see _limits.py)
        self._private_servers: list[PrivateDelivery] = []
        self.deadman_changed = trio.Event()

    def __repr__(self) -> str:
        return f"Exchange(symbols={self.market.symbols})"

    def register_private(self, server: PrivateDelivery) -> None:
        """Send engine events to ``server``'s subscribers too."""
        self._private_servers.append(server)

    def pump(self) -> None:
        """Deliver every pending engine event to its account's subscribers."""
        engine = self.engine
        if engine is None:
            return
        for event in engine.drain():
            for server in self._private_servers:
                server.deliver(event.account, event.channel, event.data)
        if self.show_engine_orders:
            now = time.time()
            for symbol in self.market.symbols:
                self.market.show_engine_orders(symbol, engine.resting(symbol), now)

    def requests_handled(self) -> None:
        """Wake the timer task: a trading request may have (re)armed the dead man's switch."""
        self.deadman_changed.set()
        self.deadman_changed = trio.Event()
