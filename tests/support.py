"""Helpers shared by the client tests: a client pointed at a fake exchange, and waits."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import trio

from kraken_trio import Gap, KrakenClient, LifecycleEvent, Subscription, open_kraken
from kraken_trio.testing._fake import FakeKraken

M = TypeVar("M")


@asynccontextmanager
async def client_for(fake: FakeKraken, **options: Any) -> AsyncIterator[KrakenClient]:
    """A client whose endpoints, REST URL and credentials are the fake's."""
    options.setdefault("reconnect_delay", 0.05)
    options.setdefault("reconnect_delay_max", 0.2)
    async with open_kraken(
        fake.api_key,
        fake.api_secret,
        endpoints=fake.endpoints,
        rest_url=fake.rest_url,
        **options,
    ) as client:
        yield client


async def next_matching(it: Any, predicate: Callable[[Any], bool], limit: int = 10_000) -> Any:
    """The first item of an async iterator that satisfies ``predicate`` (caller bounds time)."""
    for _ in range(limit):
        item = await it.__anext__()
        if predicate(item):
            return item
    raise AssertionError(f"no matching item within {limit} items")


async def wait_event(events: Any, kind: str) -> LifecycleEvent:
    """The next lifecycle event of ``kind``."""
    event: LifecycleEvent = await next_matching(events, lambda e: e.kind == kind)
    return event


async def settle(client: KrakenClient) -> None:
    """Round-trip one subscription on the public connection so the server has processed
    every frame sent before it (frames on one connection are handled in order)."""
    async with client.subscribe("instrument") as sub:
        await sub.__anext__()
    await trio.lowlevel.checkpoint()


async def next_data(sub: Subscription[M | Gap]) -> M:
    """The next message of ``sub``, which must not be a :class:`Gap` marker."""
    msg = await sub.__anext__()
    assert not isinstance(msg, Gap), msg
    return msg
