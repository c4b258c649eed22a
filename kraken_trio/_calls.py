"""The caller side of a connection: what a subscriber and a trading call await.

A subscription attaches its inbox (the session registers it on the wire subscriptions and
subscribes where needed) and waits for the acks; a trading request is sent by the session and
its caller waits for the reply. Both wait on events the session sets, bounded by deadlines the
session keeps; the waiting itself is the only I/O here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import msgspec
import trio

from ._config import Config, WsKey
from ._errors import (
    AuthenticationError,
    ConnectionLostError,
    KrakenAPIError,
    RequestTimeoutError,
)
from ._proto import spot as s
from ._proto.channels import is_auth_error
from ._proto.correlator import Pending, Waker
from ._proto.hints import refusal_hint
from ._proto.spot_session import encode_spot_request
from ._subscription import Inbox

if TYPE_CHECKING:
    from ._events import LifecycleEvent
    from ._proto.auth import Credentials
    from ._proto.session import Session
    from ._rest import TokenSource

__all__ = ["CallerSide", "Hub", "wait_on"]


class Hub(Protocol):
    """What a connection needs from its client."""

    config: Config
    credentials: Credentials | None
    awaiting_replies: int  # requests in flight on any connection: readers then yield sooner

    def emit(self, event: LifecycleEvent) -> None: ...

    def token_source(self) -> TokenSource: ...

    def start_soon(self, fn: Callable[[], Any], name: str) -> None: ...


class CallerSide:
    """Subscribing and requesting over a connection (mixed into ``Connection``)."""

    key: WsKey
    session: Session
    _cfg: Config
    _hub: Hub
    _ready: trio.Event
    _fatal: BaseException | None
    _closing: bool
    _timer_wake: trio.Event
    last_failure: BaseException | None

    def ensure_started(self) -> None:  # pragma: no cover - the connection's
        """Start the connection's task (the connection provides it)."""
        raise NotImplementedError

    def link_bound(self) -> float:  # pragma: no cover - the connection's
        """How long one connection attempt may take (the connection provides it)."""
        raise NotImplementedError

    async def wait_ready(self) -> None:  # pragma: no cover - the connection's
        """Wait for the link (the connection provides it)."""
        raise NotImplementedError

    async def attach(
        self, inbox: Inbox, channel: str, symbols: Sequence[str | None], params: dict[str, Any]
    ) -> list[Any]:
        """Register ``inbox`` on its wire subscriptions (subscribing where new), await acks.

        The ack deadline runs from when the subscribe is sent (the session's); waiting for
        the link is bounded separately by the connect and auth deadlines.
        """
        self.ensure_started()
        if self._fatal is not None:
            raise self._fatal
        wires = self.session.attach(inbox, channel, symbols, params, trio.current_time())
        self._timer_wake.set()
        try:
            bound = trio.current_time() + self.link_bound() + self._cfg.request_timeout
            with trio.move_on_at(bound):
                for wire in wires:
                    await wait_on(wire.acked)
            errors = [w.error for w in wires if w.error is not None]
            if errors:
                raise errors[0]
            if self._fatal is not None:
                raise self._fatal
            if any(w.state != "active" for w in wires):
                error = RequestTimeoutError(
                    "subscribe", None, sent=any(w.state == "pending" for w in wires)
                )
                if not self.session.up and self.last_failure is not None:
                    raise error from self.last_failure  # the link never came up: say why
                raise error
        except BaseException:
            self.session.detach(inbox, wires, trio.current_time())
            raise
        return wires

    def detach_nowait(self, inbox: Inbox, handles: list[Any]) -> None:
        """Unregister ``inbox``; unsubscribe on the wire where it was the last user."""
        if not self._closing:
            self.session.detach(inbox, handles, trio.current_time())
            self._timer_wake.set()

    # ================================================================ requests

    async def request(
        self,
        method: str,
        params: s._Out,
        *,
        expected: int = 1,
        open_ended: bool = False,
        cl_ord_id: str | None = None,
        order_userref: int | None = None,
        wait_for_link: bool = True,
    ) -> list[Any]:
        """Send a trading request and wait for its reply (or ``expected`` replies).

        With ``open_ended`` the number of replies is not known in advance (cancel_order by
        ``order_userref`` gets one reply per matching order): a ping sent right behind the
        request marks the end, since the server answers a connection's requests in order.

        Bounded by the configured request deadline (the session's); the caller may narrow
        it with a cancel scope. Cancellation before the frame is sent means nothing was
        sent; after it, the order may be live.

        Raises:
            KrakenAPIError: Kraken answered ``success: false`` (its text, method, req_id).
            RequestTimeoutError: no reply within the deadline.
            ConnectionLostError: the link dropped while the request was in flight, or is down
                and ``wait_for_link`` is False.
            AuthenticationError: the connection could not authenticate.
        """
        deadline = trio.current_time() + self._cfg.request_timeout
        sent: tuple[Pending, Pending | None] | None = None
        while sent is None:
            if not self._ready.is_set() or self._fatal is not None or self._closing:
                if not wait_for_link and self._fatal is None and not self._closing:
                    raise ConnectionLostError(
                        f"{self.key} is not connected; {method} was not sent",
                        method=method,
                        cl_ord_id=cl_ord_id,
                        order_userref=order_userref,
                    )
                with trio.move_on_at(deadline) as waiting:
                    await self.wait_ready()
                if waiting.cancelled_caught:
                    raise RequestTimeoutError(
                        method, None, cl_ord_id, sent=False
                    ) from self.last_failure
            sent = self.session.requests.request(
                method,
                params,
                encode_spot_request,
                trio.current_time(),
                expected=expected,
                open_ended=open_ended,
                cl_ord_id=cl_ord_id,
                order_userref=order_userref,
            )
            if sent is None:
                await trio.lowlevel.checkpoint()
        self._timer_wake.set()
        call, barrier = sent
        session = self.session
        hub = self._hub
        hub.awaiting_replies += 1
        try:
            if barrier is not None:
                await wait_on(barrier.done)  # every reply to the request precedes the pong
                if barrier.error is not None and not call.done.is_set():
                    session.correlator.discard(call)
                    call.finish(barrier.error)
                elif not call.done.is_set():
                    session.correlator.discard(call)
                    call.finish()
            await wait_on(call.enough)
        finally:
            hub.awaiting_replies -= 1
            if not call.done.is_set():
                session.correlator.discard(call)
            if barrier is not None and not barrier.done.is_set():
                session.correlator.discard(barrier)
        return _replies_or_raise(call, self.key)


async def wait_on(waker: Waker) -> None:
    """Wait for one of the session's wakers (this connection's trio events)."""
    assert isinstance(waker, trio.Event)  # the session's wakers are this connection's events
    await waker.wait()


def _replies_or_raise(call: Pending, key: WsKey) -> list[Any]:

    if call.error is not None:
        raise call.error
    replies = call.replies
    if len(replies) == 1 and replies[0].success:
        return replies
    failed = [r for r in replies if not r.success]
    if failed:
        text = "; ".join(dict.fromkeys(r.error or "unknown error" for r in failed))
        params = call.payload[0] if call.payload is not None else None
        fields = msgspec.structs.asdict(params) if isinstance(params, msgspec.Struct) else {}
        hint = refusal_hint(text, call.method, fields, str(key))
        cls = AuthenticationError if is_auth_error(text) else KrakenAPIError
        raise cls(text, call.method, call.req_id, hint)
    return replies
