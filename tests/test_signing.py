"""Signing: Kraken's published vectors (protocol reference §6.2, §6.3, §7.2), nonces, secrets."""

from __future__ import annotations

import itertools
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kraken_trio._proto.auth import (
    Credentials,
    NonceSource,
    encode_form,
    redact,
    sign_futures_challenge,
    sign_rest_request,
)

# §6.2: docs.kraken.com spot REST authentication worked example.
REST_SECRET = (
    "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg=="
)
REST_NONCE = 1616492376594
REST_BODY = "nonce=1616492376594&ordertype=limit&pair=XBTUSD&price=37500&type=buy&volume=1.25"
REST_PATH = "/0/private/AddOrder"
REST_SIGN = (
    "4/dpxb3iT4tp/ZCVEwSnEsLxx0bqyhLpdfOpc6fn7OR8+UClSV5n9E6aSS8MPtnRfp32bAb0nmbRn6H8ndwLUQ=="
)

# §6.3: GetWebSocketsToken helper vector (same secret).
TOKEN_SIGN = (
    "+mRDmY9Ks0Moc1zjv/BjfvYa98buO0x1yHChZR5onlfAzAUbfIYlLggUZzdQ0RsmXm4Sh+Q8iAIZdo2wSeHeiA=="
)

# §7.2: futures websocket challenge, official example.
FUTURES_SECRET = (
    "7zxMEF5p/Z8l2p2U7Ghv6x14Af+Fx+92tPgUdVQ748FOIrEoT9bgT+bTRfXc5pz8na+hL/QdrCVG7bh9KpT0eMTm"
)
FUTURES_CHALLENGE = "c100b894-1729-464d-ace1-52dbce11db42"
FUTURES_SIGNED = (
    "4JEpF3ix66GA2B+ooK128Ift4XQVtc137N9yeg4Kqsn9PI0Kpzbysl9M1IeCEdjg0zl00wkVqcsnG4bmnlMb3A=="
)


def test_rest_api_sign_reproduces_krakens_worked_example() -> None:
    assert sign_rest_request(REST_SECRET, REST_PATH, REST_NONCE, REST_BODY) == REST_SIGN
    assert sign_rest_request(REST_SECRET, REST_PATH, str(REST_NONCE), REST_BODY) == REST_SIGN


def test_rest_body_of_the_worked_example_is_encoded_in_field_order() -> None:
    body = encode_form(
        {
            "nonce": REST_NONCE,
            "ordertype": "limit",
            "pair": "XBTUSD",
            "price": 37500,
            "type": "buy",
            "volume": "1.25",
        }
    )
    assert body == REST_BODY


def test_get_websockets_token_signature_vector() -> None:
    body = encode_form({"nonce": REST_NONCE})
    assert body == "nonce=1616492376594"
    signature = sign_rest_request(REST_SECRET, "/0/private/GetWebSocketsToken", REST_NONCE, body)
    assert signature == TOKEN_SIGN


def test_futures_challenge_signature_reproduces_the_official_example() -> None:
    assert sign_futures_challenge(FUTURES_SECRET, FUTURES_CHALLENGE) == FUTURES_SIGNED


@pytest.mark.parametrize(
    ("path", "nonce", "body"),
    [
        ("/0/private/AddOrders", REST_NONCE, REST_BODY),
        (REST_PATH, REST_NONCE + 1, REST_BODY),
        (REST_PATH, REST_NONCE, REST_BODY.replace("1.25", "1.26")),
    ],
)
def test_rest_signature_covers_path_nonce_and_body(path: str, nonce: int, body: str) -> None:
    assert sign_rest_request(REST_SECRET, path, nonce, body) != REST_SIGN


def test_futures_signature_covers_the_challenge_and_the_secret() -> None:
    assert sign_futures_challenge(FUTURES_SECRET, FUTURES_CHALLENGE[:-1] + "3") != FUTURES_SIGNED
    assert sign_futures_challenge(REST_SECRET, FUTURES_CHALLENGE) != FUTURES_SIGNED


# --------------------------------------------------------------------------------------------
# Nonces


def test_nonce_is_the_millisecond_clock() -> None:
    nonces = NonceSource()
    assert nonces.next(1616492376.594) == 1616492376594


def test_nonce_strictly_increases_when_the_clock_stalls_or_goes_backwards() -> None:
    nonces = NonceSource()
    first = nonces.next(1000.0)
    assert first == 1_000_000
    same = nonces.next(1000.0)
    back = nonces.next(999.0)  # NTP stepped the clock back a whole second
    further_back = nonces.next(0.0)
    assert first < same < back < further_back
    assert [same, back, further_back] == [1_000_001, 1_000_002, 1_000_003]
    assert nonces.next(2000.0) == 2_000_000  # the clock catches up


def test_nonce_sources_are_independent() -> None:
    a, b = NonceSource(), NonceSource()
    a.next(10.0)
    a.next(10.0)
    assert b.next(10.0) == 10_000


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=4e9, allow_nan=False), min_size=1, max_size=50))
def test_nonces_strictly_increase_for_any_clock(times: list[float]) -> None:
    nonces = NonceSource()
    issued = [nonces.next(t) for t in times]
    assert all(a < b for a, b in itertools.pairwise(issued))
    assert issued[-1] >= int(max(times) * 1000)


# --------------------------------------------------------------------------------------------
# Secrets stay secret


def test_credentials_repr_and_str_hide_the_secret() -> None:
    creds = Credentials("CJbfPw4tnbf/9en/ZmpewCTKEwmmzO18LXZcHQcu7HPLWre4l8+V9I3y", REST_SECRET)
    for text in (repr(creds), str(creds), f"{creds}", repr([creds])):
        assert REST_SECRET not in text
        assert REST_SECRET[:8] not in text
        assert "CJbfPw4tnbf/9en" not in text  # the key is shortened too
    assert creds.secret == REST_SECRET
    assert creds.api_key.startswith("CJbf")


def test_credentials_sign_like_the_bare_functions() -> None:
    creds = Credentials("key", FUTURES_SECRET)
    assert sign_futures_challenge(creds.secret, FUTURES_CHALLENGE) == FUTURES_SIGNED


@pytest.mark.parametrize(
    "secret",
    [
        "not base64 at all! topsecretvalue",
        "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg=",
        "kQH5HW_8p1uGOVjbgWA7FunAmGO8",
    ],
)
def test_invalid_base64_secret_error_names_the_problem_but_not_the_secret(secret: str) -> None:
    for attempt in (
        lambda: Credentials("key", secret),
        lambda: sign_rest_request(secret, REST_PATH, REST_NONCE, REST_BODY),
        lambda: sign_futures_challenge(secret, FUTURES_CHALLENGE),
    ):
        with pytest.raises(ValueError, match="not valid base64") as info:
            attempt()
        err = info.value
        assert secret not in str(err)
        assert secret not in repr(err)
        assert all(secret not in str(arg) for arg in err.args)
        assert err.__cause__ is None
        assert err.__suppress_context__  # the binascii error (which may quote input) is hidden


@pytest.mark.parametrize(("key", "secret"), [("", REST_SECRET), ("key", "")])
def test_credentials_must_not_be_empty(key: str, secret: str) -> None:
    with pytest.raises(ValueError, match="non-empty"):
        Credentials(key, secret)


def test_credentials_do_not_leak_through_pickle_repr_or_vars() -> None:
    creds = Credentials("key-abcdefgh", REST_SECRET)
    assert not hasattr(creds, "__dict__")
    restored = pickle.loads(pickle.dumps(creds))
    assert restored.secret == REST_SECRET
    assert REST_SECRET not in repr(restored)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, ""),
        ("", ""),
        ("abc", "***"),
        ("abcdefgh", "***"),
        ("abcdefghi", "abcd***"),
        (REST_SECRET, "kQH5***"),
    ],
)
def test_redact(value: str | None, shown: str) -> None:
    assert redact(value) == shown
