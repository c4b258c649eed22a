"""pytest plugin (``pytest11`` entry point ``kraken_trio``): the ``fake_kraken`` fixture.

Use it from trio tests (pytest-trio, ``trio_mode = true`` or ``@pytest.mark.trio``)::

    async def test_my_bot(fake_kraken):
        async with open_my_bot(url=fake_kraken.endpoints[WsKey.SPOT_PUBLIC_V2]) as bot:
            ...

Override ``fake_kraken_options`` in a ``conftest.py`` to change how the exchange is opened
(any keyword of :func:`kraken_trio.testing.open_fake_kraken`).

The plugin imports nothing heavy at collection time and registers no hooks, so it does not
affect test sessions that never request its fixtures.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ._fake import FakeKraken

__all__ = ["fake_kraken", "fake_kraken_options"]


@pytest.fixture
def fake_kraken_options() -> dict[str, Any]:
    """Keyword arguments for ``open_fake_kraken`` used by ``fake_kraken`` (override me)."""
    return {}


@pytest.fixture
async def fake_kraken(fake_kraken_options: dict[str, Any]) -> AsyncIterator[FakeKraken]:
    """A running fake Kraken exchange on loopback (needs pytest-trio).

    Yields:
        The open :class:`~kraken_trio.testing.FakeKraken`; it is closed after the test.
    """
    from ._fake import open_fake_kraken

    async with open_fake_kraken(**fake_kraken_options) as fake:
        yield fake
