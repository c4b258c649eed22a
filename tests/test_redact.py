"""The redacting log filter (issue 14, item 11), synchronously: every record of the library's
loggers is scrubbed of registered secrets, whatever the level, format or truncation."""

from __future__ import annotations

import base64
import logging
import secrets

import pytest

from kraken_trio._proto.auth import Credentials, sign_futures_challenge, sign_rest_request
from kraken_trio._redact import LOGGERS, RedactingFilter, forget_secret, register_secret, scrub


def fresh(prefix: str = "tok") -> str:
    return prefix + secrets.token_urlsafe(24)


def test_scrub_keeps_four_characters() -> None:
    value = fresh()
    register_secret(value)
    assert scrub(f"a {value} b {value}") == f"a {value[:4]}*** b {value[:4]}***"
    forget_secret(value)
    assert scrub(value) == value


def test_short_values_are_not_registered() -> None:
    register_secret("abc")
    assert scrub("abcabc") == "abcabc"


def test_the_api_secret_is_registered_when_credentials_are_made() -> None:
    secret = base64.b64encode(secrets.token_bytes(64)).decode()
    Credentials("key", secret)
    assert secret not in scrub(f"oops {secret}")


@pytest.mark.parametrize("name", LOGGERS)
@pytest.mark.parametrize("level", [logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR])
def test_every_record_of_every_library_logger_is_scrubbed(
    caplog: pytest.LogCaptureFixture, name: str, level: int
) -> None:
    token = fresh()
    register_secret(token)
    caplog.set_level(logging.DEBUG, logger=name)
    logger = logging.getLogger(name)
    raw = b'{"method":"x","token":"' + token.encode() + b'"}'
    logger.log(level, "plain %s", token)
    logger.log(level, "repr cut inside the secret: %.55r", raw)
    logger.log(level, "bytes %r", raw)
    logger.log(level, "mapping %(t)s", {"t": token})
    logger.log(level, f"already formatted {token}")
    try:
        raise ValueError(f"bad token {token}")
    except ValueError:
        logger.log(level, "with traceback", exc_info=True)
    assert len(caplog.records) == 6
    assert token not in caplog.text
    for record in caplog.records:
        text = record.getMessage()
        assert token not in text
        assert token[4:20] not in text
    assert token[:4] + "***" in caplog.text


def test_numbers_keep_their_format(caplog: pytest.LogCaptureFixture) -> None:
    register_secret(fresh())
    caplog.set_level(logging.DEBUG, logger="kraken_trio")
    logging.getLogger("kraken_trio").info("%d requests, %.2f s, %s", 3, 1.5, None)
    assert caplog.records[-1].getMessage() == "3 requests, 1.50 s, None"


def test_a_malformed_call_is_left_to_logging() -> None:
    register_secret(fresh())
    record = logging.LogRecord("kraken_trio", logging.INFO, __file__, 1, "%d", ("x",), None)
    assert RedactingFilter().filter(record)  # no exception out of the filter
    assert record.args == ("x",)  # logging reports the bad call as it always does


def test_signatures_and_futures_challenges_are_registered_where_they_are_made() -> None:
    secret = base64.b64encode(secrets.token_bytes(64)).decode()
    challenge = fresh("challenge-")
    signed = sign_futures_challenge(secret, challenge)
    signature = sign_rest_request(secret, "/0/private/GetWebSocketsToken", 1, "nonce=1")
    text = scrub(f"{challenge} {signed} {signature}")
    assert challenge not in text
    assert signed not in text
    assert signature not in text


def test_the_registry_is_bounded_per_kind() -> None:
    token = fresh("token-")
    first = fresh("first-")
    register_secret(token, "token")
    register_secret(first, "signature")
    for _ in range(300):
        register_secret(fresh(), "signature")
    assert scrub(first) == first  # pushed out by 256 newer signatures...
    assert token not in scrub(token)  # ...which never push out a token
