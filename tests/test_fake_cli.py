"""``kraken-trio fake-exchange`` and the pytest plugin, each in its own process."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import textwrap
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio
from trio_websocket import open_websocket_url

from kraken_trio import WsKey
from kraken_trio.cli import build_parser, main
from kraken_trio.cli._fake_exchange import describe
from kraken_trio.testing import open_fake_kraken

CLI = [sys.executable, "-c", "import sys; from kraken_trio.cli import main; sys.exit(main())"]


def test_bad_port_is_refused_with_a_clear_message(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fake-exchange", "--port", "-3"]) == 2
    assert "--port -3 is out of range" in capsys.readouterr().err


def test_subcommands_are_registered() -> None:
    parser = build_parser()
    args = parser.parse_args(["fake-exchange", "--seed", "4", "--update-interval", "0"])
    assert (args.seed, args.update_interval, args.port, args.host) == (4, 0.0, 0, "127.0.0.1")
    with pytest.raises(SystemExit):
        parser.parse_args([])


async def test_text_format_lists_every_key() -> None:
    async with open_fake_kraken(update_interval=0) as fake:
        text = describe(fake, "text")
    pairs = dict(line.split("=", 1) for line in text.splitlines())
    assert set(pairs) == {str(k) for k in WsKey} | {"rest", "futures_rest", "api_key", "api_secret"}
    assert pairs["spotPublicV2"] == fake.endpoints[WsKey.SPOT_PUBLIC_V2]
    assert pairs["futures_rest"] == fake.futures_rest_url
    assert pairs["api_secret"] == fake.api_secret


async def test_standalone_exchange_serves_until_interrupted() -> None:
    cmd = [*CLI, "fake-exchange", "--seed", "2", "--update-interval", "0.02"]
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
            assert set(info["endpoints"]) == {str(k) for k in WsKey}
            assert info["rest_url"].startswith("http://127.0.0.1:")
            async with open_websocket_url(info["endpoints"]["spotPublicV2"]) as ws:
                status = json.loads(await ws.get_message())
                assert status["channel"] == "status"
                await ws.send_message(
                    json.dumps(
                        {
                            "method": "subscribe",
                            "params": {"channel": "book", "symbol": ["BTC/USD"]},
                        }
                    )
                )
                assert json.loads(await ws.get_message())["success"] is True
                assert json.loads(await ws.get_message())["type"] == "snapshot"
                # the market moves on its own
                assert json.loads(await ws.get_message())["type"] == "update"
            proc.send_signal(signal.SIGINT)
            assert await proc.wait() == 0
            await proc.stdout.aclose()


def _write_project(root: Path, ini: str, test: str) -> None:
    (root / "pytest.ini").write_text(textwrap.dedent(ini))
    (root / "test_it.py").write_text(textwrap.dedent(test))


async def _pytest(root: Path, *args: str) -> tuple[int, str]:
    with trio.fail_after(60):
        proc = await trio.run_process(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
            cwd=root,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    return proc.returncode, proc.stdout.decode() + proc.stderr.decode()


async def test_plugin_fixture_in_a_trio_project(tmp_path: Path) -> None:
    _write_project(
        tmp_path,
        """
        [pytest]
        trio_mode = true
        filterwarnings = error
        """,
        """
        import json
        import trio
        from trio_websocket import open_websocket_url
        from kraken_trio import WsKey

        import pytest

        @pytest.fixture
        def fake_kraken_options():
            return {"seed": 9, "update_interval": 0}

        async def test_uses_the_fixture(fake_kraken):
            assert fake_kraken.market.seed == 9
            with trio.fail_after(10):
                async with open_websocket_url(fake_kraken.endpoints[WsKey.SPOT_PUBLIC_V2]) as ws:
                    assert json.loads(await ws.get_message())["channel"] == "status"
        """,
    )
    code, out = await _pytest(tmp_path)
    assert code == 0, out
    assert "1 passed" in out
    assert "warning" not in out.lower()


async def test_plugin_is_harmless_without_pytest_trio(tmp_path: Path) -> None:
    _write_project(
        tmp_path,
        """
        [pytest]
        filterwarnings = error
        """,
        """
        def test_plain():
            assert 1 + 1 == 2
        """,
    )
    code, out = await _pytest(tmp_path, "-p", "no:trio")
    assert code == 0, out
    assert "1 passed" in out
    assert "warning" not in out.lower()
    code, out = await _pytest(tmp_path, "-p", "no:trio", "--fixtures")
    assert code == 0, out
    assert "fake_kraken" in out


def _free_base_port() -> int:
    """A base port whose next seven ports were free a moment ago."""
    for base in range(41_000, 60_000, 97):
        socks: list[socket.socket] = []
        try:
            for offset in range(7):
                sock = socket.socket()
                socks.append(sock)
                sock.bind(("127.0.0.1", base + offset))
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
        return base
    raise AssertionError("no free port range")


async def test_base_port_lays_the_servers_out_in_order() -> None:
    base = _free_base_port()
    async with open_fake_kraken(update_interval=0, base_port=base) as fake:
        ports = {
            key: int(url.rsplit(":", 1)[1].split("/")[0]) for key, url in fake.endpoints.items()
        }
        assert ports[WsKey.SPOT_PUBLIC_V2] == base
        assert ports[WsKey.SPOT_PRIVATE_V2] == base + 1
        assert ports[WsKey.SPOT_L3_V2] == base + 2
        assert ports[WsKey.SPOT_BETA_PUBLIC_V2] == base + 3
        assert ports[WsKey.SPOT_BETA_PRIVATE_V2] == base + 4
        assert fake.rest_url == f"http://127.0.0.1:{base + 5}"
        assert ports[WsKey.DERIVATIVES_PUBLIC_V1] == base + 6


def test_a_taken_port_is_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["fake-exchange", "--port", str(port)]) == 1
    err = capsys.readouterr().err
    assert err == (
        f"kraken-trio fake-exchange: cannot listen on 127.0.0.1 port {port}..{port + 6}: "
        "Address already in use\n"
    )
