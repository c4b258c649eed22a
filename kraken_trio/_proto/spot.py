"""Spot WebSocket v2 messages as msgspec Structs, inbound and outbound.

Inbound structs ignore unknown fields (Kraken adds them) and decode prices, quantities and
amounts as :class:`~decimal.Decimal` straight from the JSON number text. Outbound structs omit
unset options and write Decimals as fixed-point JSON numbers (never exponent notation).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar

import msgspec

__all__ = [
    "AddOrderParams",
    "AddOrderResponse",
    "AddOrderResult",
    "AmendOrderParams",
    "AmendOrderResponse",
    "AmendOrderResult",
    "Asset",
    "BalanceAsset",
    "BalanceWallet",
    "BalancesSnapshot",
    "BalancesUpdate",
    "BatchAddParams",
    "BatchAddResponse",
    "BatchAddResult",
    "BatchCancelParams",
    "BatchCancelResponse",
    "BatchCancelResult",
    "BatchOrder",
    "BookData",
    "BookMessage",
    "CancelAllOrdersAfterParams",
    "CancelAllOrdersAfterResponse",
    "CancelAllOrdersAfterResult",
    "CancelAllParams",
    "CancelAllResponse",
    "CancelAllResult",
    "CancelOrderParams",
    "CancelOrderResponse",
    "CancelOrderResult",
    "Candle",
    "Conditional",
    "Contingent",
    "EditOrderParams",
    "EditOrderResponse",
    "EditOrderResult",
    "Execution",
    "ExecutionFee",
    "ExecutionTriggers",
    "ExecutionsMessage",
    "Heartbeat",
    "InstrumentData",
    "InstrumentMessage",
    "InstrumentPair",
    "L3Data",
    "L3Message",
    "L3Order",
    "LedgerEntry",
    "OhlcMessage",
    "Pong",
    "PongResult",
    "PriceLevel",
    "Request",
    "Response",
    "StatusData",
    "StatusMessage",
    "SubscribeParams",
    "SubscribeResponse",
    "SubscriptionResult",
    "TickerData",
    "TickerMessage",
    "TradeData",
    "TradeMessage",
    "Triggers",
    "UnknownMessage",
    "WireDecimal",
]


class _In(msgspec.Struct, kw_only=True, frozen=True):
    """Base of inbound structs: keyword-only, immutable (shared by every subscriber).

    The high-rate market-data structs are also ``gc=False``: they are immutable and hold
    no reference cycles, so the cyclic garbage collector need not track them (measurably
    less GC work on a fast feed).
    """


# --------------------------------------------------------------------------------------------
# Server-initiated: status and heartbeat


class StatusData(_In, frozen=True):
    """One element of a ``status`` message."""

    system: str
    api_version: str | None = None
    connection_id: Annotated[int, msgspec.Meta(ge=0)] | None = None
    version: str | None = None

    def __post_init__(self) -> None:
        if self.connection_id is not None and self.connection_id >= 2**64:
            raise ValueError("connection_id must be an unsigned 64-bit integer")


class StatusMessage(_In, frozen=True, tag_field="channel", tag="status"):
    """``{"channel": "status", ...}``: engine status, sent on connect and on change."""

    channel: ClassVar[str] = "status"
    type: str
    data: list[StatusData]


class Heartbeat(_In, frozen=True, tag_field="channel", tag="heartbeat"):
    """``{"channel": "heartbeat"}``: about once a second on an otherwise idle connection."""

    channel: ClassVar[str] = "heartbeat"


# --------------------------------------------------------------------------------------------
# Public market data


class TickerData(_In, frozen=True, gc=False):
    """Level 1 data of one symbol."""

    symbol: str
    bid: Decimal
    bid_qty: Decimal
    ask: Decimal
    ask_qty: Decimal
    last: Decimal
    volume: Decimal
    vwap: Decimal
    low: Decimal
    high: Decimal
    change: Decimal
    change_pct: Decimal
    timestamp: datetime | None = None


class TickerMessage(_In, frozen=True, gc=False, tag_field="channel", tag="ticker"):
    """A ``ticker`` snapshot or update (``data`` has exactly one element)."""

    channel: ClassVar[str] = "ticker"
    type: str
    data: list[TickerData]


class PriceLevel(msgspec.Struct, frozen=True, gc=False):
    """One price level of a Level 2 book; ``qty == 0`` deletes the level."""

    price: Decimal
    qty: Decimal


class BookData(_In, frozen=True, gc=False):
    """Level 2 book snapshot or update of one symbol, with Kraken's CRC32 checksum."""

    symbol: str
    checksum: int
    bids: list[PriceLevel] = []
    asks: list[PriceLevel] = []
    timestamp: datetime | None = None


class BookMessage(_In, frozen=True, gc=False, tag_field="channel", tag="book"):
    """A ``book`` snapshot or update."""

    channel: ClassVar[str] = "book"
    type: str
    data: list[BookData]


class L3Order(msgspec.Struct, frozen=True, gc=False):
    """One order of a Level 3 book; updates carry ``event`` (``add``/``modify``/``delete``)."""

    order_id: str
    limit_price: Decimal
    order_qty: Decimal
    timestamp: datetime | None = None
    event: str | None = None


class L3Data(_In, frozen=True, gc=False):
    """Level 3 snapshot or update of one symbol, with its checksum."""

    symbol: str
    checksum: int
    bids: list[L3Order] = []
    asks: list[L3Order] = []
    timestamp: datetime | None = None


class L3Message(_In, frozen=True, gc=False, tag_field="channel", tag="level3"):
    """A ``level3`` snapshot or update."""

    channel: ClassVar[str] = "level3"
    type: str
    data: list[L3Data]


class Candle(_In, frozen=True, gc=False):
    """One OHLC candle."""

    symbol: str
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    vwap: Decimal
    trades: int
    volume: Decimal
    interval_begin: datetime
    interval: int
    timestamp: datetime | None = None


class OhlcMessage(_In, frozen=True, gc=False, tag_field="channel", tag="ohlc"):
    """An ``ohlc`` snapshot (recent candles) or update."""

    channel: ClassVar[str] = "ohlc"
    type: str
    data: list[Candle]
    timestamp: datetime | None = None


class TradeData(_In, frozen=True, gc=False):
    """One public trade; ``side`` is the taker's side."""

    symbol: str
    side: str
    price: Decimal
    qty: Decimal
    ord_type: str
    trade_id: int
    timestamp: datetime


class TradeMessage(_In, frozen=True, gc=False, tag_field="channel", tag="trade"):
    """A ``trade`` snapshot (recent trades) or update (one or more trades)."""

    channel: ClassVar[str] = "trade"
    type: str
    data: list[TradeData]


class Asset(_In, frozen=True):
    """An asset of the ``instrument`` channel."""

    id: str
    status: str
    precision: int
    precision_display: int
    borrowable: bool = False
    collateral_value: Decimal | None = None
    margin_rate: Decimal | None = None
    multiplier: Decimal | None = None


class InstrumentPair(_In, frozen=True):
    """A pair of the ``instrument`` channel: the precisions the book checksum needs."""

    symbol: str
    base: str
    quote: str
    status: str
    qty_precision: int
    qty_increment: Decimal
    qty_min: Decimal
    price_precision: int
    price_increment: Decimal
    cost_precision: int
    cost_min: Decimal
    tick_size: Decimal | None = None
    marginable: bool = False
    has_index: bool = False
    margin_initial: Decimal | None = None
    position_limit_long: int | None = None
    position_limit_short: int | None = None


class InstrumentData(_In, frozen=True):
    """The ``instrument`` channel's ``data`` object."""

    assets: list[Asset] = []
    pairs: list[InstrumentPair] = []


class InstrumentMessage(_In, frozen=True, tag_field="channel", tag="instrument"):
    """An ``instrument`` snapshot or update; ``data`` is an object, not a list."""

    channel: ClassVar[str] = "instrument"
    type: str
    data: InstrumentData


# --------------------------------------------------------------------------------------------
# Private streams


class ExecutionFee(_In, frozen=True):
    """A fee charged on an execution."""

    asset: str
    qty: Decimal


class ExecutionTriggers(_In, frozen=True):
    """Trigger state of a stop, take-profit or trailing order."""

    reference: str | None = None
    price: Decimal | None = None
    price_type: str | None = None
    actual_price: Decimal | None = None
    peak_price: Decimal | None = None
    last_price: Decimal | None = None
    status: str | None = None
    timestamp: datetime | None = None


class Contingent(_In, frozen=True):
    """The conditional close order attached to an order."""

    order_type: str | None = None
    trigger_price: Decimal | None = None
    trigger_price_type: str | None = None
    limit_price: Decimal | None = None
    limit_price_type: str | None = None


class Execution(_In, frozen=True):
    """One element of the ``executions`` channel; which fields appear depends on ``exec_type``."""

    exec_type: str | None = None
    order_id: str | None = None
    order_status: str | None = None
    symbol: str | None = None
    side: str | None = None
    order_type: str | None = None
    order_qty: Decimal | None = None
    cash_order_qty: Decimal | None = None
    display_qty: Decimal | None = None
    display_qty_remain: Decimal | None = None
    limit_price: Decimal | None = None
    limit_price_type: str | None = None
    time_in_force: str | None = None
    effective_time: datetime | None = None
    expire_time: datetime | None = None
    post_only: bool | None = None
    reduce_only: bool | None = None
    margin: bool | None = None
    margin_borrow: bool | None = None
    no_mpp: bool | None = None
    fee_ccy_pref: str | None = None
    fee_usd_equiv: Decimal | None = None
    fees: list[ExecutionFee] | None = None
    cum_qty: Decimal | None = None
    cum_cost: Decimal | None = None
    avg_price: Decimal | None = None
    exec_id: str | None = None
    trade_id: int | None = None
    last_qty: Decimal | None = None
    last_price: Decimal | None = None
    cost: Decimal | None = None
    liquidity_ind: str | None = None
    reason: str | None = None
    amended: bool | None = None
    liquidated: bool | None = None
    position_status: str | None = None
    ord_ref_id: str | None = None
    sender_sub_id: str | None = None
    ext_ord_id: str | None = None
    ext_exec_id: str | None = None
    cl_ord_id: str | None = None
    order_userref: int | None = None
    contingent: Contingent | None = None
    triggers: ExecutionTriggers | None = None
    user: str | None = None
    timestamp: datetime | None = None
    cancel_reason: str | None = None
    stop_price: Decimal | None = None
    trigger: str | None = None
    triggered_price: Decimal | None = None
    # The pair's rate counter with ``ratecounter=True``; Kraken does not document the v2
    # field name, this is v1's (``ratecount``).
    ratecount: float | None = None


class ExecutionsMessage(_In, frozen=True, tag_field="channel", tag="executions"):
    """An ``executions`` snapshot (open orders / recent trades) or update."""

    channel: ClassVar[str] = "executions"
    type: str
    data: list[Execution]
    sequence: int | None = None


class BalanceWallet(_In, frozen=True):
    """One wallet of an asset in a balances snapshot."""

    type: str
    id: str
    balance: Decimal


class BalanceAsset(_In, frozen=True):
    """One asset of a ``balances`` snapshot."""

    asset: str
    balance: Decimal
    asset_class: str | None = None
    wallets: list[BalanceWallet] = []


class LedgerEntry(_In, frozen=True):
    """One ledger entry of a ``balances`` update."""

    asset: str
    amount: Decimal
    balance: Decimal
    ledger_id: str | None = None
    ref_id: str | None = None
    timestamp: datetime | None = None
    type: str | None = None
    subtype: str | None = None
    category: str | None = None
    asset_class: str | None = None
    wallet_type: str | None = None
    wallet_id: str | None = None
    fee: Decimal | None = None
    user: str | None = None


class BalancesSnapshot(_In, frozen=True):
    """The ``balances`` snapshot: every asset with its wallets."""

    channel: ClassVar[str] = "balances"
    type: str
    data: list[BalanceAsset]
    sequence: int | None = None


class BalancesUpdate(_In, frozen=True):
    """A ``balances`` update: ledger entries."""

    channel: ClassVar[str] = "balances"
    type: str
    data: list[LedgerEntry]
    sequence: int | None = None


class UnknownMessage(_In, frozen=True):
    """A message of a channel or method this version does not know; ``raw`` keeps the frame."""

    channel: str | None = None
    method: str | None = None
    raw: bytes = b""


# --------------------------------------------------------------------------------------------
# Responses to requests


class Response(_In, frozen=True):
    """Fields every method response shares. ``success`` False means ``error`` says why."""

    method: str
    success: bool = True
    req_id: int | None = None
    error: str | None = None
    time_in: datetime | None = None
    time_out: datetime | None = None
    warnings: list[str] | None = None


class PongResult(_In, frozen=True):
    """The optional ``result`` of a pong."""

    warnings: list[str] | None = None


class Pong(Response, frozen=True):
    """The reply to a ``ping`` (or the refusal of a malformed ping, ``success`` False)."""

    result: PongResult | None = None


class SubscriptionResult(_In, frozen=True):
    """The ``result`` of a per-symbol subscribe or unsubscribe ack."""

    channel: str
    symbol: str | None = None
    depth: int | None = None
    snapshot: bool | None = None
    interval: int | None = None
    event_trigger: str | None = None
    maxratecount: int | None = None
    snap_orders: bool | None = None
    snap_trades: bool | None = None
    warnings: list[str] | None = None


class SubscribeResponse(Response, frozen=True):
    """A subscribe/unsubscribe ack (one per symbol) or refusal (``symbol`` may be top-level)."""

    result: SubscriptionResult | None = None
    symbol: str | None = None


class AddOrderResult(_In, frozen=True):
    """Result of ``add_order``; ``order_id`` is None only for ``validate=True`` requests,
    which Kraken checks without placing."""

    order_id: str | None = None
    cl_ord_id: str | None = None
    order_userref: int | None = None
    warnings: list[str] | None = None


class AddOrderResponse(Response, frozen=True):
    """Reply to ``add_order``."""

    result: AddOrderResult | None = None


class AmendOrderResult(_In, frozen=True):
    """Result of ``amend_order``."""

    amend_id: str
    order_id: str | None = None
    cl_ord_id: str | None = None
    warnings: list[str] | None = None


class AmendOrderResponse(Response, frozen=True):
    """Reply to ``amend_order``."""

    result: AmendOrderResult | None = None


class EditOrderResult(_In, frozen=True):
    """Result of ``edit_order``: the new order id and the replaced one."""

    order_id: str
    original_order_id: str | None = None
    warnings: list[str] | None = None


class EditOrderResponse(Response, frozen=True):
    """Reply to ``edit_order``."""

    result: EditOrderResult | None = None


class CancelOrderResult(_In, frozen=True):
    """Result of ``cancel_order`` for one order (Kraken replies once per order)."""

    order_id: str | None = None
    cl_ord_id: str | None = None
    warnings: list[str] | None = None


class CancelOrderResponse(Response, frozen=True):
    """One reply to ``cancel_order``."""

    result: CancelOrderResult | None = None


class CancelAllResult(_In, frozen=True):
    """Result of ``cancel_all``."""

    count: int
    warnings: list[str] | None = None


class CancelAllResponse(Response, frozen=True):
    """Reply to ``cancel_all``."""

    result: CancelAllResult | None = None


class CancelAllOrdersAfterResult(_In, frozen=True):
    """Result of ``cancel_all_orders_after`` (camelCase on the wire).

    ``triggerTime`` is ``"0"`` when the switch was disabled; :attr:`trigger_time` is then None.
    """

    current_time: datetime = msgspec.field(name="currentTime")
    trigger_time_text: str = msgspec.field(name="triggerTime")
    warnings: list[str] | None = None

    def __post_init__(self) -> None:
        if self.trigger_time_text != "0":
            try:
                datetime.fromisoformat(self.trigger_time_text.replace("Z", "+00:00"))
            except ValueError:
                raise ValueError(
                    f"triggerTime is not a timestamp: {self.trigger_time_text!r}"
                ) from None

    @property
    def trigger_time(self) -> datetime | None:
        """When everything will be cancelled; None when the switch is disabled."""
        if self.trigger_time_text == "0":
            return None
        return datetime.fromisoformat(self.trigger_time_text.replace("Z", "+00:00"))


class CancelAllOrdersAfterResponse(Response, frozen=True):
    """Reply to ``cancel_all_orders_after``."""

    result: CancelAllOrdersAfterResult | None = None


class BatchAddResult(_In, frozen=True):
    """One element of ``batch_add``'s result; ``error`` is set where the engine refused
    that order alone (for example insufficient funds) while the others were placed."""

    order_id: str | None = None
    cl_ord_id: str | None = None
    order_userref: int | None = None
    error: str | None = None
    warnings: list[str] | None = None


class BatchAddResponse(Response, frozen=True):
    """Reply to ``batch_add``: ``result`` is a list in request order."""

    result: list[BatchAddResult] | None = None


class BatchCancelResult(_In, frozen=True):
    """Documented result of ``batch_cancel``."""

    count: int
    warnings: list[str] | None = None


class BatchCancelResponse(Response, frozen=True):
    """Reply to ``batch_cancel``: documented ``result.count`` or live ``orders_cancelled``."""

    result: BatchCancelResult | None = None
    orders_cancelled: int | None = None

    @property
    def count(self) -> int | None:
        """Orders cancelled, whichever shape the server used."""
        if self.result is not None:
            return self.result.count
        return self.orders_cancelled


# --------------------------------------------------------------------------------------------
# Outbound


class WireDecimal(Decimal):
    """A Decimal the encoder writes as a fixed-point JSON number (``0.00000001``, not ``1E-8``)."""

    __slots__ = ()


def _to_wire(value: Any) -> Any:
    if value is None or type(value) is WireDecimal:
        return value
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} is not a finite number")
        return WireDecimal(value)
    if isinstance(value, bool):
        raise TypeError(f"expected a number, got {value!r}")
    if isinstance(value, int):
        return WireDecimal(value)
    if isinstance(value, float):
        # repr() is the shortest text that round-trips: 0.1 -> "0.1", not 0.1000000000000000055...
        return _to_wire(Decimal(repr(value)))
    if isinstance(value, str):
        try:
            return _to_wire(Decimal(value))
        except ArithmeticError:
            raise ValueError(f"{value!r} is not a number") from None
    raise TypeError(f"expected a Decimal, int or numeric string, got {type(value).__name__}")


class _Out(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Base of outbound structs: unset options are omitted; Decimal fields become WireDecimal."""

    _decimal_fields: ClassVar[tuple[str, ...]] = ()
    _nested_fields: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        self._wire()

    def _wire(self) -> None:
        """Convert Decimal fields (here and in nested structs) to :class:`WireDecimal`."""
        for name in self._decimal_fields:
            value = getattr(self, name)
            if value is not None and type(value) is not WireDecimal:
                setattr(self, name, _to_wire(value))
        for name in self._nested_fields:
            value = getattr(self, name)
            if isinstance(value, _Out):
                value._wire()
            elif isinstance(value, list):
                for item in value:
                    if isinstance(item, _Out):
                        item._wire()


class SubscribeParams(_Out):
    """``params`` of subscribe/unsubscribe; Kraken's own parameter names."""

    channel: str
    symbol: list[str] | None = None
    depth: int | None = None
    snapshot: bool | None = None
    interval: int | None = None
    event_trigger: str | None = None
    token: str | None = None
    snap_orders: bool | None = None
    snap_trades: bool | None = None
    order_status: bool | None = None
    ratecounter: bool | None = None
    rebased: bool | None = None
    users: str | None = None
    execution_venue: str | None = None
    include_tokenized_assets: bool | None = None


class Triggers(_Out):
    """``triggers`` of stop, take-profit and trailing orders."""

    _decimal_fields = ("price",)
    price: Decimal
    reference: str | None = None
    price_type: str | None = None


class Conditional(_Out):
    """``conditional``: the OTO close order placed when the primary fills."""

    _decimal_fields = ("limit_price", "trigger_price", "stop_price")
    order_type: str
    limit_price: Decimal | None = None
    limit_price_type: str | None = None
    trigger_price: Decimal | None = None
    trigger_price_type: str | None = None
    stop_price: Decimal | None = None


_ORDER_DECIMALS = ("order_qty", "limit_price", "display_qty", "cash_order_qty")


class BatchOrder(_Out):
    """One order of ``batch_add`` (add_order's fields without symbol/deadline/validate/token)."""

    _decimal_fields = _ORDER_DECIMALS
    _nested_fields = ("triggers", "conditional")
    order_type: str
    side: str
    order_qty: Decimal | None = None
    limit_price: Decimal | None = None
    limit_price_type: str | None = None
    triggers: Triggers | None = None
    time_in_force: str | None = None
    expire_time: str | None = None
    effective_time: str | None = None
    margin: bool | None = None
    post_only: bool | None = None
    reduce_only: bool | None = None
    display_qty: Decimal | None = None
    fee_preference: str | None = None
    no_mpp: bool | None = None
    stp_type: str | None = None
    cash_order_qty: Decimal | None = None
    order_userref: int | None = None
    cl_ord_id: str | None = None
    sender_sub_id: str | None = None
    conditional: Conditional | None = None


class AddOrderParams(BatchOrder, kw_only=True):
    """``params`` of ``add_order``."""

    symbol: str
    deadline: str | None = None
    validate: bool | None = None
    token: str | None = None


class AmendOrderParams(_Out):
    """``params`` of ``amend_order`` (in place; keeps queue priority where possible)."""

    _decimal_fields = ("order_qty", "display_qty", "limit_price", "trigger_price")
    order_qty: Decimal
    order_id: str | None = None
    cl_ord_id: str | None = None
    display_qty: Decimal | None = None
    limit_price: Decimal | None = None
    limit_price_type: str | None = None
    post_only: bool | None = None
    trigger_price: Decimal | None = None
    trigger_price_type: str | None = None
    deadline: str | None = None
    symbol: str | None = None
    token: str | None = None


class EditOrderParams(_Out):
    """``params`` of ``edit_order`` (cancel and replace; a new order id)."""

    _decimal_fields = ("order_qty", "limit_price", "display_qty")
    _nested_fields = ("triggers",)
    order_id: str
    symbol: str
    order_qty: Decimal | None = None
    limit_price: Decimal | None = None
    display_qty: Decimal | None = None
    fee_preference: str | None = None
    order_userref: int | None = None
    post_only: bool | None = None
    reduce_only: bool | None = None
    triggers: Triggers | None = None
    deadline: str | None = None
    validate: bool | None = None
    no_mpp: bool | None = None
    token: str | None = None


class CancelOrderParams(_Out):
    """``params`` of ``cancel_order``: any combination of the three id lists."""

    order_id: list[str] | None = None
    cl_ord_id: list[str] | None = None
    order_userref: list[int] | None = None
    token: str | None = None


class CancelAllParams(_Out):
    """``params`` of ``cancel_all``."""

    token: str | None = None


class CancelAllOrdersAfterParams(_Out):
    """``params`` of ``cancel_all_orders_after`` (the dead man's switch)."""

    timeout: int
    token: str | None = None


class BatchAddParams(_Out):
    """``params`` of ``batch_add``: 2-15 orders on one symbol."""

    _nested_fields = ("orders",)

    symbol: str
    orders: list[BatchOrder]
    deadline: str | None = None
    validate: bool | None = None
    token: str | None = None


class BatchCancelParams(_Out):
    """``params`` of ``batch_cancel``: 2-50 order ids / userrefs (as strings) or cl_ord_ids."""

    orders: list[str] | None = None
    cl_ord_id: list[str] | None = None
    token: str | None = None


class Request(_Out):
    """The request envelope: ``{"method": ..., "params": {...}, "req_id": n}``."""

    method: str
    params: _Out | None = None
    req_id: int | None = None
