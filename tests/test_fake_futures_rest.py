"""The fake exchange's Futures REST API (``/derivatives/api/v3/...``) over HTTP on loopback.

Requests are made with httpx and signed by hand with Kraken's ``Authent`` recipe, so these tests
check the wire: public market data, signing and nonces, order entry that trades against the
fake's book, and the account views.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import trio

from kraken_trio._proto.auth import sign_futures_rest
from kraken_trio.testing import FakeKraken, open_fake_kraken

D = Decimal
WAIT = 10
# Kraken's Spot REST worked example secret (protocol reference section 6.2): public, not ours.
OTHER_SECRET = (
    "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg=="
)


class Api:
    """A minimal hand-made Futures REST client (query-string arguments, as ccxt sends them)."""

    def __init__(self, fake: FakeKraken, http: httpx.AsyncClient) -> None:
        self.fake = fake
        self.http = http
        self.base = fake.futures_rest_url

    async def public(self, name: str) -> Any:
        with trio.fail_after(WAIT):
            reply = await self.http.get(f"{self.base}/api/v3/{name}")
        assert reply.status_code == 200
        return reply.json(parse_float=Decimal)

    async def private(
        self,
        method: str,
        name: str,
        args: dict[str, Any] | None = None,
        *,
        nonce: str = "",
        secret: str | None = None,
        key: str | None = None,
        in_body: bool = False,
    ) -> Any:
        data = urlencode(args or {})
        path = f"/api/v3/{name}"
        headers = {
            "APIKey": key or self.fake.api_key,
            "Authent": sign_futures_rest(secret or self.fake.api_secret, data, nonce, path),
        }
        if nonce:
            headers["Nonce"] = nonce
        url = f"{self.base}{path}"
        with trio.fail_after(WAIT):
            if in_body:
                headers["Content-Type"] = "application/x-www-form-urlencoded"
                reply = await self.http.request(method, url, content=data, headers=headers)
            else:
                reply = await self.http.request(
                    method, f"{url}?{data}" if data else url, headers=headers
                )
        assert reply.status_code == 200, reply.text
        return json.loads(reply.text, parse_float=Decimal)


@asynccontextmanager
async def api() -> AsyncIterator[Api]:
    async with open_fake_kraken(seed=2, update_interval=0) as fake, httpx.AsyncClient() as http:
        yield Api(fake, http)


async def test_instruments_and_tickers_have_krakens_shape() -> None:
    async with api() as client:
        instruments = await client.public("instruments")
        assert instruments["result"] == "success"
        assert instruments["serverTime"].endswith("Z")
        by_symbol = {i["symbol"]: i for i in instruments["instruments"]}
        assert set(by_symbol) == {"PI_XBTUSD", "PF_ETHUSD", "PF_SOLUSD"}
        assert by_symbol["PI_XBTUSD"]["type"] == "futures_inverse"
        assert by_symbol["PF_ETHUSD"]["type"] == "flexible_futures"
        assert by_symbol["PF_ETHUSD"]["contractValueTradePrecision"] == 3
        assert by_symbol["PF_ETHUSD"]["tickSize"] == D("0.1")
        tickers = {t["symbol"]: t for t in (await client.public("tickers"))["tickers"]}
        assert client.fake.futures is not None
        bids, asks = client.fake.futures.book("PF_ETHUSD")
        assert (tickers["PF_ETHUSD"]["bid"], tickers["PF_ETHUSD"]["ask"]) == (max(bids), min(asks))
        assert "fundingRate" in tickers["PI_XBTUSD"]


async def test_signing_key_and_nonce_are_checked() -> None:
    async with api() as client:
        ok = await client.private("GET", "openorders")
        assert ok == {"result": "success", "openOrders": [], "serverTime": ok["serverTime"]}
        assert (await client.private("GET", "openorders", nonce="100"))["result"] == "success"
        assert (await client.private("GET", "openorders", nonce="100"))["error"] == "nonceDuplicate"
        assert (await client.private("GET", "openorders", nonce="99"))["error"] == (
            "nonceBelowThreshold"
        )
        bad = await client.private("GET", "openorders", secret=OTHER_SECRET)
        assert (bad["result"], bad["error"]) == ("error", "authenticationError")
        assert (await client.private("GET", "accounts", key="nobody"))["error"] == (
            "authenticationError"
        )
        # the signature and the key's secret never land in the record of requests
        seen = [r for r in client.fake.rest.received if r.path.startswith("/derivatives/")]
        assert seen
        assert all("authent" not in r.headers for r in seen)


async def test_unknown_paths_and_bad_arguments() -> None:
    async with api() as client:
        with trio.fail_after(WAIT):
            reply = await client.http.get(f"{client.base}/api/v3/nothing")
        assert reply.status_code == 404
        refused = await client.private(
            "POST", "sendorder", {"orderType": "lmt", "symbol": "PF_NOPE", "side": "buy", "size": 1}
        )
        assert refused["error"] == "invalidArgument: symbol"
        refused = await client.private(
            "POST",
            "sendorder",
            {"orderType": "lmt", "symbol": "PF_ETHUSD", "side": "up", "size": 1},
        )
        assert refused["error"] == "invalidArgument: side"
        for name, value in [
            ("size", "1e100"),
            ("size", "NaN"),
            ("size", "x"),
            ("limitPrice", "-Infinity"),
        ]:
            args = {
                "orderType": "lmt",
                "symbol": "PF_ETHUSD",
                "side": "buy",
                "size": 1,
                "limitPrice": 3000,
            }
            refused = await client.private("POST", "sendorder", args | {name: value})
            assert refused["error"] == f"invalidArgument: {name}"
        args = {
            "orderType": "stp",
            "symbol": "PF_ETHUSD",
            "side": "buy",
            "size": 1,
            "stopPrice": 3000,
        }
        refused = await client.private("POST", "sendorder", args | {"triggerSignal": "moon"})
        assert refused["error"] == "invalidArgument: triggerSignal"
        # the server is still serving after all that
        assert (await client.private("GET", "openorders"))["openOrders"] == []


@pytest.mark.parametrize("in_body", [False, True])
async def test_sendorder_trades_and_the_account_views_follow(in_body: bool) -> None:
    async with api() as client:
        futures = client.fake.futures
        assert futures is not None
        _, asks = futures.book("PF_ETHUSD")
        sent = await client.private(
            "POST",
            "sendorder",
            {
                "orderType": "mkt",
                "symbol": "pf_ethusd",
                "side": "buy",
                "size": "0.5",
                "cliOrdId": "c1",
            },
            in_body=in_body,
        )
        status = sent["sendStatus"]
        assert (status["status"], status["cliOrdId"]) == ("filled", "c1")
        place, execution = status["orderEvents"]
        assert place["type"] == "PLACE"
        assert (execution["type"], execution["price"], execution["amount"]) == (
            "EXECUTION",
            min(asks),
            D("0.5"),
        )
        positions = (await client.private("GET", "openpositions"))["openPositions"]
        (fill_time,) = {f["fillTime"] for f in (await client.private("GET", "fills"))["fills"]}
        assert positions == [
            {
                "side": "long",
                "symbol": "PF_ETHUSD",
                "price": min(asks),
                "fillTime": f"{fill_time}",
                "size": D("0.5"),
                "unrealizedFunding": D("0.0"),
                "pnlCurrency": "USD",
            }
        ]
        (fill,) = (await client.private("GET", "fills"))["fills"]
        assert (fill["order_id"], fill["side"], fill["size"], fill["cliOrdId"]) == (
            status["order_id"],
            "buy",
            D("0.5"),
            "c1",
        )
        accounts = (await client.private("GET", "accounts"))["accounts"]
        flex = accounts["flex"]
        assert flex["type"] == "multiCollateralMarginAccount"
        assert flex["currencies"]["USD"]["quantity"] < D(100_000)
        assert flex["initialMargin"] > 0
        assert accounts["fi_xbtusd"]["type"] == "marginAccount"


async def test_resting_order_edit_cancel_and_cancel_all() -> None:
    async with api() as client:
        futures = client.fake.futures
        assert futures is not None
        bids, _ = futures.book("PF_SOLUSD")
        low = max(bids) - D(2)
        sent = await client.private(
            "POST",
            "sendorder",
            {
                "orderType": "lmt",
                "symbol": "PF_SOLUSD",
                "side": "buy",
                "size": "1",
                "limitPrice": low,
            },
        )
        order_id = sent["sendStatus"]["order_id"]
        assert sent["sendStatus"]["status"] == "placed"
        (open_order,) = (await client.private("GET", "openorders"))["openOrders"]
        assert (open_order["order_id"], open_order["status"], open_order["unfilledSize"]) == (
            order_id,
            "untouched",
            D(1),
        )
        edited = await client.private(
            "POST", "editorder", {"orderId": order_id, "size": "3", "limitPrice": low - 1}
        )
        assert edited["editStatus"]["status"] == "edited"
        assert edited["editStatus"]["orderEvents"][0]["new"]["quantity"] == D(3)
        missing = await client.private("POST", "editorder", {"orderId": "nope", "size": "3"})
        assert missing["editStatus"]["status"] == "orderForEditNotFound"
        cancelled = await client.private("POST", "cancelorder", {"order_id": order_id})
        assert cancelled["cancelStatus"]["status"] == "cancelled"
        again = await client.private("POST", "cancelorder", {"order_id": order_id})
        assert again["cancelStatus"]["status"] == "notFound"
        for _ in range(2):
            await client.private(
                "POST",
                "sendorder",
                {
                    "orderType": "post",
                    "symbol": "PF_SOLUSD",
                    "side": "buy",
                    "size": "1",
                    "limitPrice": low,
                },
            )
        everything = await client.private("POST", "cancelallorders")
        assert everything["cancelStatus"]["status"] == "cancelled"
        assert len(everything["cancelStatus"]["cancelledOrders"]) == 2
        nothing = await client.private("POST", "cancelallorders", {"symbol": "PF_SOLUSD"})
        assert nothing["cancelStatus"]["status"] == "noOrdersToCancel"
