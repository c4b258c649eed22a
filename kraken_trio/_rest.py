"""The only module that imports httpx: Spot REST ``GetWebSocketsToken`` and ``QueryOrders``."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import httpx
import msgspec

from ._errors import AuthenticationError, ConnectionLostError, KrakenAPIError
from ._proto.auth import Credentials, NonceSource, encode_form, sign_rest_request

__all__ = ["OrderDescription", "OrderInfo", "TokenSource", "query_orders"]

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

    def __init__(self, credentials: Credentials, rest_url: str, timeout: float) -> None:
        self._credentials = credentials
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
            self._client = httpx.AsyncClient(timeout=self._timeout)
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


# --------------------------------------------------------------------------------------------
# QueryOrders: the tracker's look-up of orders that closed while the private link was down

_QUERY_ORDERS_PATH = "/0/private/QueryOrders"
QUERY_ORDERS_BATCH = 50
"""Kraken's limit of txids per QueryOrders call."""


class OrderDescription(msgspec.Struct, frozen=True):
    """``descr`` of a REST order: what was asked for."""

    pair: str = ""
    type: str = ""
    ordertype: str = ""
    price: Decimal | None = None


class OrderInfo(msgspec.Struct, frozen=True):
    """One order as REST ``QueryOrders`` describes it (numbers exact, from their text).

    ``status`` is ``pending``, ``open``, ``closed`` (filled), ``canceled`` or ``expired``;
    ``price`` is the average fill price; ``trades`` the fills' ids (asked for with trades).
    """

    status: str
    vol: Decimal
    vol_exec: Decimal
    cost: Decimal = Decimal(0)
    fee: Decimal = Decimal(0)
    price: Decimal = Decimal(0)
    opentm: float | None = None
    closetm: float | None = None
    descr: OrderDescription = OrderDescription()
    userref: int | None = None
    cl_ord_id: str | None = None
    reason: str | None = None
    trades: list[str] | None = None


class _OrdersReply(msgspec.Struct):
    error: list[str] = []
    result: dict[str, OrderInfo] | None = None


_decode_orders = msgspec.json.Decoder(_OrdersReply).decode


async def query_orders(
    source: TokenSource, txids: Sequence[str], *, trades: bool = True
) -> dict[str, OrderInfo]:
    """POST QueryOrders for ``txids`` (in batches of 50), signed with the source's key.

    Shares the token source's HTTP client and nonce sequence, so nonces stay strictly
    increasing across every private REST call of the client.

    Raises:
        AuthenticationError: Kraken rejected the key, signature or nonce.
        KrakenAPIError: any other Kraken error (``EOrder:Invalid order`` for an unknown id).
        ConnectionLostError: the endpoint could not be reached or answered garbage.
    """
    out: dict[str, OrderInfo] = {}
    ids = list(dict.fromkeys(txids))
    for start in range(0, len(ids), QUERY_ORDERS_BATCH):
        chunk = ids[start : start + QUERY_ORDERS_BATCH]
        fields: dict[str, Any] = {"txid": ",".join(chunk)}
        if trades:
            fields["trades"] = "true"
        out.update(await _query_chunk(source, fields))
    return out


async def _query_chunk(source: TokenSource, fields: dict[str, Any]) -> dict[str, OrderInfo]:
    if source._client is None:
        source._client = httpx.AsyncClient(timeout=source._timeout)
    nonce = source._nonces.next(time.time())
    body = encode_form({"nonce": nonce, **fields})
    headers = {
        "API-Key": source._credentials.api_key,
        "API-Sign": sign_rest_request(source._credentials.secret, _QUERY_ORDERS_PATH, nonce, body),
        "Content-Type": "application/x-www-form-urlencoded",
        "User-Agent": "kraken-trio",
    }
    try:
        response = await source._client.post(
            source._rest_url + _QUERY_ORDERS_PATH, content=body.encode(), headers=headers
        )
    except httpx.HTTPError as exc:
        raise ConnectionLostError(f"QueryOrders failed: {type(exc).__name__}: {exc}") from None
    try:
        reply = _decode_orders(response.content)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ConnectionLostError(
            f"QueryOrders: HTTP {response.status_code} with an unreadable body ({exc})"
        ) from None
    if reply.error:
        text = ", ".join(reply.error)
        if any(e.startswith(("EAPI:", "EGeneral:Permission")) for e in reply.error):
            raise AuthenticationError(text, "QueryOrders")
        raise KrakenAPIError(text, "QueryOrders")
    return dict(reply.result or {})
