"""How frames leave a connection: whole, in order, never cut by cancellation.

A frame goes straight into the kernel when nothing is queued ahead of it; when the socket
backs up, the rest goes through the connection's writer. These tests make the socket back up
for real (the fake exchange stops reading) and check what the server finally reads.
"""

from __future__ import annotations

import json
import ssl
from typing import Any

import trio
import trustme
from support import client_for
from trio_websocket import WebSocketRequest, serve_websocket

from kraken_trio import WsKey, open_kraken
from kraken_trio.testing._fake import open_fake_kraken

PUBLIC = WsKey.SPOT_PUBLIC_V2
PAD = 16_384  # bytes of padding per frame: a few thousand frames overflow loopback buffers


def _ping(req_id: int) -> bytes:
    return json.dumps(
        {"method": "ping", "req_id": req_id, "pad": f"{req_id:08d}" * (PAD // 8)}
    ).encode()


async def test_frames_stay_whole_and_in_order_when_the_socket_backs_up() -> None:
    full = 800  # 12.5 MiB: more than the socket buffers of both ends hold
    count = 2 * full
    async with open_fake_kraken() as fake, client_for(fake) as k:
        with trio.fail_after(60):
            await k.connect(PUBLIC)
            conn = k.connection(PUBLIC)
            before = len(fake.received(PUBLIC))
            fake.faults(PUBLIC).pause_reading()
            for i in range(full):
                assert conn.send(_ping(i))
            stats = k.statistics()[PUBLIC]
            assert stats.direct_writes > 0  # the first frames went straight to the kernel
            assert stats.queued_writes > 0  # then the socket was full: the writer took over
            fake.faults(PUBLIC).resume_reading()
            # Keep sending, paced by the server, while the writer drains: whenever it holds
            # frames, even between two writes, a new frame must queue behind them, not jump
            # ahead (this is what fails if a frame may go direct past queued ones).
            for i in range(full, count):
                assert conn.send(_ping(i))
                await fake.public.wait_received(before + i - full // 2)
            received = await fake.public.wait_received(before + count)
    pings = [r.message for r in received[before:]]
    assert [p["req_id"] for p in pings] == list(range(count))
    assert all(p["pad"] == f"{p['req_id']:08d}" * (PAD // 8) for p in pings)


async def test_orders_placed_while_the_socket_is_full_all_complete() -> None:
    async with open_fake_kraken() as fake, client_for(fake) as k:
        with trio.fail_after(60):
            await k.connect(WsKey.SPOT_PRIVATE_V2)
            conn = k.connection(WsKey.SPOT_PRIVATE_V2)
            faults = fake.faults(WsKey.SPOT_PRIVATE_V2)
            faults.pause_reading()
            for i in range(800):  # fill the socket with pings
                assert conn.send(_ping(10_000_000 + i))
            results: list[str | None] = []

            async def place(i: int) -> None:
                result = await k.add_order(
                    order_type="limit",
                    side="buy",
                    symbol="BTC/USD",
                    order_qty="0.01",
                    limit_price="100",
                    cl_ord_id=f"backpressure-{i}",
                )
                results.append(result.order_id)

            async with trio.open_nursery() as nursery:
                for i in range(5):
                    nursery.start_soon(place, i)
                await trio.testing.wait_all_tasks_blocked()
                faults.resume_reading()
    assert None not in results
    assert len(set(results)) == 5
    assert k.statistics()[WsKey.SPOT_PRIVATE_V2].queued_writes >= 5


async def test_a_protocol_ping_from_the_server_is_answered() -> None:
    async with open_fake_kraken() as fake, client_for(fake) as k:
        with trio.fail_after(10):
            await k.connect(PUBLIC)
            await k.connect(WsKey.DERIVATIVES_PUBLIC_V1)
            assert await fake.faults(PUBLIC).ping(b"spot") == 1
            assert await fake.faults(WsKey.DERIVATIVES_PUBLIC_V1).ping(b"futures") == 1


STATUS = (
    '{"channel":"status","type":"update","data":[{"api_version":"v2",'
    '"connection_id":1,"system":"online","version":"2.0.0"}]}'
)


async def test_over_tls_every_frame_goes_through_the_writer() -> None:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    seen_send, seen = trio.open_memory_channel[dict[str, Any]](100)

    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        await ws.send_message(STATUS)
        try:
            while True:
                message = json.loads(await ws.get_message())
                seen_send.send_nowait(message)
                await ws.send_message(json.dumps({**message, "method": "pong"}))
        except Exception:  # the client went away
            return

    async with trio.open_nursery() as nursery:
        server: Any = await nursery.start(serve_websocket, handler, "127.0.0.1", 0, server_context)
        url = f"wss://localhost:{server.port}/v2"
        async with open_kraken(
            endpoints={PUBLIC: url}, ssl_context=client_context, ping_interval=0.02
        ) as k:
            with trio.fail_after(10):
                await k.connect(PUBLIC)
                req_ids = [(await seen.receive())["req_id"] for _ in range(5)]
            stats = k.statistics()[PUBLIC]
        nursery.cancel_scope.cancel()
    assert req_ids == sorted(req_ids)
    assert len(set(req_ids)) == 5
    assert stats.direct_writes == 0
    assert stats.queued_writes >= 5
    assert stats.reconnects == 0  # every ping was answered in time
