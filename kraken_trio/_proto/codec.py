"""Decoders and encoders, built once and reused.

Spot v2 has two discriminators, ``channel`` (streams) and ``method`` (replies). A small
envelope is decoded first, keeping ``data`` / ``result`` as :class:`msgspec.Raw` slices; the
slice is then decoded by the decoder the tag selects, so the frame is parsed once.

Futures v1 feed messages are a tagged union on ``feed`` (one parse on the hot path); control
messages (``event``) take a fallback decoder. Any input gives a struct or a
:class:`~kraken_trio.ProtocolError`, never another exception.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Final, TypeAlias

import msgspec

from .._errors import ProtocolError
from . import futures as f
from . import spot as s

__all__ = [
    "FuturesDecoder",
    "FuturesMessage",
    "SpotDecoder",
    "SpotMessage",
    "encode_futures",
    "encode_request",
]

SpotMessage: TypeAlias = (
    s.StatusMessage
    | s.Heartbeat
    | s.TickerMessage
    | s.BookMessage
    | s.L3Message
    | s.OhlcMessage
    | s.TradeMessage
    | s.InstrumentMessage
    | s.ExecutionsMessage
    | s.BalancesSnapshot
    | s.BalancesUpdate
    | s.Response
    | s.UnknownMessage
)

FuturesMessage: TypeAlias = Any  # one of the structs in kraken_trio._proto.futures


_NO_RAW: Final = msgspec.Raw()


class _SpotEnvelope(msgspec.Struct):
    channel: str | None = None
    type: str | None = None
    data: msgspec.Raw = _NO_RAW
    sequence: int | None = None
    timestamp: datetime | None = None
    method: str | None = None
    req_id: int | None = None
    success: bool | None = None
    result: msgspec.Raw = _NO_RAW
    error: str | None = None
    time_in: datetime | None = None
    time_out: datetime | None = None
    symbol: str | None = None
    orders_cancelled: int | None = None
    warnings: list[str] | None = None


def _describe(exc: Exception) -> str:
    text = str(exc)
    if isinstance(exc, msgspec.ValidationError):
        return f"wrong field type: {text}"
    return f"malformed JSON: {text}"


class SpotDecoder:
    """Decodes Spot v2 frames into the structs of :mod:`kraken_trio._proto.spot`.

    Example:
        >>> SpotDecoder().decode(b'{"channel":"heartbeat"}')
        Heartbeat()
    """

    __slots__ = ("_channel_builders", "_envelope", "_fast", "_result_decoders")

    def __init__(self) -> None:
        self._envelope = msgspec.json.Decoder(_SpotEnvelope)
        # Market data, the hot path, in one pass: a tagged union on ``channel``. Replies,
        # balances (two shapes under one channel), unknown channels and anything malformed
        # fail here and take the envelope path, which also words the errors.
        self._fast = msgspec.json.Decoder(_union(_FAST_CHANNELS)).decode

        def data(
            cls: type[Any], elem: Any, *, with_seq: bool = False, with_ts: bool = False
        ) -> Callable[[_SpotEnvelope], Any]:
            dec = msgspec.json.Decoder(elem)
            decode = dec.decode
            if with_seq:
                return lambda e: cls(type=e.type, data=decode(e.data), sequence=e.sequence)
            if with_ts:
                return lambda e: cls(type=e.type, data=decode(e.data), timestamp=e.timestamp)
            return lambda e: cls(type=e.type, data=decode(e.data))

        balances_snapshot = data(s.BalancesSnapshot, list[s.BalanceAsset], with_seq=True)
        balances_update = data(s.BalancesUpdate, list[s.LedgerEntry], with_seq=True)

        def balances(e: _SpotEnvelope) -> Any:
            return balances_snapshot(e) if e.type == "snapshot" else balances_update(e)

        self._channel_builders: dict[str, Callable[[_SpotEnvelope], Any]] = {
            "book": data(s.BookMessage, list[s.BookData]),
            "ticker": data(s.TickerMessage, list[s.TickerData]),
            "trade": data(s.TradeMessage, list[s.TradeData]),
            "ohlc": data(s.OhlcMessage, list[s.Candle], with_ts=True),
            "level3": data(s.L3Message, list[s.L3Data]),
            "instrument": data(s.InstrumentMessage, s.InstrumentData),
            "executions": data(s.ExecutionsMessage, list[s.Execution], with_seq=True),
            "balances": balances,
            "status": data(s.StatusMessage, list[s.StatusData]),
        }
        results: dict[str, tuple[type[s.Response], Any]] = {
            "subscribe": (s.SubscribeResponse, s.SubscriptionResult),
            "unsubscribe": (s.SubscribeResponse, s.SubscriptionResult),
            "pong": (s.Pong, s.PongResult),
            "ping": (s.Pong, s.PongResult),
            "add_order": (s.AddOrderResponse, s.AddOrderResult),
            "amend_order": (s.AmendOrderResponse, s.AmendOrderResult),
            "edit_order": (s.EditOrderResponse, s.EditOrderResult),
            "cancel_order": (s.CancelOrderResponse, s.CancelOrderResult),
            "cancel_all": (s.CancelAllResponse, s.CancelAllResult),
            "cancel_all_orders_after": (
                s.CancelAllOrdersAfterResponse,
                s.CancelAllOrdersAfterResult,
            ),
            "batch_add": (s.BatchAddResponse, list[s.BatchAddResult]),
            "batch_cancel": (s.BatchCancelResponse, s.BatchCancelResult),
        }
        self._result_decoders: dict[str, tuple[type[s.Response], Any]] = {
            method: (cls, None if rt is None else msgspec.json.Decoder(rt).decode)
            for method, (cls, rt) in results.items()
        }

    def decode(self, frame: bytes | str) -> SpotMessage:
        """Decode one frame.

        Raises:
            ProtocolError: malformed JSON, a non-object, or a known message with a field of
                the wrong type. The error carries the raw text.
        """
        # Kraken's replies start with their method: they skip the market-data union.
        if type(frame) is not str or not frame.startswith('{"method"'):
            try:
                msg: SpotMessage = self._fast(frame)
            except (msgspec.ValidationError, msgspec.DecodeError, ValueError, TypeError):
                pass
            except RecursionError:
                raise ProtocolError("message nested too deeply", frame) from None
            else:
                return msg
        part = ""
        try:
            env = self._envelope.decode(frame)
            if env.channel is not None:
                if env.channel == "heartbeat":
                    return s.Heartbeat()
                build = self._channel_builders.get(env.channel)
                if build is None or not env.data or env.type is None:
                    if build is not None:
                        raise ProtocolError(f"{env.channel} message without type or data", frame)
                    return s.UnknownMessage(channel=env.channel, raw=_as_bytes(frame))
                part = ".data"
                built: SpotMessage = build(env)
                return built
            if env.method is not None:
                part = ".result"
                return self._response(env, frame)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            # Paths inside a Raw slice are relative to it: make them name the message.
            raise ProtocolError(_describe(exc).replace("`$", "`$" + part), frame) from None
        except (ValueError, TypeError, UnicodeDecodeError) as exc:
            # msgspec raises plain ValueError for e.g. out-of-range datetimes in a Raw slice.
            raise ProtocolError(f"invalid value: {exc}", frame) from None
        except RecursionError:
            raise ProtocolError("message nested too deeply", frame) from None
        raise ProtocolError("message has neither channel nor method", frame)

    def _response(self, env: _SpotEnvelope, frame: bytes | str) -> SpotMessage:
        entry = self._result_decoders.get(env.method or "")
        if entry is None or (env.method == "ping" and env.success is None):
            # A ping *request* (no success flag) is not a reply.
            return s.UnknownMessage(method=env.method, raw=_as_bytes(frame))
        cls, decode_result = entry
        kwargs: dict[str, Any] = {
            "method": env.method,
            "success": True if env.success is None else env.success,
            "req_id": env.req_id,
            "error": env.error,
            "time_in": env.time_in,
            "time_out": env.time_out,
            "warnings": env.warnings,
        }
        if kwargs["success"] and not env.result and env.method in RESULT_REQUIRED:
            # The caller would get None (or an AttributeError) for an order it cannot see.
            raise ProtocolError(f"{env.method} reply says success but has no result", frame)
        if decode_result is not None and env.result:
            kwargs["result"] = decode_result(env.result)
            if cls is s.Pong and env.warnings is None:
                kwargs["warnings"] = kwargs["result"].warnings
        if cls is s.SubscribeResponse:
            kwargs["symbol"] = env.symbol
        elif cls is s.BatchCancelResponse:
            kwargs["orders_cancelled"] = env.orders_cancelled
        resp: SpotMessage = cls(**kwargs)
        return resp


def _as_bytes(frame: bytes | str) -> bytes:
    return frame.encode() if isinstance(frame, str) else bytes(frame)


RESULT_REQUIRED: Final = frozenset(
    {
        "add_order",
        "amend_order",
        "edit_order",
        "cancel_order",
        "cancel_all",
        "cancel_all_orders_after",
    }
)
"""Methods whose successful reply must carry a ``result`` (Kraken's always does)."""

_FAST_CHANNELS: Final = (
    s.BookMessage,
    s.TickerMessage,
    s.TradeMessage,
    s.L3Message,
    s.OhlcMessage,
    s.Heartbeat,
    s.StatusMessage,
    s.InstrumentMessage,
    s.ExecutionsMessage,
)

_FEEDS: Final = (
    f.FuturesHeartbeat,
    f.FuturesBookSnapshot,
    f.FuturesBookDelta,
    f.FuturesTicker,
    f.FuturesTickerLite,
    f.FuturesTradeSnapshot,
    f.FuturesTrade,
    f.FuturesOpenOrdersSnapshot,
    f.FuturesOpenOrders,
    f.FuturesOpenOrdersVerboseSnapshot,
    f.FuturesOpenOrdersVerbose,
    f.FuturesFillsSnapshot,
    f.FuturesFills,
    f.FuturesOpenPositions,
    f.FuturesBalancesSnapshot,
    f.FuturesBalances,
    f.FuturesAccountLogSnapshot,
    f.FuturesAccountLog,
    f.FuturesNotifications,
)
_EVENTS: Final = (
    f.FuturesInfo,
    f.FuturesChallenge,
    f.FuturesSubscribed,
    f.FuturesSubscribedFailed,
    f.FuturesUnsubscribed,
    f.FuturesUnsubscribedFailed,
    f.FuturesError,
    f.FuturesAlert,
    f.FuturesPong,
)
KNOWN_FEEDS: Final = frozenset(cls.__struct_config__.tag for cls in _FEEDS)
KNOWN_EVENTS: Final = frozenset(cls.__struct_config__.tag for cls in _EVENTS)


class _FuturesTags(msgspec.Struct):
    feed: Any = None
    event: Any = None


class FuturesDecoder:
    """Decodes Futures v1 frames into the structs of :mod:`kraken_trio._proto.futures`."""

    __slots__ = ("_events", "_feeds", "_tags")

    def __init__(self) -> None:
        self._feeds = msgspec.json.Decoder(_union(_FEEDS))
        self._events = msgspec.json.Decoder(_union(_EVENTS))
        self._tags = msgspec.json.Decoder(_FuturesTags)

    def decode(self, frame: bytes | str) -> FuturesMessage:
        """Decode one frame.

        Raises:
            ProtocolError: malformed JSON, a non-object, or a known feed/event with a field
                of the wrong type. The error carries the raw text.
        """
        try:
            return self._feeds.decode(frame)
        except msgspec.ValidationError as first:
            feed_error: Exception = first
        except (msgspec.DecodeError, ValueError, TypeError, UnicodeDecodeError) as exc:
            raise ProtocolError(_describe(exc), frame) from None
        except RecursionError:
            raise ProtocolError("message nested too deeply", frame) from None
        # Control messages, unknown feeds and wrongly typed data land here (not the hot path).
        try:
            tags = self._tags.decode(frame)
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
            raise ProtocolError(_describe(exc), frame) from None
        except RecursionError:
            raise ProtocolError("message nested too deeply", frame) from None
        event, feed = tags.event, tags.feed
        if not isinstance(event, str | None) or not isinstance(feed, str | None):
            raise ProtocolError("wrong field type: `feed` and `event` must be strings", frame)
        if event is not None:
            if event in KNOWN_EVENTS:
                try:
                    return self._events.decode(frame)
                except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
                    raise ProtocolError(_describe(exc), frame) from None
                except RecursionError:
                    raise ProtocolError("message nested too deeply", frame) from None
            return f.FuturesUnknown(event=str(event), feed=_str_or_none(feed), raw=_as_bytes(frame))
        if feed is not None and feed in KNOWN_FEEDS:
            raise ProtocolError(_describe(feed_error), frame)
        if feed is None:
            raise ProtocolError("message has neither feed nor event", frame)
        return f.FuturesUnknown(feed=str(feed), raw=_as_bytes(frame))


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _union(types: tuple[type[Any], ...]) -> Any:
    from functools import reduce
    from operator import or_

    return reduce(or_, types)


def _wire_hook(obj: Any) -> Any:
    if isinstance(obj, s.WireDecimal):
        return msgspec.Raw(format(obj, "f").encode())
    raise TypeError(f"cannot encode {type(obj).__name__}")


_encoder = msgspec.json.Encoder(enc_hook=_wire_hook, decimal_format="number")


def encode_request(request: s.Request) -> bytes:
    """Encode a Spot v2 request exactly as Kraken documents it (no nulls, fixed-point numbers).

    Decimals assigned after construction are converted here too, so nothing is ever
    written in exponent notation.
    """
    if request.params is not None:
        request.params._wire()
    return _encoder.encode(request)


def encode_futures(request: f.FuturesSubscribeRequest | f.FuturesChallengeRequest) -> bytes:
    """Encode a Futures v1 request."""
    return _encoder.encode(request)
