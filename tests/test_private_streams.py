"""Private streams, the broker under link failures, authentication and the dead man's switch,
against the fake exchange over real loopback sockets (issue 5)."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import pytest
import trio
from support import client_for, next_data, next_matching, wait_event

from kraken_trio import (
    AuthenticationError,
    ConnectionLostError,
    EventStream,
    Gap,
    InvalidRequestError,
    KrakenAPIError,
    KrakenClient,
    KrakenError,
    ProtocolError,
    RequestTimeoutError,
    WsKey,
    open_kraken,
)
from kraken_trio._client import DeadMansSwitch
from kraken_trio._proto import futures as f
from kraken_trio._proto import spot as s
from kraken_trio._proto.auth import sign_futures_challenge
from kraken_trio.testing import FakeKraken, open_fake_kraken
from kraken_trio.testing._engine import Engine

PRIVATE = WsKey.SPOT_PRIVATE_V2
FUTURES = WsKey.DERIVATIVES_PRIVATE_V1
BTC = "BTC/USD"
QTY = Decimal("0.001")
TOKEN_PATH = "/0/private/GetWebSocketsToken"


def engine(fake: FakeKraken) -> Engine:
    """The fake's matching engine, typed."""
    assert isinstance(fake.engine, Engine)
    return fake.engine


def open_orders(fake: FakeKraken) -> dict[str, dict[str, Any]]:
    """The account's open orders as the exchange sees them, by id."""
    return {o["order_id"]: o for o in engine(fake).open_orders(fake.api_key)}


def frames(fake: FakeKraken, key: WsKey, method: str | None = None) -> list[dict[str, Any]]:
    """Every spot JSON request the server behind ``key`` received (of ``method``)."""
    return [
        r.message
        for r in fake.received(key)
        if isinstance(r.message, dict) and (method is None or r.message.get("method") == method)
    ]


def token_requests(fake: FakeKraken) -> int:
    return sum(1 for r in fake.rest.received if r.path == TOKEN_PATH)


def resting_price(fake: FakeKraken) -> Decimal:
    bid, _ = fake.market.best_bid_ask(BTC)
    assert bid is not None
    return (bid - 5000).quantize(Decimal("0.1"))


async def wait_frames(fake: FakeKraken, key: WsKey, method: str, count: int) -> None:
    """Wait until the spot server behind ``key`` received ``count`` frames of ``method``."""
    server = fake.server(key)
    while len(frames(fake, key, method)) < count:
        await server.wait_received(len(server.received) + 1)


def assert_consecutive(sequences: list[int | None]) -> None:
    """Sequence numbers are present and go up by one per message."""
    numbers = [q for q in sequences if q is not None]
    assert len(numbers) == len(sequences)
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))


@asynccontextmanager
async def connected(**options: Any) -> AsyncIterator[tuple[FakeKraken, KrakenClient]]:
    async with open_fake_kraken(update_interval=None) as fake, client_for(fake, **options) as k:
        with trio.fail_after(5):
            await k.connect(PRIVATE)
        yield fake, k


# ----------------------------------------------------------------------------- executions


async def _fill_and_follow(marketable_limit: bool) -> None:
    async with connected() as (fake, k):
        qty = Decimal("0.01")
        start = engine(fake).balances(fake.api_key)
        with trio.fail_after(5):
            async with k.subscribe("executions") as ex, k.subscribe("balances") as bal:
                snap = await ex.__anext__()
                assert isinstance(snap, s.ExecutionsMessage)
                assert snap.type == "snapshot"
                bal_snap = await bal.__anext__()
                assert isinstance(bal_snap, s.BalancesSnapshot)
                shown = {a.asset: a.balance for a in bal_snap.data}
                assert shown["USD"] == start["USD"]
                assert shown["BTC"] == start["BTC"]

                if marketable_limit:
                    _, ask = fake.market.best_bid_ask(BTC)
                    assert ask is not None
                    result = await k.add_order(
                        order_type="limit",
                        side="buy",
                        symbol=BTC,
                        order_qty=qty,
                        limit_price=ask + 50,
                        cl_ord_id="follow-me",
                    )
                else:
                    result = await k.add_order(
                        order_type="market",
                        side="buy",
                        symbol=BTC,
                        order_qty=qty,
                        cl_ord_id="follow-me",
                    )
                order_id = result.order_id

                events: list[s.Execution] = []
                sequences = [snap.sequence]
                async for msg in ex:
                    assert isinstance(msg, s.ExecutionsMessage)
                    assert msg.type == "update"
                    sequences.append(msg.sequence)
                    mine = [e for e in msg.data if e.order_id == order_id]
                    events.extend(mine)
                    if any(e.exec_type == "filled" for e in mine):
                        break

                trades = [e for e in events if e.exec_type == "trade"]
                kinds = [e.exec_type for e in events]
                assert kinds[:2] == ["pending_new", "new"]
                assert set(kinds[2:-1]) == {"trade"}
                assert kinds[-1] == "filled"
                assert events[0].cl_ord_id == "follow-me"
                assert events[0].order_qty == qty
                assert events[-1].order_status == "filled"
                assert events[-1].cum_qty == qty
                assert sum((t.last_qty or Decimal(0) for t in trades), Decimal(0)) == qty
                total_cost = sum((t.cost or Decimal(0) for t in trades), Decimal(0))
                assert events[-1].cum_cost == total_cost
                total_fee = sum(
                    (fee.qty for t in trades for fee in t.fees or [] if fee.asset == "USD"),
                    Decimal(0),
                )
                assert total_fee > 0
                assert_consecutive(sequences)

                # Balances: one ledger entry per asset per trade, amounts matching the fills.
                ledger: list[s.LedgerEntry] = []
                bal_sequences = [bal_snap.sequence]
                while len(ledger) < 2 * len(trades):
                    update = await bal.__anext__()
                    assert isinstance(update, s.BalancesUpdate)
                    bal_sequences.append(update.sequence)
                    ledger.extend(update.data)
        assert_consecutive(bal_sequences)
        assert {e.ref_id for e in ledger} == {t.exec_id for t in trades}
        btc = [e for e in ledger if e.asset == "BTC"]
        usd = [e for e in ledger if e.asset == "USD"]
        assert sum((e.amount for e in btc), Decimal(0)) == qty
        assert sum((e.amount for e in usd), Decimal(0)) == -total_cost
        assert sum((e.fee or Decimal(0) for e in usd), Decimal(0)) == total_fee
        final = engine(fake).balances(fake.api_key)
        assert btc[-1].balance == final["BTC"] == start["BTC"] + qty
        assert usd[-1].balance == final["USD"] == start["USD"] - total_cost - total_fee
        assert open_orders(fake) == {}


async def test_executions_and_balances_follow_a_market_order_to_its_fill() -> None:
    await _fill_and_follow(marketable_limit=False)


async def test_executions_and_balances_follow_a_marketable_limit_order_to_its_fill() -> None:
    await _fill_and_follow(marketable_limit=True)


async def test_executions_snapshot_lists_open_orders_and_trades() -> None:
    async with connected() as (fake, k):
        with trio.fail_after(5):
            resting = await k.add_order(
                order_type="limit",
                side="buy",
                symbol=BTC,
                order_qty=QTY,
                limit_price=resting_price(fake),
            )
            await k.add_order(order_type="market", side="buy", symbol=BTC, order_qty=QTY)
            async with k.subscribe("executions", snap_orders=True, snap_trades=True) as ex:
                snap = await ex.__anext__()
        assert isinstance(snap, s.ExecutionsMessage)
        assert snap.type == "snapshot"
        trades = [e for e in snap.data if e.exec_type == "trade"]
        orders = [e for e in snap.data if e.exec_type != "trade"]
        assert trades
        assert [o.order_id for o in orders] == [resting.order_id]
        # The subscribe frame carried the options and the token.
        (frame,) = [
            m for m in frames(fake, PRIVATE, "subscribe") if m["params"]["channel"] == "executions"
        ]
        assert frame["params"]["snap_trades"] is True
        assert frame["params"]["token"]


async def test_cancel_shows_up_on_executions() -> None:
    async with connected() as (fake, k):
        with trio.fail_after(5):
            async with k.subscribe("executions") as ex:
                await ex.__anext__()
                order_id = (
                    await k.add_order(
                        order_type="limit",
                        side="buy",
                        symbol=BTC,
                        order_qty=QTY,
                        limit_price=resting_price(fake),
                    )
                ).order_id
                await k.cancel_order(order_id=order_id)
                event = await next_matching(
                    ex,
                    lambda m: any(
                        e.order_id == order_id and e.exec_type == "canceled" for e in m.data
                    ),
                )
        (canceled,) = [e for e in event.data if e.order_id == order_id]
        assert canceled.order_status == "canceled"
        assert open_orders(fake) == {}


# ----------------------------------------------------------------------------- link failures


async def test_in_flight_request_fails_with_connection_lost_and_is_not_resent() -> None:
    async with connected() as (fake, k):
        faults = fake.spot_faults(PRIVATE)
        price = resting_price(fake)
        caught: list[BaseException] = []
        async with k.events() as events:
            faults.delay = 2.0  # the engine takes the order; its reply is held back

            async def place() -> None:
                try:
                    await k.add_order(
                        order_type="limit",
                        side="buy",
                        symbol=BTC,
                        order_qty=QTY,
                        limit_price=price,
                        cl_ord_id="in-flight",
                    )
                except ConnectionLostError as exc:
                    caught.append(exc)

            with trio.fail_after(5):
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(place)
                    await wait_frames(fake, PRIVATE, "add_order", 1)
                    faults.delay = 0
                    await faults.drop()
                await wait_event(events, "reconnected")
        (exc,) = caught
        text = str(exc)
        assert "add_order" in text
        assert "may or may not have reached the exchange" in text
        assert "not resent" in text
        (frame,) = frames(fake, PRIVATE, "add_order")
        assert f"req_id={frame['req_id']}" in text
        assert "in-flight" in text
        # The order did reach the engine: the caller reconciles it, the client never resends.
        with trio.fail_after(5):
            await k.cancel_all()
        assert len(frames(fake, PRIVATE, "add_order")) == 1
        assert k.statistics()[PRIVATE].pending_requests == 0


async def test_every_in_flight_request_fails_when_the_link_drops() -> None:
    async with connected() as (fake, k):
        faults = fake.spot_faults(PRIVATE)
        caught: list[BaseException] = []
        faults.delay = 2.0  # the server sits on the first request it reads

        async def call(coro: Any) -> None:
            try:
                await coro
            except ConnectionLostError as exc:
                caught.append(exc)

        with trio.fail_after(5):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(call, k.cancel_all())
                nursery.start_soon(call, k.cancel_all_orders_after(0))
                server = fake.server(PRIVATE)
                await server.wait_received(len(server.received) + 1)
                assert k.statistics()[PRIVATE].pending_requests == 2
                await faults.drop(reset=True)
                faults.delay = 0
        assert len(caught) == 2
        assert {"cancel_all", "cancel_all_orders_after"} == {
            "cancel_all_orders_after" if "cancel_all_orders_after" in str(e) else "cancel_all"
            for e in caught
        }
        assert k.statistics()[PRIVATE].pending_requests == 0


async def test_a_request_made_while_reconnecting_waits_and_succeeds() -> None:
    async with connected() as (fake, k):
        faults = fake.spot_faults(PRIVATE)
        first_conn = fake.received(PRIVATE)[-1].connection_id if fake.received(PRIVATE) else None
        async with k.events() as events:
            faults.refuse(1.0)
            with trio.fail_after(5):
                await faults.drop()
                await wait_event(events, "reconnecting")
                assert not k.statistics()[PRIVATE].connected
                result = await k.add_order(
                    order_type="limit",
                    side="buy",
                    symbol=BTC,
                    order_qty=QTY,
                    limit_price=resting_price(fake),
                )
        assert list(open_orders(fake)) == [result.order_id]
        (received,) = [
            r
            for r in fake.received(PRIVATE)
            if isinstance(r.message, dict) and r.message.get("method") == "add_order"
        ]
        assert received.connection_id != first_conn
        assert fake.server(PRIVATE).connections_accepted == 2


async def test_a_request_without_reply_times_out_naming_method_and_req_id() -> None:
    async with connected(request_timeout=0.5, close_timeout=0.2) as (fake, k):
        faults = fake.spot_faults(PRIVATE)
        faults.delay = 0.7
        start = trio.current_time()
        with trio.fail_after(5), pytest.raises(RequestTimeoutError) as info:
            await k.add_order(
                order_type="limit",
                side="buy",
                symbol=BTC,
                order_qty=QTY,
                limit_price=resting_price(fake),
                cl_ord_id="slow-1",
            )
        elapsed = trio.current_time() - start
        assert 0.5 <= elapsed < 1.0
        exc = info.value
        (frame,) = frames(fake, PRIVATE, "add_order")
        assert exc.method == "add_order"
        assert exc.req_id == frame["req_id"]
        assert exc.cl_ord_id == "slow-1"
        assert exc.sent is True
        text = str(exc)
        assert "add_order" in text
        assert f"req_id={frame['req_id']}" in text
        assert "may be live" in text
        assert k.statistics()[PRIVATE].pending_requests == 0
        # The late reply (0.7 s) is dropped as unrouted; the next request is unaffected.
        faults.delay = 0
        with trio.fail_after(5):
            assert await k.cancel_all() == 1
        stats = k.statistics()[PRIVATE]
        assert stats.unrouted == 1
        assert stats.pending_requests == 0


async def test_a_request_that_cannot_be_sent_times_out_as_never_sent() -> None:
    async with open_fake_kraken(update_interval=None) as fake:
        fake.spot_faults(PRIVATE).refuse(10)
        async with client_for(fake, request_timeout=0.4) as k:
            start = trio.current_time()
            with trio.fail_after(5), pytest.raises(RequestTimeoutError) as info:
                await k.cancel_all()
            assert trio.current_time() - start < 1.0
        assert info.value.sent is False
        assert info.value.req_id is None
        assert "never sent" in str(info.value)
        assert frames(fake, PRIVATE) == []


async def test_caller_cancellation_leaves_no_pending_entry() -> None:
    async with connected() as (fake, k):
        faults = fake.spot_faults(PRIVATE)
        faults.delay = 0.5
        with trio.fail_after(5):
            with trio.move_on_after(0.1) as scope:
                await k.add_order(
                    order_type="limit",
                    side="buy",
                    symbol=BTC,
                    order_qty=QTY,
                    limit_price=resting_price(fake),
                )
            assert scope.cancelled_caught
            assert k.statistics()[PRIVATE].pending_requests == 0
            faults.delay = 0
            # The next request gets its own reply, not the late one.
            assert await k.cancel_all() == 1
        assert k.statistics()[PRIVATE].pending_requests == 0
        assert len(frames(fake, PRIVATE, "add_order")) == 1


async def test_req_ids_are_unique_among_concurrent_requests() -> None:
    async with connected() as (fake, k):
        price = resting_price(fake)
        results: list[str] = []

        async def place(i: int) -> None:
            result = await k.add_order(
                order_type="limit",
                side="buy",
                symbol=BTC,
                order_qty=QTY,
                limit_price=price - i,
                cl_ord_id=f"c-{i}",
            )
            assert result.cl_ord_id == f"c-{i}"
            assert result.order_id is not None
            results.append(result.order_id)

        with trio.fail_after(5):
            async with trio.open_nursery() as nursery:
                for i in range(20):
                    nursery.start_soon(place, i)
        req_ids = [m["req_id"] for m in frames(fake, PRIVATE, "add_order")]
        assert len(set(req_ids)) == 20
        assert set(results) == set(open_orders(fake))


# ----------------------------------------------------------------------------- authentication


def _wrong_secret() -> str:
    return base64.b64encode(b"\x01" * 64).decode()


@pytest.mark.parametrize("which", ["secret", "key"])
async def test_bad_credentials_are_an_authentication_error_not_a_loop(which: str) -> None:
    async with open_fake_kraken(update_interval=None) as fake:
        key = fake.api_key if which == "secret" else "bogus-key"
        secret = _wrong_secret() if which == "secret" else fake.api_secret
        expected = "EAPI:Invalid signature" if which == "secret" else "EAPI:Invalid key"
        async with open_kraken(
            key, secret, endpoints=fake.endpoints, rest_url=fake.rest_url, reconnect_delay=0.01
        ) as k:
            with trio.fail_after(5), pytest.raises(AuthenticationError) as info:
                async with k.subscribe("executions"):
                    pytest.fail("subscribed with bad credentials")
            assert info.value.error == expected
            assert token_requests(fake) == 1
            with trio.fail_after(5), pytest.raises(AuthenticationError) as info2:
                await k.add_order(order_type="market", side="buy", symbol=BTC, order_qty=QTY)
            assert info2.value.error == expected
            # One token request per call, never a reconnect loop; no socket was opened.
            assert token_requests(fake) <= 2
            assert k.statistics()[PRIVATE].reconnects == 0
            assert fake.server(PRIVATE).connections_accepted == 0
        assert frames(fake, PRIVATE) == []


async def test_connect_with_a_rejected_key_raises_at_once() -> None:
    async with open_fake_kraken(update_interval=None) as fake, client_for(fake) as k:
        fake.rest.faults.reject_next_auth()
        with trio.fail_after(5), pytest.raises(AuthenticationError) as info:
            await k.connect(PRIVATE)
        assert info.value.error == "EAPI:Invalid key"
        assert token_requests(fake) == 1
        # The rejection was one-off: the next attempt authenticates.
        with trio.fail_after(5):
            await k.connect(PRIVATE)
            assert await k.cancel_all() == 0
        assert token_requests(fake) == 2


async def test_rejected_token_on_subscribe_is_an_authentication_error() -> None:
    async with connected() as (fake, k):
        fake.spot_faults(PRIVATE).reject_next_auth(2)  # refused again with a fresh token
        with trio.fail_after(5), pytest.raises(AuthenticationError) as info:
            async with k.subscribe("executions"):
                pytest.fail("subscribed with a rejected token")
        assert info.value.error == "Token(s) not found"


async def test_rejected_token_on_add_order_is_an_authentication_error() -> None:
    async with connected() as (fake, k):
        fake.spot_faults(PRIVATE).reject_next_auth(2)  # refused again with a fresh token
        with trio.fail_after(5), pytest.raises(AuthenticationError) as info:
            await k.add_order(order_type="market", side="buy", symbol=BTC, order_qty=QTY)
        assert info.value.error == "Token(s) not found"
        assert info.value.method == "add_order"


async def test_rejected_token_is_krakens_error_with_method_and_req_id() -> None:
    async with connected() as (fake, k):
        fake.spot_faults(PRIVATE).reject_next_auth(2)  # refused again with a fresh token
        with trio.fail_after(5), pytest.raises(KrakenAPIError) as info:
            await k.add_order(order_type="market", side="buy", symbol=BTC, order_qty=QTY)
        assert info.value.error == "Token(s) not found"
        first, again = frames(fake, PRIVATE, "add_order")  # sent again once, fresh token
        assert info.value.req_id == first["req_id"] == again["req_id"]
        assert first["params"]["token"] != again["params"]["token"]
        assert open_orders(fake) == {}


async def test_each_connection_gets_a_fresh_token_and_resubscribes_with_it() -> None:
    async with connected() as (fake, k):
        async with k.events() as events, k.subscribe("executions") as ex:
            with trio.fail_after(5):
                await ex.__anext__()
                await fake.spot_faults(PRIVATE).drop()
                await wait_event(events, "reconnected")
                await wait_frames(fake, PRIVATE, "subscribe", 2)
                # The resubscribed feed works: a new order shows up.
                await k.add_order(order_type="market", side="buy", symbol=BTC, order_qty=QTY)
                await next_matching(
                    ex,
                    lambda m: (
                        isinstance(m, s.ExecutionsMessage)
                        and any(e.exec_type == "filled" for e in m.data)
                    ),
                )
        subs = [
            m for m in frames(fake, PRIVATE, "subscribe") if m["params"]["channel"] == "executions"
        ]
        assert len(subs) == 2
        first, second = (m["params"]["token"] for m in subs)
        assert first
        assert second
        assert first != second
        (order,) = frames(fake, PRIVATE, "add_order")
        assert order["params"]["token"] == second
        assert token_requests(fake) == 2
        assert k.statistics()[PRIVATE].token_fetches == 2


async def test_level3_uses_its_own_endpoint_and_a_token() -> None:
    async with open_fake_kraken(update_interval=None) as fake, client_for(fake) as k:
        with trio.fail_after(5):
            async with k.subscribe("level3", symbol=[BTC]) as l3:
                msg = await l3.__anext__()
        assert isinstance(msg, s.L3Message)
        (frame,) = frames(fake, WsKey.SPOT_L3_V2, "subscribe")
        assert frame["params"]["token"]
        assert frames(fake, PRIVATE) == []


# ----------------------------------------------------------------------------- futures private


async def test_futures_open_orders_snapshot_then_deltas() -> None:
    async with open_fake_kraken(update_interval=None) as fake, client_for(fake) as k:
        account = fake.futures.account
        existing = account.place_order("PI_XBTUSD", "buy", 100, "60000.5")
        with trio.fail_after(5):
            async with k.subscribe("open_orders") as sub:
                snap = await sub.__anext__()
                assert isinstance(snap, f.FuturesOpenOrdersSnapshot)
                assert [o.order_id for o in snap.orders] == [existing]
                new_id = account.place_order("PF_ETHUSD", "sell", 2, "3300.25", cli_ord_id="fut-1")
                placed = await sub.__anext__()
                assert isinstance(placed, f.FuturesOpenOrders)
                assert placed.is_cancel is False
                assert placed.order is not None
                assert placed.order.order_id == new_id
                assert placed.order.limit_price == Decimal("3300.25")
                account.fill(new_id, 2, "3300.25")
                filled = await sub.__anext__()
                assert isinstance(filled, f.FuturesOpenOrders)
                assert filled.is_cancel is True
                assert filled.reason == "full_fill"
        subscribes = [
            r.message
            for r in fake.received(FUTURES)
            if isinstance(r.message, dict) and r.message.get("event") == "subscribe"
        ]
        (frame,) = subscribes
        assert frame["feed"] == "open_orders"
        assert frame["api_key"] == fake.api_key
        assert frame["signed_challenge"] == sign_futures_challenge(
            fake.api_secret, frame["original_challenge"]
        )


async def test_futures_failed_challenge_is_an_error_not_a_hang() -> None:
    async with open_fake_kraken(update_interval=None) as fake, client_for(fake) as k:
        fake.faults(FUTURES).reject_next_auth(2)  # the fresh challenge is rejected too
        with trio.fail_after(5), pytest.raises(AuthenticationError):
            async with k.subscribe("open_orders"):
                pytest.fail("subscribed with a rejected challenge")


async def test_a_rejected_futures_challenge_is_replaced_by_a_fresh_one() -> None:
    async with open_fake_kraken(update_interval=None) as fake, client_for(fake) as k:
        fake.faults(FUTURES).reject_next_auth()
        with trio.fail_after(5):
            async with k.subscribe("open_orders") as sub:
                assert isinstance(await sub.__anext__(), f.FuturesOpenOrdersSnapshot)
        sent = [r.message for r in fake.received(FUTURES) if isinstance(r.message, dict)]
        challenges = [m for m in sent if m.get("event") == "challenge"]
        subscribes = [m for m in sent if m.get("event") == "subscribe"]
        assert len(challenges) == 2
        assert subscribes[0]["original_challenge"] != subscribes[1]["original_challenge"]


async def test_futures_private_feeds_resubscribe_with_a_fresh_challenge() -> None:
    async with open_fake_kraken(update_interval=None) as fake, client_for(fake) as k:
        account = fake.futures.account
        async with k.events() as events, k.subscribe("open_orders") as sub:
            with trio.fail_after(5):
                assert isinstance(await sub.__anext__(), f.FuturesOpenOrdersSnapshot)
                await fake.faults(FUTURES).drop()
                await wait_event(events, "reconnected")
                # After the resubscribe a fresh snapshot, then live deltas again.
                await next_matching(sub, lambda m: isinstance(m, f.FuturesOpenOrdersSnapshot))
                order_id = account.place_order("PI_XBTUSD", "buy", 10, "61000")
                delta = await next_matching(sub, lambda m: isinstance(m, f.FuturesOpenOrders))
                assert delta.order is not None
                assert delta.order.order_id == order_id
        subscribes = [
            r.message
            for r in fake.received(FUTURES)
            if isinstance(r.message, dict)
            and r.message.get("event") == "subscribe"
            and r.message.get("feed") == "open_orders"
        ]
        assert len(subscribes) == 2
        challenges = [m["original_challenge"] for m in subscribes]
        assert challenges[0] != challenges[1]
        for m in subscribes:
            assert m["signed_challenge"] == sign_futures_challenge(
                fake.api_secret, m["original_challenge"]
            )
        asked = [
            r.message
            for r in fake.received(FUTURES)
            if isinstance(r.message, dict) and r.message.get("event") == "challenge"
        ]
        assert len(asked) == 2


# ----------------------------------------------------------------------------- dead man's switch


def is_armed(switch: DeadMansSwitch) -> bool:
    """The switch's state (a call, so the type checker does not pin it)."""
    return switch.armed


async def _place_resting(fake: FakeKraken, k: KrakenClient, n: int) -> list[str]:
    price = resting_price(fake)
    ids = []
    for i in range(n):
        result = await k.add_order(
            order_type="limit", side="buy", symbol=BTC, order_qty=QTY, limit_price=price - i
        )
        assert result.order_id is not None
        ids.append(result.order_id)
    return ids


async def test_dead_mans_switch_keeps_orders_alive_while_refreshed_and_disarms_on_exit() -> None:
    async with connected() as (fake, k):
        with trio.fail_after(5):
            ids = await _place_resting(fake, k, 2)
            armed_at = trio.current_time()
            async with k.dead_mans_switch(timeout=1, refresh_every=0.25) as switch:
                assert is_armed(switch)
                assert switch.trigger_time is not None
                # Wait (on the server's record) for refreshes that carry it past the timeout.
                await wait_frames(fake, PRIVATE, "cancel_all_orders_after", 6)
                assert trio.current_time() - armed_at > 1.2
                assert set(open_orders(fake)) == set(ids)
                assert switch.refreshes >= 4
                assert engine(fake).next_deadman_expiry() is not None
            assert not is_armed(switch)
        sent = [m["params"]["timeout"] for m in frames(fake, PRIVATE, "cancel_all_orders_after")]
        assert sent[0] == 1
        assert set(sent[1:-1]) == {1}
        assert sent[-1] == 0
        assert engine(fake).next_deadman_expiry() is None
        assert set(open_orders(fake)) == set(ids)
        assert switch.failures == []


async def test_dead_mans_switch_really_cancels_when_not_refreshed() -> None:
    async with connected() as (fake, k):
        with trio.fail_after(5):
            async with k.subscribe("executions") as ex:
                await ex.__anext__()
                ids = await _place_resting(fake, k, 3)
                result = await k.cancel_all_orders_after(1)
                assert result.trigger_time is not None
                canceled: dict[str, s.Execution] = {}
                while len(canceled) < len(ids):
                    msg = await next_data(ex)
                    for e in msg.data:
                        if e.exec_type == "canceled":
                            assert e.order_id is not None
                            canceled[e.order_id] = e
        assert set(canceled) == set(ids)
        assert {e.reason for e in canceled.values()} == {"Dead man's switch"}
        assert open_orders(fake) == {}


async def test_dead_mans_switch_refresh_failure_is_reported_and_raised() -> None:
    async with connected() as (fake, k):
        faults = fake.spot_faults(PRIVATE)
        switches: list[DeadMansSwitch] = []

        async def hold(events: EventStream) -> None:
            async with k.dead_mans_switch(timeout=10, refresh_every=0.1) as switch:
                switches.append(switch)
                faults.rate_limit_next(1)
                event = await next_matching(
                    events, lambda e: e.kind == "exception" and e.ws_key == PRIVATE
                )
                assert "dead man's switch" in event.detail
                assert isinstance(event.error, KrakenAPIError)
                assert event.error.error == "EOrder:Rate limit exceeded"
                assert len(switch.failures) == 1

        async with k.events() as events:
            with trio.fail_after(5), pytest.raises(KrakenError) as info:
                await hold(events)
        assert "refresh" in str(info.value)
        assert isinstance(info.value.__cause__, KrakenAPIError)
        assert info.value.__cause__.error == "EOrder:Rate limit exceeded"
        # Disarmed all the same.
        (switch,) = switches
        assert not switch.armed
        sent = [m["params"]["timeout"] for m in frames(fake, PRIVATE, "cancel_all_orders_after")]
        assert sent[-1] == 0
        assert engine(fake).next_deadman_expiry() is None


async def test_dead_mans_switch_refresh_timeout_is_reported() -> None:
    async with connected(request_timeout=0.3, close_timeout=0.2) as (fake, k):
        faults = fake.spot_faults(PRIVATE)
        switches: list[DeadMansSwitch] = []

        async def hold(events: EventStream) -> None:
            async with k.dead_mans_switch(timeout=10, refresh_every=0.1) as switch:
                switches.append(switch)
                faults.delay = 0.5
                event = await next_matching(
                    events, lambda e: e.kind == "exception" and e.ws_key == PRIVATE
                )
                assert isinstance(event.error, RequestTimeoutError)
                faults.delay = 0

        async with k.events() as events:
            with trio.fail_after(5), pytest.raises(KrakenError) as info:
                await hold(events)
        assert isinstance(info.value.__cause__, RequestTimeoutError)
        assert switches[0].failures


async def test_dead_mans_switch_rejects_a_refresh_period_not_below_the_timeout() -> None:
    async with connected() as (fake, k):
        with pytest.raises(KrakenError, match="refresh_every"):
            async with k.dead_mans_switch(timeout=5, refresh_every=5):
                pytest.fail("armed with refresh_every == timeout")
        assert frames(fake, PRIVATE, "cancel_all_orders_after") == []


# ----------------------------------------------------------------------------- more broker cases


async def test_connect_prewarms_and_authenticates_the_private_connection() -> None:
    async with open_fake_kraken(update_interval=None) as fake, client_for(fake) as k:
        assert token_requests(fake) == 0
        with trio.fail_after(5):
            await k.connect(PRIVATE)
        assert token_requests(fake) == 1
        assert fake.server(PRIVATE).connections_accepted == 1
        assert k.statistics()[PRIVATE].connected
        with trio.fail_after(5):
            assert await k.cancel_all() == 0
        # The first request used the pre-warmed link and its token.
        assert token_requests(fake) == 1
        assert fake.server(PRIVATE).connections_accepted == 1


async def test_concurrent_first_users_share_one_token_fetch() -> None:
    async with open_fake_kraken(update_interval=None) as fake, client_for(fake) as k:
        fake.rest.faults.delay = 0.2  # everyone arrives while the token is being fetched
        with trio.fail_after(5):
            async with trio.open_nursery() as nursery:
                for _ in range(10):
                    nursery.start_soon(k.cancel_all)
                nursery.start_soon(k.cancel_all_orders_after, 0)

                async def subscriber() -> None:
                    async with k.subscribe("executions") as ex:
                        await ex.__anext__()

                nursery.start_soon(subscriber)
        assert token_requests(fake) == 1
        assert fake.server(PRIVATE).connections_accepted == 1
        assert len(frames(fake, PRIVATE, "cancel_all")) == 10


async def test_a_request_cancelled_before_it_was_sent_is_never_sent() -> None:
    async with open_fake_kraken(update_interval=None) as fake, client_for(fake) as k:
        fake.spot_faults(PRIVATE).refuse(0.5)
        with trio.fail_after(5):
            with trio.move_on_after(0.1) as scope:
                await k.add_order(order_type="market", side="buy", symbol=BTC, order_qty=QTY)
            assert scope.cancelled_caught
            assert k.statistics()[PRIVATE].pending_requests == 0
            await k.connect(PRIVATE)
            assert await k.cancel_all() == 0
        assert frames(fake, PRIVATE, "add_order") == []
        assert open_orders(fake) == {}


async def test_token_rejected_while_reconnecting_fails_the_waiting_request() -> None:
    async with connected() as (fake, k):
        fake.rest.faults.reject_next_auth(100)
        with trio.fail_after(5):
            await fake.spot_faults(PRIVATE).drop()
            with pytest.raises(AuthenticationError) as info:
                await k.cancel_all()
        assert info.value.error == "EAPI:Invalid key"
        # One attempt after the drop (and, if the request arrived after that attempt had
        # already failed, one more of its own), never a loop.
        assert token_requests(fake) in (2, 3)
        assert fake.server(PRIVATE).connections_accepted == 1


async def test_token_rejected_on_resubscribe_ends_the_subscription_with_krakens_text() -> None:
    async with connected() as (fake, k):
        with trio.fail_after(5):
            async with k.subscribe("executions") as ex:
                await ex.__anext__()
                fake.spot_faults(PRIVATE).reject_next_auth(2)  # and the fresh one
                await fake.spot_faults(PRIVATE).drop()
                with pytest.raises(KrakenAPIError) as info:
                    async for _ in ex:
                        pass
        assert info.value.error == "Token(s) not found"


async def test_futures_challenge_rejected_on_resubscribe_ends_the_subscription() -> None:
    async with open_fake_kraken(update_interval=None) as fake, client_for(fake) as k:
        with trio.fail_after(5):
            async with k.subscribe("open_orders") as sub:
                assert isinstance(await sub.__anext__(), f.FuturesOpenOrdersSnapshot)
                fake.faults(FUTURES).reject_next_auth(2)  # and the fresh one
                await fake.faults(FUTURES).drop()
                with pytest.raises(AuthenticationError):
                    async for _ in sub:
                        pass


async def test_cancel_order_replies_split_across_a_drop_fail_the_call() -> None:
    """cancel_order waits for one reply per order; when the link drops before all of them
    arrived the call fails as connection-lost (some orders may be cancelled)."""
    async with connected() as (fake, k):
        faults = fake.spot_faults(PRIVATE)
        ids = await _place_resting(fake, k, 2)
        faults.delay = 2.0
        with trio.fail_after(5):
            async with trio.open_nursery() as nursery:

                async def cancel() -> None:
                    with pytest.raises(ConnectionLostError, match="cancel_order"):
                        await k.cancel_order(order_id=ids)

                nursery.start_soon(cancel)
                await wait_frames(fake, PRIVATE, "cancel_order", 1)
                faults.delay = 0
                await faults.drop()
        assert k.statistics()[PRIVATE].pending_requests == 0
        assert len(frames(fake, PRIVATE, "cancel_order")) == 1


async def test_cancel_order_by_a_shared_userref_waits_for_every_order() -> None:
    async with connected() as (fake, k):
        price = resting_price(fake)
        ids = []
        with trio.fail_after(5):
            for i in range(2):
                result = await k.add_order(
                    order_type="limit",
                    side="buy",
                    symbol=BTC,
                    order_qty=QTY,
                    limit_price=price - i,
                    order_userref=5,
                )
                ids.append(result.order_id)
            results = await k.cancel_order(order_userref=5)
            await k.cancel_all()  # a round trip: every earlier reply has been read
        assert sorted(r.order_id or "" for r in results) == sorted(i or "" for i in ids)
        assert k.statistics()[PRIVATE].unrouted == 0


async def test_spot_private_unsubscribe_carries_the_token() -> None:
    async with connected() as (fake, k):
        with trio.fail_after(5):
            async with k.subscribe("balances") as bal:
                await bal.__anext__()
            assert await k.cancel_all() == 0  # the unsubscribe went first on this link
        (sub,) = frames(fake, PRIVATE, "subscribe")
        (unsub,) = frames(fake, PRIVATE, "unsubscribe")
        assert unsub["params"]["channel"] == "balances"
        assert unsub["params"]["token"] == sub["params"]["token"]
        assert fake.server(PRIVATE).subscribers("balances") == 0


async def test_futures_private_unsubscribe_carries_the_signed_challenge() -> None:
    async with open_fake_kraken(update_interval=None) as fake, client_for(fake) as k:
        received = fake.futures.received

        def requests(event: str) -> list[dict[str, Any]]:
            return [
                r.message
                for r in received
                if isinstance(r.message, dict) and r.message.get("event") == event
            ]

        with trio.fail_after(5):
            async with k.subscribe("fills") as sub:
                await sub.__anext__()
            await fake.futures.wait_until(lambda: bool(requests("unsubscribe")))
        (sub_frame,) = requests("subscribe")
        (unsub_frame,) = requests("unsubscribe")
        assert unsub_frame["feed"] == "fills"
        assert unsub_frame["api_key"] == fake.api_key
        assert unsub_frame["original_challenge"] == sub_frame["original_challenge"]
        assert unsub_frame["signed_challenge"] == sign_futures_challenge(
            fake.api_secret, unsub_frame["original_challenge"]
        )


async def test_level3_resubscribes_with_a_fresh_token_after_a_drop() -> None:
    async with open_fake_kraken(update_interval=None) as fake, client_for(fake) as k:
        l3 = WsKey.SPOT_L3_V2
        async with k.events() as events, k.subscribe("level3", symbol=[BTC]) as sub:
            with trio.fail_after(5):
                assert isinstance(await sub.__anext__(), s.L3Message)
                await fake.faults(l3).drop()
                await wait_event(events, "reconnected")
                snap = await next_matching(
                    sub, lambda m: isinstance(m, s.L3Message) and m.type == "snapshot"
                )
        assert snap.data[0].symbol == BTC
        tokens = [m["params"]["token"] for m in frames(fake, l3, "subscribe")]
        assert len(tokens) == 2
        assert tokens[0] != tokens[1]


def test_correlator_req_ids_wrap_within_int32_and_skip_pending_ones() -> None:
    from kraken_trio._proto.correlator import Correlator, Pending

    def add(c: Correlator) -> Pending:
        return c.add(Pending("request", "add_order", c.reserve(), 10.0, trio.Event()))

    correlator = Correlator(first_req_id=2**31 - 2)
    held = add(correlator)
    assert held.req_id == 2**31 - 2
    top = add(correlator)
    assert top.req_id == 2**31 - 1
    low = add(correlator)
    assert low.req_id == 1  # wrapped within int32, never 0 or negative
    assert correlator.resolve(top.req_id, object()) is top
    # A correlator whose counter wraps onto ids still pending skips them.
    wrapping = Correlator(first_req_id=1)
    pending = [add(wrapping) for _ in range(3)]
    wrapping._next = 2**31 - 1  # the counter has gone round once
    ids = [add(wrapping).req_id for _ in range(2)]
    assert ids == [2**31 - 1, 4]  # 1, 2 and 3 are still pending
    assert {c.req_id for c in pending} == {1, 2, 3}
    assert len(wrapping) == 5


async def test_dead_mans_switch_disarms_when_the_block_is_cancelled() -> None:
    async with connected() as (fake, k):
        with trio.fail_after(5):
            with trio.move_on_after(0.3) as scope:
                async with k.dead_mans_switch(timeout=10, refresh_every=0.1) as switch:
                    await trio.sleep_forever()  # the block is cancelled from outside
            assert scope.cancelled_caught
        assert not is_armed(switch)
        sent = [m["params"]["timeout"] for m in frames(fake, PRIVATE, "cancel_all_orders_after")]
        assert sent[0] == 10
        assert sent[-1] == 0
        assert engine(fake).next_deadman_expiry() is None
        assert k.statistics()[PRIVATE].pending_requests == 0


async def test_futures_connect_prewarms_the_challenge() -> None:
    async with open_fake_kraken(update_interval=None) as fake, client_for(fake) as k:
        with trio.fail_after(5):
            await k.connect(FUTURES)
            async with k.subscribe("open_orders") as sub:
                assert isinstance(await sub.__anext__(), f.FuturesOpenOrdersSnapshot)
        events = [
            r.message.get("event") for r in fake.futures.received if isinstance(r.message, dict)
        ]
        assert events[:2] == ["challenge", "subscribe"]
        assert events.count("challenge") == 1


async def test_executions_subscriber_sees_a_gap_marker_then_a_fresh_snapshot() -> None:
    async with connected() as (fake, k):
        async with k.events() as events, k.subscribe("executions") as ex:
            with trio.fail_after(5):
                assert (await next_data(ex)).type == "snapshot"
                await fake.spot_faults(PRIVATE).drop()
                await wait_event(events, "reconnected")
                gap = await ex.__anext__()
                snap = await ex.__anext__()
        assert isinstance(gap, Gap)
        assert gap.reason == "reconnect"
        assert isinstance(snap, s.ExecutionsMessage)
        assert snap.type == "snapshot"


async def test_trading_on_the_beta_private_endpoint() -> None:
    beta = WsKey.SPOT_BETA_PRIVATE_V2
    async with open_fake_kraken(update_interval=None) as fake, client_for(fake) as k:
        with trio.fail_after(5):
            result = await k.add_order(
                order_type="limit",
                side="buy",
                symbol=BTC,
                order_qty=QTY,
                limit_price=resting_price(fake),
                ws_key=beta,
            )
            assert await k.cancel_all(ws_key=beta) == 1
        assert result.order_id
        assert len(frames(fake, beta, "add_order")) == 1
        assert frames(fake, PRIVATE) == []


async def test_trading_without_credentials_is_refused_locally() -> None:
    async with open_fake_kraken(update_interval=None) as fake:
        async with open_kraken(endpoints=fake.endpoints, rest_url=fake.rest_url) as k:
            with trio.fail_after(5), pytest.raises(InvalidRequestError, match="api_key"):
                await k.add_order(order_type="market", side="buy", symbol=BTC, order_qty=QTY)
            with pytest.raises(InvalidRequestError, match="api_key"):
                k.subscribe("executions")
        assert frames(fake, PRIVATE) == []
        assert fake.rest.received == []


async def test_an_unreadable_reply_fails_its_request_instead_of_hanging() -> None:
    async with connected() as (fake, k):
        faults = fake.spot_faults(PRIVATE)
        faults.delay = 1.0  # the real reply comes too late; a broken one is injected first
        caught: list[BaseException] = []

        async def place() -> None:
            with pytest.raises(ProtocolError) as info:
                await k.add_order(order_type="market", side="buy", symbol=BTC, order_qty=QTY)
            caught.append(info.value)

        with trio.fail_after(5):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(place)
                await wait_frames(fake, PRIVATE, "add_order", 1)
                (frame,) = frames(fake, PRIVATE, "add_order")
                broken = {
                    "method": "add_order",
                    "req_id": frame["req_id"],
                    "result": {"order_id": 5},  # a number where Kraken sends a string
                    "success": True,
                }
                await faults.send_raw(json.dumps(broken))
            faults.delay = 0
        (exc,) = caught
        assert "order_id" in str(exc)
        assert k.statistics()[PRIVATE].pending_requests == 0
        assert k.statistics()[PRIVATE].bad_messages == 1


async def test_an_unreachable_token_endpoint_ends_requests_with_a_timeout() -> None:
    async with open_fake_kraken(update_interval=None) as fake:
        fake.rest.faults.delay = 2.0
        async with client_for(fake, rest_timeout=0.1, auth_timeout=0.1, request_timeout=0.5) as k:
            start = trio.current_time()
            with trio.fail_after(5), pytest.raises(RequestTimeoutError) as info:
                await k.cancel_all()
            assert trio.current_time() - start < 1.5
            assert info.value.sent is False
        assert frames(fake, PRIVATE) == []


async def test_dead_mans_switch_that_cannot_arm_raises_at_once_and_starts_nothing() -> None:
    async with connected() as (fake, k):
        fake.spot_faults(PRIVATE).rate_limit_next(1)
        with trio.fail_after(5), pytest.raises(KrakenAPIError) as info:
            async with k.dead_mans_switch(timeout=10, refresh_every=0.05):
                pytest.fail("the block ran without an armed switch")
        assert info.value.error == "EOrder:Rate limit exceeded"
        assert info.value.method == "cancel_all_orders_after"
        # A refresher would have sent several frames during a 0.2 s round trip; the next
        # round trip is read after them (one connection's frames are handled in order).
        faults = fake.spot_faults(PRIVATE)
        with trio.fail_after(5):
            faults.delay = 0.2
            assert await k.cancel_all() == 0
            faults.delay = 0
            assert await k.cancel_all() == 0
        assert len(frames(fake, PRIVATE, "cancel_all_orders_after")) == 1
        assert engine(fake).next_deadman_expiry() is None


async def test_cancel_order_by_an_unmatched_userref_is_krakens_error() -> None:
    async with connected() as (_, k):
        with trio.fail_after(5):
            with pytest.raises(KrakenAPIError) as info:
                await k.cancel_order(order_userref=99)
            await k.cancel_all()
        assert info.value.error == "EOrder:Unknown order"
        assert info.value.method == "cancel_order"
        stats = k.statistics()[PRIVATE]
        assert stats.pending_requests == 0
        assert stats.unrouted == 0


async def test_cancel_order_mixing_ids_and_a_shared_userref_answers_every_order() -> None:
    async with connected() as (fake, k):
        price = resting_price(fake)
        with trio.fail_after(5):
            by_id = await _place_resting(fake, k, 1)
            shared = []
            for i in range(3):
                result = await k.add_order(
                    order_type="limit",
                    side="buy",
                    symbol=BTC,
                    order_qty=QTY,
                    limit_price=price - 10 - i,
                    order_userref=7,
                )
                shared.append(result.order_id)
            results = await k.cancel_order(order_id=by_id, order_userref=7)
            await k.cancel_all()
        assert sorted(r.order_id or "" for r in results) == sorted(
            by_id + [i or "" for i in shared]
        )
        assert open_orders(fake) == {}
        assert k.statistics()[PRIVATE].unrouted == 0


async def test_cancel_order_by_userref_is_bounded_when_pongs_stall() -> None:
    """The end of an open-ended reply list is marked by a pong; without pongs the call still
    ends within the request deadline (with the orders cancelled on the exchange)."""
    async with connected(request_timeout=0.5) as (fake, k):
        price = resting_price(fake)
        with trio.fail_after(5):
            await k.add_order(
                order_type="limit",
                side="buy",
                symbol=BTC,
                order_qty=QTY,
                limit_price=price,
                order_userref=8,
            )
            fake.spot_faults(PRIVATE).stall_pongs = True
            start = trio.current_time()
            with pytest.raises(RequestTimeoutError) as info:
                await k.cancel_order(order_userref=8)
            assert trio.current_time() - start < 1.0
        assert info.value.method == "cancel_order"
        assert info.value.sent is True
        assert open_orders(fake) == {}
        assert k.statistics()[PRIVATE].pending_requests == 0


async def test_cancelling_a_cancel_order_by_userref_leaves_no_pending_entry() -> None:
    async with connected() as (fake, k):
        faults = fake.spot_faults(PRIVATE)
        faults.delay = 0.5
        with trio.fail_after(5):
            with trio.move_on_after(0.1) as scope:
                await k.cancel_order(order_userref=9)
            assert scope.cancelled_caught
        assert k.statistics()[PRIVATE].pending_requests == 0
        faults.delay = 0


async def test_futures_challenge_that_never_completes_ends_the_subscribe_in_time() -> None:
    async with open_fake_kraken(update_interval=None) as fake:
        fake.faults(FUTURES).delay = 1.0  # the challenge answer comes after auth_timeout
        async with client_for(
            fake, auth_timeout=0.2, connect_timeout=0.3, request_timeout=0.3, close_timeout=0.2
        ) as k:
            start = trio.current_time()
            with trio.fail_after(5), pytest.raises(RequestTimeoutError) as info:
                async with k.subscribe("open_orders"):
                    pytest.fail("subscribed without a challenge")
            assert trio.current_time() - start < 1.5
            fake.faults(FUTURES).delay = 0
        assert info.value.method == "subscribe"
        subscribes = [
            r.message
            for r in fake.futures.received
            if isinstance(r.message, dict) and r.message.get("event") == "subscribe"
        ]
        assert subscribes == []


async def test_a_subscribe_never_sent_does_not_claim_it_was_sent() -> None:
    async with open_fake_kraken(update_interval=None) as fake:
        fake.faults(FUTURES).delay = 1.0
        async with client_for(
            fake, auth_timeout=0.2, connect_timeout=0.3, request_timeout=0.3, close_timeout=0.2
        ) as k:
            with trio.fail_after(5), pytest.raises(RequestTimeoutError) as info:
                async with k.subscribe("open_orders"):
                    pytest.fail("subscribed without a challenge")
            fake.faults(FUTURES).delay = 0
        assert info.value.sent is False
        assert "never sent" in str(info.value)


async def test_a_request_that_waited_for_the_link_times_out_at_its_own_deadline() -> None:
    # The request waits for a reconnect, so it is sent with less than request_timeout left:
    # its deadline falls before the one-timer-per-connection's next wake-up, which must
    # then wake early. The server answers nothing in time.
    async with open_fake_kraken(update_interval=None) as fake:
        faults = fake.faults(PRIVATE)
        async with client_for(fake, request_timeout=1.0, reconnect_delay=0.01) as k:
            with trio.fail_after(5):
                await k.connect(PRIVATE)
                faults.refuse(0.5)
                await faults.drop()
            faults.delay = 5.0
            start = trio.current_time()
            # Generous for a loaded CI machine; the early wake-up itself is pinned by
            # test_the_request_timer_wakes_early_for_an_earlier_deadline.
            with trio.fail_after(4), pytest.raises(RequestTimeoutError) as info:
                await k.add_order(
                    order_type="market", side="buy", symbol="BTC/USD", order_qty="0.01"
                )
            assert trio.current_time() - start >= 0.5  # it did wait for the link
            faults.delay = 0
        assert info.value.sent is True
        assert info.value.method == "add_order"


async def test_an_expired_token_is_renewed_and_the_order_sent_again_once() -> None:
    # Kraken drops a token unused for 15 minutes: the refused order was not executed, so
    # the client fetches a fresh token and sends the same request again, once.
    async with connected() as (fake, k):
        fake.spot_faults(PRIVATE).reject_next_auth()
        with trio.fail_after(5):
            result = await k.add_order(order_type="market", side="buy", symbol=BTC, order_qty=QTY)
        assert result.order_id
        first, again = frames(fake, PRIVATE, "add_order")
        assert first["req_id"] == again["req_id"]
        assert first["params"]["token"] != again["params"]["token"]
        assert k.statistics()[PRIVATE].token_fetches == 2


async def test_a_subscribe_refused_for_its_token_is_made_again_with_a_fresh_one() -> None:
    async with connected() as (fake, k):
        fake.spot_faults(PRIVATE).reject_next_auth()
        with trio.fail_after(5):
            async with k.subscribe("executions") as sub:
                msg = await next_data(sub)
        assert msg.type == "snapshot"
        assert k.statistics()[PRIVATE].token_fetches == 2
