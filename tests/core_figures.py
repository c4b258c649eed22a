"""Measures the connection core's figures in docs/reliability.md ("Flapping links, bad
checksums and expired tokens").

Run from the repository root: ``python tests/core_figures.py``. The flapping and checksum
figures run in virtual time (trio's MockClock, or the pure session with ``now`` given), so
they count what a minute of such a server would get; the token figure is wall time on
loopback against the fake exchange.
"""

from __future__ import annotations

import json
import time

import trio
import trio.testing
from hostile import OP_CLOSE, ack_then, open_hostile_websocket, server_frame
from support import client_for
from test_session import User as Reader
from test_session import ack, session

from kraken_trio import WsKey, open_kraken
from kraken_trio.testing import open_fake_kraken


async def connections_per_minute_against_a_flapping_server() -> int:
    """A server that acks each subscribe and closes at once, for a (virtual) minute."""
    flap = ack_then(server_frame(OP_CLOSE, b"\x03\xe8"))
    async with open_hostile_websocket(flap) as server:
        async with open_kraken(endpoints={WsKey.SPOT_PUBLIC_V2: server.url}) as k:
            sub = k.subscribe("ticker", symbol=["BTC/USD"])
            with trio.move_on_after(60):
                async for _ in sub:
                    pass
        return server.connections


def resyncs_per_minute_against_a_bad_checksum() -> int:
    """A book whose checksum never verifies, for a minute: subscribe requests sent."""
    s, host = session()
    s.attach(Reader(wants_changes=True), "book", ["BTC/USD"], {"depth": 10}, 0.0)
    ack(s, "book", "BTC/USD", host.sent[0]["req_id"])
    (wire,) = s.wires.values()
    snapshot = json.dumps(
        {
            "channel": "book",
            "type": "snapshot",
            "data": [
                {
                    "symbol": "BTC/USD",
                    "bids": [{"price": 1, "qty": 1}],
                    "asks": [{"price": 2, "qty": 1}],
                    "checksum": 1,
                }
            ],
        }
    )
    now = 0.0
    while now < 60:
        now += 0.01
        s.tick(now)
        if wire.state == "pending" and wire.request is not None:
            ack(s, "book", "BTC/USD", wire.request.req_id, now)
        s.dialect.receive(snapshot, now)
    return sum(1 for f in host.sent if f["method"] == "subscribe") - 1


async def token_expiry_recovery() -> float:
    """Seconds from an order refused for its expired token to its success (wall time)."""
    async with open_fake_kraken(update_interval=None) as fake, client_for(fake) as k:
        await k.connect(WsKey.SPOT_PRIVATE_V2)
        await k.add_order(order_type="market", side="buy", symbol="BTC/USD", order_qty="0.001")
        fake.spot_faults(WsKey.SPOT_PRIVATE_V2).reject_next_auth()
        started = time.perf_counter()
        await k.add_order(order_type="market", side="buy", symbol="BTC/USD", order_qty="0.001")
        return time.perf_counter() - started


def main() -> None:
    """Print each figure."""
    flaps = trio.run(
        connections_per_minute_against_a_flapping_server,
        clock=trio.testing.MockClock(autojump_threshold=0.01),
    )
    print(f"connections per minute against a flapping server: {flaps}")
    print(
        f"resyncs per minute against a bad checksum: {resyncs_per_minute_against_a_bad_checksum()}"
    )
    print(f"token expiry to order done: {trio.run(token_expiry_recovery) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
