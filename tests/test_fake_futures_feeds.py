"""The futures server's feeds as Kraken documents them, over real sockets on loopback.

Product ids in any case, ``seq`` per subscription, ``balances`` deltas of one wallet, the full
balances snapshot, the legacy ``account_balances_and_margins`` feed, deep books and fills that
move the account (helpers shared with ``test_fake_futures``).
"""

from __future__ import annotations

from decimal import Decimal

import trio
import trio.testing
from test_fake_futures import (
    challenge,
    client,
    drain,
    private_subscribe,
    send,
    serving,
    signed,
    subscribe,
)

from kraken_trio.testing._futures_market import MIN_DEPTH

D = Decimal


async def test_lower_case_product_ids_are_accepted_and_acked_upper_case() -> None:
    async with serving() as exchange, client(exchange) as ws:
        first = await subscribe(ws, "book", "pi_xbtusd", "Pf_EthUsd")
        acks = [m for m in first if m.get("event") == "subscribed"]
        assert [a["product_ids"] for a in acks] == [["PI_XBTUSD"], ["PF_ETHUSD"]]
        snapshots = [m for m in first if m.get("feed") == "book_snapshot"]
        assert [s["product_id"] for s in snapshots] == ["PI_XBTUSD", "PF_ETHUSD"]
        assert exchange.live_subscriptions()[1] == {("book", "PI_XBTUSD"), ("book", "PF_ETHUSD")}
        await send(ws, {"event": "unsubscribe", "feed": "book", "product_ids": ["pi_xbtusd"]})
        (ack,) = await drain(ws)
        assert ack == {"event": "unsubscribed", "feed": "book", "product_ids": ["PI_XBTUSD"]}
        original = await challenge(ws)
        await send(ws, signed("fills", original, product_ids=["pf_ethusd"]))
        ack, _snapshot = await drain(ws)
        assert ack == {"event": "subscribed", "feed": "fills", "product_ids": ["PF_ETHUSD"]}


async def test_the_book_snapshot_is_deep() -> None:
    async with serving() as exchange, client(exchange) as ws:
        _, snapshot = await subscribe(ws, "book", "PF_ETHUSD")
        assert len(snapshot["bids"]) >= MIN_DEPTH
        assert len(snapshot["asks"]) >= MIN_DEPTH


async def test_seq_counts_per_subscription_not_per_server() -> None:
    async with serving() as exchange, client(exchange) as one, client(exchange) as two:
        account = exchange.account
        first = await private_subscribe(one, "balances")
        assert first[1]["seq"] == 0
        account.set_balance("USD", "10")
        account.set_balance("USD", "20")
        assert [m["seq"] for m in await drain(one)] == [1, 2]
        # Another connection subscribing consumes none of the first one's numbers.
        assert (await private_subscribe(two, "balances"))[1]["seq"] == 0
        assert (await private_subscribe(two, "open_positions"))[1]["seq"] == 0
        account.set_balance("USD", "30")
        account.set_position("PF_ETHUSD", "1", entry_price="3000")
        assert [(m["feed"], m["seq"]) for m in await drain(one)] == [("balances", 3)]
        assert [(m["feed"], m["seq"]) for m in await drain(two)] == [
            ("balances", 1),
            ("open_positions", 1),
        ]


async def test_balances_deltas_carry_only_the_wallet_that_changed() -> None:
    async with serving() as exchange, client(exchange) as ws:
        account = exchange.account
        await private_subscribe(ws, "balances")
        account.set_balance("USD", "5000")
        account.set_balance("USDT", "7", wallet="holding")
        account.set_balance("XBT", "0.5", wallet="futures")
        flex, holding, single = await drain(ws)
        assert set(flex) == {"feed", "account", "flex_futures", "timestamp", "seq"}
        assert flex["flex_futures"]["currencies"]["USD"]["quantity"] == D(5000)
        assert (holding["holding"], holding["futures"]) == ({"USDT": D(7)}, {})
        assert "flex_futures" not in holding
        assert single["holding"] == {}
        assert list(single["futures"]) == ["F-XBT:USD"]
        wallet = single["futures"]["F-XBT:USD"]
        assert (wallet["pair"], wallet["unit"], wallet["balance"]) == ("XBT/USD", "XBT", D("0.5"))


async def test_balances_snapshot_has_krakens_documented_fields() -> None:
    async with serving(balances={"USD": 1000}) as exchange, client(exchange) as ws:
        exchange.account.set_position("PF_ETHUSD", "1", entry_price="3000")
        _, snapshot = await private_subscribe(ws, "balances")
        assert set(snapshot) == {
            "feed", "account", "holding", "futures", "flex_futures", "timestamp", "seq"
        }  # fmt: skip
        flex = snapshot["flex_futures"]
        for name in (
            "total_position_size",
            "unified_balances",
            "futures_cash_value",
            "futures_upnl_cash_value",
            "balance_value",
            "portfolio_value",
            "margin_equity",
            "available_margin",
        ):
            assert name in flex, name
        assert flex["unified_balances"] is False
        assert {"effective_leverage", "margin_equity", "available_margin"} <= set(flex["cross"])
        assert flex["cross"]["balance_value"] == D(1000)


async def test_legacy_account_balances_and_margins_is_served_in_its_legacy_shape() -> None:
    async with serving(balances={"USD": 1000, "F-XBT:USD": 1}) as exchange, client(exchange) as ws:
        ack, snapshot = await private_subscribe(ws, "account_balances_and_margins")
        assert ack == {"event": "subscribed", "feed": "account_balances_and_margins"}
        assert snapshot["feed"] == "account_balances_and_margins"
        assert snapshot["seq"] == 0
        accounts = {a["name"]: a for a in snapshot["margin_accounts"]}
        assert set(accounts) == {"f-xbt:usd", "flex"}
        assert set(accounts["flex"]) == {
            "name",
            "pv",
            "balance",
            "funding",
            "mm",
            "pnl",
            "im",
            "am",
        }
        assert accounts["flex"]["balance"] == D(1000)
        exchange.account.set_balance("USD", "900")
        (update,) = await drain(ws)
        assert update["seq"] == 1
        assert {a["name"]: a["balance"] for a in update["margin_accounts"]}["flex"] == D(900)


async def test_a_traded_fill_moves_positions_balances_and_the_log_on_every_feed() -> None:
    async with serving(balances={"USD": 100_000}) as exchange, client(exchange) as ws:
        feeds = ["open_orders", "fills", "open_positions", "balances", "account_log"]
        for feed in feeds:
            await private_subscribe(ws, feed)
        result = exchange.trader.send_order(
            symbol="PF_ETHUSD", side="buy", size=D(2), order_type="mkt"
        )
        assert result.status == "filled"
        got = await drain(ws)
        by_feed = {m["feed"]: m for m in got}
        assert [m["feed"] for m in got if m["feed"] != "balances"] == [
            "open_orders",  # placed
            "open_orders",  # full_fill
            "fills",
            "open_positions",
            "account_log",
        ]
        fill = by_feed["fills"]["fills"][0]
        (position,) = by_feed["open_positions"]["positions"]
        assert (position["instrument"], position["balance"]) == ("PF_ETHUSD", D(2))
        assert position["entry_price"] == fill["price"]
        assert position["initial_margin"] > 0
        balances = [m for m in got if m["feed"] == "balances"][-1]
        usd = balances["flex_futures"]["currencies"]["USD"]["quantity"]
        assert usd == D(100_000) - fill["fee_paid"]
        assert balances["flex_futures"]["initial_margin"] == position["initial_margin"]
        entry = by_feed["account_log"]["new_entry"]
        assert (entry["info"], entry["new_balance"], entry["fee"]) == (
            "futures trade",
            usd,
            fill["fee_paid"],
        )


async def test_open_positions_follow_the_mark_price_once_a_second(
    mock_clock: trio.testing.MockClock,
) -> None:
    async with serving(balances={"USD": 100_000}) as exchange, client(exchange) as ws:
        exchange.trader.send_order(symbol="PF_ETHUSD", side="buy", size=D(1), order_type="mkt")
        await private_subscribe(ws, "open_positions")
        await exchange.step()
        (update,) = [m for m in await drain(ws) if m["feed"] == "open_positions"]
        (position,) = update["positions"]
        assert position["mark_price"] == exchange._markets["PF_ETHUSD"].mark_price()
        await exchange.step()
        assert [m for m in await drain(ws) if m["feed"] == "open_positions"] == []
        mock_clock.jump(1)
        await exchange.step()
        assert len([m for m in await drain(ws) if m["feed"] == "open_positions"]) == 1
