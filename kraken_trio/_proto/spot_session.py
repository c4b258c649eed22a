"""The Spot v2 half of a session: decode a frame, route it, encode subscribe requests.

Pure: the connection hands every text frame to :meth:`SpotDialect.receive`; data goes to the
session's wires (split per symbol), acks and replies to its one correlator.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

import msgspec

from .._config import WsKey
from .._errors import ProtocolError
from .._events import LifecycleEvent
from . import spot as s
from .channels import UNSUBSCRIBE_KEYS
from .codec import SpotDecoder, encode_request

if TYPE_CHECKING:
    from .session import Session, Wire

__all__ = ["SpotDialect", "encode_spot_request"]

log = logging.getLogger("kraken_trio")

# level3 subscriptions count against a per-connection counter: 5 / 25 / 100 per symbol by
# depth, 200 per second (standard tier). Paced at 90% of it, so that the server, which counts
# on its own clock, never sees a request a moment early.
_L3_COST = {10: 5, 100: 25, 1000: 100}
_L3_BUCKET = (180.0, 180.0)
# Other spot requests: Kraken documents no number; at most 20 in any second stays far below
# "Exceeded msg rate" (a token bucket of capacity C and rate R sends at most C + R a second).
_SPOT_BUCKET = (10.0, 10.0)

_SYMBOL_CHANNELS = (s.BookMessage, s.TickerMessage, s.TradeMessage, s.L3Message)
_WHOLE_CHANNELS = (s.InstrumentMessage, s.ExecutionsMessage, s.BalancesSnapshot, s.BalancesUpdate)


def encode_spot_request(method: str, params: Any, req_id: int) -> bytes:
    """One request frame: ``{"method": ..., "params": ..., "req_id": ...}``."""
    return encode_request(s.Request(method=method, params=params, req_id=req_id))


class SpotDialect:
    """Routes decoded Spot v2 messages into a :class:`~kraken_trio._proto.session.Session`."""

    futures = False

    def __init__(self, session: Session) -> None:
        self.session = session
        self.spoke = False  # a message of this protocol was read on this connection
        self.decoder = SpotDecoder()
        self.on_ack_result: Callable[[s.SubscriptionResult], None] | None = None
        self.on_executions: Callable[[s.ExecutionsMessage, float], None] | None = None
        self._handlers: dict[type[Any], Callable[[Any, float], None]] = dict.fromkeys(
            _SYMBOL_CHANNELS, self._route_symbol
        )
        self._handlers.update((cls, self._route_whole) for cls in _WHOLE_CHANNELS)
        self._handlers[s.OhlcMessage] = self._route_ohlc
        self._handlers[s.Heartbeat] = _ignore
        self._handlers[s.StatusMessage] = self._on_status
        self._handlers[s.SubscribeResponse] = self._on_subscribe_response
        self._handlers[s.UnknownMessage] = self._on_unknown

    # ---------------------------------------------------------------- outgoing

    def route_key(self, channel: str, symbol: str | None, params: dict[str, Any]) -> Hashable:
        """The routing key of one wire subscription."""
        if channel == "ohlc":
            return ("ohlc", symbol, params.get("interval") or 1)
        return (channel, symbol)

    def subscribe_frame(self, method: str, group: list[Wire], req_id: int) -> bytes:
        """A subscribe or unsubscribe request for a group of wires (same channel and params)."""
        first = group[0]
        params = dict(first.params)
        symbols = [w.symbol for w in group if w.symbol is not None]
        if symbols:
            params["symbol"] = symbols
        if self.session.key.is_private and self.session.token is not None:
            params["token"] = self.session.token
        if method == "unsubscribe":
            params = {k: v for k, v in params.items() if k in UNSUBSCRIBE_KEYS}
        return encode_spot_request(
            method, s.SubscribeParams(channel=first.channel, **params), req_id
        )

    def request_cost(self, group: list[Wire]) -> float:
        """What a request for ``group`` costs against the connection's request budget."""
        if group[0].channel == "level3":
            return float(sum(_L3_COST.get(int(w.params.get("depth") or 10), 5) for w in group))
        return 1.0

    def bucket(self) -> tuple[float, float]:
        """(capacity, refill per second) of subscribe requests on this connection."""
        return _L3_BUCKET if self.session.key is WsKey.SPOT_L3_V2 else _SPOT_BUCKET

    # ---------------------------------------------------------------- incoming

    def receive(self, frame: str, now: float) -> None:
        """Decode one text frame and route it."""
        try:
            msg = self.decoder.decode(frame)
        except ProtocolError as exc:
            if frame.startswith('{"event"') and not self.spoke:
                # The first word from the server is a Futures event: a wrong endpoint.
                self.session.host.abort(
                    ProtocolError(
                        f"{self.session.key} is a Spot v2 connection, but its endpoint speaks "
                        "Kraken Futures v1 (it sent an 'event' message): check the endpoint URL",
                        frame,
                    )
                )
                return
            self.session.bad_message(exc)
            self.session.on_unreadable_reply(_req_id_of(frame), exc)
            return
        self.spoke = True
        handler = self._handlers.get(type(msg))
        if handler is not None:
            handler(msg, now)
        elif isinstance(msg, s.Response):
            self.session.requests.on_reply(
                msg.req_id, msg, None if msg.success else (msg.error or "refused")
            )

    def _route_symbol(self, msg: Any, now: float) -> None:
        data = msg.data
        if not data:
            if msg.type == "snapshot":
                self.session.on_empty_snapshot(msg.channel, msg)
            return
        symbol = data[0].symbol
        if len(data) > 1 and any(d.symbol != symbol for d in data):
            for sym in dict.fromkeys(d.symbol for d in data):
                part = type(msg)(type=msg.type, data=[d for d in data if d.symbol == sym])
                self.session.on_data((msg.channel, sym), part, now)
            return
        self.session.on_data((msg.channel, symbol), msg, now)

    def _route_ohlc(self, msg: s.OhlcMessage, now: float) -> None:
        data = msg.data
        if not data:
            if msg.type == "snapshot":
                self.session.on_empty_snapshot("ohlc", msg)
            return
        groups: dict[tuple[str, int], list[s.Candle]] = {}
        for candle in data:
            groups.setdefault((candle.symbol, candle.interval), []).append(candle)
        if len(groups) == 1:
            ((symbol, interval),) = groups
            self.session.on_data(("ohlc", symbol, interval), msg, now)
            return
        for (symbol, interval), candles in groups.items():
            part = s.OhlcMessage(type=msg.type, data=candles, timestamp=msg.timestamp)
            self.session.on_data(("ohlc", symbol, interval), part, now)

    def _route_whole(self, msg: Any, now: float) -> None:
        if self.on_executions is not None and type(msg) is s.ExecutionsMessage:
            self.on_executions(msg, now)
        self.session.on_data((msg.channel, None), msg, now)

    def _on_status(self, msg: s.StatusMessage, now: float) -> None:
        if msg.data:
            status = msg.data[0]
            self.session.stats.connection_id = status.connection_id
            self.session.host.emit(
                LifecycleEvent(
                    "status",
                    self.session.key,
                    f"system={status.system} version={status.version} "
                    f"connection_id={status.connection_id}",
                )
            )

    def _on_unknown(self, msg: s.UnknownMessage, now: float) -> None:
        self.session.stats.unrouted += 1
        log.info("[%s] message of an unknown kind: %.200r", self.session.key, msg.raw)

    def _on_subscribe_response(self, msg: s.SubscribeResponse, now: float) -> None:
        session = self.session
        entry = session.correlator.get(msg.req_id)
        unsubscribe = msg.method == "unsubscribe" or (
            entry is not None and entry.kind == "unsubscribe"
        )
        result = msg.result
        if msg.success and result is not None:
            key = self._ack_key(result)
            if unsubscribe:
                session.on_unsubscribed(key, msg.req_id)
            else:
                if self.on_ack_result is not None:
                    self.on_ack_result(result)
                session.on_subscribed(key, msg.req_id)
            return
        text = msg.error or "subscription refused"
        if unsubscribe:
            # A refusal ("Subscription Not Found"): the wire is gone either way.
            log.info("[%s] unsubscribe answered: %s", session.key, text)
            session.on_unsubscribed(None, msg.req_id)
            return
        keys = None
        if msg.symbol is not None and entry is not None and entry.wires:
            keys = [w.key for w in entry.wires if w.symbol == msg.symbol]
        session.on_subscribe_refused(keys, msg.req_id, text)

    @staticmethod
    def _ack_key(result: s.SubscriptionResult) -> Hashable:
        if result.channel == "ohlc":
            return ("ohlc", result.symbol, result.interval or 1)
        return (result.channel, result.symbol)


class _ReqIdOnly(msgspec.Struct):
    req_id: Any = None


_decode_req_id = msgspec.json.Decoder(_ReqIdOnly).decode


def _req_id_of(frame: str) -> int | None:
    """The req_id of a frame that failed to decode, if it has a readable one."""
    try:
        req_id = _decode_req_id(frame).req_id
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return None
    return req_id if isinstance(req_id, int) and not isinstance(req_id, bool) else None


def _ignore(msg: Any, now: float) -> None:
    return None
