"""The fake exchange's number rendering and checksum text, pure."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from kraken_trio._proto.checksum import checksum_digits, fixed
from kraken_trio.testing._spot_frames import checksum_text
from kraken_trio.testing._wire import encode, fixed_units, num, to_wire, ts6, ts9


@given(st.integers(min_value=0, max_value=10**15), st.integers(min_value=0, max_value=12))
def test_fixed_units_is_fixed_point_never_exponent(units: int, places: int) -> None:
    text = fixed_units(units, places)
    assert "e" not in text.lower()
    assert text == fixed(Decimal(units).scaleb(-places), places)
    if places:
        assert len(text.split(".")[1]) == places


@given(st.integers(min_value=1, max_value=10**15), st.integers(min_value=0, max_value=12))
def test_checksum_text_is_the_wire_text_without_point_and_leading_zeros(
    units: int, places: int
) -> None:
    wire = fixed_units(units, places)
    assert checksum_text(units, places) == wire.replace(".", "").lstrip("0")
    assert checksum_text(units, places) == checksum_digits(Decimal(wire), places)


def test_known_literals() -> None:
    assert fixed_units(0, 8) == "0.00000000"
    assert fixed_units(179730, 2) == "1797.30"
    assert fixed_units(12345, 9) == "0.000012345"
    assert fixed_units(-5, 2) == "-0.05"
    assert encode({"qty": to_wire(Decimal("0E-8"))}) == '{"qty":0.00000000}'
    assert encode({"p": num(Decimal("1E+1"), 2)}) == '{"p":10.00}'


def test_timestamps() -> None:
    assert ts6(0.25) == "1970-01-01T00:00:00.250000Z"
    assert ts9(1_696_436_700 * 10**9) == "2023-10-04T16:25:00.000000000Z"


def test_public_exports() -> None:
    import kraken_trio.testing as testing

    assert sorted(testing.__all__) == [
        "DEFAULT_PAIRS",
        "FakeKraken",
        "Faults",
        "Market",
        "PairSpec",
        "Received",
        "RestFaults",
        "RestRequest",
        "open_fake_kraken",
    ]
    for name in testing.__all__:
        assert getattr(testing, name) is not None
