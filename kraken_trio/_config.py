"""Endpoint keys, default URLs and the one configuration object for every deadline."""

from __future__ import annotations

import enum
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from ._proto.ratelimit import TIERS, RateTier

__all__ = ["DEFAULT_ENDPOINTS", "DEFAULT_REST_URL", "Config", "WsKey"]


class WsKey(enum.StrEnum):
    """One WebSocket connection per key; values are @siebly/kraken-api's WS_KEY_MAP names."""

    SPOT_PUBLIC_V2 = "spotPublicV2"
    SPOT_PRIVATE_V2 = "spotPrivateV2"
    SPOT_L3_V2 = "spotL3V2"
    SPOT_BETA_PUBLIC_V2 = "spotBetaPublicV2"
    SPOT_BETA_PRIVATE_V2 = "spotBetaPrivateV2"
    DERIVATIVES_PUBLIC_V1 = "derivativesPublicV1"
    DERIVATIVES_PRIVATE_V1 = "derivativesPrivateV1"

    def __str__(self) -> str:
        return self.value

    @property
    def is_futures(self) -> bool:
        """True for the Futures v1 keys."""
        return self in (WsKey.DERIVATIVES_PUBLIC_V1, WsKey.DERIVATIVES_PRIVATE_V1)

    @property
    def is_private(self) -> bool:
        """True for keys whose connection needs credentials."""
        return self in (
            WsKey.SPOT_PRIVATE_V2,
            WsKey.SPOT_L3_V2,
            WsKey.SPOT_BETA_PRIVATE_V2,
            WsKey.DERIVATIVES_PRIVATE_V1,
        )


DEFAULT_ENDPOINTS: Mapping[WsKey, str] = {
    WsKey.SPOT_PUBLIC_V2: "wss://ws.kraken.com/v2",
    WsKey.SPOT_PRIVATE_V2: "wss://ws-auth.kraken.com/v2",
    WsKey.SPOT_L3_V2: "wss://ws-l3.kraken.com/v2",
    WsKey.SPOT_BETA_PUBLIC_V2: "wss://beta-ws.kraken.com/v2",
    WsKey.SPOT_BETA_PRIVATE_V2: "wss://beta-ws-auth.kraken.com/v2",
    WsKey.DERIVATIVES_PUBLIC_V1: "wss://futures.kraken.com/ws/v1",
    WsKey.DERIVATIVES_PRIVATE_V1: "wss://futures.kraken.com/ws/v1",
}

DEFAULT_REST_URL = "https://api.kraken.com"


@dataclass(frozen=True, slots=True)
class Config:
    """Every deadline, limit and backoff the library uses, in one frozen object.

    All durations are seconds. Pass keyword overrides to :func:`kraken_trio.open_kraken`
    (``open_kraken(ping_interval=5)``) or a whole ``Config`` as ``config=``.

    Attributes:
        connect_timeout: Bound on TCP + TLS + WebSocket handshake of one attempt.
        auth_timeout: Bound on fetching a token or completing a futures challenge.
        ping_interval: How often a heartbeat ping is sent on an idle-or-busy link.
        pong_timeout: No pong within this after a ping means the link is dead.
        request_timeout: Default bound on a request (subscribe, order) waiting for its reply.
        close_timeout: Bound on the closing handshake when leaving ``open_kraken``.
        reconnect_delay: First backoff delay; doubles per failed attempt (full jitter).
        reconnect_delay_max: Cap of the backoff delay.
        max_reconnects: Consecutive failed attempts before giving up; ``None`` retries forever.
        buffer_size: Default per-subscription buffer (messages). The connection hands a
            consumer at most a few dozen messages per scheduler pass, and a consumer takes
            up to 1,024 per pass, so a consumer that keeps up never fills it; only one that
            is really slower than the wire meets its ``on_overflow`` policy.
        max_message_size: Largest frame accepted from the server, in bytes.
        max_send_buffer: Outgoing bytes the server may leave unread (queued beyond what the
            kernel took) before the link counts as dead and is replaced.
        rest_timeout: Bound on one REST call (token fetch), answer read whole included.
        max_rest_body_size: Largest REST answer accepted, in bytes; a larger one is refused
            as soon as its header or its bytes say so (it is never read whole).
        ssl_context: TLS settings for ``wss://`` endpoints and an ``https://`` REST URL; by
            default the system's trust store with certificate and host name verification.
        rate_limit: What a trading request that would pass Kraken's per-pair rate counter
            does: ``"wait"`` until it fits (bounded by ``request_timeout``), ``"raise"``
            :class:`~kraken_trio.RateLimitError` at once, or ``"off"`` (sent anyway). In
            every mode nothing refused locally is sent.
        rate_tier: The account's tier for the counter model: ``"starter"`` (60, 1.0/s),
            ``"intermediate"`` (125, 2.34/s), ``"pro"`` (180, 3.75/s), or a
            :class:`~kraken_trio.RateTier` for negotiated limits. An ``executions`` ack's
            ``maxratecount`` replaces the threshold.
    """

    connect_timeout: float = 10.0
    auth_timeout: float = 10.0
    ping_interval: float = 10.0
    pong_timeout: float = 5.0
    request_timeout: float = 10.0
    close_timeout: float = 2.0
    reconnect_delay: float = 0.5
    reconnect_delay_max: float = 30.0
    max_reconnects: int | None = None
    buffer_size: int = 8192
    max_message_size: int = 16 * 1024 * 1024
    max_send_buffer: int = 16 * 1024 * 1024
    rest_timeout: float = 10.0
    max_rest_body_size: int = 1024 * 1024
    endpoints: Mapping[WsKey, str] = field(default_factory=lambda: dict(DEFAULT_ENDPOINTS))
    rest_url: str = DEFAULT_REST_URL
    ssl_context: ssl.SSLContext | None = None
    rate_limit: Literal["wait", "raise", "off"] = "wait"
    rate_tier: str | RateTier = "starter"

    def __post_init__(self) -> None:
        for name in (
            "connect_timeout",
            "auth_timeout",
            "ping_interval",
            "pong_timeout",
            "request_timeout",
            "close_timeout",
            "reconnect_delay",
            "reconnect_delay_max",
            "rest_timeout",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ValueError(
                    f"Config.{name} must be a positive number of seconds, got {value!r}"
                )
        for name in ("buffer_size", "max_message_size", "max_send_buffer", "max_rest_body_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Config.{name} must be an int >= 1, got {value!r}")
        limit = self.max_reconnects
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or limit < 0
        ):
            raise ValueError(f"Config.max_reconnects must be an int >= 0 or None, got {limit!r}")
        if self.rate_limit not in ("wait", "raise", "off"):
            raise ValueError(
                f"Config.rate_limit must be 'wait', 'raise' or 'off', got {self.rate_limit!r}"
            )
        if not isinstance(self.rate_tier, RateTier) and (
            not isinstance(self.rate_tier, str) or self.rate_tier not in TIERS
        ):
            raise ValueError(
                f"Config.rate_tier must be one of {sorted(TIERS)} or a RateTier, "
                f"got {self.rate_tier!r}"
            )
        if self.ssl_context is not None and not isinstance(self.ssl_context, ssl.SSLContext):
            raise ValueError(
                "Config.ssl_context must be an ssl.SSLContext, "
                f"got {type(self.ssl_context).__name__}"
            )
