"""Books and other live state kept by the connection (issue: books that are always current).

* A book read without iterating equals the exchange's book.
* A second subscriber on a live stateful wire (book, level3, instrument, executions,
  balances, futures book) gets a correct snapshot from the kept state: the first sees no gap
  and the server no extra subscribe.
* A default subscription fed at full speed by a separate process loses nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import trio
from support import client_for

from kraken_trio import Gap, WsKey, open_kraken
from kraken_trio._proto import futures as f
from kraken_trio._proto import spot as s
from kraken_trio.testing import open_fake_kraken

ROOT = Path(__file__).resolve().parents[1]
PUBLIC = WsKey.SPOT_PUBLIC_V2
PRIVATE = WsKey.SPOT_PRIVATE_V2
L3 = WsKey.SPOT_L3_V2
FUTURES = WsKey.DERIVATIVES_PUBLIC_V1


def _requests(fake: Any, key: WsKey, method: str, channel: str) -> list[dict[str, Any]]:
    """Spot ``method`` requests or futures ``event`` requests for ``channel``."""
    out = []
    for r in fake.received(key):
        msg = r.message
        if not isinstance(msg, dict):
            continue
        spot = msg.get("method") == method and msg.get("params", {}).get("channel") == channel
        futures = msg.get("event") == method and msg.get("feed") == channel
        if spot or futures:
            out.append(msg)
    return out


async def test_a_book_read_without_iterating_equals_the_exchanges_book() -> None:
    # Before: updates waited in the subscription's buffer until somebody iterated, so a
    # strategy sampling book.best_bid from another task saw stale numbers.
    async with open_fake_kraken(update_interval=None) as fake, client_for(fake) as k:
        with trio.fail_after(20):
            async with k.book("BTC/USD", depth=10) as book:
                await book.__aiter__().__anext__()  # the snapshot: in sync
                for _ in range(50):
                    await fake.step()  # the market moves; nobody iterates the book
                # A barrier: the server answers in order, so once this ack is read every
                # book update sent before it has been read (and applied) too.
                async with k.subscribe("ticker", symbol=["ETH/USD"]):
                    pass
                bids = list(fake.market.opposite_levels("BTC/USD", "sell")[:10])
                asks = list(fake.market.opposite_levels("BTC/USD", "buy")[:10])
                assert book.bids() == bids
                assert book.asks() == asks
                assert book.updates > 0
                assert book.checksum_failures == 0


@pytest.mark.parametrize(
    ("key", "channel", "params"),
    [
        (PUBLIC, "book", {"symbol": ["BTC/USD"], "depth": 10}),
        (L3, "level3", {"symbol": ["BTC/USD"], "depth": 10}),
        (PUBLIC, "instrument", {}),
        (PRIVATE, "executions", {}),
        (PRIVATE, "balances", {}),
        (FUTURES, "book", {"product_ids": ["PI_XBTUSD"]}),
    ],
)
async def test_a_second_subscriber_joins_a_live_wire_without_disturbing_the_first(
    key: WsKey, channel: str, params: dict[str, Any]
) -> None:
    async with open_fake_kraken(update_interval=0.02) as fake, client_for(fake) as k:
        with trio.fail_after(20):
            async with k.subscribe(channel, ws_key=key, **params) as first:
                snapshot = await first.__anext__()
                assert getattr(snapshot, "type", "snapshot") == "snapshot"
                async with k.subscribe(channel, ws_key=key, **params) as second:
                    joined = await second.__anext__()
                    assert type(joined) is type(snapshot)
                    if isinstance(joined, f.FuturesBookSnapshot):
                        assert joined.bids
                    else:
                        assert joined.type == "snapshot"
                    if isinstance(joined, s.BookMessage | s.L3Message):
                        assert joined.data[0].bids
                    # The first subscriber goes on undisturbed.
                    for _ in range(3 if channel in ("book", "level3") else 0):
                        msg = await first.__anext__()
                        assert not isinstance(msg, Gap), msg
                        assert getattr(msg, "type", "update") == "update" or isinstance(
                            msg, f.FuturesBookDelta
                        )
        subscribes = _requests(fake, key, "subscribe", channel)
        assert len(subscribes) == 1, subscribes
        assert _requests(fake, key, "unsubscribe", channel)[:-1] == []


async def test_a_joined_book_snapshot_equals_the_live_book() -> None:
    async with open_fake_kraken(update_interval=None) as fake, client_for(fake) as k:
        with trio.fail_after(20):
            async with k.book("BTC/USD") as book:
                await book.__aiter__().__anext__()
                for _ in range(20):
                    await fake.step()
                await trio.testing.wait_all_tasks_blocked()
                async with k.subscribe("book", symbol=["BTC/USD"], depth=10) as raw:
                    joined = await raw.__anext__()
                assert isinstance(joined, s.BookMessage)
                data = joined.data[0]
                assert [(lv.price, lv.qty) for lv in data.bids] == book.bids()
                assert [(lv.price, lv.qty) for lv in data.asks] == book.asks()
                assert data.checksum == book.checksum


@contextmanager
def _replay(config: dict[str, Any]) -> Iterator[dict[str, Any]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.replay", json.dumps(config)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("READY "), line
        yield json.loads(line[6:])
    finally:
        proc.kill()
        proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()


@pytest.mark.slow
async def test_a_default_subscription_at_full_speed_loses_nothing() -> None:
    # Before: a consumer that did nothing but count, with default settings, met OverrunError
    # after ~25-30k messages: the reader handed over more per pass than the consumer took.
    count = 60_000
    with _replay({"depths": [10], "count": count, "fanout": 0}) as info:
        url = f"ws://127.0.0.1:{info['port']}/v2"
        updates = info["book_count"]["10"]
        assert updates >= count
        async with open_kraken(endpoints={PUBLIC: url}) as k:
            seen = 0
            with trio.fail_after(120):
                async for msg in k.subscribe("book", symbol=["BTC/USD"], depth=10):
                    assert not isinstance(msg, Gap), msg
                    seen += 1
                    if seen == updates + 1:  # the snapshot and every update
                        break
    assert seen == updates + 1
