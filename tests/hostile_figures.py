"""Measures the figures of the "Hostile servers" table in docs/reliability.md.

Run from the repository root: ``python tests/hostile_figures.py``. Each attack runs against
the hostile servers of :mod:`hostile` on loopback, in this process; memory is the peak that
``tracemalloc`` saw above the baseline taken just before the attack (client and server
together, so an upper bound for the client).
"""

from __future__ import annotations

import base64
import logging
import time
import timeit
import tracemalloc
from collections.abc import Awaitable, Callable
from decimal import Decimal

import trio
from hostile import (
    Handler,
    declares_huge_frame,
    deeply_nested,
    huge_reply,
    kraken_error,
    open_hostile_rest,
    open_hostile_websocket,
    silent,
)
from support import client_for

from kraken_trio import Config, KrakenError, WsKey
from kraken_trio._proto import spot as s
from kraken_trio._proto.auth import Credentials
from kraken_trio._proto.book import L2Book
from kraken_trio._redact import _filter, register_secret
from kraken_trio._rest import TokenSource
from kraken_trio._transport import TransportClosed, connect_websocket
from kraken_trio.testing import open_fake_kraken

MiB = 1024 * 1024
CREDENTIALS = Credentials("figures-key", base64.b64encode(bytes(range(64))).decode())


async def measured(attack: Callable[[], Awaitable[str]]) -> tuple[str, float, float]:
    """Run ``attack``; its text, seconds taken and peak traced MiB above the baseline."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    start = time.perf_counter()
    text = await attack()
    seconds = time.perf_counter() - start
    peak = (tracemalloc.get_traced_memory()[1] - base) / MiB
    tracemalloc.stop()
    return text, seconds, peak


async def giant_frame(declared: int) -> str:
    async with open_hostile_websocket(declares_huge_frame(declared, chunks=16384)) as server:
        ws = await connect_websocket(server.url, max_message_size=16 * MiB, connect_timeout=5)
        try:
            while True:
                await ws.receive_batch()
        except TransportClosed as exc:
            code = exc.code
        await ws.aclose()
        await server.wait_connections(1)
        sent = server.peers[0].bytes_sent
        return (
            f"close code {code}; client read {ws.bytes_received / 1024:.0f} KiB and kept"
            f" {len(ws._buf)} B; server got {sent / MiB:.1f} MiB out"
        )


async def rest_attack(handler: Handler) -> str:
    config = Config()
    async with open_hostile_rest(handler) as rest:
        source = TokenSource(
            CREDENTIALS, rest.url, config.rest_timeout, max_body=config.max_rest_body_size
        )
        try:
            await source.fetch()
        except KrakenError as exc:
            outcome = f"{type(exc).__name__}"
        else:
            outcome = "a token"
        await source.aclose()
        return f"{outcome}; server got {rest.body_bytes_sent / MiB:.1f} MiB of body out"


async def silent_port(seconds: float) -> str:
    async with open_hostile_websocket(silent) as server:
        try:
            await connect_websocket(server.url, max_message_size=MiB, connect_timeout=seconds)
        except TransportClosed as exc:
            return f"TransportClosed: {exc.reason[:70]}..."
    return "connected?"


async def hostile_book_prices() -> str:
    public = WsKey.SPOT_PUBLIC_V2
    async with (
        open_fake_kraken(update_interval=None) as fake,
        client_for(fake) as k,
        k.book(["BTC/USD", "ETH/USD"]) as books,
    ):
        seen: set[str] = set()
        async for event in books:
            seen.add(event.symbol)
            if len(seen) == 2:
                break
        took: list[float] = []
        for bad in ['"NaN"', '"sNaN"', '"Infinity"', "1e999999999999999999", '"-1"'] * 4:
            raw = (
                '{"channel":"book","type":"update","data":[{"symbol":"BTC/USD",'
                f'"bids":[{{"price":{bad},"qty":1}}],"asks":[],"checksum":0}}]}}'
            )
            start = time.perf_counter()
            await fake.faults(public).send_raw(raw)
            event = await books.__anext__()
            while not (event.kind == "snapshot" and event.symbol == "BTC/USD"):
                event = await books.__anext__()
            took.append(time.perf_counter() - start)
        took.sort()
        return (
            f"{len(took)} bad messages, {books['BTC/USD'].resyncs} resyncs of BTC/USD,"
            f" {books['ETH/USD'].resyncs} of ETH/USD; bad message to fresh snapshot"
            f" median {took[len(took) // 2] * 1000:.1f} ms"
        )


def book_check_cost() -> str:
    book = L2Book("BTC/USD", 10, 1, 8)
    levels = [s.PriceLevel(price=Decimal(f"{45000 + i}.5"), qty=Decimal("0.5")) for i in range(10)]
    book.apply_snapshot(levels, [])
    update = [s.PriceLevel(price=Decimal("45005.5"), qty=Decimal("0.70000000"))]
    n = 100_000
    best = min(timeit.repeat(lambda: book.apply_update(update, []), number=n, repeat=5))
    return f"apply_update of one level: {best / n * 1e9:.0f} ns (checks included)"


def redaction_cost() -> str:
    """A record made and formatted, plain and through the filter (no handler, less noise)."""
    for i in range(3):
        register_secret(f"figures-secret-{i}-0123456789abcdef")
    msg = b'{"channel":"book","type":"update","data":[{"symbol":"BTC/USD"}]}'
    args = ("spotPublicV2", msg)
    n = 20_000

    def plain() -> None:
        logging.LogRecord("kraken_trio", 30, "", 1, "[%s] dropped: %.200r", args, None).getMessage()

    def filtered() -> None:
        record = logging.LogRecord("kraken_trio", 30, "", 1, "[%s] dropped: %.200r", args, None)
        _filter.filter(record)
        record.getMessage()

    without, with_filter = (
        min(timeit.repeat(fn, number=n, repeat=7)) / n * 1e6 for fn in (plain, filtered)
    )
    return f"a WARNING record made and formatted: {without:.1f} us, redacted {with_filter:.1f} us"


async def main() -> None:
    rows: list[tuple[str, str, float, float]] = []

    async def row(name: str, attack: Callable[[], Awaitable[str]]) -> None:
        text, seconds, peak = await measured(attack)
        rows.append((name, text, seconds, peak))
        print(f"{name}: {text}; {seconds:.2f} s; peak +{peak:.1f} MiB", flush=True)

    await row("frame declaring 1 GiB", lambda: giant_frame(2**30))
    await row("frame declaring 2^63", lambda: giant_frame(2**63))
    await row("token reply 300 MB (Content-Length)", lambda: rest_attack(huge_reply(300 * MiB)))
    await row(
        "token reply 300 MB (chunked)", lambda: rest_attack(huge_reply(300 * MiB, declare=False))
    )
    await row("token reply nested 5,000 deep", lambda: rest_attack(deeply_nested(5000)))
    await row(
        "token reply EAPI:Rate limit exceeded",
        lambda: rest_attack(kraken_error("EAPI:Rate limit exceeded")),
    )
    await row("port that never speaks WebSocket (timeout 2 s)", lambda: silent_port(2.0))
    await row("hostile numbers in book updates", hostile_book_prices)
    print(book_check_cost())
    print(redaction_cost())


if __name__ == "__main__":
    logging.basicConfig(level=logging.ERROR)
    trio.run(main)
