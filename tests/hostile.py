"""Hostile servers for tests: a WebSocket server and a REST endpoint that misbehave on cue.

Both listen on 127.0.0.1, port 0, and run in the test's nursery. A test scripts what the
server does; nothing here sleeps to wait for the client (waits are on events, and the test
bounds them with ``trio.fail_after``); the one sleep is the network jitter that
:func:`nonce_checker` models on purpose. An exception a behaviour raises (other than the
client going away) is kept in ``server.errors``.

WebSocket: every accepted TCP connection is handed to the server's ``behaviour``, an async
function of a :class:`Peer`. The peer can do the handshake (:meth:`Peer.accept`), read the
client's messages, and send anything: well-formed messages, hand-made frames (invalid UTF-8,
a header that declares 2**63 bytes), or nothing at all::

    async def ack_then_close(peer: Peer) -> None:
        await peer.accept()
        request = json.loads(await peer.receive_text())
        await peer.send_text(json.dumps({"method": "subscribe", "success": True,
                                         "req_id": request["req_id"]}))
        await peer.send_frame(OP_CLOSE, b"")

    async with open_hostile_websocket(ack_then_close) as server:
        ... point the client at server.url ...
        await server.wait_connections(3)

Canned behaviours: :func:`silent` (accepts TCP, never speaks WebSocket), :func:`never_reads`
(handshakes, then never reads while it sends pings), :func:`declares_huge_frame` (a header
declaring ``size`` bytes, then the payload trickled), :func:`answers` (replies from a
function of each request; :func:`spot_acks` answers like Kraken), :func:`ack_then` (acks
the subscribe, then closes or sends any frame: a flapping link).

REST: every request is recorded (:class:`RestCall`: path, headers, body, nonce) and answered
by the server's ``handler``, an async function of the call returning a :class:`Reply`. A
reply body may be an async iterator of chunks, sent as they come (a 300 MB body is never
held in memory)::

    async with open_hostile_rest(kraken_error("EAPI:Rate limit exceeded")) as rest:
        source = TokenSource(CREDENTIALS, rest.url, timeout=5, max_body=65536)
        with pytest.raises(TransientAPIError):
            await source.fetch()
        assert len(rest.calls) == 1

Canned handlers: :func:`token_reply`, :func:`kraken_error`, :func:`raw_reply`,
:func:`huge_reply` (streamed), :func:`deeply_nested`, :func:`gated` (holds every answer until
the test opens a gate), :func:`nonce_checker` (Kraken's rule: each nonce above the last).
"""

from __future__ import annotations

import json
import struct
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from urllib.parse import parse_qs

import h11
import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Request,
    TextMessage,
)

__all__ = [
    "OP_BINARY",
    "OP_CLOSE",
    "OP_PING",
    "OP_TEXT",
    "STAMP",
    "Behaviour",
    "Handler",
    "HostileRest",
    "HostileWebSocket",
    "Peer",
    "Reply",
    "RestCall",
    "ack_then",
    "answers",
    "declares_huge_frame",
    "deeply_nested",
    "frame_header",
    "gated",
    "huge_reply",
    "kraken_error",
    "never_reads",
    "nonce_checker",
    "open_hostile_rest",
    "open_hostile_websocket",
    "raw_reply",
    "server_frame",
    "silent",
    "spot_acks",
    "token_reply",
]

OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9

_READ = 65536


# ============================================================================ WebSocket


def frame_header(opcode: int, declared: int, *, fin: bool = True) -> bytes:
    """An unmasked server frame header declaring ``declared`` payload bytes (any u64)."""
    first = (0x80 if fin else 0) | opcode
    if declared < 126:
        return bytes((first, declared))
    if declared < 65536:
        return bytes((first, 126)) + struct.pack(">H", declared)
    return bytes((first, 127)) + struct.pack(">Q", declared)


def server_frame(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    """A whole unmasked server frame, exactly as given (no validation of the payload)."""
    return frame_header(opcode, len(payload), fin=fin) + payload


class Peer:
    """One accepted TCP connection, seen from the hostile server.

    Attributes:
        stream: The raw socket stream (write anything to it).
        bytes_sent: Bytes written through this object.
        closed_by_client: The close code the client sent, once one was read.
        target: The request target of the handshake, once accepted.
    """

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self._ws = WSConnection(ConnectionType.SERVER)
        self._inbox: list[str | bytes] = []
        self.bytes_sent = 0
        self.closed_by_client: int | None = None
        self.target: str | None = None

    async def accept(self) -> str:
        """Complete the WebSocket handshake; returns the request target (path)."""
        while self.target is None:
            await self._receive()
        return self.target

    async def receive_text(self) -> str:
        """The client's next text message."""
        while True:
            while self._inbox:
                item = self._inbox.pop(0)
                if isinstance(item, str):
                    return item
            await self._receive()

    async def receive_json(self) -> dict[str, object]:
        """The client's next text message, parsed."""
        value = json.loads(await self.receive_text())
        assert isinstance(value, dict)
        return value

    async def _receive(self) -> None:
        data = await self.stream.receive_some(_READ)
        if not data:
            raise trio.BrokenResourceError("client closed the TCP connection")
        self._ws.receive_data(data)
        for event in self._ws.events():
            if isinstance(event, TextMessage | BytesMessage) and event.message_finished:
                self._inbox.append(event.data if isinstance(event.data, str) else bytes(event.data))
            elif isinstance(event, CloseConnection):
                self.closed_by_client = event.code
            elif isinstance(event, Request):
                await self.send_raw(self._ws.send(AcceptConnection()))
                self.target = event.target

    async def wait_close(self) -> int | None:
        """Read until the client's close frame or EOF; returns the close code (or None)."""
        try:
            while self.closed_by_client is None:
                await self._receive()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        return self.closed_by_client

    async def send_raw(self, data: bytes) -> None:
        """Write bytes as they are."""
        await self.stream.send_all(data)
        self.bytes_sent += len(data)

    async def send_frame(self, opcode: int, payload: bytes, *, fin: bool = True) -> None:
        """Write one hand-made frame."""
        await self.send_raw(server_frame(opcode, payload, fin=fin))

    async def send_text(self, text: str) -> None:
        """Write one well-formed text message."""
        await self.send_frame(OP_TEXT, text.encode())

    async def send_json(self, value: object) -> None:
        """Write one JSON text message."""
        await self.send_text(json.dumps(value))


Behaviour = Callable[[Peer], Awaitable[None]]


class HostileWebSocket:
    """A WebSocket server whose every connection runs ``behaviour`` (settable at any time).

    Attributes:
        url: ``ws://127.0.0.1:<port>/v2``.
        behaviour: What the next connection does.
        peers: Every connection so far.
        errors: Exceptions a behaviour raised (other than the client going away).
    """

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.url = ""
        self.peers: list[Peer] = []
        self.errors: list[BaseException] = []
        self._changed = trio.Event()

    @property
    def connections(self) -> int:
        """TCP connections accepted so far."""
        return len(self.peers)

    async def wait_connections(self, n: int) -> None:
        """Wait until ``n`` connections were accepted (the caller bounds the wait)."""
        while len(self.peers) < n:
            await self._changed.wait()

    async def _serve(self, stream: trio.SocketStream) -> None:
        peer = Peer(stream)
        self.peers.append(peer)
        self._changed.set()
        self._changed = trio.Event()
        try:
            await self.behaviour(peer)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        except Exception as exc:
            self.errors.append(exc)
        finally:
            await trio.aclose_forcefully(stream)


@asynccontextmanager
async def open_hostile_websocket(behaviour: Behaviour) -> AsyncIterator[HostileWebSocket]:
    """Run a :class:`HostileWebSocket` on 127.0.0.1, port 0, for the block."""
    server = HostileWebSocket(behaviour)
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, server._serve, 0, host="127.0.0.1"))
        port = listeners[0].socket.getsockname()[1]
        server.url = f"ws://127.0.0.1:{port}/v2"
        yield server
        nursery.cancel_scope.cancel()


async def silent(peer: Peer) -> None:
    """Accept the TCP connection and never say a word (no WebSocket handshake)."""
    await trio.sleep_forever()


def never_reads(pings: int = 1_000_000, size: int = 125) -> Behaviour:
    """Handshake, then send ``pings`` pings of ``size`` bytes and never read again."""

    async def behaviour(peer: Peer) -> None:
        await peer.accept()
        ping = server_frame(OP_PING, b"p" * size)
        for _ in range(pings):
            await peer.send_raw(ping)
        await trio.sleep_forever()

    return behaviour


def declares_huge_frame(size: int, chunk: int = 65536, chunks: int = 10_000) -> Behaviour:
    """Handshake, send a text frame header declaring ``size`` bytes, then trickle payload.

    At most ``chunks`` chunks of ``chunk`` bytes follow (each send waits for the client's
    socket to take it, so a client that stops reading stops the trickle).
    """

    async def behaviour(peer: Peer) -> None:
        await peer.accept()
        await peer.send_raw(frame_header(OP_TEXT, size))
        block = b"x" * chunk
        for _ in range(chunks):
            await peer.send_raw(block)
        await trio.sleep_forever()

    return behaviour


def answers(reply: Callable[[dict[str, object]], list[str | bytes]]) -> Behaviour:
    """Handshake, then for every JSON request send what ``reply(request)`` returns.

    ``str`` items go out as text messages, ``bytes`` items as raw bytes (hand-made frames).
    """

    async def behaviour(peer: Peer) -> None:
        await peer.accept()
        while True:
            request = await peer.receive_json()
            for item in reply(request):
                if isinstance(item, str):
                    await peer.send_text(item)
                else:
                    await peer.send_raw(item)

    return behaviour


STAMP = {"time_in": "2024-05-18T12:05:50.293682Z", "time_out": "2024-05-18T12:05:50.300542Z"}
"""The ``time_in`` / ``time_out`` fields of a Kraken reply."""


def spot_acks(request: dict[str, object]) -> list[str | bytes]:
    """Kraken Spot v2's answers to ``request``: one ack per symbol of a subscribe or
    unsubscribe, a pong for a ping, nothing for anything else."""
    method, req_id = request.get("method"), request.get("req_id")
    if method == "ping":
        return [json.dumps({"method": "pong", "req_id": req_id, **STAMP})]
    if method not in ("subscribe", "unsubscribe"):
        return []
    params = request.get("params")
    params = params if isinstance(params, dict) else {}
    symbols = params.get("symbol") or [None]
    acks: list[str | bytes] = []
    for symbol in symbols if isinstance(symbols, list) else [symbols]:
        result = {"channel": params.get("channel")}
        if symbol is not None:
            result["symbol"] = symbol
        reply = {"method": method, "req_id": req_id, "result": result, "success": True}
        acks.append(json.dumps({**reply, **STAMP}))
    return acks


def ack_then(then: bytes) -> Behaviour:
    """Handshake, ack the first subscribe (:func:`spot_acks`), then send ``then`` and stop.

    For a link that flaps: ``then`` a close frame (``server_frame(OP_CLOSE, b"\\x03\\xe8")``),
    or a text frame that is not UTF-8 (``server_frame(OP_TEXT, b"\\xff")``).
    """

    async def behaviour(peer: Peer) -> None:
        await peer.accept()
        while True:
            request = await peer.receive_json()
            for item in spot_acks(request):
                await peer.send_text(item if isinstance(item, str) else item.decode())
            if request.get("method") == "subscribe":
                break
        await peer.send_raw(then)
        await peer.wait_close()

    return behaviour


# ============================================================================ REST


@dataclass
class RestCall:
    """One request the hostile REST server read.

    Attributes:
        path: The request target.
        headers: Lower-cased header names to values.
        body: The raw body.
        nonce: The form field ``nonce`` as an int, if present.
        index: 0 for the first request the server read, 1 for the next...
    """

    path: str
    headers: dict[str, str]
    body: bytes
    nonce: int | None
    index: int = 0


@dataclass
class Reply:
    """What the server answers: a status, headers and a body.

    ``body`` may be bytes or an async generator of chunks (streamed as produced, with
    ``length`` as Content-Length when given, else chunked transfer encoding).
    """

    status: int = 200
    body: bytes | AsyncGenerator[bytes, None] = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    length: int | None = None


Handler = Callable[[RestCall], Awaitable[Reply]]


def _json(value: object, status: int = 200) -> Reply:
    return Reply(status, json.dumps(value).encode(), [("Content-Type", "application/json")])


def token_reply(token: str = "hostile-token-0123456789abcdef") -> Handler:
    """Answer every request with a valid token reply."""

    async def handler(call: RestCall) -> Reply:
        return _json({"error": [], "result": {"token": token, "expires": 900}})

    return handler


def kraken_error(*errors: str, status: int = 200) -> Handler:
    """Answer every request with Kraken's error array."""

    async def handler(call: RestCall) -> Reply:
        return _json({"error": list(errors), "result": {}}, status)

    return handler


def raw_reply(body: bytes, status: int = 200) -> Handler:
    """Answer every request with ``body`` verbatim."""

    async def handler(call: RestCall) -> Reply:
        return Reply(status, body, [("Content-Type", "application/json")])

    return handler


def huge_reply(size: int, *, declare: bool = True, chunk: int = 65536) -> Handler:
    """A valid-looking JSON body of ``size`` bytes, streamed (never held whole).

    With ``declare`` the Content-Length says ``size``; without, the body is chunked and
    only its bytes tell. The sent count is in the server's ``body_bytes_sent``.
    """

    async def handler(call: RestCall) -> Reply:
        async def chunks() -> AsyncGenerator[bytes, None]:
            head = b'{"error":[],"result":{"token":"'
            yield head
            left = size - len(head) - 3
            block = b"a" * chunk
            while left > 0:
                piece = block if left >= chunk else block[:left]
                left -= len(piece)
                yield piece
            yield b'"}}'

        return Reply(
            200, chunks(), [("Content-Type", "application/json")], size if declare else None
        )

    return handler


def deeply_nested(depth: int) -> Handler:
    """A token reply whose unknown field nests ``depth`` arrays deep."""
    body = b'{"error":[],"junk":' + b"[" * depth + b"]" * depth + b',"result":{"token":"t"}}'
    return raw_reply(body)


def gated(inner: Handler) -> tuple[Handler, trio.Event]:
    """A handler that holds every answer until the returned event is set."""
    gate = trio.Event()

    async def handler(call: RestCall) -> Reply:
        await gate.wait()
        return await inner(call)

    return handler, gate


def nonce_checker(inner: Handler, *, delay: Callable[[int], float] | None = None) -> Handler:
    """Kraken's nonce rule: a nonce not above the last one seen gets ``EAPI:Invalid nonce``.

    ``delay(index)``, if given, is how long the request read ``index``-th (0-based) takes
    to reach the nonce check: network jitter. It can only reorder requests the client lets
    overlap.
    """
    last: list[int] = [0]

    async def handler(call: RestCall) -> Reply:
        if delay is not None and delay(call.index) > 0:
            await trio.sleep(delay(call.index))  # the modelled jitter, not a wait for an event
        nonce = call.nonce or 0
        if nonce <= last[0]:
            return _json({"error": ["EAPI:Invalid nonce"], "result": {}})
        last[0] = nonce
        return await inner(call)

    return handler


class HostileRest:
    """An HTTP/1.1 server for the REST calls; ``handler`` answers each request.

    Attributes:
        url: ``http://127.0.0.1:<port>``.
        handler: Answers the next request (settable at any time).
        calls: Every request read, in the order read.
        body_bytes_sent: Body bytes written over all replies.
        in_flight: Requests read but not yet fully answered.
        max_in_flight: The most that were ever in flight at once.
    """

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.url = ""
        self.calls: list[RestCall] = []
        self.body_bytes_sent = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self._changed = trio.Event()

    async def wait_calls(self, n: int) -> None:
        """Wait until ``n`` requests were read (the caller bounds the wait)."""
        while len(self.calls) < n:
            await self._changed.wait()

    async def _serve(self, stream: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                call = await self._read(conn, stream)
                if call is None:
                    return
                call.index = len(self.calls)
                self.calls.append(call)
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
                self._changed.set()
                self._changed = trio.Event()
                try:
                    await self._answer(conn, stream, await self.handler(call))
                finally:
                    self.in_flight -= 1
                if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                    return
                conn.start_next_cycle()
        except (trio.BrokenResourceError, trio.ClosedResourceError, h11.ProtocolError):
            return
        finally:
            await trio.aclose_forcefully(stream)

    async def _read(self, conn: h11.Connection, stream: trio.SocketStream) -> RestCall | None:
        request: h11.Request | None = None
        body = bytearray()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await stream.receive_some(_READ))
            elif isinstance(event, h11.Request):
                request = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                assert request is not None
                headers = {k.decode().lower(): v.decode() for k, v in request.headers}
                form = parse_qs(body.decode(errors="replace"))
                nonces = form.get("nonce", [])
                nonce = int(nonces[0]) if nonces and nonces[0].isdigit() else None
                return RestCall(request.target.decode(), headers, bytes(body), nonce)
            else:  # ConnectionClosed or PAUSED
                return None

    async def _answer(self, conn: h11.Connection, stream: trio.SocketStream, reply: Reply) -> None:
        headers = list(reply.headers)
        if isinstance(reply.body, bytes):
            headers.append(("Content-Length", str(len(reply.body))))
        elif reply.length is not None:
            headers.append(("Content-Length", str(reply.length)))
        else:
            headers.append(("Transfer-Encoding", "chunked"))
        await stream.send_all(conn.send(h11.Response(status_code=reply.status, headers=headers)))
        if isinstance(reply.body, bytes):
            await self._data(conn, stream, reply.body)
        else:
            async with aclosing(reply.body) as body:
                async for chunk in body:
                    await self._data(conn, stream, chunk)
        await stream.send_all(conn.send(h11.EndOfMessage()))

    async def _data(self, conn: h11.Connection, stream: trio.SocketStream, data: bytes) -> None:
        if data:
            await stream.send_all(conn.send(h11.Data(data=data)))
            self.body_bytes_sent += len(data)


@asynccontextmanager
async def open_hostile_rest(handler: Handler) -> AsyncIterator[HostileRest]:
    """Run a :class:`HostileRest` on 127.0.0.1, port 0, for the block."""
    server = HostileRest(handler)
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, server._serve, 0, host="127.0.0.1"))
        port = listeners[0].socket.getsockname()[1]
        server.url = f"http://127.0.0.1:{port}"
        yield server
        nursery.cancel_scope.cancel()
