"""The CLI's live views and output text: the latest state is always drawn, data of the fake
exchange is labelled, data age is shown, and numbers are exact decimal text."""

from __future__ import annotations

import argparse
import io
import json
import os
import pty
import re
import signal
import subprocess
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial

import pytest
import trio
import trio.testing
from test_cli import CLI, run_cli

from kraken_trio._proto import spot as s
from kraken_trio.cli import build_parser, main
from kraken_trio.cli._output import Painter, Screen, plain_decimals, to_record
from kraken_trio.cli._streams import _d

# ------------------------------------------------------------------ the painter (pure timing)


async def test_a_message_right_after_a_frame_is_still_drawn(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # The race of the live view: "connecting ..." is drawn, the stream's only message arrives
    # within the frame period, and nothing else ever comes. It must be drawn all the same.
    out = io.StringIO()
    screen = Screen(out)
    shown = ["connecting ..."]
    painter = Painter(screen, lambda: list(shown))
    async with trio.open_nursery() as nursery:
        screen.draw(shown)
        nursery.start_soon(painter.run)
        shown[:] = ["the only message"]
        painter.changed()
        await trio.testing.wait_all_tasks_blocked()
        assert out.getvalue().endswith("the only message\n")
        # With nothing new, the frame is redrawn every second (the age indicator counts).
        frames = out.getvalue().count("\x1b[H\x1b[2J")
        await trio.sleep(1.5)
        assert out.getvalue().count("\x1b[H\x1b[2J") > frames
        nursery.cancel_scope.cancel()


async def test_frames_are_limited_to_ten_a_second(autojump_clock: trio.testing.MockClock) -> None:
    out = io.StringIO()
    painter = Painter(Screen(out, fps=10), lambda: ["x"], refresh=60)
    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(painter.run)
        while trio.current_time() - start < 1.0:
            painter.changed()
            await trio.sleep(0.01)
        nursery.cancel_scope.cancel()
    assert out.getvalue().count("\x1b[H\x1b[2J") <= 11


# ------------------------------------------------------------------ a real terminal


async def _terminal_until(argv: list[str], needle: str) -> tuple[int, str]:
    """Run the CLI on a pseudo-terminal until ``needle`` is drawn, then press Ctrl-C."""
    master, slave = pty.openpty()
    screen = bytearray()
    try:
        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:
                proc: trio.Process = await nursery.start(
                    partial(
                        trio.run_process,
                        [*CLI, *argv],
                        stdout=slave,
                        stderr=subprocess.DEVNULL,
                        check=False,
                        env={**os.environ, "COLUMNS": "100", "LINES": "30"},
                    )
                )
                os.close(slave)
                slave = -1
                reader = trio.lowlevel.FdStream(os.dup(master))
                async with reader:
                    sent = False
                    try:
                        async for chunk in reader:
                            screen += chunk
                            if not sent and needle.encode() in screen:
                                proc.send_signal(signal.SIGINT)
                                sent = True
                    except trio.BrokenResourceError:  # EIO: the child closed the terminal
                        pass
                code = await proc.wait()
    finally:
        os.close(master)
        if slave != -1:
            os.close(slave)
    return code, screen.decode()


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["instrument", "--fake"], "pairs,"),  # one snapshot, then silence
        (["balances", "--fake"], "100000.00000"),
    ],
)
async def test_the_only_message_of_a_stream_reaches_the_view(argv: list[str], needle: str) -> None:
    code, text = await _terminal_until(argv, needle)
    assert code == 0
    last = text.split("\x1b[H\x1b[2J")[-1]
    assert needle in last  # Ctrl-C leaves the view, not "connecting to ..."
    assert "connecting to" not in last
    assert "FAKE EXCHANGE DATA" in last
    assert re.search(r"messages=1 gaps=0 last message \d+\.\ds ago", last), last


# ------------------------------------------------------------------ exact decimal text


def test_tiny_values_are_exact_decimal_text_never_scientific() -> None:
    assert _d(Decimal("1E-9")) == "0.000000001"
    assert _d(Decimal("7.2E-7"), 12) == "  0.00000072"
    assert plain_decimals({"a": [Decimal("1E-9")], "b": "1E-9"}) == {
        "a": ["0.000000001"],
        "b": "1E-9",  # text stays text
    }
    trade = s.TradeData(
        symbol="SHIB/USD",
        side="buy",
        price=Decimal("0.00001234"),
        qty=Decimal("7.2E-7"),
        ord_type="limit",
        trade_id=1,
        timestamp=datetime(2026, 1, 1, tzinfo=UTC),
    )
    record = to_record(s.TradeMessage(type="update", data=[trade]))
    assert record["data"][0]["qty"] == "0.00000072"
    assert record["data"][0]["price"] == "0.00001234"


def test_instrument_json_lines_have_no_exponents(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["instrument", "--fake", "--count", "1", "--duration", "30"], capsys)
    assert code == 0
    (snapshot,) = (json.loads(line) for line in out)
    increments = [pair["qty_increment"] for pair in snapshot["data"]["pairs"]]
    assert "0.00000001" in increments
    exponent = re.compile(r'"-?\d+(?:\.\d+)?[eE][-+]?\d+"')
    assert not any(exponent.search(line) for line in out)


# ------------------------------------------------------------------ --version and help


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == "kraken-trio 0.1.0"


@pytest.mark.parametrize("command", ["executions", "balances", "level3"])
def test_private_commands_name_the_credential_variables(command: str) -> None:
    parser = build_parser()
    top = parser.format_help()
    assert "KRAKEN_API_KEY and KRAKEN_API_SECRET" in " ".join(top.split())
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    sub = subparsers.choices[command]
    text = " ".join(sub.format_help().split())
    assert "needs KRAKEN_API_KEY and KRAKEN_API_SECRET, or --fake" in text
