"""Every message a kraken_trio user receives, as public names.

Use them for ``isinstance`` checks and annotations::

    from kraken_trio.messages import TickerMessage, TradeMessage

    async for msg in k.subscribe("ticker", symbol=["BTC/USD"]):
        if isinstance(msg, TickerMessage):
            print(msg.data[0].last)

All are immutable msgspec Structs; prices and quantities are :class:`~decimal.Decimal`. Spot
WebSocket v2 names come first, Futures WebSocket v1 names start with ``Futures`` (or ``Flex``).
The ``...Message`` aliases name what one subscription yields besides
:class:`~kraken_trio.Gap` where a channel has two shapes (snapshot and update).
"""

from __future__ import annotations

from typing import TypeAlias

from ._events import Gap as Gap
from ._proto.futures import FlexCurrency as FlexCurrency
from ._proto.futures import FlexFutures as FlexFutures
from ._proto.futures import FuturesAccountLog as FuturesAccountLog
from ._proto.futures import FuturesAccountLogSnapshot as FuturesAccountLogSnapshot
from ._proto.futures import FuturesBalances as FuturesBalances
from ._proto.futures import FuturesBalancesSnapshot as FuturesBalancesSnapshot
from ._proto.futures import FuturesBookDelta as FuturesBookDelta
from ._proto.futures import FuturesBookSnapshot as FuturesBookSnapshot
from ._proto.futures import FuturesFill as FuturesFill
from ._proto.futures import FuturesFills as FuturesFills
from ._proto.futures import FuturesFillsSnapshot as FuturesFillsSnapshot
from ._proto.futures import FuturesHeartbeat as FuturesHeartbeat
from ._proto.futures import FuturesLevel as FuturesLevel
from ._proto.futures import FuturesLogEntry as FuturesLogEntry
from ._proto.futures import FuturesMarginAccount as FuturesMarginAccount
from ._proto.futures import FuturesNotification as FuturesNotification
from ._proto.futures import FuturesNotifications as FuturesNotifications
from ._proto.futures import FuturesOpenOrders as FuturesOpenOrders
from ._proto.futures import FuturesOpenOrdersSnapshot as FuturesOpenOrdersSnapshot
from ._proto.futures import FuturesOpenOrdersVerbose as FuturesOpenOrdersVerbose
from ._proto.futures import FuturesOpenOrdersVerboseSnapshot as FuturesOpenOrdersVerboseSnapshot
from ._proto.futures import FuturesOpenPositions as FuturesOpenPositions
from ._proto.futures import FuturesOrder as FuturesOrder
from ._proto.futures import FuturesPosition as FuturesPosition
from ._proto.futures import FuturesTicker as FuturesTicker
from ._proto.futures import FuturesTickerLite as FuturesTickerLite
from ._proto.futures import FuturesTrade as FuturesTrade
from ._proto.futures import FuturesTradeItem as FuturesTradeItem
from ._proto.futures import FuturesTradeSnapshot as FuturesTradeSnapshot
from ._proto.spot import AddOrderResult as AddOrderResult
from ._proto.spot import AmendOrderResult as AmendOrderResult
from ._proto.spot import Asset as Asset
from ._proto.spot import BalanceAsset as BalanceAsset
from ._proto.spot import BalancesSnapshot as BalancesSnapshot
from ._proto.spot import BalancesUpdate as BalancesUpdate
from ._proto.spot import BalanceWallet as BalanceWallet
from ._proto.spot import BatchAddResult as BatchAddResult
from ._proto.spot import BatchOrder as BatchOrder
from ._proto.spot import BookData as BookData
from ._proto.spot import BookMessage as BookMessage
from ._proto.spot import CancelAllOrdersAfterResult as CancelAllOrdersAfterResult
from ._proto.spot import CancelOrderResult as CancelOrderResult
from ._proto.spot import Candle as Candle
from ._proto.spot import Conditional as Conditional
from ._proto.spot import Contingent as Contingent
from ._proto.spot import EditOrderResult as EditOrderResult
from ._proto.spot import Execution as Execution
from ._proto.spot import ExecutionFee as ExecutionFee
from ._proto.spot import ExecutionsMessage as ExecutionsMessage
from ._proto.spot import ExecutionTriggers as ExecutionTriggers
from ._proto.spot import InstrumentData as InstrumentData
from ._proto.spot import InstrumentMessage as InstrumentMessage
from ._proto.spot import InstrumentPair as InstrumentPair
from ._proto.spot import L3Data as L3Data
from ._proto.spot import L3Message as L3Message
from ._proto.spot import L3Order as L3Order
from ._proto.spot import LedgerEntry as LedgerEntry
from ._proto.spot import OhlcMessage as OhlcMessage
from ._proto.spot import PriceLevel as PriceLevel
from ._proto.spot import TickerData as TickerData
from ._proto.spot import TickerMessage as TickerMessage
from ._proto.spot import TradeData as TradeData
from ._proto.spot import TradeMessage as TradeMessage
from ._proto.spot import Triggers as Triggers

BalancesMessage: TypeAlias = BalancesSnapshot | BalancesUpdate
"""What a spot ``balances`` subscription yields (besides :class:`~kraken_trio.Gap`)."""

FuturesBookMessage: TypeAlias = FuturesBookSnapshot | FuturesBookDelta
"""What a futures ``book`` subscription yields."""

FuturesTradeMessage: TypeAlias = FuturesTradeSnapshot | FuturesTrade
"""What a futures ``trade`` subscription yields."""

FuturesOpenOrdersMessage: TypeAlias = FuturesOpenOrdersSnapshot | FuturesOpenOrders
"""What a futures ``open_orders`` subscription yields."""

FuturesOpenOrdersVerboseMessage: TypeAlias = (
    FuturesOpenOrdersVerboseSnapshot | FuturesOpenOrdersVerbose
)
"""What a futures ``open_orders_verbose`` subscription yields."""

FuturesFillsMessage: TypeAlias = FuturesFillsSnapshot | FuturesFills
"""What a futures ``fills`` subscription yields."""

FuturesBalancesMessage: TypeAlias = FuturesBalancesSnapshot | FuturesBalances
"""What a futures ``balances`` subscription yields."""

FuturesAccountLogMessage: TypeAlias = FuturesAccountLogSnapshot | FuturesAccountLog
"""What a futures ``account_log`` subscription yields."""

__all__ = [
    "AddOrderResult",
    "AmendOrderResult",
    "Asset",
    "BalanceAsset",
    "BalanceWallet",
    "BalancesMessage",
    "BalancesSnapshot",
    "BalancesUpdate",
    "BatchAddResult",
    "BatchOrder",
    "BookData",
    "BookMessage",
    "CancelAllOrdersAfterResult",
    "CancelOrderResult",
    "Candle",
    "Conditional",
    "Contingent",
    "EditOrderResult",
    "Execution",
    "ExecutionFee",
    "ExecutionTriggers",
    "ExecutionsMessage",
    "FlexCurrency",
    "FlexFutures",
    "FuturesAccountLog",
    "FuturesAccountLogMessage",
    "FuturesAccountLogSnapshot",
    "FuturesBalances",
    "FuturesBalancesMessage",
    "FuturesBalancesSnapshot",
    "FuturesBookDelta",
    "FuturesBookMessage",
    "FuturesBookSnapshot",
    "FuturesFill",
    "FuturesFills",
    "FuturesFillsMessage",
    "FuturesFillsSnapshot",
    "FuturesHeartbeat",
    "FuturesLevel",
    "FuturesLogEntry",
    "FuturesMarginAccount",
    "FuturesNotification",
    "FuturesNotifications",
    "FuturesOpenOrders",
    "FuturesOpenOrdersMessage",
    "FuturesOpenOrdersSnapshot",
    "FuturesOpenOrdersVerbose",
    "FuturesOpenOrdersVerboseMessage",
    "FuturesOpenOrdersVerboseSnapshot",
    "FuturesOpenPositions",
    "FuturesOrder",
    "FuturesPosition",
    "FuturesTicker",
    "FuturesTickerLite",
    "FuturesTrade",
    "FuturesTradeItem",
    "FuturesTradeMessage",
    "FuturesTradeSnapshot",
    "Gap",
    "InstrumentData",
    "InstrumentMessage",
    "InstrumentPair",
    "L3Data",
    "L3Message",
    "L3Order",
    "LedgerEntry",
    "OhlcMessage",
    "PriceLevel",
    "TickerData",
    "TickerMessage",
    "TradeData",
    "TradeMessage",
    "Triggers",
]
