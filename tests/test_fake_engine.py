"""The fake exchange's matching engine, driven synchronously against a small real book."""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, ROUND_UP, Decimal
from typing import Any

import pytest

from kraken_trio.testing._engine import (
    MAKER_FEE,
    TAKER_FEE,
    Engine,
    PrivateEvent,
    Reply,
    Side,
    parse_rfc3339,
    rfc3339,
)
from kraken_trio.testing._pairs import DEFAULT_PAIRS, PairSpec

D = Decimal
T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z
ORDER_ID = re.compile(r"^O[A-Z0-9]{5}-[A-Z0-9]{5}-[A-Z0-9]{6}$")
EXEC_ID = re.compile(r"^T[A-Z0-9]{5}-[A-Z0-9]{5}-[A-Z0-9]{6}$")


class Book:
    """A deterministic synthetic market: a real price-level book per pair."""

    def __init__(self, pairs: Sequence[PairSpec] = DEFAULT_PAIRS) -> None:
        self.pairs = {p.symbol: p for p in pairs}
        self.asks: dict[str, dict[Decimal, Decimal]] = {p: {} for p in self.pairs}
        self.bids: dict[str, dict[Decimal, Decimal]] = {p: {} for p in self.pairs}
        self.last: dict[str, Decimal] = {p.symbol: p.start_price for p in pairs}
        self.trades: list[tuple[str, Side, Decimal, Decimal, int]] = []
        self._trade_id = 1000

    def pair(self, symbol: str) -> PairSpec | None:
        return self.pairs.get(symbol)

    def opposite_levels(self, symbol: str, side: Side) -> Sequence[tuple[Decimal, Decimal]]:
        if side == "buy":
            return sorted(self.asks[symbol].items())
        return sorted(self.bids[symbol].items(), reverse=True)

    def take(self, symbol: str, side: Side, price: Decimal, qty: Decimal, now: float) -> int:
        book = self.asks[symbol] if side == "buy" else self.bids[symbol]
        left = qty
        for level, available in self.opposite_levels(symbol, side):
            if left <= 0 or (level > price if side == "buy" else level < price):
                break
            used = min(left, available)
            left -= used
            if available == used:
                del book[level]
            else:
                book[level] = available - used
        self.last[symbol] = price
        self._trade_id += 1
        self.trades.append((symbol, side, price, qty, self._trade_id))
        return self._trade_id

    def last_price(self, symbol: str) -> Decimal:
        return self.last[symbol]

    def best_bid_ask(self, symbol: str) -> tuple[Decimal | None, Decimal | None]:
        bids, asks = self.bids[symbol], self.asks[symbol]
        return (max(bids) if bids else None, min(asks) if asks else None)

    # Test controls -----------------------------------------------------------------
    def level(self, symbol: str, side: Side, price: str, qty: str) -> None:
        book = self.bids[symbol] if side == "buy" else self.asks[symbol]
        if D(qty) == 0:
            book.pop(D(price), None)
        else:
            book[D(price)] = D(qty)

    def print_trade(self, symbol: str, price: str) -> None:
        self.last[symbol] = D(price)


def btc_book() -> Book:
    book = Book()
    for price, qty in (("65000.0", "0.5"), ("65010.0", "1"), ("65020.0", "2")):
        book.level("BTC/USD", "sell", price, qty)
    for price, qty in (("64990.0", "0.5"), ("64980.0", "1"), ("64970.0", "2")):
        book.level("BTC/USD", "buy", price, qty)
    book.print_trade("BTC/USD", "64995.0")
    for price, qty in (("0.049010", "10"), ("0.049020", "10")):
        book.level("ETH/BTC", "sell", price, qty)
    book.level("ETH/BTC", "buy", "0.048990", "10")
    book.print_trade("ETH/BTC", "0.049000")
    return book


START = {"USD": D("100000"), "BTC": D("1"), "ETH": D("10")}


@pytest.fixture
def book() -> Book:
    return btc_book()


@pytest.fixture
def engine(book: Book) -> Engine:
    eng = Engine(book, default_balances=START)
    eng.open_account("alice")
    return eng


def ok(replies: list[Reply]) -> Any:
    assert len(replies) == 1, replies
    assert replies[0].success, replies[0].error
    return replies[0].result


def err(replies: list[Reply]) -> str:
    assert len(replies) == 1, replies
    assert not replies[0].success
    assert replies[0].result is None
    assert replies[0].error is not None
    return replies[0].error


def limit(side: str, qty: str, price: str, **more: Any) -> dict[str, Any]:
    return {
        "order_type": "limit",
        "side": side,
        "order_qty": D(qty),
        "limit_price": D(price),
        "symbol": "BTC/USD",
        **more,
    }


def add(engine: Engine, params: dict[str, Any], now: float = T0, account: str = "alice") -> str:
    result = ok(engine.request(account, "add_order", params, now))
    order_id: str = result["order_id"]
    assert ORDER_ID.match(order_id)
    return order_id


def executions(events: list[PrivateEvent]) -> list[dict[str, Any]]:
    out = []
    for event in events:
        if event.channel == "executions":
            out.extend(event.data)
    return out


def ledger(events: list[PrivateEvent]) -> list[dict[str, Any]]:
    out = []
    for event in events:
        if event.channel == "balances":
            out.extend(event.data)
    return out


def kinds(events: list[PrivateEvent]) -> list[str]:
    return [f"{e.channel}:{e.data[0].get('exec_type', e.data[0].get('asset'))}" for e in events]


def fee(cost: Decimal, rate: Decimal, places: int = 5) -> Decimal:
    return (cost * rate).quantize(Decimal(1).scaleb(-places), ROUND_UP)


# --------------------------------------------------------------------------------------
# helpers


def test_rfc3339_round_trip() -> None:
    assert rfc3339(T0 + 0.123456) == "2023-11-14T22:13:20.123456Z"
    assert parse_rfc3339("2023-11-14T22:13:20.123456Z") == pytest.approx(T0 + 0.123456)
    assert parse_rfc3339("2023-11-14T23:13:20+01:00") == T0
    assert parse_rfc3339("2023-11-14T22:13:20.000000000Z") == T0
    with pytest.raises(ValueError, match="RFC3339"):
        parse_rfc3339("yesterday")


# --------------------------------------------------------------------------------------
# add_order: limit orders


def test_resting_limit_order_events_and_views(engine: Engine) -> None:
    oid = add(engine, limit("buy", "0.1", "64000.0", order_userref=7))
    events = engine.drain()
    assert [e.channel for e in events] == ["executions", "executions"]
    pending, new = executions(events)
    assert pending["exec_type"] == pending["order_status"] == "pending_new"
    assert pending["order_id"] == oid
    assert pending["symbol"] == "BTC/USD"
    assert pending["order_qty"] == D("0.10000000")
    assert pending["limit_price"] == D("64000.0")
    assert pending["limit_price_type"] == "static"
    assert pending["time_in_force"] == "GTC"
    assert pending["order_userref"] == 7
    assert pending["fee_ccy_pref"] == "fciq"
    assert pending["timestamp"] == rfc3339(T0)
    assert "cl_ord_id" not in pending
    assert new == {
        "timestamp": rfc3339(T0),
        "order_status": "new",
        "exec_type": "new",
        "order_id": oid,
        "order_userref": 7,
    }
    assert engine.resting("BTC/USD") == [("buy", D("64000.0"), D("0.1"), oid)]
    [view] = engine.open_orders("alice")
    assert view["order_id"] == oid
    assert view["order_status"] == "new"
    assert engine.executions_snapshot("alice")[0]["order_id"] == oid
    assert engine.drain() == []


def test_add_order_echoes_ids(engine: Engine) -> None:
    result = ok(engine.request("alice", "add_order", limit("buy", "0.1", "64000.0"), T0))
    assert set(result) == {"order_id"}
    result = ok(
        engine.request("alice", "add_order", limit("buy", "0.1", "64000.0", order_userref=5), T0)
    )
    assert result["order_userref"] == 5
    result = ok(
        engine.request("alice", "add_order", limit("buy", "0.1", "64000.0", cl_ord_id="c-1"), T0)
    )
    assert result["cl_ord_id"] == "c-1"
    events = executions(engine.drain())
    assert events[-2]["cl_ord_id"] == "c-1"


def test_order_ids_are_deterministic_and_unique() -> None:
    ids = []
    for _ in range(2):
        eng = Engine(btc_book(), default_balances=START)
        ids.append([add(eng, limit("buy", "0.01", "60000.0")) for _ in range(20)])
    assert ids[0] == ids[1]
    assert len(set(ids[0])) == 20


def test_market_buy_walks_the_book_with_exact_balances(engine: Engine, book: Book) -> None:
    oid = add(
        engine, {"order_type": "market", "side": "buy", "order_qty": D("0.8"), "symbol": "BTC/USD"}
    )
    events = engine.drain()
    assert kinds(events) == [
        "executions:pending_new",
        "executions:new",
        "executions:trade",
        "balances:BTC",
        "balances:USD",
        "executions:trade",
        "balances:BTC",
        "balances:USD",
        "executions:filled",
    ]
    trades = [e for e in executions(events) if e["exec_type"] == "trade"]
    cost1, cost2 = D("0.5") * D("65000.0"), D("0.3") * D("65010.0")
    fee1, fee2 = fee(cost1, TAKER_FEE), fee(cost2, TAKER_FEE)
    assert trades[0]["last_qty"] == D("0.5")
    assert trades[0]["last_price"] == D("65000.0")
    assert trades[1]["last_qty"] == D("0.3")
    assert trades[1]["last_price"] == D("65010.0")
    for trade in trades:
        assert trade["order_status"] == "partially_filled"
        assert trade["liquidity_ind"] == "t"
        assert EXEC_ID.match(trade["exec_id"])
        assert trade["order_id"] == oid
    assert trades[0]["fees"] == [{"asset": "USD", "qty": fee1}]
    assert trades[1]["cost"] == cost2
    assert trades[1]["cum_qty"] == D("0.8")
    assert trades[1]["cum_cost"] == cost1 + cost2
    assert [t["trade_id"] for t in trades] == [t[4] for t in book.trades]
    filled = executions(events)[-1]
    assert filled["order_status"] == "filled"
    assert filled["cum_qty"] == D("0.8")
    assert filled["avg_price"] == ((cost1 + cost2) / D("0.8")).quantize(D("0.1"), ROUND_HALF_EVEN)
    assert filled["fee_usd_equiv"] == fee1 + fee2

    balances = engine.balances("alice")
    assert balances["USD"] == D("100000") - cost1 - cost2 - fee1 - fee2
    assert balances["BTC"] == D("1.8")
    entries = ledger(events)
    assert [(e["asset"], e["amount"], e["fee"]) for e in entries] == [
        ("BTC", D("0.5"), 0),
        ("USD", -cost1, fee1),
        ("BTC", D("0.3"), 0),
        ("USD", -cost2, fee2),
    ]
    assert entries[-1]["balance"] == balances["USD"]
    assert entries[-2]["balance"] == balances["BTC"]
    for entry, trade in zip(entries, [trades[0], trades[0], trades[1], trades[1]], strict=True):
        assert entry["ref_id"] == trade["exec_id"]
        assert entry["type"] == entry["category"] == "trade"
        assert entry["wallet_type"] == "spot"
        assert entry["wallet_id"] == "main"
        assert entry["asset_class"] == "currency"
    # The liquidity really left the book.
    assert book.opposite_levels("BTC/USD", "buy")[0] == (D("65010.0"), D("0.7"))
    assert engine.open_orders("alice") == []


def test_limit_sell_crosses_then_rests(engine: Engine) -> None:
    oid = add(engine, limit("sell", "1", "64985.0"))
    events = engine.drain()
    execs = executions(events)
    assert [e["exec_type"] for e in execs] == ["pending_new", "new", "trade"]
    assert (execs[-1]["last_price"], execs[-1]["last_qty"]) == (D("64990.0"), D("0.5"))
    assert execs[-1]["order_status"] == "partially_filled"
    assert engine.resting("BTC/USD") == [("sell", D("64985.0"), D("0.5"), oid)]
    cost = D("0.5") * D("64990.0")
    assert engine.balances("alice") == {
        "USD": D(100000) + cost - fee(cost, TAKER_FEE),
        "BTC": D("0.5"),
        "ETH": D(10),
    }
    # The resting half still holds its BTC.
    assert err(engine.request("alice", "add_order", limit("sell", "0.5", "66000.0"), T0)) == (
        "EOrder:Insufficient funds"
    )


def test_partial_cross_then_rest_and_maker_fill_on_market_move(engine: Engine, book: Book) -> None:
    oid = add(engine, limit("buy", "1", "65005.0"))
    events = engine.drain()
    assert kinds(events)[-1] == "balances:USD"  # one trade of 0.5 at 65000.0, rest is resting
    assert engine.resting("BTC/USD") == [("buy", D("65005.0"), D("0.5"), oid)]
    # The market moves: a seller comes down to 65002.0, crossing our bid.
    book.level("BTC/USD", "sell", "65002.0", "0.2")
    engine.on_market("BTC/USD", T0 + 1)
    events = engine.drain()
    [trade] = [e for e in executions(events) if e["exec_type"] == "trade"]
    assert trade["liquidity_ind"] == "m"
    assert trade["last_price"] == D("65002.0")
    assert trade["last_qty"] == D("0.2")
    assert trade["cum_qty"] == D("0.7")
    maker_fee = fee(D("0.2") * D("65002.0"), MAKER_FEE)
    assert trade["fees"] == [{"asset": "USD", "qty": maker_fee}]
    assert engine.resting("BTC/USD") == [("buy", D("65005.0"), D("0.3"), oid)]
    assert book.trades[-1][:4] == ("BTC/USD", "buy", D("65002.0"), D("0.2"))


def test_trade_through_fills_resting_order_at_its_limit(engine: Engine, book: Book) -> None:
    oid = add(engine, limit("sell", "0.2", "65100.0"))
    engine.drain()
    engine.on_market("BTC/USD", T0 + 1)  # nothing moved
    assert engine.drain() == []
    book.print_trade("BTC/USD", "65100.0")  # a print at our price is not through it
    engine.on_market("BTC/USD", T0 + 2)
    assert engine.drain() == []
    book.print_trade("BTC/USD", "65120.0")
    engine.on_market("BTC/USD", T0 + 3)
    events = executions(engine.drain())
    assert [e["exec_type"] for e in events] == ["trade", "filled"]
    assert events[0]["last_price"] == D("65100.0")
    assert events[0]["liquidity_ind"] == "m"
    assert events[1]["order_id"] == oid


def test_ioc_remainder_is_canceled(engine: Engine) -> None:
    add(engine, limit("buy", "1", "65000.0", time_in_force="ioc"))
    events = executions(engine.drain())
    assert [e["exec_type"] for e in events] == ["pending_new", "new", "trade", "canceled"]
    assert events[0]["time_in_force"] == "IOC"
    assert events[-1]["cum_qty"] == D("0.5")
    assert events[-1]["reason"] == "Immediate or cancel"
    assert engine.open_orders("alice") == []


def test_post_only(engine: Engine) -> None:
    add(engine, limit("buy", "0.1", "65000.0", post_only=True))
    events = executions(engine.drain())
    assert [e["exec_type"] for e in events] == ["pending_new", "canceled"]
    assert events[1]["reason"] == "Post only order"
    assert events[1]["order_status"] == "canceled"
    oid = add(engine, limit("buy", "0.1", "64999.9", post_only=True))
    assert [e["exec_type"] for e in executions(engine.drain())] == ["pending_new", "new"]
    assert engine.resting("BTC/USD")[0][3] == oid
    error = err(
        engine.request(
            "alice",
            "add_order",
            {
                "order_type": "market",
                "side": "buy",
                "order_qty": D("0.1"),
                "symbol": "BTC/USD",
                "post_only": True,
            },
            T0,
        )
    )
    assert error == (
        "EGeneral:Invalid arguments:post_only order option is only available when ordertype = limit"
    )


def test_gtd_expires_on_time(engine: Engine) -> None:
    expire = rfc3339(T0 + 30)
    oid = add(engine, limit("buy", "0.1", "64000.0", time_in_force="gtd", expire_time=expire))
    pending = executions(engine.drain())[0]
    assert pending["time_in_force"] == "GTD"
    assert pending["expire_time"] == expire
    assert engine.next_deadman_expiry() == pytest.approx(T0 + 30)
    engine.on_time(T0 + 29)
    assert engine.drain() == []
    engine.on_time(T0 + 30)
    [expired] = executions(engine.drain())
    assert expired["exec_type"] == expired["order_status"] == "expired"
    assert expired["order_id"] == oid
    assert engine.open_orders("alice") == []
    assert engine.next_deadman_expiry() is None
    assert "expire_time is required" in err(
        engine.request(
            "alice", "add_order", limit("buy", "0.1", "64000.0", time_in_force="gtd"), T0
        )
    )
    assert "in the past" in err(
        engine.request(
            "alice",
            "add_order",
            limit("buy", "0.1", "64000.0", time_in_force="gtd", expire_time=rfc3339(T0 - 1)),
            T0,
        )
    )


def test_iceberg(engine: Engine, book: Book) -> None:
    params = {**limit("sell", "0.9", "65100.0"), "order_type": "iceberg", "display_qty": D("0.05")}
    assert err(engine.request("alice", "add_order", params, T0)) == (
        "EGeneral:Invalid arguments:display_qty must be at least 1/15 of order_qty"
    )
    oid = add(engine, {**params, "display_qty": D("0.1")})
    pending = executions(engine.drain())[0]
    assert pending["order_type"] == "iceberg"
    assert pending["display_qty"] == D("0.1")
    assert engine.resting("BTC/USD") == [("sell", D("65100.0"), D("0.1"), oid)]
    book.level("BTC/USD", "buy", "65100.0", "0.1")
    engine.on_market("BTC/USD", T0 + 1)
    events = executions(engine.drain())
    assert [e["exec_type"] for e in events] == ["trade", "iceberg_refill"]
    assert engine.resting("BTC/USD") == [("sell", D("65100.0"), D("0.1"), oid)]
    assert "display_qty is only available" in err(
        engine.request("alice", "add_order", limit("buy", "1", "1.0", display_qty=D("0.1")), T0)
    )


def test_cash_order_qty_market_buy(engine: Engine) -> None:
    params = {
        "order_type": "market",
        "side": "buy",
        "cash_order_qty": D("40000"),
        "symbol": "BTC/USD",
    }
    oid = add(engine, params)
    events = engine.drain()
    execs = executions(events)
    assert execs[0]["cash_order_qty"] == D("40000")
    assert "order_qty" not in execs[0]
    trades = [e for e in execs if e["exec_type"] == "trade"]
    q2 = ((D(40000) - D("32500")) / D("65010.0")).quantize(D("0.00000001"), "ROUND_DOWN")
    assert [t["last_qty"] for t in trades] == [D("0.5"), q2]
    assert execs[-1]["exec_type"] == "filled"
    assert execs[-1]["order_id"] == oid
    spent = sum((t["cost"] for t in trades), D(0))
    assert D(40000) - spent < D("65010.0") * D("0.00000001")
    fees = sum((t["fees"][0]["qty"] for t in trades), D(0))
    assert engine.balances("alice")["USD"] == D(100000) - spent - fees
    for bad in (
        {**params, "side": "sell"},
        {**params, "order_type": "limit", "limit_price": D("1.0")},
    ):
        assert "cash_order_qty is only available for market buy orders" in err(
            engine.request("alice", "add_order", bad, T0)
        )
    assert err(engine.request("alice", "add_order", {**params, "cash_order_qty": "5"}, T0)) == (
        "Cash_order_qty field must be a number_float"
    )


def test_fee_preference_base(engine: Engine) -> None:
    add(
        engine,
        {
            "order_type": "market",
            "side": "buy",
            "order_qty": D("0.5"),
            "symbol": "BTC/USD",
            "fee_preference": "base",
        },
    )
    events = engine.drain()
    [trade] = [e for e in executions(events) if e["exec_type"] == "trade"]
    base_fee = (D("0.5") * TAKER_FEE).quantize(D("0.00000001"), ROUND_UP)
    assert trade["fees"] == [{"asset": "BTC", "qty": base_fee}]
    assert executions(events)[0]["fee_ccy_pref"] == "fcib"
    assert engine.balances("alice")["BTC"] == D("1.5") - base_fee
    assert engine.balances("alice")["USD"] == D(100000) - D("32500")
    btc_leg = ledger(events)[0]
    assert (btc_leg["amount"], btc_leg["fee"]) == (D("0.5"), base_fee)


def test_non_usd_quote_balances_and_fee_usd_equiv(engine: Engine, book: Book) -> None:
    add(engine, {"order_type": "market", "side": "sell", "order_qty": D("2"), "symbol": "ETH/BTC"})
    events = engine.drain()
    [trade] = [e for e in executions(events) if e["exec_type"] == "trade"]
    cost = D("2") * D("0.048990")
    btc_fee = fee(cost, TAKER_FEE, 10)
    assert trade["fees"] == [{"asset": "BTC", "qty": btc_fee}]
    assert trade["fee_usd_equiv"] == (btc_fee * D("64995.0")).quantize(D("0.0001"))
    assert engine.balances("alice")["BTC"] == D(1) + cost - btc_fee
    assert engine.balances("alice")["ETH"] == D(8)


# --------------------------------------------------------------------------------------
# triggered orders


def stop(
    order_type: str,
    side: str,
    price: str,
    price_type: str = "static",
    qty: str = "0.1",
    **more: Any,
) -> dict[str, Any]:
    return {
        "order_type": order_type,
        "side": side,
        "order_qty": D(qty),
        "symbol": "BTC/USD",
        "triggers": {"reference": "last", "price": D(price), "price_type": price_type},
        **more,
    }


def test_stop_loss_triggers_on_a_falling_market(engine: Engine, book: Book) -> None:
    oid = add(engine, stop("stop-loss", "sell", "64900.0"))
    events = executions(engine.drain())
    assert [e["exec_type"] for e in events] == ["pending_new", "new"]
    assert events[0]["triggers"]["status"] == "untriggered"
    assert events[0]["triggers"]["price"] == D("64900.0")
    assert engine.resting("BTC/USD") == []
    book.print_trade("BTC/USD", "64950.0")
    engine.on_market("BTC/USD", T0 + 1)
    assert engine.drain() == []
    book.print_trade("BTC/USD", "64900.0")
    engine.on_market("BTC/USD", T0 + 2)
    events = executions(engine.drain())
    assert [e["exec_type"] for e in events] == ["status", "trade", "filled"]
    assert events[0]["order_status"] == "triggered"
    assert events[0]["triggers"]["status"] == "triggered"
    assert events[0]["triggers"]["last_price"] == D("64900.0")
    assert events[1]["last_price"] == D("64990.0")  # sold into the best bid
    assert events[2]["order_id"] == oid


def test_stop_loss_limit_rests_at_its_limit_after_triggering(engine: Engine, book: Book) -> None:
    oid = add(engine, stop("stop-loss-limit", "buy", "65050.0", limit_price=D("65060.0")))
    engine.drain()
    book.print_trade("BTC/USD", "65050.0")
    for price in ("65000.0", "65010.0", "65020.0"):
        book.level("BTC/USD", "sell", price, "0")
    engine.on_market("BTC/USD", T0 + 1)
    events = executions(engine.drain())
    assert [e["exec_type"] for e in events] == ["status"]
    assert engine.resting("BTC/USD") == [("buy", D("65060.0"), D("0.1"), oid)]


def test_take_profit_and_pct_trigger(engine: Engine, book: Book) -> None:
    # take-profit sell at +0.1 % of the last price 64995.0 -> 65060.0 (tick-rounded)
    add(engine, stop("take-profit", "sell", "0.1", "pct"))
    pending = executions(engine.drain())[0]
    assert pending["triggers"]["actual_price"] == D("65060.0")
    book.print_trade("BTC/USD", "65059.9")
    engine.on_market("BTC/USD", T0 + 1)
    assert engine.drain() == []
    book.print_trade("BTC/USD", "65060.0")
    engine.on_market("BTC/USD", T0 + 2)
    assert [e["exec_type"] for e in executions(engine.drain())] == ["status", "trade", "filled"]


def test_take_profit_limit_with_quote_offset_limit(engine: Engine, book: Book) -> None:
    add(
        engine,
        stop(
            "take-profit-limit", "buy", "64950.0", limit_price=D("-5.0"), limit_price_type="quote"
        ),
    )
    engine.drain()
    book.print_trade("BTC/USD", "64950.0")
    engine.on_market("BTC/USD", T0 + 1)
    engine.drain()
    assert engine.resting("BTC/USD")[0][:2] == ("buy", D("64945.0"))


def test_trailing_stop_follows_the_peak(engine: Engine, book: Book) -> None:
    add(engine, stop("trailing-stop", "sell", "50.0", "quote"))
    engine.drain()
    for price in ("65100.0", "65200.0", "65160.0"):
        book.print_trade("BTC/USD", price)
        engine.on_market("BTC/USD", T0 + 1)
    assert engine.drain() == []  # peak 65200.0, trigger 65150.0 not reached
    [view] = engine.open_orders("alice")
    assert view["triggers"]["peak_price"] == D("65200.0")
    assert view["triggers"]["actual_price"] == D("65150.0")
    book.print_trade("BTC/USD", "65150.0")
    engine.on_market("BTC/USD", T0 + 2)
    assert [e["exec_type"] for e in executions(engine.drain())] == ["status", "trade", "filled"]


def test_trailing_stop_limit_and_static_trailing_rejected(engine: Engine, book: Book) -> None:
    assert err(
        engine.request("alice", "add_order", stop("trailing-stop", "sell", "65000.0"), T0)
    ) == (
        "EGeneral:Invalid arguments:trailing stop orders need a relative trigger"
        " (price_type pct or quote)"
    )
    add(engine, stop("trailing-stop-limit", "buy", "1", "pct", limit_price=D("10.0")))
    engine.drain()
    book.print_trade("BTC/USD", "64000.0")  # trough
    engine.on_market("BTC/USD", T0 + 1)
    book.print_trade("BTC/USD", "64640.0")  # trough + 1 %
    engine.on_market("BTC/USD", T0 + 2)
    events = executions(engine.drain())
    assert events[0]["exec_type"] == "status"
    assert events[0]["triggers"]["actual_price"] == D("64640.0")
    assert engine.resting("BTC/USD")[0][:2] == ("buy", D("64650.0"))  # quote offset default


def test_trigger_validation(engine: Engine) -> None:
    def e(params: dict[str, Any]) -> str:
        return err(engine.request("alice", "add_order", params, T0))

    assert e({**stop("stop-loss", "sell", "1"), "triggers": None}) == (
        "EGeneral:Invalid arguments:triggers are required for order_type stop-loss"
    )
    assert e(stop("stop-loss", "sell", "64900.05")) == "EOrder:Tick size check failed"
    assert e(
        {**stop("stop-loss", "sell", "1"), "triggers": {"reference": "index", "price": D(64000)}}
    ) == (
        "EGeneral:Invalid arguments:triggers reference index is not supported by the fake exchange"
    )
    assert e({**limit("buy", "0.1", "1.0"), "triggers": {"price": D(1)}}) == (
        "EGeneral:Invalid arguments:triggers are not allowed for order_type limit"
    )
    assert e({**stop("stop-loss", "sell", "1"), "triggers": {"price": "64000"}}) == (
        "Price field must be a number_float"
    )
    assert e(stop("stop-loss-limit", "sell", "64900.0")) == (
        "EGeneral:Invalid arguments:limit_price is required for order_type stop-loss-limit"
    )
    assert e(stop("stop-loss", "sell", "64900.0", limit_price=D("1.0"))) == (
        "EGeneral:Invalid arguments:limit_price is not allowed for order_type stop-loss"
    )


def test_untriggered_orders_hold_funds_and_triggered_orders_recheck(
    engine: Engine, book: Book
) -> None:
    engine.open_account("bob", {"USD": D("7000")})
    add(engine, stop("stop-loss", "buy", "65100.0"), account="bob")  # holds ~6536 USD
    assert err(engine.request("bob", "add_order", limit("buy", "0.01", "64000.0"), T0)) == (
        "EOrder:Insufficient funds"
    )
    engine.drain()
    # The book thins out above: when the stop fires the buy costs more than bob has.
    for price in ("65000.0", "65010.0", "65020.0"):
        book.level("BTC/USD", "sell", price, "0")
    book.level("BTC/USD", "sell", "90000.0", "1")
    book.print_trade("BTC/USD", "65100.0")
    engine.on_market("BTC/USD", T0 + 1)
    events = executions(engine.drain())
    assert [e["exec_type"] for e in events] == ["status", "canceled"]
    assert events[-1]["reason"] == "Insufficient funds"
    assert engine.balances("bob") == {"USD": D("7000")}


def test_conditional_close_is_placed_when_the_primary_fills(engine: Engine, book: Book) -> None:
    primary = add(
        engine,
        limit(
            "buy",
            "0.2",
            "65000.0",
            conditional={
                "order_type": "stop-loss-limit",
                "trigger_price": D("64000.0"),
                "limit_price": D("63900.0"),
            },
        ),
    )
    events = executions(engine.drain())
    assert events[0]["contingent"] == {
        "order_type": "stop-loss-limit",
        "trigger_price": D("64000.0"),
        "trigger_price_type": "static",
        "limit_price": D("63900.0"),
        "limit_price_type": "static",
    }
    kinds_ = [(e["order_id"], e["exec_type"]) for e in events]
    assert kinds_[:4] == [
        (primary, "pending_new"),
        (primary, "new"),
        (primary, "trade"),
        (primary, "filled"),
    ]
    close_pending = events[4]
    assert close_pending["exec_type"] == "pending_new"
    assert close_pending["side"] == "sell"
    assert close_pending["order_type"] == "stop-loss-limit"
    assert close_pending["order_qty"] == D("0.2")
    assert close_pending["triggers"]["price"] == D("64000.0")
    [close_view] = engine.open_orders("alice")
    assert close_view["order_id"] == close_pending["order_id"] != primary
    assert "conditional.limit_price is required" in err(
        engine.request(
            "alice",
            "add_order",
            limit("buy", "0.2", "60000.0", conditional={"order_type": "limit"}),
            T0,
        )
    )


# --------------------------------------------------------------------------------------
# validation


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"limit_price": D("64000.05")}, "EOrder:Tick size check failed"),
        ({"order_qty": D("0.00009")}, "EOrder:Order minimum not met"),
        ({"order_qty": D("0.0001"), "limit_price": D("1.0")}, "EOrder:Cost minimum not met"),
        ({"order_qty": D("10")}, "EOrder:Insufficient funds"),
        ({"symbol": "DOGE/EUR"}, "EQuery:Unknown asset pair"),
        ({"order_qty": "0.1"}, "Order_qty field must be a number_float"),
        ({"order_qty": True}, "Order_qty field must be a number_float"),
        ({"limit_price": "64000"}, "Limit_price field must be a number_float"),
        (
            {"no_mpp": True},
            "EGeneral:Invalid arguments:"
            "no_mpp order option is only available when ordertype = market",
        ),
        ({"price": D("1")}, "Unsupported field: 'price' for the given msg type: add order"),
        ({"deadline": rfc3339(T0 - 1)}, "EService:Deadline elapsed"),
        (
            {"deadline": rfc3339(T0 + 120)},
            "EGeneral:Invalid arguments:deadline must be at most 60 seconds in the future",
        ),
        (
            {"margin": True},
            "EGeneral:Invalid arguments:margin trading is not supported by the fake exchange",
        ),
        ({"reduce_only": True}, "EOrder:Reduce only:No position exists"),
        (
            {"effective_time": rfc3339(T0 + 10)},
            "EGeneral:Invalid arguments:effective_time is not supported by the fake exchange",
        ),
        (
            {"order_type": "settle-position"},
            "EGeneral:Invalid arguments:settle-position needs margin, which the fake exchange does"
            " not offer",
        ),
        (
            {"order_type": "fok"},
            "EGeneral:Invalid arguments:order_type must be one of limit,"
            " market, iceberg, stop-loss, stop-loss-limit, take-profit, take-profit-limit,"
            " trailing-stop, trailing-stop-limit, settle-position, got 'fok'",
        ),
        ({"side": "long"}, "EGeneral:Invalid arguments:side must be one of buy, sell, got 'long'"),
        (
            {"time_in_force": "fok"},
            "EGeneral:Invalid arguments:time_in_force must be one of gtc, gtd, ioc, got 'fok'",
        ),
        (
            {"order_qty": D("0.123456789")},
            "EGeneral:Invalid arguments:order_qty has more than 8 decimal places",
        ),
        ({"order_qty": None}, "EGeneral:Invalid arguments:order_qty is required"),
        (
            {"limit_price": None},
            "EGeneral:Invalid arguments:limit_price is required for order_type limit",
        ),
        (
            {"cl_ord_id": "x" * 19},
            "EGeneral:Invalid arguments:cl_ord_id must be a UUID or free text of at most 18"
            " characters",
        ),
        (
            {"cl_ord_id": "a", "order_userref": 1},
            "EGeneral:Invalid arguments:cl_ord_id and order_userref are mutually exclusive",
        ),
        ({"order_userref": "1"}, "Order_userref field must be a number_integer"),
        ({"post_only": "yes"}, "Post_only field must be a boolean"),
    ],
)
def test_add_order_validation(engine: Engine, change: dict[str, Any], error: str) -> None:
    params = {**limit("buy", "0.1", "64000.0"), **change}
    params = {k: v for k, v in params.items() if v is not None}
    assert err(engine.request("alice", "add_order", params, T0)) == error
    assert engine.open_orders("alice") == []
    assert engine.drain() == []


def test_uuid_cl_ord_id_accepted_and_duplicate_refused(engine: Engine) -> None:
    uuid = "2c6be801-1f53-4f79-a0bb-4ea1c95dfae9"
    add(engine, limit("buy", "0.1", "64000.0", cl_ord_id=uuid))
    assert "already used" in err(
        engine.request("alice", "add_order", limit("buy", "0.1", "64000.0", cl_ord_id=uuid), T0)
    )


def test_validate_only_places_nothing(engine: Engine) -> None:
    result = ok(
        engine.request(
            "alice", "add_order", limit("buy", "0.1", "64000.0", validate=True, order_userref=3), T0
        )
    )
    assert result == {"order_userref": 3}
    assert engine.open_orders("alice") == []
    assert engine.drain() == []
    assert err(
        engine.request("alice", "add_order", limit("buy", "10", "64000.0", validate=True), T0)
    ) == ("EOrder:Insufficient funds")


def test_funds_are_held_by_open_orders(engine: Engine) -> None:
    # 1.5 BTC at 64000.0 with the taker fee reserve is 96384 USD: fits once, not twice.
    add(engine, limit("buy", "1.5", "64000.0"))
    assert err(engine.request("alice", "add_order", limit("buy", "0.1", "64000.0"), T0)) == (
        "EOrder:Insufficient funds"
    )
    add(engine, limit("sell", "1", "66000.0"))
    assert err(engine.request("alice", "add_order", limit("sell", "0.1", "66000.0"), T0)) == (
        "EOrder:Insufficient funds"
    )


def test_unknown_method(engine: Engine) -> None:
    assert err(engine.request("alice", "withdraw", {}, T0)) == "Unsupported event"


def test_unknown_account_gets_default_balances(engine: Engine) -> None:
    assert engine.balances("carol") == START


# --------------------------------------------------------------------------------------
# amend_order / edit_order


def test_amend_order(engine: Engine, book: Book) -> None:
    oid = add(engine, limit("buy", "0.1", "64000.0", cl_ord_id="amend-me"))
    engine.drain()
    result = ok(
        engine.request(
            "alice",
            "amend_order",
            {"order_id": oid, "order_qty": D("0.2"), "limit_price": D("64500.0")},
            T0 + 20,
        )
    )
    assert set(result) == {"amend_id", "order_id"}
    assert result["order_id"] == oid
    assert EXEC_ID.match(result["amend_id"])
    [amended] = executions(engine.drain())
    assert amended["exec_type"] == "amended"
    assert amended["order_id"] == oid
    assert amended["cl_ord_id"] == "amend-me"
    assert amended["order_qty"] == D("0.2")
    assert amended["limit_price"] == D("64500.0")
    assert amended["amended"] is True
    assert engine.resting("BTC/USD") == [("buy", D("64500.0"), D("0.2"), oid)]
    # by cl_ord_id
    result = ok(
        engine.request(
            "alice", "amend_order", {"cl_ord_id": "amend-me", "order_qty": D("0.3")}, T0 + 21
        )
    )
    assert result["cl_ord_id"] == "amend-me"
    assert "order_id" not in result
    assert executions(engine.drain())[0]["order_qty"] == D("0.3")
    # post_only refuses a price that would take
    assert err(
        engine.request(
            "alice",
            "amend_order",
            {
                "order_id": oid,
                "order_qty": D("0.3"),
                "limit_price": D("65000.0"),
                "post_only": True,
            },
            T0 + 22,
        )
    ) == ("EOrder:Post only order")
    # without post_only the amended price takes
    ok(
        engine.request(
            "alice",
            "amend_order",
            {"order_id": oid, "order_qty": D("0.3"), "limit_price": D("65000.0")},
            T0 + 23,
        )
    )
    assert [e["exec_type"] for e in executions(engine.drain())] == ["amended", "trade", "filled"]


def test_amend_order_failures(engine: Engine) -> None:
    oid = add(engine, limit("buy", "0.1", "64000.0"))
    assert err(
        engine.request(
            "alice", "amend_order", {"order_id": "OAAAAA-BBBBB-CCCCCC", "order_qty": D(1)}, T0
        )
    ) == ("EOrder:Unknown order")
    assert err(
        engine.request("alice", "amend_order", {"order_id": oid, "limit_price": "1"}, T0)
    ) == ("Limit_price field must be a number_float")
    assert err(
        engine.request("alice", "amend_order", {"order_id": oid, "limit_price": D("64000.0")}, T0)
    ) == ("EGeneral:Invalid arguments:order_qty is required")
    assert err(
        engine.request(
            "alice",
            "amend_order",
            {"order_id": oid, "order_qty": D("0.1"), "limit_price": D("64000.01")},
            T0,
        )
    ) == ("EOrder:Tick size check failed")
    assert err(
        engine.request("alice", "amend_order", {"order_id": oid, "order_qty": D("5")}, T0)
    ) == ("EOrder:Insufficient funds")
    assert engine.resting("BTC/USD") == [("buy", D("64000.0"), D("0.1"), oid)]


def test_amend_below_filled_cancels_the_remainder(engine: Engine) -> None:
    oid = add(engine, limit("buy", "1", "65000.0"))  # 0.5 fills, 0.5 rests
    engine.drain()
    ok(engine.request("alice", "amend_order", {"order_id": oid, "order_qty": D("0.4")}, T0 + 60))
    events = executions(engine.drain())
    assert [e["exec_type"] for e in events] == ["amended", "canceled"]
    assert events[-1]["cum_qty"] == D("0.5")
    assert engine.open_orders("alice") == []


def test_amend_trigger_price(engine: Engine, book: Book) -> None:
    oid = add(engine, stop("stop-loss", "sell", "64000.0"))
    engine.drain()
    ok(
        engine.request(
            "alice",
            "amend_order",
            {"order_id": oid, "order_qty": D("0.1"), "trigger_price": D("64995.0")},
            T0 + 60,
        )
    )
    events = executions(engine.drain())
    assert [e["exec_type"] for e in events] == ["amended", "status", "trade", "filled"]


def test_edit_order(engine: Engine) -> None:
    oid = add(engine, limit("buy", "0.1", "64000.0", order_userref=9))
    engine.drain()
    result = ok(
        engine.request(
            "alice",
            "edit_order",
            {
                "order_id": oid,
                "symbol": "BTC/USD",
                "order_qty": D("0.3"),
                "limit_price": D("63000.0"),
            },
            T0 + 100,
        )
    )
    assert result["original_order_id"] == oid
    new = result["order_id"]
    assert ORDER_ID.match(new)
    assert new != oid
    events = executions(engine.drain())
    assert [(e["order_id"], e["exec_type"]) for e in events] == [
        (oid, "canceled"),
        (new, "pending_new"),
        (new, "new"),
    ]
    assert events[0]["reason"] == "Order replaced"
    assert events[1]["order_userref"] == 9
    assert events[1]["limit_price"] == D("63000.0")
    assert events[1]["order_qty"] == D("0.3")
    assert engine.resting("BTC/USD") == [("buy", D("63000.0"), D("0.3"), new)]
    assert err(
        engine.request(
            "alice",
            "edit_order",
            {"order_id": oid, "symbol": "BTC/USD", "order_qty": D("1")},
            T0 + 100,
        )
    ) == ("EOrder:Unknown order")
    assert err(
        engine.request(
            "alice",
            "edit_order",
            {"order_id": new, "symbol": "ETH/USD", "order_qty": D("1")},
            T0 + 100,
        )
    ) == ("EGeneral:Invalid arguments:symbol cannot be changed")
    assert (
        err(engine.request("alice", "edit_order", {"order_id": new, "order_qty": D("1")}, T0 + 100))
        == "EGeneral:Invalid arguments:symbol is required"
    )
    assert err(
        engine.request(
            "alice",
            "edit_order",
            {"order_id": new, "symbol": "BTC/USD", "cl_ord_id": "x"},
            T0 + 100,
        )
    ) == ("Unsupported field: 'cl_ord_id' for the given msg type: edit order")


def test_edit_order_refuses_qty_below_executed(engine: Engine) -> None:
    oid = add(engine, limit("buy", "1", "65000.0"))  # 0.5 executed
    engine.drain()
    assert err(
        engine.request(
            "alice",
            "edit_order",
            {"order_id": oid, "symbol": "BTC/USD", "order_qty": D("0.5")},
            T0 + 100,
        )
    ) == ("EGeneral:Invalid arguments:order_qty must exceed the executed quantity")


# --------------------------------------------------------------------------------------
# cancels


def test_cancel_order_one_reply_per_order(engine: Engine) -> None:
    a = add(engine, limit("buy", "0.1", "64000.0"))
    b = add(engine, limit("buy", "0.1", "63000.0", cl_ord_id="bee"))
    c = add(engine, limit("buy", "0.1", "62000.0", order_userref=42))
    d = add(engine, limit("buy", "0.1", "61000.0", order_userref=42))
    engine.drain()
    replies = engine.request(
        "alice",
        "cancel_order",
        {"order_id": [a, "OXXXXX-XXXXX-XXXXXX"], "cl_ord_id": ["bee"], "order_userref": [42]},
        T0 + 400,
    )
    assert [(r.success, r.result, r.error) for r in replies] == [
        (True, {"order_id": a}, None),
        (False, None, "EOrder:Unknown order"),
        (True, {"cl_ord_id": "bee"}, None),
        (True, {"order_id": c}, None),
        (True, {"order_id": d}, None),
    ]
    events = executions(engine.drain())
    assert [(e["order_id"], e["exec_type"], e["reason"]) for e in events] == [
        (x, "canceled", "User requested") for x in (a, b, c, d)
    ]
    assert events[0]["cancel_reason"] == "User requested"
    assert events[0]["order_status"] == "canceled"
    assert engine.open_orders("alice") == []
    assert err(engine.request("alice", "cancel_order", {}, T0)) == (
        "EGeneral:Invalid arguments:order_id, cl_ord_id or order_userref is required"
    )
    assert err(engine.request("alice", "cancel_order", {"order_id": a}, T0)) == (
        "EGeneral:Invalid arguments:order_id must be a list of strings"
    )


def test_orders_are_private_to_their_account(engine: Engine) -> None:
    oid = add(engine, limit("buy", "0.1", "64000.0"))
    assert err(engine.request("mallory", "cancel_order", {"order_id": [oid]}, T0)) == (
        "EOrder:Unknown order"
    )
    assert len(engine.open_orders("alice")) == 1


def test_cancel_all_includes_untriggered(engine: Engine) -> None:
    add(engine, limit("buy", "0.1", "64000.0"))
    add(engine, stop("stop-loss", "sell", "60000.0"))
    engine.drain()
    assert ok(engine.request("alice", "cancel_all", {}, T0)) == {"count": 2}
    assert [e["exec_type"] for e in executions(engine.drain())] == ["canceled", "canceled"]
    assert ok(engine.request("alice", "cancel_all", {}, T0)) == {"count": 0}


def test_batch_cancel_live_shape(engine: Engine) -> None:
    a = add(engine, limit("buy", "0.1", "64000.0"))
    add(engine, limit("buy", "0.1", "63000.0", order_userref=5))
    add(engine, limit("buy", "0.1", "62000.0", cl_ord_id="x1"))
    keep = add(engine, limit("buy", "0.1", "61000.0"))
    engine.drain()
    [reply] = engine.request(
        "alice", "batch_cancel", {"orders": [a, "5"], "cl_ord_id": ["x1"]}, T0 + 400
    )
    assert reply.success
    assert reply.result is None
    assert reply.extra == {"orders_cancelled": 3}
    assert len(executions(engine.drain())) == 3
    assert [o["order_id"] for o in engine.open_orders("alice")] == [keep]
    assert err(engine.request("alice", "batch_cancel", {"orders": [keep]}, T0)) == (
        "EGeneral:Invalid arguments:batch_cancel needs between 2 and 50 orders"
    )
    assert err(engine.request("alice", "batch_cancel", {"orders": ["OA", "OB"]}, T0)) == (
        "EOrder:Unknown order"
    )


# --------------------------------------------------------------------------------------
# dead man's switch


def test_dead_mans_switch_cancels_at_expiry(engine: Engine) -> None:
    add(engine, limit("buy", "0.1", "64000.0"))
    add(engine, stop("stop-loss", "sell", "60000.0"))
    engine.drain()
    now = T0 + 0.75
    assert ok(engine.request("alice", "cancel_all_orders_after", {"timeout": 60}, now)) == {
        "currentTime": "2023-11-14T22:13:20Z",
        "triggerTime": "2023-11-14T22:14:20Z",
    }
    assert engine.next_deadman_expiry() == now + 60
    engine.on_time(now + 59.9)
    assert engine.drain() == []
    engine.on_time(now + 60)
    events = executions(engine.drain())
    assert [(e["exec_type"], e["reason"]) for e in events] == [
        ("canceled", "Dead man's switch")
    ] * 2
    assert engine.open_orders("alice") == []
    assert engine.next_deadman_expiry() is None  # disabled until the next call
    add(engine, limit("buy", "0.1", "64000.0"))
    engine.on_time(now + 1000)
    assert len(engine.open_orders("alice")) == 1


def test_dead_mans_switch_timeout_zero_disables(engine: Engine) -> None:
    add(engine, limit("buy", "0.1", "64000.0"))
    ok(engine.request("alice", "cancel_all_orders_after", {"timeout": 10}, T0))
    assert ok(engine.request("alice", "cancel_all_orders_after", {"timeout": 0}, T0 + 5)) == {
        "currentTime": "2023-11-14T22:13:25Z",
        "triggerTime": "0",
    }
    assert engine.next_deadman_expiry() is None
    engine.on_time(T0 + 100)
    assert len(engine.open_orders("alice")) == 1
    assert err(engine.request("alice", "cancel_all_orders_after", {"timeout": 86400}, T0)) == (
        "EGeneral:Invalid arguments:timeout must be between 0 and 86399 seconds"
    )
    assert err(engine.request("alice", "cancel_all_orders_after", {"timeout": D("1.5")}, T0)) == (
        "Timeout field must be a number_integer"
    )


def test_dead_mans_switch_is_per_account(engine: Engine) -> None:
    add(engine, limit("buy", "0.1", "64000.0"))
    add(engine, limit("buy", "0.1", "64000.0"), account="bob")
    ok(engine.request("bob", "cancel_all_orders_after", {"timeout": 5}, T0))
    engine.on_time(T0 + 5)
    assert len(engine.open_orders("alice")) == 1
    assert engine.open_orders("bob") == []
    assert {e.account for e in engine.drain() if e.data[0]["exec_type"] == "canceled"} == {"bob"}


# --------------------------------------------------------------------------------------
# batch_add


def test_batch_add_list_result_in_request_order(engine: Engine) -> None:
    params = {
        "symbol": "BTC/USD",
        "orders": [
            {
                "order_type": "limit",
                "side": "buy",
                "order_qty": D("0.1"),
                "limit_price": D("64000.0"),
                "order_userref": 1,
            },
            {
                "order_type": "limit",
                "side": "sell",
                "order_qty": D("0.1"),
                "limit_price": D("66000.0"),
                "cl_ord_id": "two",
            },
            {"order_type": "market", "side": "buy", "order_qty": D("0.1")},
        ],
    }
    result = ok(engine.request("alice", "batch_add", params, T0))
    assert isinstance(result, list)
    assert len(result) == 3
    assert result[0]["order_userref"] == 1
    assert result[1]["cl_ord_id"] == "two"
    assert all(ORDER_ID.match(r["order_id"]) for r in result)
    events = executions(engine.drain())
    assert [e["order_id"] for e in events if e["exec_type"] == "pending_new"] == [
        r["order_id"] for r in result
    ]
    assert len(engine.open_orders("alice")) == 2


def test_batch_add_rejected_as_a_whole_on_validation_failure(engine: Engine) -> None:
    good = {
        "order_type": "limit",
        "side": "buy",
        "order_qty": D("0.1"),
        "limit_price": D("64000.0"),
    }
    bad = {**good, "limit_price": D("64000.05")}
    assert err(
        engine.request("alice", "batch_add", {"symbol": "BTC/USD", "orders": [good, bad]}, T0)
    ) == ("EOrder:Tick size check failed")
    assert engine.open_orders("alice") == []
    assert engine.drain() == []
    assert err(
        engine.request("alice", "batch_add", {"symbol": "BTC/USD", "orders": [good]}, T0)
    ) == ("EGeneral:Invalid arguments:batch_add needs between 2 and 15 orders")
    assert "between 2 and 15" in err(
        engine.request("alice", "batch_add", {"symbol": "BTC/USD", "orders": [good] * 16}, T0)
    )
    assert err(
        engine.request(
            "alice",
            "batch_add",
            {"symbol": "BTC/USD", "orders": [good, {**good, "symbol": "x"}]},
            T0,
        )
    ) == ("Unsupported field: 'symbol' for the given msg type: batch add")
    assert err(
        engine.request("alice", "batch_add", {"symbol": "NOPE/USD", "orders": [good, good]}, T0)
    ) == ("EQuery:Unknown asset pair")


def test_batch_add_funds_failure_rejects_only_that_order(engine: Engine) -> None:
    small = {
        "order_type": "limit",
        "side": "buy",
        "order_qty": D("0.1"),
        "limit_price": D("64000.0"),
    }
    big = {**small, "order_qty": D("5"), "order_userref": 2}
    result = ok(
        engine.request(
            "alice", "batch_add", {"symbol": "BTC/USD", "orders": [small, big, small]}, T0
        )
    )
    assert "order_id" in result[0]
    assert "order_id" in result[2]
    assert result[1] == {"error": "EOrder:Insufficient funds", "order_userref": 2}
    assert len(engine.open_orders("alice")) == 2


# --------------------------------------------------------------------------------------
# rate counter


def test_rate_limit_threshold_and_decay(book: Book) -> None:
    eng = Engine(book, default_balances=START, max_rate_count=5, rate_decay=1.0)
    for _ in range(5):
        add(eng, limit("buy", "0.01", "60000.0"), now=T0)
    assert err(eng.request("alice", "add_order", limit("buy", "0.01", "60000.0"), T0)) == (
        "EOrder:Rate limit exceeded"
    )
    assert eng.rate_count("alice", "BTC/USD", T0) == 5
    # per pair: ETH/BTC is untouched
    add(
        eng,
        {
            "order_type": "limit",
            "side": "buy",
            "order_qty": D("0.01"),
            "limit_price": D("0.040000"),
            "symbol": "ETH/BTC",
        },
        now=T0,
    )
    # one second of decay makes room for exactly one more
    add(eng, limit("buy", "0.01", "60000.0"), now=T0 + 1)
    assert err(eng.request("alice", "add_order", limit("buy", "0.01", "60000.0"), T0 + 1)) == (
        "EOrder:Rate limit exceeded"
    )


def test_rate_counter_costs_follow_order_age(book: Book) -> None:
    eng = Engine(book, default_balances=START, max_rate_count=100, rate_decay=0.0)
    oid = add(eng, limit("buy", "0.01", "60000.0"), now=T0)  # +1
    ok(eng.request("alice", "amend_order", {"order_id": oid, "order_qty": D("0.02")}, T0 + 1))
    assert eng.rate_count("alice", "BTC/USD", T0 + 1) == 1 + 1 + 3  # amend < 5 s
    ok(eng.request("alice", "amend_order", {"order_id": oid, "order_qty": D("0.03")}, T0 + 8))
    assert eng.rate_count("alice", "BTC/USD", T0 + 8) == 5 + 1 + 2  # 7 s since last amend
    replies = eng.request("alice", "cancel_order", {"order_id": [oid]}, T0 + 28)
    assert replies[0].success
    assert eng.rate_count("alice", "BTC/USD", T0 + 28) == 8 + 4  # 20 s old: +4
    old = add(eng, limit("buy", "0.01", "60000.0"), now=T0)
    eng.request("alice", "cancel_order", {"order_id": [old]}, T0 + 400)
    assert eng.rate_count("alice", "BTC/USD", T0 + 400) == 13  # 400 s: free
    failing = eng.request("alice", "add_order", limit("buy", "0.01", "60000.05"), T0 + 400)
    assert failing[0].error == "EOrder:Tick size check failed"
    assert eng.rate_count("alice", "BTC/USD", T0 + 400) == 14  # fixed cost even on failure


def test_cancel_refused_when_over_the_limit(book: Book) -> None:
    eng = Engine(book, default_balances=START, max_rate_count=4, rate_decay=0.0)
    oid = add(eng, limit("buy", "0.01", "60000.0"), now=T0)
    assert err(eng.request("alice", "cancel_order", {"order_id": [oid]}, T0 + 1)) == (
        "EOrder:Rate limit exceeded"
    )
    assert len(eng.open_orders("alice")) == 1
    assert eng.max_rate_count == 4


# --------------------------------------------------------------------------------------
# snapshots


def test_snapshots(engine: Engine) -> None:
    [usd, btc, eth] = engine.balances_snapshot("alice")
    assert usd == {
        "asset": "USD",
        "asset_class": "currency",
        "balance": D("100000.00000"),
        "wallets": [{"type": "spot", "id": "main", "balance": D("100000.00000")}],
    }
    assert btc["asset"] == "BTC"
    assert btc["balance"] == D("1")
    assert "E" not in str(eth["balance"])
    add(engine, {"order_type": "market", "side": "buy", "order_qty": D("0.1"), "symbol": "BTC/USD"})
    oid = add(engine, limit("buy", "0.1", "64000.0"))
    snap = engine.executions_snapshot("alice", snap_trades=True)
    assert [s["exec_type"] for s in snap] == ["trade", "new"]
    assert snap[1]["order_id"] == oid
    assert engine.executions_snapshot("alice", snap_orders=False) == []
    assert engine.balances_snapshot("alice")[0]["balance"] == engine.balances("alice")["USD"]


def test_reentrant_on_market_is_queued(book: Book) -> None:
    class Reentrant(Book):
        engine: Engine

        def take(self, symbol: str, side: Side, price: Decimal, qty: Decimal, now: float) -> int:
            trade_id = super().take(symbol, side, price, qty, now)
            self.engine.on_market(symbol, now)
            return trade_id

    market = Reentrant()
    market.asks = book.asks
    market.bids = book.bids
    market.last = book.last
    eng = Engine(market, default_balances=START)
    market.engine = eng
    add(eng, limit("sell", "0.1", "65100.0"))
    add(eng, {"order_type": "market", "side": "buy", "order_qty": D("0.8"), "symbol": "BTC/USD"})
    assert [e["exec_type"] for e in executions(eng.drain())][-1] == "filled"


# --------------------------------------------------------------------------------------
# more shapes


def test_integer_and_float_inputs_are_normalised(engine: Engine) -> None:
    oid = add(
        engine,
        {
            "order_type": "limit",
            "side": "buy",
            "order_qty": 1,
            "limit_price": 60000,
            "symbol": "BTC/USD",
        },
    )
    [(side, price, qty, found)] = engine.resting("BTC/USD")
    assert (side, found) == ("buy", oid)
    assert str(price) == "60000.0"
    assert str(qty) == "1.00000000"
    pending = executions(engine.drain())[0]
    assert str(pending["order_qty"]) == "1.00000000"
    assert str(pending["limit_price"]) == "60000.0"
    add(engine, limit("buy", "0.1", "60000.0", order_qty=0.25))
    assert engine.resting("BTC/USD")[1][2] == D("0.25")


def test_sell_ledger_legs(engine: Engine) -> None:
    add(
        engine,
        {"order_type": "market", "side": "sell", "order_qty": D("0.25"), "symbol": "BTC/USD"},
    )
    events = engine.drain()
    cost = D("0.25") * D("64990.0")
    usd_fee = fee(cost, TAKER_FEE)
    btc, usd = ledger(events)
    assert (btc["asset"], btc["amount"], btc["fee"], btc["balance"]) == (
        "BTC",
        D("-0.25"),
        0,
        D("0.75"),
    )
    assert (usd["asset"], usd["amount"], usd["fee"]) == ("USD", cost, usd_fee)
    assert usd["balance"] == D(100000) + cost - usd_fee
    assert engine.balances("alice")["USD"] == usd["balance"]
    assert "E" not in str(btc["amount"])


def test_batch_add_validate_places_nothing(engine: Engine) -> None:
    order = {
        "order_type": "limit",
        "side": "buy",
        "order_qty": D("0.1"),
        "limit_price": D("64000.0"),
    }
    result = ok(
        engine.request(
            "alice",
            "batch_add",
            {
                "symbol": "BTC/USD",
                "orders": [order, {**order, "order_userref": 4}],
                "validate": True,
            },
            T0,
        )
    )
    assert result == [{}, {"order_userref": 4}]
    assert engine.open_orders("alice") == []
    assert engine.drain() == []
    assert err(
        engine.request(
            "alice",
            "batch_add",
            {"symbol": "BTC/USD", "orders": [order, order], "deadline": rfc3339(T0 - 0.1)},
            T0,
        )
    ) == ("EService:Deadline elapsed")
    assert engine.open_orders("alice") == []


def test_edit_order_validate_and_triggers(engine: Engine, book: Book) -> None:
    oid = add(engine, stop("stop-loss", "sell", "60000.0"))
    engine.drain()
    result = ok(
        engine.request(
            "alice",
            "edit_order",
            {"order_id": oid, "symbol": "BTC/USD", "order_qty": D("0.2"), "validate": True},
            T0 + 100,
        )
    )
    assert result == {"original_order_id": oid}
    assert engine.drain() == []
    result = ok(
        engine.request(
            "alice",
            "edit_order",
            {
                "order_id": oid,
                "symbol": "BTC/USD",
                "triggers": {"price": D("64000.0"), "price_type": "static"},
            },
            T0 + 100,
        )
    )
    [view] = engine.open_orders("alice")
    assert view["order_id"] == result["order_id"]
    assert view["triggers"]["price"] == D("64000.0")
    assert view["order_qty"] == D("0.1")
    book.print_trade("BTC/USD", "63999.9")
    engine.on_market("BTC/USD", T0 + 101)
    kinds_ = [e["exec_type"] for e in executions(engine.drain())]
    assert kinds_ == ["canceled", "pending_new", "new", "status", "trade", "filled"]


def test_trailing_stop_pct(engine: Engine, book: Book) -> None:
    add(engine, stop("trailing-stop", "sell", "1", "pct"))
    engine.drain()
    book.print_trade("BTC/USD", "70000.0")
    engine.on_market("BTC/USD", T0 + 1)
    book.print_trade("BTC/USD", "69300.1")  # 1 % below the peak is 69300.0
    engine.on_market("BTC/USD", T0 + 2)
    assert engine.drain() == []
    book.print_trade("BTC/USD", "69300.0")
    engine.on_market("BTC/USD", T0 + 3)
    events = executions(engine.drain())
    assert events[0]["triggers"]["actual_price"] == D("69300.0")
    assert events[0]["triggers"]["peak_price"] == D("70000.0")


def test_gtd_expire_time_bounds(engine: Engine) -> None:
    far = rfc3339(T0 + 40 * 86400)
    params = limit("buy", "0.1", "64000.0", time_in_force="gtd", expire_time=far)
    assert err(engine.request("alice", "add_order", params, T0)) == (
        "EGeneral:Invalid arguments:expire_time is more than one month ahead"
    )
    params = limit("buy", "0.1", "64000.0", expire_time=rfc3339(T0 + 60))
    assert err(engine.request("alice", "add_order", params, T0)) == (
        "EGeneral:Invalid arguments:expire_time is only available when time_in_force = gtd"
    )
    params = limit("buy", "0.1", "64000.0", time_in_force="gtd", expire_time="tomorrow")
    assert err(engine.request("alice", "add_order", params, T0)) == (
        "EGeneral:Invalid arguments:expire_time must be an RFC3339 timestamp, got 'tomorrow'"
    )


def test_deadline_in_the_window_is_accepted(engine: Engine) -> None:
    add(engine, limit("buy", "0.1", "64000.0", deadline=rfc3339(T0 + 5)))
    assert len(engine.open_orders("alice")) == 1


def test_cancel_by_unknown_userref(engine: Engine) -> None:
    assert err(engine.request("alice", "cancel_order", {"order_userref": [77]}, T0)) == (
        "EOrder:Unknown order"
    )


def test_snapshot_keeps_the_last_50_trades(engine: Engine, book: Book) -> None:
    book.level("BTC/USD", "sell", "65000.0", "10")
    for _ in range(55):
        add(
            engine,
            {"order_type": "market", "side": "buy", "order_qty": D("0.001"), "symbol": "BTC/USD"},
        )
    trades = engine.executions_snapshot("alice", snap_orders=False, snap_trades=True)
    assert len(trades) == 50
    assert all(t["exec_type"] == "trade" for t in trades)
    every = [e for e in executions(engine.drain()) if e["exec_type"] == "trade"]
    assert [t["exec_id"] for t in trades] == [t["exec_id"] for t in every[-50:]]


def random_market_move(book: Book, rng: random.Random) -> None:
    """Move the BTC/USD book: shift every level by a random number of ticks and print."""
    shift = D(rng.randint(-30, 30))
    asks = {p + shift: q for p, q in book.asks["BTC/USD"].items()}
    bids = {p + shift: q for p, q in book.bids["BTC/USD"].items()}
    if rng.random() < 0.5:
        asks[min(asks) - D(rng.randint(1, 20))] = D(rng.choice(["0.05", "0.2", "1"]))
    if rng.random() < 0.5:
        bids[max(bids) + D(rng.randint(1, 20))] = D(rng.choice(["0.05", "0.2", "1"]))
    best_bid = max(bids)
    asks = {p: q for p, q in asks.items() if p > best_bid} or {best_bid + 1: D(1)}
    book.asks["BTC/USD"], book.bids["BTC/USD"] = asks, bids
    book.print_trade("BTC/USD", str(rng.choice([max(bids), min(asks)])))


@pytest.mark.parametrize("seed", range(6))
def test_random_trading_keeps_books_balanced(seed: int) -> None:
    rng = random.Random(seed)
    book = btc_book()
    for price in range(65030, 65300, 10):
        book.level("BTC/USD", "sell", f"{price}.0", "0.5")
    for price in range(64960, 64700, -10):
        book.level("BTC/USD", "buy", f"{price}.0", "0.5")
    eng = Engine(book, default_balances={"USD": D("30000"), "BTC": D("0.5")})
    now = T0
    events: list[PrivateEvent] = []
    for _ in range(150):
        now += rng.choice([0.5, 2.0, 20.0])
        action = rng.random()
        last = book.last_price("BTC/USD")
        side = rng.choice(["buy", "sell"])
        qty = D(rng.choice(["0.01", "0.05", "0.1", "0.3"]))
        offset = D(rng.randint(-80, 80))
        if action < 0.35:
            params = limit(
                side, str(qty), str(last + offset), time_in_force=rng.choice(["gtc", "ioc"])
            )
        elif action < 0.5:
            params = {"order_type": "market", "side": side, "order_qty": qty, "symbol": "BTC/USD"}
        elif action < 0.65:
            kind = rng.choice(["stop-loss", "take-profit", "trailing-stop", "stop-loss-limit"])
            trig_type = "quote" if kind == "trailing-stop" else "static"
            trig = D(rng.randint(10, 60)) if kind == "trailing-stop" else last + offset
            params = stop(kind, side, str(trig), trig_type, str(qty))
            if kind == "stop-loss-limit":
                params["limit_price"] = trig
        elif action < 0.75 and eng.open_orders("alice"):
            victim = rng.choice(eng.open_orders("alice"))
            eng.request("alice", "cancel_order", {"order_id": [victim["order_id"]]}, now)
            events.extend(eng.drain())
            continue
        else:
            random_market_move(book, rng)
            eng.on_market("BTC/USD", now)
            events.extend(eng.drain())
            continue
        eng.request("alice", "add_order", params, now)
        events.extend(eng.drain())

    # Ledger arithmetic: every entry moves its asset's balance by amount - fee.
    running = {"USD": D("30000"), "BTC": D("0.5")}
    for entry in ledger(events):
        running[entry["asset"]] += entry["amount"] - entry["fee"]
        assert entry["balance"] == running[entry["asset"]]
        assert entry["balance"] >= 0
    assert eng.balances("alice") == running
    # Every order's stream: pending_new first, one terminal event last, quantities add up.
    by_order: dict[str, list[dict[str, Any]]] = {}
    for item in executions(events):
        by_order.setdefault(item["order_id"], []).append(item)
    open_ids = {o["order_id"] for o in eng.open_orders("alice")}
    terminal = {"filled", "canceled", "expired"}
    traded = 0
    for oid, stream in by_order.items():
        assert stream[0]["exec_type"] == "pending_new"
        ends = [i for i, item in enumerate(stream) if item["exec_type"] in terminal]
        if oid in open_ids:
            assert ends == []
        else:
            assert ends == [len(stream) - 1]
        fills = [item["last_qty"] for item in stream if item["exec_type"] == "trade"]
        traded += len(fills)
        if stream[-1]["exec_type"] == "filled":
            assert sum(fills, D(0)) == stream[0]["order_qty"] == stream[-1]["cum_qty"]
    assert traded > 5  # the scenario really trades


def test_market_order_that_empties_the_book_cancels_the_rest(engine: Engine, book: Book) -> None:
    for price in ("65010.0", "65020.0"):
        book.level("BTC/USD", "sell", price, "0")
    add(engine, {"order_type": "market", "side": "buy", "order_qty": D("0.7"), "symbol": "BTC/USD"})
    events = executions(engine.drain())
    assert [e["exec_type"] for e in events] == ["pending_new", "new", "trade", "canceled"]
    assert events[-1]["reason"] == "Insufficient liquidity"
    assert events[-1]["cum_qty"] == D("0.5")


def test_a_market_that_ignores_take_cannot_hang_the_engine(book: Book) -> None:
    class Sticky(Book):
        def take(self, symbol: str, side: Side, price: Decimal, qty: Decimal, now: float) -> int:
            self._trade_id += 1
            return self._trade_id

    sticky = Sticky()
    sticky.asks, sticky.bids, sticky.last = book.asks, book.bids, book.last
    eng = Engine(sticky, default_balances=START)
    add(eng, {"order_type": "market", "side": "buy", "order_qty": D("1.5"), "symbol": "BTC/USD"})
    trades = [e for e in executions(eng.drain()) if e["exec_type"] == "trade"]
    assert [t["last_price"] for t in trades] == [D("65000.0"), D("65010.0")]
