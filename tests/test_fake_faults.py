"""Faults on demand and the received-frames record, over real loopback sockets."""

from __future__ import annotations

import json
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import h11
import pytest
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, open_websocket_url

from kraken_trio import WsKey
from kraken_trio.testing import FakeKraken, open_fake_kraken


def loads(text: str | bytes) -> Any:
    return json.loads(text, parse_float=str)


class Client:
    def __init__(self, ws: WebSocketConnection) -> None:
        self.ws = ws
        self.status: dict[str, Any] = {}

    async def send(self, msg: Any) -> None:
        await self.ws.send_message(json.dumps(msg))

    async def recv_raw(self) -> str | bytes:
        with trio.fail_after(5):
            return await self.ws.get_message()

    async def recv(self) -> Any:
        return loads(await self.recv_raw())


@asynccontextmanager
async def connect(url: str) -> AsyncIterator[Client]:
    async with open_websocket_url(url) as ws:
        try:
            client = Client(ws)
            client.status = (await client.recv())["data"][0]
            yield client
        finally:
            # trio-websocket 0.12's client never closes its TCP stream when the server closed
            # the WebSocket (close frame or reset): close it here, or the socket leaks.
            await ws._stream.aclose()


@pytest.fixture
async def fake() -> AsyncIterator[FakeKraken]:
    async with open_fake_kraken(update_interval=0, heartbeat_interval=30) as f:
        yield f


def url(fake: FakeKraken) -> str:
    return fake.endpoints[WsKey.SPOT_PUBLIC_V2]


async def test_drop_sends_a_close_frame(fake: FakeKraken) -> None:
    async with connect(url(fake)) as a, connect(url(fake)) as b:
        assert await fake.faults(WsKey.SPOT_PUBLIC_V2).drop() == 2
        for c in (a, b):
            with pytest.raises(ConnectionClosed) as info:
                await c.recv()
            assert info.value.reason is not None
            assert info.value.reason.code == 1001
        assert fake.public.connection_ids == []


async def test_drop_with_reset_is_abrupt(fake: FakeKraken) -> None:
    async with connect(url(fake)) as c:
        assert await fake.faults(WsKey.SPOT_PUBLIC_V2).drop(reset=True) == 1
        with pytest.raises(ConnectionClosed) as info:
            await c.recv()
        # no close frame: trio-websocket reports an abnormal closure
        assert info.value.reason is not None
        assert info.value.reason.code == 1006


async def test_stall_pongs(fake: FakeKraken) -> None:
    faults = fake.faults(WsKey.SPOT_PUBLIC_V2)
    async with connect(url(fake)) as c:
        faults.stall_pongs = True
        await c.send({"method": "ping", "req_id": 1})
        with trio.fail_after(5):
            await fake.public.wait_received(1)
        faults.stall_pongs = False
        await c.send({"method": "ping", "req_id": 2})
        pong = await c.recv()
        assert (pong["method"], pong["req_id"]) == ("pong", 2)


async def test_delay_holds_replies_back(fake: FakeKraken) -> None:
    faults = fake.faults(WsKey.SPOT_PUBLIC_V2)
    faults.delay = 0.3
    async with connect(url(fake)) as c:
        start = trio.current_time()
        await c.send({"method": "ping", "req_id": 1})
        await c.recv()
        assert trio.current_time() - start >= 0.3
        faults.delay = 0
        start = trio.current_time()
        await c.send({"method": "ping", "req_id": 2})
        await c.recv()
        assert trio.current_time() - start < 0.3


async def test_send_raw_text_and_binary(fake: FakeKraken) -> None:
    faults = fake.faults(WsKey.SPOT_PUBLIC_V2)
    async with connect(url(fake)) as c:
        await faults.send_raw('{"channel":"book","type":"upd')
        await faults.send_raw(b"\x00\x01binary")
        assert await c.recv_raw() == '{"channel":"book","type":"upd'
        assert await c.recv_raw() == b"\x00\x01binary"


async def test_refuse_new_connections_for_a_while(fake: FakeKraken) -> None:
    faults = fake.faults(WsKey.SPOT_PUBLIC_V2)
    faults.refuse(60)
    # A raw upgrade request (trio-websocket's client leaks its socket on a rejection).
    host, port = url(fake).removeprefix("ws://").removesuffix("/v2").split(":")
    conn = h11.Connection(h11.CLIENT)
    upgrade = h11.Request(
        method="GET",
        target="/v2",
        headers=[
            ("Host", host),
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("Sec-WebSocket-Version", "13"),
        ],
    )
    with trio.fail_after(5):
        async with await trio.open_tcp_stream(host, int(port)) as stream:
            await stream.send_all(conn.send(upgrade) + conn.send(h11.EndOfMessage()))
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    conn.receive_data(await stream.receive_some(4096))
                else:
                    break
    assert isinstance(event, h11.Response)
    assert event.status_code == 503
    assert fake.public.connections_accepted == 0
    faults.refuse(0)
    async with connect(url(fake)) as c:
        assert c.status["system"] == "online"


async def test_restart_gives_new_connection_ids_and_forgets_subscriptions(
    fake: FakeKraken,
) -> None:
    server = fake.server(WsKey.SPOT_PUBLIC_V2)
    async with connect(url(fake)) as c:
        await c.send({"method": "subscribe", "params": {"channel": "trade", "symbol": ["BTC/USD"]}})
        assert (await c.recv())["success"] is True
        assert (await c.recv())["type"] == "snapshot"
        before = c.status["connection_id"]
        assert server.subscriptions() == {before: [("trade", "BTC/USD")]}
        await fake.faults(WsKey.SPOT_PUBLIC_V2).restart()
        with pytest.raises(ConnectionClosed):
            await c.recv()
    assert server.subscriptions() == {}
    async with connect(url(fake)) as c:
        assert c.status["connection_id"] != before
        assert server.connections_accepted == 2


async def test_no_duplicate_subscriptions_can_be_asserted(fake: FakeKraken) -> None:
    server = fake.server(WsKey.SPOT_PUBLIC_V2)
    async with connect(url(fake)) as c:
        sub = {"method": "subscribe", "params": {"channel": "ticker", "symbol": ["BTC/USD"]}}
        await c.send(sub)
        await c.recv()
        await c.recv()
        await c.send(sub)
        assert (await c.recv())["error"] == "Already subscribed"
        assert server.subscriptions()[c.status["connection_id"]] == [("ticker", "BTC/USD")]
        subscribes = [r for r in server.received if r.message.get("method") == "subscribe"]
        assert len(subscribes) == 2
        assert {r.connection_id for r in subscribes} == {c.status["connection_id"]}


async def test_corrupt_next_checksum_only_once_and_book_stays_right(fake: FakeKraken) -> None:
    async with connect(url(fake)) as c:
        await c.send({"method": "subscribe", "params": {"channel": "book", "symbol": ["BTC/USD"]}})
        await c.recv()
        snap = (await c.recv())["data"][0]
        bids = {b["price"]: b["qty"] for b in snap["bids"]}
        asks = {a["price"]: a["qty"] for a in snap["asks"]}
        fake.faults(WsKey.SPOT_PUBLIC_V2).corrupt_next_checksum("BTC/USD")
        results = []
        for _ in range(15):
            await fake.step()
            await c.send({"method": "ping"})
            while (msg := await c.recv()).get("method") != "pong":
                upd = msg["data"][0]
                for levels, side, desc in ((upd["bids"], bids, True), (upd["asks"], asks, False)):
                    for lv in levels:
                        if float(lv["qty"]) == 0:
                            side.pop(lv["price"], None)
                        else:
                            side[lv["price"]] = lv["qty"]
                    for p in sorted(side, key=float, reverse=desc)[10:]:
                        del side[p]

                def digits(t: str) -> str:
                    return t.replace(".", "").lstrip("0")

                text = "".join(digits(p) + digits(asks[p]) for p in sorted(asks, key=float))
                text += "".join(
                    digits(p) + digits(bids[p]) for p in sorted(bids, key=float, reverse=True)
                )
                results.append(zlib.crc32(text.encode()) == upd["checksum"])
        assert results[0] is False
        assert all(results[1:])
        assert len(results) > 5


async def test_faults_are_per_endpoint(fake: FakeKraken) -> None:
    async with (
        connect(url(fake)) as pub,
        connect(fake.endpoints[WsKey.SPOT_BETA_PUBLIC_V2]) as beta,
    ):
        assert await fake.faults(WsKey.SPOT_BETA_PUBLIC_V2).drop() == 1
        with pytest.raises(ConnectionClosed):
            await beta.recv()
        await pub.send({"method": "ping", "req_id": 1})
        assert (await pub.recv())["method"] == "pong"


async def test_futures_keys_share_one_server(fake: FakeKraken) -> None:
    assert (
        fake.endpoints[WsKey.DERIVATIVES_PUBLIC_V1] == fake.endpoints[WsKey.DERIVATIVES_PRIVATE_V1]
    )
    assert fake.server(WsKey.DERIVATIVES_PUBLIC_V1) is fake.futures
    faults = fake.faults(WsKey.DERIVATIVES_PRIVATE_V1)
    for name in ("drop", "send_raw", "refuse", "restart", "reject_next_auth"):
        assert callable(getattr(faults, name))


async def test_all_seven_endpoints_are_distinct_where_kraken_has_distinct_hosts(
    fake: FakeKraken,
) -> None:
    assert set(fake.endpoints) == set(WsKey)
    spot = [fake.endpoints[k] for k in WsKey if not k.is_futures]
    assert len(set(spot)) == 5
    for key in WsKey:
        assert fake.endpoints[key].startswith("ws://127.0.0.1:")
    assert fake.rest_url.startswith("http://127.0.0.1:")


async def test_leaving_stops_every_server() -> None:
    async with open_fake_kraken(update_interval=0.01) as fake:
        endpoint = fake.endpoints[WsKey.SPOT_PUBLIC_V2]
        async with connect(endpoint) as c:
            await c.send({"method": "ping"})
            await c.recv()
    host, port = endpoint.removeprefix("ws://").removesuffix("/v2").split(":")
    with trio.fail_after(5), pytest.raises(OSError, match="all attempts to connect"):
        await trio.open_tcp_stream(host, int(port))


async def test_wait_until_and_live_subscriptions(fake: FakeKraken) -> None:
    server = fake.public
    async with trio.open_nursery() as nursery:
        done = trio.Event()

        async def watcher() -> None:
            await server.wait_until(
                lambda: any(
                    ("book", "ETH/USD") in subs for subs in server.live_subscriptions().values()
                )
            )
            done.set()

        nursery.start_soon(watcher)
        async with connect(url(fake)) as c:
            await c.send(
                {"method": "subscribe", "params": {"channel": "book", "symbol": ["ETH/USD"]}}
            )
            with trio.fail_after(5):
                await done.wait()
            assert server.live_subscriptions() == {c.status["connection_id"]: {("book", "ETH/USD")}}
        with trio.fail_after(5):
            await server.wait_until(lambda: server.live_subscriptions() == {})


async def test_faults_can_target_one_connection(fake: FakeKraken) -> None:
    faults = fake.faults(WsKey.SPOT_PUBLIC_V2)
    async with connect(url(fake)) as a, connect(url(fake)) as b:
        await faults.send_raw("not json", connection_id=a.status["connection_id"])
        assert await a.recv_raw() == "not json"
        assert await faults.drop(connection_id=b.status["connection_id"]) == 1
        with pytest.raises(ConnectionClosed):
            await b.recv()
        await a.send({"method": "ping", "req_id": 1})
        assert (await a.recv())["method"] == "pong"
        assert fake.public.connection_ids == [a.status["connection_id"]]
        assert await faults.drop(connection_id=12345) == 0


async def test_stall_pongs_also_withholds_protocol_pongs(fake: FakeKraken) -> None:
    faults = fake.faults(WsKey.SPOT_PUBLIC_V2)
    async with connect(url(fake)) as c:
        with trio.fail_after(5):
            await c.ws.ping(b"one")  # answered
        faults.stall_pongs = True
        with trio.move_on_after(0.3) as scope:
            await c.ws.ping(b"two")
        assert scope.cancelled_caught
        faults.stall_pongs = False
        with trio.fail_after(5):
            await c.ws.ping(b"three")
