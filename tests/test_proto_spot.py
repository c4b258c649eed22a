"""Spot v2 decoding: every inbound example of the protocol reference, value by value.

Each table row names an example of ``protocol_examples`` (copied from
Kraken's protocol reference), the exact struct type it must decode to, the wire keys the
struct is allowed to ignore, and a check of the values that matter. On top of the check, every
row is compared key by key with the JSON it came from (``protocol_examples.compare``): each
number must keep its exact text (``0.10000000`` stays ``Decimal('0.10000000')``), each timestamp
its instant, each string and integer its value.
"""

from __future__ import annotations

import json
import typing
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

import protocol_examples as ex
import pytest

from kraken_trio import KrakenError, ProtocolError
from kraken_trio._proto import spot as s
from kraken_trio._proto.checksum import checksum_digits, crc32_levels, fixed
from kraken_trio._proto.codec import SpotDecoder, SpotMessage

DECODER = SpotDecoder()
T = TypeVar("T")


def exact(value: object, text: str) -> None:
    """``value`` is a Decimal with exactly the digits of ``text`` (trailing zeros included)."""
    assert isinstance(value, Decimal), f"{value!r} is not a Decimal"
    assert str(value) == str(Decimal(text)), f"{value!r} is not Decimal({text!r})"


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, us: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, us, tzinfo=UTC)


@dataclass(frozen=True)
class Case:
    raw: bytes
    kind: type[Any]
    check: Callable[[Any], None]
    dropped: frozenset[str]


CASES: dict[str, Case] = {}


def case(
    name: str, kind: type[T], *, dropped: tuple[str, ...] = ()
) -> Callable[[Callable[[T], None]], Callable[[T], None]]:
    """Register the decorated check for the example ``protocol_examples.<name>``."""

    def register(check: Callable[[T], None]) -> Callable[[T], None]:
        assert name not in CASES, name
        CASES[name] = Case(getattr(ex, name), kind, check, frozenset(dropped))
        return check

    return register


# --------------------------------------------------------------------------------------------
# Server-initiated


@case("HEARTBEAT", s.Heartbeat)
def check_heartbeat(m: s.Heartbeat) -> None:
    assert m.channel == "heartbeat"


@case("STATUS_DOC", s.StatusMessage)
def check_status_doc(m: s.StatusMessage) -> None:
    assert m.type == "update"
    [status] = m.data
    assert status.system == "online"
    assert status.api_version == "v2"
    assert status.version == "2.0.0"
    # u64 above 2**63: must be exact, not a float or a wrapped i64.
    assert status.connection_id == 13834774380200032777
    assert status.connection_id > 2**63


@case("STATUS_2024", s.StatusMessage)
def check_status_2024(m: s.StatusMessage) -> None:
    assert m.data[0].connection_id == 12393906104898154338
    assert m.data[0].version == "2.0.4"


@case("STATUS_2026", s.StatusMessage)
def check_status_2026(m: s.StatusMessage) -> None:
    assert m.data[0].connection_id == 12072546403441331453
    assert m.data[0].version == "2.0.10"
    assert m.data[0].system == "online"


@case("PONG_DOC", s.Pong)
def check_pong_doc(m: s.Pong) -> None:
    assert m.method == "pong"
    assert m.req_id == 101
    assert m.success is True  # absent on real pongs
    assert m.error is None
    assert m.time_in == utc(2023, 9, 24, 14, 10, 23, 799685)
    assert m.time_out == utc(2023, 9, 24, 14, 10, 23, 799703)


@case("PONG_2024", s.Pong)
def check_pong_2024(m: s.Pong) -> None:
    assert m.req_id == 1
    assert m.time_out == utc(2024, 5, 20, 11, 8, 49, 272940)


# --------------------------------------------------------------------------------------------
# Subscribe / unsubscribe acks


def ack(m: s.SubscribeResponse, method: str = "subscribe") -> s.SubscriptionResult:
    assert m.method == method
    assert m.success is True
    assert m.error is None
    assert m.result is not None
    return m.result


@case("SUBSCRIBE_ACK_BOOK_DOC", s.SubscribeResponse)
def check_ack_book_doc(m: s.SubscribeResponse) -> None:
    r = ack(m)
    assert (r.channel, r.symbol, r.depth, r.snapshot) == ("book", "ALGO/USD", 10, True)
    assert m.req_id is None  # not echoed when not sent
    assert m.time_in == utc(2023, 10, 6, 17, 35, 55, 219022)


@case("SUBSCRIBE_ACK_TICKER", s.SubscribeResponse)
def check_ack_ticker(m: s.SubscribeResponse) -> None:
    r = ack(m)
    assert (r.channel, r.symbol, r.event_trigger, r.snapshot) == (
        "ticker",
        "BTC/USD",
        "trades",
        True,
    )
    assert m.req_id == 42


@case("SUBSCRIBE_ACK_BOOK", s.SubscribeResponse)
def check_ack_book(m: s.SubscribeResponse) -> None:
    r = ack(m)
    assert (r.channel, r.symbol, r.depth) == ("book", "BTC/USD", 10)
    assert m.req_id == 11


@case("SUBSCRIBE_ACK_OHLC", s.SubscribeResponse)
def check_ack_ohlc(m: s.SubscribeResponse) -> None:
    r = ack(m)
    assert (r.channel, r.symbol, r.interval) == ("ohlc", "ETH/USD", 60)
    assert r.warnings == ["timestamp is deprecated, use interval_begin"]
    assert m.req_id == 121


@case("SUBSCRIBE_ACK_TRADE", s.SubscribeResponse)
def check_ack_trade(m: s.SubscribeResponse) -> None:
    r = ack(m)
    assert (r.channel, r.symbol, r.snapshot) == ("trade", "BTC/USD", True)
    assert m.req_id == 0  # zero is a req_id, not "absent"


@case("SUBSCRIBE_ACK_INSTRUMENT", s.SubscribeResponse)
def check_ack_instrument(m: s.SubscribeResponse) -> None:
    r = ack(m)
    assert r.channel == "instrument"
    assert r.symbol is None
    assert r.warnings == ["tick_size is deprecated, use price_increment"]


@case("SUBSCRIBE_ACK_BALANCES", s.SubscribeResponse)
def check_ack_balances(m: s.SubscribeResponse) -> None:
    r = ack(m)
    assert (r.channel, r.snapshot) == ("balances", True)
    assert m.req_id == 10312008
    assert m.time_out == utc(2024, 5, 19, 16, 25, 28, 293750)


@case("SUBSCRIBE_ACK_EXECUTIONS", s.SubscribeResponse)
def check_ack_executions(m: s.SubscribeResponse) -> None:
    r = ack(m)
    assert (r.channel, r.maxratecount, r.snapshot) == ("executions", 180, True)
    assert r.warnings is not None
    assert len(r.warnings) == 4
    assert r.warnings[0] == "cancel_reason is deprecated, use reason"


@case("SUBSCRIBE_ACK_EXECUTIONS_DOC", s.SubscribeResponse)
def check_ack_executions_doc(m: s.SubscribeResponse) -> None:
    r = ack(m)
    assert (r.maxratecount, r.snap_orders, r.snap_trades) == (125, True, True)


@case("UNSUBSCRIBE_ACK_TICKER", s.SubscribeResponse)
def check_unsubscribe_ack(m: s.SubscribeResponse) -> None:
    r = ack(m, "unsubscribe")
    assert (r.channel, r.symbol, r.event_trigger) == ("ticker", "ALGO/USD", "trades")


@case("UNSUBSCRIBE_ACK_BALANCES", s.SubscribeResponse)
def check_unsubscribe_ack_balances(m: s.SubscribeResponse) -> None:
    r = ack(m, "unsubscribe")
    assert (r.channel, r.symbol, r.snapshot) == ("balances", None, None)


@case("SUBSCRIBE_ACK_LEVEL3", s.SubscribeResponse)
def check_ack_level3(m: s.SubscribeResponse) -> None:
    r = ack(m)
    assert (r.channel, r.symbol, r.depth, r.snapshot) == ("level3", "MATIC/USD", 10, True)
    assert m.req_id == 3


# --------------------------------------------------------------------------------------------
# Errors (success false, error text, no result)


def refused(m: s.Response, method: str, error: str, req_id: int | None) -> None:
    assert m.method == method
    assert m.success is False
    assert m.error == error
    assert m.req_id == req_id
    assert getattr(m, "result", None) is None


@case("ERROR_UNSUPPORTED_EVENT", s.SubscribeResponse)
def check_error_unsupported_event(m: s.SubscribeResponse) -> None:
    refused(m, "subscribe", "Unsupported event", 0)
    assert m.time_in == utc(2024, 5, 19, 20, 2, 10, 316562)


@case("ERROR_NO_MPP", s.AddOrderResponse)
def check_error_no_mpp(m: s.AddOrderResponse) -> None:
    refused(
        m,
        "add_order",
        "EGeneral:Invalid arguments:no_mpp order option is only available when ordertype = market",
        0,
    )


@case("ERROR_CASH_ORDER_QTY", s.AddOrderResponse)
def check_error_cash_order_qty(m: s.AddOrderResponse) -> None:
    refused(m, "add_order", "Cash_order_qty field must be a number_float", 7)


@case("ERROR_PERMISSION_DENIED", s.AddOrderResponse)
def check_error_permission(m: s.AddOrderResponse) -> None:
    refused(m, "add_order", "EGeneral:Permission denied", 0)
    assert m.time_out == utc(2024, 5, 18, 12, 3, 43, 471987)


@case("ERROR_TOKEN_NOT_FOUND", s.EditOrderResponse)
def check_error_token(m: s.EditOrderResponse) -> None:
    refused(m, "edit_order", "Token(s) not found", 0)


@case("ERROR_LIMIT_PRICE_TYPE", s.AmendOrderResponse)
def check_error_limit_price(m: s.AmendOrderResponse) -> None:
    refused(m, "amend_order", "Limit_price field must be a number_float", 0)


@case("ERROR_UNSUPPORTED_FIELD_NO_REQ_ID", s.AddOrderResponse)
def check_error_no_req_id(m: s.AddOrderResponse) -> None:
    refused(m, "add_order", "Unsupported field: 'price' for the given msg type: add order", None)


@case("ERROR_SUBSCRIPTION_NOT_FOUND_COMPLETE", s.SubscribeResponse)
def check_error_subscription_not_found(m: s.SubscribeResponse) -> None:
    refused(m, "subscribe", "Subscription Not Found", 123456789)
    assert m.symbol == "BTC/USD"  # top-level on this error


# --------------------------------------------------------------------------------------------
# Market data


@case("TICKER_DOC", s.TickerMessage)
def check_ticker_doc(m: s.TickerMessage) -> None:
    assert m.type == "snapshot"
    [t] = m.data
    assert t.symbol == "ALGO/USD"
    exact(t.bid, "0.10025")
    exact(t.bid_qty, "740.0")
    exact(t.ask_qty, "1361.44813783")
    exact(t.volume, "997038.98383185")
    exact(t.change, "-0.00017")
    exact(t.change_pct, "-0.17")
    assert t.timestamp == utc(2023, 9, 25, 9, 4, 31, 742648)


@case("TICKER_2024", s.TickerMessage)
def check_ticker_2024(m: s.TickerMessage) -> None:
    [t] = m.data
    exact(t.bid_qty, "0.10000000")  # the wire keeps trailing zeros; so must we
    exact(t.volume, "4216.61829370")
    exact(t.high, "66450.0")
    exact(t.bid, "65972.8")
    assert t.timestamp is None  # absent in the 2024 capture


def book_checksum(data: s.BookData, price_places: int, qty_places: int) -> int:
    def digits(levels: list[s.PriceLevel]) -> list[tuple[str, str]]:
        return [
            (checksum_digits(lv.price, price_places), checksum_digits(lv.qty, qty_places))
            for lv in levels[:10]
        ]

    return crc32_levels(digits(data.asks), digits(data.bids))


@case("BOOK_SNAPSHOT_DOC", s.BookMessage)
def check_book_snapshot(m: s.BookMessage) -> None:
    assert m.type == "snapshot"
    [b] = m.data
    assert b.symbol == "MATIC/USD"
    assert b.checksum == 2439117997
    assert len(b.bids) == len(b.asks) == 10
    exact(b.bids[0].price, "0.5666")
    exact(b.bids[0].qty, "4831.75496356")
    exact(b.bids[6].price, "0.566")  # the wire text, not padded
    exact(b.bids[6].qty, "18097.1547")
    exact(b.asks[9].qty, "36304.0847022")
    assert b.timestamp == utc(2023, 10, 6, 17, 35, 55, 440295)
    # The decoded numbers reproduce Kraken's published checksum (§3.3).
    assert book_checksum(b, 4, 8) == b.checksum


@case("BOOK_UPDATE_DOC", s.BookMessage)
def check_book_update(m: s.BookMessage) -> None:
    assert m.type == "update"
    [b] = m.data
    assert b.checksum == 2114181697
    assert b.asks == []
    [level] = b.bids
    exact(level.price, "0.5657")
    exact(level.qty, "1098.3947558")


@case(
    "BOOK_UPDATE_WITH_UNKNOWN_FIELDS",
    s.BookMessage,
    dropped=("$.new_top", "$.data[0].venue", "$.data[0].bids[0].orders", "$.data[0].extra"),
)
def check_book_unknown_fields(m: s.BookMessage) -> None:
    [b] = m.data
    exact(b.bids[0].price, "0.031370")
    exact(b.bids[0].qty, "0.00000000")
    exact(b.asks[0].qty, "12.96065840")
    assert b.checksum == 1234567890
    assert b.timestamp is not None
    assert b.timestamp.microsecond in (123456, 123457)  # 9 fractional digits


def l3_checksum(data: s.L3Data, price_places: int, qty_places: int) -> int:
    def digits(orders: list[s.L3Order]) -> list[tuple[str, str]]:
        return [
            (checksum_digits(o.limit_price, price_places), checksum_digits(o.order_qty, qty_places))
            for o in orders
        ]

    return crc32_levels(digits(data.asks), digits(data.bids))


@case("LEVEL3_SNAPSHOT_RECONSTRUCTED", s.L3Message)
def check_level3_snapshot(m: s.L3Message) -> None:
    assert m.type == "snapshot"
    [d] = m.data
    assert d.symbol == "MATIC/USD"
    [bid] = d.bids
    [ask] = d.asks
    assert bid.order_id == "O6ZQNQ-BXL4E-5WGINO"
    assert bid.event is None  # snapshots carry no event
    exact(bid.limit_price, "0.5629")
    exact(bid.order_qty, "111.56125344")
    exact(ask.limit_price, "0.563")
    exact(ask.order_qty, "4422.9978357")
    # 9 fractional digits: .279389650 is 279389.65 microseconds
    assert bid.timestamp is not None
    assert bid.timestamp.replace(microsecond=0) == utc(2023, 10, 6, 17, 35, 0)
    assert bid.timestamp.microsecond in (279389, 279390)
    assert l3_checksum(d, 4, 8) == d.checksum == 2310122396


@case("LEVEL3_UPDATE_DOC", s.L3Message)
def check_level3_update_doc(m: s.L3Message) -> None:
    [d] = m.data
    assert d.checksum == 2841398499
    assert d.bids == []
    assert [(o.event, o.order_id) for o in d.asks] == [
        ("delete", "OOIATY-6EIWY-ACVIUN"),
        ("add", "O2BN53-5RSB2-V3J57T"),
    ]
    exact(d.asks[0].order_qty, "302.89736033")
    exact(d.asks[1].limit_price, "0.564")


@case("LEVEL3_UPDATE_2024", s.L3Message)
def check_level3_update_2024(m: s.L3Message) -> None:
    [d] = m.data
    assert (d.symbol, d.checksum) == ("BTC/USD", 2143854316)
    assert d.asks == []
    deleted, added = d.bids
    assert (deleted.event, added.event) == ("delete", "add")
    exact(deleted.order_qty, "0.22540000")
    exact(deleted.limit_price, "66567.3")
    exact(added.order_qty, "2.82230268")
    assert added.timestamp is not None
    assert added.timestamp.replace(microsecond=0) == utc(2024, 5, 19, 18, 59, 44)
    assert added.timestamp.microsecond in (900460, 900461)


@case("OHLC_UPDATE", s.OhlcMessage)
def check_ohlc(m: s.OhlcMessage) -> None:
    assert m.type == "update"
    assert m.timestamp is not None
    assert m.timestamp.replace(microsecond=0) == utc(2023, 10, 4, 16, 26, 30)
    assert m.timestamp.microsecond in (524394, 524395)
    [c] = m.data
    assert c.symbol == "MATIC/USD"
    exact(c.open, "0.5624")
    exact(c.close, "0.5627")
    exact(c.volume, "30927.68066226")
    assert c.trades == 12
    assert c.interval == 5
    assert c.interval_begin == utc(2023, 10, 4, 16, 25)  # .000000000Z
    assert c.timestamp == utc(2023, 10, 4, 16, 30)  # .000000Z


@case("TRADE_UPDATE", s.TradeMessage)
def check_trade(m: s.TradeMessage) -> None:
    [t] = m.data
    assert (t.symbol, t.side, t.ord_type, t.trade_id) == ("MATIC/USD", "sell", "market", 4665906)
    exact(t.price, "0.5117")
    exact(t.qty, "40.0")
    assert t.timestamp == utc(2023, 9, 25, 7, 49, 37, 708706)


@case("INSTRUMENT_SNAPSHOT", s.InstrumentMessage)
def check_instrument_snapshot(m: s.InstrumentMessage) -> None:
    assert m.type == "snapshot"
    usd, btc = m.data.assets
    assert (usd.id, usd.precision, usd.precision_display, usd.borrowable) == ("USD", 4, 2, True)
    exact(usd.margin_rate, "0.015")
    assert btc.precision == 10
    btcusd, maticgbp = m.data.pairs
    assert (btcusd.symbol, btcusd.base, btcusd.quote) == ("BTC/USD", "BTC", "USD")
    assert (btcusd.price_precision, btcusd.qty_precision, btcusd.cost_precision) == (1, 8, 5)
    # Exponent notation on the wire (1e-08) is the exact Decimal 1E-8.
    exact(btcusd.qty_increment, "1e-08")
    assert btcusd.qty_increment == Decimal("0.00000001")
    exact(btcusd.price_increment, "0.1")
    exact(btcusd.tick_size, "0.1")
    exact(btcusd.cost_min, "0.5")
    exact(btcusd.margin_initial, "0.2")
    assert (btcusd.position_limit_long, btcusd.position_limit_short) == (250, 200)
    assert btcusd.marginable is True
    assert maticgbp.price_precision == 4
    assert maticgbp.margin_initial is None  # marginable-only fields are absent
    assert maticgbp.position_limit_long is None
    exact(maticgbp.qty_min, "4.0")


@case("INSTRUMENT_SNAPSHOT_FIXED_POINT", s.InstrumentMessage)
def check_instrument_fixed_point(m: s.InstrumentMessage) -> None:
    [pair] = m.data.pairs
    exact(pair.qty_increment, "0.00000001")
    exact(pair.cost_min, "0.50")
    exact(pair.qty_min, "0.50000000")
    exact(pair.price_increment, "0.0001")
    exact(m.data.assets[0].collateral_value, "1.00")


@case("INSTRUMENT_UPDATE", s.InstrumentMessage)
def check_instrument_update(m: s.InstrumentMessage) -> None:
    assert m.type == "update"
    assert m.data.pairs == []
    [asset] = m.data.assets
    assert asset.id == "BTC"
    exact(asset.collateral_value, "1.0")


# --------------------------------------------------------------------------------------------
# Private streams


@case("EXECUTIONS_PENDING_NEW", s.ExecutionsMessage)
def check_exec_pending_new(m: s.ExecutionsMessage) -> None:
    assert (m.type, m.sequence) == ("update", 8)
    [e] = m.data
    assert (e.exec_type, e.order_status, e.order_id) == (
        "pending_new",
        "pending_new",
        "OK4GJX-KSTLS-7DZZO5",
    )
    assert (e.side, e.order_type, e.time_in_force, e.order_userref) == ("sell", "limit", "GTC", 3)
    exact(e.order_qty, "0.005")
    exact(e.limit_price, "26500.0")
    exact(e.stop_price, "0.0")  # deprecated, still decoded
    exact(e.cum_cost, "0.0")
    assert e.fee_ccy_pref == "fciq"
    assert e.timestamp == utc(2023, 9, 22, 10, 33, 5, 709950)


@case("EXECUTIONS_NEW", s.ExecutionsMessage)
def check_exec_new(m: s.ExecutionsMessage) -> None:
    assert m.sequence == 9
    [e] = m.data
    assert (e.exec_type, e.order_status, e.order_userref) == ("new", "new", 3)
    assert e.symbol is None  # not sent on this event
    assert e.order_qty is None


@case("EXECUTIONS_TRADE", s.ExecutionsMessage)
def check_exec_trade(m: s.ExecutionsMessage) -> None:
    assert m.sequence == 10
    [e] = m.data
    assert (e.exec_type, e.order_status) == ("trade", "partially_filled")
    assert (e.exec_id, e.trade_id, e.liquidity_ind) == ("TGBB7L-HT5LX-J3BZ4A", 62887576, "t")
    exact(e.last_qty, "0.005")
    exact(e.last_price, "26599.9")
    exact(e.cost, "132.9995")
    exact(e.avg_price, "26599.9")
    exact(e.fee_usd_equiv, "0.3458")
    assert e.fees is not None
    [fee] = e.fees
    assert fee.asset == "USD"
    exact(fee.qty, "0.3458")


@case("EXECUTIONS_CANCELED", s.ExecutionsMessage)
def check_exec_canceled(m: s.ExecutionsMessage) -> None:
    [e] = m.data
    assert (e.exec_type, e.order_status, e.order_id) == (
        "canceled",
        "canceled",
        "OGAB7Y-BKX5F-PTK5RW",
    )
    assert e.order_userref == 0
    exact(e.cum_qty, "0")  # integer literal on the wire
    exact(e.avg_price, "0")
    assert e.reason == "User requested"
    assert e.cancel_reason == "User requested"
    assert e.timestamp == utc(2025, 10, 11, 15, 11, 47, 695226)


@case("EXECUTIONS_SNAPSHOT", s.ExecutionsMessage)
def check_exec_snapshot(m: s.ExecutionsMessage) -> None:
    assert (m.type, m.sequence) == ("snapshot", 1)
    [e] = m.data
    assert e.time_in_force == "GTD"
    assert e.effective_time == utc(2023, 9, 22, 10)  # no fractional digits
    assert e.expire_time == utc(2023, 10, 1)
    assert e.cl_ord_id == "my-order-1"
    exact(e.order_qty, "0.10000000")
    exact(e.cum_qty, "0.00000000")
    exact(e.cum_cost, "0.00000")
    exact(e.display_qty, "0.01")
    assert e.triggers is not None
    assert (e.triggers.reference, e.triggers.price_type, e.triggers.status) == (
        "last",
        "static",
        "untriggered",
    )
    exact(e.triggers.price, "25100.0")
    exact(e.triggers.peak_price, "26000.0")
    assert e.contingent is not None
    assert e.contingent.order_type == "take-profit-limit"
    exact(e.contingent.trigger_price, "27000.0")
    exact(e.contingent.limit_price, "27100.0")
    assert e.trigger == "last"
    exact(e.triggered_price, "0.0")


@case("BALANCES_SNAPSHOT", s.BalancesSnapshot)
def check_balances_snapshot(m: s.BalancesSnapshot) -> None:
    assert (m.type, m.sequence) == ("snapshot", 1)
    btc, usd = m.data
    assert (btc.asset, btc.asset_class) == ("BTC", "currency")
    exact(btc.balance, "1.2")
    [wallet] = usd.wallets
    assert (wallet.type, wallet.id) == ("spot", "main")
    exact(wallet.balance, "80595.4943")


@case("BALANCES_UPDATE_BTC", s.BalancesUpdate)
def check_balances_update_btc(m: s.BalancesUpdate) -> None:
    assert (m.type, m.sequence) == ("update", 9)
    [entry] = m.data
    assert (entry.ledger_id, entry.ref_id) == ("AAICKV-NMQSR-ZO5IJD", "AGBB7L-HT5LX-J3BB4A")
    assert (entry.type, entry.category, entry.wallet_type, entry.wallet_id) == (
        "trade",
        "trade",
        "spot",
        "main",
    )
    exact(entry.amount, "-0.005")
    exact(entry.fee, "0.0")
    exact(entry.balance, "0.005")
    assert entry.timestamp == utc(2023, 9, 22, 10, 33, 5, 710082)


@case("BALANCES_UPDATE_USD", s.BalancesUpdate)
def check_balances_update_usd(m: s.BalancesUpdate) -> None:
    assert m.sequence == 10
    [entry] = m.data
    assert entry.asset == "USD"
    exact(entry.amount, "132.9995")
    exact(entry.fee, "0.3458")
    exact(entry.balance, "500")  # integer literal


# --------------------------------------------------------------------------------------------
# Trading responses


def ok(m: s.Response, method: str, req_id: int | None) -> None:
    assert m.method == method
    assert m.success is True
    assert m.error is None
    assert m.req_id == req_id


@case("ADD_ORDER_RESPONSE", s.AddOrderResponse)
def check_add_order(m: s.AddOrderResponse) -> None:
    ok(m, "add_order", 123456789)
    assert m.result is not None
    assert (m.result.order_id, m.result.order_userref, m.result.cl_ord_id) == (
        "AA5JGQ-SBMRC-SCJ7J7",
        100054,
        None,
    )
    assert m.time_in == utc(2023, 9, 21, 14, 15, 7, 197274)


@case("ADD_ORDER_REAL_RESPONSE", s.AddOrderResponse)
def check_add_order_real(m: s.AddOrderResponse) -> None:
    ok(m, "add_order", 0)
    assert m.result is not None
    assert (m.result.order_id, m.result.cl_ord_id) == ("OPS23M-VS41G-DDE5Z2", "client-zero")


@case("AMEND_ORDER_RESPONSE", s.AmendOrderResponse)
def check_amend_order(m: s.AmendOrderResponse) -> None:
    ok(m, "amend_order", None)
    assert m.result is not None
    assert m.result.amend_id == "TTW6PD-RC36L-ZZSWNU"
    assert m.result.cl_ord_id == "2c6be801-1f53-4f79-a0bb-4ea1c95dfae9"
    assert m.result.order_id is None


@case("AMEND_ORDER_RESPONSE_2024", s.AmendOrderResponse)
def check_amend_order_2024(m: s.AmendOrderResponse) -> None:
    ok(m, "amend_order", 0)
    assert m.result is not None
    assert (m.result.amend_id, m.result.order_id) == ("1M2JV8-OEJZD-G5GSBF", "BQS60L-EGW18-UPAK9U")
    assert m.result.cl_ord_id is None


@case("EDIT_ORDER_RESPONSE", s.EditOrderResponse)
def check_edit_order(m: s.EditOrderResponse) -> None:
    ok(m, "edit_order", 1234567890)
    assert m.result is not None
    assert m.result.order_id == "ORDERX-IDXXX-XXXXX2"
    assert m.result.original_order_id == "ORDERX-IDXXX-XXXXX1"


@case("CANCEL_ORDER_RESPONSE_1", s.CancelOrderResponse)
def check_cancel_order_1(m: s.CancelOrderResponse) -> None:
    ok(m, "cancel_order", 123456789)
    assert m.result is not None
    assert (m.result.order_id, m.result.cl_ord_id) == ("OLUMT4-UTEGU-ZYM7E9", None)
    assert m.time_out == utc(2023, 9, 21, 14, 36, 57, 437952)


@case("CANCEL_ORDER_RESPONSE_2", s.CancelOrderResponse)
def check_cancel_order_2(m: s.CancelOrderResponse) -> None:
    ok(m, "cancel_order", 123456789)  # one reply per order, same req_id
    assert m.result is not None
    assert m.result.order_id == "OM5CRX-N2HAL-GFGWE9"


@case("CANCEL_ORDER_RESPONSE_CL_ORD_ID", s.CancelOrderResponse)
def check_cancel_order_cl_ord_id(m: s.CancelOrderResponse) -> None:
    ok(m, "cancel_order", 0)
    assert m.result is not None
    assert (m.result.order_id, m.result.cl_ord_id) == (None, "a-uuid")


@case("CANCEL_ALL_RESPONSE", s.CancelAllResponse)
def check_cancel_all(m: s.CancelAllResponse) -> None:
    ok(m, "cancel_all", 1234567890)
    assert m.result is not None
    assert m.result.count == 1


@case("CANCEL_AFTER_RESPONSE", s.CancelAllOrdersAfterResponse)
def check_cancel_after(m: s.CancelAllOrdersAfterResponse) -> None:
    ok(m, "cancel_all_orders_after", 1234567890)
    assert m.result is not None
    # camelCase keys, no fractional digits
    assert m.result.current_time == utc(2023, 9, 21, 15, 49, 29)
    assert m.result.trigger_time == utc(2023, 9, 21, 15, 51, 9)
    assert m.time_in == utc(2023, 9, 21, 15, 49, 28, 627900)


@case("BATCH_ADD_RESPONSE", s.BatchAddResponse)
def check_batch_add(m: s.BatchAddResponse) -> None:
    ok(m, "batch_add", 1234567890)
    assert m.result is not None
    assert [(r.order_id, r.order_userref) for r in m.result] == [
        ("ORDERX-IDXXX-XXXXX1", 1),
        ("ORDERX-IDXXX-XXXXX2", 2),
    ]
    # "2022-06-13T08:09:10.7890123": 7 fractional digits and no Z (naive).
    assert m.time_out == datetime(2022, 6, 13, 8, 9, 10, 789012)
    assert m.time_in == utc(2022, 6, 13, 8, 9, 10, 123456)


@case("BATCH_ADD_RESPONSE_2024", s.BatchAddResponse)
def check_batch_add_2024(m: s.BatchAddResponse) -> None:
    ok(m, "batch_add", 0)
    assert m.result is not None
    assert [r.order_id for r in m.result] == ["JQDNTT-MZEIZ-OZKUDD", "X67GEK-3VQWM-HPNQ89"]


@case("BATCH_CANCEL_RESPONSE_DOC", s.BatchCancelResponse)
def check_batch_cancel_doc(m: s.BatchCancelResponse) -> None:
    ok(m, "batch_cancel", 1234567890)
    assert m.result is not None
    assert m.result.count == 3
    assert m.orders_cancelled is None
    assert m.count == 3
    assert m.time_out == datetime(2022, 6, 13, 8, 9, 10, 789012)


@case("BATCH_CANCEL_RESPONSE_LIVE", s.BatchCancelResponse)
def check_batch_cancel_live(m: s.BatchCancelResponse) -> None:
    ok(m, "batch_cancel", 0)
    assert m.result is None
    assert m.orders_cancelled == 2
    assert m.count == 2


# --------------------------------------------------------------------------------------------
# Channels and methods this version does not know


@case("UNKNOWN_CHANNEL", s.UnknownMessage, dropped=("$.type", "$.data"))
def check_unknown_channel(m: s.UnknownMessage) -> None:
    assert m.channel == "futures_ticker"
    assert m.method is None
    assert m.raw == ex.UNKNOWN_CHANNEL


@case(
    "UNKNOWN_METHOD",
    s.UnknownMessage,
    dropped=("$.req_id", "$.result", "$.success", "$.time_in", "$.time_out"),
)
def check_unknown_method(m: s.UnknownMessage) -> None:
    assert m.method == "get_orders"
    assert m.channel is None
    assert m.raw == ex.UNKNOWN_METHOD


# --------------------------------------------------------------------------------------------
# The table


@pytest.mark.parametrize("name", sorted(CASES))
def test_example_decodes_to_the_right_struct_with_the_right_values(name: str) -> None:
    case = CASES[name]
    msg = DECODER.decode(case.raw)
    assert type(msg) is case.kind
    comparison = ex.compare(msg, case.raw)
    assert comparison.errors == []
    assert set(comparison.dropped) == case.dropped
    assert comparison.compared > 0
    case.check(msg)


@pytest.mark.parametrize("name", sorted(CASES))
def test_text_frames_decode_like_bytes(name: str) -> None:
    raw = CASES[name].raw
    assert DECODER.decode(raw.decode()) == DECODER.decode(raw)


# Examples that are requests (covered by test_proto_encode) or not valid as printed (below).
REQUESTS = frozenset(
    {
        "PING",
        "SUBSCRIBE_TICKER_REQUEST",
        "UNSUBSCRIBE_TICKER_REQUEST",
        "LEVEL3_SUBSCRIBE",
        "EXECUTIONS_SUBSCRIBE",
        "ADD_ORDER_REQUEST",
        "ADD_ORDER_STOP_LOSS_REQUEST",
        "ADD_ORDER_CONDITIONAL_REQUEST",
        "ADD_ORDER_REAL_REQUEST",
        "AMEND_ORDER_REQUEST",
        "EDIT_ORDER_REQUEST",
        "CANCEL_ORDER_REQUEST",
        "CANCEL_ALL_REQUEST",
        "CANCEL_AFTER_REQUEST",
        "BATCH_ADD_REQUEST",
        "BATCH_CANCEL_REQUEST",
    }
)
NOT_DECODABLE_AS_PRINTED = frozenset(
    {
        "LEVEL3_SNAPSHOT_DOC_WITH_PLACEHOLDERS",  # "..." placeholders among the orders
        "ERROR_SUBSCRIPTION_NOT_FOUND",  # "time_in": "..."
        "EXECUTION_CANCELED_ITEM",  # a data element, tested inside EXECUTIONS_CANCELED
    }
)
KNOWN_BUG = frozenset(
    {"ERROR_PING_PARAMS"}
)  # tested on its own: test_error_reply_to_ping_is_a_response


def test_every_spot_example_is_in_the_table() -> None:
    spot = {
        name
        for name, value in vars(ex).items()
        if isinstance(value, bytes) and name.isupper() and not name.startswith("F_")
    }
    covered = set(CASES) | REQUESTS | NOT_DECODABLE_AS_PRINTED | KNOWN_BUG
    assert spot - covered == set()
    assert covered - spot == set()
    assert len(CASES) >= 60


def test_every_spot_message_type_has_an_example() -> None:
    kinds = set(typing.get_args(SpotMessage)) - {s.Response}
    kinds |= {
        cls for cls in vars(s).values() if isinstance(cls, type) and issubclass(cls, s.Response)
    }
    kinds -= {s.Response}
    assert len(kinds) == 22
    assert kinds - {c.kind for c in CASES.values()} == set()


def test_error_reply_to_ping_is_a_response() -> None:
    msg = DECODER.decode(ex.ERROR_PING_PARAMS)
    assert isinstance(msg, s.Response)
    assert msg.success is False
    assert msg.req_id == 0
    assert msg.error == "Unsupported field: 'params' for the given msg type: ping"


def test_pong_result_warnings_are_kept() -> None:
    msg = DECODER.decode(b'{"method":"pong","req_id":1,"result":{"warnings":["deprecated"]}}')
    assert isinstance(msg, s.Pong)
    assert "deprecated" in repr(msg)


def test_requests_are_not_mistaken_for_their_responses() -> None:
    # A ping request is not a pong; it is a method this decoder does not read.
    msg = DECODER.decode(ex.PING)
    assert isinstance(msg, s.UnknownMessage)
    assert msg.method == "ping"


def test_u64_connection_id_extremes() -> None:
    top = (
        b'{"channel":"status","type":"update","data":[{"system":"online",'
        b'"connection_id":18446744073709551615}]}'
    )
    msg = DECODER.decode(top)
    assert isinstance(msg, s.StatusMessage)
    assert msg.data[0].connection_id == 2**64 - 1


@pytest.mark.parametrize("value", [b"-1", b"18446744073709551616"])
def test_connection_id_outside_u64_is_rejected(value: bytes) -> None:
    raw = b'{"channel":"status","type":"update","data":[{"system":"online","connection_id":%s}]}'
    with pytest.raises(ProtocolError):
        DECODER.decode(raw % value)


@pytest.mark.parametrize(
    ("fraction", "microsecond"),
    [("", 0), (".5", 500000), (".123456", 123456), (".1234567", 123456), (".123456789", 123457)],
)
def test_timestamps_with_any_number_of_fractional_digits(fraction: str, microsecond: int) -> None:
    raw = ('{"method":"pong","req_id":1,"time_in":"2024-05-20T11:08:49' + fraction + 'Z"}').encode()
    msg = DECODER.decode(raw)
    assert isinstance(msg, s.Pong)
    assert msg.time_in is not None
    assert msg.time_in.replace(microsecond=0) == utc(2024, 5, 20, 11, 8, 49)
    # 9 digits round to the nearest microsecond or truncate; both are one instant to 1 us.
    assert abs(msg.time_in.microsecond - microsecond) <= 1


def test_snapshot_and_update_of_balances_are_distinct_types() -> None:
    assert isinstance(DECODER.decode(ex.BALANCES_SNAPSHOT), s.BalancesSnapshot)
    assert isinstance(DECODER.decode(ex.BALANCES_UPDATE_BTC), s.BalancesUpdate)


def test_decoded_messages_are_immutable() -> None:
    msg = DECODER.decode(ex.BOOK_UPDATE_DOC)
    assert isinstance(msg, s.BookMessage)
    with pytest.raises(AttributeError):
        msg.type = "snapshot"  # type: ignore[misc]


# --------------------------------------------------------------------------------------------
# Errors: malformed JSON, non-objects, wrong field types


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b"", ["malformed JSON"]),
        (b"{", ["malformed JSON"]),
        (b'{"channel":"book",}', ["malformed JSON"]),
        (b"\xff\xfe", ["malformed JSON"]),
        (b'{"channel":"heartbeat"} trailing', ["malformed JSON"]),
        (b"[]", ["wrong field type", "object"]),
        (b"null", ["wrong field type", "object"]),
        (b"42", ["wrong field type", "object"]),
        (b'"status"', ["wrong field type", "object"]),
        (b"{}", ["neither channel nor method"]),
        (b'{"foo":1}', ["neither channel nor method"]),
        (b'{"channel":5}', ["wrong field type", "channel"]),
        (b'{"method":["pong"]}', ["wrong field type", "method"]),
        (b'{"method":"pong","req_id":"1"}', ["wrong field type", "req_id"]),
        (b'{"method":"pong","success":"yes"}', ["wrong field type", "success"]),
        (b'{"method":"pong","time_in":"yesterday"}', ["wrong field type", "time_in"]),
        (b'{"method":"pong","time_in":"2024-13-45T99:00:00Z"}', ["time_in"]),
        (b'{"channel":"book","type":"update"}', ["book", "without type or data"]),
        (b'{"channel":"book","data":[]}', ["book", "without type or data"]),
        (b'{"channel":"book","type":"update","data":{}}', ["wrong field type", "array"]),
        (b'{"channel":"book","type":"update","data":null}', ["wrong field type"]),
        (
            b'{"channel":"book","type":"update","data":[{"symbol":"X","checksum":"1"}]}',
            ["wrong field type", "checksum"],
        ),
        (
            b'{"channel":"book","type":"update","data":[{"symbol":"X","checksum":1,"bids":[{"price":true,"qty":1}]}]}',
            ["wrong field type", "price"],
        ),
        (
            b'{"channel":"book","type":"update","data":[{"symbol":"X","checksum":1,"bids":[{"price":"abc","qty":1}]}]}',
            ["price"],
        ),
        (
            b'{"channel":"ticker","type":"update","data":[{"symbol":"X","bid":1}]}',
            ["wrong field type", "bid_qty"],
        ),
        (ex.LEVEL3_SNAPSHOT_DOC_WITH_PLACEHOLDERS, ["wrong field type", "bids[1]"]),
        (ex.ERROR_SUBSCRIPTION_NOT_FOUND, ["wrong field type", "time_in"]),
        (
            b'{"channel":"instrument","type":"snapshot","data":[]}',
            ["wrong field type", "object"],
        ),
        (
            b'{"channel":"status","type":"update","data":[{"system":"online","connection_id":1.5}]}',
            ["connection_id"],
        ),
        (b'{"method":"add_order","success":true,"result":{"order_id":5}}', ["order_id"]),
        (b'{"method":"batch_add","success":true,"result":{"order_id":"A"}}', ["array"]),
        (b'{"method":"batch_cancel","orders_cancelled":"2"}', ["orders_cancelled"]),
        (
            b'{"method":"cancel_all_orders_after","result":{"currentTime":"now","triggerTime":"later"}}',
            ["currentTime"],
        ),
    ],
)
def test_bad_frames_raise_protocol_error_naming_the_problem(raw: bytes, words: list[str]) -> None:
    with pytest.raises(ProtocolError) as info:
        DECODER.decode(raw)
    err = info.value
    assert isinstance(err, KrakenError)
    for word in words:
        assert word in err.reason, (word, err.reason)
    assert err.raw == raw.decode("utf-8", "replace")
    assert "raw message" in str(err)


def test_protocol_error_from_text_frame_keeps_the_text() -> None:
    with pytest.raises(ProtocolError) as info:
        DECODER.decode('{"channel":"book","type":"update","data":[{"symbol":"X"}]}')
    assert info.value.raw == '{"channel":"book","type":"update","data":[{"symbol":"X"}]}'
    assert "checksum" in info.value.reason


def test_protocol_error_keeps_at_most_2000_characters_of_a_huge_frame() -> None:
    raw = b'{"channel":"book","type":"update","data":"' + b"x" * 10_000 + b'"}'
    with pytest.raises(ProtocolError) as info:
        DECODER.decode(raw)
    assert info.value.raw == raw[:2000].decode()
    assert len(str(info.value)) < 1000


def test_error_path_is_rooted_at_the_message() -> None:
    with pytest.raises(ProtocolError) as info:
        DECODER.decode(ex.LEVEL3_SNAPSHOT_DOC_WITH_PLACEHOLDERS)
    assert "$.data[0].bids[1]" in info.value.reason


def test_reused_decoder_is_not_poisoned_by_an_error() -> None:
    with pytest.raises(ProtocolError):
        DECODER.decode(b'{"channel":"book","type":"update","data":[{"symbol":1}]}')
    msg = DECODER.decode(ex.BOOK_UPDATE_DOC)
    assert isinstance(msg, s.BookMessage)
    assert msg.data[0].checksum == 2114181697


# --------------------------------------------------------------------------------------------
# The real recording: every line decodes, checksums and numbers intact


def test_recorded_book_fixture_decodes_line_by_line() -> None:
    lines = ex.BOOK_FIXTURE.read_bytes().splitlines()
    assert len(lines) == 510
    types = []
    for line in lines:
        msg = DECODER.decode(line)
        assert isinstance(msg, s.BookMessage)
        wire = json.loads(line, parse_float=Decimal)["data"][0]
        [data] = msg.data
        assert data.checksum == wire["checksum"]
        assert [str(lv.price) for lv in data.asks] == [str(a["price"]) for a in wire["asks"]]
        assert [str(lv.qty) for lv in data.bids] == [str(b["qty"]) for b in wire["bids"]]
        types.append(msg.type)
    assert types[0] == "snapshot"
    assert set(types[1:]) == {"update"}
    first = DECODER.decode(lines[0])
    assert isinstance(first, s.BookMessage)
    assert book_checksum(first.data[0], 1, 8) == 2785033588


# --------------------------------------------------------------------------------------------
# Checksum helpers (kraken_trio._proto.checksum)

# §3.2 guide example (BTC/USD, price precision 1, qty precision 8), checksum 3310070434.
GUIDE_BIDS = [
    ("45283.5", "0.10000000"),
    ("45283.4", "1.54582015"),
    ("45282.1", "0.10000000"),
    ("45281.0", "0.10000000"),
    ("45280.3", "1.54592586"),
    ("45279.0", "0.07990000"),
    ("45277.6", "0.03310103"),
    ("45277.5", "0.30000000"),
    ("45277.3", "1.54602737"),
    ("45276.6", "0.15445238"),
]
GUIDE_ASKS = [
    ("45285.2", "0.00100000"),
    ("45286.4", "1.54571953"),
    ("45286.6", "1.54571109"),
    ("45289.6", "1.54560911"),
    ("45290.2", "0.15890660"),
    ("45291.8", "1.54553491"),
    ("45294.7", "0.04454749"),
    ("45296.1", "0.35380000"),
    ("45297.5", "0.09945542"),
    ("45299.5", "0.18772827"),
]
GUIDE_ASKS_STRING = (
    "45285210000045286415457195345286615457110945289615456091145290215890660452918154553491"
    "452947445474945296135380000452975994554245299518772827"
)
GUIDE_BIDS_STRING = (
    "452835100000004528341545820154528211000000045281010000000452803154592586452790799000045277"
    "633101034527753000000045277315460273745276615445238"
)


def guide_digits(levels: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(checksum_digits(Decimal(p), 1), checksum_digits(Decimal(q), 8)) for p, q in levels]


def test_checksum_digits_reproduce_the_guide_strings() -> None:
    asks, bids = guide_digits(GUIDE_ASKS), guide_digits(GUIDE_BIDS)
    assert "".join(p + q for p, q in asks) == GUIDE_ASKS_STRING
    assert "".join(p + q for p, q in bids) == GUIDE_BIDS_STRING
    assert crc32_levels(asks, bids) == 3310070434


def test_guide_vector_from_floats_rerendered_at_pair_precision() -> None:
    # A float-parsing client loses the trailing zeros; re-rendering at precision restores them.
    asks = [(Decimal(repr(float(p))), Decimal(repr(float(q)))) for p, q in GUIDE_ASKS]
    bids = [(Decimal(repr(float(p))), Decimal(repr(float(q)))) for p, q in GUIDE_BIDS]
    rendered_asks = [(checksum_digits(p, 1), checksum_digits(q, 8)) for p, q in asks]
    rendered_bids = [(checksum_digits(p, 1), checksum_digits(q, 8)) for p, q in bids]
    assert crc32_levels(rendered_asks, rendered_bids) == 3310070434
    # ...and naive text of the floats does not match.
    naive = [(str(p).replace(".", "").lstrip("0"), "") for p, _ in asks]
    assert crc32_levels(naive, []) != crc32_levels(rendered_asks, [])


def test_crc32_levels_is_standard_crc32_asks_first() -> None:
    assert crc32_levels([("1234", "56789")], []) == 0xCBF43926
    assert crc32_levels([], [("123", "456789")]) == 0xCBF43926
    assert crc32_levels([("12", "34")], [("56", "789")]) == 0xCBF43926
    assert crc32_levels([("56", "789")], [("12", "34")]) != 0xCBF43926  # order matters
    assert crc32_levels([], []) == 0


def test_crc32_levels_on_the_l3_docs_vector() -> None:
    # §3.5: Kraken's L3 example hashes the numbers as printed (one item per order).
    asks = (
        "44939545230839344939511126144939510000044939510000004495001033492644953064537449550250000"
        "449596356300004495963563000044960133807244960288967575449670314392283449785677896044979235630000"
    )
    bids = (
        "449394889686994493944521000044939410000000449394142963234493942500000044939410292988449394"
        "338800004493941281408604493713346877449347356300004493022273429944930210000004493025550000"
        "449302700000004493021500000044928010524044919633870000449195761000044912035630000449097669000"
        "044901988982"
    )
    assert crc32_levels([(asks, "")], [(bids, "")]) == 1063832831


@pytest.mark.parametrize(
    ("value", "places", "text", "digits"),
    [
        (Decimal("0.00000000"), 8, "0.00000000", ""),  # all zeros strip to nothing
        (Decimal("0"), 8, "0.00000000", ""),
        (Decimal("1E-8"), 8, "0.00000001", "1"),  # never exponent notation
        (Decimal("1e-08"), 8, "0.00000001", "1"),
        (Decimal("0.001"), 8, "0.00100000", "100000"),
        (Decimal("0.00100000"), 8, "0.00100000", "100000"),
        (Decimal("45285.2"), 1, "45285.2", "452852"),
        (Decimal("0.566"), 4, "0.5660", "5660"),
        (Decimal("18097.1547"), 8, "18097.15470000", "1809715470000"),
        (Decimal("1098.3947558"), 8, "1098.39475580", "109839475580"),
        (Decimal("0.031370"), 6, "0.031370", "31370"),
        (Decimal("0.000012345"), 9, "0.000012345", "12345"),  # SHIB/USD: price precision 9
        (Decimal("1.2E-8"), 9, "0.000000012", "12"),
        (Decimal("1000000"), 5, "1000000.00000", "100000000000"),  # SHIB qty precision 5
        (Decimal("1E+3"), 1, "1000.0", "10000"),
        (Decimal("29430"), 1, "29430.0", "294300"),
        (Decimal("7"), 0, "7", "7"),
    ],
)
def test_fixed_and_checksum_digits(value: Decimal, places: int, text: str, digits: str) -> None:
    assert fixed(value, places) == text
    assert checksum_digits(value, places) == digits
