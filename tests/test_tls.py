"""wss:// endpoints: certificates and host names are verified (a throwaway CA on loopback)."""

from __future__ import annotations

import ssl
from typing import Any

import pytest
import trio
import trustme
from trio_websocket import WebSocketRequest, serve_websocket

from kraken_trio import ReconnectExhaustedError, WsKey, open_kraken

STATUS = (
    '{"channel":"status","type":"update","data":[{"api_version":"v2",'
    '"connection_id":1,"system":"online","version":"2.0.0"}]}'
)


async def _status_server(request: WebSocketRequest) -> None:
    ws = await request.accept()
    await ws.send_message(STATUS)
    try:
        while True:
            message = await ws.get_message()
            if isinstance(message, str) and '"ping"' in message:
                await ws.send_message(message.replace('"ping"', '"pong"'))
    except Exception:  # the client went away; nothing to report
        return


async def _serve_tls(nursery: trio.Nursery, ca: trustme.CA, host: str) -> int:
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(host).configure_cert(server_context)
    server: Any = await nursery.start(
        serve_websocket, _status_server, "127.0.0.1", 0, server_context
    )
    port: int = server.port
    return port


async def test_wss_with_a_trusted_ca_connects() -> None:
    ca = trustme.CA()
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    async with trio.open_nursery() as nursery:
        port = await _serve_tls(nursery, ca, "localhost")
        url = f"wss://localhost:{port}/v2"
        async with open_kraken(
            endpoints={WsKey.SPOT_PUBLIC_V2: url}, ssl_context=client_context
        ) as k:
            events = k.events()
            with trio.fail_after(10):
                await k.connect(WsKey.SPOT_PUBLIC_V2)
                async for event in events:
                    if event.kind == "status":
                        break
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize("case", ["untrusted-ca", "wrong-host"])
async def test_wss_certificate_problems_are_refused(case: str) -> None:
    ca = trustme.CA()
    client_context = ssl.create_default_context()
    if case == "wrong-host":
        ca.configure_trust(client_context)
    async with trio.open_nursery() as nursery:
        port = await _serve_tls(nursery, ca, "kraken.example")
        url = f"wss://localhost:{port}/v2"
        async with open_kraken(
            endpoints={WsKey.SPOT_PUBLIC_V2: url},
            ssl_context=client_context,
            max_reconnects=0,
        ) as k:
            with trio.fail_after(10), pytest.raises(ReconnectExhaustedError) as info:
                await k.connect(WsKey.SPOT_PUBLIC_V2)
        assert "CERTIFICATE_VERIFY_FAILED" in str(info.value) or "certificate" in str(info.value)
        nursery.cancel_scope.cancel()
