"""Hostile numbers in book messages (issue 14, item 7): ``"NaN"``, ``"sNaN"``, ``"Infinity"``,
``1e999999999999999999``, negative or zero values are a ``ProtocolError`` of that message,
never ``decimal.InvalidOperation``, ``TypeError`` or ``MemoryError``."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import trio
from support import client_for

from kraken_trio import WsKey
from kraken_trio._errors import ProtocolError
from kraken_trio._proto import futures as f
from kraken_trio._proto import spot as s
from kraken_trio._proto.book import FuturesBook, L2Book, L3Book
from kraken_trio._proto.codec import FuturesDecoder, SpotDecoder
from kraken_trio.testing import open_fake_kraken

# JSON text of a price or quantity. Strings as Kraken never sends them, and bare numbers.
HOSTILE = [
    '"NaN"',
    '"-NaN"',
    '"sNaN"',
    '"Infinity"',
    '"-Infinity"',
    '"inf"',
    "1e999999999999999999",
    '"1e999999999999999999"',
    "1e-999999999999999999",
    "0e-999999999999999999",
    "0e999999999999999999",
    "1e31",
    "-1",
]
GOOD_PRICE = "45283.5"
GOOD_QTY = "0.5"

spot_decoder = SpotDecoder()
futures_decoder = FuturesDecoder()


def _spot(channel: str, kind: str, levels: str) -> Any:
    text = (
        f'{{"channel":"{channel}","type":"{kind}","data":[{{"symbol":"BTC/USD",'
        f'"bids":{levels},"asks":[],"checksum":0}}]}}'
    )
    return spot_decoder.decode(text)


def _where(value: str, which: str) -> tuple[str, str]:
    return (value, GOOD_QTY) if which == "price" else (GOOD_PRICE, value)


@pytest.mark.parametrize("which", ["price", "qty"])
@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("kind", ["snapshot", "update"])
def test_l2_book_refuses_hostile_numbers(value: str, which: str, kind: str) -> None:
    price, qty = _where(value, which)
    msg = _spot("book", kind, f'[{{"price":{price},"qty":{qty}}}]')
    assert isinstance(msg, s.BookMessage)
    data = msg.data[0]
    book = L2Book("BTC/USD", 10, None, None)
    book.apply_snapshot([s.PriceLevel(price=Decimal("1.5"), qty=Decimal("2"))], [])
    apply = book.apply_snapshot if kind == "snapshot" else book.apply_update
    with pytest.raises(ProtocolError, match="in book for BTC/USD"):
        apply(data.bids, data.asks)
    assert book.bids() == ([] if kind == "snapshot" else [(Decimal("1.5"), Decimal("2"))])
    book.checksum()  # what is left can still be rendered


@pytest.mark.parametrize("which", ["price", "qty"])
@pytest.mark.parametrize("value", HOSTILE)
def test_l3_book_refuses_hostile_numbers(value: str, which: str) -> None:
    price, qty = _where(value, which)
    order = f'[{{"order_id":"O1","limit_price":{price},"order_qty":{qty},"event":"add"}}]'
    msg = _spot("level3", "update", order)
    assert isinstance(msg, s.L3Message)
    book = L3Book("BTC/USD", 10, None, None)
    with pytest.raises(ProtocolError, match="level3 for BTC/USD"):
        book.apply_update(msg.data[0].bids, msg.data[0].asks)
    with pytest.raises(ProtocolError, match="level3 for BTC/USD"):
        book.apply_snapshot(msg.data[0].bids, msg.data[0].asks)
    assert book.order_count == 0
    book.checksum()


@pytest.mark.parametrize("which", ["price", "qty"])
@pytest.mark.parametrize("value", HOSTILE)
def test_futures_book_refuses_hostile_numbers(value: str, which: str) -> None:
    price, qty = _where(value, which)
    snapshot = futures_decoder.decode(
        '{"feed":"book_snapshot","product_id":"PI_XBTUSD","timestamp":1,"seq":1,'
        f'"bids":[{{"price":{price},"qty":{qty}}}],"asks":[]}}'
    )
    delta = futures_decoder.decode(
        '{"feed":"book","product_id":"PI_XBTUSD","side":"buy","seq":2,'
        f'"price":{price},"qty":{qty},"timestamp":1}}'
    )
    assert isinstance(snapshot, f.FuturesBookSnapshot)
    assert isinstance(delta, f.FuturesBookDelta)
    book = FuturesBook("PI_XBTUSD")
    with pytest.raises(ProtocolError, match="PI_XBTUSD"):
        book.apply_snapshot(snapshot.seq, snapshot.bids, snapshot.asks)
    assert book.seq is None
    book.apply_snapshot(1, [], [])
    with pytest.raises(ProtocolError, match="PI_XBTUSD"):
        book.apply_delta(delta.seq, delta.side, delta.price, delta.qty)
    assert book.seq == 1  # nothing changed


def test_a_sound_level_at_the_edges_is_accepted() -> None:
    book = L2Book("SHIB/USD", 10, None, None)
    msg = _spot(
        "book",
        "snapshot",
        '[{"price":"0.000000001","qty":"9e29"},{"price":2,"qty":0},{"price":3,"qty":"0E-8"}]',
    )
    book.apply_snapshot(msg.data[0].bids, msg.data[0].asks)
    assert book.bid_count == 1
    book.checksum()


async def test_a_hostile_price_over_the_wire_resyncs_that_book_and_goes_on() -> None:
    public = WsKey.SPOT_PUBLIC_V2
    async with open_fake_kraken(update_interval=None) as fake, client_for(fake) as k:
        with trio.fail_after(15):
            async with k.book(["BTC/USD", "ETH/USD"]) as books:
                seen: set[str] = set()
                async for event in books:
                    seen.add(event.symbol)
                    if len(seen) == 2:
                        break
                for bad in ['"NaN"', '"sNaN"', "1e999999999999999999"]:
                    raw = (
                        '{"channel":"book","type":"update","data":[{"symbol":"BTC/USD",'
                        f'"bids":[{{"price":{bad},"qty":1}}],"asks":[],"checksum":0}}]}}'
                    )
                    await fake.faults(public).send_raw(raw)
                    event = await books.__anext__()
                    assert (event.kind, event.symbol) == ("resync", "BTC/USD")
                    while not (event.kind == "snapshot" and event.symbol == "BTC/USD"):
                        event = await books.__anext__()
                assert books["BTC/USD"].resyncs == 3
                assert books["BTC/USD"].synced
                assert books["ETH/USD"].resyncs == 0
