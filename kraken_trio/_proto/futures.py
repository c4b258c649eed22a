"""Futures WebSocket v1 messages as msgspec Structs.

Feed messages are a tagged union on ``feed``; control messages a tagged union on ``event``.
Every feed struct carries a guard field that only accepts an absent ``event`` key, so an ack
such as ``{"event": "subscribed", "feed": "ticker", ...}`` can never pass for ticker data.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec

__all__ = [
    "FlexCurrency",
    "FlexFutures",
    "FuturesAccountLog",
    "FuturesAccountLogSnapshot",
    "FuturesAlert",
    "FuturesBalances",
    "FuturesBalancesSnapshot",
    "FuturesBookDelta",
    "FuturesBookSnapshot",
    "FuturesChallenge",
    "FuturesChallengeRequest",
    "FuturesError",
    "FuturesFill",
    "FuturesFills",
    "FuturesFillsSnapshot",
    "FuturesHeartbeat",
    "FuturesInfo",
    "FuturesLevel",
    "FuturesLogEntry",
    "FuturesMarginAccount",
    "FuturesNotification",
    "FuturesNotifications",
    "FuturesOpenOrders",
    "FuturesOpenOrdersSnapshot",
    "FuturesOpenOrdersVerbose",
    "FuturesOpenOrdersVerboseSnapshot",
    "FuturesOpenPositions",
    "FuturesOrder",
    "FuturesPong",
    "FuturesPosition",
    "FuturesSubscribeRequest",
    "FuturesSubscribed",
    "FuturesSubscribedFailed",
    "FuturesTicker",
    "FuturesTickerLite",
    "FuturesTrade",
    "FuturesTradeItem",
    "FuturesTradeSnapshot",
    "FuturesUnknown",
    "FuturesUnsubscribed",
    "FuturesUnsubscribedFailed",
]


class _Feed(msgspec.Struct, kw_only=True, frozen=True, tag_field="feed", repr_omit_defaults=True):
    """Base of feed messages. ``event_`` accepts only an absent (or null) ``event`` key."""

    event_: None = msgspec.field(default=None, name="event")


class _Event(msgspec.Struct, kw_only=True, frozen=True, tag_field="event"):
    """Base of control messages (``event`` tagged)."""


class _Item(msgspec.Struct, kw_only=True, frozen=True):
    """Base of nested (untagged) futures structs."""


# --------------------------------------------------------------------------------------------
# Control messages


class FuturesInfo(_Event, frozen=True, tag="info"):
    """Sent on connect."""

    version: int | None = None


class FuturesChallenge(_Event, frozen=True, tag="challenge"):
    """The challenge to sign for private feeds (``message``)."""

    message: str | None = None
    api_key: str | None = None


class FuturesSubscribed(_Event, frozen=True, tag="subscribed"):
    """Subscribe ack (one per product)."""

    feed: str | None = None
    product_ids: list[str] | None = None


class FuturesSubscribedFailed(_Event, frozen=True, tag="subscribed_failed"):
    """Subscribe refused."""

    feed: str | None = None
    product_ids: list[str] | None = None
    message: str | None = None


class FuturesUnsubscribed(_Event, frozen=True, tag="unsubscribed"):
    """Unsubscribe ack."""

    feed: str | None = None
    product_ids: list[str] | None = None


class FuturesUnsubscribedFailed(_Event, frozen=True, tag="unsubscribed_failed"):
    """Unsubscribe refused."""

    feed: str | None = None
    product_ids: list[str] | None = None
    message: str | None = None


class FuturesError(_Event, frozen=True, tag="error"):
    """``{"event":"error","message":"Invalid product id"}`` and friends."""

    message: str | None = None


class FuturesAlert(_Event, frozen=True, tag="alert"):
    """``{"event":"alert","message":"Failed to subscribe to authenticated feed"}``."""

    message: str | None = None


class FuturesPong(_Event, frozen=True, tag="pong"):
    """Reply to a JSON ``{"event":"ping"}`` where the server sends one."""


# --------------------------------------------------------------------------------------------
# Public feeds


class FuturesHeartbeat(_Feed, frozen=True, tag="heartbeat"):
    """``{"feed":"heartbeat","time":...}``."""

    time: int


class FuturesLevel(msgspec.Struct, frozen=True, gc=False):
    """One level of a futures book snapshot."""

    price: Decimal
    qty: Decimal


class FuturesBookSnapshot(_Feed, frozen=True, tag="book_snapshot"):
    """Book snapshot with the product's ``seq``."""

    product_id: str
    seq: int
    bids: list[FuturesLevel] = []
    asks: list[FuturesLevel] = []
    timestamp: int | None = None
    tick_size: Decimal | None = msgspec.field(default=None, name="tickSize")


class FuturesBookDelta(_Feed, frozen=True, tag="book"):
    """One book delta; ``seq`` is consecutive per product, ``qty == 0`` deletes."""

    product_id: str
    side: str
    seq: int
    price: Decimal
    qty: Decimal
    timestamp: int | None = None


class FuturesTicker(_Feed, frozen=True, tag="ticker"):
    """Full ticker (funding fields on perpetuals only)."""

    product_id: str
    time: int | None = None
    bid: Decimal | None = None
    ask: Decimal | None = None
    bid_size: Decimal | None = None
    ask_size: Decimal | None = None
    volume: Decimal | None = None
    dtm: int | None = None
    leverage: str | None = None
    index: Decimal | None = None
    premium: Decimal | None = None
    last: Decimal | None = None
    change: Decimal | None = None
    suspended: bool | None = None
    tag: str | None = None
    pair: str | None = None
    open_interest: Decimal | None = msgspec.field(default=None, name="openInterest")
    mark_price: Decimal | None = msgspec.field(default=None, name="markPrice")
    maturity_time: int | None = msgspec.field(default=None, name="maturityTime")
    post_only: bool | None = None
    volume_quote: Decimal | None = msgspec.field(default=None, name="volumeQuote")
    open: Decimal | None = None
    high: Decimal | None = None
    low: Decimal | None = None
    funding_rate: Decimal | None = None
    funding_rate_prediction: Decimal | None = None
    relative_funding_rate: Decimal | None = None
    relative_funding_rate_prediction: Decimal | None = None
    next_funding_rate_time: int | None = None
    greeks: dict[str, Decimal] | None = None


class FuturesTickerLite(_Feed, frozen=True, tag="ticker_lite"):
    """The lighter ticker."""

    product_id: str
    bid: Decimal | None = None
    ask: Decimal | None = None
    change: Decimal | None = None
    premium: Decimal | None = None
    volume: Decimal | None = None
    tag: str | None = None
    pair: str | None = None
    dtm: int | None = None
    maturity_time: int | None = msgspec.field(default=None, name="maturityTime")
    volume_quote: Decimal | None = msgspec.field(default=None, name="volumeQuote")


class FuturesTradeItem(_Item, frozen=True):
    """One trade inside a ``trade_snapshot``."""

    product_id: str
    side: str
    price: Decimal
    qty: Decimal
    seq: int | None = None
    time: int | None = None
    uid: str | None = None
    type: str | None = None


class FuturesTrade(_Feed, frozen=True, tag="trade"):
    """One public trade; ``side`` is the taker's."""

    product_id: str
    side: str
    price: Decimal
    qty: Decimal
    seq: int | None = None
    time: int | None = None
    uid: str | None = None
    type: str | None = None


class FuturesTradeSnapshot(_Feed, frozen=True, tag="trade_snapshot"):
    """Recent trades."""

    product_id: str
    trades: list[FuturesTradeItem] = []


# --------------------------------------------------------------------------------------------
# Private feeds


class FuturesOrder(_Item, frozen=True):
    """An open order (``direction`` 0 = buy, 1 = sell)."""

    order_id: str
    instrument: str | None = None
    time: int | None = None
    last_update_time: int | None = None
    qty: Decimal | None = None
    filled: Decimal | None = None
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    type: str | None = None
    direction: int | None = None
    reduce_only: bool | None = None
    trigger_signal: str | None = msgspec.field(default=None, name="triggerSignal")
    cli_ord_id: str | None = None
    trailing_stop_options: dict[str, Any] | None = None


class FuturesOpenOrdersSnapshot(_Feed, frozen=True, tag="open_orders_snapshot"):
    """Open orders on subscribe."""

    orders: list[FuturesOrder]
    account: str | None = None


class FuturesOpenOrders(_Feed, frozen=True, tag="open_orders"):
    """An order change; removals have ``is_cancel`` True (also for full fills)."""

    is_cancel: bool
    reason: str
    order: FuturesOrder | None = None
    order_id: str | None = None


class FuturesOpenOrdersVerboseSnapshot(_Feed, frozen=True, tag="open_orders_verbose_snapshot"):
    """Verbose open orders on subscribe."""

    orders: list[FuturesOrder]
    account: str | None = None


class FuturesOpenOrdersVerbose(_Feed, frozen=True, tag="open_orders_verbose"):
    """Verbose order change."""

    is_cancel: bool
    reason: str
    order: FuturesOrder | None = None
    order_id: str | None = None


class FuturesFill(_Item, frozen=True):
    """One fill."""

    fill_id: str
    instrument: str | None = None
    time: int | None = None
    price: Decimal | None = None
    seq: int | None = None
    buy: bool | None = None
    qty: Decimal | None = None
    remaining_order_qty: Decimal | None = None
    order_id: str | None = None
    cli_ord_id: str | None = None
    fill_type: str | None = None
    fee_paid: Decimal | None = None
    fee_currency: str | None = None
    taker_order_type: str | None = None
    order_type: str | None = None


class FuturesFillsSnapshot(_Feed, frozen=True, tag="fills_snapshot"):
    """Recent fills on subscribe."""

    fills: list[FuturesFill]
    account: str | None = None
    username: str | None = None


class FuturesFills(_Feed, frozen=True, tag="fills"):
    """New fills (live messages say ``username`` rather than ``account``)."""

    fills: list[FuturesFill]
    account: str | None = None
    username: str | None = None


class FuturesPosition(_Item, frozen=True):
    """One open position."""

    instrument: str
    balance: Decimal | None = None
    pnl: Decimal | None = None
    entry_price: Decimal | None = None
    mark_price: Decimal | None = None
    index_price: Decimal | None = None
    liquidation_threshold: Decimal | None = None
    effective_leverage: Decimal | None = None
    return_on_equity: Decimal | None = None
    unrealized_funding: Decimal | None = None
    initial_margin: Decimal | None = None
    initial_margin_with_orders: Decimal | None = None
    maintenance_margin: Decimal | None = None
    pnl_currency: str | None = None


class FuturesOpenPositions(_Feed, frozen=True, tag="open_positions"):
    """Open positions."""

    positions: list[FuturesPosition]
    account: str | None = None
    seq: int | None = None
    timestamp: int | None = None


class FuturesMarginAccount(_Item, frozen=True):
    """A single-collateral futures margin account in a balances message."""

    name: str | None = None
    pair: str | None = None
    unit: str | None = None
    portfolio_value: Decimal | None = None
    balance: Decimal | None = None
    maintenance_margin: Decimal | None = None
    initial_margin: Decimal | None = None
    available: Decimal | None = None
    unrealized_funding: Decimal | None = None
    pnl: Decimal | None = None


class FlexCurrency(_Item, frozen=True):
    """One currency of the multi-collateral (flex) account."""

    quantity: Decimal | None = None
    value: Decimal | None = None
    collateral_value: Decimal | None = None
    available: Decimal | None = None
    haircut: Decimal | None = None
    conversion_spread: Decimal | None = None


class FlexFutures(_Item, frozen=True):
    """The multi-collateral (flex) account."""

    currencies: dict[str, FlexCurrency] = {}
    balance_value: Decimal | None = None
    portfolio_value: Decimal | None = None
    collateral_value: Decimal | None = None
    initial_margin: Decimal | None = None
    initial_margin_without_orders: Decimal | None = None
    maintenance_margin: Decimal | None = None
    pnl: Decimal | None = None
    unrealized_funding: Decimal | None = None
    total_unrealized: Decimal | None = None
    total_unrealized_as_margin: Decimal | None = None
    margin_equity: Decimal | None = None
    available_margin: Decimal | None = None
    isolated: dict[str, Any] | None = None
    cross: dict[str, Any] | None = None


class FuturesBalancesSnapshot(_Feed, frozen=True, tag="balances_snapshot"):
    """Balances on subscribe."""

    seq: int
    timestamp: int
    account: str | None = None
    holding: dict[str, Decimal] = {}
    futures: dict[str, FuturesMarginAccount] = {}
    flex_futures: FlexFutures | None = None


class FuturesBalances(_Feed, frozen=True, tag="balances"):
    """A balances change."""

    seq: int
    timestamp: int
    account: str | None = None
    holding: dict[str, Decimal] = {}
    futures: dict[str, FuturesMarginAccount] = {}
    flex_futures: FlexFutures | None = None


class FuturesLogEntry(_Item, frozen=True):
    """One account log entry."""

    id: int | None = None
    date: str | None = None
    asset: str | None = None
    info: str | None = None
    booking_uid: str | None = None
    margin_account: str | None = None
    old_balance: Decimal | None = None
    new_balance: Decimal | None = None
    old_average_entry_price: Decimal | None = None
    new_average_entry_price: Decimal | None = None
    trade_price: Decimal | None = None
    mark_price: Decimal | None = None
    realized_pnl: Decimal | None = None
    fee: Decimal | None = None
    execution: str | None = None
    collateral: str | None = None
    funding_rate: Decimal | None = None
    realized_funding: Decimal | None = None
    conversion_spread_percentage: Decimal | None = None
    liquidation_fee: Decimal | None = None


class FuturesAccountLogSnapshot(_Feed, frozen=True, tag="account_log_snapshot"):
    """Recent account log entries."""

    logs: list[FuturesLogEntry]
    account: str | None = None


class FuturesAccountLog(_Feed, frozen=True, tag="account_log"):
    """A new account log entry."""

    new_entry: FuturesLogEntry


class FuturesNotification(_Item, frozen=True):
    """One notification."""

    id: int | None = None
    type: str | None = None
    priority: str | None = None
    note: str | None = None
    effective_time: int | None = None
    expected_downtime_minutes: int | None = None


class FuturesNotifications(_Feed, frozen=True, tag="notifications_auth"):
    """Account notifications."""

    notifications: list[FuturesNotification]


class FuturesUnknown(msgspec.Struct, kw_only=True, frozen=True):
    """A feed or event this version does not know; ``raw`` keeps the frame."""

    feed: str | None = None
    event: str | None = None
    raw: bytes = b""


# --------------------------------------------------------------------------------------------
# Outbound


class FuturesChallengeRequest(msgspec.Struct, kw_only=True):
    """``{"event":"challenge","api_key":...}``."""

    event: str = "challenge"
    api_key: str


class FuturesSubscribeRequest(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Subscribe or unsubscribe; private feeds carry the signed challenge."""

    event: str
    feed: str
    product_ids: list[str] | None = None
    api_key: str | None = None
    original_challenge: str | None = None
    signed_challenge: str | None = None
