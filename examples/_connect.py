"""How every example gets its client: real Kraken by default, the embedded fake with ``--fake``.

Against real Kraken, private examples read ``KRAKEN_API_KEY`` / ``KRAKEN_API_SECRET`` (futures:
``KRAKEN_FUTURES_API_KEY`` / ``KRAKEN_FUTURES_API_SECRET``). With ``--fake`` the example starts
:func:`kraken_trio.testing.open_fake_kraken` in its own process and points the client at it:
that is all it takes, ``endpoints=`` and ``rest_url=`` are the only difference.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from kraken_trio import KrakenClient, open_kraken


def parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with ``--fake``, ``--count`` and ``--duration``."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--fake", action="store_true", help="use the embedded fake exchange")
    p.add_argument("--count", type=int, default=20, help="messages to print (default 20)")
    p.add_argument("--duration", type=float, default=30.0, help="stop after S seconds")
    return p


@asynccontextmanager
async def connect(
    fake: bool, *, private: bool = False, futures: bool = False
) -> AsyncIterator[KrakenClient]:
    """An open client: against the fake exchange, or against Kraken with env credentials."""
    if fake:
        from kraken_trio.testing import open_fake_kraken

        async with (
            open_fake_kraken() as exchange,
            open_kraken(
                exchange.api_key,
                exchange.api_secret,
                endpoints=exchange.endpoints,
                rest_url=exchange.rest_url,
            ) as k,
        ):
            yield k
        return
    key = secret = None
    if private:
        prefix = "KRAKEN_FUTURES_API" if futures else "KRAKEN_API"
        key, secret = os.environ.get(f"{prefix}_KEY"), os.environ.get(f"{prefix}_SECRET")
        if not key or not secret:
            raise SystemExit(f"set {prefix}_KEY and {prefix}_SECRET, or run with --fake")
    async with open_kraken(key, secret) as k:
        yield k
