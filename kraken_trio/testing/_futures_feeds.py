"""Subscriptions and publishing of the fake futures server: requests in, feed messages out.

:class:`FeedHub` holds the open connections and their subscriptions, answers every client
request (``ping``, ``challenge``, ``subscribe``, ``unsubscribe``) and fans the market's and the
account's messages out to the subscribers. It queues text on each connection's bounded outbound
channel and never awaits, so it is driven synchronously by the server's reader task and by the
market and account.

Kraken's behaviours it reproduces (choices where the documentation is silent are marked):

* ``product_ids`` are case-insensitive and acked in upper case (a live capture acks
  ``pi_bchusd`` as ``PI_BCHUSD``).
* ``seq`` of ``balances``, ``open_positions`` and ``account_balances_and_margins`` counts per
  subscription: the snapshot is 0, each delta to that subscriber one more.
* The legacy private feed ``account_balances_and_margins`` is served in the shape of the legacy
  Crypto Facilities / Kraken Futures v1 documentation (``margin_accounts`` entries with ``name``,
  ``pv``, ``balance``, ``funding``, ``mm``, ``pnl``, ``im``, ``am``). Kraken's current feed
  documentation no longer lists it (``balances`` replaced it), yet Kraken's own kraken-cli and its
  official sample clients still subscribe to it; the fake serves the legacy shape so those
  clients see data rather than an error they never saw from Kraken. ``deposits_withdrawals`` is
  not served (``Invalid feed``).
* (Choice) ``{"event":"ping"}`` is answered with ``{"event":"pong"}``.
* (Choice) A ``challenge`` is issued whatever the key; a wrong key or signature makes the next
  private (un)subscribe fail with ``Failed to subscribe to authenticated feed``. Re-subscribing a
  private feed alerts ``Already subscribed to feed, re-requesting`` and sends a fresh snapshot.
* (Choice) Malformed requests get ``Json Error``; unknown feeds ``Invalid feed``; unknown
  products ``Invalid product id`` (other products of the request are still acked).
"""

from __future__ import annotations

import hmac
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

import trio

from .._proto.auth import sign_futures_challenge
from ._faults import Received
from ._futures_account import FuturesAccount
from ._futures_common import encode, now_ms
from ._futures_market import ProductMarket
from ._limits import FUTURES_RATE_ALERT, Limits

__all__ = ["PRIVATE_FEEDS", "PUBLIC_FEEDS", "Connection", "FeedHub"]

PUBLIC_FEEDS: Final = frozenset({"book", "ticker", "ticker_lite", "trade", "heartbeat"})
PRIVATE_FEEDS: Final = frozenset(
    {
        "open_orders",
        "open_orders_verbose",
        "fills",
        "open_positions",
        "balances",
        "account_balances_and_margins",
        "account_log",
        "notifications_auth",
    }
)
SEQUENCED_FEEDS: Final = frozenset({"balances", "open_positions", "account_balances_and_margins"})
_AUTH_ALERT: Final = "Failed to subscribe to authenticated feed"
_ALREADY_ALERT: Final = "Already subscribed to feed, re-requesting"

Key = tuple[str, str | None]


@dataclass(eq=False)
class Connection:
    """One client connection as the hub sees it.

    Attributes:
        id: Server-side id.
        send_channel: The bounded outbound queue (``(queued_at, payload)``).
        nursery: Where per-connection tasks (heartbeat) run.
        scope: Cancelled to close the connection.
        subs: ``(feed, product_id or None)`` subscriptions.
        seqs: The next ``seq`` per sequenced private feed of this connection.
    """

    id: int
    send_channel: trio.MemorySendChannel[tuple[float, str | bytes]]
    nursery: trio.Nursery
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)
    subs: set[Key] = field(default_factory=set)
    seqs: dict[str, int] = field(default_factory=dict)
    challenges: dict[str, bool] = field(default_factory=dict)
    heartbeat: trio.CancelScope | None = None
    close_code: int = 1001
    close_reason: str = "server shutting down"
    reset: bool = False
    done: trio.Event = field(default_factory=trio.Event)

    def send(self, payload: str | bytes) -> None:
        """Queue ``payload``; a full queue closes the connection (1008, slow consumer)."""
        try:
            self.send_channel.send_nowait((trio.current_time(), payload))
        except trio.WouldBlock:
            self.abort(1008, "slow consumer")
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            pass  # closing; nothing more goes out

    def abort(self, code: int, reason: str, *, reset: bool = False) -> None:
        """Close with ``code``/``reason`` (or a TCP reset)."""
        self.close_code, self.close_reason, self.reset = code, reason, reset
        self.scope.cancel()


class FeedHub:
    """The subscriptions of every connection, and the fan-out of feed messages.

    Args:
        markets: The listed products' markets.
        account: The private account.
        api_key: The key private subscribes must carry.
        api_secret: The base64 secret challenges are signed with.
        heartbeat_interval: Seconds between ``heartbeat`` feed messages.
        pongs_stalled: True while ``{"event":"ping"}`` must go unanswered (a fault).
        take_auth_reject: Consumes one pending "reject the next auth" fault.
    """

    def __init__(
        self,
        markets: Mapping[str, ProductMarket],
        account: FuturesAccount,
        *,
        api_key: str,
        api_secret: str,
        heartbeat_interval: float,
        pongs_stalled: Callable[[], bool],
        take_auth_reject: Callable[[], bool],
    ) -> None:
        self._markets = markets
        self._account = account
        self._api_key = api_key
        self._api_secret = api_secret
        self._heartbeat_interval = heartbeat_interval
        self._pongs_stalled = pongs_stalled
        self._take_auth_reject = take_auth_reject
        self.conns: dict[int, Connection] = {}
        self.received: list[Received] = []
        self.limits = Limits()  # replaced by the exchange's shared one in open_fake_kraken

    def __repr__(self) -> str:
        return f"FeedHub({len(self.conns)} connections)"

    # -- requests ------------------------------------------------------------------------

    def on_message(self, conn: Connection, raw: str | bytes) -> None:
        """Handle one client frame."""
        try:
            message = json.loads(raw, parse_float=Decimal)
        except ValueError:  # includes UnicodeDecodeError for binary frames
            self.received.append(Received(conn.id, raw, trio.current_time()))
            self._error(conn, "Json Error")
            return
        self.received.append(Received(conn.id, message, trio.current_time()))
        if not isinstance(message, dict) or not isinstance(message.get("event"), str):
            self._error(conn, "Json Error")
            return
        event = message["event"]
        if event != "ping" and not self.limits.futures_request(conn.id, trio.current_time()):
            self._alert(conn, FUTURES_RATE_ALERT)
            return
        if event == "ping":
            if not self._pongs_stalled():
                conn.send(encode({"event": "pong"}))
        elif event == "challenge":
            self._challenge(conn, message)
        elif event in ("subscribe", "unsubscribe"):
            self._subscription(conn, event, message)
        else:
            self._error(conn, "Json Error")

    @staticmethod
    def _error(conn: Connection, text: str) -> None:
        conn.send(encode({"event": "error", "message": text}))

    @staticmethod
    def _alert(conn: Connection, text: str) -> None:
        conn.send(encode({"event": "alert", "message": text}))

    def _challenge(self, conn: Connection, message: dict[str, Any]) -> None:
        api_key = message.get("api_key")
        if not isinstance(api_key, str):
            self._error(conn, "Json Error")
            return
        challenge = str(uuid.uuid4())
        valid = hmac.compare_digest(api_key.encode(), self._api_key.encode())
        if self._take_auth_reject():
            valid = False
        conn.challenges[challenge] = valid
        conn.send(encode({"event": "challenge", "message": challenge}))

    def _authenticated(self, conn: Connection, message: dict[str, Any]) -> bool:
        api_key = message.get("api_key")
        original = message.get("original_challenge")
        signed = message.get("signed_challenge")
        if not (isinstance(api_key, str) and isinstance(original, str) and isinstance(signed, str)):
            return False
        if not conn.challenges.get(original, False):
            return False
        if not hmac.compare_digest(api_key.encode(), self._api_key.encode()):
            return False
        expected = sign_futures_challenge(self._api_secret, original)
        return hmac.compare_digest(signed.encode(), expected.encode())

    @staticmethod
    def _product_ids(message: dict[str, Any]) -> list[str] | None:
        ids = message.get("product_ids")
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
            return None
        return [i.upper() for i in ids]

    def _subscription(self, conn: Connection, event: str, message: dict[str, Any]) -> None:
        feed = message.get("feed")
        if not isinstance(feed, str):
            self._error(conn, "Json Error")
            return
        if feed in PRIVATE_FEEDS:
            self._private_subscription(conn, event, feed, message)
            return
        if feed not in PUBLIC_FEEDS:
            self._error(conn, "Invalid feed")
            return
        if feed == "heartbeat":
            self._heartbeat_subscription(conn, event)
            return
        product_ids = self._product_ids(message)
        if product_ids is None:
            self._error(conn, "Json Error")
            return
        done = event + "d"
        for product_id in product_ids:
            if product_id not in self._markets:
                self._error(conn, "Invalid product id")
                continue
            key = (feed, product_id)
            ack = {"event": done, "feed": feed, "product_ids": [product_id]}
            if event == "subscribe":
                conn.subs.add(key)
                conn.send(encode(ack))
                conn.send(encode(self._public_snapshot(feed, product_id)))
            elif key in conn.subs:
                conn.subs.discard(key)
                conn.send(encode(ack))
            else:
                conn.send(encode(ack | {"event": "unsubscribed_failed"}))

    def _heartbeat_subscription(self, conn: Connection, event: str) -> None:
        key: Key = ("heartbeat", None)
        if event == "subscribe":
            if key not in conn.subs:
                conn.subs.add(key)
                conn.heartbeat = trio.CancelScope()
                conn.nursery.start_soon(self._heartbeat, conn, conn.heartbeat)
            conn.send(encode({"event": "subscribed", "feed": "heartbeat"}))
        elif key in conn.subs:
            conn.subs.discard(key)
            if conn.heartbeat is not None:
                conn.heartbeat.cancel()
            conn.send(encode({"event": "unsubscribed", "feed": "heartbeat"}))
        else:
            conn.send(encode({"event": "unsubscribed_failed", "feed": "heartbeat"}))

    def _private_subscription(
        self, conn: Connection, event: str, feed: str, message: dict[str, Any]
    ) -> None:
        if not self._authenticated(conn, message):
            self._alert(conn, _AUTH_ALERT)
            return
        keys: list[Key] = [(feed, None)]
        filtered = feed == "fills" and "product_ids" in message
        if filtered:
            product_ids = self._product_ids(message)
            if product_ids is None:
                self._error(conn, "Json Error")
                return
            keys = []
            for product_id in product_ids:
                if product_id in self._markets:
                    keys.append((feed, product_id))
                else:
                    self._error(conn, "Invalid product id")
            if not keys:
                return
        done = event + "d"
        for key in keys:
            ack: dict[str, Any] = {"event": done, "feed": feed}
            if filtered:
                ack["product_ids"] = [key[1]]
            if event == "subscribe":
                if key in conn.subs:
                    self._alert(conn, _ALREADY_ALERT)
                conn.subs.add(key)
            elif key in conn.subs:
                conn.subs.discard(key)
            else:
                ack["event"] = "unsubscribed_failed"
            conn.send(encode(ack))
        if event == "subscribe":
            products = [k[1] for k in keys if k[1] is not None]
            snapshot = self._account.snapshot(feed, products or None)
            if feed in SEQUENCED_FEEDS:
                conn.seqs[feed] = 0
                snapshot = {**snapshot, "seq": 0}
            conn.send(encode(snapshot))

    async def _heartbeat(self, conn: Connection, scope: trio.CancelScope) -> None:
        with scope:
            while True:
                await trio.sleep(self._heartbeat_interval)
                conn.send(encode({"feed": "heartbeat", "time": now_ms()}))

    def _public_snapshot(self, feed: str, product_id: str) -> dict[str, Any]:
        market = self._markets[product_id]
        if feed == "book":
            return market.book_snapshot()
        if feed == "ticker":
            return market.ticker()
        if feed == "ticker_lite":
            return market.ticker_lite()
        return market.trade_snapshot()

    # -- publishing ----------------------------------------------------------------------

    def publish(self, feed: str, product_id: str | None, message: Mapping[str, Any]) -> None:
        """Send ``message`` to every subscriber of ``feed`` (and of ``product_id``, if given).

        Messages of :data:`SEQUENCED_FEEDS` get the subscriber's own next ``seq``.
        """
        text: str | None = None
        for conn in list(self.conns.values()):
            if (feed, None) not in conn.subs and (
                product_id is None or (feed, product_id) not in conn.subs
            ):
                continue
            if feed in SEQUENCED_FEEDS:
                conn.seqs[feed] = conn.seqs.get(feed, 0) + 1
                conn.send(encode({**message, "seq": conn.seqs[feed]}))
                continue
            if text is None:
                text = encode(message)
            conn.send(text)
