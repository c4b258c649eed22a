"""The trading rate counter model (issue 15): plain synchronous calls, time passed in."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from kraken_trio._proto import spot as s
from kraken_trio._proto.ratelimit import (
    CANCEL_COSTS,
    TIERS,
    RateGovernor,
    RateTier,
    decaying_cost,
)

BTC = "BTC/USD"


def test_tiers_are_krakens() -> None:
    assert TIERS["starter"] == RateTier(60, 1.0)
    assert TIERS["intermediate"] == RateTier(125, 2.34)
    assert TIERS["pro"] == RateTier(180, 3.75)
    with pytest.raises(ValueError, match="rate tier"):
        RateGovernor("gold")
    with pytest.raises(ValueError, match="decay"):
        RateTier(10, 0)


def test_cancel_cost_by_age() -> None:
    ages = [0, 4.99, 5, 9.9, 10, 14, 15, 44, 45, 89, 90, 299, 300, 1000]
    assert [decaying_cost(CANCEL_COSTS, a) for a in ages] == [
        8,
        8,
        6,
        6,
        5,
        5,
        4,
        4,
        2,
        2,
        1,
        1,
        0,
        0,
    ]


def test_krakens_worked_example() -> None:
    """Kraken's guide: add, amend after 7 s, cancel 36 s later: 1 + (1 + 2) + 4 = 8."""
    gov = RateGovernor(RateTier(100, 1e-9))
    gov.charge(gov.costs("add_order", {"symbol": BTC}, 0), 0)
    gov.placed("O1", BTC, 0)
    gov.charge(gov.costs("amend_order", {"order_id": "O1"}, 7), 7)
    gov.amended("O1", 7)
    gov.charge(gov.costs("cancel_order", {"order_id": ["O1"]}, 43), 43)
    assert round(gov.value(BTC, 43), 6) == 8


def test_costs_of_each_request() -> None:
    gov = RateGovernor("pro")
    gov.placed("O1", BTC, 0, cl_ord_id="c1")
    gov.placed("O2", "ETH/USD", 0)
    assert gov.costs("add_order", {"symbol": BTC}, 1) == {BTC: 1}
    assert gov.costs("batch_add", {"symbol": BTC, "orders": [{}] * 15}, 1) == {BTC: 7.5}
    assert gov.costs("edit_order", {"order_id": "O1", "symbol": BTC}, 20) == {BTC: 1 + 2}
    assert gov.costs("amend_order", {"cl_ord_id": "c1"}, 1) == {BTC: 1 + 3}
    assert gov.costs("cancel_order", {"order_id": ["O1", "O2"]}, 6) == {BTC: 6, "ETH/USD": 6}
    assert gov.costs("batch_cancel", {"orders": ["O1", "O2", "7"]}, 100) == {
        BTC: 1,
        "ETH/USD": 1,
    }
    # Unknown orders: costed as new when the symbol is known, else not at all.
    assert gov.costs("amend_order", {"order_id": "OX", "symbol": BTC}, 1) == {BTC: 4}
    assert gov.costs("cancel_order", {"order_id": ["OX"]}, 1) == {}
    assert gov.costs("cancel_all", {}, 1) == {}
    gov.closed("O1")
    assert gov.costs("cancel_order", {"cl_ord_id": ["c1"]}, 1) == {}


def test_decay_delay_and_saturation() -> None:
    gov = RateGovernor("starter")  # 60, 1.0 per s, headroom 1
    gov.charge({BTC: 59}, 0)
    assert gov.delay({BTC: 1}, 0) == 1.0
    assert gov.delay({BTC: 1}, 1) == 0
    assert gov.delay({"ETH/USD": 8}, 0) == 0  # per pair
    assert gov.delay({BTC: 61}, 0) == math.inf  # never fits
    assert gov.value(BTC, 10) == 49
    gov.saturate(BTC, 10)
    assert gov.value(BTC, 10) == 60
    assert gov.delay({BTC: 1}, 10) == 2.0


def test_observe_ack_and_executions() -> None:
    gov = RateGovernor("starter")
    ack = s.SubscribeResponse(
        method="subscribe", result=s.SubscriptionResult(channel="executions", maxratecount=180)
    )
    gov.observe(ack, 0)
    assert gov.threshold == 180
    new = s.Execution(
        exec_type="pending_new",
        order_id="O1",
        symbol=BTC,
        order_status="pending_new",
        cl_ord_id="c1",
    )
    gov.observe(s.ExecutionsMessage(type="update", data=[new]), 0)
    assert gov.costs("cancel_order", {"cl_ord_id": ["c1"]}, 12) == {BTC: 5}
    amended = s.Execution(exec_type="amended", order_id="O1", order_status="new")
    gov.observe(s.ExecutionsMessage(type="update", data=[amended]), 12)
    assert gov.costs("cancel_order", {"order_id": ["O1"]}, 13) == {BTC: 8}
    counted = s.Execution(exec_type="status", symbol=BTC, ratecount=42.5)
    gov.observe(s.ExecutionsMessage(type="update", data=[counted]), 13)
    assert gov.value(BTC, 13) == 42.5
    done = s.Execution(exec_type="canceled", order_id="O1", order_status="canceled")
    gov.observe(s.ExecutionsMessage(type="update", data=[done]), 14)
    assert gov.costs("cancel_order", {"order_id": ["O1"]}, 14) == {}
    gov.observe("not a message", 15)  # ignored
    assert Decimal(gov.threshold) == 180
