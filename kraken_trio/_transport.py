"""A client WebSocket on a trio stream, built directly on wsproto.

Why not trio-websocket's client: it hands every message through its own reader task and a
channel, which caps a Kraken feed at about 50k messages/s on loopback. Here the connection
task reads the socket itself and gets every complete message of one read back as a list
(:meth:`WebSocket.receive_batch`), so decoding and dispatch of a whole batch happen before the
task yields. Sending is done by exactly one writer (see :mod:`kraken_trio._connection`).

On a plain TCP socket (``ws://``, on POSIX) both directions also have a synchronous fast
path that skips trio's per-call scheduling:

* :meth:`WebSocket.receive_batch` waits for readability only when the previous read came
  back short (so nothing is likely to be waiting), then reads without another pass through
  the scheduler; after a full read it reads at once and yields with a checkpoint.
* :meth:`WebSocket.send_now` puts bytes into the kernel without awaiting. It has no
  checkpoint, so cancellation cannot cut a frame in half: the caller gets back the count of
  bytes the kernel took and hands any remainder to the writer, first in line.

Over TLS (``trio.SSLStream``) and on Windows, reads and writes go through the stream API.
"""

from __future__ import annotations

import contextlib
import os
import ssl
import struct
import sys
from collections.abc import Callable
from urllib.parse import SplitResult, urlsplit

import trio
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    Pong,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

__all__ = ["Frame", "Oversized", "TransportClosed", "WebSocket", "connect_websocket"]


class Oversized:
    """Stands in the batch for a fragmented message whose fragments together exceeded
    ``max_message_size``: it was dropped (each fragment was within the limit, so the link
    stays up). A single frame that declares more is refused on its header instead."""

    __slots__ = ("size",)

    def __init__(self, size: int) -> None:
        self.size = size


Frame = bytes | str | Oversized
"""A complete WebSocket message: ``str`` for text frames, ``bytes`` for binary frames, or an
:class:`Oversized` marker for a fragmented message that was too large and dropped."""

_READ_SIZE = 256 * 1024
_SHORT = struct.Struct(">H")
_LONG = struct.Struct(">Q")


class _MaskKeys:
    """Masking keys from the OS's CSPRNG (RFC 6455 §5.3), fetched 1024 at a time."""

    __slots__ = ("_pool", "_pos")

    def __init__(self) -> None:
        self._pool = b""
        self._pos = 0

    def __call__(self) -> bytes:
        pos = self._pos
        if pos >= len(self._pool):
            self._pool = os.urandom(4096)
            pos = 0
        self._pos = pos + 4
        return self._pool[pos : pos + 4]


_mask_key = _MaskKeys()


def _client_text_frame(payload: bytes) -> bytes:
    """One masked, unfragmented client text frame (RFC 6455 §5.2-5.3).

    Masks the payload with a single big-integer XOR instead of wsproto's per-byte loop.
    """
    n = len(payload)
    if n < 126:
        header = bytes((0x81, 0x80 | n))
    elif n < 65536:
        header = bytes((0x81, 0x80 | 126)) + _SHORT.pack(n)
    else:
        header = bytes((0x81, 0x80 | 127)) + _LONG.pack(n)
    key = _mask_key()
    if not n:
        return header + key
    stream = (key * (n // 4 + 1))[:n]
    masked = int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")
    return header + key + masked.to_bytes(n, "big")


class TransportClosed(Exception):
    """The WebSocket is closed (locally, by the peer, or the stream broke).

    Attributes:
        code: The close code, if a close frame was seen.
        reason: What happened.
    """

    def __init__(self, reason: str, code: int | None = None) -> None:
        super().__init__(reason, code)
        self.reason = reason
        self.code = code

    def __str__(self) -> str:
        return f"{self.reason} (close code {self.code})" if self.code else self.reason


class WebSocket:
    """One client WebSocket connection. Not safe for concurrent senders: use one writer."""

    def __init__(
        self,
        stream: trio.abc.Stream,
        ws: WSConnection,
        max_message_size: int,
        initial: bytes = b"",
    ) -> None:
        self._stream = stream
        self._ws = ws
        self._max_message_size = max_message_size
        self._text_parts: list[str] = []
        self._bytes_parts: list[bytes] = []
        self._partial_size = 0
        self._oversized = False
        self._closed: TransportClosed | None = None
        self._close_frame = b""  # the close frame owed for a frame we refused
        self._control_out: list[bytes] = []
        self.on_pong: Callable[[bytes], None] | None = None
        self.bytes_received = 0
        # Bytes after the last complete frame: the next read continues them. Frames that
        # arrived together with the handshake response start here too.
        self._buf = bytearray(initial)
        self._initial = bool(initial)
        # The raw socket for the synchronous fast paths (plain TCP on POSIX), else None.
        self._sock: trio.socket.SocketType | None = None
        self._fd = -1
        if isinstance(stream, trio.SocketStream) and sys.platform != "win32":
            self._sock = stream.socket
            self._fd = stream.socket.fileno()
        self._short_read = True  # the last read did not fill the buffer: wait before reading
        self._sending = False  # an awaited write is in progress on the stream
        # Set by the connection: control frames (pongs) go out through its send path.
        self.send_control: Callable[[bytes], None] | None = None

    @property
    def closed(self) -> bool:
        """True once the connection is closed for any reason."""
        return self._closed is not None

    @property
    def can_send_now(self) -> bool:
        """True if :meth:`send_now` may be used: plain TCP, open, no awaited write under way."""
        return self._fd >= 0 and self._closed is None and not self._sending

    def send_now(self, data: bytes) -> int:
        """Write ``data`` to the socket without awaiting; returns how many bytes it took.

        Only when :attr:`can_send_now`. Never a checkpoint, so never cut by cancellation.
        The caller must send ``data[returned:]`` before anything else (through the writer).
        A broken socket marks the connection closed and returns 0: the writer then fails
        the link as for any broken send.
        """
        try:
            return os.write(self._fd, data)
        except BlockingIOError:
            return 0
        except OSError as exc:
            self._fail(f"send failed: {exc!r}")
            return 0

    async def receive_batch(self) -> list[Frame]:
        """Read once from the socket and return every message completed by that read.

        Answers protocol pings (the pong is flushed before returning). An empty list
        means the read held only partial or control frames.

        Raises:
            TransportClosed: the peer closed the connection or the stream broke; or the
                server sent a frame whose header declares more than ``max_message_size``
                (refused before its payload is read: close code 1009) or a text frame
                that is not UTF-8 (close code 1007). :meth:`aclose` sends that code.
                Messages that arrived before a refused frame are returned first; the
                next call raises.
        """
        if self._closed is not None:
            raise self._closed
        if self._initial:
            self._initial = False
        else:
            try:
                data: bytes | bytearray
                if self._sock is not None:
                    data, waited = await self._read_socket(self._sock)
                else:
                    data, waited = await self._stream.receive_some(_READ_SIZE), True
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
                raise self._fail(f"connection broken: {exc!r}") from None
            if not data:
                raise self._fail("connection closed by peer without a close frame")
            self.bytes_received += len(data)
            self._buf += data
            if not waited:
                # Read without waiting: still a checkpoint (the data is already buffered).
                await trio.lowlevel.checkpoint()
        frames: list[Frame] = []
        try:
            self._parse(frames)
        except RemoteProtocolError as exc:
            raise self._fail(f"protocol error from server: {exc}") from None
        if self._control_out:
            await self._flush_control()
        if self._close_frame and not frames:  # a refused frame; messages before it came first
            raise self._fail("refused")  # (already failed: returns that error)
        return frames

    async def _read_socket(self, sock: trio.socket.SocketType) -> tuple[bytes, bool]:
        """One read from the raw socket, and whether it waited (a checkpoint) first.

        Waits for readability first only if the last read came back short: then the
        socket is most likely empty, and trying a read first would only fail.
        """
        waited = False
        while True:
            if self._short_read:
                await trio.lowlevel.wait_readable(sock)
                waited = True
            try:
                data = os.read(self._fd, _READ_SIZE)
            except BlockingIOError:
                self._short_read = True
                continue
            self._short_read = len(data) < _READ_SIZE
            return data, waited

    def _parse(self, frames: list[Frame]) -> None:
        """Split the buffer into whole frames.

        The common case (an unmasked, unfragmented text frame: what Kraken sends) is parsed
        here directly: wsproto's general-purpose parser costs as much as decoding the JSON.
        Every other frame (control frames, fragments, binary, oversized) goes to wsproto
        whole, so wsproto always sees frame boundaries and keeps its state right.
        """
        buf = self._buf
        pos = 0
        end = len(buf)
        limit = self._max_message_size
        to_wsproto: list[bytes] = []
        while end - pos >= 2 and self._closed is None:
            b0 = buf[pos]
            b1 = buf[pos + 1]
            n = b1 & 0x7F
            head = 2
            if n == 126:
                if end - pos < 4:
                    break
                n = _SHORT.unpack_from(buf, pos + 2)[0]
                head = 4
            elif n == 127:
                if end - pos < 10:
                    break
                n = _LONG.unpack_from(buf, pos + 2)[0]
                head = 10
            if b1 & 0x80:
                head += 4
            if n > limit:
                # Refused on its header, before a byte of the payload is read or buffered.
                # The messages before it are still delivered.
                if to_wsproto:
                    self._feed_wsproto(to_wsproto, frames)
                self._refuse(
                    1009,
                    f"server sent a frame of {n} bytes, more than max_message_size ({limit}):"
                    " refused unread",
                )
                break
            stop = pos + head + n
            if stop > end:
                break
            # 0x81: FIN, no RSV bits, text. Not while wsproto holds a fragmented message.
            if b0 == 0x81 and not b1 & 0x80 and not self._partial_size:
                if to_wsproto:  # keep the order: wsproto's frames came first
                    self._feed_wsproto(to_wsproto, frames)
                try:
                    frames.append(buf[pos + head : stop].decode())
                except UnicodeDecodeError:
                    self._refuse(1007, "server sent a text frame that is not UTF-8")
                    break
            else:
                to_wsproto.append(bytes(buf[pos:stop]))
            pos = stop
        del buf[:pos]
        if to_wsproto and self._closed is None:
            self._feed_wsproto(to_wsproto, frames)

    def _feed_wsproto(self, chunks: list[bytes], frames: list[Frame]) -> None:
        self._ws.receive_data(b"".join(chunks))
        chunks.clear()
        for event in self._ws.events():
            self._handle(event, frames)

    def _handle(self, event: Event, frames: list[Frame]) -> None:
        if isinstance(event, TextMessage | BytesMessage):
            data = event.data
            if event.message_finished and not self._partial_size and not self._oversized:
                # One whole frame: _parse refused it on its header if it was too large.
                if isinstance(data, str):
                    frames.append(data)
                else:
                    frames.append(bytes(data))
                return
            self._partial_size += len(data)
            if self._partial_size > self._max_message_size:
                # Drop the parts seen so far and whatever else belongs to this message.
                self._oversized = True
                self._text_parts.clear()
                self._bytes_parts.clear()
            elif isinstance(data, str):
                self._text_parts.append(data)
            else:
                self._bytes_parts.append(bytes(data))
            if event.message_finished:
                if self._oversized:
                    frames.append(Oversized(self._partial_size))
                elif isinstance(event, TextMessage):
                    frames.append("".join(self._text_parts))
                else:
                    frames.append(b"".join(self._bytes_parts))
                self._text_parts.clear()
                self._bytes_parts.clear()
                self._partial_size = 0
                self._oversized = False
        elif isinstance(event, Ping):
            with contextlib.suppress(LocalProtocolError):
                self._control_out.append(self._ws.send(event.response()))
        elif isinstance(event, Pong):
            if self.on_pong is not None:
                self.on_pong(bytes(event.payload))
        elif isinstance(event, CloseConnection):
            with contextlib.suppress(LocalProtocolError):
                self._control_out.append(self._ws.send(event.response()))
            self._closed = TransportClosed(
                f"closed by server: {event.reason or 'no reason'}", event.code
            )

    async def _flush_control(self) -> None:
        data = b"".join(self._control_out)
        self._control_out.clear()
        if self.send_control is not None and self._closed is None:
            self.send_control(data)  # in line with the connection's other frames
            return
        # The link is closing (a close frame to answer) or not yet handed to a connection.
        with contextlib.suppress(
            trio.BrokenResourceError, trio.ClosedResourceError, trio.BusyResourceError
        ):
            self._sending = True
            try:
                await self._stream.send_all(data)
            finally:
                self._sending = False

    def encode_text(self, text: bytes | str) -> bytes:
        """The wire bytes of one text message (for the writer).

        Raises:
            TransportClosed: the connection is closing (for example the server's close frame
                was read while this frame waited in the writer's queue).
        """
        if self._ws.state is not ConnectionState.OPEN:
            raise self._fail("connection is closing; frame not sent")
        payload = text if isinstance(text, bytes) else text.encode()
        return _client_text_frame(payload)

    def encode_ping(self, payload: bytes) -> bytes:
        """The wire bytes of one protocol ping.

        Raises:
            TransportClosed: the connection is closing.
        """
        try:
            return self._ws.send(Ping(payload=payload))
        except LocalProtocolError:
            raise self._fail("connection is closing; ping not sent") from None

    async def send_raw(self, data: bytes) -> None:
        """Write already-encoded frame bytes (only the writer calls this).

        Raises:
            TransportClosed: the stream broke.
        """
        if self._closed is not None:
            raise self._closed
        self._sending = True
        try:
            await self._stream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            raise self._fail(f"send failed: {exc!r}") from None
        finally:
            self._sending = False

    def _fail(self, reason: str) -> TransportClosed:
        if self._closed is None:
            self._closed = TransportClosed(reason)
        return self._closed

    def _refuse(self, code: int, reason: str) -> TransportClosed:
        """Fail the link for a frame we refuse; :meth:`aclose` then sends close ``code``."""
        if self._closed is None:
            self._closed = TransportClosed(reason, code)
            self._buf.clear()  # nothing more is parsed: drop what was read with the frame
            with contextlib.suppress(LocalProtocolError):
                self._close_frame = self._ws.send(CloseConnection(code=code, reason=reason[:100]))
        return self._closed

    async def aclose(self, code: int = 1000, reason: str = "") -> None:
        """Send a close frame (best effort, bounded by the caller) and close the stream."""
        try:
            data = self._close_frame
            if self._closed is None:
                data = self._ws.send(CloseConnection(code=code, reason=reason))
                self._closed = TransportClosed("closed locally", code)
            self._close_frame = b""
            if data:
                with trio.move_on_after(1.0):
                    await self._stream.send_all(data)
        except (LocalProtocolError, trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass
        finally:
            self._closed = self._closed or TransportClosed("closed locally", code)
            await trio.aclose_forcefully(self._stream)


async def connect_websocket(
    url: str,
    *,
    max_message_size: int,
    ssl_context: ssl.SSLContext | None = None,
    connect_timeout: float | None = None,
) -> WebSocket:
    """Open a WebSocket to ``url`` (``ws://`` or ``wss://``, TLS verified for wss).

    With ``connect_timeout`` (the configuration's), the whole handshake is bounded and a
    timeout says which step stalled: the TCP connect, the TLS handshake, or the WebSocket
    upgrade (a port that accepts TCP but never speaks WebSocket). Without it, the caller
    bounds the handshake with a cancel scope.

    Raises:
        TransportClosed: refused, rejected by the server, broken or timed out during the
            handshake; the reason names the step.
        ValueError: the URL is not a ws:// or wss:// URL.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ValueError(f"not a WebSocket URL: {url!r}")
    secure = parts.scheme == "wss"
    where = f"{parts.hostname}:{parts.port or (443 if secure else 80)}"
    step = ["tcp"]
    if connect_timeout is None:
        return await _handshake(parts, secure, max_message_size, ssl_context, step)
    with trio.move_on_after(connect_timeout):
        return await _handshake(parts, secure, max_message_size, ssl_context, step)
    stalled = {
        "tcp": f"no TCP connection to {where}",
        "tls": f"the TLS handshake with {where} did not finish",
        "upgrade": f"{where} accepted the TCP connection but gave no WebSocket handshake answer"
        " (is it a WebSocket endpoint?)",
    }[step[0]]
    raise TransportClosed(f"{stalled} within connect_timeout ({connect_timeout}s)")


async def _handshake(
    parts: SplitResult,
    secure: bool,
    max_message_size: int,
    ssl_context: ssl.SSLContext | None,
    step: list[str],
) -> WebSocket:
    """The steps of :func:`connect_websocket`; ``step[0]`` names the one under way."""
    assert parts.hostname is not None
    port = parts.port or (443 if secure else 80)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    try:
        tcp = await trio.open_tcp_stream(parts.hostname, port)
    except OSError as exc:
        raise TransportClosed(f"cannot connect to {parts.hostname}:{port}: {exc}") from exc
    stream: trio.abc.Stream = tcp
    try:
        if secure:
            step[0] = "tls"
            context = ssl_context or ssl.create_default_context()
            tls = trio.SSLStream(tcp, context, server_hostname=parts.hostname)
            await tls.do_handshake()
            stream = tls
        step[0] = "upgrade"
        ws = WSConnection(ConnectionType.CLIENT)
        host = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
        await stream.send_all(ws.send(Request(host=host, target=target)))
        received = bytearray()
        while True:
            data = await stream.receive_some(_READ_SIZE)
            if not data:
                raise TransportClosed("connection closed during the WebSocket handshake")
            received += data
            head_end = received.find(b"\r\n\r\n")
            if head_end < 0:
                if len(received) > 65536:
                    raise TransportClosed("handshake response too large")
                continue
            # wsproto gets exactly the HTTP head; frames that came with it are ours.
            ws.receive_data(bytes(received[: head_end + 4]))
            for event in ws.events():
                if isinstance(event, AcceptConnection):
                    return WebSocket(
                        stream, ws, max_message_size, initial=bytes(received[head_end + 4 :])
                    )
                if isinstance(event, RejectConnection | RejectData):
                    status = getattr(event, "status_code", None)
                    raise TransportClosed(f"handshake rejected (HTTP {status})")
            raise TransportClosed("the server's handshake response was incomplete")
    except (trio.BrokenResourceError, ssl.SSLError, OSError, RemoteProtocolError) as exc:
        await trio.aclose_forcefully(stream)
        # trio wraps TLS failures (a certificate that does not verify) as the cause.
        reason = exc.__cause__ if isinstance(exc.__cause__, ssl.SSLError) else exc
        raise TransportClosed(f"handshake with {parts.hostname}:{port} failed: {reason}") from exc
    except BaseException:
        await trio.aclose_forcefully(stream)
        raise
