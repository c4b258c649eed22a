"""The fake exchange's limits, QueryOrders and order faults (issue 15, fake side).

Limit models are checked as plain synchronous calls; each server's answer over real loopback
sockets.
"""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import Any

import httpx
import pytest
import trio
from support import client_for
from trio_websocket import WebSocketConnection, open_websocket_url

from kraken_trio import AuthenticationError, KrakenAPIError, WsKey
from kraken_trio._proto.auth import Credentials, NonceSource, sign_rest_request
from kraken_trio._rest import TokenSource, query_orders
from kraken_trio.testing import FakeKraken, open_fake_kraken
from kraken_trio.testing._engine import Engine
from kraken_trio.testing._limits import (
    L3_RATE_ERROR,
    L3_SYMBOLS_ERROR,
    DecayingCounter,
    Limits,
    SlidingWindow,
)

BTC = "BTC/USD"

# ----------------------------------------------------------------------------- pure models


def test_sliding_window_counts_one_second() -> None:
    window = SlidingWindow(3, 1.0)
    assert [window.allow(10.0) for _ in range(4)] == [True, True, True, False]
    assert not window.allow(10.99)
    assert window.allow(11.0)  # the first three left the window


def test_decaying_counter() -> None:
    counter = DecayingCounter(200, 200)
    assert counter.charge(200, 0.0)
    assert not counter.charge(5, 0.0)
    assert counter.value(0.5) == 100
    assert counter.charge(100, 0.5)


def test_level3_costs_by_depth_and_symbol_cap() -> None:
    limits = Limits()
    # Depth 10 costs 5 per symbol: 40 symbols fill the 200 counter in one second.
    assert limits.level3_subscribe(1, 10, [f"S{i}" for i in range(40)], 0, 0.0) is None
    assert limits.level3_subscribe(1, 10, ["X"], 40, 0.0) == L3_RATE_ERROR
    assert limits.level3_subscribe(1, 1000, ["A", "B"], 40, 1.0) is None  # decayed: 2 x 100
    assert limits.level3_subscribe(2, 10, ["A"], 200, 0.0) == L3_SYMBOLS_ERROR
    assert [r.kind for r in limits.refusals] == ["level3_rate", "level3_symbols"]
    limits.forget(1)
    assert limits.level3_subscribe(1, 100, ["A"] * 8, 0, 1.0) is None  # 8 x 25, fresh state


def test_spot_limit_is_off_unless_set() -> None:
    limits = Limits()
    assert all(limits.spot_message(1, 0.0) for _ in range(1000))
    limits.spot_messages_per_second = 2
    assert [limits.spot_message(1, 0.0) for _ in range(3)] == [True, True, False]
    assert limits.spot_message(2, 0.0)  # per connection


# ----------------------------------------------------------------------------- servers


async def _recv(ws: WebSocketConnection) -> Any:
    with trio.fail_after(5):
        return json.loads(await ws.get_message())


async def _token(fake: FakeKraken) -> str:
    source = TokenSource(fake.credentials, fake.rest_url, 5, max_body=1 << 20)
    try:
        with trio.fail_after(5):
            return await source.fetch()
    finally:
        await source.aclose()


async def test_spot_message_rate_answers_exceeded_msg_rate() -> None:
    async with open_fake_kraken(update_interval=None) as fake:
        fake.limits.spot_messages_per_second = 2
        params = {"channel": "ticker", "symbol": [BTC], "snapshot": False}
        requests = [
            {"method": "subscribe", "params": params, "req_id": 1},
            {"method": "ping", "req_id": 2},  # pings are not counted
            {"method": "unsubscribe", "params": params, "req_id": 3},
            {"method": "subscribe", "params": params, "req_id": 4},  # the third request
        ]
        async with open_websocket_url(fake.endpoints[WsKey.SPOT_PUBLIC_V2]) as ws:
            await _recv(ws)  # status
            for request in requests:
                await ws.send_message(json.dumps(request))
            replies = [await _recv(ws) for _ in requests]
        assert [(r["req_id"], r.get("error")) for r in replies] == [
            (1, None),
            (2, None),
            (3, None),
            (4, "Exceeded msg rate"),
        ]
        assert [r.kind for r in fake.limits.refusals] == ["spot_messages"]


async def test_level3_subscription_counter_refuses_with_krakens_error() -> None:
    async with open_fake_kraken(update_interval=None) as fake:
        token = await _token(fake)
        symbols = list(fake.market.symbols)[:3]
        assert len(symbols) == 3
        async with open_websocket_url(fake.endpoints[WsKey.SPOT_L3_V2]) as ws:
            await _recv(ws)
            params = {"channel": "level3", "symbol": symbols, "depth": 1000, "token": token}
            await ws.send_message(json.dumps({"method": "subscribe", "params": params}))
            reply = await _recv(ws)
        assert reply["success"] is False
        assert reply["error"] == L3_RATE_ERROR  # 3 x 100 > 200 per second
        assert fake.level3.subscribers("level3", symbols[0]) == 0


async def test_futures_requests_beyond_the_rate_get_rate_limited_alerts() -> None:
    async with open_fake_kraken(update_interval=None) as fake:
        fake.limits.futures_requests_per_second = 2
        async with open_websocket_url(fake.endpoints[WsKey.DERIVATIVES_PUBLIC_V1]) as ws:
            await _recv(ws)  # info
            for _ in range(3):
                sub = {"event": "subscribe", "feed": "ticker", "product_ids": ["PI_XBTUSD"]}
                await ws.send_message(json.dumps(sub))
                sub["event"] = "unsubscribe"
            seen: list[Any] = []
            while not any(m.get("event") == "alert" for m in seen):
                seen.append(await _recv(ws))
        assert {"event": "alert", "message": "rate_limited"} in seen
        assert [r.kind for r in fake.limits.refusals] == ["futures_requests"]


# ----------------------------------------------------------------------------- QueryOrders


async def _place(k: Any, fake: FakeKraken, below: int = 5000, **extra: Any) -> str:
    bid, _ = fake.market.best_bid_ask(BTC)
    assert bid is not None
    result = await k.add_order(
        order_type="limit",
        side="buy",
        symbol=BTC,
        order_qty=Decimal("0.01"),
        limit_price=(bid - below).quantize(Decimal("0.1")),
        **extra,
    )
    assert result.order_id is not None
    return str(result.order_id)


async def test_query_orders_reports_fills_and_cancels_exactly() -> None:
    async with open_fake_kraken(update_interval=None) as fake, client_for(fake) as k:
        with trio.fail_after(10):
            filled = await _place(k, fake, cl_ord_id="tracker-1")
            canceled = await _place(k, fake, below=6000)
            still_open = await _place(k, fake, below=7000)
            fake.fill_order(filled, "0.004", "50000.1")
            fake.fill_order(filled, "0.006", "50000.3")
            fake.cancel_order(canceled)
            source = TokenSource(fake.credentials, fake.rest_url, 5, max_body=1 << 20)
            try:
                infos = await query_orders(source, [filled, canceled, still_open])
            finally:
                await source.aclose()
        a, b, c = infos[filled], infos[canceled], infos[still_open]
        assert (a.status, a.vol, a.vol_exec) == ("closed", Decimal("0.01"), Decimal("0.01"))
        assert a.cost == Decimal("500.0022")  # 200.0004 + 300.0018
        assert a.price == Decimal("50000.2")
        assert a.cl_ord_id == "tracker-1"
        assert a.trades is not None
        assert len(a.trades) == 2
        assert a.descr.pair == "XBTUSD"  # Kraken's REST altname
        assert a.descr.type == "buy"
        assert a.closetm is not None
        assert a.opentm is not None
        assert a.closetm >= a.opentm
        assert (b.status, b.vol_exec, b.trades) == ("canceled", Decimal(0), None)
        assert (c.status, c.closetm) == ("open", None)
        # Unknown ids are refused in Kraken's words.
        source = TokenSource(fake.credentials, fake.rest_url, 5, max_body=1 << 20)
        try:
            with trio.fail_after(5), pytest.raises(KrakenAPIError) as info:
                await query_orders(source, ["ONOPE-00000-000000"])
        finally:
            await source.aclose()
        assert info.value.error == "EOrder:Invalid order"


async def test_query_orders_is_signed_and_checks_its_arguments() -> None:
    async with open_fake_kraken(update_interval=None) as fake:
        other = fake.new_account()
        bad = Credentials(fake.api_key, other.secret)  # right key, wrong secret
        source = TokenSource(bad, fake.rest_url, 5, max_body=1 << 20)
        try:
            with trio.fail_after(5), pytest.raises(AuthenticationError) as info:
                await query_orders(source, ["OX"])
        finally:
            await source.aclose()
        assert info.value.error == "EAPI:Invalid signature"
        nonces = NonceSource()
        path = "/0/private/QueryOrders"
        async with httpx.AsyncClient() as http:
            for txids in ("", ",".join(f"O{i}" for i in range(51))):
                nonce = nonces.next(time.time())
                body = f"nonce={nonce}&txid={txids}"
                headers = {
                    "API-Key": fake.api_key,
                    "API-Sign": sign_rest_request(fake.api_secret, path, nonce, body),
                    "Content-Type": "application/x-www-form-urlencoded",
                }
                with trio.fail_after(5):
                    resp = await http.post(fake.rest_url + path, content=body, headers=headers)
                assert resp.json() == {"error": ["EGeneral:Invalid arguments"], "result": {}}


async def test_private_link_down_hides_what_happens_meanwhile() -> None:
    async with open_fake_kraken(update_interval=None) as fake, client_for(fake) as k:
        with trio.fail_after(10):
            order_id = await _place(k, fake)
            async with fake.private_link_down():
                assert fake.private.connection_ids == []
                fake.fill_order(order_id, "0.01", "49999.9")
                assert fake.spot_faults(WsKey.SPOT_PRIVATE_V2).refusing
            assert not fake.spot_faults(WsKey.SPOT_PRIVATE_V2).refusing
        assert isinstance(fake.engine, Engine)
        assert fake.engine.open_orders(fake.api_key) == []
        with pytest.raises(KeyError):
            fake.cancel_order(order_id)  # closed already


async def test_batch_costs_follow_krakens_table() -> None:
    async with open_fake_kraken(update_interval=None) as fake:
        engine = fake.engine
        assert isinstance(engine, Engine)
        engine.max_rate_count, engine.rate_decay = 10, 0.0
        bid, _ = fake.market.best_bid_ask(BTC)
        assert bid is not None
        order = {
            "order_type": "limit",
            "side": "buy",
            "order_qty": Decimal("0.001"),
            "limit_price": (bid - 5000).quantize(Decimal("0.1")),
        }
        now = time.time()
        placed = engine.request(
            fake.api_key, "batch_add", {"symbol": BTC, "orders": [order] * 4}, now
        )
        assert placed[0].success
        assert engine.rate_count(fake.api_key, BTC, now) == 2  # n/2
        ids = [r["order_id"] for r in placed[0].result]
        # 4 x 8 = 32 takes the counter far past 10: Kraken still accepts a batch cancel.
        cancelled = engine.request(fake.api_key, "batch_cancel", {"orders": ids}, now)
        assert cancelled[0].success
        assert engine.rate_count(fake.api_key, BTC, now) == 34
        refused = engine.request(fake.api_key, "add_order", {**order, "symbol": BTC}, now)
        assert refused[0].error == "EOrder:Rate limit exceeded"
