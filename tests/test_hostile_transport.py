"""The WebSocket transport against hostile servers (issue 14, items 6 and 12): a frame that
declares more than ``max_message_size`` is refused on its header, unread; a port that never
speaks WebSocket fails the handshake within ``connect_timeout``, saying so."""

from __future__ import annotations

import pytest
import trio
import trio.testing
from hostile import (
    OP_CLOSE,
    OP_TEXT,
    Peer,
    ack_then,
    declares_huge_frame,
    frame_header,
    never_reads,
    open_hostile_websocket,
    server_frame,
    silent,
)

from kraken_trio import WsKey, open_kraken
from kraken_trio._transport import TransportClosed, WebSocket, connect_websocket

LIMIT = 1024 * 1024


async def receive_until_closed(ws: WebSocket) -> TransportClosed:
    with trio.fail_after(10):
        while True:
            try:
                await ws.receive_batch()
            except TransportClosed as exc:
                return exc


@pytest.mark.parametrize("declared", [LIMIT + 1, 2**30, 2**63, 2**64 - 1])
async def test_a_frame_declaring_too_much_is_refused_on_its_header(declared: int) -> None:
    codes_in, codes = trio.open_memory_channel[int | None](4)

    async def behaviour(peer: Peer) -> None:
        await peer.accept()
        await peer.send_raw(frame_header(OP_TEXT, declared) + b"x" * 65536)
        await codes_in.send(await peer.wait_close())

    async with open_hostile_websocket(behaviour) as server:
        with trio.fail_after(10):
            ws = await connect_websocket(server.url, max_message_size=LIMIT, connect_timeout=5)
        exc = await receive_until_closed(ws)
        with trio.fail_after(10):
            await ws.aclose()
            code = await codes.receive()
    assert exc.code == 1009
    assert f"frame of {declared} bytes, more than max_message_size ({LIMIT})" in exc.reason
    assert code == 1009


async def test_a_trickled_giant_frame_is_never_read() -> None:
    # 1 GiB declared, then 64 KiB chunks for as long as the client takes them.
    async with open_hostile_websocket(declares_huge_frame(2**30, chunks=4096)) as server:
        with trio.fail_after(10):
            ws = await connect_websocket(server.url, max_message_size=LIMIT, connect_timeout=5)
        exc = await receive_until_closed(ws)
        with trio.fail_after(10):
            await ws.aclose()
    assert exc.code == 1009
    # Refused at the first read that held the header: one read (256 KiB) at most.
    assert ws.bytes_received <= 256 * 1024
    assert len(ws._buf) == 0


async def test_a_text_frame_that_is_not_utf8_closes_with_1007() -> None:
    async def behaviour(peer: Peer) -> None:
        await peer.accept()
        await peer.send_raw(server_frame(OP_TEXT, b'{"channel":"\xff\xfe"}'))
        await peer.wait_close()

    async with open_hostile_websocket(behaviour) as server:
        with trio.fail_after(10):
            ws = await connect_websocket(server.url, max_message_size=LIMIT, connect_timeout=5)
        exc = await receive_until_closed(ws)
        with trio.fail_after(10):
            await ws.aclose()
    assert exc.code == 1007
    assert "not UTF-8" in exc.reason


async def test_a_port_that_never_speaks_websocket_fails_within_connect_timeout() -> None:
    async with open_hostile_websocket(silent) as server:
        with trio.fail_after(10), pytest.raises(TransportClosed) as info:
            await connect_websocket(server.url, max_message_size=LIMIT, connect_timeout=0.2)
        assert server.connections == 1
    assert "accepted the TCP connection but gave no WebSocket handshake answer" in str(info.value)
    assert "connect_timeout (0.2s)" in str(info.value)


async def test_a_refused_connection_chains_its_cause() -> None:
    async with open_hostile_websocket(silent) as server:
        url = server.url
    with trio.fail_after(10), pytest.raises(TransportClosed) as info:
        await connect_websocket(url, max_message_size=LIMIT, connect_timeout=5)
    assert "cannot connect to 127.0.0.1" in str(info.value)
    assert isinstance(info.value.__cause__, OSError)


async def test_the_client_reconnects_after_refusing_a_giant_frame() -> None:
    codes_in, codes = trio.open_memory_channel[int | None](4)

    async def behaviour(peer: Peer) -> None:
        await peer.accept()
        await peer.send_raw(frame_header(OP_TEXT, 2**63))
        await codes_in.send(await peer.wait_close())

    async with open_hostile_websocket(behaviour) as server:
        endpoints = {WsKey.SPOT_PUBLIC_V2: server.url}
        async with (
            open_kraken(endpoints=endpoints, reconnect_delay=0.01, max_message_size=LIMIT) as k,
            trio.open_nursery() as nursery,
        ):
            nursery.start_soon(k.connect, WsKey.SPOT_PUBLIC_V2)
            with trio.fail_after(10):
                await server.wait_connections(2)
                first = await codes.receive()
            nursery.cancel_scope.cancel()
    assert first == 1009


async def test_messages_before_a_refused_frame_are_delivered_first() -> None:
    async def behaviour(peer: Peer) -> None:
        await peer.accept()
        good = server_frame(OP_TEXT, b'{"channel":"heartbeat"}')
        await peer.send_raw(good + good + frame_header(OP_TEXT, 2**40))
        await peer.wait_close()

    async with open_hostile_websocket(behaviour) as server:
        with trio.fail_after(10):
            ws = await connect_websocket(server.url, max_message_size=LIMIT, connect_timeout=5)
            got: list[object] = []
            while len(got) < 2:
                got.extend(await ws.receive_batch())
        exc = await receive_until_closed(ws)
        with trio.fail_after(10):
            await ws.aclose()
    assert got == ['{"channel":"heartbeat"}'] * 2
    assert exc.code == 1009


# ----------------------------------------------------------------------------- the toolkit


@pytest.mark.parametrize(
    "then",
    [server_frame(OP_CLOSE, b"\x03\xe8"), server_frame(OP_TEXT, b"\xff")],
    ids=["close", "invalid-utf8"],
)
async def test_ack_then_makes_a_link_that_flaps(then: bytes) -> None:
    async with open_hostile_websocket(ack_then(then)) as server:
        endpoints = {WsKey.SPOT_PUBLIC_V2: server.url}
        async with open_kraken(endpoints=endpoints, reconnect_delay=0.01) as k:
            with trio.fail_after(10):
                async with k.subscribe("ticker", symbol=["BTC/USD"]):
                    await server.wait_connections(3)  # acked, dropped, and again
    assert server.errors == []


async def test_never_reads_backs_up_the_clients_writes() -> None:
    written = [0]

    async with open_hostile_websocket(never_reads(pings=10)) as server:
        ws = await connect_websocket(server.url, max_message_size=LIMIT, connect_timeout=5)
        frame = ws.encode_text(b"x" * 65536)

        async def writer() -> None:
            while True:
                await ws.send_raw(frame)
                written[0] += len(frame)

        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(writer)
                await trio.testing.wait_all_tasks_blocked()  # the writer is stuck in send
                nursery.cancel_scope.cancel()
        await ws.aclose()
    # Loopback buffers take a few MiB at most; the server never read a byte of it.
    assert 0 < written[0] < 64 * 1024 * 1024
