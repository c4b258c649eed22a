"""python-kraken-sdk's Futures clients, unmodified but for their URLs, against the fake over TLS.

The SDK's ``FuturesWSClient`` hard-codes ``wss://``, so the fake serves TLS with its throwaway CA,
which the SDK's process trusts through ``SSL_CERT_FILE`` (``REQUESTS_CA_BUNDLE`` for its REST
client). The SDK subscribes to public feeds (with a lower-case product id, as its own examples
write them) and to the private feeds including the legacy ``account_balances_and_margins``, then
places a market order with its Futures REST ``Trade`` client and must see the fill on its
private feeds.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import pytest
import trio

from kraken_trio import WsKey
from kraken_trio.testing import open_fake_kraken

pytest.importorskip("kraken.futures", reason="python-kraken-sdk is a test-only dependency")

SCRIPT = r"""
import asyncio
import json
import sys

from kraken.futures import FuturesWSClient, Trade

CFG = json.loads(sys.argv[1])
PRIVATE = ["open_orders", "fills", "open_positions", "balances", "account_log",
           "account_balances_and_margins"]


async def main():
    messages = []

    async def on_message(message):
        messages.append(message)

    async def wait_for(pred, what, timeout=30.0):
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while loop.time() < end:
            for message in list(messages):
                if isinstance(message, dict) and pred(message):
                    return message
            await asyncio.sleep(0.02)
        raise SystemExit(f"timed out waiting for {what}")

    client = FuturesWSClient(key=CFG["api_key"], secret=CFG["api_secret"], url=CFG["ws"],
                             callback=on_message)
    await client.start()
    await client.subscribe(feed="book", products=["pi_xbtusd"])
    await client.subscribe(feed="trade", products=["PF_ETHUSD"])
    await client.subscribe(feed="ticker", products=["PF_ETHUSD"])
    for feed in PRIVATE:
        await client.subscribe(feed=feed)
    await wait_for(lambda m: m.get("feed") == "book_snapshot", "book snapshot")
    await wait_for(lambda m: m.get("feed") == "book", "book delta")
    await wait_for(lambda m: m.get("feed") == "ticker", "ticker")
    for feed in PRIVATE:
        snapshot = {"open_orders": "open_orders_snapshot", "fills": "fills_snapshot",
                    "account_log": "account_log_snapshot", "balances": "balances_snapshot"}
        name = snapshot.get(feed, feed)
        await wait_for(lambda m, name=name: m.get("feed") == name, f"{name} snapshot")
    trade = Trade(key=CFG["api_key"], secret=CFG["api_secret"], url=CFG["rest"])
    sent = await asyncio.to_thread(
        trade.create_order, orderType="mkt", size=0.5, symbol="PF_ETHUSD", side="sell")
    await wait_for(lambda m: m.get("feed") == "fills" and "event" not in m
                   and m["fills"][-1]["remaining_order_qty"] == 0, "the order's last fill")
    await wait_for(lambda m: m.get("feed") == "open_positions" and m.get("positions"),
                   "a position")
    await wait_for(lambda m: m.get("feed") == "balances" and "flex_futures" in m,
                   "a flex balance delta")
    await wait_for(lambda m: m.get("feed") == "account_log" and "new_entry" in m, "log entry")
    await client.close()
    print(json.dumps({"messages": messages, "sent": sent,
                      "exception": client.exception_occur}, default=str))


asyncio.run(main())
"""


@pytest.mark.slow
async def test_python_kraken_sdk_futures_clients_over_wss_see_public_and_private_feeds() -> None:
    async with open_fake_kraken(seed=6, update_interval=0.02, tls=True) as fake:
        assert fake.ca_file is not None
        ws = fake.endpoints[WsKey.DERIVATIVES_PUBLIC_V1]
        assert ws.startswith("wss://")
        cfg = {
            "ws": ws.removeprefix("wss://"),  # the SDK prepends wss:// itself
            "rest": fake.futures_rest_url.removesuffix("/derivatives"),
            "api_key": fake.api_key,
            "api_secret": fake.api_secret,
        }
        env = {**os.environ, "SSL_CERT_FILE": fake.ca_file, "REQUESTS_CA_BUNDLE": fake.ca_file}
        with trio.fail_after(100):
            proc = await trio.run_process(
                [sys.executable, "-c", SCRIPT, json.dumps(cfg)],
                capture_stdout=True,
                capture_stderr=True,
                check=False,
                env=env,
            )
        assert fake.futures is not None
        position = fake.futures.account.positions["PF_ETHUSD"]
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-3000:]
    result: dict[str, Any] = json.loads(proc.stdout.decode().strip().splitlines()[-1])
    assert result["exception"] is False
    messages = [m for m in result["messages"] if isinstance(m, dict)]

    feeds = [m for m in messages if "event" not in m]

    def first(pred: Any) -> dict[str, Any]:
        return next(m for m in feeds if pred(m))

    # a lower-case product id is accepted and acked in upper case, as Kraken does
    ack = next(m for m in messages if m.get("event") == "subscribed" and m["feed"] == "book")
    assert ack["product_ids"] == ["PI_XBTUSD"]
    book = first(lambda m: m.get("feed") == "book_snapshot")
    assert len(book["bids"]) >= 100
    # the order: placed over REST by the SDK, filled against the fake's book
    sent = result["sent"]
    assert sent["result"] == "success"
    assert sent["sendStatus"]["status"] == "filled"
    order_id = sent["sendStatus"]["order_id"]
    # one fill per book level the order crossed (how many depends on the book at that moment)
    fills = [f for m in feeds if m.get("feed") == "fills" for f in m["fills"]]
    assert sum(f["qty"] for f in fills) == pytest.approx(0.5)
    assert {(f["order_id"], f["buy"], f["fill_type"]) for f in fills} == {
        (order_id, False, "taker")
    }
    positions = [m for m in feeds if m.get("feed") == "open_positions" and m["positions"]]
    assert positions[-1]["positions"][0]["balance"] == -0.5
    assert str(position.size) == "-0.5"
    # seq per subscription: the snapshot is 0, this subscriber's next delta 1
    balances = [m for m in feeds if m.get("feed") in ("balances_snapshot", "balances")]
    assert [m["seq"] for m in balances] == list(range(len(balances)))
    # every delta carries only the wallet that changed (the flex wallet here)
    assert all(
        set(m) == {"feed", "account", "flex_futures", "timestamp", "seq"} for m in balances[1:]
    )
    # the legacy feed, in its documented shape
    legacy = first(lambda m: m.get("feed") == "account_balances_and_margins")
    assert {a["name"] for a in legacy["margin_accounts"]} >= {"flex", "f-xbt:usd"}
    assert set(legacy["margin_accounts"][0]) == {
        "name", "pv", "balance", "funding", "mm", "pnl", "im", "am"
    }  # fmt: skip
    log = first(lambda m: m.get("feed") == "account_log" and "new_entry" in m)["new_entry"]
    assert log["info"] == "futures trade"
    assert None not in log.values()
