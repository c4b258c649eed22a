"""The rate governor against the fake exchange's own rate counter (issue 15).

The fake's engine enforces Kraken's per-pair counter; these tests make its decay fast (a
negotiated tier, as a :class:`~kraken_trio.RateTier`) so hundreds of requests take seconds.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import pytest
import trio
from support import client_for

from kraken_trio import KrakenAPIError, KrakenClient, RateLimitError, RateTier, WsKey
from kraken_trio._proto.ratelimit import RateGovernor
from kraken_trio._rate_policy import admit
from kraken_trio.testing import FakeKraken, open_fake_kraken
from kraken_trio.testing._engine import Engine

PRIVATE = WsKey.SPOT_PRIVATE_V2
BTC = "BTC/USD"


@asynccontextmanager
async def trading(decay: float, **options: Any) -> AsyncIterator[tuple[FakeKraken, KrakenClient]]:
    async with open_fake_kraken(update_interval=None) as fake:
        assert isinstance(fake.engine, Engine)
        fake.engine.rate_decay = decay
        async with client_for(fake, rate_tier=RateTier(180, decay), **options) as k:
            with trio.fail_after(5):
                await k.connect(PRIVATE)
            yield fake, k


def sent(fake: FakeKraken, method: str) -> int:
    return sum(
        1
        for r in fake.received(PRIVATE)
        if isinstance(r.message, dict) and r.message.get("method") == method
    )


async def add(k: KrakenClient, fake: FakeKraken) -> str:
    bid, _ = fake.market.best_bid_ask(BTC)
    assert bid is not None
    result = await k.add_order(
        order_type="limit",
        side="buy",
        symbol=BTC,
        order_qty=Decimal("0.0001"),
        limit_price=(bid - 5000).quantize(Decimal("0.1")),
    )
    assert result.order_id is not None
    return result.order_id


async def test_wait_paces_200_add_cancel_pairs_without_one_refusal() -> None:
    # 200 x (1 + 8) = 1800 against a threshold of 180: the governor must wait ~10 s in all.
    async with trading(decay=150.0, rate_limit="wait", request_timeout=30) as (fake, k):
        with trio.fail_after(120):
            for _ in range(200):
                order_id = await add(k, fake)
                await k.cancel_order(order_id=order_id)
        assert sent(fake, "add_order") == sent(fake, "cancel_order") == 200
        assert isinstance(fake.engine, Engine)
        assert fake.engine.open_orders(fake.api_key) == []
        assert 0 < k.rate_counter(BTC) <= 180


async def test_raise_refuses_locally_and_sends_nothing() -> None:
    async with trading(decay=0.5, rate_limit="raise") as (fake, k):
        placed: list[str] = []

        async def churn() -> None:
            while True:  # each pair costs 9; the 20th no longer fits under 180 - 1
                placed.append(await add(k, fake))
                await k.cancel_order(order_id=placed[-1])

        with trio.fail_after(30), pytest.raises(RateLimitError) as info:
            await churn()
        assert info.value.symbol == BTC
        assert info.value.method in ("add_order", "cancel_order")
        assert 0 < info.value.retry_after < 60
        # The refused request never reached the wire.
        assert sent(fake, "add_order") == len(placed)
        expected_cancels = len(placed) - (info.value.method == "cancel_order")
        assert sent(fake, "cancel_order") == expected_cancels
        assert isinstance(fake.engine, Engine)
        assert fake.engine.rate_count(fake.api_key, BTC, time.time()) <= 180


async def test_a_server_refusal_saturates_the_pair() -> None:
    async with trading(decay=0.5, rate_limit="raise") as (fake, k):
        fake.spot_faults(PRIVATE).rate_limit_next(1)
        with trio.fail_after(5):
            with pytest.raises(KrakenAPIError) as info:
                await add(k, fake)
            assert info.value.error == "EOrder:Rate limit exceeded"
            assert k.rate_counter(BTC) > 179  # saturated (minus the decay since)
            with pytest.raises(RateLimitError):
                await add(k, fake)
        assert sent(fake, "add_order") == 1


async def test_the_tracker_teaches_the_governor_about_orders_placed_elsewhere() -> None:
    async with trading(decay=1e-6, rate_limit="raise") as (fake, k):
        async with client_for(fake) as other, k.orders() as orders:
            with trio.fail_after(10):
                order_id = await add(other, fake)  # placed by another session
                while order_id not in orders.open:
                    await orders.__anext__()
                assert k.rate_counter(BTC) == 0
                await k.cancel_order(order_id=order_id)
        assert round(k.rate_counter(BTC)) == 8  # a cancel under 5 s, learnt from executions


async def test_wait_is_bounded_by_the_request_deadline() -> None:
    async with trading(decay=1e-3, rate_limit="wait", request_timeout=1) as (fake, k):
        fake.spot_faults(PRIVATE).rate_limit_next(1)
        with trio.fail_after(5):
            with pytest.raises(KrakenAPIError):
                await add(k, fake)
            with pytest.raises(RateLimitError) as info:
                await add(k, fake)  # would need ~2000 s: refused at once, not after waiting
        assert info.value.retry_after > 1
        assert sent(fake, "add_order") == 1


async def test_admit_waits_until_the_counter_has_room(autojump_clock: trio.abc.Clock) -> None:
    governor = RateGovernor("starter")  # 60, 1.0 per second, headroom 1
    governor.charge({BTC: 59}, trio.current_time())
    start = trio.current_time()
    costs = await admit(governor, "wait", "add_order", {"symbol": BTC}, budget=10)
    assert costs == {BTC: 1}
    assert trio.current_time() - start == pytest.approx(1.0)
    with pytest.raises(RateLimitError) as info:
        await admit(governor, "raise", "add_order", {"symbol": BTC}, budget=10)
    assert info.value.retry_after == pytest.approx(1.0)
    governor.charge({BTC: 100}, trio.current_time())
    with pytest.raises(RateLimitError):
        await admit(governor, "wait", "add_order", {"symbol": BTC}, budget=10)
    # batch_cancel is never held back (Kraken accepts it past the threshold), only counted.
    governor.placed("O1", BTC, trio.current_time())
    assert await admit(governor, "raise", "batch_cancel", {"orders": ["O1"]}, 0) == {BTC: 8}


async def test_the_executions_ack_sets_the_threshold() -> None:
    async with open_fake_kraken(update_interval=None) as fake, client_for(fake) as k:
        assert k.rate_governor.threshold == 60  # the default tier: starter
        assert isinstance(fake.engine, Engine)
        fake.engine.max_rate_count = 125  # what the fake's ack reports as maxratecount
        with trio.fail_after(10):
            async with k.subscribe("executions") as sub:
                await sub.__anext__()
        assert k.rate_governor.threshold == 125
