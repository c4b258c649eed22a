"""What a user's type checker sees: mypy over a small user script, with one deliberate error."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from kraken_trio.messages import OhlcMessage

USER_SCRIPT = """\
from kraken_trio import Gap, WsKey, open_kraken
from kraken_trio.messages import TickerMessage

FUTURES = WsKey.DERIVATIVES_PUBLIC_V1

async def main() -> None:
    async with open_kraken() as k:
        async for msg in k.subscribe("ticker", symbol=["BTC/USD"]):
            reveal_type(msg)
            if isinstance(msg, Gap):
                continue
            print(msg.data[0].last)
            print(msg.data[0].lastt)
        async with k.book("BTC/USD") as book:
            reveal_type(book)
        async with k.book(["BTC/USD", "ETH/USD"]) as books:
            reveal_type(books)
        reveal_type(k.subscribe("ticker", product_ids=["PI_XBTUSD"]))
        reveal_type(k.subscribe("book", product_ids=["PI_XBTUSD"], ws_key=FUTURES))
        reveal_type(k.subscribe("balances"))
        reveal_type(k.subscribe("balances", ws_key=WsKey.DERIVATIVES_PRIVATE_V1))
        reveal_type(k.subscribe("executions", snap_orders=True))
        reveal_type(k.subscribe("trade", symbol=["BTC/USD"]))
        ticker: TickerMessage | Gap = await k.subscribe("ticker", symbol=["BTC/USD"]).__anext__()
"""

# Module prefixes (kraken_trio._proto.spot. ...) are stripped before the comparison.
REVEALED = {
    9: "TickerMessage | Gap",
    15: "LocalBook",
    17: "OrderBooks",
    18: "Subscription[FuturesTicker | Gap]",
    19: "Subscription[FuturesBookSnapshot | FuturesBookDelta | Gap]",
    20: "Subscription[BalancesSnapshot | BalancesUpdate | Gap]",
    21: "Subscription[FuturesBalancesSnapshot | FuturesBalances | Gap]",
    22: "Subscription[ExecutionsMessage | Gap]",
    23: "Subscription[TradeMessage | Gap]",
}
PREFIX = re.compile(r"kraken_trio\.(?:_proto\.(?:spot|futures)|_subscription|_events|_localbook)\.")


@pytest.mark.slow
def test_mypy_sees_each_channels_message_type_and_catches_a_typo(tmp_path: Path) -> None:
    script = tmp_path / "user_bot.py"
    script.write_text(USER_SCRIPT)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-error-summary",
            "--hide-error-context",
            "--config-file=",
            f"--cache-dir={tmp_path / 'cache'}",
            script.name,
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    lines = done.stdout.splitlines()
    errors = [line for line in lines if ": error:" in line]
    typo = 'user_bot.py:13: error: "TickerData" has no attribute "lastt"; maybe "last"?'
    assert errors == [f"{typo}  [attr-defined]"], done.stdout + done.stderr
    revealed = {}
    for line in lines:
        match = re.match(r"user_bot.py:(\d+): note: Revealed type is \"(.*)\"$", line)
        if match:
            revealed[int(match[1])] = PREFIX.sub("", match[2])
    assert revealed == REVEALED


def test_every_delivered_message_type_has_a_public_name() -> None:
    from kraken_trio import messages
    from kraken_trio._proto import futures_session, spot_session

    delivered: set[type[object]] = {
        *futures_session._ROUTES,
        *spot_session._SYMBOL_CHANNELS,
        *spot_session._WHOLE_CHANNELS,
        OhlcMessage,
    }
    for cls in delivered:
        assert getattr(messages, cls.__name__) is cls, cls


def test_examples_and_docs_import_no_private_module() -> None:
    root = Path(__file__).resolve().parents[1]
    texts = [*(root / "examples").rglob("*.py"), *(root / "docs").rglob("*.md")]
    offenders = [
        str(path.relative_to(root))
        for path in texts
        if re.search(r"(?:from|import) kraken_trio\._", path.read_text())
    ]
    assert offenders == []
