"""The Futures v1 half of a session: decode a frame, route it, encode subscribe requests.

Pure. Futures acks carry no request id: they name the feed and the product ids, so each
product's wire is acked on its own, whatever the order of the answers. ``error`` and
``alert`` events name nothing: they are blamed on a subscribe only when exactly one waits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

from .._errors import ProtocolError
from .._events import LifecycleEvent
from . import futures as f
from .channels import FUTURES_PRIVATE_FEEDS
from .codec import FuturesDecoder, encode_futures

if TYPE_CHECKING:
    from .._proto.auth import Credentials
    from .session import Session, Wire

__all__ = ["FuturesDialect"]

log = logging.getLogger("kraken_trio")

# Kraken Futures: 100 requests per second per connection, counted in any one-second window;
# a token bucket of capacity C and rate R sends at most C + R in a second, so 45 + 45.
_BUCKET = (45.0, 45.0)

# Futures data struct -> (subscription feed, carries product_id)
_ROUTES: dict[type[Any], tuple[str, bool]] = {
    f.FuturesBookSnapshot: ("book", True),
    f.FuturesBookDelta: ("book", True),
    f.FuturesTicker: ("ticker", True),
    f.FuturesTickerLite: ("ticker_lite", True),
    f.FuturesTradeSnapshot: ("trade", True),
    f.FuturesTrade: ("trade", True),
    f.FuturesHeartbeat: ("heartbeat", False),
    f.FuturesOpenOrdersSnapshot: ("open_orders", False),
    f.FuturesOpenOrders: ("open_orders", False),
    f.FuturesOpenOrdersVerboseSnapshot: ("open_orders_verbose", False),
    f.FuturesOpenOrdersVerbose: ("open_orders_verbose", False),
    f.FuturesFillsSnapshot: ("fills", False),
    f.FuturesFills: ("fills", False),
    f.FuturesOpenPositions: ("open_positions", False),
    f.FuturesBalancesSnapshot: ("balances", False),
    f.FuturesBalances: ("balances", False),
    f.FuturesAccountLogSnapshot: ("account_log", False),
    f.FuturesAccountLog: ("account_log", False),
    f.FuturesNotifications: ("notifications_auth", False),
}


class FuturesDialect:
    """Routes decoded Futures v1 messages into a :class:`~kraken_trio._proto.session.Session`.

    The challenge handshake's I/O (waiting for it) is the connection's: it sets
    ``on_challenge`` while it waits, and ``challenge`` once it is signed.
    """

    futures = True

    def __init__(self, session: Session) -> None:
        self.session = session
        self.spoke = False  # a message of this protocol was read on this connection
        self.decoder = FuturesDecoder()
        self.credentials: Credentials | None = None
        self.challenge: tuple[str, str] | None = None  # (original, signed)
        self.on_challenge: Callable[[str | None, str | None], None] | None = None
        self.on_pong: Callable[[], None] | None = None

    def route_key(self, channel: str, symbol: str | None, params: dict[str, Any]) -> Hashable:
        """The routing key of one wire subscription."""
        return (channel, symbol)

    def subscribe_frame(self, method: str, group: list[Wire], req_id: int) -> bytes:
        """A subscribe or unsubscribe request for a group of wires of one feed."""
        feed = group[0].channel
        product_ids = [w.symbol for w in group if w.symbol is not None] or None
        request = f.FuturesSubscribeRequest(event=method, feed=feed, product_ids=product_ids)
        creds = self.credentials
        if feed in FUTURES_PRIVATE_FEEDS and self.challenge is not None and creds is not None:
            request.api_key = creds.api_key
            request.original_challenge, request.signed_challenge = self.challenge
        return encode_futures(request)

    def request_cost(self, group: list[Wire]) -> float:
        """One request, whatever it names."""
        return 1.0

    def bucket(self) -> tuple[float, float]:
        """(capacity, refill per second) of requests on this connection."""
        return _BUCKET

    def receive(self, frame: str, now: float) -> None:
        """Decode one text frame and route it."""
        session = self.session
        try:
            msg = self.decoder.decode(frame)
        except ProtocolError as exc:
            if frame.startswith('{"channel"') and not self.spoke:
                # The first word from the server is a Spot v2 message: a wrong endpoint.
                session.host.abort(
                    ProtocolError(
                        f"{session.key} is a Futures v1 connection, but its endpoint speaks "
                        "Kraken Spot v2 (it sent a 'channel' message): check the endpoint URL",
                        frame,
                    )
                )
                return
            session.bad_message(exc)
            return
        self.spoke = True
        route = _ROUTES.get(type(msg))
        if route is not None:
            feed, per_product = route
            session.on_data((feed, msg.product_id if per_product else None), msg, now)
        elif isinstance(msg, f.FuturesSubscribed):
            for key in self._keys(msg.feed, msg.product_ids):
                session.on_subscribed(key)
        elif isinstance(msg, f.FuturesUnsubscribed | f.FuturesUnsubscribedFailed):
            if isinstance(msg, f.FuturesUnsubscribedFailed):
                log.info("[%s] unsubscribe refused: %s", session.key, msg.message)
            for key in self._keys(msg.feed, msg.product_ids):
                session.on_unsubscribed(key, None)
        elif isinstance(msg, f.FuturesSubscribedFailed):
            self._refused(msg)
        elif isinstance(msg, f.FuturesChallenge):
            if self.on_challenge is not None and msg.message:
                self.on_challenge(msg.message, None)
        elif isinstance(msg, f.FuturesError | f.FuturesAlert):
            self._server_error(msg)
        elif isinstance(msg, f.FuturesInfo):
            session.host.emit(LifecycleEvent("status", session.key, f"info version={msg.version}"))
        elif isinstance(msg, f.FuturesPong):
            if self.on_pong is not None:
                self.on_pong()
        else:
            session.unrouted("message", msg)

    def _keys(self, feed: str | None, product_ids: list[str] | None) -> list[Hashable]:
        if feed is None:
            return []
        if not product_ids:
            return [(feed, None)]
        return [(feed, pid.upper()) for pid in product_ids]

    def _refused(self, msg: f.FuturesSubscribedFailed) -> None:
        session = self.session
        text = msg.message or "subscription refused"
        if msg.product_ids or msg.feed in FUTURES_PRIVATE_FEEDS:
            keys = self._keys(msg.feed, msg.product_ids)
        else:
            keys = [w.key for w in session.wires.values() if w.channel == msg.feed]
        if msg.feed in FUTURES_PRIVATE_FEEDS:
            wires = [w for k in keys if (w := session.wires.get(k)) is not None]
            if session.retry_with_fresh_auth(wires):
                self.challenge = None
                return
        session.on_subscribe_refused(keys, None, text)

    def _server_error(self, msg: f.FuturesError | f.FuturesAlert) -> None:
        session = self.session
        text = msg.message or "refused"
        if self.on_challenge is not None:
            self.on_challenge(None, text)  # the challenge request was refused
            return
        waiting = [e for e in session.correlator if e.kind == "subscribe"]
        private = (
            isinstance(msg, f.FuturesAlert)
            and len(waiting) == 1
            and waiting[0].method in FUTURES_PRIVATE_FEEDS
        )
        if private:
            wires = [w for w in waiting[0].wires if w.request is waiting[0]]
            if session.retry_with_fresh_auth(wires):
                self.challenge = None  # a rejected challenge is never reused
                return
        session.on_server_error(text, private=private)
