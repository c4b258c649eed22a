"""One measurement of one client, in its own process: ``python -m benchmarks.peers '<json>'``.

The spec names the ``peer`` (``kraken_trio``, ``sdk`` for python-kraken-sdk, ``ccxt`` for
ccxt.pro, ``raw`` for the minimal trio+wsproto client, ``sink`` for the sender-rate probe),
the ``scenario`` (``stream``, ``book``, ``order``, ``order_load`` (in
:mod:`benchmarks.order_load`), ``fanout``, ``idle``) and the replay
server's ``port``; ``tls`` makes every WebSocket ``wss://`` (the CA is trusted through
``SSL_CERT_FILE``, set by the parent). The last line printed is ``RESULT <json>``: messages,
elapsed seconds (first message to last), process CPU seconds over the same window (user +
system, all threads), peak RSS in KiB, and scenario extras (latencies, validity, RSS
deltas). A run that ends in a failure of the client (kraken_trio's ``OverrunError``, a book
resync) still prints a result, with ``failed`` saying what happened and when.

kraken_trio runs with its default settings everywhere: no ``buffer_size`` or other option.

Patches to peers (URLs only, plus ccxt's markets fed offline instead of a REST lookup):
python-kraken-sdk takes ``ws_url``/``rest_url`` arguments, and its ``SpotOrderBookClient``
(which takes no URL) gets the class attributes ``SpotWSClientBase.WS_URL`` and
``SpotClient.URL`` pointed at loopback; ccxt gets ``urls['api']['ws']['publicV2']`` and
``set_markets()`` with one market so ``load_markets`` does no network lookup, and over TLS
its ``cafile`` option (it trusts certifi's bundle otherwise).
"""

from __future__ import annotations

import contextlib
import gc
import json
import resource
import socket
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from .replay import GO_SYMBOL
from .streams import BASE_TIME, BOOK_SYMBOL, index_of

API_KEY = "benchmark-key"
API_SECRET = "c2VjcmV0LXNlY3JldC1zZWNyZXQ="  # base64 of a dummy secret


def cpu_seconds() -> float:
    """User + system CPU time of this process (all threads)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def peak_rss_kib() -> int:
    """Peak resident set size of this process in KiB (VmHWM: not inherited across exec)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def current_rss_kib() -> int:
    """Current RSS in KiB (after a GC pass)."""
    gc.collect()
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() // 1024


def preemptions() -> int:
    """Times the OS took the CPU away from this process (involuntary context switches)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw


class Window:
    """CPU, wall clock and preemptions between ``start()`` and ``stop()``."""

    def __init__(self) -> None:
        self.t0 = self.c0 = 0.0
        self.elapsed = self.cpu = 0.0
        self.p0 = self.preempted = 0
        self.started = False

    def start(self) -> None:
        self.started = True
        self.t0 = time.perf_counter()
        self.c0 = cpu_seconds()
        self.p0 = preemptions()

    def running(self) -> float:
        """Seconds since ``start()``."""
        return time.perf_counter() - self.t0

    def stop(self) -> None:
        self.elapsed = time.perf_counter() - self.t0
        self.cpu = cpu_seconds() - self.c0
        self.preempted = preemptions() - self.p0

    def result(self, messages: int, **extra: Any) -> dict[str, Any]:
        return {
            "messages": messages,
            "elapsed": self.elapsed,
            "cpu": self.cpu,
            "preempted": self.preempted,
            "rss_kib": peak_rss_kib(),
            **extra,
        }


def ws_base(spec: dict[str, Any]) -> str:
    return f"{'wss' if spec.get('tls') else 'ws'}://127.0.0.1:{spec['port']}"


def ws_url(spec: dict[str, Any]) -> str:
    return ws_base(spec) + "/v2"


def rest_url(spec: dict[str, Any]) -> str:
    return f"http://127.0.0.1:{spec['port']}"


# ====================================================================== kraken_trio (trio)


async def kt_stream(spec: dict[str, Any]) -> dict[str, Any]:
    import trio

    from kraken_trio import Gap, OverrunError, WsKey, open_kraken

    count, duration = spec["count"], spec["duration"]
    win = Window()
    n = 0
    failed: str | None = None
    try:
        async with (
            open_kraken(endpoints={WsKey.SPOT_PUBLIC_V2: ws_url(spec)}) as k,
            k.subscribe("book", symbol=[BOOK_SYMBOL], depth=spec.get("depth", 10)) as sub,
        ):
            checksum = 0
            with trio.move_on_after(duration + 30):  # the window's cap, and the wait for it
                async for msg in sub:
                    if isinstance(msg, Gap):  # a reconnect or an overflow: messages lost
                        failed = f"Gap ({msg.reason}) after {n:,} messages"
                        break
                    if not win.started:
                        win.start()
                        continue
                    checksum ^= msg.data[0].checksum  # touch the typed struct
                    n += 1
                    if n >= count or win.running() > duration:
                        break
            win.stop()
    except* OverrunError as group:
        win.stop()
        failed = overrun_text(group, n)
    return win.result(n, failed=failed)


def overrun_text(group: BaseExceptionGroup[Any], messages: int) -> str:
    """What a failed row says: which error, after how many messages."""
    return (
        f"{type(group.exceptions[0]).__name__} after {messages:,} messages ({group.exceptions[0]})"
    )


class ResyncWatch:
    """The reasons of a client's ``resync`` lifecycle events, as they arrive.

    Run :meth:`run` in a nursery; a failed row quotes :meth:`first_reason`.
    """

    def __init__(self, k: Any) -> None:
        import trio

        self.events = k.events()
        self.reasons: list[str] = []
        self.seen = trio.Event()

    async def run(self) -> None:
        async for event in self.events:
            if event.kind == "resync":
                self.reasons.append(event.detail)
                self.seen.set()

    async def first_reason(self) -> str:
        """The first resync's reason, once its event arrived (a bounded wait)."""
        import trio

        with trio.move_on_after(2):
            await self.seen.wait()
        return self.reasons[0] if self.reasons else "no reason reported"


async def kt_book(spec: dict[str, Any]) -> dict[str, Any]:
    import trio

    from kraken_trio import WsKey, open_kraken

    count, duration, depth = spec["count"], spec["duration"], spec["depth"]
    win = Window()
    n = 0
    failed = None
    best = None
    capped = False
    async with open_kraken(endpoints={WsKey.SPOT_PUBLIC_V2: ws_url(spec)}) as k:
        resyncs = ResyncWatch(k)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(resyncs.run)
            first = 0
            # The book counts the updates it applied; one event may stand for several
            # (a book kept by the connection conflates them), so the run ends when the
            # count reaches the stream's, not after `count` events.
            async with k.book(BOOK_SYMBOL, depth=depth) as book:
                with trio.move_on_after(duration + 30):  # the window's cap, and the wait for it
                    async for event in book:
                        if event.kind != "snapshot" and event.kind != "update":
                            # The replay cannot serve a resync (its stream goes on past a
                            # fresh snapshot): stop here and report it.
                            win.stop()
                            failed = f"book {event.kind} after {n:,} updates"
                            if event.kind == "resync":
                                failed += f" ({await resyncs.first_reason()})"
                            break
                        if not win.started:
                            win.start()
                            first = book.updates
                            continue
                        best = book.best_bid
                        n = book.updates - first
                        if book.updates >= count or win.running() > duration:
                            win.stop()
                            break
                if win.started and not win.elapsed:  # the cap ended the wait
                    win.stop()
                top = book.bids(10)
                capped = failed is None and book.updates < count
            nursery.cancel_scope.cancel()
    valid = failed is None and not resyncs.reasons and best is not None and len(top) == 10
    return win.result(n, valid=valid, resyncs=len(resyncs.reasons), failed=failed, capped=capped)


ORDER_QTY = Decimal("0.001")
LIMIT_PRICE = Decimal("50000.0")
ORDER_SYMBOLS = tuple(f"A{chr(65 + i // 26)}{chr(65 + i % 26)}/USD" for i in range(100))
"""The pairs the order series cycles over: 100 (AAA/USD, AAB/USD ...), so that a run of
3,200 orders adds 32 to each pair's trading rate counter, under the 60 of Kraken's lowest
tier. kraken_trio models that counter and, by default, waits before an order that would
pass it (as Kraken would refuse it); on one pair the series would run at one order a second.
"""


async def order_round_trips(
    k: Any, count: int, warmup: int, win: Window, until: Callable[[], bool] | None = None
) -> list[int]:
    """``warmup + count`` awaited ``add_order`` calls; the window spans the last ``count``.

    Returns their latencies in ns. The order scenario and the order-under-load scenario
    both measure this one path. ``until()`` returning True before an order ends the
    series early (the load it runs under is over).
    """
    latencies: list[int] = []
    win.start()  # again at the end of the warm-up
    for i in range(warmup + count):
        if until is not None and until():
            break
        if i == warmup:
            win.start()
        t = time.perf_counter_ns()
        result = await k.add_order(
            order_type="limit",
            side="buy",
            symbol=ORDER_SYMBOLS[i % len(ORDER_SYMBOLS)],
            order_qty=ORDER_QTY,
            limit_price=LIMIT_PRICE,
        )
        latencies.append(time.perf_counter_ns() - t)
        if not result.order_id:
            raise SystemExit("add_order returned no order_id")
    win.stop()
    return latencies[warmup:]


async def kt_order(spec: dict[str, Any]) -> dict[str, Any]:
    from kraken_trio import WsKey, open_kraken

    win = Window()
    async with open_kraken(
        API_KEY,
        API_SECRET,
        endpoints={WsKey.SPOT_PRIVATE_V2: ws_url(spec)},
        rest_url=rest_url(spec),
    ) as k:
        await k.connect(WsKey.SPOT_PRIVATE_V2)
        latencies = await order_round_trips(k, spec["count"], spec["warmup"], win)
    return win.result(spec["count"], latencies_ns=latencies)


async def kt_fanout(spec: dict[str, Any]) -> dict[str, Any]:
    from contextlib import AsyncExitStack

    import trio

    from kraken_trio import Gap, OverrunError, WsKey, open_kraken
    from kraken_trio._proto import spot as s

    symbols = spec["symbols"]
    total, duration = spec["count"], spec["duration"]
    win = Window()
    counts = {"wire": 0, "book_copies": 0, "gaps": 0}
    done = trio.Event()
    snapshots = {"ticker": 0, "trade": 0, "book": 0}
    ready = trio.Event()
    n_books = spec["book_subscribers"]

    failed = None
    rss0 = rss1 = 0
    try:
        async with open_kraken(endpoints={WsKey.SPOT_PUBLIC_V2: ws_url(spec)}) as k:
            await k.connect(WsKey.SPOT_PUBLIC_V2)
            rss0 = current_rss_kib()
            async with AsyncExitStack() as stack, trio.open_nursery() as nursery:
                ticker = await stack.enter_async_context(k.subscribe("ticker", symbol=symbols))
                trade = await stack.enter_async_context(k.subscribe("trade", symbol=symbols))
                books = [
                    await stack.enter_async_context(
                        k.subscribe("book", symbol=[BOOK_SYMBOL], depth=10)
                    )
                    for _ in range(n_books)
                ]

                def check_ready() -> None:
                    if (
                        snapshots["ticker"] >= len(symbols)
                        and snapshots["trade"] >= len(symbols)
                        and snapshots["book"] >= 1
                    ):
                        ready.set()

                async def consume(sub: Any, wire: bool) -> None:
                    async for msg in sub:
                        if isinstance(msg, Gap):
                            # A later book subscriber's join resyncs the shared wire: the others
                            # see a gap, then the fresh snapshot (counted as a snapshot below).
                            counts["gaps"] += 1
                            continue
                        if msg.type == "snapshot":
                            key = (
                                "book"
                                if isinstance(msg, s.BookMessage)
                                else ("ticker" if isinstance(msg, s.TickerMessage) else "trade")
                            )
                            snapshots[key] += 1
                            check_ready()
                            continue
                        if wire:
                            counts["wire"] += 1
                            if counts["wire"] >= total:
                                done.set()
                        else:
                            counts["book_copies"] += 1

                nursery.start_soon(consume, ticker, True)
                nursery.start_soon(consume, trade, True)
                for i, b in enumerate(books):
                    nursery.start_soon(consume, b, i == 0)
                with trio.move_on_after(30):
                    await ready.wait()
                if not ready.is_set():
                    raise SystemExit(f"fan-out: snapshots never all arrived: {snapshots}")
                rss1 = current_rss_kib()
                win.start()
                await stack.enter_async_context(k.subscribe("ticker", symbol=[GO_SYMBOL]))
                with trio.move_on_after(duration):
                    await done.wait()
                win.stop()
                nursery.cancel_scope.cancel()
    except* OverrunError as group:
        win.stop()
        failed = overrun_text(group, counts["wire"])

    subs = 2 * len(symbols) + n_books
    return win.result(
        counts["wire"],
        rss_before_kib=rss0,
        rss_after_kib=rss1,
        rss_per_sub_kib=(rss1 - rss0) / subs,
        subscriptions=subs,
        book_copies=counts["book_copies"],
        failed=failed,
    )


async def kt_idle(spec: dict[str, Any]) -> dict[str, Any]:
    import trio

    from kraken_trio import WsKey, open_kraken

    win = Window()
    heartbeats = 0
    url = ws_url(spec)
    async with open_kraken(
        API_KEY,
        API_SECRET,
        endpoints={
            WsKey.SPOT_PUBLIC_V2: url,
            WsKey.SPOT_BETA_PUBLIC_V2: url,
            WsKey.SPOT_PRIVATE_V2: url,
        },
        rest_url=rest_url(spec),
    ) as k:
        subs = [
            k.subscribe("ticker", symbol=[BOOK_SYMBOL]),
            k.subscribe("ticker", symbol=["ETH/USD"], ws_key=WsKey.SPOT_BETA_PUBLIC_V2),
            k.subscribe("executions"),
        ]
        firsts = [trio.Event() for _ in subs]
        async with trio.open_nursery() as nursery:

            async def drain(sub: Any, first: trio.Event) -> None:
                async with sub:
                    async for _ in sub:
                        first.set()

            for sub, first in zip(subs, firsts, strict=True):
                nursery.start_soon(drain, sub, first)
            with trio.fail_after(30):  # every subscription acked and its snapshot delivered
                for first in firsts:
                    await first.wait()
            before = sum(c.messages for c in k.statistics().values())
            win.start()
            await trio.sleep(spec["duration"])  # measuring idle: sleeping IS the workload
            win.stop()
            heartbeats = sum(c.messages for c in k.statistics().values()) - before
            nursery.cancel_scope.cancel()
    return win.result(heartbeats, core_pct=100 * win.cpu / win.elapsed, connections=3)


# ====================================================================== raw trio client


async def raw_order(spec: dict[str, Any]) -> dict[str, Any]:
    """The baseline: wsproto over a trio stream, the same JSON frame, await the reply."""
    import trio
    from wsproto import ConnectionType, WSConnection
    from wsproto.events import AcceptConnection, Message, Request, TextMessage

    count, warmup = spec["count"], spec["warmup"]
    stream = await trio.open_tcp_stream("127.0.0.1", spec["port"])
    stream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    ws = WSConnection(ConnectionType.CLIENT)
    await stream.send_all(ws.send(Request(host=f"127.0.0.1:{spec['port']}", target="/v2")))
    accepted = False
    while not accepted:
        ws.receive_data(await stream.receive_some(65536))
        accepted = any(isinstance(e, AcceptConnection) for e in ws.events())
    latencies: list[int] = []
    win = Window()
    for i in range(warmup + count):
        if i == warmup:
            win.start()
        req_id = i + 1
        frame = (
            '{"method":"add_order","params":{"order_type":"limit","side":"buy",'
            f'"symbol":"{ORDER_SYMBOLS[i % len(ORDER_SYMBOLS)]}","order_qty":0.001,'
            f'"limit_price":50000.0,"token":"t"}},"req_id":{req_id}}}'
        )
        t = time.perf_counter_ns()
        await stream.send_all(ws.send(Message(data=frame)))
        reply: dict[str, Any] | None = None
        while reply is None:
            ws.receive_data(await stream.receive_some(65536))
            for event in ws.events():
                if isinstance(event, TextMessage):
                    msg = json.loads(event.data)
                    if msg.get("req_id") == req_id:
                        reply = msg
        latencies.append(time.perf_counter_ns() - t)
        if not reply.get("success"):
            raise SystemExit(f"add_order failed: {reply}")
    win.stop()
    await stream.aclose()
    return win.result(count, latencies_ns=latencies[warmup:])


# ====================================================================== python-kraken-sdk


def _sdk_point_at(spec: dict[str, Any]) -> str:
    """URL-only patch for the SDK classes that take no URL argument."""
    from kraken.base_api import SpotClient
    from kraken.spot.websocket import SpotWSClientBase

    base = ws_base(spec)  # the SDK appends "/v2" itself
    SpotWSClientBase.WS_URL = base
    SpotWSClientBase.AUTH_WS_URL = base
    SpotClient.URL = rest_url(spec)
    return base


async def sdk_stream(spec: dict[str, Any]) -> dict[str, Any]:
    import asyncio

    from kraken.spot import SpotWSClient

    base = _sdk_point_at(spec)
    count, duration = spec["count"], spec["duration"]
    win = Window()
    done = asyncio.Event()
    started = asyncio.Event()
    n = 0
    checksum = 0

    async def on_message(message: Any) -> None:
        nonlocal n, checksum
        if isinstance(message, dict) and message.get("channel") == "book":
            if not win.started:
                win.start()
                started.set()
                return
            checksum ^= message["data"][0]["checksum"]  # touch the dict like the typed side
            n += 1
            if n >= count:
                done.set()

    client = SpotWSClient(callback=on_message, ws_url=base, rest_url=rest_url(spec))
    await client.start()
    await client.subscribe(
        params={"channel": "book", "symbol": [BOOK_SYMBOL], "depth": spec.get("depth", 10)}
    )
    await asyncio.wait_for(started.wait(), 30)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(done.wait(), duration)
    win.stop()
    await client.close()
    return win.result(n)


async def sdk_book(spec: dict[str, Any]) -> dict[str, Any]:
    import asyncio

    from kraken.spot import SpotOrderBookClient

    _sdk_point_at(spec)
    count, duration, depth = spec["count"], spec["duration"], spec["depth"]
    win = Window()
    done = asyncio.Event()
    n = 0
    invalid = 0

    class Book(SpotOrderBookClient):
        async def on_book_update(self, pair: str, message: dict[str, Any]) -> None:
            nonlocal n, invalid
            if "error" in message:
                invalid += 1
                return
            if not win.started:
                win.start()
                return
            n += 1
            if n >= count:
                done.set()

    book = Book(depth=depth)
    await book.start()
    await book.add_book(pairs=[BOOK_SYMBOL])
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(done.wait(), duration)
    win.stop()
    state = book.get(BOOK_SYMBOL)
    valid = bool(state and state["valid"]) and invalid == 0
    await book.close()
    return win.result(n, valid=valid)


async def sdk_fanout(spec: dict[str, Any]) -> dict[str, Any]:
    import asyncio

    from kraken.spot import SpotWSClient

    base = _sdk_point_at(spec)
    symbols = spec["symbols"]
    total, duration = spec["count"], spec["duration"]
    n_books = spec["book_subscribers"]
    win = Window()
    done = asyncio.Event()
    subscribed = asyncio.Event()
    want = 2 * len(symbols) + 1
    state = {"acks": 0, "snapshots": 0, "wire": 0, "book_copies": 0}
    listeners_hit = [0] * n_books

    def make_listener(i: int) -> Any:
        def listener(message: dict[str, Any]) -> None:
            listeners_hit[i] += 1

        return listener

    listeners = [make_listener(i) for i in range(n_books)]

    async def on_message(message: Any) -> None:
        if not isinstance(message, dict):
            return
        if message.get("method") == "subscribe":
            state["acks"] += 1
            return
        channel = message.get("channel")
        if channel not in ("ticker", "trade", "book"):
            return
        if message.get("type") == "snapshot":
            state["snapshots"] += 1
            if state["acks"] >= want and state["snapshots"] >= want:
                subscribed.set()
            return
        state["wire"] += 1
        if channel == "book":
            for fn in listeners:  # ten subscribers of one book
                fn(message)
        if state["wire"] >= total:
            done.set()

    client = SpotWSClient(callback=on_message, ws_url=base, rest_url=rest_url(spec))
    await client.start()
    rss0 = current_rss_kib()
    await client.subscribe(params={"channel": "ticker", "symbol": symbols})
    await client.subscribe(params={"channel": "trade", "symbol": symbols})
    await client.subscribe(params={"channel": "book", "symbol": [BOOK_SYMBOL], "depth": 10})
    await asyncio.wait_for(subscribed.wait(), 30)
    rss1 = current_rss_kib()
    win.start()
    await client.subscribe(params={"channel": "ticker", "symbol": [GO_SYMBOL]})
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(done.wait(), duration)
    win.stop()
    await client.close()
    subs = 2 * len(symbols) + n_books
    return win.result(
        state["wire"],
        rss_before_kib=rss0,
        rss_after_kib=rss1,
        rss_per_sub_kib=(rss1 - rss0) / subs,
        subscriptions=subs,
        book_copies=sum(listeners_hit),
    )


async def sdk_idle(spec: dict[str, Any]) -> dict[str, Any]:
    import asyncio

    from kraken.spot import SpotWSClient

    base = _sdk_point_at(spec)
    messages = 0
    snapshots = 0
    settled = asyncio.Event()

    async def on_message(message: Any) -> None:
        nonlocal messages, snapshots
        messages += 1
        if isinstance(message, dict) and message.get("type") == "snapshot":
            snapshots += 1
            if snapshots >= 3:  # two tickers and executions: every subscription is live
                settled.set()

    private = SpotWSClient(
        key=API_KEY,
        secret=API_SECRET,
        callback=on_message,
        ws_url=base,
        auth_ws_url=base,
        rest_url=rest_url(spec),
    )
    public = SpotWSClient(callback=on_message, ws_url=base, rest_url=rest_url(spec))
    await private.start()
    await public.start()
    await private.subscribe(params={"channel": "ticker", "symbol": [BOOK_SYMBOL]})
    await public.subscribe(params={"channel": "ticker", "symbol": ["ETH/USD"]})
    await private.subscribe(params={"channel": "executions"})
    await asyncio.wait_for(settled.wait(), 30)
    win = Window()
    before = messages
    win.start()
    await asyncio.sleep(spec["duration"])  # measuring idle: sleeping IS the workload
    win.stop()
    got = messages - before
    await private.close()
    await public.close()
    return win.result(got, core_pct=100 * win.cpu / win.elapsed, connections=3)


# ====================================================================== ccxt.pro


def _ccxt_market(symbol: str) -> dict[str, Any]:
    base, quote = symbol.split("/")
    market_id = "XXBTZUSD" if symbol == BOOK_SYMBOL else base + quote
    return {
        "id": market_id,
        "symbol": symbol,
        "base": base,
        "quote": quote,
        "baseId": base,
        "quoteId": quote,
        "type": "spot",
        "spot": True,
        "margin": False,
        "swap": False,
        "future": False,
        "option": False,
        "contract": False,
        "active": True,
        "precision": {"amount": 1e-8, "price": 0.1 if symbol == BOOK_SYMBOL else 0.0001},
        "limits": {
            "amount": {"min": 0.0001, "max": None},
            "price": {"min": None, "max": None},
            "cost": {"min": 0.5, "max": None},
        },
        "info": {"wsname": symbol, "altname": market_id},
        "altname": market_id,
    }


def _ccxt_exchange(spec: dict[str, Any], symbols: list[str] | None = None) -> Any:
    import ccxt.pro

    options: dict[str, Any] = {"enableRateLimit": False}
    if spec.get("ca"):  # ccxt trusts certifi's bundle only, unless given a CA file
        options["cafile"] = spec["ca"]
    ex = ccxt.pro.kraken(options)
    ex.urls["api"]["ws"]["publicV2"] = ws_url(spec)
    ex.urls["api"]["public"] = rest_url(spec) + "/0/public"
    # Offline markets: load_markets() would fetch AssetPairs/Assets from api.kraken.com.
    ex.set_markets([_ccxt_market(sym) for sym in [BOOK_SYMBOL, *(symbols or [])]])
    return ex


async def ccxt_book(spec: dict[str, Any]) -> dict[str, Any]:
    """watch_order_book: ccxt resolves once per batch; progress is read from the timestamp."""
    ex = _ccxt_exchange(spec)
    count, duration, depth = spec["count"], spec["duration"], spec.get("depth", 10)
    win = Window()
    n = 0
    first = None
    try:
        while True:
            ob = await ex.watch_order_book(BOOK_SYMBOL, depth)
            if not win.started:
                win.start()
                continue
            ts = ob.get("datetime")
            if ts is not None:
                idx = index_of(ts)
                if first is None:
                    first = 0
                n = idx + 1
            if n >= count or time.perf_counter() - win.t0 > duration:
                break
        win.stop()
    finally:
        await ex.close()
    return win.result(n, valid=None)


async def ccxt_fanout(spec: dict[str, Any]) -> dict[str, Any]:
    """watch_tickers + watch_trades_for_symbols (500 symbols) + 10 watch_order_book.

    ccxt resolves a watch once per batch and a watcher that is busy when the last message
    arrives is never woken again, so completion is read from ccxt's own trade cache: the
    stream's last trade (its timestamp is BASE + index ms) has been parsed. That check runs
    every 2 ms (a few ms of error on runs of seconds). ccxt keeps a book, no checksum.
    """
    import asyncio

    symbols = spec["symbols"]
    total, duration = spec["count"], spec["duration"]
    n_books = spec["book_subscribers"]
    ex = _ccxt_exchange(spec, [*symbols, GO_SYMBOL])
    base_ms = int(BASE_TIME.timestamp() * 1000)
    last = max(i for i in range(total) if i % 2 == 0 and i % 5 != 4)  # the replay's layout
    last_symbol = symbols[(last // 2) % len(symbols)]
    done = asyncio.Event()
    firsts = [asyncio.Event() for _ in range(2 + n_books)]
    win = Window()

    def newest(symbol: str) -> int:
        cache = ex.trades.get(symbol)
        return int(cache[-1]["timestamp"]) - base_ms if cache else -1

    async def trades() -> None:
        while True:
            await ex.watch_trades_for_symbols(symbols)
            firsts[0].set()

    async def tickers() -> None:
        while True:
            await ex.watch_tickers(symbols)
            firsts[1].set()

    async def book(i: int) -> None:
        while True:
            await ex.watch_order_book(BOOK_SYMBOL, 10)
            firsts[2 + i].set()

    async def finished() -> None:
        # ccxt offers no event for "message parsed" that cannot be missed: poll its cache.
        while newest(last_symbol) < last:  # noqa: ASYNC110
            await asyncio.sleep(0.002)
        done.set()

    tasks = [asyncio.create_task(trades()), asyncio.create_task(tickers())]
    tasks += [asyncio.create_task(book(i)) for i in range(n_books)]
    try:
        rss0 = current_rss_kib()
        await asyncio.wait_for(asyncio.gather(*(f.wait() for f in firsts)), 60)
        rss1 = current_rss_kib()
        win.start()
        tasks.append(asyncio.create_task(ex.watch_ticker(GO_SYMBOL)))
        tasks.append(asyncio.create_task(finished()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), duration)
        win.stop()
        processed = total if done.is_set() else max(newest(sym) for sym in symbols) + 1
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await ex.close()
    subs = 2 * len(symbols) + n_books
    return win.result(
        processed,
        rss_before_kib=rss0,
        rss_after_kib=rss1,
        rss_per_sub_kib=(rss1 - rss0) / subs,
        subscriptions=subs,
    )


# ====================================================================== sender-rate probe


def sink(spec: dict[str, Any]) -> dict[str, Any]:
    """Subscribe, then read and discard bytes as fast as possible: the sender's rate alone."""
    import base64
    import os

    expected = spec["bytes"]
    sock = socket.create_connection(("127.0.0.1", spec["port"]))
    if spec.get("tls"):
        import ssl

        sock = ssl.create_default_context().wrap_socket(sock, server_hostname="127.0.0.1")
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET /v2 HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(4096)
    payload = json.dumps(
        {
            "method": "subscribe",
            "params": {"channel": "book", "symbol": [BOOK_SYMBOL], "depth": spec["depth"]},
            "req_id": 1,
        }
    ).encode()
    mask = b"\x00\x00\x00\x00"  # a zero mask leaves the payload as is
    win = Window()
    win.start()
    sock.sendall(bytes((0x81, 0x80 | 126)) + len(payload).to_bytes(2, "big") + mask + payload)
    buf = bytearray(1 << 20)
    got = len(head.split(b"\r\n\r\n", 1)[1])
    while got < expected:
        r = sock.recv_into(buf)
        if not r:
            break
        got += r
    win.stop()
    sock.close()
    return win.result(spec["count"], bytes=got)


# ====================================================================== entry point

RUNNERS: dict[tuple[str, str], Any] = {
    ("kraken_trio", "stream"): kt_stream,
    ("kraken_trio", "book"): kt_book,
    ("kraken_trio", "order"): kt_order,
    ("kraken_trio", "fanout"): kt_fanout,
    ("kraken_trio", "idle"): kt_idle,
    ("raw", "order"): raw_order,
    ("sdk", "stream"): sdk_stream,
    ("sdk", "book"): sdk_book,
    ("sdk", "fanout"): sdk_fanout,
    ("sdk", "idle"): sdk_idle,
    ("ccxt", "stream"): ccxt_book,
    ("ccxt", "book"): ccxt_book,
    ("ccxt", "fanout"): ccxt_fanout,
    ("sink", "stream"): sink,
}
TRIO_PEERS = {"kraken_trio", "raw"}


def run(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one measurement in this process."""
    if spec["scenario"] == "order_load":
        from .order_load import kt_order_load

        fn: Any = kt_order_load
    else:
        fn = RUNNERS[(spec["peer"], spec["scenario"])]
    if spec.get("whatif"):
        from .whatif import apply

        try:
            apply(spec["whatif"])
        except RuntimeError as exc:  # the library changed under the experiment
            return {"skipped": str(exc), "messages": 0, "elapsed": 0.0, "cpu": 0.0}
    if spec["peer"] == "sink":
        return fn(spec)  # type: ignore[no-any-return]
    if spec["peer"] in TRIO_PEERS:
        import trio

        return trio.run(fn, spec)
    import asyncio

    return asyncio.run(fn(spec))


def main() -> None:
    spec = json.loads(sys.argv[1])
    profile = spec.get("profile")
    if profile:
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
        result = run(spec)
        prof.disable()
        prof.dump_stats(profile)
    else:
        result = run(spec)
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
