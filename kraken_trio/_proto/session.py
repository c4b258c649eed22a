"""The Kraken session of one connection, as a pure state machine (h11's ``Connection`` is the
model): decoded messages and ``now`` go in; deliveries to subscribers, frames to send,
lifecycle events and expired deadlines come out. It never imports trio and never reads a
clock, so every decision here is tested with plain synchronous calls.

What it owns:

* the wire subscriptions (channel + symbol + parameters) shared by their subscribers, with
  their acks, their kept live state (books, instrument, balances, executions) and the
  resync decisions (with backoff) of each;
* ONE correlator for everything that waits for an answer: trading requests, pings, and
  subscribe/unsubscribe acks alike; each entry carries its deadline;
* the pacing of subscribe/unsubscribe requests under Kraken's documented rates.

What it does not do: sockets, sleeping, tasks. The connection task (``_connection.py``)
moves bytes, sleeps until :meth:`Session.next_deadline` and calls :meth:`Session.tick`.
The protocol-specific parts (encoding requests, reading acks) are the dialects in
``spot_session.py`` and ``futures_session.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable, Iterable
from typing import Any, Literal

from .._config import Config, WsKey
from .._errors import (
    AuthenticationError,
    ClosedError,
    InvalidRequestError,
    KrakenAPIError,
    RequestTimeoutError,
    SubscriptionError,
)
from .._events import ConnectionStatistics, Gap, LifecycleEvent
from .channels import is_auth_error as _auth_refused
from .channels import is_token_error as _token_refused
from .correlator import Correlator, Pending
from .hints import refusal_hint
from .livestate import LiveState, SpotBookState
from .pacing import Pacer
from .requests import Requests
from .wires import BookChange, Dialect, Host, NoWaker, Receiver, Wire, params_key

__all__ = ["BookChange", "Dialect", "Host", "Receiver", "Session", "Wire"]

log = logging.getLogger("kraken_trio")

# Resync backoff: the first resync of a wire goes at once, later ones back off
# (RESYNC_DELAY * 2**n, capped). A wire is trusted again after HEALTHY_UPDATES verified
# updates in a row; after UNTRUSTED_AFTER failed resyncs in a row its users are told.
RESYNC_DELAY = 0.5
RESYNC_DELAY_MAX = 30.0
HEALTHY_UPDATES = 50
UNTRUSTED_AFTER = 5


class Session:
    """The Kraken session of one connection (see the module docstring)."""

    def __init__(
        self,
        key: WsKey,
        config: Config,
        host: Host,
        dialect_factory: Callable[[Session], Dialect],
        live_state: Callable[[str, str | None, dict[str, Any]], LiveState | None],
    ) -> None:
        self.key = key
        self.config = config
        self.host = host
        self.stats = ConnectionStatistics(ws_key=key)
        self.correlator = Correlator()
        self.wires: dict[Hashable, Wire] = {}
        self.up = False
        self.closed = False
        self.token: str | None = None
        self.links = 0
        self._live_state = live_state
        self.last_server_error: str | None = None
        self._delayed_resyncs: set[Wire] = set()  # wires whose resync waits (resync_at)
        self.dialect = dialect_factory(self)
        self.requests = Requests(self)
        self.pacer = Pacer(*self.dialect.bucket(), self.dialect.request_cost)

    def __repr__(self) -> str:
        return f"<Session {self.key} up={self.up} wires={len(self.wires)}>"

    # ================================================================ link lifecycle

    def link_up(self, now: float, token: str | None = None) -> None:
        """The link is connected (and authenticated): resubscribe every wire."""
        self.up = True
        self.token = token
        self.links += 1
        self.stats.connected = True
        self.pacer.reset(now)
        if self.links > 1:
            self.host.emit(LifecycleEvent("reconnected", self.key, "resubscribing"))
            for wire in self.wires.values():
                self._tell(wire, Gap(reason="reconnect", ws_key=self.key, symbol=wire.symbol))
        else:
            self.host.emit(LifecycleEvent("open", self.key))
        if self.key.is_private:
            self.host.emit(LifecycleEvent("authenticated", self.key))
        self._queue("subscribe", [w for w in self.wires.values() if w.state == "idle"])
        self._pump(now)

    def link_down(self, now: float, cause: BaseException | None = None) -> None:
        """The link is gone: requests in flight fail, wires wait to be resubscribed."""
        self.up = False
        self.token = None
        self.stats.connected = False
        self.pacer.reset(now)
        lost = self.correlator.fail_all(self.requests.lost_error)
        requests = sum(1 for e in lost if e.kind == "request")
        if requests:
            log.warning("[%s] connection lost with %d request(s) in flight", self.key, requests)
        self.requests.fail_held(lambda e: self.requests.lost_error(e))
        self._delayed_resyncs.clear()
        for key, wire in list(self.wires.items()):
            wire.request = None
            wire.resync_at = None
            if wire.state == "unsubscribing" or not wire.users:
                del self.wires[key]
                wire.acked.set()
                continue
            if wire.live is not None:
                wire.live.reset()
            if wire.state == "active":
                wire.acked = self.host.waker()
            wire.state = "idle"

    def close(self) -> None:
        """The client closes: every subscriber ends, every waiter fails with ClosedError."""
        self.closed = True
        self.correlator.fail_all(
            lambda e: ClosedError(f"the client closed while {e.method} waited for its reply")
        )
        self.requests.fail_held(lambda e: ClosedError(f"the client closed while {e.method} waited"))
        for wire in self.wires.values():
            wire.error = wire.error or ClosedError(f"the client closed ({wire.channel})")
            wire.acked.set()
            for user in list(wire.users):
                user.fail(None)
        self.wires.clear()

    def fail_for_good(self, error: BaseException) -> None:
        """The connection gave up (authentication, reconnect limit): tell everyone."""
        for wire in self.wires.values():
            wire.error = error
            wire.acked.set()
            for user in list(wire.users):
                user.fail(error)
        self.wires.clear()
        self.correlator.fail_all(lambda e: error)
        self.requests.fail_held(lambda e: error)

    # ================================================================ time

    def next_deadline(self) -> float | None:
        """When :meth:`tick` has something to do next (None: nothing is waiting)."""
        times = [t for t in (self.correlator.next_deadline(),) if t is not None]
        delayed = self._delayed_resyncs
        if delayed:
            times.extend(w.resync_at for w in delayed if w.resync_at is not None)
        paced = self.pacer.next_time() if self.up else None
        if paced is not None:
            times.append(paced)
        return min(times) if times else None

    def tick(self, now: float) -> None:
        """Expire what is due at ``now``; send paced requests and delayed resyncs."""
        for entry in self.correlator.expired(now):
            self._expire(entry, now)
        if self.up and self._delayed_resyncs:
            for wire in list(self._delayed_resyncs):
                if wire.resync_at is None or self.wires.get(wire.key) is not wire:
                    self._delayed_resyncs.discard(wire)
                elif wire.resync_at <= now:
                    wire.resync_at = None
                    self._delayed_resyncs.discard(wire)
                    self._resubscribe(wire)
        self._pump(now)

    def _expire(self, entry: Pending, now: float) -> None:
        if entry.kind == "subscribe":
            cause = f"; the server said: {self.last_server_error}" if self.last_server_error else ""
            for wire in entry.wires:
                if wire.request is not entry or wire.state != "pending":
                    continue
                wire.request = None
                if wire.ever_active and wire.users:
                    # A resubscription that went unanswered: try again later, keep the users.
                    log.warning(
                        "[%s] no ack for %s %s: retrying", self.key, wire.channel, wire.symbol
                    )
                    self._schedule_resync(wire, now)
                else:
                    self._refuse(
                        wire, RequestTimeoutError("subscribe", entry.req_id, sent=True), cause
                    )
            entry.finish()
        elif entry.kind == "unsubscribe":
            leaving: list[Wire] = entry.wires
            for gone in leaving:
                if gone.state == "unsubscribing" and self.wires.get(gone.key) is gone:
                    del self.wires[gone.key]
                    gone.acked.set()
            entry.finish()
        else:
            entry.finish(
                RequestTimeoutError(entry.method, entry.req_id, entry.cl_ord_id, sent=entry.sent)
            )

    # ================================================================ subscriptions

    def attach(
        self,
        user: Receiver,
        channel: str,
        symbols: Iterable[str | None],
        params: dict[str, Any],
        now: float,
    ) -> list[Wire]:
        """Register ``user`` on the wires of (channel, symbols); subscribe the new ones.

        A user joining a live stateful wire gets a snapshot built from the kept state at
        once (nothing is sent, nobody else is disturbed).

        Raises:
            InvalidRequestError: a symbol is live with other parameters.
            ClosedError: the session is closed.
        """
        if self.closed:
            raise ClosedError(f"connection {self.key} is closed")
        mine: list[Wire] = []
        fresh: list[Wire] = []
        for symbol in symbols:
            key = self.dialect.route_key(channel, symbol, params)
            wire = self.wires.get(key)
            if (
                wire is not None
                and wire.state == "unsubscribing"
                and wire.request is None
                and wire.error is None
            ):
                # Its unsubscribe is still queued (paced), not sent: the server still has the
                # subscription, so keep it instead of subscribing again ("Already subscribed").
                wire.state = "active"
            if wire is not None and (wire.state == "unsubscribing" or wire.error is not None):
                # Leaving, or refused: a new wire replaces it (late acks are told apart).
                del self.wires[key]
                wire.acked.set()
                wire = None
            if wire is None:
                live = self._live_state(channel, symbol, params)
                wire = Wire(key, channel, symbol, params, self.host.waker(), live)
                self.wires[key] = wire
                fresh.append(wire)
            elif params_key(wire.params) != params_key(params):
                for w in mine:
                    self._leave(user, w, now)
                raise InvalidRequestError(
                    f"{channel} {symbol or ''} is already subscribed on {self.key} with "
                    f"{wire.params}; Kraken allows one set of options per channel and symbol "
                    f"on a connection, and this asks for {params}"
                )
            wire.users.append(user)
            mine.append(wire)
            self._prepare_reader(user, wire)
            if wire not in fresh:
                self._join(user, wire, now)
        if fresh and self.up:
            self._queue("subscribe", fresh)
            self._pump(now)
        return mine

    def _join(self, user: Receiver, wire: Wire, now: float) -> None:
        live = wire.live
        if live is None or wire.state != "active":
            return
        if not live.synced:
            return  # the snapshot of the resync in progress will come to everyone
        snapshot = live.snapshot()
        if snapshot is None:
            # The kept book does not match Kraken's last checksum (seen only now that a
            # reader verifies it): it needs a fresh snapshot, for everyone's sake.
            self.resync(wire, "kept book does not match the last checksum", now)
            return
        if user.wants_changes:
            user.deliver(BookChange("snapshot", wire.symbol or ""))
        else:
            user.deliver(snapshot)

    def _prepare_reader(self, user: Receiver, wire: Wire) -> None:
        """A book reader joins: verify every message from now on, with its precisions."""
        live = wire.live
        if not user.wants_changes or not isinstance(live, SpotBookState):
            return
        precisions: dict[str, tuple[int | None, int | None]] = getattr(user, "precisions", {})
        price, qty = precisions.get(wire.symbol or "", (None, None))
        if price is not None or qty is not None:
            live.set_precision(price, qty)
        live.verify_each = True

    def detach(self, user: Receiver, wires: Iterable[Wire], now: float) -> None:
        """Unregister ``user``; unsubscribe the wires it was the last user of."""
        for wire in wires:
            self._leave(user, wire, now)
        self._pump(now)

    def _leave(self, user: Receiver, wire: Wire, now: float) -> None:
        if user in wire.users:
            wire.users.remove(user)
        if wire.users or self.wires.get(wire.key) is not wire:
            return
        if self.up and wire.state in ("pending", "active") and wire.error is None:
            # A pending wire's subscribe is already out: undo it too, or the server would
            # keep a subscription nobody here knows about.
            wire.state = "unsubscribing"
            wire.resync_at = None
            self._queue("unsubscribe", [wire])
        else:
            del self.wires[wire.key]
            wire.acked.set()

    def resync(self, wire: Wire, reason: str, now: float) -> None:
        """Ask for a fresh snapshot of one wire (its users see a resync marker first).

        A message that fails while a resync is already on its way (scheduled, or its
        subscribe not yet acked) belongs to the stream being replaced: it changes nothing.
        """
        if wire.live is not None:
            wire.live.reset()
        if wire.resync_at is not None or (wire.state == "pending" and wire.ever_active):
            return
        self._tell(wire, Gap(reason="resync", ws_key=self.key, symbol=wire.symbol), reason)
        self.stats.resyncs += 1
        self.host.emit(
            LifecycleEvent("resync", self.key, f"{wire.channel} {wire.symbol}: {reason}")
        )
        wire.good_updates = 0
        wire.resync_failures += 1
        if wire.resync_failures == UNTRUSTED_AFTER:
            text = (
                f"{wire.channel} {wire.symbol}: {wire.resync_failures} resyncs in a row failed "
                f"({reason}); the book cannot be trusted until one holds"
            )
            log.error("[%s] %s", self.key, text)
            self.host.emit(LifecycleEvent("exception", self.key, text))
            for user in wire.users:
                if user.wants_changes:
                    user.deliver(BookChange("untrusted", wire.symbol or "", text))
        self._schedule_resync(wire, now)

    def _schedule_resync(self, wire: Wire, now: float) -> None:
        n = wire.resync_failures
        if n <= 1 or not self.up:
            if self.up and wire.state == "active":
                self._resubscribe(wire)
            return
        wire.resync_at = now + min(RESYNC_DELAY_MAX, RESYNC_DELAY * 2 ** min(n - 2, 16))
        self._delayed_resyncs.add(wire)

    def _resubscribe(self, wire: Wire) -> None:
        if wire.state == "active":
            self._send_now("unsubscribe", [wire], track=False)
        if wire.state in ("active", "pending", "idle"):
            self._queue("subscribe", [wire])

    # ================================================================ incoming (dialects)

    def on_data(self, key: Hashable, msg: Any, now: float) -> None:
        """A data message for the wire of ``key``: apply it to the kept state, deliver it."""
        wire = self.wires.get(key)
        if wire is None:
            self.unrouted("message", msg)
            return
        live = wire.live
        if live is None:
            for user in wire.users if len(wire.users) < 2 else tuple(wire.users):
                user.deliver(msg)
            return
        was_synced = live.synced
        problem = live.apply(msg)
        users = wire.users
        if problem is None and was_synced:
            # The hot path: an update applied to a book in sync.
            wire.good_updates += 1
            if wire.good_updates >= HEALTHY_UPDATES:
                wire.resync_failures = 0
            if len(users) == 1 and not users[0].wants_changes:
                users[0].deliver(msg)
                return
        changed: BookChange | None = None
        if problem is None and live.synced:
            kind: Literal["snapshot", "update"] = "update" if was_synced else "snapshot"
            changed = BookChange(kind, wire.symbol or "")
        for user in tuple(users):
            if not user.wants_changes:
                user.deliver(msg)
            elif changed is not None:
                user.deliver(changed)
        if problem is not None:
            self.resync(wire, problem, now)

    def on_empty_snapshot(self, channel: str, msg: Any) -> None:
        """A snapshot with no data names no symbol: it is for every wire of that channel
        that has not had its snapshot yet."""
        for wire in self.wires.values():
            if wire.channel == channel and (wire.live is None or not wire.live.synced):
                for user in tuple(wire.users):
                    if not user.wants_changes:
                        user.deliver(msg)

    def retry_with_fresh_auth(self, wires: list[Wire]) -> bool:
        """Subscribes refused for the token or challenge: get fresh credentials for the link
        and subscribe again, once. False when these wires were already retried."""
        wires = [w for w in wires if w.state == "pending" and not w.auth_retried]
        if not wires or not self.key.is_private:
            return False
        for wire in wires:
            wire.auth_retried = True
            wire.state = "idle"
            self._settle(wire)
        log.info("[%s] subscribe refused for its credentials: renewing them", self.key)
        self.token = None
        self.host.need_auth()
        return True

    def on_subscribed(self, key: Hashable, req_id: int | None = None) -> Wire | None:
        """The server acked the subscribe of the wire of ``key``."""
        wire = self.wires.get(key)
        if (
            wire is None
            or wire.state != "pending"
            or (req_id is not None and wire.request is not None and wire.request.req_id != req_id)
        ):
            self.unrouted("subscribe ack", key)
            return None
        wire.state = "active"
        wire.ever_active = True
        wire.auth_retried = False
        wire.error = None
        self._settle(wire)
        wire.acked.set()
        return wire

    def on_subscribe_refused(
        self, keys: Iterable[Hashable] | None, req_id: int | None, text: str
    ) -> None:
        """The server refused a subscribe (all wires of ``req_id``, or those of ``keys``)."""
        entry = self.correlator.get(req_id)
        if keys is None:
            wires = list(entry.wires) if entry is not None else []
        else:
            wires = [w for k in keys if (w := self.wires.get(k)) is not None]
        wires = [w for w in wires if w.state == "pending"]
        if not wires:
            self.unrouted("subscribe error", text)
            return
        if not self.key.is_futures and _token_refused(text) and self.retry_with_fresh_auth(wires):
            return
        error = self._refusal(text, req_id, wires, private=_auth_refused(text))
        for wire in wires:
            self._refuse(wire, error)

    def _refusal(
        self, text: str, req_id: int | None, wires: list[Wire], *, private: bool
    ) -> KrakenAPIError:
        """The error of a refused subscribe, with a hint on what to change where one helps."""
        first = wires[0]
        symbols = [w.symbol for w in wires if w.symbol is not None]
        params: dict[str, object] = dict(first.params)
        if symbols:
            params["product_ids" if self.key.is_futures else "symbol"] = symbols
        hint = refusal_hint(text, first.channel, params, str(self.key))
        cls = AuthenticationError if private else SubscriptionError
        return cls(text, "subscribe", req_id, hint)

    def on_unsubscribed(self, key: Hashable | None, req_id: int | None) -> None:
        """The server acked (or refused) an unsubscribe: the wire is gone either way."""
        entry = self.correlator.get(req_id)
        if key is not None:
            candidates = [w for w in (self.wires.get(key),) if w is not None]
        else:
            candidates = list(entry.wires) if entry is not None else []
        for wire in candidates:
            if wire.state == "unsubscribing" and self.wires.get(wire.key) is wire:
                del self.wires[wire.key]
                wire.acked.set()
                self._settle(wire)

    def on_unreadable_reply(self, req_id: int | None, error: BaseException) -> None:
        """A reply that could not be decoded fails its request (if it has a readable id)."""
        if self.correlator.fail(req_id, error) is not None:
            log.warning("[%s] request %s failed: its reply could not be read", self.key, req_id)

    def on_server_error(self, text: str, *, private: bool = False) -> None:
        """An error the server did not tie to a request (futures ``error``/``alert``).

        Blamed on a subscribe only when exactly one is waiting (it cannot be anybody
        else's); otherwise logged, and remembered for the message of a later timeout.
        """
        self.last_server_error = text
        waiting = [e for e in self.correlator if e.kind == "subscribe"]
        if len(waiting) == 1:
            entry = waiting[0]
            wires = [w for w in entry.wires if w.state == "pending" and w.request is entry]
            if wires:
                error = self._refusal(text, None, wires, private=private)
                for wire in wires:
                    self._refuse(wire, error)
            return
        log.warning("[%s] server error nobody can be blamed for: %s", self.key, text)
        self.stats.unrouted += 1

    def unrouted(self, what: str, msg: Any) -> None:
        """Count (and log at debug) something nobody waits for."""
        self.stats.unrouted += 1
        log.debug("[%s] %s nobody waits for: %.200r", self.key, what, msg)

    def bad_message(self, error: Exception) -> None:
        """Count and log a message that could not be read."""
        self.stats.bad_messages += 1
        log.warning("[%s] dropped a bad message: %s", self.key, error)

    def set_token(self, token: str, now: float) -> None:
        """A fresh token (or futures challenge) arrived: resend the requests refused for the
        old one, and resubscribe the wires refused for it."""
        self.token = token
        self.requests.resend_held(now)
        self._queue("subscribe", [w for w in self.wires.values() if w.state == "idle"])
        self._pump(now)

    def auth_failed(self, error: BaseException) -> None:
        """No fresh token could be had: the held requests fail with ``error``."""
        self.requests.fail_held(lambda e: error)

    # ================================================================ outgoing subscriptions

    def _queue(self, method: str, wires: list[Wire]) -> None:
        if method == "subscribe":
            for wire in wires:
                wire.state = "pending"
        self.pacer.add(method, wires)

    def _pump(self, now: float) -> None:
        if self.up:
            self.pacer.pump(
                now,
                self._still_wanted,
                lambda method, group: self._send_now(method, group, track=True, now=now),
            )

    def _still_wanted(self, method: str, wire: Wire) -> bool:
        if self.wires.get(wire.key) is not wire:
            return False
        return wire.state == ("pending" if method == "subscribe" else "unsubscribing")

    def _send_now(self, method: str, group: list[Wire], *, track: bool, now: float = 0.0) -> None:
        req_id = self.correlator.reserve()
        frame = self.dialect.subscribe_frame(method, group, req_id)
        if not self.host.send(frame):
            return
        if not track:
            return
        kind: Literal["subscribe", "unsubscribe"] = (
            "subscribe" if method == "subscribe" else "unsubscribe"
        )
        entry = Pending(
            kind, group[0].channel, req_id, now + self.config.request_timeout, NoWaker()
        )
        entry.sent = True
        entry.wires = list(group)
        for wire in group:
            wire.request = entry
        self.correlator.add(entry)

    def _settle(self, wire: Wire) -> None:
        entry = wire.request
        wire.request = None
        if entry is not None and all(w.request is not entry for w in entry.wires):
            self.correlator.discard(entry)
            entry.finish()

    def _refuse(self, wire: Wire, error: BaseException, cause: str = "") -> None:
        log.warning(
            "[%s] subscription to %s %s refused: %s%s",
            self.key,
            wire.channel,
            wire.symbol or "",
            error,
            cause,
        )
        wire.error = error
        wire.state = "idle"
        self._settle(wire)
        if self.wires.get(wire.key) is wire:
            del self.wires[wire.key]
        wire.acked.set()
        for user in list(wire.users):
            user.fail(error)

    def _tell(self, wire: Wire, gap: Gap, detail: str = "") -> None:
        kind: Literal["resync", "gap"] = "resync" if gap.reason == "resync" else "gap"
        for user in tuple(wire.users):
            user.deliver(BookChange(kind, wire.symbol or "", detail) if user.wants_changes else gap)

    def statistics(self) -> ConnectionStatistics:
        """The counters, with the live sizes filled in."""
        self.stats.wire_subscriptions = len(self.wires)
        self.stats.pending_requests = sum(1 for e in self.correlator if e.kind == "request")
        return self.stats
