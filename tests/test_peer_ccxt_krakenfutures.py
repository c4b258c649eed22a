"""ccxt.pro ``krakenfutures``, unmodified but for its URLs, trades against the fake exchange.

ccxt runs in its own process (asyncio) against an in-process fake on 127.0.0.1; only its URLs
are pointed at the fake. It loads the markets over the Futures REST API, watches the order
book and the trades, subscribes to its orders, fills, positions and balance over the
authenticated feeds, then places a market order over REST and must see that order fill on every
private feed: a real fill against the fake's book, not a scripted one.
"""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from typing import Any

import pytest
import trio

from kraken_trio import WsKey
from kraken_trio.testing import open_fake_kraken

pytest.importorskip("ccxt.pro", reason="ccxt is a test-only dependency")

SCRIPT = r"""
import asyncio
import json
import sys

import ccxt.pro

CFG = json.loads(sys.argv[1])
SYMBOL = "ETH/USD:USD"


SEEN = {}


async def first(awaitable_factory, pred, what, timeout=30.0):
    async def loop():
        while True:
            value = await awaitable_factory()
            SEEN[what] = SEEN.get(what, 0) + 1
            if pred(value):
                return value
    try:
        return await asyncio.wait_for(loop(), timeout)
    except asyncio.TimeoutError:
        raise SystemExit(f"timed out waiting for {what}")


async def main():
    ex = ccxt.pro.krakenfutures({"apiKey": CFG["api_key"], "secret": CFG["api_secret"]})
    base = CFG["rest"] + "/api/"
    ex.urls["api"] = dict(ex.urls["api"], public=base, private=base, ws=CFG["ws"])
    out = {}
    try:
        markets = await ex.load_markets()
        out["markets"] = sorted(markets)
        out["eth_market"] = {k: markets[SYMBOL][k] for k in ("id", "linear", "swap", "settle")}
        out["eth_market"]["amount_precision"] = markets[SYMBOL]["precision"]["amount"]
        book = await ex.watch_order_book(SYMBOL)
        out["book"] = {"bids": len(book["bids"]), "asks": len(book["asks"]),
                       "best_bid": book["bids"][0][0], "best_ask": book["asks"][0][0]}
        trades = await first(lambda: ex.watch_trades(SYMBOL), lambda t: len(t) > 0, "trades")
        out["trade"] = {k: trades[-1][k] for k in ("symbol", "side", "price", "amount")}

        orders_task = asyncio.ensure_future(first(
            lambda: ex.watch_orders(),
            lambda os: len(os) > 0, "the order"))
        mine_task = asyncio.ensure_future(first(
            lambda: ex.watch_my_trades(), lambda ts: len(ts) > 0, "my trades"))
        positions_task = asyncio.ensure_future(first(
            lambda: ex.watch_positions(),
            lambda ps: any(p["symbol"] == SYMBOL and p["contracts"] for p in ps), "a position"))
        balance_task = asyncio.ensure_future(first(
            lambda: ex.watch_balance(),
            lambda b: b.get("USD", {}).get("total") is not None, "the flex wallet's balance"))
        # Trade once every watcher has had its snapshot and waits again (ccxt resolves a
        # watcher once per burst of messages: an order placed earlier could race them).
        # The watchers' own 30 s bound ends this wait if a snapshot never comes.
        # (An empty open_orders snapshot wakes no watcher in ccxt; it only creates ex.orders.)
        while len(SEEN) < 4 or ex.orders is None:
            await asyncio.sleep(0.02)
        await asyncio.sleep(0)
        order = await ex.create_order(SYMBOL, "market", "buy", 0.25)
        out["order"] = {k: order[k] for k in ("id", "status", "symbol", "side", "amount", "filled")}
        orders, mine, positions, balance = await asyncio.gather(
            orders_task, mine_task, positions_task, balance_task)
        # The order's updates come in one burst (placed, then filled): ccxt wakes the watcher
        # once and merges the rest into its order cache, where the fill shows.
        filled = [o for o in ex.orders if o["id"] == order["id"]][-1]
        out["filled"] = {k: filled[k] for k in ("id", "symbol", "side", "amount", "filled")}
        out["my_trade"] = {k: mine[-1][k] for k in ("symbol", "side", "amount", "price", "order")}
        pos = [p for p in positions if p["symbol"] == SYMBOL][-1]
        out["position"] = {k: pos[k] for k in ("symbol", "side", "contracts", "entryPrice")}
        # ccxt merges later deltas into the balance it returned; the fill's delta charges the fee.
        for _ in range(500):
            if ex.balance["flex"]["USD"]["total"] < CFG["usd"]:
                break
            await asyncio.sleep(0.02)
        out["usd_total"] = balance["USD"]["total"]
    finally:
        await ex.close()
    print(json.dumps(out, default=str))


asyncio.run(main())
"""


@pytest.mark.slow
async def test_ccxt_pro_krakenfutures_loads_watches_trades_and_sees_its_fill() -> None:
    async with open_fake_kraken(seed=8, update_interval=0.02) as fake:
        assert fake.futures is not None
        usd = fake.futures.account.wallets.flex["USD"][0]
        cfg = {
            "rest": fake.futures_rest_url,
            "ws": fake.endpoints[WsKey.DERIVATIVES_PUBLIC_V1],
            "api_key": fake.api_key,
            "api_secret": fake.api_secret,
            "usd": float(usd),
        }
        with trio.fail_after(120):
            proc = await trio.run_process(
                [sys.executable, "-c", SCRIPT, json.dumps(cfg)],
                capture_stdout=True,
                capture_stderr=True,
                check=False,
            )
        assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-3000:]
        out: dict[str, Any] = json.loads(proc.stdout.decode().strip().splitlines()[-1])
        fills = fake.futures.account.fills
        position = fake.futures.account.positions["PF_ETHUSD"]
        rest_paths = {r.path for r in fake.rest.received}

    assert out["markets"] == ["BTC/USD:BTC", "ETH/USD:USD", "SOL/USD:USD"]
    assert out["eth_market"] == {
        "id": "PF_ETHUSD",
        "linear": True,
        "swap": True,
        "settle": "USD",
        "amount_precision": 0.001,
    }
    assert out["book"]["bids"] >= 100  # a deep book, as Kraken's (hundreds of levels)
    assert out["book"]["asks"] >= 100
    assert out["book"]["best_bid"] < out["book"]["best_ask"]
    assert out["trade"]["symbol"] == "ETH/USD:USD"
    # the order, filled for real against the fake's book
    assert out["order"]["symbol"] == "ETH/USD:USD"
    assert out["order"]["side"] == "buy"
    # one fill per book level crossed (how many depends on the book at that moment)
    assert sum(f["qty"] for f in fills if f["order_id"] == out["order"]["id"]) == Decimal("0.25")
    assert out["filled"]["filled"] > 0
    assert out["my_trade"]["order"] == out["order"]["id"]
    assert out["my_trade"]["amount"] > 0
    assert out["position"]["symbol"] == "ETH/USD:USD"
    assert out["position"]["side"] == "long"
    assert out["position"]["contracts"] == 0.25
    assert str(position.size) == "0.25"
    assert out["usd_total"] < cfg["usd"]  # the taker fee came out of the flex wallet
    assert {"/derivatives/api/v3/instruments", "/derivatives/api/v3/sendorder"} <= rest_paths
