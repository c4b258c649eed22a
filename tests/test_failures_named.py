"""Each failure names its real cause (not a bare timeout long after the fact)."""

from __future__ import annotations

from functools import partial

import pytest
import trio

from kraken_trio import ProtocolError, RequestTimeoutError, WsKey, open_kraken
from kraken_trio.testing import open_fake_kraken


async def test_a_spot_channel_pointed_at_a_futures_url_says_so() -> None:
    # Before: reported after ~30 s as a subscribe timeout.
    async with open_fake_kraken(update_interval=None) as fake:
        futures_url = fake.endpoints[WsKey.DERIVATIVES_PUBLIC_V1]
        async with open_kraken(endpoints={WsKey.SPOT_PUBLIC_V2: futures_url}) as k:
            with trio.fail_after(5), pytest.raises(ProtocolError, match="speaks Kraken Futures"):
                async with k.subscribe("ticker", symbol=["BTC/USD"]):
                    pass


async def test_a_futures_feed_pointed_at_a_spot_url_says_so() -> None:
    async with open_fake_kraken(update_interval=None) as fake:
        spot_url = fake.endpoints[WsKey.SPOT_PUBLIC_V2]
        async with open_kraken(endpoints={WsKey.DERIVATIVES_PUBLIC_V1: spot_url}) as k:
            with trio.fail_after(5), pytest.raises(ProtocolError, match="speaks Kraken Spot"):
                async with k.subscribe("ticker", product_ids=["PI_XBTUSD"]):
                    pass


async def test_a_port_that_never_speaks_websocket_is_named_as_the_cause() -> None:
    # A server that accepts TCP and says nothing: the handshake is bounded by the connect
    # timeout, and the subscriber's error is chained to that cause.
    async def silent(stream: trio.SocketStream) -> None:
        await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        (listener,) = await nursery.start(partial(trio.serve_tcp, silent, 0, host="127.0.0.1"))
        port = listener.socket.getsockname()[1]
        url = f"ws://127.0.0.1:{port}/v2"
        async with open_kraken(
            endpoints={WsKey.SPOT_PUBLIC_V2: url}, connect_timeout=0.3, request_timeout=0.3
        ) as k:
            with trio.fail_after(5), pytest.raises(RequestTimeoutError) as info:
                async with k.subscribe("ticker", symbol=["BTC/USD"]):
                    pass
        nursery.cancel_scope.cancel()
    cause = info.value.__cause__
    assert cause is not None
    assert "WebSocket handshake" in str(cause)
    assert not isinstance(cause, trio.TooSlowError)


async def test_reconnect_events_never_show_internal_names() -> None:
    async def silent(stream: trio.SocketStream) -> None:
        await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        (listener,) = await nursery.start(partial(trio.serve_tcp, silent, 0, host="127.0.0.1"))
        port = listener.socket.getsockname()[1]
        async with open_kraken(
            endpoints={WsKey.SPOT_PUBLIC_V2: f"ws://127.0.0.1:{port}/v2"}, connect_timeout=0.2
        ) as k:
            events = k.events()
            k.connection(WsKey.SPOT_PUBLIC_V2).ensure_started()
            with trio.fail_after(5):
                async for event in events:
                    if event.kind == "reconnecting":
                        break
        nursery.cancel_scope.cancel()
    assert "WebSocket handshake" in event.detail
    for name in ("_LinkFailed", "TooSlowError", "TransportClosed", "_PongTimeout"):
        assert name not in event.detail
