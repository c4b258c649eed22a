"""refusal_hint and suggest_field: what to change after Kraken refused something (pure logic)."""

from __future__ import annotations

import pytest
import trio
from support import client_for

from kraken_trio import SubscriptionError
from kraken_trio._proto.hints import refusal_hint, suggest_field
from kraken_trio.testing import open_fake_kraken

PUBLIC = "spotPublicV2"


@pytest.mark.parametrize(
    ("symbol", "needle"),
    [
        ("btc/usd", "symbols are upper case: try 'BTC/USD'"),
        ("XBT/USD", "the v2 WebSocket names bitcoin BTC, not XBT: try 'BTC/USD'"),
        ("xbt/eur", "symbols are upper case and the v2 WebSocket names bitcoin BTC, not XBT: "),
        ("PI_XBTUSD", "'PI_XBTUSD' is a Kraken Futures product: futures feeds take product_ids"),
        ("PF_ETHUSD", "WsKey.DERIVATIVES_PUBLIC_V1"),
        ("BTCUSD", "spot v2 symbols carry a slash, like 'BTC/USD'"),
    ],
)
def test_a_refused_pair_says_what_kraken_would_take(symbol: str, needle: str) -> None:
    text = f"Currency pair not supported {symbol}"
    hint = refusal_hint(text, "ticker", {"symbol": [symbol]}, PUBLIC)
    assert hint is not None
    assert needle in hint


def test_the_symbol_kraken_names_is_the_one_explained() -> None:
    hint = refusal_hint(
        "Currency pair not supported eth/usd", "book", {"symbol": ["BTC/USD", "eth/usd"]}, PUBLIC
    )
    assert hint == "symbols are upper case: try 'ETH/USD'"


def test_without_a_named_pair_the_params_are_looked_at() -> None:
    hint = refusal_hint("EQuery:Unknown asset pair", "ticker", {"symbol": "XBT/USD"}, PUBLIC)
    assert hint is not None
    assert "try 'BTC/USD'" in hint


def test_a_well_formed_unknown_pair_gets_no_guess() -> None:
    assert refusal_hint("Currency pair not supported FOO/BAR", "ticker", {}, PUBLIC) is None


@pytest.mark.parametrize("channel", ["executions", "balances"])
@pytest.mark.parametrize("key", ["spotPublicV2", "spotBetaPublicV2"])
def test_a_private_channel_on_a_public_key(channel: str, key: str) -> None:
    hint = refusal_hint("Unsupported event", channel, {}, key)
    assert hint is not None
    assert hint.startswith(f"{channel} is a private channel: subscribe on WsKey.SPOT_PRIVATE_V2")
    assert "api_key and api_secret" in hint


def test_a_private_channel_on_its_own_key_gets_no_key_hint() -> None:
    assert refusal_hint("Token(s) not found", "executions", {}, "spotPrivateV2") is None


def test_level3_elsewhere_than_its_endpoint() -> None:
    hint = refusal_hint("Unsupported event", "level3", {"symbol": ["BTC/USD"]}, PUBLIC)
    assert hint is not None
    assert "WsKey.SPOT_L3_V2" in hint


def test_an_unsupported_field_gets_kraken_s_name() -> None:
    text = "Unsupported field: 'price' for the given msg type: add order"
    assert refusal_hint(text, "add_order", {}, "spotPrivateV2") == (
        "Kraken calls 'price' 'limit_price'"
    )
    ping = "Unsupported field: 'params' for the given msg type: ping"
    assert refusal_hint(ping, "ping", {}, PUBLIC) is None


@pytest.mark.parametrize(
    ("error", "needle"),
    [
        ("EOrder:Rate limit exceeded", "prefer amend_order"),
        ("EOrder:Tick size check failed", "price_increment"),
        ("EOrder:Order minimum not met", "qty_min"),
        ("EOrder:Cost minimum not met", "cost_min"),
        ("EGeneral:Permission denied", "the API key lacks a permission that add_order needs"),
    ],
)
def test_order_refusals(error: str, needle: str) -> None:
    hint = refusal_hint(error, "add_order", {"symbol": "BTC/USD"}, "spotPrivateV2")
    assert hint is not None
    assert needle in hint


def test_nothing_to_add() -> None:
    assert refusal_hint("EOrder:Insufficient funds", "add_order", {}, "spotPrivateV2") is None
    assert refusal_hint("EAPI:Rate limit exceeded", "add_order", {}, "spotPrivateV2") is None


@pytest.mark.parametrize(
    ("name", "better"),
    [
        ("price", "limit_price"),
        ("qty", "order_qty"),
        ("volume", "order_qty"),
        ("pair", "symbol"),
        ("ordertype", "order_type"),
        ("clientOrderId", "cl_ord_id"),
        ("timeInForce", "time_in_force"),
        ("limit_prce", "limit_price"),  # a typo: the closest known name
        ("nonsense", None),
    ],
)
def test_suggest_field(name: str, better: str | None) -> None:
    known = {"limit_price", "order_qty", "symbol", "order_type", "time_in_force"}
    assert suggest_field(name, known) == better


def test_a_refusal_carries_its_hint_and_still_copies_and_pickles() -> None:
    import copy
    import pickle

    from kraken_trio import SubscriptionError

    text = "Currency pair not supported btc/usd"
    hint = refusal_hint(text, "ticker", {"symbol": ["btc/usd"]}, PUBLIC)
    error = SubscriptionError(text, "subscribe", 7, hint)
    assert str(error) == (
        "subscribe (req_id=7) failed: Currency pair not supported btc/usd "
        "(hint: symbols are upper case: try 'BTC/USD')"
    )
    for clone in (copy.copy(error), pickle.loads(pickle.dumps(error))):
        assert (clone.error, clone.hint, str(clone)) == (error.error, error.hint, str(error))
    assert str(SubscriptionError(text, "subscribe", 7)) == (
        "subscribe (req_id=7) failed: Currency pair not supported btc/usd"
    )


async def test_a_refused_subscribe_carries_the_hint_over_the_wire() -> None:
    async with open_fake_kraken(update_interval=None) as fake, client_for(fake) as k:
        with trio.fail_after(10), pytest.raises(SubscriptionError) as info:
            async with k.subscribe("ticker", symbol=["btc/usd"]):
                pass
    assert info.value.hint is not None
    assert "BTC/USD" in info.value.hint
    assert "BTC/USD" in str(info.value)
