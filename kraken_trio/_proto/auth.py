"""Signing, pure: Spot REST ``API-Sign``, Futures REST ``Authent`` and the Futures challenge.

Secrets live in :class:`Credentials`, whose repr never shows them. Every secret made or
taken here (the API secret, each signature, each futures challenge) is registered with
:mod:`kraken_trio._redact`, so no log record can show it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from urllib.parse import urlencode

from .._redact import register_secret

__all__ = [
    "Credentials",
    "NonceSource",
    "redact",
    "sign_futures_challenge",
    "sign_futures_rest",
    "sign_rest_request",
]


def _secret_bytes(secret: str) -> bytes:
    try:
        return base64.b64decode(secret, validate=True)
    except (binascii.Error, ValueError):
        # The message must not echo the secret itself.
        raise ValueError("API secret is not valid base64") from None


def sign_rest_request(secret: str, uri_path: str, nonce: int | str, postdata: str) -> str:
    """Kraken Spot REST ``API-Sign``.

    ``base64(HMAC-SHA512(base64decode(secret), uri_path + SHA256(nonce + postdata)))``.

    Args:
        secret: The base64 API secret.
        uri_path: Path starting at ``/0/private/...``.
        nonce: The nonce, exactly as it appears in ``postdata``.
        postdata: The url-encoded body, including ``nonce=...``.

    Returns:
        The base64 signature.
    """
    digest = hashlib.sha256((str(nonce) + postdata).encode()).digest()
    mac = hmac.new(_secret_bytes(secret), uri_path.encode() + digest, hashlib.sha512)
    signature = base64.b64encode(mac.digest()).decode()
    register_secret(signature, "signature")
    return signature


def sign_futures_challenge(secret: str, challenge: str) -> str:
    """Futures ``signed_challenge``: ``base64(HMAC-SHA512(secret, SHA256(challenge)))``.

    The challenge and its signature are registered as secrets (never logged).
    """
    digest = hashlib.sha256(challenge.encode()).digest()
    mac = hmac.new(_secret_bytes(secret), digest, hashlib.sha512)
    signed = base64.b64encode(mac.digest()).decode()
    register_secret(challenge, "challenge")
    register_secret(signed, "challenge")
    return signed


def sign_futures_rest(secret: str, post_data: str, nonce: str, endpoint_path: str) -> str:
    """Futures REST ``Authent``.

    ``base64(HMAC-SHA512(base64decode(secret), SHA256(post_data + nonce + endpoint_path)))``.

    Args:
        secret: The base64 API secret.
        post_data: The url-encoded arguments (query string or body), as sent.
        nonce: The ``Nonce`` header, or ``""`` when none is sent (it is optional).
        endpoint_path: The path from ``/api/v3/...`` on: since 2024-02-20 Kraken signs it
            without the ``/derivatives`` prefix.

    Returns:
        The base64 signature.
    """
    digest = hashlib.sha256((post_data + nonce + endpoint_path).encode()).digest()
    mac = hmac.new(_secret_bytes(secret), digest, hashlib.sha512)
    return base64.b64encode(mac.digest()).decode()


def encode_form(fields: dict[str, str | int]) -> str:
    """The url-encoded body Kraken signs (field order preserved)."""
    return urlencode(fields)


class NonceSource:
    """Strictly increasing nonces derived from a millisecond clock.

    Pure: the caller passes the current time, so tests need no clock.
    """

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last = 0

    def next(self, now_seconds: float) -> int:
        """Return a nonce larger than every one returned before."""
        candidate = int(now_seconds * 1000)
        self._last = max(candidate, self._last + 1)
        return self._last


class Credentials:
    """An API key and secret. Neither ``repr`` nor ``str`` reveals the secret."""

    __slots__ = ("_secret", "api_key")

    def __init__(self, api_key: str, api_secret: str) -> None:
        if not api_key or not api_secret:
            raise ValueError("api_key and api_secret must both be non-empty")
        _secret_bytes(api_secret)  # validate early, with a message that hides it
        register_secret(api_secret, "api_secret")
        self.api_key = api_key
        self._secret = api_secret

    @property
    def secret(self) -> str:
        """The base64 API secret (never logged)."""
        return self._secret

    def __repr__(self) -> str:
        return f"Credentials(api_key={redact(self.api_key)!r}, api_secret='***')"

    __str__ = __repr__


def redact(value: str | None, keep: int = 4) -> str:
    """Show at most the first ``keep`` characters of a credential-like value."""
    if not value:
        return ""
    if len(value) <= keep * 2:
        return "***"
    return value[:keep] + "***"
