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


async def executions(k: KrakenClient, ready: trio.Event, count: int) -> None:
    async with k.subscribe("executions", snap_orders=True) as sub:
        ready.set()
        seen = 0
        async for msg in sub:
            if not isinstance(msg, ExecutionsMessage):
                continue
            print(f"executions {msg.type}: {len(msg.data)} item(s)")
            for e in msg.data:
                fill = f" filled {e.last_qty} @ {e.last_price}" if e.exec_type == "trade" else ""
                print(f"  {e.exec_type:12} {e.order_id} {e.order_status}{fill}")
                seen += 1
            if seen >= count:
                return


async def balances(k: KrakenClient, ready: trio.Event) -> None:
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


async def main(argv: list[str] | None = None) -> int:
    args = parser(__doc__ or "").parse_args(argv)
    with trio.move_on_after(args.duration):
        async with connect(args.fake, private=True) as k, trio.open_nursery() as nursery:
            subscribed = [trio.Event(), trio.Event()]
            nursery.start_soon(balances, k, subscribed[1])

            async def executions_then_stop() -> None:
                await executions(k, subscribed[0], args.count)
                nursery.cancel_scope.cancel()

            nursery.start_soon(executions_then_stop)
            if args.fake:  # something to see: a small market buy fills at once
                for event in subscribed:
                    await event.wait()
                result = await k.add_order(
                    order_type="market", side="buy", symbol="BTC/USD", order_qty=Decimal("0.001")
                )
                print("placed market order", result.order_id)
    return 0


if __name__ == "__main__":
    sys.exit(trio.run(main))
