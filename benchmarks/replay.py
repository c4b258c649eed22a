"""The replay server: a separate process that writes pre-built Kraken frames as fast as it can.

Run as ``python -m benchmarks.replay '<json config>'``; it prints ``READY <port>`` once
listening on 127.0.0.1. One thread per connection on blocking sockets (the GIL is not an
issue: the sender spends its time inside ``sendall`` on pre-encoded bytes). Every connection
speaks both protocols the clients need on one port:

* HTTP: ``POST /0/private/GetWebSocketsToken`` (a token) and ``GET /0/public/AssetPairs``
  (pair decimals, which python-kraken-sdk's order book asks for); keep-alive.
* WebSocket (minimal RFC 6455 server, no extensions): spot JSON ``ping`` -> ``pong`` with the
  same ``req_id``; ``subscribe`` -> one ack per symbol, then the snapshot, then (for the
  configured trigger) the update stream; ``unsubscribe`` -> acks; ``add_order`` -> success
  with a fresh ``order_id``; any other method -> a generic success; heartbeats once a second
  on a subscribed connection that is not streaming.

Streams are pre-encoded once, at startup, into frame-aligned chunks of about 256 KiB; replies
from the reader thread are written between chunks under one lock, so frames never interleave.

The same port speaks TLS to a client whose first byte is a TLS handshake (``wss://``,
``https://``) when the config names a certificate, and plain TCP to the others.

A WebSocket request target may ask for a paced book stream (the order-under-load
scenario): ``/v2?pace=slices`` sends ``rate`` messages a second in slices of one
millisecond's worth, ``/v2?pace=bursts`` the same rate in 256 KiB bursts, and
``/v2?pace=none`` only the snapshot. Without ``pace`` a book stream goes as fast as the
socket takes it.

Config keys: ``depths`` (book streams to build, e.g. ``[10, 1000]``), ``count`` (updates
per stream), ``fanout`` (number of ticker/trade symbols, 0 for none), ``heartbeat`` (bool),
``rate`` (messages a second of a paced stream), ``cert`` (server key and certificate chain
PEM, enables TLS), ``exit_with_parent`` (end when stdin closes).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import socket
import sys
import threading
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .streams import (
    BOOK_SYMBOL,
    build_book_stream,
    fanout_symbols,
    instrument_json,
    server_frame,
    ticker_json,
    timestamp,
    trade_json,
)
from .tls import Link, TlsLink, server_context, starts_tls

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_CHUNK = 256 * 1024
_MAX_LATE = 0.05
"""Seconds a paced stream may fall behind its schedule before it stops catching up."""
_T_IN = '"time_in":"2026-01-01T00:00:00.000000Z","time_out":"2026-01-01T00:00:00.000010Z"'
GO_SYMBOL = "GO/USD"
"""Subscribing ``ticker`` for this symbol starts the fan-out stream (after RSS is measured)."""


def _chunks(frames: list[bytes], size: int = _CHUNK, count: int = 0) -> list[tuple[bytes, int]]:
    """Frame-aligned chunks of at least ``size`` bytes or ``count`` frames, with their count."""
    out: list[tuple[bytes, int]] = []
    part: list[bytes] = []
    nbytes = 0
    for frame in frames:
        part.append(frame)
        nbytes += len(frame)
        if nbytes >= size or len(part) == count:
            out.append((b"".join(part), len(part)))
            part, nbytes = [], 0
    if part:
        out.append((b"".join(part), len(part)))
    return out


class Streams:
    """Everything pre-encoded, shared read-only by every connection."""

    def __init__(self, config: dict[str, Any]) -> None:
        count = int(config.get("count", 100_000))
        self.book_snapshot: dict[int, bytes] = {}
        self.book_chunks: dict[int, list[tuple[bytes, int]]] = {}
        self.book_slices: dict[int, list[tuple[bytes, int]]] = {}
        self.book_count: dict[int, int] = {}
        self.rate = float(config.get("rate", 0))
        for depth in config.get("depths", [10]):
            stream = build_book_stream(count, depth=depth, seed=depth)
            self.book_snapshot[depth] = server_frame(stream.snapshot)
            frames = [server_frame(u) for u in stream.updates]
            self.book_chunks[depth] = _chunks(frames)
            if self.rate:  # one millisecond's worth of messages per slice
                self.book_slices[depth] = _chunks(frames, count=max(1, int(self.rate / 1000)))
            self.book_count[depth] = len(stream.updates)
        self.fanout = fanout_symbols(int(config.get("fanout", 0)))
        self.fanout_chunks: list[tuple[bytes, int]] = []
        self.fanout_count = 0
        if self.fanout:
            rng = random.Random(7)
            book = build_book_stream(count // 5 + 1, depth=10, seed=11)
            self.book_snapshot.setdefault(10, server_frame(book.snapshot))
            mixed: list[bytes] = []
            for i in range(count):
                sym = self.fanout[(i // 2) % len(self.fanout)]
                if i % 5 == 4:
                    mixed.append(server_frame(book.updates[i // 5]))
                elif i % 2:
                    mixed.append(server_frame(ticker_json(sym, "update", rng)))
                else:
                    mixed.append(server_frame(trade_json(sym, "update", i, timestamp(i), rng)))
            self.fanout_chunks = _chunks(mixed)
            self.fanout_count = len(mixed)
            self.fanout_book_count = sum(1 for i in range(count) if i % 5 == 4)
        self.heartbeat = bool(config.get("heartbeat", False))
        rng = random.Random(3)
        symbols = [BOOK_SYMBOL, "ETH/USD", GO_SYMBOL, *self.fanout]
        self.ticker_snapshot = {s: server_frame(ticker_json(s, "snapshot", rng)) for s in symbols}
        self.trade_snapshot = {
            s: server_frame(trade_json(s, "snapshot", 1, timestamp(0), rng)) for s in symbols
        }
        self.instrument = server_frame(instrument_json(symbols))
        self.tls = server_context(config["cert"]) if config.get("cert") else None


# ------------------------------------------------------------------------------ WebSocket


class _Closed(Exception):
    pass


class WsConnection:
    """One accepted WebSocket: this thread reads; a sender thread streams; one write lock."""

    def __init__(self, link: Link, streams: Streams, leftover: bytes, pace: str | None) -> None:
        self.link = link
        self.streams = streams
        self.pace = pace
        self.buf = bytearray(leftover)
        self.lock = threading.Lock()
        self.closed = False
        self.streaming = False
        self.subscribed: set[str] = set()
        self.orders = 0
        self.fanout_parts: set[str] = set()

    # -- writing
    def write(self, data: bytes) -> None:
        with self.lock:
            if self.closed:
                return
            try:
                self.link.sendall(data)
            except OSError:
                self.closed = True

    def send_text(self, text: str) -> None:
        self.write(server_frame(text))

    def stream(self, chunks: list[tuple[bytes, int]], rate: float) -> None:
        """Write the chunks as fast as the socket takes them, or ``rate`` messages a second."""
        self.streaming = True
        start = time.perf_counter()
        sent = 0
        try:
            for chunk, n in chunks:
                if self.closed:
                    return
                if rate:
                    # Due times from the start, not from the last write: a chunk a little
                    # late is followed by the next one at once, so the average rate holds.
                    # A sender held up for longer (a busy machine) drops the debt rather
                    # than sending it as one burst that the pace does not ask for.
                    delay = start + sent / rate - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)  # pacing the sender IS the workload
                    elif delay < -_MAX_LATE:
                        start -= delay + _MAX_LATE
                self.write(chunk)
                sent += n
        finally:
            self.streaming = False

    def start_stream(self, chunks: list[tuple[bytes, int]], rate: float = 0) -> None:
        threading.Thread(target=self.stream, args=(chunks, rate), daemon=True).start()

    def heartbeats(self) -> None:
        frame = server_frame('{"channel":"heartbeat"}')
        while not self.closed:
            time.sleep(1.0)
            if not self.streaming:
                self.write(frame)

    # -- reading
    def _recv(self) -> None:
        data = self.link.recv()
        if not data:
            raise _Closed
        self.buf += data

    def read_frame(self) -> tuple[int, bytes]:
        buf = self.buf
        while True:
            if len(buf) >= 2:
                opcode = buf[0] & 0x0F
                masked = buf[1] & 0x80
                n = buf[1] & 0x7F
                pos = 2
                if n == 126:
                    if len(buf) < 4:
                        self._recv()
                        continue
                    n = int.from_bytes(buf[2:4], "big")
                    pos = 4
                elif n == 127:
                    if len(buf) < 10:
                        self._recv()
                        continue
                    n = int.from_bytes(buf[2:10], "big")
                    pos = 10
                need = pos + (4 if masked else 0) + n
                if len(buf) >= need:
                    if masked:
                        mask = buf[pos : pos + 4]
                        pos += 4
                        raw = bytes(buf[pos : pos + n])
                        key = int.from_bytes((bytes(mask) * (n // 4 + 1))[:n], "big")
                        payload = (int.from_bytes(raw, "big") ^ key).to_bytes(n, "big")
                    else:
                        payload = bytes(buf[pos : pos + n])
                    del buf[:need]
                    return opcode, payload
            self._recv()

    def run(self) -> None:
        if self.streams.heartbeat:
            threading.Thread(target=self.heartbeats, daemon=True).start()
        try:
            while True:
                opcode, payload = self.read_frame()
                if opcode == 0x8:  # close: echo it and stop
                    self.write(bytes((0x88, len(payload[:125]))) + payload[:125])
                    return
                if opcode == 0x9:  # protocol ping
                    self.write(bytes((0x8A, len(payload))) + payload)
                elif opcode in (0x1, 0x2, 0x0):
                    self.on_text(payload)
        except (_Closed, OSError):
            return
        finally:
            self.closed = True

    # -- Kraken methods
    def on_text(self, payload: bytes) -> None:
        try:
            msg = json.loads(payload)
        except ValueError:
            return
        if not isinstance(msg, dict):
            return
        method = msg.get("method")
        req_id = msg.get("req_id")
        rid = f',"req_id":{req_id}' if isinstance(req_id, int) else ""
        params = msg.get("params") or {}
        if method == "ping":
            self.send_text(f'{{"method":"pong"{rid},{_T_IN}}}')
        elif method == "add_order":
            self.orders += 1
            extra = ""
            if "cl_ord_id" in params:
                extra += f',"cl_ord_id":{json.dumps(params["cl_ord_id"])}'
            if "order_userref" in params:
                extra += f',"order_userref":{int(params["order_userref"])}'
            self.send_text(
                f'{{"method":"add_order"{rid},"result":{{"order_id":'
                f'"O{self.orders:05d}-BENCH-REPLAY"{extra}}},"success":true,{_T_IN}}}'
            )
        elif method in ("subscribe", "unsubscribe"):
            self.on_subscribe(method, params, rid)
        elif isinstance(method, str):
            self.send_text(f'{{"method":"{method}"{rid},"result":{{}},"success":true,{_T_IN}}}')

    def on_subscribe(self, method: str, params: dict[str, Any], rid: str) -> None:
        channel = params.get("channel")
        symbols = params.get("symbol")
        options = ""
        if channel == "book":
            options = f',"depth":{int(params.get("depth", 10))}'
        if method == "subscribe" and channel in ("book", "ticker", "trade", "instrument"):
            options += ',"snapshot":true'
        acks = []
        for sym in symbols if isinstance(symbols, list) else [None]:
            sym_part = f',"symbol":"{sym}"' if sym is not None else ""
            acks.append(
                server_frame(
                    f'{{"method":"{method}"{rid},"result":{{"channel":"{channel}"{options}'
                    f'{sym_part}}},"success":true,{_T_IN}}}'
                )
            )
        self.write(b"".join(acks))
        if method != "subscribe":
            return
        streams = self.streams
        syms = symbols if isinstance(symbols, list) else []
        if channel == "instrument":
            self.write(streams.instrument)
        elif channel == "ticker":
            self.write(b"".join(streams.ticker_snapshot.get(s, b"") for s in syms))
        elif channel == "trade":
            self.write(b"".join(streams.trade_snapshot.get(s, b"") for s in syms))
        elif channel == "executions":
            self.send_text('{"channel":"executions","type":"snapshot","data":[],"sequence":1}')
        elif channel == "balances":
            self.send_text('{"channel":"balances","type":"snapshot","data":[],"sequence":1}')
        self.subscribed.add(str(channel))
        depth = int(params.get("depth", 10))
        if channel == "book" and BOOK_SYMBOL in syms:
            if depth not in streams.book_snapshot:
                return
            self.write(streams.book_snapshot[depth])
            if streams.fanout or self.streaming or self.pace == "none":
                return
            if self.pace == "slices":
                self.start_stream(streams.book_slices[depth], streams.rate)
            elif self.pace == "bursts":
                self.start_stream(streams.book_chunks[depth], streams.rate)
            else:
                self.start_stream(streams.book_chunks[depth])
        if streams.fanout and channel == "ticker" and GO_SYMBOL in syms and not self.streaming:
            self.start_stream(streams.fanout_chunks)


# ------------------------------------------------------------------------------ HTTP


def _http_reply(link: Link, status: str, body: bytes) -> None:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
    )
    link.sendall(head.encode() + body)


def _pair_info() -> dict[str, Any]:
    info = {"pair_decimals": 1, "lot_decimals": 8, "wsname": BOOK_SYMBOL, "altname": "XBTUSD"}
    return {BOOK_SYMBOL: info, "XXBTZUSD": info}


def handle(sock: socket.socket, streams: Streams) -> None:
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = b""
    try:
        link = Link(sock)
        if streams.tls is not None and starts_tls(sock):
            link = TlsLink(sock, streams.tls)
        while True:
            while b"\r\n\r\n" not in buf:
                data = link.recv()
                if not data:
                    return
                buf += data
            head, buf = buf.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")
            request_line = lines[0].split(" ")
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            if headers.get("upgrade", "").lower() == "websocket":
                accept = base64.b64encode(
                    hashlib.sha1(headers["sec-websocket-key"].encode() + _GUID).digest()
                ).decode()
                link.sendall(
                    (
                        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                        f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
                    ).encode()
                )
                target = request_line[1] if len(request_line) > 1 else "/"
                pace = parse_qs(urlsplit(target).query).get("pace", [None])[0]
                WsConnection(link, streams, buf, pace).run()
                return
            length = int(headers.get("content-length", "0"))
            while len(buf) < length:
                data = link.recv()
                if not data:
                    return
                buf += data
            buf = buf[length:]
            path = request_line[1] if len(request_line) > 1 else "/"
            if path.startswith("/0/private/GetWebSocketsToken"):
                body: dict[str, Any] = {"error": [], "result": {"token": "t", "expires": 900}}
            elif path.startswith("/0/public/AssetPairs"):
                body = {"error": [], "result": _pair_info()}
            elif path.startswith("/0/public/Time"):
                body = {"error": [], "result": {"unixtime": int(time.time())}}
            else:
                body = {"error": [], "result": {}}
            _http_reply(link, "200 OK", json.dumps(body).encode())
    except OSError:  # ssl.SSLError is one
        return
    finally:
        sock.close()


def _exit_with_parent() -> None:
    """End this process when stdin closes: the benchmark that started it is gone."""
    sys.stdin.buffer.read()
    os._exit(0)


def serve(config: dict[str, Any], port: int = 0) -> None:
    """Build the streams, listen on 127.0.0.1, print ``READY <port>``, serve forever."""
    streams = Streams(config)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(128)
    info = {
        "port": listener.getsockname()[1],
        "book_count": streams.book_count,
        "book_bytes": {
            d: sum(len(chunk) for chunk, _ in c) for d, c in streams.book_chunks.items()
        },
        "fanout_count": streams.fanout_count,
        "fanout_book_count": getattr(streams, "fanout_book_count", 0),
    }
    print("READY " + json.dumps(info), flush=True)
    if config.get("exit_with_parent"):
        threading.Thread(target=_exit_with_parent, daemon=True).start()
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=handle, args=(conn, streams), daemon=True).start()


if __name__ == "__main__":
    serve(json.loads(sys.argv[1]) if len(sys.argv) > 1 else {})
