"""Private streams: your executions and balances (a token is fetched for you).

KRAKEN_API_KEY=... KRAKEN_API_SECRET=... python examples/private_streams.py
python examples/private_streams.py --fake          # places one small market order to show fills
"""

from __future__ import annotations

import sys
from decimal import Decimal

import trio
from _connect import connect, parser

from kraken_trio import KrakenClient
from kraken_trio.messages import BalancesSnapshot, BalancesUpdate, ExecutionsMessage


class Seen:
    """What the --fake run waits for before it stops: its order filled, both ledger entries."""

    def __init__(self) -> None:
        self.filled = trio.Event()
        self.ledger_assets: set[str] = set()
        self.ledger = trio.Event()


async def executions(k: KrakenClient, ready: trio.Event, count: int, seen: Seen) -> None:
    async with k.subscribe("executions", snap_orders=True) as sub:
        ready.set()
        shown = 0
        async for msg in sub:
            if not isinstance(msg, ExecutionsMessage):
                continue
            print(f"executions {msg.type}: {len(msg.data)} item(s)")
            for e in msg.data:
                fill = f" filled {e.last_qty} @ {e.last_price}" if e.exec_type == "trade" else ""
                print(f"  {e.exec_type:12} {e.order_id} {e.order_status}{fill}")
                shown += 1
                if e.order_status == "filled":
                    seen.filled.set()
            if shown >= count:
                return


async def balances(k: KrakenClient, ready: trio.Event, seen: Seen) -> None:
    async with k.subscribe("balances") as sub:
        ready.set()
        async for msg in sub:
            if isinstance(msg, BalancesSnapshot):
                print("balances:", {a.asset: str(a.balance) for a in msg.data})
            elif isinstance(msg, BalancesUpdate):
                for entry in msg.data:
                    print(
                        f"  ledger {entry.type}: {entry.asset} {entry.amount:+} -> {entry.balance}"
                    )
                    seen.ledger_assets.add(entry.asset)
                if {"BTC", "USD"} <= seen.ledger_assets:
                    seen.ledger.set()


async def main(argv: list[str] | None = None) -> int:
    args = parser(__doc__ or "").parse_args(argv)
    seen = Seen()
    with trio.move_on_after(args.duration):
        async with connect(args.fake, private=True) as k, trio.open_nursery() as nursery:
            subscribed = [trio.Event(), trio.Event()]
            nursery.start_soon(balances, k, subscribed[1], seen)

            async def executions_then_stop() -> None:
                await executions(k, subscribed[0], args.count, seen)
                nursery.cancel_scope.cancel()

            nursery.start_soon(executions_then_stop)
            if args.fake:  # something to see: a small market buy fills at once
                for event in subscribed:
                    await event.wait()
                result = await k.add_order(
                    order_type="market", side="buy", symbol="BTC/USD", order_qty=Decimal("0.001")
                )
                print("placed market order", result.order_id)
                # Stop as soon as the story is told: the fill and both ledger entries.
                await seen.filled.wait()
                await seen.ledger.wait()
                nursery.cancel_scope.cancel()
    return 0


if __name__ == "__main__":
    sys.exit(trio.run(main))
