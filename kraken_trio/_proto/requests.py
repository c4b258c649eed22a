"""Trading requests and pings of a session: sent, correlated through the session's one
correlator, and held for one resend when Kraken refuses the WebSocket token (a request
refused for its token was not executed). Pure: no trio, no clock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from .._errors import ConnectionLostError
from .channels import is_token_error
from .correlator import Pending

if TYPE_CHECKING:
    from .._config import Config, WsKey
    from .correlator import Correlator
    from .wires import Host


class SessionView(Protocol):
    """What the request side needs of its session (:class:`Session` has it)."""

    key: WsKey
    config: Config
    host: Host
    correlator: Correlator
    token: str | None
    up: bool
    closed: bool

    def unrouted(self, what: str, msg: Any) -> None: ...


__all__ = ["Requests"]

log = logging.getLogger("kraken_trio")


class Requests:
    """The request side of one :class:`~kraken_trio._proto.session.Session`."""

    def __init__(self, session: SessionView) -> None:
        self.session = session
        self.held: list[Pending] = []  # refused for their token: resent once with a fresh one

    def on_reply(self, req_id: int | None, reply: Any, failed_text: str | None) -> None:
        """A reply to a request or ping (``failed_text``: its error, when it failed)."""
        entry = self.session.correlator.get(req_id)
        if entry is None:
            self.session.unrouted("reply", reply)
            return
        if (
            failed_text is not None
            and entry.kind == "request"
            and is_token_error(failed_text)
            and not entry.retried
            and self.session.key.is_private
        ):
            # Refused for its token: it was not executed. Fetch a fresh token, send it again.
            self.session.correlator.discard(entry)
            entry.retried = True
            self.held.append(entry)
            if self.session.token is not None:
                self.session.token = None
                self.session.host.need_auth()
            return
        self.session.correlator.resolve(req_id, reply)

    def request(
        self,
        method: str,
        params: Any,
        encode: Callable[[str, Any, int], bytes],
        now: float,
        *,
        expected: int = 1,
        open_ended: bool = False,
        cl_ord_id: str | None = None,
        order_userref: int | None = None,
    ) -> tuple[Pending, Pending | None] | None:
        """Send a request (and, open-ended, a barrier ping behind it); None if no link.

        The entry is registered after its frame is out (nothing is awaited in between, so
        its reply cannot have been read yet).
        """
        if not self.session.up or self.session.closed:
            return None
        if hasattr(params, "token"):
            params.token = self.session.token
        req_id = self.session.correlator.reserve()
        if not self.session.host.send(encode(method, params, req_id)):
            return None
        minimum = expected
        if open_ended:
            expected = 2**31
        entry = Pending(
            "request",
            method,
            req_id,
            now + self.session.config.request_timeout,
            self.session.host.waker(),
            expected=expected,
            minimum=minimum,
            enough=self.session.host.waker() if open_ended else None,
            cl_ord_id=cl_ord_id,
            order_userref=order_userref,
        )
        entry.sent = True
        entry.payload = (params, encode)
        self.session.correlator.add(entry)
        barrier: Pending | None = None
        if open_ended:
            barrier = self.ping(now, encode, deadline=entry.deadline)
            if barrier is None:  # the link died between two synchronous sends
                self.session.correlator.discard(entry)
                entry.finish(self.lost_error(entry))
        return entry, barrier

    def ping(
        self,
        now: float,
        encode: Callable[[str, Any, int], bytes],
        *,
        deadline: float | None = None,
    ) -> Pending | None:
        """Send an application ping; its pong resolves the returned entry (which fails at
        ``deadline``, by default after the pong timeout)."""
        req_id = self.session.correlator.reserve()
        if not self.session.host.send(encode("ping", None, req_id)):
            return None
        if deadline is None:
            deadline = now + self.session.config.pong_timeout
        entry = Pending("ping", "ping", req_id, deadline, self.session.host.waker())
        entry.sent = True
        return self.session.correlator.add(entry)

    def fail_held(self, make_error: Callable[[Pending], BaseException]) -> None:
        held, self.held = self.held, []
        for entry in held:
            entry.finish(make_error(entry))

    def lost_error(self, entry: Pending) -> ConnectionLostError:
        """The error of a request in flight when the link dropped (its ids as attributes)."""
        return ConnectionLostError(
            f"{self.session.key}: connection lost while {entry.method} was in flight; it may "
            "or may not have reached the exchange and is not resent",
            method=entry.method,
            req_id=entry.req_id,
            cl_ord_id=entry.cl_ord_id,
            order_userref=entry.order_userref,
            sent=entry.sent,
        )

    def resend_held(self, now: float) -> None:
        """Send the requests refused for their token again, with the session's fresh one."""
        token = self.session.token
        held, self.held = self.held, []
        for entry in held:
            if entry.done.is_set():
                continue
            params, encode = entry.payload
            if hasattr(params, "token"):
                params.token = token
            if not self.session.up or not self.session.host.send(
                encode(entry.method, params, entry.req_id)
            ):
                entry.finish(self.lost_error(entry))
                continue
            log.info(
                "[%s] %s (req_id=%d) sent again with a fresh token",
                self.session.key,
                entry.method,
                entry.req_id,
            )
            self.session.correlator.add(entry)
