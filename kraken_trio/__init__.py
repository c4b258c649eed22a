"""kraken_trio: a Trio-native client for Kraken's Spot WebSocket v2 and Futures WebSocket v1."""

import logging as _logging

from ._client import DeadMansSwitch as DeadMansSwitch
from ._client import EventStream as EventStream
from ._client import KrakenClient as KrakenClient
from ._config import Config as Config
from ._config import WsKey as WsKey
from ._errors import AuthenticationError as AuthenticationError
from ._errors import ClosedError as ClosedError
from ._errors import ConnectionLostError as ConnectionLostError
from ._errors import InvalidRequestError as InvalidRequestError
from ._errors import KrakenAPIError as KrakenAPIError
from ._errors import KrakenError as KrakenError
from ._errors import OverrunError as OverrunError
from ._errors import ProtocolError as ProtocolError
from ._errors import RateLimitError as RateLimitError
from ._errors import ReconnectExhaustedError as ReconnectExhaustedError
from ._errors import RequestTimeoutError as RequestTimeoutError
from ._errors import RestError as RestError
from ._errors import RetryableError as RetryableError
from ._errors import SubscriptionError as SubscriptionError
from ._errors import TransientAPIError as TransientAPIError
from ._events import ConnectionStatistics as ConnectionStatistics
from ._events import Gap as Gap
from ._events import LifecycleEvent as LifecycleEvent
from ._events import SubscriptionStatistics as SubscriptionStatistics
from ._localbook import BookEvent as BookEvent
from ._localbook import LocalBook as LocalBook
from ._localbook import OrderBooks as OrderBooks
from ._open import open_kraken as open_kraken
from ._orders import Fill as Fill
from ._orders import OrderState as OrderState
from ._orders import OrderTracker as OrderTracker
from ._orders import OrderUpdate as OrderUpdate
from ._proto.ratelimit import RateTier as RateTier
from ._redact import install as _install_redaction
from ._subscription import Subscription as Subscription

__version__ = "0.1.0"

# A library configures no logging: without a handler of the application's, Python's last-resort
# handler would print our warnings to stderr, errors the caller already catches included.
_logging.getLogger("kraken_trio").addHandler(_logging.NullHandler())
# Every record of the library's loggers is scrubbed of the secrets it knows (tokens, signatures).
_install_redaction()

__all__ = [
    "AuthenticationError",
    "BookEvent",
    "ClosedError",
    "Config",
    "ConnectionLostError",
    "ConnectionStatistics",
    "DeadMansSwitch",
    "EventStream",
    "Fill",
    "Gap",
    "InvalidRequestError",
    "KrakenAPIError",
    "KrakenClient",
    "KrakenError",
    "LifecycleEvent",
    "LocalBook",
    "OrderBooks",
    "OrderState",
    "OrderTracker",
    "OrderUpdate",
    "OverrunError",
    "ProtocolError",
    "RateLimitError",
    "RateTier",
    "ReconnectExhaustedError",
    "RequestTimeoutError",
    "RestError",
    "RetryableError",
    "Subscription",
    "SubscriptionError",
    "SubscriptionStatistics",
    "TransientAPIError",
    "WsKey",
    "__version__",
    "open_kraken",
]
