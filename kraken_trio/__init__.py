"""kraken_trio: a Trio-native client for Kraken's Spot WebSocket v2 and Futures WebSocket v1."""

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
from ._errors import ReconnectExhaustedError as ReconnectExhaustedError
from ._errors import RequestTimeoutError as RequestTimeoutError
from ._errors import SubscriptionError as SubscriptionError
from ._events import ConnectionStatistics as ConnectionStatistics
from ._events import Gap as Gap
from ._events import LifecycleEvent as LifecycleEvent
from ._events import SubscriptionStatistics as SubscriptionStatistics
from ._localbook import BookEvent as BookEvent
from ._localbook import LocalBook as LocalBook
from ._localbook import OrderBooks as OrderBooks
from ._open import open_kraken as open_kraken
from ._subscription import Subscription as Subscription

__version__ = "0.1.0"

__all__ = [
    "AuthenticationError",
    "BookEvent",
    "ClosedError",
    "Config",
    "ConnectionLostError",
    "ConnectionStatistics",
    "DeadMansSwitch",
    "EventStream",
    "Gap",
    "InvalidRequestError",
    "KrakenAPIError",
    "KrakenClient",
    "KrakenError",
    "LifecycleEvent",
    "LocalBook",
    "OrderBooks",
    "OverrunError",
    "ProtocolError",
    "ReconnectExhaustedError",
    "RequestTimeoutError",
    "Subscription",
    "SubscriptionError",
    "SubscriptionStatistics",
    "WsKey",
    "__version__",
    "open_kraken",
]
