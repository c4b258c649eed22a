"""``kraken-trio orders`` against the fake exchange (issue 15).

The command runs in its own process (JSON lines on a pipe) while the test places and fills
an order on the fake; every wait is bounded by ``trio.fail_after``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from decimal import Decimal
from functools import partial
from typing import Any

import msgspec
import pytest
import trio
from support import client_for

from kraken_trio import Fill, OrderState, OrderUpdate, WsKey
from kraken_trio.cli import build_parser, main
from kraken_trio.cli._orders import OrdersView
from kraken_trio.testing import open_fake_kraken

CLI = [sys.executable, "-c", "import sys; from kraken_trio.cli import main; sys.exit(main())"]
BTC = "BTC/USD"


def test_orders_is_registered() -> None:
    help_text = build_parser().format_help()
    assert re.search(r"^    orders\s", help_text, re.MULTILINE)


def test_orders_without_credentials_exits_3(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("KRAKEN_API_KEY", raising=False)
    monkeypatch.delenv("KRAKEN_API_SECRET", raising=False)
    assert main(["orders", "--duration", "5"]) == 3
    assert "set KRAKEN_API_KEY and KRAKEN_API_SECRET" in capsys.readouterr().err


def test_orders_on_an_empty_fake_account_ends_quietly(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["orders", "--fake", "--duration", "1"]) == 0
    assert capsys.readouterr().out == ""


async def test_json_lines_show_the_open_order_then_its_fill_exactly() -> None:
    async with open_fake_kraken(update_interval=None) as fake, client_for(fake) as k:
        bid, _ = fake.market.best_bid_ask(BTC)
        assert bid is not None
        price = (bid - 5000).quantize(Decimal("0.1"))
        with trio.fail_after(60):
            placed = await k.add_order(
                order_type="limit",
                side="buy",
                symbol=BTC,
                order_qty=Decimal("0.0123"),
                limit_price=price,
            )
            order_id = placed.order_id
            assert order_id is not None
            env = {
                **os.environ,
                "KRAKEN_API_KEY": fake.api_key,
                "KRAKEN_API_SECRET": fake.api_secret,
            }
            argv = [
                *CLI,
                "orders",
                "--endpoint",
                fake.endpoints[WsKey.SPOT_PRIVATE_V2],
                "--rest-url",
                fake.rest_url,
                "--count",
                "3",
                "--duration",
                "50",
            ]
            async with trio.open_nursery() as nursery:
                proc: trio.Process = await nursery.start(
                    partial(trio.run_process, argv, env=env, stdout=subprocess.PIPE, check=False)
                )
                assert proc.stdout is not None
                buf = bytearray()
                while b"\n" not in buf:
                    buf += await proc.stdout.receive_some()
                fake.fill_order(order_id, "0.0123", "50000.7")
                async for chunk in proc.stdout:
                    buf += chunk
                code = await proc.wait()
        lines: list[dict[str, Any]] = [json.loads(x) for x in buf.decode().splitlines()]
        assert code == 0
        assert [line["event"] for line in lines] == ["open", "update", "update"]
        assert lines[0]["order"]["order_id"] == order_id
        assert lines[0]["order"]["order_qty"] == "0.01230000"
        fill = lines[1]["fill"]
        assert (fill["qty"], fill["price"]) == ("0.01230000", "50000.7")
        assert lines[1]["reconciled"] is False
        assert lines[2]["order"]["order_status"] == "filled"
        assert lines[2]["fill"] is None


def test_the_terminal_view_lists_open_orders_and_fills() -> None:
    view = OrdersView()
    order = OrderState(
        order_id="OABCDE-12345-FGHIJK",
        symbol=BTC,
        side="buy",
        order_type="limit",
        order_status="partially_filled",
        order_qty=Decimal("0.0123"),
        limit_price=Decimal("50000.7"),
        cum_qty=Decimal("0.0023"),
    )
    fill = Fill(exec_id="T1", qty=Decimal("0.0023"), price=Decimal("50000.7"))
    view.feed(OrderUpdate(order=order, fill=fill, reconciled=True))
    text = "\n".join(view.render(30))
    assert "1 open" in text
    assert "OABCDE-12345-FGHIJK" in text
    assert "0.0123" in text
    assert "0.0023 BTC/USD @ 50000.7" in text
    assert "(reconciled)" in text
    view.feed(OrderUpdate(order=msgspec.structs.replace(order, order_status="canceled")))
    assert "0 open" in "\n".join(view.render(30))
