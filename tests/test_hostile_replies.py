"""Replies that say ``success: true`` but carry no ``result`` (issue 14, item 8) are a
``ProtocolError`` for the caller, never ``None`` or an ``AttributeError``; and a server that
echoes a token inside a malformed message never gets it logged (item 11)."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
from hostile import STAMP, answers, open_hostile_rest, open_hostile_websocket, token_reply
from support import wait_event

from kraken_trio import KrakenClient, KrakenError, ProtocolError, WsKey, open_kraken
from kraken_trio._proto.codec import SpotDecoder

PRIVATE = WsKey.SPOT_PRIVATE_V2
SECRET = base64.b64encode(bytes(range(64))).decode()
TOKEN = "hostile-token-Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MA"

Answer = Callable[[dict[str, Any]], list[str | bytes]]


def no_result(request: dict[str, Any]) -> list[str | bytes]:
    """Answer every request with success and nothing else."""
    reply = {"method": request["method"], "req_id": request["req_id"], "success": True, **STAMP}
    return [json.dumps(reply)]


@asynccontextmanager
async def private_client(reply: Answer, **options: Any) -> AsyncIterator[KrakenClient]:
    """A client whose spot private endpoint answers with ``reply``."""
    async with (
        open_hostile_rest(token_reply(TOKEN)) as rest,
        open_hostile_websocket(answers(reply)) as ws,
        open_kraken(
            "hostile-key",
            SECRET,
            endpoints={PRIVATE: ws.url},
            rest_url=rest.url,
            request_timeout=5,
            **options,
        ) as k,
    ):
        yield k


CALLS: dict[str, Callable[[KrakenClient], Awaitable[object]]] = {
    "add_order": lambda k: k.add_order(
        order_type="limit", side="buy", symbol="BTC/USD", order_qty="1", limit_price="100"
    ),
    "amend_order": lambda k: k.amend_order(order_id="OABCDE-FGHIJ-KLMNOP", order_qty="2"),
    "edit_order": lambda k: k.edit_order(
        order_id="OABCDE-FGHIJ-KLMNOP", symbol="BTC/USD", order_qty="2"
    ),
    "cancel_order": lambda k: k.cancel_order(order_id="OABCDE-FGHIJ-KLMNOP"),
    "cancel_all": lambda k: k.cancel_all(),
    "cancel_all_orders_after": lambda k: k.cancel_all_orders_after(60),
}


@pytest.mark.parametrize("method", sorted(CALLS))
async def test_success_without_result_is_a_protocol_error(method: str) -> None:
    async with private_client(no_result) as k:
        with trio.fail_after(10), pytest.raises(ProtocolError) as info:
            await CALLS[method](k)
        assert f"{method} reply says success but has no result" in str(info.value)
        assert k.statistics()[PRIVATE].bad_messages == 1


async def test_dead_mans_switch_that_cannot_arm_raises_a_protocol_error() -> None:
    async with private_client(no_result) as k:
        with trio.fail_after(10), pytest.raises(ProtocolError):
            async with k.dead_mans_switch(60, 20):
                pytest.fail("armed without a result")


async def test_dead_mans_switch_refresh_without_result_is_recorded_not_fatal() -> None:
    armed = [False]

    def first_good(request: dict[str, Any]) -> list[str | bytes]:
        if request["method"] == "cancel_all_orders_after" and not armed[0]:
            armed[0] = True
            result = {"currentTime": "2024-05-18T12:05:50Z", "triggerTime": "2024-05-18T12:06:50Z"}
            reply = {"method": request["method"], "req_id": request["req_id"], "success": True}
            return [json.dumps({**reply, "result": result, **STAMP})]
        return no_result(request)

    async with private_client(first_good) as k:
        events = k.events()

        async def hold_until_a_refresh_fails() -> None:
            async with k.dead_mans_switch(60, 0.01) as switch:
                event = await wait_event(events, "exception")
                assert "refresh failed" in event.detail
                assert isinstance(switch.failures[0], ProtocolError)

        with trio.fail_after(10), pytest.raises(KrakenError) as info:
            await hold_until_a_refresh_fails()
        assert isinstance(info.value.__cause__, ProtocolError)


def test_decoder_refuses_success_without_result_and_keeps_the_rest() -> None:
    decoder = SpotDecoder()
    with pytest.raises(ProtocolError, match="cancel_all reply says success but has no result"):
        decoder.decode('{"method":"cancel_all","req_id":7,"success":true}')
    refused = decoder.decode('{"method":"cancel_all","req_id":7,"success":false,"error":"E"}')
    assert refused.success is False  # type: ignore[union-attr]
    validated = decoder.decode('{"method":"add_order","req_id":7,"success":true,"result":{}}')
    assert validated.result is not None  # type: ignore[union-attr]


# ----------------------------------------------------------------------------- item 11


async def test_a_token_echoed_in_a_malformed_message_is_never_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="kraken_trio")

    def echo(request: dict[str, Any]) -> list[str | bytes]:
        token = request.get("params", {}).get("token", "")
        # Malformed three ways: wrong types, then not JSON, then an unknown method.
        return [
            json.dumps({"method": "cancel_all", "req_id": "x", "echo": token}),
            f"not json {token} not json",
            json.dumps({"method": "mystery", "echo": token, "req_id": request["req_id"]}),
            *no_result(request),
        ]

    async with private_client(echo) as k:
        with trio.fail_after(10), pytest.raises(ProtocolError) as info:
            await k.cancel_all()
    records = caplog.records
    assert any(r.levelno >= logging.WARNING for r in records)
    assert any("not json" in r.getMessage() for r in records)  # the line was logged...
    for record in records:  # ...without the token, at every level
        assert TOKEN not in record.getMessage(), record.getMessage()
        assert TOKEN[4:20] not in record.getMessage()
    assert TOKEN not in caplog.text
    assert TOKEN not in str(info.value)
