"""``k.orders()`` against the fake exchange over real sockets (issue 15)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import pytest
import trio
from support import client_for

from kraken_trio import ClosedError, KrakenClient, OrderTracker, OrderUpdate, WsKey
from kraken_trio.testing import FakeKraken, open_fake_kraken

PRIVATE = WsKey.SPOT_PRIVATE_V2
BTC = "BTC/USD"
QUERY = "/0/private/QueryOrders"


@asynccontextmanager
async def tracked() -> AsyncIterator[tuple[FakeKraken, KrakenClient, OrderTracker]]:
    async with (
        open_fake_kraken(update_interval=None) as fake,
        client_for(fake) as k,
        k.orders() as orders,
    ):
        yield fake, k, orders


async def place(k: KrakenClient, fake: FakeKraken, below: int = 5000, qty: str = "0.01") -> str:
    bid, _ = fake.market.best_bid_ask(BTC)
    assert bid is not None
    result = await k.add_order(
        order_type="limit",
        side="buy",
        symbol=BTC,
        order_qty=Decimal(qty),
        limit_price=(bid - below).quantize(Decimal("0.1")),
    )
    assert result.order_id is not None
    return result.order_id


async def updates_until(orders: OrderTracker, done: Any) -> list[OrderUpdate]:
    """Updates until ``done(collected)`` holds (the caller bounds the time)."""
    out: list[OrderUpdate] = []
    async for update in orders:
        out.append(update)
        if done(out):
            return out
    raise AssertionError("the tracker ended")


def status_of(order_id: str, status: str) -> Any:
    return lambda out: any(
        u.order.order_id == order_id and u.order.order_status == status for u in out
    )


async def reconnected(fake: FakeKraken, k: KrakenClient) -> None:
    """Wait until the private link is back and its executions subscription is live again."""
    await fake.private.wait_until(lambda: fake.private.subscribers("executions") > 0)


async def test_fill_and_cancel_while_down_are_reconciled_once_each() -> None:
    async with tracked() as (fake, k, orders):
        with trio.fail_after(20):
            filled = await place(k, fake)
            canceled = await place(k, fake, below=6000)
            await updates_until(orders, status_of(canceled, "new"))
            assert set(orders.open) == {filled, canceled}
            async with fake.private_link_down():
                fake.fill_order(filled, "0.01", "50000.1")
                fake.cancel_order(canceled)
            final_filled = await orders.closed(filled)
            final_canceled = await orders.closed(canceled)
            after = await updates_until(
                orders,
                lambda out: (
                    status_of(filled, "filled")(out) and status_of(canceled, "canceled")(out)
                ),
            )
        assert all(u.reconciled for u in after)
        fills = [u.fill for u in after if u.fill is not None]
        assert len(fills) == 1  # the fill, once
        assert fills[0].qty == Decimal("0.01")
        assert fills[0].price == Decimal("50000.1")
        assert [u.order.order_status for u in after if u.order.order_id == canceled] == ["canceled"]
        assert final_filled.order_status == "filled"
        assert final_filled.cum_qty == Decimal("0.01")
        assert final_filled.avg_price == Decimal("50000.1")
        assert final_filled.fills_complete
        assert len(final_filled.fills) == 1
        assert final_canceled.cum_qty == 0
        assert orders.open == {}
        assert orders.get(filled) == final_filled
        # Both were looked up in one signed QueryOrders call.
        lookups = [r for r in fake.rest.received if r.path == QUERY]
        assert len(lookups) == 1
        assert filled in lookups[0].body
        assert canceled in lookups[0].body


async def test_partial_fill_while_down_keeps_the_order_open() -> None:
    async with tracked() as (fake, k, orders):
        with trio.fail_after(20):
            order_id = await place(k, fake)
            await updates_until(orders, status_of(order_id, "new"))
            async with fake.private_link_down():
                fake.fill_order(order_id, "0.004", "49000.5")
            (update,) = await updates_until(orders, lambda out: True)
        assert update.reconciled
        assert update.fill is not None
        assert (update.fill.qty, update.fill.price) == (Decimal("0.004"), Decimal("49000.5"))
        assert update.order.order_status == "partially_filled"
        assert update.order.cum_qty == Decimal("0.004")
        assert orders.open[order_id].cum_qty == Decimal("0.004")
        assert not [r for r in fake.rest.received if r.path == QUERY]  # nothing vanished


async def test_live_fills_are_not_counted_again_from_a_snapshot_replay() -> None:
    async with tracked() as (fake, k, orders):
        with trio.fail_after(20):
            order_id = await place(k, fake)
            fake.fill_order(order_id, "0.002", "49000.0")
            live = await updates_until(orders, lambda out: any(u.fill for u in out))
            assert not live[-1].reconciled
            await fake.spot_faults(PRIVATE).drop()  # the snapshot after it replays the trade
            await reconnected(fake, k)
            fake.cancel_order(order_id)  # a live event after the replayed snapshot
            rest = await updates_until(orders, status_of(order_id, "canceled"))
        assert [u.fill for u in rest if u.fill is not None] == []
        state = orders.get(order_id)
        assert state is not None
        assert len(state.fills) == 1
        assert state.cum_qty == Decimal("0.002")


async def test_fills_beyond_the_snapshot_are_marked_incomplete() -> None:
    async with tracked() as (fake, k, orders):
        with trio.fail_after(30):
            order_id = await place(k, fake)
            await updates_until(orders, status_of(order_id, "new"))
            async with fake.private_link_down():
                for _ in range(60):  # the snapshot holds the last 50 trades
                    fake.fill_order(order_id, "0.0001", "49000.0")
            await updates_until(
                orders, lambda out: any(u.order.cum_qty == Decimal("0.006") for u in out)
            )
        state = orders.open[order_id]
        assert state.cum_qty == Decimal("0.006")
        assert len(state.fills) == 50
        assert not state.fills_complete


async def test_trackers_and_a_user_subscription_share_one_wire() -> None:
    async with (
        open_fake_kraken(update_interval=None) as fake,
        client_for(fake) as k,
        k.orders() as first,
        k.orders() as second,
        k.subscribe("executions", snap_orders=True, snap_trades=True) as mine,
    ):
        with trio.fail_after(20):
            order_id = await place(k, fake)
            for tracker in (first, second):
                await updates_until(tracker, status_of(order_id, "new"))
            async for msg in mine:
                if getattr(msg, "type", None) == "update":
                    break
        assert fake.private.subscribers("executions") == 1
        # Newcomers join the live wire from the state the connection keeps: one subscribe.
        methods = [
            r.message["method"]
            for r in fake.received(PRIVATE)
            if isinstance(r.message, dict)
            and r.message.get("method") in ("subscribe", "unsubscribe")
            and r.message["params"]["channel"] == "executions"
        ]
        assert methods == ["subscribe"]
        assert first.get(order_id) == second.get(order_id)


async def test_closed_raises_once_the_tracker_is_gone() -> None:
    async with open_fake_kraken(update_interval=None) as fake, client_for(fake) as k:
        async with k.orders() as orders:
            order_id = await place(k, fake)
        with trio.fail_after(5), pytest.raises(ClosedError):
            await orders.closed(order_id)
