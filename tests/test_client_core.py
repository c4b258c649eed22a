"""open_kraken() against the fake exchange over real loopback sockets (issue: connection core)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import trio
from support import client_for, next_data, next_matching, settle, wait_event

from kraken_trio import (
    Gap,
    InvalidRequestError,
    OverrunError,
    ReconnectExhaustedError,
    SubscriptionError,
    WsKey,
    open_kraken,
)
from kraken_trio._proto import futures as f
from kraken_trio._proto import spot as s
from kraken_trio.testing._fake import open_fake_kraken

PUBLIC = WsKey.SPOT_PUBLIC_V2


def _subscribe_frames(fake: Any, key: WsKey, channel: str) -> list[dict[str, Any]]:
    return [
        r.message
        for r in fake.received(key)
        if isinstance(r.message, dict)
        and r.message.get("method") == "subscribe"
        and r.message.get("params", {}).get("channel") == channel
    ]


async def test_per_symbol_acks_snapshot_then_updates_for_this_subscription_only() -> None:
    async with open_fake_kraken(update_interval=0.01) as fake, client_for(fake) as k:
        with trio.fail_after(10):
            async with k.subscribe("book", symbol=["BTC/USD", "ETH/USD"], depth=10) as sub:
                seen: dict[str, list[str]] = {"BTC/USD": [], "ETH/USD": []}
                async for msg in sub:
                    assert isinstance(msg, s.BookMessage)
                    seen[msg.data[0].symbol].append(msg.type)
                    if all(len(v) >= 3 for v in seen.values()):
                        break
        for types in seen.values():
            assert types[0] == "snapshot"
            assert set(types[1:]) == {"update"}
        # One subscribe frame carried both symbols; the fake acked each one separately.
        frames = _subscribe_frames(fake, PUBLIC, "book")
        assert len(frames) == 1
        assert frames[0]["params"]["symbol"] == ["BTC/USD", "ETH/USD"]
        assert isinstance(frames[0]["req_id"], int)


async def test_refused_symbol_raises_subscription_error_with_krakens_text() -> None:
    async with open_fake_kraken(update_interval=None) as fake, client_for(fake) as k:
        with trio.fail_after(10), pytest.raises(SubscriptionError) as info:
            async with k.subscribe("ticker", symbol=["BTC/USD", "NOPE/USD"]):
                pytest.fail("subscribe should have been refused")
        assert "NOPE/USD" in info.value.error
        assert info.value.method == "subscribe"
        # The half that succeeded was rolled back on the wire.
        await settle(k)
        assert fake.server(PUBLIC).subscribers("ticker", "BTC/USD") == 0


async def test_channels_route_to_their_endpoint_keys() -> None:
    async with open_fake_kraken(update_interval=0.01) as fake, client_for(fake) as k:
        with trio.fail_after(15):
            async with k.subscribe("ticker", symbol=["BTC/USD"]) as t:
                assert isinstance(await t.__anext__(), s.TickerMessage)
            async with k.subscribe("executions", snap_orders=True) as ex:
                assert isinstance(await ex.__anext__(), s.ExecutionsMessage)
            async with k.subscribe("balances") as bal:
                assert isinstance(await bal.__anext__(), s.BalancesSnapshot)
            async with k.subscribe("level3", symbol=["BTC/USD"]) as l3:
                assert isinstance(await l3.__anext__(), s.L3Message)
            async with k.subscribe(
                "ticker", product_ids=["PI_XBTUSD"], ws_key=WsKey.DERIVATIVES_PUBLIC_V1
            ) as ft:
                assert isinstance(await ft.__anext__(), f.FuturesTicker)
        assert set(k.statistics()) == {
            WsKey.SPOT_PUBLIC_V2,
            WsKey.SPOT_PRIVATE_V2,
            WsKey.SPOT_L3_V2,
            WsKey.DERIVATIVES_PUBLIC_V1,
        }
        assert _subscribe_frames(fake, WsKey.SPOT_PRIVATE_V2, "executions")
        assert _subscribe_frames(fake, WsKey.SPOT_L3_V2, "level3")
        # Private frames carry a token fetched over REST; the public ones carry none.
        assert _subscribe_frames(fake, WsKey.SPOT_L3_V2, "level3")[0]["params"]["token"]
        assert "token" not in _subscribe_frames(fake, PUBLIC, "ticker")[0]["params"]


async def test_two_subscribers_share_one_wire_subscription() -> None:
    async with open_fake_kraken(update_interval=0.01) as fake, client_for(fake) as k:
        server = fake.server(PUBLIC)
        with trio.fail_after(10):
            first = k.subscribe("trade", symbol=["BTC/USD"])
            second = k.subscribe("trade", symbol=["BTC/USD"])
            await first.open()
            await second.open()
            assert server.subscribers("trade", "BTC/USD") == 1
            assert len(_subscribe_frames(fake, PUBLIC, "trade")) == 1
            # Both get the same updates.
            a = await next_matching(first, lambda m: m.type == "update")
            b = await next_matching(second, lambda m: m is a)
            assert b is a
            await first.aclose()
            # Leaving one does not end the other, and nothing went to the wire.
            await next_matching(second, lambda m: m.type == "update")
            await settle(k)
            assert server.subscribers("trade", "BTC/USD") == 1
            await second.aclose()
            await settle(k)
            assert server.subscribers("trade", "BTC/USD") == 0


async def test_conflicting_options_for_a_shared_symbol_are_refused_locally() -> None:
    async with open_fake_kraken(update_interval=None) as fake, client_for(fake) as k:
        with trio.fail_after(10):
            async with k.subscribe("book", symbol=["BTC/USD"], depth=10):
                with pytest.raises(InvalidRequestError, match="depth"):
                    await k.subscribe("book", symbol=["BTC/USD"], depth=25).open()


@pytest.mark.parametrize(
    ("channel", "params", "needle"),
    [
        ("bookz", {"symbol": ["BTC/USD"]}, "unknown spot channel"),
        ("book", {}, "needs symbol"),
        ("book", {"symbol": ["BTC/USD"], "depth": 7}, "depth"),
        ("ohlc", {"symbol": ["BTC/USD"], "interval": 2}, "interval"),
        ("ticker", {"symbol": ["BTC/USD"], "colour": "red"}, "colour"),
        ("ticker", {"symbol": ["BTC/USD", "BTC/USD"]}, "twice"),
        ("instrument", {"symbol": ["BTC/USD"]}, "takes no symbol"),
        ("book", {"symbol": ["BTC/USD"], "token": "x"}, "token"),
        ("ticker_lite", {"product_ids": []}, "product_ids"),
    ],
)
async def test_bad_arguments_raise_at_once_and_send_nothing(
    channel: str, params: dict[str, Any], needle: str
) -> None:
    async with open_kraken(endpoints={PUBLIC: "ws://127.0.0.1:9/v2"}) as k:
        with pytest.raises(InvalidRequestError, match=needle):
            k.subscribe(channel, **params)
        assert k.statistics() == {}


async def test_private_channel_without_credentials_is_refused_locally() -> None:
    async with open_kraken() as k:
        with pytest.raises(InvalidRequestError, match="api_key"):
            k.subscribe("executions")


async def test_overflow_raise_delivers_buffered_then_overrun_error() -> None:
    async with open_fake_kraken(update_interval=None) as fake, client_for(fake) as k:
        with trio.fail_after(10):
            slow = k.subscribe("book", symbol=["BTC/USD"], buffer_size=4)
            await slow.open()
            async with k.subscribe("ticker", symbol=["BTC/USD"]) as probe:
                await probe.__anext__()
                await fake.step(60)
                await settle(k)
            received: list[Any] = []

            async def drain() -> None:
                async for msg in slow:
                    received.append(msg)

            with pytest.raises(OverrunError) as info:
                await drain()
            assert len(received) == 4
            assert received[0].type == "snapshot"
            assert info.value.lost >= 1
            # The overrun subscription let go of the wire; the connection is fine.
            await settle(k)
            assert fake.server(PUBLIC).subscribers("book", "BTC/USD") == 0


async def test_overflow_drop_oldest_marks_the_gap_with_the_count() -> None:
    async with open_fake_kraken(update_interval=None) as fake, client_for(fake) as k:
        with trio.fail_after(10):
            async with k.subscribe(
                "book", symbol=["BTC/USD"], buffer_size=5, on_overflow="drop_oldest"
            ) as slow:
                await fake.step(60)
                await settle(k)
                gap = await slow.__anext__()
                assert isinstance(gap, Gap)
                assert gap.reason == "overflow"
                stats = slow.statistics()
                assert gap.lost == stats.lost >= 1
                rest = [await slow.__anext__() for _ in range(5)]
                assert all(isinstance(m, s.BookMessage) and m.type == "update" for m in rest)
                assert slow.statistics().buffered == 0


async def test_overflow_latest_keeps_the_newest_per_symbol() -> None:
    async with open_fake_kraken(update_interval=None) as fake, client_for(fake) as k:
        with trio.fail_after(10):
            async with (
                k.subscribe(
                    "ticker",
                    symbol=["BTC/USD", "ETH/USD"],
                    buffer_size=2,
                    on_overflow="latest",
                    event_trigger="bbo",
                ) as slow,
                k.subscribe("ticker", symbol=["BTC/USD", "ETH/USD"], event_trigger="bbo") as fast,
            ):
                latest: dict[str, Any] = {}
                await fake.step(40)
                await settle(k)
                while fast.statistics().buffered:
                    msg = await next_data(fast)
                    latest[msg.data[0].symbol] = msg
                got = [await next_data(slow), await next_data(slow)]
                assert {m.data[0].symbol for m in got} == {"BTC/USD", "ETH/USD"}
                for m in got:
                    assert m is latest[m.data[0].symbol]
                assert slow.statistics().conflated > 0
                assert slow.statistics().lost == 0


async def test_slow_subscriber_never_stalls_the_connection_or_others() -> None:
    async with (
        open_fake_kraken(update_interval=0.005) as fake,
        client_for(fake, ping_interval=0.2, pong_timeout=0.5) as k,
    ):
        events = k.events()
        with trio.fail_after(15):
            slow = k.subscribe("book", symbol=["ETH/USD"], buffer_size=2, on_overflow="drop_oldest")
            await slow.open()
            async with k.subscribe("trade", symbol=["BTC/USD"]) as fast:
                count = 0
                async for _ in fast:
                    count += 1
                    if count >= 40:
                        break
            # Pings kept being answered: no reconnect happened while the slow one lagged.
            assert k.statistics()[PUBLIC].reconnects == 0
            assert slow.statistics().lost > 0
            await slow.aclose()
        events.close()
        kinds = [e.kind async for e in events]
        assert "open" in kinds
        assert "reconnecting" not in kinds


async def test_reconnect_after_drop_resubscribes_exactly_once_with_gap_marker() -> None:
    async with open_fake_kraken(update_interval=0.01) as fake, client_for(fake) as k:
        events = k.events()
        with trio.fail_after(15):
            async with (
                k.subscribe("book", symbol=["BTC/USD"]) as book,
                k.subscribe("ticker", symbol=["ETH/USD"]) as ticker,
            ):
                left = k.subscribe("trade", symbol=["SOL/USD"])
                await left.open()
                await left.aclose()
                assert (await next_data(book)).type == "snapshot"
                old_ids = set(fake.server(PUBLIC).connection_ids)
                assert await fake.faults(PUBLIC).drop() == 1
                await wait_event(events, "reconnecting")
                await wait_event(events, "reconnected")
                gap = await next_matching(book, lambda m: isinstance(m, Gap))
                assert gap.reason == "reconnect"
                assert gap.symbol == "BTC/USD"
                after = await book.__anext__()
                assert isinstance(after, s.BookMessage)
                assert after.type == "snapshot"
                await next_matching(ticker, lambda m: isinstance(m, Gap))
                assert (await next_data(ticker)).type == "snapshot"
                server = fake.server(PUBLIC)
                (new_id,) = server.connection_ids
                assert new_id not in old_ids
                live = sorted(server.subscriptions()[new_id])
                assert live == [("book", "BTC/USD"), ("ticker", "ETH/USD")]
                new_frames = [
                    r.message
                    for r in fake.received(PUBLIC)
                    if r.connection_id == new_id and r.message.get("method") == "subscribe"
                ]
                assert len(new_frames) == 2  # one per channel, none for the trade we left


async def test_reconnect_after_tcp_reset() -> None:
    async with open_fake_kraken(update_interval=0.01) as fake, client_for(fake) as k:
        events = k.events()
        with trio.fail_after(15):
            async with k.subscribe("ticker", symbol=["BTC/USD"]) as sub:
                await sub.__anext__()
                await fake.faults(PUBLIC).drop(reset=True)
                await wait_event(events, "reconnected")
                await next_matching(sub, lambda m: isinstance(m, Gap))
                assert (await next_data(sub)).type == "snapshot"


async def test_silent_pong_stall_is_detected_within_ping_interval_plus_pong_timeout() -> None:
    ping_interval, pong_timeout = 0.3, 0.3
    async with (
        open_fake_kraken(update_interval=None) as fake,
        client_for(fake, ping_interval=ping_interval, pong_timeout=pong_timeout) as k,
    ):
        events = k.events()
        with trio.fail_after(10):
            async with k.subscribe("ticker", symbol=["BTC/USD"]) as sub:
                await sub.__anext__()
                fake.faults(PUBLIC).stall_pongs = True
                started = trio.current_time()
                with trio.fail_after(ping_interval + pong_timeout + 0.5):
                    event = await wait_event(events, "reconnecting")
                assert "pong" in event.detail
                assert trio.current_time() - started >= pong_timeout
                fake.faults(PUBLIC).stall_pongs = False
                await wait_event(events, "reconnected")
                await next_matching(sub, lambda m: isinstance(m, Gap))
                assert (await next_data(sub)).type == "snapshot"


async def test_futures_pong_stall_is_detected_with_protocol_pings() -> None:
    key = WsKey.DERIVATIVES_PUBLIC_V1
    async with (
        open_fake_kraken(update_interval=0.05) as fake,
        client_for(fake, ping_interval=0.3, pong_timeout=0.3) as k,
    ):
        events = k.events()
        with trio.fail_after(10):
            async with k.subscribe("ticker_lite", product_ids=["PI_XBTUSD"], ws_key=key) as sub:
                await sub.__anext__()
                fake.faults(key).stall_pongs = True
                event = await wait_event(events, "reconnecting")
                assert event.ws_key == key
                fake.faults(key).stall_pongs = False
                await wait_event(events, "reconnected")
                await next_matching(sub, lambda m: isinstance(m, Gap))


async def test_reconnect_limit_reaches_the_iterator_as_an_error() -> None:
    async with (
        open_fake_kraken(update_interval=None) as fake,
        client_for(fake, max_reconnects=2) as k,
    ):
        with trio.fail_after(10):
            async with k.subscribe("ticker", symbol=["BTC/USD"]) as sub:
                await sub.__anext__()
                fake.faults(PUBLIC).refuse(60)
                await fake.faults(PUBLIC).drop()
                with pytest.raises(ReconnectExhaustedError, match="2 reconnect"):
                    async for _ in sub:
                        pass


async def test_lifecycle_events_and_clean_shutdown_leave_no_task() -> None:
    async with open_fake_kraken(update_interval=0.01) as fake:
        before = trio.lowlevel.current_statistics().tasks_living
        async with client_for(fake) as k:
            events = k.events()
            with trio.fail_after(10):
                sub = k.subscribe("ticker", symbol=["BTC/USD"])
                await sub.open()
                await sub.__anext__()
                assert (await wait_event(events, "open")).ws_key == PUBLIC
        # Leaving the client ended the iterator and closed the connection cleanly.
        with trio.fail_after(5):
            remaining = [m async for m in sub]
        assert all(isinstance(m, s.TickerMessage) for m in remaining)
        kinds = [e.kind async for e in events]
        assert "close" in kinds
        ours = [n for n in _task_names() if "kraken_trio" in n and "kraken_trio.testing" not in n]
        assert not ours
        assert trio.lowlevel.current_statistics().tasks_living <= before + 1  # the fake's handler


def _task_names() -> list[str]:
    names: list[str] = []

    def walk(task: trio.lowlevel.Task) -> None:
        names.append(task.name)
        for nursery in task.child_nurseries:
            for child in nursery.child_tasks:
                walk(child)

    root = trio.lowlevel.current_root_task()
    assert root is not None
    walk(root)
    return names


async def test_user_exception_escapes_unwrapped() -> None:
    async with open_fake_kraken(update_interval=None) as fake:
        with pytest.raises(ZeroDivisionError):
            async with client_for(fake) as k, k.subscribe("ticker", symbol=["BTC/USD"]):
                _ = 1 / 0


async def test_cancelling_an_async_for_keeps_the_subscription() -> None:
    async with open_fake_kraken(update_interval=0.01) as fake, client_for(fake) as k:
        with trio.fail_after(10):
            async with k.subscribe("trade", symbol=["BTC/USD"]) as sub:
                with trio.move_on_after(0.05):
                    async for _ in sub:
                        pass
                msg = await sub.__anext__()
                assert isinstance(msg, s.TradeMessage)


async def test_decimals_are_exact_from_the_wire() -> None:
    async with open_fake_kraken(update_interval=None) as fake, client_for(fake) as k:
        with trio.fail_after(10):
            async with k.subscribe("book", symbol=["SHIB/USD"]) as sub:
                snap = await next_data(sub)
        level = snap.data[0].bids[0]
        assert isinstance(level.price, Decimal)
        assert level.price.as_tuple().exponent == -9
        assert level.qty.as_tuple().exponent == -5


async def test_an_overrun_sharer_does_not_make_the_next_sharer_skip_a_message() -> None:
    async with open_fake_kraken(update_interval=None) as fake, client_for(fake) as k:
        with trio.fail_after(15):
            # Room for the join resyncs (gap + snapshot each), not for 40 steps of updates.
            slow = k.subscribe("book", symbol=["BTC/USD"], buffer_size=8)
            await slow.open()
            async with (
                k.subscribe("book", symbol=["BTC/USD"], buffer_size=10_000) as b,
                k.subscribe("book", symbol=["BTC/USD"], buffer_size=10_000) as c,
            ):
                await settle(k)
                for sub in (b, c):  # everything from the joins, up to now
                    for _ in range(sub.statistics().buffered):
                        await sub.__anext__()
                assert not slow.closed
                await fake.step(40)
                await settle(k)
                # b sits right after the slow one in the wire's user list: it must not skip
                # the message during which the slow one overran and detached.
                seen_b = [await b.__anext__() for _ in range(b.statistics().buffered)]
                seen_c = [await c.__anext__() for _ in range(c.statistics().buffered)]
                assert len(seen_c) > 8
                assert len(seen_b) == len(seen_c)
                assert all(x is y for x, y in zip(seen_b, seen_c, strict=True))
                with pytest.raises(OverrunError):
                    await _drain(slow)


async def _drain(sub: Any) -> None:
    async for _ in sub:
        pass


async def test_leaving_while_the_subscribe_is_in_flight_unsubscribes_on_the_wire() -> None:
    async with open_fake_kraken(update_interval=None) as fake, client_for(fake) as k:
        with trio.fail_after(15):
            await k.connect(PUBLIC)
            fake.faults(PUBLIC).delay = 0.3
            sub = k.subscribe("ticker", symbol=["BTC/USD"])
            with trio.move_on_after(0.05):
                await sub.open()
            assert sub.closed
            fake.faults(PUBLIC).delay = 0.0
            await settle(k)
            assert fake.server(PUBLIC).subscribers("ticker", "BTC/USD") == 0
            assert ("ticker", "BTC/USD") not in k.connection(PUBLIC).live_wires()


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        ({"endpoints": {PUBLIC: "notaurl"}}, "ws://"),
        ({"endpoints": {PUBLIC: "http://127.0.0.1/v2"}}, "ws://"),
        ({"endpoints": {"nope": "ws://127.0.0.1/v2"}}, "ws_key"),
        ({"rest_url": "ftp://x"}, "rest_url"),
        ({"ping_interval": 0}, "ping_interval"),
        ({"colour": "red"}, "colour"),
    ],
)
async def test_bad_open_kraken_options_fail_at_once(options: dict[str, Any], needle: str) -> None:
    with pytest.raises(InvalidRequestError, match=needle):
        async with open_kraken(**options):
            pytest.fail("open_kraken should have refused")
