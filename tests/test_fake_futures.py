"""The fake exchange's Futures WebSocket v1 server, over real sockets on loopback.

The client side is trio-websocket's own client (and, where a test needs to see TCP itself, a raw
wsproto client), so these tests check the wire, not our library.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import pytest
import trio
import trio.testing
from trio_websocket import (
    ConnectionClosed,
    WebSocketConnection,
    open_websocket_url,
)
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    Event,
    Ping,
    Pong,
    RejectConnection,
    Request,
    TextMessage,
)

from kraken_trio._proto.auth import sign_futures_challenge
from kraken_trio.testing._futures import (
    FuturesAccount,
    FuturesExchange,
    futures_product,
)

# The worked example of Kraken's futures WebSocket docs (protocol reference §7.2): public values.
KEY = "CMl2SeSn09Tz+2tWuzPfdaJdsahq6qv5UaexXuQ3SnahDQU/gO3aT+"
SECRET = "7zxMEF5p/Z8l2p2U7Ghv6x14Af+Fx+92tPgUdVQ748FOIrEoT9bgT+bTRfXc5pz8na+hL/QdrCVG7bh9KpT0eMTm"
OTHER_SECRET = (
    "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg=="
)
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
WAIT = 5.0
Msg = dict[str, Any]


# --------------------------------------------------------------------------------------------
# helpers


@asynccontextmanager
async def serving(**kwargs: Any) -> AsyncIterator[FuturesExchange]:
    kwargs.setdefault("update_interval", None)
    exchange = FuturesExchange(api_key=KEY, api_secret=SECRET, **kwargs)
    async with trio.open_nursery() as nursery:
        with trio.fail_after(WAIT):
            url = await nursery.start(exchange.run)
        assert url == exchange.url
        yield exchange
        nursery.cancel_scope.cancel()


@asynccontextmanager
async def client(exchange: FuturesExchange) -> AsyncIterator[WebSocketConnection]:
    """A connected client whose ``info`` message has been read and checked."""
    async with open_websocket_url(
        exchange.url, connect_timeout=WAIT, disconnect_timeout=WAIT
    ) as ws:
        try:
            assert await recv(ws) == {"event": "info", "version": 1}
            yield ws
        finally:
            # trio-websocket's client never closes its socket when the *server* closes the
            # connection (it waits for TCP close, then returns without closing), which leaks it
            # until garbage collection; close the transport ourselves (idempotent).
            with trio.CancelScope(shield=True):
                await ws._stream.aclose()


def close_code(closed: ConnectionClosed) -> int | None:
    return None if closed.reason is None else closed.reason.code


def decode(raw: str | bytes) -> Any:
    assert isinstance(raw, str), f"expected a text frame, got {raw!r}"
    return json.loads(raw, parse_float=Decimal)


async def recv(ws: WebSocketConnection) -> Any:
    with trio.fail_after(WAIT):
        return decode(await ws.get_message())


async def send(ws: WebSocketConnection, message: Msg) -> None:
    with trio.fail_after(WAIT):
        await ws.send_message(json.dumps(message))


async def recv_until(ws: WebSocketConnection, predicate: Callable[[Msg], bool]) -> Msg:
    """The first message matching ``predicate``; other messages are skipped."""
    with trio.fail_after(WAIT):
        while True:
            message = decode(await ws.get_message())
            if isinstance(message, dict) and predicate(message):
                return message


async def drain(ws: WebSocketConnection) -> list[Msg]:
    """Every message the server queued before this call (a JSON ping is answered in order)."""
    await send(ws, {"event": "ping"})
    out: list[Msg] = []
    with trio.fail_after(WAIT):
        while True:
            message = decode(await ws.get_message())
            if message == {"event": "pong"}:
                return out
            out.append(message)


async def subscribe(ws: WebSocketConnection, feed: str, *product_ids: str) -> list[Msg]:
    """Subscribe to a public feed; returns the messages up to the last ack's follow-up."""
    request: Msg = {"event": "subscribe", "feed": feed}
    if product_ids:
        request["product_ids"] = list(product_ids)
    await send(ws, request)
    return await drain(ws)


async def challenge(ws: WebSocketConnection, api_key: str = KEY) -> str:
    await send(ws, {"event": "challenge", "api_key": api_key})
    reply = await recv_until(ws, lambda m: m.get("event") == "challenge")
    assert set(reply) == {"event", "message"}
    assert UUID_RE.match(reply["message"])
    return str(reply["message"])


def signed(
    feed: str,
    original: str,
    *,
    event: str = "subscribe",
    api_key: str = KEY,
    secret: str = SECRET,
    **extra: Any,
) -> Msg:
    return {
        "event": event,
        "feed": feed,
        "api_key": api_key,
        "original_challenge": original,
        "signed_challenge": sign_futures_challenge(secret, original),
        **extra,
    }


async def private_subscribe(ws: WebSocketConnection, feed: str, **extra: Any) -> list[Msg]:
    """Challenge, subscribe signed; returns [ack, ..., snapshot]."""
    original = await challenge(ws)
    await send(ws, signed(feed, original, **extra))
    return await drain(ws)


def only_conn(exchange: FuturesExchange) -> int:
    (conn_id,) = exchange.live_subscriptions()
    return conn_id


def rebuild(
    snapshot: Msg, deltas: list[Msg]
) -> tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]:
    bids = {Decimal(level["price"]): Decimal(level["qty"]) for level in snapshot["bids"]}
    asks = {Decimal(level["price"]): Decimal(level["qty"]) for level in snapshot["asks"]}
    for delta in deltas:
        side = {"buy": bids, "sell": asks}[delta["side"]]
        price, qty = Decimal(delta["price"]), Decimal(delta["qty"])
        if qty == 0:
            side.pop(price, None)
        else:
            side[price] = qty
    return bids, asks


async def raw_client(exchange: FuturesExchange) -> tuple[trio.SocketStream, WSConnection]:
    """A hand-driven wsproto client, for tests that must see TCP itself."""
    port = int(exchange.url.rsplit(":", 1)[1].split("/")[0])
    with trio.fail_after(WAIT):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        ws = WSConnection(ConnectionType.CLIENT)
        await stream.send_all(ws.send(Request(host="127.0.0.1", target="/ws/v1")))
        accepted = info = False
        while not (accepted and info):
            ws.receive_data(await stream.receive_some())
            for event in ws.events():
                accepted |= isinstance(event, AcceptConnection)
                if isinstance(event, TextMessage):
                    assert json.loads(event.data) == {"event": "info", "version": 1}
                    info = True
    return stream, ws


async def handshake_status(exchange: FuturesExchange, path: str = "/ws/v1") -> int:
    """The HTTP status the server answers a WebSocket handshake with (101 when accepted)."""
    port = int(exchange.url.rsplit(":", 1)[1].split("/")[0])
    with trio.fail_after(WAIT):
        async with await trio.open_tcp_stream("127.0.0.1", port) as stream:
            ws = WSConnection(ConnectionType.CLIENT)
            await stream.send_all(ws.send(Request(host="127.0.0.1", target=path)))
            while True:
                data = await stream.receive_some()
                assert data, "the server closed TCP without answering the handshake"
                ws.receive_data(data)
                for event in ws.events():
                    if isinstance(event, AcceptConnection):
                        return 101
                    if isinstance(event, RejectConnection):
                        return event.status_code


async def raw_until(
    stream: trio.SocketStream, ws: WSConnection, predicate: Callable[[Event], bool]
) -> list[Event]:
    """Read wsproto events up to and including the first one matching ``predicate``."""
    seen: list[Event] = []
    with trio.fail_after(WAIT):
        while True:
            data = await stream.receive_some()
            assert data, "the server closed TCP"
            ws.receive_data(data)
            for event in ws.events():
                seen.append(event)
                if predicate(event):
                    return seen


async def raw_until_text(stream: trio.SocketStream, ws: WSConnection) -> list[Event]:
    return await raw_until(stream, ws, lambda e: isinstance(e, TextMessage))


# --------------------------------------------------------------------------------------------
# connection basics, public feeds


async def test_info_on_connect_and_url_shape() -> None:
    async with serving() as exchange:
        assert re.fullmatch(r"ws://127\.0\.0\.1:\d+/ws/v1", exchange.url)
        async with client(exchange):
            assert list(exchange.live_subscriptions().values()) == [set()]


async def test_acks_one_per_product_and_invalid_product_error() -> None:
    async with serving() as exchange, client(exchange) as ws:
        messages = await subscribe(ws, "ticker_lite", "PI_XBTUSD", "PI_NOPEUSD", "PF_ETHUSD")
        events = [m for m in messages if "event" in m]
        assert events == [
            {"event": "subscribed", "feed": "ticker_lite", "product_ids": ["PI_XBTUSD"]},
            {"event": "error", "message": "Invalid product id"},
            {"event": "subscribed", "feed": "ticker_lite", "product_ids": ["PF_ETHUSD"]},
        ]
        assert exchange.live_subscriptions()[only_conn(exchange)] == {
            ("ticker_lite", "PI_XBTUSD"),
            ("ticker_lite", "PF_ETHUSD"),
        }


async def test_book_snapshot_then_contiguous_deltas_rebuild_the_server_book() -> None:
    products = ("PI_XBTUSD", "PF_ETHUSD", "PF_SOLUSD")
    async with serving(seed=7) as exchange, client(exchange) as ws:
        first = await subscribe(ws, "book", *products)
        snapshots = {m["product_id"]: m for m in first if m.get("feed") == "book_snapshot"}
        assert set(snapshots) == set(products)
        for product_id, snap in snapshots.items():
            assert snap["tickSize"] is None
            assert isinstance(snap["seq"], int)
            assert isinstance(snap["timestamp"], int)
            bid_prices = [level["price"] for level in snap["bids"]]
            ask_prices = [level["price"] for level in snap["asks"]]
            assert bid_prices == sorted(bid_prices, reverse=True)
            assert ask_prices == sorted(ask_prices)
            assert bid_prices[0] < ask_prices[0]
            assert rebuild(snap, []) == exchange.book(product_id)
        for _ in range(40):
            await exchange.step()
        deltas = [m for m in await drain(ws) if m.get("feed") == "book"]
        saw_delete = False
        for product_id, snap in snapshots.items():
            mine = [d for d in deltas if d["product_id"] == product_id]
            assert len(mine) >= 40
            assert [d["seq"] for d in mine] == list(
                range(snap["seq"] + 1, snap["seq"] + 1 + len(mine))
            )
            assert {d["side"] for d in mine} == {"buy", "sell"}
            assert all(
                set(d) == {"feed", "product_id", "side", "seq", "price", "qty", "timestamp"}
                for d in mine
            )
            saw_delete |= any(d["qty"] == 0 for d in mine)
            bids, asks = rebuild(snap, mine)
            assert (bids, asks) == exchange.book(product_id)
            assert max(bids) < min(asks)
        assert saw_delete


async def test_numbers_are_never_in_exponent_form_in_the_book() -> None:
    async with serving(products=("PF_DOGEUSD", "PI_XBTUSD")) as exchange, client(exchange) as ws:
        await send(
            ws, {"event": "subscribe", "feed": "book", "product_ids": ["PF_DOGEUSD", "PI_XBTUSD"]}
        )
        for _ in range(10):
            await exchange.step()
        await send(ws, {"event": "ping"})
        with trio.fail_after(WAIT):
            while (raw := await ws.get_message()) != '{"event":"pong"}':
                assert isinstance(raw, str)
                assert not re.search(r"\d[eE][+-]?\d", raw), raw


async def test_unsubscribe_stops_the_feed_and_unknown_unsubscribe_fails() -> None:
    async with serving() as exchange, client(exchange) as ws:
        await subscribe(ws, "book", "PI_XBTUSD")
        await send(ws, {"event": "unsubscribe", "feed": "book", "product_ids": ["PI_XBTUSD"]})
        assert await recv(ws) == {
            "event": "unsubscribed",
            "feed": "book",
            "product_ids": ["PI_XBTUSD"],
        }
        for _ in range(5):
            await exchange.step()
        assert await drain(ws) == []
        await send(ws, {"event": "unsubscribe", "feed": "book", "product_ids": ["PI_XBTUSD"]})
        assert await recv(ws) == {
            "event": "unsubscribed_failed",
            "feed": "book",
            "product_ids": ["PI_XBTUSD"],
        }
        assert exchange.live_subscriptions()[only_conn(exchange)] == set()


TICKER_FIELDS = {
    "time", "product_id", "feed", "bid", "ask", "bid_size", "ask_size", "volume", "dtm",
    "leverage", "index", "premium", "last", "change", "suspended", "tag", "pair",
    "openInterest", "markPrice", "maturityTime", "post_only", "volumeQuote", "open", "high", "low",
}  # fmt: skip
FUNDING_FIELDS = {
    "funding_rate",
    "funding_rate_prediction",
    "relative_funding_rate",
    "relative_funding_rate_prediction",
    "next_funding_rate_time",
}
TICKER_LITE_FIELDS = {
    "feed", "product_id", "bid", "ask", "change", "premium", "volume", "tag", "pair", "dtm",
    "maturityTime", "volumeQuote",
}  # fmt: skip


async def test_ticker_full_field_set_with_funding_for_perpetuals_only() -> None:
    async with (
        serving(products=("PI_XBTUSD", "FI_XBTUSD_300628")) as exchange,
        client(exchange) as ws,
    ):
        await send(ws, {"event": "subscribe", "feed": "ticker", "product_ids": ["PI_XBTUSD"]})
        assert await recv(ws) == {
            "event": "subscribed",
            "feed": "ticker",
            "product_ids": ["PI_XBTUSD"],
        }
        raw = await ws.get_message()
        perpetual = decode(raw)
        assert set(perpetual) == TICKER_FIELDS | FUNDING_FIELDS
        assert perpetual["feed"] == "ticker"
        assert perpetual["tag"] == "perpetual"
        assert perpetual["pair"] == "XBT:USD"
        assert perpetual["dtm"] == 0
        assert perpetual["maturityTime"] == 0
        assert perpetual["suspended"] is False
        assert perpetual["next_funding_rate_time"] % 3_600_000 == 0
        # Kraken writes tiny funding rates in exponent form; so does the fake.
        assert isinstance(raw, str)
        assert re.search(r'"funding_rate":-?\d(\.\d+)?e-\d+', raw), raw
        bids, asks = exchange.book("PI_XBTUSD")
        assert perpetual["bid"] == max(bids)
        assert perpetual["ask"] == min(asks)
        assert perpetual["bid_size"] == bids[max(bids)]
        assert perpetual["ask_size"] == asks[min(asks)]

        await send(
            ws, {"event": "subscribe", "feed": "ticker", "product_ids": ["FI_XBTUSD_300628"]}
        )
        await recv(ws)
        dated = await recv(ws)
        assert set(dated) == TICKER_FIELDS
        assert dated["tag"] == "quarter"  # June 2030: a quarterly, as Kraken tags it
        assert dated["dtm"] > 0
        assert dated["maturityTime"] == futures_product("FI_XBTUSD_300628").maturity_time

        await exchange.step()
        updates = [m for m in await drain(ws) if m.get("feed") == "ticker"]
        assert sorted(m["product_id"] for m in updates) == ["FI_XBTUSD_300628", "PI_XBTUSD"]


async def test_ticker_lite_fields_and_updates_one_per_second(
    mock_clock: trio.testing.MockClock,
) -> None:
    # The clock stands still unless the test jumps it, so "within a second" is exact.
    async with serving() as exchange, client(exchange) as ws:
        first = await subscribe(ws, "ticker_lite", "PF_SOLUSD")
        assert first[0] == {
            "event": "subscribed",
            "feed": "ticker_lite",
            "product_ids": ["PF_SOLUSD"],
        }
        assert set(first[1]) == TICKER_LITE_FIELDS
        assert first[1]["product_id"] == "PF_SOLUSD"
        await exchange.step()
        (update,) = await drain(ws)
        bids, asks = exchange.book("PF_SOLUSD")
        assert (update["feed"], update["bid"], update["ask"]) == (
            "ticker_lite",
            max(bids),
            min(asks),
        )
        for _ in range(5):
            await exchange.step()
        assert await drain(ws) == []  # Kraken throttles ticker_lite to one per second
        mock_clock.jump(0.999)
        await exchange.step()
        assert await drain(ws) == []
        mock_clock.jump(0.001)
        await exchange.step()
        (update,) = await drain(ws)
        bids, asks = exchange.book("PF_SOLUSD")
        assert (update["bid"], update["ask"]) == (max(bids), min(asks))


async def test_trade_snapshot_and_trades_with_per_product_seq() -> None:
    async with serving(seed=3) as exchange, client(exchange) as ws:
        first = await subscribe(ws, "trade", "PI_XBTUSD")
        assert first == [
            {"event": "subscribed", "feed": "trade", "product_ids": ["PI_XBTUSD"]},
            {"feed": "trade_snapshot", "product_id": "PI_XBTUSD", "trades": []},
        ]
        for _ in range(30):
            await exchange.step()
        trades = [m for m in await drain(ws) if m.get("feed") == "trade"]
        assert len(trades) >= 3
        seqs = [t["seq"] for t in trades]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
        for trade in trades:
            assert set(trade) == {
                "feed",
                "product_id",
                "uid",
                "side",
                "type",
                "seq",
                "time",
                "qty",
                "price",
            }
            assert trade["side"] in ("buy", "sell")
            assert trade["type"] == "fill"
            assert UUID_RE.match(trade["uid"])
            assert trade["qty"] > 0
        # A new subscriber's snapshot lists those trades, newest first.
        async with client(exchange) as other:
            snapshot = (await subscribe(other, "trade", "PI_XBTUSD"))[1]
        assert snapshot["trades"] == list(reversed(trades))


async def test_heartbeat_feed() -> None:
    async with serving(heartbeat_interval=0.02) as exchange, client(exchange) as ws:
        await send(ws, {"event": "subscribe", "feed": "heartbeat"})
        assert await recv(ws) == {"event": "subscribed", "feed": "heartbeat"}
        for _ in range(2):
            beat = await recv(ws)
            assert set(beat) == {"feed", "time"}
            assert beat["feed"] == "heartbeat"
            assert isinstance(beat["time"], int)
        await send(ws, {"event": "unsubscribe", "feed": "heartbeat"})
        await recv_until(ws, lambda m: m == {"event": "unsubscribed", "feed": "heartbeat"})
        assert exchange.live_subscriptions()[only_conn(exchange)] == set()


@pytest.mark.parametrize(
    ("request_text", "reply"),
    [
        ("not json", "Json Error"),
        ("[1, 2]", "Json Error"),
        ('{"feed": "book"}', "Json Error"),
        ('{"event": "dance"}', "Json Error"),
        ('{"event": "subscribe"}', "Json Error"),
        ('{"event": "subscribe", "feed": "book"}', "Json Error"),
        ('{"event": "subscribe", "feed": "book", "product_ids": "PI_XBTUSD"}', "Json Error"),
        ('{"event": "subscribe", "feed": "candles", "product_ids": ["PI_XBTUSD"]}', "Invalid feed"),
        ('{"event": "subscribe", "feed": "book", "product_ids": ["nope"]}', "Invalid product id"),
        ('{"event": "challenge"}', "Json Error"),
    ],
)
async def test_errors(request_text: str, reply: str) -> None:
    async with serving() as exchange, client(exchange) as ws:
        with trio.fail_after(WAIT):
            await ws.send_message(request_text)
        assert await recv(ws) == {"event": "error", "message": reply}
        assert exchange.live_subscriptions()[only_conn(exchange)] == set()


async def test_binary_frame_is_a_json_error() -> None:
    async with serving() as exchange, client(exchange) as ws:
        with trio.fail_after(WAIT):
            await ws.send_message(b"\xff\x00")
        assert await recv(ws) == {"event": "error", "message": "Json Error"}


async def test_json_ping_and_protocol_ping_are_answered() -> None:
    async with serving() as exchange, client(exchange) as ws:
        await send(ws, {"event": "ping"})
        assert await recv(ws) == {"event": "pong"}
        with trio.fail_after(WAIT):
            await ws.ping(b"hello")


async def test_received_records_every_decoded_message_with_connection_and_time() -> None:
    async with serving() as exchange, client(exchange) as first, client(exchange) as second:
        conn_ids = sorted(exchange.live_subscriptions())
        before = trio.current_time()
        await send(first, {"event": "ping", "n": 1.5})
        await recv(first)
        await send(second, {"event": "subscribe", "feed": "heartbeat"})
        await recv(second)
        with trio.fail_after(WAIT):
            await first.send_message("garbage")
        await recv(first)
        assert [(r.connection_id, r.message) for r in exchange.received] == [
            (conn_ids[0], {"event": "ping", "n": Decimal("1.5")}),
            (conn_ids[1], {"event": "subscribe", "feed": "heartbeat"}),
            (conn_ids[0], "garbage"),
        ]
        assert all(before <= r.time <= trio.current_time() for r in exchange.received)


async def test_market_is_deterministic_with_the_seed() -> None:
    def books(exchange: FuturesExchange) -> list[object]:
        return [exchange.book(p) for p in exchange.products]

    runs = []
    for seed in (11, 11, 12):
        exchange = FuturesExchange(api_key=KEY, api_secret=SECRET, seed=seed, update_interval=None)
        states = [books(exchange)]
        for _ in range(25):
            await exchange.step()
            states.append(books(exchange))
        runs.append(states)
    assert runs[0] == runs[1]
    assert runs[0][0] != runs[2][0]
    assert runs[0][1] != runs[0][0]


async def test_market_moves_on_its_own_with_an_update_interval() -> None:
    async with serving(update_interval=0.01) as exchange, client(exchange) as ws:
        await send(ws, {"event": "subscribe", "feed": "book", "product_ids": ["PF_ETHUSD"]})
        snapshot = await recv_until(ws, lambda m: m.get("feed") == "book_snapshot")
        delta = await recv_until(ws, lambda m: m.get("feed") == "book")
        assert delta["seq"] == snapshot["seq"] + 1


async def test_run_twice_at_once_is_refused_and_a_stopped_server_can_run_again() -> None:
    exchange = FuturesExchange(api_key=KEY, api_secret=SECRET, update_interval=None)
    for _ in range(2):
        async with trio.open_nursery() as nursery:
            with trio.fail_after(WAIT):
                await nursery.start(exchange.run)
            with pytest.raises(RuntimeError, match="already running"):
                await exchange.run()
            async with client(exchange):
                pass
            nursery.cancel_scope.cancel()


async def test_wait_until_wakes_on_connections_messages_and_closes() -> None:
    async with serving() as exchange:
        seen: list[str] = []

        async def watch() -> None:
            await exchange.wait_until(lambda: len(exchange.live_subscriptions()) == 1)
            seen.append("connected")
            await exchange.wait_until(
                lambda: ("heartbeat", None) in set().union(*exchange.live_subscriptions().values())
            )
            seen.append("subscribed")
            await exchange.wait_until(lambda: not exchange.live_subscriptions())
            seen.append("closed")

        with trio.fail_after(WAIT):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(watch)
                async with client(exchange) as ws:
                    await send(ws, {"event": "subscribe", "feed": "heartbeat"})
                    await recv(ws)
                    assert seen[:1] == ["connected"]
        assert seen == ["connected", "subscribed", "closed"]


async def test_idle_timeout_closes_silent_connections_only() -> None:
    async with (
        serving(idle_timeout=0.5) as exchange,
        client(exchange) as pinging,
        client(exchange) as silent,
    ):
        # The pinging client pings (protocol pings) every 0.1 s for 0.8 s, longer than the
        # timeout; the silent one is closed meanwhile.
        for _ in range(8):
            with trio.fail_after(WAIT):
                await pinging.ping()
            await trio.sleep(0.1)  # the client's ping cadence, not a wait for an event
        with pytest.raises(ConnectionClosed) as closed:
            await recv(silent)
        assert close_code(closed.value) == 1001
        assert len(exchange.live_subscriptions()) == 1
        await send(pinging, {"event": "ping"})
        assert await recv(pinging) == {"event": "pong"}
        with pytest.raises(ConnectionClosed) as closed:
            await recv(pinging)
        assert close_code(closed.value) == 1001


def test_constructor_validates_its_arguments() -> None:
    with pytest.raises(ValueError, match="not a Kraken futures product id"):
        FuturesExchange(api_key=KEY, api_secret=SECRET, products=("BTC/USD",))
    with pytest.raises(ValueError, match="base64"):
        FuturesExchange(api_key=KEY, api_secret="not base64!")
    with pytest.raises(ValueError, match="update_interval"):
        FuturesExchange(api_key=KEY, api_secret=SECRET, update_interval=0)
    exchange = FuturesExchange(api_key=KEY, api_secret=SECRET)
    assert SECRET not in repr(exchange)
    with pytest.raises(RuntimeError, match="not running"):
        _ = exchange.url


def test_product_ids_parse() -> None:
    perpetual = futures_product("PI_XBTUSD")
    assert (perpetual.pair, perpetual.tag, perpetual.qty_step) == (
        "XBT:USD",
        "perpetual",
        Decimal(1),
    )
    linear = futures_product("PF_ETHUSD")
    assert linear.qty_step == Decimal("0.001")
    dated = futures_product("FF_XBTUSD_300628")
    assert dated.tag == "quarter"  # a June expiry; Kraken tags FI_XBTUSD_260925 "quarter"
    assert dated.maturity_time == 1908892800000  # 2030-06-28T16:00:00Z
    assert futures_product("FF_XBTUSD_300531").tag == "month"
    with pytest.raises(ValueError, match="maturity"):
        futures_product("PF_XBTUSD_300628")


async def test_wrong_path_is_refused_with_404() -> None:
    async with serving() as exchange:
        assert await handshake_status(exchange, "/ws/v2") == 404
        assert await handshake_status(exchange) == 101


async def test_stopping_the_server_closes_clients_with_going_away() -> None:
    exchange = FuturesExchange(api_key=KEY, api_secret=SECRET, update_interval=None)
    server_scope = trio.CancelScope()

    async def serve(task_status: trio.TaskStatus[str]) -> None:
        with server_scope:
            await exchange.run(task_status=task_status)

    async with trio.open_nursery() as nursery:
        with trio.fail_after(WAIT):
            await nursery.start(serve)
        async with client(exchange) as ws:
            server_scope.cancel()
            with pytest.raises(ConnectionClosed) as closed:
                await recv(ws)
            assert close_code(closed.value) == 1001
    with pytest.raises(RuntimeError, match="not running"):
        _ = exchange.url


# --------------------------------------------------------------------------------------------
# authentication


async def test_signed_challenge_opens_a_private_feed() -> None:
    async with serving() as exchange, client(exchange) as ws:
        messages = await private_subscribe(ws, "open_orders")
        assert messages == [
            {"event": "subscribed", "feed": "open_orders"},
            {"feed": "open_orders_snapshot", "account": exchange.account.account_id, "orders": []},
        ]
        assert exchange.live_subscriptions()[only_conn(exchange)] == {("open_orders", None)}


async def test_bad_signature_is_refused_with_the_alert() -> None:
    async with serving() as exchange, client(exchange) as ws:
        original = await challenge(ws)
        await send(ws, signed("open_orders", original, secret=OTHER_SECRET))
        assert await recv(ws) == {
            "event": "alert",
            "message": "Failed to subscribe to authenticated feed",
        }
        assert exchange.live_subscriptions()[only_conn(exchange)] == set()


async def test_challenge_from_another_connection_is_refused() -> None:
    async with serving() as exchange, client(exchange) as first, client(exchange) as second:
        original = await challenge(first)
        await send(second, signed("balances", original))
        assert await recv(second) == {
            "event": "alert",
            "message": "Failed to subscribe to authenticated feed",
        }
        # The same signed request still works on the connection the challenge was issued to.
        await send(first, signed("balances", original))
        assert await recv(first) == {"event": "subscribed", "feed": "balances"}


async def test_made_up_challenge_and_missing_fields_are_refused() -> None:
    async with serving() as exchange, client(exchange) as ws:
        await challenge(ws)
        await send(ws, signed("fills", "c100b894-1729-464d-ace1-52dbce11db42"))
        assert await recv(ws) == {
            "event": "alert",
            "message": "Failed to subscribe to authenticated feed",
        }
        await send(ws, {"event": "subscribe", "feed": "fills"})
        assert await recv(ws) == {
            "event": "alert",
            "message": "Failed to subscribe to authenticated feed",
        }
        assert exchange.live_subscriptions()[only_conn(exchange)] == set()


async def test_wrong_api_key_gets_a_challenge_but_no_private_feed() -> None:
    async with serving() as exchange, client(exchange) as ws:
        original = await challenge(ws, api_key="someone-else")
        await send(ws, signed("open_positions", original, api_key="someone-else"))
        assert await recv(ws) == {
            "event": "alert",
            "message": "Failed to subscribe to authenticated feed",
        }
        # Signing that challenge under the right key does not help: it was asked for another key.
        await send(ws, signed("open_positions", original))
        assert await recv(ws) == {
            "event": "alert",
            "message": "Failed to subscribe to authenticated feed",
        }
        assert exchange.live_subscriptions()[only_conn(exchange)] == set()


async def test_reject_next_auth_fails_exactly_the_next_challenges() -> None:
    async with serving() as exchange, client(exchange) as ws:
        exchange.faults.reject_next_auth(2)
        for _ in range(2):
            original = await challenge(ws)
            await send(ws, signed("account_log", original))
            assert await recv(ws) == {
                "event": "alert",
                "message": "Failed to subscribe to authenticated feed",
            }
        messages = await private_subscribe(ws, "account_log")
        assert messages[0] == {"event": "subscribed", "feed": "account_log"}


async def test_private_unsubscribe_needs_the_signature_and_resubscribe_alerts() -> None:
    async with serving() as exchange, client(exchange) as ws:
        original = await challenge(ws)
        await send(ws, signed("fills", original))
        await drain(ws)
        await send(ws, signed("fills", original))
        assert await recv(ws) == {
            "event": "alert",
            "message": "Already subscribed to feed, re-requesting",
        }
        assert await recv(ws) == {"event": "subscribed", "feed": "fills"}
        assert (await recv(ws))["feed"] == "fills_snapshot"
        await send(ws, {"event": "unsubscribe", "feed": "fills"})
        assert await recv(ws) == {
            "event": "alert",
            "message": "Failed to subscribe to authenticated feed",
        }
        assert exchange.live_subscriptions()[only_conn(exchange)] == {("fills", None)}
        await send(ws, signed("fills", original, event="unsubscribe"))
        assert await recv(ws) == {"event": "unsubscribed", "feed": "fills"}
        assert exchange.live_subscriptions()[only_conn(exchange)] == set()


# --------------------------------------------------------------------------------------------
# private feeds driven by the scripted account


async def test_open_orders_snapshot_and_deltas_for_place_fill_cancel() -> None:
    async with serving() as exchange, client(exchange) as ws:
        account = exchange.account
        resting = account.place_order("PI_XBTUSD", "sell", 1000, "64000.5", cli_ord_id="my-1")
        stop = account.place_order(
            "PF_ETHUSD",
            "buy",
            "0.5",
            3300,
            order_type="stop",
            stop_price="3250.5",
            trigger_signal="mark",
        )
        for feed in ("open_orders", "open_orders_verbose"):
            messages = await private_subscribe(ws, feed)
            assert messages[0] == {"event": "subscribed", "feed": feed}
            snapshot = messages[1]
            assert snapshot["feed"] == f"{feed}_snapshot"
            assert snapshot["account"] == account.account_id
            by_id = {o["order_id"]: o for o in snapshot["orders"]}
            assert set(by_id) == {resting, stop}
            assert by_id[resting]["cli_ord_id"] == "my-1"
            assert by_id[resting]["direction"] == 1
            assert by_id[resting]["limit_price"] == Decimal("64000.5")
            assert by_id[resting]["stop_price"] == 0
            assert by_id[resting]["type"] == "limit"
            assert "triggerSignal" not in by_id[resting]
            assert by_id[stop]["type"] == "stop"
            assert by_id[stop]["direction"] == 0
            assert by_id[stop]["stop_price"] == Decimal("3250.5")
            assert by_id[stop]["triggerSignal"] == "mark"

        placed = account.place_order("PF_SOLUSD", "buy", "10", "149.5")
        account.fill(placed, "4", "149.5")
        account.fill(placed, "6", "149.5")
        account.cancel_order(resting)
        messages = await drain(ws)
        for feed in ("open_orders", "open_orders_verbose"):
            mine = [m for m in messages if m["feed"] == feed]
            assert [(m["is_cancel"], m["reason"]) for m in mine] == [
                (False, "new_placed_order_by_user"),
                (False, "partial_fill"),
                (True, "full_fill"),
                (True, "cancelled_by_user"),
            ]
            new, partial, full, cancel = mine
            assert new["order"]["order_id"] == placed
            assert new["order"]["filled"] == 0
            assert partial["order"]["filled"] == 4
            assert full["order"]["filled"] == 10
            assert full["order"]["qty"] == 10
            assert cancel == {
                "feed": feed,
                "order_id": resting,
                "cli_ord_id": "my-1",
                "is_cancel": True,
                "reason": "cancelled_by_user",
            }
        assert set(account.orders) == {stop}


async def test_fills_snapshot_deltas_and_product_filter() -> None:
    async with serving() as exchange, client(exchange) as everything, client(exchange) as eth_only:
        account = exchange.account
        early = account.place_order("PI_XBTUSD", "buy", 100, 64000)
        early_fill = account.fill(
            early, 40, "64000", fill_type="taker", fee_paid="0.0001", fee_currency="XBT"
        )
        snapshot = (await private_subscribe(everything, "fills"))[1]
        assert snapshot["feed"] == "fills_snapshot"
        assert snapshot["account"] == account.account_id
        (record,) = snapshot["fills"]
        assert record["fill_id"] == early_fill
        assert record["order_id"] == early
        assert record["buy"] is True
        assert record["qty"] == 40
        assert record["remaining_order_qty"] == 60
        assert record["fill_type"] == "taker"
        assert record["fee_paid"] == Decimal("0.0001")
        assert record["fee_currency"] == "XBT"
        assert record["order_type"] == "lmt"

        filtered = await private_subscribe(eth_only, "fills", product_ids=["PF_ETHUSD"])
        assert filtered == [
            {"event": "subscribed", "feed": "fills", "product_ids": ["PF_ETHUSD"]},
            {"feed": "fills_snapshot", "account": account.account_id, "fills": []},
        ]
        assert exchange.live_subscriptions()[max(exchange.live_subscriptions())] == {
            ("fills", "PF_ETHUSD")
        }

        account.fill(early, 60, "63999.5")
        eth = account.place_order("PF_ETHUSD", "sell", "1.25", "3201.1")
        account.fill(eth, "1.25", "3201.1")
        all_fills = [m for m in await drain(everything) if m["feed"] == "fills"]
        eth_fills = [m for m in await drain(eth_only) if m["feed"] == "fills"]
        assert [m["fills"][0]["instrument"] for m in all_fills] == ["PI_XBTUSD", "PF_ETHUSD"]
        assert [m["fills"][0]["instrument"] for m in eth_fills] == ["PF_ETHUSD"]
        assert eth_fills[0]["username"] == account.account_id
        assert eth_fills[0]["fills"][0]["buy"] is False
        assert eth_fills[0]["fills"][0]["qty"] == Decimal("1.25")
        assert [m["fills"][0]["seq"] for m in all_fills] == [2, 3]


async def test_open_positions_messages_carry_the_whole_list_and_a_seq() -> None:
    async with serving() as exchange, client(exchange) as ws:
        account = exchange.account
        account.set_position("PF_XBTUSD", "0.04", entry_price="26911.75", mark_price="29900.5")
        first = await private_subscribe(ws, "open_positions")
        assert first[0] == {"event": "subscribed", "feed": "open_positions"}
        assert first[1]["feed"] == "open_positions"
        (position,) = first[1]["positions"]
        assert position["instrument"] == "PF_XBTUSD"
        assert position["balance"] == Decimal("0.04")
        assert position["pnl"] == (Decimal("29900.5") - Decimal("26911.75")) * Decimal("0.04")
        account.set_position("PF_ETHUSD", "-2", entry_price="3200")
        account.set_position("PF_XBTUSD", 0, entry_price="1")
        updates = await drain(ws)
        assert [[p["instrument"] for p in m["positions"]] for m in updates] == [
            ["PF_XBTUSD", "PF_ETHUSD"],
            ["PF_ETHUSD"],
        ]
        assert [m["seq"] for m in updates] == [first[1]["seq"] + 1, first[1]["seq"] + 2]


async def test_balances_snapshot_then_deltas() -> None:
    async with serving() as exchange, client(exchange) as ws:
        account = exchange.account
        account.set_balance("USD", "1000.50")
        first = await private_subscribe(ws, "balances")
        assert first[0] == {"event": "subscribed", "feed": "balances"}
        snapshot = first[1]
        assert snapshot["feed"] == "balances_snapshot"
        assert snapshot["account"] == account.account_id
        assert snapshot["flex_futures"]["currencies"]["USD"]["quantity"] == Decimal("1000.50")
        assert snapshot["flex_futures"]["balance_value"] == Decimal("1000.50")
        account.set_balance("XBT", "0.5")
        account.set_balance("XBT", "0.25", wallet="holding")
        deltas = await drain(ws)
        assert [m["feed"] for m in deltas] == ["balances", "balances"]
        assert [m["seq"] for m in deltas] == [snapshot["seq"] + 1, snapshot["seq"] + 2]
        assert deltas[0]["flex_futures"]["currencies"]["XBT"]["value"] == Decimal("32500.0")
        assert deltas[0]["flex_futures"]["balance_value"] == Decimal("33500.50")
        assert deltas[1]["holding"] == {"XBT": Decimal("0.25")}
        with pytest.raises(ValueError, match="no USD price"):
            account.set_balance("ZZZ", 1)


async def test_account_log_snapshot_then_new_entries() -> None:
    async with serving() as exchange, client(exchange) as ws:
        account = exchange.account
        first_id = account.add_log_entry(
            asset="USD", info="futures trade", old_balance=0, new_balance="10", fee="0.1"
        )
        first = await private_subscribe(ws, "account_log")
        assert first[1]["feed"] == "account_log_snapshot"
        (entry,) = first[1]["logs"]
        assert entry["id"] == first_id
        assert entry["fee"] == Decimal("0.1")
        # Absent fields are 0.0 and "" as in Kraken's samples, never null.
        assert entry["trade_price"] == Decimal("0.0")
        assert entry["execution"] == ""
        assert None not in entry.values()
        second_id = account.add_log_entry(
            asset="USD",
            info="funding rate change",
            old_balance="10",
            new_balance="9.5",
            realized_funding="-0.5",
        )
        (update,) = await drain(ws)
        assert update["feed"] == "account_log"
        assert update["new_entry"]["id"] == second_id != first_id
        assert update["new_entry"]["realized_funding"] == Decimal("-0.5")
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", update["new_entry"]["date"])
        with pytest.raises(ValueError, match="unknown account log fields"):
            account.add_log_entry(asset="USD", info="x", old_balance=0, new_balance=0, colour="red")


async def test_notifications_auth() -> None:
    async with serving() as exchange, client(exchange) as ws:
        first = await private_subscribe(ws, "notifications_auth")
        assert first == [
            {"event": "subscribed", "feed": "notifications_auth"},
            {"feed": "notifications_auth", "notifications": []},
        ]
        note_id = exchange.account.notify(
            "Maintenance at noon", type="maintenance", priority="high", expected_downtime_minutes=30
        )
        (message,) = await drain(ws)
        (notification,) = message["notifications"]
        assert notification["id"] == note_id
        assert notification["type"] == "maintenance"
        assert notification["priority"] == "high"
        assert notification["note"] == "Maintenance at noon"
        assert notification["expected_downtime_minutes"] == 30
        assert isinstance(notification["effective_time"], int)


async def test_tiny_account_numbers_are_written_in_fixed_point() -> None:
    async with serving() as exchange, client(exchange) as ws:
        await private_subscribe(ws, "fills")
        order = exchange.account.place_order("PF_ETHUSD", "buy", "0.001", "3000")
        exchange.account.fill(order, "0.001", "3000", fee_paid="0.00000001")
        await send(ws, {"event": "ping"})
        with trio.fail_after(WAIT):
            raw = await ws.get_message()
        assert isinstance(raw, str)
        assert '"fee_paid":0.00000001,' in raw
        assert '"remaining_order_qty":0.000,' in raw


def test_account_rejects_bad_scripts() -> None:
    account = FuturesAccount(seed=1)
    order = account.place_order("PF_ETHUSD", "buy", "1", "3000")
    with pytest.raises(ValueError, match="fill qty"):
        account.fill(order, "2", "3000")
    with pytest.raises(KeyError, match="no open futures order"):
        account.cancel_order("nope")
    with pytest.raises(TypeError, match="Decimal, int or str"):
        account.place_order("PF_ETHUSD", "buy", 1.5, "3000")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="needs stop_price"):
        account.place_order("PF_ETHUSD", "buy", "1", "3000", order_type="stop")
    assert FuturesAccount(seed=1).place_order("PF_ETHUSD", "buy", "1", "3000") == order


# --------------------------------------------------------------------------------------------
# faults


async def test_drop_closes_every_connection_with_a_close_frame() -> None:
    async with serving() as exchange, client(exchange) as first, client(exchange) as second:
        await subscribe(first, "book", "PI_XBTUSD")
        assert await exchange.faults.drop() == 2
        for ws in (first, second):
            with pytest.raises(ConnectionClosed) as closed:  # noqa: PT012 - drain pending data first
                while True:
                    await recv(ws)
            assert close_code(closed.value) == 1001
        assert exchange.live_subscriptions() == {}


async def test_drop_with_reset_sends_a_tcp_reset_not_a_close_frame() -> None:
    async with serving() as exchange:
        stream, _ = await raw_client(exchange)
        async with stream:
            assert await exchange.faults.drop(reset=True) == 1
            with trio.fail_after(WAIT), pytest.raises(trio.BrokenResourceError):
                await stream.receive_some()


async def test_drop_without_reset_is_a_close_frame_on_the_wire() -> None:
    async with serving() as exchange:
        stream, ws = await raw_client(exchange)
        dropped: list[int] = []

        async def drop() -> None:
            dropped.append(await exchange.faults.drop())

        async with stream, trio.open_nursery() as nursery:
            nursery.start_soon(drop)
            seen = await raw_until(stream, ws, lambda e: isinstance(e, CloseConnection))
            close = seen[-1]
            assert isinstance(close, CloseConnection)
            assert close.code == 1001
            await stream.send_all(ws.send(close.response()))
        assert dropped == [1]
        assert exchange.live_subscriptions() == {}


async def test_stall_pongs_withholds_protocol_and_json_pongs() -> None:
    async with serving() as exchange:
        stream, ws = await raw_client(exchange)
        async with stream:
            exchange.faults.stall_pongs = True
            # One write: a protocol ping, a JSON ping, then a request that is always answered.
            # The server handles frames in order and answers pings before it reads on, so any
            # pong would arrive before the challenge reply.
            await stream.send_all(
                ws.send(Ping(b"stalled"))
                + ws.send(TextMessage(data='{"event":"ping"}'))
                + ws.send(TextMessage(data=json.dumps({"event": "challenge", "api_key": KEY})))
            )
            seen = await raw_until_text(stream, ws)
            assert not [e for e in seen if isinstance(e, Pong)]
            texts = [json.loads(e.data) for e in seen if isinstance(e, TextMessage)]
            assert [t["event"] for t in texts] == ["challenge"]

            exchange.faults.stall_pongs = False
            await stream.send_all(
                ws.send(Ping(b"after")) + ws.send(TextMessage(data='{"event":"ping"}'))
            )
            seen = await raw_until_text(stream, ws)
            assert [e.payload for e in seen if isinstance(e, Pong)] == [b"after"]
            assert [json.loads(e.data) for e in seen if isinstance(e, TextMessage)] == [
                {"event": "pong"}
            ]
        assert [r.message["event"] for r in exchange.received] == ["ping", "challenge", "ping"]


async def test_trio_websocket_client_ping_gets_no_pong_while_stalled() -> None:
    async with serving() as exchange, client(exchange) as ws:
        exchange.faults.stall_pongs = True
        with trio.move_on_after(0.2) as waited:  # absence can only be shown by waiting a while
            await ws.ping(b"stalled")
        assert waited.cancelled_caught
        exchange.faults.stall_pongs = False
        with trio.fail_after(WAIT):
            await ws.ping(b"after")


async def test_delay_holds_back_every_reply() -> None:
    async with serving() as exchange, client(exchange) as ws:
        exchange.faults.delay = 0.3
        start = trio.current_time()
        await send(ws, {"event": "ping"})
        await send(ws, {"event": "subscribe", "feed": "heartbeat"})
        assert await recv(ws) == {"event": "pong"}
        assert trio.current_time() - start >= 0.3
        assert await recv(ws) == {"event": "subscribed", "feed": "heartbeat"}
        exchange.faults.delay = 0.0
        assert await drain(ws) == []


async def test_send_raw_text_and_binary_frames() -> None:
    async with serving() as exchange, client(exchange) as first, client(exchange) as second:
        await exchange.faults.send_raw('{"feed":"book", oops')
        await exchange.faults.send_raw(b"\x00\x01binary")
        for ws in (first, second):
            with trio.fail_after(WAIT):
                assert await ws.get_message() == '{"feed":"book", oops'
                assert await ws.get_message() == b"\x00\x01binary"


async def test_refuse_rejects_handshakes_until_lifted(mock_clock: trio.testing.MockClock) -> None:
    mock_clock.rate = 1.0  # real time flows; the test jumps over the refusal window
    async with serving() as exchange, client(exchange) as already_open:
        exchange.faults.refuse(60)
        refusing = exchange.faults.refusing
        assert refusing
        assert await handshake_status(exchange) == 503
        await send(already_open, {"event": "ping"})
        assert await recv(already_open) == {"event": "pong"}  # open connections keep working
        mock_clock.jump(60)
        assert not exchange.faults.refusing
        async with client(exchange):
            pass
        exchange.faults.refuse(60)
        exchange.faults.refuse(0)
        async with client(exchange):
            pass


async def test_restart_closes_with_1012_and_starts_clean() -> None:
    async with serving() as exchange:
        async with client(exchange) as ws:
            original = await challenge(ws)
            await send(ws, signed("open_orders", original))
            await drain(ws)
            old_ids = set(exchange.live_subscriptions())
            await exchange.faults.restart()
            with pytest.raises(ConnectionClosed) as closed:  # noqa: PT012 - drain pending data first
                while True:
                    await recv(ws)
            assert close_code(closed.value) == 1012
        async with client(exchange) as ws:
            (new_id,) = exchange.live_subscriptions()
            assert new_id not in old_ids
            assert exchange.live_subscriptions()[new_id] == set()
            # A challenge from before the restart is worthless on the new connection.
            await send(ws, signed("open_orders", original))
            assert await recv(ws) == {
                "event": "alert",
                "message": "Failed to subscribe to authenticated feed",
            }


async def test_skip_seq_loses_one_delta() -> None:
    async with serving(seed=5) as exchange, client(exchange) as ws:
        snapshot = (await subscribe(ws, "book", "PF_ETHUSD", "PI_XBTUSD"))[1]
        exchange.faults.skip_seq("PF_ETHUSD")
        for _ in range(5):
            await exchange.step()
        deltas = [m for m in await drain(ws) if m.get("feed") == "book"]
        eth = [d["seq"] for d in deltas if d["product_id"] == "PF_ETHUSD"]
        xbt = [d["seq"] for d in deltas if d["product_id"] == "PI_XBTUSD"]
        assert snapshot["product_id"] == "PF_ETHUSD"
        assert eth[0] == snapshot["seq"] + 2
        assert eth == list(range(eth[0], eth[0] + len(eth)))
        assert xbt == list(range(xbt[0], xbt[0] + len(xbt)))
        with pytest.raises(KeyError, match="does not list"):
            exchange.faults.skip_seq("PI_NOPEUSD")


async def test_slow_consumer_is_disconnected_not_silently_dropped() -> None:
    async with serving() as exchange:
        stream, ws = await raw_client(exchange)
        async with stream:
            subscription = json.dumps(
                {"event": "subscribe", "feed": "book", "product_ids": ["PI_XBTUSD"]}
            )
            await stream.send_all(ws.send(TextMessage(data=subscription)))
            with trio.fail_after(WAIT):
                await exchange.wait_until(lambda: any(exchange.live_subscriptions().values()))
                # Never read: the server's queue must overflow and the link be closed.
                while exchange.live_subscriptions():
                    await exchange.step()
