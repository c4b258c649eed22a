"""Links that flap and peers that do not read (hostile servers on loopback).

A link counts as healthy only after it stayed up and delivered data for a while: one that
drops right after the subscribe ack backs off like one that never came up, and counts toward
``max_reconnects``. A peer that never reads is a dead link, not a growing queue.
"""

from __future__ import annotations

import json
from functools import partial

import trio
import trio.testing
from hostile import (
    OP_CLOSE,
    OP_PING,
    Peer,
    ack_then,
    open_hostile_websocket,
    server_frame,
    spot_acks,
)

from kraken_trio import Gap, ReconnectExhaustedError, WsKey, open_kraken


async def test_a_link_that_drops_after_each_ack_backs_off_and_counts_toward_the_limit() -> None:
    # Before: the backoff reset as soon as a link came up, however briefly: 51-54
    # connections in 12 s, and max_reconnects=5 never triggered.
    flap = ack_then(server_frame(OP_CLOSE, b"\x03\xe8"))
    async with open_hostile_websocket(flap) as server:
        async with open_kraken(
            endpoints={WsKey.SPOT_PUBLIC_V2: server.url},
            max_reconnects=5,
            reconnect_delay=0.01,
            reconnect_delay_max=0.02,
        ) as k:
            with trio.fail_after(20):
                sub = k.subscribe("ticker", symbol=["BTC/USD"])
                try:
                    async for _ in sub:
                        pass
                except ReconnectExhaustedError as exc:
                    error = exc
            assert "gave up after 5 reconnect attempt(s)" in str(error)
        assert server.connections == 6  # the first link and 5 reconnects, no more


async def _ack_data_then_close(peer: Peer, stay_up: float = 0.0) -> None:
    """A link that comes up, acks, delivers data, then drops after ``stay_up`` seconds."""
    await peer.accept()
    request = json.loads(await peer.receive_text())
    for ack in spot_acks(request):
        await peer.send_text(ack)  # type: ignore[arg-type]
    for price in range(3):
        await peer.send_text(
            json.dumps(
                {
                    "channel": "trade",
                    "type": "update",
                    "data": [
                        {
                            "symbol": "BTC/USD",
                            "side": "buy",
                            "price": 100 + price,
                            "qty": 1,
                            "ord_type": "limit",
                            "trade_id": price,
                            "timestamp": "2026-01-01T00:00:00.000000Z",
                        }
                    ],
                }
            )
        )
    with trio.move_on_after(stay_up):
        while True:  # answer pings while the link stays up
            for answer in spot_acks(json.loads(await peer.receive_text())):
                await peer.send_text(answer)  # type: ignore[arg-type]
    await peer.send_frame(OP_CLOSE, b"\x03\xe8")


async def test_links_that_stay_up_a_while_before_dropping_never_exhaust_the_limit(
    mock_clock: trio.testing.MockClock,
) -> None:
    # The counterpart: a link that was healthy (up and useful for a while) resets the
    # backoff, so max_reconnects counts consecutive failures, not drops over a lifetime.
    mock_clock.autojump_threshold = 0.05
    async with open_hostile_websocket(partial(_ack_data_then_close, stay_up=60)) as server:
        async with open_kraken(
            endpoints={WsKey.SPOT_PUBLIC_V2: server.url},
            max_reconnects=2,
            reconnect_delay=0.01,
            reconnect_delay_max=0.02,
            ping_interval=20,  # virtual seconds: the clock jumps between pings
        ) as k:
            reconnects = 0
            with trio.fail_after(3600):
                async for msg in k.subscribe("trade", symbol=["BTC/USD"]):
                    if isinstance(msg, Gap) and msg.reason == "reconnect":
                        reconnects += 1
                        if reconnects == 6:
                            break
        assert server.connections >= 7


async def test_a_link_that_delivers_data_then_drops_at_once_still_backs_off() -> None:
    # A link is healthy only after it stayed up (and useful) for a while: data followed by a
    # drop within a moment does not reset the backoff.
    async with open_hostile_websocket(_ack_data_then_close) as server:
        async with open_kraken(
            endpoints={WsKey.SPOT_PUBLIC_V2: server.url},
            max_reconnects=4,
            reconnect_delay=0.01,
            reconnect_delay_max=0.02,
            ping_interval=0.05,
        ) as k:
            trades = 0
            with trio.fail_after(20):
                try:
                    async for msg in k.subscribe("trade", symbol=["BTC/USD"]):
                        trades += not isinstance(msg, Gap)
                except ReconnectExhaustedError:
                    pass
        assert server.connections == 5
        assert trades == 15  # every link delivered its three trades


async def test_a_link_that_sends_invalid_utf8_after_the_ack_backs_off_too() -> None:
    flap = ack_then(server_frame(0x1, b"\xff\xfe"))
    async with open_hostile_websocket(flap) as server:
        async with open_kraken(
            endpoints={WsKey.SPOT_PUBLIC_V2: server.url},
            max_reconnects=3,
            reconnect_delay=0.01,
            reconnect_delay_max=0.02,
        ) as k:
            with trio.fail_after(20):
                try:
                    async for _ in k.subscribe("ticker", symbol=["BTC/USD"]):
                        pass
                except ReconnectExhaustedError:
                    pass
        assert server.connections == 4


async def _pings_and_never_reads(peer: Peer) -> None:
    await peer.accept()
    burst = server_frame(OP_PING, b"p" * 125) * 1024  # every ping wants a pong
    while True:
        await peer.send_raw(burst)


async def test_a_peer_that_never_reads_is_a_dead_link_not_a_growing_queue() -> None:
    # Before: a peer that kept sending pings but never read grew the client's outgoing
    # queue by about 4 MiB/s.
    async with (
        open_hostile_websocket(_pings_and_never_reads) as server,
        open_kraken(
            endpoints={WsKey.SPOT_PUBLIC_V2: server.url},
            max_send_buffer=64 * 1024,
            ping_interval=300,  # only the send buffer can end this link
            max_reconnects=0,
        ) as k,
    ):
        conn = k.connection(WsKey.SPOT_PUBLIC_V2)
        events = k.events()
        conn.ensure_started()
        with trio.fail_after(60):
            async for event in events:
                if event.kind == "exception":
                    break
        assert "reads nothing" in str(event.error)
        stats = k.statistics()[WsKey.SPOT_PUBLIC_V2]
        assert stats.queued_writes > 0
