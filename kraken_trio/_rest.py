"""The only module that imports httpx: Kraken's private REST calls (``GetWebSocketsToken``,
``QueryOrders``).

:class:`PrivateRest` is the one path every private REST call takes: sign, POST, read and
decode, with the same protection for each:

* Nonces reach the server in increasing order: taking a nonce, signing and the whole
  exchange happen under one lock, so a later nonce is never sent before an earlier one has
  been answered (Kraken refuses a nonce at or below the last one it saw for the key).
* The answer is bounded: a declared ``Content-Length`` above ``max_body`` is refused before
  a byte of the body is read, and an undeclared body is counted while it streams and
  dropped the moment it passes the limit. Compressed answers are refused (the request asks
  for none), so the bound holds for the bytes decoded.
* The whole exchange, slow trickles included, is bounded by ``timeout``.
* Decoding is defensive: deep nesting, wrong types or garbage make a :class:`RestError`.
* Kraken's errors are classified (:func:`classify_errors`): credentials that are wrong are
  final (:class:`AuthenticationError`), everything else can pass (:class:`TransientAPIError`).

:class:`TokenSource` fetches WebSocket tokens through it, single-flight: callers that ask
while a fetch is under way share its outcome.
"""

from __future__ import annotations

import copy
import logging
import ssl
import time
from collections.abc import AsyncGenerator, Mapping, Sequence
from contextlib import aclosing
from decimal import Decimal
from typing import Annotated, Any, Final, TypeVar, cast

import httpx
import msgspec
import trio

from ._errors import AuthenticationError, KrakenAPIError, RestError, TransientAPIError
from ._proto.auth import Credentials, NonceSource, encode_form, sign_rest_request
from ._redact import register_secret

__all__ = [
    "OrderDescription",
    "OrderInfo",
    "PrivateRest",
    "TokenSource",
    "classify_errors",
    "query_orders",
]

log = logging.getLogger("kraken_trio")

FINAL_ERRORS: Final = frozenset(
    {
        "EAPI:Invalid key",
        "EAPI:Invalid signature",
        "EGeneral:Permission denied",
        "EAccount:Invalid permissions",
    }
)
"""Kraken errors that say the credentials themselves are wrong: retrying cannot help."""

T = TypeVar("T")


class _Reply(msgspec.Struct):
    error: list[str] = []
    result: msgspec.Raw = msgspec.Raw()


_decode_reply = msgspec.json.Decoder(_Reply).decode


def classify_errors(errors: list[str], method: str) -> KrakenAPIError:
    """The exception for Kraken's ``error`` array of a REST reply.

    :class:`AuthenticationError` if any error says the credentials are wrong (invalid key,
    invalid signature, permission denied), else :class:`TransientAPIError`.
    """
    text = ", ".join(errors)
    if any(e.strip() in FINAL_ERRORS or _head(e) in FINAL_ERRORS for e in errors):
        return AuthenticationError(text, method)
    return TransientAPIError(text, method)


def _head(error: str) -> str:
    """``"EGeneral:Permission denied"`` of ``"EGeneral:Permission denied:<detail>"``."""
    return ":".join(error.split(":", 2)[:2])


class PrivateRest:
    """Signed POSTs to ``/0/private/<method>`` over one ``httpx.AsyncClient``.

    Args:
        credentials: The API key and secret.
        rest_url: Base URL, e.g. ``https://api.kraken.com``.
        timeout: Bound on one whole exchange (connect, send, answer read whole).
        max_body: Largest answer accepted, in bytes (``Config.max_rest_body_size``).
        ssl_context: TLS settings for an ``https://`` URL (``Config.ssl_context``); by
            default the system's trust store.
    """

    def __init__(
        self,
        credentials: Credentials,
        rest_url: str,
        timeout: float,
        max_body: int,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._credentials = credentials
        self._ssl_context = ssl_context
        self._rest_url = rest_url.rstrip("/")
        self._timeout = timeout
        self._max_body = max_body
        self._nonces = NonceSource()
        self._lock = trio.Lock()
        self._client: httpx.AsyncClient | None = None
        self._decoders: dict[Any, msgspec.json.Decoder[Any]] = {}

    def __repr__(self) -> str:
        return f"<PrivateRest {self._rest_url} {self._credentials!r}>"

    async def call(self, method: str, fields: Mapping[str, str | int], result: type[T]) -> T:
        """POST one private call and return its decoded ``result``.

        A checkpoint. Waits for any call under way first (nonce order). Cancelled while
        waiting: nothing was sent; later: the call may have reached Kraken.

        Raises:
            AuthenticationError: Kraken says the credentials are wrong (final).
            TransientAPIError: any other Kraken error (back off and retry).
            RestError: no usable answer: unreachable, timed out, HTTP error, too large,
                compressed, unreadable, or without a result (back off and retry). The
                cause, if any, is chained.
        """
        async with self._lock:
            nonce = self._nonces.next(time.time())
            body = encode_form({"nonce": nonce, **fields})
            path = f"/0/private/{method}"
            signature = sign_rest_request(self._credentials.secret, path, nonce, body)
            headers = {
                "API-Key": self._credentials.api_key,
                "API-Sign": signature,
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept-Encoding": "identity",
                "User-Agent": "kraken-trio",
            }
            status, content = await self._exchange(method, path, body.encode(), headers)
        return self._decode(method, status, content, result)

    async def _exchange(
        self, method: str, path: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, bytes]:
        if self._client is None:
            verify: ssl.SSLContext | bool = self._ssl_context or True
            self._client = httpx.AsyncClient(timeout=self._timeout, verify=verify)
        limit = self._max_body
        try:
            with trio.fail_after(self._timeout):
                async with self._client.stream(
                    "POST", self._rest_url + path, content=body, headers=headers
                ) as response:
                    encoding = response.headers.get("content-encoding", "identity").lower()
                    if encoding not in ("identity", ""):
                        raise RestError(method, f"answer is {encoding}-encoded; none was asked for")
                    declared = response.headers.get("content-length", "")
                    if declared.isdigit() and int(declared) > limit:
                        raise RestError(method, _too_large(int(declared), limit, "declares"))
                    chunks: list[bytes] = []
                    size = 0
                    # httpx's iterator is an async generator: close it when leaving early.
                    raw = cast("AsyncGenerator[bytes, None]", response.aiter_raw())
                    async with aclosing(raw):
                        async for chunk in raw:
                            size += len(chunk)
                            if size > limit:
                                raise RestError(method, _too_large(size, limit, "passed"))
                            chunks.append(chunk)
                    return response.status_code, b"".join(chunks)
        except trio.TooSlowError as exc:
            raise RestError(method, f"no complete answer within {self._timeout}s") from exc
        except httpx.HTTPError as exc:
            # httpx messages name the URL, never the headers.
            raise RestError(method, f"{type(exc).__name__}: {exc}") from exc

    def _decode(self, method: str, status: int, content: bytes, result: type[T]) -> T:
        decoder = self._decoders.get(result)
        if decoder is None:
            decoder = self._decoders[result] = msgspec.json.Decoder(result)
        try:
            # Kraken's errors first: an error reply's ``result`` is ``{}``, not the type.
            reply = _decode_reply(content)
            if reply.error:
                raise classify_errors(reply.error, method)
            if status != 200:
                raise RestError(method, f"HTTP {status}")
            if not reply.result:
                raise RestError(method, f"HTTP {status}: answer without a result")
            value: T = decoder.decode(reply.result)
        except RecursionError:
            raise RestError(method, f"HTTP {status}: answer nested too deeply") from None
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError, TypeError) as exc:
            # msgspec names the path of a wrong field, never its value.
            raise RestError(method, f"HTTP {status}: unreadable answer ({exc})") from exc
        return value

    async def aclose(self) -> None:
        """Close the HTTP client."""
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()


def _too_large(size: int, limit: int, verb: str) -> str:
    return f"answer {verb} {size} bytes, more than max_rest_body_size ({limit}); not read"


class _TokenResult(msgspec.Struct):
    token: Annotated[str, msgspec.Meta(min_length=1)]
    expires: int | None = None


class _Flight:
    """One token fetch under way, whose outcome every caller that waited for it shares."""

    __slots__ = ("done", "error", "token")

    def __init__(self) -> None:
        self.done = trio.Event()
        self.token: str | None = None
        self.error: Exception | None = None


class TokenSource:
    """Fetches WebSocket tokens (``GetWebSocketsToken``), single-flight.

    Each private connection attempt asks for a fresh token (Kraken's advice); attempts
    that ask while a fetch is under way share that fetch's token or error.
    """

    def __init__(
        self,
        credentials: Credentials,
        rest_url: str,
        timeout: float,
        *,
        max_body: int,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._rest = PrivateRest(credentials, rest_url, timeout, max_body, ssl_context)
        self._flight: _Flight | None = None
        self.fetches = 0

    def __repr__(self) -> str:
        return f"<TokenSource {self._rest!r}>"

    @property
    def rest(self) -> PrivateRest:
        """The signed-POST path this source uses (shared by every private REST call)."""
        return self._rest

    async def fetch(self) -> str:
        """A fresh WebSocket token. A checkpoint.

        If a fetch is under way, waits for it and shares its outcome; if that fetch is
        cancelled, this caller fetches itself.

        Raises:
            AuthenticationError: the credentials are wrong (final).
            TransientAPIError, RestError: a failure that can pass (back off and retry).
        """
        while True:
            flight = self._flight
            if flight is None:
                break
            await flight.done.wait()
            if flight.token is not None:
                return flight.token
            if flight.error is not None:
                # Each waiter gets its own copy: one exception object raised in several
                # tasks would collect all their tracebacks.
                raise copy.copy(flight.error) from flight.error
        flight = self._flight = _Flight()
        try:
            self.fetches += 1
            reply = await self._rest.call("GetWebSocketsToken", {}, _TokenResult)
            register_secret(reply.token, "token")
        except Exception as exc:
            flight.error = exc
            raise
        else:
            log.debug("fetched a WebSocket token (expires in %ss)", reply.expires)
            flight.token = reply.token
            return reply.token
        finally:
            self._flight = None
            flight.done.set()

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._rest.aclose()


# --------------------------------------------------------------------------------------------
# QueryOrders: the tracker's look-up of orders that closed while the private link was down

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


async def query_orders(
    source: TokenSource, txids: Sequence[str], *, trades: bool = True
) -> dict[str, OrderInfo]:
    """POST QueryOrders for ``txids`` (in batches of 50), signed with the source's key.

    Goes through the token source's :class:`PrivateRest`: the same HTTP client, nonce order,
    size bound and defensive decoding as every private REST call of the client.

    Raises:
        AuthenticationError: Kraken says the credentials are wrong (final).
        TransientAPIError: any other Kraken error (``EOrder:Invalid order`` for an unknown id).
        RestError: no usable answer (unreachable, timed out, too large, unreadable).
    """
    out: dict[str, OrderInfo] = {}
    ids = list(dict.fromkeys(txids))
    for start in range(0, len(ids), QUERY_ORDERS_BATCH):
        chunk = ids[start : start + QUERY_ORDERS_BATCH]
        fields: dict[str, Any] = {"txid": ",".join(chunk)}
        if trades:
            fields["trades"] = "true"
        out.update(await source.rest.call("QueryOrders", fields, dict[str, OrderInfo]))
    return out
