"""Reliability under faults and load (issue 8): the fault storm and the slow consumer.

The storm itself lives in ``chaos_storm.py`` so that ``soak.py`` runs the same code for as
long as asked; here CI runs a short seeded one and prints its summary (``pytest -s``).
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import trio
from chaos_storm import run_storm
from support import client_for, next_matching, wait_event

from kraken_trio import Gap, KrakenError, OverrunError, WsKey
from kraken_trio._proto import spot as s
from kraken_trio.testing import open_fake_kraken

PUBLIC = WsKey.SPOT_PUBLIC_V2
FUTURES = WsKey.DERIVATIVES_PUBLIC_V1

STORM_SEED = int(os.environ.get("KRAKEN_TRIO_STORM_SEED", "8"))
STORM_SECONDS = float(os.environ.get("KRAKEN_TRIO_STORM_SECONDS", "12"))


# ----------------------------------------------------------------------------- regressions


async def test_frames_queued_while_the_server_closes_do_not_crash_the_client() -> None:
    async with open_fake_kraken(update_interval=None) as fake, client_for(fake) as k:
        events = k.events()
        with trio.fail_after(30):
            async with k.subscribe("ticker", symbol=["BTC/USD"]) as sub:
                await sub.__anext__()
                for _ in range(10):
                    async with trio.open_nursery() as nursery:

                        async def churn() -> None:
                            # Keeps the writer busy with subscribe/unsubscribe frames.
                            while True:
                                try:
                                    async with k.subscribe("trade", symbol=["ETH/USD"]):
                                        pass
                                except KrakenError:
                                    await trio.lowlevel.checkpoint()

                        nursery.start_soon(churn)
                        await fake.faults(PUBLIC).drop()
                        await wait_event(events, "reconnected")
                        nursery.cancel_scope.cancel()
                gap = await next_matching(sub, lambda m: isinstance(m, Gap))
                assert gap.reason == "reconnect"


# ----------------------------------------------------------------------------- slow consumer


def _pings(fake: Any, key: WsKey) -> int:
    return sum(
        1
        for r in fake.received(key)
        if isinstance(r.message, dict) and r.message.get("method") == "ping"
    )


@pytest.mark.parametrize("policy", ["raise", "drop_oldest", "latest"])
async def test_slow_consumer_under_a_firehose_gets_its_policy_and_nothing_else_stalls(
    policy: str,
) -> None:
    async with (
        open_fake_kraken(update_interval=0.002) as fake,
        client_for(fake, ping_interval=0.1, pong_timeout=0.5) as k,
    ):
        events = k.events()
        with trio.fail_after(30):
            channel, params = (
                ("ticker", {"symbol": ["BTC/USD", "SOL/USD"], "event_trigger": "bbo"})
                if policy == "latest"
                else ("book", {"symbol": ["BTC/USD"], "depth": 10})
            )
            slow = k.subscribe(channel, buffer_size=4, on_overflow=policy, **params)  # type: ignore[call-overload]
            await slow.open()
            async with k.subscribe("book", symbol=["ETH/USD"], depth=100) as fast:
                # The fast subscriber keeps receiving while three heartbeats go out and are
                # answered, the slow one reading nothing at all.
                pings_before = _pings(fake, PUBLIC)
                received = 0
                async for msg in fast:
                    assert isinstance(msg, s.BookMessage), msg
                    received += 1
                    if received >= 50 and _pings(fake, PUBLIC) >= pings_before + 3:
                        break
            stats = k.statistics()[PUBLIC]
            assert stats.reconnects == 0
            assert stats.connected
            slow_stats = slow.statistics()
            if policy == "raise":
                got: list[Any] = []

                async def drain() -> None:
                    async for msg in slow:
                        got.append(msg)

                with pytest.raises(OverrunError) as info:
                    await drain()
                assert len(got) == 4  # what was buffered is still delivered first
                assert got[0].type == "snapshot"
                assert info.value.lost >= 1
                assert "book" in str(info.value)
            elif policy == "drop_oldest":
                assert slow_stats.lost > 0
                gap = await slow.__anext__()
                assert isinstance(gap, Gap)
                assert gap.reason == "overflow"
                assert gap.lost == slow.statistics().lost
                # It goes on: the newest messages follow, and new ones keep coming.
                for _ in range(10):
                    msg = await slow.__anext__()
                    assert isinstance(msg, s.BookMessage | Gap)
            else:
                assert slow_stats.lost == 0
                assert slow_stats.conflated > 0
                first = [await slow.__anext__() for _ in range(2)]
                assert {m.data[0].symbol for m in first} == {"BTC/USD", "SOL/USD"}
            await slow.aclose()
        events.close()
        kinds = [e.kind async for e in events]
        assert "reconnecting" not in kinds
        assert "exception" not in kinds


# ----------------------------------------------------------------------------- the storm


async def test_random_fault_storm_leaves_everything_consistent() -> None:
    with trio.fail_after(STORM_SECONDS + 150):  # every phase has its own bound; a backstop
        summary = await run_storm(STORM_SEED, STORM_SECONDS)
    print(f"\n{summary}")  # shown by `pytest -s`
    assert summary.violations == []
    assert summary.hung == 0
    assert summary.leftover_tasks == []
    # The storm really stormed: most fault kinds were drawn, and the client lived through it.
    assert sum(summary.faults.values()) >= 20
    assert len(summary.faults) >= 10
    assert summary.reconnects >= 5
    assert summary.requests_ok > 0
    assert summary.bad_messages > 0


async def test_storm_with_futures_close_frames() -> None:
    # Seed 3 restarts the futures endpoint as the client's first ping arrives: the fake used to
    # crash answering it with a pong in LOCAL_CLOSING (fixed in 20650c0).
    with trio.fail_after(120):
        summary = await run_storm(3, 4, futures_close_frames=True)
    print(f"\n{summary}")
    assert summary.violations == []
