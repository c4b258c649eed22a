"""Every example in ``examples/`` runs against the fake exchange, so none of them rots.

Each script runs in its own process with ``--fake`` (exactly what a reader would type),
bounded by ``trio.fail_after``; its output must show the use case working. The bot example's
own test suite runs under pytest in its own process. The documentation is checked for the
facts that drift: every Config field and default, every example, every CLI exit code.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from pathlib import Path

import pytest
import trio

from kraken_trio import Config

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
DOCS = ROOT / "docs"

# script -> (arguments, lines that must appear in its output)
CASES: dict[str, tuple[list[str], list[str]]] = {
    "public_streams.py": (
        ["--count", "3"],
        [r"ticker BTC/USD\s+bid \d+\.\d ask \d+\.\d", r"ticker ETH/USD\s+bid \d+\.\d\d "],
    ),
    "order_book.py": (
        ["--count", "3"],
        [r"snapshot BTC/USD bid \d+\.\d x \d\.\d{8} \| ask", r"update\s+BTC/USD .* OK"],
    ),
    "private_streams.py": (
        # No --count: the script must stop by itself once its order's story is told, long
        # before this duration (and the 90 s bound of the test).
        ["--duration", "600"],
        [
            r"balances: \{'USD': '100000\.00000'",
            r"placed market order O",
            r"trade\s+O\S+ \S+ filled 0\.00100000 @ \d+\.\d",
            r"ledger trade: BTC \+0\.0010000000",
        ],
    ),
    "trading_session.py": (
        [],
        [
            r"dead man's switch armed until",
            r"placed\s+O\S+: limit buy",
            r"amended\s+O\S+ \(amend_id",
            r"cancelled \['O",
            r"batch\s+\['O\S+', 'O\S+', 'O\S+'\]",
            r"refused\s+as expected: EOrder:Insufficient funds",
            r"cancel_all cancelled 3 order\(s\)",
            r"dead man's switch disarmed",
        ],
    ),
    "dead_mans_switch.py": (
        [],
        [
            r"managed switch: [1-9]\d* refresh\(es\)",
            r"managed switch disarmed on exit: armed=False",
            r"the switch fired: O\S+ canceled",
        ],
    ),
    "futures_feeds.py": (
        ["--count", "3"],
        [r"book\s+PI_XBTUSD snapshot bid", r"book\s+PI_XBTUSD update\s+bid .* \(seq gaps 0\)"],
    ),
    "testing_a_bot/bot.py": (
        ["--duration", "2"],
        [r"quoted O\S+ at \d+\.\d, \d+ amend\(s\); all cancelled on exit"],
    ),
}


def test_every_example_script_is_exercised() -> None:
    scripts = {
        str(p.relative_to(EXAMPLES))
        for p in EXAMPLES.rglob("*.py")
        if not p.name.startswith(("_", "test_"))
    }
    assert scripts == set(CASES)


@pytest.mark.parametrize("script", sorted(CASES))
async def test_example_runs_against_the_fake(script: str) -> None:
    args, expected = CASES[script]
    with trio.fail_after(90):
        proc = await trio.run_process(
            [sys.executable, str(EXAMPLES / script), "--fake", *args],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
            cwd=str(ROOT),
        )
    out, err = proc.stdout.decode(), proc.stderr.decode()
    assert proc.returncode == 0, f"{script} failed:\n{out}\n{err}"
    assert "Traceback" not in err, err
    for pattern in expected:
        assert re.search(pattern, out), f"{script}: no line matching {pattern!r} in:\n{out}"


async def test_the_bot_examples_own_tests_pass() -> None:
    with trio.fail_after(120):
        proc = await trio.run_process(
            [sys.executable, "-m", "pytest", "-q", str(EXAMPLES / "testing_a_bot")],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
            cwd=str(ROOT),
        )
    out = proc.stdout.decode()
    assert proc.returncode == 0, out + proc.stderr.decode()
    assert re.search(r"\b2 passed\b", out), out


def test_configuration_page_lists_every_field_and_its_default() -> None:
    text = (DOCS / "configuration.md").read_text()
    rows = {
        name: default.strip().strip("`")
        for name, default in re.findall(r"^\| `(\w+)` \| ([^|]*) \|", text, re.MULTILINE)
    }
    for field in dataclasses.fields(Config):
        assert field.name in rows, f"docs/configuration.md does not document {field.name}"
        if field.default is not dataclasses.MISSING:
            assert rows[field.name] == repr(field.default), field.name


def test_docs_mention_every_example_and_every_exit_code() -> None:
    docs = "\n".join(p.read_text() for p in DOCS.rglob("*.md"))
    for script in CASES:
        assert f"examples/{script}" in docs, script
    cli = (DOCS / "cli.md").read_text()
    for code in range(7):
        assert re.search(rf"^\| {code} \|", cli, re.MULTILINE), f"exit code {code} undocumented"
