"""A faithful fake Kraken exchange on loopback, for tests, benchmarks and demos.

``open_fake_kraken()`` starts real servers on 127.0.0.1 that speak Kraken's Spot WebSocket v2,
Futures WebSocket v1 and the REST token call, over a seeded synthetic market and a matching
engine. The pytest plugin (``fake_kraken`` fixture) is registered through the ``pytest11``
entry point.
"""

from ._fake import FakeKraken as FakeKraken
from ._fake import open_fake_kraken as open_fake_kraken
from ._faults import Faults as Faults
from ._faults import Received as Received
from ._market import Market as Market
from ._pairs import DEFAULT_PAIRS as DEFAULT_PAIRS
from ._pairs import PairSpec as PairSpec
from ._rest import RestFaults as RestFaults
from ._rest import RestRequest as RestRequest

__all__ = [
    "DEFAULT_PAIRS",
    "FakeKraken",
    "Faults",
    "Market",
    "PairSpec",
    "Received",
    "RestFaults",
    "RestRequest",
    "open_fake_kraken",
]
