"""Encoding requests: exactly the JSON Kraken documents.

Each request example of the protocol reference is rebuilt from the outbound structs and the
encoded bytes are compared with it as parsed JSON, with every number compared by its literal
text (``1010.10`` must not become ``1010.1``), and no ``null`` anywhere.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import msgspec
import protocol_examples as ex
import pytest

from kraken_trio._proto import futures as f
from kraken_trio._proto import spot as s
from kraken_trio._proto.codec import encode_futures, encode_request

D = Decimal


def literal(raw: bytes | str) -> Any:
    """Parse JSON, numbers kept as ``("num", text)`` so that formatting is compared exactly."""

    def num(text: str) -> tuple[str, str]:
        return ("num", text)

    return json.loads(raw, parse_float=num, parse_int=num)


def assert_no_nulls(encoded: bytes) -> None:
    def walk(value: Any) -> None:
        assert value is not None, encoded
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(json.loads(encoded))


# --------------------------------------------------------------------------------------------
# Spot v2: every request example of the reference


def spot_request(method: str, params: s._Out | None = None, req_id: int | None = None) -> bytes:
    return encode_request(s.Request(method=method, params=params, req_id=req_id))


SPOT_BUILDERS: dict[str, Callable[[], bytes]] = {
    "PING": lambda: spot_request("ping", req_id=101),
    "SUBSCRIBE_TICKER_REQUEST": lambda: spot_request(
        "subscribe", s.SubscribeParams(channel="ticker", symbol=["BTC/USD", "MATIC/GBP"]), 1234
    ),
    "UNSUBSCRIBE_TICKER_REQUEST": lambda: spot_request(
        "unsubscribe", s.SubscribeParams(channel="ticker", symbol=["BTC/USD"]), 1235
    ),
    "LEVEL3_SUBSCRIBE": lambda: spot_request(
        "subscribe",
        s.SubscribeParams(
            channel="level3",
            symbol=["ALGO/USD", "MATIC/USD"],
            snapshot=True,
            token="G38a1tGFzqGiUCmnegBcm8d4nfP3tytiNQz6tkCBYXY",
        ),
    ),
    "EXECUTIONS_SUBSCRIBE": lambda: spot_request(
        "subscribe",
        s.SubscribeParams(
            channel="executions",
            token="G38a1tGFzqGiUCmnegBcm8d4nfP3tytiNQz6tkCBYXY",
            snap_orders=True,
            snap_trades=True,
        ),
    ),
    "ADD_ORDER_REQUEST": lambda: spot_request(
        "add_order",
        s.AddOrderParams(
            order_type="limit",
            side="buy",
            limit_price=D("26500.4"),
            order_userref=100054,
            order_qty=D("1.2"),
            symbol="BTC/USD",
            token="G38a1tGFzqGiUCmnegBcm8d4nfP3tytiNQz6tkCBYXY",
        ),
        123456789,
    ),
    "ADD_ORDER_STOP_LOSS_REQUEST": lambda: spot_request(
        "add_order",
        s.AddOrderParams(
            order_type="stop-loss",
            side="sell",
            order_qty=D("100"),
            symbol="MATIC/USD",
            triggers=s.Triggers(reference="last", price=D("-2.0"), price_type="pct"),
            token="...",
        ),
    ),
    "ADD_ORDER_CONDITIONAL_REQUEST": lambda: spot_request(
        "add_order",
        s.AddOrderParams(
            order_type="limit",
            side="buy",
            order_qty=D("1.2"),
            symbol="BTC/USD",
            limit_price=D("28440"),
            conditional=s.Conditional(
                order_type="stop-loss-limit", trigger_price=D("28410"), limit_price=D("28400")
            ),
            token="...",
        ),
    ),
    "ADD_ORDER_REAL_REQUEST": lambda: spot_request(
        "add_order",
        s.AddOrderParams(
            order_type="limit",
            side="buy",
            symbol="USDC/USD",
            limit_price=D("0.95"),
            time_in_force="ioc",
            order_qty=D("5.0"),
            post_only=False,  # an explicit False is sent, only None is omitted
            fee_preference="quote",
            token="aToken",
            cl_ord_id="client-zero",
            sender_sub_id="sender-one",
        ),
        0,  # req_id 0 is sent
    ),
    "AMEND_ORDER_REQUEST": lambda: spot_request(
        "amend_order",
        s.AmendOrderParams(
            cl_ord_id="2c6be801-1f53-4f79-a0bb-4ea1c95dfae9",
            limit_price=D("490795"),
            order_qty=D("1.2"),
            token="PM5Qm0MDrS54l657aQAtb7AhrwN30e2LBg1nUYOd6vU",
        ),
    ),
    "EDIT_ORDER_REQUEST": lambda: spot_request(
        "edit_order",
        s.EditOrderParams(
            order_id="ORDERX-IDXXX-XXXXX1",
            order_qty=D("0.2123456789"),
            symbol="BTC/USD",
            token="...",
        ),
        1234567890,
    ),
    "CANCEL_ORDER_REQUEST": lambda: spot_request(
        "cancel_order",
        s.CancelOrderParams(order_id=["OM5CRX-N2HAL-GFGWE9", "OLUMT4-UTEGU-ZYM7E9"], token="..."),
        123456789,
    ),
    "CANCEL_ALL_REQUEST": lambda: spot_request(
        "cancel_all",
        s.CancelAllParams(token="weeBxllys/7kHy/zHpkATSDIS42BvDgWS2b04ZSZHZ5"),
        1234567890,
    ),
    "CANCEL_AFTER_REQUEST": lambda: spot_request(
        "cancel_all_orders_after",
        s.CancelAllOrdersAfterParams(
            timeout=100, token="zwpdzWUe18Bn6h4TAMorh26+QbcMeST2B5tamfe+pgQ"
        ),
        1234567890,
    ),
    "BATCH_ADD_REQUEST": lambda: spot_request(
        "batch_add",
        s.BatchAddParams(
            symbol="BTC/USD",
            orders=[
                s.BatchOrder(
                    limit_price=D("1010.10"),
                    order_qty=D("0.123456789"),
                    order_type="limit",
                    order_userref=1,
                    side="buy",
                ),
                s.BatchOrder(
                    limit_price=D("2020.20"),
                    order_qty=D("0.987654321"),
                    order_type="limit",
                    order_userref=2,
                    side="sell",
                    stp_type="cancel_both",
                ),
            ],
            token="...",
            validate=False,
        ),
        1234567890,
    ),
    "BATCH_CANCEL_REQUEST": lambda: spot_request(
        "batch_cancel",
        s.BatchCancelParams(orders=["1", "2", "ORDERX-IDXXX-XXXXX3"], token="..."),
        1234567890,
    ),
}

FUTURES_BUILDERS: dict[str, Callable[[], bytes]] = {
    "F_SUBSCRIBE_TICKER": lambda: encode_futures(
        f.FuturesSubscribeRequest(
            event="subscribe", feed="ticker", product_ids=["PI_XBTUSD", "FI_ETHUSD_210625"]
        )
    ),
    "F_UNSUBSCRIBE_TICKER": lambda: encode_futures(
        f.FuturesSubscribeRequest(event="unsubscribe", feed="ticker", product_ids=["PI_XBTUSD"])
    ),
    "F_HEARTBEAT_SUBSCRIBE": lambda: encode_futures(
        f.FuturesSubscribeRequest(event="subscribe", feed="heartbeat")
    ),
    "F_SUBSCRIBE_OPEN_ORDERS": lambda: encode_futures(
        f.FuturesSubscribeRequest(
            event="subscribe",
            feed="open_orders",
            api_key="CMl2SeSn09Tz+2tWuzPiPUjaXEQRGq6qv5UaexXuQ3SnahDQU/gO3aT+",
            original_challenge="226aee50-88fc-4618-a42a-34f7709570b2",
            signed_challenge="RE0DVOc7vS6pzcEjGWd/WJRRBWb54RkyvV+AZQSRl4+rap8Rlk64diR+Z9DQILm7qxncswMmJyvP/2vgzqqh+g==",
        )
    ),
}


@pytest.mark.parametrize("name", sorted(SPOT_BUILDERS))
def test_spot_request_encodes_exactly_as_documented(name: str) -> None:
    encoded = SPOT_BUILDERS[name]()
    assert literal(encoded) == literal(getattr(ex, name))
    assert_no_nulls(encoded)


@pytest.mark.parametrize("name", sorted(FUTURES_BUILDERS))
def test_futures_request_encodes_exactly_as_documented(name: str) -> None:
    encoded = FUTURES_BUILDERS[name]()
    assert literal(encoded) == literal(getattr(ex, name))
    assert_no_nulls(encoded)


def test_futures_challenge_request_encodes_exactly_as_documented() -> None:
    encoded = encode_futures(
        f.FuturesChallengeRequest(api_key="CMl2SeSn09Tz+2tWuzPfdaJdsahq6qv5UaexXuQ3SnahDQU/gO3aT+")
    )
    assert literal(encoded) == literal(ex.F_CHALLENGE_REQUEST)


def _is_request(raw: bytes) -> bool:
    msg = json.loads(raw)
    if "params" in msg or (msg.get("method") == "ping" and "success" not in msg):
        return True
    return msg.get("event") in {"subscribe", "unsubscribe"} or (
        msg.get("event") == "challenge" and "api_key" in msg
    )


def test_every_request_example_is_encoded_by_a_test() -> None:
    requests = {
        name
        for name, value in vars(ex).items()
        if isinstance(value, bytes) and name.isupper() and _is_request(value)
    }
    tested = set(SPOT_BUILDERS) | set(FUTURES_BUILDERS) | {"F_CHALLENGE_REQUEST"}
    assert requests == tested


def test_ping_is_exactly_method_and_req_id() -> None:
    assert spot_request("ping", req_id=101) == b'{"method":"ping","req_id":101}'
    assert spot_request("ping") == b'{"method":"ping"}'


def test_request_without_req_id_omits_it() -> None:
    encoded = spot_request("cancel_all", s.CancelAllParams(token="t"))
    assert json.loads(encoded) == {"method": "cancel_all", "params": {"token": "t"}}


def test_false_and_zero_are_sent_but_none_is_not() -> None:
    encoded = spot_request(
        "subscribe",
        s.SubscribeParams(channel="book", symbol=["BTC/USD"], depth=10, snapshot=False),
        0,
    )
    assert json.loads(encoded) == {
        "method": "subscribe",
        "params": {"channel": "book", "symbol": ["BTC/USD"], "depth": 10, "snapshot": False},
        "req_id": 0,
    }


# --------------------------------------------------------------------------------------------
# Every documented field, under its documented name


def params_of(encoded: bytes) -> dict[str, Any]:
    params = json.loads(encoded)["params"]
    assert isinstance(params, dict)
    return params


ADD_ORDER_FIELDS = {
    "order_type",
    "side",
    "order_qty",
    "symbol",
    "token",
    "limit_price",
    "limit_price_type",
    "triggers",
    "time_in_force",
    "expire_time",
    "effective_time",
    "deadline",
    "post_only",
    "reduce_only",
    "margin",
    "display_qty",
    "fee_preference",
    "no_mpp",
    "stp_type",
    "cash_order_qty",
    "order_userref",
    "cl_ord_id",
    "sender_sub_id",
    "validate",
    "conditional",
}


def full_order() -> dict[str, Any]:
    return {
        "order_type": "iceberg",
        "side": "buy",
        "order_qty": D("1.5"),
        "limit_price": D("100.25"),
        "limit_price_type": "static",
        "triggers": s.Triggers(reference="index", price=D("5"), price_type="pct"),
        "time_in_force": "gtd",
        "expire_time": "2024-06-01T00:00:00Z",
        "effective_time": "2024-05-20T00:00:00Z",
        "post_only": True,
        "reduce_only": False,
        "margin": False,
        "display_qty": D("0.1"),
        "fee_preference": "base",
        "no_mpp": False,
        "stp_type": "cancel_oldest",
        "cash_order_qty": D("150.5"),
        "order_userref": 7,
        "cl_ord_id": "my-id",
        "sender_sub_id": "sub",
        "conditional": s.Conditional(
            order_type="trailing-stop-limit",
            limit_price=D("1"),
            limit_price_type="quote",
            trigger_price=D("2"),
            trigger_price_type="pct",
        ),
    }


def test_add_order_sends_every_documented_field() -> None:
    params = s.AddOrderParams(
        symbol="BTC/USD",
        deadline="2024-05-20T00:00:05.000Z",
        validate=True,
        token="t",
        **full_order(),
    )
    encoded = params_of(spot_request("add_order", params, 1))
    assert set(encoded) == ADD_ORDER_FIELDS
    assert encoded["triggers"] == {"reference": "index", "price": 5, "price_type": "pct"}
    assert encoded["conditional"] == {
        "order_type": "trailing-stop-limit",
        "limit_price": 1,
        "limit_price_type": "quote",
        "trigger_price": 2,
        "trigger_price_type": "pct",
    }
    assert literal(json.dumps(encoded))["cash_order_qty"] == ("num", "150.5")


def test_batch_add_order_has_add_order_fields_but_not_the_batch_level_ones() -> None:
    encoded = params_of(
        spot_request(
            "batch_add",
            s.BatchAddParams(
                symbol="BTC/USD",
                orders=[s.BatchOrder(**full_order()), s.BatchOrder(**full_order())],
                deadline="2024-05-20T00:00:05.000Z",
                validate=True,
                token="t",
            ),
        )
    )
    assert set(encoded) == {"symbol", "orders", "deadline", "validate", "token"}
    for order in encoded["orders"]:
        assert set(order) == ADD_ORDER_FIELDS - {"symbol", "deadline", "validate", "token"}


def test_amend_order_sends_every_documented_field() -> None:
    params = s.AmendOrderParams(
        order_id="OAAAAA-BBBBB-CCCCCC",
        cl_ord_id="c",
        order_qty=D("2"),
        display_qty=D("0.2"),
        limit_price=D("10.5"),
        limit_price_type="quote",
        post_only=True,
        trigger_price=D("9.5"),
        trigger_price_type="static",
        deadline="2024-05-20T00:00:05.000Z",
        symbol="TSLAx/USD",
        token="t",
    )
    assert set(params_of(spot_request("amend_order", params))) == {
        "order_id",
        "cl_ord_id",
        "order_qty",
        "display_qty",
        "limit_price",
        "limit_price_type",
        "post_only",
        "trigger_price",
        "trigger_price_type",
        "deadline",
        "symbol",
        "token",
    }


def test_amend_order_minimal() -> None:
    params = s.AmendOrderParams(order_id="O1", order_qty=D("0.5"), token="t")
    assert params_of(spot_request("amend_order", params)) == {
        "order_id": "O1",
        "order_qty": 0.5,
        "token": "t",
    }


def test_edit_order_sends_every_documented_field() -> None:
    params = s.EditOrderParams(
        order_id="O1",
        symbol="BTC/USD",
        order_qty=D("1"),
        limit_price=D("2"),
        display_qty=D("0.1"),
        fee_preference="quote",
        order_userref=3,
        post_only=True,
        reduce_only=False,
        triggers=s.Triggers(price=D("1.5")),
        deadline="2024-05-20T00:00:05.000Z",
        validate=False,
        no_mpp=False,
        token="t",
    )
    encoded = params_of(spot_request("edit_order", params))
    assert set(encoded) == {
        "order_id",
        "symbol",
        "order_qty",
        "limit_price",
        "display_qty",
        "fee_preference",
        "order_userref",
        "post_only",
        "reduce_only",
        "triggers",
        "deadline",
        "validate",
        "no_mpp",
        "token",
    }
    assert encoded["triggers"] == {"price": 1.5}


def test_cancel_order_accepts_all_three_id_lists() -> None:
    params = s.CancelOrderParams(order_id=["A"], cl_ord_id=["B"], order_userref=[1, 2], token="t")
    assert params_of(spot_request("cancel_order", params)) == {
        "order_id": ["A"],
        "cl_ord_id": ["B"],
        "order_userref": [1, 2],
        "token": "t",
    }


def test_batch_cancel_by_client_ids() -> None:
    params = s.BatchCancelParams(cl_ord_id=["a", "b"], token="t")
    assert params_of(spot_request("batch_cancel", params)) == {
        "cl_ord_id": ["a", "b"],
        "token": "t",
    }


def test_subscribe_sends_every_documented_option() -> None:
    params = s.SubscribeParams(
        channel="executions",
        symbol=["BTC/USD"],
        depth=25,
        snapshot=True,
        interval=5,
        event_trigger="bbo",
        token="t",
        snap_orders=False,
        snap_trades=True,
        order_status=False,
        ratecounter=True,
        rebased=False,
        users="all",
        execution_venue="international",
        include_tokenized_assets=True,
    )
    encoded = params_of(spot_request("subscribe", params))
    assert set(encoded) == set(msgspec.structs.asdict(params))
    assert encoded["event_trigger"] == "bbo"


# --------------------------------------------------------------------------------------------
# Numbers: fixed-point, exact, never exponent notation


def encoded_qty(value: Any) -> str:
    """The literal text of ``order_qty`` after encoding ``value``."""
    params = s.AddOrderParams(order_type="market", side="buy", symbol="X", order_qty=value)
    return literal(spot_request("add_order", params))["params"]["order_qty"][1]  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (D("1E-8"), "0.00000001"),
        (D("0.00000001"), "0.00000001"),
        (D("1.20"), "1.20"),
        (D("1010.10"), "1010.10"),
        (D("0.10000000"), "0.10000000"),
        (D("1E+3"), "1000"),
        (D("-2.0"), "-2.0"),
        (D("0"), "0"),
        (D("0.000000001"), "0.000000001"),  # SHIB-like 9 decimals
        (D("12345678901234567890.123456789"), "12345678901234567890.123456789"),
        (0.1, "0.1"),  # floats by their shortest repr, not 0.1000000000000000055...
        (1e-7, "0.0000001"),
        (26500.4, "26500.4"),
        (5.0, "5.0"),
        (1e22, "10000000000000000000000"),
        (100, "100"),
        ("0.95", "0.95"),
        ("1e-8", "0.00000001"),
    ],
)
def test_numbers_are_written_fixed_point(value: Any, text: str) -> None:
    assert encoded_qty(value) == text


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (D("NaN"), ValueError),
        (D("Infinity"), ValueError),
        (D("-Infinity"), ValueError),
        (float("nan"), ValueError),
        (float("inf"), ValueError),
        ("abc", ValueError),
        ("", ValueError),
        (True, TypeError),
        ([1], TypeError),
        (object(), TypeError),
    ],
)
def test_non_numbers_are_refused_when_building_the_request(
    value: Any, error: type[Exception]
) -> None:
    with pytest.raises(error):
        s.AddOrderParams(order_type="market", side="buy", symbol="X", order_qty=value)


def test_decimals_in_nested_structs_are_fixed_point_too() -> None:
    encoded = spot_request(
        "add_order",
        s.AddOrderParams(
            order_type="stop-loss-limit",
            side="sell",
            symbol="SHIB/USD",
            order_qty=D("1E+6"),
            limit_price=D("1.2E-8"),
            triggers=s.Triggers(price=D("1.3E-8")),
            conditional=s.Conditional(order_type="limit", limit_price=D("5E-9")),
        ),
    )
    assert b"E" not in encoded.replace(b"USD", b"").replace(b"SHIB", b"")
    params = literal(encoded)["params"]
    assert params["order_qty"] == ("num", "1000000")
    assert params["limit_price"] == ("num", "0.000000012")
    assert params["triggers"]["price"] == ("num", "0.000000013")
    assert params["conditional"]["limit_price"] == ("num", "0.000000005")


def test_encoding_is_repeatable() -> None:
    request = s.Request(
        method="add_order",
        params=s.AddOrderParams(order_type="limit", side="buy", symbol="X", order_qty=D("1.20")),
        req_id=5,
    )
    assert encode_request(request) == encode_request(request)


def test_futures_private_unsubscribe_carries_the_challenge() -> None:
    encoded = encode_futures(
        f.FuturesSubscribeRequest(
            event="unsubscribe",
            feed="fills",
            product_ids=["PF_XBTUSD"],
            api_key="k",
            original_challenge="c",
            signed_challenge="sig",
        )
    )
    assert json.loads(encoded) == {
        "event": "unsubscribe",
        "feed": "fills",
        "product_ids": ["PF_XBTUSD"],
        "api_key": "k",
        "original_challenge": "c",
        "signed_challenge": "sig",
    }


def test_replaced_fields_are_converted_too() -> None:
    params = s.AddOrderParams(order_type="market", side="buy", symbol="X", order_qty=D("1"))
    changed = msgspec.structs.replace(params, order_qty=D("1E-8"))
    assert literal(spot_request("add_order", changed))["params"]["order_qty"] == (
        "num",
        "0.00000001",
    )


def test_decimal_assigned_after_construction_is_still_fixed_point() -> None:
    params = s.AddOrderParams(order_type="market", side="buy", symbol="X", order_qty=D("1"))
    params.order_qty = D("1E-8")
    encoded = spot_request("add_order", params)
    assert literal(encoded)["params"]["order_qty"] == ("num", "0.00000001")
