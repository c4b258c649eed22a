"""kraken_trio: a Trio-native client for Kraken's Spot WebSocket v2 and Futures WebSocket v1."""

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

__version__ = "0.1.0"

__all__ = [
    "AuthenticationError",
    "ClosedError",
    "Config",
    "ConnectionLostError",
    "InvalidRequestError",
    "KrakenAPIError",
    "KrakenError",
    "OverrunError",
    "ProtocolError",
    "ReconnectExhaustedError",
    "RequestTimeoutError",
    "SubscriptionError",
    "WsKey",
    "__version__",
]
