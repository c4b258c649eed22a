"""The fake exchange's request and subscription limits: pure models, no I/O, no clock.

Time comes in as ``now`` (seconds). Every fake server holds the one :class:`Limits` object of
its exchange and asks it before serving a request; a refusal is answered in Kraken's words and
recorded in :attr:`Limits.refusals`, so a test can assert that a client never hit a limit.

Limits and the answers the servers give (numbers from Kraken's rate-limit guides; where
Kraken's text is not documented the choice is marked *chosen*):

* Spot WebSocket message rate (every request on one connection, subscriptions and trading
  alike). Kraken documents no number ("dynamic, depending on system load"), so the limit is
  off unless a test sets :attr:`Limits.spot_messages_per_second`. A refused request gets an
  error reply with ``"error": "Exceeded msg rate"``.
* level3 subscriptions: a per-connection counter that each subscribed symbol raises by
  5 / 25 / 100 (depth 10 / 100 / 1000) and that decays by :attr:`Limits.level3_rate` per
  second (200, the standard tier); a subscribe that would take it past the rate is refused
  whole with ``EGeneral:Too many requests`` (*chosen*). At most
  :attr:`Limits.level3_symbols` (200) symbols per connection: beyond that
  ``EGeneral:Invalid arguments:symbol limit exceeded`` (*chosen*).
* Futures WebSocket: at most :attr:`Limits.futures_requests_per_second` (100) requests per
  connection in any one-second window; beyond that an
  ``{"event":"alert","message":"rate_limited"}`` (*chosen*: the message text) and the
  request is not served.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "FUTURES_RATE_ALERT",
    "L3_COST",
    "L3_RATE_ERROR",
    "L3_SYMBOLS_ERROR",
    "SPOT_RATE_ERROR",
    "DecayingCounter",
    "Limits",
    "Refusal",
    "SlidingWindow",
]

SPOT_RATE_ERROR = "Exceeded msg rate"
L3_RATE_ERROR = "EGeneral:Too many requests"
L3_SYMBOLS_ERROR = "EGeneral:Invalid arguments:symbol limit exceeded"
FUTURES_RATE_ALERT = "rate_limited"
L3_COST = {10: 5, 100: 25, 1000: 100}
"""What one level3 symbol adds to the subscription counter, by depth."""


class SlidingWindow:
    """At most ``limit`` events in any window of ``window`` seconds."""

    def __init__(self, limit: int, window: float = 1.0) -> None:
        self.limit = limit
        self.window = window
        self._times: deque[float] = deque()

    def allow(self, now: float) -> bool:
        """Record an event at ``now`` if it fits; False (nothing recorded) if it does not."""
        while self._times and self._times[0] <= now - self.window:
            self._times.popleft()
        if len(self._times) >= self.limit:
            return False
        self._times.append(now)
        return True


class DecayingCounter:
    """A counter that decays linearly at ``rate`` per second and refuses past ``threshold``."""

    def __init__(self, threshold: float, rate: float) -> None:
        self.threshold = threshold
        self.rate = rate
        self._value = 0.0
        self._at = 0.0

    def value(self, now: float) -> float:
        """The counter at ``now``."""
        return max(0.0, self._value - self.rate * max(0.0, now - self._at))

    def charge(self, cost: float, now: float) -> bool:
        """Add ``cost`` if the counter stays within the threshold; False if it would not."""
        value = self.value(now)
        if value + cost > self.threshold:
            return False
        self._value, self._at = value + cost, now
        return True


@dataclass(frozen=True, slots=True)
class Refusal:
    """One request a limit refused.

    Attributes:
        kind: ``spot_messages``, ``level3_rate``, ``level3_symbols`` or ``futures_requests``.
        connection_id: The server-side connection.
        time: ``now`` when it was refused.
    """

    kind: str
    connection_id: int
    time: float


class Limits:
    """Every limit of one fake exchange, with per-connection state.

    Attributes:
        spot_messages_per_second: Requests per connection per second on a spot endpoint;
            None (the default) for no limit, as Kraken publishes none.
        level3_rate: The level3 subscription counter's threshold and decay per second.
        level3_symbols: Symbols one level3 connection may hold.
        futures_requests_per_second: Requests per futures connection per second.
        refusals: Every refusal so far, in order.
    """

    def __init__(self) -> None:
        self.spot_messages_per_second: int | None = None
        self.level3_rate = 200
        self.level3_symbols = 200
        self.futures_requests_per_second = 100
        self.refusals: list[Refusal] = []
        self._spot: dict[int, SlidingWindow] = {}
        self._l3: dict[int, DecayingCounter] = {}
        self._futures: dict[int, SlidingWindow] = {}

    def __repr__(self) -> str:
        return (
            f"Limits(spot_messages_per_second={self.spot_messages_per_second}, "
            f"level3_rate={self.level3_rate}, level3_symbols={self.level3_symbols}, "
            f"futures_requests_per_second={self.futures_requests_per_second}, "
            f"{len(self.refusals)} refusals)"
        )

    def _refuse(self, kind: str, connection_id: int, now: float) -> None:
        self.refusals.append(Refusal(kind, connection_id, now))
        del self.refusals[:-10_000]  # bounded: a runaway client cannot grow it forever

    def spot_message(self, connection_id: int, now: float) -> bool:
        """Whether a spot request fits the message rate (False: answer ``Exceeded msg rate``)."""
        limit = self.spot_messages_per_second
        if limit is None:
            return True
        window = self._spot.get(connection_id)
        if window is None or window.limit != limit:
            window = self._spot[connection_id] = SlidingWindow(limit)
        if window.allow(now):
            return True
        self._refuse("spot_messages", connection_id, now)
        return False

    def level3_subscribe(
        self, connection_id: int, depth: int, symbols: Iterable[str], held: int, now: float
    ) -> str | None:
        """Check a level3 subscribe of ``symbols`` at ``depth`` with ``held`` symbols held.

        Returns:
            None when it is allowed (and charged), else Kraken's error text.
        """
        new = list(symbols)
        if held + len(new) > self.level3_symbols:
            self._refuse("level3_symbols", connection_id, now)
            return L3_SYMBOLS_ERROR
        counter = self._l3.get(connection_id)
        if counter is None or counter.threshold != self.level3_rate:
            counter = self._l3[connection_id] = DecayingCounter(self.level3_rate, self.level3_rate)
        if not counter.charge(L3_COST.get(depth, 5) * len(new), now):
            self._refuse("level3_rate", connection_id, now)
            return L3_RATE_ERROR
        return None

    def futures_request(self, connection_id: int, now: float) -> bool:
        """Whether a futures request fits (False: alert ``rate_limited``, do not serve it)."""
        limit = self.futures_requests_per_second
        window = self._futures.get(connection_id)
        if window is None or window.limit != limit:
            window = self._futures[connection_id] = SlidingWindow(limit)
        if window.allow(now):
            return True
        self._refuse("futures_requests", connection_id, now)
        return False

    def forget(self, connection_id: int) -> None:
        """Drop the state of a closed connection."""
        self._spot.pop(connection_id, None)
        self._l3.pop(connection_id, None)
        self._futures.pop(connection_id, None)
