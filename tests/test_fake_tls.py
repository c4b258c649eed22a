"""The fake exchange over TLS: ``open_fake_kraken(tls=True)`` and ``fake-exchange --tls``.

Every endpoint (spot public, private, level3, futures, REST) serves ``wss://``/``https://``
with a certificate from a throwaway CA whose PEM is ``fake.ca_file``. kraken_trio trusts it
through ``ssl_context``; python-kraken-sdk, unmodified, through ``SSL_CERT_FILE`` only.
"""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
from decimal import Decimal
from functools import partial
from typing import Any

import pytest
import trio
from support import client_for, next_data
from trio_websocket import open_websocket_url

from kraken_trio import Gap, ReconnectExhaustedError, WsKey, open_kraken
from kraken_trio._proto import futures as f
from kraken_trio.testing import open_fake_kraken

pytest.importorskip("trustme", reason="the fake's TLS needs trustme")

CLI = [sys.executable, "-c", "import sys; from kraken_trio.cli import main; sys.exit(main())"]


async def test_every_endpoint_and_rest_speak_tls_and_kraken_trio_trusts_the_ca() -> None:
    async with open_fake_kraken(seed=3, update_interval=None, tls=True) as fake:
        assert fake.ca_file is not None
        assert await trio.Path(fake.ca_file).exists()
        assert fake.ssl_context is not None
        assert fake.rest_url.startswith("https://127.0.0.1:")
        assert all(url.startswith("wss://127.0.0.1:") for url in fake.endpoints.values())
        bid, _ = fake.market.best_bid_ask("BTC/USD")
        assert bid is not None
        async with client_for(fake, ssl_context=fake.ssl_context) as k:
            with trio.fail_after(20):
                # spot public
                async with k.subscribe("ticker", symbol=["BTC/USD"]) as ticker:
                    snapshot = await next_data(ticker)
                    assert snapshot.data[0].symbol == "BTC/USD"
                # spot private: the token comes over https://, then an order over wss://
                async with k.subscribe("executions") as executions:
                    order = await k.add_order(
                        symbol="BTC/USD",
                        side="buy",
                        order_type="limit",
                        order_qty=Decimal("0.001"),
                        limit_price=bid - Decimal(1000),
                    )
                    async for message in executions:
                        if isinstance(message, Gap):
                            continue
                        if any(e.order_id == order.order_id for e in message.data):
                            break
                # futures
                fake.futures.account.place_order("PI_XBTUSD", "buy", 100, "60000.5")
                async with k.subscribe("open_orders") as orders:
                    snap = await orders.__anext__()
                    assert isinstance(snap, f.FuturesOpenOrdersSnapshot)
                    assert len(snap.orders) == 1
        tokens = [r for r in fake.rest.received if r.path == "/0/private/GetWebSocketsToken"]
        assert tokens
        ca_file = fake.ca_file
    assert not await trio.Path(ca_file).exists()  # the throwaway CA goes with the exchange


@pytest.mark.parametrize("key", [WsKey.SPOT_PUBLIC_V2, WsKey.DERIVATIVES_PUBLIC_V1])
async def test_a_client_that_does_not_trust_the_ca_is_refused(key: WsKey) -> None:
    async with open_fake_kraken(update_interval=None, tls=True) as fake:
        url = fake.endpoints[key]
        async with open_kraken(
            endpoints={key: url},
            ssl_context=ssl.create_default_context(),  # the system's trust store only
            max_reconnects=0,
        ) as k:
            with trio.fail_after(10), pytest.raises(ReconnectExhaustedError) as info:
                await k.connect(key)
        assert "CERTIFICATE_VERIFY_FAILED" in str(info.value)
        # the server shrugs the failed handshake off and keeps serving trusted clients
        async with open_websocket_url(url, ssl_context=fake.ssl_context) as ws:
            with trio.fail_after(10):
                first = json.loads(await ws.get_message())
        assert first.get("channel") == "status" or first.get("event") == "info"


SDK_SCRIPT = r"""
import asyncio
import json
import sys

CFG = json.loads(sys.argv[1])


async def main():
    from kraken.spot import SpotWSClient

    messages = []

    async def on_message(message):
        messages.append(message)

    client = SpotWSClient(callback=on_message, ws_url=CFG["public"].removesuffix("/v2"))
    await client.start()
    await client.subscribe(params={"channel": "book", "symbol": ["BTC/USD"], "depth": 10})
    loop = asyncio.get_running_loop()
    end = loop.time() + 30
    while loop.time() < end and not any(
        isinstance(m, dict) and m.get("channel") == "book" and m.get("type") == "update"
        for m in messages
    ):
        await asyncio.sleep(0.02)
    await client.close()
    print(json.dumps({"messages": messages, "exception": client.exception_occur}))


asyncio.run(main())
"""


@pytest.mark.slow
async def test_python_kraken_sdk_connects_over_wss_trusting_only_ssl_cert_file() -> None:
    pytest.importorskip("kraken.spot", reason="python-kraken-sdk is a test-only dependency")
    async with open_fake_kraken(seed=4, update_interval=0.02, tls=True) as fake:
        assert fake.ca_file is not None
        public = fake.endpoints[WsKey.SPOT_PUBLIC_V2]
        assert public.startswith("wss://")
        env = {**os.environ, "SSL_CERT_FILE": fake.ca_file}
        with trio.fail_after(60):
            proc = await trio.run_process(
                [sys.executable, "-c", SDK_SCRIPT, json.dumps({"public": public})],
                capture_stdout=True,
                capture_stderr=True,
                check=False,
                env=env,
            )
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-3000:]
    result: dict[str, Any] = json.loads(proc.stdout.decode().strip().splitlines()[-1])
    messages = [m for m in result["messages"] if isinstance(m, dict)]
    assert result["exception"] is False
    assert any(m.get("channel") == "book" and m.get("type") == "snapshot" for m in messages)
    assert any(m.get("channel") == "book" and m.get("type") == "update" for m in messages)


async def test_cli_tls_prints_the_ca_file_and_serves_wss() -> None:
    cmd = [*CLI, "fake-exchange", "--tls", "--update-interval", "0"]
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            proc: trio.Process = await nursery.start(
                partial(
                    trio.run_process,
                    cmd,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                    check=False,
                )
            )
            assert proc.stdout is not None
            line = b""
            while not line.endswith(b"\n"):
                chunk = await proc.stdout.receive_some(65536)
                assert chunk, "the command exited before printing its URLs"
                line += chunk
            info: dict[str, Any] = json.loads(line)
            assert info["rest_url"].startswith("https://")
            context = ssl.create_default_context(cafile=info["ca_file"])
            endpoints = info["endpoints"]
            for url in (endpoints["spotPublicV2"], endpoints["derivativesPublicV1"]):
                assert url.startswith("wss://")
                async with open_websocket_url(url, ssl_context=context) as ws:
                    assert json.loads(await ws.get_message())
            proc.send_signal(signal.SIGINT)
            assert await proc.wait() == 0
            await proc.stdout.aclose()
    assert not await trio.Path(info["ca_file"]).exists()
