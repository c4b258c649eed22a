"""Bad input from the server (issue 8): every bad frame is logged, counted and contained.

Each frame is pushed by the fake exchange itself (``faults(key).send_raw``) over the live
connection, between genuine market messages. After each one: the frame was logged with a
message that says what was wrong, the right counter went up by one, the connection did not
reconnect, and an unrelated subscriber kept receiving its messages, none of them an exception
or a gap marker.
"""

from __future__ import annotations

import copy
import json
import logging
from typing import Any

import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st
from protocol_examples import BOOK_FIXTURE
from support import client_for, next_data, next_matching, settle

from kraken_trio import Gap, KrakenClient, Subscription, WsKey
from kraken_trio._proto import futures as f
from kraken_trio._proto import spot as s
from kraken_trio.testing import FakeKraken, open_fake_kraken

PUBLIC = WsKey.SPOT_PUBLIC_V2
PRIVATE = WsKey.SPOT_PRIVATE_V2
FUTURES = WsKey.DERIVATIVES_PUBLIC_V1

_TIMES = '"time_in":"2026-01-01T00:00:00.000000Z","time_out":"2026-01-01T00:00:00.000001Z"'

SPOT_CASES: list[tuple[str, str | bytes, str, str]] = [
    # (case id, frame, counter that goes up, what the log line says)
    ("invalid-json", '{"channel":"book","type":', "bad_messages", "malformed JSON"),
    ("not-json-at-all", "hello kraken", "bad_messages", "malformed JSON"),
    ("empty-text", "", "bad_messages", "malformed JSON"),
    ("binary-frame", b"\x00\xff\x10binary", "bad_messages", "binary frame"),
    ("json-array", "[1, 2, 3]", "bad_messages", "bad message"),
    ("json-number", "42", "bad_messages", "bad message"),
    ("json-null", "null", "bad_messages", "bad message"),
    ("deep-nesting", "[" * 5000 + "]" * 5000, "bad_messages", "bad message"),
    (
        "wrong-type-checksum",
        '{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","checksum":"abc",'
        '"bids":[],"asks":[]}]}',
        "bad_messages",
        "checksum",
    ),
    (
        "wrong-type-price",
        '{"channel":"ticker","type":"update","data":[{"symbol":"BTC/USD","bid":"x"}]}',
        "bad_messages",
        "bad message",
    ),
    (
        "data-not-a-list",
        '{"channel":"trade","type":"update","data":{"symbol":"BTC/USD"}}',
        "bad_messages",
        "bad message",
    ),
    (
        "unknown-channel",
        '{"channel":"mystery","type":"update","data":[{"x":1}]}',
        "unrouted",
        "unknown kind",
    ),
    (
        "ack-never-asked",
        '{"method":"subscribe","req_id":424242,"success":true,'
        '"result":{"channel":"ticker","symbol":"DOGE/USD"},' + _TIMES + "}",
        "unrouted",
        "subscribe ack nobody waits for",
    ),
    (
        "second-ack-for-a-live-subscription",
        '{"method":"subscribe","success":true,'
        '"result":{"channel":"book","symbol":"BTC/USD","depth":10},' + _TIMES + "}",
        "unrouted",
        "subscribe ack nobody waits for",
    ),
    (
        "reply-never-asked",
        '{"method":"add_order","req_id":99999,"success":false,"error":"EGeneral:Internal error",'
        + _TIMES
        + "}",
        "unrouted",
        "reply nobody waits for",
    ),
    (
        "refusal-never-asked",
        '{"method":"subscribe","req_id":77777,"success":false,"error":"Already subscribed",'
        + _TIMES
        + "}",
        "unrouted",
        "subscribe error nobody waits for",
    ),
    (
        "data-for-a-symbol-not-subscribed",
        '{"channel":"trade","type":"update","data":[{"symbol":"DOGE/USD","side":"buy",'
        '"price":1,"qty":1,"ord_type":"limit","trade_id":1,'
        '"timestamp":"2026-01-01T00:00:00.000000Z"}]}',
        "unrouted",
        "message nobody waits for",
    ),
]


async def _drain_updates(fake: FakeKraken, k: KrakenClient, sub: Subscription[Any]) -> int:
    """Move the market until ``sub`` has fresh messages; read them all. Returns how many."""
    while not sub.statistics().buffered:
        await fake.step()
        await settle(k)
    count = 0
    while sub.statistics().buffered:
        msg = await sub.__anext__()
        assert isinstance(msg, s.BookMessage), f"the subscriber got {msg!r}"
        assert not isinstance(msg, Gap)
        count += 1
    return count


@pytest.mark.parametrize(
    ("frame", "counter", "needle"),
    [pytest.param(frame, counter, needle, id=case) for case, frame, counter, needle in SPOT_CASES],
)
async def test_spot_bad_frame_is_logged_counted_and_contained(
    frame: str | bytes, counter: str, needle: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="kraken_trio")
    async with open_fake_kraken(update_interval=None) as fake, client_for(fake) as k:
        with trio.fail_after(15):
            async with k.subscribe("book", symbol=["BTC/USD"], depth=10) as sub:
                assert (await next_data(sub)).type == "snapshot"
                await _drain_updates(fake, k, sub)
                before = k.statistics()[PUBLIC]
                counts = (before.bad_messages, before.unrouted)
                caplog.clear()
                await fake.faults(PUBLIC).send_raw(frame)
                # Market messages sent after the bad frame still reach the subscriber.
                assert await _drain_updates(fake, k, sub) >= 1
                after = k.statistics()[PUBLIC]
                grown = {
                    "bad_messages": after.bad_messages - counts[0],
                    "unrouted": after.unrouted - counts[1],
                }
                assert grown[counter] == 1, grown
                assert sum(grown.values()) == 1, grown
                assert after.reconnects == 0
                assert after.connected
                lines = [r.getMessage() for r in caplog.records if r.name == "kraken_trio"]
                assert any(needle in line for line in lines), lines
                # The connection task is alive and well: a new subscription still works.
                async with k.subscribe("ticker", symbol=["ETH/USD"]) as ticker:
                    assert isinstance(await ticker.__anext__(), s.TickerMessage)


FUTURES_CASES: list[tuple[str, str | bytes, str]] = [
    ("invalid-json", '{"feed":"book",', "bad_messages"),
    ("binary-frame", b"\x01\x02", "bad_messages"),
    ("wrong-type-seq", '{"feed":"book","product_id":"PI_XBTUSD","side":"buy","seq":"x"}', ""),
    ("unknown-feed", '{"feed":"mystery","product_id":"PI_XBTUSD"}', ""),
    (
        "ack-never-asked",
        '{"event":"subscribed","feed":"ticker","product_ids":["PF_SOLUSD"]}',
        "unrouted",
    ),
]


@pytest.mark.parametrize(
    ("frame", "counter"),
    [pytest.param(frame, counter, id=case) for case, frame, counter in FUTURES_CASES],
)
async def test_futures_bad_frame_is_counted_and_contained(
    frame: str | bytes, counter: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="kraken_trio")
    async with open_fake_kraken(update_interval=None) as fake, client_for(fake) as k:
        with trio.fail_after(15):
            async with k.subscribe("book", product_ids=["PI_XBTUSD"], ws_key=FUTURES) as sub:
                assert isinstance(await sub.__anext__(), f.FuturesBookSnapshot)
                before = k.statistics()[FUTURES]
                was = {"bad_messages": before.bad_messages, "unrouted": before.unrouted}
                await fake.faults(FUTURES).send_raw(frame)
                await fake.futures.step()
                # The delta sent after the bad frame arrives, in sequence.
                msg = await sub.__anext__()
                assert isinstance(msg, f.FuturesBookDelta), msg
                after = k.statistics()[FUTURES]
                assert after.bad_messages + after.unrouted == sum(was.values()) + 1
                if counter:
                    assert getattr(after, counter) == was[counter] + 1
                assert after.reconnects == 0
                assert any(r.name == "kraken_trio" for r in caplog.records)


async def test_private_bad_frame_does_not_reach_the_executions_subscriber(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="kraken_trio")
    async with open_fake_kraken(update_interval=None) as fake, client_for(fake) as k:
        with trio.fail_after(15):
            async with k.subscribe("executions", snap_orders=True) as ex:
                assert (await next_data(ex)).type == "snapshot"
                await fake.faults(PRIVATE).send_raw(
                    '{"channel":"executions","type":"update","data":[{"order_id":5}]}'
                )
                bid, _ = fake.market.best_bid_ask("BTC/USD")
                assert bid is not None
                placed = await k.add_order(
                    order_type="limit",
                    side="buy",
                    symbol="BTC/USD",
                    order_qty="0.001",
                    limit_price=(bid - 5000).quantize(bid),
                )
                update = await next_matching(
                    ex, lambda m: any(e.order_id == placed.order_id for e in m.data)
                )
                assert isinstance(update, s.ExecutionsMessage)
                stats = k.statistics()[PRIVATE]
                assert stats.bad_messages == 1
                assert stats.reconnects == 0
                assert any("order_id" in r.getMessage() for r in caplog.records)


async def _small_round_trip(k: KrakenClient) -> None:
    """Like ``settle`` but with a frame far below 4 KiB (the instrument snapshot is not)."""
    async with k.subscribe("ticker", symbol=["SOL/USD"]) as sub:
        await sub.__anext__()


async def test_oversized_frame_is_refused_logged_and_the_feed_recovers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="kraken_trio")
    limit = 4096
    async with (
        open_fake_kraken(update_interval=None) as fake,
        client_for(fake, max_message_size=limit) as k,
    ):
        with trio.fail_after(15):
            async with k.subscribe("book", symbol=["BTC/USD"], depth=10) as sub:
                assert (await next_data(sub)).type == "snapshot"
                huge = '{"channel":"mystery","pad":"' + "x" * (4 * limit) + '"}'
                await fake.faults(PUBLIC).send_raw(huge)
                # Whether the client drops the frame or the link, the subscriber sees no
                # exception, only book messages (after a gap marker if the link was renewed).
                got: list[Any] = []
                while not any(isinstance(m, s.BookMessage) and m.type == "update" for m in got):
                    await fake.step()
                    await _small_round_trip(k)
                    while sub.statistics().buffered:
                        got.append(await sub.__anext__())
                assert all(isinstance(m, s.BookMessage | Gap) for m in got), got
                lines = [r.getMessage() for r in caplog.records]
                assert any("max_message_size" in line for line in lines), lines
                assert not any("x" * 100 in line for line in lines), "the frame was read"
                # Refused on its header: the link is renewed (close code 1009).
                assert k.statistics()[PUBLIC].reconnects == 1
                assert any(isinstance(m, Gap) for m in got)


async def test_statistics_are_a_snapshot() -> None:
    async with open_fake_kraken(update_interval=None) as fake, client_for(fake) as k:
        with trio.fail_after(10):
            async with k.subscribe("ticker", symbol=["BTC/USD"]) as sub:
                await sub.__anext__()
                saved = k.statistics()[PUBLIC]
                bad = saved.bad_messages
                await fake.faults(PUBLIC).send_raw("not json")
                await fake.step()
                await settle(k)
                assert k.statistics()[PUBLIC].bad_messages == bad + 1
                assert saved.bad_messages == bad


# ----------------------------------------------------------------------------- fuzzed frames

REAL = [json.loads(line) for line in BOOK_FIXTURE.read_text().splitlines()[:40]]

JSONISH = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=10)
    | st.sampled_from(["book", "ticker", "subscribe", "update", "snapshot", "BTC/USD"]),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def mutated_real(draw: st.DrawFn) -> str:
    """A real Kraken book message with one field replaced, removed or added."""
    msg = copy.deepcopy(draw(st.sampled_from(REAL)))
    target: Any = msg
    path = draw(st.lists(st.integers(min_value=0, max_value=50), min_size=0, max_size=3))
    for step in path:  # walk down a few levels, wherever that leads
        if isinstance(target, dict) and target:
            child = list(target)[step % len(target)]
            if isinstance(target[child], dict | list) and target[child]:
                target = target[child]
        elif isinstance(target, list) and target:
            child_value = target[step % len(target)]
            if isinstance(child_value, dict | list) and child_value:
                target = child_value
    action = draw(st.sampled_from(["replace", "delete", "add"]))
    if isinstance(target, dict) and target:
        key = draw(st.sampled_from(sorted(target)))
        if action == "delete":
            del target[key]
        elif action == "replace":
            target[key] = draw(JSONISH)
        else:
            target[draw(st.text(max_size=6))] = draw(JSONISH)
    elif isinstance(target, list) and target:
        index = draw(st.integers(min_value=0, max_value=len(target) - 1))
        if action == "delete":
            del target[index]
        else:
            target[index] = draw(JSONISH)
    return json.dumps(msg)


FRAMES = (
    mutated_real()
    | JSONISH.map(json.dumps)
    | st.text(max_size=40)
    | st.binary(min_size=1, max_size=40)
)


@settings(max_examples=20, derandomize=True, deadline=None, database=None)
@given(frames=st.lists(FRAMES, min_size=20, max_size=60))
def test_fuzzed_frames_never_break_the_connection_or_reach_an_unrelated_subscriber(
    frames: list[str | bytes],
) -> None:
    async def main() -> None:
        async with open_fake_kraken(update_interval=None) as fake, client_for(fake) as k:
            with trio.fail_after(20):
                async with k.subscribe("book", symbol=["ETH/USD"], depth=10) as sub:
                    assert (await next_data(sub)).type == "snapshot"
                    before = k.statistics()[PUBLIC]
                    for frame in frames:
                        await fake.faults(PUBLIC).send_raw(frame)
                    received = 0
                    while received == 0:
                        await fake.step()
                        await settle(k)
                        while sub.statistics().buffered:
                            msg = await sub.__anext__()
                            assert isinstance(msg, s.BookMessage), msg
                            assert {d.symbol for d in msg.data} == {"ETH/USD"}
                            received += 1
                    after = k.statistics()[PUBLIC]
                    assert after.reconnects == 0
                    assert after.connected
                    counted = (after.bad_messages - before.bad_messages) + (
                        after.unrouted - before.unrouted
                    )
                    assert counted <= len(frames)
                    # Every binary frame at least was dropped and counted.
                    assert counted >= sum(isinstance(f, bytes) for f in frames)

    trio.run(main)


@settings(max_examples=10, derandomize=True, deadline=None, database=None)
@given(
    frames=st.lists(
        JSONISH.map(json.dumps) | st.text(max_size=40) | st.binary(min_size=1, max_size=40),
        min_size=20,
        max_size=60,
    )
)
def test_fuzzed_frames_never_break_the_futures_connection(frames: list[str | bytes]) -> None:
    async def main() -> None:
        async with open_fake_kraken(update_interval=None) as fake, client_for(fake) as k:
            with trio.fail_after(20):
                async with k.subscribe("book", product_ids=["PI_XBTUSD"], ws_key=FUTURES) as sub:
                    snapshot = await sub.__anext__()
                    assert isinstance(snapshot, f.FuturesBookSnapshot)
                    for frame in frames:
                        await fake.faults(FUTURES).send_raw(frame)
                    await fake.futures.step()
                    msg = await sub.__anext__()
                    # The next delta, in sequence: nothing in between reached the subscriber.
                    assert isinstance(msg, f.FuturesBookDelta), msg
                    assert msg.product_id == "PI_XBTUSD"
                    assert msg.seq == snapshot.seq + 1
                    stats = k.statistics()[FUTURES]
                    assert stats.reconnects == 0
                    assert stats.bad_messages >= sum(isinstance(fr, bytes) for fr in frames)

    trio.run(main)
