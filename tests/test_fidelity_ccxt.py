"""Proof of fidelity: ccxt.pro's ``kraken``, unmodified, trades against the fake over TLS.

ccxt runs in its own process (asyncio) against an in-process fake. Only its URLs change
(``urls['api']``) and it trusts the fake's throwaway CA through its own ``cafile`` option.
It loads markets (``Assets`` and ``AssetPairs`` over REST, with Kraken's names), watches
ticker, trades, OHLC, the order book and the balance, and over the v2 WebSocket places,
amends and cancels a limit order and fills a market order that ``watch_orders`` and
``watch_balance`` then report.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest
import trio

from kraken_trio import WsKey
from kraken_trio.testing import open_fake_kraken

pytest.importorskip("ccxt.pro", reason="ccxt is a test-only dependency")
pytest.importorskip("trustme", reason="the fake's TLS needs trustme")

SCRIPT = r"""
import asyncio
import json
import sys

CFG = json.loads(sys.argv[1])


async def main():
    import ccxt.pro as ccxtpro

    ex = ccxtpro.kraken(
        {"apiKey": CFG["api_key"], "secret": CFG["api_secret"], "cafile": CFG["ca_file"]}
    )
    # only the URLs change (and the CA ccxt trusts)
    ex.urls["api"]["public"] = CFG["rest_url"]
    ex.urls["api"]["private"] = CFG["rest_url"]
    ex.urls["api"]["ws"] = {
        "public": CFG["public"],
        "publicV2": CFG["public"],
        "private": CFG["private"],
        "privateV2": CFG["private"],
    }
    loop = asyncio.get_running_loop()
    out = {}
    step = "start"

    def wait(awaitable):
        return asyncio.wait_for(awaitable, 20)

    try:
        step = "load_markets"
        markets = await ex.load_markets()
        m = markets["BTC/USD"]
        out["market"] = {k: m[k] for k in ("id", "wsId", "altname", "base", "precision")}
        out["currencies"] = sorted(ex.currencies)
        step = "watch_ticker"
        t = await wait(ex.watch_ticker("BTC/USD"))
        out["ticker"] = {"bid": t["bid"], "ask": t["ask"], "last": t["last"]}
        step = "watch_trades"
        trades = await wait(ex.watch_trades("BTC/USD"))
        out["trades"] = [{"price": x["price"], "amount": x["amount"]} for x in trades[:3]]
        step = "watch_ohlcv"
        out["ohlcv"] = (await wait(ex.watch_ohlcv("BTC/USD", "1m")))[-1]
        step = "watch_order_book"
        for _ in range(20):  # ccxt checks every update's checksum
            book = await wait(ex.watch_order_book("BTC/USD", 10))
        out["book"] = {"bids": book["bids"][:2], "asks": book["asks"][:2]}
        step = "watch_balance"
        balance = await wait(ex.watch_balance())
        out["balance0"] = {k: balance[k] for k in ("BTC", "USD")}
        step = "watch_orders"
        orders_task = asyncio.ensure_future(ex.watch_orders("BTC/USD"))
        step = "create_order_ws"
        low = round(t["bid"] * 0.9, 1)
        order = await wait(ex.create_order_ws("BTC/USD", "limit", "buy", 0.001, low))
        out["created"] = {"id": order["id"]}
        step = "edit_order_ws"
        lower = round(t["bid"] * 0.8, 1)
        edited = await wait(ex.edit_order_ws(order["id"], "BTC/USD", "limit", "buy", 0.002, lower))
        out["edited"] = {"id": edited["id"]}
        step = "cancel_order_ws"
        out["cancelled"] = await wait(ex.cancel_order_ws(order["id"]))  # ccxt gives the reply
        step = "market order"
        filled = await wait(ex.create_order_ws("BTC/USD", "market", "buy", 0.01))
        out["market_order"] = {"id": filled["id"]}
        step = "watch_orders updates"
        end = loop.time() + 20
        seen = {}
        while loop.time() < end:
            # every update watch_orders received is in ccxt's cache
            seen = {
                o["id"]: {k: o[k] for k in ("status", "filled", "price", "amount")}
                for o in (ex.orders or [])
            }
            statuses = {i: seen.get(i, {}).get("status") for i in (order["id"], filled["id"])}
            if statuses == {order["id"]: "canceled", filled["id"]: "closed"}:
                break
            try:
                await asyncio.wait_for(asyncio.shield(orders_task), 1)
            except asyncio.TimeoutError:
                pass
            if orders_task.done():
                orders_task = asyncio.ensure_future(ex.watch_orders("BTC/USD"))
        orders_task.cancel()
        out["orders"] = seen
        step = "watch_balance after fill"
        end = loop.time() + 20
        balance = ex.balance.get("spot", {})
        while loop.time() < end:
            balance = ex.balance.get("spot", {})  # every balances update ccxt received
            if balance.get("BTC", {}).get("total") != out["balance0"]["BTC"]["total"]:
                break
            try:
                await asyncio.wait_for(ex.watch_balance(), 1)
            except asyncio.TimeoutError:
                pass
        out["balance1"] = {k: balance[k] for k in ("BTC", "USD") if k in balance}
        step = "done"
    except Exception as exc:
        out["error"] = f"{step}: {type(exc).__name__}: {exc}"
    finally:
        await ex.close()
    print(json.dumps(out, default=str))


asyncio.run(main())
"""


@pytest.mark.slow
async def test_ccxt_pro_kraken_watches_and_trades_against_the_fake() -> None:
    async with open_fake_kraken(seed=5, update_interval=0.02, tls=True) as fake:
        cfg = {
            "public": fake.endpoints[WsKey.SPOT_PUBLIC_V2],
            "private": fake.endpoints[WsKey.SPOT_PRIVATE_V2],
            "rest_url": fake.rest_url,
            "api_key": fake.api_key,
            "api_secret": fake.api_secret,
            "ca_file": fake.ca_file,
        }
        with trio.fail_after(150):
            proc = await trio.run_process(
                [sys.executable, "-c", SCRIPT, json.dumps(cfg)],
                capture_stdout=True,
                capture_stderr=True,
                check=False,
            )
        rest_paths = [r.path for r in fake.rest.received]
        methods = [
            r.message.get("method") for r in fake.private.received if isinstance(r.message, dict)
        ]
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-3000:]
    out: dict[str, Any] = json.loads(proc.stdout.decode().strip().splitlines()[-1])
    assert "error" not in out, out["error"]
    # markets with Kraken's REST names, mapped back to the unified BTC/USD
    assert out["market"]["id"] == "XXBTZUSD"
    assert out["market"]["wsId"] == "XBT/USD"
    assert out["market"]["base"] == "BTC"
    assert out["market"]["precision"] == {"amount": 1e-08, "price": 0.1}
    assert {"BTC", "USD", "ETH", "SOL", "SHIB"} <= set(out["currencies"])
    assert rest_paths[:2] == ["/0/public/Assets", "/0/public/AssetPairs"]
    assert "/0/private/GetWebSocketsToken" in rest_paths
    # public data
    assert 0 < out["ticker"]["bid"] < out["ticker"]["ask"]
    assert out["trades"]
    assert all(t["price"] > 0 and t["amount"] > 0 for t in out["trades"])
    _, o, h, low, c, volume = out["ohlcv"]
    assert low <= min(o, c) <= max(o, c) <= h
    assert volume > 0
    assert out["book"]["bids"][0][0] < out["book"]["asks"][0][0]
    # trading over the v2 WebSocket: add, amend, cancel, then a market order that fills
    order_id = out["created"]["id"]
    assert out["edited"]["id"] == order_id
    assert out["cancelled"]["result"]["order_id"] == order_id
    assert out["orders"][order_id]["status"] == "canceled"
    assert out["orders"][order_id]["amount"] == 0.002  # the amended quantity
    market_order = out["orders"][out["market_order"]["id"]]
    assert market_order["status"] == "closed"
    assert market_order["filled"] == 0.01
    assert {"add_order", "amend_order", "cancel_order"} <= set(methods)
    # and the fill moved the balances
    before, after = out["balance0"], out["balance1"]
    assert after["BTC"]["total"] == pytest.approx(before["BTC"]["total"] + 0.01)
    assert after["USD"]["total"] < before["USD"]["total"]
