"""Order under load: ``add_order`` round trips while a book stream runs on another connection.

One kraken_trio client, default settings, two connections to the replay server: the
private one sends the same orders as the order scenario (:func:`order_round_trips`), the
public one keeps a verified ``k.book()`` of BTC/USD depth 10 fed at a fixed rate. The
``pace`` of the spec picks what the public connection receives (the replay's
``?pace=`` request target): ``none`` (the snapshot only: the same client idle),
``slices`` (``rate`` messages a second, one millisecond's worth at a time) or ``bursts``
(the same rate in 256 KiB bursts, about 1,200 messages each).

The result carries the order latencies and the load the public connection really took
while the orders ran (messages read in the window). The series stops early when the stream
is about to end, so every order measured ran under the load; the result says how many.
"""

from __future__ import annotations

import time
from typing import Any

from .peers import (
    API_KEY,
    API_SECRET,
    ResyncWatch,
    Window,
    order_round_trips,
    rest_url,
    ws_url,
)
from .streams import BOOK_SYMBOL


async def kt_order_load(spec: dict[str, Any]) -> dict[str, Any]:
    import trio

    from kraken_trio import OverrunError, WsKey, open_kraken

    pace = spec["pace"]
    win = Window()
    failed: str | None = None
    latencies: list[int] = []
    read = [0, 0]  # public messages read before the first order and after the last
    span = [0.0, 0.0]
    updates = 0
    try:
        async with open_kraken(
            API_KEY,
            API_SECRET,
            endpoints={
                WsKey.SPOT_PUBLIC_V2: f"{ws_url(spec)}?pace={pace}",
                WsKey.SPOT_PRIVATE_V2: ws_url(spec),
            },
            rest_url=rest_url(spec),
        ) as k:
            await k.connect(WsKey.SPOT_PRIVATE_V2)

            def public_read() -> int:
                return k.statistics()[WsKey.SPOT_PUBLIC_V2].messages

            resyncs = ResyncWatch(k)
            async with k.book(BOOK_SYMBOL, depth=10) as book, trio.open_nursery() as nursery:
                synced, loaded = trio.Event(), trio.Event()

                async def follow() -> None:
                    nonlocal failed
                    async for event in book:
                        if event.kind not in ("snapshot", "update") and failed is None:
                            failed = f"book {event.kind} after {book.updates:,} updates"
                            if event.kind == "resync":
                                failed += f" ({await resyncs.first_reason()})"
                        synced.set()
                        if book.updates:
                            loaded.set()

                nursery.start_soon(resyncs.run)
                nursery.start_soon(follow)
                with trio.fail_after(30):  # the book is live (and, under load, moving)
                    await synced.wait()
                    if pace != "none":
                        await loaded.wait()
                # Stop with 1,000 updates (50 ms at 20k msg/s) still to come.
                last = spec["stream_count"] - 1_000

                def over() -> bool:
                    return bool(pace != "none" and public_read() >= last)

                read[0], span[0] = public_read(), time.perf_counter()
                latencies = await order_round_trips(
                    k, spec["count"], spec["warmup"], win, until=over
                )
                read[1], span[1] = public_read(), time.perf_counter()
                updates = book.updates
                nursery.cancel_scope.cancel()
    except* OverrunError as group:
        failed = f"{type(group.exceptions[0]).__name__} on the public connection"
    load = read[1] - read[0]
    if failed is None and not latencies:
        failed = "the book stream ended before the warm-up did: make it longer"
    return win.result(
        len(latencies),
        latencies_ns=latencies,
        load_messages=load,
        load_rate=load / (span[1] - span[0]) if span[1] > span[0] else 0.0,
        book_updates=updates,
        failed=failed,
    )
