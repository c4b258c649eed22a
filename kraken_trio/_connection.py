"""One supervised task per WsKey: only I/O. It connects, authenticates, reads, writes,
heartbeats and reconnects with backoff; every decision is the pure session's
(``_proto/session.py``), which this module drives.

Where bytes go:

* in: the reader reads a batch of frames, hands each text frame to the session's dialect
  (decode, route, deliver) and yields to the scheduler every ``READ_SLICE`` frames, so
  consumers drain before the buffers fill and another connection's reply is never held up
  behind a large batch;
* out: :meth:`Connection.send` writes a frame straight into the kernel when nothing is
  queued (no checkpoint, so cancellation can never cut a frame); otherwise the frame goes
  to the connection's one writer task, in order. The queue is bounded: a peer that does
  not read is a dead link.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import trio

from ._calls import CallerSide, Hub, wait_on
from ._config import WsKey
from ._errors import (
    AuthenticationError,
    ClosedError,
    ConnectionLostError,
    KrakenError,
    ReconnectExhaustedError,
)
from ._events import ConnectionStatistics, LifecycleEvent
from ._proto.auth import redact, sign_futures_challenge
from ._proto.codec import encode_futures
from ._proto.futures import FuturesChallengeRequest
from ._proto.futures_session import FuturesDialect
from ._proto.livestate import live_state_for
from ._proto.session import Session
from ._proto.spot_session import SpotDialect, encode_spot_request
from ._transport import Oversized, TransportClosed, WebSocket, connect_websocket

if TYPE_CHECKING:
    pass

__all__ = ["READ_SLICE", "Connection", "Hub"]

log = logging.getLogger("kraken_trio")

# Frames dispatched per scheduler pass: below the consumers' YIELD_EVERY (structural
# pacing). And, while a request waits for its reply on any connection, seconds of dispatch
# per pass: one connection's batch never holds an order's reply back longer than this.
READ_SLICE = 32
READ_BUDGET = 0.0001
_COALESCE = 256 * 1024  # the writer joins queued frames into writes of about this size
# A link counts as healthy (resetting the reconnect backoff) once it stayed up this long
# and delivered data; a link that flaps faster backs off like one that never came up.
HEALTHY_AFTER = 10.0


class _LinkFailed(Exception):
    """A link ended for a reason of the client's own (no pong, peer not reading...)."""


class Connection(CallerSide):
    """The supervised connection of one WsKey. Created and owned by the client."""

    def __init__(self, key: WsKey, url: str, hub: Hub) -> None:
        self.key = key
        self.url = url
        self._hub = hub
        self._cfg = hub.config
        futures = key.is_futures
        self.session = Session(
            key,
            hub.config,
            self,
            FuturesDialect if futures else SpotDialect,
            lambda channel, symbol, params: live_state_for(futures, channel, symbol, params),
        )
        if isinstance(self.session.dialect, FuturesDialect):
            self.session.dialect.credentials = hub.credentials
            self.session.dialect.on_pong = self._pong
        self._ready = trio.Event()
        self._fatal: BaseException | None = None
        self._closing = False
        self._running = False
        self._stopped = trio.Event()
        self._attempt_scope: trio.CancelScope | None = None
        self._link_scope: trio.CancelScope | None = None
        self._link_nursery: trio.Nursery | None = None
        self._link_failure: BaseException | None = None
        self._ws: WebSocket | None = None
        self._send_ch: trio.MemorySendChannel[bytes] | None = None
        self._queued = 0
        self._unsent = 0
        self._timer_wake = trio.Event()
        self._pong_event: trio.Event | None = None
        self._ping_counter = 0
        self._authing = False
        self._abort: KrakenError | None = None
        self._healthy_at = math.inf
        self.last_failure: BaseException | None = None  # why the last link ended or failed
        self.stats: ConnectionStatistics = self.session.stats

    def __repr__(self) -> str:
        return f"<Connection {self.key} {self.url} ready={self._ready.is_set()}>"

    # ================================================================ Host (for the session)

    def send(self, frame: bytes) -> bool:
        """Send a text frame without awaiting; False if there is no live link.

        Written straight to the socket when nothing is queued or being written and the
        kernel takes it; otherwise queued for the writer (a partly written frame's rest
        first in line). Either way frames leave in the order of these calls, whole.
        """
        ws = self._ws
        if ws is None or self._send_ch is None:
            return False
        try:
            return self._send_encoded(ws.encode_text(frame))
        except TransportClosed:
            return False

    def _send_encoded(self, data: bytes) -> bool:
        ws, send = self._ws, self._send_ch
        if ws is None or send is None:
            return False
        if not self._queued and ws.can_send_now:
            sent = ws.send_now(data)
            if sent == len(data):
                self.stats.direct_writes += 1
                return True
            data = data[sent:]
        if self._unsent + len(data) > self._cfg.max_send_buffer:
            self._fail_link(_LinkFailed(f"the server reads nothing: {self._unsent} bytes unsent"))
            return False
        try:
            send.send_nowait(data)
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            return False
        self._queued += 1
        self._unsent += len(data)
        self.stats.queued_writes += 1
        return True

    def emit(self, event: LifecycleEvent) -> None:
        """Publish a lifecycle event through the client."""
        self._hub.emit(event)

    def waker(self) -> trio.Event:
        """A fresh event for the session's waiters."""
        return trio.Event()

    def abort(self, error: KrakenError) -> None:
        """The endpoint cannot serve this connection (it speaks another protocol): give up
        for good with ``error`` instead of reconnecting."""
        self._abort = error
        self._fail_link(_LinkFailed(str(error)))

    def need_auth(self) -> None:
        """The server refused the token or challenge: renew it on the live link."""
        nursery = self._link_nursery
        if nursery is None or self._authing:
            return
        self._authing = True
        nursery.start_soon(self._reauthenticate)

    # ================================================================ lifecycle

    @property
    def closing(self) -> bool:
        """True once :meth:`aclose` has begun."""
        return self._closing

    @property
    def needs_token(self) -> bool:
        """Spot private and level3 connections authenticate with a REST token."""
        return self.key.is_private and not self.key.is_futures

    def ensure_started(self) -> None:
        """Start the supervisor task if it is not running (lazy connection)."""
        if self._closing:
            raise ClosedError(f"connection {self.key} is closed")
        if self._running:
            return
        if self.key.is_private and self._hub.credentials is None:
            raise AuthenticationError(
                f"{self.key} needs api_key and api_secret (pass them to open_kraken)",
                "connect",
            )
        self._fatal = None
        self._running = True
        self._stopped = trio.Event()
        self._ready = trio.Event()
        self._hub.start_soon(self._supervise, f"kraken_trio connection {self.key}")

    def link_bound(self) -> float:
        """How long connecting (and authenticating) one attempt may take."""
        bound = self._cfg.connect_timeout
        if self.key.is_private:
            bound += self._cfg.auth_timeout + (self._cfg.rest_timeout if self.needs_token else 0)
        return bound

    async def wait_ready(self) -> None:
        """Wait until connected (and authenticated). A checkpoint; the caller bounds it.

        Raises:
            AuthenticationError, ReconnectExhaustedError: the connection failed for good.
            ClosedError: the client is closing.
        """
        self.ensure_started()
        while True:
            event = self._ready
            await event.wait()
            if self._fatal is not None:
                raise self._fatal
            if self._closing:
                raise ClosedError(f"connection {self.key} is closed")
            if event is self._ready:
                return

    async def _supervise(self) -> None:
        failures = 0
        try:
            while not self._closing:
                self._healthy_at = math.inf
                try:
                    with trio.CancelScope() as self._attempt_scope:
                        await self._run_link()
                except AuthenticationError as exc:
                    self._set_fatal(exc)
                    return
                except (TransportClosed, _LinkFailed, trio.TooSlowError, KrakenError) as exc:
                    failure: BaseException = exc
                else:
                    failure = self._link_failure or ConnectionLostError("link ended")
                self.last_failure = failure
                if self._abort is not None:
                    self._set_fatal(self._abort)
                    return
                if self.closing:
                    return
                if trio.current_time() >= self._healthy_at:
                    # The link stayed up and useful long enough: start the backoff afresh.
                    failures = 0
                failures += 1
                limit = self._cfg.max_reconnects
                if limit is not None and failures > limit:
                    self._set_fatal(
                        ReconnectExhaustedError(
                            f"{self.key}: gave up after {failures - 1} reconnect attempt(s); "
                            f"last error: {_describe(failure)}"
                        )
                    )
                    return
                backoff = self._cfg.reconnect_delay * 2 ** (failures - 1)
                delay = random.uniform(0, min(self._cfg.reconnect_delay_max, backoff))
                self.stats.reconnects += 1
                self._hub.emit(
                    LifecycleEvent(
                        "reconnecting",
                        self.key,
                        f"{_describe(failure)}; retrying in {delay:.2f}s",
                        failure,
                        failures,
                    )
                )
                with trio.CancelScope() as self._attempt_scope:
                    if not self._closing:
                        await trio.sleep(delay)
        finally:
            self._attempt_scope = None
            self._running = False
            self._stopped.set()

    async def _run_link(self) -> None:
        """One connection attempt and, if it comes up, its whole life.

        Sets ``_healthy_at``: when the link counted as healthy (inf if it never came up or
        never delivered data).
        """
        token: str | None = None
        if self.needs_token:
            token = await self._fetch_token()
        ws = await connect_websocket(  # bounded by connect_timeout; says which step stalled
            self.url,
            max_message_size=self._cfg.max_message_size,
            ssl_context=self._cfg.ssl_context,
            connect_timeout=self._cfg.connect_timeout,
        )
        self._ws = ws
        self._link_failure = None
        messages_before = self.stats.messages
        up_since = math.inf
        ws.on_pong = lambda payload: self._pong()
        try:
            async with trio.open_nursery() as nursery:
                self._link_scope = nursery.cancel_scope
                self._link_nursery = nursery
                send, recv = trio.open_memory_channel[bytes](math.inf)
                self._send_ch = send
                self._queued = self._unsent = 0
                ws.send_control = self._send_encoded_control
                nursery.start_soon(self._guard, self._writer, ws, recv)
                nursery.start_soon(self._guard, self._reader, ws)
                if self.key.is_futures and self.key.is_private:
                    await self._authenticate_futures()
                up_since = trio.current_time()
                self.session.link_up(up_since, token)
                self._ready.set()
                nursery.start_soon(self._guard, self._heartbeat)
                nursery.start_soon(self._timer)
                if self._closing:
                    nursery.cancel_scope.cancel()
        finally:
            if self.stats.messages > messages_before:
                self._healthy_at = up_since + HEALTHY_AFTER
            self._send_ch = None
            self._link_scope = None
            self._link_nursery = None
            self._authing = False
            self._ws = None
            if self._ready.is_set() and self._fatal is None:
                self._ready = trio.Event()
            self.session.link_down(trio.current_time(), self._link_failure)
            with trio.CancelScope(shield=True), trio.move_on_after(self._cfg.close_timeout):
                await ws.aclose()
        if self._link_failure is not None:
            raise self._link_failure

    async def _fetch_token(self) -> str:
        # Bounded by rest_timeout (the REST module's); its failures name their cause.
        token = await self._hub.token_source().fetch()
        self.stats.token_fetches += 1
        return token

    async def _reauthenticate(self) -> None:
        """Renew the token (spot) or challenge (futures) on the live link."""
        try:
            if self.needs_token:
                token = await self._fetch_token()
            else:
                await self._authenticate_futures()
                token = ""
        except (KrakenError, TransportClosed) as exc:
            log.warning("[%s] could not renew the credentials: %s", self.key, exc)
            self.session.auth_failed(exc)
            if isinstance(exc, AuthenticationError):
                self._fail_link(exc)
        else:
            self.session.set_token(token, trio.current_time())
            self._timer_wake.set()
        finally:
            self._authing = False

    async def _guard(self, fn: Callable[..., Any], *args: Any) -> None:
        try:
            await fn(*args)
        except (TransportClosed, _LinkFailed) as exc:
            self._fail_link(exc)

    def _fail_link(self, exc: BaseException) -> None:
        if self._link_failure is None:
            self._link_failure = exc
        if self._link_scope is not None:
            self._link_scope.cancel()

    def _set_fatal(self, exc: BaseException) -> None:
        log.error("[%s] connection failed for good: %s", self.key, exc)
        self._fatal = exc
        self.session.fail_for_good(exc)
        self._ready.set()
        self._hub.emit(LifecycleEvent("exception", self.key, str(exc), exc))

    async def aclose(self) -> None:
        """Close: iterators end, waiters fail with ClosedError at once, close frame sent."""
        if self._closing:
            return
        self._closing = True
        self.session.close()
        self._ready.set()
        if self._link_scope is not None:
            self._link_scope.cancel()
        if self._attempt_scope is not None:
            self._attempt_scope.cancel()  # backing off or connecting: nothing to close
        if self._running:
            with trio.CancelScope(shield=True), trio.move_on_after(self._cfg.close_timeout + 1):
                await self._stopped.wait()
        self._hub.emit(LifecycleEvent("close", self.key))

    # ================================================================ I/O tasks

    async def _writer(self, ws: WebSocket, recv: trio.MemoryReceiveChannel[bytes]) -> None:
        async for item in recv:
            parts = [item]
            size = len(item)
            while size < _COALESCE:  # coalesce what else is queued into one write
                try:
                    parts.append(recv.receive_nowait())
                except trio.WouldBlock:
                    break
                size += len(parts[-1])
            data = b"".join(parts)
            await ws.send_raw(data)
            self._queued -= len(parts)
            self._unsent -= len(data)

    def _send_encoded_control(self, data: bytes) -> None:
        self._send_encoded(data)

    async def _reader(self, ws: WebSocket) -> None:
        receive = self.session.dialect.receive
        stats = self.stats
        hub = self._hub
        clock = time.perf_counter
        while True:
            frames = await ws.receive_batch()
            count = len(frames)
            stats.messages += count
            now = trio.current_time()
            started = clock()
            since_yield = 0
            for n, frame in enumerate(frames, 1):
                if type(frame) is str:
                    receive(frame, now)
                else:
                    self._odd_frame(frame)
                since_yield += 1
                if n < count and (
                    since_yield >= READ_SLICE
                    or (
                        not since_yield & 3
                        and hub.awaiting_replies
                        and clock() - started > READ_BUDGET
                    )
                ):
                    # Let consumers drain and other connections read before going on.
                    await trio.lowlevel.cancel_shielded_checkpoint()
                    now = trio.current_time()
                    started = clock()
                    since_yield = 0
            stats.bytes_received = ws.bytes_received
            if self.session.next_deadline() is not None:
                self._timer_wake.set()

    def _odd_frame(self, frame: bytes | str | Oversized) -> None:
        from ._errors import ProtocolError

        if isinstance(frame, Oversized):
            self.session.bad_message(
                ProtocolError(
                    f"message of {frame.size} bytes dropped: larger than max_message_size "
                    f"({self._cfg.max_message_size})"
                )
            )
        else:
            self.session.bad_message(ProtocolError("binary frame where Kraken sends text"))

    async def _heartbeat(self) -> None:
        while True:
            await trio.sleep(self._cfg.ping_interval)
            if self.key.is_futures:
                self._ping_counter += 1
                event = self._pong_event = trio.Event()
                ws = self._ws
                if ws is None:
                    return
                self._send_encoded(ws.encode_ping(str(self._ping_counter).encode()))
                with trio.move_on_after(self._cfg.pong_timeout):
                    await event.wait()
                if not event.is_set():
                    raise _LinkFailed(f"no pong within {self._cfg.pong_timeout}s")
            else:
                entry = self.session.requests.ping(trio.current_time(), encode_spot_request)
                if entry is None:
                    return
                self._timer_wake.set()
                await wait_on(entry.done)  # the session's deadline ends it
                if entry.error is not None:
                    raise _LinkFailed(f"no pong within {self._cfg.pong_timeout}s")

    def _pong(self) -> None:
        if self._pong_event is not None:
            self._pong_event.set()

    async def _timer(self) -> None:
        """Sleep until the session's next deadline, then let it expire what is due."""
        session = self.session
        while True:
            session.tick(trio.current_time())
            deadline = session.next_deadline()
            self._timer_wake = trio.Event()
            with trio.move_on_at(math.inf if deadline is None else deadline):
                await self._timer_wake.wait()

    async def _authenticate_futures(self) -> None:
        creds = self._hub.credentials
        dialect = self.session.dialect
        assert creds is not None
        assert isinstance(dialect, FuturesDialect)
        got = trio.Event()
        answer: list[tuple[str | None, str | None]] = []

        def on_challenge(message: str | None, error: str | None) -> None:
            answer.append((message, error))
            got.set()

        dialect.on_challenge = on_challenge
        dialect.challenge = None
        try:
            self.send(encode_futures(FuturesChallengeRequest(api_key=creds.api_key)))
            with trio.move_on_after(self._cfg.auth_timeout):
                await got.wait()
        finally:
            dialect.on_challenge = None
        if not answer:
            raise _LinkFailed(f"no challenge within {self._cfg.auth_timeout}s")
        message, error = answer[0]
        if error is not None or message is None:
            raise AuthenticationError(error or "no challenge received", "challenge")
        dialect.challenge = (message, sign_futures_challenge(creds.secret, message))
        log.debug("[%s] challenge signed (%s)", self.key, redact(message))

    # ================================================================ statistics

    def statistics(self) -> ConnectionStatistics:
        """Current counters (a copy: it does not change afterwards)."""
        stats = self.session.statistics()
        return replace(stats, extra=dict(stats.extra))

    def live_wires(self) -> list[tuple[str, str | None]]:
        """(channel, symbol) of every wire subscription, for tests and diagnostics."""
        return [(w.channel, w.symbol) for w in self.session.wires.values()]


def _describe(exc: BaseException) -> str:
    """An error for a log line or event: the library's public error names, never internal
    class names."""
    text = str(exc)
    if isinstance(exc, KrakenError):
        return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text or "the link ended"
