"""The ``open_kraken`` boundary: what leaves it, and how fast.

The user's own exceptions, groups and ``KeyboardInterrupt`` leave exactly as raised; only
failures of the library's own tasks become kraken_trio errors. Leaving is quick when nothing
is open, even while a connection backs off or connects.
"""

from __future__ import annotations

import socket

import pytest
import trio
import trio.testing
from support import client_for, wait_event

from kraken_trio import KrakenError, WsKey, open_kraken
from kraken_trio.testing import open_fake_kraken


def _dead_port() -> int:
    """A local port where nothing listens (connections are refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_a_users_exception_group_leaves_as_raised() -> None:
    # Defect: two ValueErrors from the user's nursery came out as KrakenError("internal
    # error: 2 failures ..."), so `except* ValueError` no longer matched.
    with pytest.RaisesGroup(ValueError, ValueError):
        async with open_kraken() as _k, trio.open_nursery() as nursery:

            async def fail() -> None:
                raise ValueError("mine")

            nursery.start_soon(fail)
            nursery.start_soon(fail)


async def test_a_users_group_of_one_is_not_flattened() -> None:
    with pytest.RaisesGroup(ValueError):
        async with open_kraken() as _k, trio.open_nursery() as nursery:

            async def fail() -> None:
                raise ValueError("mine")

            nursery.start_soon(fail)


async def test_a_users_plain_exception_is_the_same_object() -> None:
    error = LookupError("mine")
    with pytest.raises(LookupError) as info:
        async with open_kraken():
            raise error
    assert info.value is error


async def _broken() -> None:
    raise RuntimeError("a bug in a background task")


async def _interrupted_while_a_task_fails() -> None:
    async with open_kraken() as k:
        k.start_soon(_broken, "broken")
        await trio.testing.wait_all_tasks_blocked()
        raise KeyboardInterrupt


async def _a_task_fails() -> None:
    async with open_kraken() as k:
        k.start_soon(_broken, "broken")
        await trio.sleep_forever()


async def test_keyboard_interrupt_leaves_as_keyboard_interrupt_while_a_task_fails() -> None:
    # Defect: a KeyboardInterrupt raised while a background task also failed became a
    # KrakenError. The library's failure is attached as context instead.
    with pytest.raises(KeyboardInterrupt) as info:
        await _interrupted_while_a_task_fails()
    assert isinstance(info.value.__context__, RuntimeError)


async def test_a_failure_of_the_librarys_own_tasks_alone_is_raised_as_it_is() -> None:
    with pytest.raises(RuntimeError, match="a bug"):
        await _a_task_fails()


async def test_leaving_while_a_connection_backs_off_is_immediate() -> None:
    # Defect: leaving while a connection was backing off or connecting took 3 s.
    url = f"ws://127.0.0.1:{_dead_port()}/v2"
    async with open_kraken(
        endpoints={WsKey.SPOT_PUBLIC_V2: url}, reconnect_delay=30, reconnect_delay_max=30
    ) as k:
        events = k.events()
        k.connection(WsKey.SPOT_PUBLIC_V2).ensure_started()
        with trio.fail_after(5):
            async for event in events:
                if event.kind == "reconnecting":
                    break
        left_at = trio.current_time()
    assert trio.current_time() - left_at < 0.5


async def test_leaving_a_dead_mans_switch_while_the_link_is_down_is_bounded(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Defect: the disarm ignored the caller's cancellation for 10 s while the private link
    # was down, and the failed disarm was never logged.
    async with (
        open_fake_kraken(update_interval=None) as fake,
        client_for(fake, close_timeout=0.5, reconnect_delay=30) as k,
    ):
        events = k.events()
        with trio.fail_after(10):
            async with k.dead_mans_switch(timeout=60, refresh_every=20):
                fake.spot_faults(WsKey.SPOT_PRIVATE_V2).refuse(60)
                await fake.spot_faults(WsKey.SPOT_PRIVATE_V2).drop()
                await wait_event(events, "reconnecting")
                left_at = trio.current_time()
        assert trio.current_time() - left_at < 1.0
    assert any("could not disarm the dead man's switch" in r.getMessage() for r in caplog.records)


async def test_kraken_errors_from_the_block_are_not_wrapped() -> None:
    error = KrakenError("the user's own")
    with pytest.raises(KrakenError) as info:
        async with open_kraken():
            raise error
    assert info.value is error
