"""The pure order books: Kraken's published vectors, a real recording, edge cases, a model."""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, NamedTuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from protocol_examples import BOOK_FIXTURE

from kraken_trio._errors import ProtocolError
from kraken_trio._proto import futures, spot
from kraken_trio._proto.book import BookOrder, FuturesBook, L2Book, L3Book
from kraken_trio._proto.checksum import checksum_digits, crc32_levels
from kraken_trio._proto.codec import FuturesDecoder, SpotDecoder

D = Decimal


class Level(NamedTuple):
    price: Decimal
    qty: Decimal


class Order(NamedTuple):
    order_id: str
    limit_price: Decimal
    order_qty: Decimal
    timestamp: str = "2023-10-06T17:35:00.279389650Z"
    event: str = "add"


def levels(pairs: Iterable[tuple[str | Decimal, str | Decimal]]) -> list[Level]:
    return [Level(D(p), D(q)) for p, q in pairs]


def wire_levels(items: list[dict[str, Any]]) -> list[Level]:
    return [Level(item["price"], item["qty"]) for item in items]


# The reference implementation of the protocol reference, section 3.6, verbatim in spirit:
# it re-sorts everything each time and is the model the fast book is checked against.
def ref_fmt(x: Decimal, prec: int) -> str:
    return format(Decimal(str(x)), f".{prec}f").replace(".", "").lstrip("0")


def ref_checksum(
    bids: Mapping[Decimal, Decimal], asks: Mapping[Decimal, Decimal], pp: int, qp: int
) -> int:
    a = sorted(asks.items())[:10]
    b = sorted(bids.items(), reverse=True)[:10]
    s = "".join(ref_fmt(p, pp) + ref_fmt(q, qp) for p, q in a) + "".join(
        ref_fmt(p, pp) + ref_fmt(q, qp) for p, q in b
    )
    return zlib.crc32(s.encode())


def ref_book(book: L2Book) -> int:
    assert book.price_precision is not None
    assert book.qty_precision is not None
    return ref_checksum(
        dict(book.bids()), dict(book.asks()), book.price_precision, book.qty_precision
    )


# --------------------------------------------------------------------------------------------
# Kraken's published vectors
# --------------------------------------------------------------------------------------------

GUIDE_BIDS = [
    ("45283.5", "0.10000000"),
    ("45283.4", "1.54582015"),
    ("45282.1", "0.10000000"),
    ("45281.0", "0.10000000"),
    ("45280.3", "1.54592586"),
    ("45279.0", "0.07990000"),
    ("45277.6", "0.03310103"),
    ("45277.5", "0.30000000"),
    ("45277.3", "1.54602737"),
    ("45276.6", "0.15445238"),
]
GUIDE_ASKS = [
    ("45285.2", "0.00100000"),
    ("45286.4", "1.54571953"),
    ("45286.6", "1.54571109"),
    ("45289.6", "1.54560911"),
    ("45290.2", "0.15890660"),
    ("45291.8", "1.54553491"),
    ("45294.7", "0.04454749"),
    ("45296.1", "0.35380000"),
    ("45297.5", "0.09945542"),
    ("45299.5", "0.18772827"),
]


def test_guide_vector_3310070434() -> None:
    book = L2Book("BTC/USD", 10, 1, 8)
    # Kraken lists the snapshot best-first; feed it in a shuffled order to show order is ours.
    book.apply_snapshot(levels(reversed(GUIDE_BIDS)), levels(GUIDE_ASKS[::2] + GUIDE_ASKS[1::2]))
    assert book.checksum() == 3310070434
    assert book.verify(3310070434)
    assert not book.verify(3310070435)
    assert book.bids(1) == [(D("45283.5"), D("0.1"))]
    assert book.asks(1) == [(D("45285.2"), D("0.001"))]


def test_guide_vector_without_trailing_zeros_still_matches() -> None:
    # Same book, numbers stripped of their padding (as a float round-trip would): rendering
    # at the pair precision restores them.
    book = L2Book("BTC/USD", 10, 1, 8)
    book.apply_snapshot(
        [Level(D(p).normalize(), D(q).normalize()) for p, q in GUIDE_BIDS],
        [Level(D(p).normalize(), D(q).normalize()) for p, q in GUIDE_ASKS],
    )
    assert book.checksum() == 3310070434


MATIC_SNAPSHOT = (
    '{"channel":"book","type":"snapshot","data":[{"symbol":"MATIC/USD","bids":['
    '{"price":0.5666,"qty":4831.75496356},{"price":0.5665,"qty":6658.22734739},'
    '{"price":0.5664,"qty":18724.91513344},{"price":0.5663,"qty":11563.92544914},'
    '{"price":0.5662,"qty":14006.65365711},{"price":0.5661,"qty":17454.85679807},'
    '{"price":0.566,"qty":18097.1547},{"price":0.5659,"qty":33644.89175666},'
    '{"price":0.5658,"qty":148.3464},{"price":0.5657,"qty":606.70854372}],"asks":['
    '{"price":0.5668,"qty":4410.79769741},{"price":0.5669,"qty":4655.40412487},'
    '{"price":0.567,"qty":49844.89424998},{"price":0.5671,"qty":24306.41678},'
    '{"price":0.5672,"qty":29783.25223475},{"price":0.5673,"qty":57234.71239278},'
    '{"price":0.5674,"qty":45065.04744},{"price":0.5675,"qty":5912.76380354},'
    '{"price":0.5676,"qty":42514.92434778},{"price":0.5677,"qty":36304.0847022}],'
    '"checksum":2439117997,"timestamp":"2023-10-06T17:35:55.440295Z"}]}'
)
MATIC_UPDATE = (
    '{"channel":"book","type":"update","data":[{"symbol":"MATIC/USD","bids":'
    '[{"price":0.5657,"qty":1098.3947558}],"asks":[],"checksum":2114181697,'
    '"timestamp":"2023-10-06T17:35:55.440295Z"}]}'
)


def test_matic_snapshot_and_update_vectors() -> None:
    book = L2Book("MATIC/USD", 10, 4, 8)
    snap = json.loads(MATIC_SNAPSHOT, parse_float=Decimal)["data"][0]
    book.apply_snapshot(wire_levels(snap["bids"]), wire_levels(snap["asks"]))
    assert snap["checksum"] == 2439117997
    assert book.verify(2439117997)
    update = json.loads(MATIC_UPDATE, parse_float=Decimal)["data"][0]
    book.apply_update(wire_levels(update["bids"]), wire_levels(update["asks"]))
    assert book.verify(2114181697)
    assert book.bids()[-1] == (D("0.5657"), D("1098.3947558"))
    # Rendering as decoded (no pair precision) is exactly the float-ish pitfall: it fails.
    raw = L2Book("MATIC/USD", 10, None, None)
    raw.apply_snapshot(wire_levels(snap["bids"]), wire_levels(snap["asks"]))
    assert not raw.verify(2439117997)


# Kraken's L3 docs example (protocol reference section 3.5), each number exactly as printed.
L3_ASKS = [
    ("44939.5", ["4.52308393", "0.00111261", "0.00100000", "0.01000000"]),
    ("44950.0", ["1.0334926"]),
    ("44953.0", ["0.64537"]),
    ("44955.0", ["0.250000"]),
    ("44959.6", ["0.35630000", "0.35630000"]),
    ("44960.1", ["3.38072"]),
    ("44960.2", ["0.88967575"]),
    ("44967.0", ["3.14392283"]),
    ("44978.5", ["0.6778960"]),
    ("44979.2", ["0.35630000"]),
]
L3_BIDS = [
    (
        "44939.4",
        [
            "0.88968699",
            "0.45210000",
            "0.10000000",
            "0.14296323",
            "0.25000000",
            "0.10292988",
            "0.33880000",
            "1.28140860",
        ],
    ),
    ("44937.1", ["0.3346877"]),
    ("44934.7", ["0.35630000"]),
    ("44930.2", ["0.22734299", "0.1000000", "0.5550000", "0.70000000", "0.15000000"]),
    ("44928.0", ["0.105240"]),
    ("44919.6", ["0.33870000"]),
    ("44919.5", ["0.7610000"]),
    ("44912.0", ["0.35630000"]),
    ("44909.7", ["0.6690000"]),
    ("44901.9", ["0.88982"]),
]
L3_ASKS_STRING = (
    "44939545230839344939511126144939510000044939510000004495001033492644953064537449550250000"
    "449596356300004495963563000044960133807244960288967575449670314392283449785677896044979235630000"
)
L3_BIDS_STRING = (
    "449394889686994493944521000044939410000000449394142963234493942500000044939410292988449394338800"
    "004493941281408604493713346877449347356300004493022273429944930210000004493025550000449302700000"
    "004493021500000044928010524044919633870000449195761000044912035630000449097669000044901988982"
)


def l3_orders(side: str, layout: list[tuple[str, list[str]]], event: str = "add") -> list[Order]:
    return [
        Order(f"{side}{i}-{j}", D(price), D(qty), event=event)
        for i, (price, qtys) in enumerate(layout)
        for j, qty in enumerate(qtys)
    ]


def test_l3_vector_1063832831() -> None:
    # The docs example prints quantities with inconsistent decimal counts ("1.0334926",
    # "0.250000", "0.1000000") and its checksum hashes those strings as printed, so no single
    # qty precision reproduces it. Decimal keeps the exponent of the text it was built from,
    # so precision None ("render as decoded", the raw-text strategy of section 3.1) hashes
    # exactly the printed text: this checks the per-order, FIFO-within-level construction.
    assert zlib.crc32((L3_ASKS_STRING + L3_BIDS_STRING).encode()) == 1063832831
    book = L3Book("BTC/USD", 10, None, None)
    # Snapshot given worst-first per side: the book sorts levels but keeps queue order.
    book.apply_snapshot(l3_orders("b", L3_BIDS[::-1]), l3_orders("a", L3_ASKS[::-1]))
    assert book.checksum() == 1063832831
    # Same orders, queue order reversed within the first ask level: a different checksum.
    swapped = L3Book("BTC/USD", 10, None, None)
    asks = l3_orders("a", L3_ASKS)
    swapped.apply_snapshot(l3_orders("b", L3_BIDS), asks[3::-1] + asks[4:])
    assert swapped.checksum() != 1063832831
    # At the pair precision (1/8) the book renders every qty with 8 places: it equals the
    # per-order construction over re-rendered digits, and not the as-printed vector.
    fixed = L3Book("BTC/USD", 10, 1, 8)
    fixed.apply_snapshot(l3_orders("b", L3_BIDS), l3_orders("a", L3_ASKS))
    items_a = [
        (checksum_digits(D(p), 1), checksum_digits(D(q), 8)) for p, qs in L3_ASKS for q in qs
    ]
    items_b = [
        (checksum_digits(D(p), 1), checksum_digits(D(q), 8)) for p, qs in L3_BIDS for q in qs
    ]
    assert fixed.checksum() == crc32_levels(items_a, items_b)
    assert fixed.checksum() != 1063832831


# --------------------------------------------------------------------------------------------
# The real recording
# --------------------------------------------------------------------------------------------


def load_recording() -> list[tuple[str, list[Level], list[Level], int]]:
    out = []
    text = BOOK_FIXTURE.read_text()
    for line in text.splitlines():
        msg = json.loads(line, parse_float=Decimal)
        (data,) = msg["data"]
        out.append(
            (msg["type"], wire_levels(data["bids"]), wire_levels(data["asks"]), data["checksum"])
        )
    return out


def replay(depth: int) -> list[int]:
    """Replay the recording; return the indexes of messages whose checksum mismatched."""
    book = L2Book("BTC/USD", depth, 1, 8)
    bad = []
    for i, (kind, bids, asks, checksum) in enumerate(load_recording()):
        if kind == "snapshot":
            book.apply_snapshot(bids, asks)
        else:
            book.apply_update(bids, asks)
        if not book.verify(checksum):
            bad.append(i)
        assert book.bid_count <= depth
        assert book.ask_count <= depth
    return bad


def test_recording_all_510_checksums_match() -> None:
    recording = load_recording()
    assert len(recording) == 510
    assert [kind for kind, *_ in recording].count("update") == 509
    assert recording[0][0] == "snapshot"
    assert recording[0][3] == 2785033588
    assert replay(10) == []


def test_recording_without_truncation_mismatches() -> None:
    bad = replay(1000)
    assert len(bad) == 450
    assert bad[0] == 60  # the 60th update (message 61) is the first to go wrong


def test_recording_first_update() -> None:
    (_, sb, sa, _), (_, ub, ua, checksum) = load_recording()[:2]
    assert ub == []
    assert ua == levels([("29431.1", "0.0"), ("29433.3", "0.8"), ("29430.6", "0.001")])
    book = L2Book("BTC/USD", 10, 1, 8)
    book.apply_snapshot(sb, sa)
    before = book.asks()
    book.apply_update(ub, ua)
    assert book.verify(checksum)
    assert book.asks(1) == [(D("29430.3"), D("8.25215653"))]
    assert (D("29430.6"), D("0.001")) in book.asks()
    assert D("29431.1") in {p for p, _ in before}
    assert D("29431.1") not in {p for p, _ in book.asks()}


# --------------------------------------------------------------------------------------------
# L2 edge cases
# --------------------------------------------------------------------------------------------


def test_empty_and_thin_books() -> None:
    book = L2Book("XBT/EUR", 10, 1, 8)
    assert book.checksum() == zlib.crc32(b"") == 0
    # (tuples, because mypy would keep narrowing a property across the mutations below)
    assert (book.best_bid, book.best_ask, book.spread, book.mid) == (None, None, None, None)
    assert book.bids() == []
    assert book.crossed is False
    book.apply_snapshot(levels([("100.0", "1")]), [])
    assert (book.best_bid, book.best_ask, book.spread) == ((D("100.0"), D("1")), None, None)
    # the asks string is empty, the bids string is "1000" + "100000000"
    assert book.checksum() == zlib.crc32(b"1000100000000")
    book.apply_update([], levels([("101.5", "2.5"), ("103.0", "0.00000001")]))
    assert book.checksum() == zlib.crc32(b"101525000000010301" + b"1000100000000")
    assert book.checksum() == ref_book(book)
    assert (book.bid_count, book.ask_count) == (1, 2)
    assert book.spread == D("1.5")
    assert book.mid == D("100.75")


def test_low_priced_pair_nine_decimals() -> None:
    book = L2Book("SHIB/USD", 10, 9, 2)
    bids = [Level(D("0.000012345"), D("1000000.5")), Level(D("0.000012344"), D("250"))]
    # 1.2346E-5 is how a float repr or an exponent-notation decoder would give it.
    asks = [Level(D("1.2346E-5"), D("1E+3")), Level(D("0.000012350"), D("12.34"))]
    book.apply_snapshot(bids, asks)
    expected = (
        b"12346" + b"100000" + b"12350" + b"1234" + b"12345" + b"100000050" + b"12344" + b"25000"
    )
    assert book.checksum() == zlib.crc32(expected)
    assert book.best_ask == (D("0.000012346"), D("1000"))
    assert book.spread == D("0.000000001")
    assert book.mid == D("0.0000123455")
    # str(float) would give '1.2346e-05': the naive route really is wrong here.
    assert str(float("0.000012346")).replace(".", "").lstrip("0") != "12346"


def test_duplicate_price_in_one_update_last_wins() -> None:
    book = L2Book("BTC/USD", 10, 1, 8)
    book.apply_snapshot(levels([("10.0", "1")]), levels([("11.0", "1")]))
    book.apply_update(levels([("9.0", "1"), ("9.0", "2"), ("10.0", "0"), ("10.0", "3")]), [])
    assert book.bids() == [(D("10.0"), D("3")), (D("9.0"), D("2"))]
    book.apply_update([], levels([("12.0", "5"), ("12.0", "0")]))
    assert book.asks() == [(D("11.0"), D("1"))]
    assert book.checksum() == ref_book(book)


def test_delete_of_unknown_price_is_ignored() -> None:
    book = L2Book("BTC/USD", 10, 1, 8)
    book.apply_snapshot(levels([("10.0", "1")]), levels([("11.0", "1")]))
    before = book.checksum()
    book.apply_update(levels([("9.5", "0")]), levels([("12.0", "0.00000000")]))
    assert book.bids() == [(D("10.0"), D("1"))]
    assert book.asks() == [(D("11.0"), D("1"))]
    assert book.checksum() == before


def test_prices_equal_in_value_are_one_level() -> None:
    book = L2Book("BTC/USD", 10, 1, 8)
    book.apply_snapshot(levels([("10.0", "1")]), [])
    book.apply_update(levels([("10", "2"), ("10.00", "0"), ("10.0", "4")]), [])
    assert book.bids() == [(D("10"), D("4"))]
    assert book.checksum() == ref_book(book)


def test_crossed_book_is_kept_as_sent() -> None:
    # Documented choice: the book holds exactly what Kraken sent, crossed or not, because
    # Kraken's checksum covers both levels; `crossed` reports it.
    book = L2Book("BTC/USD", 10, 1, 8)
    book.apply_snapshot(
        levels([("10.0", "1"), ("9.0", "1")]), levels([("11.0", "1"), ("12.0", "1")])
    )
    assert (book.crossed, book.spread) == (False, D("1"))
    book.apply_update(levels([("11.5", "2")]), [])
    assert (book.crossed, book.spread) == (True, D("-0.5"))
    assert book.best_bid == (D("11.5"), D("2"))
    assert book.best_ask == (D("11.0"), D("1"))
    assert book.asks() == [(D("11.0"), D("1")), (D("12.0"), D("1"))]
    assert book.checksum() == ref_book(book)
    book.apply_update([], levels([("11.0", "0")]))
    assert (book.crossed, book.spread) == (False, D("0.5"))
    book.apply_update([], levels([("11.5", "1")]))  # touching: zero spread is crossed too
    assert (book.crossed, book.spread) == (True, D("0.0"))


def test_truncation_after_each_message() -> None:
    book = L2Book("BTC/USD", 3, 1, 8)
    book.apply_snapshot(
        levels([("10.0", "1"), ("9.0", "1"), ("8.0", "1"), ("7.0", "1")]),
        levels([("14.0", "1"), ("11.0", "1"), ("12.0", "1"), ("13.0", "1")]),
    )
    assert [p for p, _ in book.bids()] == [D("10.0"), D("9.0"), D("8.0")]
    assert [p for p, _ in book.asks()] == [D("11.0"), D("12.0"), D("13.0")]
    # A better bid pushes 8.0 out; deleting the top later must not bring 8.0 back.
    book.apply_update(levels([("10.5", "1")]), [])
    book.apply_update(levels([("10.5", "0")]), [])
    assert [p for p, _ in book.bids()] == [D("10.0"), D("9.0")]
    # Within one message the level that would be pushed out comes back before truncation.
    book.apply_update([], levels([("10.9", "1"), ("10.8", "1"), ("10.9", "0")]))
    assert [p for p, _ in book.asks()] == [D("10.8"), D("11.0"), D("12.0")]
    assert book.checksum() == ref_book(book)


def test_queries_best_first_and_n() -> None:
    book = L2Book("ETH/USD", 25, 2, 8)
    book.apply_snapshot(
        levels([(f"{100 - i}.00", f"{i + 1}") for i in range(20)]),
        levels([(f"{101 + i}.00", f"{i + 1}") for i in range(20)]),
    )
    assert book.bids(3) == levels([("100", "1"), ("99", "2"), ("98", "3")])
    assert book.asks(2) == levels([("101", "1"), ("102", "2")])
    assert len(book.bids()) == 20
    assert book.bids(0) == []
    assert book.asks(100) == book.asks()
    assert book.checksum() == ref_book(book)  # only the top ten count
    book.apply_update(levels([("85.00", "7")]), [])  # below the top ten: same checksum
    assert book.checksum() == ref_book(book)
    assert (book.symbol, book.depth, book.price_precision, book.qty_precision) == (
        "ETH/USD",
        25,
        2,
        8,
    )
    assert "ETH/USD" in repr(book)


def test_checksum_follows_every_change() -> None:
    book = L2Book("BTC/USD", 10, 1, 8)
    book.apply_snapshot(levels(GUIDE_BIDS), levels(GUIDE_ASKS))
    seen = {book.checksum()}
    updates: list[tuple[list[tuple[str, str]], list[tuple[str, str]]]] = [
        ([], [("45285.2", "0.00200000")]),  # qty change on the best ask
        ([("45276.6", "0")], []),  # delete the 10th bid
        ([("45270.0", "1")], []),  # new 10th bid
        ([], [("45284.0", "1")]),  # new best ask pushes the 10th out of the top ten
    ]
    for bids, asks in updates:
        book.apply_update(levels(bids), levels(asks))
        assert book.checksum() == ref_book(book)
        seen.add(book.checksum())
    assert len(seen) == 5


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="depth"):
        L2Book("BTC/USD", 0, 1, 8)
    with pytest.raises(ValueError, match="precision"):
        L2Book("BTC/USD", 10, -1, 8)
    book = L2Book("BTC/USD", 10, 1, 8)
    book.apply_snapshot(levels([("1.0", "1")]), [])
    with pytest.raises(ProtocolError, match=r"negative quantity -1 at price 2\.0 .*BTC/USD"):
        book.apply_update(levels([("2.0", "-1")]), [])
    with pytest.raises(ProtocolError, match="negative"):
        book.apply_snapshot(levels([("1.0", "1")]), levels([("3.0", "-2")]))
    assert book.bids() == []  # a refused snapshot leaves an empty book, not half of one
    book.apply_snapshot(levels([("1.0", "1")]), [])
    book.clear()
    assert (book.bid_count, book.checksum()) == (0, 0)


# --------------------------------------------------------------------------------------------
# Property: the fast book agrees with the naive model of section 3.6
# --------------------------------------------------------------------------------------------

qty_values = st.one_of(st.just(0), st.just(0), st.integers(min_value=1, max_value=10**10))


@st.composite
def book_scenarios(draw: st.DrawFn) -> tuple[int, int, int, list[tuple[list[Level], list[Level]]]]:
    pp = draw(st.integers(min_value=0, max_value=9))
    qp = draw(st.integers(min_value=0, max_value=8))
    depth = draw(st.sampled_from([1, 2, 3, 10, 12, 25]))

    def level() -> Level:
        # A small price grid makes repeats, deletes of live levels and crossings common.
        price = Decimal(draw(st.integers(min_value=1, max_value=40))).scaleb(-pp)
        qty = Decimal(draw(qty_values)).scaleb(-qp)
        if draw(st.booleans()):
            qty = qty.normalize()  # the same value with its trailing zeros lost
        return Level(price, qty)

    messages = []
    for _ in range(draw(st.integers(min_value=1, max_value=12))):
        nb = draw(st.integers(min_value=0, max_value=14))
        na = draw(st.integers(min_value=0, max_value=14))
        messages.append(([level() for _ in range(nb)], [level() for _ in range(na)]))
    return pp, qp, depth, messages


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(book_scenarios())
def test_l2_matches_naive_model(
    scenario: tuple[int, int, int, list[tuple[list[Level], list[Level]]]],
) -> None:
    pp, qp, depth, messages = scenario
    book = L2Book("X/Y", depth, pp, qp)
    model_bids: dict[Decimal, Decimal] = {}
    model_asks: dict[Decimal, Decimal] = {}
    for i, (bids, asks) in enumerate(messages):
        if i == 0:
            model_bids.clear()
            model_asks.clear()
            book.apply_snapshot(bids, asks)
        else:
            book.apply_update(bids, asks)
        for model, side in ((model_bids, bids), (model_asks, asks)):
            for lvl in side:
                if lvl.qty == 0:
                    model.pop(lvl.price, None)
                else:
                    model[lvl.price] = lvl.qty
        model_bids = dict(sorted(model_bids.items(), reverse=True)[:depth])
        model_asks = dict(sorted(model_asks.items())[:depth])
        assert book.bids() == sorted(model_bids.items(), reverse=True)
        assert book.asks() == sorted(model_asks.items())
        assert book.checksum() == ref_checksum(model_bids, model_asks, pp, qp)


# --------------------------------------------------------------------------------------------
# Futures: seq gap detection
# --------------------------------------------------------------------------------------------


def futures_book() -> FuturesBook:
    book = FuturesBook("PI_XBTUSD")
    book.apply_snapshot(
        326072249,
        levels([("34892.5", "6385"), ("34892", "10924")]),
        levels([("34911.5", "20598"), ("34912", "2300")]),
    )
    return book


def test_futures_snapshot_and_deltas_in_sequence() -> None:
    book = futures_book()
    assert book.seq == 326072249
    assert book.best_bid == (D("34892.5"), D("6385"))
    assert book.best_ask == (D("34911.5"), D("20598"))
    assert book.spread == D("19")
    assert book.mid == D("34902")
    assert book.apply_delta(326072250, "sell", D("34911.5"), D("0"))
    assert book.apply_delta(326072251, "buy", D("34893"), D("5"))
    assert book.apply_delta(326072252, "sell", D("34950"), D("1"))
    assert book.seq == 326072252
    assert book.bids() == levels([("34893", "5"), ("34892.5", "6385"), ("34892", "10924")])
    assert book.asks() == levels([("34912", "2300"), ("34950", "1")])
    assert (book.bid_count, book.ask_count) == (3, 2)
    assert book.product_id == book.symbol == "PI_XBTUSD"


def test_futures_gap_changes_nothing() -> None:
    book = futures_book()
    before = (book.bids(), book.asks())
    assert not book.apply_delta(326072251, "buy", D("34893"), D("5"))  # skipped one
    assert not book.apply_delta(326072249, "buy", D("34893"), D("5"))  # a repeat
    assert not book.apply_delta(326072248, "buy", D("34893"), D("5"))  # from the past
    assert (book.bids(), book.asks()) == before
    assert book.seq == 326072249
    assert book.apply_delta(326072250, "buy", D("34893"), D("5"))  # the right one still works
    # After a resubscribe the new snapshot's seq is the new base.
    book.apply_snapshot(5, levels([("1", "1")]), [])
    assert book.seq == 5
    assert book.bids() == levels([("1", "1")])
    assert book.asks() == []
    assert book.apply_delta(6, "sell", D("2"), D("1"))


def test_futures_before_snapshot_and_bad_input() -> None:
    book = FuturesBook("PF_ETHUSD")
    assert book.seq is None
    assert not book.apply_delta(1, "buy", D("1"), D("1"))
    assert book.bids() == []
    book = futures_book()
    with pytest.raises(ProtocolError, match="side 'bid'"):
        book.apply_delta(326072250, "bid", D("1"), D("1"))
    with pytest.raises(ProtocolError, match="negative"):
        book.apply_delta(326072250, "buy", D("1"), D("-1"))
    assert [book.seq] == [326072249]
    assert book.apply_delta(326072250, "buy", D("1"), D("0"))  # delete of unknown price
    book.clear()
    assert [book.seq] == [None]
    assert not book.apply_delta(326072251, "buy", D("1"), D("1"))


# --------------------------------------------------------------------------------------------
# L3
# --------------------------------------------------------------------------------------------


def ids(orders: list[BookOrder]) -> list[str]:
    return [o.order_id for o in orders]


def l3_book(depth: int = 10) -> L3Book:
    book = L3Book("BTC/USD", depth, 1, 8)
    book.apply_snapshot(
        [
            Order("B1", D("100.0"), D("1")),
            Order("B2", D("100.0"), D("2")),
            Order("B3", D("99.0"), D("3")),
        ],
        [
            Order("A1", D("101.0"), D("1")),
            Order("A2", D("102.0"), D("2")),
            Order("A3", D("101.0"), D("4")),
        ],
    )
    return book


def ref_l3(book: L3Book) -> int:
    """Section 3.5 from the public views: one item per order, FIFO within each level."""

    def items(side: list[tuple[Decimal, list[BookOrder]]]) -> list[tuple[str, str]]:
        return [
            (ref_fmt(price, 1), ref_fmt(o.order_qty, 8))
            for price, orders in side[:10]
            for o in orders
        ]

    return crc32_levels(items(book.ask_levels()), items(book.bid_levels()))


def test_l3_snapshot_queues_and_views() -> None:
    book = l3_book()
    assert ids(book.orders_at(D("100.0"))) == ["B1", "B2"]
    assert ids(book.orders_at(D("101"))) == ["A1", "A3"]
    assert book.orders_at(D("5")) == []
    assert book.best_bid == (D("100.0"), D("3"))
    assert book.best_ask == (D("101.0"), D("5"))
    assert book.bids() == [(D("100.0"), D("3")), (D("99.0"), D("3"))]
    assert book.asks(1) == [(D("101.0"), D("5"))]
    assert [(p, ids(os)) for p, os in book.ask_levels()] == [
        (D("101.0"), ["A1", "A3"]),
        (D("102.0"), ["A2"]),
    ]
    assert (book.order_count, book.bid_count, book.ask_count) == (6, 2, 2)
    assert book.spread == D("1")
    assert book.mid == D("100.5")
    assert book.order("B2") == BookOrder("B2", D("100.0"), D("2"), Order("x", D(1), D(1)).timestamp)
    expected = zlib.crc32(
        b"1010100000000"
        + b"1010400000000"
        + b"1020200000000"
        + b"1000100000000"
        + b"1000200000000"
        + b"990300000000"
    )
    assert book.checksum() == expected
    assert book.verify(expected)
    assert not book.verify(expected + 1)


def test_l3_add_modify_delete() -> None:
    book = l3_book()
    book.apply_update(
        [
            Order("B4", D("100.0"), D("0.5"), event="add"),  # back of the queue
            Order("B1", D("100.0"), D("0.25"), event="modify"),  # keeps its place
        ],
        [
            Order("A1", D("101.0"), D("1"), event="delete"),
            Order("ZZ", D("1"), D("1"), event="delete"),
        ],
    )
    assert [(o.order_id, o.order_qty) for o in book.orders_at(D("100.0"))] == [
        ("B1", D("0.25")),
        ("B2", D("2")),
        ("B4", D("0.5")),
    ]
    assert book.best_bid == (D("100.0"), D("2.75"))
    assert ids(book.orders_at(D("101.0"))) == ["A3"]
    assert book.best_ask == (D("101.0"), D("4"))
    assert book.checksum() == ref_l3(book)
    # A modify to another price moves the order to the back of that queue.
    book.apply_update([Order("B1", D("99.0"), D("0.25"), event="modify")], [])
    assert ids(book.orders_at(D("99.0"))) == ["B3", "B1"]
    assert ids(book.orders_at(D("100.0"))) == ["B2", "B4"]
    # Deleting the last order of a level removes the level; a modify to zero deletes.
    book.apply_update([], [Order("A3", D("101.0"), D("4"), event="delete")])
    book.apply_update([Order("B2", D("100.0"), D("0"), event="modify")], [])
    assert book.best_ask == (D("102.0"), D("2"))
    assert ids(book.orders_at(D("100.0"))) == ["B4"]
    # A modify for an unknown id is an add; an add for a known id replaces it at the back.
    book.apply_update(
        [
            Order("B9", D("98.0"), D("1"), event="modify"),
            Order("B3", D("99.0"), D("7"), event="add"),
        ],
        [],
    )
    assert ids(book.orders_at(D("98.0"))) == ["B9"]
    assert [(o.order_id, o.order_qty) for o in book.orders_at(D("99.0"))] == [
        ("B1", D("0.25")),
        ("B3", D("7")),
    ]
    assert book.bids() == [(D("100.0"), D("0.5")), (D("99.0"), D("7.25")), (D("98.0"), D("1"))]
    assert book.order_count == 5
    assert book.checksum() == ref_l3(book)


def test_l3_truncation_to_depth_levels() -> None:
    book = l3_book(depth=2)
    book.apply_update([Order("B5", D("100.5"), D("1"))], [Order("A5", D("100.8"), D("1"))])
    assert [p for p, _ in book.bids()] == [D("100.5"), D("100.0")]
    assert [p for p, _ in book.asks()] == [D("100.8"), D("101.0")]
    assert book.order("B3") is None  # its level left scope with the order
    assert book.order("A2") is None
    assert book.order_count == 6  # B5, B1, B2 and A5, A1, A3
    # Kraken then publishes the next level's orders as adds; a stale delete is harmless.
    book.apply_update(
        [Order("B5", D("100.5"), D("1"), event="delete"), Order("B3", D("99.0"), D("3"))],
        [Order("A2", D("102.0"), D("2"), event="delete")],
    )
    assert book.bids() == [(D("100.0"), D("3")), (D("99.0"), D("3"))]
    assert book.checksum() == ref_l3(book)


def test_l3_checksum_uses_only_top_ten_levels() -> None:
    book = L3Book("BTC/USD", 100, 1, 8)
    book.apply_snapshot(
        [Order(f"B{i}", D(1000 - i), D(1)) for i in range(15)],
        [Order(f"A{i}", D(1001 + i), D(1)) for i in range(15)],
    )
    before = book.checksum()
    book.apply_update([Order("B14", D(986), D(5), event="modify")], [])
    assert book.checksum() == before == ref_l3(book)
    book.apply_update([Order("B0", D(1000), D(5), event="modify")], [])
    assert book.checksum() != before
    assert book.checksum() == ref_l3(book)


def test_l3_bad_input() -> None:
    book = l3_book()
    with pytest.raises(ProtocolError, match="unknown level3 event 'cancel'"):
        book.apply_update([Order("B1", D("100.0"), D("1"), event="cancel")], [])
    with pytest.raises(ProtocolError, match="negative"):
        book.apply_snapshot([Order("B1", D("100.0"), D("-1"))], [])
    assert book.order_count == 0
    with pytest.raises(ValueError, match="depth"):
        L3Book("BTC/USD", 0, 1, 8)
    assert "BTC/USD" in repr(l3_book())


# --------------------------------------------------------------------------------------------
# The books take the decoded wire structs as they are
# --------------------------------------------------------------------------------------------


def test_l2_from_decoded_spot_messages() -> None:
    decoder = SpotDecoder()
    snap = decoder.decode(MATIC_SNAPSHOT)
    update = decoder.decode(MATIC_UPDATE)
    assert isinstance(snap, spot.BookMessage)
    assert isinstance(update, spot.BookMessage)
    book = L2Book("MATIC/USD", 10, 4, 8)
    book.apply_snapshot(snap.data[0].bids, snap.data[0].asks)
    assert book.verify(snap.data[0].checksum)
    book.apply_update(update.data[0].bids, update.data[0].asks)
    assert book.verify(update.data[0].checksum)


def l3_wire(kind: str, bids: list[Order], asks: list[Order], checksum: int) -> str:
    def order(o: Order) -> str:
        event = f'"event":"{o.event}",' if kind == "update" else ""
        return (
            f'{{{event}"order_id":"{o.order_id}","limit_price":{o.limit_price},'
            f'"order_qty":{o.order_qty},"timestamp":"{o.timestamp}"}}'
        )

    return (
        f'{{"channel":"level3","type":"{kind}","data":[{{"checksum":{checksum},'
        f'"symbol":"BTC/USD","bids":[{",".join(map(order, bids))}],'
        f'"asks":[{",".join(map(order, asks))}]}}]}}'
    )


def test_l3_from_decoded_spot_messages() -> None:
    # Wire numbers keep their text through the decoder (0.250000 stays Decimal('0.250000')),
    # so the as-decoded rendering reproduces the docs vector from real decoded structs.
    decoder = SpotDecoder()
    snap = decoder.decode(l3_wire("snapshot", l3_orders("b", L3_BIDS), l3_orders("a", L3_ASKS), 1))
    assert isinstance(snap, spot.L3Message)
    book = L3Book("BTC/USD", 10, None, None)
    book.apply_snapshot(snap.data[0].bids, snap.data[0].asks)
    assert book.checksum() == 1063832831
    update = decoder.decode(
        l3_wire(
            "update",
            [Order("b0-1", D("44939.4"), D("0.45210000"), event="delete")],
            [Order("N1", D("44939.5"), D("0.50000000"), event="add")],
            1,
        )
    )
    assert isinstance(update, spot.L3Message)
    book.apply_update(update.data[0].bids, update.data[0].asks)
    assert ids(book.orders_at(D("44939.5")))[-1] == "N1"
    assert "b0-1" not in ids(book.orders_at(D("44939.4")))
    assert book.checksum() == ref_l3_raw(book)
    # An update order without an event is refused by name.
    missing = decoder.decode(l3_wire("snapshot", [Order("X", D("1.0"), D("1"))], [], 1))
    assert isinstance(missing, spot.L3Message)
    with pytest.raises(ProtocolError, match="unknown level3 event None for order X"):
        book.apply_update(missing.data[0].bids, [])


def ref_l3_raw(book: L3Book) -> int:
    def items(side: list[tuple[Decimal, list[BookOrder]]]) -> list[tuple[str, str]]:
        return [
            (str(p).replace(".", "").lstrip("0"), str(o.order_qty).replace(".", "").lstrip("0"))
            for p, orders in side[:10]
            for o in orders
        ]

    return crc32_levels(items(book.ask_levels()), items(book.bid_levels()))


def test_futures_from_decoded_messages() -> None:
    decoder = FuturesDecoder()
    snap = decoder.decode(
        '{"feed":"book_snapshot","product_id":"PI_XBTUSD","timestamp":1612269825817,'
        '"seq":326072249,"tickSize":null,"bids":[{"price":34892.5,"qty":6385},'
        '{"price":34892,"qty":10924}],"asks":[{"price":34911.5,"qty":20598},'
        '{"price":34912,"qty":2300}]}'
    )
    assert isinstance(snap, futures.FuturesBookSnapshot)
    book = FuturesBook(snap.product_id)
    book.apply_snapshot(snap.seq, snap.bids, snap.asks)
    deltas = [
        decoder.decode(
            f'{{"feed":"book","product_id":"PI_XBTUSD","side":"sell","seq":{seq},'
            f'"price":34911.5,"qty":{qty},"timestamp":1612269953629}}'
        )
        for seq, qty in ((326072250, 7), (326072252, 0), (326072251, 0))
    ]
    applied = []
    for delta in deltas:
        assert isinstance(delta, futures.FuturesBookDelta)
        applied.append(book.apply_delta(delta.seq, delta.side, delta.price, delta.qty))
    assert applied == [True, False, True]
    assert book.asks() == [(D("34912"), D("2300"))]


# --------------------------------------------------------------------------------------------
# Property: L3 agrees with a model that orders queues by arrival number instead of dict order
# --------------------------------------------------------------------------------------------


@st.composite
def l3_scenarios(draw: st.DrawFn) -> tuple[int, list[tuple[list[Order], list[Order]]]]:
    depth = draw(st.sampled_from([1, 2, 3, 10, 12]))

    def order(event: str) -> Order:
        return Order(
            f"O{draw(st.integers(min_value=0, max_value=15))}",
            Decimal(draw(st.integers(min_value=1, max_value=14))).scaleb(-1),
            Decimal(draw(st.sampled_from([0, 1, 5, 12345678, 10**9]))).scaleb(-8),
            event=event,
        )

    events = st.sampled_from(["add", "add", "modify", "delete"])
    messages = []
    for i in range(draw(st.integers(min_value=1, max_value=10))):
        sides = []
        for _ in range(2):
            n = draw(st.integers(min_value=0, max_value=10))
            sides.append([order("add" if i == 0 else draw(events)) for _ in range(n)])
        messages.append((sides[0], sides[1]))
    return depth, messages


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(l3_scenarios())
def test_l3_matches_naive_model(
    scenario: tuple[int, list[tuple[list[Order], list[Order]]]],
) -> None:
    depth, messages = scenario
    book = L3Book("X/Y", depth, 1, 8)
    # order_id -> (is_bid, price, qty, arrival number); queues are sorted by arrival number.
    model: dict[str, tuple[bool, Decimal, Decimal, int]] = {}
    arrival = 0
    for i, (bids, asks) in enumerate(messages):
        if i == 0:
            book.apply_snapshot(bids, asks)
        else:
            book.apply_update(bids, asks)
        for is_bid, orders in ((True, bids), (False, asks)):
            for o in orders:
                old = model.get(o.order_id)
                if o.event == "delete" or (i > 0 and o.order_qty == 0):
                    model.pop(o.order_id, None)
                elif o.event == "modify" and old is not None and old[:2] == (is_bid, o.limit_price):
                    model[o.order_id] = (is_bid, o.limit_price, o.order_qty, old[3])
                else:
                    arrival += 1
                    model[o.order_id] = (is_bid, o.limit_price, o.order_qty, arrival)
        for is_bid in (True, False):
            prices = sorted({p for b, p, _, _ in model.values() if b == is_bid}, reverse=is_bid)
            kept = set(prices[:depth])
            for oid, (b, p, _, _) in list(model.items()):
                if b == is_bid and p not in kept:
                    del model[oid]

        def levels_of(is_bid: bool) -> list[tuple[Decimal, list[tuple[str, Decimal]]]]:
            prices = sorted({p for b, p, _, _ in model.values() if b == is_bid}, reverse=is_bid)
            return [
                (
                    price,
                    [
                        (oid, q)
                        for oid, (b, p, q, _) in sorted(model.items(), key=lambda kv: kv[1][3])
                        if b == is_bid and p == price
                    ],
                )
                for price in prices
            ]

        model_bids, model_asks = levels_of(True), levels_of(False)
        assert [(p, [(o.order_id, o.order_qty) for o in os]) for p, os in book.bid_levels()] == (
            model_bids
        )
        assert [(p, [(o.order_id, o.order_qty) for o in os]) for p, os in book.ask_levels()] == (
            model_asks
        )
        assert book.bids() == [(p, sum((q for _, q in os), D(0))) for p, os in model_bids]
        assert book.order_count == len(model)

        def items(side: list[tuple[Decimal, list[tuple[str, Decimal]]]]) -> list[tuple[str, str]]:
            return [(ref_fmt(p, 1), ref_fmt(q, 8)) for p, os in side[:10] for _, q in os]

        assert book.checksum() == crc32_levels(items(model_asks), items(model_bids))
