"""Testing the bot against the fake exchange with the ``fake_kraken`` pytest fixture.

The fixture comes with kraken_trio (a pytest plugin, registered on install); it needs
pytest-trio. Run: ``pytest examples/testing_a_bot`` (with ``trio_mode = true``, or mark the
tests with ``@pytest.mark.trio``).

Every wait is for an event, bounded by ``trio.fail_after``: no sleeps.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
import trio
from bot import QuoteBot

from kraken_trio import KrakenClient, WsKey, open_kraken
from kraken_trio.testing import FakeKraken


def engine(fake: FakeKraken) -> Any:
    """The fake's matching engine: its state is what the exchange believes."""
    assert fake.engine is not None
    return fake.engine


def open_orders(fake: FakeKraken, account: str) -> list[dict[str, Any]]:
    """The account's open orders as the exchange sees them."""
    orders: list[dict[str, Any]] = engine(fake).open_orders(account)
    return orders


@pytest.fixture
def fake_kraken_options() -> dict[str, object]:
    # Any keyword of open_fake_kraken: here a faster market so the book moves quickly.
    return {"seed": 7, "update_interval": 0.02}


@pytest.fixture
async def client(fake_kraken: FakeKraken) -> AsyncIterator[KrakenClient]:
    async with open_kraken(
        fake_kraken.api_key,
        fake_kraken.api_secret,
        endpoints=fake_kraken.endpoints,
        rest_url=fake_kraken.rest_url,
        reconnect_delay=0.05,
    ) as k:
        yield k


async def test_bot_quotes_below_the_best_bid_and_cleans_up(
    fake_kraken: FakeKraken, client: KrakenClient
) -> None:
    account = fake_kraken.api_key  # the fake's default account
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            bot = QuoteBot(client, "BTC/USD", Decimal("0.001"), offset_ticks=20)
            await nursery.start(bot.run)
            await bot.quoted.wait()
            # The exchange's own view: one resting post-only bid, below the market.
            (order,) = open_orders(fake_kraken, account)
            assert order["order_id"] == bot.order_id
            assert Decimal(order["limit_price"]) == bot.price
            assert order["post_only"] is True
            (resting,) = [r for r in engine(fake_kraken).resting("BTC/USD") if r[3] == bot.order_id]
            assert resting[0] == "buy"
            # The dead man's switch is armed while the bot runs.
            assert engine(fake_kraken).next_deadman_expiry() is not None
            nursery.cancel_scope.cancel()
    assert open_orders(fake_kraken, account) == []  # cancel_all on the way out


async def test_bot_survives_a_dropped_connection(
    fake_kraken: FakeKraken, client: KrakenClient
) -> None:
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery, client.events() as events:
            bot = QuoteBot(client, "BTC/USD", Decimal("0.001"), reprice_ticks=1)
            await nursery.start(bot.run)
            await bot.quoted.wait()
            await fake_kraken.faults(WsKey.SPOT_PUBLIC_V2).drop(reset=True)
            async for event in events:
                if event.kind == "reconnected" and event.ws_key == WsKey.SPOT_PUBLIC_V2:
                    break
            # The order lives on the exchange across connections; the bot keeps following
            # the (resynced) book and amends the same order.
            await bot.amended.wait()
            (order,) = open_orders(fake_kraken, fake_kraken.api_key)
            assert order["order_id"] == bot.order_id
            nursery.cancel_scope.cancel()
