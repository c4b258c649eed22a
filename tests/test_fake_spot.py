"""The fake exchange's Spot v2 public endpoints, over real loopback sockets."""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
from trio_websocket import WebSocketConnection, open_websocket_url

from kraken_trio import WsKey
from kraken_trio.testing import FakeKraken, open_fake_kraken

TS6 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
TS9 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$")
PRECISION = {"BTC/USD": (1, 8), "SHIB/USD": (9, 5), "ETH/BTC": (6, 8), "ETH/USD": (2, 8)}


def loads(text: str | bytes) -> Any:
    """Decode keeping every float literal as its exact text."""
    return json.loads(text, parse_float=str)


class Client:
    """A thin test client over trio-websocket's own client."""

    def __init__(self, ws: WebSocketConnection) -> None:
        self.ws = ws
        self.status: dict[str, Any] = {}

    async def send(self, msg: Any) -> None:
        await self.ws.send_message(msg if isinstance(msg, str) else json.dumps(msg))

    async def recv_text(self) -> str:
        with trio.fail_after(5):
            text = await self.ws.get_message()
        assert isinstance(text, str)
        return text

    async def recv(self) -> Any:
        return loads(await self.recv_text())

    async def drain_until_pong(self) -> list[Any]:
        """Everything queued before a pong (the server queues frames in order)."""
        await self.send({"method": "ping", "req_id": 424242})
        out = []
        while (msg := await self.recv()).get("method") != "pong":
            out.append(msg)
        return out

    async def recv_until(self, pred: Any, *, limit: int = 5000) -> Any:
        for _ in range(limit):
            msg = await self.recv()
            if pred(msg):
                return msg
        raise AssertionError("message never came")


@asynccontextmanager
async def connect(url: str) -> AsyncIterator[Client]:
    async with open_websocket_url(url) as ws:
        client = Client(ws)
        status = await client.recv()
        assert status["channel"] == "status"
        client.status = status["data"][0]
        yield client


@pytest.fixture
async def fake() -> AsyncIterator[FakeKraken]:
    async with open_fake_kraken(seed=7, update_interval=0, heartbeat_interval=30) as f:
        yield f


def public(fake: FakeKraken) -> str:
    return fake.endpoints[WsKey.SPOT_PUBLIC_V2]


# --- envelope ----------------------------------------------------------------------------------


async def test_status_on_connect_with_fresh_u64_connection_ids(fake: FakeKraken) -> None:
    async with connect(public(fake)) as a, connect(public(fake)) as b:
        for c in (a, b):
            assert c.status["api_version"] == "v2"
            assert c.status["system"] == "online"
            assert 2**63 < c.status["connection_id"] < 2**64
        assert a.status["connection_id"] != b.status["connection_id"]
        assert set(fake.public.connection_ids) == {
            a.status["connection_id"],
            b.status["connection_id"],
        }


async def test_status_frame_text_is_kraken_shaped(fake: FakeKraken) -> None:
    async with open_websocket_url(public(fake)) as ws:
        with trio.fail_after(5):
            text = await ws.get_message()
    assert isinstance(text, str)
    assert re.fullmatch(
        r'\{"channel":"status","data":\[\{"api_version":"v2","connection_id":\d{19,20},'
        r'"system":"online","version":"2\.0\.\d+"\}\],"type":"update"\}',
        text,
    )


async def test_ping_pong_echoes_req_id_only_when_sent(fake: FakeKraken) -> None:
    async with connect(public(fake)) as c:
        await c.send({"method": "ping", "req_id": 101})
        text = await c.recv_text()
        pong = loads(text)
        assert list(pong) == ["method", "req_id", "time_in", "time_out"]
        assert pong["method"] == "pong"
        assert pong["req_id"] == 101
        assert TS6.match(pong["time_in"])
        assert TS6.match(pong["time_out"])
        await c.send({"method": "ping"})
        pong = await c.recv()
        assert list(pong) == ["method", "time_in", "time_out"]


async def test_ping_with_params_is_rejected_in_krakens_words(fake: FakeKraken) -> None:
    async with connect(public(fake)) as c:
        await c.send({"method": "ping", "params": {}, "req_id": 0})
        err = await c.recv()
        assert err["error"] == "Unsupported field: 'params' for the given msg type: ping"
        assert err["method"] == "ping"
        assert err["req_id"] == 0
        assert err["success"] is False
        assert list(err) == ["error", "method", "req_id", "success", "time_in", "time_out"]


async def test_invalid_json_is_a_malformed_request(fake: FakeKraken) -> None:
    async with connect(public(fake)) as c:
        await c.send("{not json")
        err = await c.recv()
        assert err["error"] == "Malformed request"
        assert err["success"] is False
        assert "method" not in err
        # the connection survives
        await c.send({"method": "ping", "req_id": 3})
        assert (await c.recv())["method"] == "pong"
    assert fake.public.received[0].message == "{not json"


async def test_unknown_method_and_channel_are_unsupported_events(fake: FakeKraken) -> None:
    async with connect(public(fake)) as c:
        await c.send({"method": "frobnicate", "req_id": 1})
        err = await c.recv()
        assert (err["error"], err["method"], err["req_id"]) == (
            "Unsupported event",
            "frobnicate",
            1,
        )
        await c.send({"method": "subscribe", "params": {"channel": "nope", "symbol": ["BTC/USD"]}})
        err = await c.recv()
        assert (err["error"], err["method"]) == ("Unsupported event", "subscribe")
        assert "req_id" not in err
        # private channels are not served on the public endpoint
        await c.send({"method": "subscribe", "params": {"channel": "executions", "token": "x"}})
        assert (await c.recv())["error"] == "Unsupported event"


async def test_received_is_recorded_with_connection_ids(fake: FakeKraken) -> None:
    async with connect(public(fake)) as c:
        await c.send({"method": "ping", "req_id": 9})
        await c.recv()
        rec = fake.received(WsKey.SPOT_PUBLIC_V2)
        assert rec[-1].message == {"method": "ping", "req_id": 9}
        assert rec[-1].connection_id == c.status["connection_id"]


# --- subscribe / unsubscribe -------------------------------------------------------------------


async def test_one_ack_per_symbol_in_krakens_key_order(fake: FakeKraken) -> None:
    async with connect(public(fake)) as c:
        await c.send(
            {
                "method": "subscribe",
                "params": {
                    "channel": "ticker",
                    "symbol": ["BTC/USD", "ETH/USD"],
                    "snapshot": False,
                },
                "req_id": 42,
            }
        )
        acks = [await c.recv_text(), await c.recv_text()]
        for text, symbol in zip(acks, ["BTC/USD", "ETH/USD"], strict=True):
            assert text.startswith(
                '{"method":"subscribe","req_id":42,"result":{"channel":"ticker",'
                f'"event_trigger":"trades","snapshot":false,"symbol":"{symbol}"}},'
                '"success":true,"time_in":"'
            )
        assert fake.public.subscriptions() == {
            c.status["connection_id"]: [("ticker", "BTC/USD"), ("ticker", "ETH/USD")]
        }


async def test_subscribe_errors_use_krakens_strings(fake: FakeKraken) -> None:
    async with connect(public(fake)) as c:
        await c.send(
            {
                "method": "subscribe",
                "params": {"channel": "book", "symbol": ["BTC/USD"], "depth": 7},
            }
        )
        assert (await c.recv())["error"] == "Subscription depth not supported"
        await c.send(
            {"method": "subscribe", "params": {"channel": "book", "symbol": ["BTC/USD", "XBT/EUR"]}}
        )
        ack = await c.recv()
        assert ack["success"] is True
        snap = await c.recv()
        assert snap["type"] == "snapshot"
        err = await c.recv()
        assert err["error"] == "Currency pair not supported XBT/EUR"
        assert err["symbol"] == "XBT/EUR"
        await c.send({"method": "subscribe", "params": {"channel": "book", "symbol": ["BTC/USD"]}})
        err = await c.recv()
        assert (err["error"], err["symbol"]) == ("Already subscribed", "BTC/USD")
        await c.send({"method": "subscribe", "params": {"channel": "trade"}})
        assert (await c.recv())["error"] == "Malformed request"


async def test_unsubscribe_ack_and_subscription_not_found(fake: FakeKraken) -> None:
    async with connect(public(fake)) as c:
        sub = {"channel": "book", "symbol": ["ETH/USD"], "depth": 25, "snapshot": False}
        await c.send({"method": "subscribe", "params": sub})
        assert (await c.recv())["success"] is True
        await c.send({"method": "unsubscribe", "params": sub, "req_id": 5})
        text = await c.recv_text()
        assert text.startswith(
            '{"method":"unsubscribe","req_id":5,"result":{"channel":"book","depth":25,'
            '"symbol":"ETH/USD"},"success":true,'
        )
        assert fake.public.subscriptions() == {c.status["connection_id"]: []}
        await c.send({"method": "unsubscribe", "params": sub, "req_id": 6})
        err = await c.recv()
        assert err == {
            "error": "Subscription Not Found",
            "method": "subscribe",
            "req_id": 6,
            "success": False,
            "symbol": "ETH/USD",
            "time_in": err["time_in"],
            "time_out": err["time_out"],
        }


async def test_unsubscribed_channel_stops_flowing(fake: FakeKraken) -> None:
    async with connect(public(fake)) as c:
        sub = {"channel": "book", "symbol": ["BTC/USD"], "snapshot": False}
        await c.send({"method": "subscribe", "params": sub})
        await c.recv()
        await c.send({"method": "unsubscribe", "params": sub})
        await c.recv()
        await fake.step(20)
        await c.send({"method": "ping", "req_id": 77})
        # Frames are queued in order: nothing from the book may come before the pong.
        assert (await c.recv())["method"] == "pong"


# --- book ---------------------------------------------------------------------------------------


class ClientBook:
    """A client-side book kept from raw text, checking Kraken's rules as it goes."""

    def __init__(self, depth: int, pp: int, qp: int, *, per_level: bool = False) -> None:
        self.depth = depth
        self.per_level = per_level  # truncate after every level, as python-kraken-sdk does
        self.pp = pp
        self.qp = qp
        self.bids: dict[str, str] = {}
        self.asks: dict[str, str] = {}
        self.saw_same_price_twice = False
        self.saw_delete = False
        self.saw_push_out = False

    def _check_literal(self, text: str, places: int) -> None:
        assert "e" not in text.lower()
        assert text.split(".")[1].__len__() == places, text

    def apply(self, data: dict[str, Any]) -> None:
        for side_name in ("bids", "asks"):
            side = self.bids if side_name == "bids" else self.asks
            seen: set[str] = set()
            for level in data[side_name]:
                price, qty = level["price"], level["qty"]
                self._check_literal(price, self.pp)
                self._check_literal(qty, self.qp)
                if price in seen:
                    self.saw_same_price_twice = True
                seen.add(price)
                if float(qty) == 0:
                    self.saw_delete = True
                    side.pop(price, None)
                else:
                    side[price] = qty
                if self.per_level:
                    self._truncate(side, side_name)
            self._truncate(side, side_name)

    def _truncate(self, side: dict[str, str], side_name: str) -> None:
        if len(side) > self.depth:
            self.saw_push_out = True
        keep = sorted(side, key=float, reverse=side_name == "bids")[: self.depth]
        for price in list(side):
            if price not in keep:
                del side[price]

    def checksum(self) -> int:
        def digits(t: str) -> str:
            return t.replace(".", "").lstrip("0")

        asks = sorted(self.asks, key=float)[:10]
        bids = sorted(self.bids, key=float, reverse=True)[:10]
        text = "".join(digits(p) + digits(self.asks[p]) for p in asks)
        text += "".join(digits(p) + digits(self.bids[p]) for p in bids)
        return zlib.crc32(text.encode())


@pytest.mark.parametrize(
    ("symbol", "depth"), [("BTC/USD", 10), ("SHIB/USD", 25), ("ETH/BTC", 1000)]
)
async def test_book_snapshot_and_updates_keep_every_checksum(
    fake: FakeKraken, symbol: str, depth: int
) -> None:
    pp, qp = PRECISION[symbol]
    async with connect(public(fake)) as c:
        await c.send(
            {
                "method": "subscribe",
                "params": {"channel": "book", "symbol": [symbol], "depth": depth},
            }
        )
        ack = await c.recv()
        assert ack["result"] == {
            "channel": "book",
            "depth": depth,
            "snapshot": True,
            "symbol": symbol,
        }
        snap_text = await c.recv_text()
        snap = loads(snap_text)
        assert snap["type"] == "snapshot"
        data = snap["data"][0]
        assert list(data) == ["symbol", "bids", "asks", "checksum", "timestamp"]
        assert len(data["bids"]) == depth
        assert len(data["asks"]) == depth
        book = ClientBook(depth, pp, qp)
        sdk_like = ClientBook(depth, pp, qp, per_level=True)
        book.apply(data)
        sdk_like.apply(data)
        assert book.checksum() == data["checksum"]
        updates = 0
        for _ in range(60):
            await fake.step()
            await c.send({"method": "ping"})
            while True:
                msg = await c.recv()
                if msg.get("method") == "pong":
                    break
                assert msg["channel"] == "book"
                assert msg["type"] == "update"
                upd = msg["data"][0]
                assert TS6.match(upd["timestamp"])
                book.apply(upd)
                sdk_like.apply(upd)
                assert book.checksum() == upd["checksum"]
                assert sdk_like.checksum() == upd["checksum"]
                updates += 1
        assert updates > 20
        assert book.saw_delete
        if depth == 10:
            assert book.saw_push_out
        # The client's book is exactly the server's top `depth`.
        server = fake.market.books[symbol]
        assert sorted(book.bids, key=float, reverse=True) == [
            server.price_text(t) for t in server.bids.top(depth)
        ]
        assert sorted(book.asks, key=float) == [
            server.price_text(t) for t in server.asks.top(depth)
        ]


async def test_book_updates_sometimes_repeat_a_price(fake: FakeKraken) -> None:
    async with connect(public(fake)) as c:
        await c.send(
            {
                "method": "subscribe",
                "params": {"channel": "book", "symbol": ["SOL/USD"], "depth": 100},
            }
        )
        await c.recv()
        book = ClientBook(100, 2, 8)
        book.apply((await c.recv())["data"][0])
        for _ in range(40):
            await fake.step(5)
            await c.send({"method": "ping"})
            while (msg := await c.recv()).get("method") != "pong":
                book.apply(msg["data"][0])
                assert book.checksum() == msg["data"][0]["checksum"]
            if book.saw_same_price_twice:
                break
        assert book.saw_same_price_twice


async def test_two_depths_on_one_connection_each_truncated(fake: FakeKraken) -> None:
    async with connect(public(fake)) as c, connect(public(fake)) as d:
        await c.send({"method": "subscribe", "params": {"channel": "book", "symbol": ["BTC/USD"]}})
        await d.send(
            {
                "method": "subscribe",
                "params": {"channel": "book", "symbol": ["BTC/USD"], "depth": 500},
            }
        )
        await c.recv()
        await d.recv()
        small, big = ClientBook(10, 1, 8), ClientBook(500, 1, 8)
        small.apply((await c.recv())["data"][0])
        big.apply((await d.recv())["data"][0])
        await fake.step(30)
        for client, book in ((c, small), (d, big)):
            await client.send({"method": "ping"})
            while (msg := await client.recv()).get("method") != "pong":
                book.apply(msg["data"][0])
                assert len(msg["data"][0]["bids"]) <= 500
                assert book.checksum() == msg["data"][0]["checksum"]
        assert small.checksum() == big.checksum()
        assert len(big.bids) == 500


async def test_snapshot_false_sends_no_snapshot(fake: FakeKraken) -> None:
    async with connect(public(fake)) as c:
        await c.send(
            {
                "method": "subscribe",
                "params": {"channel": "book", "symbol": ["BTC/USD"], "snapshot": False},
            }
        )
        assert (await c.recv())["result"]["snapshot"] is False
        await c.send({"method": "ping", "req_id": 1})
        assert (await c.recv())["method"] == "pong"


# --- ticker, trade ------------------------------------------------------------------------------


async def test_ticker_snapshot_and_trigger_kinds(fake: FakeKraken) -> None:
    async with connect(public(fake)) as trades, connect(public(fake)) as bbo:
        await trades.send(
            {"method": "subscribe", "params": {"channel": "ticker", "symbol": ["BTC/USD"]}}
        )
        await bbo.send(
            {
                "method": "subscribe",
                "params": {"channel": "ticker", "symbol": ["BTC/USD"], "event_trigger": "bbo"},
            }
        )
        assert (await trades.recv())["result"]["event_trigger"] == "trades"
        assert (await bbo.recv())["result"]["event_trigger"] == "bbo"
        snap = await trades.recv()
        assert snap["type"] == "snapshot"
        tick = snap["data"][0]
        assert list(tick) == [
            "symbol", "bid", "bid_qty", "ask", "ask_qty", "last", "volume", "vwap",
            "low", "high", "change", "change_pct", "timestamp",
        ]  # fmt: skip
        assert len(tick["bid"].split(".")[1]) == 1
        assert len(tick["bid_qty"].split(".")[1]) == 8
        assert len(tick["change_pct"].split(".")[1]) == 2
        assert float(tick["bid"]) < float(tick["ask"])
        await bbo.recv()  # its snapshot
        n_trades = n_bbo = 0
        server = fake.market.books["BTC/USD"]
        for _ in range(40):
            trade_id = server.trade_id
            bbo_before = server.bbo
            await fake.step()
            for client in (trades, bbo):
                await client.send({"method": "ping"})
                while (msg := await client.recv()).get("method") != "pong":
                    assert msg["channel"] == "ticker"
                    assert msg["type"] == "update"
                    if client is trades:
                        assert server.trade_id != trade_id
                        n_trades += 1
                    else:
                        assert server.bbo != bbo_before
                        best = msg["data"][0]
                        assert best["bid"] == server.price_text(server.bids.top(1)[0])
                        n_bbo += 1
        assert n_trades > 0
        assert n_bbo > n_trades


async def test_trades_have_increasing_ids_and_snapshot(fake: FakeKraken) -> None:
    await fake.step(40)
    async with connect(public(fake)) as c:
        await c.send({"method": "subscribe", "params": {"channel": "trade", "symbol": ["ETH/USD"]}})
        ack = await c.recv()
        assert ack["result"] == {"channel": "trade", "snapshot": True, "symbol": "ETH/USD"}
        snap = await c.recv()
        assert snap["type"] == "snapshot"
        ids = [t["trade_id"] for t in snap["data"]]
        assert ids == sorted(ids)
        assert len(ids) <= 50
        first = snap["data"][0]
        assert list(first) == [
            "symbol",
            "side",
            "price",
            "qty",
            "ord_type",
            "trade_id",
            "timestamp",
        ]
        assert first["side"] in ("buy", "sell")
        assert first["ord_type"] in ("limit", "market")
        await fake.step(40)
        await c.send({"method": "ping"})
        while (msg := await c.recv()).get("method") != "pong":
            assert msg["type"] == "update"
            new = [t["trade_id"] for t in msg["data"]]
            assert new[0] > ids[-1]
            ids.extend(new)
        assert ids == sorted(set(ids))
        assert len(ids) > len(snap["data"])


# --- heartbeat ----------------------------------------------------------------------------------


async def test_heartbeat_when_subscribed_and_idle() -> None:
    async with (
        open_fake_kraken(update_interval=0, heartbeat_interval=0.05) as fake,
        connect(public(fake)) as c,
    ):
        await c.send({"method": "subscribe", "params": {"channel": "book", "symbol": ["BTC/USD"]}})
        await c.recv()
        await c.recv()
        assert await c.recv_text() == '{"channel":"heartbeat"}'
        assert await c.recv_text() == '{"channel":"heartbeat"}'


async def test_no_heartbeat_between_frequent_updates() -> None:
    async with (
        open_fake_kraken(update_interval=0.01, heartbeat_interval=1.0) as fake,
        connect(public(fake)) as c,
    ):
        await c.send({"method": "subscribe", "params": {"channel": "book", "symbol": ["BTC/USD"]}})
        seen = 0
        for _ in range(150):
            msg = await c.recv()
            assert msg.get("channel") != "heartbeat"
            seen += 1
        assert seen == 150


# --- beta endpoint ------------------------------------------------------------------------------


async def test_beta_public_is_a_separate_server_with_the_same_behaviour(fake: FakeKraken) -> None:
    beta = fake.endpoints[WsKey.SPOT_BETA_PUBLIC_V2]
    assert beta != public(fake)
    async with connect(beta) as c:
        await c.send({"method": "subscribe", "params": {"channel": "book", "symbol": ["BTC/USD"]}})
        assert (await c.recv())["success"] is True
        snap = await c.recv()
        book = ClientBook(10, 1, 8)
        book.apply(snap["data"][0])
        assert book.checksum() == snap["data"][0]["checksum"]
        assert fake.beta_public.subscribers("book", "BTC/USD") == 1
        assert fake.public.subscribers("book", "BTC/USD") == 0


async def test_market_is_deterministic_per_seed() -> None:
    snaps = []
    for _ in range(2):
        async with open_fake_kraken(seed=3, update_interval=0) as fake:
            await fake.step(10)
            async with connect(public(fake)) as c:
                await c.send(
                    {"method": "subscribe", "params": {"channel": "book", "symbol": ["ETH/USD"]}}
                )
                await c.recv()
                data = (await c.recv())["data"][0]
                snaps.append((data["bids"], data["asks"], data["checksum"]))
    assert snaps[0] == snaps[1]


# --- ohlc, instrument ---------------------------------------------------------------------------


@pytest.mark.parametrize("interval", [1, 5, 15, 30, 60, 240, 1440, 10080, 21600])
async def test_ohlc_every_interval(fake: FakeKraken, interval: int) -> None:
    async with connect(public(fake)) as c:
        await c.send(
            {
                "method": "subscribe",
                "params": {"channel": "ohlc", "symbol": ["ETH/USD"], "interval": interval},
                "req_id": 121,
            }
        )
        ack = await c.recv()
        assert ack["result"] == {
            "channel": "ohlc",
            "interval": interval,
            "snapshot": True,
            "symbol": "ETH/USD",
            "warnings": ["timestamp is deprecated, use interval_begin"],
        }
        snap = await c.recv()
        assert list(snap) == ["channel", "type", "timestamp", "data"]
        assert snap["type"] == "snapshot"
        assert TS9.match(snap["timestamp"])
        assert len(snap["data"]) > 1
        candle = snap["data"][-1]
        assert list(candle) == [
            "symbol", "open", "high", "low", "close", "trades", "volume", "vwap",
            "interval_begin", "interval", "timestamp",
        ]  # fmt: skip
        assert candle["interval"] == interval
        assert TS9.match(candle["interval_begin"])
        assert TS6.match(candle["timestamp"])
        begins = [d["interval_begin"] for d in snap["data"]]
        assert begins == sorted(begins)
        assert len(candle["open"].split(".")[1]) == 2
        book = fake.market.books["ETH/USD"]
        trade_id = book.trade_id
        while book.trade_id == trade_id:
            await fake.step()
        update = (await c.drain_until_pong())[-1]
        assert update["type"] == "update"
        assert len(update["data"]) == 1
        assert update["data"][0]["close"] == book.price_text(book.last)
        assert float(update["data"][0]["low"]) <= float(update["data"][0]["close"])


async def test_ohlc_bad_interval(fake: FakeKraken) -> None:
    async with connect(public(fake)) as c:
        await c.send(
            {
                "method": "subscribe",
                "params": {"channel": "ohlc", "symbol": ["ETH/USD"], "interval": 2},
            }
        )
        err = await c.recv()
        assert err["success"] is False
        assert err["error"] == "Subscription ohlc interval not supported"


async def test_instrument_snapshot_from_the_pair_table(fake: FakeKraken) -> None:
    async with connect(public(fake)) as c:
        await c.send({"method": "subscribe", "params": {"channel": "instrument"}, "req_id": 0})
        ack = await c.recv()
        assert ack["result"] == {
            "channel": "instrument",
            "snapshot": True,
            "warnings": ["tick_size is deprecated, use price_increment"],
        }
        text = await c.recv_text()
        assert '"qty_increment":0.00000001' in text
        assert '"price_increment":0.000000001' in text  # SHIB/USD
        snap = loads(text)
        assert snap["type"] == "snapshot"
        assert set(snap["data"]) == {"assets", "pairs"}
        pairs = {p["symbol"]: p for p in snap["data"]["pairs"]}
        assert set(pairs) == set(fake.market.symbols)
        for symbol, (pp, qp) in PRECISION.items():
            assert (pairs[symbol]["price_precision"], pairs[symbol]["qty_precision"]) == (pp, qp)
        assert pairs["BTC/USD"]["qty_min"] == "0.00010000"
        assert {a["id"] for a in snap["data"]["assets"]} >= {"BTC", "USD", "ETH", "SHIB"}
        await c.send({"method": "unsubscribe", "params": {"channel": "instrument"}})
        assert (await c.recv())["result"] == {"channel": "instrument"}


# --- strictness and status ----------------------------------------------------------------------


async def test_unknown_subscribe_fields_are_rejected(fake: FakeKraken) -> None:
    async with connect(public(fake)) as c:
        await c.send(
            {
                "method": "subscribe",
                "params": {"channel": "ticker", "symbol": ["BTC/USD"], "depth": 10},
                "req_id": 8,
            }
        )
        err = await c.recv()
        assert err["error"] == "Unsupported field: 'depth' for the given msg type: subscribe"
        assert err["req_id"] == 8
        assert fake.public.subscriptions() == {c.status["connection_id"]: []}


async def test_documented_options_the_fake_lacks_are_rejected_clearly(fake: FakeKraken) -> None:
    async with connect(public(fake)) as c:
        await c.send(
            {
                "method": "subscribe",
                "params": {"channel": "instrument", "include_tokenized_assets": True},
            }
        )
        err = await c.recv()
        assert err["success"] is False
        assert err["error"].startswith("EGeneral:Invalid arguments:include_tokenized_assets")
        assert "not supported by the fake exchange" in err["error"]


async def test_system_status_changes_are_broadcast(fake: FakeKraken) -> None:
    async with connect(public(fake)) as c:
        fake.set_system_status("maintenance")
        msg = await c.recv()
        assert msg["channel"] == "status"
        assert msg["data"][0]["system"] == "maintenance"
        assert msg["data"][0]["connection_id"] == c.status["connection_id"]
        async with connect(public(fake)) as d:
            assert d.status["system"] == "maintenance"
    with pytest.raises(ValueError, match="unknown system status"):
        fake.set_system_status("sleeping")


async def test_errors_in_the_block_come_out_unwrapped() -> None:
    with pytest.raises(KeyError, match="mine"):
        async with open_fake_kraken(update_interval=0.01):
            raise KeyError("mine")


async def test_trade_snapshot_is_sent_even_before_any_trade() -> None:
    async with (
        open_fake_kraken(seed=1, update_interval=0) as fake,
        connect(fake.endpoints[WsKey.SPOT_PUBLIC_V2]) as c,
    ):
        assert not fake.market.books["SOL/USD"].trades
        await c.send({"method": "subscribe", "params": {"channel": "trade", "symbol": ["SOL/USD"]}})
        assert (await c.recv())["success"] is True
        snap = await c.recv()
        assert (snap["channel"], snap["type"], snap["data"]) == ("trade", "snapshot", [])


async def test_trading_on_the_public_endpoint_is_permission_denied(fake: FakeKraken) -> None:
    async with connect(public(fake)) as c:
        await c.send({"method": "add_order", "params": {"symbol": "BTC/USD"}, "req_id": 3})
        err = await c.recv()
        assert (err["error"], err["method"], err["req_id"], err["success"]) == (
            "EGeneral:Permission denied",
            "add_order",
            3,
            False,
        )
