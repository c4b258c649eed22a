"""The dead man's switch, both ways.

1. ``async with k.dead_mans_switch(...)``: armed, refreshed in the background, disarmed on exit.
2. Armed once and NOT refreshed: the exchange cancels every open order when it expires.
   Shown against the fake exchange (``--fake``), where that takes a couple of seconds.

    python examples/dead_mans_switch.py --fake
"""

from __future__ import annotations

import sys
from decimal import ROUND_FLOOR, Decimal

import trio
from _connect import connect, parser

from kraken_trio.messages import ExecutionsMessage, TickerMessage


async def main(argv: list[str] | None = None) -> int:
    args = parser(__doc__ or "").parse_args(argv)
    if not args.fake:
        raise SystemExit("this example places and loses an order on purpose: run it with --fake")
    async with connect(args.fake, private=True) as k:
        # 1. The managed switch: refreshes happen in the client's nursery, not in your code.
        async with k.dead_mans_switch(timeout=3, refresh_every=1) as switch:
            await trio.sleep(2.5)
            print(
                f"managed switch: {switch.refreshes} refresh(es), armed until {switch.trigger_time}"
            )
        print(f"managed switch disarmed on exit: armed={switch.armed}")

        # 2. Armed and abandoned: watch the exchange cancel our resting order.
        pair = (await k.instrument_pairs())["BTC/USD"]
        async with k.subscribe("executions") as executions:
            async with k.subscribe("ticker", symbol=["BTC/USD"]) as ticker:
                first = await ticker.__anext__()
            assert isinstance(first, TickerMessage)
            price = (first.data[0].bid * Decimal("0.98") / pair.price_increment).to_integral_value(
                rounding=ROUND_FLOOR
            ) * pair.price_increment
            placed = await k.add_order(
                order_type="limit",
                side="buy",
                symbol="BTC/USD",
                order_qty=Decimal("0.001"),
                limit_price=price,
            )
            result = await k.cancel_all_orders_after(2)
            print(f"placed {placed.order_id}; switch armed, fires at {result.trigger_time}")
            with trio.fail_after(10):
                async for msg in executions:
                    if not isinstance(msg, ExecutionsMessage):
                        continue
                    for e in msg.data:
                        if e.order_id == placed.order_id and e.exec_type == "canceled":
                            print(
                                f"the switch fired: {e.order_id} canceled ({e.reason or 'timeout'})"
                            )
                            return 0
    return 1


if __name__ == "__main__":
    sys.exit(trio.run(main))
