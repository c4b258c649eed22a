"""Hypothesis drives the public API with invalid arguments (issue 8).

Whatever a caller passes, only documented errors come out: :class:`InvalidRequestError` for a
call refused locally, or another :class:`KrakenError` when the call passed the local checks
and then met the network (here: nothing listens, so a connection or timeout error). Never a
``TypeError``, ``AttributeError``, ``KeyError`` or a bare ``ValueError`` from deep inside.

Each example runs in its own ``trio.run`` against endpoints where nothing listens, with
deadlines of a fraction of a second and no reconnects, so a call that gets past the local
checks still ends at once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kraken_trio import InvalidRequestError, KrakenClient, KrakenError, WsKey, open_kraken

DEAD = "ws://127.0.0.1:9/v2"
ENDPOINTS = dict.fromkeys(WsKey, DEAD)
API_KEY = "a" * 56
API_SECRET = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA=="
FAST: dict[str, Any] = {
    "connect_timeout": 0.3,
    "auth_timeout": 0.3,
    "rest_timeout": 0.3,
    "request_timeout": 0.3,
    "close_timeout": 0.2,
    "max_reconnects": 0,
}

FUZZ = settings(
    max_examples=100,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**40), max_value=2**40)
    | st.floats(allow_nan=True)
    | st.decimals(allow_nan=True, places=None)
    | st.text(max_size=12)
    | st.binary(max_size=6)
)
ANY = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)

SPOT_CHANNELS = [
    "ticker",
    "book",
    "trade",
    "ohlc",
    "instrument",
    "level3",
    "executions",
    "balances",
]
FUTURES_FEEDS = ["book", "ticker", "ticker_lite", "trade", "heartbeat", "open_orders", "fills"]
PARAM_NAMES = [
    "symbol",
    "depth",
    "interval",
    "event_trigger",
    "snapshot",
    "snap_orders",
    "snap_trades",
    "order_status",
    "ratecounter",
    "users",
    "product_ids",
    "token",
    "req_id",
]
SYMBOLS = st.sampled_from(["BTC/USD", "ETH/USD", ["BTC/USD"], ["BTC/USD", "ETH/USD"], "PI_XBTUSD"])


def _sometimes_valid(
    values: list[Any], other: st.SearchStrategy[Any] = ANY
) -> st.SearchStrategy[Any]:
    return st.sampled_from(values) | other


async def _outcome(call: Callable[[KrakenClient], Awaitable[Any]], **client: Any) -> None:
    """Run ``call`` against a client whose endpoints are dead; only KrakenErrors may escape."""
    options = {**FAST, **client}
    async with open_kraken(
        API_KEY, API_SECRET, endpoints=ENDPOINTS, rest_url="http://127.0.0.1:9", **options
    ) as k:
        with trio.fail_after(10):  # a hang is a failure, not a slow test
            try:
                await call(k)
            except InvalidRequestError as exc:
                message = str(exc)
            except KrakenError:
                return  # got past the local checks and met the (dead) network
            else:
                return
        assert message, "an InvalidRequestError must say what was wrong"


def run(call: Callable[[KrakenClient], Awaitable[Any]], **client: Any) -> None:
    trio.run(_outcome, call, **client)


# ----------------------------------------------------------------------------- subscribe


@FUZZ
@given(
    channel=_sometimes_valid(SPOT_CHANNELS + FUTURES_FEEDS),
    ws_key=st.none() | st.sampled_from(list(WsKey)) | ANY,
    on_overflow=st.sampled_from(["raise", "drop_oldest", "latest"]) | ANY,
    buffer_size=st.none() | st.integers(min_value=-3, max_value=3) | ANY,
    params=st.dictionaries(
        st.sampled_from(PARAM_NAMES) | st.text(min_size=1, max_size=6),
        SYMBOLS | ANY,
        max_size=4,
    ),
)
def test_subscribe_refuses_bad_arguments_with_invalid_request_error(
    channel: Any, ws_key: Any, on_overflow: Any, buffer_size: Any, params: dict[str, Any]
) -> None:
    async def call(k: KrakenClient) -> None:
        sub = k.subscribe(
            channel, ws_key=ws_key, on_overflow=on_overflow, buffer_size=buffer_size, **params
        )
        assert sub.channel == channel  # accepted locally: nothing is sent until it is opened

    run(call)


@settings(FUZZ, max_examples=40)
@given(
    symbol=SYMBOLS | ANY,
    depth=_sometimes_valid([10, 25, 100, 500, 1000]),
    level=_sometimes_valid([2, 3]),
    ws_key=st.none() | st.sampled_from(list(WsKey)) | ANY,
    buffer_size=st.none() | ANY,
)
def test_book_refuses_bad_arguments(
    symbol: Any, depth: Any, level: Any, ws_key: Any, buffer_size: Any
) -> None:
    async def call(k: KrakenClient) -> None:
        async with k.book(symbol, depth, level=level, ws_key=ws_key, buffer_size=buffer_size):
            raise AssertionError("nothing listens: the book cannot have opened")

    run(call)


# ----------------------------------------------------------------------------- trading

ORDER_FIELDS = [
    "order_type",
    "side",
    "symbol",
    "order_qty",
    "limit_price",
    "limit_price_type",
    "triggers",
    "time_in_force",
    "expire_time",
    "deadline",
    "post_only",
    "reduce_only",
    "display_qty",
    "fee_preference",
    "stp_type",
    "cash_order_qty",
    "order_userref",
    "cl_ord_id",
    "conditional",
    "validate",
    "margin",
    "sender_sub_id",
]
NUMBERS = (
    st.decimals(allow_nan=True, places=None) | st.integers() | st.floats() | st.text(max_size=8)
)
ORDER_VALUES = {
    "order_type": _sometimes_valid(["limit", "market", "iceberg", "stop-loss", "trailing-stop"]),
    "side": _sometimes_valid(["buy", "sell"]),
    "symbol": _sometimes_valid(["BTC/USD", "ETH/USD"]),
    "order_qty": NUMBERS | ANY,
    "limit_price": NUMBERS | ANY,
}


@st.composite
def order_fields(draw: st.DrawFn) -> dict[str, Any]:
    fields = {name: draw(strategy) for name, strategy in ORDER_VALUES.items()}
    extra = draw(
        st.dictionaries(st.sampled_from(ORDER_FIELDS[5:]) | st.text(min_size=1), ANY, max_size=3)
    )
    fields.update(extra)
    if draw(st.booleans()):
        fields["triggers"] = draw(
            st.dictionaries(
                st.sampled_from(["price", "reference", "price_type"]) | st.text(max_size=4),
                ANY | NUMBERS,
                max_size=3,
            )
            | ANY
        )
    for name in draw(st.lists(st.sampled_from(["order_qty", "limit_price"]), max_size=2)):
        fields.pop(name, None)
    return fields


@FUZZ
@given(fields=order_fields())
def test_add_order_refuses_bad_fields_with_invalid_request_error(fields: dict[str, Any]) -> None:
    async def call(k: KrakenClient) -> None:
        await k.add_order(**fields)

    run(call)


@FUZZ
@given(
    method=st.sampled_from(["amend_order", "edit_order"]),
    fields=st.dictionaries(
        st.sampled_from(["order_id", "cl_ord_id", "symbol", *ORDER_FIELDS[3:]])
        | st.text(min_size=1, max_size=6),
        NUMBERS | ANY,
        max_size=5,
    ),
)
def test_amend_and_edit_refuse_bad_fields(method: str, fields: dict[str, Any]) -> None:
    async def call(k: KrakenClient) -> None:
        await getattr(k, method)(**fields)

    run(call)


@FUZZ
@given(
    order_id=st.none() | ANY,
    cl_ord_id=st.none() | ANY,
    order_userref=st.none() | ANY,
    orders=st.none() | ANY,
    batch_cl=st.none() | ANY,
)
def test_cancels_refuse_bad_ids(
    order_id: Any, cl_ord_id: Any, order_userref: Any, orders: Any, batch_cl: Any
) -> None:
    async def call(k: KrakenClient) -> None:
        with contextlib.suppress(KrakenError):
            await k.cancel_order(
                order_id=order_id, cl_ord_id=cl_ord_id, order_userref=order_userref
            )
        await k.batch_cancel(orders=orders, cl_ord_id=batch_cl)

    run(call)


@FUZZ
@given(
    symbol=_sometimes_valid(["BTC/USD"]),
    orders=st.lists(
        st.fixed_dictionaries({k: v for k, v in ORDER_VALUES.items() if k != "symbol"}) | ANY,
        max_size=17,
    )
    | ANY,
    deadline=st.none() | ANY,
    validate=st.none() | ANY,
)
def test_batch_add_refuses_bad_batches(
    symbol: Any, orders: Any, deadline: Any, validate: Any
) -> None:
    async def call(k: KrakenClient) -> None:
        await k.batch_add(symbol=symbol, orders=orders, deadline=deadline, validate=validate)

    run(call)


@FUZZ
@given(timeout=ANY | st.integers(), refresh_every=ANY | st.integers() | st.floats() | st.decimals())
def test_dead_mans_switch_and_cancel_after_refuse_bad_timeouts(
    timeout: Any, refresh_every: Any
) -> None:
    async def call(k: KrakenClient) -> None:
        with contextlib.suppress(KrakenError):
            await k.cancel_all_orders_after(timeout)
        async with k.dead_mans_switch(timeout, refresh_every):
            raise AssertionError("nothing listens: the switch cannot have been armed")

    run(call)


# ----------------------------------------------------------------------------- open_kraken


@FUZZ
@given(
    api_key=st.none() | st.just(API_KEY) | ANY,
    api_secret=st.none() | st.just(API_SECRET) | ANY,
    options=st.dictionaries(
        st.sampled_from(
            [
                "connect_timeout",
                "ping_interval",
                "pong_timeout",
                "request_timeout",
                "reconnect_delay",
                "max_reconnects",
                "buffer_size",
                "max_message_size",
                "endpoints",
                "rest_url",
                "config",
            ]
        )
        | st.text(min_size=1, max_size=8),
        ANY | st.floats() | st.integers(),
        max_size=3,
    ),
)
def test_open_kraken_refuses_bad_options_with_invalid_request_error(
    api_key: Any, api_secret: Any, options: dict[str, Any]
) -> None:
    async def main() -> None:
        message = "opened"
        try:
            async with open_kraken(api_key, api_secret, **options) as k:
                assert isinstance(k, KrakenClient)
        except InvalidRequestError as exc:
            message = str(exc)
        assert message, "an InvalidRequestError must say what was wrong"

    trio.run(main)


# ------------------------------------------------- inputs that escaped before (regressions)

KNOWN_BUGS: list[tuple[str, Callable[[KrakenClient], Awaitable[Any]]]] = []


def _bug(
    case: str,
) -> Callable[[Callable[[KrakenClient], Awaitable[Any]]], Callable[[KrakenClient], Awaitable[Any]]]:
    def register(
        fn: Callable[[KrakenClient], Awaitable[Any]],
    ) -> Callable[[KrakenClient], Awaitable[Any]]:
        KNOWN_BUGS.append((case, fn))
        return fn

    return register


async def _enter_book(k: KrakenClient, *args: Any, **kwargs: Any) -> None:
    async with k.book(*args, **kwargs):
        pass


@_bug("subscribe(ws_key='nope'): bare ValueError from WsKey() in _plan_subscription")
async def _bad_ws_key(k: KrakenClient) -> None:
    k.subscribe("ticker", symbol=["BTC/USD"], ws_key="nope")  # type: ignore[call-overload]


@_bug("subscribe(on_overflow='newest'): bare ValueError from Subscription.__init__")
async def _bad_policy(k: KrakenClient) -> None:
    k.subscribe("ticker", symbol=["BTC/USD"], on_overflow="newest")  # type: ignore[call-overload]


@_bug("subscribe(buffer_size=-1): bare ValueError from Subscription.__init__")
async def _negative_buffer(k: KrakenClient) -> None:
    k.subscribe("ticker", symbol=["BTC/USD"], buffer_size=-1)


@_bug("subscribe(buffer_size='8'): TypeError comparing str < int in Subscription.__init__")
async def _text_buffer(k: KrakenClient) -> None:
    k.subscribe("ticker", symbol=["BTC/USD"], buffer_size="8")  # type: ignore[call-overload]


@_bug("subscribe('book', depth=[10]): TypeError unhashable list in `depth not in _BOOK_DEPTHS`")
async def _list_depth(k: KrakenClient) -> None:
    k.subscribe("book", symbol=["BTC/USD"], depth=[10])


@_bug("subscribe('ohlc', interval={}): TypeError unhashable dict in the interval check")
async def _dict_interval(k: KrakenClient) -> None:
    k.subscribe("ohlc", symbol=["BTC/USD"], interval={})


@_bug("book(None): TypeError from list(None) in KrakenClient.book")
async def _none_symbol(k: KrakenClient) -> None:
    await _enter_book(k, None)


@_bug("book('BTC/USD', depth=None): TypeError comparing None < 1 in the L2 book")
async def _none_depth(k: KrakenClient) -> None:
    await _enter_book(k, "BTC/USD", None)


@_bug("book('BTC/USD', ws_key='x'): bare ValueError from WsKey() in KrakenClient.book")
async def _book_bad_key(k: KrakenClient) -> None:
    await _enter_book(k, "BTC/USD", ws_key="x")


@_bug("add_order(order_type=[]): TypeError unhashable list in _trading._choice (`not in`)")
async def _list_order_type(k: KrakenClient) -> None:
    await k.add_order(order_type=[], side="buy", symbol="BTC/USD", order_qty=1, limit_price=1)  # type: ignore[arg-type]


@_bug("add_order(time_in_force={}): TypeError unhashable dict in _trading's choice check")
async def _dict_tif(k: KrakenClient) -> None:
    await k.add_order(
        order_type="limit",
        side="buy",
        symbol="BTC/USD",
        order_qty=1,
        limit_price=1,
        time_in_force={},
    )


@_bug("add_order(side=Decimal('sNaN')): TypeError 'Cannot hash a signaling NaN value'")
async def _snan_side(k: KrakenClient) -> None:
    await k.add_order(
        order_type="limit",
        side=Decimal("sNaN"),  # type: ignore[arg-type]
        symbol="BTC/USD",
        order_qty=1,
        limit_price=1,
    )


@_bug("batch_add(orders=[{'order_type': ['limit'], ...}] * 2): TypeError unhashable list")
async def _batch_list_type(k: KrakenClient) -> None:
    order = {"order_type": ["limit"], "side": "buy", "order_qty": 1, "limit_price": 1}
    await k.batch_add(symbol="BTC/USD", orders=[order, order])


@_bug("dead_mans_switch(60, refresh_every=None): TypeError comparing int < None")
async def _dms_none(k: KrakenClient) -> None:
    async with k.dead_mans_switch(60, None):  # type: ignore[arg-type]
        pass


@_bug("dead_mans_switch(1, Decimal('NaN')): decimal.InvalidOperation from `0 < refresh_every`")
async def _dms_nan(k: KrakenClient) -> None:
    async with k.dead_mans_switch(1, Decimal("NaN")):  # type: ignore[arg-type]
        pass


async def _open(*args: Any, **options: Any) -> None:
    async with open_kraken(*args, **options):
        pass


@_bug("open_kraken(config=1.5): AttributeError 'float' object has no attribute 'endpoints'")
async def _bad_config(k: KrakenClient) -> None:
    await _open(config=1.5)


@_bug("open_kraken(endpoints=5): AttributeError 'int' object has no attribute 'items'")
async def _bad_endpoints(k: KrakenClient) -> None:
    await _open(endpoints=5)


@_bug("open_kraken('k', ('x',)): TypeError from base64 in Credentials (only ValueError caught)")
async def _tuple_secret(k: KrakenClient) -> None:
    await _open("k", ("x",))


@_bug("open_kraken(max_message_size='x'): accepted (Config does not check it); fails later")
async def _text_max_size(k: KrakenClient) -> None:
    await _open(max_message_size="x")


@_bug("open_kraken(123, secret): a non-str api_key is accepted")
async def _int_key(k: KrakenClient) -> None:
    await _open(123, API_SECRET)


STILL_OPEN: set[str] = set()


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(
            fn,
            id=case,
            marks=[pytest.mark.xfail(strict=True, reason=f"bug: {case}")]
            if case in STILL_OPEN
            else [],
        )
        for case, fn in KNOWN_BUGS
    ],
)
def test_bad_arguments_found_by_fuzzing_raise_invalid_request_error(
    call: Callable[[KrakenClient], Awaitable[Any]],
) -> None:
    async def main() -> None:
        async with open_kraken(
            API_KEY, API_SECRET, endpoints=ENDPOINTS, rest_url="http://127.0.0.1:9", **FAST
        ) as k:
            with trio.fail_after(10), pytest.raises(InvalidRequestError):
                await call(k)

    trio.run(main)


def test_decimal_inputs_are_exact_not_refused() -> None:
    """A control: a well-formed order passes the local checks (and then meets the network)."""

    async def call(k: KrakenClient) -> None:
        await k.add_order(
            order_type="limit",
            side="buy",
            symbol="BTC/USD",
            order_qty=Decimal("0.001"),
            limit_price=Decimal("50000.1"),
        )

    async def main() -> None:
        async with open_kraken(
            API_KEY, API_SECRET, endpoints=ENDPOINTS, rest_url="http://127.0.0.1:9", **FAST
        ) as k:
            with trio.fail_after(10):
                try:
                    await call(k)
                except InvalidRequestError as exc:  # pragma: no cover - the point of the test
                    raise AssertionError(f"a valid order was refused locally: {exc}") from exc
                except KrakenError:
                    pass

    trio.run(main)
