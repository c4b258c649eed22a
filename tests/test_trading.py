"""Spot trading over the WebSocket API against the fake exchange (issue 5).

Every method is called over real loopback sockets; successes are checked against the fake
engine's own state, failures against Kraken's error text, and local checks against what the
server received (nothing).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, cast

import pytest
import trio
from support import client_for

from kraken_trio import (
    InvalidRequestError,
    KrakenAPIError,
    KrakenClient,
    WsKey,
)
from kraken_trio._proto import spot as s
from kraken_trio.testing import FakeKraken, open_fake_kraken
from kraken_trio.testing._engine import Engine

PRIVATE = WsKey.SPOT_PRIVATE_V2
BTC = "BTC/USD"
QTY = Decimal("0.001")


@asynccontextmanager
async def trading(**options: Any) -> AsyncIterator[tuple[FakeKraken, KrakenClient]]:
    """A fake exchange whose market moves only when told, and a client connected to it."""
    async with open_fake_kraken(update_interval=None) as fake, client_for(fake, **options) as k:
        with trio.fail_after(5):
            await k.connect(PRIVATE)
        yield fake, k


def frames(fake: FakeKraken, method: str | None = None) -> list[dict[str, Any]]:
    """Every JSON object the private server received (of ``method``), in order."""
    return [
        r.message
        for r in fake.received(PRIVATE)
        if isinstance(r.message, dict) and (method is None or r.message.get("method") == method)
    ]


def engine(fake: FakeKraken) -> Engine:
    """The fake's matching engine, typed."""
    assert isinstance(fake.engine, Engine)
    return fake.engine


def open_orders(fake: FakeKraken) -> dict[str, dict[str, Any]]:
    """The account's open orders as the exchange sees them, by id."""
    return {o["order_id"]: o for o in engine(fake).open_orders(fake.api_key)}


def resting_price(fake: FakeKraken, below: int = 5000) -> Decimal:
    """A buy price on the BTC/USD tick grid, far enough below the bid to rest."""
    bid, _ = fake.market.best_bid_ask(BTC)
    assert bid is not None
    return (bid - below).quantize(Decimal("0.1"))


async def place(k: KrakenClient, price: Decimal, **extra: Any) -> str:
    result = await k.add_order(
        order_type="limit", side="buy", symbol=BTC, order_qty=QTY, limit_price=price, **extra
    )
    assert result.order_id is not None
    return result.order_id


# ----------------------------------------------------------------------------- successes


async def test_add_order_returns_typed_result_and_the_order_rests_on_the_exchange() -> None:
    async with trading() as (fake, k):
        price = resting_price(fake)
        with trio.fail_after(5):
            result = await k.add_order(
                order_type="limit",
                side="buy",
                symbol=BTC,
                order_qty=Decimal("0.00123"),
                limit_price=price,
                cl_ord_id="resting-1",
            )
        assert isinstance(result, s.AddOrderResult)
        assert result.cl_ord_id == "resting-1"
        assert result.order_id is not None
        server = open_orders(fake)
        assert list(server) == [result.order_id]
        order = server[result.order_id]
        assert order["limit_price"] == price
        assert order["order_qty"] == Decimal("0.00123")
        assert order["side"] == "buy"
        assert order["cl_ord_id"] == "resting-1"
        # The frame carried exact decimals, the token, and a req_id the reply matched.
        (frame,) = frames(fake, "add_order")
        assert frame["params"]["limit_price"] == price
        assert frame["params"]["order_qty"] == Decimal("0.00123")
        assert frame["params"]["token"]
        assert isinstance(frame["req_id"], int)
        assert k.statistics()[PRIVATE].pending_requests == 0


async def test_amend_order_changes_quantity_and_price_in_place() -> None:
    async with trading() as (fake, k):
        price = resting_price(fake)
        with trio.fail_after(5):
            order_id = await place(k, price)
            result = await k.amend_order(
                order_id=order_id, order_qty=Decimal("0.002"), limit_price=price - 1
            )
        assert isinstance(result, s.AmendOrderResult)
        assert result.amend_id
        server = open_orders(fake)
        assert list(server) == [order_id]  # same order, amended in place
        assert server[order_id]["order_qty"] == Decimal("0.002")
        assert server[order_id]["limit_price"] == price - 1


async def test_amend_order_by_cl_ord_id() -> None:
    async with trading() as (fake, k):
        price = resting_price(fake)
        with trio.fail_after(5):
            order_id = await place(k, price, cl_ord_id="amend-me")
            result = await k.amend_order(cl_ord_id="amend-me", order_qty=Decimal("0.003"))
        assert result.amend_id
        assert open_orders(fake)[order_id]["order_qty"] == Decimal("0.003")


async def test_edit_order_replaces_the_order_with_a_new_id() -> None:
    async with trading() as (fake, k):
        price = resting_price(fake)
        with trio.fail_after(5):
            original = await place(k, price)
            result = await k.edit_order(
                order_id=original, symbol=BTC, order_qty=Decimal("0.004"), limit_price=price - 2
            )
        assert isinstance(result, s.EditOrderResult)
        assert result.original_order_id == original
        assert result.order_id != original
        server = open_orders(fake)
        assert list(server) == [result.order_id]
        assert server[result.order_id]["order_qty"] == Decimal("0.004")
        assert server[result.order_id]["limit_price"] == price - 2


async def test_cancel_order_with_several_ids_returns_after_every_reply() -> None:
    async with trading() as (fake, k):
        price = resting_price(fake)
        with trio.fail_after(5):
            ids = [await place(k, price - i) for i in range(3)]
            keep = await place(k, price - 10)
            results = await k.cancel_order(order_id=ids)
        # Kraken answers once per order: one result per id, in order.
        assert [r.order_id for r in results] == ids
        assert all(isinstance(r, s.CancelOrderResult) for r in results)
        assert list(open_orders(fake)) == [keep]
        (frame,) = frames(fake, "cancel_order")
        assert frame["params"]["order_id"] == ids
        # No reply was left over for nobody (the call waited for all three).
        with trio.fail_after(5):
            assert await k.cancel_all() == 1
        stats = k.statistics()[PRIVATE]
        assert stats.unrouted == 0
        assert stats.pending_requests == 0


async def test_cancel_order_by_cl_ord_id_and_userref() -> None:
    async with trading() as (fake, k):
        price = resting_price(fake)
        with trio.fail_after(5):
            await place(k, price, cl_ord_id="by-client-id")
            by_ref = await place(k, price - 1, order_userref=77)
            results = await k.cancel_order(cl_ord_id="by-client-id", order_userref=77)
        assert len(results) == 2
        assert results[0].cl_ord_id == "by-client-id"
        assert results[1].order_id == by_ref
        assert open_orders(fake) == {}


async def test_cancel_order_with_one_unknown_id_fails_after_all_replies() -> None:
    async with trading() as (fake, k):
        price = resting_price(fake)
        with trio.fail_after(5):
            known = await place(k, price)
            with pytest.raises(KrakenAPIError) as info:
                await k.cancel_order(order_id=[known, "OAAAAA-BBBBB-CCCCCC"])
        assert info.value.error == "EOrder:Unknown order"
        assert info.value.method == "cancel_order"
        (frame,) = frames(fake, "cancel_order")
        assert info.value.req_id == frame["req_id"]
        # The known order was cancelled all the same, and both replies were consumed.
        assert open_orders(fake) == {}
        with trio.fail_after(5):
            await k.cancel_all()
        assert k.statistics()[PRIVATE].unrouted == 0


async def test_cancel_all_returns_the_count_and_empties_the_book() -> None:
    async with trading() as (fake, k):
        price = resting_price(fake)
        with trio.fail_after(5):
            for i in range(3):
                await place(k, price - i)
            assert len(open_orders(fake)) == 3
            assert await k.cancel_all() == 3
            assert open_orders(fake) == {}
            assert await k.cancel_all() == 0


async def test_cancel_all_orders_after_arms_and_disarms() -> None:
    async with trading() as (fake, k):
        with trio.fail_after(5):
            before = datetime.now(UTC)
            armed = await k.cancel_all_orders_after(60)
            disarmed = await k.cancel_all_orders_after(0)
        assert isinstance(armed, s.CancelAllOrdersAfterResult)
        assert armed.trigger_time is not None
        ahead = (armed.trigger_time - before).total_seconds()
        assert 58 <= ahead <= 62
        assert disarmed.trigger_time is None
        assert engine(fake).next_deadman_expiry() is None
        assert [f["params"]["timeout"] for f in frames(fake, "cancel_all_orders_after")] == [60, 0]


@pytest.mark.parametrize("count", [2, 15])
async def test_batch_add_places_every_order(count: int) -> None:
    async with trading() as (fake, k):
        price = resting_price(fake)
        orders = [
            {
                "order_type": "limit",
                "side": "buy",
                "order_qty": QTY,
                "limit_price": price - i,
                "cl_ord_id": f"batch-{i}",
            }
            for i in range(count)
        ]
        with trio.fail_after(5):
            results = await k.batch_add(symbol=BTC, orders=orders)
        assert len(results) == count
        assert all(isinstance(r, s.BatchAddResult) and r.error is None for r in results)
        assert [r.cl_ord_id for r in results] == [f"batch-{i}" for i in range(count)]
        server = open_orders(fake)
        assert set(server) == {r.order_id for r in results}
        for i, result in enumerate(results):
            assert result.order_id is not None
            assert server[result.order_id]["limit_price"] == price - i


async def test_batch_add_element_refused_alone_carries_its_error() -> None:
    async with trading() as (fake, k):
        price = resting_price(fake)
        orders = [
            {"order_type": "limit", "side": "buy", "order_qty": QTY, "limit_price": price},
            # 10 BTC at ~60k is far more than the account's 100k USD.
            {"order_type": "limit", "side": "buy", "order_qty": Decimal(10), "limit_price": price},
        ]
        with trio.fail_after(5):
            first, second = await k.batch_add(symbol=BTC, orders=orders)
        assert first.order_id is not None
        assert first.error is None
        assert second.order_id is None
        assert second.error == "EOrder:Insufficient funds"
        assert list(open_orders(fake)) == [first.order_id]


@pytest.mark.parametrize("count", [2, 50])
async def test_batch_cancel_live_reply_shape(count: int) -> None:
    async with trading() as (fake, k):
        price = resting_price(fake)
        with trio.fail_after(5):
            a = await place(k, price)
            b = await place(k, price - 1)
            keep = await place(k, price - 2)
            unknown = [f"O{i:05d}-AAAAA-BBBBBB" for i in range(count - 2)]
            cancelled = await k.batch_cancel(orders=[a, b, *unknown])
        assert cancelled == 2
        assert list(open_orders(fake)) == [keep]
        (frame,) = frames(fake, "batch_cancel")
        assert len(frame["params"]["orders"]) == count


async def test_batch_cancel_by_cl_ord_id() -> None:
    async with trading() as (fake, k):
        price = resting_price(fake)
        with trio.fail_after(5):
            await place(k, price, cl_ord_id="bc-1")
            await place(k, price - 1, cl_ord_id="bc-2")
            assert await k.batch_cancel(cl_ord_id=["bc-1", "bc-2"]) == 2
        assert open_orders(fake) == {}


async def test_batch_cancel_accepts_the_documented_reply_shape() -> None:
    """The docs answer ``result.count``; the fake answers the live ``orders_cancelled``.

    The fake's reply is held back, and a documented-shape reply with the request's req_id is
    injected first: the client must read the count from it.
    """
    async with trading() as (fake, k):
        price = resting_price(fake)
        with trio.fail_after(5):
            a = await place(k, price)
            b = await place(k, price - 1)
        faults = fake.spot_faults(PRIVATE)
        faults.delay = 1.0
        async with trio.open_nursery() as nursery:
            got: list[int] = []

            async def cancel() -> None:
                got.append(await k.batch_cancel(orders=[a, b]))

            nursery.start_soon(cancel)
            with trio.fail_after(5):
                server = fake.server(PRIVATE)
                while not frames(fake, "batch_cancel"):
                    await server.wait_received(len(server.received) + 1)
                (frame,) = frames(fake, "batch_cancel")
                documented = {
                    "method": "batch_cancel",
                    "req_id": frame["req_id"],
                    "result": {"count": 7},
                    "success": True,
                    "time_in": "2022-06-13T08:09:10.123456Z",
                    "time_out": "2022-06-13T08:09:10.789012Z",
                }
                await faults.send_raw(json.dumps(documented))
        assert got == [7]
        faults.delay = 0


async def test_validate_only_add_order_places_nothing() -> None:
    async with trading() as (fake, k):
        price = resting_price(fake)
        with trio.fail_after(5):
            result = await k.add_order(
                order_type="limit",
                side="buy",
                symbol=BTC,
                order_qty=QTY,
                limit_price=price,
                cl_ord_id="check-only",
                validate=True,
            )
        assert result.cl_ord_id == "check-only"
        assert result.order_id is None
        assert open_orders(fake) == {}
        (frame,) = frames(fake, "add_order")
        assert frame["params"]["validate"] is True


async def test_validate_only_refusal_is_krakens_error() -> None:
    async with trading() as (fake, k):
        price = resting_price(fake)
        with trio.fail_after(5), pytest.raises(KrakenAPIError) as info:
            await k.add_order(
                order_type="limit",
                side="buy",
                symbol=BTC,
                order_qty=Decimal(10),
                limit_price=price,
                validate=True,
            )
        assert info.value.error == "EOrder:Insufficient funds"
        assert open_orders(fake) == {}


async def test_validate_only_batch_add_places_nothing() -> None:
    async with trading() as (fake, k):
        price = resting_price(fake)
        orders = [
            {"order_type": "limit", "side": "buy", "order_qty": QTY, "limit_price": price - i}
            for i in range(2)
        ]
        with trio.fail_after(5):
            results = await k.batch_add(symbol=BTC, orders=orders, validate=True)
        assert len(results) == 2
        assert all(r.order_id is None and r.error is None for r in results)
        assert open_orders(fake) == {}


# ----------------------------------------------------------------------------- Kraken's errors


def _buy(price: Decimal | str, qty: Decimal | str) -> dict[str, Any]:
    return {
        "order_type": "limit",
        "side": "buy",
        "symbol": BTC,
        "order_qty": Decimal(qty),
        "limit_price": Decimal(price),
    }


@pytest.mark.parametrize(
    ("order", "error"),
    [
        (_buy("60000.05", "0.001"), "EOrder:Tick size check failed"),
        (_buy("60000.0", "0.00005"), "EOrder:Order minimum not met"),
        (_buy("1000.0", "0.0001"), "EOrder:Cost minimum not met"),
        (_buy("60000.0", "10"), "EOrder:Insufficient funds"),
        ({**_buy("60000.0", "0.001"), "symbol": "NOPE/USD"}, "EQuery:Unknown asset pair"),
    ],
    ids=["tick-size", "qty-min", "cost-min", "insufficient-funds", "unknown-pair"],
)
async def test_add_order_refusals_carry_krakens_text_method_and_req_id(
    order: dict[str, Any], error: str
) -> None:
    async with trading() as (fake, k):
        with trio.fail_after(5), pytest.raises(KrakenAPIError) as info:
            await k.add_order(**order)
        exc = info.value
        assert exc.error == error
        assert exc.method == "add_order"
        (frame,) = frames(fake, "add_order")
        assert exc.req_id == frame["req_id"]
        assert error in str(exc)
        assert "add_order" in str(exc)
        assert open_orders(fake) == {}
        assert k.statistics()[PRIVATE].pending_requests == 0


@pytest.mark.parametrize(
    ("method", "call"),
    [
        ("amend_order", lambda k: k.amend_order(order_id="OAAAAA-BBBBB-CCCCCC", order_qty=QTY)),
        (
            "edit_order",
            lambda k: k.edit_order(order_id="OAAAAA-BBBBB-CCCCCC", symbol=BTC, order_qty=QTY),
        ),
        ("cancel_order", lambda k: k.cancel_order(order_id="OAAAAA-BBBBB-CCCCCC")),
        ("batch_cancel", lambda k: k.batch_cancel(orders=["OAAAAA-BBBBB-CCCCCC", "OB-C-D"])),
    ],
)
async def test_unknown_order_is_krakens_error(
    method: str, call: Callable[[KrakenClient], Any]
) -> None:
    async with trading() as (fake, k):
        with trio.fail_after(5), pytest.raises(KrakenAPIError) as info:
            await call(k)
        assert info.value.error == "EOrder:Unknown order"
        assert info.value.method == method
        (frame,) = frames(fake, method)
        assert info.value.req_id == frame["req_id"]


async def test_rate_limit_is_krakens_error_and_the_next_call_succeeds() -> None:
    async with trading(rate_limit="off") as (fake, k):
        price = resting_price(fake)
        fake.spot_faults(PRIVATE).rate_limit_next(2)
        with trio.fail_after(5):
            for _ in range(2):
                with pytest.raises(KrakenAPIError) as info:
                    await place(k, price)
                assert info.value.error == "EOrder:Rate limit exceeded"
                assert info.value.method == "add_order"
            order_id = await place(k, price)
        assert list(open_orders(fake)) == [order_id]
        req_ids = [f["req_id"] for f in frames(fake, "add_order")]
        assert len(set(req_ids)) == 3  # a fresh req_id per request


async def test_engine_rate_counter_refuses_a_burst() -> None:
    async with trading(rate_limit="off") as (fake, k):  # the engine's own refusal
        price = resting_price(fake)
        orders = [
            {"order_type": "limit", "side": "buy", "order_qty": QTY, "limit_price": price - i}
            for i in range(15)
        ]
        with trio.fail_after(5):
            for _ in range(24):  # a batch of n costs n/2: 24 x 7.5 = 180, the Pro threshold
                await k.batch_add(symbol=BTC, orders=orders)
            with pytest.raises(KrakenAPIError) as info:
                await k.batch_add(symbol=BTC, orders=orders)
        assert info.value.error == "EOrder:Rate limit exceeded"
        assert info.value.method == "batch_add"


async def test_deadline_elapsed_before_the_exchange_saw_it() -> None:
    """A request made while the connection is still coming up waits for it; when its
    ``deadline`` passed meanwhile, Kraken refuses it with ``EService:Deadline elapsed``."""
    async with open_fake_kraken(update_interval=None) as fake, client_for(fake) as k:
        fake.rest.faults.delay = 1.0  # the token fetch holds the connection back
        price = resting_price(fake)
        deadline = datetime.now(UTC) + timedelta(milliseconds=750)
        with trio.fail_after(5), pytest.raises(KrakenAPIError) as info:
            await place(k, price, deadline=deadline)
        assert info.value.error == "EService:Deadline elapsed"
        assert info.value.method == "add_order"
        assert open_orders(fake) == {}


async def test_a_deadline_in_time_is_sent_with_millisecond_precision() -> None:
    async with trading() as (fake, k):
        price = resting_price(fake)
        deadline = datetime.now(UTC) + timedelta(seconds=5)
        with trio.fail_after(5):
            order_id = await place(k, price, deadline=deadline)
        assert list(open_orders(fake)) == [order_id]
        (frame,) = frames(fake, "add_order")
        sent = frame["params"]["deadline"]
        assert sent.endswith("Z")
        assert datetime.fromisoformat(sent.replace("Z", "+00:00")) == deadline.replace(
            microsecond=deadline.microsecond // 1000 * 1000
        )


# ----------------------------------------------------------------------------- local checks

_NOW = datetime.now(UTC)


def _limit(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "order_type": "limit",
        "side": "buy",
        "symbol": BTC,
        "order_qty": QTY,
        "limit_price": Decimal("60000.0"),
    }
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


def _batch(n: int) -> list[dict[str, Any]]:
    return [
        {"order_type": "limit", "side": "buy", "order_qty": QTY, "limit_price": Decimal(60000 - i)}
        for i in range(n)
    ]


LOCAL_CASES: list[tuple[str, Callable[[KrakenClient], Any], str]] = [
    ("limit-needs-price", lambda k: k.add_order(**_limit(limit_price=None)), "limit_price"),
    (
        "market-takes-no-price",
        lambda k: k.add_order(**_limit(order_type="market")),
        "limit_price",
    ),
    ("needs-qty", lambda k: k.add_order(**_limit(order_qty=None)), "order_qty"),
    ("bad-side", lambda k: k.add_order(**_limit(side="long")), "side"),
    ("bad-order-type", lambda k: k.add_order(**_limit(order_type="fok")), "order_type"),
    (
        "stop-needs-triggers",
        lambda k: k.add_order(**_limit(order_type="stop-loss", limit_price=None)),
        "triggers",
    ),
    (
        "stop-limit-needs-triggers",
        lambda k: k.add_order(**_limit(order_type="stop-loss-limit")),
        "triggers",
    ),
    (
        "iceberg-needs-display-qty",
        lambda k: k.add_order(**_limit(order_type="iceberg")),
        "display_qty",
    ),
    ("gtd-needs-expire-time", lambda k: k.add_order(**_limit(time_in_force="gtd")), "expire_time"),
    (
        "cash-qty-only-market-buy",
        lambda k: k.add_order(**_limit(order_qty=None, cash_order_qty=Decimal(10))),
        "cash_order_qty",
    ),
    ("float-qty", lambda k: k.add_order(**_limit(order_qty=0.001)), "order_qty"),
    ("float-price", lambda k: k.add_order(**_limit(limit_price=60000.0)), "limit_price"),
    ("negative-qty", lambda k: k.add_order(**_limit(order_qty=Decimal("-1"))), "order_qty"),
    ("nan-price", lambda k: k.add_order(**_limit(limit_price=Decimal("NaN"))), "limit_price"),
    ("bad-symbol", lambda k: k.add_order(**_limit(symbol="BTCUSD")), "symbol"),
    ("cl-ord-id-too-long", lambda k: k.add_order(**_limit(cl_ord_id="x" * 19)), "cl_ord_id"),
    (
        "cl-ord-id-and-userref",
        lambda k: k.add_order(**_limit(cl_ord_id="a", order_userref=1)),
        "cl_ord_id",
    ),
    (
        "userref-out-of-range",
        lambda k: k.add_order(**_limit(order_userref=2**31)),
        "order_userref",
    ),
    (
        "deadline-too-close",
        lambda k: k.add_order(**_limit(deadline=datetime.now(UTC) + timedelta(milliseconds=100))),
        "deadline",
    ),
    (
        "deadline-too-far",
        lambda k: k.add_order(**_limit(deadline=datetime.now(UTC) + timedelta(seconds=61))),
        "deadline",
    ),
    (
        "deadline-in-the-past",
        lambda k: k.add_order(**_limit(deadline=datetime.now(UTC) - timedelta(seconds=1))),
        "deadline",
    ),
    (
        "deadline-naive",
        lambda k: k.add_order(**_limit(deadline=datetime.now() + timedelta(seconds=5))),
        "deadline",
    ),
    ("unknown-field", lambda k: k.add_order(**_limit(colour="red")), "colour"),
    ("token-field", lambda k: k.add_order(**_limit(token="abc")), "token"),
    ("batch-add-1", lambda k: k.batch_add(symbol=BTC, orders=_batch(1)), "orders"),
    ("batch-add-16", lambda k: k.batch_add(symbol=BTC, orders=_batch(16)), "orders"),
    (
        "batch-add-element-field",
        lambda k: k.batch_add(
            symbol=BTC, orders=[*_batch(1), {**_batch(1)[0], "limit_price": 1.5}]
        ),
        "orders[1].limit_price",
    ),
    (
        "batch-add-deadline",
        lambda k: k.batch_add(
            symbol=BTC, orders=_batch(2), deadline=datetime.now(UTC) + timedelta(minutes=5)
        ),
        "deadline",
    ),
    ("batch-cancel-1", lambda k: k.batch_cancel(orders=["OAAAAA-BBBBB-CCCCCC"]), "orders"),
    (
        "batch-cancel-51",
        lambda k: k.batch_cancel(orders=[f"O{i}" for i in range(51)]),
        "orders",
    ),
    ("cancel-nothing", lambda k: k.cancel_order(), "order_id"),
    ("cancel-bad-cl-ord-id", lambda k: k.cancel_order(cl_ord_id="y" * 40), "cl_ord_id"),
    ("amend-needs-qty", lambda k: k.amend_order(order_id="OAAAAA-BBBBB-CCCCCC"), "order_qty"),
    ("amend-needs-an-id", lambda k: k.amend_order(order_qty=QTY), "order_id"),
    (
        "amend-float-price",
        lambda k: k.amend_order(order_id="OA", order_qty=QTY, limit_price=1.5),
        "limit_price",
    ),
    ("edit-needs-order-id", lambda k: k.edit_order(symbol=BTC, order_qty=QTY), "order_id"),
    (
        "edit-needs-a-change",
        lambda k: k.edit_order(order_id="OAAAAA-BBBBB-CCCCCC", symbol=BTC),
        "order_qty",
    ),
    (
        "amend-post-only-text",
        lambda k: k.amend_order(order_id="OA", order_qty=QTY, post_only="false"),
        "post_only",
    ),
    (
        "edit-reduce-only-text",
        lambda k: k.edit_order(order_id="OA", symbol=BTC, order_qty=QTY, reduce_only="false"),
        "reduce_only",
    ),
    (
        "edit-userref-out-of-range",
        lambda k: k.edit_order(order_id="OA", symbol=BTC, order_qty=QTY, order_userref=2**40),
        "order_userref",
    ),
    ("add-validate-text", lambda k: k.add_order(**_limit(validate="false")), "validate"),
    (
        "batch-validate-text",
        lambda k: k.batch_add(symbol=BTC, orders=_batch(2), validate=cast(Any, "no")),
        "validate",
    ),
    ("cancel-after-negative", lambda k: k.cancel_all_orders_after(-1), "timeout"),
    ("cancel-after-too-long", lambda k: k.cancel_all_orders_after(86400), "timeout"),
    ("cancel-after-float", lambda k: k.cancel_all_orders_after(cast(Any, 1.5)), "timeout"),
]


@pytest.mark.parametrize(
    ("call", "field"),
    [pytest.param(call, field, id=name) for name, call, field in LOCAL_CASES],
)
async def test_local_checks_name_the_field_and_send_nothing(
    call: Callable[[KrakenClient], Any], field: str
) -> None:
    async with trading() as (fake, k):
        before = len(frames(fake))
        with trio.fail_after(5), pytest.raises(InvalidRequestError) as info:
            await call(k)
        assert field in str(info.value)
        # A sentinel round trip: the server has handled everything sent before its reply.
        with trio.fail_after(5):
            await k.cancel_all()
        assert [f["method"] for f in frames(fake)[before:]] == ["cancel_all"]


async def test_local_checks_accept_every_cl_ord_id_form() -> None:
    async with trading() as (fake, k):
        price = resting_price(fake)
        forms = [
            "x" * 18,  # free text, at most 18 characters
            "0123456789abcdef0123456789ABCDEF",  # short UUID
            "6d1b345e-2821-40e2-ad83-4ecb18a06876",  # long UUID
        ]
        with trio.fail_after(5):
            for i, cl_ord_id in enumerate(forms):
                await place(k, price - i, cl_ord_id=cl_ord_id)
        assert sorted(o["cl_ord_id"] for o in open_orders(fake).values()) == sorted(forms)


async def test_numeric_strings_and_ints_are_exact() -> None:
    async with trading() as (fake, k):
        with trio.fail_after(5):
            result = await k.add_order(
                order_type="limit",
                side="buy",
                symbol=BTC,
                order_qty="0.00100001",
                limit_price=55555,
            )
        assert result.order_id is not None
        order = open_orders(fake)[result.order_id]
        assert order["order_qty"] == Decimal("0.00100001")
        assert order["limit_price"] == Decimal("55555")


async def test_a_market_order_fills_at_once() -> None:
    async with trading() as (fake, k):
        usd_before = engine(fake).balances(fake.api_key)["USD"]
        btc_before = engine(fake).balances(fake.api_key)["BTC"]
        with trio.fail_after(5):
            result = await k.add_order(order_type="market", side="buy", symbol=BTC, order_qty=QTY)
        assert result.order_id
        assert open_orders(fake) == {}
        after = engine(fake).balances(fake.api_key)
        assert after["BTC"] == btc_before + QTY
        assert after["USD"] < usd_before
