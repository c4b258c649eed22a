"""The secret scan (issue 5): the private flows run with DEBUG logging captured (ours, httpx's
and httpcore's), and neither the API secret, nor any WebSocket token, nor any signature (REST
``API-Sign``, futures ``signed_challenge``) appears in a log line, a repr, or an exception's text.

Tokens and signatures are collected from what the fake exchange received; the ``API-Sign``
values are recomputed from the recorded request bodies, since the fake does not keep them.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterable
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

import pytest
import trio
from support import client_for, next_matching, wait_event

from kraken_trio import (
    AuthenticationError,
    ConnectionLostError,
    KrakenClient,
    KrakenError,
    LifecycleEvent,
    RequestTimeoutError,
    WsKey,
    open_kraken,
)
from kraken_trio._proto import futures as f
from kraken_trio._proto.auth import sign_rest_request
from kraken_trio.testing import FakeKraken, open_fake_kraken

PRIVATE = WsKey.SPOT_PRIVATE_V2
FUTURES = WsKey.DERIVATIVES_PRIVATE_V1
TOKEN_PATH = "/0/private/GetWebSocketsToken"
BTC = "BTC/USD"
QTY = Decimal("0.001")
LOGGERS = ("", "kraken_trio", "kraken_trio.testing", "httpx", "httpcore", "trio_websocket")


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every logger we or our dependencies use, captured at DEBUG."""
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def _spot_messages(fake: FakeKraken) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for key in (PRIVATE, WsKey.SPOT_L3_V2, WsKey.SPOT_BETA_PRIVATE_V2):
        out.extend(r.message for r in fake.received(key) if isinstance(r.message, dict))
    return out


def tokens_sent(fake: FakeKraken) -> set[str]:
    """Every token a spot request carried."""
    found = set()
    for msg in _spot_messages(fake):
        params = msg.get("params")
        if isinstance(params, dict) and isinstance(params.get("token"), str):
            found.add(params["token"])
    return found


def rest_signatures(fake: FakeKraken, secret: str) -> set[str]:
    """The API-Sign of every token request, recomputed from its recorded body."""
    found = set()
    for request in fake.rest.received:
        if request.path != TOKEN_PATH:
            continue
        nonce = parse_qs(request.body)["nonce"][0]
        found.add(sign_rest_request(secret, TOKEN_PATH, nonce, request.body))
    return found


def futures_signatures(fake: FakeKraken) -> set[str]:
    """Every signed challenge a futures request carried."""
    return {
        r.message["signed_challenge"]
        for r in fake.received(FUTURES)
        if isinstance(r.message, dict) and isinstance(r.message.get("signed_challenge"), str)
    }


def secret_forms(secret: str) -> set[str]:
    """The base64 secret, its unpadded and URL-safe spellings, and its hex."""
    raw = base64.b64decode(secret)
    return {secret, secret.rstrip("="), base64.urlsafe_b64encode(raw).decode(), raw.hex()}


def assert_absent(texts: Iterable[str], needles: Iterable[str], what: str) -> None:
    """No needle (or a 16-character run of it past the 4 characters redaction keeps) in texts."""
    haystack = "\n".join(texts)
    for needle in needles:
        assert len(needle) >= 20, f"{what}: {len(needle)} characters is too short to scan for"
        for probe in (needle, needle[4:20]):
            assert probe not in haystack, f"a {what} leaked ({probe[:4]}...)"


def log_texts(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Every captured record, formatted (with tracebacks) and as its raw args."""
    texts = [caplog.text]
    for record in caplog.records:
        texts.append(record.getMessage())
        texts.append(repr(record.args))
        if record.exc_info and record.exc_info[1] is not None:
            texts.append(repr(record.exc_info[1]))
    return texts


def error_texts(errors: Iterable[BaseException]) -> list[str]:
    out = []
    for exc in errors:
        out.extend([str(exc), repr(exc), repr(exc.args)])
        cause = exc.__cause__ or exc.__context__
        if cause is not None:
            out.extend([str(cause), repr(cause)])
    return out


def event_texts(events: Iterable[LifecycleEvent]) -> list[str]:
    return [repr(e) for e in events] + [e.detail for e in events]


def client_reprs(k: KrakenClient) -> list[str]:
    texts = [repr(k), str(k), repr(k.credentials), str(k.credentials), repr(k.config)]
    texts.extend(repr(k.connection(key)) for key in list(k.statistics()))
    texts.extend(repr(stats) for stats in k.statistics().values())
    if k._token_source is not None:
        texts.append(repr(k._token_source))
    return texts


async def _collect_events(k: KrakenClient, into: list[LifecycleEvent]) -> None:
    async with k.events() as events:
        async for event in events:
            into.append(event)


async def _expect(errors: list[BaseException], exc_type: type[BaseException], coro: Any) -> None:
    with pytest.raises(exc_type) as info:
        await coro
    errors.append(info.value)


async def test_spot_private_flows_never_show_secret_tokens_or_signatures(
    debug_logs: pytest.LogCaptureFixture,
) -> None:
    errors: list[BaseException] = []
    events: list[LifecycleEvent] = []
    reprs: list[str] = []
    async with open_fake_kraken(update_interval=None) as fake:
        faults = fake.spot_faults(PRIVATE)
        async with (
            client_for(fake, request_timeout=0.5, close_timeout=0.3) as k,
            trio.open_nursery() as nursery,
        ):
            nursery.start_soon(_collect_events, k, events)
            with trio.fail_after(10):
                await k.connect(PRIVATE)
                async with (
                    k.subscribe("executions", snap_trades=True) as ex,
                    k.subscribe("balances") as bal,
                ):
                    await ex.__anext__()
                    await bal.__anext__()
                    reprs.extend([repr(ex), repr(bal)])
                    bid, _ = fake.market.best_bid_ask(BTC)
                    assert bid is not None
                    price = (bid - 5000).quantize(Decimal("0.1"))
                    placed = await k.add_order(
                        order_type="limit",
                        side="buy",
                        symbol=BTC,
                        order_qty=QTY,
                        limit_price=price,
                        cl_ord_id="scan-1",
                    )
                    reprs.append(repr(placed))
                    reprs.append(repr(await k.amend_order(cl_ord_id="scan-1", order_qty=QTY * 2)))
                    await k.add_order(order_type="market", side="buy", symbol=BTC, order_qty=QTY)
                    await next_matching(ex, lambda m: any(e.exec_type == "filled" for e in m.data))
                    async with k.dead_mans_switch(timeout=5, refresh_every=0.1):
                        await k.batch_add(
                            symbol=BTC,
                            orders=[
                                {
                                    "order_type": "limit",
                                    "side": "buy",
                                    "order_qty": QTY,
                                    "limit_price": price - i,
                                }
                                for i in range(2)
                            ],
                        )
                    await k.cancel_all()
                # Kraken's refusals.
                await _expect(
                    errors,
                    KrakenError,
                    k.add_order(
                        order_type="limit",
                        side="buy",
                        symbol=BTC,
                        order_qty=QTY,
                        limit_price=price + Decimal("0.05"),
                    ),
                )
                faults.reject_next_auth(2)
                await _expect(errors, KrakenError, k.cancel_all())
                # A timeout, then a request lost with the link.
                faults.delay = 0.7
                await _expect(errors, RequestTimeoutError, k.cancel_all())
                faults.delay = 2.0
                async with trio.open_nursery() as inner:
                    inner.start_soon(_expect, errors, ConnectionLostError, k.cancel_all())
                    server = fake.server(PRIVATE)
                    await server.wait_received(len(server.received) + 1)
                    faults.delay = 0
                    await faults.drop(reset=True)
                # The next connection (a fresh token) and level3 (its own token).
                assert await k.cancel_all() == 0
                async with k.subscribe("level3", symbol=[BTC]) as l3:
                    await l3.__anext__()
                    reprs.append(repr(l3))
            reprs.extend(client_reprs(k))
            nursery.cancel_scope.cancel()
        reprs.append(repr(fake))

        tokens = tokens_sent(fake)
        signatures = rest_signatures(fake, fake.api_secret)
        assert len(tokens) >= 3  # first link, relinked, level3
        assert len(signatures) == sum(1 for r in fake.rest.received if r.path == TOKEN_PATH)
        assert len(signatures) >= 3
    texts = log_texts(debug_logs) + error_texts(errors) + event_texts(events) + reprs
    # The scan looks at real material: the flows did log and did fail.
    assert any(r.levelno == logging.DEBUG for r in debug_logs.records)
    assert any(r.name.startswith("http") for r in debug_logs.records)
    assert len(errors) == 4
    assert_absent(texts, secret_forms(fake.api_secret), "API secret")
    assert_absent(texts, tokens, "WebSocket token")
    assert_absent(texts, signatures, "API-Sign signature")


async def test_token_fetch_failures_never_show_the_secret(
    debug_logs: pytest.LogCaptureFixture,
) -> None:
    errors: list[BaseException] = []
    reprs: list[str] = []
    wrong_secret = base64.b64encode(bytes(range(64))).decode()
    async with open_fake_kraken(update_interval=None) as fake:
        # A wrong secret: Kraken answers EAPI:Invalid signature.
        async with open_kraken(
            fake.api_key, wrong_secret, endpoints=fake.endpoints, rest_url=fake.rest_url
        ) as k:
            with trio.fail_after(5):
                await _expect(errors, AuthenticationError, k.connect(PRIVATE))
                await _expect(
                    errors,
                    AuthenticationError,
                    k.add_order(order_type="market", side="buy", symbol=BTC, order_qty=QTY),
                )
            reprs.extend(client_reprs(k))
        wrong_signatures = rest_signatures(fake, wrong_secret)
        # The right secret, but the REST endpoint is too slow: httpx times out.
        fake.rest.faults.delay = 1.0
        async with client_for(fake, rest_timeout=0.2, auth_timeout=0.2, max_reconnects=0) as k:
            with trio.fail_after(5):
                await _expect(errors, KrakenError, k.connect(PRIVATE))
            reprs.extend(client_reprs(k))
        fake.rest.faults.delay = 0
        signatures = rest_signatures(fake, fake.api_secret)
    assert len(wrong_signatures) == 2
    assert signatures
    assert len(errors) == 3
    texts = log_texts(debug_logs) + error_texts(errors) + reprs
    assert any("Invalid signature" in t for t in texts)
    assert_absent(texts, secret_forms(wrong_secret), "wrong API secret")
    assert_absent(texts, secret_forms(fake.api_secret), "API secret")
    assert_absent(texts, wrong_signatures | signatures, "API-Sign signature")


async def test_futures_challenge_flows_never_show_the_secret_or_signatures(
    debug_logs: pytest.LogCaptureFixture,
) -> None:
    errors: list[BaseException] = []
    events: list[LifecycleEvent] = []
    reprs: list[str] = []
    async with open_fake_kraken(update_interval=None) as fake:
        faults = fake.faults(FUTURES)
        async with client_for(fake) as k, trio.open_nursery() as nursery:
            nursery.start_soon(_collect_events, k, events)
            with trio.fail_after(10):
                async with k.events() as lifecycle, k.subscribe("open_orders") as sub:
                    assert isinstance(await sub.__anext__(), f.FuturesOpenOrdersSnapshot)
                    reprs.append(repr(sub))
                    fake.futures.account.place_order("PI_XBTUSD", "buy", 1, "60000")
                    await sub.__anext__()
                    await faults.drop()
                    await wait_event(lifecycle, "reconnected")
                    await next_matching(sub, lambda m: isinstance(m, f.FuturesOpenOrdersSnapshot))
                faults.reject_next_auth(2)
                await faults.drop()
                with pytest.raises(KrakenError) as info:
                    async with k.subscribe("fills"):
                        pass
                errors.append(info.value)
            reprs.extend(client_reprs(k))
            nursery.cancel_scope.cancel()
        signatures = futures_signatures(fake)
        assert len(signatures) >= 2
    assert isinstance(errors[0], AuthenticationError)
    texts = log_texts(debug_logs) + error_texts(errors) + event_texts(events) + reprs
    assert_absent(texts, secret_forms(fake.api_secret), "API secret")
    assert_absent(texts, signatures, "futures signed challenge")


def test_the_scan_catches_a_leak_and_allows_the_redacted_prefix() -> None:
    """The scanner itself: a whole or partial value is caught; ``redact()``'s output is not."""
    token = "Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5"
    assert_absent(["token Zm9v*** sent", "nothing here"], [token], "token")
    with pytest.raises(AssertionError, match="token leaked"):
        assert_absent([f"params={{'token': '{token}'}}"], [token], "token")
    with pytest.raises(AssertionError, match="token leaked"):
        assert_absent([f"...{token[2:30]}..."], [token], "token")
    secret = base64.b64encode(bytes(range(64))).decode()
    with pytest.raises(AssertionError, match="secret leaked"):
        assert_absent([bytes(range(64)).hex()], secret_forms(secret), "secret")
