"""The whole kraken_trio exception tree.

::

    KrakenError                      root: catch this to catch everything we raise
    ├── ProtocolError                a message could not be decoded (carries the raw text)
    ├── KrakenAPIError               Kraken answered ``success: false`` (carries Kraken's text)
    │   ├── SubscriptionError        a subscribe/unsubscribe was refused
    │   ├── AuthenticationError      final: token, key, signature or challenge rejected
    │   └── TransientAPIError        Kraken refused for a reason that can pass (also Retryable)
    ├── ConnectionLostError          the link dropped; a request may or may not have arrived
    │   ├── ReconnectExhaustedError  the configured reconnect limit was reached
    │   └── RestError                a REST call got no usable answer (also Retryable)
    ├── RetryableError               a temporary failure: back off and try again
    ├── RequestTimeoutError          a request got no reply within the request deadline
    ├── OverrunError                 a subscription's buffer overflowed (policy ``"raise"``)
    ├── RateLimitError               a trading request would pass Kraken's rate counter;
    │                                nothing was sent (``rate_limit="raise"``, or the wait
    │                                would outlast the request deadline)
    ├── ClosedError                  the client or subscription is closed
    └── InvalidRequestError          a call was refused locally, before anything was sent
        (also a ``ValueError``)

:class:`RetryableError` is a second base of :class:`TransientAPIError` and :class:`RestError`:
``except RetryableError`` catches every failure that backing off and retrying can cure.
:class:`AuthenticationError` is the one REST outcome that retrying cannot cure.

Every exception is plain data: all arguments go to ``super().__init__`` so instances
copy and pickle, and no repr or message ever contains an API secret, token or signature.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AuthenticationError",
    "ClosedError",
    "ConnectionLostError",
    "InvalidRequestError",
    "KrakenAPIError",
    "KrakenError",
    "OverrunError",
    "ProtocolError",
    "RateLimitError",
    "ReconnectExhaustedError",
    "RequestTimeoutError",
    "RestError",
    "RetryableError",
    "SubscriptionError",
    "TransientAPIError",
]


class KrakenError(Exception):
    """Base class of every error raised by kraken_trio."""


class ProtocolError(KrakenError):
    """A frame could not be decoded into a known message.

    Attributes:
        reason: What was wrong (malformed JSON, a field of the wrong type, ...).
        raw: The raw frame text (at most 2,000 characters are kept).
    """

    def __init__(self, reason: str, raw: bytes | str = b"") -> None:
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        super().__init__(reason, text[:2000])
        self.reason = reason
        self.raw = text[:2000]

    def __str__(self) -> str:
        return f"{self.reason}; raw message: {self.raw[:200]!r}"


class KrakenAPIError(KrakenError):
    """Kraken refused a request (``success: false``).

    Attributes:
        error: Kraken's error text, verbatim (for example ``"EOrder:Insufficient funds"``).
        method: The request's method (``"add_order"``, ``"subscribe"``, ...).
        req_id: The request's ``req_id``, if one was sent.
        hint: What to change, where kraken_trio can tell (``"symbols are upper case: try
            'BTC/USD'"``); ``None`` otherwise.
    """

    def __init__(
        self, error: str, method: str = "", req_id: int | None = None, hint: str | None = None
    ) -> None:
        super().__init__(error, method, req_id, hint)
        self.error = error
        self.method = method
        self.req_id = req_id
        self.hint = hint

    def __str__(self) -> str:
        where = f"{self.method} (req_id={self.req_id})" if self.method else "request"
        hint = f" (hint: {self.hint})" if self.hint else ""
        return f"{where} failed: {self.error}{hint}"


class SubscriptionError(KrakenAPIError):
    """A subscription (or unsubscription) was refused by Kraken."""


class AuthenticationError(KrakenAPIError):
    """Credentials were rejected: bad key, bad signature, missing permission, failed challenge.

    Final: the same credentials will be rejected again, so nothing retries it.
    """


class RetryableError(KrakenError):
    """A temporary failure: the same call may succeed after a backoff.

    Never raised itself; :class:`TransientAPIError` and :class:`RestError` derive from it.
    """


class TransientAPIError(KrakenAPIError, RetryableError):
    """Kraken refused a REST call for a reason that does not say the credentials are wrong.

    For example ``EAPI:Rate limit exceeded``, ``EAPI:Invalid nonce``, ``EGeneral:Temporary
    lockout``, ``EService:Unavailable``: back off and try again.
    """


class ConnectionLostError(KrakenError):
    """The connection dropped.

    For a request this means it may or may not have reached the exchange: it is
    never resent automatically. Reconcile from the executions stream (or ``k.orders()``)
    with the request's ids, which are attributes (None when the error is not about one).

    Attributes:
        method: The request's method.
        req_id: Its ``req_id``.
        cl_ord_id: The client order id, if the request carried one.
        order_userref: The order's userref, if the request carried one.
        sent: Whether the frame had been handed to the link.
    """

    def __init__(
        self,
        message: str,
        *,
        method: str | None = None,
        req_id: int | None = None,
        cl_ord_id: str | None = None,
        order_userref: int | None = None,
        sent: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.method = method
        self.req_id = req_id
        self.cl_ord_id = cl_ord_id
        self.order_userref = order_userref
        self.sent = sent

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _rebuild_lost,
            (
                type(self),
                self.message,
                self.method,
                self.req_id,
                self.cl_ord_id,
                self.order_userref,
                self.sent,
            ),
        )

    def __str__(self) -> str:
        if self.method is None:
            return self.message
        ids = f"req_id={self.req_id}"
        if self.cl_ord_id:
            ids += f", cl_ord_id={self.cl_ord_id}"
        if self.order_userref is not None:
            ids += f", order_userref={self.order_userref}"
        return f"{self.message} ({self.method}: {ids})"


def _rebuild_lost(
    cls: type[ConnectionLostError],
    message: str,
    method: str | None,
    req_id: int | None,
    cl_ord_id: str | None,
    order_userref: int | None,
    sent: bool,
) -> ConnectionLostError:
    return cls(
        message,
        method=method,
        req_id=req_id,
        cl_ord_id=cl_ord_id,
        order_userref=order_userref,
        sent=sent,
    )


class ReconnectExhaustedError(ConnectionLostError):
    """The configured maximum number of reconnect attempts was reached."""


class RestError(ConnectionLostError, RetryableError):
    """A REST call got no usable answer: unreachable, timed out, HTTP 5xx, or a reply that
    is too large or cannot be read. The cause, when there is one, is chained.

    Attributes:
        method: The REST method (``"GetWebSocketsToken"``).
        reason: What went wrong, without any secret or reply text.
    """

    def __init__(self, method: str, reason: str) -> None:
        super().__init__(f"{method} failed: {reason}", method=method)
        self.reason = reason

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.method, self.reason))

    def __str__(self) -> str:
        return f"{self.method} failed: {self.reason}"


class RequestTimeoutError(KrakenError):
    """No reply arrived within the configured request deadline.

    Attributes:
        method: The request's method.
        req_id: Its ``req_id``.
        cl_ord_id: The client order id, if the request carried one.
        sent: Whether the frame had been handed to the writer (the order may be live).
    """

    def __init__(
        self, method: str, req_id: int | None, cl_ord_id: str | None = None, sent: bool = True
    ) -> None:
        super().__init__(method, req_id, cl_ord_id, sent)
        self.method = method
        self.req_id = req_id
        self.cl_ord_id = cl_ord_id
        self.sent = sent

    def __str__(self) -> str:
        state = "was sent and may be live" if self.sent else "was never sent"
        ident = f", cl_ord_id={self.cl_ord_id}" if self.cl_ord_id else ""
        return f"{self.method} (req_id={self.req_id}{ident}) timed out; the request {state}"


class OverrunError(KrakenError):
    """A subscription's buffer overflowed and its policy is ``"raise"``.

    Attributes:
        lost: How many messages could not be delivered.
    """

    def __init__(self, lost: int, description: str = "") -> None:
        super().__init__(lost, description)
        self.lost = lost
        self.description = description

    def __str__(self) -> str:
        what = f" of {self.description}" if self.description else ""
        return f"subscription{what} overran its buffer: {self.lost} message(s) lost"


class RateLimitError(KrakenError):
    """A trading request was held back because it would pass Kraken's rate counter.

    Nothing was sent. With ``rate_limit="raise"`` this is raised at once; with ``"wait"``
    only when the wait would outlast the request deadline.

    Attributes:
        symbol: The pair whose counter is full.
        retry_after: Seconds until the request would fit (``inf`` if it never can: its
            cost alone is above the threshold).
        method: The request's method.
    """

    def __init__(self, symbol: str, retry_after: float, method: str = "") -> None:
        super().__init__(symbol, retry_after, method)
        self.symbol = symbol
        self.retry_after = retry_after
        self.method = method

    def __str__(self) -> str:
        what = self.method or "request"
        return (
            f"{what} on {self.symbol} held back by the trading rate counter; it would fit in "
            f"{self.retry_after:.2f} s; nothing was sent"
        )


class ClosedError(KrakenError):
    """The client, connection or subscription was closed."""


class InvalidRequestError(KrakenError, ValueError):
    """A call was refused before anything was sent; the message names the field."""
