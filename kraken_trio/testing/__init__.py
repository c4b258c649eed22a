"""A faithful fake Kraken exchange on loopback, for tests, benchmarks and demos.

``open_fake_kraken()`` starts real servers on 127.0.0.1 that speak Kraken's Spot WebSocket v2,
Futures WebSocket v1, Spot REST (public data and the token call) and Futures REST (market data
and order entry), over a seeded synthetic market, a matching engine and a futures account that
trades::

    async with open_fake_kraken(seed=1, update_interval=0) as fake:
        url = fake.endpoints[WsKey.SPOT_PUBLIC_V2]      # ws://127.0.0.1:<port>/v2
        ...                                             # connect any client to it
        await fake.step(10)                             # move the market deterministically
        await fake.faults(WsKey.SPOT_PUBLIC_V2).drop()  # and break it on demand
        assert fake.public.subscriptions() == {}        # what the server holds

Credentials for the private endpoints are ``fake.api_key``/``fake.api_secret`` (the token
comes from ``POST {fake.rest_url}/0/private/GetWebSocketsToken``). The pytest plugin
(``fake_kraken`` fixture, ``fake_kraken_options`` to configure it) is registered through the
``pytest11`` entry point; ``kraken-trio fake-exchange`` runs the same exchange standalone.

The fake needs ``pip install 'kraken-trio[testing]'`` (trio-websocket, h11 and trustme); the
library proper does not.
"""

try:  # the fake's servers need the 'testing' extra; the library proper does not
    import h11 as _h11  # noqa: F401
    import trio_websocket as _trio_websocket  # noqa: F401
except ImportError as _exc:  # pragma: no cover - depends on the installation
    raise ImportError(
        f"kraken_trio.testing needs the 'testing' extra ({_exc.name} is missing): "
        "pip install 'kraken-trio[testing]'"
    ) from _exc

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
