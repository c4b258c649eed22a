"""Futures v1 decoding: every example of the protocol reference, value by value.

Same table as test_proto_spot: exact struct type, ignored wire keys, a value check, and a
key-by-key comparison with the JSON (numbers keep their exact text, exponent notation included).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

import protocol_examples as ex
import pytest

from kraken_trio import KrakenError, ProtocolError
from kraken_trio._proto import futures as f
from kraken_trio._proto.codec import FuturesDecoder

DECODER = FuturesDecoder()
T = TypeVar("T")


def exact(value: object, text: str) -> None:
    """``value`` is a Decimal with exactly the digits of ``text``."""
    assert isinstance(value, Decimal), f"{value!r} is not a Decimal"
    assert str(value) == str(Decimal(text)), f"{value!r} is not Decimal({text!r})"


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
# Control messages


@case("F_INFO", f.FuturesInfo)
def check_info(m: f.FuturesInfo) -> None:
    assert m.version == 1


@case("F_CHALLENGE", f.FuturesChallenge)
def check_challenge(m: f.FuturesChallenge) -> None:
    assert m.message == "226aee50-88fc-4618-a42a-34f7709570b2"
    assert m.api_key is None


@case("F_CHALLENGE_REQUEST", f.FuturesChallenge)
def check_challenge_request(m: f.FuturesChallenge) -> None:
    # The client's half of the exchange (a fake exchange reads it with the same decoder).
    assert m.api_key == "CMl2SeSn09Tz+2tWuzPfdaJdsahq6qv5UaexXuQ3SnahDQU/gO3aT+"
    assert m.message is None


@case("F_SUBSCRIBED_TICKER", f.FuturesSubscribed)
def check_subscribed_ticker(m: f.FuturesSubscribed) -> None:
    assert (m.feed, m.product_ids) == ("ticker", ["PI_XBTUSD"])


@case("F_SUBSCRIBED_TICKER_SOL", f.FuturesSubscribed)
def check_subscribed_ticker_sol(m: f.FuturesSubscribed) -> None:
    assert (m.feed, m.product_ids) == ("ticker", ["PF_SOLUSD"])


@case("F_SUBSCRIBED_OPEN_ORDERS", f.FuturesSubscribed)
def check_subscribed_private(m: f.FuturesSubscribed) -> None:
    assert (m.feed, m.product_ids) == ("open_orders", None)


@case(
    "F_SUBSCRIBED_OPEN_ORDERS_DOC",
    f.FuturesSubscribed,
    dropped=("$.api_key", "$.original_challenge", "$.signed_challenge"),
)
def check_subscribed_private_doc(m: f.FuturesSubscribed) -> None:
    assert (m.feed, m.product_ids) == ("open_orders", None)
    # The echoed credentials are not kept (nor shown in a repr).
    assert "RE0DVOc7" not in repr(m)


@case("F_UNSUBSCRIBED_OPEN_ORDERS", f.FuturesUnsubscribed)
def check_unsubscribed_private(m: f.FuturesUnsubscribed) -> None:
    assert (m.feed, m.product_ids) == ("open_orders", None)


@case("F_UNSUBSCRIBED_TICKER", f.FuturesUnsubscribed)
def check_unsubscribed_ticker(m: f.FuturesUnsubscribed) -> None:
    assert (m.feed, m.product_ids) == ("ticker", ["PI_XBTUSD"])


@case("F_HEARTBEAT_SUBSCRIBED", f.FuturesSubscribed)
def check_heartbeat_subscribed(m: f.FuturesSubscribed) -> None:
    assert m.feed == "heartbeat"


@case("F_SUBSCRIBED_BALANCES", f.FuturesSubscribed)
def check_balances_subscribed(m: f.FuturesSubscribed) -> None:
    assert m.feed == "balances"


@case("F_SUBSCRIBED_FAILED", f.FuturesSubscribedFailed)
def check_subscribed_failed(m: f.FuturesSubscribedFailed) -> None:
    assert (m.feed, m.product_ids, m.message) == ("ticker", ["PI_NOPE"], "Invalid product id")


@case("F_UNSUBSCRIBED_FAILED", f.FuturesUnsubscribedFailed)
def check_unsubscribed_failed(m: f.FuturesUnsubscribedFailed) -> None:
    assert (m.feed, m.product_ids, m.message) == ("book", ["PI_XBTUSD"], None)


@case("F_ERROR_JSON", f.FuturesError)
def check_error_json(m: f.FuturesError) -> None:
    assert m.message == "Json Error"


@case("F_ERROR_INVALID_FEED", f.FuturesError)
def check_error_feed(m: f.FuturesError) -> None:
    assert m.message == "Invalid feed"


@case("F_ERROR_INVALID_PRODUCT", f.FuturesError)
def check_error_product(m: f.FuturesError) -> None:
    assert m.message == "Invalid product id"


@case("F_ALERT", f.FuturesAlert)
def check_alert(m: f.FuturesAlert) -> None:
    assert m.message == "Failed to subscribe to authenticated feed"


@case("F_PONG", f.FuturesPong)
def check_pong(m: f.FuturesPong) -> None:
    assert m == f.FuturesPong()


# --------------------------------------------------------------------------------------------
# Public feeds


@case("F_HEARTBEAT", f.FuturesHeartbeat)
def check_heartbeat(m: f.FuturesHeartbeat) -> None:
    assert m.time == 1534262350627


@case("F_BOOK_SNAPSHOT", f.FuturesBookSnapshot)
def check_book_snapshot(m: f.FuturesBookSnapshot) -> None:
    assert (m.product_id, m.seq, m.timestamp) == ("PI_XBTUSD", 326072249, 1612269825817)
    assert m.tick_size is None  # "tickSize": null
    assert [(str(lv.price), str(lv.qty)) for lv in m.bids] == [
        ("34892.5", "6385"),
        ("34892", "10924"),
    ]
    exact(m.asks[0].price, "34911.5")
    exact(m.asks[1].qty, "2300")


@case("F_BOOK", f.FuturesBookDelta)
def check_book_delta(m: f.FuturesBookDelta) -> None:
    assert (m.product_id, m.side, m.seq, m.timestamp) == (
        "PI_XBTUSD",
        "sell",
        326094134,
        1612269953629,
    )
    exact(m.price, "34981")
    exact(m.qty, "0")


@case("F_TICKER", f.FuturesTicker)
def check_ticker(m: f.FuturesTicker) -> None:
    assert (m.product_id, m.time, m.tag, m.pair, m.leverage) == (
        "PI_XBTUSD",
        1676393235406,
        "perpetual",
        "XBT:USD",
        "50x",
    )
    # Exponent-notation floats decode to the exact Decimal of their text.
    exact(m.funding_rate, "-6.2604214e-11")
    exact(m.funding_rate_prediction, "-3.65989977e-10")
    exact(m.relative_funding_rate, "-1.380384722222e-6")
    exact(m.relative_funding_rate_prediction, "-8.047629166667e-6")
    assert m.funding_rate == Decimal("-0.000000000062604214")
    assert m.next_funding_rate_time == 1676394000000
    exact(m.premium, "-0.0")
    exact(m.change, "1.9974017538161748")
    exact(m.mark_price, "21979.68641534714")
    exact(m.open_interest, "30072580.0")
    exact(m.volume_quote, "31403908.0")
    exact(m.bid, "21978.5")
    exact(m.ask_size, "13948.0")
    assert (m.dtm, m.maturity_time, m.suspended, m.post_only) == (0, 0, False, False)
    assert m.greeks is None


@case("F_TICKER_OPTION", f.FuturesTicker)
def check_ticker_option(m: f.FuturesTicker) -> None:
    assert m.funding_rate is None  # perpetuals only
    assert m.greeks is not None
    assert set(m.greeks) == {"iv", "delta", "gamma", "vega", "theta", "rho"}
    exact(m.greeks["iv"], "0.5123")
    exact(m.greeks["rho"], "1.2e-3")
    assert m.maturity_time == 1677254400000


@case("F_TICKER_LITE", f.FuturesTickerLite)
def check_ticker_lite(m: f.FuturesTickerLite) -> None:
    assert m.product_id == "PI_XBTUSD"
    exact(m.bid, "34932")
    exact(m.ask, "34949.5")
    exact(m.change, "3.3705205220015966")
    exact(m.premium, "0.1")
    exact(m.volume, "264126741")
    exact(m.volume_quote, "264126741")
    assert (m.tag, m.pair, m.dtm, m.maturity_time) == ("perpetual", "XBT:USD", 0, 0)


@case("F_TRADE_SNAPSHOT", f.FuturesTradeSnapshot, dropped=("$.trades[0].feed",))
def check_trade_snapshot(m: f.FuturesTradeSnapshot) -> None:
    assert m.product_id == "PI_XBTUSD"
    [t] = m.trades
    assert (t.uid, t.side, t.type, t.seq, t.time) == (
        "caa9c653-420b-4c24-a9f1-462a054d86f1",
        "sell",
        "fill",
        655508,
        1612269657781,
    )
    exact(t.qty, "440")
    exact(t.price, "34893")


@case("F_TRADE", f.FuturesTrade)
def check_trade(m: f.FuturesTrade) -> None:
    assert (m.product_id, m.side, m.type, m.seq) == ("PI_XBTUSD", "sell", "fill", 653355)
    exact(m.qty, "15000")
    exact(m.price, "34969.5")
    assert m.time == 1612266317519


# --------------------------------------------------------------------------------------------
# Private feeds


@case("F_OPEN_ORDERS_SNAPSHOT", f.FuturesOpenOrdersSnapshot)
def check_open_orders_snapshot(m: f.FuturesOpenOrdersSnapshot) -> None:
    assert m.account == "e258dba9-4dd4-4da5-bfef-75beb91c098e"
    [o] = m.orders
    assert (o.order_id, o.instrument, o.type, o.direction, o.reduce_only) == (
        "723ba95f-13b7-418b-8fcf-ab7ba6620555",
        "PI_XBTUSD",
        "stop",
        1,
        False,
    )
    assert o.trigger_signal == "last"  # wire name triggerSignal
    exact(o.qty, "1000")
    exact(o.filled, "0")
    exact(o.limit_price, "34900")
    exact(o.stop_price, "13789")
    assert o.cli_ord_id is None


@case("F_OPEN_ORDERS_NEW", f.FuturesOpenOrders)
def check_open_orders_new(m: f.FuturesOpenOrders) -> None:
    assert (m.is_cancel, m.reason, m.order_id) == (False, "new_placed_order_by_user", None)
    assert m.order is not None
    assert (m.order.order_id, m.order.type, m.order.direction, m.order.reduce_only) == (
        "59302619-41d2-4f0b-941f-7e7914760ad3",
        "limit",
        1,
        True,
    )
    exact(m.order.qty, "304.0")
    exact(m.order.filled, "0.0")
    exact(m.order.limit_price, "10640.0")
    assert m.order.time == m.order.last_update_time == 1567702877410


@case("F_OPEN_ORDERS_CANCEL", f.FuturesOpenOrders)
def check_open_orders_cancel(m: f.FuturesOpenOrders) -> None:
    assert (m.is_cancel, m.reason) == (True, "cancelled_by_user")
    assert m.order_id == "660c6b23-8007-48c1-a7c9-4893f4572e8c"
    assert m.order is None


@case("F_OPEN_ORDERS_FULL_FILL", f.FuturesOpenOrders)
def check_open_orders_full_fill(m: f.FuturesOpenOrders) -> None:
    assert (m.is_cancel, m.reason) == (True, "full_fill")
    assert m.order is not None
    assert m.order.cli_ord_id == "b661bad0-aaaa-bbbb-cccc-ddddeeeeffff"
    assert m.order.direction == 0
    exact(m.order.filled, "0.001")


@case("F_OPEN_ORDERS_VERBOSE_SNAPSHOT", f.FuturesOpenOrdersVerboseSnapshot)
def check_open_orders_verbose_snapshot(m: f.FuturesOpenOrdersVerboseSnapshot) -> None:
    assert m.account == "0f9c23b8-63e2-40e4-9592-6d5aa57c12ba"
    [o] = m.orders
    assert o.order_id == "566942c8-a3b5-4184-a451-622b09493129"
    exact(o.qty, "100.0")


@case("F_OPEN_ORDERS_VERBOSE", f.FuturesOpenOrdersVerbose)
def check_open_orders_verbose(m: f.FuturesOpenOrdersVerbose) -> None:
    assert m.is_cancel is True
    assert m.reason == "post_order_failed_because_it_would_be_filled"
    assert m.order is not None
    exact(m.order.limit_price, "10601.0")


@case("F_FILLS_SNAPSHOT", f.FuturesFillsSnapshot)
def check_fills_snapshot(m: f.FuturesFillsSnapshot) -> None:
    assert (m.account, m.username) == ("DemoUser", None)
    [fill] = m.fills
    assert (fill.instrument, fill.seq, fill.buy, fill.fill_type) == (
        "FI_XBTUSD_200925",
        36,
        True,
        "maker",
    )
    assert fill.fill_id == "cad76f07-814e-4dc6-8478-7867407b6bff"
    exact(fill.price, "10937.5")
    exact(fill.qty, "5000.0")
    exact(fill.remaining_order_qty, "0.0")
    exact(fill.fee_paid, "-0.00009142857")
    assert (fill.fee_currency, fill.taker_order_type, fill.order_type) == ("BTC", "ioc", "limit")


@case("F_FILLS_LIVE", f.FuturesFills)
def check_fills_live(m: f.FuturesFills) -> None:
    # Live deltas say "username", not "account".
    assert (m.username, m.account) == ("6a70e882-...", None)
    [fill] = m.fills
    assert (fill.instrument, fill.cli_ord_id, fill.fill_type) == (
        "PF_ETHUSD",
        "b661bad0-...",
        "taker",
    )
    exact(fill.qty, "0.001")
    exact(fill.fee_paid, "0.001581")
    exact(fill.price, "3162.0")
    assert fill.time == 1765185437003


@case("F_OPEN_POSITIONS", f.FuturesOpenPositions)
def check_open_positions(m: f.FuturesOpenPositions) -> None:
    assert (m.account, m.seq, m.timestamp) == ("DemoUser", 4, 1687383625330)
    [p] = m.positions
    assert (p.instrument, p.pnl_currency) == ("PF_XBTUSD", "USD")
    exact(p.balance, "0.04")
    exact(p.pnl, "119.56244985549435")
    exact(p.unrealized_funding, "0.0004114160669590132")
    exact(p.initial_margin, "21.529400000000003")
    exact(p.maintenance_margin, "10.764700000000001")
    exact(p.effective_leverage, "0.31865408963748215")


@case("F_BALANCES_SNAPSHOT", f.FuturesBalancesSnapshot)
def check_balances_snapshot(m: f.FuturesBalancesSnapshot) -> None:
    assert (m.seq, m.timestamp) == (0, 1640995200000)
    assert m.account == "4a012c31-df95-484a-9473-d51e4a0c4ae7"
    assert set(m.holding) == {"USDT", "XBT", "USD"}
    exact(m.holding["XBT"], "0.1285407184")
    exact(m.holding["USD"], "5000.0")
    account = m.futures["F-ETH:EUR"]
    assert (account.name, account.pair, account.unit) == ("F-ETH:EUR", "ETH/EUR", "EUR")
    exact(account.available, "0.0")
    flex = m.flex_futures
    assert flex is not None
    exact(flex.balance_value, "9998.20")
    exact(flex.margin_equity, "9844.0")
    usdt = flex.currencies["USDT"]
    exact(usdt.haircut, "0.015")
    exact(usdt.collateral_value, "4922.53873063")
    assert (flex.isolated, flex.cross) == ({}, {})


@case("F_BALANCES", f.FuturesBalances)
def check_balances(m: f.FuturesBalances) -> None:
    assert (m.seq, m.timestamp) == (1, 1640995260000)
    assert m.futures == {}
    exact(m.holding["USD"], "4990.25")
    assert m.flex_futures is not None
    exact(m.flex_futures.available_margin, "9834.25")
    assert m.flex_futures.isolated is None


@case("F_ACCOUNT_LOG_SNAPSHOT", f.FuturesAccountLogSnapshot)
def check_account_log_snapshot(m: f.FuturesAccountLogSnapshot) -> None:
    [entry] = m.logs
    assert (entry.id, entry.asset, entry.info, entry.margin_account) == (
        1690,
        "bch",
        "funding rate change",
        "f-bch:usd",
    )
    assert entry.date == "2019-07-11T08:00:00.000Z"
    exact(entry.old_balance, "0.01215667051")
    exact(entry.new_balance, "0.01215736653")
    exact(entry.funding_rate, "-8.7002552653e-08")
    exact(entry.realized_funding, "6.9602e-07")
    assert entry.execution == ""


@case("F_ACCOUNT_LOG", f.FuturesAccountLog)
def check_account_log(m: f.FuturesAccountLog) -> None:
    e = m.new_entry
    assert (e.id, e.info, e.collateral) == (1691, "futures trade", "usd")
    exact(e.fee, "0.10")
    exact(e.new_average_entry_price, "3162.0")
    assert e.funding_rate is None  # JSON null
    assert e.realized_funding is None


@case("F_NOTIFICATIONS", f.FuturesNotifications)
def check_notifications(m: f.FuturesNotifications) -> None:
    [n] = m.notifications
    assert (n.id, n.type, n.priority, n.effective_time) == (5, "market", "low", 1520288300000)
    assert n.note == "A note describing the notification."
    assert n.expected_downtime_minutes is None


# --------------------------------------------------------------------------------------------
# Unknown feeds and events keep their raw bytes


@case("F_UNKNOWN_FEED", f.FuturesUnknown, dropped=("$.account", "$.events"))
def check_unknown_feed(m: f.FuturesUnknown) -> None:
    assert (m.feed, m.event) == ("deposits_withdrawals", None)
    assert m.raw == ex.F_UNKNOWN_FEED


@case("F_UNKNOWN_EVENT", f.FuturesUnknown)
def check_unknown_event(m: f.FuturesUnknown) -> None:
    assert (m.feed, m.event) == (None, "ping")
    assert m.raw == ex.F_UNKNOWN_EVENT


@case("F_SUBSCRIBED_TYPO", f.FuturesUnknown, dropped=("$.product_ids",))
def check_subscribed_typo(m: f.FuturesUnknown) -> None:
    # The docs' "subscribed " (trailing space) is not silently taken for an ack.
    assert (m.event, m.feed) == ("subscribed ", "trade")
    assert m.raw == ex.F_SUBSCRIBED_TYPO


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


REQUESTS = frozenset(
    {
        "F_SUBSCRIBE_TICKER",
        "F_SUBSCRIBE_OPEN_ORDERS",
        "F_HEARTBEAT_SUBSCRIBE",
        "F_UNSUBSCRIBE_TICKER",
    }
)


def test_every_futures_example_is_in_the_table() -> None:
    futures = {
        name
        for name, value in vars(ex).items()
        if isinstance(value, bytes) and name.startswith("F_")
    }
    covered = set(CASES) | REQUESTS
    assert futures - covered == set()
    assert covered - futures == set()
    assert len(CASES) >= 40


def test_every_futures_message_type_has_an_example() -> None:
    tagged = {
        cls
        for name in f.__all__
        if isinstance(cls := getattr(f, name), type) and cls.__struct_config__.tag is not None  # type: ignore[attr-defined]
    }
    assert len(tagged) == 28
    assert tagged - {c.kind for c in CASES.values()} == set()


@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_client_requests_decode_as_unknown_events_keeping_the_frame(name: str) -> None:
    raw: bytes = getattr(ex, name)
    msg = DECODER.decode(raw)
    assert isinstance(msg, f.FuturesUnknown)
    assert msg.event in {"subscribe", "unsubscribe"}
    assert msg.raw == raw


def test_feed_message_that_also_carries_an_event_is_a_control_message() -> None:
    # An ack carries "feed" too: it must never pass for data of that feed.
    msg = DECODER.decode(b'{"event":"subscribed","feed":"book","product_ids":["PI_XBTUSD"]}')
    assert isinstance(msg, f.FuturesSubscribed)
    msg = DECODER.decode(b'{"feed":"ticker","product_id":"PI_XBTUSD","event":"surprise"}')
    assert isinstance(msg, f.FuturesUnknown)
    assert (msg.feed, msg.event) == ("ticker", "surprise")


def test_null_event_key_on_a_feed_message_is_data() -> None:
    msg = DECODER.decode(b'{"feed":"heartbeat","time":7,"event":null}')
    assert msg == f.FuturesHeartbeat(time=7)


def test_book_snapshot_with_tick_size() -> None:
    msg = DECODER.decode(
        b'{"feed":"book_snapshot","product_id":"PF_XBTUSD","seq":1,"tickSize":0.5,"bids":[],"asks":[]}'
    )
    assert isinstance(msg, f.FuturesBookSnapshot)
    exact(msg.tick_size, "0.5")
    assert msg.timestamp is None


# --------------------------------------------------------------------------------------------
# Errors


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b"", ["malformed JSON"]),
        (b'{"feed":"book"', ["malformed JSON"]),
        (b"\xff", ["malformed JSON"]),
        (b'{"feed":"heartbeat","time":1}}', ["malformed JSON"]),
        (b"[]", ["object"]),
        (b"null", ["object"]),
        (b"1.5", ["object"]),
        (b'"heartbeat"', ["object"]),
        (b"{}", ["neither feed nor event"]),
        (b'{"product_id":"PI_XBTUSD"}', ["neither feed nor event"]),
        (b'{"feed":"heartbeat","time":"1"}', ["wrong field type", "time"]),
        (b'{"feed":"heartbeat"}', ["wrong field type", "time"]),
        (
            b'{"feed":"book","product_id":"PI_XBTUSD","side":"sell","seq":1,"price":"x","qty":0}',
            ["wrong field type", "price"],
        ),
        (
            b'{"feed":"book_snapshot","product_id":"PI_XBTUSD","seq":1,"bids":{}}',
            ["wrong field type", "bids"],
        ),
        (
            b'{"feed":"open_orders","is_cancel":"no","reason":"x"}',
            ["wrong field type", "is_cancel"],
        ),
        (b'{"feed":"fills","fills":[{"fill_id":7}]}', ["wrong field type", "fill_id"]),
        (b'{"feed":"account_log","new_entry":[]}', ["wrong field type", "new_entry"]),
        (b'{"event":"info","version":"1"}', ["wrong field type", "version"]),
        (b'{"event":"subscribed","feed":5}', ["wrong field type", "feed"]),
        (b'{"event":"subscribed","product_ids":"PI_XBTUSD"}', ["wrong field type", "product_ids"]),
        (b'{"event":"challenge","message":42}', ["wrong field type", "message"]),
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


@pytest.mark.parametrize(
    "raw",
    [b'{"feed":["book"]}', b'{"event":["info"]}', b'{"event":{"a":1}}', b'{"feed":{"a":1}}'],
)
def test_unhashable_feed_or_event_raises_protocol_error(raw: bytes) -> None:
    with pytest.raises(ProtocolError):
        DECODER.decode(raw)


def test_decoder_survives_errors() -> None:
    with pytest.raises(ProtocolError):
        DECODER.decode(b'{"feed":"heartbeat","time":"x"}')
    assert DECODER.decode(ex.F_HEARTBEAT) == f.FuturesHeartbeat(time=1534262350627)
