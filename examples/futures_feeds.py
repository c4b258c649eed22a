"""Kraken Futures public feeds: ticker and a seq-checked local book.

python examples/futures_feeds.py                 # real Kraken Futures
python examples/futures_feeds.py --fake --count 5
"""

from __future__ import annotations

import sys

import trio
from _connect import connect, parser

from kraken_trio import KrakenClient, WsKey
from kraken_trio.messages import FuturesTicker


async def ticker(k: KrakenClient, product: str) -> None:
    async for msg in k.subscribe("ticker", product_ids=[product], on_overflow="latest"):
        if isinstance(msg, FuturesTicker):
            print(f"ticker {msg.product_id} bid {msg.bid} ask {msg.ask} mark {msg.mark_price}")


async def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__ or "")
    p.add_argument("--product", default="PI_XBTUSD")
    args = p.parse_args(argv)
    with trio.move_on_after(args.duration):
        async with connect(args.fake) as k, trio.open_nursery() as nursery:
            nursery.start_soon(ticker, k, args.product)
            # Futures books have no checksum: each delta's seq must follow the last one.
            async with k.book(args.product, ws_key=WsKey.DERIVATIVES_PUBLIC_V1) as book:
                seen = 0
                async for event in book:
                    if event.kind in ("snapshot", "update") and book.best_bid and book.best_ask:
                        print(
                            f"book   {args.product} {event.kind:8} bid {book.best_bid[0]} "
                            f"ask {book.best_ask[0]} spread {book.spread} "
                            f"(seq gaps {book.seq_gaps})"
                        )
                        seen += 1
                        if seen >= args.count:
                            break
            nursery.cancel_scope.cancel()
    return 0


if __name__ == "__main__":
    sys.exit(trio.run(main))
