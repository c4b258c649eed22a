"""Local order checks that spare a round trip: Kraken's field names, and the pair's limits
once the instrument channel has been read (tick size, qty_min, cost_min)."""

from __future__ import annotations

import contextlib
from decimal import Decimal

import pytest
import trio
from support import client_for

from kraken_trio import InvalidRequestError, RequestTimeoutError, WsKey
from kraken_trio._proto import spot as s
from kraken_trio._trading import build_add_order, build_batch_add, check_pair_limits
from kraken_trio.testing import open_fake_kraken

PRIVATE = WsKey.SPOT_PRIVATE_V2
PAIR = s.InstrumentPair(
    symbol="BTC/USD",
    base="BTC",
    quote="USD",
    status="online",
    qty_precision=8,
    qty_increment=Decimal("0.00000001"),
    qty_min=Decimal("0.0001"),
    price_precision=1,
    price_increment=Decimal("0.1"),
    cost_precision=5,
    cost_min=Decimal("0.5"),
)


def _order(**fields: object) -> s.AddOrderParams:
    base: dict[str, object] = {
        "order_type": "limit",
        "side": "buy",
        "symbol": "BTC/USD",
        "order_qty": Decimal("0.001"),
        "limit_price": Decimal("50000.0"),
    }
    return build_add_order(base | fields)


def test_price_is_refused_with_kraken_s_name_for_it() -> None:
    with pytest.raises(
        InvalidRequestError,
        match=r"add_order: unknown field\(s\) \['price'\] "
        r"\(Kraken's names: 'price' -> 'limit_price'\)",
    ):
        _order(limit_price=None, price=Decimal("50000"))


def test_a_batch_order_field_from_another_api_is_named_too() -> None:
    orders = [
        {"order_type": "limit", "side": "buy", "qty": Decimal(1), "limit_price": Decimal(1)},
        {"order_type": "limit", "side": "buy", "order_qty": Decimal(1), "limit_price": Decimal(1)},
    ]
    with pytest.raises(InvalidRequestError, match=r"orders\[0\].*'qty' -> 'order_qty'"):
        build_batch_add("BTC/USD", orders, None, None)


def test_an_order_inside_the_pair_s_limits_passes() -> None:
    check_pair_limits("add_order", _order(), PAIR)
    # pct / quote limit prices are offsets, not prices on the tick grid
    check_pair_limits(
        "add_order", _order(limit_price=Decimal("1.25"), limit_price_type="pct"), PAIR
    )


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        (
            {"limit_price": Decimal("50000.05")},
            r"limit_price 50000\.05 is not a multiple of BTC/USD's price_increment 0\.1 "
            r"\(Kraken would answer 'EOrder:Tick size check failed'\)",
        ),
        (
            {"order_qty": Decimal("0.00005")},
            r"order_qty 0\.00005 is below BTC/USD's qty_min 0\.0001 .*Order minimum not met",
        ),
        (
            {"order_qty": Decimal("0.0001"), "limit_price": Decimal("1000.0")},
            r"order_qty x limit_price = 0\.10000 is below BTC/USD's cost_min 0\.5",
        ),
    ],
)
def test_the_pair_s_limits(fields: dict[str, object], needle: str) -> None:
    with pytest.raises(InvalidRequestError, match=needle):
        check_pair_limits("add_order", _order(**fields), PAIR)


async def test_the_client_checks_a_pair_once_the_instrument_channel_was_read() -> None:
    async with open_fake_kraken(update_interval=None) as fake, client_for(fake) as k:
        with trio.fail_after(10):
            await k.connect(PRIVATE)
            pairs = await k.instrument_pairs()
            increment = pairs["BTC/USD"].price_increment
            off_grid = Decimal("50000") + increment / 2
            with pytest.raises(InvalidRequestError, match="Tick size check failed"):
                await k.add_order(
                    order_type="limit",
                    side="buy",
                    symbol="BTC/USD",
                    order_qty=Decimal("0.001"),
                    limit_price=off_grid,
                    validate=True,
                )
            with pytest.raises(InvalidRequestError, match=r"orders\[1\]: order_qty"):
                await k.batch_add(
                    symbol="BTC/USD",
                    orders=[
                        {"order_type": "market", "side": "buy", "order_qty": Decimal("0.001")},
                        {"order_type": "market", "side": "buy", "order_qty": Decimal("1E-8")},
                    ],
                )
        sent = [
            r.message
            for r in fake.received(PRIVATE)
            if isinstance(r.message, dict) and r.message.get("method") in ("add_order", "batch_add")
        ]
        assert sent == []  # refused locally: nothing reached the exchange


async def test_an_instrument_channel_that_never_answers_is_a_request_timeout() -> None:
    public = WsKey.SPOT_PUBLIC_V2
    async with (
        open_fake_kraken(update_interval=None) as fake,
        client_for(fake, request_timeout=0.5) as k,
    ):
        with trio.fail_after(10):
            async with k.subscribe("ticker", symbol=["BTC/USD"]):
                pass  # the connection is up
            fake.faults(public).pause_reading()
            # The server's reader may still take the one frame it was waiting for: this one.
            with contextlib.suppress(RequestTimeoutError):
                async with k.subscribe("trade", symbol=["BTC/USD"]):
                    pass
            with pytest.raises(RequestTimeoutError, match="instrument snapshot"):
                await k.instrument_pairs()
            fake.faults(public).resume_reading()
