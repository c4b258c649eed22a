"""The fake exchange's private spot endpoints (ws-auth, beta, level3), over real sockets."""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import httpx
import pytest
import trio
from trio_websocket import WebSocketConnection, open_websocket_url

from kraken_trio import WsKey
from kraken_trio._proto.auth import NonceSource, sign_rest_request
from kraken_trio.testing import FakeKraken, open_fake_kraken

PATH = "/0/private/GetWebSocketsToken"
_nonces = NonceSource()


def loads(text: str | bytes) -> Any:
    return json.loads(text, parse_float=str)


class Client:
    def __init__(self, ws: WebSocketConnection) -> None:
        self.ws = ws
        self.status: dict[str, Any] = {}

    async def send(self, msg: Any) -> None:
        await self.ws.send_message(msg if isinstance(msg, str) else json.dumps(msg))

    async def recv(self) -> Any:
        with trio.fail_after(5):
            text = await self.ws.get_message()
        return loads(text)

    async def recv_until(self, pred: Callable[[Any], bool]) -> Any:
        for _ in range(10_000):
            msg = await self.recv()
            if pred(msg):
                return msg
        raise AssertionError("never came")

    async def drain(self) -> list[Any]:
        """Everything queued before a pong (frames are queued in order)."""
        await self.send({"method": "ping", "req_id": 999_999})
        out = []
        while (msg := await self.recv()).get("method") != "pong":
            out.append(msg)
        return out


@asynccontextmanager
async def connect(url: str) -> AsyncIterator[Client]:
    async with open_websocket_url(url) as ws:
        client = Client(ws)
        client.status = (await client.recv())["data"][0]
        yield client


async def get_token(fake: FakeKraken, key: str | None = None, secret: str | None = None) -> str:
    nonce = _nonces.next(time.time())
    body = f"nonce={nonce}"
    headers = {
        "API-Key": key or fake.api_key,
        "API-Sign": sign_rest_request(secret or fake.api_secret, PATH, nonce, body),
    }
    with trio.fail_after(5):
        async with httpx.AsyncClient() as http:
            resp = await http.post(fake.rest_url + PATH, content=body, headers=headers)
    token: str = resp.json()["result"]["token"]
    return token


@pytest.fixture
async def fake() -> AsyncIterator[FakeKraken]:
    async with open_fake_kraken(seed=11, update_interval=0, heartbeat_interval=30) as f:
        yield f


def private(fake: FakeKraken) -> str:
    return fake.endpoints[WsKey.SPOT_PRIVATE_V2]


async def test_private_requests_need_a_valid_token(fake: FakeKraken) -> None:
    async with connect(private(fake)) as c:
        await c.send({"method": "subscribe", "params": {"channel": "executions"}, "req_id": 1})
        err = await c.recv()
        assert (err["error"], err["method"], err["req_id"]) == (
            "Token(s) not found",
            "subscribe",
            1,
        )
        await c.send(
            {"method": "add_order", "params": {"token": "bogus", "symbol": "BTC/USD"}, "req_id": 2}
        )
        err = await c.recv()
        assert (err["error"], err["method"], err["success"]) == (
            "Token(s) not found",
            "add_order",
            False,
        )


async def test_executions_ack_snapshot_and_order_lifecycle(fake: FakeKraken) -> None:
    token = await get_token(fake)
    async with connect(private(fake)) as c:
        await c.send(
            {
                "method": "subscribe",
                "params": {"channel": "executions", "token": token, "snap_trades": True},
                "req_id": 10,
            }
        )
        ack = await c.recv()
        assert ack["success"] is True
        assert ack["req_id"] == 10
        assert ack["result"]["channel"] == "executions"
        assert ack["result"]["maxratecount"] == 180
        assert ack["result"]["snap_orders"] is True
        assert ack["result"]["snap_trades"] is True
        snap = await c.recv()
        assert (snap["channel"], snap["type"], snap["sequence"]) == ("executions", "snapshot", 1)
        assert snap["data"] == []
        bid, _ = fake.market.best_bid_ask("BTC/USD")
        assert bid is not None
        price = bid - Decimal(1000)
        order = {
            "order_type": "limit",
            "side": "buy",
            "limit_price": float(price),
            "order_qty": 0.01,
            "symbol": "BTC/USD",
            "order_userref": 7,
            "token": token,
        }
        await c.send({"method": "add_order", "params": order, "req_id": 11})
        frames = await c.drain()
        reply = next(f for f in frames if f.get("method") == "add_order")
        assert reply["success"] is True
        assert reply["req_id"] == 11
        assert reply["result"]["order_userref"] == 7
        order_id = reply["result"]["order_id"]
        execs = [f for f in frames if f.get("channel") == "executions"]
        assert [e["data"][0]["exec_type"] for e in execs][:2] == ["pending_new", "new"]
        seqs = [e["sequence"] for e in execs]
        assert seqs == list(range(2, 2 + len(execs)))
        assert execs[0]["data"][0]["order_id"] == order_id
        # numbers are fixed-point at the pair's precision
        assert execs[0]["data"][0]["limit_price"] == f"{price:.1f}"
        assert execs[0]["data"][0]["order_qty"] == "0.01000000"

        # a second order, then cancel both: one reply per order, same req_id
        await c.send({"method": "add_order", "params": {**order, "order_userref": 8}, "req_id": 12})
        frames = await c.drain()
        second = next(f for f in frames if f.get("method") == "add_order")["result"]["order_id"]
        await c.send(
            {
                "method": "cancel_order",
                "params": {"order_id": [order_id, second], "token": token},
                "req_id": 13,
            }
        )
        frames = await c.drain()
        replies = [f for f in frames if f.get("method") == "cancel_order"]
        assert len(replies) == 2
        assert {r["result"]["order_id"] for r in replies} == {order_id, second}
        assert all(r["req_id"] == 13 and r["success"] for r in replies)
        cancels = [f["data"][0] for f in frames if f.get("channel") == "executions"]
        assert {d["order_id"] for d in cancels if d["exec_type"] == "canceled"} == {
            order_id,
            second,
        }


async def test_market_order_fills_against_the_public_book(fake: FakeKraken) -> None:
    token = await get_token(fake)
    async with (
        connect(private(fake)) as c,
        connect(fake.endpoints[WsKey.SPOT_PUBLIC_V2]) as pub,
    ):
        await pub.send(
            {"method": "subscribe", "params": {"channel": "trade", "symbol": ["ETH/USD"]}}
        )
        await pub.recv()
        await pub.drain()
        await c.send({"method": "subscribe", "params": {"channel": "balances", "token": token}})
        ack = await c.recv()
        assert ack["result"] == {"channel": "balances", "snapshot": True}
        snap = await c.recv()
        assert snap["type"] == "snapshot"
        assert snap["sequence"] == 1
        usd = next(b for b in snap["data"] if b["asset"] == "USD")
        await c.send({"method": "subscribe", "params": {"channel": "executions", "token": token}})
        await c.drain()
        await c.send(
            {
                "method": "add_order",
                "params": {
                    "order_type": "market",
                    "side": "buy",
                    "order_qty": 0.5,
                    "symbol": "ETH/USD",
                    "token": token,
                },
                "req_id": 1,
            }
        )
        frames = await c.drain()
        assert next(f for f in frames if f.get("method") == "add_order")["success"] is True
        trades = [
            f["data"][0]
            for f in frames
            if f.get("channel") == "executions" and f["data"][0]["exec_type"] == "trade"
        ]
        assert trades
        assert any(
            f.get("channel") == "executions" and f["data"][0]["exec_type"] == "filled"
            for f in frames
        )
        ledger = [f for f in frames if f.get("channel") == "balances"]
        assert ledger
        assert all(f["type"] == "update" for f in ledger)
        assert [f["sequence"] for f in ledger] == list(range(2, 2 + len(ledger)))
        usd_after = [d for f in ledger for d in f["data"] if d["asset"] == "USD"][-1]
        assert Decimal(usd_after["balance"]) < Decimal(usd["balance"])
        # the same trades are public, with the same ids
        public_ids = {t["trade_id"] for f in await pub.drain() for t in f["data"]}
        assert {t["trade_id"] for t in trades} <= public_ids


async def test_rate_limit_and_auth_faults(fake: FakeKraken) -> None:
    token = await get_token(fake)
    faults = fake.faults(WsKey.SPOT_PRIVATE_V2)
    async with connect(private(fake)) as c:
        faults.rate_limit_next(1)
        await c.send({"method": "cancel_all", "params": {"token": token}, "req_id": 4})
        err = await c.recv()
        assert (err["error"], err["req_id"]) == ("EOrder:Rate limit exceeded", 4)
        await c.send({"method": "cancel_all", "params": {"token": token}, "req_id": 5})
        ok = await c.recv()
        assert ok["result"] == {"count": 0}
        faults.reject_next_auth()
        await c.send({"method": "cancel_all", "params": {"token": token}, "req_id": 6})
        assert (await c.recv())["error"] == "Token(s) not found"
        await c.send({"method": "cancel_all", "params": {"token": token}, "req_id": 7})
        assert (await c.recv())["success"] is True


async def test_state_lives_across_connections_and_beta(fake: FakeKraken) -> None:
    token = await get_token(fake)
    bid, _ = fake.market.best_bid_ask("SOL/USD")
    assert bid is not None
    async with connect(private(fake)) as c:
        await c.send(
            {
                "method": "add_order",
                "params": {
                    "order_type": "limit",
                    "side": "buy",
                    "limit_price": float(bid - 10),
                    "order_qty": 1,
                    "symbol": "SOL/USD",
                    "token": token,
                },
            }
        )
        order_id = (await c.recv())["result"]["order_id"]
    token2 = await get_token(fake)
    async with connect(fake.endpoints[WsKey.SPOT_BETA_PRIVATE_V2]) as b:
        await b.send({"method": "subscribe", "params": {"channel": "executions", "token": token2}})
        await b.recv()
        snap = await b.recv()
        assert [o["order_id"] for o in snap["data"]] == [order_id]
        await b.send({"method": "cancel_all", "params": {"token": token2}, "req_id": 3})
        frames = await b.drain()
        assert next(f for f in frames if f.get("method") == "cancel_all")["result"] == {"count": 1}
        assert any(f.get("channel") == "executions" for f in frames)


async def test_dead_man_switch_fires_through_the_server() -> None:
    async with open_fake_kraken(update_interval=0) as fake:
        token = await get_token(fake)
        bid, _ = fake.market.best_bid_ask("BTC/USD")
        assert bid is not None
        async with connect(private(fake)) as c:
            await c.send(
                {"method": "subscribe", "params": {"channel": "executions", "token": token}}
            )
            await c.drain()
            await c.send(
                {
                    "method": "add_order",
                    "params": {
                        "order_type": "limit",
                        "side": "buy",
                        "limit_price": float(bid - 500),
                        "order_qty": 0.01,
                        "symbol": "BTC/USD",
                        "token": token,
                    },
                }
            )
            await c.send(
                {"method": "cancel_all_orders_after", "params": {"timeout": 1, "token": token}}
            )
            reply = await c.recv_until(lambda m: m.get("method") == "cancel_all_orders_after")
            assert list(reply["result"]) == ["currentTime", "triggerTime"]
            with trio.fail_after(5):
                cancel = await c.recv_until(
                    lambda m: (
                        m.get("channel") == "executions"
                        and m["data"][0].get("exec_type") == "canceled"
                    )
                )
            assert cancel["type"] == "update"


# --- level3 ---------------------------------------------------------------------------------------


class L3Book:
    def __init__(self, depth: int) -> None:
        self.depth = depth
        self.sides: dict[str, dict[str, tuple[str, str]]] = {"bids": {}, "asks": {}}
        self.order: dict[str, list[str]] = {"bids": [], "asks": []}

    def apply(self, data: dict[str, Any], *, snapshot: bool) -> None:
        for name in ("bids", "asks"):
            orders = self.sides[name]
            seq = self.order[name]
            for o in data[name]:
                event = "add" if snapshot else o["event"]
                oid = o["order_id"]
                if event == "add":
                    orders[oid] = (o["limit_price"], o["order_qty"])
                    seq.append(oid)
                elif event == "modify":
                    orders[oid] = (o["limit_price"], o["order_qty"])
                else:
                    orders.pop(oid, None)
                    if oid in seq:
                        seq.remove(oid)
            prices = sorted({p for p, _ in orders.values()}, key=Decimal, reverse=name == "bids")
            keep = set(prices[: self.depth])
            for oid in list(seq):
                if orders[oid][0] not in keep:
                    del orders[oid]
                    seq.remove(oid)

    def checksum(self) -> int:
        def digits(t: str) -> str:
            return t.replace(".", "").lstrip("0")

        text = ""
        for name in ("asks", "bids"):
            orders, seq = self.sides[name], self.order[name]
            prices = sorted({p for p, _ in orders.values()}, key=Decimal, reverse=name == "bids")
            for price in prices[:10]:
                for oid in seq:
                    if orders[oid][0] == price:
                        text += digits(price) + digits(orders[oid][1])
        return zlib.crc32(text.encode())


async def test_level3_requires_token_and_keeps_l3_checksums(fake: FakeKraken) -> None:
    url = fake.endpoints[WsKey.SPOT_L3_V2]
    async with connect(url) as c:
        await c.send(
            {"method": "subscribe", "params": {"channel": "level3", "symbol": ["BTC/USD"]}}
        )
        assert (await c.recv())["error"] == "Token(s) not found"
        token = await get_token(fake)
        await c.send(
            {
                "method": "subscribe",
                "params": {"channel": "level3", "symbol": ["BTC/USD"], "depth": 25, "token": token},
            }
        )
        assert (await c.recv())["error"] == "Subscription depth not supported"
        await c.send(
            {
                "method": "subscribe",
                "params": {"channel": "level3", "symbol": ["BTC/USD"], "token": token},
                "req_id": 3,
            }
        )
        ack = await c.recv()
        assert ack["result"] == {
            "channel": "level3",
            "depth": 10,
            "snapshot": True,
            "symbol": "BTC/USD",
        }
        snap = await c.recv()
        assert (snap["channel"], snap["type"]) == ("level3", "snapshot")
        data = snap["data"][0]
        assert list(data) == ["symbol", "checksum", "bids", "asks"]
        first = data["bids"][0]
        assert list(first) == ["order_id", "limit_price", "order_qty", "timestamp"]
        assert len(first["timestamp"].split(".")[1]) == 10  # 9 digits + Z
        book = L3Book(10)
        book.apply(data, snapshot=True)
        assert book.checksum() == data["checksum"]
        updates = 0
        for _ in range(40):
            await fake.step()
            for msg in await c.drain():
                upd = msg["data"][0]
                assert list(upd) == ["checksum", "symbol", "bids", "asks"]
                book.apply(upd, snapshot=False)
                assert book.checksum() == upd["checksum"]
                updates += 1
        assert updates > 10


async def test_executions_options_the_fake_lacks_are_rejected(fake: FakeKraken) -> None:
    token = await get_token(fake)
    async with connect(private(fake)) as c:
        for option in ({"order_status": False}, {"ratecounter": True}, {"users": "all"}):
            await c.send(
                {
                    "method": "subscribe",
                    "params": {"channel": "executions", "token": token, **option},
                }
            )
            err = await c.recv()
            assert err["success"] is False
            assert err["error"].startswith("EGeneral:Invalid arguments:")
            assert "not supported by the fake exchange" in err["error"]
        # deprecated spellings still work
        await c.send(
            {
                "method": "subscribe",
                "params": {"channel": "executions", "token": token, "snapshot_trades": True},
            }
        )
        ack = await c.recv()
        assert ack["result"]["snap_trades"] is True
        assert fake.private.subscriptions() == {c.status["connection_id"]: [("executions", None)]}


async def test_balances_unsubscribe_and_not_found(fake: FakeKraken) -> None:
    token = await get_token(fake)
    async with connect(private(fake)) as c:
        sub = {"channel": "balances", "token": token, "snapshot": False}
        await c.send({"method": "subscribe", "params": sub})
        assert (await c.recv())["result"] == {"channel": "balances", "snapshot": False}
        await c.send({"method": "unsubscribe", "params": sub, "req_id": 2})
        ack = await c.recv()
        assert (ack["method"], ack["result"], ack["req_id"]) == (
            "unsubscribe",
            {"channel": "balances"},
            2,
        )
        await c.send({"method": "unsubscribe", "params": sub, "req_id": 3})
        err = await c.recv()
        assert (err["error"], err["method"]) == ("Subscription Not Found", "subscribe")


async def test_level3_unsubscribe_and_no_snapshot(fake: FakeKraken) -> None:
    token = await get_token(fake)
    async with connect(fake.endpoints[WsKey.SPOT_L3_V2]) as c:
        params = {
            "channel": "level3",
            "symbol": ["ETH/USD"],
            "depth": 100,
            "snapshot": False,
            "token": token,
        }
        await c.send({"method": "subscribe", "params": params})
        assert (await c.recv())["result"]["snapshot"] is False
        assert await c.drain() == []
        await c.send({"method": "unsubscribe", "params": params})
        assert (await c.recv())["result"] == {
            "channel": "level3",
            "depth": 100,
            "symbol": "ETH/USD",
        }
        await fake.step(5)
        assert await c.drain() == []


def test_unused_tokens_expire_used_ones_do_not() -> None:
    from kraken_trio.testing._rest import TokenStore

    store = TokenStore(lifetime=900)
    unused = store.issue("acct", now=1000.0)
    used = store.issue("acct", now=1000.0)
    assert store.lookup(used, now=1001.0) == "acct"
    assert store.lookup(unused, now=1901.0) is None
    assert store.lookup(used, now=99999.0) == "acct"
    assert store.lookup("nope", now=1000.0) is None
    assert store.lookup(None, now=1000.0) is None
    assert unused not in repr(store)


async def test_resting_orders_show_in_the_public_book_and_level3(fake: FakeKraken) -> None:
    token = await get_token(fake)
    book = fake.market.books["BTC/USD"]
    level = book.bids.top(3)[2]  # an existing bid level, third best
    price = Decimal(level).scaleb(-1)
    synthetic_before = book.bids.lots[level]
    async with (
        connect(private(fake)) as c,
        connect(fake.endpoints[WsKey.SPOT_PUBLIC_V2]) as pub,
        connect(fake.endpoints[WsKey.SPOT_L3_V2]) as l3,
    ):
        await pub.send(
            {"method": "subscribe", "params": {"channel": "book", "symbol": ["BTC/USD"]}}
        )
        await pub.recv()
        snap = (await pub.recv())["data"][0]
        await l3.send(
            {
                "method": "subscribe",
                "params": {"channel": "level3", "symbol": ["BTC/USD"], "token": token},
            }
        )
        await l3.recv()
        l3book = L3Book(10)
        l3book.apply((await l3.recv())["data"][0], snapshot=True)
        bids = {b["price"]: b["qty"] for b in snap["bids"]}
        shown_before = Decimal(bids[f"{price:.1f}"])
        await c.send(
            {
                "method": "add_order",
                "params": {
                    "order_type": "limit",
                    "side": "buy",
                    "limit_price": float(price),
                    "order_qty": 0.25,
                    "symbol": "BTC/USD",
                    "token": token,
                },
            }
        )
        order_id = (await c.recv_until(lambda m: m.get("method") == "add_order"))["result"][
            "order_id"
        ]
        updates = await pub.drain()
        levels = [
            lv for u in updates for lv in u["data"][0]["bids"] if lv["price"] == f"{price:.1f}"
        ]
        assert Decimal(levels[-1]["qty"]) == shown_before + Decimal("0.25")
        for msg in await l3.drain():
            l3book.apply(msg["data"][0], snapshot=False)
            assert l3book.checksum() == msg["data"][0]["checksum"]
        assert l3book.sides["bids"][order_id] == (f"{price:.1f}", "0.25000000")
        # the engine never trades against its own orders through the market
        view = dict(fake.market.opposite_levels("BTC/USD", "sell"))
        assert view[price] == Decimal(synthetic_before).scaleb(-8)

        await c.send({"method": "cancel_order", "params": {"order_id": [order_id], "token": token}})
        await c.recv_until(lambda m: m.get("method") == "cancel_order")
        updates = await pub.drain()
        levels = [
            lv for u in updates for lv in u["data"][0]["bids"] if lv["price"] == f"{price:.1f}"
        ]
        assert Decimal(levels[-1]["qty"]) == shown_before
        for msg in await l3.drain():
            l3book.apply(msg["data"][0], snapshot=False)
            assert l3book.checksum() == msg["data"][0]["checksum"]
        assert order_id not in l3book.sides["bids"]


async def test_engine_orders_can_be_hidden() -> None:
    async with open_fake_kraken(update_interval=0, show_engine_orders=False) as fake:
        token = await get_token(fake)
        bid, _ = fake.market.best_bid_ask("ETH/USD")
        assert bid is not None
        async with connect(private(fake)) as c:
            await c.send(
                {
                    "method": "add_order",
                    "params": {
                        "order_type": "limit",
                        "side": "buy",
                        "limit_price": float(bid - 5),
                        "order_qty": 1,
                        "symbol": "ETH/USD",
                        "token": token,
                    },
                }
            )
            assert (await c.recv())["success"] is True
        assert fake.market.books["ETH/USD"].overlay == {}


async def test_checksums_hold_while_engine_orders_rest_trade_and_cancel(fake: FakeKraken) -> None:
    token = await get_token(fake)
    book = fake.market.books["SOL/USD"]
    async with (
        connect(private(fake)) as c,
        connect(fake.endpoints[WsKey.SPOT_PUBLIC_V2]) as pub,
        connect(fake.endpoints[WsKey.SPOT_L3_V2]) as l3,
    ):
        await pub.send(
            {"method": "subscribe", "params": {"channel": "book", "symbol": ["SOL/USD"]}}
        )
        await pub.recv()
        snap = (await pub.recv())["data"][0]
        bids = {b["price"]: b["qty"] for b in snap["bids"]}
        asks = {a["price"]: a["qty"] for a in snap["asks"]}
        await l3.send(
            {
                "method": "subscribe",
                "params": {"channel": "level3", "symbol": ["SOL/USD"], "token": token},
            }
        )
        await l3.recv()
        l3book = L3Book(10)
        l3book.apply((await l3.recv())["data"][0], snapshot=True)
        for rank in range(5):
            for side, levels in (("buy", book.bids), ("sell", book.asks)):
                ticks = levels.top(8)[rank]
                await c.send(
                    {
                        "method": "add_order",
                        "params": {
                            "order_type": "limit",
                            "side": side,
                            "limit_price": float(Decimal(ticks).scaleb(-2)),
                            "order_qty": 0.5 + rank,
                            "symbol": "SOL/USD",
                            "token": token,
                        },
                    }
                )
        replies = [m for m in await c.drain() if m.get("method") == "add_order"]
        assert len(replies) == 10
        assert all(r["success"] for r in replies)
        assert sum(len(o) for o in book.overlay.values()) == 10
        checked = 0
        for step in range(60):
            await fake.step()
            if step == 30:
                await c.send({"method": "cancel_all", "params": {"token": token}})
            for msg in await pub.drain():
                upd = msg["data"][0]
                for levels_in, side_book, desc in (
                    (upd["bids"], bids, True),
                    (upd["asks"], asks, False),
                ):
                    for lv in levels_in:
                        if Decimal(lv["qty"]) == 0:
                            side_book.pop(lv["price"], None)
                        else:
                            side_book[lv["price"]] = lv["qty"]
                    for p in sorted(side_book, key=Decimal, reverse=desc)[10:]:
                        del side_book[p]

                def digits(t: str) -> str:
                    return t.replace(".", "").lstrip("0")

                text = "".join(digits(p) + digits(asks[p]) for p in sorted(asks, key=Decimal))
                text += "".join(
                    digits(p) + digits(bids[p]) for p in sorted(bids, key=Decimal, reverse=True)
                )
                assert zlib.crc32(text.encode()) == upd["checksum"]
                checked += 1
            for msg in await l3.drain():
                l3book.apply(msg["data"][0], snapshot=False)
                assert l3book.checksum() == msg["data"][0]["checksum"]
        assert checked > 30
        assert book.overlay == {}
        assert [book.price_text(t) for t in book.bids.top(10)] == sorted(
            bids, key=Decimal, reverse=True
        )
