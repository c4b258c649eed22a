"""Proof of fidelity: python-kraken-sdk, a client nobody here wrote, works against the fake.

The SDK runs in its own process (a script run with ``sys.executable``) against an
in-process fake whose URLs it is given; only URLs are patched. It subscribes to ticker and
book, fetches a token over REST, subscribes to executions, places and cancels an order, and
keeps a checksum-validated order book with its own ``SpotOrderBookClient``.
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

pytest.importorskip("kraken.spot", reason="python-kraken-sdk is a test-only dependency")

SCRIPT = r"""
import asyncio
import json
import sys

CFG = json.loads(sys.argv[1])


async def main():
    from kraken.base_api import SpotClient
    from kraken.spot import SpotOrderBookClient, SpotWSClient
    from kraken.spot.websocket import SpotWSClientBase

    public = CFG["public"].removesuffix("/v2")   # the SDK appends "/v2" itself
    private = CFG["private"].removesuffix("/v2")
    # SpotOrderBookClient takes no URLs: point its class defaults at the fake (URLs only).
    SpotWSClientBase.WS_URL = public
    SpotClient.URL = CFG["rest_url"]

    messages = []
    book_updates = []

    async def on_message(message):
        messages.append(message)

    class Book(SpotOrderBookClient):
        async def on_book_update(self, pair, message):
            book_updates.append(message)

    async def wait_for(pred, what, timeout=20.0):
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while loop.time() < end:
            for message in list(messages):
                if isinstance(message, dict) and pred(message):
                    return message
            await asyncio.sleep(0.02)
        raise SystemExit(f"timed out waiting for {what}")

    client = SpotWSClient(
        key=CFG["api_key"],
        secret=CFG["api_secret"],
        callback=on_message,
        rest_url=CFG["rest_url"],
        ws_url=public,
        auth_ws_url=private,
    )
    book = Book(depth=10)
    await client.start()
    await book.start()
    await client.subscribe(params={"channel": "ticker", "symbol": ["BTC/USD"]})
    await client.subscribe(params={"channel": "book", "symbol": ["BTC/USD"], "depth": 10})
    await client.subscribe(params={"channel": "executions", "snap_orders": True})
    await book.add_book(pairs=["BTC/USD"])

    await wait_for(lambda m: m.get("channel") == "ticker" and m.get("type") == "snapshot", "ticker")
    await wait_for(lambda m: m.get("channel") == "book" and m.get("type") == "snapshot", "book")
    await wait_for(
        lambda m: m.get("channel") == "executions" and m.get("type") == "snapshot", "executions"
    )
    await client.send_message(
        message={
            "method": "add_order",
            "params": {
                "order_type": "limit",
                "side": "buy",
                "limit_price": CFG["limit_price"],
                "order_qty": 0.001,
                "symbol": "BTC/USD",
                "order_userref": 4242,
            },
            "req_id": 7,
        }
    )
    added = await wait_for(lambda m: m.get("method") == "add_order", "add_order reply")
    order_id = added["result"]["order_id"]
    await client.send_message(
        message={"method": "cancel_order", "params": {"order_id": [order_id]}, "req_id": 8}
    )
    await wait_for(lambda m: m.get("method") == "cancel_order", "cancel_order reply")
    await wait_for(
        lambda m: m.get("channel") == "executions"
        and any(d.get("exec_type") == "canceled" for d in m.get("data", [])),
        "canceled execution",
    )
    loop = asyncio.get_running_loop()
    end = loop.time() + 20
    while len(book_updates) < 30 and loop.time() < end:
        await asyncio.sleep(0.02)
    state = book.get("BTC/USD")
    result = {
        "messages": messages,
        "book_updates": book_updates,
        "book_valid": None if state is None else state["valid"],
        "book_bids": 0 if state is None else len(state["bid"]),
        "exception": client.exception_occur or book.exception_occur,
    }
    await client.close()
    await book.close()
    print(json.dumps(result, default=str))


asyncio.run(main())
"""


async def run_sdk(cfg: dict[str, Any]) -> dict[str, Any]:
    """Run the SDK script in its own process; bounded by the caller's ``fail_after``."""
    proc = await trio.run_process(
        [sys.executable, "-c", SCRIPT, json.dumps(cfg)],
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-3000:]
    out: dict[str, Any] = json.loads(proc.stdout.decode().strip().splitlines()[-1])
    return out


@pytest.mark.slow
async def test_python_kraken_sdk_trades_and_keeps_a_valid_book() -> None:
    async with open_fake_kraken(seed=5, update_interval=0.02) as fake:
        bid, _ = fake.market.best_bid_ask("BTC/USD")
        assert bid is not None
        cfg = {
            "public": fake.endpoints[WsKey.SPOT_PUBLIC_V2],
            "private": fake.endpoints[WsKey.SPOT_PRIVATE_V2],
            "rest_url": fake.rest_url,
            "api_key": fake.api_key,
            "api_secret": fake.api_secret,
            "limit_price": float(bid - Decimal(2000)),
        }
        with trio.fail_after(100):
            result = await run_sdk(cfg)
        # what the servers saw from the SDK
        token_requests = [
            r for r in fake.rest.received if r.path == "/0/private/GetWebSocketsToken"
        ]
        private_methods = [
            r.message.get("method") for r in fake.private.received if isinstance(r.message, dict)
        ]

    assert result["exception"] is False
    messages = [m for m in result["messages"] if isinstance(m, dict)]

    def first(pred: Any) -> dict[str, Any]:
        return next(m for m in messages if pred(m))

    # public: status, per-symbol acks, ticker and book snapshots
    status = first(lambda m: m.get("channel") == "status")
    assert status["data"][0]["connection_id"] > 2**63
    ticker = first(lambda m: m.get("channel") == "ticker" and m.get("type") == "snapshot")
    assert ticker["data"][0]["symbol"] == "BTC/USD"
    assert ticker["data"][0]["bid"] < ticker["data"][0]["ask"]
    book_ack = first(
        lambda m: m.get("method") == "subscribe" and m.get("result", {}).get("channel") == "book"
    )
    assert book_ack["success"] is True
    assert book_ack["result"]["depth"] == 10
    snap = first(lambda m: m.get("channel") == "book" and m.get("type") == "snapshot")
    assert len(snap["data"][0]["bids"]) == 10
    # private: token over REST, executions ack and snapshot, add and cancel
    assert len(token_requests) >= 1
    exec_ack = first(
        lambda m: (
            m.get("method") == "subscribe" and m.get("result", {}).get("channel") == "executions"
        )
    )
    assert exec_ack["success"] is True
    assert exec_ack["result"]["maxratecount"] == 180
    added = first(lambda m: m.get("method") == "add_order")
    assert added["success"] is True
    assert added["req_id"] == 7
    assert added["result"]["order_userref"] == 4242
    order_id = added["result"]["order_id"]
    cancelled = first(lambda m: m.get("method") == "cancel_order")
    assert cancelled["success"] is True
    assert cancelled["req_id"] == 8
    assert cancelled["result"] == {"order_id": order_id}
    exec_types = [
        d["exec_type"]
        for m in messages
        if m.get("channel") == "executions" and m.get("type") == "update"
        for d in m["data"]
        if d.get("order_id") == order_id
    ]
    assert exec_types == ["pending_new", "new", "canceled"]
    assert {"subscribe", "add_order", "cancel_order"} <= set(private_methods)
    # the SDK's own order book validated every checksum it checked
    assert result["book_valid"] is True
    assert len(result["book_updates"]) >= 30
    assert not any("error" in u for u in result["book_updates"])
    assert result["book_bids"] == 10
