"""The fake exchange's REST server (HTTP/1.1 over h11 on a trio socket) and its token book.

Routes:
    ``POST /0/private/GetWebSocketsToken``: checks ``API-Key``, ``API-Sign`` (recomputed with
    :func:`kraken_trio._proto.auth.sign_rest_request` over the exact body) and a strictly
    increasing ``nonce`` per key; answers ``{"error":[],"result":{"token":...,"expires":900}}``
    or ``{"error":["EAPI:Invalid key"],"result":{}}`` (also ``EAPI:Invalid signature``,
    ``EAPI:Invalid nonce``).
    The body may be form-encoded or JSON (``Content-Type: application/json``), as Kraken allows.
    ``GET|POST /0/public/Time``, ``/0/public/SystemStatus``, ``/0/public/Assets``
    (``?asset=XBT,ZUSD``) and ``/0/public/AssetPairs`` (``?pair=XXBTZUSD,XBTUSD,XBT/USD``):
    Kraken-shaped answers with Kraken's REST names, built from the pair table (see
    :mod:`kraken_trio.testing._reference`).
    Anything under ``/derivatives/``: handed to :attr:`RestServer.derivatives` (the futures
    server's Futures REST, :mod:`._futures_rest`), which answers with ready JSON text.
    Anything else: HTTP 404 with ``{"error":["EGeneral:Unknown method"],"result":{}}``.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import secrets
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qs

import h11
import trio

from .._proto.auth import sign_rest_request
from ._listen import format_url, open_listeners
from ._pairs import DEFAULT_PAIRS, PairSpec
from ._reference import ReferenceData
from ._wire import encode, ts0

__all__ = ["RestFaults", "RestRequest", "RestServer", "TokenStore"]

logger = logging.getLogger("kraken_trio.testing")

_MAX_BODY = 1 << 20
Reply = tuple[int, dict[str, Any]]

DerivativesHandler = Callable[[str, str, dict[str, str], str], tuple[int, str]]
"""``(method, target, lower-case headers, body) -> (status, JSON text)`` for ``/derivatives/``."""
TOKEN_LIFETIME = 900


class TokenStore:
    """WebSocket tokens: random, unique, tracked; each belongs to one account.

    A token that was never used expires after 900 seconds; once used it stays valid (Kraken
    keeps it alive while a private subscription is maintained).
    """

    def __init__(self, lifetime: float = TOKEN_LIFETIME) -> None:
        self._lifetime = lifetime
        self._tokens: dict[str, tuple[str, float, bool]] = {}

    def __repr__(self) -> str:
        return f"TokenStore({len(self._tokens)} tokens)"

    def __len__(self) -> int:
        return len(self._tokens)

    def issue(self, account: str, now: float) -> str:
        """A new token for ``account``."""
        while True:
            token = base64.b64encode(secrets.token_bytes(32)).decode().rstrip("=")
            if token not in self._tokens:
                break
        self._tokens[token] = (account, now, False)
        return token

    def lookup(self, token: object, now: float) -> str | None:
        """The account of a valid ``token`` (marking it used), or None."""
        if not isinstance(token, str):
            return None
        entry = self._tokens.get(token)
        if entry is None:
            return None
        account, issued, used = entry
        if not used and now - issued > self._lifetime:
            return None
        if not used:
            self._tokens[token] = (account, issued, True)
        return account

    def revoke_all(self) -> None:
        """Forget every token."""
        self._tokens.clear()


@dataclass(frozen=True, slots=True)
class RestRequest:
    """One HTTP request the REST server received (headers without API-Sign or Authent)."""

    method: str
    path: str
    headers: dict[str, str]
    body: str
    time: float


class RestFaults:
    """Faults of the REST server.

    Attributes:
        delay: Seconds to wait before answering each request.
    """

    def __init__(self) -> None:
        self.delay = 0.0
        self._auth_rejects = 0
        self._failures: list[str] = []

    def __repr__(self) -> str:
        return f"RestFaults(delay={self.delay}, auth_rejects={self._auth_rejects})"

    def reject_next_auth(self, n: int = 1) -> None:
        """Answer the next ``n`` token requests with ``EAPI:Invalid key``."""
        self._auth_rejects += n

    def take_auth_reject(self) -> bool:
        """Consume one pending rejection."""
        if self._auth_rejects > 0:
            self._auth_rejects -= 1
            return True
        return False

    def fail_next(self, n: int = 1, error: str = "EAPI:Rate limit exceeded") -> None:
        """Answer the next ``n`` private requests with a transient Kraken ``error``
        (``EAPI:Rate limit exceeded``, ``EAPI:Invalid nonce``, ``EService:Unavailable``...)."""
        self._failures.extend([error] * n)

    def take_failure(self) -> str | None:
        """Consume one pending transient failure (its error text), if any."""
        return self._failures.pop(0) if self._failures else None


class RestServer:
    """Kraken's REST token call on loopback.

    Args:
        tokens: Where issued tokens are recorded (shared with the WebSocket servers).
        credentials: API key -> base64 secret of every account; mutable (new accounts).
        pairs: The pairs ``AssetPairs`` describes.
    """

    def __init__(
        self,
        tokens: TokenStore,
        credentials: dict[str, str],
        pairs: Sequence[PairSpec] = DEFAULT_PAIRS,
    ) -> None:
        self.tokens = tokens
        self.reference = ReferenceData(list(pairs))
        self._credentials = credentials
        self._nonces: dict[str, int] = {}
        self.faults = RestFaults()
        self.received: list[RestRequest] = []
        self.url = ""
        # Further signed routes, path -> handler(api_key, fields) -> (status, payload);
        # open_fake_kraken adds QueryOrders (see _rest_orders.py).
        self.private_routes: dict[str, Callable[[str, dict[str, str]], Reply]] = {}
        self.derivatives: DerivativesHandler | None = None

    def __repr__(self) -> str:
        return f"RestServer(url={self.url!r}, {len(self.received)} requests)"

    async def run(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
        task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Serve until cancelled; ``task_status.started`` gets the ``http://`` base URL.

        With ``ssl_context`` the server speaks TLS and the URL is ``https://``.
        """
        listeners, bound = await open_listeners(host, port, ssl_context)
        self.url = format_url("http", host, bound, "", tls=ssl_context is not None)
        task_status.started(self.url)
        await trio.serve_listeners(self._serve, listeners)

    async def _serve(self, stream: trio.abc.Stream) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=_MAX_BODY)
        try:
            while True:
                request = await self._read(conn, stream)
                if request is None:
                    return
                req, body = request
                status, payload = self._dispatch(req, body)
                if self.faults.delay > 0:
                    await trio.sleep(self.faults.delay)
                data = (payload if isinstance(payload, str) else encode(payload)).encode()
                headers = [
                    ("Content-Type", "application/json; charset=utf-8"),
                    ("Content-Length", str(len(data))),
                ]
                await self._send(conn, stream, h11.Response(status_code=status, headers=headers))
                await self._send(conn, stream, h11.Data(data=data))
                await self._send(conn, stream, h11.EndOfMessage())
                if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                    return
                conn.start_next_cycle()
        except h11.RemoteProtocolError as exc:
            logger.debug("fake REST: bad request: %s", exc)
            if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                data = b'{"error":["EGeneral:Invalid arguments"],"result":{}}'
                resp = h11.Response(
                    status_code=exc.error_status_hint,
                    headers=[("Content-Length", str(len(data))), ("Connection", "close")],
                )
                try:
                    await self._send(conn, stream, resp)
                    await self._send(conn, stream, h11.Data(data=data))
                    await self._send(conn, stream, h11.EndOfMessage())
                except (trio.BrokenResourceError, h11.LocalProtocolError):
                    pass
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return
        finally:
            with trio.move_on_after(1) as scope:
                scope.shield = True
                await stream.aclose()

    @staticmethod
    async def _read(
        conn: h11.Connection, stream: trio.abc.Stream
    ) -> tuple[h11.Request, bytes] | None:
        req: h11.Request | None = None
        body = bytearray()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await stream.receive_some(65536)
                conn.receive_data(bytes(data))
            elif isinstance(event, h11.Request):
                req = event
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > _MAX_BODY:
                    raise h11.RemoteProtocolError("body too large", error_status_hint=413)
            elif isinstance(event, h11.EndOfMessage):
                assert req is not None
                return req, bytes(body)
            elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
                return None

    @staticmethod
    async def _send(conn: h11.Connection, stream: trio.abc.Stream, event: h11.Event) -> None:
        data = conn.send(event)
        if data:
            await stream.send_all(data)

    def _dispatch(self, req: h11.Request, body: bytes) -> tuple[int, dict[str, Any] | str]:
        method = req.method.decode()
        target = req.target.decode()
        path = target.split("?", 1)[0]
        headers = {k.decode().lower(): v.decode("latin-1") for k, v in req.headers}
        text = body.decode("utf-8", "replace")
        self.received.append(
            RestRequest(
                method,
                path,
                {k: v for k, v in headers.items() if k not in ("api-sign", "authent")},
                text,
                trio.current_time(),
            )
        )
        if path.startswith("/derivatives/") and self.derivatives is not None:
            return self.derivatives(method, target, headers, text)
        if path == "/0/private/GetWebSocketsToken":
            if method != "POST":
                return 405, {"error": ["EGeneral:Invalid arguments"], "result": {}}
            return self._token(path, headers, text)
        route = self.private_routes.get(path)
        if route is not None:
            if method != "POST":
                return 405, {"error": ["EGeneral:Invalid arguments"], "result": {}}
            checked = self.authenticate(path, headers, text)
            if isinstance(checked, str):
                return 200, {"error": [checked], "result": {}}
            return route(*checked)
        if path == "/0/public/Time":
            now = time.time()
            return 200, {
                "error": [],
                "result": {"unixtime": int(now), "rfc1123": formatdate(now, usegmt=True)},
            }
        if path == "/0/public/SystemStatus":
            return 200, {"error": [], "result": {"status": "online", "timestamp": ts0(time.time())}}
        if path in ("/0/public/AssetPairs", "/0/public/Assets"):
            query = text if method == "POST" else target.partition("?")[2]
            fields = parse_qs(query)
            if path == "/0/public/Assets":
                aclass = fields.get("aclass", [""])[0]
                return 200, self.reference.assets(fields.get("asset", [""])[0], aclass)
            return 200, self.reference.asset_pairs(fields.get("pair", [""])[0])
        return 404, {"error": ["EGeneral:Unknown method"], "result": {}}

    def authenticate(
        self, path: str, headers: dict[str, str], body: str
    ) -> tuple[str, dict[str, str]] | str:
        """Check a private request's key, ``API-Sign`` and nonce.

        Returns:
            ``(api_key, fields)`` with the body's fields (form or JSON, values as text), or
            Kraken's error text.
        """
        key = headers.get("api-key", "")
        secret = self._credentials.get(key)
        if secret is None or self.faults.take_auth_reject():
            return "EAPI:Invalid key"
        failure = self.faults.take_failure()
        if failure is not None:
            return failure
        if headers.get("content-type", "").startswith("application/json"):
            try:
                decoded = json.loads(body)
            except ValueError:
                return "EGeneral:Invalid arguments"
            if not isinstance(decoded, dict):
                return "EGeneral:Invalid arguments"
            fields = {str(k): str(v) for k, v in decoded.items()}
        else:
            fields = {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}
        nonce_text = fields.get("nonce", "")
        signature = headers.get("api-sign", "")
        try:
            expected = sign_rest_request(secret, path, nonce_text, body)
        except ValueError:
            return "EAPI:Invalid signature"
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            return "EAPI:Invalid signature"
        if not nonce_text.isdigit() or int(nonce_text) <= self._nonces.get(key, 0):
            return "EAPI:Invalid nonce"
        self._nonces[key] = int(nonce_text)
        return key, fields

    def _token(self, path: str, headers: dict[str, str], body: str) -> tuple[int, dict[str, Any]]:
        checked = self.authenticate(path, headers, body)
        if isinstance(checked, str):
            return 200, {"error": [checked], "result": {}}
        token = self.tokens.issue(checked[0], time.time())
        return 200, {"error": [], "result": {"token": token, "expires": TOKEN_LIFETIME}}
