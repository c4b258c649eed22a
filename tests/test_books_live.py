"""k.book(): maintained, verified books against the fake exchange over loopback (issue: books)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
import trio
from protocol_examples import BOOK_FIXTURE
from support import client_for, next_matching, wait_event

from kraken_trio import BookEvent, InvalidRequestError, LocalBook, OrderBooks, WsKey
from kraken_trio.testing._fake import open_fake_kraken
from kraken_trio.testing._spot_servers import PublicServer

PUBLIC = WsKey.SPOT_PUBLIC_V2
FUTURES = WsKey.DERIVATIVES_PUBLIC_V1


def _frames(fake: Any, key: WsKey, method: str, symbol: str) -> list[dict[str, Any]]:
    out = []
    for r in fake.received(key):
        msg = r.message
        if isinstance(msg, dict) and msg.get("method") == method:
            params = msg.get("params", {})
            if params.get("channel") == "book" and symbol in params.get("symbol", []):
                out.append(msg)
    return out


async def test_book_tracks_the_server_with_every_checksum_verified() -> None:
    async with open_fake_kraken(update_interval=None) as fake, client_for(fake) as k:
        with trio.fail_after(15):
            async with k.book("BTC/USD", depth=10) as book:
                assert isinstance(book, LocalBook)
                first = await book.__aiter__().__anext__()
                assert first.kind == "snapshot"
                assert book.synced
                for _ in range(30):
                    await fake.step()
                # The connection applied every update as it read it; the reader, behind,
                # is told of them in conflated events.
                while book.updates < 20:
                    event = await book.__aiter__().__anext__()
                    assert event.kind == "update", event
                assert book.checksum_failures == 0
                assert book.resyncs == 0
                assert book.checksum == book.last_checksum
                best_bid, best_ask = book.best_bid, book.best_ask
                assert best_bid is not None
                assert best_ask is not None
                assert best_bid[0] < best_ask[0]
                assert book.spread == best_ask[0] - best_bid[0]
                assert book.mid == (best_ask[0] + best_bid[0]) / 2
                assert len(book.bids()) <= 10
                assert len(book.asks(3)) == 3
                assert all(
                    isinstance(p, Decimal) and isinstance(q, Decimal) for p, q in book.bids()
                )


async def test_precision_comes_from_the_instrument_channel_once() -> None:
    async with open_fake_kraken(update_interval=None) as fake, client_for(fake) as k:
        with trio.fail_after(15):
            pairs = await k.instrument_pairs()
            assert pairs["BTC/USD"].price_precision == 1
            assert pairs["SHIB/USD"].price_precision == 9
            async with k.book(["BTC/USD", "SHIB/USD"]) as books:
                assert isinstance(books, OrderBooks)
                assert books["SHIB/USD"].price_precision == 9
                assert books["BTC/USD"].qty_precision == 8
        instrument_subs = [
            r
            for r in fake.received(PUBLIC)
            if isinstance(r.message, dict)
            and r.message.get("method") == "subscribe"
            and r.message["params"]["channel"] == "instrument"
        ]
        assert len(instrument_subs) == 1  # cached


async def test_wrong_checksum_resyncs_exactly_that_symbol_once() -> None:
    async with open_fake_kraken(update_interval=None) as fake, client_for(fake) as k:
        events = k.events()
        with trio.fail_after(15):
            async with k.book(["BTC/USD", "ETH/USD", "SHIB/USD"]) as books:
                seen: set[str] = set()
                async for ev in books:
                    seen.add(ev.symbol)
                    if len(seen) == 3:
                        break
                fake.faults(PUBLIC).corrupt_next_checksum("ETH/USD")
                kinds: list[tuple[str, str]] = []
                resynced = False
                while True:
                    await fake.step()
                    with trio.move_on_after(0.2):
                        while True:
                            ev = await books.__anext__()
                            kinds.append((ev.kind, ev.symbol))
                            if ev.kind == "resync":
                                resynced = True
                            if resynced and ev.kind == "snapshot":
                                break
                    if resynced and ("snapshot", "ETH/USD") in kinds:
                        break
                assert [k_ for k_ in kinds if k_[0] == "resync"] == [("resync", "ETH/USD")]
                assert books["ETH/USD"].resyncs == 1
                assert books["ETH/USD"].checksum_failures == 1
                assert books["BTC/USD"].resyncs == 0
                assert books["SHIB/USD"].resyncs == 0
                assert books["ETH/USD"].synced
                event = await wait_event(events, "resync")
                assert "ETH/USD" in event.detail
        # Exactly one unsubscribe and one new subscribe, for ETH/USD alone.
        assert len(_frames(fake, PUBLIC, "unsubscribe", "ETH/USD")) == 1
        assert len(_frames(fake, PUBLIC, "subscribe", "ETH/USD")) == 2
        assert len(_frames(fake, PUBLIC, "subscribe", "BTC/USD")) == 1
        for frame in _frames(fake, PUBLIC, "unsubscribe", "ETH/USD"):
            assert frame["params"]["symbol"] == ["ETH/USD"]
        assert k.statistics()[PUBLIC].resyncs == 1


async def test_other_subscriptions_are_not_disturbed_by_a_resync() -> None:
    async with open_fake_kraken(update_interval=0.01) as fake, client_for(fake) as k:
        with trio.fail_after(15):
            async with (
                k.subscribe("ticker", symbol=["ETH/USD"]) as ticker,
                k.book("ETH/USD") as book,
            ):
                await next_matching(book.__aiter__(), lambda e: e.kind == "snapshot")
                fake.faults(PUBLIC).corrupt_next_checksum("ETH/USD")
                await next_matching(book.__aiter__(), lambda e: e.kind == "resync")
                await next_matching(book.__aiter__(), lambda e: e.kind == "snapshot")
                # The ticker subscription never saw a gap marker or a second snapshot.
                while ticker.statistics().buffered:
                    msg = await ticker.__anext__()
                    assert getattr(msg, "type", None) in ("snapshot", "update")
                assert ticker.statistics().gaps == 0


async def test_low_priced_pair_and_deep_book_verify() -> None:
    async with open_fake_kraken(update_interval=0.005) as fake, client_for(fake) as k:
        with trio.fail_after(20):
            async with k.book("SHIB/USD", depth=1000) as book:
                count = 0
                async for ev in book:
                    count += ev.kind == "update"
                    if count >= 50:
                        break
                assert book.checksum_failures == 0
                assert len(book.bids()) > 10
                price, _ = book.best_bid or (Decimal(0), Decimal(0))
                assert price.as_tuple().exponent == -9


async def test_reconnect_resyncs_the_book() -> None:
    async with open_fake_kraken(update_interval=0.01) as fake, client_for(fake) as k:
        with trio.fail_after(15):
            async with k.book("BTC/USD") as book:
                it = book.__aiter__()
                await next_matching(it, lambda e: e.kind == "snapshot")
                await fake.faults(PUBLIC).drop()
                gap = await next_matching(it, lambda e: e.kind != "update")
                assert gap.kind == "gap"
                synced_at_gap = book.synced  # a name, so mypy does not narrow the property
                assert not synced_at_gap
                snap = await it.__anext__()
                assert snap.kind == "snapshot"
                assert book.synced
                await next_matching(it, lambda e: e.kind == "update")
                assert book.checksum_failures == 0


async def test_level3_book_keeps_queues_and_verifies() -> None:
    async with open_fake_kraken(update_interval=0.01) as fake, client_for(fake) as k:
        with trio.fail_after(15):
            async with k.book("BTC/USD", depth=10, level=3) as book:
                assert book.level == 3
                updates = 0
                async for ev in book:
                    assert ev.kind in ("snapshot", "update"), ev
                    updates += ev.kind == "update"
                    if updates >= 20:
                        break
                assert book.checksum_failures == 0
                best = book.best_bid
                assert best is not None
                orders = book.orders_at(best[0])
                assert orders
                assert sum(o.order_qty for o in orders) == best[1]


async def test_futures_seq_gap_resubscribes_that_product() -> None:
    async with open_fake_kraken(update_interval=None) as fake, client_for(fake) as k:
        with trio.fail_after(15):
            async with k.book(["PI_XBTUSD", "PF_ETHUSD"], ws_key=FUTURES) as books:
                it = books.__aiter__()
                snapshots = {(await it.__anext__()).symbol for _ in range(2)}
                assert snapshots == {"PI_XBTUSD", "PF_ETHUSD"}
                fake.futures.faults.skip_seq("PI_XBTUSD")
                resync = None
                while resync is None:
                    await fake.futures.step()
                    with trio.move_on_after(0.2):
                        resync = await next_matching(it, lambda e: e.kind == "resync")
                assert resync.symbol == "PI_XBTUSD"
                await next_matching(it, lambda e: e.kind == "snapshot" and e.symbol == "PI_XBTUSD")
                # No step since that snapshot: the local book equals the server's book.
                bids, asks = fake.futures.book("PI_XBTUSD")
                local = books["PI_XBTUSD"]
                assert local.bids() == sorted(bids.items(), reverse=True)
                assert local.asks() == sorted(asks.items())
                assert local.seq_gaps == 1
                assert books["PF_ETHUSD"].resyncs == 0
        unsubs = [
            r.message
            for r in fake.received(FUTURES)
            if isinstance(r.message, dict) and r.message.get("event") == "unsubscribe"
        ]
        assert [u["product_ids"] for u in unsubs if u["feed"] == "book"][:1] == [["PI_XBTUSD"]]


async def test_book_events_are_dataclasses_naming_their_symbol() -> None:
    async with open_fake_kraken(update_interval=None) as fake, client_for(fake) as k:
        with trio.fail_after(10):
            async with k.book("ETH/USD") as book:
                event = await book.__aiter__().__anext__()
        assert isinstance(event, BookEvent)
        assert event.symbol == "ETH/USD"
        assert event.book is book


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [({"level": 4}, "level"), ({"depth": 7}, "depth")],
)
async def test_bad_book_arguments(kwargs: dict[str, Any], needle: str) -> None:
    async with open_fake_kraken(update_interval=None) as fake, client_for(fake) as k:
        with pytest.raises(InvalidRequestError, match=needle):
            async with k.book("BTC/USD", **kwargs):
                pass


RECORDING = BOOK_FIXTURE


async def test_the_real_recording_replayed_through_the_fake_matches_every_checksum() -> None:
    frames = RECORDING.read_text().splitlines()
    assert len(frames) == 510
    async with open_fake_kraken(update_interval=None) as fake, client_for(fake) as k:
        public = fake.server(PUBLIC)
        assert isinstance(public, PublicServer)
        public.script("book", "BTC/USD", frames)
        with trio.fail_after(20):
            async with k.book("BTC/USD", depth=10) as book:
                kinds = [(await book.__aiter__().__anext__()).kind for _ in range(510)]
        assert kinds == ["snapshot"] + ["update"] * 509
        assert book.checksum_failures == 0
        assert book.resyncs == 0
        # The recording lost its trailing zeros (0.001, 4.0): the precision from the
        # instrument channel (1 / 8) is what makes every checksum match.
        assert (book.price_precision, book.qty_precision) == (1, 8)
        assert book.last_checksum == json.loads(frames[-1])["data"][0]["checksum"]


async def test_a_second_book_on_the_same_symbol_gets_its_own_snapshot() -> None:
    async with open_fake_kraken(update_interval=0.01) as fake, client_for(fake) as k:
        with trio.fail_after(15):
            async with k.book("BTC/USD") as first:
                await next_matching(first.__aiter__(), lambda e: e.kind == "snapshot")
                await next_matching(first.__aiter__(), lambda e: e.kind == "update")
                async with k.book("BTC/USD") as second:
                    assert (await second.__aiter__().__anext__()).kind == "snapshot"
                    assert second.synced
                    # The first book is not disturbed: only updates, no resync, no gap.
                    for _ in range(3):
                        event = await first.__aiter__().__anext__()
                        assert event.kind == "update", event
                    assert first.resyncs == 0
                    assert first.checksum_failures == 0
        subscribes = _frames(fake, PUBLIC, "subscribe", "BTC/USD")
        assert len(subscribes) == 1  # the second book joined the live wire


async def test_instrument_pairs_while_already_subscribed_to_instrument() -> None:
    async with open_fake_kraken(update_interval=None) as fake, client_for(fake) as k:
        with trio.fail_after(15):
            async with k.subscribe("instrument") as sub:
                await sub.__anext__()
                pairs = await k.instrument_pairs()
        assert "BTC/USD" in pairs
