"""A local, checksum-verified order book: ``k.book()`` keeps it; you read it.

python examples/order_book.py --fake --count 10
"""

from __future__ import annotations

import sys

import trio
from _connect import connect, parser


async def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__ or "")
    p.add_argument("--pair", default="BTC/USD")
    args = p.parse_args(argv)
    with trio.move_on_after(args.duration):
        async with connect(args.fake) as k, k.book(args.pair, depth=10) as book:
            updates = 0
            async for event in book:
                # event.kind: "snapshot", "update" (applied AND checksum-verified), "resync"
                # (a mismatch: that symbol is being re-fetched) or "gap" (reconnecting).
                if event.kind == "resync":
                    print(f"checksum mismatch on {event.symbol}: resyncing ({book.resyncs} so far)")
                    continue
                if not book.synced or book.best_bid is None or book.best_ask is None:
                    continue
                (bid, bid_qty), (ask, ask_qty) = book.best_bid, book.best_ask
                print(
                    f"{event.kind:8} {args.pair} bid {bid} x {bid_qty} | ask {ask} x {ask_qty} "
                    f"| spread {book.spread} mid {book.mid} | checksum {book.last_checksum} OK"
                )
                print("   top 3 bids:", [f"{p}x{q}" for p, q in book.bids(3)])
                updates += 1
                if updates >= args.count:
                    break
    return 0


if __name__ == "__main__":
    sys.exit(trio.run(main))
