"""A seeded, bounded random fault storm against the fake exchange, with its verdict.

Used by ``tests/test_chaos.py`` (a short storm in CI) and ``tests/soak.py`` (``nox -s soak --
--minutes N``). While faults are drawn at random and injected into the spot public, spot
private and futures servers, the client keeps live subscriptions (verified books via
``k.book``, ``trade``, ``ticker``, ``executions``, ``balances``, futures books), churns short
subscriptions and places and cancels orders. Afterwards the faults are cleared, the client is
allowed to settle (by waiting on round trips and on trio's quiescence, never on a timer), and
every invariant is checked:

* every subscription is live exactly once on the server (one connection per endpoint, the
  expected set of channels and symbols, nothing missing, nothing revived);
* every local book equals the server's book;
* every order the client was told succeeded exists on the exchange, and the executions stream
  agrees with the exchange's open orders; the balances stream agrees with the account;
* every request ended in a result or a :class:`~kraken_trio.KrakenError` (none hung);
* no kraken_trio task is left once the client is closed;
* memory allocated by kraken_trio returned to its baseline.

:func:`run_storm` returns a :class:`StormSummary` whose ``violations`` list is empty when all
of that holds; ``str(summary)`` is the printable report.
"""

from __future__ import annotations

import gc
import logging
import random
import tracemalloc
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from typing import Any

import trio
import trio.testing

from kraken_trio import (
    EventStream,
    Gap,
    KrakenAPIError,
    KrakenClient,
    KrakenError,
    OrderBooks,
    WsKey,
    open_kraken,
)
from kraken_trio._proto import spot as s
from kraken_trio.testing import FakeKraken, open_fake_kraken

__all__ = ["FAULT_KINDS", "StormSummary", "run_storm"]

PUBLIC = WsKey.SPOT_PUBLIC_V2
PRIVATE = WsKey.SPOT_PRIVATE_V2
FUTURES = WsKey.DERIVATIVES_PUBLIC_V1
KEYS = (PUBLIC, PRIVATE, FUTURES)

SPOT_BOOKS = ["BTC/USD", "ETH/USD"]
FUTURES_BOOKS = ["PI_XBTUSD", "PF_ETHUSD"]
BOOK_DEPTH = 10
ORDER_SYMBOL = "BTC/USD"
ORDER_QTY = Decimal("0.001")
MAX_OPEN_ORDERS = 12

# Close the futures endpoint with close frames too (False resets it only: the fake futures
# server once crashed on a ping during its own closing handshake, fixed in 20650c0).
FUTURES_CLOSE_FRAMES = True

# Client deadlines: short, so a storm of a few seconds sees many reconnects.
CLIENT_OPTIONS: dict[str, Any] = {
    "ping_interval": 0.25,
    "pong_timeout": 0.4,
    "request_timeout": 2.0,
    "connect_timeout": 2.0,
    "auth_timeout": 2.0,
    "rest_timeout": 2.0,
    "close_timeout": 1.0,
    "reconnect_delay": 0.05,
    "reconnect_delay_max": 0.3,
}
# No request may outlive every deadline that could apply to it: past this it "hung".
HANG_BOUND = 2.0 + 2.0 + 2.0 + 2.0 + 3.0

# What the servers must hold after the storm (the churned subscriptions must be gone).
EXPECTED_PUBLIC = {
    ("book", "BTC/USD"),
    ("book", "ETH/USD"),
    ("ticker", "BTC/USD"),
    ("trade", "BTC/USD"),
    ("trade", "ETH/USD"),
}
EXPECTED_PRIVATE = {("executions", None), ("balances", None)}
EXPECTED_FUTURES = {("book", "PI_XBTUSD"), ("book", "PF_ETHUSD")}

FAULT_KINDS = (
    "drop",
    "reset",
    "stall_pongs",
    "restart",
    "refuse",
    "delay",
    "invalid_json",
    "binary_frame",
    "wrong_types",
    "unknown_channel",
    "bad_checksum",
    "seq_gap",
    "rate_limit",
    "token_expiry",
    "rest_error",
    "flapping",
)

_WRONG_TYPES = {
    PUBLIC: '{"channel":"ticker","type":"update","data":[{"symbol":"BTC/USD","bid":"x"}]}',
    PRIVATE: '{"channel":"executions","type":"update","data":[{"order_id":5}],"sequence":"a"}',
    FUTURES: '{"feed":"book","product_id":"PI_XBTUSD","side":"buy","seq":"x","price":1}',
}
_UNKNOWN = {
    PUBLIC: '{"channel":"mystery","type":"update","data":[]}',
    PRIVATE: '{"channel":"mystery","type":"update","data":[]}',
    FUTURES: '{"feed":"mystery","product_id":"PI_XBTUSD"}',
}


@dataclass
class StormSummary:
    """What a storm did and what was found afterwards.

    Attributes:
        seed: The seed of the fault sequence.
        seconds: How long faults were injected.
        faults: Faults injected, by kind.
        reconnects: Reconnect attempts of every connection.
        resyncs: Book resyncs (checksum mismatches, seq gaps) of every connection.
        requests_ok: Requests (orders, cancels, subscribes) that returned a result.
        requests_failed: Requests that raised a KrakenError, by error class.
        hung: Requests that outlived every deadline.
        messages: Frames the client received.
        lost: Messages lost by subscriptions (overflow) and lifecycle listeners.
        gaps: Gap markers delivered to subscribers (reconnects and resyncs made visible).
        bad_messages: Frames dropped as undecodable.
        unrouted: Frames nobody waited for (unknown channels, stale acks).
        silent_losses: Trade ids or private sequence numbers skipped with no gap marker.
        secrets_shown: Log lines (DEBUG included) and exception texts that contained the API
            secret or a WebSocket token.
        orders_confirmed: Orders the client was told were placed and not cancelled since.
        leftover_tasks: kraken_trio tasks alive after the client closed.
        memory_growth: Bytes allocated by kraken_trio and still held, final minus baseline.
        memory_top: The source lines that hold most of that growth.
        object_growth: kraken_trio objects alive, final minus baseline.
        settle_seconds: How long the client took to settle after the faults were cleared.
        violations: Every broken invariant, in words; empty when all held.
    """

    seed: int
    seconds: float
    faults: Counter[str] = field(default_factory=Counter)
    reconnects: int = 0
    resyncs: int = 0
    requests_ok: int = 0
    requests_failed: Counter[str] = field(default_factory=Counter)
    hung: int = 0
    messages: int = 0
    lost: int = 0
    gaps: int = 0
    bad_messages: int = 0
    unrouted: int = 0
    silent_losses: int = 0
    secrets_shown: int = 0
    orders_confirmed: int = 0
    leftover_tasks: list[str] = field(default_factory=list)
    memory_growth: int = 0
    memory_top: list[str] = field(default_factory=list)
    object_growth: int = 0
    settle_seconds: float = 0.0
    violations: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        faults = ", ".join(f"{k} {v}" for k, v in sorted(self.faults.items())) or "none"
        failed = ", ".join(f"{k} {v}" for k, v in sorted(self.requests_failed.items())) or "none"
        lines = [
            f"fault storm: seed {self.seed}, {self.seconds:.1f} s of faults, "
            f"settled in {self.settle_seconds:.2f} s",
            f"  faults injected ({sum(self.faults.values())}): {faults}",
            f"  reconnects {self.reconnects}, book resyncs {self.resyncs}, gap markers {self.gaps}",
            f"  requests completed {self.requests_ok}, failed with a KrakenError "
            f"{sum(self.requests_failed.values())} ({failed}), hung {self.hung}",
            f"  messages received {self.messages}, lost {self.lost} (silently "
            f"{self.silent_losses}), bad {self.bad_messages}, unrouted {self.unrouted}",
            f"  orders confirmed and found on the exchange {self.orders_confirmed}",
            f"  secrets in logs or exception texts {self.secrets_shown}, "
            f"leftover tasks {len(self.leftover_tasks)}, memory growth "
            f"{self.memory_growth} B, kraken_trio objects {self.object_growth:+d}",
            f"  memory growth by line: {', '.join(self.memory_top) or 'none'}",
            f"  violations {len(self.violations)}",
        ]
        lines.extend(f"    - {v}" for v in self.violations)
        return "\n".join(lines)


# ----------------------------------------------------------------------------------- helpers


def _task_names() -> list[str]:
    names: list[str] = []

    def walk(task: trio.lowlevel.Task) -> None:
        names.append(task.name)
        for nursery in task.child_nurseries:
            for child in nursery.child_tasks:
                walk(child)

    root = trio.lowlevel.current_root_task()
    assert root is not None
    walk(root)
    return names


def client_tasks() -> list[str]:
    """Names of living kraken_trio client tasks (the fake's own tasks excluded)."""
    return [n for n in _task_names() if "kraken_trio" in n and "kraken_trio.testing" not in n]


def _ours_snapshot(fake: FakeKraken) -> tracemalloc.Snapshot:
    """What kraken_trio's own code allocated and is still held (the fake's code excluded).

    tracemalloc charges a block to the line that first allocated it, and CPython recycles
    freed dicts and lists through free lists: a dict the client made and dropped can live on
    as one of the frames the fake exchange records in ``received``. That record grows for
    the whole storm, so it is emptied before each snapshot (nothing reads it afterwards).
    """
    for key in (PUBLIC, PRIVATE, FUTURES):
        fake.received(key).clear()
    gc.collect()
    return tracemalloc.take_snapshot().filter_traces(
        [
            tracemalloc.Filter(True, "*/kraken_trio/*"),
            tracemalloc.Filter(False, "*/kraken_trio/testing/*"),
        ]
    )


def _growth(before: tracemalloc.Snapshot, after: tracemalloc.Snapshot) -> tuple[int, list[str]]:
    """Bytes still held by kraken_trio's allocations, after minus before, and the top lines."""
    diff = after.compare_to(before, "lineno")
    total = sum(d.size_diff for d in diff)
    top = [
        f"{d.traceback[0].filename.split('/kraken_trio/')[-1]}:{d.traceback[0].lineno} "
        f"{d.size_diff:+d} B ({d.count_diff:+d})"
        for d in sorted(diff, key=lambda d: -d.size_diff)[:3]
        if d.size_diff > 0
    ]
    return total, top


def _object_count() -> int:
    gc.collect()
    count = 0
    for obj in gc.get_objects():
        # Some types (metaclass instances, extension types) have a descriptor here, not a str.
        module = getattr(type(obj), "__module__", "")
        if not isinstance(module, str):
            continue
        if module.startswith("kraken_trio") and not module.startswith("kraken_trio.testing"):
            count += 1
    return count


class _Consumer:
    """Counters of one consumer task."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.messages = 0
        self.gaps = 0
        self.error: BaseException | None = None
        self.subscription: Any = None


class _Storm:
    def __init__(self, fake: FakeKraken, k: KrakenClient, summary: StormSummary) -> None:
        self.fake = fake
        self.k = k
        self.rng = random.Random(summary.seed)
        self.seconds = summary.seconds
        self.summary = summary
        self.futures_close_frames = FUTURES_CLOSE_FRAMES
        self.stop = trio.Event()
        self.consumers: list[_Consumer] = []
        self.spot_books: OrderBooks | None = None
        self.futures_books: OrderBooks | None = None
        self.exec_open: set[str] = set()
        self.exec_snapshots = 0
        self.balances: dict[str, Decimal] = {}
        self.confirmed: dict[str, str] = {}  # order_id -> cl_ord_id, told placed
        self.cancelled: set[str] = set()  # told cancelled
        self.uncertain: set[str] = set()  # cl_ord_ids whose outcome the client cannot know
        self.event_counts: Counter[str] = Counter()
        self.sequences: dict[str, int] = {}
        self.tokens: set[str] = set()
        self.texts: list[str] = []  # exception texts and reprs seen, for the secrets check
        self.trade_ids: dict[str, int] = {}
        self.listeners: list[EventStream] = []

    # ------------------------------------------------------------------ bookkeeping

    def violation(self, text: str) -> None:
        self.summary.violations.append(text)

    async def bounded(self, what: str, fn: Callable[[], Awaitable[Any]]) -> tuple[bool, Any]:
        """Run one request; classify it as completed, failed with a KrakenError, or hung."""
        with trio.move_on_after(HANG_BOUND) as scope:
            try:
                result = await fn()
            except KrakenAPIError as exc:
                self.texts.append(f"{exc} {exc!r}")
                self.summary.requests_failed[f"{type(exc).__name__} {exc.error[:40]}"] += 1
                return False, exc
            except KrakenError as exc:
                self.texts.append(f"{exc} {exc!r}")
                self.summary.requests_failed[type(exc).__name__] += 1
                return False, exc
            except Exception as exc:  # anything else is a bug: record it, keep storming
                self.texts.append(f"{exc} {exc!r}")
                self.summary.requests_failed[type(exc).__name__] += 1
                self.violation(f"{what} raised {type(exc).__name__} (not a KrakenError): {exc}")
                return False, exc
            self.summary.requests_ok += 1
            return True, result
        assert scope.cancelled_caught
        self.summary.hung += 1
        self.violation(f"{what} hung for more than {HANG_BOUND} s")
        return False, None

    # ------------------------------------------------------------------ consumers

    async def consume(
        self, name: str, make: Callable[[], Any], on_msg: Callable[[Any], None] | None = None
    ) -> None:
        consumer = _Consumer(name)
        self.consumers.append(consumer)
        try:
            async with make() as sub:
                consumer.subscription = sub
                async for msg in sub:
                    consumer.messages += 1
                    if isinstance(msg, Gap):
                        consumer.gaps += 1
                    if on_msg is not None:
                        on_msg(msg)
        except KrakenError as exc:
            consumer.error = exc
            self.violation(f"subscription {name} ended with {type(exc).__name__}: {exc}")

    async def consume_books(
        self,
        name: str,
        make: Callable[[], Any],
        task_status: trio.TaskStatus[OrderBooks],
    ) -> None:
        consumer = _Consumer(name)
        self.consumers.append(consumer)
        try:
            async with make() as books:
                consumer.subscription = books
                task_status.started(books)
                async for event in books:
                    consumer.messages += 1
                    consumer.gaps += event.kind in ("gap", "resync")
        except KrakenError as exc:
            consumer.error = exc
            self.violation(f"book {name} ended with {type(exc).__name__}: {exc}")

    def in_sequence(self, channel: str, msg: Any) -> None:
        """Private messages carry a per-connection ``sequence``: a jump without a gap marker
        before it is a message lost silently."""
        if isinstance(msg, Gap):
            self.sequences.pop(channel, None)
            return
        seq = getattr(msg, "sequence", None)
        last = self.sequences.get(channel)
        if seq is not None and last is not None and seq != last + 1:
            self.summary.silent_losses += 1
            self.violation(f"{channel}: sequence {last} then {seq} with no gap marker between")
        if seq is not None:
            self.sequences[channel] = seq

    def on_trade(self, msg: Any) -> None:
        """Trade ids of a symbol are consecutive: a jump without a gap marker is a loss."""
        if isinstance(msg, Gap):
            self.trade_ids.clear()
            return
        if not isinstance(msg, s.TradeMessage):
            return
        if msg.type == "snapshot":  # the recent trades, in whatever order: the newest counts
            for trade in msg.data:
                newest = self.trade_ids.get(trade.symbol, trade.trade_id)
                self.trade_ids[trade.symbol] = max(newest, trade.trade_id)
            return
        for trade in msg.data:
            last = self.trade_ids.get(trade.symbol)
            if last is not None and trade.trade_id != last + 1:
                self.summary.silent_losses += 1
                self.violation(
                    f"trade {trade.symbol}: id {last} then {trade.trade_id} with no gap marker"
                )
            self.trade_ids[trade.symbol] = trade.trade_id

    def on_execution(self, msg: Any) -> None:
        self.in_sequence("executions", msg)
        if not isinstance(msg, s.ExecutionsMessage):
            return
        if msg.type == "snapshot":
            self.exec_snapshots += 1
            self.exec_open = {e.order_id for e in msg.data if e.order_id}
            return
        for e in msg.data:
            if not e.order_id:
                continue
            if e.order_status in ("canceled", "filled", "expired"):
                self.exec_open.discard(e.order_id)
            elif e.order_status in ("pending_new", "new", "partially_filled"):
                self.exec_open.add(e.order_id)

    def on_balance(self, msg: Any) -> None:
        self.in_sequence("balances", msg)
        if isinstance(msg, s.BalancesSnapshot):
            self.balances = {a.asset: a.balance for a in msg.data}
        elif isinstance(msg, s.BalancesUpdate):
            for entry in msg.data:
                self.balances[entry.asset] = entry.balance

    async def listen(self, events: EventStream) -> None:
        async for event in events:
            self.event_counts[event.kind] += 1
            self.texts.append(f"{event!r} {event.error}")

    # ------------------------------------------------------------------ load

    async def market(self) -> None:
        rng = random.Random(self.summary.seed + 3)
        while True:
            await self.fake.step(futures=rng.random() < 0.5)
            await trio.sleep(0.02)

    def order_price(self) -> Decimal:
        bid, _ = self.fake.market.best_bid_ask(ORDER_SYMBOL)
        assert bid is not None
        return (bid * Decimal("0.9")).quantize(Decimal("0.1"))

    async def trader(self) -> None:
        n = 0
        rng = random.Random(self.summary.seed + 1)
        while not self.stop.is_set():
            n += 1
            if len(self.confirmed) >= MAX_OPEN_ORDERS or (self.confirmed and rng.random() < 0.05):
                order_id = next(iter(self.confirmed))
                self.confirmed.pop(order_id)
                ok, result = await self.bounded(
                    f"cancel_order {order_id}", partial(self.k.cancel_order, order_id=order_id)
                )
                if ok:
                    self.cancelled.add(order_id)
                else:
                    self.uncertain.add(order_id)
            else:
                cl = f"storm-{self.summary.seed}-{n}"
                price = self.order_price()
                ok, result = await self.bounded(
                    f"add_order {cl}",
                    partial(
                        self.k.add_order,
                        order_type="limit",
                        side="buy",
                        symbol=ORDER_SYMBOL,
                        order_qty=ORDER_QTY,
                        limit_price=price,
                        cl_ord_id=cl,
                    ),
                )
                if ok:
                    self.confirmed[result.order_id] = cl
                else:
                    self.uncertain.add(cl)
            await trio.sleep(rng.uniform(0.05, 0.25))

    async def churn(self) -> None:
        rng = random.Random(self.summary.seed + 2)
        choices: list[tuple[str, dict[str, Any]]] = [
            ("ticker", {"symbol": ["ETH/USD"]}),
            ("ohlc", {"symbol": ["SOL/USD"], "interval": 5}),
            ("trade", {"symbol": ["SOL/USD"]}),
        ]
        while not self.stop.is_set():
            channel, params = rng.choice(choices)

            async def once(channel: str = channel, params: dict[str, Any] = params) -> None:
                async with self.k.subscribe(channel, **params) as sub:
                    await sub.__anext__()

            await self.bounded(f"subscribe {channel} {params}", once)
            await trio.sleep(rng.uniform(0.02, 0.2))

    # ------------------------------------------------------------------ faults

    async def inject(self) -> None:
        rng = self.rng
        deadline = trio.current_time() + self.seconds
        while trio.current_time() < deadline:
            kind = rng.choice(FAULT_KINDS)
            key = rng.choice(KEYS)
            await self.fault(kind, key, rng)
            self.summary.faults[kind] += 1
            await trio.sleep(rng.uniform(0.05, 0.4))

    async def fault(self, kind: str, key: WsKey, rng: random.Random) -> None:
        fake = self.fake
        faults = fake.faults(key)
        reset = key == FUTURES and not self.futures_close_frames
        if kind == "drop":
            await faults.drop(reset=reset)
        elif kind == "reset":
            await faults.drop(reset=True)
        elif kind == "restart":
            await (faults.drop(reset=True) if reset else faults.restart())
        elif kind == "refuse":
            faults.refuse(rng.uniform(0.1, 0.8))
            await faults.drop(reset=reset)
        elif kind == "stall_pongs":
            await self.stall(key)
        elif kind == "delay":
            faults.delay = rng.uniform(0.01, 0.08)
            await trio.sleep(rng.uniform(0.1, 0.6))
            faults.delay = 0.0
        elif kind == "invalid_json":
            await faults.send_raw(rng.choice(['{"channel":"book",', "not json", "{]", ""]))
        elif kind == "binary_frame":
            await faults.send_raw(rng.randbytes(rng.randint(1, 64)))
        elif kind == "wrong_types":
            await faults.send_raw(_WRONG_TYPES[key])
        elif kind == "unknown_channel":
            await faults.send_raw(_UNKNOWN[key])
        elif kind == "bad_checksum":
            fake.spot_faults(PUBLIC).corrupt_next_checksum(rng.choice(SPOT_BOOKS))
        elif kind == "seq_gap":
            fake.futures.faults.skip_seq(rng.choice(FUTURES_BOOKS))
        elif kind == "rate_limit":
            fake.spot_faults(PRIVATE).rate_limit_next(rng.randint(1, 3))
        elif kind == "token_expiry":
            # Kraken drops a token unused for 15 minutes: the next use is refused once; the
            # client renews it and sends the refused request (or subscribe) again.
            fake.spot_faults(PRIVATE).reject_next_auth()
        elif kind == "rest_error":
            # Transient REST errors on the next token fetches, then a reconnect that needs one.
            fake.rest.faults.fail_next(
                rng.randint(1, 2),
                rng.choice(["EAPI:Rate limit exceeded", "EAPI:Invalid nonce", "EService:Busy"]),
            )
            await fake.spot_faults(PRIVATE).drop()
        elif kind == "flapping":
            # The link comes back and drops again at once, a few times in a row.
            for _ in range(rng.randint(2, 4)):
                await faults.drop(reset=reset)
                await trio.sleep(rng.uniform(0.02, 0.1))
        else:  # pragma: no cover - FAULT_KINDS and this chain are kept in step
            raise AssertionError(kind)

    async def stall(self, key: WsKey) -> None:
        """Stall pongs until the client notices (a reconnecting event for ``key``)."""
        faults = self.fake.faults(key)
        events = self.k.events(buffer_size=1024)
        try:
            faults.stall_pongs = True
            limit = CLIENT_OPTIONS["ping_interval"] + CLIENT_OPTIONS["pong_timeout"] + 10
            with trio.move_on_after(limit) as scope:
                async for event in events:
                    if event.ws_key == key and event.kind == "reconnecting":
                        break
            if scope.cancelled_caught:
                self.violation(f"a pong stall on {key} went unnoticed for {limit} s")
        finally:
            faults.stall_pongs = False
            events.close()

    def clear_faults(self) -> None:
        for key in KEYS:
            faults = self.fake.faults(key)
            faults.stall_pongs = False
            faults.delay = 0.0
            faults.refuse(0)
        spot = self.fake.spot_faults(PRIVATE)
        while spot.take_rate_limit():
            pass
        while spot.take_auth_reject():
            pass
        while self.fake.rest.faults.take_failure() is not None:
            pass

    async def flush_pending_faults(self) -> None:
        """Step the markets until no corrupted checksum or skipped seq is still pending.

        A lost last message cannot be noticed by anyone until a later one arrives, so every
        pending book fault is made to bite before the client is asked to be in sync.
        """
        public = self.fake.spot_faults(PUBLIC)
        for _ in range(100):
            await self.fake.step()
            if not any(public.corrupt_pending(sym) for sym in SPOT_BOOKS):
                break
        for _ in range(3):  # each step moves every futures product at least once
            await self.fake.futures.step()

    # ------------------------------------------------------------------ settling

    async def round_trip_public(self) -> None:
        """Subscribe and leave ``instrument``: every earlier frame was handled by then."""
        server = self.fake.server(PUBLIC)
        async with self.k.subscribe("instrument") as sub:
            await sub.__anext__()
        conn_id = self.k.statistics()[PUBLIC].connection_id

        def unsubscribed() -> bool:
            frames = [
                r.message
                for r in server.received
                if r.connection_id == conn_id
                and isinstance(r.message, dict)
                and r.message.get("params", {}).get("channel") == "instrument"
            ]
            return bool(frames) and frames[-1].get("method") == "unsubscribe"

        await server.wait_until(unsubscribed)
        await trio.testing.wait_all_tasks_blocked()

    async def round_trip_private(self) -> None:
        await self.k.add_order(
            order_type="limit",
            side="buy",
            symbol=ORDER_SYMBOL,
            order_qty=ORDER_QTY,
            limit_price=self.order_price(),
            validate=True,
        )

    def books_synced(self) -> bool:
        books = [*(self.spot_books or []), *(self.futures_books or [])]
        return all(b.synced for b in books)

    def buffers_empty(self) -> bool:
        return all(
            c.subscription is None or c.subscription.statistics().buffered == 0
            for c in self.consumers
        )

    async def settle(self) -> None:
        """Wait until every connection is up and has been quiet through one full round trip."""
        k = self.k
        while True:
            before = {key: st.reconnects for key, st in k.statistics().items()}
            for key in KEYS:
                await k.connect(key)
            await self.round_trip_public()
            await self.round_trip_private()
            await self.fake.futures.wait_until(self.futures_settled)
            await trio.testing.wait_all_tasks_blocked()
            after = {key: st.reconnects for key, st in k.statistics().items()}
            stable = before == after and all(st.connected for st in k.statistics().values())
            if stable and self.books_synced() and self.buffers_empty():
                return

    def futures_settled(self) -> bool:
        live = self.fake.futures.live_subscriptions()
        return len(live) == 1 and next(iter(live.values())) >= EXPECTED_FUTURES

    # ------------------------------------------------------------------ verdict

    def check_subscriptions(self) -> None:
        for key, expected in ((PUBLIC, EXPECTED_PUBLIC), (PRIVATE, EXPECTED_PRIVATE)):
            server = self.fake.server(key)
            subs = server.subscriptions()
            if len(subs) != 1:
                self.violation(f"{key}: {len(subs)} live connections on the server, not 1")
            for conn_id, live in subs.items():
                dup = [x for x, n in Counter(live).items() if n > 1]
                if dup or set(live) != expected:
                    self.violation(
                        f"{key} connection {conn_id}: live {sorted(live, key=str)}, expected "
                        f"{sorted(expected, key=str)}" + (f", duplicated {dup}" if dup else "")
                    )
        live_f = self.fake.futures.live_subscriptions()
        if len(live_f) != 1 or next(iter(live_f.values())) != EXPECTED_FUTURES:
            self.violation(
                f"{FUTURES}: live {live_f}, expected one connection with {sorted(EXPECTED_FUTURES)}"
            )

    def check_books(self) -> None:
        assert self.spot_books is not None
        assert self.futures_books is not None
        for sym in SPOT_BOOKS:
            local = self.spot_books[sym]
            pb = self.fake.market.books[sym]
            bids = [
                (Decimal(pb.price_text(t)), Decimal(pb.qty_text(pb.bids.lots[t])))
                for t in pb.bids.top(BOOK_DEPTH)
            ]
            asks = [
                (Decimal(pb.price_text(t)), Decimal(pb.qty_text(pb.asks.lots[t])))
                for t in pb.asks.top(BOOK_DEPTH)
            ]
            if local.bids() != bids or local.asks() != asks:
                self.violation(f"book {sym} differs from the server's top {BOOK_DEPTH}")
        for pid in FUTURES_BOOKS:
            local = self.futures_books[pid]
            fbids, fasks = self.fake.futures.book(pid)
            if local.bids() != sorted(fbids.items(), reverse=True) or local.asks() != sorted(
                fasks.items()
            ):
                self.violation(f"futures book {pid} differs from the server's book")

    def check_orders(self) -> None:
        engine = self.fake.engine
        assert engine is not None
        open_ids = {o["order_id"] for o in engine.open_orders(self.fake.api_key)}  # type: ignore[attr-defined]
        missing = set(self.confirmed) - open_ids
        if missing:
            self.violation(f"{len(missing)} confirmed order(s) not on the exchange: {missing}")
        revived = self.cancelled & open_ids
        if revived:
            self.violation(f"{len(revived)} cancelled order(s) still open: {revived}")
        if self.exec_open != open_ids:
            self.violation(
                f"executions stream disagrees with the exchange: only in the stream "
                f"{self.exec_open - open_ids}, only on the exchange {open_ids - self.exec_open}"
            )
        held = engine.balances(self.fake.api_key)  # type: ignore[attr-defined]
        for asset, amount in self.balances.items():
            if asset in held and held[asset] != amount:
                self.violation(f"balances stream says {asset} {amount}, exchange {held[asset]}")
        if not self.balances:
            self.violation("the balances stream never delivered a snapshot")
        self.summary.orders_confirmed = len(self.confirmed)

    def check_consumers(self) -> None:
        for c in self.consumers:
            if c.messages == 0:
                self.violation(f"consumer {c.name} received nothing")
            if c.error is not None:
                self.texts.append(f"{c.error} {c.error!r}")
            if c.subscription is not None:
                self.texts.append(repr(c.subscription))
        self.texts.append(repr(self.k))

    def harvest_tokens(self) -> None:
        """Remember every WebSocket token the client sent (before the record is emptied)."""
        for r in self.fake.received(PRIVATE):
            params = r.message.get("params") if isinstance(r.message, dict) else None
            token = params.get("token") if isinstance(params, dict) else None
            if isinstance(token, str) and token:
                self.tokens.add(token)

    def check_secrets(self, log_lines: list[str]) -> None:
        """Neither the API secret nor any WebSocket token the client used may be shown."""
        self.harvest_tokens()
        needles = {self.fake.api_secret, *self.tokens}
        shown = [text for text in (*log_lines, *self.texts) if any(n in text for n in needles)]
        self.summary.secrets_shown = len(shown)
        if shown:
            self.violation(
                f"a secret or token shown {len(shown)} time(s), first: {shown[0][:80]}..."
            )

    def forget(self) -> None:
        """Drop the harness's own references to decoded data (ids, balances, texts)."""
        self.confirmed.clear()
        self.cancelled.clear()
        self.uncertain.clear()
        self.exec_open.clear()
        self.balances.clear()
        self.texts.clear()

    def collect(self) -> None:
        stats = self.k.statistics()
        summary = self.summary
        summary.reconnects = sum(st.reconnects for st in stats.values())
        summary.resyncs = sum(st.resyncs for st in stats.values())
        summary.messages = sum(st.messages for st in stats.values())
        summary.bad_messages = sum(st.bad_messages for st in stats.values())
        summary.unrouted = sum(st.unrouted for st in stats.values())
        summary.gaps = sum(c.gaps for c in self.consumers)
        lost = 0
        for c in self.consumers:
            if c.subscription is not None:
                lost += c.subscription.statistics().lost
        lost += sum(events.dropped for events in self.listeners)
        summary.lost = lost
        for key, st in stats.items():
            if st.pending_requests:
                self.violation(f"{key}: {st.pending_requests} request(s) still pending")


async def run_storm(
    seed: int = 1,
    seconds: float = 10.0,
    *,
    memory_tolerance: int = 64 * 1024,
    object_tolerance: int = 50,
    settle_timeout: float = 60.0,
    log_handler: logging.Handler | None = None,
    futures_close_frames: bool = FUTURES_CLOSE_FRAMES,
) -> StormSummary:
    """Run one storm and check every invariant; never raises for a broken invariant.

    Args:
        seed: Seeds the fault sequence, the market and the order flow.
        seconds: How long faults are injected.
        memory_tolerance: Bytes of kraken_trio allocations allowed to remain above the
            baseline taken before the storm.
        object_tolerance: kraken_trio objects allowed to remain above that baseline.
        settle_timeout: Bound on settling after the faults are cleared.
        log_handler: Also gets the kraken_trio log records during the storm. They do not
            propagate to the root logger meanwhile (pytest's log capture would keep every
            DEBUG record, and the objects it refers to, for the memory check to find).
        futures_close_frames: Close the futures endpoint with close frames too, not only with
            resets (see :data:`FUTURES_CLOSE_FRAMES`).

    Returns:
        The summary; ``violations`` lists every broken invariant.
    """
    started_tracing = not tracemalloc.is_tracing()
    if started_tracing:
        tracemalloc.start(1)
    summary = StormSummary(seed=seed, seconds=seconds)
    logger = logging.getLogger("kraken_trio")
    capture = _LineCollector()
    level, propagate = logger.level, logger.propagate
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    logger.addHandler(capture)
    if log_handler is not None:
        logger.addHandler(log_handler)
    try:
        await _run(
            summary,
            capture.lines,
            memory_tolerance,
            object_tolerance,
            settle_timeout,
            futures_close_frames,
        )
    except Exception as exc:  # the client (or the fake) crashed: that is the verdict
        crash = exc
        while isinstance(crash, BaseExceptionGroup) and len(crash.exceptions) == 1:
            crash = crash.exceptions[0]  # type: ignore[assignment]
        summary.violations.append(f"the storm crashed: {type(crash).__name__}: {crash}"[:500])
    finally:
        logger.removeHandler(capture)
        if log_handler is not None:
            logger.removeHandler(log_handler)
        logger.setLevel(level)
        logger.propagate = propagate
        if started_tracing:
            tracemalloc.stop()
    return summary


class _LineCollector(logging.Handler):
    """Keeps every formatted kraken_trio log line (tracebacks included)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


async def _run(
    summary: StormSummary,
    log_lines: list[str],
    memory_tolerance: int,
    object_tolerance: int,
    settle_timeout: float,
    futures_close_frames: bool,
) -> None:
    seed, seconds = summary.seed, summary.seconds
    async with open_fake_kraken(seed=seed, update_interval=None) as fake:
        async with open_kraken(
            fake.api_key,
            fake.api_secret,
            endpoints=fake.endpoints,
            rest_url=fake.rest_url,
            **CLIENT_OPTIONS,
        ) as k:
            storm = _Storm(fake, k, summary)
            storm.futures_close_frames = futures_close_frames
            async with trio.open_nursery() as consumers:
                events = k.events(buffer_size=100_000)
                storm.listeners.append(events)
                consumers.start_soon(storm.listen, events)
                with trio.fail_after(30):
                    storm.spot_books = await consumers.start(
                        storm.consume_books,
                        "book " + ",".join(SPOT_BOOKS),
                        lambda: k.book(SPOT_BOOKS, depth=BOOK_DEPTH),
                    )
                    storm.futures_books = await consumers.start(
                        storm.consume_books,
                        "futures book " + ",".join(FUTURES_BOOKS),
                        lambda: k.book(FUTURES_BOOKS, ws_key=FUTURES),
                    )
                    for name, make, on_msg in (
                        ("ticker BTC/USD", lambda: k.subscribe("ticker", symbol=["BTC/USD"]), None),
                        (
                            "trade",
                            lambda: k.subscribe("trade", symbol=["BTC/USD", "ETH/USD"]),
                            None,
                        ),
                        (
                            "executions",
                            lambda: k.subscribe("executions", snap_orders=True),
                            storm.on_execution,
                        ),
                        ("balances", lambda: k.subscribe("balances"), storm.on_balance),
                    ):
                        consumers.start_soon(storm.consume, name, make, on_msg)
                    await storm.settle()
                storm.harvest_tokens()
                base_memory = _ours_snapshot(fake)
                base_objects = _object_count()

                # ---- the storm
                async with trio.open_nursery() as market:
                    market.start_soon(storm.market)
                    # The trader and the churner finish their current request (each bounded)
                    # once the injector is done; the nursery waits for them.
                    with trio.fail_after(seconds + HANG_BOUND * 3):
                        async with trio.open_nursery() as workers:
                            workers.start_soon(storm.trader)
                            workers.start_soon(storm.churn)
                            await storm.inject()
                            storm.stop.set()
                    market.cancel_scope.cancel()

                # ---- settle and judge
                storm.clear_faults()
                t0 = trio.current_time()
                try:
                    with trio.fail_after(settle_timeout):
                        await storm.flush_pending_faults()
                        await storm.settle()
                except trio.TooSlowError:
                    storm.violation(
                        f"the client did not settle within {settle_timeout} s after the storm: "
                        f"statistics {k.statistics()}"
                    )
                else:
                    summary.settle_seconds = trio.current_time() - t0
                    storm.check_subscriptions()
                    storm.check_books()
                    storm.check_orders()
                    storm.check_consumers()
                storm.check_secrets(log_lines)
                storm.collect()
                storm.forget()  # what the harness itself holds is not the client's memory
                final_memory = _ours_snapshot(fake)
                summary.memory_growth, summary.memory_top = _growth(base_memory, final_memory)
                summary.object_growth = _object_count() - base_objects
                if summary.memory_growth > memory_tolerance:
                    storm.violation(
                        f"kraken_trio holds {summary.memory_growth} B more than before the storm "
                        f"(tolerance {memory_tolerance} B)"
                    )
                if summary.object_growth > object_tolerance:
                    storm.violation(
                        f"{summary.object_growth} more kraken_trio objects than before the storm "
                        f"(tolerance {object_tolerance})"
                    )
                consumers.cancel_scope.cancel()
        summary.leftover_tasks = client_tasks()
        if summary.leftover_tasks:
            storm.violation(f"tasks left after the client closed: {summary.leftover_tasks}")


def summary_lines(summary: StormSummary) -> list[str]:
    """The summary as lines (for logs)."""
    return str(summary).splitlines()
