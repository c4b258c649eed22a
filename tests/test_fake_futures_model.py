"""The fake futures exchange's pure parts: market model, position arithmetic, matching, trading.

No sockets and no clock: the market is stepped by hand, orders go straight to the trader, and
what the account pushes is collected from its sink.
"""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import pytest

from kraken_trio._proto.auth import sign_futures_rest
from kraken_trio.testing._futures import FuturesExchange
from kraken_trio.testing._futures_market import (
    MAX_DEPTH,
    MIN_DEPTH,
    ProductMarket,
    TickerThrottle,
    futures_product,
)
from kraken_trio.testing._futures_positions import Position, cross_levels, fee

KEY = "CMl2SeSn09Tz+2tWuzPfdaJdsahq6qv5UaexXuQ3SnahDQU/gO3aT+"
SECRET = "7zxMEF5p/Z8l2p2U7Ghv6x14Af+Fx+92tPgUdVQ748FOIrEoT9bgT+bTRfXc5pz8na+hL/QdrCVG7bh9KpT0eMTm"
D = Decimal


def exchange(**balances: Any) -> tuple[FuturesExchange, list[tuple[str, dict[str, Any]]]]:
    funds = balances or {"USD": 100_000, "F-XBT:USD": 2}
    ex = FuturesExchange(api_key=KEY, api_secret=SECRET, update_interval=None, balances=funds)
    pushed: list[tuple[str, dict[str, Any]]] = []
    ex.account.add_sink(lambda feed, _instrument, message: pushed.append((feed, message)))
    return ex, pushed


# --------------------------------------------------------------------------------------------
# signing


def test_futures_rest_authent_matches_the_reference_vector() -> None:
    # Kraken's docs give the inputs; the output is the protocol reference's (section 6.4).
    assert sign_futures_rest(
        SECRET, "symbol=fi_xbtusd_180615", "1415957147987", "/api/v3/orderbook"
    ) == (
        "JHLjN8OUDYaXjHRGT0z4nUvJorORrXoL9omot4BK5ihtp6jKHPHfzX9MrpVjqAgKqGJejoO3gySwoVCMJQlx/Q=="
    )


# --------------------------------------------------------------------------------------------
# market model


def test_products_tags_quarter_and_month_and_inverse() -> None:
    assert futures_product("FI_XBTUSD_260925").tag == "quarter"
    assert futures_product("FF_ETHUSD_260130").tag == "month"
    assert futures_product("PI_XBTUSD").inverse
    assert not futures_product("PF_XBTUSD").inverse


@pytest.mark.parametrize("product_id", ["PF_ETHUSD", "PI_XBTUSD"])
def test_the_book_stays_deep_with_a_tight_spread_over_hours_of_ticks(product_id: str) -> None:
    rng = random.Random(7)
    market = ProductMarket(futures_product(product_id), rng)
    start = market.mid()
    for _ in range(6_000):  # hours at Kraken's pace; the spread is checked after every tick
        market.step(rng)
        assert MIN_DEPTH <= len(market.bids) <= MAX_DEPTH
        assert MIN_DEPTH <= len(market.asks) <= MAX_DEPTH
        assert market.best_bid() < market.best_ask()
        assert (market.best_ask() - market.best_bid()) / market.mid() < D("0.002")  # < 20 bp
    assert abs(market.mid() - start) / start < D("0.2")


def test_step_reports_every_book_change_so_deltas_rebuild_the_book() -> None:
    rng = random.Random(3)
    market = ProductMarket(futures_product("PI_XBTUSD"), rng)
    snapshot = market.book_snapshot()
    bids = {level["price"]: level["qty"] for level in snapshot["bids"]}
    asks = {level["price"]: level["qty"] for level in snapshot["asks"]}
    seq = snapshot["seq"]
    for _ in range(500):
        for message in market.step(rng):
            if message["feed"] != "book":
                continue
            assert message["seq"] == seq + 1
            seq = message["seq"]
            side = bids if message["side"] == "buy" else asks
            if message["qty"] == 0:
                side.pop(message["price"], None)
            else:
                side[message["price"]] = message["qty"]
    assert (bids, asks) == (market.bids, market.asks)
    final = market.book_snapshot()  # best first, every level
    assert [level["price"] for level in final["bids"]] == sorted(bids, reverse=True)
    assert [level["price"] for level in final["asks"]] == sorted(asks)
    assert (market.best_bid(), market.best_ask()) == (max(bids), min(asks))


def test_ticker_throttle_allows_one_per_product_per_second() -> None:
    throttle = TickerThrottle()
    assert throttle.due("PI_XBTUSD", 10.0)
    assert throttle.due("PF_ETHUSD", 10.0)
    assert not throttle.due("PI_XBTUSD", 10.5)
    assert not throttle.due("PI_XBTUSD", 10.999)
    assert throttle.due("PI_XBTUSD", 11.0)
    assert not throttle.due("PI_XBTUSD", 11.5)


# --------------------------------------------------------------------------------------------
# positions


def test_linear_position_averages_entry_realizes_on_reduce_and_flips() -> None:
    position = Position("PF_ETHUSD", inverse=False)
    assert position.apply_fill(True, D(1), D(3000)) == 0
    assert position.apply_fill(True, D(1), D(3100)) == 0
    assert (position.size, position.entry) == (D(2), D(3050))
    assert position.unrealized(D(3150)) == D(200)
    assert position.apply_fill(False, D("0.5"), D(3250)) == D(100)  # (3250-3050)*0.5
    assert (position.size, position.entry) == (D("1.5"), D(3050))
    assert position.apply_fill(False, D(2), D(3000)) == D(-75)  # closes 1.5 at -50, opens 0.5 short
    assert (position.size, position.entry) == (D("-0.5"), D(3000))
    assert position.unrealized(D(2900)) == D(50)
    assert position.realized == D(25)


def test_inverse_position_uses_the_harmonic_entry_and_settles_in_the_base() -> None:
    position = Position("PI_XBTUSD", inverse=True)
    position.apply_fill(True, D(10000), D(50000))
    position.apply_fill(True, D(10000), D(25000))
    # 20000 USD of contracts for 0.2 + 0.4 XBT: entry 20000 / 0.6
    assert position.entry == (D(20000) / D("0.6")).quantize(D("1e-8")).normalize()
    closing = Position("PI_XBTUSD", inverse=True)
    closing.apply_fill(False, D(10000), D(50000))  # short 10000 USD at 50000
    assert closing.apply_fill(True, D(10000), D(40000)) == D("0.05")  # 10000*(1/40000-1/50000)
    assert closing.size == 0
    assert fee(True, D(10000), D(50000), D("0.0005")) == D("0.0001")
    assert fee(False, D(2), D(3000), D("0.0005")) == D(3)


def test_bad_fills_are_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        Position("PF_ETHUSD", inverse=False).apply_fill(True, D(0), D(1))


def test_cross_levels_walks_the_book_best_first_up_to_the_limit() -> None:
    asks = {D(101): D(1), D(100): D(2), D(103): D(5)}
    assert cross_levels(asks, True, D(4), D(101)) == [(D(100), D(2)), (D(101), D(1))]
    assert cross_levels(asks, True, D(1), None) == [(D(100), D(1))]
    assert cross_levels(asks, True, D(1), D(99)) == []
    bids = {D(99): D(1), D(98): D(1)}
    assert cross_levels(bids, False, D(5), None) == [(D(99), D(1)), (D(98), D(1))]


# --------------------------------------------------------------------------------------------
# trading


def test_market_order_takes_the_book_and_reports_on_every_private_feed() -> None:
    ex, pushed = exchange()
    _, asks = ex.book("PF_ETHUSD")
    best = min(asks)
    result = ex.trader.send_order(symbol="PF_ETHUSD", side="buy", size=D("0.5"), order_type="mkt")
    assert result.status == "filled"
    assert [e["type"] for e in result.events][:2] == ["PLACE", "EXECUTION"]
    feeds = [feed for feed, _ in pushed]
    fill_at = feeds.index("fills")
    assert feeds[fill_at - 2 : fill_at] == ["open_orders", "open_orders_verbose"]
    assert feeds[fill_at + 1 :] == [
        "open_positions",
        "balances",
        "account_balances_and_margins",
        "account_log",
    ]
    (fill,) = ex.account.fills
    assert (fill["price"], fill["qty"], fill["fill_type"]) == (best, D("0.5"), "taker")
    assert fill["fee_paid"] == best * D("0.5") * D("0.0005")
    _, asks_after = ex.book("PF_ETHUSD")
    assert asks_after.get(best, D(0)) == asks[best] - D("0.5")  # liquidity consumed
    position = ex.account.positions["PF_ETHUSD"]
    assert (position.size, position.entry) == (D("0.5"), best)
    assert ex.account.wallets.flex["USD"][0] == D(100_000) - fill["fee_paid"]
    balances = [m for feed, m in pushed if feed == "balances"][-1]
    assert set(balances) == {"feed", "account", "flex_futures", "timestamp"}  # only that wallet
    log = [m for feed, m in pushed if feed == "account_log"][-1]["new_entry"]
    assert (log["trade_price"], log["fee"], log["execution"]) == (
        best,
        fill["fee_paid"],
        fill["fill_id"],
    )


def test_inverse_fill_settles_in_the_single_collateral_wallet_only() -> None:
    ex, pushed = exchange()
    result = ex.trader.send_order(symbol="PI_XBTUSD", side="sell", size=D(1000), order_type="mkt")
    assert result.status == "filled"
    balances = [m for feed, m in pushed if feed == "balances"][-1]
    assert balances["holding"] == {}
    assert list(balances["futures"]) == ["F-XBT:USD"]
    assert "flex_futures" not in balances
    assert ex.account.wallets.single["F-XBT:USD"] < D(2)  # the fee, in XBT
    assert ex.account.wallets.flex["USD"][0] == D(100_000)


def test_resting_limit_order_fills_as_maker_when_the_market_reaches_it() -> None:
    ex, _ = exchange()
    bids, _ = ex.book("PF_ETHUSD")
    price = max(bids) - D(5)
    result = ex.trader.send_order(
        symbol="PF_ETHUSD", side="buy", size=D(1), order_type="lmt", limit_price=price
    )
    assert result.status == "placed"
    assert ex.account.fills == []
    market = ex._markets["PF_ETHUSD"]
    market.set_level("sell", price, D(3))  # a seller arrives at our price
    ex.trader.on_market("PF_ETHUSD")
    (fill,) = ex.account.fills
    assert (fill["price"], fill["qty"], fill["fill_type"]) == (price, D(1), "maker")
    assert ex.account.orders == {}


@pytest.mark.parametrize(
    ("request_args", "status"),
    [
        ({"size": D("0.0005"), "order_type": "mkt"}, "invalidSize"),
        ({"size": D(1), "order_type": "lmt", "limit_price": D("3000.05")}, "invalidPrice"),
        ({"size": D(1), "order_type": "lmt"}, "invalidPrice"),
        ({"size": D(1), "order_type": "stp"}, "invalidPrice"),
        ({"size": D(1000), "order_type": "mkt"}, "insufficientAvailableFunds"),
        ({"size": D(1), "order_type": "mkt", "reduce_only": True}, "wouldNotReducePosition"),
        ({"size": D("0.1"), "order_type": "post", "limit_price": D(3300)}, "postWouldExecute"),
        ({"size": D(1), "order_type": "ioc", "limit_price": D(1)}, "iocWouldNotExecute"),
    ],
)
def test_refusals_have_krakens_status(request_args: dict[str, Any], status: str) -> None:
    ex, _ = exchange(USD=1000)
    result = ex.trader.send_order(symbol="PF_ETHUSD", side="buy", **request_args)
    assert result.status == status
    assert ex.account.orders == {}
    assert ex.account.fills == []


def test_edit_cancel_and_cancel_all() -> None:
    ex, pushed = exchange()
    bids, _ = ex.book("PF_SOLUSD")
    low = max(bids) - D(1)
    first = ex.trader.send_order(
        symbol="PF_SOLUSD",
        side="buy",
        size=D(1),
        order_type="lmt",
        limit_price=low,
        cli_ord_id="mine-1",
    )
    assert (
        ex.trader.send_order(
            symbol="PF_SOLUSD",
            side="buy",
            size=D(1),
            order_type="lmt",
            limit_price=low,
            cli_ord_id="mine-1",
        ).status
        == "clientOrderIdAlreadyExist"
    )
    edited = ex.trader.edit_order(
        order_id=None, cli_ord_id="mine-1", size=D(2), limit_price=low - D(1), stop_price=None
    )
    assert edited.status == "edited"
    assert edited.events[0]["old"]["quantity"] == D(1)
    assert edited.events[0]["new"]["quantity"] == D(2)
    order = ex.account.orders[str(first.order_id)]
    assert (order.qty, order.limit_price) == (D(2), low - D(1))
    reasons = [m.get("reason") for feed, m in pushed if feed == "open_orders"]
    assert reasons[-1] == "edited_by_user"
    cancelled = ex.trader.cancel_order(order_id=first.order_id, cli_ord_id=None)
    assert cancelled.status == "cancelled"
    assert ex.trader.cancel_order(order_id=first.order_id, cli_ord_id=None).status == "notFound"
    for _ in range(2):
        ex.trader.send_order(
            symbol="PF_SOLUSD",
            side="sell",
            size=D(1),
            order_type="lmt",
            limit_price=max(bids) + D(50),
        )
    assert len(ex.trader.cancel_all("PF_ETHUSD")) == 0
    assert len(ex.trader.cancel_all(None)) == 2
    assert ex.account.orders == {}


def test_stop_order_waits_for_its_trigger_then_trades() -> None:
    ex, _ = exchange()
    market = ex._markets["PF_ETHUSD"]
    stop = market.last + D(10)
    result = ex.trader.send_order(
        symbol="PF_ETHUSD", side="buy", size=D(1), order_type="stp", stop_price=stop
    )
    assert result.status == "placed"
    ex.trader.on_market("PF_ETHUSD")
    assert ex.account.fills == []
    market.last = stop  # the last price reaches the trigger
    ex.trader.on_market("PF_ETHUSD")
    (fill,) = ex.account.fills
    assert fill["qty"] == D(1)
    assert ex.account.orders == {}
