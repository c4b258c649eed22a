"""The pure session, driven by plain synchronous calls: no sockets, no clock, no tasks.

A recording host stands in for the connection: it keeps the frames the session sends and the
events it emits; time is whatever number the test passes as ``now``.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import trio
import trio.testing

from kraken_trio import Config, Gap, WsKey
from kraken_trio._errors import ClosedError, ConnectionLostError, KrakenError, RequestTimeoutError
from kraken_trio._events import LifecycleEvent
from kraken_trio._proto.futures_session import FuturesDialect
from kraken_trio._proto.livestate import live_state_for
from kraken_trio._proto.session import BookChange, Session
from kraken_trio._proto.spot_session import SpotDialect, encode_spot_request
from kraken_trio._subscription import Inbox, Subscription

PUBLIC = WsKey.SPOT_PUBLIC_V2
FUTURES = WsKey.DERIVATIVES_PUBLIC_V1
TIMES = '"time_in":"2026-01-01T00:00:00.000000Z","time_out":"2026-01-01T00:00:00.000001Z"'


class Flag:
    def __init__(self) -> None:
        self.value = False

    def set(self) -> None:
        self.value = True

    def is_set(self) -> bool:
        return self.value


class Host:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.events: list[LifecycleEvent] = []
        self.auth_requests = 0
        self.link = True
        self.aborted: KrakenError | None = None

    def send(self, frame: bytes) -> bool:
        if self.link:
            self.sent.append(json.loads(frame))
        return self.link

    def emit(self, event: LifecycleEvent) -> None:
        self.events.append(event)

    def waker(self) -> Flag:
        return Flag()

    def need_auth(self) -> None:
        self.auth_requests += 1

    def abort(self, error: KrakenError) -> None:
        self.aborted = error


class User:
    def __init__(self, wants_changes: bool = False) -> None:
        self.wants_changes = wants_changes
        self.items: list[Any] = []
        self.ended: list[BaseException | None] = []

    def deliver(self, item: Any) -> None:
        self.items.append(item)

    def fail(self, error: BaseException | None) -> None:
        self.ended.append(error)


def session(key: WsKey = PUBLIC, **config: Any) -> tuple[Session, Host]:
    host = Host()
    futures = key.is_futures
    s = Session(
        key,
        Config(**config),
        host,
        FuturesDialect if futures else SpotDialect,
        lambda channel, symbol, params: live_state_for(futures, channel, symbol, params),
    )
    s.link_up(0.0)
    return s, host


def ack(s: Session, channel: str, symbol: str | None, req_id: int, now: float = 0.0) -> None:
    result: dict[str, Any] = {"channel": channel}
    if symbol is not None:
        result["symbol"] = symbol
    s.dialect.receive(
        json.dumps({"method": "subscribe", "req_id": req_id, "success": True, "result": result})[
            :-1
        ]
        + ","
        + TIMES
        + "}",
        now,
    )


def test_a_subscribe_is_acked_per_symbol_through_the_one_correlator() -> None:
    s, host = session()
    user = User()
    wires = s.attach(user, "ticker", ["BTC/USD", "ETH/USD"], {}, 0.0)
    (frame,) = host.sent
    assert frame["params"]["symbol"] == ["BTC/USD", "ETH/USD"]
    assert len(s.correlator) == 1
    ack(s, "ticker", "BTC/USD", frame["req_id"])
    assert [w.state for w in wires] == ["active", "pending"]
    assert len(s.correlator) == 1  # still waiting for ETH/USD
    ack(s, "ticker", "ETH/USD", frame["req_id"])
    assert all(w.acked.is_set() for w in wires)
    assert len(s.correlator) == 0


def test_abandoned_subscribes_leave_nothing_behind() -> None:
    # Defect: the table of in-flight subscribes grew by one entry per subscribe abandoned
    # before its ack, until the link dropped.
    s, _host = session(request_timeout=3.0)
    for i in range(500):
        user = User()
        wires = s.attach(user, "ticker", [f"X{i}/USD"], {}, float(i))
        s.detach(user, wires, float(i))
        s.tick(float(i))
    s.tick(1000.0)
    assert len(s.correlator) == 0
    assert s.wires == {}


def test_a_partly_refused_subscribe_is_forgotten() -> None:
    s, host = session()
    user = User()
    s.attach(user, "ticker", ["BTC/USD", "NOPE/USD"], {}, 0.0)
    req_id = host.sent[0]["req_id"]
    ack(s, "ticker", "BTC/USD", req_id)
    s.dialect.receive(
        f'{{"method":"subscribe","req_id":{req_id},"success":false,"symbol":"NOPE/USD",'
        f'"error":"Currency pair not supported NOPE/USD",{TIMES}}}',
        0.0,
    )
    assert len(s.correlator) == 0
    assert list(s.wires) == [("ticker", "BTC/USD")]  # the refused symbol's wire is gone
    assert user.ended
    assert user.ended[0] is not None


def test_a_subscribe_in_flight_when_the_client_closes_fails_at_once() -> None:
    # Defect: it got RequestTimeoutError after its whole deadline instead of ClosedError.
    s, _ = session()
    (wire,) = s.attach(User(), "ticker", ["BTC/USD"], {}, 0.0)
    s.close()
    assert wire.acked.is_set()
    assert isinstance(wire.error, ClosedError)


def test_the_subscribe_deadline_runs_from_the_send_not_from_the_attach() -> None:
    s, host = session(request_timeout=3.0)
    s.link_down(0.0)
    (wire,) = s.attach(User(), "ticker", ["BTC/USD"], {}, 0.0)
    assert host.sent == []  # nothing sent while the link is down
    s.link_up(20.0)  # the link came back much later
    s.tick(22.0)
    assert wire.state == "pending"  # not expired: only 2 s since it was sent
    s.tick(23.0)
    assert isinstance(wire.error, RequestTimeoutError)


def test_a_request_lost_with_the_link_names_its_ids() -> None:
    s, _ = session(key=WsKey.SPOT_PRIVATE_V2)
    from kraken_trio._proto import spot as sp

    sent = s.requests.request(
        "add_order",
        sp.AddOrderParams(
            order_type="market",
            side="buy",
            symbol="BTC/USD",
            order_qty=Decimal(1),
            cl_ord_id="c-1",
        ),
        encode_spot_request,
        0.0,
        cl_ord_id="c-1",
        order_userref=7,
    )
    assert sent is not None
    call, _ = sent
    s.link_down(0.1)
    error = call.error
    assert isinstance(error, ConnectionLostError)
    assert (error.method, error.req_id, error.cl_ord_id, error.order_userref) == (
        "add_order",
        call.req_id,
        "c-1",
        7,
    )
    assert error.sent is True


def test_futures_acks_match_every_product_of_the_ack() -> None:
    # Defect: acks were matched on product_ids[0] only.
    s, _host = session(key=FUTURES)
    wires = s.attach(User(), "ticker", ["PI_XBTUSD", "PI_ETHUSD"], {}, 0.0)
    s.dialect.receive(
        '{"event":"subscribed","feed":"ticker","product_ids":["pi_ethusd","PI_XBTUSD"]}', 0.0
    )
    assert [w.state for w in wires] == ["active", "active"]


def test_an_unrelated_futures_alert_does_not_fail_an_innocent_subscribe() -> None:
    # Defect: error/alert events were blamed on the oldest pending subscribe.
    s, _ = session(key=FUTURES)
    ticker = s.attach(User(), "ticker", ["PI_XBTUSD"], {}, 0.0)
    trade = s.attach(User(), "trade", ["PI_XBTUSD"], {}, 0.0)
    s.dialect.receive('{"event":"alert","message":"Bad websocket message"}', 0.0)
    assert ticker[0].error is None
    assert trade[0].error is None
    assert s.last_server_error == "Bad websocket message"


def test_a_bad_checksum_resyncs_with_backoff_not_in_a_loop() -> None:
    # Defect: a checksum that never verifies made ~1,100 unsubscribe+subscribe pairs a second.
    s, host = session()
    reader = User(wants_changes=True)
    (wire,) = s.attach(reader, "book", ["BTC/USD"], {"depth": 10}, 0.0)
    snap = (
        '{"channel":"book","type":"snapshot","data":[{"symbol":"BTC/USD","bids":'
        '[{"price":1,"qty":1}],"asks":[{"price":2,"qty":1}],"checksum":%d}]}'
    )
    ack(s, "book", "BTC/USD", host.sent[0]["req_id"])
    now = 0.0
    for _ in range(600):  # a server whose checksums never verify, for 60 s
        now += 0.1
        s.tick(now)
        if wire.state == "pending" and wire.request is not None:
            ack(s, "book", "BTC/USD", wire.request.req_id, now)
        s.dialect.receive(snap % 1, now)
    subscribes = [f for f in host.sent if f["method"] == "subscribe"]
    assert len(subscribes) < 15  # backoff: 0.5, 1, 2, 4, ... capped at 30 s
    kinds = [c.kind for c in reader.items if isinstance(c, BookChange)]
    assert "untrusted" in kinds
    assert any(e.kind == "exception" for e in host.events)


def test_a_second_subscriber_joins_a_live_book_from_the_kept_state() -> None:
    s, host = session()
    first = User()
    s.attach(first, "book", ["BTC/USD"], {"depth": 10}, 0.0)
    ack(s, "book", "BTC/USD", host.sent[0]["req_id"])
    # The checksum of this two-level book (ask 2 x 1, bid 1 x 1), as Kraken computes it.
    from kraken_trio._proto.book import L2Book
    from kraken_trio._proto.spot import PriceLevel

    reference = L2Book("BTC/USD", 10, None, None)
    one, two = Decimal(1), Decimal(2)
    reference.apply_snapshot([PriceLevel(one, one)], [PriceLevel(two, one)])
    s.dialect.receive(
        '{"channel":"book","type":"snapshot","data":[{"symbol":"BTC/USD","bids":'
        '[{"price":1,"qty":1}],"asks":[{"price":2,"qty":1}],'
        f'"checksum":{reference.checksum()}}}]}}',
        0.0,
    )
    second = User()
    s.attach(second, "book", ["BTC/USD"], {"depth": 10}, 1.0)
    (snapshot,) = second.items
    assert snapshot.type == "snapshot"
    assert snapshot.data[0].checksum == reference.checksum()
    assert len(host.sent) == 1  # no new subscribe, no resync
    assert not any(isinstance(i, Gap) for i in first.items)


def test_an_empty_snapshot_reaches_its_subscriber() -> None:
    s, host = session()
    user = User()
    s.attach(user, "trade", ["BTC/USD"], {}, 0.0)
    ack(s, "trade", "BTC/USD", host.sent[0]["req_id"])
    s.dialect.receive('{"channel":"trade","type":"snapshot","data":[]}', 0.0)
    (msg,) = user.items
    assert msg.type == "snapshot"
    assert msg.data == []


# ------------------------------------------------------------------ the subscription object


class StubHost:
    key = PUBLIC

    def __init__(self) -> None:
        self.detached = 0
        self.first_item: Any = None

    async def attach(self, inbox: Inbox, channel: str, symbols: Any, params: Any) -> list[Any]:
        await trio.lowlevel.checkpoint()
        if self.first_item is not None:
            inbox.deliver(self.first_item)
        return []

    def detach_nowait(self, inbox: Inbox, handles: list[Any]) -> None:
        self.detached += 1


async def test_cancelling_a_waiting_anext_never_loses_a_message() -> None:
    # Defect: the fast path took a message before checking for cancellation, so a
    # cancelled __anext__ could drop it silently.
    host = StubHost()
    sub: Subscription[int] = Subscription(
        lambda: host, PUBLIC, "trade", ["BTC/USD"], {}, buffer_size=100, on_overflow="raise"
    )
    await sub.open()
    for i in range(10):
        sub._inbox.deliver(i)
    seen = []
    with trio.fail_after(5):  # a lost message would leave the last read waiting forever
        for _ in range(10):
            with trio.CancelScope() as scope:
                scope.cancel()
                seen.append(await sub.__anext__())
            seen.append(await sub.__anext__())
    assert seen == list(range(10))


async def test_a_subscription_dropped_without_async_with_is_released() -> None:
    # Defect: `async for msg in k.subscribe(...): break` was never released: the
    # connection's reference kept the subscription (and its wire) alive.
    host = StubHost()
    host.first_item = "hello"
    for _ in range(20):
        async for msg in Subscription[str](
            lambda: host, PUBLIC, "trade", ["BTC/USD"], {}, buffer_size=10, on_overflow="raise"
        ):
            assert msg == "hello"
            break
    assert host.detached == 20


def test_latest_never_swallows_gap_markers() -> None:
    # Defect: on_overflow="latest" conflated Gap(reason="reconnect") markers away.
    inbox = Inbox(PUBLIC, "ticker", 4, "latest")
    for i in range(10):
        inbox.deliver(Gap(reason="reconnect", ws_key=PUBLIC))
        inbox.deliver(("tick", i))
    items = []
    while True:
        try:
            items.append(inbox.recv.receive_nowait())
        except trio.WouldBlock:
            break
    gaps = [i for i in items if isinstance(i, Gap)]
    assert len(gaps) + inbox.lost >= 10  # every marker is seen, or counted as lost
    assert inbox.pending_lost == inbox.lost


def test_resubscribing_while_the_unsubscribe_waits_for_its_turn_keeps_the_subscription() -> None:
    # The storm found it: leaving and rejoining a channel while the pacer still held the
    # unsubscribe sent a second subscribe, which Kraken refuses ("Already subscribed").
    s, host = session()
    first = User()
    wires = s.attach(first, "ticker", ["BTC/USD"], {}, 0.0)
    ack(s, "ticker", "BTC/USD", host.sent[0]["req_id"])
    s.pacer.reset(0.0)
    s.pacer._tokens = 0.0  # the bucket is empty: the unsubscribe must wait
    s.detach(first, wires, 0.0)
    again = User()
    (wire,) = s.attach(again, "ticker", ["BTC/USD"], {}, 0.0)
    s.tick(10.0)  # the bucket refilled long ago
    assert [f["method"] for f in host.sent] == ["subscribe"]
    assert wire.state == "active"
    assert wire.acked.is_set()


def test_bad_books_arriving_while_a_resync_waits_neither_count_nor_overflow() -> None:
    # Found measuring the figures: every bad message during the backoff counted as one more
    # failed resync, and after ~1,000 the backoff's 2**n overflowed a float.
    s, host = session()
    (wire,) = s.attach(User(wants_changes=True), "book", ["BTC/USD"], {"depth": 10}, 0.0)
    ack(s, "book", "BTC/USD", host.sent[0]["req_id"])
    bad = (
        '{"channel":"book","type":"snapshot","data":[{"symbol":"BTC/USD","bids":'
        '[{"price":1,"qty":1}],"asks":[{"price":2,"qty":1}],"checksum":1}]}'
    )
    now = 0.0
    for _ in range(60_000):  # ten minutes of a bad snapshot every 10 ms
        now += 0.01
        s.tick(now)
        if wire.state == "pending" and wire.request is not None:
            ack(s, "book", "BTC/USD", wire.request.req_id, now)
        s.dialect.receive(bad, now)
    subscribes = sum(1 for f in host.sent if f["method"] == "subscribe")
    assert subscribes < 30  # about one a minute once the backoff is at its cap
    assert wire.resync_failures <= subscribes  # one per resync sent (and one scheduled)


def test_the_pacer_makes_progress_at_every_deadline_it_gives() -> None:
    # Found in the full suite: at the very time the pacer named for the next request, float
    # rounding could leave its bucket a hair short, so the timer woke, sent nothing, and got
    # the same deadline back: a busy loop that, under a mock clock, never let time advance.
    from kraken_trio._proto.pacing import Pacer

    for capacity, rate in ((10.0, 10.0), (180.0, 180.0), (45.0, 45.0), (3.0, 2.34)):
        s, _ = session()
        pacer = Pacer(capacity, rate, lambda group: 1.7 * len(group))
        pacer.reset(0.0)
        wires = s.attach(User(), "ticker", [f"S{i}/USD" for i in range(300)], {}, 0.0)
        for wire in wires:
            pacer.add("subscribe", [wire])
        sent: list[int] = []

        def send(method: str, group: list[Any], out: list[int] = sent) -> None:
            out.append(1)

        now = 0.0
        for _ in range(1000):
            deadline = pacer.next_time()
            if deadline is None:
                break
            assert deadline >= now
            now = deadline
            before = len(sent)
            pacer.pump(now, lambda method, wire: True, send)
            assert len(sent) > before  # every deadline it gives lets something go
        assert len(sent) == 300
