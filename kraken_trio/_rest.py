"""The only module that imports httpx: Spot REST ``GetWebSocketsToken``."""

from __future__ import annotations

import logging
import ssl
import time

import httpx
import msgspec

from ._errors import AuthenticationError, ConnectionLostError, KrakenAPIError
from ._proto.auth import Credentials, NonceSource, encode_form, sign_rest_request

__all__ = ["TokenSource"]

log = logging.getLogger("kraken_trio")

_TOKEN_PATH = "/0/private/GetWebSocketsToken"


class _TokenResult(msgspec.Struct):
    token: str | None = None
    expires: int | None = None


class _TokenReply(msgspec.Struct):
    error: list[str] = []
    result: _TokenResult | None = None


_decode_reply = msgspec.json.Decoder(_TokenReply).decode


class TokenSource:
    """Fetches WebSocket tokens over one shared ``httpx.AsyncClient``.

    Each private connection attempt asks for a fresh token (Kraken's advice); the
    connection's single supervisor task is the only caller, so there is no stampede.
    """

    def __init__(
        self,
        credentials: Credentials,
        rest_url: str,
        timeout: float,
        *,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._credentials = credentials
        self._ssl_context = ssl_context
        self._rest_url = rest_url.rstrip("/")
        self._timeout = timeout
        self._nonces = NonceSource()
        self._client: httpx.AsyncClient | None = None
        self.fetches = 0

    def __repr__(self) -> str:
        return f"<TokenSource {self._rest_url} {self._credentials!r}>"

    async def fetch(self) -> str:
        """POST GetWebSocketsToken and return the token.

        Raises:
            AuthenticationError: Kraken rejected the key, signature or nonce (its text).
            KrakenAPIError: any other Kraken error.
            ConnectionLostError: the REST endpoint could not be reached or answered garbage.
        """
        if self._client is None:
            verify: ssl.SSLContext | bool = self._ssl_context or True
            self._client = httpx.AsyncClient(timeout=self._timeout, verify=verify)
        nonce = self._nonces.next(time.time())
        body = encode_form({"nonce": nonce})
        headers = {
            "API-Key": self._credentials.api_key,
            "API-Sign": sign_rest_request(self._credentials.secret, _TOKEN_PATH, nonce, body),
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": "kraken-trio",
        }
        self.fetches += 1
        try:
            response = await self._client.post(
                self._rest_url + _TOKEN_PATH, content=body.encode(), headers=headers
            )
        except httpx.HTTPError as exc:
            # httpx messages name the URL, never the headers.
            raise ConnectionLostError(
                f"token request failed: {type(exc).__name__}: {exc}"
            ) from None
        try:
            reply = _decode_reply(response.content)
        except (msgspec.DecodeError, msgspec.ValidationError):
            raise ConnectionLostError(
                f"token request: HTTP {response.status_code} with an unreadable body"
            ) from None
        if reply.error:
            text = ", ".join(reply.error)
            if any(e.startswith(("EAPI:", "EGeneral:Permission")) for e in reply.error):
                raise AuthenticationError(text, "GetWebSocketsToken")
            raise KrakenAPIError(text, "GetWebSocketsToken")
        if reply.result is None or not reply.result.token:
            raise ConnectionLostError(f"token request: HTTP {response.status_code} without a token")
        log.debug("fetched a WebSocket token (expires in %ss)", reply.result.expires)
        return reply.result.token

    async def aclose(self) -> None:
        """Close the HTTP client."""
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()
