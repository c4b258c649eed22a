"""Public streams: ticker and trades of two pairs at once, each in its own task.

python examples/public_streams.py            # real Kraken
python examples/public_streams.py --fake     # the embedded fake exchange, offline
"""

from __future__ import annotations

import sys

import trio
from _connect import connect, parser

from kraken_trio import Gap, KrakenClient
from kraken_trio.messages import TradeMessage


async def tickers(k: KrakenClient, count: int, done: trio.CancelScope) -> None:
    # "latest": a slow consumer sees the newest ticker per symbol, never an overrun error.
    async with k.subscribe("ticker", symbol=["BTC/USD", "ETH/USD"], on_overflow="latest") as sub:
        seen = 0
        async for msg in sub:
            if isinstance(msg, Gap):  # the link dropped and came back: a snapshot follows
                print(f"gap ({msg.reason}); fresh data follows")
                continue
            for t in msg.data:
                print(f"ticker {t.symbol:8} bid {t.bid} ask {t.ask} last {t.last}")
            seen += 1
            if seen >= count:
                done.cancel()


async def trades(k: KrakenClient) -> None:
    async with k.subscribe("trade", symbol=["BTC/USD"]) as sub:
        async for msg in sub:
            if isinstance(msg, TradeMessage):
                for t in msg.data:
                    # t.price and t.qty are Decimal: exact, as Kraken sent them.
                    print(f"trade  {t.symbol:8} {t.side:4} {t.qty} @ {t.price}")


async def main(argv: list[str] | None = None) -> int:
    args = parser(__doc__ or "").parse_args(argv)
    with trio.move_on_after(args.duration):
        async with connect(args.fake) as k, trio.open_nursery() as nursery:
            # Both tasks live in this nursery: when tickers() has seen enough it cancels the
            # nursery, trades() is cancelled with it, and leaving `connect` closes the socket.
            nursery.start_soon(trades, k)
            nursery.start_soon(tickers, k, args.count, nursery.cancel_scope)
    return 0


if __name__ == "__main__":
    sys.exit(trio.run(main))
