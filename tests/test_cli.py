"""The ``kraken-trio`` stream commands and the demo: arguments, exit codes, JSON lines, views.

Stream commands run in this process through ``main()`` (stdout captured, so not a terminal:
JSON lines), each bounded by ``--duration`` so that a silent stream ends the run and fails the
assertions instead of hanging. The demo, Ctrl-C, broken pipes and the terminal view run in
their own processes, each bounded by ``trio.fail_after``.
"""

from __future__ import annotations

import json
import os
import pty
import re
import signal
import subprocess
import sys
from decimal import Decimal
from functools import partial
from typing import Any

import pytest
import trio

from kraken_trio import Gap, WsKey
from kraken_trio._errors import (
    AuthenticationError,
    InvalidRequestError,
    OverrunError,
    ReconnectExhaustedError,
    SubscriptionError,
)
from kraken_trio._proto.book import L2Book
from kraken_trio.cli import build_parser, main
from kraken_trio.cli._output import classify, to_record
from kraken_trio.testing import open_fake_kraken

CLI = [sys.executable, "-c", "import sys; from kraken_trio.cli import main; sys.exit(main())"]
STREAMS = ["ticker", "book", "trades", "ohlc", "instrument", "level3", "executions", "balances"]


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str], str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out.splitlines(), captured.err


def records(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines]


# ------------------------------------------------------------------ arguments and exit codes


def test_every_command_is_registered() -> None:
    parser = build_parser()
    help_text = parser.format_help()
    for name in [*STREAMS, "futures", "demo", "fake-exchange"]:
        assert re.search(rf"^    {re.escape(name)}\s", help_text, re.MULTILINE), name


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["book", "BTC/USD", "--depth", "7"], "invalid choice: 7"),
        (["ticker", "BTC/USD", "--count", "0"], "must be at least 1"),
        (["ticker", "BTC/USD", "--duration", "-1"], "positive number of seconds"),
        (["ticker"], "SYMBOL"),
        (["ohlc", "BTC/USD", "--interval", "2"], "invalid choice: 2"),
        (["futures", "tickers", "PI_XBTUSD"], "invalid choice"),
        (["demo", "--duration", "soon"], "expected a number of seconds"),
        (["ticker", "BTC/USD", "--endpoint", "notaurl"], "expected a URL starting with ws://"),
        (["balances", "--rest-url", "ws://x"], "expected a URL starting with http://"),
    ],
)
def test_bad_arguments_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_futures_public_feed_without_product_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["futures", "book", "--fake"], capsys)
    assert (code, out) == (2, [])
    assert "futures feed 'book' needs a PRODUCT" in err


def test_bad_demo_pair_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["demo", "--pair", "NOPE/USD", "--duration", "20"], capsys)
    assert code == 2
    assert "unknown pair 'NOPE/USD'" in err
    assert "BTC/USD" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("command", [["balances"], ["executions"], ["level3", "BTC/USD"]])
def test_private_stream_without_credentials_exits_3(
    command: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KRAKEN_API_KEY", raising=False)
    monkeypatch.delenv("KRAKEN_API_SECRET", raising=False)
    code, out, err = run_cli([*command, "--duration", "20"], capsys)
    assert (code, out) == (3, [])
    assert "set KRAKEN_API_KEY and KRAKEN_API_SECRET" in err


def test_futures_private_feed_without_credentials_exits_3(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KRAKEN_FUTURES_API_KEY", raising=False)
    code, _, err = run_cli(["futures", "fills", "--duration", "20"], capsys)
    assert code == 3
    assert "KRAKEN_FUTURES_API_KEY" in err


def test_unreachable_endpoint_exits_4(capsys: pytest.CaptureFixture[str]) -> None:
    # Port 9 (discard) on loopback has no listener here: connection refused at once.
    argv = ["ticker", "BTC/USD", "--endpoint", "ws://127.0.0.1:9/v2", "--max-reconnects", "1"]
    code, out, err = run_cli([*argv, "--duration", "30"], capsys)
    assert (code, out) == (4, [])
    assert "kraken-trio ticker: network error:" in err
    assert "127.0.0.1:9" in err
    assert "Traceback" not in err


def test_unreachable_token_endpoint_exits_4(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KRAKEN_API_KEY", "key")
    monkeypatch.setenv("KRAKEN_API_SECRET", "c2VjcmV0")
    argv = ["balances", "--rest-url", "http://127.0.0.1:9", "--max-reconnects", "1"]
    code, out, err = run_cli([*argv, "--duration", "30"], capsys)
    assert (code, out) == (4, [])
    assert "GetWebSocketsToken failed: ConnectError" in err
    assert "c2VjcmV0" not in err


def test_refused_symbol_exits_5_with_krakens_text(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["ticker", "NOPE/USD", "--fake", "--duration", "30"], capsys)
    assert (code, out) == (5, [])
    assert "Kraken refused" in err
    assert "Currency pair not supported NOPE/USD" in err


async def test_rejected_credentials_exit_5_and_never_show_the_secret() -> None:
    secret = "c2VjcmV0LXRoYXQtbXVzdC1uZXZlci1iZS1wcmludGVk"
    with trio.fail_after(60):
        async with open_fake_kraken(update_interval=0) as fake:
            env = {**os.environ, "KRAKEN_API_KEY": "wrong-key", "KRAKEN_API_SECRET": secret}
            argv = [
                *CLI,
                "balances",
                "--endpoint",
                fake.endpoints[WsKey.SPOT_PRIVATE_V2],
                "--rest-url",
                fake.rest_url,
                "--duration",
                "30",
            ]
            proc = await trio.run_process(
                argv, env=env, capture_stdout=True, capture_stderr=True, check=False
            )
    err = proc.stderr.decode()
    assert proc.returncode == 5, err
    assert "EAPI:Invalid key" in err
    assert len(err.splitlines()) == 1, err  # one failure, one line
    assert secret not in err
    assert proc.stdout == b""


def test_classify_maps_each_error_family() -> None:
    assert classify(InvalidRequestError("depth")) == (2, "depth")
    assert classify(SubscriptionError("EGeneral:x", "subscribe", 1))[0] == 5  # type: ignore[index]
    assert classify(AuthenticationError("EAPI:Invalid key"))[0] == 5  # type: ignore[index]
    assert classify(ReconnectExhaustedError("gave up"))[0] == 4  # type: ignore[index]
    assert classify(ConnectionRefusedError(111, "refused"))[0] == 4  # type: ignore[index]
    assert classify(OverrunError(3, "book"))[0] == 6  # type: ignore[index]
    group = BaseExceptionGroup("g", [KeyboardInterrupt()])
    assert classify(group) == (0, "")
    assert classify(RuntimeError("a bug")) is None  # a bug keeps its traceback


def test_records_keep_decimals_exact_and_mark_gaps() -> None:
    gap = Gap(reason="overflow", ws_key=WsKey.SPOT_PUBLIC_V2, lost=3)
    assert to_record(gap) == {
        "gap": {"reason": "overflow", "ws_key": "spotPublicV2", "lost": 3, "symbol": None}
    }


# ------------------------------------------------------------------ --fake streams, JSON lines


def test_ticker_json_lines_have_exact_decimal_strings(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(
        ["ticker", "BTC/USD", "ETH/USD", "--fake", "--count", "4", "--duration", "30"], capsys
    )
    assert code == 0
    msgs = records(out)
    assert len(msgs) == 4
    assert {m["channel"] for m in msgs} == {"ticker"}
    assert msgs[0]["type"] == "snapshot"
    symbols = {m["data"][0]["symbol"] for m in msgs}
    assert symbols == {"BTC/USD", "ETH/USD"}
    for m in msgs:
        tick = m["data"][0]
        assert isinstance(tick["bid"], str)
        places = 1 if tick["symbol"] == "BTC/USD" else 2  # padded to the pair's precision
        assert len(tick["bid"].split(".")[1]) == places
        assert Decimal(tick["ask"]) > Decimal(tick["bid"])


def test_book_json_lines_reproduce_krakens_checksum(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(
        ["book", "BTC/USD", "--depth", "25", "--fake", "--count", "30", "--duration", "30"],
        capsys,
    )
    assert code == 0
    msgs = records(out)
    assert len(msgs) == 30
    assert msgs[0]["type"] == "snapshot"
    assert len(msgs[0]["data"][0]["bids"]) == 25

    class Level:
        def __init__(self, raw: dict[str, str]) -> None:
            self.price, self.qty = Decimal(raw["price"]), Decimal(raw["qty"])

    book = L2Book("BTC/USD", 25, 1, 8)
    for m in msgs:
        data = m["data"][0]
        bids = [Level(x) for x in data["bids"]]
        asks = [Level(x) for x in data["asks"]]
        if m["type"] == "snapshot":
            book.apply_snapshot(bids, asks)
        else:
            book.apply_update(bids, asks)
        assert book.verify(data["checksum"]), "JSON numbers must be the exact wire decimals"


@pytest.mark.parametrize(
    ("argv", "channel"),
    [
        (["trades", "BTC/USD"], "trade"),
        (["ohlc", "BTC/USD", "--interval", "5"], "ohlc"),
        (["instrument"], "instrument"),
        (["level3", "BTC/USD"], "level3"),
        (["executions"], "executions"),
        (["balances"], "balances"),
    ],
)
def test_spot_streams_against_the_fake(
    argv: list[str], channel: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli([*argv, "--fake", "--count", "1", "--duration", "30"], capsys)
    assert code == 0
    (msg,) = records(out)
    assert msg["channel"] == channel
    if channel == "ohlc":
        assert msg["data"][0]["interval"] == 5
    if channel == "balances":
        assert {"asset": "USD"}.items() <= msg["data"][0].items() or any(
            a["asset"] == "USD" for a in msg["data"]
        )


@pytest.mark.parametrize(
    ("argv", "feeds"),
    [
        (["ticker", "PI_XBTUSD"], {"ticker"}),
        (["book", "PI_XBTUSD"], {"book_snapshot", "book"}),
        (["trade", "PI_XBTUSD"], {"trade_snapshot", "trade"}),
        (["heartbeat"], {"heartbeat"}),
        (["open_orders"], {"open_orders_snapshot"}),
    ],
)
def test_futures_feeds_against_the_fake(
    argv: list[str], feeds: set[str], capsys: pytest.CaptureFixture[str]
) -> None:
    count = "1" if argv[0] in ("heartbeat", "open_orders") else "3"
    code, out, _ = run_cli(
        ["futures", *argv, "--fake", "--count", count, "--duration", "30"], capsys
    )
    assert code == 0
    msgs = records(out)
    assert len(msgs) == int(count)
    assert {m["feed"] for m in msgs} <= feeds
    assert all("event" not in m for m in msgs)
    if argv[0] == "book":
        assert msgs[0]["feed"] == "book_snapshot"
        assert [m["seq"] for m in msgs] == list(range(msgs[0]["seq"], msgs[0]["seq"] + 3))


def test_duration_ends_a_quiet_stream_with_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["executions", "--fake", "--duration", "1"], capsys)
    assert code == 0
    assert [m["type"] for m in records(out)] == ["snapshot"]  # nothing traded meanwhile


# ------------------------------------------------------------------ own processes


async def _read_until(stream: Any, needle: bytes, buf: bytearray) -> None:
    while needle not in buf:
        chunk = await stream.receive_some(65536)
        if not chunk:
            raise AssertionError(f"stream ended before {needle!r}; got {bytes(buf)[-2000:]!r}")
        buf += chunk


async def test_demo_runs_the_whole_session_and_exits_0() -> None:
    with trio.fail_after(90):
        proc = await trio.run_process(
            [*CLI, "demo", "--duration", "3"], capture_stdout=True, capture_stderr=True, check=False
        )
    out, err = proc.stdout.decode(), proc.stderr.decode()
    assert proc.returncode == 0, err
    assert "\x1b[" not in out  # piped: plain lines
    for step in (
        "embedded fake exchange at ws://127.0.0.1:",
        "checksum verified",
        "< armed",
        "> add_order limit buy",
        "> amend_order",
        "> cancel_order",
        "> batch_add 3 orders",
        "> add_order market buy",
        "exec trade",
        "> cancel_all",
        "< 3 order(s) cancelled",
        "< disarmed",
        "demo finished after",
        "(0 refused)",
    ):
        assert step in out, step
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "first"),
    [
        (["demo", "--duration", "60"], b"checksum verified"),
        (["ticker", "BTC/USD", "--fake"], b'"channel":"ticker"'),
    ],
)
async def test_ctrl_c_ends_cleanly_with_exit_0(argv: list[str], first: bytes) -> None:
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            proc: trio.Process = await nursery.start(
                partial(
                    trio.run_process,
                    [*CLI, *argv],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    check=False,
                )
            )
            assert proc.stdout is not None
            assert proc.stderr is not None
            buf = bytearray()
            await _read_until(proc.stdout, first, buf)
            proc.send_signal(signal.SIGINT)
            err = bytearray()
            async for chunk in proc.stderr:
                err += chunk
            async for chunk in proc.stdout:
                buf += chunk
            code = await proc.wait()
    assert code == 0, bytes(err)
    assert b"Traceback" not in err
    if argv[0] == "demo":
        assert b"demo finished" in buf


async def test_a_stalled_reader_meets_the_overflow_policy_not_a_frozen_client() -> None:
    # Nobody reads stdout: the pipe fills, the writer task stalls, the subscription's
    # buffer overflows, and with --on-overflow raise the command stops with exit code 6
    # (instead of blocking the event loop, and with it the heartbeat, on a full pipe).
    argv = [*CLI, "book", "BTC/USD", "--depth", "1000", "--fake", "--on-overflow", "raise"]
    read_end, write_end = os.pipe()  # the read end stays open and is never read
    try:
        with trio.fail_after(60):
            proc = await trio.run_process(
                [*argv, "--buffer-size", "5", "--duration", "40"],
                stdout=write_end,
                capture_stderr=True,
                check=False,
            )
    finally:
        os.close(read_end)
        os.close(write_end)
    err = proc.stderr.decode()
    assert proc.returncode == 6, err
    assert "overran its buffer" in err
    assert "see --on-overflow" in err
    assert "Traceback" not in err


async def test_reader_going_away_is_a_clean_exit() -> None:
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            proc: trio.Process = await nursery.start(
                partial(
                    trio.run_process,
                    [*CLI, "book", "BTC/USD", "--fake"],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    check=False,
                )
            )
            assert proc.stdout is not None
            assert proc.stderr is not None
            await _read_until(proc.stdout, b"\n", bytearray())
            await proc.stdout.aclose()  # like `| head -1`
            err = bytearray()
            async for chunk in proc.stderr:
                err += chunk
            code = await proc.wait()
    assert code == 0, bytes(err)
    assert err == b""


async def run_on_terminal(argv: list[str]) -> tuple[int, str]:
    """Run the CLI with a pseudo-terminal as stdout; its exit code and everything it drew."""
    master, slave = pty.openpty()
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
                        env={**os.environ, "COLUMNS": "80", "LINES": "24"},
                    )
                )
                os.close(slave)
                slave = -1
                screen = bytearray()
                reader = trio.lowlevel.FdStream(os.dup(master))
                async with reader:
                    try:
                        async for chunk in reader:
                            screen += chunk
                    except trio.BrokenResourceError:  # EIO: the child closed the terminal
                        pass
                code = await proc.wait()
    finally:
        os.close(master)
        if slave != -1:
            os.close(slave)
    return code, screen.decode()


async def test_terminal_gets_a_live_view() -> None:
    code, text = await run_on_terminal(["book", "BTC/USD", "--fake", "--duration", "2"])
    assert code == 0
    assert "\x1b[H\x1b[2J" in text  # redrawn in place
    assert "kraken-trio book BTC/USD" in text
    assert "checksum \x1b[32mOK" in text
    assert "spread" in text
    assert '"channel"' not in text  # no JSON on a terminal


async def test_demo_on_a_terminal_draws_the_live_view() -> None:
    code, text = await run_on_terminal(["demo", "--duration", "3"])
    assert code == 0
    frames = text.split("\x1b[H\x1b[2J")
    assert len(frames) > 5  # redrawn many times
    last = frames[-1]
    assert "BTC/USD book" in last
    assert "checksum \x1b[32mOK" in last
    assert "latest trades" in last
    assert "trading over the WebSocket API" in last
    assert "demo finished after" in last
    assert "[  " not in last  # no plain timestamped lines on a terminal
    assert "\x1b[?25h" in text  # the cursor is given back


async def test_a_reconnect_shows_up_as_a_gap_line() -> None:
    with trio.fail_after(60):
        async with open_fake_kraken(update_interval=0.02) as fake, trio.open_nursery() as nursery:
            argv = [
                *CLI,
                "ticker",
                "BTC/USD",
                "--endpoint",
                fake.endpoints[WsKey.SPOT_PUBLIC_V2],
                "--duration",
                "40",
            ]
            proc: trio.Process = await nursery.start(
                partial(
                    trio.run_process,
                    argv,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    check=False,
                )
            )
            assert proc.stdout is not None
            assert proc.stderr is not None
            buf = bytearray()
            await _read_until(proc.stdout, b"\n", buf)
            await fake.faults(WsKey.SPOT_PUBLIC_V2).drop(reset=True)
            # Read until the gap marker and a snapshot after it (ending with its newline).
            while not re.search(rb'\{"gap":.*\n.*"type":"snapshot".*\n', bytes(buf), re.DOTALL):
                chunk = await proc.stdout.receive_some(65536)
                assert chunk, f"stream ended without a gap and a snapshot: {bytes(buf)!r}"
                buf += chunk
            proc.send_signal(signal.SIGINT)
            err = bytearray()
            async for chunk in proc.stderr:
                err += chunk
            async for chunk in proc.stdout:
                buf += chunk
            assert await proc.wait() == 0
    lines = [json.loads(line) for line in bytes(buf).splitlines() if line.strip()]
    gaps = [i for i, m in enumerate(lines) if "gap" in m]
    assert lines[gaps[0]]["gap"]["reason"] == "reconnect"
    assert lines[gaps[0] + 1]["type"] == "snapshot"  # the fresh snapshot follows the marker
    assert b"reconnecting" in err  # the warning went to stderr, not into the JSON


async def test_live_book_view_resyncs_after_a_bad_checksum() -> None:
    async with open_fake_kraken(update_interval=0.02) as fake:
        fake.spot_faults(WsKey.SPOT_PUBLIC_V2).corrupt_next_checksum("BTC/USD")
        url = fake.endpoints[WsKey.SPOT_PUBLIC_V2]
        code, text = await run_on_terminal(
            ["book", "BTC/USD", "--endpoint", url, "--duration", "3"]
        )
    assert code == 0
    last = text.split("\x1b[H\x1b[2J")[-1]
    assert "checksum \x1b[32mOK" in last  # back in sync after the resync
    assert "mismatches: 1, resyncs: 1" in last


@pytest.mark.parametrize(
    ("argv", "shown"),
    [
        (["ticker", "BTC/USD", "ETH/USD"], ["BTC/USD", "ETH/USD", "chg %"]),
        (["trades", "BTC/USD"], ["BTC/USD", "side", "price"]),
        (["ohlc", "BTC/USD", "--interval", "5"], ["begin", "BTC/USD", "trades"]),
        (["instrument"], ["pairs,", "SHIB/USD", "price step"]),
        (["level3", "BTC/USD"], ["checksum \x1b[32mOK", "spread"]),
        (["executions"], ["exec_type", "order_id"]),
        (["balances"], ["USD", "100000.00000"]),
        (["futures", "ticker", "PI_XBTUSD"], ["PI_XBTUSD", "mark"]),
        (["futures", "trade", "PI_XBTUSD"], ["PI_XBTUSD", "seq"]),
        (["futures", "heartbeat"], ['"feed":"heartbeat"']),
    ],
)
async def test_every_stream_has_a_live_view(argv: list[str], shown: list[str]) -> None:
    code, text = await run_on_terminal([*argv, "--fake", "--duration", "2.5"])
    assert code == 0, text[-2000:]
    last = text.split("\x1b[H\x1b[2J")[-1]
    assert f"kraken-trio {argv[0]}" in last
    for needle in shown:
        assert needle in last, (needle, last)


def test_the_library_prints_nothing_unless_the_application_configures_logging() -> None:
    script = (
        "import logging, kraken_trio\n"
        "logging.getLogger('kraken_trio._connection').warning('refused: a caught error')\n"
        "logging.getLogger('kraken_trio').error('failed for good')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stderr == ""
