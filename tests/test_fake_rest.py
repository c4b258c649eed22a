"""The fake exchange's REST token call, over real HTTP/1.1 on loopback."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import h11
import httpx
import pytest
import trio

from kraken_trio._proto.auth import NonceSource, sign_rest_request
from kraken_trio.testing import FakeKraken, open_fake_kraken

PATH = "/0/private/GetWebSocketsToken"


@pytest.fixture
async def fake() -> AsyncIterator[FakeKraken]:
    async with open_fake_kraken(update_interval=0) as f:
        yield f


async def post_token(
    fake: FakeKraken,
    nonce: int,
    *,
    key: str | None = None,
    secret: str | None = None,
    body: str | None = None,
) -> tuple[int, Any]:
    body = f"nonce={nonce}" if body is None else body
    sig = sign_rest_request(secret or fake.api_secret, PATH, nonce, body)
    headers = {
        "API-Key": key or fake.api_key,
        "API-Sign": sig,
        "Content-Type": "application/x-www-form-urlencoded",
        "User-Agent": "kraken-trio-tests",
    }
    with trio.fail_after(5):
        async with httpx.AsyncClient() as http:
            resp = await http.post(fake.rest_url + PATH, content=body, headers=headers)
    return resp.status_code, resp.json()


async def test_valid_request_gets_a_token(fake: FakeKraken) -> None:
    nonces = NonceSource()
    status, answer = await post_token(fake, nonces.next(time.time()))
    assert status == 200
    assert answer["error"] == []
    assert list(answer["result"]) == ["token", "expires"]
    assert answer["result"]["expires"] == 900
    token = answer["result"]["token"]
    assert len(token) >= 40
    status, again = await post_token(fake, nonces.next(time.time()))
    assert again["result"]["token"] != token
    assert len(fake.exchange.tokens) == 2
    assert fake.exchange.tokens.lookup(token, time.time()) == fake.api_key


async def test_unknown_key(fake: FakeKraken) -> None:
    _, answer = await post_token(fake, 1, key="not-a-key")
    assert answer == {"error": ["EAPI:Invalid key"], "result": {}}


async def test_wrong_signature(fake: FakeKraken) -> None:
    other = fake.new_account().secret
    _, answer = await post_token(fake, 1, secret=other)
    assert answer == {"error": ["EAPI:Invalid signature"], "result": {}}


async def test_signature_covers_the_exact_body(fake: FakeKraken) -> None:
    nonce = 5
    sig = sign_rest_request(fake.api_secret, PATH, nonce, f"nonce={nonce}")
    with trio.fail_after(5):
        async with httpx.AsyncClient() as http:
            resp = await http.post(
                fake.rest_url + PATH,
                content=f"nonce={nonce}&otp=1",
                headers={"API-Key": fake.api_key, "API-Sign": sig},
            )
    assert resp.json()["error"] == ["EAPI:Invalid signature"]


async def test_nonce_must_increase_per_key(fake: FakeKraken) -> None:
    _, answer = await post_token(fake, 1000)
    assert answer["error"] == []
    _, answer = await post_token(fake, 1000)
    assert answer == {"error": ["EAPI:Invalid nonce"], "result": {}}
    _, answer = await post_token(fake, 999)
    assert answer["error"] == ["EAPI:Invalid nonce"]
    # another key has its own nonce
    creds = fake.new_account()
    _, answer = await post_token(fake, 10, key=creds.api_key, secret=creds.secret)
    assert answer["error"] == []
    _, answer = await post_token(fake, 1001)
    assert answer["error"] == []


async def test_reject_next_auth_fault(fake: FakeKraken) -> None:
    fake.rest.faults.reject_next_auth(2)
    assert (await post_token(fake, 1))[1]["error"] == ["EAPI:Invalid key"]
    assert (await post_token(fake, 2))[1]["error"] == ["EAPI:Invalid key"]
    assert (await post_token(fake, 3))[1]["error"] == []


async def test_public_time_and_unknown_path(fake: FakeKraken) -> None:
    with trio.fail_after(5):
        async with httpx.AsyncClient() as http:
            resp = await http.get(fake.rest_url + "/0/public/Time")
            assert resp.status_code == 200
            assert abs(resp.json()["result"]["unixtime"] - time.time()) < 5
            resp = await http.get(fake.rest_url + "/0/public/Nope")
            assert resp.status_code == 404
            assert resp.json()["error"] == ["EGeneral:Unknown method"]


async def test_keep_alive_and_recording_without_signature(fake: FakeKraken) -> None:
    with trio.fail_after(5):
        async with httpx.AsyncClient() as http:
            for _ in range(3):
                resp = await http.get(fake.rest_url + "/0/public/SystemStatus")
                assert resp.json()["result"]["status"] == "online"
    await post_token(fake, 1)
    assert len(fake.rest.received) == 4
    last = fake.rest.received[-1]
    assert last.path == PATH
    assert last.body == "nonce=1"
    assert "api-sign" not in last.headers
    assert last.headers["api-key"] == fake.api_key


async def test_garbage_is_answered_by_h11_not_by_a_hang(fake: FakeKraken) -> None:
    host, port = fake.rest_url.removeprefix("http://").split(":")
    with trio.fail_after(5):
        stream = await trio.open_tcp_stream(host, int(port))
        async with stream:
            await stream.send_all(b"NOT HTTP AT ALL\r\n\r\n")
            data = b""
            while chunk := await stream.receive_some(4096):
                data += chunk
    conn = h11.Connection(h11.CLIENT)
    conn.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
    conn.send(h11.EndOfMessage())
    conn.receive_data(data)
    event = conn.next_event()
    assert isinstance(event, h11.Response)
    assert event.status_code == 400


async def test_repr_hides_the_secret(fake: FakeKraken) -> None:
    assert fake.api_secret not in repr(fake)
    assert fake.api_secret not in repr(fake.credentials)
    assert fake.api_key not in repr(fake)


async def test_json_body_is_signed_over_its_exact_text(fake: FakeKraken) -> None:
    body = '{"nonce": "77"}'
    sig = sign_rest_request(fake.api_secret, PATH, "77", body)
    with trio.fail_after(5):
        async with httpx.AsyncClient() as http:
            resp = await http.post(
                fake.rest_url + PATH,
                content=body,
                headers={
                    "API-Key": fake.api_key,
                    "API-Sign": sig,
                    "Content-Type": "application/json; charset=utf-8",
                },
            )
    assert resp.json()["error"] == []
    assert resp.json()["result"]["token"]


async def test_asset_pairs_use_krakens_rest_names(fake: FakeKraken) -> None:
    base = fake.rest_url + "/0/public/AssetPairs"
    with trio.fail_after(5):
        async with httpx.AsyncClient() as http:
            everything = (await http.get(base)).json()
            by_key = (await http.get(base + "?pair=XXBTZUSD,SHIBUSD")).json()
            by_altname = (await http.get(base + "?pair=XBTUSD,ETHXBT")).json()
            by_slash = (await http.get(base, params={"pair": "XBT/USD,BTC/USD"})).json()
            by_post = (await http.post(base, data={"pair": "SOLUSD"})).json()
            unknown = (await http.get(base + "?pair=XBTUSD,NOPE")).json()
    # every pair under Kraken's key; the v2 name survives only as the pair's identity
    assert everything["error"] == []
    assert set(everything["result"]) == {"XXBTZUSD", "XETHZUSD", "XETHXXBT", "SOLUSD", "SHIBUSD"}
    btc = everything["result"]["XXBTZUSD"]
    assert (btc["altname"], btc["wsname"], btc["base"], btc["quote"]) == (
        "XBTUSD",
        "XBT/USD",
        "XXBT",
        "ZUSD",
    )
    assert (btc["pair_decimals"], btc["lot_decimals"], btc["tick_size"]) == (1, 8, "0.1")
    assert btc["ordermin"] == "0.0001"
    assert btc["fees"][0] == [0, 0.4]
    assert btc["status"] == "online"
    shib = everything["result"]["SHIBUSD"]
    assert (shib["altname"], shib["wsname"], shib["base"], shib["quote"]) == (
        "SHIBUSD",
        "SHIB/USD",
        "SHIB",
        "ZUSD",
    )
    assert shib["tick_size"] == "0.000000001"
    assert everything["result"]["XETHXXBT"]["wsname"] == "ETH/XBT"
    # asked by key or altname: answered by key; asked with a slash: answered by that name
    assert set(by_key["result"]) == {"XXBTZUSD", "SHIBUSD"}
    assert set(by_altname["result"]) == {"XXBTZUSD", "XETHXXBT"}
    assert set(by_slash["result"]) == {"XBT/USD", "BTC/USD"}
    assert by_slash["result"]["BTC/USD"] == btc
    assert set(by_post["result"]) == {"SOLUSD"}
    assert unknown == {"error": ["EQuery:Unknown asset pair"], "result": {}}


async def test_assets_in_krakens_shape(fake: FakeKraken) -> None:
    base = fake.rest_url + "/0/public/Assets"
    with trio.fail_after(5):
        async with httpx.AsyncClient() as http:
            everything = (await http.get(base)).json()
            some = (await http.get(base + "?asset=XBT,ZUSD,SOL")).json()
            unknown = (await http.get(base + "?asset=NOPE")).json()
            bad_class = (await http.get(base + "?aclass=forex")).json()
    assert everything["error"] == []
    assert set(everything["result"]) == {"XXBT", "ZUSD", "XETH", "SOL", "SHIB"}
    assert everything["result"]["XXBT"] == {
        "aclass": "currency",
        "altname": "XBT",
        "decimals": 10,
        "display_decimals": 5,
        "collateral_value": 1.0,
        "status": "enabled",
    }
    assert everything["result"]["ZUSD"]["altname"] == "USD"
    assert everything["result"]["ZUSD"]["decimals"] == 4
    assert set(some["result"]) == {"XXBT", "ZUSD", "SOL"}
    assert unknown == {"error": ["EQuery:Unknown asset"], "result": {}}
    assert bad_class["error"] == ["EGeneral:Invalid arguments:aclass"]
